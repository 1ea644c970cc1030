//! The per-role sequencer: group commit, signing and publishing, and recovery.
//!
//! Each role has one sequencer, on its own thread (it fsyncs, which must not stall the async
//! workers that serve HTTP), driving an async loop with the runtime's handle. Requests arrive on
//! a bounded channel, each with a oneshot for its reply. A group commit ([`batch`]):
//!
//! 1. collects requests until `max_changes` changes or `max_delay_ms` after the first;
//! 2. validates each request's changes against the tree and the batch so far (D2's rules; a
//!    refused request is answered with its error and nothing of it is kept), and its size
//!    against the unsigned backlog; stores the bytes uploaded with an accepted request;
//! 3. appends the accepted changes to the write-ahead log as one record and fsyncs once;
//! 4. answers requests that asked to wait until "durable";
//! 5. applies the changes to the tree, signs one new timestamp ([`round`]; classic: targets and
//!    snapshot too), appends the round to the log (one more fdatasync), publishes it, keeps the
//!    tree version for proofs;
//! 6. answers requests that asked to wait until "signed", with the version and their proofs.
//!
//! [`recovery`] opens a role from its checkpoint and log; [`checkpoint`] writes checkpoints in
//! the background and compacts the log; [`leaf_snapshot`] publishes every leaf of a version now
//! and then, in the background, for mirrors and auditors.
//!
//! Properties kept:
//! - Nothing is acknowledged before it is fsynced in the log; after a log write fails the role
//!   refuses further writes until restarted (the page cache can no longer be trusted), unless
//!   the write was rolled back whole (a full disk), after which writes are refused with 503
//!   until there is space again.
//! - No record the log could not read back is ever appended: the unsigned backlog is bounded in
//!   changes and bytes so that every round record stays under the log's record bound.
//! - Timestamp versions strictly increase and are never reused: a round (every file of it) is
//!   made durable as a log record before any of it is published, a version whose round may be
//!   in the log is never signed again, a version already published by anyone is never signed,
//!   and recovery republishes every logged round byte for byte.
//! - Recovery rebuilds the tree from the checkpoint and the log, checks that the tree has the
//!   root each stored or logged round signed, refuses a state behind its published repository,
//!   and signs the changes after the last round. A tree rebuilt from a base's stored hashes
//!   (no rehash at start) has them checked against its leaves in the background
//!   ([`hash_check`]); no round is signed before that check has passed, and a mismatch faults
//!   the role.
//! - Idle roles are re-signed when half of a file's validity period has passed.

mod batch;
mod checkpoint;
mod hash_check;
mod leaf_snapshot;
mod recovery;
mod round;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tuf_merkle::Digest;
use tuf_repo_format::Change as RecordChange;

use crate::change::{Applied, Op, Upload};
use crate::config::RoleConfig;
use crate::lease::LeaseGuard;
use crate::metadata::{MetadataError, MetadataSigner};
use crate::metrics::{MetadataFile, RoleMetrics};
use crate::publish::{PublishError, Publisher};
use crate::round::Round;
use crate::state::{Fault, RoleState};
use crate::storage::checkpoint::CheckpointError;
use crate::storage::wal::MAX_RECORD_BYTES;
use crate::storage::{LogError, RoleLog, StateError, StateStore};
use crate::tree::{RoleTree, RuleError};
use crate::trust::{Trust, TrustUpdates};

/// The most change-record bytes (the JSON of every pending entry) that may wait unsigned. A
/// round record holds them escaped inside a JSON string (at most twice as long), next to a
/// classic role's `targets.json` (at most [`MAX_CLASSIC_TARGETS_BYTES`], also escaped), so
/// every round record stays under [`MAX_RECORD_BYTES`] and the log can always read it back.
pub const MAX_PENDING_BYTES: usize = MAX_RECORD_BYTES / 4;

/// The largest `targets.json` a classic role may grow to (an estimate checked before a change
/// is accepted).
pub const MAX_CLASSIC_TARGETS_BYTES: usize = MAX_RECORD_BYTES / 8;

/// How long a client told to retry (503 with `Retry-After`) should wait, seconds.
pub const RETRY_AFTER_SECS: u64 = 5;

/// How long after a failed round (or a refused append) the next attempt is made.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

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
    /// Bytes uploaded with the changes, stored in the repository if the changes are accepted.
    pub uploads: Vec<Upload>,
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
#[non_exhaustive]
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
    /// The bytes uploaded with the request could not be stored; nothing was applied.
    #[error("{0}")]
    Upload(UploadFault),
    /// This node does not lead the role (any more): nothing of the request was applied here.
    /// Another node leads it, or will once the lease expires; retry there.
    #[error("this signer does not lead the role now; nothing was applied; retry at the leader")]
    NotLeader,
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

/// Why an upload's bytes were not stored (the details are in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UploadFault {
    /// The repository holds other bytes where these would go.
    #[error(
        "the repository already holds other contents where this target's bytes would go (a name \
         that is also a directory of another name with the same bytes); nothing was stored"
    )]
    PathConflict,
    /// The disk is full.
    #[error("the signer's disk is full; nothing was stored; retry later")]
    StorageFull,
    /// Any other storage failure.
    #[error("storing the target's bytes failed; nothing was stored; see the signer's log")]
    Failed,
}

/// Why a role cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The log.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The role's state (its log, its checkpoint).
    #[error(transparent)]
    State(#[from] StateError),
    /// The checkpoint or the stored round.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Republishing.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Signing the recovery round.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The role's state directory.
    #[error(transparent)]
    Fs(#[from] tuf_files::FsError),
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
    /// The checkpoint's leaves do not make a tree (two leaves with one key).
    #[error("role {role}: the checkpoint's leaves do not make a tree: {source}")]
    CheckpointTree {
        /// The role.
        role: String,
        /// Why.
        source: tuf_merkle::tree::TreeError,
    },
    /// The tree rebuilt from the state does not have the root a round signed.
    #[error(
        "role {role}: the tree rebuilt from checkpoint and log has root {rebuilt} where timestamp \
         {version} ({whence}) signed {signed}"
    )]
    RootMismatch {
        /// The role.
        role: String,
        /// The root rebuilt.
        rebuilt: Digest,
        /// The round's timestamp version.
        version: u64,
        /// Where the round was found (`round.json`, the log).
        whence: &'static str,
        /// The root it signed.
        signed: String,
    },
    /// The stored round covers log records that are gone.
    #[error(
        "role {role}: timestamp {version} covers log sequence {seq} but the log holds neither it \
         nor all the changes before it: acknowledged changes are missing; restore the log"
    )]
    MissingRecords {
        /// The role.
        role: String,
        /// The stored round's version.
        version: u64,
        /// The log sequence number it covers.
        seq: u64,
    },
    /// The tree hashes a version 2 base stores do not make a tree of its leaves.
    #[error("role {role}: the checkpoint's stored tree hashes do not fit its leaves: {source}")]
    CheckpointHashes {
        /// The role.
        role: String,
        /// Why (boxed: it carries three hashes).
        source: Box<tuf_merkle::tree::StoredHashesError>,
    },
    /// The check of the stored tree hashes, which a start that signs waits for, failed.
    #[error("role {role}: {message}")]
    TreeHashes {
        /// The role.
        role: String,
        /// What the check found.
        message: String,
    },
    /// The background checkpoint thread panicked.
    #[error("the checkpoint thread panicked")]
    CheckpointPanicked,
    /// The sequencer thread ended before it reported.
    #[error("role {role}: the sequencer thread ended before the role recovered")]
    ThreadDied {
        /// The role.
        role: String,
    },
}

/// Everything a role's sequencer is made of.
#[derive(Clone)]
pub struct Parts {
    /// The role's name.
    pub role: String,
    /// Its configuration.
    pub cfg: RoleConfig,
    /// Where its state is.
    pub store: StateStore,
    /// Its root chain and online key: the current one, and the new ones a reload sends.
    pub trust: TrustUpdates,
    /// Its published repository.
    pub publisher: Arc<dyn Publisher>,
    /// What the HTTP side reads.
    pub state: Arc<RoleState>,
    /// Its metrics.
    pub metrics: Arc<RoleMetrics>,
    /// `limits.max_unsigned_changes`.
    pub max_unsigned: usize,
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
    store: StateStore,
    tree: RoleTree,
    log: RoleLog,
    last: Option<Round>,
    /// Durable, unsigned changes, as the next change record lists them.
    pending: Vec<RecordChange>,
    applied_seq: u64,
    burned_version: u64,
    /// Signs under the trust taken last from `trust`.
    signer: MetadataSigner,
    /// New trusts from reloads (`crate::trust`).
    trust: TrustUpdates,
    /// Set once `trust`'s sender is gone (the service is stopping): not watched any more.
    trust_closed: bool,
    /// A new trust whose root files could not be published yet: taken at the next retry.
    pending_trust: Option<Arc<Trust>>,
    publisher: Arc<dyn Publisher>,
    state: Arc<RoleState>,
    metrics: Arc<RoleMetrics>,
    since_checkpoint: u64,
    rounds_since_checkpoint: u64,
    /// The keys changed since the last checkpoint (repeats included): what its delta holds.
    changed: Vec<Digest>,
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
    in_flight: Option<checkpoint::InFlight>,
    /// The background check of the hashes the tree was rebuilt from, until it is done.
    hash_check: Option<hash_check::HashCheck>,
    /// A leaf snapshot being written in the background.
    leaf_snapshot: Option<std::thread::JoinHandle<()>>,
    /// With the state in a bucket: this node's leadership of the role.
    guard: Option<Arc<LeaseGuard>>,
    /// Set once this node stopped leading the role: it writes nothing more.
    stepped_down: bool,
}

/// Why [`Sequencer::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The service is shutting down.
    Shutdown,
    /// This node no longer leads the role (a lost race or lease, or a log it can no longer
    /// trust in a bucket): another node, or this one after recovering from the bucket again,
    /// takes over.
    SteppedDown,
}

impl Sequencer {
    /// Runs the loop until `shutdown` turns true, then serves what is queued and stops; or
    /// until this node stops leading the role, answering what is queued with
    /// [`SubmitError::NotLeader`] and leaving `rx` open for the next leadership.
    pub async fn run(
        mut self,
        rx: &mut mpsc::Receiver<Submission>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Exit {
        let guard = self.guard.clone();
        let lost = async {
            match &guard {
                Some(g) => g.lost().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(lost);
        loop {
            if self.stepped_down {
                break;
            }
            let wake = self.retry_at.unwrap_or_else(|| self.resign_due());
            let checkpointing = self.in_flight.is_some() || self.hash_check.is_some();
            let first = tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = &mut lost => {
                    self.step_down(&"the lease ran out or was taken over");
                    break;
                }
                sub = rx.recv() => match sub {
                    Some(s) => Some(s),
                    None => break,
                },
                _ = tokio::time::sleep(checkpoint::POLL), if checkpointing => {
                    self.finish_checkpoint(false);
                    self.finish_hash_check(false);
                    continue;
                }
                changed = self.trust.changed(), if !self.trust_closed => {
                    match changed {
                        Ok(()) => {
                            let trust = self.trust.borrow_and_update().clone();
                            self.adopt_trust(trust).await;
                        }
                        Err(_) => self.trust_closed = true,
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(wake.into()) => None,
            };
            match first {
                None => {
                    self.retry_at = None;
                    if let Some(trust) = self.pending_trust.take() {
                        self.adopt_trust(trust).await;
                        continue;
                    }
                    if self.broken.is_none()
                        && let Err(e) = self.sign_or_republish().await
                    {
                        self.note_failure(&e);
                    }
                }
                Some(first) => {
                    let batch = self.collect(first, rx).await;
                    self.commit(batch).await;
                }
            }
        }
        let stopping = Instant::now();
        self.finish_checkpoint(true);
        self.finish_leaf_snapshot();
        if self.stepped_down {
            while let Ok(s) = rx.try_recv() {
                let _ = s.reply.send(Err(SubmitError::NotLeader));
            }
            tracing::warn!(
                role = self.role,
                "sequencer stopped: this node no longer leads the role"
            );
            return Exit::SteppedDown;
        }
        rx.close();
        let mut rest = Vec::new();
        while let Ok(s) = rx.try_recv() {
            rest.push(s);
        }
        if !rest.is_empty() {
            self.commit(rest).await;
        }
        if (self.since_checkpoint > 0 || self.rounds_since_checkpoint > 0)
            && self.pending.is_empty()
            && self.broken.is_none()
            && let Err(e) = self.checkpoint().await
        {
            tracing::error!(role = self.role, error = %e, "checkpoint at shutdown failed; the log still holds every change");
        }
        tracing::info!(
            role = self.role,
            millis = stopping.elapsed().as_millis() as u64,
            "sequencer stopped"
        );
        let (role, freeing) = (self.role.clone(), Instant::now());
        drop(self);
        tracing::info!(
            role,
            millis = freeing.elapsed().as_millis() as u64,
            "freed the sequencer's tree"
        );
        Exit::Shutdown
    }

    /// Takes a new trust from a reload: publishes its root files, then signs with it from the
    /// next round on (at once when the root changed: [`Self::resign_due`] sees the new root
    /// version). If the roots cannot be published, the role keeps signing under the trust it
    /// has and tries again after [`RETRY_INTERVAL`].
    async fn adopt_trust(&mut self, trust: Arc<Trust>) {
        if let Err(e) = self.publisher.publish_roots(&trust.roots).await {
            tracing::error!(
                role = self.role,
                error = %e,
                root_version = trust.root_version(),
                "cannot publish the reloaded root chain; signing on under the running root and retrying in 1 s"
            );
            self.state.set_fault(Some(Fault::PublishFailed));
            self.pending_trust = Some(trust);
            self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
            return;
        }
        tracing::info!(
            role = self.role,
            from_root_version = self.signer.root_version(),
            root_version = trust.root_version(),
            key_id = trust.key_id,
            "signing with the reloaded root and online key from the next round"
        );
        self.signer = trust.signer.clone();
        self.refresh_status();
    }

    /// Stops writing the role at once because this node no longer leads it (or can no longer
    /// trust its log in the bucket), and says why. Nothing more is appended or published.
    fn step_down(&mut self, why: &dyn std::fmt::Display) {
        if !self.stepped_down {
            tracing::error!(role = self.role, reason = %why, "this node stops leading the role and writes nothing more to it");
        }
        self.stepped_down = true;
        if let Some(g) = &self.guard {
            g.lose();
        }
        self.state.set_leadership(false, None);
    }

    /// Stops the role for writes until a restart: logs why (with paths and OS errors), and
    /// shows clients only the fault.
    fn mark_broken(&mut self, fault: Fault, detail: &dyn std::fmt::Display) {
        if self.guard.is_some() {
            // In a bucket the cure is recovery from the bucket: by another node, or by this one
            // once it takes the lease again.
            self.step_down(detail);
            return;
        }
        tracing::error!(role = self.role, error = %detail, code = fault.code(), "the role refuses writes until the signer is restarted");
        self.broken = Some(fault);
        self.state.set_fault(Some(fault));
    }

    /// Collects the background check of the tree's stored hashes if it is done (or waits for
    /// it if `wait`); a mismatch faults the role. Returns whether the tree's hashes are known
    /// to be its leaves' (no check was needed, or it passed).
    fn finish_hash_check(&mut self, wait: bool) -> bool {
        let Some(check) = self.hash_check.take() else {
            return self.broken != Some(Fault::TreeHashMismatch);
        };
        if !wait && !check.is_finished() {
            self.hash_check = Some(check);
            return false;
        }
        match check.finish(&self.role) {
            hash_check::Checked::Sound => true,
            hash_check::Checked::Failed(message) => {
                self.metrics.signing_error(Fault::TreeHashMismatch.code());
                self.mark_broken(Fault::TreeHashMismatch, &message);
                false
            }
        }
    }

    /// Sets the expiry metrics from the last round, once it is published: they say what
    /// clients see, so a round signed but not yet published must not move them.
    fn note_published_expiry(&self) {
        self.metrics
            .set_expiry(MetadataFile::Root, self.signer.root_expires());
        if let Some(r) = &self.last {
            self.metrics
                .set_expiry(MetadataFile::Targets, r.targets.expires);
            self.metrics
                .set_expiry(MetadataFile::Snapshot, r.snapshot.expires);
            self.metrics
                .set_expiry(MetadataFile::Timestamp, r.timestamp.expires);
        }
    }

    fn refresh_status(&self) {
        let last = self.last.as_ref();
        let leaves = self.tree.tree.len();
        let tombstones = self.tree.tree.tombstones();
        let seq = self.applied_seq;
        let root_version = self.signer.root_version();
        let unsigned = self.pending.len();
        self.metrics.leaves.set(leaves as i64);
        self.metrics.unsigned_changes.set(unsigned as i64);
        self.metrics
            .timestamp_version
            .set(last.map_or(0, |r| r.timestamp_version) as i64);
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
    Log(#[from] LogError),
    #[error(
        "timestamp version {0} is already published but this state did not sign it: the state is behind the repository; restore the state that signed it"
    )]
    VersionTaken(u64),
    #[error("{0}")]
    TreeHashes(String),
}

impl RoundError {
    /// Whether another node leads the role now (a lost race on the log or the repository).
    fn ends_leadership(&self) -> bool {
        match self {
            RoundError::Log(e) => e.ends_leadership(),
            RoundError::Publish(e) => e.ends_leadership(),
            _ => false,
        }
    }
}
