//! Running a role on one of several nodes that share a bucket: stand by, take the lease,
//! recover the role from the bucket and lead it, and stand by again when the lease is lost.
//!
//! ```text
//!  standby ──(lease free or expired: taken)──► recover from the bucket, fence ──► lead
//!     ▲                                                                           │
//!     └──────────(renewal refused or late, a lost race, an uncertain write)───────┘
//! ```
//!
//! A standby answers writes and proofs with `503 not_leader` and the leader's URL (from the
//! lease), serves published files from the bucket and its status; requests that reach its
//! queue get the same answer.
//!
//! Properties kept: a node writes a role only between taking its lease and losing it, and
//! recovers the role from the bucket each time it takes the lease (never from what it held
//! before), so a node that led once and lost the lease never writes from a stale state; the
//! first record it writes is a fence at the next log sequence number, which a former leader's
//! next write then finds taken. At shutdown the lease is released, so a standby takes over at
//! once instead of after the lease duration.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::bucket::Bucket;
use crate::lease::{Lease, is_released};
use crate::publish::Publisher;
use crate::sequencer::{Exit, Parts, Sequencer, Submission, SubmitError};
use crate::state::RoleState;
use crate::storage::StateStore;

/// How often a standby looks at the lease: a fifth of its duration, so that it takes over
/// within 1.2 durations of the leader's last renewal.
fn poll_interval(lease: &Lease) -> Duration {
    lease.duration() / 5
}

/// One role on a node that shares its bucket with others.
pub struct Leadership {
    /// The role's sequencer parts (its `store` is set at each takeover).
    pub parts: Parts,
    /// `{prefix}/state/{role}`.
    pub state_bucket: Bucket,
    /// The role's lease.
    pub lease: Arc<Lease>,
}

impl Leadership {
    /// Runs until `stop` turns true: stands by, leads when the lease is taken, stands by again
    /// when it is lost. Requests arrive on `rx` throughout.
    pub async fn run(self, mut rx: mpsc::Receiver<Submission>, stop: watch::Receiver<bool>) {
        let role = self.parts.role.clone();
        let state: Arc<RoleState> = self.parts.state.clone();
        let publisher: Arc<dyn Publisher> = self.parts.publisher.clone();
        let metrics = self.parts.metrics.clone();
        metrics.leading.set(0);
        loop {
            // Stand by.
            let taken = loop {
                if *stop.borrow() {
                    return;
                }
                match self.lease.try_take().await {
                    Ok(Some(taken)) => break taken,
                    Ok(None) => {
                        let leader = self
                            .lease
                            .holder()
                            .await
                            .filter(|h| !is_released(h))
                            .map(|h| h.url);
                        state.set_leadership(false, leader);
                    }
                    Err(e) => {
                        tracing::warn!(role, error = %e, "cannot read the role's lease; retrying");
                        state.set_leadership(false, None);
                    }
                }
                let mut stop = stop.clone();
                let wait = tokio::time::sleep(poll_interval(&self.lease));
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = &mut wait => break,
                        sub = rx.recv() => match sub {
                            Some(s) => { let _ = s.reply.send(Err(SubmitError::NotLeader)); }
                            None => return,
                        },
                    }
                }
            };
            tracing::info!(
                role,
                epoch = taken.epoch,
                "took the role's lease; recovering it from the bucket"
            );
            let guard = taken.guard.clone();
            let (keep_stop, keep_stop_rx) = watch::channel(false);
            let lease = self.lease.clone();
            let keeper = tokio::spawn(async move {
                let mut taken = taken;
                lease.keep(&mut taken, keep_stop_rx).await;
                taken
            });
            state.set_leadership(true, None);
            metrics.takeovers.inc();
            metrics.leading.set(1);
            let mut parts = self.parts.clone();
            parts.store = StateStore::Bucket {
                bucket: self.state_bucket.clone(),
                guard: guard.clone(),
                chain: Default::default(),
            };
            let led = async {
                // The repository is prepared (its timestamp.json's ETag read) by recovery, after
                // the fence.
                // The newest root chain (a reload may have changed it while standing by).
                let roots = self.parts.trust.borrow().roots.clone();
                publisher.publish_roots(&roots).await?;
                let seq = Sequencer::open(parts).await?;
                Ok::<_, crate::sequencer::RecoveryError>(seq)
            }
            .await;
            let exit = match led {
                Ok(seq) => {
                    tracing::info!(role, "leading the role");
                    seq.run(&mut rx, stop.clone()).await
                }
                Err(e) => {
                    tracing::error!(role, error = %e, "cannot recover the role from the bucket; giving the lease up");
                    guard.lose();
                    Exit::SteppedDown
                }
            };
            let _ = keep_stop.send(true);
            let taken = keeper.await.ok();
            state.set_leadership(false, None);
            metrics.leading.set(0);
            match exit {
                Exit::Shutdown => {
                    if let Some(taken) = taken
                        && guard.held()
                    {
                        self.lease.release(&taken).await;
                    }
                    return;
                }
                Exit::SteppedDown => {
                    tracing::warn!(role, "standing by");
                    guard.lose();
                }
            }
        }
    }
}
