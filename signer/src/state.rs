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
    /// Durable changes not yet signed (non-zero only while signing lags or fails).
    pub unsigned_changes: usize,
    /// Set when the role cannot currently commit or sign: what is wrong, for clients (details
    /// with paths and OS errors are in the signer's log, never here).
    pub error: Option<String>,
    /// The stable code of `error` (see [`Fault`]).
    pub error_code: Option<&'static str>,
    /// Whether this signer leads the role: commits its writes and signs (always, with local
    /// storage; with a bucket, the node that holds the role's lease).
    pub leading: bool,
    /// Where the leader is, as the lease says (`[storage] advertise_url`), when it is known
    /// and another node; `None` with local storage.
    pub leader: Option<String>,
    /// On a mirror (`tuf-signer mirror`): what it follows and how far it got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<MirrorStatus>,
}

/// A mirror's view of its upstream, in a role's status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MirrorStatus {
    /// What it follows (a URL or `s3://bucket/prefix`).
    pub upstream: String,
    /// The latest timestamp version seen upstream.
    pub upstream_timestamp_version: u64,
    /// Where this run started: its checkpoint, the upstream's leaf snapshot, or version 1.
    pub started_from: String,
    /// Rounds of the mirror's own copy re-applied after its checkpoint at start (nothing is
    /// fetched again): those served since the last checkpoint was written, `checkpoint_every`
    /// plus the ones served while it was being written, or more after a kill during one.
    pub replayed_on_start: u64,
    /// The version of the last checkpoint written (what a restart resumes from).
    pub checkpoint_version: Option<u64>,
    /// The version of the checkpoint being written in the background, if one is; cleared by
    /// the thread that writes it once it is on disk (or failed).
    pub checkpoint_writing: Option<u64>,
    /// The last upstream request that failed, if the last poll failed.
    pub upstream_error: Option<String>,
    /// Why the mirror stopped advancing, if the upstream was caught inconsistent.
    pub inconsistency: Option<String>,
    /// Where the refused bytes were kept (relative to the mirror's data directory).
    pub evidence: Option<String>,
}

/// Why a role cannot currently commit or sign. Each has a stable code and a message that is
/// safe to show to anyone (no paths, no pids, no key identifiers); the details go to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write-ahead log could not be written or synced: the role refuses writes until the
    /// signer is restarted (after a failed fsync the page cache cannot be trusted).
    LogFailed,
    /// The disk holding the state is full: writes are refused until space returns; nothing
    /// acknowledged is affected.
    StorageFull,
    /// Signing failed (the key source is unreachable, say): retried every second; changes stay
    /// durable and are signed once it works again.
    SigningFailed,
    /// Publishing a signed round failed: retried every second.
    PublishFailed,
    /// The published repository holds a timestamp version this state did not sign: the state
    /// is behind (restored from an old backup?); the role stops so that no version is signed
    /// twice.
    StateBehind,
    /// Storing a log record in the bucket kept failing and the last attempt's outcome is
    /// unknown: the request's changes may or may not be in the log. The node stopped leading
    /// the role, which is recovered from the bucket (by another node, or this one).
    LogUncertain,
    /// A mirror caught its upstream inconsistent (a forged or reordered record, a root that
    /// does not recompute, a version that went down, a bad signature): it stopped advancing and
    /// serves its last good version; the refused bytes are kept on disk.
    UpstreamInconsistent,
    /// A mirror's upstream names rounds it does not serve (withheld, or not written yet): the
    /// mirror waits at its last good version and asks again.
    UpstreamIncomplete,
    /// The tree hashes stored in the checkpoint are not those of its leaves (found by the
    /// background check after a start): the role refuses writes and signs nothing.
    TreeHashMismatch,
}

impl Fault {
    /// The stable code (also the API's `error.code`).
    pub fn code(self) -> &'static str {
        match self {
            Fault::LogFailed => "log_write_failed",
            Fault::StorageFull => "storage_full",
            Fault::SigningFailed => "signing_failed",
            Fault::PublishFailed => "publish_failed",
            Fault::StateBehind => "state_behind_repository",
            Fault::LogUncertain => "log_write_uncertain",
            Fault::UpstreamInconsistent => "upstream_inconsistent",
            Fault::UpstreamIncomplete => "upstream_incomplete",
            Fault::TreeHashMismatch => "tree_hash_mismatch",
        }
    }

    /// A message for clients and `/healthz`.
    pub fn message(self) -> &'static str {
        match self {
            Fault::LogFailed => {
                "the role cannot write its log and refuses writes until the signer is restarted; see the signer's log"
            }
            Fault::StorageFull => {
                "the signer's disk is full; writes are refused until there is space again"
            }
            Fault::SigningFailed => {
                "signing failed and is retried every second; durable changes will be signed once it works; see the signer's log"
            }
            Fault::PublishFailed => {
                "publishing failed and is retried every second; see the signer's log"
            }
            Fault::StateBehind => {
                "the published repository is ahead of the signer's state; the role stopped so that no timestamp version is signed twice; see the signer's log"
            }
            Fault::LogUncertain => {
                "storing the log record kept failing and its outcome is unknown: the changes may or may not be applied; ask for them (status, a proof) and retry; the role is being recovered from the bucket"
            }
            Fault::UpstreamInconsistent => {
                "this mirror caught its upstream inconsistent and stopped advancing; it serves its last good version; see the role's status and the mirror's evidence directory"
            }
            Fault::UpstreamIncomplete => {
                "this mirror's upstream names rounds it does not serve; the mirror serves its last good version and asks again"
            }
            Fault::TreeHashMismatch => {
                "the signer's checkpoint does not hash to its leaves; the role signs nothing and refuses writes until the state is restored; see the signer's log"
            }
        }
    }
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
                unsigned_changes: 0,
                error: None,
                error_code: None,
                leading: true,
                leader: None,
                mirror: None,
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

    /// Sets (or with `None` clears) the role's fault.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.update_status(|s| {
            s.error = fault.map(|f| f.message().to_owned());
            s.error_code = fault.map(Fault::code);
        });
    }

    /// Records whether this node leads the role and, if not, where the leader is.
    pub fn set_leadership(&self, leading: bool, leader: Option<String>) {
        self.update_status(|s| {
            s.leading = leading;
            s.leader = leader;
        });
    }

    /// Whether this node leads the role, and where the leader is if not.
    pub fn leadership(&self) -> (bool, Option<String>) {
        let s = self
            .status
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (s.leading, s.leader.clone())
    }
}
