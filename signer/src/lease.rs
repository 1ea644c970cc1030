//! Who leads a role when several signers share one bucket: a lease object, `lease.json` in the
//! role's state prefix, taken and renewed with conditional writes.
//!
//! ```text
//! {"holder": "node-a", "url": "http://10.0.0.5:8080", "epoch": 7, "renewed_unix_ms": 1764600000000}
//! ```
//!
//! - **Taking it.** A node creates the object (`If-None-Match: *`) when there is none, or
//!   replaces it (`If-Match: <ETag>`) once it has seen that same ETag, unchanged, for the whole
//!   lease duration by its own monotonic clock. No clocks are compared between nodes.
//! - **Keeping it.** The leader replaces it (`If-Match`) every third of the duration. It counts
//!   itself the leader only until the duration has passed since it *sent* its last successful
//!   renewal (less a margin): the renewal landed no earlier than it was sent, and another node
//!   waits a whole duration after first seeing it, so two nodes never both believe they lead,
//!   as long as their clocks run at about the same rate.
//! - **Losing it.** A renewal refused (`412`: another node took the lease) or not made in time
//!   ends leadership at once ([`LeaseGuard::lost`]).
//!
//! Properties kept: the lease is only an optimisation (one leader most of the time, and a
//! standby knows whom to send writers to). Correctness does not depend on it: every log record,
//! every `timestamps/V.timestamp.json` and `timestamp.json` is written conditionally (see
//! [`crate::storage::bucket_log`] and [`crate::publish`]), so a node that believes it leads after
//! it no longer does (paused, partitioned) cannot commit or publish anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, watch};

use crate::bucket::{Bucket, BucketError, Condition, ObjectMeta};

/// The lease object's key in the role's state prefix.
const LEASE_KEY: &str = "lease.json";

/// The largest lease object read.
const MAX_LEASE_BYTES: u64 = 64 * 1024;

/// What a lease object says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    /// The node's id (`[storage] node_id`).
    pub holder: String,
    /// Where writers reach it (`[storage] advertise_url`).
    pub url: String,
    /// One more than the previous holder's: each leadership has its own.
    pub epoch: u64,
    /// When it was last renewed, by the holder's clock (for people reading it; not used).
    pub renewed_unix_ms: u64,
}

/// Why the lease could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The bucket.
    #[error("lease: {0}")]
    Bucket(#[from] BucketError),
    /// The lease object is not one this signer writes.
    #[error(
        "lease: the object lease.json in the role's state prefix is not a lease ({0}); remove it \
         if nothing else uses that prefix"
    )]
    Malformed(String),
}

/// Whether this node leads a role now. Shared by the lease keeper, the role's log and its
/// publisher, which check it before every write.
#[derive(Debug)]
pub struct LeaseGuard {
    valid_until: std::sync::Mutex<Option<Instant>>,
    lost: AtomicBool,
    changed: watch::Sender<bool>,
}

impl LeaseGuard {
    fn new() -> Arc<Self> {
        Arc::new(LeaseGuard {
            valid_until: std::sync::Mutex::new(None),
            lost: AtomicBool::new(false),
            changed: watch::channel(false).0,
        })
    }

    /// Whether this node may still write as the leader: it holds the lease, its last renewal is
    /// recent enough, and it has not lost it.
    pub fn held(&self) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            return false;
        }
        let until = *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        until.is_some_and(|u| Instant::now() < u)
    }

    /// Ends leadership (a refused renewal, a lost race on a log record or a timestamp).
    pub fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
        self.changed.send_replace(true);
    }

    /// Resolves once leadership is lost (or its renewals ran out).
    pub async fn lost(&self) {
        let mut rx = self.changed.subscribe();
        loop {
            if !self.held() {
                return;
            }
            let until = *self
                .valid_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let sleep = until.map_or(Duration::ZERO, |u| {
                u.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                _ = rx.changed() => {}
                _ = tokio::time::sleep(sleep + Duration::from_millis(1)) => {}
            }
        }
    }

    fn renewed(&self, sent: Instant, duration: Duration) {
        // A tenth of the duration in hand for clocks that run at slightly different rates.
        let until = sent + duration.mul_f64(0.9);
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(until);
    }
}

/// One node's view of a role's lease.
#[derive(Debug)]
pub struct Lease {
    bucket: Bucket,
    node_id: String,
    url: String,
    duration: Duration,
    /// What was last seen: the object's ETag and contents, and since when (monotonic).
    seen: Mutex<Option<Seen>>,
}

#[derive(Debug, Clone)]
struct Seen {
    etag: String,
    holder: Holder,
    since: Instant,
}

/// A lease taken: the guard to check before writes, and the ETag to renew with.
#[derive(Debug)]
pub struct Taken {
    /// Shared with the log and the publisher.
    pub guard: Arc<LeaseGuard>,
    /// The epoch of this leadership.
    pub epoch: u64,
    etag: String,
}

impl Lease {
    /// The lease of the role whose state prefix is `bucket`, for this node.
    pub fn new(bucket: Bucket, node_id: String, url: String, duration: Duration) -> Self {
        Lease {
            bucket,
            node_id,
            url,
            duration,
            seen: Mutex::new(None),
        }
    }

    /// The lease duration.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The holder last seen (another node's, or this node's own), if any.
    pub async fn holder(&self) -> Option<Holder> {
        self.seen.lock().await.as_ref().map(|s| s.holder.clone())
    }

    /// Reads the lease once and takes it if it is free or has expired; `None` while another
    /// node holds it.
    pub async fn try_take(&self) -> Result<Option<Taken>, LeaseError> {
        let current = self.bucket.get(LEASE_KEY, MAX_LEASE_BYTES).await?;
        let mut seen = self.seen.lock().await;
        let (condition, epoch) = match current {
            None => (Condition::IfAbsent, 1),
            Some(object) => {
                let holder: Holder = serde_json::from_slice(&object.bytes)
                    .map_err(|e| LeaseError::Malformed(e.to_string()))?;
                let since = match seen.as_ref() {
                    Some(s) if s.etag == object.etag => s.since,
                    _ => Instant::now(),
                };
                *seen = Some(Seen {
                    etag: object.etag.clone(),
                    holder: holder.clone(),
                    since,
                });
                // Even this node's own lease (after a restart) is not taken early: its previous
                // process may still be writing. A released lease is free at once.
                if !is_released(&holder) && since.elapsed() < self.duration {
                    return Ok(None);
                }
                (
                    Condition::IfMatch(object.etag),
                    holder.epoch.saturating_add(1),
                )
            }
        };
        let holder = Holder {
            holder: self.node_id.clone(),
            url: self.url.clone(),
            epoch,
            renewed_unix_ms: unix_ms(),
        };
        let sent = Instant::now();
        match self.write(&holder, condition).await {
            Ok(etag) => {
                let guard = LeaseGuard::new();
                guard.renewed(sent, self.duration);
                *seen = Some(Seen {
                    etag: etag.clone(),
                    holder,
                    since: sent,
                });
                Ok(Some(Taken { guard, epoch, etag }))
            }
            // Another node was quicker.
            Err(BucketError::PreconditionFailed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps `taken` renewed until it is lost (a renewal refused, or none made in time) or
    /// `stop` turns true. The lease is then left to expire, or given up with [`Lease::release`].
    pub async fn keep(&self, taken: &mut Taken, mut stop: watch::Receiver<bool>) {
        let every = self.duration / 3;
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = taken.guard.lost() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let holder = Holder {
                holder: self.node_id.clone(),
                url: self.url.clone(),
                epoch: taken.epoch,
                renewed_unix_ms: unix_ms(),
            };
            let sent = Instant::now();
            match self
                .write(&holder, Condition::IfMatch(taken.etag.clone()))
                .await
            {
                Ok(etag) => {
                    taken.guard.renewed(sent, self.duration);
                    taken.etag = etag.clone();
                    *self.seen.lock().await = Some(Seen {
                        etag,
                        holder,
                        since: sent,
                    });
                }
                Err(BucketError::PreconditionFailed { .. }) => {
                    tracing::error!(
                        node = self.node_id,
                        epoch = taken.epoch,
                        "lost the lease: another node took it over; this node stops writing the role"
                    );
                    taken.guard.lose();
                    return;
                }
                Err(e) => {
                    // Retried at the next tick; the guard runs out by itself if none succeeds.
                    tracing::warn!(node = self.node_id, error = %e, "lease renewal failed; retrying");
                }
            }
        }
    }

    /// Gives the lease up at shutdown so a standby need not wait for it to expire: the object
    /// is replaced by one that expired long ago (its holder says so), if it is still ours.
    pub async fn release(&self, taken: &Taken) {
        taken.guard.lose();
        let holder = Holder {
            holder: String::new(),
            url: String::new(),
            epoch: taken.epoch,
            renewed_unix_ms: 0,
        };
        if let Err(e) = self
            .write(&holder, Condition::IfMatch(taken.etag.clone()))
            .await
        {
            tracing::warn!(node = self.node_id, error = %e, "could not release the lease; it expires by itself");
        }
    }

    async fn write(&self, holder: &Holder, condition: Condition) -> Result<String, BucketError> {
        let bytes = serde_json::to_vec(holder).unwrap_or_default();
        self.bucket
            .put(
                LEASE_KEY,
                bytes,
                ObjectMeta {
                    content_type: "application/json",
                    cache_control: Some("no-store"),
                },
                condition,
            )
            .await
    }
}

/// Whether a lease object was released (its holder empty): free to take at once.
pub fn is_released(holder: &Holder) -> bool {
    holder.holder.is_empty()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::testing::moto_bucket;
    use tuf_keys::test_support::MotoKms;

    #[tokio::test]
    async fn a_lease_is_taken_kept_lost_and_released() {
        let Some(moto) = MotoKms::start_or_skip("a_lease_is_taken_kept_lost_and_released") else {
            return;
        };
        let b = moto_bucket(&moto, "lease-test", "t").await.under("state/r");
        let d = Duration::from_millis(900);
        let a = Arc::new(Lease::new(b.clone(), "a".into(), "http://a".into(), d));
        let other = Lease::new(b.clone(), "b".into(), "http://b".into(), d);

        let mut taken = a.try_take().await.unwrap().expect("a free lease is taken");
        assert_eq!(taken.epoch, 1);
        assert!(taken.guard.held());
        assert_eq!(other.try_take().await.unwrap().map(|t| t.epoch), None);
        assert_eq!(other.holder().await.map(|h| h.url), Some("http://a".into()));

        // Kept: renewed every third of the duration, so the other node never sees it expire.
        let (stop, stop_rx) = watch::channel(false);
        let keeper = {
            let a = a.clone();
            let guard = taken.guard.clone();
            tokio::spawn(async move {
                a.keep(&mut taken, stop_rx).await;
                (taken, guard)
            })
        };
        let until = Instant::now() + d * 3;
        while Instant::now() < until {
            assert!(
                other.try_take().await.unwrap().is_none(),
                "taken while kept"
            );
            tokio::time::sleep(d / 5).await;
        }
        // Not renewed any more: the holder's own guard runs out before the other node may take
        // it, and then the other node takes it with the next epoch.
        stop.send(true).unwrap();
        let (mut taken, guard) = keeper.await.unwrap();
        tokio::time::sleep(d).await;
        assert!(!guard.held(), "the guard outlived the lease");
        let theirs = loop {
            if let Some(t) = other.try_take().await.unwrap() {
                break t;
            }
            tokio::time::sleep(d / 5).await;
        };
        assert_eq!(theirs.epoch, 2);
        // The former holder's next renewal finds the lease taken: lost at once.
        let (_stop, stop_rx) = watch::channel(false);
        guard.renewed(Instant::now(), d * 10);
        taken.guard = guard.clone();
        a.keep(&mut taken, stop_rx).await;
        assert!(!guard.held());

        // Released at shutdown: free at once, without waiting for it to expire.
        other.release(&theirs).await;
        let again = a
            .try_take()
            .await
            .unwrap()
            .expect("a released lease is free");
        assert_eq!(again.epoch, 3);
    }
}
