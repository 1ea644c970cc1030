//! Test metadata: keys made from seeds with the core's own curve crates (deterministic, no
//! files), key objects written as tough writes them, and signed documents.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use p256::ecdsa::signature::Signer as _;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// DER prefix of an uncompressed P-256 `SubjectPublicKeyInfo`.
pub const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A far future `expires`.
pub const FAR: &str = "2100-01-01T00:00:00Z";
/// `FAR` in seconds.
pub fn far() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(4_102_444_800)
}
/// A time well before `FAR`.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(2_000_000_000)
}

/// A signing key of either type.
pub enum TestKey {
    Ed(ed25519_dalek::SigningKey),
    Ec(p256::ecdsa::SigningKey),
}

impl TestKey {
    pub fn ed25519(seed: u8) -> TestKey {
        TestKey::Ed(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    pub fn p256(seed: u8) -> TestKey {
        TestKey::Ec(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
    }

    /// The raw public key: 32 bytes, or the uncompressed point.
    pub fn public(&self) -> Vec<u8> {
        match self {
            TestKey::Ed(k) => k.verifying_key().to_bytes().to_vec(),
            TestKey::Ec(k) => k
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        }
    }

    /// The key object as tough writes it (ECDSA: keytype `ecdsa`, PEM with LF line ends and no
    /// final newline).
    pub fn json(&self) -> Value {
        match self {
            TestKey::Ed(_) => json!({"keytype": "ed25519", "scheme": "ed25519",
                                      "keyval": {"public": hex::encode(self.public())}}),
            TestKey::Ec(_) => json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                                      "keyval": {"public": p256_pem(&self.public())}}),
        }
    }

    pub fn id(&self) -> String {
        key_id(&self.json())
    }

    /// Ed25519: the 64-byte signature; ECDSA: DER over SHA-256.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::Ed(k) => ed25519_dalek::Signer::sign(k, message).to_bytes().to_vec(),
            TestKey::Ec(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// PEM `PUBLIC KEY` of an uncompressed P-256 point, as tough writes it.
pub fn p256_pem(point: &[u8]) -> String {
    spki_pem([&P256_SPKI_PREFIX[..], point].concat())
}

pub fn spki_pem(der: Vec<u8>) -> String {
    pem::encode_config(
        &pem::Pem::new("PUBLIC KEY", der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
    .trim()
    .to_owned()
}

/// OLPC canonical JSON.
pub fn canonical<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut ser).unwrap();
    out
}

pub fn key_id(key: &Value) -> String {
    hex::encode(Sha256::digest(canonical(key)))
}

/// `signed` with a signature by each key, as file bytes (pretty, as tough writes them).
pub fn sign(signed: &Value, keys: &[&TestKey]) -> Vec<u8> {
    let message = canonical(signed);
    let signatures: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keyid": k.id(), "sig": hex::encode(k.sign(&message))}))
        .collect();
    serde_json::to_vec_pretty(&json!({"signed": signed, "signatures": signatures})).unwrap()
}

/// `signed` with the given raw signature entries.
pub fn with_signatures(signed: &Value, signatures: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let signatures: Vec<Value> = signatures
        .into_iter()
        .map(|(keyid, sig)| json!({"keyid": keyid, "sig": hex::encode(sig)}))
        .collect();
    serde_json::to_vec_pretty(&json!({"signed": signed, "signatures": signatures})).unwrap()
}

/// The keys of each role of a root.
pub struct Roles<'a> {
    pub root: (&'a [&'a TestKey], u64),
    pub timestamp: (&'a [&'a TestKey], u64),
    pub snapshot: (&'a [&'a TestKey], u64),
    pub targets: (&'a [&'a TestKey], u64),
}

impl<'a> Roles<'a> {
    /// Every role held by `keys` with threshold 1.
    pub fn all(keys: &'a [&'a TestKey]) -> Roles<'a> {
        Roles {
            root: (keys, 1),
            timestamp: (keys, 1),
            snapshot: (keys, 1),
            targets: (keys, 1),
        }
    }
}

/// A root's `signed`.
pub fn root(version: u64, expires: &str, roles: &Roles<'_>) -> Value {
    let mut keys = serde_json::Map::new();
    let mut role = |(held, threshold): (&[&TestKey], u64)| {
        for k in held {
            keys.insert(k.id(), k.json());
        }
        json!({"keyids": held.iter().map(|k| k.id()).collect::<Vec<_>>(), "threshold": threshold})
    };
    let roles = json!({
        "root": role(roles.root),
        "timestamp": role(roles.timestamp),
        "snapshot": role(roles.snapshot),
        "targets": role(roles.targets),
    });
    json!({
        "_type": "root",
        "spec_version": "1.0.0",
        "consistent_snapshot": true,
        "version": version,
        "expires": expires,
        "keys": keys,
        "roles": roles,
    })
}

/// A timestamp's `signed`.
pub fn timestamp(version: u64, expires: &str, snapshot: u64, merkle_root: Option<&str>) -> Value {
    let mut t = json!({
        "_type": "timestamp",
        "spec_version": "1.0.0",
        "version": version,
        "expires": expires,
        "meta": {"snapshot.json": {"version": snapshot, "length": 431,
                 "hashes": {"sha256": "ab".repeat(32)}}},
    });
    if let Some(r) = merkle_root {
        t["merkle_root"] = r.into();
    }
    t
}
