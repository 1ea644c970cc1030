//! The per-role sequencer: group commit, signing and publishing, and recovery.
//!
//! Each role has one sequencer, on its own thread (it fsyncs, which must not stall the async
//! workers that serve HTTP), driving an async loop with the runtime's handle. Requests arrive on
//! a bounded channel, each with a oneshot for its reply. A group commit:
//!
//! 1. collects requests until `max_changes` changes or `max_delay_ms` after the first;
//! 2. validates each request's changes against the tree and the batch so far (D2's rules; a
//!    refused request is answered with its error and nothing of it is kept);
//! 3. appends the accepted changes to the write-ahead log as one record and fsyncs once;
//! 4. answers requests that asked to wait until "durable";
//! 5. applies the changes to the tree, signs one new timestamp (classic: targets and snapshot
//!    too), appends the round to the log (one more fdatasync), publishes it, keeps the tree
//!    version for proofs;
//! 6. answers requests that asked to wait until "signed", with the version and their proofs.
//!
//! Properties kept:
//! - Nothing is acknowledged before it is fsynced in the log; after a log write fails the role
//!   refuses further writes until restarted (the page cache can no longer be trusted).
//! - Timestamp versions strictly increase and are never reused: a round (every file of it) is
//!   made durable as a log record before any of it is published, a version whose round could
//!   not be logged is skipped, and recovery republishes every logged round byte for byte.
//! - Recovery rebuilds the tree from the checkpoint and the log, checks that the tree has the
//!   root each stored or logged round signed, and signs the changes after the last round.
//! - Idle roles are re-signed when half of a file's validity period has passed.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tuf_merkle::{Digest, LeafContents, Tree, key_of};

use crate::checkpoint::{Checkpoint, CheckpointError, Entry};
use crate::config::{RoleConfig, SnapshotMode};
use crate::metadata::{FileMeta, MetadataError, MetadataSigner};
use crate::metrics::RoleMetrics;
use crate::publisher::{PublishError, Publisher, Round};
use crate::state::{Fault, RoleState, SignedVersion};
use crate::tree::{Applied, Op, RoleTree, RuleError, Staged};
use crate::wal::{CompactError, MAX_RECORD_BYTES, Wal, WalError};

/// The most change-record bytes (the JSON of every pending entry) that may wait unsigned. A
/// round record holds them escaped inside a JSON string (at most twice as long), next to a
/// classic role's `targets.json` (at most [`MAX_CLASSIC_TARGETS_BYTES`], also escaped), so
/// every round record stays under [`MAX_RECORD_BYTES`] and the log can always read it back.
pub const MAX_PENDING_BYTES: usize = MAX_RECORD_BYTES / 4;

/// The largest `targets.json` a classic role may grow to (an estimate checked before a change
/// is accepted).
pub const MAX_CLASSIC_TARGETS_BYTES: usize = MAX_RECORD_BYTES / 8;

/// What one new target adds to a classic `targets.json` at most, beyond twice its name:
/// tough's pretty JSON of the entry, hashes and length.
const CLASSIC_ENTRY_OVERHEAD: usize = 256;

/// How long a client told to retry (503 with `Retry-After`) should wait, seconds.
pub const RETRY_AFTER_SECS: u64 = 5;

/// When a request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wait {
    /// Once the change is fsynced in the write-ahead log.
    #[default]
    Durable,
    /// Once a published timestamp includes it; the reply carries the version and proof.
    Signed,
}

/// A request to the sequencer.
#[derive(Debug)]
pub struct Submission {
    /// The changes, applied together or not at all.
    pub ops: Vec<Op>,
    /// When to answer.
    pub wait: Wait,
    /// Where to answer.
    pub reply: oneshot::Sender<Result<Reply, SubmitError>>,
}

/// The answer to an accepted request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The log sequence number that holds the changes (or the last one, if nothing changed).
    pub seq: u64,
    /// What each op did.
    pub applied: Vec<Applied>,
    /// For [`Wait::Signed`]: the timestamp that includes the changes.
    pub signed: Option<SignedReply>,
}

/// The timestamp that includes a request's changes.
#[derive(Debug, Clone)]
pub struct SignedReply {
    /// Its version.
    pub timestamp_version: u64,
    /// Its `merkle_root` (merkle mode).
    pub merkle_root: Option<Digest>,
    /// The proof for the request's names against that root (merkle mode): a single proof for
    /// one name, a multi-proof for several.
    pub proof: Option<serde_json::Value>,
}

/// Why a request was not (fully) served. Every message is safe to show to the requester: no
/// paths, no pids (the sequencer logs the details).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// The version rules refused op `index`; nothing of the request was applied.
    #[error("change {index}: {error}")]
    Rule {
        /// The op's position in the request.
        index: usize,
        /// Why.
        error: RuleError,
    },
    /// The role refuses writes for now (see the fault); nothing of the request was applied.
    #[error("{}", .0.message())]
    Refused(Fault),
    /// Too many durable changes are waiting to be signed (signing is failing or far behind);
    /// nothing of the request was applied. Retry later.
    #[error(
        "{unsigned} changes are durable but not yet signed, and this request would take the role \
         over its limit of {limit} unsigned changes or {max_bytes} bytes of change records; \
         nothing was applied; retry later"
    )]
    Backlog {
        /// Durable, unsigned changes.
        unsigned: usize,
        /// `limits.max_unsigned_changes`.
        limit: usize,
        /// The bound in bytes.
        max_bytes: usize,
    },
    /// The request alone is more than one signing round may hold; nothing was applied.
    #[error(
        "the request's {changes} changes take {bytes} bytes of change records; one round holds at \
         most {limit} changes and {max_bytes} bytes; split the request"
    )]
    TooLarge {
        /// Changes in the request.
        changes: usize,
        /// Their change-record bytes.
        bytes: usize,
        /// `limits.max_unsigned_changes`.
        limit: usize,
        /// The bound in bytes.
        max_bytes: usize,
    },
    /// A classic role's `targets.json` would outgrow its limit; nothing was applied.
    #[error(
        "a classic role lists every target in targets.json, which would outgrow its limit of \
         {max_bytes} bytes; use a merkle role for this many targets"
    )]
    ClassicFull {
        /// The limit.
        max_bytes: usize,
    },
    /// The changes are durable (at `seq`) but signing or publishing failed; it is retried.
    #[error(
        "changes are durable (log sequence {seq}) but not yet signed: {}", .fault.message()
    )]
    NotSigned {
        /// Where the changes are.
        seq: u64,
        /// What failed.
        fault: Fault,
    },
}

/// Why a role cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The write-ahead log.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The stored round.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Signing the recovery round.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The published repository holds a newer timestamp than the state knows: signing would
    /// give a version two meanings.
    #[error(
        "role {role}: the published repository has timestamp version {published} but the state \
         only knows {state}. The state is behind what clients may have seen (was it moved aside, \
         re-imported or restored from an old backup?); starting would sign version {next} a \
         second time with other contents. Restore the state directory that signed version \
         {published}; do not delete or re-import it"
    )]
    BehindPublished {
        /// The role.
        role: String,
        /// The published version.
        published: u64,
        /// The last version the state holds (0: none).
        state: u64,
        /// `state + 1`.
        next: u64,
    },
    /// The background checkpoint thread panicked.
    #[error("the checkpoint thread panicked")]
    CheckpointPanicked,
    /// The state on disk does not match what was signed.
    #[error("role {role}: {message}")]
    Inconsistent {
        /// The role.
        role: String,
        /// What does not match.
        message: String,
    },
}

/// Where a role keeps its state.
#[derive(Debug, Clone)]
pub struct RolePaths {
    /// `<data>/state/<role>`.
    pub state_dir: PathBuf,
}

impl RolePaths {
    /// The write-ahead log.
    pub fn wal(&self) -> PathBuf {
        self.state_dir.join("wal.log")
    }
    /// The checkpoint.
    pub fn checkpoint(&self) -> PathBuf {
        self.state_dir.join("checkpoint.bin")
    }
    /// The last stored round.
    pub fn round(&self) -> PathBuf {
        self.state_dir.join("round.json")
    }
}

/// A change as the change record lists it.
#[derive(Debug, Clone, Serialize)]
struct RecordEntry {
    name: Option<String>,
    key: String,
    old: Option<LeafContents>,
    new: LeafContents,
}

/// A request waiting for the next signed timestamp.
struct SignedWaiter {
    reply: oneshot::Sender<Result<Reply, SubmitError>>,
    result: Reply,
    names: Vec<String>,
}

/// The sequencer of one role.
pub struct Sequencer {
    role: String,
    cfg: RoleConfig,
    paths: RolePaths,
    tree: RoleTree,
    wal: Wal,
    last: Option<Round>,
    pending: Vec<RecordEntry>,
    applied_seq: u64,
    burned_version: u64,
    signer: MetadataSigner,
    publisher: Publisher,
    state: Arc<RoleState>,
    metrics: Arc<RoleMetrics>,
    since_checkpoint: u64,
    rounds_since_checkpoint: u64,
    /// JSON bytes of `pending`'s entries, for the backlog bound.
    pending_bytes: usize,
    /// Estimated bytes the pending changes add to a classic `targets.json`.
    pending_classic_growth: usize,
    /// `limits.max_unsigned_changes`.
    max_unsigned: usize,
    /// Set when the role refuses writes until restarted.
    broken: Option<Fault>,
    retry_at: Option<Instant>,
    unpublished: bool,
    in_flight: Option<InFlight>,
}

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
    fn write(self, publisher: &Publisher, paths: &RolePaths) -> Result<usize, RecoveryError> {
        publisher.sync()?;
        if let Some(round) = &self.round {
            round.store(&paths.round())?;
        }
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
        checkpoint.store(&paths.checkpoint())?;
        Ok(leaves)
    }
}

/// A checkpoint being written in the background.
struct InFlight {
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
    /// Recovers a role: loads the checkpoint and the round stored with it, replays the log
    /// (change records onto the tree; round records checked against the tree and republished),
    /// and signs whatever the log holds beyond the last round.
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        role: String,
        cfg: RoleConfig,
        paths: RolePaths,
        signer: MetadataSigner,
        publisher: Publisher,
        state: Arc<RoleState>,
        metrics: Arc<RoleMetrics>,
        max_unsigned: usize,
    ) -> Result<Self, RecoveryError> {
        let inconsistent = |message: String| RecoveryError::Inconsistent {
            role: role.clone(),
            message,
        };
        tuf_files::dir::create_private_dir(&paths.state_dir).map_err(PublishError::from)?;
        let classic = cfg.snapshot == SnapshotMode::Classic;
        let checkpoint = Checkpoint::load(&paths.checkpoint())?;
        let stored = Round::load(&paths.round())?;
        let mut tree = RoleTree::new(classic);
        tree.tree = Tree::from_leaves(checkpoint.entries.iter().map(|e| (e.key, e.contents)))
            .map_err(|e| inconsistent(format!("checkpoint: {e}")))?;
        if let Some(names) = &mut tree.names {
            for e in &checkpoint.entries {
                if let Some(n) = &e.name {
                    names.insert(e.key, n.clone());
                }
            }
        }
        // Checks that `round` signed exactly `tree`.
        let check = |round: &Round, tree: &Tree, whence: &str| {
            if round.tree_root() == Some(tree.root()) {
                Ok(())
            } else {
                Err(inconsistent(format!(
                    "the tree rebuilt from checkpoint and log has root {} where timestamp {} ({whence}) signed {}",
                    tree.root(),
                    round.timestamp_version,
                    round.tree_root
                )))
            }
        };
        let mut pending = Vec::new();
        let mut last: Option<Round> = None;
        let mut signed_tree = tree.tree.clone();
        // Whether the stored round still has to be matched against the log.
        let mut stored_unchecked = None;
        match &stored {
            None => pending.extend(checkpoint.entries.iter().map(|e| RecordEntry {
                name: e.name.clone(),
                key: e.key.to_hex(),
                old: None,
                new: e.contents,
            })),
            Some(r) if r.seq <= checkpoint.seq => {
                // A checkpoint is only taken with nothing pending: its tree is the round's.
                check(r, &tree.tree, "round.json")?;
                last = Some(r.clone());
            }
            Some(r) => stored_unchecked = Some(r.clone()),
        }
        let opened = Wal::open(&paths.wal(), checkpoint.seq)?;
        if opened.truncated > 0 {
            tracing::warn!(
                role,
                bytes = opened.truncated,
                "cut a torn tail off the write-ahead log (an unacknowledged write)"
            );
        }
        let mut republish = Vec::new();
        let mut since_checkpoint = 0;
        for record in &opened.records {
            if let Some(round) = &record.round {
                check(round, &tree.tree, "log")?;
                if last
                    .as_ref()
                    .is_none_or(|l| round.timestamp_version > l.timestamp_version)
                {
                    last = Some((**round).clone());
                }
                if stored_unchecked
                    .as_ref()
                    .is_some_and(|s| s.timestamp_version == round.timestamp_version)
                {
                    stored_unchecked = None;
                }
                pending.clear();
                signed_tree = tree.tree.clone();
                republish.push(round.clone());
                continue;
            }
            for c in &record.changes {
                let key = key_of(&c.name);
                let old = tree.tree.get_key(&key);
                pending.push(RecordEntry {
                    name: Some(c.name.clone()),
                    key: key.to_hex(),
                    old,
                    new: c.contents,
                });
            }
            tree.apply(&record.changes);
            since_checkpoint += record.changes.len() as u64;
        }
        let state_version = last
            .iter()
            .chain(&stored)
            .map(|r| r.timestamp_version)
            .fold(checkpoint.timestamp_version, u64::max);
        if let Some(published) = publisher.published_version()
            && published > state_version
        {
            return Err(RecoveryError::BehindPublished {
                role,
                published,
                state: state_version,
                next: state_version + 1,
            });
        }
        if let Some(r) = stored_unchecked {
            return Err(inconsistent(format!(
                "timestamp {} covers log sequence {} but the log holds neither it nor all the changes before it: acknowledged changes are missing; restore the log",
                r.timestamp_version, r.seq
            )));
        }
        let applied_seq = opened.wal.last_seq();
        let rounds_since_checkpoint = republish.len() as u64;
        let mut seq = Sequencer {
            burned_version: state_version,
            pending_bytes: 0,
            pending_classic_growth: 0,
            max_unsigned,
            role,
            since_checkpoint,
            rounds_since_checkpoint,
            cfg,
            paths,
            tree,
            wal: opened.wal,
            last,
            pending: Vec::new(),
            applied_seq,
            signer,
            publisher,
            state,
            metrics,
            broken: None,
            retry_at: None,
            unpublished: false,
            in_flight: None,
        };
        for entry in pending {
            seq.add_pending(entry);
        }
        // Republish what the log holds (a crash may have cut publishing short, and published
        // files are not fsynced one by one), then the stored round if it is not on disk.
        for round in &republish {
            seq.publisher.publish_round(round)?;
        }
        if let Some(round) = seq.last.clone() {
            if republish.is_empty() && !seq.publisher.is_published(&round) {
                tracing::info!(
                    role = seq.role,
                    version = round.timestamp_version,
                    "republishing the stored round"
                );
                seq.publisher.publish_round(&round)?;
            }
            seq.state.push_version(SignedVersion {
                version: round.timestamp_version,
                root: signed_tree.root(),
                tree: signed_tree,
            });
        }
        seq.refresh_status();
        if seq.last.is_none() || !seq.pending.is_empty() || seq.resign_due() <= Instant::now() {
            seq.sign_round().await.map_err(|e| match e {
                RoundError::Metadata(m) => RecoveryError::Metadata(m),
                RoundError::Publish(p) => RecoveryError::Publish(p),
                RoundError::Wal(w) => RecoveryError::Wal(w),
                RoundError::VersionTaken(v) => RecoveryError::BehindPublished {
                    role: seq.role.clone(),
                    published: v,
                    state: v - 1,
                    next: v,
                },
            })?;
        }
        Ok(seq)
    }

    /// Runs the loop until `shutdown` turns true, then serves what is queued and stops.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Submission>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let wake = self.retry_at.unwrap_or_else(|| self.resign_due());
            let checkpointing = self.in_flight.is_some();
            let first = tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                sub = rx.recv() => match sub {
                    Some(s) => Some(s),
                    None => break,
                },
                _ = tokio::time::sleep(CHECKPOINT_POLL), if checkpointing => {
                    self.finish_checkpoint(false);
                    continue;
                }
                _ = tokio::time::sleep_until(wake.into()) => None,
            };
            match first {
                None => {
                    self.retry_at = None;
                    if self.broken.is_none()
                        && let Err(e) = self.sign_or_republish().await
                    {
                        self.note_failure(&e);
                    }
                }
                Some(first) => {
                    let batch = self.collect(first, &mut rx).await;
                    self.commit(batch).await;
                }
            }
        }
        rx.close();
        let mut rest = Vec::new();
        while let Ok(s) = rx.try_recv() {
            rest.push(s);
        }
        if !rest.is_empty() {
            self.commit(rest).await;
        }
        self.finish_checkpoint(true);
        if (self.since_checkpoint > 0 || self.rounds_since_checkpoint > 0)
            && self.pending.is_empty()
            && self.broken.is_none()
            && let Err(e) = self.checkpoint()
        {
            tracing::error!(role = self.role, error = %e, "checkpoint at shutdown failed; the log still holds every change");
        }
        tracing::info!(role = self.role, "sequencer stopped");
    }

    async fn collect(
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

    async fn commit(&mut self, batch: Vec<Submission>) {
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
            let added = &staged.record[mark.record..];
            let bytes: usize = added
                .iter()
                .map(|(name, old, new)| entry_len(name, *old, *new))
                .sum();
            let growth = self.classic_growth(added);
            let before = mark.record;
            if let Err(e) = self.admit(
                added.len(),
                bytes,
                before,
                staged_bytes,
                staged_growth + growth,
            ) {
                staged.rollback(mark);
                self.metrics.refused_backlog.inc();
                let _ = s.reply.send(Err(e));
                continue;
            }
            staged_bytes += bytes;
            staged_growth += growth;
            accepted.push((s, applied));
        }
        if accepted.is_empty() {
            return;
        }
        let seq = if staged.log.is_empty() {
            self.applied_seq
        } else {
            let fsync_started = Instant::now();
            match self.wal.append(staged.log.clone()) {
                Ok(seq) => {
                    self.metrics.wal_fsync.observe(fsync_started.elapsed());
                    seq
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
        self.tree.apply(&staged.log);
        self.applied_seq = seq;
        self.since_checkpoint += staged.log.len() as u64;
        self.metrics.changes.add(staged.log.len() as u64);
        for (name, old, new) in staged.record {
            let key = key_of(&name);
            self.add_pending(RecordEntry {
                name: Some(name),
                key: key.to_hex(),
                old,
                new,
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
    /// commit. Keeps every round record under [`MAX_RECORD_BYTES`].
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

    /// What the entries add to a classic `targets.json` at most (0 for merkle roles).
    fn classic_growth(&self, entries: &[(String, Option<LeafContents>, LeafContents)]) -> usize {
        if self.cfg.snapshot != SnapshotMode::Classic {
            return 0;
        }
        entries
            .iter()
            .filter(|(_, old, new)| is_present(new) && !old.is_some_and(|o| is_present(&o)))
            .map(|(name, _, _)| 2 * name.len() + CLASSIC_ENTRY_OVERHEAD)
            .sum()
    }

    /// Adds a durable, unsigned change to the next round's change record.
    fn add_pending(&mut self, entry: RecordEntry) {
        self.pending_bytes += entry_len(entry.name.as_deref().unwrap_or(""), entry.old, entry.new);
        if self.cfg.snapshot == SnapshotMode::Classic
            && is_present(&entry.new)
            && !entry.old.is_some_and(|o| is_present(&o))
        {
            self.pending_classic_growth +=
                2 * entry.name.as_deref().map_or(0, str::len) + CLASSIC_ENTRY_OVERHEAD;
        }
        self.pending.push(entry);
    }

    /// Stops the role for writes until a restart: logs why (with paths and OS errors), and
    /// shows clients only the fault.
    fn mark_broken(&mut self, fault: Fault, detail: &dyn std::fmt::Display) {
        tracing::error!(role = self.role, error = %detail, code = fault.code(), "the role refuses writes until the signer is restarted");
        self.broken = Some(fault);
        self.state.set_fault(Some(fault));
    }

    fn answer_signed(&self, waiters: Vec<SignedWaiter>) {
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

    /// A round failed: logs the details, schedules a retry, shows clients the fault.
    fn note_failure(&mut self, e: &RoundError) -> Fault {
        let fault = match e {
            _ if self.broken.is_some() => self.broken.unwrap_or(Fault::LogFailed),
            RoundError::Metadata(_) => Fault::SigningFailed,
            RoundError::Publish(p) if publish_storage_full(p) => Fault::StorageFull,
            RoundError::Publish(_) => Fault::PublishFailed,
            RoundError::Wal(w) if w.is_storage_full() => Fault::StorageFull,
            RoundError::Wal(_) => Fault::LogFailed,
            RoundError::VersionTaken(_) => Fault::StateBehind,
        };
        tracing::error!(
            role = self.role,
            error = %e,
            code = fault.code(),
            "signing or publishing failed; retrying in 1 s"
        );
        self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        self.state.set_fault(Some(fault));
        fault
    }

    async fn sign_or_republish(&mut self) -> Result<(), RoundError> {
        if self.unpublished
            && let Some(round) = &self.last
        {
            self.publisher.publish_round(round)?;
            self.unpublished = false;
            self.after_publish();
            if self.pending.is_empty() && self.resign_due() > Instant::now() {
                return Ok(());
            }
        }
        self.sign_round().await
    }

    /// When the next re-sign is due: half-way through the validity of the file that expires
    /// soonest relative to its period. Immediately if nothing was ever signed.
    fn resign_due(&self) -> Instant {
        let Some(round) = &self.last else {
            return Instant::now();
        };
        let e = &self.cfg.expiry;
        let due = |meta: &FileMeta, period: u64| {
            meta.expires.as_second().saturating_sub((period / 2) as i64)
        };
        let mut at =
            due(&round.timestamp, e.timestamp_secs).min(due(&round.snapshot, e.snapshot_secs));
        at = at.min(due(&round.targets, e.targets_secs));
        if round.root_version != self.signer.root_version() {
            return Instant::now();
        }
        let now = jiff::Timestamp::now().as_second();
        Instant::now() + Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
    }

    /// Signs and publishes a new round with everything pending.
    async fn sign_round(&mut self) -> Result<(), RoundError> {
        let started = Instant::now();
        let version = self.burned_version + 1;
        if self.publisher.has_timestamp(version) {
            // Someone published this version, not this state: signing it again would give it
            // two meanings. Stop the role until an operator restores the state.
            let e = RoundError::VersionTaken(version);
            self.mark_broken(Fault::StateBehind, &e);
            return Err(e);
        }
        let tree_root = self.tree.tree.root();
        let merkle = self.cfg.snapshot == SnapshotMode::Merkle;
        let now = jiff::Timestamp::now().as_second();
        let half_gone =
            |m: &FileMeta, period: u64| m.expires.as_second() - (period / 2) as i64 <= now;
        let e = self.cfg.expiry.clone();
        let root_changed = self
            .last
            .as_ref()
            .is_some_and(|r| r.root_version != self.signer.root_version());
        let mut files = Vec::new();
        let targets = match &self.last {
            Some(r)
                if !root_changed
                    && !half_gone(&r.targets, e.targets_secs)
                    && (merkle || self.pending.is_empty()) =>
            {
                r.targets.clone()
            }
            _ => {
                let list = self
                    .tree
                    .present_targets()
                    .into_iter()
                    .map(|(n, (l, h))| (n, l, h));
                let f = self.signer.targets(version, e.targets_secs, list).await?;
                let meta = f.meta.clone();
                files.push(f);
                meta
            }
        };
        let snapshot = match &self.last {
            Some(r)
                if files.is_empty()
                    && !root_changed
                    && !half_gone(&r.snapshot, e.snapshot_secs) =>
            {
                r.snapshot.clone()
            }
            _ => {
                let f = self
                    .signer
                    .snapshot(version, e.snapshot_secs, &targets)
                    .await?;
                let meta = f.meta.clone();
                files.push(f);
                meta
            }
        };
        let ts = self
            .signer
            .timestamp(
                version,
                e.timestamp_secs,
                &snapshot,
                merkle.then_some(tree_root),
            )
            .await?;
        let timestamp = ts.meta.clone();
        files.push(ts);
        // Compact JSON; the timestamp is not embedded (re-serialized JSON is not what was
        // signed) but referred to: its exact bytes are published as `timestamps/V.timestamp.json`
        // before this record, with this length and SHA-256.
        let record = serde_json::json!({
            "role": self.role,
            "timestamp_version": version,
            "previous_timestamp_version": self.last.as_ref().map(|r| r.timestamp_version),
            "root_version": self.signer.root_version(),
            "merkle_root": merkle.then(|| tree_root.to_hex()),
            "tree_root": tree_root.to_hex(),
            "log_sequence": self.applied_seq,
            "changes": self.pending,
            "timestamp_file": crate::publisher::timestamp_file(version),
            "timestamp_length": timestamp.length,
            "timestamp_sha256": timestamp.sha256,
        });
        let round = Round {
            timestamp_version: version,
            seq: self.applied_seq,
            root_version: self.signer.root_version(),
            tree_root: tree_root.to_hex(),
            merkle,
            targets,
            snapshot,
            timestamp,
            files,
            change_record: serde_json::to_string(&record).unwrap_or_default(),
        };
        // From here on the version is used, whatever happens: once the round record is durable
        // recovery republishes it, and if the append fails the version is skipped.
        self.burned_version = version;
        if let Err(e) = self.wal.append_round(&round) {
            if e.log_intact() {
                // Rolled back (a full disk): no byte of this round is in the log or published,
                // so the version was never used and the retry signs it again. Skipping it
                // would leave a gap in the change records that auditors follow.
                self.burned_version = version - 1;
            } else {
                // The round may or may not be in the log: the version is used either way.
                self.mark_broken(Fault::LogFailed, &e);
            }
            return Err(e.into());
        }
        self.applied_seq = self.wal.last_seq();
        self.rounds_since_checkpoint += 1;
        self.last = Some(round.clone());
        self.pending.clear();
        self.pending_bytes = 0;
        self.pending_classic_growth = 0;
        self.unpublished = true;
        self.state.push_version(SignedVersion {
            version,
            root: tree_root,
            tree: self.tree.tree.clone(),
        });
        self.metrics.sign.observe(started.elapsed());
        self.publisher.publish_round(&round)?;
        self.unpublished = false;
        self.after_publish();
        Ok(())
    }

    fn after_publish(&mut self) {
        self.metrics.rounds.inc();
        self.retry_at = None;
        self.refresh_status();
        if self.broken.is_none() {
            self.state.set_fault(None);
        }
    }

    /// Between batches: finishes a background checkpoint that is done, and starts one when
    /// enough changes or rounds have gone by and none is being written.
    fn maybe_checkpoint(&mut self) {
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
            seq: self.wal.last_seq(),
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
        let (seq, offset) = self.wal.position();
        let publisher = self.publisher.clone();
        let paths = self.paths.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("checkpoint-{}", self.role))
            .spawn(move || snapshot.write(&publisher, &paths));
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
    fn finish_checkpoint(&mut self, wait: bool) {
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
        match self.wal.compact(job.seq, job.offset) {
            Ok(()) => tracing::info!(
                role = self.role,
                seq = job.seq,
                leaves,
                kept_bytes = self.wal.len(),
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
    pub fn checkpoint(&mut self) -> Result<(), RecoveryError> {
        self.finish_checkpoint(true);
        let Some(snapshot) = self.snapshot() else {
            return Ok(());
        };
        let leaves = snapshot.write(&self.publisher, &self.paths)?;
        self.wal.truncate()?;
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

    fn refresh_status(&self) {
        let last = self.last.as_ref();
        let leaves = self.tree.tree.len();
        let tombstones = self.tree.tree.tombstones();
        let seq = self.applied_seq;
        let root_version = self.signer.root_version();
        let unsigned = self.pending.len();
        self.metrics.leaves.set(leaves as u64);
        self.metrics.unsigned_changes.set(unsigned as u64);
        self.metrics
            .timestamp_version
            .set(last.map_or(0, |r| r.timestamp_version));
        self.state.update_status(|s| {
            s.timestamp_version = last.map_or(0, |r| r.timestamp_version);
            s.timestamp_expires = last.map(|r| r.timestamp.expires.to_string());
            s.merkle_root = last.filter(|r| r.merkle).map(|r| r.tree_root.clone());
            s.leaves = leaves;
            s.tombstones = tombstones;
            s.last_seq = seq;
            s.root_version = root_version;
            s.unsigned_changes = unsigned;
        });
    }
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(
        "timestamp version {0} is already published but this state did not sign it: the state is behind the repository; restore the state that signed it"
    )]
    VersionTaken(u64),
}

/// Whether a publishing error is a full disk.
fn publish_storage_full(e: &PublishError) -> bool {
    matches!(e, PublishError::Fs(fs) if fs.is_storage_full())
}

/// The JSON length of a change-record entry, as the change record and the backlog bound count
/// it.
pub fn entry_len(name: &str, old: Option<LeafContents>, new: LeafContents) -> usize {
    #[derive(Serialize)]
    struct Sized<'a> {
        name: &'a str,
        key: &'a str,
        old: Option<LeafContents>,
        new: LeafContents,
    }
    let mut count = ByteCount(0);
    let _ = serde_json::to_writer(
        &mut count,
        &Sized {
            name,
            key: "",
            old,
            new,
        },
    );
    count.0 + 64
}

/// Whether the contents are a present target (not a tombstone).
fn is_present(contents: &LeafContents) -> bool {
    matches!(contents, LeafContents::Present { .. })
}

/// A writer that only counts.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How long after a failed round (or a refused append) the next attempt is made.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// A checkpoint is also taken after this many rounds, so recovery never republishes more.
const MAX_ROUNDS_BETWEEN_CHECKPOINTS: u64 = 10_000;

/// How often an idle sequencer looks whether its background checkpoint is done.
const CHECKPOINT_POLL: Duration = Duration::from_millis(50);
