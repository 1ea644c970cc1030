//! Signing rounds: a new timestamp (and, when due, snapshot and targets) over everything
//! pending, logged whole before any of it is published; re-signing idle roles.

use std::time::{Duration, Instant};

use super::{RETRY_INTERVAL, RoundError, Sequencer};
use tuf_repo_format::{ChangeRecord, paths};

use crate::config::SnapshotMode;
use crate::metrics::MetadataFile;
use crate::round::{FileMeta, Round};
use crate::state::{Fault, SignedVersion};

/// The faults a failed round sets ([`Sequencer::note_failure`]): their error counters show
/// from the start.
pub(super) const ROUND_FAULTS: [Fault; 6] = [
    Fault::SigningFailed,
    Fault::PublishFailed,
    Fault::StorageFull,
    Fault::LogFailed,
    Fault::StateBehind,
    Fault::TreeHashMismatch,
];

impl Sequencer {
    /// A round failed: logs the details, schedules a retry, shows clients the fault.
    pub(super) fn note_failure(&mut self, e: &RoundError) -> Fault {
        if e.ends_leadership() {
            self.step_down(e);
        }
        let fault = match e {
            _ if self.broken.is_some() => self.broken.unwrap_or(Fault::LogFailed),
            // Another node leads the role now (this node stepped down above).
            RoundError::Publish(p) if p.ends_leadership() => Fault::StateBehind,
            RoundError::Metadata(_) => Fault::SigningFailed,
            RoundError::Publish(p) if p.is_storage_full() => Fault::StorageFull,
            RoundError::Publish(_) => Fault::PublishFailed,
            RoundError::Log(w) if w.is_storage_full() => Fault::StorageFull,
            RoundError::Log(_) => Fault::LogFailed,
            RoundError::VersionTaken(_) => Fault::StateBehind,
            RoundError::TreeHashes(_) => Fault::TreeHashMismatch,
        };
        tracing::error!(
            role = self.role,
            error = %e,
            code = fault.code(),
            "signing or publishing failed; retrying in 1 s"
        );
        self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        self.state.set_fault(Some(fault));
        self.metrics.signing_error(fault.code());
        fault
    }

    pub(super) async fn sign_or_republish(&mut self) -> Result<(), RoundError> {
        if self.unpublished
            && let Some(round) = &self.last
        {
            self.publisher.publish_round(round).await?;
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
    pub(super) fn resign_due(&self) -> Instant {
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
    pub(super) async fn sign_round(&mut self) -> Result<(), RoundError> {
        // Nothing is signed over stored tree hashes before they are checked (hash_check).
        if !self.finish_hash_check(true) {
            return Err(RoundError::TreeHashes(
                "the tree's stored hashes do not match its leaves; see the signer's log".into(),
            ));
        }
        let started = Instant::now();
        let version = self.burned_version + 1;
        if self.publisher.has_timestamp(version).await {
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
        let mut signed = Vec::new();
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
                signed.push(MetadataFile::Targets);
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
                signed.push(MetadataFile::Snapshot);
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
        signed.push(MetadataFile::Timestamp);
        let signed_at = jiff::Timestamp::now();
        let timestamp = ts.meta.clone();
        let timestamp_sha256 = tuf_merkle::hash::sha256(ts.bytes.as_bytes());
        files.push(ts);
        // The timestamp is not embedded (re-serialized JSON is not what was signed) but referred
        // to: its exact bytes are published as `timestamps/V.timestamp.json` before this record,
        // with this length and SHA-256. The pending changes are cloned: they must survive a
        // refused log append.
        let record = ChangeRecord {
            role: self.role.clone(),
            timestamp_version: version,
            previous_timestamp_version: self.last.as_ref().map(|r| r.timestamp_version),
            root_version: self.signer.root_version(),
            merkle_root: merkle.then_some(tree_root),
            tree_root,
            log_sequence: self.applied_seq,
            changes: self.pending.clone(),
            timestamp_file: paths::timestamp_file(version),
            timestamp_length: timestamp.length,
            timestamp_sha256,
        };
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
            change_record: record.to_json(),
        };
        // From here on the version is used, whatever happens: once the round record is durable
        // recovery republishes it, and if the append fails the version is skipped.
        self.burned_version = version;
        if let Err(e) = self.log.append_round(&round).await {
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
        self.applied_seq = self.log.last_seq();
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
        for file in signed {
            self.metrics.set_last_signed(file, signed_at);
        }
        self.publisher.publish_round(&round).await?;
        self.unpublished = false;
        self.after_publish();
        // Only once the round is public: the snapshot is of a version readers can check.
        self.maybe_leaf_snapshot(version, tree_root);
        Ok(())
    }

    pub(super) fn after_publish(&mut self) {
        self.metrics.rounds.inc();
        self.note_published_expiry();
        self.retry_at = None;
        self.refresh_status();
        if self.broken.is_none() {
            self.state.set_fault(None);
        }
    }
}
