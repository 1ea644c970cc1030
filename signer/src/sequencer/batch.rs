//! Group commit: collecting requests, checking them against the version rules and the bounds
//! of a round, storing their uploads, logging them with one fsync, answering.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tuf_repo_format::change_record::change_json_len;

use super::{
    MAX_CLASSIC_TARGETS_BYTES, MAX_PENDING_BYTES, RETRY_INTERVAL, RecordChange, Reply, Sequencer,
    SignedReply, SignedWaiter, Submission, SubmitError, UploadFault, Wait,
};
use crate::change::{Change, Upload, is_present};
use crate::config::SnapshotMode;
use crate::publish::PublishError;
use crate::state::Fault;
use crate::tree::Staged;

/// What one new target adds to a classic `targets.json` at most, beyond twice its name:
/// tough's pretty JSON of the entry, hashes and length.
const CLASSIC_ENTRY_OVERHEAD: usize = 256;

impl Sequencer {
    pub(super) async fn collect(
        &self,
        first: Submission,
        rx: &mut mpsc::Receiver<Submission>,
    ) -> Vec<Submission> {
        let mut changes = first.ops.len();
        let mut batch = vec![first];
        let until =
            tokio::time::Instant::now() + Duration::from_millis(self.cfg.batch.max_delay_ms);
        while changes < self.cfg.batch.max_changes {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(s)) => {
                    changes += s.ops.len();
                    batch.push(s);
                }
                Ok(None) | Err(_) => break,
            }
        }
        batch
    }

    pub(super) async fn commit(&mut self, batch: Vec<Submission>) {
        let started = Instant::now();
        if let Some(fault) = self.broken {
            for s in batch {
                let _ = s.reply.send(Err(SubmitError::Refused(fault)));
            }
            return;
        }
        let mut staged = Staged::default();
        let mut staged_bytes = 0;
        let mut staged_growth = 0;
        let mut accepted = Vec::with_capacity(batch.len());
        for s in batch {
            let mark = staged.mark();
            let applied = match self.tree.stage(&mut staged, &s.ops) {
                Ok(applied) => applied,
                Err((index, error)) => {
                    self.metrics.rejected.inc();
                    let _ = s.reply.send(Err(SubmitError::Rule { index, error }));
                    continue;
                }
            };
            let added = staged.since(mark);
            let bytes: usize = added.iter().map(change_len).sum();
            let growth = self.classic_growth(added);
            if let Err(e) = self.admit(
                added.len(),
                bytes,
                mark.changes,
                staged_bytes,
                staged_growth + growth,
            ) {
                staged.rollback(mark);
                self.metrics.refused_backlog.inc();
                let _ = s.reply.send(Err(e));
                continue;
            }
            // The bytes a change points at are stored before the change is logged, so a
            // durable change never refers to bytes that are not there.
            if let Err(fault) = self.store_uploads(&s.uploads).await {
                staged.rollback(mark);
                let _ = s.reply.send(Err(SubmitError::Upload(fault)));
                continue;
            }
            staged_bytes += bytes;
            staged_growth += growth;
            accepted.push((s, applied));
        }
        if accepted.is_empty() {
            return;
        }
        let seq = if staged.changes.is_empty() {
            self.applied_seq
        } else {
            let fsync_started = Instant::now();
            match self.log.append(&staged.changes).await {
                Ok(seq) => {
                    self.metrics.wal_fsync.observe(fsync_started.elapsed());
                    seq
                }
                Err(e) if e.ends_leadership() || (self.guard.is_some() && !e.log_intact()) => {
                    // Another node leads (the changes were not committed here), or the record's
                    // fate is unknown (recovery from the bucket settles it): either way this
                    // node writes no more.
                    let answer = if e.ends_leadership() {
                        SubmitError::NotLeader
                    } else {
                        SubmitError::Refused(Fault::LogUncertain)
                    };
                    self.step_down(&e);
                    for (s, _) in accepted {
                        let _ = s.reply.send(Err(answer.clone()));
                    }
                    return;
                }
                Err(e) => {
                    let fault = if e.log_intact() {
                        // Nothing was written: refuse this batch, keep the role open.
                        let fault = if e.is_storage_full() {
                            Fault::StorageFull
                        } else {
                            Fault::LogFailed
                        };
                        tracing::error!(role = self.role, error = %e, "write-ahead log append failed and was rolled back; the batch is refused");
                        self.state.set_fault(Some(fault));
                        self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
                        fault
                    } else {
                        self.mark_broken(Fault::LogFailed, &e);
                        Fault::LogFailed
                    };
                    for (s, _) in accepted {
                        let _ = s.reply.send(Err(SubmitError::Refused(fault)));
                    }
                    return;
                }
            }
        };
        self.tree.apply(&staged.changes);
        self.changed.extend(staged.changes.iter().map(|c| c.key));
        self.applied_seq = seq;
        self.since_checkpoint += staged.changes.len() as u64;
        self.metrics.changes.inc_by(staged.changes.len() as u64);
        for c in staged.changes {
            self.add_pending(RecordChange {
                key: c.key,
                name: Some(c.name),
                old: c.old,
                new: c.new,
            });
        }
        let mut waiters = Vec::new();
        for (s, applied) in accepted {
            let result = Reply {
                seq,
                applied,
                signed: None,
            };
            match s.wait {
                Wait::Durable => {
                    let _ = s.reply.send(Ok(result));
                }
                Wait::Signed => {
                    let names: BTreeSet<String> =
                        s.ops.iter().map(|o| o.name().to_owned()).collect();
                    waiters.push(SignedWaiter {
                        reply: s.reply,
                        result,
                        names: names.into_iter().collect(),
                    });
                }
            }
        }
        self.metrics.durable_latency.observe(started.elapsed());
        self.refresh_status();
        let outcome = if self.pending.is_empty() && !self.unpublished {
            Ok(())
        } else {
            self.sign_or_republish().await
        };
        match outcome {
            Ok(()) => {
                self.answer_signed(waiters);
                self.maybe_checkpoint();
            }
            Err(e) => {
                let fault = self.note_failure(&e);
                for w in waiters {
                    let _ = w.reply.send(Err(SubmitError::NotSigned { seq, fault }));
                }
            }
        }
        self.metrics.signed_latency.observe(started.elapsed());
    }

    /// Whether a request adding `changes` entries of `bytes` change-record bytes (and
    /// `growth` to a classic `targets.json`, with what this group commit already staged) may be
    /// accepted, given `staged_changes` and `staged_bytes` staged before it in this group
    /// commit. Keeps every round record under the log's record bound.
    fn admit(
        &self,
        changes: usize,
        bytes: usize,
        staged_changes: usize,
        staged_bytes: usize,
        growth: usize,
    ) -> Result<(), SubmitError> {
        if changes > self.max_unsigned || bytes > MAX_PENDING_BYTES {
            return Err(SubmitError::TooLarge {
                changes,
                bytes,
                limit: self.max_unsigned,
                max_bytes: MAX_PENDING_BYTES,
            });
        }
        let unsigned = self.pending.len() + staged_changes;
        if unsigned + changes > self.max_unsigned
            || self.pending_bytes + staged_bytes + bytes > MAX_PENDING_BYTES
        {
            return Err(SubmitError::Backlog {
                unsigned,
                limit: self.max_unsigned,
                max_bytes: MAX_PENDING_BYTES,
            });
        }
        if self.cfg.snapshot == SnapshotMode::Classic {
            let signed = self.last.as_ref().map_or(0, |r| {
                usize::try_from(r.targets.length).unwrap_or(usize::MAX)
            });
            if signed
                .saturating_add(self.pending_classic_growth)
                .saturating_add(growth)
                > MAX_CLASSIC_TARGETS_BYTES
            {
                return Err(SubmitError::ClassicFull {
                    max_bytes: MAX_CLASSIC_TARGETS_BYTES,
                });
            }
        }
        Ok(())
    }

    /// What the changes add to a classic `targets.json` at most (0 for merkle roles).
    fn classic_growth(&self, changes: &[Change]) -> usize {
        if self.cfg.snapshot != SnapshotMode::Classic {
            return 0;
        }
        changes
            .iter()
            .filter(|c| c.adds_present_target())
            .map(|c| 2 * c.name.len() + CLASSIC_ENTRY_OVERHEAD)
            .sum()
    }

    /// Stores a request's uploaded bytes in the repository, durably.
    async fn store_uploads(&self, uploads: &[Upload]) -> Result<(), UploadFault> {
        for u in uploads {
            if let Err(e) = self
                .publisher
                .store_target(&u.name, &u.sha256, &u.bytes)
                .await
            {
                tracing::error!(role = self.role, target = u.name, error = %e, "storing an upload failed");
                return Err(match e {
                    PublishError::Conflict { .. } => UploadFault::PathConflict,
                    e if e.is_storage_full() => UploadFault::StorageFull,
                    _ => UploadFault::Failed,
                });
            }
        }
        Ok(())
    }

    /// Adds a durable, unsigned change to the next round's change record.
    pub(super) fn add_pending(&mut self, entry: RecordChange) {
        self.pending_bytes += change_json_len(entry.name.as_deref(), entry.old, entry.new);
        if self.cfg.snapshot == SnapshotMode::Classic
            && is_present(&entry.new)
            && !entry.old.as_ref().is_some_and(is_present)
        {
            self.pending_classic_growth +=
                2 * entry.name.as_deref().map_or(0, str::len) + CLASSIC_ENTRY_OVERHEAD;
        }
        self.pending.push(entry);
    }

    /// Answers the requests that waited for a signed timestamp, with their proofs.
    pub(super) fn answer_signed(&self, waiters: Vec<SignedWaiter>) {
        let Some(current) = self.state.version(None) else {
            return;
        };
        let merkle = self.cfg.snapshot == SnapshotMode::Merkle;
        for mut w in waiters {
            let proof = if merkle {
                match w.names.as_slice() {
                    [one] => serde_json::to_value(current.tree.prove(one)).ok(),
                    names => current
                        .tree
                        .prove_many(names)
                        .ok()
                        .and_then(|p| serde_json::to_value(p).ok()),
                }
            } else {
                None
            };
            w.result.signed = Some(SignedReply {
                timestamp_version: current.version,
                merkle_root: merkle.then_some(current.root),
                proof,
            });
            let _ = w.reply.send(Ok(w.result));
        }
    }
}

fn change_len(c: &Change) -> usize {
    change_json_len(Some(&c.name), c.old, c.new)
}
