//! Checkpoints in a bucket, under the role's state prefix, as in the data directory a **base**
//! and a chain of **deltas** after it ([`super::checkpoint`]'s module documentation; the same
//! encodings, the same rule for when a base is due: [`delta_fits`]):
//!
//! - `checkpoints/{seq:020}.round.json`: the round stored with the checkpoint at `seq`;
//! - `checkpoints/{seq:020}.bin`: a base (every leaf, encoded as [`Checkpoint::encode`]);
//! - `checkpoints/{seq:020}-{base:020}-{prev:020}-{prev_crc:08x}-{crc:08x}.delta`: a delta
//!   ([`Delta::encode`]) at `seq` after the checkpoint at `prev` (the base at `base`, or a delta
//!   of its chain) whose CRC-32 (an object's last four bytes) is `prev_crc`; `crc` is the
//!   delta's own. The name carries the links, so the chain is known from a listing alone.
//!
//! There is no head object (an object cannot be replaced under the create-only condition the
//! store writes with): opening takes the newest complete base, then, of the deltas that name
//! it, the chain that reaches the highest sequence number, each link matching its predecessor's
//! sequence number and checksum (of two that reach as far, the shorter, then the first by name).
//! A delta that does not chain (its predecessor absent or of another checksum, or another
//! base) is ignored: its changes are in the log, which the signer never deletes in a bucket.
//!
//! Properties kept:
//! - **Complete or absent.** Every object is new and immutable, created with `If-None-Match: *`
//!   (a retry finding its own bytes is fine); the round is stored before the base or delta that
//!   marks the checkpoint complete, so a crash between the two leaves the previous checkpoint in
//!   force. Nothing is replaced or deleted.
//! - **A chained delta is read or refused, never skipped.** A delta on the chosen chain that is
//!   missing, whose bytes do not carry the checksum its name gives (truncated, damaged), whose
//!   own checksum fails, or whose header names another base, predecessor or sequence number,
//!   is refused with an error naming the object.
//! - **Fencing as for the log.** Every PUT is attempted only while this node holds the role's
//!   lease ([`LeaseGuard::held`]). A deposed leader that has not yet seen its lease lapse may
//!   still add a delta (to the chain it knows, so a branch beside the new leader's), but cannot
//!   change what a chain means: a leader applies only records whose create-only PUT in the log
//!   succeeded, and the log cannot fork, so every checkpoint, whoever wrote it, holds exactly the
//!   leaves of the log's records up to its sequence number. Whichever chain the loader follows,
//!   it and the log after it give the same leaves; the new leader extends the chain it read,
//!   which therefore soon reaches further than a deposed leader's branch (whose records stop
//!   where the new leader's log begins). A new leader starts from the chain it loads, never
//!   from what an earlier term of this node knew.
//! - **Cost follows the changes.** A checkpoint stores the leaves that changed since the
//!   previous one, except when the chain would pass a quarter of the base's bytes or
//!   [`MAX_DELTAS`](super::checkpoint::MAX_DELTAS) deltas (or no round is stored yet): then a
//!   new base of every leaf. Recovery reads the base and at most a quarter more, then the log
//!   after the chain (never the log before it).

use std::path::Path;

use crate::bucket::{Bucket, BucketError, Condition, ObjectMeta};
use crate::lease::LeaseGuard;
use crate::round::Round;
use crate::storage::checkpoint::{Checkpoint, CheckpointError, Delta, Entry, delta_fits};

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
    decimal(digits, 20)
}

fn decimal(digits: &str, len: usize) -> Option<u64> {
    (digits.len() == len && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn hex32(digits: &str) -> Option<u32> {
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(digits, 16).ok())
        .flatten()
}

/// A delta as its object's name describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeltaName {
    seq: u64,
    base_seq: u64,
    prev_seq: u64,
    prev_crc: u32,
    crc: u32,
}

impl DeltaName {
    fn key(&self) -> String {
        format!(
            "checkpoints/{:020}-{:020}-{:020}-{:08x}-{:08x}.delta",
            self.seq, self.base_seq, self.prev_seq, self.prev_crc, self.crc
        )
    }

    fn parse(key: &str) -> Option<Self> {
        let stem = key.strip_prefix("checkpoints/")?.strip_suffix(".delta")?;
        let mut parts = stem.split('-');
        let name = DeltaName {
            seq: decimal(parts.next()?, 20)?,
            base_seq: decimal(parts.next()?, 20)?,
            prev_seq: decimal(parts.next()?, 20)?,
            prev_crc: hex32(parts.next()?)?,
            crc: hex32(parts.next()?)?,
        };
        (parts.next().is_none() && name.seq > name.prev_seq && name.prev_seq >= name.base_seq)
            .then_some(name)
    }
}

/// The checksum an encoded checkpoint or delta ends with (0 for fewer than four bytes).
fn trailing_crc(bytes: &[u8]) -> u32 {
    bytes
        .last_chunk::<4>()
        .map_or(0, |c| u32::from_le_bytes(*c))
}

/// One delta of the chain in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Its sequence number.
    pub seq: u64,
    /// Its bytes.
    pub bytes: u64,
    /// Its checksum (the next delta names it).
    pub crc: u32,
}

/// The chain in force in the bucket as this node last loaded or extended it: what the next
/// checkpoint chains to, and what the plan (delta or base) weighs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    /// The base's sequence number.
    pub base_seq: u64,
    /// The base's bytes (0: there is no base).
    pub base_bytes: u64,
    /// The base's checksum.
    pub base_crc: u32,
    /// The deltas after it, in order.
    pub deltas: Vec<Link>,
}

impl Chain {
    /// The sequence number and checksum of the chain's last checkpoint.
    fn last(&self) -> (u64, u32) {
        self.deltas
            .last()
            .map_or((self.base_seq, self.base_crc), |d| (d.seq, d.crc))
    }

    /// Whether a delta of `delta_bytes` may be the next checkpoint ([`delta_fits`]).
    pub fn fits(&self, delta_bytes: u64) -> bool {
        delta_fits(
            self.base_bytes,
            self.deltas.iter().map(|d| d.bytes).sum(),
            self.deltas.len(),
            delta_bytes,
        )
    }
}

/// What [`load`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The base, with the sequence number and timestamp version of the chain's last delta.
    pub checkpoint: Checkpoint,
    /// The leaves of the chain's deltas, to apply in order to the base's.
    pub deltas: Vec<Vec<Entry>>,
    /// The round stored with the chain's last checkpoint.
    pub round: Option<Round>,
    /// The chain, for the next checkpoint.
    pub chain: Chain,
}

/// Of the deltas `names`, the chain from `(seq, crc)` that reaches the highest sequence number
/// (see the module documentation), as indices into `names`.
fn longest_chain(names: &[DeltaName], start: (u64, u32)) -> Vec<usize> {
    // Links only go up in sequence number, so each delta's best continuation is known once
    // those of the deltas after it are: (reach, length, next).
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(names[i].seq));
    let mut best: Vec<(u64, usize, Option<usize>)> = vec![(0, 0, None); names.len()];
    let pick = |from: (u64, u32), best: &[(u64, usize, Option<usize>)]| {
        let mut chosen: Option<usize> = None;
        for (j, n) in names.iter().enumerate() {
            if (n.prev_seq, n.prev_crc) != from || n.seq <= from.0 {
                continue;
            }
            let better = match chosen {
                None => true,
                Some(c) => {
                    best[j].0 > best[c].0 || (best[j].0 == best[c].0 && best[j].1 < best[c].1)
                }
            };
            if better {
                chosen = Some(j);
            }
        }
        chosen
    };
    for &i in &order {
        best[i] = match pick((names[i].seq, names[i].crc), &best) {
            Some(j) => (best[j].0, best[j].1 + 1, Some(j)),
            None => (names[i].seq, 1, None),
        };
    }
    let mut chain = Vec::new();
    let mut next = pick(start, &best);
    while let Some(i) = next {
        chain.push(i);
        next = best[i].2;
    }
    chain
}

/// The newest complete base in the role's state prefix, the chain of deltas after it, and the
/// round stored with the chain's last checkpoint (an empty checkpoint at sequence 0 if there is
/// no base). The leaves' names are kept only if `keep_names` or no round is stored.
pub async fn load(bucket: &Bucket, keep_names: bool) -> Result<Loaded, CheckpointError> {
    let keys = bucket
        .list("checkpoints/", None)
        .await
        .map_err(CheckpointError::Bucket)?;
    let Some(base_seq) = keys.iter().filter_map(|k| seq_of(k)).max() else {
        return Ok(Loaded::default());
    };
    let names: Vec<DeltaName> = keys
        .iter()
        .filter_map(|k| DeltaName::parse(k))
        .filter(|n| n.base_seq == base_seq)
        .collect();
    let key = leaves_key(base_seq);
    let object = get_listed(bucket, &key).await?;
    let base_crc = trailing_crc(&object);
    let mut chain = Chain {
        base_seq,
        base_bytes: object.len() as u64,
        base_crc,
        deltas: Vec::new(),
    };
    let links = longest_chain(&names, (base_seq, base_crc));
    let last_seq = links.last().map_or(base_seq, |&i| names[i].seq);
    let round = load_round(bucket, last_seq).await?;
    let keep_names = keep_names || round.is_none();
    let mut checkpoint = Checkpoint::decode_with(&object, Path::new(&key), keep_names)?;
    drop(object);
    if checkpoint.seq != base_seq {
        return Err(CheckpointError::Damaged {
            path: key.into(),
            reason: format!("it holds sequence {}", checkpoint.seq),
        });
    }
    let mut deltas = Vec::with_capacity(links.len());
    let mut prev = base_seq;
    for i in links {
        let name = &names[i];
        let key = name.key();
        let bytes = get_listed(bucket, &key).await?;
        if trailing_crc(&bytes) != name.crc {
            return Err(CheckpointError::Damaged {
                path: key.into(),
                reason: format!(
                    "its {} bytes do not end with the checksum its name carries (truncated or \
                     damaged); restore it from a backup, or move it and the deltas after it \
                     aside to recover from the log, which holds their changes",
                    bytes.len()
                ),
            });
        }
        let delta = Delta::decode(&bytes, Path::new(&key), keep_names)?;
        if (delta.base_seq, delta.prev_seq, delta.seq) != (base_seq, prev, name.seq) {
            return Err(CheckpointError::Damaged {
                path: key.into(),
                reason: format!(
                    "it follows {} from base {} at {}, where its name says {prev} from base \
                     {base_seq} at {}",
                    delta.prev_seq, delta.base_seq, delta.seq, name.seq
                ),
            });
        }
        prev = name.seq;
        checkpoint.seq = delta.seq;
        checkpoint.timestamp_version = checkpoint.timestamp_version.max(delta.timestamp_version);
        chain.deltas.push(Link {
            seq: name.seq,
            bytes: bytes.len() as u64,
            crc: name.crc,
        });
        deltas.push(delta.entries);
    }
    Ok(Loaded {
        checkpoint,
        deltas,
        round,
        chain,
    })
}

/// Reads a listed checkpoint object; its absence is damage.
async fn get_listed(bucket: &Bucket, key: &str) -> Result<Vec<u8>, CheckpointError> {
    Ok(bucket
        .get(key, MAX_CHECKPOINT_BYTES)
        .await
        .map_err(CheckpointError::Bucket)?
        .ok_or_else(|| CheckpointError::Damaged {
            path: key.into(),
            reason: "listed but not found".into(),
        })?
        .bytes)
}

/// The round stored with the checkpoint at `seq`, if there is one.
async fn load_round(bucket: &Bucket, seq: u64) -> Result<Option<Round>, CheckpointError> {
    let round_key = round_key(seq);
    match bucket
        .get(&round_key, MAX_ROUND_BYTES)
        .await
        .map_err(CheckpointError::Bucket)?
    {
        None => Ok(None),
        Some(object) => Ok(Some(serde_json::from_slice(&object.bytes).map_err(
            |e| CheckpointError::BadRound {
                path: round_key.into(),
                message: e.to_string(),
            },
        )?)),
    }
}

async fn store_round(
    bucket: &Bucket,
    guard: &LeaseGuard,
    seq: u64,
    round: &Round,
) -> Result<(), CheckpointError> {
    let bytes = serde_json::to_vec(round).map_err(|e| CheckpointError::BadRound {
        path: round_key(seq).into(),
        message: e.to_string(),
    })?;
    put_once(bucket, guard, &round_key(seq), bytes).await
}

/// Stores a base (see the module's properties); refuses once this node no longer leads.
/// Returns the chain it starts.
pub async fn store(
    bucket: &Bucket,
    guard: &LeaseGuard,
    checkpoint: &Checkpoint,
    round: Option<&Round>,
) -> Result<Chain, CheckpointError> {
    if let Some(round) = round {
        store_round(bucket, guard, checkpoint.seq, round).await?;
    }
    let bytes = checkpoint.encode()?;
    let chain = Chain {
        base_seq: checkpoint.seq,
        base_bytes: bytes.len() as u64,
        base_crc: trailing_crc(&bytes),
        deltas: Vec::new(),
    };
    put_once(bucket, guard, &leaves_key(checkpoint.seq), bytes).await?;
    Ok(chain)
}

/// Stores the `entries` that changed since `chain`'s last checkpoint as a delta at `seq` after
/// it, with `round` first; refuses once this node no longer leads. Returns the chain it
/// extends to and the delta's bytes.
pub async fn store_delta(
    bucket: &Bucket,
    guard: &LeaseGuard,
    chain: &Chain,
    seq: u64,
    timestamp_version: u64,
    entries: Vec<Entry>,
    round: &Round,
) -> Result<(Chain, u64), CheckpointError> {
    let (prev_seq, prev_crc) = chain.last();
    let delta = Delta {
        base_seq: chain.base_seq,
        prev_seq,
        seq,
        timestamp_version,
        entries,
    };
    let bytes = delta.encode()?;
    let name = DeltaName {
        seq,
        base_seq: chain.base_seq,
        prev_seq,
        prev_crc,
        crc: trailing_crc(&bytes),
    };
    if chain.base_bytes == 0 || seq <= prev_seq {
        return Err(CheckpointError::Damaged {
            path: name.key().into(),
            reason: format!("a delta at {seq} cannot follow the checkpoint at {prev_seq}"),
        });
    }
    store_round(bucket, guard, seq, round).await?;
    let len = bytes.len() as u64;
    put_once(bucket, guard, &name.key(), bytes).await?;
    let mut next = chain.clone();
    next.deltas.push(Link {
        seq,
        bytes: len,
        crc: name.crc,
    });
    Ok((next, len))
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

    /// This node holding the role's lease in `b` (node `a`).
    async fn leader(b: &Bucket) -> crate::lease::Taken {
        Lease::new(
            b.clone(),
            "a".into(),
            "http://a".into(),
            Duration::from_secs(60),
        )
        .try_take()
        .await
        .unwrap()
        .unwrap()
    }

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
        assert_eq!(load(&b, true).await.unwrap(), Loaded::default());
        let taken = leader(&b).await;
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
        assert_eq!(load(&b, true).await.unwrap().checkpoint, nine);
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
        assert_eq!(load(&b, true).await.unwrap().checkpoint, nine);
        // Not the leader any more: nothing is stored.
        taken.guard.lose();
        assert!(matches!(
            store(&b, &taken.guard, &checkpoint(20, &[]), None).await,
            Err(CheckpointError::NotLeader)
        ));
    }

    fn round(seq: u64) -> Round {
        let meta = crate::round::FileMeta {
            version: seq,
            length: 1,
            sha256: "00".repeat(32),
            expires: jiff::Timestamp::UNIX_EPOCH,
        };
        Round {
            timestamp_version: seq,
            seq,
            root_version: 1,
            tree_root: "00".repeat(32),
            merkle: true,
            targets: meta.clone(),
            snapshot: meta.clone(),
            timestamp: meta,
            files: Vec::new(),
            change_record: format!("{{\"version\": {seq}}}"),
        }
    }

    fn name(seq: u64, prev_seq: u64, prev_crc: u32, crc: u32) -> DeltaName {
        DeltaName {
            seq,
            base_seq: 1,
            prev_seq,
            prev_crc,
            crc,
        }
    }

    #[test]
    fn delta_names_round_trip_and_the_furthest_chain_is_chosen() {
        let n = name(12, 7, 0xdead_beef, 0x0102_0304);
        assert_eq!(DeltaName::parse(&n.key()), Some(n.clone()));
        for bad in [
            "checkpoints/00000000000000000012.bin",
            "checkpoints/12-1-7-deadbeef-01020304.delta",
            "checkpoints/00000000000000000007-00000000000000000001-00000000000000000012-deadbeef-01020304.delta",
        ] {
            assert_eq!(DeltaName::parse(bad), None, "{bad}");
        }
        // Base 1 (crc 1) → 5 (crc 5) → 9; a fork 5 → 7 → 8 → 20 (reaches further); an orphan
        // after 5 with another checksum; one after a checkpoint that is not there.
        let names = vec![
            name(5, 1, 1, 5),
            name(9, 5, 5, 9),
            name(7, 5, 5, 7),
            name(8, 7, 7, 8),
            name(20, 8, 8, 20),
            name(30, 5, 6, 30),
            name(40, 33, 33, 40),
        ];
        let chain: Vec<u64> = longest_chain(&names, (1, 1))
            .iter()
            .map(|&i| names[i].seq)
            .collect();
        assert_eq!(chain, [5, 7, 8, 20]);
        // Of the base's other checksum, nothing chains.
        assert!(longest_chain(&names, (1, 2)).is_empty());
        // Of two reaching as far, the shorter.
        let names = vec![name(3, 1, 1, 3), name(9, 3, 3, 9), name(9, 1, 1, 10)];
        assert_eq!(longest_chain(&names, (1, 1)), [2]);
    }

    #[tokio::test]
    async fn deltas_chain_after_a_base_and_orphans_are_ignored_but_damage_is_refused() {
        let Some(moto) = MotoKms::start_or_skip(
            "deltas_chain_after_a_base_and_orphans_are_ignored_but_damage_is_refused",
        ) else {
            return;
        };
        let b = moto_bucket(&moto, "delta-test", "t").await.under("state/r");
        let taken = leader(&b).await;
        let names: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let base = checkpoint(4, &names);
        let chain = store(&b, &taken.guard, &base, Some(&round(4)))
            .await
            .unwrap();
        assert!(chain.fits(chain.base_bytes / 8));
        assert!(!chain.fits(chain.base_bytes / 3));
        let (chain, first) = store_delta(
            &b,
            &taken.guard,
            &chain,
            9,
            9,
            checkpoint(0, &["n1", "new"]).entries,
            &round(9),
        )
        .await
        .unwrap();
        assert!(
            first * 10 < chain.base_bytes,
            "{first} of {}",
            chain.base_bytes
        );
        let (chain, _) = store_delta(
            &b,
            &taken.guard,
            &chain,
            15,
            15,
            checkpoint(0, &["later"]).entries,
            &round(15),
        )
        .await
        .unwrap();
        let loaded = load(&b, true).await.unwrap();
        assert_eq!(loaded.chain, chain);
        assert_eq!(
            (loaded.checkpoint.seq, loaded.checkpoint.timestamp_version),
            (15, 15)
        );
        assert_eq!(loaded.checkpoint.entries, base.entries);
        assert_eq!(loaded.deltas.len(), 2);
        assert_eq!(loaded.deltas[0][1].name.as_deref(), Some("new"));
        assert_eq!(loaded.round, Some(round(15)));

        // An orphan: a delta after a checkpoint that is not in the chain (a crash, or a
        // deposed leader's), and one after the chain's end of another checksum.
        let orphan = |seq: u64, prev_seq: u64, prev_crc: u32| {
            let delta = Delta {
                base_seq: 4,
                prev_seq,
                seq,
                timestamp_version: seq,
                entries: checkpoint(0, &["orphan"]).entries,
            };
            let bytes = delta.encode().unwrap();
            let key = DeltaName {
                seq,
                base_seq: 4,
                prev_seq,
                prev_crc,
                crc: trailing_crc(&bytes),
            }
            .key();
            (key, bytes)
        };
        let meta = ObjectMeta {
            content_type: "application/octet-stream",
            cache_control: None,
        };
        for (key, bytes) in [orphan(30, 12, 7), orphan(31, 15, chain.last().1 ^ 1)] {
            b.put(&key, bytes, meta, Condition::IfAbsent).await.unwrap();
        }
        assert_eq!(load(&b, true).await.unwrap(), loaded);

        // A chaining delta cut short is refused by name.
        let (key, bytes) = orphan(40, 15, chain.last().1);
        b.put(
            &key,
            bytes[..bytes.len() - 3].to_vec(),
            meta,
            Condition::IfAbsent,
        )
        .await
        .unwrap();
        let e = load(&b, true).await.unwrap_err();
        assert!(
            matches!(&e, CheckpointError::Damaged { path, .. } if path.to_string_lossy() == key),
            "{e}"
        );
        assert!(e.to_string().contains("truncated or damaged"), "{e}");

        // A new base starts a new chain: the old deltas no longer count.
        let chain = store(&b, &taken.guard, &checkpoint(50, &names), Some(&round(50)))
            .await
            .unwrap();
        let loaded = load(&b, false).await.unwrap();
        assert_eq!((&loaded.chain, loaded.deltas.len()), (&chain, 0));
        assert!(loaded.checkpoint.entries.iter().all(|e| e.name.is_none()));

        // A chaining delta whose bytes are damaged inside is refused by name.
        let damaged_key = |seq: u64| {
            let delta = Delta {
                base_seq: 50,
                prev_seq: 50,
                seq,
                timestamp_version: seq,
                entries: checkpoint(0, &["x"]).entries,
            };
            let mut bytes = delta.encode().unwrap();
            let key = DeltaName {
                seq,
                base_seq: 50,
                prev_seq: 50,
                prev_crc: chain.base_crc,
                crc: trailing_crc(&bytes),
            }
            .key();
            bytes[20] ^= 1;
            (key, bytes)
        };
        let (key, bytes) = damaged_key(55);
        b.put(&key, bytes, meta, Condition::IfAbsent).await.unwrap();
        let e = load(&b, true).await.unwrap_err();
        assert!(e.to_string().contains(&key), "{e}");
        assert!(e.to_string().contains("checksum mismatch"), "{e}");

        // Not the leader any more: no delta is stored.
        taken.guard.lose();
        assert!(matches!(
            store_delta(
                &b,
                &taken.guard,
                &loaded.chain,
                60,
                60,
                Vec::new(),
                &round(60)
            )
            .await,
            Err(CheckpointError::NotLeader)
        ));
    }
}
