//! A follower's work on every leaf of its role, done on a thread of its own: writing the
//! mirror's checkpoint, and copying the upstream's newest leaf snapshot. At 250,000 leaves
//! either takes seconds (sorting, compressing, syncing; fetching, decompressing, rebuilding the
//! tree), during which the follower goes on following.
//!
//! Properties kept:
//! - **Following is not held up.** The follower hands over an O(1) clone of the served tree
//!   (shared structure), or the pointer it fetched and the root it checked; this thread does
//!   the rest. At most one job runs per role: one that falls due while another runs is
//!   deferred (the follower asks again after its next poll), so a slow disk or upstream never
//!   piles threads up, and the two never compete for the same cores.
//! - **A checkpoint is what it was.** It is written by [`MirrorStore::save_checkpoint`] as
//!   before: the copied rounds synced, then the tree (atomic, checksummed by its gzip trailer),
//!   then `position.json` naming its version; a crash mid-way leaves the previous pair, which a
//!   restart re-verifies against the signed timestamp of its version as it always did. A clean
//!   stop waits for the job running, then writes the final checkpoint.
//! - **What the role's status says is true.** `mirror.checkpoint_writing` is set when a
//!   checkpoint starts and cleared by this thread when it is written (or failed), with
//!   `mirror.checkpoint_version` and `tuf_mirror_checkpoint_timestamp_version`: a served
//!   version past the one being written shows the follower advanced meanwhile.
//! - **Only a verified leaf snapshot is copied**: the file is the one the pointer names (length
//!   and SHA-256), and its tree recomputes the `merkle_root` signed for its version, which the
//!   follower took from a version it serves or re-checked against its root chain.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tuf_merkle::Digest;
use tuf_repo_format::leaf_snapshot::{self, LatestPointer, LeafSnapshot};
use tuf_repo_format::paths;

use super::store::MirrorStore;
use super::upstream::{Fetch, Upstream};
use crate::metrics::MirrorMetrics;
use crate::state::{RoleState, SignedVersion};

/// The largest leaf snapshot (decompressed) a mirror reads: 16 GiB, far above 50M leaves.
pub const MAX_SNAPSHOT_PAYLOAD: usize = 16 << 30;
/// The largest leaf snapshot file fetched.
pub const MAX_SNAPSHOT_FILE: u64 = 8 << 30;

/// Work on every leaf, handed to the thread.
pub enum Job {
    /// Write the checkpoint of this served version.
    Checkpoint(SignedVersion),
    /// Fetch, verify and copy the upstream's leaf snapshot of `version`.
    CopyLeafSnapshot {
        /// The snapshot's version.
        version: u64,
        /// The `merkle_root` signed for `version` (checked by the follower).
        signed_root: Digest,
        /// `leaf-snapshots/latest.json` as fetched, written as the mirror's once the file is
        /// copied.
        pointer_bytes: Vec<u8>,
        /// The same, parsed.
        pointer: LatestPointer,
        /// The pointer's entity tag (the follower sends it next time once the copy is done).
        etag: Option<String>,
    },
}

/// What a finished job was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A checkpoint.
    Checkpoint,
    /// A leaf snapshot copy; the pointer's entity tag.
    LeafSnapshot(Option<String>),
}

/// A finished job, collected by the follower.
#[derive(Debug)]
pub struct Outcome {
    /// What it was.
    pub kind: Kind,
    /// The version it was of.
    pub version: u64,
    /// Whether it was done (else why not, already logged).
    pub result: Result<(), Failed>,
}

/// Why a job was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// Why (logged already).
    pub message: String,
    /// Whether the same job may succeed later (an unreachable upstream, a disk error), as
    /// opposed to a leaf snapshot that does not verify: not fetched again until it changes.
    pub again: bool,
}

impl Failed {
    fn again(message: impl Into<String>) -> Self {
        Failed {
            message: message.into(),
            again: true,
        }
    }

    fn refused(message: impl Into<String>) -> Self {
        Failed {
            message: message.into(),
            again: false,
        }
    }
}

/// One role's background thread, at most one job at a time.
pub struct Background {
    role: String,
    store: MirrorStore,
    upstream: Arc<Upstream>,
    state: Arc<RoleState>,
    metrics: MirrorMetrics,
    running: Option<Running>,
}

/// The job running: what it is, its version, its thread.
type Running = (Kind, u64, JoinHandle<Result<(), Failed>>);

impl Background {
    /// Nothing running yet.
    pub fn new(
        role: &str,
        store: MirrorStore,
        upstream: Arc<Upstream>,
        state: Arc<RoleState>,
        metrics: MirrorMetrics,
    ) -> Self {
        Background {
            role: role.to_owned(),
            store,
            upstream,
            state,
            metrics,
            running: None,
        }
    }

    /// Whether a job is still running.
    pub fn busy(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|(_, _, h)| !h.is_finished())
    }

    /// The outcome of the last job if it finished (and was not collected yet).
    pub fn collect(&mut self) -> Option<Outcome> {
        if self.busy() {
            return None;
        }
        self.wait()
    }

    /// Waits for the job running, if any: its outcome.
    pub fn wait(&mut self) -> Option<Outcome> {
        let (kind, version, handle) = self.running.take()?;
        let result = handle.join().unwrap_or_else(|_| {
            tracing::error!(
                role = self.role,
                version,
                "the mirror's background thread panicked"
            );
            Err(Failed::again("the thread panicked"))
        });
        if kind == Kind::Checkpoint && result.is_err() {
            // A panicked thread did not get to say it stopped writing.
            self.set_writing(None);
        }
        Some(Outcome {
            kind,
            version,
            result,
        })
    }

    /// Whether no job is running or waiting to be collected (a new one can start).
    pub fn idle(&self) -> bool {
        self.running.is_none()
    }

    /// Starts `job` on a thread of its own; false when one runs or was not collected yet, or
    /// when no thread can be started (logged): the caller asks again later.
    pub fn start(&mut self, job: Job) -> bool {
        if self.running.is_some() {
            return false;
        }
        let (kind, version) = match &job {
            Job::Checkpoint(served) => (Kind::Checkpoint, served.version),
            Job::CopyLeafSnapshot { version, etag, .. } => {
                (Kind::LeafSnapshot(etag.clone()), *version)
            }
        };
        if kind == Kind::Checkpoint {
            self.set_writing(Some(version));
        }
        let work = Work {
            role: self.role.clone(),
            store: self.store.clone(),
            upstream: self.upstream.clone(),
            state: self.state.clone(),
            metrics: self.metrics.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("mirror-bg-{}", self.role))
            .spawn(move || work.run(job));
        match spawned {
            Ok(handle) => {
                self.running = Some((kind, version, handle));
                true
            }
            Err(e) => {
                tracing::error!(role = self.role, version, error = %e, "cannot start the mirror's background thread");
                self.set_writing(None);
                false
            }
        }
    }

    fn set_writing(&self, version: Option<u64>) {
        self.state.update_status(|s| {
            if let Some(m) = &mut s.mirror {
                m.checkpoint_writing = version;
            }
        });
    }
}

/// What the thread works with.
struct Work {
    role: String,
    store: MirrorStore,
    upstream: Arc<Upstream>,
    state: Arc<RoleState>,
    metrics: MirrorMetrics,
}

impl Work {
    fn run(self, job: Job) -> Result<(), Failed> {
        match job {
            Job::Checkpoint(served) => {
                let started = Instant::now();
                let written = write_checkpoint(&self.role, &self.store, &served);
                self.checkpoint_done(served.version, started.elapsed(), &written);
                written.map_err(Failed::again)
            }
            Job::CopyLeafSnapshot {
                version,
                signed_root,
                pointer_bytes,
                pointer,
                ..
            } => {
                let copied =
                    self.copy_leaf_snapshot(version, &signed_root, &pointer_bytes, &pointer);
                match &copied {
                    Ok(()) => {
                        tracing::info!(role = self.role, version, "leaf snapshot copied")
                    }
                    Err(e) => tracing::warn!(
                        role = self.role,
                        version,
                        error = e.message,
                        "the upstream's leaf snapshot was not copied"
                    ),
                }
                copied
            }
        }
    }

    fn checkpoint_done(&self, version: u64, took: Duration, written: &Result<(), String>) {
        match written {
            Ok(()) => {
                tracing::info!(
                    role = self.role,
                    version,
                    seconds = took.as_secs_f64(),
                    "checkpoint written"
                );
                self.metrics.checkpoint_seconds.observe(took);
                self.metrics
                    .checkpoint_version
                    .set(i64::try_from(version).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::error!(
                role = self.role,
                version,
                error = e,
                "cannot write the mirror's checkpoint"
            ),
        }
        self.state.update_status(|s| {
            if let Some(m) = &mut s.mirror {
                m.checkpoint_writing = None;
                if written.is_ok() {
                    m.checkpoint_version = Some(version);
                }
            }
        });
    }

    fn copy_leaf_snapshot(
        &self,
        v: u64,
        signed_root: &Digest,
        pointer_bytes: &[u8],
        pointer: &LatestPointer,
    ) -> Result<(), Failed> {
        let file = paths::leaf_snapshot(v);
        let bytes = match self
            .upstream
            .get(&format!("{}/{file}", self.role), MAX_SNAPSHOT_FILE)
        {
            Ok(Fetch::Found(b, _)) => b,
            Ok(_) => return Err(Failed::again(format!("{file} is missing upstream"))),
            Err(e) => return Err(Failed::again(e.to_string())),
        };
        if !pointer.matches(&bytes) {
            return Err(Failed::refused(format!(
                "{file} is not the file latest.json names (length or SHA-256)"
            )));
        }
        leaf_snapshot::decode(&bytes, MAX_SNAPSHOT_PAYLOAD)
            .map_err(|e| Failed::refused(format!("{file}: {e}")))?
            .verify(&self.role, v, signed_root)
            .map_err(|e| Failed::refused(format!("{file} does not verify: {e}")))?;
        self.store
            .put_immutable(&file, &bytes)
            .and_then(|()| {
                self.store
                    .put_head(paths::LEAF_SNAPSHOT_LATEST, pointer_bytes)
            })
            .map_err(|e| Failed::again(e.to_string()))
    }
}

/// Writes the checkpoint of `served`: its leaves as a leaf snapshot (the mirror keeps no
/// names), after the copied rounds up to it are durable (a restart re-verifies the checkpoint
/// against them).
pub fn write_checkpoint(
    role: &str,
    store: &MirrorStore,
    served: &SignedVersion,
) -> Result<(), String> {
    let bytes = to_snapshot(role, served)
        .encode()
        .map_err(|e| e.to_string())?;
    store.sync().map_err(|e| e.to_string())?;
    store
        .save_checkpoint(served.version, &bytes)
        .map_err(|e| e.to_string())
}

/// The served tree as a leaf snapshot.
fn to_snapshot(role: &str, served: &SignedVersion) -> LeafSnapshot {
    let mut entries = Vec::with_capacity(served.tree.len());
    served.tree.for_each_leaf(|key, contents| {
        entries.push(tuf_repo_format::LeafEntry {
            key: *key,
            contents,
            name: None,
        });
    });
    // The walk visits keys in order already; sorting a sorted run is one linear pass.
    entries.sort_by_key(|e| e.key.0);
    LeafSnapshot {
        role: role.to_owned(),
        timestamp_version: served.version,
        merkle_root: served.root,
        entries,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::SnapshotMode;
    use crate::metrics::Metrics;
    use crate::state::MirrorStatus;
    use tuf_client::HttpTransport;
    use tuf_merkle::{LeafContents, Tree, key_of};

    /// A served version of `n` leaves.
    fn served(version: u64, n: u64) -> SignedVersion {
        let tree = Tree::from_leaves((0..n).map(|i| {
            let name = format!("le/af/leaf{i}");
            (
                key_of(&name),
                LeafContents::for_bytes(1, name.as_bytes()).unwrap(),
            )
        }))
        .unwrap();
        SignedVersion {
            version,
            root: tree.root(),
            tree,
        }
    }

    #[test]
    fn one_checkpoint_at_a_time_written_while_the_caller_goes_on() {
        let d = tempfile::tempdir().unwrap();
        let store = MirrorStore::open(d.path(), "r").unwrap();
        let state = Arc::new(RoleState::new("r", SnapshotMode::Merkle, 4));
        state.update_status(|s| s.mirror = Some(MirrorStatus::default()));
        // Never asked: checkpoints read nothing upstream.
        let upstream = Arc::new(Upstream::Http(HttpTransport::new("http://127.0.0.1:9")));
        let metrics = Metrics::new();
        let mut bg = Background::new(
            "r",
            store.clone(),
            upstream,
            state.clone(),
            metrics.mirror("r"),
        );
        // 20,000 leaves: sorting, encoding and compressing them takes far longer than the
        // checks below.
        let big = served(7, 20_000);
        assert!(bg.idle());
        assert!(bg.start(Job::Checkpoint(big.clone())));
        assert!(
            bg.busy(),
            "start returned only once the checkpoint was written"
        );
        let status = state.status().mirror.unwrap();
        assert_eq!(status.checkpoint_writing, Some(7));
        assert_eq!(status.checkpoint_version, None);
        // A second job waits for the first (the caller asks again later).
        assert!(!bg.start(Job::Checkpoint(served(8, 3))));
        assert!(bg.collect().is_none());
        let done = bg.wait().unwrap();
        assert_eq!(
            (done.kind, done.version, done.result),
            (Kind::Checkpoint, 7, Ok(()))
        );
        let status = state.status().mirror.unwrap();
        assert_eq!(status.checkpoint_writing, None);
        assert_eq!(status.checkpoint_version, Some(7));
        assert!(
            metrics
                .render()
                .contains("tuf_mirror_checkpoint_timestamp_version{role=\"r\"} 7\n")
        );
        // What a restart reads: the tree of version 7, whose root is the served one.
        let (v, bytes) = store.checkpoint().unwrap().unwrap();
        assert_eq!(v, 7);
        let tree = leaf_snapshot::decode(&bytes, MAX_SNAPSHOT_PAYLOAD)
            .unwrap()
            .verify("r", 7, &big.root)
            .unwrap();
        assert_eq!(tree.len(), 20_000);
        assert!(bg.idle());
    }
}
