//! Publishing a role's repository: the last stage of the flow. [`Publisher`] is what the
//! sequencer writes through and what the HTTP side reads published files from; [`fs`] keeps the
//! repository in a directory (the embedded default), `s3` in a bucket (`[storage] type = "s3"`).
//!
//! The layout is the same wherever the repository lives (design D8):
//!
//! ```text
//! 1.root.json … N.root.json, root.json        the trusted root chain (root.json = latest)
//! V.targets.json, V.snapshot.json             consistent snapshots
//! timestamp.json                              the latest timestamp
//! timestamps/V.timestamp.json                 the exact bytes of every timestamp version V
//! changes/V.json                              what timestamp V changed, for auditors
//! leaf-snapshots/V.leaves.gz                  every leaf at version V (merkle roles, every N versions)
//! targets/DIR/SHA256.BASENAME                 uploaded target bytes (python-tuf's consistent name)
//! targets/SHA256.DIR/BASENAME                 the same bytes (tough's consistent name)
//! ```
//!
//! Properties every implementation keeps:
//! - Readers never see a partial file.
//! - A versioned file (`N.root.json`, `V.targets.json`, `V.snapshot.json`,
//!   `timestamps/V.timestamp.json`, `changes/V.json`, `leaf-snapshots/V.leaves.gz`, stored
//!   targets) is immutable: created once,
//!   never replaced; finding one with other contents is [`PublishError::Conflict`], which stops
//!   the role (the state is behind what was published; publishing would give a version two
//!   meanings).
//! - Within a round, everything the timestamp points at, then the timestamp's own copy, then
//!   the change record that refers to it, are written before `timestamp.json`, so a client never
//!   sees a timestamp whose files are missing.
//! - Publishing a round again writes the same bytes (rounds are durable in the log first, and
//!   recovery republishes them).
//! - Every file is served with the [`cache_control`] and [`content_type`] of its path (D8), by
//!   the built-in server and, in a bucket, by the store itself.

pub mod fs;
pub mod s3;

use std::path::PathBuf;
use std::pin::Pin;

use async_trait::async_trait;
use tuf_merkle::Digest;

use crate::round::Round;

/// Why publishing (or reading back) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// I/O.
    #[error(transparent)]
    Fs(#[from] tuf_files::FsError),
    /// An immutable file already published with other contents.
    #[error(
        "the published repository already holds {path} with other contents; this signer's state \
         is behind what was published (restored from an old backup, or another signer wrote \
         here), and publishing would give one version two meanings. Stop, and restore the state \
         that signed it"
    )]
    Conflict {
        /// The file.
        path: PathBuf,
    },
    /// A blocking task failed (panicked or was cancelled).
    #[error("a publishing task failed: {0}")]
    Task(String),
    /// Another signer replaced `timestamp.json` since this one last wrote or read it: a new
    /// leader took the role over. Nothing of this signer's is published over it.
    #[error(
        "another signer published {path} since this one last wrote or read it (the role was \
         taken over by another node); this node stops leading the role and publishes nothing \
         over it. `/api/v1/ROLE/status` on any node names the leader; if no other node should be \
         running, find the one that is"
    )]
    Fenced {
        /// The file (`timestamp.json`).
        path: PathBuf,
    },
    /// The bucket (after retries, where retrying may help).
    #[error(transparent)]
    Bucket(#[from] crate::bucket::BucketError),
}

impl PublishError {
    /// Whether the error is a full disk (or quota).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, PublishError::Fs(fs) if fs.is_storage_full())
    }

    /// Whether another signer has taken the role over ([`PublishError::Fenced`]): this node
    /// must stop writing the role.
    pub fn ends_leadership(&self) -> bool {
        matches!(self, PublishError::Fenced { .. })
    }
}

/// `Cache-Control` of an immutable file (D8): cached for a year, never revalidated.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of a head (`timestamp.json`, `root.json`; D8): 30 s, so a client sees a new
/// timestamp at most that much later through any cache.
pub const CACHE_HEAD: &str = "public, max-age=30";

/// The `Cache-Control` of the published file at `path` (D8), by its kind
/// ([`tuf_repo_format::paths::kind`]). A path the format does not name is treated as a head:
/// caching it forever would be the mistake that cannot be taken back.
pub fn cache_control(path: &str) -> &'static str {
    match tuf_repo_format::paths::kind(path) {
        Some(tuf_repo_format::paths::FileKind::Immutable) => CACHE_IMMUTABLE,
        _ => CACHE_HEAD,
    }
}

/// The `Content-Type` of the published file at `path`: targets are bytes whatever their names
/// end with; metadata (and change records) are JSON.
pub fn content_type(path: &str) -> &'static str {
    if path.starts_with("targets/") || !path.ends_with(".json") {
        "application/octet-stream"
    } else {
        "application/json"
    }
}

/// A published file opened for reading.
pub struct PublishedFile {
    /// Its length in bytes.
    pub length: u64,
    /// A strong validator (an HTTP entity tag, quotes included) that changes whenever the
    /// contents do: the object's ETag in a bucket; for a file, one made of its inode, length
    /// and modification time (see [`fs`]).
    pub etag: String,
    /// Its bytes.
    pub body: Pin<Box<dyn tokio::io::AsyncRead + Send>>,
}

/// Why a published file cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// There is no such published file (or the path leads outside the repository).
    #[error("not published")]
    NotFound,
    /// Reading failed.
    #[error(transparent)]
    Io(std::io::Error),
    /// The storage is unreachable for now (a bucket's network or throttling): try again.
    #[error("the repository's storage is unavailable for now: {0}")]
    Unavailable(String),
}

/// One role's published repository.
#[async_trait]
pub trait Publisher: Send + Sync + std::fmt::Debug {
    /// Gets the repository ready after a crash (removes what a killed writer left behind).
    async fn prepare(&self) -> Result<(), PublishError>;

    /// Publishes the root chain: every `N.root.json` as given, then `root.json` (the latest).
    async fn publish_roots(&self, files: &[(u64, Vec<u8>)]) -> Result<(), PublishError>;

    /// Publishes a round: its targets and snapshot, the exact bytes of its timestamp as
    /// `timestamps/V.timestamp.json`, its change record, then `timestamp.json`.
    async fn publish_round(&self, round: &Round) -> Result<(), PublishError>;

    /// Makes everything published so far durable (before the log that could republish it is
    /// emptied).
    async fn sync(&self) -> Result<(), PublishError>;

    /// Whether `timestamp.json` holds exactly the round's timestamp (the round was published
    /// whole).
    async fn is_published(&self, round: &Round) -> bool;

    /// Whether timestamp version `version` was already published (its
    /// `timestamps/V.timestamp.json` exists).
    async fn has_timestamp(&self, version: u64) -> bool;

    /// The version of the published `timestamp.json`, if there is one that parses.
    async fn published_version(&self) -> Option<u64>;

    /// Stores a target's bytes under both consistent-snapshot names (content-addressed and
    /// immutable: the same bytes again, or concurrently, succeed without writing).
    async fn store_target(
        &self,
        name: &str,
        sha256: &Digest,
        bytes: &[u8],
    ) -> Result<(), PublishError>;

    /// Publishes the leaf snapshot of timestamp version `version` (`leaf-snapshots/V.leaves.gz`,
    /// [`tuf_repo_format::leaf_snapshot`]), immutable and durable when this returns. It is
    /// written after round `version` was published, off the sequencer thread. Then the head
    /// `leaf-snapshots/latest.json` is pointed at it
    /// ([`tuf_repo_format::leaf_snapshot::LatestPointer`]), so a reader that does not know the
    /// versions finds the newest; the pointer is written only once the file it names is.
    async fn publish_leaf_snapshot(&self, version: u64, bytes: &[u8]) -> Result<(), PublishError>;

    /// Opens a published file, `path` relative to the repository.
    async fn open(&self, path: &str) -> Result<PublishedFile, ReadError>;
}

pub use tuf_repo_format::paths::{
    change_record as change_record_file, target as target_file, timestamp_file,
    tough_target as tough_target_file,
};
