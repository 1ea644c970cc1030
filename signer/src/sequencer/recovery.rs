//! Opening a role: the checkpoint and the round stored with it, the log replayed after it,
//! every logged round checked against the tree and republished, and whatever the log holds
//! beyond the last round signed.

use std::time::Instant;

use tuf_merkle::{Tree, key_of};

use super::{Parts, RecordChange, RecoveryError, RoundError, Sequencer};
use crate::change::Change;
use crate::config::SnapshotMode;
use crate::metrics::MetadataFile;
use crate::round::Round;
use crate::state::SignedVersion;
use crate::storage::Opened;
use crate::tree::RoleTree;

impl Sequencer {
    /// Recovers a role from its state (see the module documentation) and signs what needs
    /// signing. Refuses to start a state that is behind its published repository.
    pub async fn open(parts: Parts) -> Result<Self, RecoveryError> {
        let Parts {
            role,
            cfg,
            store,
            mut trust,
            publisher,
            state,
            metrics,
            max_unsigned,
        } = parts;
        // The newest trust: a reload may have sent one while this role stood by.
        let signer = trust.borrow_and_update().signer.clone();
        let classic = cfg.snapshot == SnapshotMode::Classic;
        let guard = match &store {
            crate::storage::StateStore::Bucket { guard, .. } => Some(guard.clone()),
            crate::storage::StateStore::Dir(_) => None,
        };
        let Opened {
            checkpoint,
            stored_round: stored,
            records,
            log,
            truncated,
        } = store.open().await?;
        let mut tree = RoleTree::new(classic);
        tree.tree = Tree::from_leaves(checkpoint.entries.iter().map(|e| (e.key, e.contents)))
            .map_err(|source| RecoveryError::CheckpointTree {
                role: role.clone(),
                source,
            })?;
        if let Some(names) = &mut tree.names {
            for e in &checkpoint.entries {
                if let Some(n) = &e.name {
                    names.insert(e.key, n.clone());
                }
            }
        }
        // Checks that `round` signed exactly `tree`.
        let check = |round: &Round, tree: &Tree, whence: &'static str| {
            if round.tree_root() == Some(tree.root()) {
                Ok(())
            } else {
                Err(RecoveryError::RootMismatch {
                    role: role.clone(),
                    rebuilt: tree.root(),
                    version: round.timestamp_version,
                    whence,
                    signed: round.tree_root.clone(),
                })
            }
        };
        let mut pending = Vec::new();
        let mut last: Option<Round> = None;
        let mut signed_tree = tree.tree.clone();
        // Whether the stored round still has to be matched against the log.
        let mut stored_unchecked = None;
        match &stored {
            None => pending.extend(checkpoint.entries.iter().map(|e| RecordChange {
                name: e.name.clone(),
                key: e.key,
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
        if truncated > 0 {
            tracing::warn!(
                role,
                bytes = truncated,
                "cut a torn tail off the write-ahead log (an unacknowledged write)"
            );
        }
        let mut republish = Vec::new();
        let mut since_checkpoint = 0;
        for record in records {
            if let Some(round) = record.round {
                check(&round, &tree.tree, "log")?;
                if last
                    .as_ref()
                    .is_none_or(|l| round.timestamp_version > l.timestamp_version)
                {
                    last = Some((*round).clone());
                }
                if stored_unchecked
                    .as_ref()
                    .is_some_and(|s: &Round| s.timestamp_version == round.timestamp_version)
                {
                    stored_unchecked = None;
                }
                pending.clear();
                signed_tree = tree.tree.clone();
                republish.push(round);
                continue;
            }
            let changes: Vec<Change> = record
                .changes
                .into_iter()
                .map(|c| {
                    let key = key_of(&c.name);
                    Change {
                        old: tree.tree.get_key(&key),
                        key,
                        name: c.name,
                        new: c.contents,
                    }
                })
                .collect();
            for c in &changes {
                pending.push(RecordChange {
                    name: Some(c.name.clone()),
                    key: c.key,
                    old: c.old,
                    new: c.new,
                });
            }
            tree.apply(&changes);
            since_checkpoint += changes.len() as u64;
        }
        let state_version = last
            .iter()
            .chain(&stored)
            .map(|r| r.timestamp_version)
            .fold(checkpoint.timestamp_version, u64::max);
        if let Some(published) = publisher.published_version().await
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
            return Err(RecoveryError::MissingRecords {
                role,
                version: r.timestamp_version,
                seq: r.seq,
            });
        }
        let applied_seq = log.last_seq();
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
            store,
            tree,
            log,
            last,
            pending: Vec::new(),
            applied_seq,
            signer,
            trust,
            trust_closed: false,
            pending_trust: None,
            publisher,
            state,
            metrics,
            broken: None,
            retry_at: None,
            unpublished: false,
            in_flight: None,
            leaf_snapshot: None,
            guard,
            stepped_down: false,
        };
        for fault in super::round::ROUND_FAULTS {
            seq.metrics.expect_signing_errors(fault.code());
        }
        if seq.guard.is_some() {
            // The fence: this leadership's first record, at the next sequence number. A former
            // leader that still believes it leads finds it taken at its next write and stops;
            // if the former leader got there first, the append fails and recovery starts over.
            seq.applied_seq = seq.log.append(&[]).await?;
            // Only now read what the repository's head is: a former leader can no longer
            // commit a round, so any head it still writes is one of the rounds recovered here.
            seq.publisher.prepare().await?;
        }
        for entry in pending {
            seq.add_pending(entry);
        }
        // Republish what the log holds (a crash may have cut publishing short, and published
        // files are not fsynced one by one), then the stored round if it is not published.
        for round in &republish {
            seq.publisher.publish_round(round).await?;
        }
        if let Some(round) = seq.last.clone() {
            if republish.is_empty() && !seq.publisher.is_published(&round).await {
                tracing::info!(
                    role = seq.role,
                    version = round.timestamp_version,
                    "republishing the stored round"
                );
                seq.publisher.publish_round(&round).await?;
            }
            seq.state.push_version(SignedVersion {
                version: round.timestamp_version,
                root: signed_tree.root(),
                tree: signed_tree,
            });
        }
        if let Some(round) = &seq.last {
            // The files carry no signing time; the configured period was (unless the
            // configuration changed since) what their expiry was set from.
            let e = &seq.cfg.expiry;
            let now = jiff::Timestamp::now().as_second();
            for (file, meta, period) in [
                (MetadataFile::Targets, &round.targets, e.targets_secs),
                (MetadataFile::Snapshot, &round.snapshot, e.snapshot_secs),
                (MetadataFile::Timestamp, &round.timestamp, e.timestamp_secs),
            ] {
                let at = meta
                    .expires
                    .as_second()
                    .saturating_sub_unsigned(period)
                    .min(now);
                if let Ok(at) = jiff::Timestamp::from_second(at) {
                    seq.metrics.set_last_signed(file, at);
                }
            }
        }
        // Everything recovered is published by now.
        seq.note_published_expiry();
        seq.refresh_status();
        if seq.last.is_none() || !seq.pending.is_empty() || seq.resign_due() <= Instant::now() {
            seq.sign_round().await.map_err(|e| match e {
                RoundError::Metadata(m) => RecoveryError::Metadata(m),
                RoundError::Publish(p) => RecoveryError::Publish(p),
                RoundError::Log(w) => RecoveryError::Log(w),
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
}
