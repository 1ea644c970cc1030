//! What the HTTP side may read without asking the sequencer: recent signed tree versions (for
//! proofs) and the role's status.
//!
//! Property kept: a proof is only ever served against a tree version whose root was signed into
//! a published timestamp, and each kept version is an immutable clone (structural sharing), so a
//! proof never mixes two versions. The last `kept_versions` versions are kept; older ones are
//! dropped and their memory freed.

use std::collections::VecDeque;
use std::sync::RwLock;

use serde::Serialize;
use tuf_merkle::{Digest, Tree};

use crate::config::SnapshotMode;

/// One signed version of a role's tree.
#[derive(Clone)]
pub struct SignedVersion {
    /// The timestamp version that signed it.
    pub version: u64,
    /// The tree root (the timestamp's `merkle_root` in merkle mode).
    pub root: Digest,
    /// The tree as it was signed.
    pub tree: Tree,
}

/// A role's status, as `GET /api/v1/{role}/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The role.
    pub role: String,
    /// `merkle` or `classic`.
    pub snapshot: SnapshotMode,
    /// The latest published timestamp version (0: none yet).
    pub timestamp_version: u64,
    /// When that timestamp expires.
    pub timestamp_expires: Option<String>,
    /// The latest signed tree root.
    pub merkle_root: Option<String>,
    /// Leaves, tombstones included.
    pub leaves: usize,
    /// Tombstones.
    pub tombstones: usize,
    /// The last durable write-ahead-log sequence number.
    pub last_seq: u64,
    /// The root version the online key signs under.
    pub root_version: u64,
    /// Timestamp versions that proofs can be asked against, oldest first.
    pub proof_versions: Vec<u64>,
    /// Set when the role cannot currently commit or sign; what to do about it.
    pub error: Option<String>,
}

/// Shared per-role state.
pub struct RoleState {
    kept: usize,
    versions: RwLock<VecDeque<SignedVersion>>,
    status: RwLock<Status>,
}

impl RoleState {
    /// A new state keeping `kept` versions.
    pub fn new(role: &str, snapshot: SnapshotMode, kept: usize) -> Self {
        RoleState {
            kept: kept.max(1),
            versions: RwLock::new(VecDeque::new()),
            status: RwLock::new(Status {
                role: role.to_owned(),
                snapshot,
                timestamp_version: 0,
                timestamp_expires: None,
                merkle_root: None,
                leaves: 0,
                tombstones: 0,
                last_seq: 0,
                root_version: 0,
                proof_versions: Vec::new(),
                error: None,
            }),
        }
    }

    /// Records a newly published version, dropping the oldest beyond the limit.
    pub fn push_version(&self, v: SignedVersion) {
        let mut versions = self.versions.write().unwrap_or_else(|e| e.into_inner());
        versions.push_back(v);
        while versions.len() > self.kept {
            versions.pop_front();
        }
        let list = versions.iter().map(|v| v.version).collect();
        drop(versions);
        self.status
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .proof_versions = list;
    }

    /// The version `version` (latest when `None`), if kept.
    pub fn version(&self, version: Option<u64>) -> Option<SignedVersion> {
        let versions = self.versions.read().unwrap_or_else(|e| e.into_inner());
        match version {
            None => versions.back().cloned(),
            Some(n) => versions.iter().find(|v| v.version == n).cloned(),
        }
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Updates the status.
    pub fn update_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.write().unwrap_or_else(|e| e.into_inner()));
    }
}
