//! One signing round: the files signed for a timestamp version and what they say about each
//! other. The sequencer makes a round, the log keeps it, the publisher writes it out.
//!
//! Property kept: a round carries the exact bytes of every file it signed, so publishing it
//! again (after a crash) writes byte for byte what was signed, and never signs anything anew.

use serde::{Deserialize, Serialize};
use tuf_merkle::Digest;

/// What a timestamp or snapshot says about the file it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The file's metadata version.
    pub version: u64,
    /// Its length in bytes.
    pub length: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// When it expires.
    pub expires: jiff::Timestamp,
}

/// A signed file ready to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedFile {
    /// The file name in the repository (`7.snapshot.json`, `timestamp.json`).
    pub name: String,
    /// The exact bytes.
    pub bytes: String,
    /// Its length, hash, version and expiry.
    pub meta: FileMeta,
}

/// One signing round: everything needed to publish timestamp `timestamp_version` again, and to
/// continue from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// The timestamp version.
    pub timestamp_version: u64,
    /// The last write-ahead-log sequence number whose changes it includes.
    pub seq: u64,
    /// The root version it was signed under.
    pub root_version: u64,
    /// The tree root at `seq` (published as `merkle_root` in merkle mode).
    pub tree_root: String,
    /// Whether the timestamp carries `merkle_root`.
    pub merkle: bool,
    /// The current targets, snapshot and timestamp.
    pub targets: FileMeta,
    /// See `targets`.
    pub snapshot: FileMeta,
    /// See `targets`.
    pub timestamp: FileMeta,
    /// The files signed in this round, `timestamp.json` last.
    pub files: Vec<SignedFile>,
    /// The change record (`changes/V.json`) text.
    pub change_record: String,
}

impl Round {
    /// The tree root as a digest.
    pub fn tree_root(&self) -> Option<Digest> {
        tuf_merkle::hash::parse_hex(&self.tree_root).ok()
    }

    /// The exact bytes of the round's `timestamp.json`.
    pub fn timestamp_bytes(&self) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|f| f.name == "timestamp.json")
            .map(|f| f.bytes.as_bytes())
    }
}
