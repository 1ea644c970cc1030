//! A role's own state, which only the signer reads: its log of changes and signed rounds, and
//! checkpoints of its leaves. It lives in the data directory ([`wal`], [`checkpoint`]; the
//! layout is in [`crate::layout`]) or, with `[storage] type = "s3"`, under the role's private
//! prefix in the bucket ([`bucket_log`], [`bucket_checkpoint`]), so that any node with the
//! configuration can take the role over.
//!
//! [`RoleLog`] and [`StateStore`] are what the sequencer writes through; they keep the
//! properties of both places: nothing is acknowledged before its record is durable (fsynced, or
//! stored by a successful PUT), and a record is never replaced.

pub mod bucket_checkpoint;
pub mod bucket_log;
pub mod checkpoint;
pub mod wal;

use std::sync::Arc;

use crate::bucket::Bucket;
use crate::change::Change;
use crate::layout::RolePaths;
use crate::lease::LeaseGuard;
use crate::round::Round;
use bucket_log::{BucketLog, BucketLogError};
use checkpoint::{
    Checkpoint, CheckpointError, CheckpointFiles, Entry, Plan, load_round, store_round,
};
use wal::{CompactError, Record, Wal, WalError};

/// Why the log could not take a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log file.
    #[error(transparent)]
    File(#[from] WalError),
    /// The log in the bucket.
    #[error(transparent)]
    Bucket(#[from] BucketLogError),
}

impl LogError {
    /// Whether nothing was written: the log is as before and may take the next append.
    pub fn log_intact(&self) -> bool {
        match self {
            LogError::File(e) => e.log_intact(),
            LogError::Bucket(e) => e.log_intact(),
        }
    }

    /// Whether the error is a full disk or quota.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, LogError::File(e) if e.is_storage_full())
    }

    /// Whether another node leads the role now (or may): this node must stop writing it.
    pub fn ends_leadership(&self) -> bool {
        matches!(self, LogError::Bucket(e) if e.ends_leadership())
    }
}

/// A role's log, open for appends.
#[derive(Debug)]
pub enum RoleLog {
    /// In the data directory.
    File(Wal),
    /// In the bucket.
    Bucket(BucketLog),
}

impl RoleLog {
    /// Appends a group commit's changes as one durable record; returns its sequence number.
    pub async fn append(&mut self, changes: &[Change]) -> Result<u64, LogError> {
        match self {
            RoleLog::File(wal) => Ok(wal.append(changes)?),
            RoleLog::Bucket(log) => {
                let payload = wal::encode_changes(log.next_seq(), changes)?;
                Ok(log.append(payload).await?)
            }
        }
    }

    /// Appends a signed round as one durable record; returns its sequence number.
    pub async fn append_round(&mut self, round: &Round) -> Result<u64, LogError> {
        match self {
            RoleLog::File(wal) => Ok(wal.append_round(round)?),
            RoleLog::Bucket(log) => {
                let payload = wal::encode_round(log.next_seq(), round)?;
                Ok(log.append(payload).await?)
            }
        }
    }

    /// The last sequence number written.
    pub fn last_seq(&self) -> u64 {
        match self {
            RoleLog::File(wal) => wal.last_seq(),
            RoleLog::Bucket(log) => log.last_seq(),
        }
    }

    /// Where a checkpoint taken now ends: the last sequence number and, for the file log, the
    /// byte after it (for compaction).
    pub fn position(&self) -> (u64, u64) {
        match self {
            RoleLog::File(wal) => wal.position(),
            RoleLog::Bucket(log) => (log.last_seq(), 0),
        }
    }

    /// After a checkpoint up to `seq` is durable: drops the file log's records it covers. The
    /// bucket's records stay (a taken sequence number must stay taken).
    pub fn compact(&mut self, seq: u64, offset: u64) -> Result<(), CompactError> {
        match self {
            RoleLog::File(wal) => wal.compact(seq, offset),
            RoleLog::Bucket(_) => Ok(()),
        }
    }

    /// Like [`RoleLog::compact`] with nothing appended since the checkpoint (at shutdown).
    pub fn truncate(&mut self) -> Result<(), WalError> {
        match self {
            RoleLog::File(wal) => wal.truncate(),
            RoleLog::Bucket(_) => Ok(()),
        }
    }

    /// Bytes the file log holds (0 in a bucket).
    pub fn bytes(&self) -> u64 {
        match self {
            RoleLog::File(wal) => wal.bytes(),
            RoleLog::Bucket(_) => 0,
        }
    }
}

/// Where a role's state lives.
#[derive(Debug, Clone)]
pub enum StateStore {
    /// The role's state directory.
    Dir(RolePaths),
    /// The role's state prefix in the bucket, written under a lease.
    Bucket {
        /// `{prefix}/state/{role}`.
        bucket: Bucket,
        /// This node's leadership of the role.
        guard: Arc<LeaseGuard>,
        /// The checkpoint chain in force, as [`StateStore::open`] found it and each checkpoint
        /// since extended it (shared by the store's clones; a new term starts a new one).
        chain: Arc<std::sync::Mutex<bucket_checkpoint::Chain>>,
    },
}

/// A role's state as found when it is opened.
#[derive(Debug)]
pub struct Opened {
    /// The newest checkpoint (empty if none): the base, with the sequence number and timestamp
    /// version of the last delta of its chain (in the data directory or the bucket).
    pub checkpoint: Checkpoint,
    /// The leaves of the deltas after the base, to apply in order.
    pub deltas: Vec<Vec<Entry>>,
    /// The round stored with it.
    pub stored_round: Option<Round>,
    /// The records after it.
    pub records: Vec<Record>,
    /// The log, open for appends.
    pub log: RoleLog,
    /// Bytes cut off a torn tail of the file log.
    pub truncated: u64,
    /// How long reading the checkpoint (base and deltas) and the log took.
    pub timings: OpenTimings,
}

/// Where opening a role's state spent its time (reported at start, for operators).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenTimings {
    /// Reading, checking and decoding the base and its deltas.
    pub checkpoint: std::time::Duration,
    /// Reading the log's records after the checkpoint.
    pub log: std::time::Duration,
}

/// What a checkpoint wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Leaves written (all of them in a base, the changed ones in a delta).
    pub leaves: usize,
    /// Bytes of leaves written (a delta and its head, or a base).
    pub bytes: u64,
    /// Whether it was a delta.
    pub delta: bool,
}

/// The chain's lock (a panic while it was held left a whole value: every write is one store).
fn lock(
    chain: &std::sync::Mutex<bucket_checkpoint::Chain>,
) -> std::sync::MutexGuard<'_, bucket_checkpoint::Chain> {
    chain
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a role's state could not be opened or checkpointed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The log.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The state directory.
    #[error(transparent)]
    Fs(#[from] tuf_files::FsError),
}

impl StateStore {
    /// Opens the role's state: the newest checkpoint, the round stored with it, the records
    /// after it, and the log ready for appends. The leaves' names are read only if
    /// `keep_names` (a classic role's `targets.json` lists them) or if no round was stored yet
    /// (an import's first rounds list them in their change records).
    pub async fn open(&self, keep_names: bool) -> Result<Opened, StateError> {
        match self {
            StateStore::Dir(paths) => {
                tuf_files::dir::create_private_dir(&paths.state_dir)?;
                let stored_round = load_round(&paths.round())?;
                let keep_names = keep_names || stored_round.is_none();
                let started = std::time::Instant::now();
                let chain = CheckpointFiles::new(&paths.state_dir).load(keep_names)?;
                let checkpoint = chain.base;
                let read = started.elapsed();
                let opened = Wal::open(&paths.wal(), checkpoint.seq).map_err(LogError::from)?;
                Ok(Opened {
                    checkpoint,
                    deltas: chain.deltas,
                    stored_round,
                    records: opened.records,
                    log: RoleLog::File(opened.wal),
                    truncated: opened.truncated,
                    timings: OpenTimings {
                        checkpoint: read,
                        log: started.elapsed() - read,
                    },
                })
            }
            StateStore::Bucket {
                bucket,
                guard,
                chain,
            } => {
                let started = std::time::Instant::now();
                let loaded = bucket_checkpoint::load(bucket, keep_names).await?;
                let checkpoint = loaded.checkpoint;
                *lock(chain) = loaded.chain;
                let read = started.elapsed();
                let (log, records) = BucketLog::open(bucket.clone(), guard.clone(), checkpoint.seq)
                    .await
                    .map_err(LogError::from)?;
                Ok(Opened {
                    checkpoint,
                    deltas: loaded.deltas,
                    stored_round: loaded.round,
                    records,
                    log: RoleLog::Bucket(log),
                    truncated: 0,
                    timings: OpenTimings {
                        checkpoint: read,
                        log: started.elapsed() - read,
                    },
                })
            }
        }
    }

    /// Makes a checkpoint at `seq` durable: the round first, then the leaves, each durable
    /// before the next. In the directory: `round.json`, then a delta of the `changed` leaves
    /// when the chain has room for it ([`checkpoint`]'s module documentation), else a base of
    /// `all` the leaves. In the bucket the same plan, each checkpoint as new immutable objects
    /// ([`bucket_checkpoint`]'s module documentation); a delta only once a round is stored.
    pub async fn store_checkpoint(
        &self,
        seq: u64,
        timestamp_version: u64,
        round: Option<&Round>,
        changed: impl FnOnce() -> Vec<Entry>,
        all: impl FnOnce() -> (Vec<Entry>, Vec<tuf_merkle::Digest>),
    ) -> Result<Stored, StateError> {
        match self {
            StateStore::Dir(paths) => {
                if let Some(round) = round {
                    store_round(round, &paths.round())?;
                }
                let files = CheckpointFiles::new(&paths.state_dir);
                let changed = changed();
                let estimate = 48 + changed.iter().map(Entry::encoded_len).sum::<usize>();
                match files.plan(estimate as u64)? {
                    Plan::Delta(head) => Ok(Stored {
                        leaves: changed.len(),
                        bytes: files.store_delta(head, seq, timestamp_version, changed)?,
                        delta: true,
                    }),
                    Plan::Base => {
                        drop(changed);
                        let (entries, hashes) = all();
                        let checkpoint = Checkpoint {
                            seq,
                            timestamp_version,
                            entries,
                            hashes,
                        };
                        Ok(Stored {
                            leaves: checkpoint.entries.len(),
                            bytes: files.store_base(&checkpoint)?,
                            delta: false,
                        })
                    }
                }
            }
            StateStore::Bucket {
                bucket,
                guard,
                chain,
            } => {
                let current = lock(chain).clone();
                let changed = changed();
                let estimate = 48 + changed.iter().map(Entry::encoded_len).sum::<usize>();
                // Recovery refuses deltas without a stored round, so the first checkpoint
                // with one is a base.
                if let Some(round) = round
                    && current.fits(estimate as u64)
                {
                    let leaves = changed.len();
                    let (next, bytes) = bucket_checkpoint::store_delta(
                        bucket,
                        guard,
                        &current,
                        seq,
                        timestamp_version,
                        changed,
                        round,
                    )
                    .await?;
                    *lock(chain) = next;
                    return Ok(Stored {
                        leaves,
                        bytes,
                        delta: true,
                    });
                }
                drop(changed);
                let (entries, hashes) = all();
                let checkpoint = Checkpoint {
                    seq,
                    timestamp_version,
                    entries,
                    hashes,
                };
                let next = bucket_checkpoint::store(bucket, guard, &checkpoint, round).await?;
                let bytes = next.base_bytes;
                *lock(chain) = next;
                Ok(Stored {
                    leaves: checkpoint.entries.len(),
                    bytes,
                    delta: false,
                })
            }
        }
    }
}
