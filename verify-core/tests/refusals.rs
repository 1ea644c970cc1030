//! Every refusal of the core, each with the error variant that names it, and the acceptances
//! they are the exceptions to.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{FAR, Roles, TestKey, now, root, sign, timestamp, with_signatures};
use serde_json::{Value, json};
use tuf_merkle::{LeafContents, Tree};
use tuf_verify_core::{
    Document, Freshness, Membership, ProofRoot, PublicKey, RoleType, SignedBy, TrustedKeys,
    TrustedRoot, VerifyError, load_trusted_timestamp, verify_role, verify_timestamp,
};

const PAST: &str = "2001-01-01T00:00:00Z";

/// A change to a document's `signed`.
type Edit = Box<dyn Fn(&mut Value)>;

fn trusted(keys: &[&TestKey]) -> TrustedRoot {
    TrustedRoot::new(&sign(&root(1, FAR, &Roles::all(keys)), keys)).unwrap()
}

fn below(err: VerifyError) -> (u64, u64, SignedBy) {
    match err {
        VerifyError::BelowThreshold {
            valid,
            threshold,
            by,
            ..
        } => (valid, threshold, by),
        other => panic!("expected BelowThreshold, got {other:?}"),
    }
}

// ---- Acceptance -------------------------------------------------------------------------

#[test]
fn ed25519_and_p256_roots_and_timestamps_are_accepted() {
    for key in [TestKey::ed25519(1), TestKey::p256(1)] {
        let root = trusted(&[&key]);
        assert_eq!(root.version(), 1);
        let ts = verify_timestamp(
            &root,
            &sign(&timestamp(7, FAR, 3, Some(&"cd".repeat(32))), &[&key]),
            now(),
        )
        .unwrap();
        assert_eq!(ts.version(), 7);
        assert_eq!(ts.snapshot().version(), 3);
        assert_eq!(ts.snapshot().length(), Some(431));
        assert_eq!(ts.snapshot().hashes()["sha256"], vec![0xab; 32]);
        assert_eq!(ts.merkle_root().unwrap().to_hex(), "cd".repeat(32));
        assert_eq!(ts.expires().as_str(), FAR);
    }
}

#[test]
fn a_root_chain_is_walked_with_rotations_reported() {
    let (a, b, c) = (TestKey::ed25519(1), TestKey::p256(2), TestKey::ed25519(3));
    let mut trusted = trusted(&[&a]);
    // 2: the root role moves from a to b (signed by both); timestamp moves to c.
    let two = root(
        2,
        FAR,
        &Roles {
            root: (&[&b], 1),
            timestamp: (&[&c], 1),
            snapshot: (&[&a], 1),
            targets: (&[&a], 1),
        },
    );
    let update = trusted.update(&sign(&two, &[&a, &b])).unwrap();
    assert_eq!(update.version, 2);
    assert!(update.timestamp_keys_changed);
    assert!(!update.snapshot_keys_changed);
    // 3: b alone signs (the old and the new root role are both b).
    let three = root(
        3,
        FAR,
        &Roles {
            root: (&[&b], 1),
            timestamp: (&[&c], 1),
            snapshot: (&[&a], 1),
            targets: (&[&a], 1),
        },
    );
    let update = trusted.update(&sign(&three, &[&b])).unwrap();
    assert!(!update.timestamp_keys_changed);
    assert_eq!(trusted.version(), 3);
    // The timestamp is now c's alone.
    let ts = timestamp(1, FAR, 1, None);
    assert!(verify_timestamp(&trusted, &sign(&ts, &[&c]), now()).is_ok());
    let (valid, _, by) = below(verify_timestamp(&trusted, &sign(&ts, &[&a]), now()).unwrap_err());
    assert_eq!((valid, by), (0, SignedBy::Root { version: 3 }));
}

#[test]
fn a_threshold_of_two_is_met_by_two_distinct_keys() {
    let (a, b, c) = (TestKey::ed25519(1), TestKey::p256(2), TestKey::ed25519(3));
    let keys: &[&TestKey] = &[&a, &b, &c];
    let signed = root(
        1,
        FAR,
        &Roles {
            root: (keys, 2),
            ..Roles::all(keys)
        },
    );
    assert!(TrustedRoot::new(&sign(&signed, &[&a, &c])).is_ok());
    assert!(TrustedRoot::new(&sign(&signed, &[&c, &b])).is_ok());
}

// ---- Signatures and thresholds ----------------------------------------------------------

#[test]
fn a_bad_signature_is_not_counted() {
    for key in [TestKey::ed25519(1), TestKey::p256(1)] {
        let signed = root(1, FAR, &Roles::all(&[&key]));
        let mut sig = key.sign(&common::canonical(&signed));
        let last = sig.len() - 1;
        sig[last] ^= 1;
        let err = TrustedRoot::new(&with_signatures(&signed, vec![(key.id(), sig)])).unwrap_err();
        assert_eq!(below(err), (0, 1, SignedBy::Itself));
        // A signature of other bytes (a different version).
        let other = root(2, FAR, &Roles::all(&[&key]));
        let sig = key.sign(&common::canonical(&other));
        let err = TrustedRoot::new(&with_signatures(&signed, vec![(key.id(), sig)])).unwrap_err();
        assert_eq!(below(err).0, 0);
    }
}

#[test]
fn below_threshold_is_refused() {
    let (a, b) = (TestKey::ed25519(1), TestKey::ed25519(2));
    let keys: &[&TestKey] = &[&a, &b];
    let signed = root(
        1,
        FAR,
        &Roles {
            root: (keys, 2),
            ..Roles::all(keys)
        },
    );
    assert_eq!(
        below(TrustedRoot::new(&sign(&signed, &[&a])).unwrap_err()),
        (1, 2, SignedBy::Itself)
    );
    assert_eq!(
        below(TrustedRoot::new(&sign(&signed, &[])).unwrap_err()).0,
        0
    );
}

#[test]
fn two_signatures_under_one_key_id_are_refused() {
    let (a, b) = (TestKey::ed25519(1), TestKey::p256(2));
    let keys: &[&TestKey] = &[&a, &b];
    let signed = root(
        1,
        FAR,
        &Roles {
            root: (keys, 2),
            ..Roles::all(keys)
        },
    );
    let duplicate = |bytes: &[u8]| match TrustedRoot::new(bytes).unwrap_err() {
        VerifyError::DuplicateSignature { document, .. } => {
            assert_eq!(document, Document::Role(RoleType::Root))
        }
        other => panic!("expected DuplicateSignature, got {other:?}"),
    };
    // Ed25519 signatures are deterministic: the same entry twice.
    duplicate(&sign(&signed, &[&a, &a]));
    // Two different valid signatures of one ECDSA key (s and n - s; both verify).
    let message = common::canonical(&signed);
    let der = b.sign(&message);
    let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    let other = flipped.to_der().as_bytes().to_vec();
    assert_ne!(der, other);
    duplicate(&with_signatures(
        &signed,
        vec![(b.id(), der.clone()), (b.id(), other)],
    ));
    // The same key ID in another case is the same key ID (tough compares the bytes).
    duplicate(&with_signatures(
        &signed,
        vec![(b.id(), der.clone()), (b.id().to_uppercase(), der)],
    ));
    // Even a key ID no role lists.
    duplicate(&with_signatures(
        &signed,
        vec![("00".repeat(32), vec![1]), ("00".repeat(32), vec![2])],
    ));
}

#[test]
fn one_key_listed_under_two_ids_counts_once() {
    // The same P-256 key as PEM and as hex: two key objects, two key IDs, one key.
    let b = TestKey::p256(2);
    let pem_json = b.json();
    let hex_json = json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                          "keyval": {"public": hex::encode(b.public())}});
    let (pem_id, hex_id) = (common::key_id(&pem_json), common::key_id(&hex_json));
    assert_ne!(pem_id, hex_id);
    let role = json!({"keyids": [pem_id, hex_id], "threshold": 2});
    let signed = json!({
        "_type": "root", "spec_version": "1.0.0", "consistent_snapshot": true,
        "version": 1, "expires": FAR,
        "keys": {pem_id.clone(): pem_json, hex_id.clone(): hex_json},
        "roles": {"root": role, "timestamp": role, "snapshot": role, "targets": role},
    });
    let message = common::canonical(&signed);
    let bytes = with_signatures(
        &signed,
        vec![(pem_id, b.sign(&message)), (hex_id, b.sign(&message))],
    );
    assert_eq!(
        below(TrustedRoot::new(&bytes).unwrap_err()),
        (1, 2, SignedBy::Itself)
    );
}

#[test]
fn a_signature_under_an_id_the_role_does_not_list_is_not_counted() {
    let (a, t) = (TestKey::ed25519(1), TestKey::ed25519(2));
    let only_a: &[&TestKey] = &[&a];
    let roles = Roles {
        timestamp: (&[&t], 1),
        ..Roles::all(only_a)
    };
    let root = TrustedRoot::new(&sign(&root(1, FAR, &roles), &[&a])).unwrap();
    let ts = timestamp(1, FAR, 1, None);
    // a is a root key, listed in the root, but not for the timestamp role.
    assert_eq!(
        below(verify_timestamp(&root, &sign(&ts, &[&a]), now()).unwrap_err()).0,
        0
    );
    // t's signature under a's ID, and under an ID in another spelling, counts for nothing.
    let sig = t.sign(&common::canonical(&ts));
    for id in [a.id(), t.id().to_uppercase(), "00".repeat(32)] {
        let bytes = with_signatures(&ts, vec![(id, sig.clone())]);
        assert_eq!(
            below(verify_timestamp(&root, &bytes, now()).unwrap_err()).0,
            0
        );
    }
    // A key ID that is not hex is not a key ID: the document is not TUF metadata.
    let bytes = with_signatures(&ts, vec![(format!("{} ", t.id()), sig.clone())]);
    assert!(matches!(
        verify_timestamp(&root, &bytes, now()).unwrap_err(),
        VerifyError::Schema { .. }
    ));
    assert!(verify_timestamp(&root, &with_signatures(&ts, vec![(t.id(), sig)]), now()).is_ok());
}

#[test]
fn a_key_listed_under_a_wrong_id_is_refused() {
    let (a, b) = (TestKey::ed25519(1), TestKey::ed25519(2));
    let mut signed = root(1, FAR, &Roles::all(&[&a]));
    // b's key object under a's ID.
    signed["keys"][a.id()] = b.json();
    let err = TrustedRoot::new(&sign(&signed, &[&a])).unwrap_err();
    assert!(matches!(err, VerifyError::KeyIdMismatch { .. }), "{err}");
}

#[test]
fn unknown_key_types_are_refused() {
    let a = TestKey::ed25519(1);
    let rsa = json!({"keytype": "rsa", "scheme": "rsassa-pss-sha256",
                     "keyval": {"public": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"}});
    let mut signed = root(1, FAR, &Roles::all(&[&a]));
    let rsa_id = common::key_id(&rsa);
    signed["keys"][rsa_id] = rsa;
    let err = TrustedRoot::new(&sign(&signed, &[&a])).unwrap_err();
    assert!(
        matches!(&err, VerifyError::UnsupportedKey { keytype, .. } if keytype == "rsa"),
        "{err}"
    );
}

#[test]
fn a_malformed_signature_entry_is_refused_or_not_counted() {
    let a = TestKey::ed25519(1);
    let signed = root(1, FAR, &Roles::all(&[&a]));
    let good = sign(&signed, &[&a]);
    let mut doc: Value = serde_json::from_slice(&good).unwrap();
    // Not hex: the document is not TUF metadata.
    doc["signatures"][0]["sig"] = "xyz".into();
    let err = TrustedRoot::new(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
    assert!(matches!(err, VerifyError::Schema { .. }), "{err}");
    // Hex of the wrong length: not a signature.
    doc["signatures"][0]["sig"] = "00".repeat(63).into();
    assert_eq!(
        below(TrustedRoot::new(&serde_json::to_vec(&doc).unwrap()).unwrap_err()).0,
        0
    );
}

// ---- Roots ------------------------------------------------------------------------------

#[test]
fn an_update_must_be_version_n_plus_one() {
    let a = TestKey::ed25519(1);
    let mut trusted = trusted(&[&a]);
    for version in [1, 3, 0] {
        let err = trusted
            .update(&sign(&root(version, FAR, &Roles::all(&[&a])), &[&a]))
            .unwrap_err();
        if version == 0 {
            assert!(matches!(err, VerifyError::Schema { .. }), "{err}");
        } else {
            assert_eq!(
                err,
                VerifyError::RootVersion {
                    expected: 2,
                    found: version
                }
            );
        }
    }
    assert_eq!(trusted.version(), 1);
}

#[test]
fn an_update_needs_the_old_and_the_new_root_keys() {
    let (a, b) = (TestKey::ed25519(1), TestKey::p256(2));
    let mut trusted = trusted(&[&a]);
    let two = root(2, FAR, &Roles::all(&[&b]));
    // Only the new key: the trusted root's keys did not sign it.
    let (valid, _, by) = below(trusted.update(&sign(&two, &[&b])).unwrap_err());
    assert_eq!((valid, by), (0, SignedBy::Root { version: 1 }));
    // Only the old key: the new root's own keys did not sign it.
    let (valid, _, by) = below(trusted.update(&sign(&two, &[&a])).unwrap_err());
    assert_eq!((valid, by), (0, SignedBy::Itself));
    assert_eq!(trusted.version(), 1);
    trusted.update(&sign(&two, &[&a, &b])).unwrap();
    assert_eq!(trusted.version(), 2);
}

#[test]
fn an_expired_root_is_refused_for_timestamps_but_can_be_updated() {
    let a = TestKey::ed25519(1);
    let mut trusted = TrustedRoot::new(&sign(&root(1, PAST, &Roles::all(&[&a])), &[&a])).unwrap();
    let err = trusted.check_expiry(now()).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Expired {
                role: RoleType::Root,
                version: 1,
                ..
            }
        ),
        "{err}"
    );
    let ts = sign(&timestamp(1, FAR, 1, None), &[&a]);
    assert!(matches!(
        verify_timestamp(&trusted, &ts, now()).unwrap_err(),
        VerifyError::Expired {
            role: RoleType::Root,
            ..
        }
    ));
    trusted
        .update(&sign(&root(2, FAR, &Roles::all(&[&a])), &[&a]))
        .unwrap();
    assert!(trusted.check_expiry(now()).is_ok());
    assert!(verify_timestamp(&trusted, &ts, now()).is_ok());
}

#[test]
fn malformed_roots_are_refused_each_for_its_reason() {
    let a = TestKey::ed25519(1);
    let good = root(1, FAR, &Roles::all(&[&a]));
    let id = a.id();
    let cases: Vec<(&str, Edit)> = vec![
        (
            "Schema",
            Box::new(|r| r["expires"] = "2100-01-01T00:00:00.5Z".into()),
        ),
        ("Schema", Box::new(|r| r["expires"] = "2100-01-01".into())),
        ("Schema", Box::new(|r| r["version"] = json!(-1))),
        ("Schema", Box::new(|r| r["version"] = json!("1"))),
        (
            "Schema",
            Box::new(|r| r["roles"]["root"]["threshold"] = 0.into()),
        ),
        (
            "Schema",
            Box::new(|r| {
                r.as_object_mut().unwrap().remove("consistent_snapshot");
            }),
        ),
        ("NotCanonical", Box::new(|r| r["note"] = "e\u{301}".into())),
        (
            "SpecVersion",
            Box::new(|r| r["spec_version"] = "2.0.0".into()),
        ),
        ("WrongType", Box::new(|r| r["_type"] = "timestamp".into())),
        ("WrongType", Box::new(|r| r["_type"] = json!(1))),
        (
            "MissingRole",
            Box::new(|r| {
                r["roles"].as_object_mut().unwrap().remove("targets");
            }),
        ),
        (
            "UnknownRole",
            Box::new(|r| {
                r["roles"]["mirror"] = r["roles"]["root"].clone();
            }),
        ),
        (
            "DuplicateRoleKey",
            Box::new({
                let id = id.clone();
                move |r| r["roles"]["snapshot"]["keyids"] = json!([id, id])
            }),
        ),
        (
            "RoleKeyMissing",
            Box::new(|r| {
                r["roles"]["targets"]["keyids"] = json!(["00".repeat(32)]);
            }),
        ),
        (
            "RoleKeyMissing",
            Box::new({
                let id = id.to_uppercase();
                move |r| r["roles"]["targets"]["keyids"] = json!([id])
            }),
        ),
    ];
    for (expect, edit) in cases {
        let mut signed = good.clone();
        edit(&mut signed);
        let err = TrustedRoot::new(&sign(&signed, &[&a])).unwrap_err();
        assert!(
            format!("{err:?}").starts_with(expect),
            "expected {expect}, got {err:?}"
        );
    }
    // A non-integer: canonical JSON cannot write it, so no signature is over it.
    let text = String::from_utf8(sign(&good, &[&a])).unwrap();
    let float = text.replacen("\"version\": 1", "\"version\": 1.0", 1);
    assert_ne!(float, text);
    let err = TrustedRoot::new(float.as_bytes()).unwrap_err();
    assert!(matches!(err, VerifyError::NotCanonical { .. }), "{err}");
    // Unknown members are TUF's extension point: allowed, and signed over.
    let mut extended = good.clone();
    extended["x-note"] = json!({"any": ["thing", 1, null]});
    assert!(TrustedRoot::new(&sign(&extended, &[&a])).is_ok());
}

#[test]
fn malformed_json_is_refused() {
    let a = TestKey::ed25519(1);
    let good = sign(&root(1, FAR, &Roles::all(&[&a])), &[&a]);
    let text = String::from_utf8(good.clone()).unwrap();
    for (bytes, expect) in [
        (good[..good.len() - 1].to_vec(), "Json"),
        ([&good[..], b"{}"].concat(), "Json"),
        (b"[]".to_vec(), "Schema"),
        (b"\xef\xbb\xbf{}".to_vec(), "Json"),
        (
            text.replacen("\"version\"", "\"version\": 1, \"version\"", 1)
                .into_bytes(),
            "DuplicateMember",
        ),
        (
            text.replacen("\"signed\"", "\"signatures\": [], \"signed\"", 1)
                .into_bytes(),
            "DuplicateMember",
        ),
    ] {
        let err = TrustedRoot::new(&bytes).unwrap_err();
        assert!(
            format!("{err:?}").starts_with(expect),
            "expected {expect}, got {err:?}"
        );
    }
    // White space and member order do not matter: the signature is over the canonical form.
    let value: Value = serde_json::from_slice(&good).unwrap();
    assert!(TrustedRoot::new(&serde_json::to_vec(&value).unwrap()).is_ok());
}

// ---- Timestamps -------------------------------------------------------------------------

#[test]
fn an_expired_timestamp_is_refused() {
    let a = TestKey::p256(1);
    let root = trusted(&[&a]);
    let ts = sign(&timestamp(4, PAST, 1, None), &[&a]);
    let err = verify_timestamp(&root, &ts, now()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Expired { role: RoleType::Timestamp, version: 4, expires }
                 if expires.as_str() == PAST),
        "{err}"
    );
    // A stored, trusted timestamp is re-checked without its expiry (TUF 5.2).
    assert_eq!(load_trusted_timestamp(&root, &ts).unwrap().version(), 4);
}

#[test]
fn a_timestamp_must_be_a_timestamp() {
    let a = TestKey::ed25519(1);
    let root_signed = root(1, FAR, &Roles::all(&[&a]));
    let root = TrustedRoot::new(&sign(&root_signed, &[&a])).unwrap();
    // The root file offered as a timestamp (one key holds both roles).
    let err = verify_timestamp(&root, &sign(&root_signed, &[&a]), now()).unwrap_err();
    assert!(matches!(err, VerifyError::WrongType { .. }), "{err}");
    let cases: Vec<(&str, Edit)> = vec![
        (
            "TimestampMeta",
            Box::new(|t| {
                t["meta"] = json!({"snapshot.json.bak": {"version": 1}});
            }),
        ),
        (
            "TimestampMeta",
            Box::new(|t| {
                t["meta"]["targets.json"] = json!({"version": 1});
            }),
        ),
        (
            "Schema",
            Box::new(|t| t["meta"]["snapshot.json"]["version"] = 0.into()),
        ),
        (
            "Schema",
            Box::new(|t| t["meta"]["snapshot.json"]["hashes"]["sha256"] = "xy".into()),
        ),
        (
            "MerkleRoot",
            Box::new(|t| t["merkle_root"] = "AB".repeat(32).into()),
        ),
        (
            "MerkleRoot",
            Box::new(|t| t["merkle_root"] = "ab".repeat(31).into()),
        ),
        ("MerkleRoot", Box::new(|t| t["merkle_root"] = json!(null))),
        ("Schema", Box::new(|t| t["version"] = 0.into())),
        (
            "SpecVersion",
            Box::new(|t| t["spec_version"] = "0.9".into()),
        ),
    ];
    for (expect, edit) in cases {
        let mut signed = timestamp(1, FAR, 1, None);
        edit(&mut signed);
        let err = verify_timestamp(&root, &sign(&signed, &[&a]), now()).unwrap_err();
        assert!(
            format!("{err:?}").starts_with(expect),
            "expected {expect}, got {err:?}"
        );
    }
}

#[test]
fn rollback_rules() {
    let a = TestKey::ed25519(1);
    let root = trusted(&[&a]);
    let at = |version, snapshot, merkle: &str| {
        verify_timestamp(
            &root,
            &sign(&timestamp(version, FAR, snapshot, Some(merkle)), &[&a]),
            now(),
        )
        .unwrap()
    };
    let trusted_ts = at(5, 5, &"11".repeat(32));
    assert_eq!(
        at(6, 6, &"22".repeat(32)).check_rollback(&trusted_ts),
        Ok(Freshness::Newer)
    );
    assert_eq!(
        at(5, 5, &"11".repeat(32)).check_rollback(&trusted_ts),
        Ok(Freshness::Unchanged)
    );
    assert_eq!(
        at(4, 4, &"11".repeat(32)).check_rollback(&trusted_ts),
        Err(VerifyError::Rollback { trusted: 5, new: 4 })
    );
    // Same version, other contents: a second timestamp 5.
    assert_eq!(
        at(5, 5, &"33".repeat(32)).check_rollback(&trusted_ts),
        Err(VerifyError::SameVersionDifferentBytes { version: 5 })
    );
    // Same version, same contents, other bytes (re-serialised): still not the trusted file.
    let same = sign(&timestamp(5, FAR, 5, Some(&"11".repeat(32))), &[&a]);
    let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(&same).unwrap()).unwrap();
    assert_eq!(
        verify_timestamp(&root, &compact, now())
            .unwrap()
            .check_rollback(&trusted_ts),
        Err(VerifyError::SameVersionDifferentBytes { version: 5 })
    );
    assert_eq!(
        at(6, 4, &"22".repeat(32)).check_rollback(&trusted_ts),
        Err(VerifyError::SnapshotRollback { trusted: 5, new: 4 })
    );
}

// ---- Snapshot and targets (classic roles) -----------------------------------------------

fn snapshot(version: u64, expires: &str, targets: u64) -> Value {
    json!({
        "_type": "snapshot", "spec_version": "1.0.0", "version": version, "expires": expires,
        "meta": {"targets.json": {"version": targets, "length": 120,
                 "hashes": {"sha256": "cd".repeat(32)}}},
    })
}

#[test]
fn snapshot_and_targets_are_verified_by_their_own_role_keys() {
    let (root_key, online, snap, targ) = (
        TestKey::ed25519(1),
        TestKey::ed25519(2),
        TestKey::p256(3),
        TestKey::ed25519(4),
    );
    let (r, o, s, t) = ([&root_key], [&online], [&snap], [&targ]);
    let signed_root = root(
        1,
        FAR,
        &Roles {
            root: (&r, 1),
            timestamp: (&o, 1),
            snapshot: (&s, 1),
            targets: (&t, 1),
        },
    );
    let trusted = TrustedRoot::new(&sign(&signed_root, &[&root_key])).unwrap();

    let snap_doc = snapshot(4, FAR, 3);
    let verified = verify_role(&trusted, RoleType::Snapshot, &sign(&snap_doc, &[&snap])).unwrap();
    assert_eq!(
        (verified.role(), verified.version()),
        (RoleType::Snapshot, 4)
    );
    let meta = verified.meta().unwrap();
    assert_eq!(meta["targets.json"].version(), 3);
    assert_eq!(meta["targets.json"].length(), Some(120));
    assert_eq!(meta["targets.json"].hashes()["sha256"], vec![0xcd; 32]);
    assert!(verified.check_expiry(now()).is_ok());

    // Signed by another role's key (the online key, the root key): not counted.
    for wrong in [&online, &root_key] {
        let err =
            verify_role(&trusted, RoleType::Snapshot, &sign(&snap_doc, &[wrong])).unwrap_err();
        assert_eq!(
            below(err),
            (0, 1, SignedBy::Root { version: 1 }),
            "{}",
            wrong.id()
        );
    }
    // A snapshot signed by the snapshot key is not a targets document.
    let err = verify_role(&trusted, RoleType::Targets, &sign(&snap_doc, &[&targ])).unwrap_err();
    assert!(matches!(err, VerifyError::WrongType { .. }), "{err}");
    let targets_doc = json!({
        "_type": "targets", "spec_version": "1.0.0", "version": 3, "expires": FAR,
        "targets": {"a/b": {"length": 1, "hashes": {"sha256": "ef".repeat(32)}}},
    });
    let verified = verify_role(&trusted, RoleType::Targets, &sign(&targets_doc, &[&targ])).unwrap();
    assert_eq!(verified.signed(), &targets_doc);
    // Targets metadata has no `meta`.
    assert!(matches!(verified.meta(), Err(VerifyError::Schema { .. })));

    // Expiry is checked against the caller's time only.
    let old = verify_role(
        &trusted,
        RoleType::Snapshot,
        &sign(&snapshot(5, PAST, 3), &[&snap]),
    )
    .unwrap();
    assert!(matches!(
        old.check_expiry(now()),
        Err(VerifyError::Expired {
            role: RoleType::Snapshot,
            version: 5,
            ..
        })
    ));
    // The common members are checked; the rest of `signed` is the caller's.
    for (edit, expect) in [
        (
            Box::new(|d: &mut Value| d["version"] = json!(0)) as Edit,
            "Schema",
        ),
        (
            Box::new(|d: &mut Value| d["expires"] = json!("2030-01-01")),
            "Schema",
        ),
        (
            Box::new(|d: &mut Value| d["spec_version"] = json!("2.0.0")),
            "SpecVersion",
        ),
        (
            Box::new(|d: &mut Value| d["meta"]["targets.json"]["version"] = json!(0)),
            "Schema",
        ),
        (
            Box::new(|d: &mut Value| d["meta"]["targets.json"]["hashes"]["sha256"] = json!("zz")),
            "Schema",
        ),
    ] {
        let mut doc = snapshot(4, FAR, 3);
        edit(&mut doc);
        let result = verify_role(&trusted, RoleType::Snapshot, &sign(&doc, &[&snap]))
            .and_then(|v| v.meta().map(|_| ()));
        let err = result.unwrap_err();
        assert!(format!("{err:?}").starts_with(expect), "{doc}: {err:?}");
    }
}

// ---- Documents signed by keys the caller trusts (attestations) --------------------------

#[test]
fn trusted_keys_count_their_threshold_and_check_the_type() {
    let (a, b, other) = (TestKey::ed25519(7), TestKey::p256(8), TestKey::ed25519(9));
    let key = |k: &TestKey| PublicKey::from_key_json(&k.json()).unwrap();
    assert_eq!(key(&a).key_id().to_string(), a.id());
    let one = TrustedKeys::new([key(&a), key(&b)], 1.try_into().unwrap());
    let two = TrustedKeys::new([key(&a), key(&b), key(&a)], 2.try_into().unwrap());
    assert_eq!(two.keys().len(), 2);
    let doc = json!({"_type": "audit-attestation", "timestamp_version": 10});

    assert_eq!(
        one.verify("audit-attestation", &sign(&doc, &[&a])).unwrap(),
        doc
    );
    assert_eq!(
        one.verify("audit-attestation", &sign(&doc, &[&b])).unwrap(),
        doc
    );
    assert_eq!(
        two.verify("audit-attestation", &sign(&doc, &[&a, &b]))
            .unwrap(),
        doc
    );
    let err = two
        .verify("audit-attestation", &sign(&doc, &[&a]))
        .unwrap_err();
    assert_eq!(below(err.clone()), (1, 2, SignedBy::TrustedKeys));
    assert_eq!(
        err.to_string(),
        "audit-attestation version 0: 1 valid signature(s) by the keys the caller trusts, threshold 2"
    );
    // A key the caller does not trust.
    let err = one
        .verify("audit-attestation", &sign(&doc, &[&other]))
        .unwrap_err();
    assert_eq!(below(err), (0, 1, SignedBy::TrustedKeys));
    // Signed, but for another purpose.
    let err = one
        .verify(
            "audit-attestation",
            &sign(&json!({"_type": "timestamp"}), &[&a]),
        )
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::WrongType {
            expected: Document::Named("audit-attestation"),
            found: "timestamp".into()
        }
    );
    // Changed after signing.
    let mut bytes: Value = serde_json::from_slice(&sign(&doc, &[&a])).unwrap();
    bytes["signed"]["timestamp_version"] = json!(11);
    let err = one
        .verify("audit-attestation", &serde_json::to_vec(&bytes).unwrap())
        .unwrap_err();
    assert_eq!(below(err), (0, 1, SignedBy::TrustedKeys));
    // Two entries under one key ID.
    let err = two
        .verify("audit-attestation", &sign(&doc, &[&a, &a]))
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::DuplicateSignature { .. }),
        "{err}"
    );
    // Not a key the core verifies.
    let rsa = json!({"keytype": "rsa", "scheme": "rsassa-pss-sha256", "keyval": {"public": "x"}});
    assert!(matches!(
        PublicKey::from_key_json(&rsa),
        Err(VerifyError::UnsupportedKey { .. })
    ));
    let err = PublicKey::from_key_json(&json!({"keytype": "ed25519"})).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Schema {
                document: Document::Key,
                ..
            }
        ),
        "{err}"
    );
}

// ---- Proofs -----------------------------------------------------------------------------

fn tree() -> Tree {
    let mut tree = Tree::new();
    for (i, name) in ["se/rd/serde", "3/s/syn", "to/ki/tokio", "1/a"]
        .iter()
        .enumerate()
    {
        let contents = LeafContents::for_bytes(i as u64 + 1, name.as_bytes()).unwrap();
        tree.set(tuf_merkle::key_of(name), contents);
    }
    tree.set(
        tuf_merkle::key_of("gone"),
        LeafContents::deleted(2).unwrap(),
    );
    tree
}

#[test]
fn proofs_are_checked_against_the_verified_merkle_root() {
    let a = TestKey::ed25519(1);
    let root = trusted(&[&a]);
    let tree = tree();
    let ts = verify_timestamp(
        &root,
        &sign(&timestamp(9, FAR, 1, Some(&tree.root().to_hex())), &[&a]),
        now(),
    )
    .unwrap();
    let present = tree.prove("se/rd/serde").to_json();
    assert_eq!(
        ts.verify_proof_json("se/rd/serde", &present).unwrap(),
        Membership::Member(LeafContents::for_bytes(1, b"se/rd/serde").unwrap())
    );
    assert_eq!(
        ts.verify_proof_json("gone", &tree.prove("gone").to_json())
            .unwrap(),
        Membership::Member(LeafContents::deleted(2).unwrap())
    );
    assert_eq!(
        ts.verify_proof_json("nope", &tree.prove("nope").to_json())
            .unwrap(),
        Membership::Absent
    );
    let names = ["se/rd/serde", "nope", "gone", "1/a"];
    let multi = tree.prove_many(&names).unwrap();
    let found = ts
        .verify_multi_proof_json(&names, &multi.to_json(), 1 << 20)
        .unwrap();
    assert_eq!(found["nope"], Membership::Absent);
    assert_eq!(
        found["1/a"],
        Membership::Member(LeafContents::for_bytes(4, b"1/a").unwrap())
    );
    assert_eq!(found.len(), 4);
}

#[test]
fn a_proof_is_refused_for_another_root_another_name_or_no_root() {
    let a = TestKey::ed25519(1);
    let root = trusted(&[&a]);
    let tree = tree();
    let other_root = trusted_timestamp(&root, &a, Some(&"77".repeat(32)));
    let proof = tree.prove("se/rd/serde").to_json();
    let err = other_root
        .verify_proof_json("se/rd/serde", &proof)
        .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Proof {
                version: 9,
                source: tuf_merkle::ProofError::RootMismatch { .. }
            }
        ),
        "{err}"
    );
    let ts = trusted_timestamp(&root, &a, Some(&tree.root().to_hex()));
    let err = ts.verify_proof_json("3/s/syn", &proof).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Proof {
                source: tuf_merkle::ProofError::WrongNames(_),
                ..
            }
        ),
        "{err}"
    );
    let multi = tree.prove_many(&["se/rd/serde", "nope"]).unwrap().to_json();
    for asked in [&["se/rd/serde"][..], &["se/rd/serde", "nope", "1/a"]] {
        let err = ts
            .verify_multi_proof_json(asked, &multi, 1 << 20)
            .unwrap_err();
        assert!(matches!(err, VerifyError::Proof { .. }), "{err}");
    }
    let err = ts
        .verify_multi_proof_json(&["se/rd/serde", "nope"], &multi, 10)
        .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Proof {
                source: tuf_merkle::ProofError::TooLarge { .. },
                ..
            }
        ),
        "{err}"
    );
    let classic = trusted_timestamp(&root, &a, None);
    assert_eq!(
        classic
            .verify_proof_json("se/rd/serde", &proof)
            .unwrap_err(),
        VerifyError::NoMerkleRoot { version: 9 }
    );
    assert_eq!(
        ProofRoot::of(&classic),
        Err(VerifyError::NoMerkleRoot { version: 9 })
    );
}

#[test]
fn a_stored_proof_root_checks_proofs_as_its_timestamp_does() {
    let a = TestKey::ed25519(1);
    let tree = tree();
    let ts = trusted_timestamp(&trusted(&[&a]), &a, Some(&tree.root().to_hex()));
    let of = ProofRoot::of(&ts).unwrap();
    let stored = ProofRoot::trusted(9, tree.root());
    assert_eq!(of, stored);
    let other = ProofRoot::trusted(8, tuf_merkle::hash::sha256(b"another tree"));
    let names = ["se/rd/serde", "nope"];
    let multi = tree.prove_many(&names).unwrap().to_json();
    for name in ["se/rd/serde", "gone", "nope"] {
        let proof = tree.prove(name).to_json();
        assert_eq!(
            stored.verify_proof_json(name, &proof),
            ts.verify_proof_json(name, &proof)
        );
        assert!(matches!(
            other.verify_proof_json(name, &proof),
            Err(VerifyError::Proof {
                version: 8,
                source: tuf_merkle::ProofError::RootMismatch { .. }
            })
        ));
    }
    assert_eq!(
        stored.verify_multi_proof_json(&names, &multi, 1 << 20),
        ts.verify_multi_proof_json(&names, &multi, 1 << 20)
    );
    assert!(
        other
            .verify_multi_proof_json(&names, &multi, 1 << 20)
            .is_err()
    );
}

fn trusted_timestamp(
    root: &TrustedRoot,
    key: &TestKey,
    merkle_root: Option<&str>,
) -> tuf_verify_core::Timestamp {
    verify_timestamp(
        root,
        &sign(&timestamp(9, FAR, 1, merkle_root), &[key]),
        now(),
    )
    .unwrap()
}

/// The POUF's binary vectors (`merkle/tests/vectors/binary`, §10), each against a timestamp
/// signed over its root: every binary proof verifies to what its JSON form says, alone and in
/// an answer of either encoding; every refused byte string is refused with the vector's error.
#[test]
fn the_binary_vectors_verify_in_the_core() {
    let a = TestKey::ed25519(1);
    let root = trusted(&[&a]);
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../merkle/tests/vectors/binary");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let (mut proofs, mut refused) = (0, 0);
    for file in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let ts = trusted_timestamp(&root, &a, Some(v["root"].as_str().unwrap()));
        let names = |e: &Value| -> Vec<String> {
            match &e["asked"] {
                Value::String(s) => vec![s.clone()],
                other => serde_json::from_value(other.clone()).unwrap(),
            }
        };
        let unhex = |e: &Value| hex::decode(e["hex"].as_str().unwrap()).unwrap();
        for e in v["proofs"].as_array().unwrap() {
            let (asked, bytes) = (names(e), unhex(e));
            let json = serde_json::to_vec(&e["json"]).unwrap();
            let answer = |proof: &Value| {
                serde_json::to_vec(&json!({
                    "role": "crates.io", "timestamp_version": 9,
                    "merkle_root": v["root"], "proof": proof,
                }))
                .unwrap()
            };
            let binary_answer = tuf_verify_core::BinaryAnswer {
                role: "crates.io",
                timestamp_version: 9,
                merkle_root: tuf_merkle::hash::parse_hex(v["root"].as_str().unwrap()).unwrap(),
                proof: &bytes,
            }
            .encode()
            .unwrap();
            if e["kind"] == "multi" {
                let expected = ts.verify_multi_proof_json(&asked, &json, 1 << 20).unwrap();
                let limit = bytes.len();
                assert_eq!(
                    ts.verify_multi_proof_binary(&asked, &bytes, limit).unwrap(),
                    expected
                );
                assert_eq!(
                    ts.verify_multi_proof_answer(&asked, &binary_answer, limit)
                        .unwrap(),
                    expected
                );
                assert_eq!(
                    ts.verify_multi_proof_answer(&asked, &answer(&e["json"]), 1 << 20)
                        .unwrap(),
                    expected
                );
                // One byte under the limit it needs: refused for its size.
                assert!(matches!(
                    ts.verify_multi_proof_binary(&asked, &bytes, limit - 1),
                    Err(VerifyError::Proof {
                        source: tuf_merkle::ProofError::TooLarge { .. },
                        ..
                    })
                ));
            } else {
                let expected = ts.verify_proof_json(&asked[0], &json).unwrap();
                assert_eq!(ts.verify_proof_binary(&asked[0], &bytes).unwrap(), expected);
                assert_eq!(
                    ts.verify_proof_answer(&asked[0], &binary_answer).unwrap(),
                    expected
                );
                assert_eq!(
                    ts.verify_proof_answer(&asked[0], &answer(&e["json"]))
                        .unwrap(),
                    expected
                );
            }
            proofs += 1;
        }
        for e in v["refused"].as_array().into_iter().flatten() {
            let (asked, bytes) = (names(e), unhex(e));
            let err = if e["kind"] == "multi" {
                ts.verify_multi_proof_binary(&asked, &bytes, 1 << 20)
                    .unwrap_err()
            } else {
                let err = ts
                    .verify_proof_binary(&asked[0], &bytes)
                    .expect_err(e["why"].as_str().unwrap());
                // The core reads either kind of single proof: one whose kind byte was
                // changed to the other kind is refused for what then follows.
                if e["error"] == "WrongKind" {
                    refused += 1;
                    continue;
                }
                err
            };
            let VerifyError::Proof { source, .. } = &err else {
                panic!("{}: {err}", e["why"]);
            };
            let variant: String = format!("{source:?}")
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            assert_eq!(variant, e["error"].as_str().unwrap(), "{}: {err}", e["why"]);
            refused += 1;
        }
    }
    assert!(
        proofs >= 40 && refused >= 25,
        "{proofs} proofs, {refused} refused"
    );
}
