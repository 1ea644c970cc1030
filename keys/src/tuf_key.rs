//! TUF public keys: tough's [`Key`] together with its key ID, for the two key types we sign
//! with; signature verification exactly as tough performs it; and the one place that parses and
//! writes public keys as DER and PEM `SubjectPublicKeyInfo`.
//!
//! Properties kept:
//! - a [`TufPublicKey`] always holds a valid key: a 32-byte Ed25519 key, or an uncompressed
//!   P-256 point that lies on the curve;
//! - SPKI parsing compares whole DER prefixes (DER is canonical), so it accepts exactly the two
//!   encodings it writes and nothing that merely resembles them;
//! - PEM errors never echo the input (a file handed in by mistake may be a private key).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ED25519, UnparsedPublicKey};
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::{EcdsaKey, EcdsaScheme, Ed25519Key, Ed25519Scheme, Key};

use crate::error::PublicKeyError;

/// DER prefix of a `SubjectPublicKeyInfo` for an ECDSA P-256 key with an uncompressed point:
/// SEQUENCE { SEQUENCE { OID ecPublicKey, OID prime256v1 }, BIT STRING (0 unused bits) }.
/// DER is canonical, so comparing the whole prefix is an exact parse.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// Length of an uncompressed P-256 point: 0x04 || X || Y.
const P256_POINT_LEN: usize = 65;
/// DER prefix of a `SubjectPublicKeyInfo` for an Ed25519 key (RFC 8410):
/// SEQUENCE { SEQUENCE { OID id-Ed25519 }, BIT STRING (0 unused bits) }.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// Length of an Ed25519 public key.
const ED25519_PUBLIC_LEN: usize = 32;
/// The PEM label of a `SubjectPublicKeyInfo`.
const SPKI_PEM_LABEL: &str = "PUBLIC KEY";

/// The signature algorithms this crate signs TUF metadata with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// TUF `ed25519` (keytype and scheme `ed25519`): pure Ed25519 over the message, 64-byte
    /// signatures.
    Ed25519,
    /// TUF `ecdsa` keytype with scheme `ecdsa-sha2-nistp256`: ECDSA on P-256 over the SHA-256 of
    /// the message, DER-encoded signatures.
    EcdsaP256,
}

impl KeyAlgorithm {
    /// The TUF scheme name: `ed25519` or `ecdsa-sha2-nistp256`.
    pub fn scheme(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::EcdsaP256 => "ecdsa-sha2-nistp256",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = PublicKeyError;

    /// Accepts `ed25519`, and `ecdsa`, `ecdsa-sha2-nistp256` or `p256` for ECDSA P-256.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ed25519" => Ok(KeyAlgorithm::Ed25519),
            "ecdsa" | "ecdsa-sha2-nistp256" | "p256" => Ok(KeyAlgorithm::EcdsaP256),
            _ => Err(PublicKeyError::UnknownAlgorithm { name: s.to_owned() }),
        }
    }
}

/// A TUF public key we sign for: tough's [`Key`], its key ID, and its algorithm.
///
/// The key ID is computed as the TUF specification does (SHA-256 over the canonical JSON of the
/// key object), by tough's [`Key::key_id`], so it is the ID tough and python-tuf look the key up
/// by. ECDSA keys are written with keytype `ecdsa`, scheme `ecdsa-sha2-nistp256` and the public
/// key as a PEM `SubjectPublicKeyInfo`, the form both tough and python-tuf read; Ed25519 keys as
/// 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TufPublicKey {
    algorithm: KeyAlgorithm,
    key: Key,
    key_id: Decoded<Hex>,
    /// The raw public key: 32 bytes (Ed25519) or an uncompressed point (P-256).
    raw: Vec<u8>,
}

impl TufPublicKey {
    /// Builds the TUF key for a raw 32-byte Ed25519 public key.
    pub fn ed25519(public: &[u8]) -> Result<Self, PublicKeyError> {
        if public.len() != ED25519_PUBLIC_LEN {
            return Err(PublicKeyError::Ed25519Length { len: public.len() });
        }
        let key = Key::Ed25519 {
            keyval: Ed25519Key {
                public: public.to_vec().into(),
                _extra: HashMap::new(),
            },
            scheme: Ed25519Scheme::Ed25519,
            _extra: HashMap::new(),
        };
        Self::with_key_id(KeyAlgorithm::Ed25519, key, public.to_vec())
    }

    /// Builds the TUF key for an ECDSA P-256 public key given as an uncompressed point
    /// (`0x04 || X || Y`). The point must lie on the curve.
    pub fn ecdsa_p256(point: &[u8]) -> Result<Self, PublicKeyError> {
        check_p256_point(point)?;
        let key = Key::Ecdsa {
            keyval: EcdsaKey {
                // `Decoded<EcdsaFlex>` encodes the point as a PEM SubjectPublicKeyInfo.
                public: point.to_vec().into(),
                _extra: HashMap::new(),
            },
            scheme: EcdsaScheme::EcdsaSha2Nistp256,
            _extra: HashMap::new(),
        };
        Self::with_key_id(KeyAlgorithm::EcdsaP256, key, point.to_vec())
    }

    /// Builds the TUF key from a DER `SubjectPublicKeyInfo` (what AWS KMS `GetPublicKey`
    /// returns), accepting only an Ed25519 key or an ECDSA P-256 key with an uncompressed point.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, PublicKeyError> {
        if let Some(point) = der.strip_prefix(&P256_SPKI_PREFIX[..])
            && point.len() == P256_POINT_LEN
        {
            return Self::ecdsa_p256(point);
        }
        if let Some(public) = der.strip_prefix(&ED25519_SPKI_PREFIX[..])
            && public.len() == ED25519_PUBLIC_LEN
        {
            return Self::ed25519(public);
        }
        Err(PublicKeyError::UnsupportedSpki { len: der.len() })
    }

    /// Builds the TUF key from PEM text holding exactly one `PUBLIC KEY` block (a DER
    /// `SubjectPublicKeyInfo`, as `openssl pkey -pubout` and [`TufPublicKey::to_spki_pem`]
    /// write it). Errors describe the PEM framing, never its contents.
    pub fn from_spki_pem(text: &str) -> Result<Self, PublicKeyError> {
        let blocks = pem::parse_many(text).map_err(|e| PublicKeyError::NotPem {
            reason: pem_problem(&e),
        })?;
        let [block] = blocks.as_slice() else {
            return Err(match blocks.len() {
                0 => PublicKeyError::NotPem {
                    reason: "no PEM block found",
                },
                count => PublicKeyError::MultiplePemBlocks { count },
            });
        };
        if block.tag() != SPKI_PEM_LABEL {
            return Err(PublicKeyError::WrongPemLabel {
                label: block.tag().to_owned(),
            });
        }
        Self::from_spki_der(block.contents())
    }

    /// The DER `SubjectPublicKeyInfo` of this key, the inverse of
    /// [`TufPublicKey::from_spki_der`] (what AWS KMS `GetPublicKey` returns).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let prefix: &[u8] = match self.algorithm {
            KeyAlgorithm::Ed25519 => &ED25519_SPKI_PREFIX,
            KeyAlgorithm::EcdsaP256 => &P256_SPKI_PREFIX,
        };
        [prefix, &self.raw].concat()
    }

    /// The PEM `PUBLIC KEY` text of this key (CRLF line endings, as the `pem` crate writes
    /// them), as `openssl pkey -pubout` writes it and [`TufPublicKey::from_spki_pem`] reads it.
    /// This is what `tuf-signer key export` prints and the ceremony exchanges.
    pub fn to_spki_pem(&self) -> String {
        pem::encode(&pem::Pem::new(SPKI_PEM_LABEL, self.to_spki_der()))
    }

    /// Wraps a TUF key read from metadata (for example a key listed in `root.json`), keeping it
    /// exactly as given so that its key ID matches the one the metadata uses. Accepts `ed25519`
    /// and `ecdsa`/`ecdsa-sha2-nistp256` keys with valid public keys.
    pub fn from_tuf_key(key: Key) -> Result<Self, PublicKeyError> {
        let (algorithm, raw) = match &key {
            Key::Ed25519 { keyval, .. } => {
                if keyval.public.len() != ED25519_PUBLIC_LEN {
                    return Err(PublicKeyError::Ed25519Length {
                        len: keyval.public.len(),
                    });
                }
                (KeyAlgorithm::Ed25519, keyval.public.to_vec())
            }
            Key::Ecdsa { keyval, .. } | Key::EcdsaOld { keyval, .. } => {
                check_p256_point(&keyval.public)?;
                (KeyAlgorithm::EcdsaP256, keyval.public.to_vec())
            }
            Key::Rsa { .. } => return Err(PublicKeyError::UnsupportedTufKey),
        };
        Self::with_key_id(algorithm, key, raw)
    }

    fn with_key_id(
        algorithm: KeyAlgorithm,
        key: Key,
        raw: Vec<u8>,
    ) -> Result<Self, PublicKeyError> {
        let key_id = key.key_id()?;
        Ok(Self {
            algorithm,
            key,
            key_id,
            raw,
        })
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The TUF key object, as it goes into `root.json`.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Consumes this value, returning the TUF key object.
    pub fn into_key(self) -> Key {
        self.key
    }

    /// The TUF key ID (SHA-256 of the key's canonical JSON).
    pub fn key_id(&self) -> &Decoded<Hex> {
        &self.key_id
    }

    /// The TUF key ID as lowercase hex, as it appears in metadata.
    pub fn key_id_hex(&self) -> String {
        hex::encode(&self.key_id)
    }

    /// The raw public key: 32 bytes for Ed25519, the uncompressed point for P-256.
    pub fn raw_public_key(&self) -> &[u8] {
        &self.raw
    }

    /// Whether `other` is the same public key, however either is written: TUF metadata can
    /// spell one key several ways (keytype `ecdsa` or `ecdsa-sha2-nistp256`, a PEM or a hex
    /// point, upper- or lower-case hex), each with its own key ID, so equal key material, not
    /// equal key IDs, is what makes two entries one signer.
    pub fn is_same_key(&self, other: &TufPublicKey) -> bool {
        self.algorithm == other.algorithm && self.raw == other.raw
    }

    /// Checks `signature` over `message` the way tough does for this key type (`ED25519`, or
    /// `ECDSA_P256_SHA256_ASN1`: SHA-256 of the message, DER signature). Returns `true` only for
    /// a valid signature; never panics on malformed input.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.algorithm {
            KeyAlgorithm::Ed25519 => UnparsedPublicKey::new(&ED25519, &self.raw)
                .verify(message, signature)
                .is_ok(),
            KeyAlgorithm::EcdsaP256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.raw)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// Describes a PEM parse failure without echoing any of the input: the base64 error, for one,
/// names the offending byte, which may belong to a private key.
pub(crate) fn pem_problem(error: &pem::PemError) -> &'static str {
    match error {
        pem::PemError::MismatchedTags(..) => "the BEGIN and END labels differ",
        pem::PemError::MalformedFraming => "the BEGIN/END framing is malformed",
        pem::PemError::MissingBeginTag => "a BEGIN line is missing",
        pem::PemError::MissingEndTag => "an END line is missing",
        pem::PemError::MissingData => "a PEM block has no data",
        pem::PemError::InvalidData(_) => "the base64 data is invalid",
        pem::PemError::InvalidHeader(_) => "a PEM header line is invalid",
        pem::PemError::NotUtf8(_) => "the PEM text is not UTF-8",
    }
}

/// Checks that `point` is an uncompressed P-256 point on the curve.
fn check_p256_point(point: &[u8]) -> Result<(), PublicKeyError> {
    if point.len() != P256_POINT_LEN || point.first() != Some(&0x04) {
        return Err(PublicKeyError::InvalidP256Point);
    }
    aws_lc_rs::signature::ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .map(|_| ())
        .map_err(|_| PublicKeyError::InvalidP256Point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_key_serialises_as_tuf_expects() {
        let key = TufPublicKey::ed25519(&[7u8; 32]).unwrap();
        let json = serde_json::to_value(key.key()).unwrap();
        assert_eq!(json["keytype"], "ed25519");
        assert_eq!(json["scheme"], "ed25519");
        assert_eq!(json["keyval"]["public"], "07".repeat(32));
        assert_eq!(key.key_id_hex().len(), 64);
        assert_eq!(
            key.key_id_hex(),
            hex::encode(key.key().key_id().unwrap().as_ref())
        );
    }

    #[test]
    fn key_id_is_sha256_of_canonical_json() {
        // The TUF spec's key ID: SHA-256 over the canonical JSON of the key object, whose keys
        // are sorted and which has no whitespace.
        let key = TufPublicKey::ed25519(&[1u8; 32]).unwrap();
        let canonical = format!(
            r#"{{"keytype":"ed25519","keyval":{{"public":"{}"}},"scheme":"ed25519"}}"#,
            "01".repeat(32)
        );
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        assert_eq!(key.key_id_hex(), hex::encode(digest.as_ref()));
    }

    #[test]
    fn wrong_lengths_and_bad_points_are_rejected() {
        assert!(matches!(
            TufPublicKey::ed25519(&[0u8; 31]),
            Err(PublicKeyError::Ed25519Length { len: 31 })
        ));
        let mut point = [0u8; 65];
        point[0] = 4;
        // (0, 0) is not on the curve.
        assert!(matches!(
            TufPublicKey::ecdsa_p256(&point),
            Err(PublicKeyError::InvalidP256Point)
        ));
        assert!(matches!(
            TufPublicKey::ecdsa_p256(&point[..33]),
            Err(PublicKeyError::InvalidP256Point)
        ));
        assert!(matches!(
            TufPublicKey::from_spki_der(b"\x30\x03\x02\x01\x00"),
            Err(PublicKeyError::UnsupportedSpki { len: 5 })
        ));
    }

    #[test]
    fn ed25519_spki_round_trips() {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&[9u8; 32]);
        let key = TufPublicKey::from_spki_der(&der).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
        assert_eq!(key.raw_public_key(), &[9u8; 32]);
        // A trailing byte makes it something else.
        der.push(0);
        assert!(TufPublicKey::from_spki_der(&der).is_err());
    }

    fn p256_key() -> TufPublicKey {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref()).unwrap();
        TufPublicKey::ecdsa_p256(pair.public_key().as_ref()).unwrap()
    }

    #[test]
    fn spki_der_and_pem_round_trip_for_both_algorithms() {
        for key in [TufPublicKey::ed25519(&[5u8; 32]).unwrap(), p256_key()] {
            let der = key.to_spki_der();
            assert_eq!(TufPublicKey::from_spki_der(&der).unwrap(), key);
            let pem = key.to_spki_pem();
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\r\n"), "{pem}");
            assert_eq!(TufPublicKey::from_spki_pem(&pem).unwrap(), key);
            // What `openssl pkey -pubout` writes: LF line endings.
            assert_eq!(
                TufPublicKey::from_spki_pem(&pem.replace("\r\n", "\n")).unwrap(),
                key
            );
        }
        // The DER prefixes are the standard ones (RFC 8410 and RFC 5480), checked against
        // what aws-lc writes for a P-256 key.
        let ed = TufPublicKey::ed25519(&[5u8; 32]).unwrap().to_spki_der();
        assert_eq!(hex::encode(&ed[..12]), "302a300506032b6570032100");
        assert_eq!(ed.len(), 44);
        let p256 = p256_key().to_spki_der();
        assert_eq!(
            hex::encode(&p256[..26]),
            "3059301306072a8648ce3d020106082a8648ce3d030107034200"
        );
        assert_eq!(p256.len(), 91);
    }

    #[test]
    fn spki_pem_errors_say_what_is_wrong_without_echoing_it() {
        let key = p256_key();
        let pem = key.to_spki_pem();
        assert!(matches!(
            TufPublicKey::from_spki_pem("no pem here"),
            Err(PublicKeyError::NotPem { .. })
        ));
        assert!(matches!(
            TufPublicKey::from_spki_pem(&format!("{pem}{pem}")),
            Err(PublicKeyError::MultiplePemBlocks { count: 2 })
        ));
        let err =
            TufPublicKey::from_spki_pem(&pem.replace("PUBLIC KEY", "PRIVATE KEY")).unwrap_err();
        assert!(
            matches!(&err, PublicKeyError::WrongPemLabel { label } if label == "PRIVATE KEY"),
            "{err}"
        );
        let body = pem.lines().nth(1).unwrap();
        let broken = pem.replacen(&body[..8], "!!!!!!!!", 1);
        let err = TufPublicKey::from_spki_pem(&broken).unwrap_err();
        assert!(matches!(err, PublicKeyError::NotPem { .. }), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&body[8..20]), "{shown}");
    }

    #[test]
    fn one_key_spelled_two_ways_is_the_same_key_under_another_key_id() {
        let ed = TufPublicKey::ed25519(&[0xab; 32]).unwrap();
        let mut json = serde_json::to_value(ed.key()).unwrap();
        json["keyval"]["public"] = hex::encode([0xab; 32]).to_uppercase().into();
        let upper = TufPublicKey::from_tuf_key(serde_json::from_value(json).unwrap()).unwrap();
        assert_ne!(ed.key_id(), upper.key_id());
        assert!(ed.is_same_key(&upper));

        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let p256 = TufPublicKey::ecdsa_p256(&point).unwrap();
        let hex_point = hex::encode(&point);
        let edits: [&dyn Fn(&mut serde_json::Value); 2] =
            [&|j| j["keytype"] = "ecdsa-sha2-nistp256".into(), &|j| {
                j["keyval"]["public"] = hex_point.clone().into()
            }];
        for edit in edits {
            let mut json = serde_json::to_value(p256.key()).unwrap();
            edit(&mut json);
            let other = TufPublicKey::from_tuf_key(serde_json::from_value(json).unwrap()).unwrap();
            assert_ne!(p256.key_id(), other.key_id());
            assert!(p256.is_same_key(&other));
        }
        assert!(!ed.is_same_key(&p256));
        assert!(!ed.is_same_key(&TufPublicKey::ed25519(&[8u8; 32]).unwrap()));
    }

    #[test]
    fn algorithm_names_parse() {
        assert_eq!(
            "ed25519".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Ed25519
        );
        assert_eq!(
            "ecdsa-sha2-nistp256".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::EcdsaP256
        );
        assert!("rsa".parse::<KeyAlgorithm>().is_err());
    }
}
