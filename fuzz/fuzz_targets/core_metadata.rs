//! The verifier core (`tuf-verify-core`) on untrusted metadata: each of its entry points that
//! reads a file, against the real trusted roots the signer wrote (`fuzz/fixtures/*.1.root.json`;
//! the seeds are real files signed under them), and what it accepts read again by tough, which
//! must accept it too (the core is never looser than tough: the table in its crate
//! documentation).
//!
//! The first byte picks the entry point, the rest is the file: a root given out of band
//! (`TrustedRoot::new`), the next root of the chain (`TrustedRoot::update`, after the merkle or
//! the classic fixture root), a merkle or a classic timestamp (`load_trusted_timestamp`,
//! `verify_timestamp`), a classic snapshot or targets (`verify_role`), and a document signed by
//! keys the caller trusts (`TrustedKeys::verify`, with the fixture root's root keys).
//!
//! Checked: no entry point panics or allocates out of proportion; what is accepted tough accepts
//! (typed parse, then `verify_role` under the same trusted root) and means the same (version,
//! `merkle_root`, the snapshot it names, what a snapshot lists); a new root has the next version,
//! is also a root signed by its own keys, and reports exactly the rotations there are; a refused
//! update leaves the trusted root unchanged; a verified timestamp is the same with and without
//! the expiry checks at a time nothing had expired, is refused at a time it had, and is unchanged
//! against itself; a document verified with trusted keys is exactly its `signed`, and a root's
//! keys never sign an attestation.
#![no_main]

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tough::schema::{Root, Signed, Snapshot, Targets, Timestamp};
use tuf_verify_core::{
    Freshness, ProofRoot, RoleType, TrustedKeys, TrustedRoot, VerifyError, load_trusted_timestamp,
    verify_role, verify_timestamp,
};

struct Fixture {
    core: TrustedRoot,
    tough: Root,
}

struct Fixtures {
    merkle: Fixture,
    classic: Fixture,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    let read = |bytes: &[u8]| Fixture {
        core: TrustedRoot::new(bytes).expect("the fixture root"),
        tough: serde_json::from_slice::<Signed<Root>>(bytes)
            .expect("the fixture root")
            .signed,
    };
    FIXTURES.get_or_init(|| Fixtures {
        merkle: read(include_bytes!("../fixtures/crates.io.1.root.json")),
        classic: read(include_bytes!("../fixtures/releases.1.root.json")),
    })
}

/// A time after every `expires` the signer writes (year 9000).
fn far_future() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(220_898_664_000)
}

/// tough's reading of `bytes` as `T`, which must succeed for what the core accepted.
fn tough<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Signed<T> {
    serde_json::from_slice(bytes).expect("the core accepted what tough cannot read")
}

fn check_root(bytes: &[u8]) {
    let Ok(root) = TrustedRoot::new(bytes) else {
        return;
    };
    let t: Signed<Root> = tough(bytes);
    assert!(
        t.signed.verify_role(&t).is_ok(),
        "tough refuses a root the core accepts"
    );
    assert_eq!(root.version(), t.signed.version.get());
    assert_eq!(TrustedRoot::new(bytes).as_ref(), Ok(&root));
    // The root's own signatures, read as a document signed by its root keys.
    let role = root.root().role(RoleType::Root);
    let keys = role
        .key_ids()
        .iter()
        .map(|id| root.root().keys()[id].clone());
    let own = TrustedKeys::new(keys, NonZeroU64::new(role.threshold()).expect("threshold"));
    assert!(own.verify("root", bytes).is_ok());
}

fn check_update(trusted: &Fixture, bytes: &[u8]) {
    let mut root = trusted.core.clone();
    match root.update(bytes) {
        Ok(update) => {
            assert_eq!(update.version, trusted.core.version() + 1);
            assert_eq!(root.version(), update.version);
            let t: Signed<Root> = tough(bytes);
            assert!(
                trusted.tough.verify_role(&t).is_ok(),
                "tough: not signed by N"
            );
            assert!(
                t.signed.verify_role(&t).is_ok(),
                "tough: not signed by itself"
            );
            assert_eq!(TrustedRoot::new(bytes).as_ref(), Ok(&root));
            for (role, changed) in [
                (RoleType::Timestamp, update.timestamp_keys_changed),
                (RoleType::Snapshot, update.snapshot_keys_changed),
            ] {
                assert_eq!(
                    changed,
                    trusted.core.root().role(role) != root.root().role(role)
                );
            }
        }
        Err(_) => assert_eq!(root, trusted.core, "a refused update changed the root"),
    }
}

fn check_timestamp(trusted: &Fixture, bytes: &[u8]) {
    let Ok(ts) = load_trusted_timestamp(&trusted.core, bytes) else {
        return;
    };
    let t: Signed<Timestamp> = tough(bytes);
    assert!(
        trusted.tough.verify_role(&t).is_ok(),
        "tough refuses a timestamp the core accepts"
    );
    assert_eq!(ts.version(), t.signed.version.get());
    let snapshot = t
        .signed
        .meta
        .get("snapshot.json")
        .expect("tough: no snapshot.json");
    assert_eq!(ts.snapshot().version(), snapshot.version.get());
    assert_eq!(ts.snapshot().length(), snapshot.length);
    let tough_root = t.signed._extra.get("merkle_root").and_then(Value::as_str);
    assert_eq!(ts.merkle_root().map(|d| d.to_hex()).as_deref(), tough_root);
    assert_eq!(ProofRoot::of(&ts).is_ok(), ts.merkle_root().is_some());
    // Nothing had expired in 1970; everything has in the year 9000.
    assert_eq!(
        verify_timestamp(&trusted.core, bytes, UNIX_EPOCH).as_ref(),
        Ok(&ts)
    );
    assert!(matches!(
        verify_timestamp(&trusted.core, bytes, far_future()),
        Err(VerifyError::Expired { .. })
    ));
    assert_eq!(ts.check_rollback(&ts), Ok(Freshness::Unchanged));
}

fn check_role(trusted: &Fixture, role: RoleType, bytes: &[u8]) {
    let Ok(m) = verify_role(&trusted.core, role, bytes) else {
        return;
    };
    assert_eq!(m.role(), role);
    assert!(m.check_expiry(UNIX_EPOCH).is_ok());
    assert!(m.check_expiry(far_future()).is_err());
    let signed: Value = serde_json::from_slice::<Value>(bytes).expect("JSON")["signed"].clone();
    assert_eq!(m.signed(), &signed);
    if role == RoleType::Snapshot {
        let t: Signed<Snapshot> = tough(bytes);
        assert!(
            trusted.tough.verify_role(&t).is_ok(),
            "tough refuses a snapshot the core accepts"
        );
        assert_eq!(m.version(), t.signed.version.get());
        if let Ok(meta) = m.meta() {
            let core: BTreeMap<&str, u64> = meta
                .iter()
                .map(|(k, f)| (k.as_str(), f.version()))
                .collect();
            let tough: BTreeMap<&str, u64> = t
                .signed
                .meta
                .iter()
                .map(|(k, f)| (k.as_str(), f.version.get()))
                .collect();
            assert_eq!(core, tough);
        }
    } else {
        let t: Signed<Targets> = tough(bytes);
        assert!(
            trusted.tough.verify_role(&t).is_ok(),
            "tough refuses targets the core accepts"
        );
        assert_eq!(m.version(), t.signed.version.get());
    }
}

fn check_trusted_keys(trusted: &Fixture, bytes: &[u8]) {
    let root = trusted.core.root();
    let role = root.role(RoleType::Root);
    let keys = TrustedKeys::new(
        role.key_ids().iter().map(|id| root.keys()[id].clone()),
        NonZeroU64::new(role.threshold()).expect("threshold"),
    );
    if let Ok(signed) = keys.verify("root", bytes) {
        let v: Value = serde_json::from_slice(bytes).expect("JSON");
        assert_eq!(signed, v["signed"]);
        assert_eq!(signed["_type"], "root");
    }
    assert!(
        keys.verify("audit-attestation", bytes).is_err(),
        "the root keys never sign an attestation"
    );
}

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    let f = fixtures();
    match step % 8 {
        0 => check_root(bytes),
        1 => check_update(&f.merkle, bytes),
        2 => check_update(&f.classic, bytes),
        3 => check_timestamp(&f.merkle, bytes),
        4 => check_timestamp(&f.classic, bytes),
        5 => check_role(&f.classic, RoleType::Snapshot, bytes),
        6 => check_role(&f.classic, RoleType::Targets, bytes),
        _ => check_trusted_keys(&f.merkle, bytes),
    }
});
