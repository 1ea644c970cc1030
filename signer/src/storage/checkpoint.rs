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

use tuf_merkle::{Digest, LeafContents};

use crate::round::Round;

const MAGIC: &[u8; 8] = b"TUFCKPT1";
const TOMBSTONE: u64 = u64::MAX;

/// One leaf in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `H(name)`.
    pub key: Digest,
    /// The leaf contents.
    pub contents: LeafContents,
    /// The target name, where known.
    pub name: Option<String>,
}

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
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.entries.len() * 96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.timestamp_version.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.key.0);
            let (version, length, sha) = match e.contents {
                LeafContents::Present {
                    version,
                    length,
                    sha256,
                } => (version, length, sha256.0),
                LeafContents::Deleted { version } => (version, TOMBSTONE, [0; 32]),
            };
            out.extend_from_slice(&version.to_le_bytes());
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&sha);
            let name = e.name.as_deref().unwrap_or("").as_bytes();
            let len = u16::try_from(name.len()).unwrap_or(0);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&name[..usize::from(len)]);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a checkpoint; `path` is for errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let damaged = |reason: &str| CheckpointError::Damaged {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if bytes.len() < MAGIC.len() + 28 || &bytes[..8] != MAGIC {
            return Err(damaged("not a checkpoint"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != crc {
            return Err(damaged("checksum mismatch"));
        }
        let mut r = Reader { bytes: &body[8..] };
        let short = || damaged("truncated");
        let seq = r.u64().ok_or_else(short)?;
        let timestamp_version = r.u64().ok_or_else(short)?;
        let count = r.u64().ok_or_else(short)?;
        let mut entries = Vec::with_capacity(usize::try_from(count.min(1 << 24)).unwrap_or(0));
        for _ in 0..count {
            let key = Digest(r.array().ok_or_else(short)?);
            let version = r.u64().ok_or_else(short)?;
            let length = r.u64().ok_or_else(short)?;
            let sha = r.array().ok_or_else(short)?;
            let name_len = r.u16().ok_or_else(short)?;
            let name = r.take(usize::from(name_len)).ok_or_else(short)?;
            let contents = if length == TOMBSTONE {
                LeafContents::deleted(version)
            } else {
                LeafContents::present(version, length, Digest(sha))
            }
            .map_err(|e| damaged(&e.to_string()))?;
            let name = if name.is_empty() {
                None
            } else {
                Some(String::from_utf8(name.to_vec()).map_err(|_| damaged("name is not UTF-8"))?)
            };
            entries.push(Entry {
                key,
                contents,
                name,
            });
        }
        if !r.bytes.is_empty() {
            return Err(damaged("trailing bytes"));
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
        tuf_files::atomic::write(path, &self.encode(), tuf_files::WriteOptions::PRIVATE)?;
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

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn array(&mut self) -> Option<[u8; 32]> {
        self.take(32).and_then(|b| b.try_into().ok())
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuf_merkle::key_of;

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
