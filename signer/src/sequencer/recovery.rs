//! Opening a role: the checkpoint and the round stored with it, the log replayed after it,
//! every logged round checked against the tree and republished, and whatever the log holds
//! beyond the last round signed.

use std::ops::Range;
use std::time::Instant;

use tuf_merkle::{Tree, key_of};

use super::hash_check::HashCheck;
use super::{MAX_PENDING_BYTES, Parts, RecordChange, RecoveryError, RoundError, Sequencer};
use crate::change::Change;
use crate::config::SnapshotMode;
use crate::metrics::MetadataFile;
use crate::round::Round;
use crate::state::SignedVersion;
use crate::storage::Opened;
use crate::storage::checkpoint::{CheckpointError, Entry};
use crate::tree::RoleTree;
use tuf_repo_format::change_record::change_json_len;

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
            mut checkpoint,
            deltas,
            stored_round: stored,
            records,
            log,
            truncated,
            timings,
        } = store.open(classic).await?;
        // A role that never signed holds an import: its leaves are signed as import rounds,
        // each listing at most `MAX_PENDING_BYTES` of change-record entries. With more than one,
        // the tree starts empty and takes each round's leaves before its round is checked or
        // signed, so that every round signs the tree its change record leads to.
        if stored.is_none() && !deltas.is_empty() {
            // Deltas are only written with a stored round: one without it is not a state this
            // signer wrote.
            return Err(RecoveryError::Checkpoint(CheckpointError::BadRound {
                path: "round.json".into(),
                message: "missing, but the checkpoint has deltas; restore the state directory \
                          from a backup"
                    .into(),
            }));
        }
        let import = if stored.is_none() {
            import_rounds(&checkpoint.entries)
        } else {
            Vec::new()
        };
        let chunked = import.len() > 1;
        let mut next_import = 0;
        let mut tree = RoleTree::new(classic);
        let first = if chunked {
            &[][..]
        } else {
            &checkpoint.entries[..]
        };
        // A version 2 base stores the tree's hashes: the tree is built without hashing and the
        // hashes are checked in the background (hash_check). Not in a bucket, where a fault
        // would hand the role to the next node, which would find the same base: there the tree
        // is rehashed before the role is served, as from a version 1 base.
        let opened_at = Instant::now();
        let hashes = std::mem::take(&mut checkpoint.hashes);
        let stored_hashes = !chunked && guard.is_none() && !hashes.is_empty();
        tree.tree = if stored_hashes {
            Tree::from_stored(first.iter().map(|e| (e.key, e.contents)), &hashes).map_err(
                |source| RecoveryError::CheckpointHashes {
                    role: role.clone(),
                    source: Box::new(source),
                },
            )?
        } else {
            Tree::from_leaves(first.iter().map(|e| (e.key, e.contents))).map_err(|source| {
                RecoveryError::CheckpointTree {
                    role: role.clone(),
                    source,
                }
            })?
        };
        drop(hashes);
        // The base's tree, to check; the check starts once the deltas and the log are applied,
        // so that it does not compete with them for the cores.
        let base_tree = stored_hashes.then(|| tree.tree.clone());

        if let Some(names) = &mut tree.names {
            for e in first {
                if let Some(n) = &e.name {
                    names.insert(e.key, n.clone());
                }
            }
        }
        if stored.is_some() && !chunked && !classic {
            // The leaves are in the tree now; a merkle role with a signed round needs no more of
            // them (1 GB at ten million leaves).
            checkpoint.entries = Vec::new();
        }
        let built = opened_at.elapsed();
        let delta_count = deltas.len();
        for delta in &deltas {
            apply_entries(&mut tree, delta);
        }
        drop(deltas);
        let deltas_applied = opened_at.elapsed();
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
            None if chunked => {}
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
        let mut changed = Vec::new();
        let record_count = records.len();
        for record in records {
            if let Some(round) = record.round {
                if chunked && let Some(range) = import.get(next_import) {
                    // An import round signed before a crash: the leaves it listed.
                    apply_entries(&mut tree, &checkpoint.entries[range.clone()]);
                    next_import += 1;
                }
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
            changed.extend(changes.iter().map(|c| c.key));
            since_checkpoint += changes.len() as u64;
        }
        let replayed = opened_at.elapsed();
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
            changed,
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
            hash_check: None,
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
        let republished = opened_at.elapsed();
        if let Some(base_tree) = base_tree {
            seq.hash_check = Some(HashCheck::start(&seq.role, base_tree).map_err(|e| {
                RecoveryError::Fs(tuf_files::FsError::new(
                    std::path::Path::new("hash-check thread"),
                    "start",
                    e,
                ))
            })?);
        }
        // Where the start went, for operators: at millions of leaves the tree is most of it.
        tracing::info!(
            role = seq.role,
            leaves = seq.tree.tree.len(),
            deltas = delta_count,
            records = record_count,
            checkpoint_read_ms = timings.checkpoint.as_millis() as u64,
            log_read_ms = timings.log.as_millis() as u64,
            tree_built_ms = built.as_millis() as u64,
            deltas_applied_ms = (deltas_applied - built).as_millis() as u64,
            log_replayed_ms = (replayed - deltas_applied).as_millis() as u64,
            republished_ms = (republished - replayed).as_millis() as u64,
            "recovered the role's state"
        );
        // Everything recovered is published by now.
        seq.note_published_expiry();
        seq.refresh_status();
        let role = seq.role.clone();
        let failed = |e| match e {
            RoundError::Metadata(m) => RecoveryError::Metadata(m),
            RoundError::Publish(p) => RecoveryError::Publish(p),
            RoundError::Log(w) => RecoveryError::Log(w),
            RoundError::TreeHashes(message) => RecoveryError::TreeHashes {
                role: role.clone(),
                message,
            },
            RoundError::VersionTaken(v) => RecoveryError::BehindPublished {
                role: role.clone(),
                published: v,
                state: v - 1,
                next: v,
            },
        };
        if chunked {
            let rounds = import.len() - next_import;
            for (i, range) in import[next_import..].iter().enumerate() {
                let entries = &checkpoint.entries[range.clone()];
                apply_entries(&mut seq.tree, entries);
                for e in entries {
                    seq.add_pending(RecordChange {
                        name: e.name.clone(),
                        key: e.key,
                        old: None,
                        new: e.contents,
                    });
                }
                seq.sign_round().await.map_err(failed)?;
                tracing::info!(
                    role = seq.role,
                    round = next_import + i + 1,
                    of = import.len(),
                    leaves = entries.len(),
                    "signed an import round"
                );
            }
            drop(checkpoint);
            if rounds > 0 {
                // The import rounds' records are the bulk of the log: a checkpoint now keeps a
                // restart from reading them back.
                seq.checkpoint().await?;
            }
        }
        if seq.last.is_none() || !seq.pending.is_empty() || seq.resign_due() <= Instant::now() {
            // Signing waits for the check of the stored hashes; a mismatch refuses the start.
            if !seq.finish_hash_check(true) {
                return Err(RecoveryError::TreeHashes {
                    role: seq.role.clone(),
                    message: "the checkpoint's stored tree hashes are not its leaves' hashes \
                              (details above); restore the state directory from a backup"
                        .into(),
                });
            }
            seq.sign_round().await.map_err(failed)?;
        }
        Ok(seq)
    }
}

/// Splits an import's leaves into rounds, in checkpoint order: each the longest run whose
/// change-record entries stay within [`MAX_PENDING_BYTES`] (at least one leaf each), so that
/// every round record stays readable by the log.
fn import_rounds(entries: &[Entry]) -> Vec<Range<usize>> {
    let mut rounds = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, e) in entries.iter().enumerate() {
        let len = change_json_len(e.name.as_deref(), None, e.contents);
        if i > start && bytes + len > MAX_PENDING_BYTES {
            rounds.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < entries.len() {
        rounds.push(start..entries.len());
    }
    rounds
}

/// Adds an import round's leaves to the tree (and, for a classic role, their names).
fn apply_entries(tree: &mut RoleTree, entries: &[Entry]) {
    if let Some(names) = &mut tree.names {
        for e in entries {
            if let Some(n) = &e.name {
                names.insert(e.key, n.clone());
            }
        }
    }
    tree.tree
        .set_many(entries.iter().map(|e| (e.key, e.contents)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuf_merkle::LeafContents;

    #[test]
    fn import_rounds_stay_under_the_bound_and_cover_every_leaf() {
        let name = "x".repeat(200);
        let e = Entry {
            key: tuf_merkle::key_of("a"),
            contents: LeafContents::deleted(1).unwrap(),
            name: Some(name.clone()),
        };
        let one = change_json_len(e.name.as_deref(), None, e.contents);
        let per_round = MAX_PENDING_BYTES / one;
        let entries = vec![e; per_round * 2 + 3];
        let rounds = import_rounds(&entries);
        assert_eq!(
            rounds,
            vec![
                0..per_round,
                per_round..2 * per_round,
                2 * per_round..2 * per_round + 3
            ]
        );
        assert!(import_rounds(&[]).is_empty());
        assert_eq!(import_rounds(&entries[..5]), vec![0..5]);
    }
}
