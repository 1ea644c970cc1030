//! The client's metadata path on untrusted bytes: each step of `tuf_client::tuf` that reads a
//! file from the repository, against the real trusted roots the signer wrote
//! (`fuzz/fixtures/*.1.root.json`; the seeds are real files signed under them).
//!
//! The first byte picks the step, the rest is the file: a trusted root given out of band
//! (`initial_root`), the next root of the chain (`next_root`), a merkle or a classic timestamp
//! (`verify_timestamp`), a classic snapshot or targets (parse, then `verify_signed`); and the
//! two other files a client or an auditor reads from the network: an auditor's attestation
//! (parse, then `Attestation::verify` against the root's keys, which never sign one) and a change
//! record with its timestamp (`audit::Replay::apply` on a replay trusting the root).
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
use tough::schema::{Root, Signed, Snapshot, Targets};
use tuf_client::attest::Attestation;
use tuf_client::audit::{ChangeRecord, Replay};
use tuf_client::tuf;

struct Roots {
    merkle: Signed<Root>,
    classic: Signed<Root>,
}

fn roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| Roots {
        merkle: tuf::initial_root(include_bytes!("../fixtures/crates.io.1.root.json"))
            .expect("the fixture root"),
        classic: tuf::initial_root(include_bytes!("../fixtures/releases.1.root.json"))
            .expect("the fixture root"),
    })
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
                assert!(root.signed.verify_role(&root).is_ok());
            }
        }
        1 | 2 => {
            let trusted = if step % 9 == 1 {
                &roots.merkle
            } else {
                &roots.classic
            };
            if let Ok(new) = tuf::next_root(&trusted.signed, bytes) {
                assert_eq!(new.signed.version.get(), trusted.signed.version.get() + 1);
                assert!(trusted.signed.verify_role(&new).is_ok());
                assert!(new.signed.verify_role(&new).is_ok());
            }
        }
        3 => {
            if let Ok(ts) =
                tuf::verify_timestamp(&roots.merkle.signed, "timestamp.json", bytes, true)
            {
                assert!(
                    ts.merkle_root.is_some(),
                    "a merkle timestamp without merkle_root"
                );
                assert_eq!(ts.version, ts.signed.signed.version.get());
                assert!(roots.merkle.signed.verify_role(&ts.signed).is_ok());
            }
        }
        4 => {
            if let Ok(ts) =
                tuf::verify_timestamp(&roots.classic.signed, "timestamp.json", bytes, false)
            {
                assert_eq!(ts.version, ts.signed.signed.version.get());
                assert!(roots.classic.signed.verify_role(&ts.signed).is_ok());
            }
        }
        5 => {
            if let Ok(s) = tuf::parse::<Signed<Snapshot>>("snapshot.json", bytes) {
                let v = s.signed.version.get();
                if tuf::verify_signed(&roots.classic.signed, &s, v).is_ok() {
                    assert!(roots.classic.signed.verify_role(&s).is_ok());
                }
            }
        }
        7 => {
            if let Ok(a) = serde_json::from_slice::<Attestation>(bytes) {
                let keys: Vec<_> = roots.merkle.signed.keys.values().cloned().collect();
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
            if let Ok(record) = serde_json::from_slice::<ChangeRecord>(bytes) {
                let mut replay = Replay::new(
                    "crates.io",
                    HashMap::from([(1, roots.merkle.signed.clone())]),
                );
                if replay.apply(&record) {
                    assert!(replay.breach.is_none());
                    assert!(roots.merkle.signed.verify_role(&record.timestamp).is_ok());
                    assert_eq!(replay.last, Some(record.timestamp_version));
                    assert_eq!(replay.last_root, Some(replay.tree.root()));
                } else {
                    assert!(replay.breach.is_some());
                }
            }
        }
        _ => {
            if let Ok(t) = tuf::parse::<Signed<Targets>>("targets.json", bytes) {
                let v = t.signed.version.get();
                if tuf::verify_signed(&roots.classic.signed, &t, v).is_ok() {
                    for (name, target) in &t.signed.targets {
                        let _ = (name.raw(), target.length, target.hashes.sha256.len());
                    }
                }
            }
        }
    }
});
