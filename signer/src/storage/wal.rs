//! The per-role write-ahead log.
//!
//! Two kinds of record, each with a sequence number one above the previous record's: a change
//! record (one group commit: the leaves a batch of accepted requests changed, with the contents
//! the tree takes) and a round record (a signed round: every file's exact bytes and the change
//! record, see [`Round`]). On disk:
//!
//! ```text
//! [u32 LE payload length][u32 LE CRC-32 of the payload][payload: JSON of `Record`]
//! ```
//!
//! Security and durability properties kept:
//! - [`Wal::append`] returns only after the record is written and `fdatasync`ed, so a change is
//!   acknowledged only once it survives a crash.
//! - Records hold the *resulting* leaf contents, not the requests, so replaying them rebuilds
//!   exactly the tree that was signed, whatever the version rules were at the time.
//! - On open, a torn tail (a record cut short, with a bad checksum, or zeros, with no valid
//!   record anywhere after it) is the unacknowledged write a crash interrupted: it is cut off.
//!   A bad record followed by a valid one, or a gap or repeat in the sequence numbers, means the
//!   log was damaged, and opening fails rather than silently dropping acknowledged changes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tuf_merkle::LeafContents;

use crate::change::Change;
use crate::round::Round;

/// The largest record payload, for writer and reader alike: [`Wal::append`] refuses a record
/// over it before writing a byte ([`WalError::RecordTooLarge`]), and on open a length field
/// over it is corruption, never a torn tail. So the log never acknowledges what it could not
/// read back. The sequencer keeps every record well under it (`sequencer` bounds the unsigned
/// backlog and each group commit in bytes).
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

const HEADER: usize = 8;

/// One change in a record: a target and the contents its leaf now has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedChange {
    /// The target name.
    pub name: String,
    /// The leaf contents after the change.
    pub contents: LeafContents,
}

/// One record: a group commit's changes, or a signed round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// One above the previous record's (the first record after a checkpoint at `s` has `s + 1`).
    pub seq: u64,
    /// The changes, in the order they were applied (empty in a round record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<LoggedChange>,
    /// A signed round: every file of it and its change record. Once this record is durable the
    /// round's timestamp version is used, and recovery republishes the round from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<Box<Round>>,
}

/// Why the log cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O error on the log file.
    #[error("write-ahead log {path}: {action}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A damaged record with valid data after it: acknowledged changes may be lost.
    #[error(
        "write-ahead log {path} is corrupt at byte {offset} ({reason}) and has data after it; \
         refusing to start so that no acknowledged change is dropped. Restore the log from a \
         backup, or move it aside after checking that the last checkpoint covers everything"
    )]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Sequence numbers that do not follow on.
    #[error(
        "write-ahead log {path}: record at byte {offset} has sequence {found}, expected {expected}"
    )]
    Sequence {
        /// The log file.
        path: PathBuf,
        /// Where the record starts.
        offset: u64,
        /// The sequence number expected.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// A sequence number at the end of the range (2^64 - 1), in the checkpoint or in a record:
    /// no record can follow it. Only a damaged checkpoint or log holds one.
    #[error(
        "write-ahead log {path}: sequence number {seq} leaves no room for a next record; the \
         checkpoint or the log is damaged"
    )]
    SequenceExhausted {
        /// The log file.
        path: PathBuf,
        /// The sequence number.
        seq: u64,
    },
    /// A record that does not serialize (cannot happen with the types here).
    #[error("cannot encode a write-ahead log record: {0}")]
    Encode(serde_json::Error),
    /// A record over [`MAX_RECORD_BYTES`]: refused before anything was written, so the log is
    /// unchanged and usable.
    #[error(
        "a write-ahead log record of {bytes} bytes is over the limit of {max} bytes; nothing was written"
    )]
    RecordTooLarge {
        /// The encoded record's size.
        bytes: usize,
        /// [`MAX_RECORD_BYTES`].
        max: usize,
    },
    /// Writing the record failed (a full disk, say) and what was written of it was cut off
    /// again: the log is as it was before the call and later appends may succeed. Not used for
    /// a failed fsync, after which the page cache can no longer be trusted ([`WalError::Io`]).
    #[error("write-ahead log {path}: append failed and was rolled back: {source}")]
    WriteRolledBack {
        /// The log file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl WalError {
    /// Whether the log is unchanged and still usable after this error (a later append may
    /// succeed), as opposed to a failure after which nothing more may be acknowledged.
    pub fn log_intact(&self) -> bool {
        matches!(
            self,
            WalError::RecordTooLarge { .. }
                | WalError::WriteRolledBack { .. }
                | WalError::Encode(_)
        )
    }

    /// Whether the error is a full disk or quota.
    pub fn is_storage_full(&self) -> bool {
        let source = match self {
            WalError::Io { source, .. } | WalError::WriteRolledBack { source, .. } => source,
            _ => return false,
        };
        matches!(source.raw_os_error(), Some(28 | 122))
    }
}

/// An open write-ahead log, positioned at its end.
#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    file: File,
    next_seq: u64,
    len: u64,
    /// The record bound, [`MAX_RECORD_BYTES`] but in tests.
    max_record: usize,
}

/// What [`Wal::open`] found.
#[derive(Debug)]
pub struct Opened {
    /// The log, ready for appends.
    pub wal: Wal,
    /// The records after the checkpoint, in order.
    pub records: Vec<Record>,
    /// Bytes cut off a torn tail, if any.
    pub truncated: u64,
}

/// The JSON of a [`Record`] holding `changes` at `seq`: the payload of a log record, in a
/// file or as an object in a bucket. Serialized from borrowed parts rather than copies.
pub fn encode_changes(seq: u64, changes: &[Change]) -> Result<Vec<u8>, WalError> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        seq: u64,
        changes: Vec<LoggedRef<'a>>,
    }
    #[derive(Serialize)]
    struct LoggedRef<'a> {
        name: &'a str,
        contents: &'a LeafContents,
    }
    let record = Borrowed {
        seq,
        changes: changes
            .iter()
            .map(|c| LoggedRef {
                name: &c.name,
                contents: &c.new,
            })
            .collect(),
    };
    serde_json::to_vec(&record).map_err(WalError::Encode)
}

/// The JSON of a [`Record`] holding a signed round at `seq`.
pub fn encode_round(seq: u64, round: &Round) -> Result<Vec<u8>, WalError> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        seq: u64,
        round: &'a Round,
    }
    serde_json::to_vec(&Borrowed { seq, round }).map_err(WalError::Encode)
}

impl Wal {
    /// Opens (creating if needed) the log at `path`, reads every record, keeps those with a
    /// sequence number above `checkpoint_seq`, and cuts off a torn tail.
    pub fn open(path: &Path, checkpoint_seq: u64) -> Result<Opened, WalError> {
        Self::open_with_limit(path, checkpoint_seq, MAX_RECORD_BYTES)
    }

    /// [`Wal::open`] with another record bound, for tests that need a small one. The same
    /// bound applies to reading this log and to appending to it.
    pub fn open_with_limit(
        path: &Path,
        checkpoint_seq: u64,
        max_record: usize,
    ) -> Result<Opened, WalError> {
        let exhausted = |seq| WalError::SequenceExhausted {
            path: path.to_owned(),
            seq,
        };
        let first_seq = checkpoint_seq
            .checked_add(1)
            .ok_or_else(|| exhausted(checkpoint_seq))?;
        let io = |action| {
            let path = path.to_owned();
            move |source| WalError::Io {
                path,
                action,
                source,
            }
        };
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io("open"))?;
        if !existed {
            // Make the new file's directory entry durable before anything is acknowledged.
            file.sync_all().map_err(io("sync new log"))?;
            if let Some(dir) = path.parent() {
                tuf_files::dir::sync_dir(dir).map_err(|e| WalError::Io {
                    path: path.to_owned(),
                    action: "sync log directory",
                    source: e.source,
                })?;
            }
        }
        let total = file.metadata().map_err(io("stat"))?.len();
        // Records are read one at a time, so memory stays at one record however long the log.
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &file);
        let mut offset = 0u64;
        let mut records = Vec::new();
        let mut expected: Option<u64> = None;
        let mut good_end = 0u64;
        while offset < total {
            match read_record(&mut reader, total - offset, max_record) {
                Ok((record, used)) => {
                    if let Some(e) = expected
                        && record.seq != e
                    {
                        return Err(WalError::Sequence {
                            path: path.to_owned(),
                            offset,
                            expected: e,
                            found: record.seq,
                        });
                    }
                    if expected.is_none() && record.seq > first_seq {
                        return Err(WalError::Sequence {
                            path: path.to_owned(),
                            offset,
                            expected: first_seq,
                            found: record.seq,
                        });
                    }
                    expected = Some(
                        record
                            .seq
                            .checked_add(1)
                            .ok_or_else(|| exhausted(record.seq))?,
                    );
                    if record.seq > checkpoint_seq {
                        records.push(record);
                    }
                    offset += used as u64;
                    good_end = offset;
                }
                Err(Bad::ReadFailed(source)) => {
                    return Err(WalError::Io {
                        path: path.to_owned(),
                        action: "read",
                        source,
                    });
                }
                Err(Bad::OutOfBounds(len)) => {
                    // The writer never writes such a length: this is damage, not a torn write,
                    // and cutting here could drop acknowledged records.
                    return Err(WalError::Corrupt {
                        path: path.to_owned(),
                        offset,
                        reason: format!(
                            "record length {len} is over the limit of {max_record} bytes"
                        ),
                    });
                }
                Err(bad) => {
                    // A crash can only tear the last write: anything that still parses as a
                    // record after the damage proves the damage is not a torn tail.
                    let mut rest = vec![0u8; usize::try_from(total - offset).unwrap_or(usize::MAX)];
                    std::os::unix::fs::FileExt::read_exact_at(&file, &mut rest, offset)
                        .map_err(io("read"))?;
                    if has_record_after(&rest, max_record) {
                        let reason = match bad {
                            Bad::Torn => "record length runs past the end of the log".to_owned(),
                            Bad::Corrupt { reason } => reason,
                            Bad::OutOfBounds(_) | Bad::ReadFailed(_) => "damaged".to_owned(),
                        };
                        return Err(WalError::Corrupt {
                            path: path.to_owned(),
                            offset,
                            reason,
                        });
                    }
                    break;
                }
            }
        }
        drop(reader);
        let truncated = total - good_end;
        // A log that ends before the checkpoint holds only records the checkpoint covers (one
        // restored from an older backup, say): none is replayed, and appending after them
        // would leave a gap in the sequence numbers that the next open refuses as damage. So
        // they are dropped, as `truncate` drops them after a checkpoint.
        if expected.is_some_and(|e| e <= checkpoint_seq) {
            good_end = 0;
        }
        if good_end < total {
            file.set_len(good_end).map_err(io("truncate torn tail"))?;
            file.sync_all().map_err(io("sync after truncation"))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io("seek"))?;
        let next_seq = expected.unwrap_or(first_seq).max(first_seq);
        let wal = Wal {
            path: path.to_owned(),
            file,
            next_seq,
            len: good_end,
            max_record,
        };
        Ok(Opened {
            wal,
            records,
            truncated,
        })
    }

    /// The sequence number the next record gets.
    #[cfg(any(test, feature = "test-support"))]
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Bytes in the log.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// Whether the log holds no record.
    #[cfg(any(test, feature = "test-support"))]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one record with the next sequence number and `fdatasync`s. Returns the sequence
    /// number. On error, the caller must not acknowledge the changes; the torn bytes, if any,
    /// are cut off on the next open (and by the rollback here when possible).
    pub fn append(&mut self, changes: &[Change]) -> Result<u64, WalError> {
        let seq = self.next_seq;
        let payload = encode_changes(seq, changes)?;
        self.append_payload(seq, payload)
    }

    /// Appends a signed round and `fdatasync`s; returns its sequence number.
    pub fn append_round(&mut self, round: &Round) -> Result<u64, WalError> {
        let seq = self.next_seq;
        let payload = encode_round(seq, round)?;
        self.append_payload(seq, payload)
    }

    /// The last sequence number written (or covered by the checkpoint the log was opened at).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Appends `payload`, a [`Record`] with sequence number `seq` as JSON.
    fn append_payload(&mut self, seq: u64, payload: Vec<u8>) -> Result<u64, WalError> {
        let next_seq = self
            .next_seq
            .checked_add(1)
            .ok_or_else(|| WalError::SequenceExhausted {
                path: self.path.clone(),
                seq: self.next_seq,
            })?;
        let too_large = || WalError::RecordTooLarge {
            bytes: payload.len(),
            max: self.max_record,
        };
        if payload.len() > self.max_record {
            return Err(too_large());
        }
        let len = u32::try_from(payload.len()).map_err(|_| too_large())?;
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        if let Err(source) = self.file.write_all(&frame) {
            // Cut what was written of this record so that later appends stay aligned; if that
            // works the log is exactly as before and the caller may carry on (a full disk
            // that frees up again).
            return Err(match self.file.set_len(self.len) {
                Ok(()) => WalError::WriteRolledBack {
                    path: self.path.clone(),
                    source,
                },
                Err(_) => WalError::Io {
                    path: self.path.clone(),
                    action: "append",
                    source,
                },
            });
        }
        if let Err(source) = self.file.sync_data() {
            // After a failed fsync the page cache may have dropped dirty pages: nothing written
            // since the last good fsync can be trusted, so this is never "rolled back".
            let _ = self.file.set_len(self.len);
            return Err(WalError::Io {
                path: self.path.clone(),
                action: "fdatasync",
                source,
            });
        }
        self.len += frame.len() as u64;
        self.next_seq = next_seq;
        Ok(seq)
    }

    /// Empties the log after a checkpoint covering every record in it was made durable. The
    /// sequence numbers continue.
    pub fn truncate(&mut self) -> Result<(), WalError> {
        let io = |action| {
            let path = self.path.clone();
            move |source| WalError::Io {
                path,
                action,
                source,
            }
        };
        self.file
            .set_len(0)
            .map_err(io("truncate after checkpoint"))?;
        self.file.sync_all().map_err(io("sync after truncation"))?;
        self.len = 0;
        Ok(())
    }

    /// Bytes in the log up to and including the last record written: where the record after
    /// [`Wal::last_seq`] will start. A background checkpoint notes it with the sequence number
    /// it covers, for [`Wal::compact`].
    pub fn position(&self) -> (u64, u64) {
        (self.last_seq(), self.len)
    }

    /// Drops the records up to `seq` (which end at byte `offset`) after a checkpoint covering
    /// them was made durable, keeping the ones appended since: they are copied to a new file,
    /// which is fsynced, renamed over the log, and the directory fsynced. A crash at any point
    /// leaves either the old log (whose records up to `seq` recovery skips, the checkpoint
    /// covering them) or the new one. The sequence numbers continue.
    ///
    /// Errors before the rename leave the old log in place and in use ([`CompactError::Kept`]);
    /// after it ([`CompactError::Unsure`]) the new file is in use but its name may not be
    /// durable, so the caller must not acknowledge anything more.
    pub fn compact(&mut self, seq: u64, offset: u64) -> Result<(), CompactError> {
        let kept = |action, source| {
            CompactError::Kept(WalError::Io {
                path: self.path.clone(),
                action,
                source,
            })
        };
        if offset > self.len {
            return Err(kept(
                "compact",
                std::io::Error::other(format!(
                    "offset {offset} is past the end of the log ({} bytes)",
                    self.len
                )),
            ));
        }
        let mut tail = vec![0u8; (self.len - offset) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut tail, offset)
            .map_err(|e| kept("read for compaction", e))?;
        // The kept bytes must start with the record after `seq`.
        if !tail.is_empty() {
            match parse_record(&tail, self.max_record) {
                Ok((record, _)) if record.seq == seq + 1 => {}
                Ok((record, _)) => {
                    return Err(kept(
                        "compact",
                        std::io::Error::other(format!(
                            "the record at byte {offset} has sequence {}, expected {}",
                            record.seq,
                            seq + 1
                        )),
                    ));
                }
                Err(_) => {
                    return Err(kept(
                        "compact",
                        std::io::Error::other(format!("no record starts at byte {offset}")),
                    ));
                }
            }
        }
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_owned();
        let file_name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("wal");
        let tmp = dir.join(format!(".{file_name}.compact"));
        let written = (|| {
            let mut f = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&tmp)?;
            f.set_len(0)?;
            f.write_all(&tail)?;
            f.sync_all()?;
            Ok::<_, std::io::Error>(f)
        })();
        let file = match written {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(kept("write compacted log", e));
            }
        };
        if let Err(e) = std::fs::rename(&tmp, &self.path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(kept("rename compacted log into place", e));
        }
        // The handle follows the new file; the old one is gone from the directory.
        self.file = file;
        self.len = tail.len() as u64;
        tuf_files::dir::sync_dir(&dir).map_err(|e| {
            CompactError::Unsure(WalError::Io {
                path: self.path.clone(),
                action: "sync log directory after compaction",
                source: e.source,
            })
        })
    }
}

/// Why [`Wal::compact`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// Nothing changed: the old log is still in place and in use.
    #[error(transparent)]
    Kept(WalError),
    /// The compacted log is in use but may not be durable under its name.
    #[error(transparent)]
    Unsure(WalError),
}

enum Bad {
    /// The bytes end inside this record.
    Torn,
    /// The record is complete but wrong.
    Corrupt { reason: String },
    /// The length field is over [`MAX_RECORD_BYTES`]: never written by [`Wal::append`].
    OutOfBounds(u32),
    /// Reading the file failed.
    ReadFailed(std::io::Error),
}

/// Whether a valid record starts anywhere after the first byte of `bytes`.
fn has_record_after(bytes: &[u8], max: usize) -> bool {
    (1..bytes.len().saturating_sub(HEADER)).any(|i| parse_record(&bytes[i..], max).is_ok())
}

/// Checks a frame header against the `remaining` bytes; returns the payload length.
fn check_header(header: [u8; HEADER], remaining: u64, max: usize) -> Result<(usize, u32), Bad> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 {
        return Err(Bad::Corrupt {
            reason: "record length 0".into(),
        });
    }
    let size = len as usize;
    if size > max {
        return Err(Bad::OutOfBounds(len));
    }
    if remaining < (HEADER + size) as u64 {
        return Err(Bad::Torn);
    }
    Ok((size, crc))
}

fn decode_payload(payload: &[u8], crc: u32) -> Result<Record, Bad> {
    if crc32fast::hash(payload) != crc {
        return Err(Bad::Corrupt {
            reason: "checksum mismatch".into(),
        });
    }
    serde_json::from_slice(payload).map_err(|e| Bad::Corrupt {
        reason: format!("undecodable record: {e}"),
    })
}

/// Reads one record from `reader`, which has `remaining` bytes left. Returns it and the
/// bytes it took.
fn read_record(reader: &mut impl Read, remaining: u64, max: usize) -> Result<(Record, usize), Bad> {
    if remaining < HEADER as u64 {
        return Err(Bad::Torn);
    }
    let mut header = [0u8; HEADER];
    reader.read_exact(&mut header).map_err(Bad::ReadFailed)?;
    let (size, crc) = check_header(header, remaining, max)?;
    let mut payload = vec![0u8; size];
    reader.read_exact(&mut payload).map_err(Bad::ReadFailed)?;
    Ok((decode_payload(&payload, crc)?, HEADER + size))
}

fn parse_record(bytes: &[u8], max: usize) -> Result<(Record, usize), Bad> {
    let Some(header) = bytes.first_chunk::<HEADER>() else {
        return Err(Bad::Torn);
    };
    let (size, crc) = check_header(*header, bytes.len() as u64, max)?;
    let record = decode_payload(&bytes[HEADER..HEADER + size], crc)?;
    Ok((record, HEADER + size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(name: &str, v: u64) -> Vec<Change> {
        vec![Change {
            name: name.into(),
            key: tuf_merkle::key_of(name),
            old: None,
            new: LeafContents::for_bytes(v, name.as_bytes()).unwrap(),
        }]
    }

    #[test]
    fn appends_and_replays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut o = Wal::open(&path, 0).unwrap();
        assert_eq!(o.wal.append(&change("a", 1)).unwrap(), 1);
        assert_eq!(o.wal.append(&change("b", 1)).unwrap(), 2);
        drop(o);
        let o = Wal::open(&path, 0).unwrap();
        assert_eq!(o.records.len(), 2);
        assert_eq!(o.wal.next_seq(), 3);
        let o = Wal::open(&path, 1).unwrap();
        assert_eq!(o.records.len(), 1);
        assert_eq!(o.records[0].seq, 2);
    }

    #[test]
    fn torn_tail_is_cut_and_middle_corruption_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut o = Wal::open(&path, 0).unwrap();
        o.wal.append(&change("a", 1)).unwrap();
        o.wal.append(&change("b", 1)).unwrap();
        let full = o.wal.bytes();
        drop(o);
        // Torn: cut in the middle of the last record.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 3).unwrap();
        drop(f);
        let mut o = Wal::open(&path, 0).unwrap();
        assert_eq!(o.records.len(), 1);
        assert!(o.truncated > 0);
        assert_eq!(o.wal.append(&change("c", 1)).unwrap(), 2);
        assert_eq!(o.wal.append(&change("d", 1)).unwrap(), 3);
        drop(o);
        // Corrupt a byte in the first record's payload: valid records follow, so refuse.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER + 2] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(Wal::open(&path, 0), Err(WalError::Corrupt { .. })));
        // Zeros after the last good record are a torn tail.
        bytes[HEADER + 2] ^= 0x20;
        bytes.extend_from_slice(&[0u8; 100]);
        std::fs::write(&path, &bytes).unwrap();
        let o = Wal::open(&path, 0).unwrap();
        assert_eq!(o.records.len(), 3);
        assert_eq!(o.truncated, 100);
    }

    #[test]
    fn a_record_over_the_bound_is_refused_before_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut o = Wal::open_with_limit(&path, 0, 200).unwrap();
        o.wal.append(&change("a", 1)).unwrap();
        let before = std::fs::read(&path).unwrap();
        let big: Vec<Change> = (0..10).flat_map(|i| change(&format!("n{i}"), 1)).collect();
        let err = o.wal.append(&big).unwrap_err();
        assert!(
            matches!(err, WalError::RecordTooLarge { max: 200, .. }),
            "{err}"
        );
        assert!(err.log_intact());
        // Nothing was written and the log goes on with the next sequence number.
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(o.wal.append(&change("b", 1)).unwrap(), 2);
        drop(o);
        let o = Wal::open_with_limit(&path, 0, 200).unwrap();
        assert_eq!(o.records.len(), 2);
        assert_eq!(o.truncated, 0);
    }

    #[test]
    fn a_length_over_the_bound_is_corruption_not_a_torn_tail() {
        // The writer never writes such a length; before, a reader with a smaller bound than
        // the writer's cut an acknowledged record off as a "torn tail".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut o = Wal::open(&path, 0).unwrap();
        o.wal.append(&change("a", 1)).unwrap();
        let big: Vec<Change> = (0..20).flat_map(|i| change(&format!("n{i}"), 1)).collect();
        o.wal.append(&big).unwrap();
        drop(o);
        let len = std::fs::metadata(&path).unwrap().len();
        let err = Wal::open_with_limit(&path, 0, 300).unwrap_err();
        assert!(
            matches!(&err, WalError::Corrupt { reason, .. } if reason.contains("over the limit")),
            "{err}"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            len,
            "nothing was cut"
        );
        // A raw length field over the bound at the very end is refused too.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(Wal::open(&path, 0), Err(WalError::Corrupt { .. })));
    }

    #[test]
    fn gaps_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut o = Wal::open(&path, 5).unwrap();
        assert_eq!(o.wal.append(&change("a", 1)).unwrap(), 6);
        drop(o);
        assert!(matches!(
            Wal::open(&path, 3),
            Err(WalError::Sequence { .. })
        ));
        let o = Wal::open(&path, 6).unwrap();
        assert!(o.records.is_empty());
        assert_eq!(o.wal.next_seq(), 7);
    }

    #[test]
    fn compaction_keeps_the_records_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut o = Wal::open(&path, 0).unwrap();
        o.wal.append(&change("a", 1)).unwrap();
        o.wal.append(&change("b", 1)).unwrap();
        // A checkpoint at 2 is taken; the log grows while it is written.
        let (seq, offset) = o.wal.position();
        assert_eq!(seq, 2);
        o.wal.append(&change("c", 1)).unwrap();
        o.wal.append(&change("d", 1)).unwrap();
        let before = std::fs::read(&path).unwrap();

        // Crash before compaction: the old log with a checkpoint at 2 replays 3 and 4 only.
        let again = Wal::open(&path, 2).unwrap();
        assert_eq!(
            again.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(again.wal.next_seq(), 5);
        drop(again);

        // A wrong position is refused and the log is kept, still usable.
        assert!(matches!(
            o.wal.compact(seq, offset + 1),
            Err(CompactError::Kept(_))
        ));
        assert!(matches!(
            o.wal.compact(1, offset),
            Err(CompactError::Kept(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);

        o.wal.compact(seq, offset).unwrap();
        assert_eq!(o.wal.bytes() as usize, before.len() - offset as usize);
        assert_eq!(o.wal.append(&change("e", 1)).unwrap(), 5);
        drop(o);
        assert!(!dir.path().join(".wal.compact").exists());
        let o = Wal::open(&path, 2).unwrap();
        assert_eq!(
            o.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        // Without the checkpoint the compacted log would have a gap: refused, never replayed
        // as if complete.
        assert!(matches!(
            Wal::open(&path, 0),
            Err(WalError::Sequence { .. })
        ));

        // Compacting everything leaves an empty log whose sequence numbers continue.
        let mut o = Wal::open(&path, 2).unwrap();
        let (seq, offset) = o.wal.position();
        o.wal.compact(seq, offset).unwrap();
        assert!(o.wal.is_empty());
        assert_eq!(o.wal.append(&change("f", 1)).unwrap(), 6);
        drop(o);
        let o = Wal::open(&path, 5).unwrap();
        assert_eq!(o.records.len(), 1);
        assert_eq!(o.records[0].seq, 6);
    }
}
