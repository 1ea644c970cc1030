//! The TUF metadata the core reads, as the specification names it: the signed envelope,
//! `root` and `timestamp`, and the threshold count of signatures.
//!
//! Properties kept:
//! - the typed values ([`Root`], [`RoleKeys`], [`Timestamp`], [`MetaFile`]) exist only as the
//!   result of parsing that checked every rule below; their fields are private, so no caller can
//!   build one that breaks them;
//! - nothing of a document is interpreted before its signatures are counted but the JSON
//!   envelope (`signed`, `signatures`) and the canonical form of `signed`: an unsigned document
//!   never reaches the parsing of keys, roles or dates;
//! - a threshold is met only by distinct keys the role lists: a signature counts only if its
//!   key ID is written exactly as the role lists it (and so is the key's real ID, which the root
//!   was checked for), it verifies over the canonical JSON of `signed`, and no signature by the
//!   same key material was counted before, so one key listed under two IDs counts once; a
//!   document with two signatures under one key ID is refused outright
//!   ([`VerifyError::DuplicateSignature`]), as tough and python-tuf refuse it;
//! - unknown members of `signed` are allowed, as TUF requires, and covered by the signatures.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tuf_merkle::Digest;

use crate::error::{Document, RoleType, SignedBy, VerifyError};
use crate::json;
use crate::key::{KeyId, PublicKey};
use crate::time::Expires;

/// A metadata file split into `signed` and its signatures, with the bytes they sign.
#[derive(Debug)]
pub(crate) struct Envelope {
    document: Document,
    /// `signed`, an object.
    pub(crate) signed: Value,
    /// Its OLPC canonical JSON.
    canonical: Vec<u8>,
    signatures: Vec<Signature>,
    /// SHA-256 of the whole file as received.
    pub(crate) file_sha256: [u8; 32],
}

/// One entry of `signatures`.
#[derive(Debug)]
struct Signature {
    /// As written (hex, or the document is refused); a key ID that is not 64 lowercase hex
    /// digits names no key.
    keyid: String,
    sig: Vec<u8>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    signed: Value,
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    keyid: String,
    sig: String,
}

fn schema(document: impl Into<Document>, reason: impl ToString) -> VerifyError {
    VerifyError::Schema {
        document: document.into(),
        reason: reason.to_string(),
    }
}

impl Envelope {
    /// Reads `{"signed": {…}, "signatures": [{"keyid": …, "sig": HEX}, …]}` strictly, and
    /// writes the canonical form of `signed`.
    pub(crate) fn parse(
        document: impl Into<Document>,
        bytes: &[u8],
    ) -> Result<Envelope, VerifyError> {
        let document = document.into();
        let value = json::parse_strict(document, bytes)?;
        let raw: RawEnvelope = serde_json::from_value(value).map_err(|e| schema(document, e))?;
        if !raw.signed.is_object() {
            return Err(schema(document, "signed is not an object"));
        }
        let canonical = json::canonical(document, &raw.signed)?;
        let mut seen = BTreeSet::new();
        let mut signatures = Vec::with_capacity(raw.signatures.len());
        for s in raw.signatures {
            let id_bytes = hex::decode(&s.keyid).map_err(|e| {
                schema(
                    document,
                    format!("the signature key ID {:?} is not hex: {e}", s.keyid),
                )
            })?;
            if !seen.insert(id_bytes) {
                return Err(VerifyError::DuplicateSignature {
                    document,
                    key_id: s.keyid,
                });
            }
            let sig = hex::decode(&s.sig).map_err(|e| {
                schema(
                    document,
                    format!("the signature by {:?} is not hex: {e}", s.keyid),
                )
            })?;
            signatures.push(Signature {
                keyid: s.keyid,
                sig,
            });
        }
        Ok(Envelope {
            document,
            signed: raw.signed,
            canonical,
            signatures,
            file_sha256: Sha256::digest(bytes).into(),
        })
    }

    /// The version `signed` claims, unverified (0 if it has none), for error messages.
    pub(crate) fn claimed_version(&self) -> u64 {
        self.signed
            .get("version")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    /// Refuses `signed` unless its `_type` is `role`'s.
    fn check_type(&self, role: RoleType) -> Result<(), VerifyError> {
        self.check_type_named(role.name())
    }

    /// Refuses `signed` unless its `_type` is `name`.
    pub(crate) fn check_type_named(&self, name: &str) -> Result<(), VerifyError> {
        let expected = self.document;
        match self.signed.get("_type") {
            Some(Value::String(t)) if t == name => Ok(()),
            Some(Value::String(t)) => Err(VerifyError::WrongType {
                expected,
                found: t.clone(),
            }),
            Some(other) => Err(VerifyError::WrongType {
                expected,
                found: other.to_string(),
            }),
            None => Err(schema(expected, "missing field `_type`")),
        }
    }

    /// `signed`, given up by the envelope once it was checked.
    pub(crate) fn into_signed(self) -> Value {
        self.signed
    }

    /// Counts the signatures on this document by distinct keys among `listed` (each a key of
    /// `keys`), and refuses fewer than `threshold`. `by` names the keys in the error.
    pub(crate) fn check_threshold(
        &self,
        keys: &BTreeMap<KeyId, PublicKey>,
        listed: &[KeyId],
        threshold: u64,
        by: SignedBy,
    ) -> Result<(), VerifyError> {
        let mut counted_ids = BTreeSet::new();
        let mut counted_keys: BTreeSet<&[u8]> = BTreeSet::new();
        for signature in &self.signatures {
            let Some(id) = KeyId::parse(&signature.keyid) else {
                continue;
            };
            if !listed.contains(&id) || counted_ids.contains(&id) {
                continue;
            }
            let Some(key) = keys.get(&id) else {
                continue;
            };
            if counted_keys.contains(key.raw()) {
                continue;
            }
            if key.verify(&self.canonical, &signature.sig) {
                counted_ids.insert(id);
                counted_keys.insert(key.raw());
            }
        }
        let valid = counted_ids.len() as u64;
        if valid >= threshold {
            Ok(())
        } else {
            Err(VerifyError::BelowThreshold {
                document: self.document,
                version: self.claimed_version(),
                by,
                valid,
                threshold,
            })
        }
    }
}

/// `spec_version`: TUF 1.x, written `1.MINOR` or `1.MINOR.PATCH` (decimal), as python-tuf
/// accepts; the core's own signer writes `1.0.0` (D4).
fn check_spec_version(role: RoleType, text: &str) -> Result<(), VerifyError> {
    let parts: Vec<&str> = text.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if numeric && (2..=3).contains(&parts.len()) && parts[0] == "1" {
        Ok(())
    } else {
        Err(VerifyError::SpecVersion {
            role,
            found: text.to_owned(),
        })
    }
}

fn version_of(role: RoleType, version: u64) -> Result<u64, VerifyError> {
    if version == 0 {
        Err(schema(role, "version 0: versions start at 1"))
    } else {
        Ok(version)
    }
}

fn expires_of(role: RoleType, text: &str) -> Result<Expires, VerifyError> {
    Expires::parse(text).map_err(|reason| schema(role, reason))
}

/// The keys of one role and how many of them must sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleKeys {
    key_ids: Vec<KeyId>,
    threshold: u64,
}

impl RoleKeys {
    /// The key IDs the role lists (distinct, each among the root's keys), in the root's order.
    pub fn key_ids(&self) -> &[KeyId] {
        &self.key_ids
    }

    /// How many distinct listed keys must sign (at least 1).
    pub fn threshold(&self) -> u64 {
        self.threshold
    }
}

/// `root.json`'s `signed`, checked: TUF 1.x, version at least 1, a valid `expires`, every key
/// listed under its own key ID and of a supported type, and exactly the four top-level roles,
/// each with a threshold of at least 1 and distinct key IDs the root has keys for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    spec_version: String,
    version: u64,
    expires: Expires,
    consistent_snapshot: bool,
    keys: BTreeMap<KeyId, PublicKey>,
    roles: BTreeMap<RoleType, RoleKeys>,
}

#[derive(Deserialize)]
struct RawRoot {
    spec_version: String,
    consistent_snapshot: bool,
    version: u64,
    expires: String,
    keys: BTreeMap<String, Value>,
    roles: BTreeMap<String, RawRoleKeys>,
}

#[derive(Deserialize)]
struct RawRoleKeys {
    keyids: Vec<String>,
    threshold: u64,
}

impl Root {
    /// Reads a root's `signed` (its signatures are the caller's, checked before).
    pub(crate) fn from_envelope(env: &Envelope) -> Result<Root, VerifyError> {
        const R: RoleType = RoleType::Root;
        env.check_type(R)?;
        let raw: RawRoot = serde_json::from_value(env.signed.clone()).map_err(|e| schema(R, e))?;
        check_spec_version(R, &raw.spec_version)?;
        let version = version_of(R, raw.version)?;
        let expires = expires_of(R, &raw.expires)?;
        let mut keys = BTreeMap::new();
        for (listed, key) in &raw.keys {
            let key = PublicKey::from_root_entry(listed, key)?;
            keys.insert(*key.key_id(), key);
        }
        let mut roles = BTreeMap::new();
        for (name, role_keys) in raw.roles {
            let role = RoleType::from_name(&name)
                .ok_or(VerifyError::UnknownRole { name: name.clone() })?;
            if role_keys.threshold == 0 {
                return Err(schema(R, format!("the {role} role has threshold 0")));
            }
            let mut key_ids = Vec::with_capacity(role_keys.keyids.len());
            for listed in role_keys.keyids {
                let id = KeyId::parse(&listed)
                    .filter(|id| keys.contains_key(id))
                    .ok_or_else(|| VerifyError::RoleKeyMissing {
                        role,
                        key_id: listed.clone(),
                    })?;
                if key_ids.contains(&id) {
                    return Err(VerifyError::DuplicateRoleKey {
                        role,
                        key_id: listed,
                    });
                }
                key_ids.push(id);
            }
            roles.insert(
                role,
                RoleKeys {
                    key_ids,
                    threshold: role_keys.threshold,
                },
            );
        }
        if let Some(role) = RoleType::ALL.into_iter().find(|r| !roles.contains_key(r)) {
            return Err(VerifyError::MissingRole { role });
        }
        Ok(Root {
            spec_version: raw.spec_version,
            version,
            expires,
            consistent_snapshot: raw.consistent_snapshot,
            keys,
            roles,
        })
    }

    /// `spec_version`.
    pub fn spec_version(&self) -> &str {
        &self.spec_version
    }

    /// `version` (at least 1).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `expires`.
    pub fn expires(&self) -> &Expires {
        &self.expires
    }

    /// `consistent_snapshot`.
    pub fn consistent_snapshot(&self) -> bool {
        self.consistent_snapshot
    }

    /// Every key the root lists, by key ID.
    pub fn keys(&self) -> &BTreeMap<KeyId, PublicKey> {
        &self.keys
    }

    /// The keys and threshold of a top-level role (every root has all four).
    pub fn role(&self, role: RoleType) -> &RoleKeys {
        // `from_envelope` refuses a root without all four roles.
        &self.roles[&role]
    }

    /// Counts the signatures on `env` by distinct keys of `role`, and refuses fewer than the
    /// role's threshold. `by` names this root in the error.
    pub(crate) fn check_threshold(
        &self,
        role: RoleType,
        env: &Envelope,
        by: SignedBy,
    ) -> Result<(), VerifyError> {
        let role_keys = self.role(role);
        env.check_threshold(&self.keys, &role_keys.key_ids, role_keys.threshold, by)
    }
}

/// A file a timestamp (or snapshot) describes: TUF's METAFILES entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaFile {
    version: u64,
    length: Option<u64>,
    hashes: BTreeMap<String, Vec<u8>>,
}

impl MetaFile {
    /// The file's version (at least 1).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Its length in bytes, if given.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// Its hashes by algorithm name (`sha256`, …), decoded from hex; empty if none is given.
    pub fn hashes(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.hashes
    }
}

#[derive(Deserialize)]
struct RawMetaFile {
    version: u64,
    length: Option<u64>,
    hashes: Option<BTreeMap<String, String>>,
}

impl MetaFile {
    /// Checks the entry `name` of `meta` in a `role` document: version at least 1, hashes hex.
    fn from_raw(role: RoleType, name: &str, raw: RawMetaFile) -> Result<MetaFile, VerifyError> {
        if raw.version == 0 {
            return Err(schema(
                role,
                format!("meta.{name}.version 0: versions start at 1"),
            ));
        }
        let mut hashes = BTreeMap::new();
        for (algorithm, hex_digest) in raw.hashes.unwrap_or_default() {
            let bytes = hex::decode(&hex_digest).map_err(|e| {
                schema(
                    role,
                    format!("meta.{name}.hashes.{algorithm} is not hex: {e}"),
                )
            })?;
            hashes.insert(algorithm, bytes);
        }
        Ok(MetaFile {
            version: raw.version,
            length: raw.length,
            hashes,
        })
    }
}

/// The metadata of a top-level role verified under a trusted root by [`crate::verify_role`]:
/// its signatures met the threshold of that role's keys, `_type` is the role, `spec_version`
/// is TUF 1.x, `version` is at least 1 and `expires` has TUF's form. The rest of `signed` is
/// the caller's to read ([`RoleMetadata::signed`], [`RoleMetadata::meta`]): it is exactly
/// what the signatures cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMetadata {
    role: RoleType,
    version: u64,
    expires: Expires,
    signed: Value,
    file_sha256: [u8; 32],
}

#[derive(Deserialize)]
struct RawRoleMetadata {
    spec_version: String,
    version: u64,
    expires: String,
}

impl RoleMetadata {
    /// Reads the common members of a role's `signed` (its signatures are the caller's, checked
    /// before).
    pub(crate) fn from_envelope(
        role: RoleType,
        env: Envelope,
    ) -> Result<RoleMetadata, VerifyError> {
        env.check_type(role)?;
        let raw: RawRoleMetadata =
            serde_json::from_value(env.signed.clone()).map_err(|e| schema(role, e))?;
        check_spec_version(role, &raw.spec_version)?;
        Ok(RoleMetadata {
            role,
            version: version_of(role, raw.version)?,
            expires: expires_of(role, &raw.expires)?,
            signed: env.signed,
            file_sha256: env.file_sha256,
        })
    }

    /// The role.
    pub fn role(&self) -> RoleType {
        self.role
    }

    /// `version` (at least 1).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `expires`.
    pub fn expires(&self) -> &Expires {
        &self.expires
    }

    /// Refuses the metadata if it has expired at `now` ([`VerifyError::Expired`]).
    pub fn check_expiry(&self, now: std::time::SystemTime) -> Result<(), VerifyError> {
        if self.expires.is_expired_at(now) {
            Err(VerifyError::Expired {
                role: self.role,
                version: self.version,
                expires: self.expires.clone(),
            })
        } else {
            Ok(())
        }
    }

    /// `signed`, as parsed (an object; every member covered by the signatures).
    pub fn signed(&self) -> &Value {
        &self.signed
    }

    /// `meta` read as TUF's METAFILES (snapshot and timestamp metadata): every entry with a
    /// version of at least 1, an optional length and hashes in hex. A role without `meta`, or
    /// with an entry of another form, is [`VerifyError::Schema`].
    pub fn meta(&self) -> Result<BTreeMap<String, MetaFile>, VerifyError> {
        let raw: BTreeMap<String, RawMetaFile> = match self.signed.get("meta") {
            Some(meta) => serde_json::from_value(meta.clone())
                .map_err(|e| schema(self.role, format!("meta: {e}")))?,
            None => return Err(schema(self.role, "missing field `meta`")),
        };
        raw.into_iter()
            .map(|(name, entry)| {
                let file = MetaFile::from_raw(self.role, &name, entry)?;
                Ok((name, file))
            })
            .collect()
    }

    /// SHA-256 of the file's bytes as received.
    pub fn file_sha256(&self) -> &[u8; 32] {
        &self.file_sha256
    }
}

/// A verified `timestamp.json`: its signatures met the threshold of the timestamp role in the
/// trusted root it was checked against. Only [`crate::verify_timestamp`] and
/// [`crate::load_trusted_timestamp`] make one, so holding one means that much was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    spec_version: String,
    version: u64,
    expires: Expires,
    snapshot: MetaFile,
    merkle_root: Option<Digest>,
    file_sha256: [u8; 32],
}

#[derive(Deserialize)]
struct RawTimestamp {
    spec_version: String,
    version: u64,
    expires: String,
    meta: BTreeMap<String, RawMetaFile>,
}

impl Timestamp {
    /// Reads a timestamp's `signed` (its signatures are the caller's, checked before).
    pub(crate) fn from_envelope(env: &Envelope) -> Result<Timestamp, VerifyError> {
        const T: RoleType = RoleType::Timestamp;
        env.check_type(T)?;
        let raw: RawTimestamp =
            serde_json::from_value(env.signed.clone()).map_err(|e| schema(T, e))?;
        check_spec_version(T, &raw.spec_version)?;
        let version = version_of(T, raw.version)?;
        let expires = expires_of(T, &raw.expires)?;
        let mut meta = raw.meta;
        let snapshot = meta
            .remove("snapshot.json")
            .ok_or_else(|| VerifyError::TimestampMeta {
                version,
                reason: "snapshot.json is missing".into(),
            })?;
        if let Some(other) = meta.keys().next() {
            return Err(VerifyError::TimestampMeta {
                version,
                reason: format!("it also lists {other:?}"),
            });
        }
        let snapshot = MetaFile::from_raw(T, "snapshot.json", snapshot)?;
        let merkle_root = match env.signed.get("merkle_root") {
            None => None,
            Some(Value::String(s)) => {
                Some(
                    tuf_merkle::hash::parse_hex(s).map_err(|e| VerifyError::MerkleRoot {
                        version,
                        reason: e.to_string(),
                    })?,
                )
            }
            Some(other) => {
                return Err(VerifyError::MerkleRoot {
                    version,
                    reason: format!("{other} is not a string"),
                });
            }
        };
        Ok(Timestamp {
            spec_version: raw.spec_version,
            version,
            expires,
            snapshot,
            merkle_root,
            file_sha256: env.file_sha256,
        })
    }

    /// `spec_version`.
    pub fn spec_version(&self) -> &str {
        &self.spec_version
    }

    /// `version` (at least 1).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `expires`.
    pub fn expires(&self) -> &Expires {
        &self.expires
    }

    /// `meta["snapshot.json"]`.
    pub fn snapshot(&self) -> &MetaFile {
        &self.snapshot
    }

    /// `merkle_root` (D2's merkle mode), if the timestamp carries one.
    pub fn merkle_root(&self) -> Option<&Digest> {
        self.merkle_root.as_ref()
    }

    /// SHA-256 of the file's bytes as received: two timestamps are the same file only if these
    /// are equal.
    pub fn file_sha256(&self) -> &[u8; 32] {
        &self.file_sha256
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spec_versions_of_tuf_1_only() {
        for ok in ["1.0.0", "1.0.31", "1.0", "1.2.3"] {
            assert!(check_spec_version(RoleType::Root, ok).is_ok(), "{ok}");
        }
        for bad in [
            "2.0.0", "1", "1.0.0.0", "1.0.x", "v1.0.0", "1..0", "", "01.0.0",
        ] {
            assert!(check_spec_version(RoleType::Root, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn envelope_is_strict() {
        for (text, expect) in [
            (
                r#"{"signed":{},"signatures":[{"keyid":"a","sig":"zz"}]}"#,
                "Schema",
            ),
            (r#"{"signed":[],"signatures":[]}"#, "Schema"),
            (r#"{"signatures":[]}"#, "Schema"),
            (r#"{"signed":{"a":1.5},"signatures":[]}"#, "NotCanonical"),
            (
                r#"{"signed":{},"signed":{},"signatures":[]}"#,
                "DuplicateMember",
            ),
            (r#"{"signed":{}"#, "Json"),
        ] {
            let err = Envelope::parse(RoleType::Timestamp, text.as_bytes()).unwrap_err();
            assert!(format!("{err:?}").starts_with(expect), "{text}: {err:?}");
        }
    }
}
