//! TUF public keys, their key IDs, and signature verification in pure Rust.
//!
//! Properties kept:
//! - a key's ID is computed as the TUF specification does, SHA-256 over the canonical JSON of
//!   the key object exactly as the root wrote it (unknown members included), and a root that
//!   lists a key under any other ID is refused, so a signature is never counted for an ID that
//!   is not its key's;
//! - a [`PublicKey`] always holds a usable key: an Ed25519 point that decodes and is not of small
//!   order (under such a key every signature verifies), or an uncompressed P-256 point on the
//!   curve; anything else is refused when the root is read, not when a signature happens to be
//!   checked;
//! - signatures are checked as tough checks them, and no looser (the interoperability table in
//!   the crate documentation has the details): Ed25519 per RFC 8032 with `S < L` and no
//!   small-order `R` (`ed25519-dalek`'s `verify_strict`); ECDSA P-256 over the SHA-256 of the
//!   message with a strict DER signature, `0 < r, s < n` (RustCrypto's `p256`).

use std::fmt;

use p256::ecdsa::signature::Verifier as _;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::{Document, RoleType, VerifyError};
use crate::json;

/// DER prefix of a `SubjectPublicKeyInfo` for an ECDSA P-256 key with an uncompressed point:
/// SEQUENCE { SEQUENCE { OID ecPublicKey, OID prime256v1 }, BIT STRING (0 unused bits) }. DER
/// is canonical, so comparing the whole prefix is an exact parse.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// `0x04 || X || Y`.
const P256_POINT_LEN: usize = 65;

/// A TUF key ID: the SHA-256 of the key's canonical JSON, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// Reads a key ID as metadata writes it: exactly 64 lowercase hex digits (the one form the
    /// TUF specification computes; any other spelling names no key).
    pub fn parse(text: &str) -> Option<KeyId> {
        tuf_merkle::hash::parse_hex(text).ok().map(|d| KeyId(d.0))
    }

    /// The key ID of the key object `key`: SHA-256 of its OLPC canonical JSON.
    pub fn of_key_json(key: &Value) -> Result<KeyId, VerifyError> {
        let canonical = json::canonical(Document::Key, key)?;
        Ok(KeyId(Sha256::digest(&canonical).into()))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The signature schemes the core verifies (D4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyType {
    /// keytype and scheme `ed25519`: pure Ed25519 (RFC 8032) over the message, 64-byte
    /// signatures; `keyval.public` is 64 hex digits.
    Ed25519,
    /// keytype `ecdsa` (or the older `ecdsa-sha2-nistp256`), scheme `ecdsa-sha2-nistp256`:
    /// ECDSA on P-256 over the SHA-256 of the message, DER signatures; `keyval.public` is a PEM
    /// `SubjectPublicKeyInfo` (or the hex of the uncompressed point).
    EcdsaP256,
}

#[derive(Clone)]
enum Verifier {
    Ed25519(ed25519_dalek::VerifyingKey),
    EcdsaP256(p256::ecdsa::VerifyingKey),
}

/// A public key a root lists, checked and ready to verify signatures.
#[derive(Clone)]
pub struct PublicKey {
    id: KeyId,
    key_type: KeyType,
    /// The key material: 32 bytes (Ed25519) or the uncompressed point (P-256).
    raw: Vec<u8>,
    verifier: Verifier,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("id", &self.id)
            .field("key_type", &self.key_type)
            .field("raw", &hex::encode(&self.raw))
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for PublicKey {}

/// The members of a key object that matter; others are allowed and covered by the key ID.
#[derive(Deserialize)]
struct RawKey {
    keytype: String,
    scheme: String,
    keyval: RawKeyval,
}

#[derive(Deserialize)]
struct RawKeyval {
    public: String,
}

impl PublicKey {
    /// Reads the key object `key` that a root lists under `listed`: checks that `listed` is its
    /// key ID, that its type is supported, and that its public key is valid.
    pub fn from_root_entry(listed: &str, key: &Value) -> Result<PublicKey, VerifyError> {
        let id = KeyId::of_key_json(key)?;
        if listed != id.to_string() {
            return Err(VerifyError::KeyIdMismatch {
                listed: listed.to_owned(),
                computed: id.to_string(),
            });
        }
        PublicKey::read(Document::Role(RoleType::Root), id, key)
    }

    /// Reads a key object that no root lists (an auditor's key, given to [`crate::TrustedKeys`]):
    /// its key ID is computed as TUF computes it, and its type and public key are checked as
    /// [`PublicKey::from_root_entry`] checks them.
    pub fn from_key_json(key: &Value) -> Result<PublicKey, VerifyError> {
        let id = KeyId::of_key_json(key)?;
        PublicKey::read(Document::Key, id, key)
    }

    /// The key object `key` whose key ID is `id`, checked.
    fn read(document: Document, id: KeyId, key: &Value) -> Result<PublicKey, VerifyError> {
        let raw: RawKey = serde_json::from_value(key.clone()).map_err(|e| VerifyError::Schema {
            document,
            reason: format!("key {id}: {e}"),
        })?;
        let invalid = |reason| VerifyError::InvalidPublicKey {
            key_id: id.to_string(),
            reason,
        };
        match (raw.keytype.as_str(), raw.scheme.as_str()) {
            ("ed25519", "ed25519") => {
                let bytes: [u8; 32] = hex::decode(&raw.keyval.public)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| invalid("an Ed25519 public key is 64 hex digits"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| invalid("not an Ed25519 point"))?;
                if key.is_weak() {
                    return Err(invalid(
                        "an Ed25519 point of small order, under which any signature verifies",
                    ));
                }
                Ok(PublicKey {
                    id,
                    key_type: KeyType::Ed25519,
                    raw: bytes.to_vec(),
                    verifier: Verifier::Ed25519(key),
                })
            }
            ("ecdsa" | "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256") => {
                let point = p256_point(&raw.keyval.public).map_err(invalid)?;
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| invalid("not a point on P-256"))?;
                Ok(PublicKey {
                    id,
                    key_type: KeyType::EcdsaP256,
                    raw: point,
                    verifier: Verifier::EcdsaP256(key),
                })
            }
            _ => Err(VerifyError::UnsupportedKey {
                key_id: id.to_string(),
                keytype: raw.keytype,
                scheme: raw.scheme,
            }),
        }
    }

    /// The key's TUF key ID.
    pub fn key_id(&self) -> &KeyId {
        &self.id
    }

    /// The signature scheme.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key material: the 32-byte Ed25519 key, or the 65-byte uncompressed P-256 point. Two
    /// entries with the same material are one key, whatever their IDs (TUF metadata can spell
    /// one key several ways: PEM or hex, keytype `ecdsa` or `ecdsa-sha2-nistp256`).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Whether `signature` is this key's signature of `message` (for TUF, the canonical JSON of
    /// `signed`). Never panics; malformed signatures are `false`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.verifier {
            Verifier::Ed25519(key) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify_strict(message, &sig).is_ok()
            }
            Verifier::EcdsaP256(key) => {
                let Ok(sig) = p256::ecdsa::DerSignature::from_bytes(signature) else {
                    return false;
                };
                key.verify(message, &sig).is_ok()
            }
        }
    }
}

/// The uncompressed point of an ECDSA P-256 `keyval.public`: a PEM `PUBLIC KEY` block holding
/// the `SubjectPublicKeyInfo` (what tough and tuf-keys write), or the point's hex.
fn p256_point(public: &str) -> Result<Vec<u8>, &'static str> {
    let point = if public.starts_with("-----BEGIN ") {
        let blocks = pem::parse_many(public).map_err(|_| "malformed PEM")?;
        let [block] = blocks.as_slice() else {
            return Err("not exactly one PEM block");
        };
        if block.tag() != "PUBLIC KEY" {
            return Err("the PEM block is not a PUBLIC KEY");
        }
        block
            .contents()
            .strip_prefix(&P256_SPKI_PREFIX[..])
            .ok_or("not the SubjectPublicKeyInfo of an uncompressed P-256 point")?
            .to_vec()
    } else {
        hex::decode(public).map_err(|_| "neither PEM nor hex")?
    };
    if point.len() != P256_POINT_LEN || point[0] != 0x04 {
        return Err("not an uncompressed P-256 point (0x04 || X || Y)");
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn key_id_is_sha256_of_the_canonical_key_json() {
        let key = json!({"keytype": "ed25519", "scheme": "ed25519",
                         "keyval": {"public": "01".repeat(32)}});
        let canonical = format!(
            r#"{{"keytype":"ed25519","keyval":{{"public":"{}"}},"scheme":"ed25519"}}"#,
            "01".repeat(32)
        );
        assert_eq!(
            KeyId::of_key_json(&key).unwrap().to_string(),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        // Unknown members are part of the key, and of its ID.
        let mut extra = key.clone();
        extra["keyid_hash_algorithms"] = json!(["sha256"]);
        assert_ne!(
            KeyId::of_key_json(&key).unwrap(),
            KeyId::of_key_json(&extra).unwrap()
        );
    }

    #[test]
    fn key_ids_have_one_spelling() {
        let id = "ab".repeat(32);
        assert!(KeyId::parse(&id).is_some());
        assert!(KeyId::parse(&id.to_uppercase()).is_none());
        assert!(KeyId::parse(&id[..62]).is_none());
    }

    #[test]
    fn a_key_listed_under_another_id_is_refused() {
        let key = json!({"keytype": "ed25519", "scheme": "ed25519",
                         "keyval": {"public": "01".repeat(32)}});
        let err = PublicKey::from_root_entry(&"00".repeat(32), &key).unwrap_err();
        assert!(matches!(err, VerifyError::KeyIdMismatch { .. }), "{err}");
        let id = KeyId::of_key_json(&key).unwrap().to_string();
        let err = PublicKey::from_root_entry(&id.to_uppercase(), &key).unwrap_err();
        assert!(matches!(err, VerifyError::KeyIdMismatch { .. }), "{err}");
    }

    fn entry(key: Value) -> Result<PublicKey, VerifyError> {
        let id = KeyId::of_key_json(&key).unwrap().to_string();
        PublicKey::from_root_entry(&id, &key)
    }

    #[test]
    fn unsupported_key_types_are_refused() {
        for (keytype, scheme) in [
            ("rsa", "rsassa-pss-sha256"),
            ("ed25519", "ecdsa-sha2-nistp256"),
            ("ecdsa", "ecdsa-sha2-nistp384"),
            ("ecdsa", "ed25519"),
            ("Ed25519", "ed25519"),
        ] {
            let err = entry(json!({"keytype": keytype, "scheme": scheme,
                                   "keyval": {"public": "01".repeat(32)}}))
            .unwrap_err();
            assert!(matches!(err, VerifyError::UnsupportedKey { .. }), "{err}");
        }
        let err = entry(json!({"keytype": "ed25519", "keyval": {"public": "01"}})).unwrap_err();
        assert!(matches!(err, VerifyError::Schema { .. }), "{err}");
    }

    #[test]
    fn invalid_ed25519_keys_are_refused() {
        let ed = |public: String| {
            entry(json!({"keytype": "ed25519", "scheme": "ed25519",
                         "keyval": {"public": public}}))
        };
        // The identity (y = 1) has small order; y = 2 is not on the curve.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        for public in [
            hex::encode(identity),
            hex::encode(off_curve),
            "01".repeat(31),
            "zz".repeat(32),
        ] {
            let err = ed(public.clone()).unwrap_err();
            assert!(
                matches!(err, VerifyError::InvalidPublicKey { .. }),
                "{public}: {err}"
            );
        }
    }

    #[test]
    fn invalid_p256_keys_are_refused() {
        let ec = |public: String| {
            entry(json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                         "keyval": {"public": public}}))
        };
        let mut off_curve = vec![4u8];
        off_curve.extend([1u8; 64]);
        let compressed = {
            let mut p = vec![2u8];
            p.extend([1u8; 32]);
            p
        };
        for public in [
            hex::encode(&off_curve),
            hex::encode(&compressed),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".to_owned(),
            "zz".to_owned(),
        ] {
            let err = ec(public.clone()).unwrap_err();
            assert!(
                matches!(err, VerifyError::InvalidPublicKey { .. }),
                "{public}: {err}"
            );
        }
    }
}
