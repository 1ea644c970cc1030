//! Checkpoints: a role's whole leaf set at a write-ahead-log sequence number.
//!
//! Binary, little-endian, checked by a CRC-32 over everything before it:
//!
//! ```text
//! "TUFCKPT2" | u64 seq | u64 timestamp_version | u64 count |
//!   count × ( [32] key | u64 version | u64 length (u64::MAX: tombstone) | [32] sha256 |
//!             u16 name_len | name bytes ) |
//!   u64 hash_count | hash_count × [32] branch hash |
//! u32 crc32
//! ```
//!
//! Version 2 adds the tree's branch hashes (`count - 1` of them, in the pre-order of
//! `Tree::for_each_branch_hash`; none for fewer than two leaves), with the leaves in key order,
//! so that a start rebuilds the tree without hashing ten million leaves first
//! (`Tree::from_stored`); the rehash that checks them runs in the background
//! ([`crate::sequencer`]'s recovery). A version 1 base (`"TUFCKPT1"`, the same without the
//! hashes) still loads, and is rehashed at start as before; the next base written is version 2.
//!
//! # Incremental checkpoints (in the data directory)
//!
//! `checkpoint.bin` is the **base**. Between bases, a checkpoint is a **delta**: only the leaves
//! that changed since the previous checkpoint (base or delta), with their contents at the new
//! sequence number, in `delta-{seq:020}.bin`; a small **head**, `checkpoint.head`, lists the
//! chain (the base's sequence number and each delta's sequence number and size). Leaves are
//! never removed from the tree (a deletion is a tombstone), so applying the deltas in order to
//! the base's leaves gives the leaves at the chain's last sequence number.
//!
//! ```text
//! delta-S.bin:     "TUFDELT1" | u64 base_seq | u64 prev_seq | u64 seq | u64 timestamp_version |
//!                  u64 count | count × entry (as above) | u32 crc32
//! checkpoint.head: "TUFHEAD1" | u64 base_seq | u32 count | count × ( u64 seq | u64 bytes ) |
//!                  u32 crc32
//! ```
//!
//! A delta is written while the chain's deltas, this one included, stay within a quarter of the
//! base's bytes and number at most [`MAX_DELTAS`]; otherwise a new base is written and the head
//! and deltas removed. So a checkpoint writes what changed (plus, now and then, one base), and
//! recovery reads the base and at most a quarter more.
//!
//! Properties kept: every file is written to a temporary file, fsynced, renamed into place and
//! the directory fsynced, so a crash leaves the old or the new file, never a mix. A delta is
//! committed by the head that lists it, written after it; the log is compacted only after that.
//! So a crash leaves either the previous chain (an unlisted delta is ignored, and the log still
//! holds every record after the previous chain) or the new one. A new base is committed by its
//! own rename: a base whose sequence number is at or past the head's last one supersedes the
//! head (the crash came before the head was removed). A listed delta that is missing, of
//! another size, with a bad checksum, or not chained to its predecessor is refused with an error
//! that names it, never skipped: the log no longer holds its records. A checkpoint whose
//! checksum fails is refused, never half-loaded; so is a version 2 base whose hash count is not
//! its leaves' count less one. Stored hashes are taken on trust only until the background
//! rehash has checked them (see [`crate::sequencer`]). Names are kept where the role knows them
//! (classic roles need them for `targets.json`); the tree itself needs only keys.

use std::path::{Path, PathBuf};

use tuf_merkle::Digest;
use tuf_repo_format::leaves::{self, SequenceError};

use crate::round::Round;

/// One leaf in a checkpoint: the shared leaf entry of `tuf-repo-format` (the leaf snapshots
/// published for mirrors use it too, so a leaf-format change is made there once).
pub use tuf_repo_format::LeafEntry as Entry;

/// A base with its tree's branch hashes (written since issue 13).
const MAGIC: &[u8; 8] = b"TUFCKPT2";
/// A base of leaves only (read, never written).
const MAGIC_V1: &[u8; 8] = b"TUFCKPT1";
const DELTA_MAGIC: &[u8; 8] = b"TUFDELT1";
const HEAD_MAGIC: &[u8; 8] = b"TUFHEAD1";

/// The most deltas a chain holds before the next checkpoint is a base.
pub const MAX_DELTAS: usize = 64;

/// The chain's deltas stay within `1 / DELTA_SHARE` of the base's bytes.
pub const DELTA_SHARE: u64 = 4;

/// A decoded checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last write-ahead-log sequence number whose changes it holds.
    pub seq: u64,
    /// The last timestamp version published when it was taken (0: none).
    pub timestamp_version: u64,
    /// Every leaf; in key order when `hashes` is not empty.
    pub entries: Vec<Entry>,
    /// The tree's branch hashes in pre-order (`entries.len() - 1` of them), or none: a
    /// version 1 base, or a base written without them (then the tree is rebuilt by hashing).
    pub hashes: Vec<Digest>,
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
    /// Encodes the checkpoint (version 2).
    pub fn encode(&self) -> Result<Vec<u8>, CheckpointError> {
        let mut out = Vec::with_capacity(40 + self.entries.len() * 96 + self.hashes.len() * 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.timestamp_version.to_le_bytes());
        leaves::encode_sequence(&self.entries, &mut out)?;
        out.extend_from_slice(&(self.hashes.len() as u64).to_le_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h.as_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Decodes a checkpoint; `path` is for errors.
    #[cfg(any(test, feature = "test-support"))] // the signer reads through `*_with`
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        Self::decode_with(bytes, path, true)
    }

    /// [`Checkpoint::decode`], keeping the leaves' names only if `keep_names`.
    pub fn decode_with(
        bytes: &[u8],
        path: &Path,
        keep_names: bool,
    ) -> Result<Self, CheckpointError> {
        let damaged = |reason: String| CheckpointError::Damaged {
            path: path.to_owned(),
            reason,
        };
        let version = match bytes.get(..8) {
            Some(m) if m == MAGIC => 2,
            Some(m) if m == MAGIC_V1 => 1,
            Some(m) if m.starts_with(b"TUFCKPT") => {
                return Err(damaged(format!(
                    "a checkpoint of another format ({:?}) than this signer reads (TUFCKPT1, \
                     TUFCKPT2): run the signer version that wrote it, or import the role again",
                    String::from_utf8_lossy(m)
                )));
            }
            _ => return Err(damaged("not a checkpoint".into())),
        };
        if bytes.len() < MAGIC.len() + 28 {
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
        let entries = leaves::decode_sequence_with(&mut rest, keep_names)
            .map_err(|e| damaged(e.to_string()))?;
        let hashes = if version == 2 {
            let mut f = Fields(rest);
            let count = f
                .u64()
                .ok_or_else(|| damaged("truncated hash count".into()))?;
            // Checked against the bytes before anything is allocated.
            if usize::try_from(count).ok() != Some(f.0.len() / 32) || f.0.len() % 32 != 0 {
                return Err(damaged(format!(
                    "{count} branch hashes claimed in {} bytes",
                    f.0.len()
                )));
            }
            if count != 0 && count as usize != entries.len().saturating_sub(1) {
                return Err(damaged(format!(
                    "{count} branch hashes for {} leaves (a tree of n leaves has n - 1 branches)",
                    entries.len()
                )));
            }
            let hashes =
                f.0.chunks_exact(32)
                    .map(|c| Digest(c.try_into().unwrap_or([0; 32])))
                    .collect();
            rest = &[];
            hashes
        } else {
            Vec::new()
        };
        if !rest.is_empty() {
            return Err(damaged("trailing bytes".into()));
        }
        Ok(Checkpoint {
            seq,
            timestamp_version,
            entries,
            hashes,
        })
    }

    /// Reads the checkpoint at `path`, or an empty one (seq 0) if there is none.
    #[cfg(any(test, feature = "test-support"))] // the signer reads through `*_with`
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        Self::load_with(path, true)
    }

    /// [`Checkpoint::load`], keeping the leaves' names only if `keep_names`.
    pub fn load_with(path: &Path, keep_names: bool) -> Result<Self, CheckpointError> {
        match std::fs::read(path) {
            Ok(bytes) => Self::decode_with(&bytes, path, keep_names),
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

/// Checks `bytes` = `magic | body | crc32` and returns the body after the magic.
fn checked_body<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    what: &str,
    damaged: &dyn Fn(String) -> CheckpointError,
) -> Result<&'a [u8], CheckpointError> {
    if bytes.len() < magic.len() + 4 || &bytes[..8] != magic {
        return Err(damaged(format!("not a {what}")));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(body) != crc {
        return Err(damaged("checksum mismatch".into()));
    }
    Ok(&body[8..])
}

/// Reads little-endian integers off the front of a slice; `None` when it is too short.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_le_bytes(*head))
    }

    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*head))
    }
}

/// The leaves that changed between two checkpoints (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// The base the chain starts from.
    pub base_seq: u64,
    /// The checkpoint (base or delta) this one follows.
    pub prev_seq: u64,
    /// The last write-ahead-log sequence number it covers.
    pub seq: u64,
    /// The last timestamp version published when it was taken.
    pub timestamp_version: u64,
    /// The changed leaves, each with its contents at `seq`.
    pub entries: Vec<Entry>,
}

impl Delta {
    /// Encodes the delta.
    pub fn encode(&self) -> Result<Vec<u8>, CheckpointError> {
        let mut out = Vec::with_capacity(48 + self.entries.len() * 96);
        out.extend_from_slice(DELTA_MAGIC);
        for n in [
            self.base_seq,
            self.prev_seq,
            self.seq,
            self.timestamp_version,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        leaves::encode_sequence(&self.entries, &mut out)?;
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Decodes a delta, keeping the leaves' names only if `keep_names`; `path` is for errors.
    pub fn decode(bytes: &[u8], path: &Path, keep_names: bool) -> Result<Self, CheckpointError> {
        let damaged = |reason: String| CheckpointError::Damaged {
            path: path.to_owned(),
            reason,
        };
        let body = checked_body(bytes, DELTA_MAGIC, "checkpoint delta", &damaged)?;
        let mut f = Fields(body);
        let (Some(base_seq), Some(prev_seq), Some(seq), Some(timestamp_version)) =
            (f.u64(), f.u64(), f.u64(), f.u64())
        else {
            return Err(damaged("truncated".into()));
        };
        let mut rest = f.0;
        let entries = leaves::decode_sequence_with(&mut rest, keep_names)
            .map_err(|e| damaged(e.to_string()))?;
        if !rest.is_empty() {
            return Err(damaged("trailing bytes".into()));
        }
        Ok(Delta {
            base_seq,
            prev_seq,
            seq,
            timestamp_version,
            entries,
        })
    }
}

/// The chain of deltas after a base (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// The base's sequence number.
    pub base_seq: u64,
    /// Each delta's sequence number and size in bytes, in order.
    pub deltas: Vec<(u64, u64)>,
}

impl Head {
    /// The last sequence number the chain covers.
    pub fn last_seq(&self) -> u64 {
        self.deltas.last().map_or(self.base_seq, |d| d.0)
    }

    /// The deltas' bytes together.
    pub fn delta_bytes(&self) -> u64 {
        self.deltas.iter().map(|d| d.1).sum()
    }

    /// Encodes the head.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.deltas.len() * 16);
        out.extend_from_slice(HEAD_MAGIC);
        out.extend_from_slice(&self.base_seq.to_le_bytes());
        out.extend_from_slice(&(self.deltas.len() as u32).to_le_bytes());
        for (seq, bytes) in &self.deltas {
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&bytes.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a head; `path` is for errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let damaged = |reason: String| CheckpointError::Damaged {
            path: path.to_owned(),
            reason,
        };
        let body = checked_body(bytes, HEAD_MAGIC, "checkpoint head", &damaged)?;
        let mut f = Fields(body);
        let (Some(base_seq), Some(count)) = (f.u64(), f.u32()) else {
            return Err(damaged("truncated".into()));
        };
        if f.0.len() != count as usize * 16 {
            return Err(damaged(format!(
                "{count} deltas listed in {} bytes",
                f.0.len()
            )));
        }
        let mut deltas = Vec::with_capacity(count as usize);
        let mut last = base_seq;
        for _ in 0..count {
            let (Some(seq), Some(bytes)) = (f.u64(), f.u64()) else {
                return Err(damaged("truncated".into()));
            };
            if seq <= last {
                return Err(damaged(format!("delta {seq} listed after {last}")));
            }
            last = seq;
            deltas.push((seq, bytes));
        }
        Ok(Head { base_seq, deltas })
    }
}

/// Whether a delta of `delta_bytes` may follow a chain of `chain_len` deltas of `chain_bytes`
/// after a base of `base_bytes` (0: no base, so not): the chain, this delta included, stays
/// within `1 / DELTA_SHARE` of the base and at most [`MAX_DELTAS`] long. The same rule in the
/// data directory and in a bucket ([`super::bucket_checkpoint`]).
pub fn delta_fits(base_bytes: u64, chain_bytes: u64, chain_len: usize, delta_bytes: u64) -> bool {
    base_bytes != 0
        && (chain_bytes + delta_bytes).saturating_mul(DELTA_SHARE) <= base_bytes
        && chain_len < MAX_DELTAS
}

/// A role's checkpoint files in its state directory: the base, the head and the deltas.
#[derive(Debug, Clone)]
pub struct CheckpointFiles {
    dir: PathBuf,
}

/// A role's leaves as its checkpoint files hold them: the base and the deltas to apply in order.
#[derive(Debug, Default)]
pub struct Chain {
    /// The base, with `seq` and `timestamp_version` those of the chain's last checkpoint.
    pub base: Checkpoint,
    /// The deltas' leaves, in order.
    pub deltas: Vec<Vec<Entry>>,
}

/// What the next checkpoint may be: a delta after the chain, or a base.
#[derive(Debug)]
pub enum Plan {
    /// A delta after `head` (the base and the deltas so far).
    Delta(Head),
    /// A new base.
    Base,
}

impl CheckpointFiles {
    /// The files in `dir`.
    pub fn new(dir: &Path) -> Self {
        CheckpointFiles {
            dir: dir.to_owned(),
        }
    }

    /// `checkpoint.bin`.
    pub fn base_path(&self) -> PathBuf {
        self.dir.join("checkpoint.bin")
    }

    /// `checkpoint.head`.
    pub fn head_path(&self) -> PathBuf {
        self.dir.join("checkpoint.head")
    }

    /// `delta-{seq:020}.bin`.
    pub fn delta_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("delta-{seq:020}.bin"))
    }

    fn load_head(&self) -> Result<Option<Head>, CheckpointError> {
        let path = self.head_path();
        match std::fs::read(&path) {
            Ok(bytes) => Head::decode(&bytes, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => {
                Err(tuf_files::FsError::new(&path, "read checkpoint head", source).into())
            }
        }
    }

    /// The base's sequence number and size, read from its header (0, 0 without a base).
    fn base_header(&self) -> Result<(u64, u64), CheckpointError> {
        use std::io::Read as _;
        let path = self.base_path();
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(source) => {
                return Err(tuf_files::FsError::new(&path, "open checkpoint", source).into());
            }
        };
        let io = |source| tuf_files::FsError::new(&path, "read checkpoint", source);
        let len = file.metadata().map_err(io)?.len();
        let mut header = [0u8; 16];
        file.read_exact(&mut header).map_err(io)?;
        if &header[..8] != MAGIC && &header[..8] != MAGIC_V1 {
            return Err(CheckpointError::Damaged {
                path: path.clone(),
                reason: "not a checkpoint".into(),
            });
        }
        Ok((
            u64::from_le_bytes(header[8..16].try_into().unwrap_or_default()),
            len,
        ))
    }

    /// The head in force: the one on disk, unless a newer base superseded it.
    fn head_in_force(&self, base_seq: u64) -> Result<Option<Head>, CheckpointError> {
        match self.load_head()? {
            Some(head) if head.base_seq == base_seq => Ok(Some(head)),
            // A base written after the head (the crash came before the head was removed).
            Some(head) if base_seq >= head.last_seq() => Ok(None),
            Some(head) => Err(CheckpointError::Damaged {
                path: self.head_path(),
                reason: format!(
                    "it lists a chain from base {} to {}, but checkpoint.bin is at {base_seq}",
                    head.base_seq,
                    head.last_seq()
                ),
            }),
            None => Ok(None),
        }
    }

    /// Reads the base and the deltas its head lists (an empty checkpoint at sequence 0 without
    /// a base), with the leaves' names only if `keep_names` (a merkle role's tree needs none:
    /// skipping them allocates nothing per leaf, which a role of millions of leaves would
    /// otherwise keep as heap fragments after start).
    pub fn load(&self, keep_names: bool) -> Result<Chain, CheckpointError> {
        let mut base = Checkpoint::load_with(&self.base_path(), keep_names)?;
        if !self.base_path().exists()
            && let Some(head) = self.load_head()?
        {
            return Err(CheckpointError::Damaged {
                path: self.base_path(),
                reason: format!(
                    "missing, but checkpoint.head lists a chain from it (base {}); restore the \
                     state directory from a backup",
                    head.base_seq
                ),
            });
        }
        let Some(head) = self.head_in_force(base.seq)? else {
            return Ok(Chain {
                base,
                deltas: Vec::new(),
            });
        };
        let mut deltas = Vec::with_capacity(head.deltas.len());
        let mut prev = head.base_seq;
        for &(seq, size) in &head.deltas {
            let path = self.delta_path(seq);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(CheckpointError::Damaged {
                        path,
                        reason: "missing, but checkpoint.head lists it (the log no longer holds \
                                 its changes); restore the state directory from a backup"
                            .into(),
                    });
                }
                Err(source) => {
                    return Err(
                        tuf_files::FsError::new(&path, "read checkpoint delta", source).into(),
                    );
                }
            };
            if bytes.len() as u64 != size {
                return Err(CheckpointError::Damaged {
                    path,
                    reason: format!(
                        "{} bytes where checkpoint.head says {size}; restore the state directory \
                         from a backup",
                        bytes.len()
                    ),
                });
            }
            let delta = Delta::decode(&bytes, &path, keep_names)?;
            if (delta.base_seq, delta.prev_seq, delta.seq) != (head.base_seq, prev, seq) {
                return Err(CheckpointError::Damaged {
                    path,
                    reason: format!(
                        "it follows {} from base {} at {}, where the chain needs {prev} from \
                         base {} at {seq}",
                        delta.prev_seq, delta.base_seq, delta.seq, head.base_seq
                    ),
                });
            }
            prev = seq;
            base.seq = delta.seq;
            base.timestamp_version = base.timestamp_version.max(delta.timestamp_version);
            deltas.push(delta.entries);
        }
        Ok(Chain { base, deltas })
    }

    /// Whether a delta of `delta_bytes` may be the next checkpoint (see the module
    /// documentation).
    pub fn plan(&self, delta_bytes: u64) -> Result<Plan, CheckpointError> {
        let (base_seq, base_bytes) = self.base_header()?;
        if base_bytes == 0 {
            return Ok(Plan::Base);
        }
        let head = self.head_in_force(base_seq)?.unwrap_or(Head {
            base_seq,
            deltas: Vec::new(),
        });
        let fits = delta_fits(
            base_bytes,
            head.delta_bytes(),
            head.deltas.len(),
            delta_bytes,
        );
        Ok(if fits { Plan::Delta(head) } else { Plan::Base })
    }

    /// Writes `entries` as a delta at `seq` after `head`, then the head that lists it; returns
    /// the bytes written (the delta and the head).
    pub fn store_delta(
        &self,
        mut head: Head,
        seq: u64,
        timestamp_version: u64,
        entries: Vec<Entry>,
    ) -> Result<u64, CheckpointError> {
        let delta = Delta {
            base_seq: head.base_seq,
            prev_seq: head.last_seq(),
            seq,
            timestamp_version,
            entries,
        };
        let bytes = delta.encode()?;
        tuf_files::atomic::write(
            &self.delta_path(seq),
            &bytes,
            tuf_files::WriteOptions::PRIVATE,
        )?;
        head.deltas.push((seq, bytes.len() as u64));
        let head_bytes = head.encode();
        tuf_files::atomic::write(
            &self.head_path(),
            &head_bytes,
            tuf_files::WriteOptions::PRIVATE,
        )?;
        Ok((bytes.len() + head_bytes.len()) as u64)
    }

    /// Writes `checkpoint` as the new base, then removes the head and every delta (a crash
    /// in between leaves a head the base supersedes); returns the bytes written.
    pub fn store_base(&self, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
        let bytes = checkpoint.encode()?;
        tuf_files::atomic::write(&self.base_path(), &bytes, tuf_files::WriteOptions::PRIVATE)?;
        let head = self.head_path();
        if let Err(e) = std::fs::remove_file(&head)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(tuf_files::FsError::new(&head, "remove checkpoint head", e).into());
        }
        self.remove_deltas();
        Ok(bytes.len() as u64)
    }

    /// Removes the delta files (after a new base; a failure only leaves files no head lists).
    fn remove_deltas(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("delta-") && name.ends_with(".bin") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
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
            hashes: vec![Digest([7; 32])],
        };
        c.store(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), c);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 1;
        assert!(Checkpoint::decode(&bytes, &path).is_err());
    }

    /// A base as the signer writes it: the leaves of a tree in key order and its hashes.
    fn base_of(n: usize) -> Checkpoint {
        let tree = tuf_merkle::Tree::from_leaves(
            (0..n).map(|i| (key_of(&format!("n{i}")), entry("x", i as u64 + 1).contents)),
        )
        .unwrap();
        let mut entries = Vec::new();
        tree.for_each_leaf(|key, contents| {
            entries.push(Entry {
                key: *key,
                contents,
                name: None,
            })
        });
        let mut hashes = Vec::new();
        tree.for_each_branch_hash(|h| hashes.push(*h));
        Checkpoint {
            seq: 3,
            timestamp_version: 2,
            entries,
            hashes,
        }
    }

    #[test]
    fn a_version_2_base_keeps_the_tree_hashes_and_a_version_1_base_still_loads() {
        let path = Path::new("checkpoint.bin");
        let c = base_of(50);
        assert_eq!(c.hashes.len(), 49);
        let bytes = c.encode().unwrap();
        assert_eq!(&bytes[..8], b"TUFCKPT2");
        let back = Checkpoint::decode(&bytes, path).unwrap();
        assert_eq!(back, c);
        let rebuilt = tuf_merkle::Tree::from_stored(
            back.entries.iter().map(|e| (e.key, e.contents)),
            &back.hashes,
        )
        .unwrap();
        rebuilt.check_hashes().unwrap();

        // Version 1, as signers before it wrote: the same without the hash section.
        let mut v1 = b"TUFCKPT1".to_vec();
        v1.extend_from_slice(&c.seq.to_le_bytes());
        v1.extend_from_slice(&c.timestamp_version.to_le_bytes());
        leaves::encode_sequence(&c.entries, &mut v1).unwrap();
        v1.extend_from_slice(&crc32fast::hash(&v1).to_le_bytes());
        let old = Checkpoint::decode(&v1, path).unwrap();
        assert_eq!(old.entries, c.entries);
        assert!(old.hashes.is_empty());

        // A hash count that is not the leaves' less one, or that the bytes do not hold.
        let with_crc = |mut body: Vec<u8>| {
            body.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            body
        };
        let body = &bytes[..bytes.len() - 4];
        let count_at = body.len() - 49 * 32 - 8;
        let mut short = body[..body.len() - 32].to_vec();
        short[count_at..count_at + 8].copy_from_slice(&48u64.to_le_bytes());
        let e = Checkpoint::decode(&with_crc(short), path).unwrap_err();
        assert!(
            e.to_string().contains("48 branch hashes for 50 leaves"),
            "{e}"
        );
        let mut huge = body.to_vec();
        huge[count_at..count_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = Checkpoint::decode(&with_crc(huge), path).unwrap_err();
        assert!(e.to_string().contains("claimed"), "{e}");
        // A format this signer does not know is named, with what to do.
        let mut v9 = body.to_vec();
        v9[7] = b'9';
        let e = Checkpoint::decode(&with_crc(v9), path).unwrap_err();
        assert!(e.to_string().contains("TUFCKPT9"), "{e}");
        assert!(e.to_string().contains("import the role again"), "{e}");
    }

    fn entry(name: &str, version: u64) -> Entry {
        Entry {
            key: key_of(name),
            contents: LeafContents::present(version, 1, key_of("x")).unwrap(),
            name: Some(name.into()),
        }
    }

    #[test]
    fn deltas_and_heads_round_trip_and_refuse_damage() {
        let path = Path::new("delta");
        let d = Delta {
            base_seq: 3,
            prev_seq: 7,
            seq: 12,
            timestamp_version: 5,
            entries: vec![entry("a", 2), entry("b", 1)],
        };
        let bytes = d.encode().unwrap();
        assert_eq!(Delta::decode(&bytes, path, true).unwrap(), d);
        let unnamed = Delta::decode(&bytes, path, false).unwrap();
        assert!(unnamed.entries.iter().all(|e| e.name.is_none()));
        assert_eq!(unnamed.entries[0].key, d.entries[0].key);
        for at in [0, 9, 20, 40, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert!(Delta::decode(&bad, path, true).is_err(), "byte {at}");
        }
        assert!(Delta::decode(&bytes[..bytes.len() - 5], path, true).is_err());
        // A checkpoint is not a delta, nor the other way round.
        let c = Checkpoint::default().encode().unwrap();
        assert!(Delta::decode(&c, path, true).is_err());
        assert!(Checkpoint::decode(&bytes, path).is_err());

        let h = Head {
            base_seq: 3,
            deltas: vec![(7, 100), (12, bytes.len() as u64)],
        };
        assert_eq!(h.last_seq(), 12);
        let hb = h.encode();
        assert_eq!(Head::decode(&hb, path).unwrap(), h);
        let mut bad = hb.clone();
        bad[12] ^= 1;
        assert!(Head::decode(&bad, path).is_err());
        // Sequence numbers must go up from the base.
        let h = Head {
            base_seq: 3,
            deltas: vec![(3, 1)],
        };
        assert!(Head::decode(&h.encode(), path).is_err());
    }

    #[test]
    fn the_plan_follows_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let files = CheckpointFiles::new(dir.path());
        // No base yet: a base.
        assert!(matches!(files.plan(10).unwrap(), Plan::Base));
        let base = Checkpoint {
            seq: 4,
            timestamp_version: 2,
            entries: (0..100).map(|i| entry(&format!("n{i}"), 1)).collect(),
            hashes: Vec::new(),
        };
        let base_bytes = files.store_base(&base).unwrap();
        // A quarter of the base fits; more does not.
        let Plan::Delta(head) = files.plan(base_bytes / 8).unwrap() else {
            panic!("a delta")
        };
        assert!(matches!(files.plan(base_bytes / 3).unwrap(), Plan::Base));
        files
            .store_delta(head, 9, 3, vec![entry("n1", 2), entry("new", 1)])
            .unwrap();
        let chain = files.load(true).unwrap();
        assert_eq!((chain.base.seq, chain.base.timestamp_version), (9, 3));
        assert_eq!(chain.deltas.len(), 1);
        assert_eq!(chain.deltas[0][1].name.as_deref(), Some("new"));
        // A new base removes the chain.
        let newer = Checkpoint {
            seq: 20,
            ..base.clone()
        };
        files.store_base(&newer).unwrap();
        assert!(!files.head_path().exists());
        assert!(!files.delta_path(9).exists());
        let chain = files.load(false).unwrap();
        assert_eq!(chain.base.seq, 20);
        assert!(chain.deltas.is_empty());
        assert!(chain.base.entries.iter().all(|e| e.name.is_none()));
    }
}
