//! Following one role: poll the upstream's `timestamp.json`, fetch each new round's change
//! record and exact timestamp, verify them as an auditor does, apply them, and serve the result.
//!
//! Properties kept:
//! - **Nothing unverified is served.** A round reaches the served versions (and the mirror's
//!   copy of the repository) only after [`Replay::apply`] accepted it: the record is the next
//!   one, its timestamp is the exact file the record names, signed by the threshold of a root
//!   of the chain walked from the configured trusted root, with this version and this
//!   `merkle_root`; every change's `old` is the replayed leaf, versions only go up, and the
//!   root recomputed from the replayed leaves is the signed one. The snapshot and targets
//!   metadata a timestamp names are copied only once signed under the same root.
//! - **Byte for byte the signer's.** Static files are the upstream's bytes, verified, never
//!   re-encoded; proofs are made by the same code from a tree whose root is the signed one, so
//!   they are the signer's proofs for the same version.
//! - **An inconsistency stops the mirror, not its service.** A forged or reordered record, a
//!   root that does not recompute, a timestamp that goes down or is re-signed at a version, a
//!   signature by a key the root does not list: the follower stops advancing for good (until
//!   restarted), keeps serving its last good version, reports it ([`Fault::UpstreamInconsistent`],
//!   `tuf_mirror_inconsistent`, the role's status) and keeps the refused bytes
//!   ([`MirrorStore::keep_evidence`]). A round the upstream names but does not serve (withheld,
//!   or not yet written) is [`Fault::UpstreamIncomplete`]: the mirror waits and asks again.
//! - **Resumes without a replay.** The checkpoint (the tree at a version, as a leaf snapshot) and
//!   the copied records after it are re-verified on start; only rounds newer than the copy are
//!   fetched. A cold start begins at the upstream's newest leaf snapshot when it verifies, and
//!   keeps that file as its first checkpoint.
//! - **Following is not held up by work on every leaf.** Checkpoints and copies of the
//!   upstream's leaf snapshots are done by [`Background`], one at a time, from an O(1) clone of
//!   the served tree; a clean stop waits for it and writes the last checkpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tuf_client::audit::{PublishedRecord, Replay, resolve_with};
use tuf_client::tuf;
use tuf_merkle::Digest;
use tuf_repo_format::leaf_snapshot::{self, LatestPointer};
use tuf_repo_format::paths;
use tuf_verify_core::{RoleType, TrustedRoot};

use super::background::{Background, Job, Kind, MAX_SNAPSHOT_FILE, MAX_SNAPSHOT_PAYLOAD};
use super::config::MirrorRole;
use super::store::MirrorStore;
use super::upstream::{Fetch, Upstream, UpstreamError};
use crate::metrics::MirrorMetrics;
use crate::state::{Fault, MirrorStatus, RoleState, SignedVersion};

/// The members of an upstream `timestamp.json` the follower reads before (or after) the replay
/// verifies the round of its version.
#[derive(serde::Deserialize)]
struct Head {
    signed: HeadSigned,
}

#[derive(serde::Deserialize)]
struct HeadSigned {
    version: std::num::NonZeroU64,
    expires: String,
    meta: Option<HashMap<String, HeadMeta>>,
}

#[derive(serde::Deserialize)]
struct HeadMeta {
    version: std::num::NonZeroU64,
}

/// Why a role cannot be followed at all (at start).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The configured trusted root cannot be read or is not a root.
    #[error("role {role}: trusted root {path}: {message}")]
    TrustedRoot {
        /// The role.
        role: String,
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The mirror's own copy does not verify: it was changed on disk.
    #[error(
        "role {role}: the mirror's copy {file} does not verify ({message}); it was changed on disk: remove {dir} to fetch the role again"
    )]
    LocalCopy {
        /// The role.
        role: String,
        /// The file.
        file: String,
        /// Why.
        message: String,
        /// The directory to remove.
        dir: String,
    },
    /// The mirror's files.
    #[error(transparent)]
    Fs(#[from] tuf_files::FsError),
}

/// What one step of following found.
enum Step {
    /// Applied.
    Done,
    /// The upstream does not serve something it names: wait.
    Incomplete(String),
    /// The upstream could not be asked.
    Unreachable(UpstreamError),
    /// The upstream is inconsistent: stop, with the evidence.
    Breach(Breach),
}

/// An inconsistency, with the refused bytes.
struct Breach {
    version: u64,
    message: String,
    files: Vec<(&'static str, Vec<u8>)>,
}

impl Breach {
    fn new(version: u64, message: impl Into<String>) -> Self {
        Breach {
            version,
            message: message.into(),
            files: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, bytes: &[u8]) -> Self {
        self.files.push((name, bytes.to_vec()));
        self
    }
}

/// Follows one role.
pub struct Follower {
    role: String,
    cfg: MirrorRole,
    upstream: Arc<Upstream>,
    store: MirrorStore,
    state: Arc<RoleState>,
    metrics: MirrorMetrics,
    poll: Duration,
    limits: tuf_client::Limits,
    /// The verified root chain, by version; the newest is the last walked.
    roots: HashMap<u64, TrustedRoot>,
    latest_root: u64,
    replay: Replay,
    timestamp_etag: Option<String>,
    pointer_etag: Option<String>,
    /// Versions served since the last checkpoint was started.
    since_checkpoint: u64,
    /// The version of the last checkpoint written.
    checkpoint_version: Option<u64>,
    /// Checkpoints and leaf snapshot copies, on a thread of their own.
    background: Background,
    inconsistent: bool,
    /// When the newest unserved upstream version was first seen.
    behind_since: Option<Instant>,
    /// The version the status was last written for.
    status_version: Option<u64>,
    /// The newest timestamp version seen upstream.
    upstream_seen: u64,
}

impl Follower {
    /// Opens the role: the trusted root, the mirror's own copy re-verified (checkpoint and the
    /// records after it), or a cold start from the upstream's newest leaf snapshot (or version
    /// 1). Versions found are served at once.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        role: &str,
        cfg: MirrorRole,
        upstream: Arc<Upstream>,
        store: MirrorStore,
        state: Arc<RoleState>,
        metrics: MirrorMetrics,
        poll: Duration,
    ) -> Result<Follower, FollowError> {
        let trusted_err = |message: String| FollowError::TrustedRoot {
            role: role.to_owned(),
            path: cfg.trusted_root.display().to_string(),
            message,
        };
        let bytes = std::fs::read(&cfg.trusted_root).map_err(|e| trusted_err(e.to_string()))?;
        let first = tuf::initial_root(&bytes).map_err(|e| trusted_err(e.to_string()))?;
        let first_version = first.version();
        let background = Background::new(
            role,
            store.clone(),
            upstream.clone(),
            state.clone(),
            metrics.clone(),
        );
        let mut follower = Follower {
            role: role.to_owned(),
            replay: Replay::new(role, HashMap::new()),
            roots: HashMap::new(),
            latest_root: first_version,
            cfg,
            upstream,
            store,
            state,
            metrics,
            poll,
            limits: tuf_client::Limits::default(),
            timestamp_etag: None,
            pointer_etag: None,
            since_checkpoint: 0,
            checkpoint_version: None,
            background,
            inconsistent: false,
            behind_since: None,
            status_version: None,
            upstream_seen: 0,
        };
        follower.trust(first.clone());
        // The trusted root is served too (the same bytes as the upstream's, or the client that
        // trusts them would not verify anything from this mirror either).
        follower
            .store
            .put_immutable(&paths::root(first_version), &bytes)
            .map_err(|e| follower.local_error(&paths::root(first_version), e.to_string()))?;
        follower.walk_local_roots()?;
        let started = match follower.resume_from_checkpoint()? {
            Some(v) => format!("checkpoint at version {v}"),
            None => follower.cold_start(),
        };
        let replayed = follower.replay_local()?;
        let newest = paths::root(follower.latest_root);
        if let Some(bytes) = follower.store.read(&newest)? {
            follower.store.put_head(paths::ROOT, &bytes)?;
        }
        tracing::info!(
            role,
            upstream = follower.upstream.describe(),
            started_from = started,
            replayed,
            version = follower.replay.last,
            "mirror ready"
        );
        let upstream_name = follower.upstream.describe();
        let checkpoint_version = follower.checkpoint_version;
        follower.state.update_status(|s| {
            s.leading = false;
            s.mirror = Some(MirrorStatus {
                upstream: upstream_name,
                started_from: started,
                replayed_on_start: replayed,
                checkpoint_version,
                ..MirrorStatus::default()
            });
        });
        if let Some(v) = checkpoint_version {
            follower
                .metrics
                .checkpoint_version
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
        follower.publish_status();
        Ok(follower)
    }

    fn local_error(&self, file: &str, message: String) -> FollowError {
        FollowError::LocalCopy {
            role: self.role.clone(),
            file: file.to_owned(),
            message,
            dir: self.store.repo().display().to_string(),
        }
    }

    fn trust(&mut self, root: TrustedRoot) {
        let v = root.version();
        self.replay.trust_root(root.clone());
        self.latest_root = self.latest_root.max(v);
        self.roots.insert(v, root);
    }

    fn newest_root(&self) -> &TrustedRoot {
        // `latest_root` is always a key of `roots` (set by `trust`).
        &self.roots[&self.latest_root]
    }

    /// Re-verifies the roots copied by an earlier run.
    fn walk_local_roots(&mut self) -> Result<(), FollowError> {
        loop {
            let file = paths::root(self.latest_root + 1);
            let Some(bytes) = self.store.read(&file)? else {
                return Ok(());
            };
            let next = tuf::next_root(self.newest_root(), &bytes)
                .map_err(|e| self.local_error(&file, e.to_string()))?;
            self.trust(next);
        }
    }

    /// Starts from the mirror's checkpoint, re-verified against its signed timestamp. A
    /// checkpoint that does not verify is dropped (logged) and the role starts cold.
    fn resume_from_checkpoint(&mut self) -> Result<Option<u64>, FollowError> {
        let Some((v, file)) = self.store.checkpoint()? else {
            return Ok(None);
        };
        match self.verified_start(v, &file) {
            Ok(()) => {
                self.checkpoint_version = Some(v);
                Ok(Some(v))
            }
            Err(message) => {
                tracing::warn!(
                    role = self.role,
                    version = v,
                    error = message,
                    "the mirror's checkpoint does not verify; starting again from the upstream"
                );
                self.store.drop_checkpoint();
                self.replay = Replay::new(&self.role, HashMap::new());
                let roots: Vec<_> = self.roots.values().cloned().collect();
                roots.into_iter().for_each(|r| self.trust(r));
                Ok(None)
            }
        }
    }

    /// Verifies `snapshot_file` (a leaf snapshot) as the tree of version `v`, against the copied
    /// record and timestamp of `v`, and starts the replay there.
    fn verified_start(&mut self, v: u64, snapshot_file: &[u8]) -> Result<(), String> {
        let record_bytes = self
            .store
            .read(&paths::change_record(v))
            .map_err(|e| e.to_string())?
            .ok_or("its change record is not in the copy")?;
        let ts_bytes = self
            .store
            .read(&paths::timestamp_file(v))
            .map_err(|e| e.to_string())?
            .ok_or("its timestamp is not in the copy")?;
        let (root, root_version) = self.verify_start_point(v, &record_bytes, &ts_bytes)?;
        let snapshot = leaf_snapshot::decode(snapshot_file, MAX_SNAPSHOT_PAYLOAD)
            .map_err(|e| e.to_string())?;
        let tree = snapshot
            .verify(&self.role, v, &root)
            .map_err(|e| e.to_string())?;
        let roots = self.roots.clone();
        self.replay = Replay::starting_at(&self.role, roots, tree, v, root_version);
        self.push_version(v);
        Ok(())
    }

    /// Checks the record and timestamp of a starting point `v`: the signed `merkle_root` and
    /// the root version it was signed under.
    fn verify_start_point(
        &self,
        v: u64,
        record_bytes: &[u8],
        ts_bytes: &[u8],
    ) -> Result<(Digest, u64), String> {
        let record = PublishedRecord::from_json(record_bytes).map_err(|e| e.to_string())?;
        if record.timestamp_version != v || record.role != self.role {
            return Err(format!(
                "the record is of {} version {}",
                record.role, record.timestamp_version
            ));
        }
        let resolved = resolve_with(record, ts_bytes).map_err(|e| e.to_string())?;
        let root = self.roots.get(&resolved.root_version).ok_or_else(|| {
            format!(
                "signed under root {}, not in the chain",
                resolved.root_version
            )
        })?;
        let ts = tuf::verify_timestamp(root, &paths::timestamp_file(v), &resolved.timestamp, true)
            .map_err(|e| e.to_string())?;
        if ts.version != v {
            return Err(format!("the timestamp has version {}", ts.version));
        }
        let merkle_root = ts.merkle_root.ok_or("the timestamp has no merkle_root")?;
        if resolved.merkle_root != Some(merkle_root) {
            return Err("the record's merkle_root is not its timestamp's".into());
        }
        Ok((merkle_root, resolved.root_version))
    }

    /// A first start: from the upstream's newest leaf snapshot when there is one that verifies
    /// (and the roots it needs), else from version 1. Returns where it started.
    fn cold_start(&mut self) -> String {
        match self.start_from_leaf_snapshot() {
            Ok(Some(v)) => format!("leaf snapshot at version {v}"),
            Ok(None) => "version 1 (no leaf snapshot upstream)".into(),
            Err(message) => {
                tracing::warn!(
                    role = self.role,
                    error = message,
                    "cannot start from the upstream's leaf snapshot; replaying from version 1"
                );
                format!("version 1 (leaf snapshot refused: {message})")
            }
        }
    }

    fn start_from_leaf_snapshot(&mut self) -> Result<Option<u64>, String> {
        let pointer_path = self.upstream_path(paths::LEAF_SNAPSHOT_LATEST);
        let pointer_bytes = match self
            .upstream
            .get(&pointer_path, leaf_snapshot::MAX_POINTER_BYTES)
            .map_err(|e| e.to_string())?
        {
            Fetch::Found(b, _) => b,
            _ => return Ok(None),
        };
        let pointer =
            LatestPointer::from_json(&pointer_bytes).map_err(|e| format!("{pointer_path}: {e}"))?;
        let v = pointer.timestamp_version;
        let file = self.fetch_required(&paths::leaf_snapshot(v), MAX_SNAPSHOT_FILE)?;
        if !pointer.matches(&file) {
            return Err(format!(
                "{} is not the file latest.json names (length or SHA-256)",
                paths::leaf_snapshot(v)
            ));
        }
        let record = self.fetch_required(&paths::change_record(v), self.limits.change_record)?;
        let ts = self.fetch_required(&paths::timestamp_file(v), self.limits.timestamp)?;
        self.walk_upstream_roots()
            .map_err(|e| e.to_string())?
            .map_err(|b| b.message)?;
        self.verify_start_point(v, &record, &ts)?;
        // The start point's files, copied so that a restart can re-verify it.
        let copy = |s: &Self| -> Result<(), tuf_files::FsError> {
            s.store.put_immutable(&paths::change_record(v), &record)?;
            s.store.put_immutable(&paths::timestamp_file(v), &ts)?;
            s.store.put_immutable(&paths::leaf_snapshot(v), &file)?;
            s.store
                .put_head(paths::LEAF_SNAPSHOT_LATEST, &pointer_bytes)
        };
        copy(self).map_err(|e| e.to_string())?;
        self.verified_start(v, &file)?;
        // The snapshot just verified is the mirror's first checkpoint, as it is: a restart
        // re-verifies it against the record and timestamp of `v` copied above, as any other.
        let saved = self
            .store
            .sync()
            .and_then(|()| self.store.save_checkpoint(v, &file));
        match saved {
            Ok(()) => {
                self.checkpoint_version = Some(v);
                self.since_checkpoint = 0;
            }
            Err(e) => tracing::error!(
                role = self.role,
                version = v,
                error = %e,
                "cannot write the mirror's first checkpoint"
            ),
        }
        Ok(Some(v))
    }

    /// Re-applies the rounds copied after the checkpoint (verified again, as untrusted);
    /// returns how many.
    fn replay_local(&mut self) -> Result<u64, FollowError> {
        let mut replayed = 0;
        loop {
            let v = self.replay.last.unwrap_or(0) + 1;
            let file = paths::change_record(v);
            let (Some(record), Some(ts)) = (
                self.store.read(&file)?,
                self.store.read(&paths::timestamp_file(v))?,
            ) else {
                break;
            };
            let resolved = PublishedRecord::from_json(&record)
                .map_err(|e| e.to_string())
                .and_then(|r| resolve_with(r, &ts).map_err(|e| e.to_string()))
                .map_err(|m| self.local_error(&file, m))?;
            if !self.replay.apply(&resolved) {
                let why = self
                    .replay
                    .breach
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                return Err(self.local_error(&file, why));
            }
            self.push_version(v);
            replayed += 1;
        }
        // The head as the last run left it, if it is the last copied round's.
        if let Some(v) = self.replay.last
            && let Some(ts) = self.store.read(&paths::timestamp_file(v))?
        {
            self.store.put_head(paths::TIMESTAMP, &ts)?;
        }
        Ok(replayed)
    }

    /// Serves the replayed tree as version `v`.
    fn push_version(&mut self, v: u64) {
        let Some(root) = self.replay.last_root else {
            return;
        };
        self.state.push_version(SignedVersion {
            version: v,
            root,
            tree: self.replay.tree.clone(),
        });
        self.since_checkpoint += 1;
    }

    /// `{role}/{file}`.
    fn upstream_path(&self, file: &str) -> String {
        format!("{}/{file}", self.role)
    }

    fn fetch_required(&self, file: &str, limit: u64) -> Result<Vec<u8>, String> {
        match self.upstream.get(&self.upstream_path(file), limit) {
            Ok(Fetch::Found(b, _)) => Ok(b),
            Ok(_) => Err(format!("{file} is missing upstream")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Walks the upstream's root chain past the newest trusted root, copying each new root.
    fn walk_upstream_roots(&mut self) -> Result<Result<(), Breach>, UpstreamError> {
        for _ in 0..self.limits.max_root_steps {
            let file = paths::root(self.latest_root + 1);
            let bytes = match self
                .upstream
                .get(&self.upstream_path(&file), self.limits.root)?
            {
                Fetch::Found(b, _) => b,
                _ => return Ok(Ok(())),
            };
            let next = match tuf::next_root(self.newest_root(), &bytes) {
                Ok(next) => next,
                Err(e) => {
                    return Ok(Err(Breach::new(
                        self.replay.last.unwrap_or(0),
                        format!(
                            "{file} does not verify against root {}: {e}",
                            self.latest_root
                        ),
                    )
                    .with("root.json", &bytes)));
                }
            };
            if let Err(e) = self.store.put_immutable(&file, &bytes) {
                tracing::error!(role = self.role, error = %e, "cannot copy a root");
            }
            self.trust(next);
            let _ = self.store.put_head(paths::ROOT, &bytes);
        }
        Ok(Ok(()))
    }

    /// Runs until `stop`: polls, applies, reports. Writes a checkpoint when it stops.
    pub fn run(mut self, stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let advanced = self.poll_once();
            self.publish_status();
            // A checkpoint deferred while another job ran.
            self.maybe_checkpoint();
            if advanced {
                continue;
            }
            // Sleep in short steps so a stop is seen quickly.
            let until = Instant::now() + self.poll;
            while Instant::now() < until && !*stop.borrow() {
                std::thread::sleep(Duration::from_millis(20).min(self.poll));
            }
        }
        // The job running is finished first, then the last checkpoint is written (and waited
        // for) unless it is the served version already.
        if let Some(done) = self.background.wait() {
            self.collected(done);
        }
        if let Some(served) = self.state.version(None)
            && self.checkpoint_version != Some(served.version)
            && self.background.start(Job::Checkpoint(served))
            && let Some(done) = self.background.wait()
        {
            self.collected(done);
        }
        if let Err(e) = self.store.sync() {
            tracing::error!(role = self.role, error = %e, "cannot sync the mirror's copy");
        }
    }

    /// Starts a checkpoint of the served version in the background when one is due and no
    /// other job runs (else it stays due: asked again after the next version or poll).
    fn maybe_checkpoint(&mut self) {
        self.collect_background();
        if self.since_checkpoint < self.cfg.checkpoint_every || !self.background.idle() {
            return;
        }
        let Some(served) = self.state.version(None) else {
            return;
        };
        if self.checkpoint_version == Some(served.version) {
            return;
        }
        if self.background.start(Job::Checkpoint(served)) {
            self.since_checkpoint = 0;
        }
    }

    /// Takes in the outcome of a finished background job, if there is one.
    fn collect_background(&mut self) {
        if let Some(done) = self.background.collect() {
            self.collected(done);
        }
    }

    fn collected(&mut self, done: super::background::Outcome) {
        match (done.kind, done.result) {
            (Kind::Checkpoint, Ok(())) => self.checkpoint_version = Some(done.version),
            // Due again at once (the next version or poll).
            (Kind::Checkpoint, Err(_)) => {
                self.since_checkpoint = self.since_checkpoint.max(self.cfg.checkpoint_every);
            }
            (Kind::LeafSnapshot(etag), Ok(())) => self.pointer_etag = etag,
            // Not fetched again until the pointer changes.
            (Kind::LeafSnapshot(etag), Err(f)) if !f.again => self.pointer_etag = etag,
            (Kind::LeafSnapshot(_), Err(_)) => {}
        }
    }

    /// One poll; whether the mirror advanced (then it polls again at once).
    fn poll_once(&mut self) -> bool {
        if self.inconsistent {
            return false;
        }
        let path = self.upstream_path(paths::TIMESTAMP);
        let fetched = self.upstream.get_if_none_match(
            &path,
            self.limits.timestamp,
            self.timestamp_etag.as_deref(),
        );
        let (head, etag) = match fetched {
            Ok(Fetch::Found(b, etag)) => (b, etag),
            Ok(Fetch::Unchanged) | Ok(Fetch::NotFound) => {
                self.set_upstream_error(None);
                self.update_lag(None);
                return false;
            }
            Err(e) => {
                self.unreachable(e);
                return false;
            }
        };
        self.set_upstream_error(None);
        let before = self.replay.last;
        match self.follow_to(&head) {
            Step::Done => {
                self.timestamp_etag = etag;
                self.update_lag(Some(self.upstream_seen));
                self.set_incomplete(None);
                self.copy_leaf_snapshot_pointer();
            }
            Step::Incomplete(what) => self.set_incomplete(Some(what)),
            Step::Unreachable(e) => self.unreachable(e),
            Step::Breach(b) => self.stop_on(b),
        }
        self.replay.last != before
    }

    /// Follows the upstream up to the version of `head` (its `timestamp.json`).
    fn follow_to(&mut self, head: &[u8]) -> Step {
        let last = self.replay.last.unwrap_or(0);
        // Only its version is read here: the round of that version is verified as it is applied.
        let target = match serde_json::from_slice::<Head>(head) {
            Ok(t) => t.signed.version.get(),
            Err(e) => {
                return Step::Breach(
                    Breach::new(last, format!("timestamp.json is not a timestamp: {e}"))
                        .with("timestamp.json", head),
                );
            }
        };
        self.upstream_seen = target;
        self.metrics
            .upstream_version
            .set(i64::try_from(target).unwrap_or(i64::MAX));
        self.state.update_status(|s| {
            if let Some(m) = &mut s.mirror {
                m.upstream_timestamp_version = target;
            }
        });
        if target < last {
            return Step::Breach(
                Breach::new(
                    last,
                    format!(
                        "the upstream's timestamp.json went back from version {last} to {target}"
                    ),
                )
                .with("timestamp.json", head),
            );
        }
        self.update_lag(Some(target));
        for v in last + 1..=target {
            match self.step(v) {
                Step::Done => {}
                other => return other,
            }
        }
        // The head must be the exact timestamp of its version that the history verified.
        match self.store.read(&paths::timestamp_file(target)) {
            Ok(Some(exact)) if exact == head => {}
            Ok(Some(exact)) => {
                return Step::Breach(
                    Breach::new(
                        target,
                        format!(
                            "timestamp.json differs from {}, the timestamp of version {target} its change record names",
                            paths::timestamp_file(target)
                        ),
                    )
                    .with("timestamp.json", head)
                    .with("verified-timestamp.json", &exact),
                );
            }
            // Started from a leaf snapshot after this version: nothing to compare with.
            Ok(None) => return Step::Done,
            Err(e) => {
                tracing::error!(role = self.role, error = %e, "cannot read the mirror's copy");
                return Step::Done;
            }
        }
        if let Err(e) = self.store.put_head(paths::TIMESTAMP, head) {
            tracing::error!(role = self.role, error = %e, "cannot write the mirror's timestamp.json");
        }
        Step::Done
    }

    /// Fetches, verifies, copies and serves round `v`.
    fn step(&mut self, v: u64) -> Step {
        let record_file = paths::change_record(v);
        let record_bytes = match self
            .upstream
            .get(&self.upstream_path(&record_file), self.limits.change_record)
        {
            Ok(Fetch::Found(b, _)) => b,
            Ok(_) => {
                return Step::Incomplete(format!(
                    "the upstream's timestamp is past version {}, but {record_file} is missing",
                    v - 1
                ));
            }
            Err(e) => return Step::Unreachable(e),
        };
        let breach = |message: String| Breach::new(v, message).with("record.json", &record_bytes);
        let record = match PublishedRecord::from_json(&record_bytes) {
            Ok(r) => r,
            Err(e) => return Step::Breach(breach(format!("{record_file} is malformed: {e}"))),
        };
        if record.timestamp_version != v {
            return Step::Breach(breach(format!(
                "{record_file} is the record of version {} (rounds out of order)",
                record.timestamp_version
            )));
        }
        let ts_file = paths::timestamp_file(v);
        let ts_bytes = match self
            .upstream
            .get(&self.upstream_path(&ts_file), self.limits.timestamp)
        {
            Ok(Fetch::Found(b, _)) => b,
            Ok(_) => return Step::Incomplete(format!("{ts_file} is missing")),
            Err(e) => return Step::Unreachable(e),
        };
        let breach = |message: String| breach(message).with("timestamp.json", &ts_bytes);
        if !self.roots.contains_key(&record.root_version) && record.root_version > self.latest_root
        {
            match self.walk_upstream_roots() {
                Ok(Ok(())) => {}
                Ok(Err(b)) => return Step::Breach(b),
                Err(e) => return Step::Unreachable(e),
            }
        }
        let root_version = record.root_version;
        let resolved = match resolve_with(record, &ts_bytes) {
            Ok(r) => r,
            Err(b) => return Step::Breach(breach(b.to_string())),
        };
        let timestamp = resolved.timestamp.clone();
        if !self.replay.apply(&resolved) {
            let why = self
                .replay
                .breach
                .take()
                .map(|b| b.to_string())
                .unwrap_or_default();
            return Step::Breach(breach(why));
        }
        match self.copy_metadata(v, root_version, &timestamp) {
            Step::Done => {}
            other => {
                // Not served yet: the replay must not run ahead of what is served.
                self.rewind();
                return other;
            }
        }
        let copied = self
            .store
            .put_immutable(&ts_file, &ts_bytes)
            .and_then(|()| self.store.put_immutable(&record_file, &record_bytes));
        if let Err(e) = copied {
            tracing::error!(role = self.role, version = v, error = %e, "cannot copy a verified round; retrying");
            self.rewind();
            return Step::Unreachable(UpstreamError {
                what: record_file,
                message: "the mirror cannot write its copy (see its log)".into(),
            });
        }
        self.push_version(v);
        self.maybe_checkpoint();
        Step::Done
    }

    /// Undoes the last applied round (it could not be served): back to the served version.
    fn rewind(&mut self) {
        let roots = self.roots.clone();
        self.replay = match self.state.version(None) {
            Some(served) => Replay::starting_at(
                &self.role,
                roots,
                served.tree,
                served.version,
                self.replay.last_root_version,
            ),
            None => Replay::new(&self.role, roots),
        };
    }

    /// Copies the snapshot and targets metadata that timestamp `v` (its exact bytes, which the
    /// replay verified) names, each checked against the root it was signed under (so tough and
    /// python-tuf clients load the mirror as they load the signer).
    fn copy_metadata(&mut self, v: u64, root_version: u64, timestamp: &[u8]) -> Step {
        let Some(root) = self.roots.get(&root_version).cloned() else {
            return Step::Breach(Breach::new(
                v,
                format!("root {root_version} is not in the chain"),
            ));
        };
        let Some(snapshot_version) = serde_json::from_slice::<Head>(timestamp)
            .ok()
            .and_then(|t| t.signed.meta)
            .and_then(|m| m.get("snapshot.json").map(|f| f.version.get()))
        else {
            return Step::Breach(Breach::new(v, "the timestamp names no snapshot.json"));
        };
        let snapshot_file = paths::snapshot(snapshot_version);
        let snapshot = match self.copy_signed(v, &snapshot_file, RoleType::Snapshot, &root) {
            Ok(bytes) => bytes,
            Err(step) => return step,
        };
        let targets = match serde_json::from_slice::<Head>(&snapshot) {
            Ok(head) => head
                .signed
                .meta
                .and_then(|m| m.get("targets.json").map(|t| t.version.get())),
            Err(e) => return Step::Breach(Breach::new(v, format!("{snapshot_file}: {e}"))),
        };
        let Some(targets) = targets else {
            return Step::Breach(Breach::new(
                v,
                format!("{snapshot_file} names no targets.json"),
            ));
        };
        let targets_file = paths::targets(targets);
        match self.copy_signed(v, &targets_file, RoleType::Targets, &root) {
            Ok(_) => Step::Done,
            Err(step) => step,
        }
    }

    /// Copies `file` (metadata of `role`) unless the copy has it (verified when it was copied),
    /// after checking its signature under `root`. Returns its bytes.
    fn copy_signed(
        &mut self,
        v: u64,
        file: &str,
        role: RoleType,
        root: &TrustedRoot,
    ) -> Result<Vec<u8>, Step> {
        if let Ok(Some(bytes)) = self.store.read(file) {
            return Ok(bytes);
        }
        let bytes = match self
            .upstream
            .get(&self.upstream_path(file), self.limits.metadata)
        {
            Ok(Fetch::Found(b, _)) => b,
            Ok(_) => return Err(Step::Incomplete(format!("{file} is missing"))),
            Err(e) => return Err(Step::Unreachable(e)),
        };
        if let Err(e) = tuf::verify_role(root, role, file, &bytes) {
            return Err(Step::Breach(
                Breach::new(v, format!("{file}: {e}")).with("metadata.json", &bytes),
            ));
        }
        if let Err(e) = self.store.put_immutable(file, &bytes) {
            tracing::error!(role = self.role, error = %e, "cannot copy metadata");
        }
        Ok(bytes)
    }

    /// Copies the upstream's newest leaf snapshot when it changed (best effort: leaf snapshots
    /// are a convenience for the mirror's own readers). The file is fetched and verified in the
    /// background, against the `merkle_root` signed for its version: a version this mirror
    /// serves, or one it copied earlier, whose record and timestamp are checked again.
    fn copy_leaf_snapshot_pointer(&mut self) {
        self.collect_background();
        if !self.background.idle() {
            // Asked again after a later poll.
            return;
        }
        let path = self.upstream_path(paths::LEAF_SNAPSHOT_LATEST);
        let (bytes, etag) = match self.upstream.get_if_none_match(
            &path,
            leaf_snapshot::MAX_POINTER_BYTES,
            self.pointer_etag.as_deref(),
        ) {
            Ok(Fetch::Found(b, etag)) => (b, etag),
            _ => return,
        };
        let Ok(pointer) = LatestPointer::from_json(&bytes) else {
            return;
        };
        let v = pointer.timestamp_version;
        if self.store.has(&paths::leaf_snapshot(v)) {
            if self
                .store
                .put_head(paths::LEAF_SNAPSHOT_LATEST, &bytes)
                .is_ok()
            {
                self.pointer_etag = etag;
            }
            return;
        }
        // Only a version this mirror verified can vouch for the leaves (one not served yet is
        // asked again later).
        let Some(signed_root) = self.signed_root_of(v) else {
            return;
        };
        self.background.start(Job::CopyLeafSnapshot {
            version: v,
            signed_root,
            pointer_bytes: bytes,
            pointer,
            etag,
        });
    }

    /// The `merkle_root` signed for version `v`, if this mirror verified `v`: from the versions
    /// it serves, else from its copy of `v`'s record and timestamp, checked again against the
    /// root chain.
    fn signed_root_of(&self, v: u64) -> Option<Digest> {
        if let Some(kept) = self.state.version(Some(v)) {
            return Some(kept.root);
        }
        if v > self.replay.last? {
            return None;
        }
        let record = self.store.read(&paths::change_record(v)).ok()??;
        let ts = self.store.read(&paths::timestamp_file(v)).ok()??;
        self.verify_start_point(v, &record, &ts)
            .ok()
            .map(|(root, _)| root)
    }

    fn stop_on(&mut self, breach: Breach) {
        self.inconsistent = true;
        let files: Vec<(&str, &[u8])> = breach
            .files
            .iter()
            .map(|(n, b)| (*n, b.as_slice()))
            .collect();
        let kept = self
            .store
            .keep_evidence(breach.version, &breach.message, &files);
        let evidence = match &kept {
            Ok(dir) => dir.display().to_string(),
            Err(e) => {
                tracing::error!(role = self.role, error = %e, "cannot keep the evidence");
                "not kept (see the mirror's log)".into()
            }
        };
        tracing::error!(
            role = self.role,
            version = breach.version,
            reason = breach.message,
            evidence,
            "the upstream is inconsistent; the mirror stopped advancing and serves its last good version"
        );
        self.metrics.inconsistent.set(1);
        self.state.set_fault(Some(Fault::UpstreamInconsistent));
        self.state.update_status(|s| {
            if let Some(m) = &mut s.mirror {
                m.inconsistency = Some(format!("version {}: {}", breach.version, breach.message));
                m.evidence = Some(evidence);
            }
        });
    }

    fn unreachable(&mut self, e: UpstreamError) {
        tracing::warn!(role = self.role, error = %e, "upstream request failed; retrying");
        self.metrics.upstream_errors.inc();
        self.set_upstream_error(Some(e.to_string()));
    }

    fn set_upstream_error(&self, error: Option<String>) {
        self.state.update_status(|s| {
            if let Some(m) = &mut s.mirror {
                m.upstream_error = error;
            }
        });
    }

    fn set_incomplete(&mut self, what: Option<String>) {
        if let Some(what) = &what {
            tracing::warn!(
                role = self.role,
                what,
                "the upstream names a round it does not serve; waiting"
            );
        }
        self.metrics.incomplete.set(i64::from(what.is_some()));
        let current = self.state.status().error_code;
        match what {
            Some(_) => self.state.set_fault(Some(Fault::UpstreamIncomplete)),
            None if current == Some(Fault::UpstreamIncomplete.code()) => self.state.set_fault(None),
            None => {}
        }
    }

    fn update_lag(&mut self, upstream: Option<u64>) {
        let served = self.replay.last.unwrap_or(0);
        match upstream {
            Some(t) if t > served => {
                let since = *self.behind_since.get_or_insert_with(Instant::now);
                self.metrics.lag_seconds.set(since.elapsed().as_secs_f64());
            }
            Some(_) => {
                self.behind_since = None;
                self.metrics.lag_seconds.set(0.0);
            }
            None if self.behind_since.is_none() => {
                self.metrics.lag_seconds.set(0.0);
            }
            None => {}
        }
    }

    /// The role's status and metrics from the served version.
    fn publish_status(&mut self) {
        let Some(served) = self.state.version(None) else {
            return;
        };
        if self.status_version == Some(served.version) {
            return;
        }
        self.status_version = Some(served.version);
        let expires = self
            .store
            .read(&paths::timestamp_file(served.version))
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<Head>(&b).ok())
            .map(|t| t.signed.expires);
        let tombstones = served.tree.tombstones();
        let root_version = self.replay.last_root_version;
        self.metrics
            .timestamp_version
            .set(i64::try_from(served.version).unwrap_or(i64::MAX));
        self.state.update_status(|s| {
            s.timestamp_version = served.version;
            s.timestamp_expires = expires;
            s.merkle_root = Some(served.root.to_hex());
            s.leaves = served.tree.len();
            s.tombstones = tombstones;
            s.root_version = root_version;
        });
    }
}
