//! Checkpoints: the role's whole leaf set at its last signed round, written off the sequencer
//! thread from an O(1) snapshot of the tree, after which the log is compacted to the records
//! that came after it.
//!
//! Properties kept: a checkpoint is only taken with nothing pending and the last round
//! published, so its tree is the one that round signed; the repository is flushed and the round
//! stored before the checkpoint is written, and the log's records are dropped only after all of
//! it is durable, so a crash at any point recovers every acknowledged change and the last
//! version.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tuf_merkle::{Digest, Tree};

use super::{RecoveryError, Sequencer};
use crate::publish::Publisher;
use crate::round::Round;
use crate::state::Fault;
use crate::storage::checkpoint::Entry;
use crate::storage::wal::CompactError;
use crate::storage::{LogError, StateStore, Stored};

/// A checkpoint is also taken after this many rounds, so recovery never republishes more.
const MAX_ROUNDS_BETWEEN_CHECKPOINTS: u64 = 10_000;

/// How often an idle sequencer looks whether its background checkpoint is done.
pub(super) const POLL: Duration = Duration::from_millis(50);

/// What a checkpoint holds: the role's state at its last signed round, taken on the sequencer
/// thread in O(1) (the tree is shared structurally) and written out by another thread.
struct Snapshot {
    tree: Tree,
    names: Option<HashMap<Digest, String>>,
    round: Option<Round>,
    seq: u64,
    /// The keys changed since the last checkpoint (a delta's leaves).
    changed: Arc<Vec<Digest>>,
}

impl Snapshot {
    /// Makes the snapshot durable: first the published repository is flushed (`syncfs`), so
    /// that every round up to `seq` is on disk without the log; then the round is stored in
    /// `round.json`; then the leaves, as a delta of the changed ones or a new base
    /// ([`StateStore::store_checkpoint`]). Each step durable before the next.
    async fn write(
        self,
        publisher: &dyn Publisher,
        store: &StateStore,
    ) -> Result<Stored, RecoveryError> {
        publisher.sync().await?;
        let names = self.names.as_ref();
        let entry = |key: &Digest, contents| Entry {
            key: *key,
            contents,
            name: names.and_then(|n| n.get(key).cloned()),
        };
        let changed = || {
            let mut keys = self.changed.to_vec();
            keys.sort_unstable_by_key(|k| k.0);
            keys.dedup();
            keys.iter()
                .filter_map(|k| self.tree.get_key(k).map(|c| entry(k, c)))
                .collect()
        };
        // The leaves in key order and the branch hashes, so that a start need not rehash.
        let all = || {
            let mut entries = Vec::with_capacity(self.tree.len());
            self.tree
                .for_each_leaf(|key, contents| entries.push(entry(key, contents)));
            let mut hashes = Vec::with_capacity(self.tree.len().saturating_sub(1));
            self.tree.for_each_branch_hash(|h| hashes.push(*h));
            (entries, hashes)
        };
        let timestamp_version = self.round.as_ref().map_or(0, |r| r.timestamp_version);
        Ok(store
            .store_checkpoint(
                self.seq,
                timestamp_version,
                self.round.as_ref(),
                changed,
                all,
            )
            .await?)
    }
}

/// A checkpoint being written in the background.
pub(super) struct InFlight {
    /// What it wrote and how long it took.
    handle: std::thread::JoinHandle<Result<(Stored, Duration), RecoveryError>>,
    /// The last log sequence number it covers.
    seq: u64,
    /// Where the record after `seq` starts in the log.
    offset: u64,
    /// The changes and rounds it covers, counted again if it fails.
    changes: u64,
    rounds: u64,
    /// The changed keys it covers, kept again if it fails.
    changed: Arc<Vec<Digest>>,
}

impl Sequencer {
    /// Between batches: finishes a background checkpoint that is done, and starts one when
    /// enough changes or rounds have gone by and none is being written.
    pub(super) fn maybe_checkpoint(&mut self) {
        self.finish_checkpoint(false);
        if self.in_flight.is_none()
            && (self.since_checkpoint >= self.cfg.checkpoint_every
                || self.rounds_since_checkpoint >= MAX_ROUNDS_BETWEEN_CHECKPOINTS)
        {
            self.start_checkpoint();
        }
    }

    /// The state to checkpoint: the tree at the last signed round and the log position it
    /// covers. Only taken with nothing pending and the last round published, so the tree is
    /// the one the last round signed and every round up to here is in the repository.
    fn snapshot(&self) -> Option<Snapshot> {
        (self.pending.is_empty() && !self.unpublished && self.broken.is_none()).then(|| Snapshot {
            tree: self.tree.tree.clone(),
            names: self.tree.names.clone(),
            round: self.last.clone(),
            seq: self.log.last_seq(),
            changed: Arc::new(self.changed.clone()),
        })
    }

    /// Hands a snapshot to a checkpoint thread; the log is compacted when it is done
    /// ([`Sequencer::finish_checkpoint`]). Until then the log keeps every record, so a crash
    /// at any point recovers from the old checkpoint and the whole log, or from the new
    /// checkpoint and the log's records after it.
    fn start_checkpoint(&mut self) {
        let Some(snapshot) = self.snapshot() else {
            return;
        };
        let (seq, offset) = self.log.position();
        let snapshot_changed = snapshot.changed.clone();
        let publisher = self.publisher.clone();
        let store = self.store.clone();
        // The sequencer runs inside the runtime; the checkpoint thread drives its own async
        // steps (flushing the repository) through the same runtime's handle.
        let runtime = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name(format!("checkpoint-{}", self.role))
            .spawn(move || {
                let started = std::time::Instant::now();
                runtime
                    .block_on(snapshot.write(&*publisher, &store))
                    .map(|stored| (stored, started.elapsed()))
            });
        match spawned {
            Ok(handle) => {
                self.in_flight = Some(InFlight {
                    handle,
                    seq,
                    offset,
                    changes: self.since_checkpoint,
                    rounds: self.rounds_since_checkpoint,
                    changed: snapshot_changed,
                });
                self.since_checkpoint = 0;
                self.rounds_since_checkpoint = 0;
                self.changed.clear();
            }
            Err(e) => {
                tracing::error!(role = self.role, error = %e, "cannot start a checkpoint thread; the log keeps every change");
            }
        }
    }

    /// Collects the background checkpoint if it is done (or waits for it if `wait`), then
    /// drops the log records it covers. The log is compacted here, on the sequencer thread,
    /// so that no append runs while the file is swapped.
    pub(super) fn finish_checkpoint(&mut self, wait: bool) {
        let Some(job) = self.in_flight.take() else {
            return;
        };
        if !wait && !job.handle.is_finished() {
            self.in_flight = Some(job);
            return;
        }
        let written = job
            .handle
            .join()
            .unwrap_or(Err(RecoveryError::CheckpointPanicked));
        let (stored, took) = match written {
            Ok(done) => done,
            Err(e) => {
                self.since_checkpoint += job.changes;
                self.rounds_since_checkpoint += job.rounds;
                self.changed.extend(job.changed.iter());
                tracing::error!(role = self.role, error = %e, "checkpoint failed; the log keeps every change");
                return;
            }
        };
        if self.broken.is_some() {
            // The log may end in a torn write; leave it for recovery, which skips what the
            // checkpoint covers.
            return;
        }
        match self.log.compact(job.seq, job.offset) {
            Ok(()) => tracing::info!(
                role = self.role,
                seq = job.seq,
                leaves = stored.leaves,
                bytes = stored.bytes,
                delta = stored.delta,
                millis = took.as_millis() as u64,
                kept_bytes = self.log.bytes(),
                "checkpoint written"
            ),
            Err(CompactError::Kept(e)) => tracing::error!(
                role = self.role,
                error = %e,
                "checkpoint written but the log could not be compacted; it keeps every record (recovery skips those the checkpoint covers)"
            ),
            Err(CompactError::Unsure(e)) => self.mark_broken(Fault::LogFailed, &e),
        }
    }

    /// Writes a checkpoint of the tree at the last signed round on this thread (after any
    /// background one), then empties the log. Used at shutdown.
    pub async fn checkpoint(&mut self) -> Result<(), RecoveryError> {
        self.finish_checkpoint(true);
        let Some(snapshot) = self.snapshot() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let stored = snapshot.write(&*self.publisher, &self.store).await?;
        let took = started.elapsed();
        self.changed.clear();
        self.log.truncate().map_err(LogError::from)?;
        self.since_checkpoint = 0;
        self.rounds_since_checkpoint = 0;
        tracing::info!(
            role = self.role,
            seq = self.applied_seq,
            leaves = stored.leaves,
            bytes = stored.bytes,
            delta = stored.delta,
            millis = took.as_millis() as u64,
            "checkpoint written"
        );
        Ok(())
    }
}
