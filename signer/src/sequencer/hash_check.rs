//! The background check of a tree rebuilt from a base's stored hashes.
//!
//! A version 2 base (`storage::checkpoint`) stores the tree's branch hashes with its leaves, so a
//! start builds the tree without hashing (`Tree::from_stored`) and can serve at once. The
//! stored hashes are then rehashed from the leaves on another thread (`Tree::check_hashes`, on
//! an O(1) clone of the base's tree taken before the deltas and the log were applied, and
//! started after them so as not to compete with them for the cores), while the sequencer moves
//! on.
//!
//! Properties kept: no round is signed over hashes that have not been checked. Recovery still
//! compares the root with every stored and logged round, before serving (a base from another
//! state, or a damaged hash, fails there); what the check adds is that those roots are the
//! leaves' own (a leaf changed under intact hashes fails here). Signing a round waits for the
//! check: a start with something to sign (changes replayed from the log, a re-sign due) waits
//! for it before it listens, a clean start listens at once and its first round waits. A
//! mismatch refuses the start if it is found there, or faults the role afterwards
//! (`tree_hash_mismatch` on `/readyz`, the status and the signing-error metric): it refuses
//! writes and signs nothing until an operator restores the state directory.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tuf_merkle::Tree;
use tuf_merkle::tree::StoredHashesError;

/// A check running on its own thread.
pub(super) struct HashCheck {
    handle: JoinHandle<(Result<(), StoredHashesError>, Duration)>,
    leaves: usize,
}

/// What a finished check found.
pub(super) enum Checked {
    /// Every stored hash is the leaves' own.
    Sound,
    /// Not: what the check found (or that its thread died), for the log.
    Failed(String),
}

impl HashCheck {
    /// Starts checking `tree` (a clone; the caller's tree moves on).
    pub(super) fn start(role: &str, tree: Tree) -> std::io::Result<Self> {
        let leaves = tree.len();
        let handle = std::thread::Builder::new()
            .name(format!("hash-check-{role}"))
            .spawn(move || {
                let started = Instant::now();
                let result = tree.check_hashes();
                // Frees the base's version here, not on the sequencer thread.
                drop(tree);
                (result, started.elapsed())
            })?;
        Ok(HashCheck { handle, leaves })
    }

    /// Whether the check is done (so that [`HashCheck::finish`] does not block).
    pub(super) fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the check and logs what it found.
    pub(super) fn finish(self, role: &str) -> Checked {
        match self.handle.join() {
            Ok((Ok(()), took)) => {
                tracing::info!(
                    role,
                    leaves = self.leaves,
                    millis = took.as_millis() as u64,
                    "checked the tree's stored hashes against its leaves"
                );
                Checked::Sound
            }
            Ok((Err(e), _)) => Checked::Failed(format!(
                "the checkpoint's stored tree hashes are not its leaves' hashes: {e}; restore the \
                 state directory from a backup"
            )),
            Err(_) => Checked::Failed("the thread checking the tree's hashes panicked".into()),
        }
    }
}
