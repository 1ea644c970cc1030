//! Leaf snapshots: every `leaf_snapshot_every` timestamp versions, a merkle role publishes every
//! leaf of the version just signed (`leaf-snapshots/V.leaves.gz`, `tuf_repo_format::leaf_snapshot`)
//! so that mirrors and auditors can start there instead of replaying from version 1.
//!
//! Properties kept:
//! - **Rounds are not slowed.** The sequencer only clones the tree (O(1), shared structure) and
//!   the names; a thread of its own walks, encodes, compresses and publishes them. At most one
//!   runs per role: a snapshot due while the previous one is still being written is skipped
//!   (logged), so a slow store never piles threads up.
//! - **Only what was signed.** The snapshot is taken right after round V was published, from
//!   the tree that round signed, and carries the `merkle_root` V's timestamp carries; the
//!   encoder checks its own output is what readers accept (sorted keys, names matching keys).
//! - **Best effort, never a fault of the role.** A snapshot that fails (or a crash before it is
//!   written) is logged and not retried: it is an optimisation for readers, who fall back to an
//!   earlier one or to replaying change records. Nothing the role signs depends on it.

use std::collections::HashMap;

use tuf_merkle::{Digest, Tree};
use tuf_repo_format::LeafEntry;
use tuf_repo_format::leaf_snapshot::LeafSnapshot;

use super::Sequencer;
use crate::config::SnapshotMode;

/// What a leaf snapshot is made of, taken on the sequencer thread in O(1).
struct Taken {
    role: String,
    version: u64,
    root: Digest,
    tree: Tree,
    names: Option<HashMap<Digest, String>>,
}

impl Taken {
    /// The published file's bytes and the number of leaves.
    fn encode(self) -> Result<(Vec<u8>, usize), tuf_repo_format::leaf_snapshot::EncodeError> {
        let mut entries = Vec::with_capacity(self.tree.len());
        let names = self.names.as_ref();
        self.tree.for_each_leaf(|key, contents| {
            entries.push(LeafEntry {
                key: *key,
                contents,
                name: names.and_then(|n| n.get(key).cloned()),
            });
        });
        // The walk visits keys in order already; sorting a sorted run is one linear pass, and
        // makes the order the format requires not depend on the tree's walk.
        entries.sort_by_key(|e| e.key.0);
        let leaves = entries.len();
        let snapshot = LeafSnapshot {
            role: self.role,
            timestamp_version: self.version,
            merkle_root: self.root,
            entries,
        };
        Ok((snapshot.encode()?, leaves))
    }
}

impl Sequencer {
    /// After round `version` was published with tree root `root`: starts writing its leaf
    /// snapshot in the background when one is due.
    pub(super) fn maybe_leaf_snapshot(&mut self, version: u64, root: Digest) {
        let every = self.cfg.leaf_snapshot_every;
        if every == 0 || !version.is_multiple_of(every) || self.cfg.snapshot != SnapshotMode::Merkle
        {
            return;
        }
        if self
            .leaf_snapshot
            .as_ref()
            .is_some_and(|h| !h.is_finished())
        {
            tracing::warn!(
                role = self.role,
                version,
                "the previous leaf snapshot is still being written; skipping this one"
            );
            return;
        }
        let taken = Taken {
            role: self.role.clone(),
            version,
            root,
            tree: self.tree.tree.clone(),
            names: self.tree.names.clone(),
        };
        let publisher = self.publisher.clone();
        let role = self.role.clone();
        let runtime = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name(format!("leaf-snapshot-{role}"))
            .spawn(move || {
                let (bytes, leaves) = match taken.encode() {
                    Ok(encoded) => encoded,
                    Err(e) => {
                        tracing::error!(role, version, error = %e, "cannot encode the leaf snapshot");
                        return;
                    }
                };
                match runtime.block_on(publisher.publish_leaf_snapshot(version, &bytes)) {
                    Ok(()) => tracing::info!(
                        role,
                        version,
                        leaves,
                        bytes = bytes.len(),
                        "leaf snapshot published"
                    ),
                    Err(e) => {
                        tracing::error!(role, version, error = %e, "publishing the leaf snapshot failed")
                    }
                }
            });
        match spawned {
            Ok(handle) => self.leaf_snapshot = Some(handle),
            Err(e) => {
                tracing::error!(role = self.role, version, error = %e, "cannot start a leaf snapshot thread")
            }
        }
    }

    /// Waits for a leaf snapshot being written (at shutdown, before the runtime that publishes
    /// it goes away).
    pub(super) fn finish_leaf_snapshot(&mut self) {
        if let Some(handle) = self.leaf_snapshot.take()
            && handle.join().is_err()
        {
            tracing::error!(role = self.role, "the leaf snapshot thread panicked");
        }
    }
}
