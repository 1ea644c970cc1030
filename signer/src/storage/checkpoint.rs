//! Checkpoints: a role's whole leaf set at a write-ahead-log sequence number.
//!
//! Binary, little-endian, checked by a CRC-32 over everything before it:
//!
//! ```text
//! "TUFCKPT1" | u64 seq | u64 timestamp_version | u64 count |
//!   count × ( [32] key | u64 version | u64 length (u64::MAX: tombstone) | [32] sha256 |
//!             u16 name_len | name bytes ) |
//! u32 crc32
//! ```
//!
//! Properties kept: a checkpoint is written to a temporary file, fsynced, renamed over the old one
//! and the directory fsynced, so a crash leaves either the old or the new checkpoint, never a mix;
//! the log is only emptied after that. A checkpoint whose checksum fails is refused, never
//! half-loaded. Names are kept where the role knows them (classic roles need them for
//! `targets.json`); the tree itself needs only keys.

use std::path::{Path, PathBuf};

use tuf_repo_format::leaves::{self, SequenceError};

use crate::round::Round;

/// One leaf in a checkpoint: the shared leaf entry of `tuf-repo-format` (the leaf snapshots
/// published for mirrors use it too, so a leaf-format change is made there once).
pub use tuf_repo_format::LeafEntry as Entry;

const MAGIC: &[u8; 8] = b"TUFCKPT1";

/// A decoded checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last write-ahead-log sequence number whose changes it holds.
    pub seq: u64,
    /// The last timestamp version published when it was taken (0: none).
    pub timestamp_version: u64,
    /// Every leaf.
    pub entries: Vec<Entry>,
}

/// Why a checkpoint cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// I/O.
    #[error(transparent)]
    Io(#[from] tuf_files::FsError),
    /// The stored round cannot be read back.
    #[error("stored round {path} is unreadable ({message}); restore it from a backup")]
    BadRound {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A leaf that cannot be encoded (a name over 65,535 bytes; target names are at most 255).
    #[error("cannot encode a checkpoint: {0}")]
    Encode(#[from] SequenceError),
    /// The bucket (object storage).
    #[error("checkpoint in the bucket: {0}")]
    Bucket(crate::bucket::BucketError),
    /// This node no longer leads the role; nothing was stored.
    #[error("this node no longer holds the role's lease; the checkpoint was not stored")]
    NotLeader,
    /// Damaged or of another format.
    #[error("checkpoint {path} is damaged ({reason}); restore it from a backup")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Checkpoint {
    /// Encodes the checkpoint.
    pub fn encode(&self) -> Result<Vec<u8>, CheckpointError> {
        let mut out = Vec::with_capacity(32 + self.entries.len() * 96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.timestamp_version.to_le_bytes());
        leaves::encode_sequence(&self.entries, &mut out)?;
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Decodes a checkpoint; `path` is for errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let damaged = |reason: String| CheckpointError::Damaged {
            path: path.to_owned(),
            reason,
        };
        if bytes.len() < MAGIC.len() + 28 || &bytes[..8] != MAGIC {
            return Err(damaged("not a checkpoint".into()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != crc {
            return Err(damaged("checksum mismatch".into()));
        }
        let u64_at = |at: usize| {
            body.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| damaged("truncated".into()))
        };
        let seq = u64_at(8)?;
        let timestamp_version = u64_at(16)?;
        let mut rest = &body[24..];
        let entries = leaves::decode_sequence(&mut rest).map_err(|e| damaged(e.to_string()))?;
        if !rest.is_empty() {
            return Err(damaged("trailing bytes".into()));
        }
        Ok(Checkpoint {
            seq,
            timestamp_version,
            entries,
        })
    }

    /// Reads the checkpoint at `path`, or an empty one (seq 0) if there is none.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        match std::fs::read(path) {
            Ok(bytes) => Self::decode(&bytes, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint::default()),
            Err(source) => Err(tuf_files::FsError::new(path, "read checkpoint", source).into()),
        }
    }

    /// Writes the checkpoint to `path` atomically and durably.
    pub fn store(&self, path: &Path) -> Result<(), CheckpointError> {
        tuf_files::atomic::write(path, &self.encode()?, tuf_files::WriteOptions::PRIVATE)?;
        Ok(())
    }
}

/// Loads the round stored with the checkpoint (`round.json`), if there is one.
pub fn load_round(path: &Path) -> Result<Option<Round>, CheckpointError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CheckpointError::BadRound {
                    path: path.to_owned(),
                    message: e.to_string(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(tuf_files::FsError::new(path, "read round", source).into()),
    }
}

/// Stores the round durably at `path` (at a checkpoint, before the log that holds it is
/// emptied).
pub fn store_round(round: &Round, path: &Path) -> Result<(), CheckpointError> {
    let bytes = serde_json::to_vec(round).map_err(|e| CheckpointError::BadRound {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    tuf_files::atomic::write(path, &bytes, tuf_files::WriteOptions::PRIVATE)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuf_merkle::{LeafContents, key_of};

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt");
        assert_eq!(Checkpoint::load(&path).unwrap(), Checkpoint::default());
        let c = Checkpoint {
            seq: 9,
            timestamp_version: 4,
            entries: vec![
                Entry {
                    key: key_of("a"),
                    contents: LeafContents::for_bytes(2, b"x").unwrap(),
                    name: Some("a".into()),
                },
                Entry {
                    key: key_of("b"),
                    contents: LeafContents::deleted(3).unwrap(),
                    name: None,
                },
            ],
        };
        c.store(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), c);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 1;
        assert!(Checkpoint::decode(&bytes, &path).is_err());
    }
}
