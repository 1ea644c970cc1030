//! The core against tough 0.24 (aws-lc-rs underneath), with keys from tuf-keys' key files:
//! what one accepts the other accepts, and each encoding tough refuses the core refuses. Every
//! row of the table in the crate documentation is a case of `encodings_table` (run it with
//! `--nocapture` to print the table).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{FAR, Roles, TestKey, canonical, key_id, now, p256_pem, spki_pem};
use serde_json::{Value, json};
use tough::schema::{KeyHolder, Signed};
use tuf_keys::{FileKeySource, FileSigner, KeyAlgorithm};
use tuf_verify_core::{
    PublicKey, RoleType, TrustedKeys, TrustedRoot, verify_role, verify_timestamp,
};

/// The order of P-256, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// The order L of the Ed25519 base point, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

struct FileKeys {
    dir: tempfile::TempDir,
    ed: FileSigner,
    ec: FileSigner,
}

fn file_keys() -> FileKeys {
    let dir = tempfile::tempdir().unwrap();
    let ed = FileSigner::generate(dir.path().join("ed.pem"), KeyAlgorithm::Ed25519).unwrap();
    let ec = FileSigner::generate(dir.path().join("ec.pem"), KeyAlgorithm::EcdsaP256).unwrap();
    FileKeys { dir, ed, ec }
}

/// The key object of a tuf-keys signer, as tough serialises it.
fn key_json(signer: &FileSigner) -> Value {
    serde_json::to_value(signer.public_key().key()).unwrap()
}

/// A root whose four roles are all held by the single key object `key` (threshold 1).
fn root_with_key(key: &Value) -> Value {
    let id = key_id(key);
    let role = json!({"keyids": [id], "threshold": 1});
    json!({
        "_type": "root", "spec_version": "1.0.0", "consistent_snapshot": true,
        "version": 1, "expires": FAR,
        "keys": {id: key},
        "roles": {"root": role, "timestamp": role, "snapshot": role, "targets": role},
    })
}

fn envelope(signed: &Value, signatures: &[(String, Vec<u8>)]) -> Vec<u8> {
    common::with_signatures(signed, signatures.to_vec())
}

fn file_sign(signer: &FileSigner, signed: &Value) -> Vec<u8> {
    signer.sign_message_blocking(&canonical(signed)).unwrap()
}

fn tough_root(bytes: &[u8]) -> Result<(), String> {
    let root: Signed<tough::schema::Root> =
        serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    root.signed.verify_role(&root).map_err(|e| e.to_string())
}

fn tough_timestamp(root: &[u8], timestamp: &[u8]) -> Result<(), String> {
    let root: Signed<tough::schema::Root> =
        serde_json::from_slice(root).map_err(|e| e.to_string())?;
    let ts: Signed<tough::schema::Timestamp> =
        serde_json::from_slice(timestamp).map_err(|e| e.to_string())?;
    root.signed.verify_role(&ts).map_err(|e| e.to_string())
}

fn core_root(bytes: &[u8]) -> Result<(), String> {
    TrustedRoot::new(bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn core_timestamp(root: &[u8], timestamp: &[u8]) -> Result<(), String> {
    let root = TrustedRoot::new(root).map_err(|e| e.to_string())?;
    verify_timestamp(&root, timestamp, now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn tuf_keys_signatures_are_accepted_by_both() {
    let keys = file_keys();
    for signer in [&keys.ed, &keys.ec] {
        let key = key_json(signer);
        let root = root_with_key(&key);
        let root_bytes = envelope(&root, &[(key_id(&key), file_sign(signer, &root))]);
        // tuf-keys computes the key ID tough and the core compute.
        assert_eq!(signer.public_key().key_id_hex(), key_id(&key));
        tough_root(&root_bytes).unwrap();
        core_root(&root_bytes).unwrap();
        let ts = common::timestamp(3, FAR, 2, Some(&"ab".repeat(32)));
        let ts_bytes = envelope(&ts, &[(key_id(&key), file_sign(signer, &ts))]);
        tough_timestamp(&root_bytes, &ts_bytes).unwrap();
        core_timestamp(&root_bytes, &ts_bytes).unwrap();
        // A classic role's snapshot, through `verify_role`.
        let snapshot = json!({
            "_type": "snapshot", "spec_version": "1.0.0", "version": 2, "expires": FAR,
            "meta": {"targets.json": {"version": 1}},
        });
        let snapshot_bytes = envelope(&snapshot, &[(key_id(&key), file_sign(signer, &snapshot))]);
        let tough_root: Signed<tough::schema::Root> = serde_json::from_slice(&root_bytes).unwrap();
        let tough_snapshot: Signed<tough::schema::Snapshot> =
            serde_json::from_slice(&snapshot_bytes).unwrap();
        tough_root.signed.verify_role(&tough_snapshot).unwrap();
        let trusted = TrustedRoot::new(&root_bytes).unwrap();
        verify_role(&trusted, RoleType::Snapshot, &snapshot_bytes).unwrap();
        // An auditor's attestation: the key given on its own, as a client reads it.
        let statement = json!({"_type": "audit-attestation", "timestamp_version": 3});
        let attestation = envelope(&statement, &[(key_id(&key), file_sign(signer, &statement))]);
        let auditors = TrustedKeys::new(
            [PublicKey::from_key_json(&key).unwrap()],
            1.try_into().unwrap(),
        );
        assert_eq!(
            auditors.verify("audit-attestation", &attestation).unwrap(),
            statement
        );
    }
}

#[test]
fn metadata_tough_signs_is_accepted_by_the_core() {
    let keys = file_keys();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Ed25519 root keys, an ECDSA timestamp key: tough's editor signs both files.
    let (ed, ec) = (key_json(&keys.ed), key_json(&keys.ec));
    let (ed_id, ec_id) = (key_id(&ed), key_id(&ec));
    let root: tough::schema::Root = serde_json::from_value(json!({
        "_type": "root", "spec_version": "1.0.0", "consistent_snapshot": true,
        "version": 1, "expires": FAR,
        "keys": {ed_id.clone(): ed, ec_id.clone(): ec},
        "roles": {
            "root": {"keyids": [ed_id], "threshold": 1},
            "timestamp": {"keyids": [ec_id], "threshold": 1},
            "snapshot": {"keyids": [ec_id], "threshold": 1},
            "targets": {"keyids": [ec_id], "threshold": 1},
        },
    }))
    .unwrap();
    let holder = KeyHolder::Root(root.clone());
    let source = |name: &str| -> Box<dyn tough::key_source::KeySource> {
        Box::new(FileKeySource::new(keys.dir.path().join(name)))
    };
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signed_root = runtime
        .block_on(tough::editor::signed::SignedRole::new(
            root,
            &holder,
            &[source("ed.pem")],
            &rng,
        ))
        .unwrap();
    let ts: tough::schema::Timestamp =
        serde_json::from_value(common::timestamp(5, FAR, 4, Some(&"cd".repeat(32)))).unwrap();
    let signed_ts = runtime
        .block_on(tough::editor::signed::SignedRole::new(
            ts,
            &holder,
            &[source("ec.pem")],
            &rng,
        ))
        .unwrap();
    let root = TrustedRoot::new(signed_root.buffer()).unwrap();
    let ts = verify_timestamp(&root, signed_ts.buffer(), now()).unwrap();
    assert_eq!(ts.version(), 5);
    assert_eq!(ts.merkle_root().unwrap().to_hex(), "cd".repeat(32));
    // A classic role's snapshot and targets, signed by tough's editor with the ECDSA key.
    let snapshot: tough::schema::Snapshot = serde_json::from_value(json!({
        "_type": "snapshot", "spec_version": "1.0.0", "version": 4, "expires": FAR,
        "meta": {"targets.json": {"version": 3, "length": 99,
                 "hashes": {"sha256": "ef".repeat(32)}}},
    }))
    .unwrap();
    let targets: tough::schema::Targets = serde_json::from_value(json!({
        "_type": "targets", "spec_version": "1.0.0", "version": 3, "expires": FAR,
        "targets": {"se/rd/serde": {"length": 5, "hashes": {"sha256": "01".repeat(32)}}},
    }))
    .unwrap();
    let signed_snapshot = runtime
        .block_on(tough::editor::signed::SignedRole::new(
            snapshot,
            &holder,
            &[source("ec.pem")],
            &rng,
        ))
        .unwrap();
    let verified = verify_role(&root, RoleType::Snapshot, signed_snapshot.buffer()).unwrap();
    assert_eq!(verified.meta().unwrap()["targets.json"].version(), 3);
    let signed_targets = runtime
        .block_on(tough::editor::signed::SignedRole::new(
            targets,
            &holder,
            &[source("ec.pem")],
            &rng,
        ))
        .unwrap();
    let verified = verify_role(&root, RoleType::Targets, signed_targets.buffer()).unwrap();
    assert_eq!(verified.signed()["targets"]["se/rd/serde"]["length"], 5);
}

#[test]
fn metadata_the_core_accepts_is_accepted_by_tough() {
    // The core's own test keys (signed with ed25519-dalek and p256), in every key spelling the
    // core reads: a chain of roots and timestamps.
    let (a, b) = (TestKey::ed25519(1), TestKey::p256(2));
    let keys: &[&TestKey] = &[&a, &b];
    let root1 = common::root(
        1,
        FAR,
        &Roles {
            root: (keys, 2),
            ..Roles::all(keys)
        },
    );
    let root1_bytes = common::sign(&root1, &[&a, &b]);
    core_root(&root1_bytes).unwrap();
    tough_root(&root1_bytes).unwrap();
    let ts = common::sign(&common::timestamp(1, FAR, 1, None), &[&b]);
    core_timestamp(&root1_bytes, &ts).unwrap();
    tough_timestamp(&root1_bytes, &ts).unwrap();
    // The ECDSA key as hex, under the older keytype.
    let hex_key = json!({"keytype": "ecdsa-sha2-nistp256", "scheme": "ecdsa-sha2-nistp256",
                         "keyval": {"public": hex::encode(b.public())}});
    let root = root_with_key(&hex_key);
    let bytes = envelope(&root, &[(key_id(&hex_key), b.sign(&canonical(&root)))]);
    core_root(&bytes).unwrap();
    tough_root(&bytes).unwrap();
}

/// One row of the interoperability table.
struct Row {
    what: &'static str,
    tough: bool,
    core: bool,
}

fn row(what: &'static str, tough: Result<(), String>, core: Result<(), String>) -> Row {
    Row {
        what,
        tough: tough.is_ok(),
        core: core.is_ok(),
    }
}

/// Both verdicts on one root file.
fn on_root(what: &'static str, bytes: &[u8]) -> Row {
    row(what, tough_root(bytes), core_root(bytes))
}

/// A minimal DER INTEGER of a big-endian unsigned value.
fn der_int(value: &[u8]) -> Vec<u8> {
    let start = value
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(value.len() - 1);
    let mut v = value[start..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    [vec![0x02, v.len() as u8], v].concat()
}

fn der_seq(body: Vec<u8>) -> Vec<u8> {
    [vec![0x30, body.len() as u8], body].concat()
}

/// `r` and `s` of a DER ECDSA signature, 32 bytes each.
fn split_der(der: &[u8]) -> ([u8; 32], [u8; 32]) {
    let sig = p256::ecdsa::Signature::from_der(der).unwrap();
    (sig.r().to_bytes().into(), sig.s().to_bytes().into())
}

/// An ECDSA signature of `message` by `signer` whose `r` has its top bit set (so that DER
/// needs a leading zero byte for it). ECDSA nonces are random: half of all signatures do.
fn ecdsa_with_high_bit_r(signer: &FileSigner, message: &[u8]) -> Vec<u8> {
    loop {
        let sig = signer.sign_message_blocking(message).unwrap();
        if split_der(&sig).0[0] & 0x80 != 0 {
            return sig;
        }
    }
}

#[test]
fn encodings_table() {
    let keys = file_keys();
    let mut rows = Vec::new();

    // -- Ed25519 ------------------------------------------------------------------------
    let ed = key_json(&keys.ed);
    let ed_id = key_id(&ed);
    let root = root_with_key(&ed);
    let message = canonical(&root);
    let good = keys.ed.sign_message_blocking(&message).unwrap();
    rows.push(on_root(
        "Ed25519: signature by a tuf-keys key file",
        &envelope(&root, &[(ed_id.clone(), good.clone())]),
    ));
    // S + L: the same scalar mod L, not canonical (RFC 8032 5.1.7 requires S < L).
    let mut s_plus_l = good.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s_plus_l[32 + i]) + u16::from(ED25519_L[i]) + carry;
        s_plus_l[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    rows.push(on_root(
        "Ed25519: S replaced by S + L (non-canonical scalar)",
        &envelope(&root, &[(ed_id.clone(), s_plus_l)]),
    ));
    for (what, len) in [
        ("Ed25519: signature truncated to 63 bytes", 63),
        ("Ed25519: signature with a 65th byte", 65),
    ] {
        let mut sig = good.clone();
        sig.resize(len, 0);
        rows.push(on_root(what, &envelope(&root, &[(ed_id.clone(), sig)])));
    }
    // The public key in uppercase hex: another key object, another key ID, the same key.
    let mut upper = ed.clone();
    upper["keyval"]["public"] = upper["keyval"]["public"]
        .as_str()
        .unwrap()
        .to_uppercase()
        .into();
    let upper_root = root_with_key(&upper);
    let sig = keys
        .ed
        .sign_message_blocking(&canonical(&upper_root))
        .unwrap();
    rows.push(on_root(
        "Ed25519: public key in uppercase hex",
        &envelope(&upper_root, &[(key_id(&upper), sig)]),
    ));
    // A public key that is not a point (y = 2): no signature can verify under it.
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    let bad = json!({"keytype": "ed25519", "scheme": "ed25519",
                     "keyval": {"public": hex::encode(off_curve)}});
    let bad_root = root_with_key(&bad);
    rows.push(on_root(
        "Ed25519: public key not a curve point (any signature)",
        &envelope(&bad_root, &[(key_id(&bad), good.clone())]),
    ));
    // The identity (small order): R = identity, S = 0 satisfies [S]B = R + [k]A for every
    // message, so this "signature" verifies under cofactorless checks that allow such keys.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = json!({"keytype": "ed25519", "scheme": "ed25519",
                      "keyval": {"public": hex::encode(identity)}});
    let weak_root = root_with_key(&weak);
    let forged = [identity.to_vec(), vec![0u8; 32]].concat();
    rows.push(on_root(
        "Ed25519: small-order public key (identity) with the forgery R = identity, S = 0",
        &envelope(&weak_root, &[(key_id(&weak), forged)]),
    ));

    // -- ECDSA P-256 --------------------------------------------------------------------
    let ec = key_json(&keys.ec);
    let ec_id = key_id(&ec);
    let root = root_with_key(&ec);
    let message = canonical(&root);
    let good = keys.ec.sign_message_blocking(&message).unwrap();
    let on = |what, sig: Vec<u8>| on_root(what, &envelope(&root, &[(ec_id.clone(), sig)]));
    rows.push(on(
        "ECDSA: DER signature by a tuf-keys key file",
        good.clone(),
    ));
    let (r, s) = split_der(&good);
    let sig = p256::ecdsa::Signature::from_der(&good).unwrap();
    let (sr, ss) = sig.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(sr, -*ss).unwrap();
    // Whichever of s and n - s the key file produced, the other one too.
    let (low_s, high_s) = match sig.normalize_s() {
        None => (good.clone(), high.to_der().as_bytes().to_vec()),
        Some(_) => (high.to_der().as_bytes().to_vec(), good.clone()),
    };
    rows.push(on("ECDSA: low S (s <= n/2)", low_s));
    rows.push(on(
        "ECDSA: high S (n - s, the other valid signature)",
        high_s,
    ));
    rows.push(on(
        "ECDSA: raw r || s (64 bytes) instead of DER",
        [r, s].concat(),
    ));
    // DER variants of the same (r, s).
    let padded_s = [vec![0x02, 33, 0x00], s.to_vec()].concat();
    let mut non_minimal = der_int(&r);
    if s[0] & 0x80 == 0 {
        non_minimal.extend(padded_s);
        rows.push(on(
            "ECDSA: DER INTEGER with a superfluous leading zero",
            der_seq(non_minimal),
        ));
    } else {
        // s needs its zero byte; pad it with a second one.
        non_minimal.extend([vec![0x02, 34, 0x00, 0x00], s.to_vec()].concat());
        rows.push(on(
            "ECDSA: DER INTEGER with a superfluous leading zero",
            der_seq(non_minimal),
        ));
    }
    let body = [der_int(&r), der_int(&s)].concat();
    rows.push(on(
        "ECDSA: DER SEQUENCE length in long form (0x81 NN)",
        [vec![0x30, 0x81, body.len() as u8], body.clone()].concat(),
    ));
    rows.push(on(
        "ECDSA: a byte after the DER SEQUENCE",
        [der_seq(body.clone()), vec![0]].concat(),
    ));
    let high_r = ecdsa_with_high_bit_r(&keys.ec, &message);
    let (hr, hs) = split_der(&high_r);
    rows.push(on(
        "ECDSA: DER INTEGER r negative (top bit set, no leading zero)",
        der_seq([vec![0x02, 32], hr.to_vec(), der_int(&hs)].concat()),
    ));
    rows.push(on(
        "ECDSA: s = 0",
        der_seq([der_int(&r), vec![0x02, 1, 0]].concat()),
    ));
    rows.push(on(
        "ECDSA: s = n",
        der_seq([der_int(&r), der_int(&P256_N)].concat()),
    ));
    // Key spellings.
    let point = keys.ec.public_key().raw_public_key().to_vec();
    let spelled = |what, key: Value| {
        let root = root_with_key(&key);
        let sig = keys.ec.sign_message_blocking(&canonical(&root)).unwrap();
        on_root(what, &envelope(&root, &[(key_id(&key), sig)]))
    };
    rows.push(spelled(
        "ECDSA: public key as the hex of the uncompressed point",
        json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": hex::encode(&point)}}),
    ));
    rows.push(spelled(
        "ECDSA: keytype ecdsa-sha2-nistp256 (the older name)",
        json!({"keytype": "ecdsa-sha2-nistp256", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": p256_pem(&point)}}),
    ));
    rows.push(spelled(
        "ECDSA: PEM with CRLF line ends and a final newline",
        json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": format!("{}\r\n", p256_pem(&point).replace('\n', "\r\n"))}}),
    ));
    rows.push(spelled(
        "ECDSA: PEM labelled EC PUBLIC KEY instead of PUBLIC KEY",
        json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": p256_pem(&point).replace("PUBLIC KEY", "EC PUBLIC KEY")}}),
    ));
    // Compressed point: 0x02/0x03 || X.
    let mut compressed = vec![2 + (point[64] & 1)];
    compressed.extend_from_slice(&point[1..33]);
    let compressed_spki = [
        vec![
            0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00,
        ],
        compressed.clone(),
    ]
    .concat();
    rows.push(spelled(
        "ECDSA: public key a compressed point (PEM SubjectPublicKeyInfo)",
        json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": spki_pem(compressed_spki)}}),
    ));
    rows.push(spelled(
        "ECDSA: public key a compressed point (hex)",
        json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": hex::encode(&compressed)}}),
    ));
    let mut off_curve = point.clone();
    off_curve[64] ^= 1;
    rows.push(spelled(
        "ECDSA: public key not on the curve",
        json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": p256_pem(&off_curve)}}),
    ));
    let mut p384_oid = [&common::P256_SPKI_PREFIX[..], &point].concat();
    // prime256v1 (1.2.840.10045.3.1.7) -> 1.2.840.10045.3.1.6, another curve's OID.
    p384_oid[22] = 0x06;
    rows.push(spelled(
        "ECDSA: SubjectPublicKeyInfo naming another curve",
        json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": spki_pem(p384_oid)}}),
    ));

    // -- Key IDs, thresholds, documents --------------------------------------------------
    let root = root_with_key(&ed);
    let message = canonical(&root);
    let sig = keys.ed.sign_message_blocking(&message).unwrap();
    rows.push(on_root(
        "Two signature entries by one key (threshold 1)",
        &envelope(
            &root,
            &[(ed_id.clone(), sig.clone()), (ed_id.clone(), sig.clone())],
        ),
    ));
    let mut two = root.clone();
    two["roles"]["root"]["threshold"] = 2.into();
    let sig2 = keys.ed.sign_message_blocking(&canonical(&two)).unwrap();
    rows.push(on_root(
        "Two signature entries by one key (threshold 2)",
        &envelope(
            &two,
            &[(ed_id.clone(), sig2.clone()), (ed_id.clone(), sig2)],
        ),
    ));
    // One ECDSA key spelled as PEM and as hex: two key objects, two key IDs, one key.
    let (pem_key, hex_key) = (
        key_json(&keys.ec),
        json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
               "keyval": {"public": hex::encode(keys.ec.public_key().raw_public_key())}}),
    );
    let (pem_id, hex_id) = (key_id(&pem_key), key_id(&hex_key));
    let role = json!({"keyids": [pem_id, hex_id], "threshold": 2});
    let twice = json!({
        "_type": "root", "spec_version": "1.0.0", "consistent_snapshot": true,
        "version": 1, "expires": FAR,
        "keys": {pem_id.clone(): pem_key, hex_id.clone(): hex_key},
        "roles": {"root": role, "timestamp": role, "snapshot": role, "targets": role},
    });
    let twice_sig = keys.ec.sign_message_blocking(&canonical(&twice)).unwrap();
    rows.push(on_root(
        "One key listed under two key IDs (PEM and hex), both signing, threshold 2",
        &envelope(&twice, &[(pem_id, twice_sig.clone()), (hex_id, twice_sig)]),
    ));
    rows.push(on_root(
        "Signature entry whose keyid is in uppercase hex",
        &envelope(&root, &[(ed_id.to_uppercase(), sig.clone())]),
    ));
    let mut wrong_id = root.clone();
    let ec_key = key_json(&keys.ec);
    wrong_id["keys"][ed_id.clone()] = ec_key;
    let sig_wrong = keys
        .ec
        .sign_message_blocking(&canonical(&wrong_id))
        .unwrap();
    rows.push(on_root(
        "A key listed under an ID that is not its key ID",
        &envelope(&wrong_id, &[(ed_id.clone(), sig_wrong)]),
    ));
    let signed_with = |edit: &dyn Fn(&mut Value)| {
        let mut doc = root.clone();
        edit(&mut doc);
        let sig = keys.ed.sign_message_blocking(&canonical(&doc)).unwrap();
        envelope(&doc, &[(ed_id.clone(), sig)])
    };
    rows.push(on_root(
        "A string in signed not in Unicode NFC (signed over its NFC form)",
        &signed_with(&|d| d["note"] = "e\u{301}".into()),
    ));
    rows.push(on_root(
        "expires with fractional seconds (2100-01-01T00:00:00.5Z)",
        &signed_with(&|d| d["expires"] = "2100-01-01T00:00:00.5Z".into()),
    ));
    // Canonical JSON has no non-integers: sign the document with 1, then write 1.0.
    let text = String::from_utf8(signed_with(&|d| d["note"] = json!(1))).unwrap();
    rows.push(on_root(
        "A non-integer number in signed (1.0)",
        text.replacen("\"note\": 1", "\"note\": 1.0", 1).as_bytes(),
    ));
    rows.push(on_root(
        "An unknown member in signed (TUF's extension point)",
        &signed_with(&|d| d["x-note"] = json!({"a": [1, null]})),
    ));
    let text = String::from_utf8(signed_with(&|d| d["x-note"] = 2.into())).unwrap();
    rows.push(on_root(
        "A member repeated in signed (unknown member)",
        text.replacen("\"x-note\"", "\"x-note\": 1, \"x-note\"", 1)
            .as_bytes(),
    ));
    let text = String::from_utf8(signed_with(&|_| {})).unwrap();
    rows.push(on_root(
        "A member repeated in signed (version)",
        text.replacen("\"version\"", "\"version\": 1, \"version\"", 1)
            .as_bytes(),
    ));
    rows.push(on_root(
        "A role that lists a key ID the root has no key for",
        &signed_with(&|d| d["roles"]["targets"]["keyids"] = json!(["00".repeat(32)])),
    ));
    rows.push(on_root(
        "A role other than the four top-level roles (mirror)",
        &signed_with(&|d| d["roles"]["mirror"] = d["roles"]["root"].clone()),
    ));
    // tough reads RSA keys (the core does not); the SubjectPublicKeyInfo is all tough parses.
    let rsa_spki = der_seq(
        [
            vec![
                0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
                0x00, 0x03, 0x05, 0x00,
            ],
            vec![0x30, 0x02, 0x05, 0x00],
        ]
        .concat(),
    );
    let rsa = json!({"keytype": "rsa", "scheme": "rsassa-pss-sha256",
                     "keyval": {"public": spki_pem(rsa_spki)}});
    rows.push(on_root(
        "An RSA key listed in the root, unused",
        &signed_with(&|d| d["keys"][key_id(&rsa)] = rsa.clone()),
    ));
    rows.push(on_root(
        "A member added to the envelope beside signed and signatures",
        &{
            let mut doc: Value = serde_json::from_slice(&signed_with(&|_| {})).unwrap();
            doc["x"] = 1.into();
            serde_json::to_vec(&doc).unwrap()
        },
    ));

    // -- The table ----------------------------------------------------------------------
    let yes = |b: bool| if b { "accepts" } else { "refuses" };
    println!("| case | tough 0.24 | tuf-verify-core |");
    println!("| --- | --- | --- |");
    for r in &rows {
        println!("| {} | {} | {} |", r.what, yes(r.tough), yes(r.core));
    }
    // What the table says: (tough, core) per row.
    let expected: &[(&str, bool, bool)] = &EXPECTED;
    let got: Vec<(&str, bool, bool)> = rows.iter().map(|r| (r.what, r.tough, r.core)).collect();
    assert_eq!(got, expected);
    // Nothing tough refuses is accepted by the core.
    for r in &rows {
        assert!(
            r.tough || !r.core,
            "the core accepts what tough refuses: {}",
            r.what
        );
    }
}

const EXPECTED: [(&str, bool, bool); 40] = [
    ("Ed25519: signature by a tuf-keys key file", true, true),
    (
        "Ed25519: S replaced by S + L (non-canonical scalar)",
        false,
        false,
    ),
    ("Ed25519: signature truncated to 63 bytes", false, false),
    ("Ed25519: signature with a 65th byte", false, false),
    ("Ed25519: public key in uppercase hex", true, true),
    (
        "Ed25519: public key not a curve point (any signature)",
        false,
        false,
    ),
    (
        "Ed25519: small-order public key (identity) with the forgery R = identity, S = 0",
        true,
        false,
    ),
    ("ECDSA: DER signature by a tuf-keys key file", true, true),
    ("ECDSA: low S (s <= n/2)", true, true),
    (
        "ECDSA: high S (n - s, the other valid signature)",
        true,
        true,
    ),
    ("ECDSA: raw r || s (64 bytes) instead of DER", false, false),
    (
        "ECDSA: DER INTEGER with a superfluous leading zero",
        false,
        false,
    ),
    (
        "ECDSA: DER SEQUENCE length in long form (0x81 NN)",
        false,
        false,
    ),
    ("ECDSA: a byte after the DER SEQUENCE", false, false),
    (
        "ECDSA: DER INTEGER r negative (top bit set, no leading zero)",
        false,
        false,
    ),
    ("ECDSA: s = 0", false, false),
    ("ECDSA: s = n", false, false),
    (
        "ECDSA: public key as the hex of the uncompressed point",
        true,
        true,
    ),
    (
        "ECDSA: keytype ecdsa-sha2-nistp256 (the older name)",
        true,
        true,
    ),
    (
        "ECDSA: PEM with CRLF line ends and a final newline",
        true,
        true,
    ),
    (
        "ECDSA: PEM labelled EC PUBLIC KEY instead of PUBLIC KEY",
        true,
        false,
    ),
    (
        "ECDSA: public key a compressed point (PEM SubjectPublicKeyInfo)",
        true,
        false,
    ),
    ("ECDSA: public key a compressed point (hex)", true, false),
    ("ECDSA: public key not on the curve", false, false),
    (
        "ECDSA: SubjectPublicKeyInfo naming another curve",
        false,
        false,
    ),
    (
        "Two signature entries by one key (threshold 1)",
        false,
        false,
    ),
    (
        "Two signature entries by one key (threshold 2)",
        false,
        false,
    ),
    (
        "One key listed under two key IDs (PEM and hex), both signing, threshold 2",
        true,
        false,
    ),
    (
        "Signature entry whose keyid is in uppercase hex",
        true,
        false,
    ),
    (
        "A key listed under an ID that is not its key ID",
        false,
        false,
    ),
    (
        "A string in signed not in Unicode NFC (signed over its NFC form)",
        true,
        false,
    ),
    (
        "expires with fractional seconds (2100-01-01T00:00:00.5Z)",
        false,
        false,
    ),
    ("A non-integer number in signed (1.0)", false, false),
    (
        "An unknown member in signed (TUF's extension point)",
        true,
        true,
    ),
    ("A member repeated in signed (unknown member)", true, false),
    ("A member repeated in signed (version)", false, false),
    (
        "A role that lists a key ID the root has no key for",
        true,
        false,
    ),
    (
        "A role other than the four top-level roles (mirror)",
        false,
        false,
    ),
    ("An RSA key listed in the root, unused", true, false),
    (
        "A member added to the envelope beside signed and signatures",
        true,
        true,
    ),
];
