//! A role's log in a bucket: one object per record, `log/{seq:020}.json` under the role's state
//! prefix, holding the same JSON as a record of the file log ([`super::wal`]).
//!
//! Properties kept:
//! - **Durable before acknowledged.** [`BucketLog::append`] returns only once the PUT of the
//!   record's object succeeded; one PUT per group commit.
//! - **No fork.** Every record is created with `If-None-Match: *` at the next sequence number, so
//!   of two nodes that both believe they lead, only one can commit sequence `n`. Losing that race
//!   ([`BucketLogError::Fenced`]) ends this node's leadership at once. Objects are never deleted
//!   by the signer, so a taken sequence number stays taken (a checkpoint makes old records
//!   unnecessary for recovery, not free for reuse).
//! - **Retries resolve themselves.** A PUT that failed or timed out is retried with the same
//!   bytes; a `412` on a retry is checked against the object's bytes, so a first attempt that
//!   landed is recognised as this node's own write, not as a lost race.
//! - **Leadership checked before every write**: nothing is attempted once the lease is no
//!   longer held ([`LeaseGuard::held`]); fencing stays the guarantee.
//! - Opening reads the records after the checkpoint in order and refuses a gap or a record whose
//!   sequence number is not its object's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::bucket::{Bucket, BucketError, Condition, ObjectMeta};
use crate::lease::LeaseGuard;
use crate::storage::wal::{MAX_RECORD_BYTES, Record};

/// How long an append keeps retrying a bucket that fails or times out before it gives up
/// (the outcome of the last attempt then unknown).
pub const RETRY_FOR: Duration = Duration::from_secs(30);

/// Log objects fetched at once when a role is opened.
const FETCH_CONCURRENCY: usize = 32;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Why the log in the bucket cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BucketLogError {
    /// Another node committed this sequence number: it leads now, this node stops writing.
    #[error(
        "log sequence {seq} was committed by another node: this node no longer leads the role and \
         stops writing it"
    )]
    Fenced {
        /// The sequence number taken.
        seq: u64,
    },
    /// The lease ran out or was lost before the write was attempted: nothing was written.
    #[error("this node no longer holds the role's lease; nothing was written")]
    LeaseLost,
    /// Every attempt for [`RETRY_FOR`] failed; the last one's outcome is unknown.
    #[error(
        "storing log record {seq} failed for {secs} s ({source}); its outcome is unknown, so the \
         role stops writing until it is recovered from the bucket"
    )]
    Unavailable {
        /// The record's sequence number.
        seq: u64,
        /// How long it was retried.
        secs: u64,
        /// The last failure.
        source: BucketError,
    },
    /// Reading or listing the log failed.
    #[error("reading the log: {0}")]
    Read(BucketError),
    /// A record is missing between the checkpoint and the last record.
    #[error(
        "the log in the bucket has no record {expected} but has {found}: acknowledged changes are \
         missing; restore the object from a bucket version or a backup"
    )]
    Gap {
        /// The sequence number missing.
        expected: u64,
        /// The next one found.
        found: u64,
    },
    /// A record object that does not parse or does not match its name.
    #[error("log object {key} is damaged ({reason}); restore it from a bucket version or a backup")]
    Damaged {
        /// Its key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A record over the log's record bound: refused before anything was written.
    #[error("a log record of {bytes} bytes is over the limit of {max} bytes; nothing was written")]
    RecordTooLarge {
        /// Its size.
        bytes: usize,
        /// The bound.
        max: usize,
    },
    /// Sequence numbers ran out (only a damaged log gets there).
    #[error("log sequence numbers are exhausted at {0}; the log is damaged")]
    SequenceExhausted(u64),
}

impl BucketLogError {
    /// Whether nothing was written, so that the log is as before and may take the next append.
    pub fn log_intact(&self) -> bool {
        matches!(self, BucketLogError::RecordTooLarge { .. })
    }

    /// Whether this node must stop leading the role (another node leads, or may).
    pub fn ends_leadership(&self) -> bool {
        matches!(
            self,
            BucketLogError::Fenced { .. } | BucketLogError::LeaseLost
        )
    }
}

/// The object key of record `seq`.
pub fn record_key(seq: u64) -> String {
    format!("log/{seq:020}.json")
}

fn seq_of(key: &str) -> Option<u64> {
    let digits = key.strip_prefix("log/")?.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A role's log in a bucket, open for appends by the node that leads the role.
#[derive(Debug)]
pub struct BucketLog {
    bucket: Bucket,
    next_seq: u64,
    guard: Arc<LeaseGuard>,
}

impl BucketLog {
    /// Reads the records after `checkpoint_seq` from the role's state prefix `bucket`, in order,
    /// and opens the log for appends after the last one.
    pub async fn open(
        bucket: Bucket,
        guard: Arc<LeaseGuard>,
        checkpoint_seq: u64,
    ) -> Result<(BucketLog, Vec<Record>), BucketLogError> {
        let first = checkpoint_seq
            .checked_add(1)
            .ok_or(BucketLogError::SequenceExhausted(checkpoint_seq))?;
        let keys = bucket
            .list("log/", Some(&record_key(checkpoint_seq)))
            .await
            .map_err(BucketLogError::Read)?;
        // The keys after the checkpoint, which must follow on from it without a gap.
        let mut wanted = Vec::new();
        let mut expected = first;
        for key in keys {
            let Some(seq) = seq_of(&key) else {
                tracing::warn!(
                    key,
                    "ignoring an object in the log prefix that is not a record"
                );
                continue;
            };
            if seq < expected {
                continue;
            }
            if seq != expected {
                return Err(BucketLogError::Gap {
                    expected,
                    found: seq,
                });
            }
            wanted.push((seq, key));
            expected = seq
                .checked_add(1)
                .ok_or(BucketLogError::SequenceExhausted(seq))?;
        }
        // Fetched several at a time, in order: recovery time is what a failover waits for.
        let mut fetches = futures_util::stream::iter(wanted.into_iter().map(|(seq, key)| {
            let bucket = &bucket;
            async move {
                let object = bucket.get(&key, MAX_RECORD_BYTES as u64 + 1).await;
                (seq, key, object)
            }
        }))
        .buffered(FETCH_CONCURRENCY);
        let mut records = Vec::new();
        while let Some((seq, key, object)) = fetches.next().await {
            let object = object
                .map_err(BucketLogError::Read)?
                .ok_or(BucketLogError::Gap {
                    expected: seq,
                    found: seq + 1,
                })?;
            let record: Record =
                serde_json::from_slice(&object.bytes).map_err(|e| BucketLogError::Damaged {
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
            if record.seq != seq {
                return Err(BucketLogError::Damaged {
                    key,
                    reason: format!("it holds record {}", record.seq),
                });
            }
            records.push(record);
        }
        drop(fetches);
        Ok((
            BucketLog {
                bucket,
                next_seq: expected,
                guard,
            },
            records,
        ))
    }

    /// The last sequence number written (or covered by the checkpoint it was opened at).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Stores `payload` (a record's JSON with sequence number [`BucketLog::next_seq`]) as the next
    /// record; see the module's properties.
    pub async fn append(&mut self, payload: Vec<u8>) -> Result<u64, BucketLogError> {
        if payload.len() > MAX_RECORD_BYTES {
            return Err(BucketLogError::RecordTooLarge {
                bytes: payload.len(),
                max: MAX_RECORD_BYTES,
            });
        }
        let seq = self.next_seq;
        let after = seq
            .checked_add(1)
            .ok_or(BucketLogError::SequenceExhausted(seq))?;
        let key = record_key(seq);
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            if !self.guard.held() {
                return Err(BucketLogError::LeaseLost);
            }
            let put = self
                .bucket
                .put(
                    &key,
                    payload.clone(),
                    ObjectMeta {
                        content_type: "application/json",
                        cache_control: Some("no-store"),
                    },
                    Condition::IfAbsent,
                )
                .await;
            let failure = match put {
                Ok(_) => {
                    self.next_seq = after;
                    return Ok(seq);
                }
                Err(BucketError::PreconditionFailed { .. }) => {
                    match self.bucket.get(&key, MAX_RECORD_BYTES as u64 + 1).await {
                        // An earlier attempt of this append landed.
                        Ok(Some(object)) if object.bytes == payload => {
                            self.next_seq = after;
                            return Ok(seq);
                        }
                        Ok(_) => {
                            self.guard.lose();
                            return Err(BucketLogError::Fenced { seq });
                        }
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            if started.elapsed() >= RETRY_FOR {
                return Err(BucketLogError::Unavailable {
                    seq,
                    secs: RETRY_FOR.as_secs(),
                    source: failure,
                });
            }
            tracing::warn!(seq, error = %failure, "storing a log record failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_sort_by_sequence_and_parse_back() {
        assert_eq!(record_key(7), "log/00000000000000000007.json");
        assert!(record_key(9) < record_key(10));
        assert_eq!(seq_of(&record_key(u64::MAX)), Some(u64::MAX));
        assert_eq!(seq_of("log/7.json"), None);
        assert_eq!(seq_of("log/0000000000000000000x.json"), None);
        assert_eq!(seq_of("checkpoints/00000000000000000007.bin"), None);
    }
}

#[cfg(test)]
mod moto_tests {
    use super::*;
    use crate::bucket::testing::moto_bucket;
    use crate::lease::Lease;
    use tuf_keys::test_support::MotoKms;

    fn record(seq: u64) -> Vec<u8> {
        format!(r#"{{"seq":{seq},"changes":[]}}"#).into_bytes()
    }

    #[tokio::test]
    async fn only_one_node_commits_a_sequence_number() {
        let Some(moto) = MotoKms::start_or_skip("only_one_node_commits_a_sequence_number") else {
            return;
        };
        let b = moto_bucket(&moto, "log-test", "t").await.under("state/r");
        let d = Duration::from_secs(60);
        let a = Lease::new(b.clone(), "a".into(), "http://a".into(), d);
        let a = a.try_take().await.unwrap().unwrap();
        let (mut log_a, records) = BucketLog::open(b.clone(), a.guard.clone(), 0)
            .await
            .unwrap();
        assert!(records.is_empty());
        assert_eq!(log_a.append(record(1)).await.unwrap(), 1);
        assert_eq!(log_a.append(record(2)).await.unwrap(), 2);

        // Another node (with a guard of its own, as after taking the lease over) opens the log,
        // sees both records and fences at 3.
        let other = Lease::new(b.under("other"), "b".into(), "http://b".into(), d);
        let other = other.try_take().await.unwrap().unwrap();
        let (mut log_b, records) = BucketLog::open(b.clone(), other.guard.clone(), 0)
            .await
            .unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(log_b.append(record(3)).await.unwrap(), 3);

        // The former leader's next write loses: fenced, and its guard is gone.
        let mut different = record(3);
        different.insert(1, b' ');
        match log_a.append(different).await {
            Err(BucketLogError::Fenced { seq: 3 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(!a.guard.held());
        assert!(matches!(
            log_a.append(record(3)).await,
            Err(BucketLogError::LeaseLost)
        ));

        // A write whose first attempt landed (its answer lost) is recognised as this node's.
        b.put(
            &record_key(4),
            record(4),
            ObjectMeta {
                content_type: "application/json",
                cache_control: None,
            },
            Condition::IfAbsent,
        )
        .await
        .unwrap();
        assert_eq!(log_b.append(record(4)).await.unwrap(), 4);
        assert_eq!(log_b.last_seq(), 4);

        // Opening from a checkpoint skips what it covers; a gap is refused.
        let (_, records) = BucketLog::open(b.clone(), other.guard.clone(), 2)
            .await
            .unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
        b.put(
            &record_key(6),
            record(6),
            ObjectMeta {
                content_type: "application/json",
                cache_control: None,
            },
            Condition::IfAbsent,
        )
        .await
        .unwrap();
        match BucketLog::open(b.clone(), other.guard.clone(), 0).await {
            Err(BucketLogError::Gap {
                expected: 5,
                found: 6,
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
