//! The client's metadata path on untrusted bytes: each step of `tuf_client::tuf` that reads a
//! file from the repository, against the real trusted roots the signer wrote
//! (`fuzz/fixtures/*.1.root.json`; the seeds are real files signed under them).
//!
//! The first byte picks the step, the rest is the file: a trusted root given out of band
//! (`initial_root`), the next root of the chain (`next_root`), a merkle or a classic timestamp
//! (`verify_timestamp`), a classic snapshot or targets (`verify_role`); and the two other files a
//! client or an auditor reads from the network: an auditor's attestation (parse, then
//! `Attestation::verify` against the root's keys, which never sign one) and a change record with
//! its timestamp (`audit::Replay::apply` on a replay trusting the root). Each step verifies
//! through `tuf-verify-core`; what it accepts is checked again with tough.
//!
//! Checked: no step panics or allocates out of proportion; each returns an error or a value
//! that holds what the step promises (a next root has the next version and is signed by both
//! roots' thresholds; a merkle timestamp has a `merkle_root`; everything accepted is signed by
//! its role's threshold of the trusted root; no attestation verifies without an auditor's
//! signature; a replay accepts a record only with a timestamp the root's keys signed, whose
//! `merkle_root` is the root of the replayed tree).
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use tough::schema::{Root, Signed, Snapshot, Targets, Timestamp};
use tuf_client::attest::Attestation;
use tuf_client::audit::{ChangeRecord, RecordChange, Replay};
use tuf_client::tuf;
use tuf_verify_core::{PublicKey, RoleType, TrustedRoot};

struct Roots {
    merkle: TrustedRoot,
    classic: TrustedRoot,
    /// The same roots as tough reads them, to check what the client accepts again.
    tough_merkle: Root,
    tough_classic: Root,
}

fn roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    const MERKLE: &[u8] = include_bytes!("../fixtures/crates.io.1.root.json");
    const CLASSIC: &[u8] = include_bytes!("../fixtures/releases.1.root.json");
    let tough = |b: &[u8]| {
        serde_json::from_slice::<Signed<Root>>(b)
            .expect("the fixture root")
            .signed
    };
    ROOTS.get_or_init(|| Roots {
        merkle: tuf::initial_root(MERKLE).expect("the fixture root"),
        classic: tuf::initial_root(CLASSIC).expect("the fixture root"),
        tough_merkle: tough(MERKLE),
        tough_classic: tough(CLASSIC),
    })
}

/// A change record with its signed timestamp in it (the seeds' form): the record as
/// `changes/V.json` has it, and the timestamp's JSON in place of its file's name and hash.
#[derive(Deserialize)]
struct RecordWithTimestamp {
    role: String,
    timestamp_version: u64,
    previous_timestamp_version: Option<u64>,
    root_version: u64,
    merkle_root: Option<String>,
    changes: Vec<RecordChange>,
    timestamp: serde_json::Value,
}

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    let roots = roots();
    match step % 9 {
        0 => {
            if let Ok(root) = tuf::initial_root(bytes) {
                let t: Signed<Root> = serde_json::from_slice(bytes).expect("tough reads it");
                assert!(t.signed.verify_role(&t).is_ok(), "tough refuses it");
                assert_eq!(root.version(), t.signed.version.get());
            }
        }
        1 | 2 => {
            let (trusted, tough_trusted) = if step % 9 == 1 {
                (&roots.merkle, &roots.tough_merkle)
            } else {
                (&roots.classic, &roots.tough_classic)
            };
            if let Ok(new) = tuf::next_root(trusted, bytes) {
                assert_eq!(new.version(), trusted.version() + 1);
                let t: Signed<Root> = serde_json::from_slice(bytes).expect("tough reads it");
                assert!(tough_trusted.verify_role(&t).is_ok());
                assert!(t.signed.verify_role(&t).is_ok());
            }
        }
        3 | 4 => {
            let merkle = step % 9 == 3;
            let (root, tough_root) = if merkle {
                (&roots.merkle, &roots.tough_merkle)
            } else {
                (&roots.classic, &roots.tough_classic)
            };
            if let Ok(ts) = tuf::verify_timestamp(root, "timestamp.json", bytes, merkle) {
                if merkle {
                    assert!(
                        ts.merkle_root.is_some(),
                        "a merkle timestamp without merkle_root"
                    );
                }
                let t: Signed<Timestamp> = serde_json::from_slice(bytes).expect("tough reads it");
                assert_eq!(ts.version, t.signed.version.get());
                assert!(tough_root.verify_role(&t).is_ok(), "tough refuses it");
            }
        }
        5 => {
            if let Ok(s) = tuf::verify_role(&roots.classic, RoleType::Snapshot, "s", bytes) {
                let t: Signed<Snapshot> = serde_json::from_slice(bytes).expect("tough reads it");
                assert_eq!(s.version(), t.signed.version.get());
                assert!(
                    roots.tough_classic.verify_role(&t).is_ok(),
                    "tough refuses it"
                );
            }
        }
        7 => {
            if let Ok(a) = serde_json::from_slice::<Attestation>(bytes) {
                let keys: Vec<PublicKey> = roots.merkle.root().keys().values().cloned().collect();
                for threshold in [0, 1, 2] {
                    assert!(
                        a.verify(&keys, threshold).is_err(),
                        "an unsigned attestation"
                    );
                }
                let _ = a.signed.root();
            }
        }
        8 => {
            if let Ok(r) = serde_json::from_slice::<RecordWithTimestamp>(bytes) {
                let merkle_root = match r.merkle_root.as_deref().map(tuf_merkle::hash::parse_hex) {
                    None => None,
                    Some(Ok(d)) => Some(d),
                    Some(Err(_)) => return,
                };
                let record = ChangeRecord {
                    role: r.role,
                    timestamp_version: r.timestamp_version,
                    previous_timestamp_version: r.previous_timestamp_version,
                    root_version: r.root_version,
                    merkle_root,
                    changes: r.changes,
                    timestamp: serde_json::to_vec(&r.timestamp).expect("JSON"),
                };
                let mut replay =
                    Replay::new("crates.io", HashMap::from([(1, roots.merkle.clone())]));
                if replay.apply(&record) {
                    assert!(replay.breach.is_none());
                    let t: Signed<Timestamp> =
                        serde_json::from_slice(&record.timestamp).expect("tough reads it");
                    assert!(roots.tough_merkle.verify_role(&t).is_ok());
                    assert_eq!(replay.last, Some(record.timestamp_version));
                    assert_eq!(replay.last_root, Some(replay.tree.root()));
                } else {
                    assert!(replay.breach.is_some());
                }
            }
        }
        _ => {
            if let Ok(t) = tuf::verify_role(&roots.classic, RoleType::Targets, "t", bytes) {
                let tough: Signed<Targets> = serde_json::from_slice(bytes).expect("tough reads it");
                assert_eq!(t.version(), tough.signed.version.get());
                assert!(
                    roots.tough_classic.verify_role(&tough).is_ok(),
                    "tough refuses it"
                );
            }
        }
    }
});
