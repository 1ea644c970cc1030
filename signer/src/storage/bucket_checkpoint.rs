//! Checkpoints in a bucket: `checkpoints/{seq:020}.round.json` (the round stored with it) and
//! `checkpoints/{seq:020}.bin` (the leaves, encoded as [`super::checkpoint`] encodes them),
//! under the role's state prefix.
//!
//! Properties kept: a checkpoint is a pair of new immutable objects, the round first, so the
//! `.bin` that marks it complete is only there once both are; opening takes the newest complete
//! one, so a crash between the two leaves the previous checkpoint in force; the cost of a
//! checkpoint is the leaves once, never the log (which stays as it is: its objects are never
//! deleted by the signer).

use std::path::Path;

use crate::bucket::{Bucket, BucketError, Condition, ObjectMeta};
use crate::lease::LeaseGuard;
use crate::round::Round;
use crate::storage::checkpoint::{Checkpoint, CheckpointError};

/// The largest stored round read back (a classic role's round holds its `targets.json`).
const MAX_ROUND_BYTES: u64 = 512 * 1024 * 1024;
/// The largest checkpoint read back.
const MAX_CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024 * 1024;

fn leaves_key(seq: u64) -> String {
    format!("checkpoints/{seq:020}.bin")
}

fn round_key(seq: u64) -> String {
    format!("checkpoints/{seq:020}.round.json")
}

fn seq_of(key: &str) -> Option<u64> {
    let digits = key.strip_prefix("checkpoints/")?.strip_suffix(".bin")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The newest complete checkpoint in the role's state prefix and its round (an empty
/// checkpoint at sequence 0 if there is none).
pub async fn load(bucket: &Bucket) -> Result<(Checkpoint, Option<Round>), CheckpointError> {
    let keys = bucket
        .list("checkpoints/", None)
        .await
        .map_err(CheckpointError::Bucket)?;
    let Some(seq) = keys.iter().filter_map(|k| seq_of(k)).max() else {
        return Ok((Checkpoint::default(), None));
    };
    let key = leaves_key(seq);
    let object = bucket
        .get(&key, MAX_CHECKPOINT_BYTES)
        .await
        .map_err(CheckpointError::Bucket)?
        .ok_or_else(|| CheckpointError::Damaged {
            path: key.clone().into(),
            reason: "listed but not found".into(),
        })?;
    let checkpoint = Checkpoint::decode(&object.bytes, Path::new(&key))?;
    if checkpoint.seq != seq {
        return Err(CheckpointError::Damaged {
            path: key.into(),
            reason: format!("it holds sequence {}", checkpoint.seq),
        });
    }
    let round_key = round_key(seq);
    let round =
        match bucket
            .get(&round_key, MAX_ROUND_BYTES)
            .await
            .map_err(CheckpointError::Bucket)?
        {
            None => None,
            Some(object) => Some(serde_json::from_slice(&object.bytes).map_err(|e| {
                CheckpointError::BadRound {
                    path: round_key.into(),
                    message: e.to_string(),
                }
            })?),
        };
    Ok((checkpoint, round))
}

/// Stores a checkpoint (see the module's properties); refuses once this node no longer leads.
/// Returns the bytes of leaves stored.
pub async fn store(
    bucket: &Bucket,
    guard: &LeaseGuard,
    checkpoint: &Checkpoint,
    round: Option<&Round>,
) -> Result<u64, CheckpointError> {
    if let Some(round) = round {
        let bytes = serde_json::to_vec(round).map_err(|e| CheckpointError::BadRound {
            path: round_key(checkpoint.seq).into(),
            message: e.to_string(),
        })?;
        put_once(bucket, guard, &round_key(checkpoint.seq), bytes).await?;
    }
    let bytes = checkpoint.encode()?;
    let len = bytes.len() as u64;
    put_once(bucket, guard, &leaves_key(checkpoint.seq), bytes).await?;
    Ok(len)
}

/// Stores the checkpoint an import builds (at sequence 0, before any node leads the role), only
/// if the role has none.
pub async fn store_initial(
    bucket: &Bucket,
    checkpoint: &Checkpoint,
) -> Result<(), CheckpointError> {
    let meta = ObjectMeta {
        content_type: "application/octet-stream",
        cache_control: Some("no-store"),
    };
    bucket
        .put(
            &leaves_key(checkpoint.seq),
            checkpoint.encode()?,
            meta,
            Condition::IfAbsent,
        )
        .await
        .map_err(CheckpointError::Bucket)?;
    Ok(())
}

/// Creates `key` with `bytes`, or finds it already holding them.
async fn put_once(
    bucket: &Bucket,
    guard: &LeaseGuard,
    key: &str,
    bytes: Vec<u8>,
) -> Result<(), CheckpointError> {
    if !guard.held() {
        return Err(CheckpointError::NotLeader);
    }
    let meta = ObjectMeta {
        content_type: "application/octet-stream",
        cache_control: Some("no-store"),
    };
    match bucket
        .put(key, bytes.clone(), meta, Condition::IfAbsent)
        .await
    {
        Ok(_) => Ok(()),
        Err(BucketError::PreconditionFailed { .. }) => {
            let existing = bucket
                .get(key, bytes.len() as u64 + 1)
                .await
                .map_err(CheckpointError::Bucket)?;
            if existing.is_some_and(|o| o.bytes == bytes) {
                Ok(())
            } else {
                Err(CheckpointError::Damaged {
                    path: key.into(),
                    reason: "another node stored a different checkpoint at this sequence".into(),
                })
            }
        }
        Err(e) => Err(CheckpointError::Bucket(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::testing::moto_bucket;
    use crate::lease::Lease;
    use std::time::Duration;
    use tuf_keys::test_support::MotoKms;
    use tuf_merkle::{LeafContents, key_of};

    fn checkpoint(seq: u64, names: &[&str]) -> Checkpoint {
        Checkpoint {
            seq,
            timestamp_version: seq,
            entries: names
                .iter()
                .map(|n| crate::storage::checkpoint::Entry {
                    key: key_of(n),
                    contents: LeafContents::Deleted { version: 1 },
                    name: Some((*n).to_owned()),
                })
                .collect(),
            hashes: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_newest_complete_checkpoint_is_loaded() {
        let Some(moto) = MotoKms::start_or_skip("the_newest_complete_checkpoint_is_loaded") else {
            return;
        };
        let b = moto_bucket(&moto, "checkpoint-test", "t")
            .await
            .under("state/r");
        assert_eq!(load(&b).await.unwrap(), (Checkpoint::default(), None));
        let lease = Lease::new(
            b.clone(),
            "a".into(),
            "http://a".into(),
            Duration::from_secs(60),
        );
        let taken = lease.try_take().await.unwrap().unwrap();
        let five = checkpoint(5, &["a"]);
        store(&b, &taken.guard, &five, None).await.unwrap();
        // Storing the same checkpoint again (a retry) is fine; another one at 5 is not.
        store(&b, &taken.guard, &five, None).await.unwrap();
        assert!(
            store(&b, &taken.guard, &checkpoint(5, &["b"]), None)
                .await
                .is_err()
        );
        let nine = checkpoint(9, &["a", "b"]);
        store(&b, &taken.guard, &nine, None).await.unwrap();
        assert_eq!(load(&b).await.unwrap(), (nine.clone(), None));
        // Half a checkpoint (its round without its leaves, as a crash leaves it) is not one.
        b.put(
            &round_key(12),
            b"{}".to_vec(),
            ObjectMeta {
                content_type: "application/json",
                cache_control: None,
            },
            Condition::IfAbsent,
        )
        .await
        .unwrap();
        assert_eq!(load(&b).await.unwrap().0, nine);
        // Not the leader any more: nothing is stored.
        taken.guard.lose();
        assert!(matches!(
            store(&b, &taken.guard, &checkpoint(20, &[]), None).await,
            Err(CheckpointError::NotLeader)
        ));
    }
}
