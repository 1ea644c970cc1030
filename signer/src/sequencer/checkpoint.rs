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
use std::time::Duration;

use tuf_merkle::{Digest, Tree};

use super::{RecoveryError, Sequencer};
use crate::publish::Publisher;
use crate::round::Round;
use crate::state::Fault;
use crate::storage::checkpoint::{Checkpoint, Entry};
use crate::storage::wal::CompactError;
use crate::storage::{LogError, StateStore};

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
}

impl Snapshot {
    /// Makes the snapshot durable: first the published repository is flushed (`syncfs`), so
    /// that every round up to `seq` is on disk without the log; then the round is stored in
    /// `round.json`; then the checkpoint. Each step durable before the next. Returns the number
    /// of leaves.
    async fn write(
        self,
        publisher: &dyn Publisher,
        store: &StateStore,
    ) -> Result<usize, RecoveryError> {
        publisher.sync().await?;
        let mut entries = Vec::with_capacity(self.tree.len());
        let names = self.names.as_ref();
        self.tree.for_each_leaf(|key, contents| {
            entries.push(Entry {
                key: *key,
                contents,
                name: names.and_then(|n| n.get(key).cloned()),
            });
        });
        let leaves = entries.len();
        let checkpoint = Checkpoint {
            seq: self.seq,
            timestamp_version: self.round.as_ref().map_or(0, |r| r.timestamp_version),
            entries,
        };
        store
            .store_checkpoint(&checkpoint, self.round.as_ref())
            .await?;
        Ok(leaves)
    }
}

/// A checkpoint being written in the background.
pub(super) struct InFlight {
    handle: std::thread::JoinHandle<Result<usize, RecoveryError>>,
    /// The last log sequence number it covers.
    seq: u64,
    /// Where the record after `seq` starts in the log.
    offset: u64,
    /// The changes and rounds it covers, counted again if it fails.
    changes: u64,
    rounds: u64,
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
        let publisher = self.publisher.clone();
        let store = self.store.clone();
        // The sequencer runs inside the runtime; the checkpoint thread drives its own async
        // steps (flushing the repository) through the same runtime's handle.
        let runtime = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name(format!("checkpoint-{}", self.role))
            .spawn(move || runtime.block_on(snapshot.write(&*publisher, &store)));
        match spawned {
            Ok(handle) => {
                self.in_flight = Some(InFlight {
                    handle,
                    seq,
                    offset,
                    changes: self.since_checkpoint,
                    rounds: self.rounds_since_checkpoint,
                });
                self.since_checkpoint = 0;
                self.rounds_since_checkpoint = 0;
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
        let leaves = match written {
            Ok(leaves) => leaves,
            Err(e) => {
                self.since_checkpoint += job.changes;
                self.rounds_since_checkpoint += job.rounds;
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
                leaves,
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
        let leaves = snapshot.write(&*self.publisher, &self.store).await?;
        self.log.truncate().map_err(LogError::from)?;
        self.since_checkpoint = 0;
        self.rounds_since_checkpoint = 0;
        tracing::info!(
            role = self.role,
            seq = self.applied_seq,
            leaves,
            "checkpoint written"
        );
        Ok(())
    }
}
