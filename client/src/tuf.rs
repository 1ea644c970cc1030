//! The TUF steps shared by the client and the auditor: fetching with limits, and the
//! verification of roots, timestamps and the other roles' metadata, which `tuf-verify-core`
//! does (this module maps its refusals to [`ClientError`]s that name the file).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tuf_merkle::Digest;
use tuf_verify_core::{
    Document, Expires, RoleMetadata, RoleType, SignedBy, Timestamp, TrustedRoot, VerifyError,
};

use crate::error::ClientError;
use crate::transport::{Fetched, Transport};

/// Download limits in bytes, one per kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `N.root.json`.
    pub root: u64,
    /// `timestamp.json` (TUF's customary 16 KiB).
    pub timestamp: u64,
    /// `snapshot.json` and `targets.json` when the timestamp or snapshot gives no length.
    pub metadata: u64,
    /// A single proof answer (the proof itself is at most 64 KiB, POUF §7).
    pub proof: u64,
    /// A multi-proof answer.
    pub multi_proof: u64,
    /// One change record (`changes/V.json`); the first one of an imported role lists every leaf.
    pub change_record: u64,
    /// A leaf snapshot file (`leaf-snapshots/V.leaves.gz`, compressed), fetched or stored in an
    /// audit state.
    pub leaf_snapshot: u64,
    /// A leaf snapshot decompressed (about 82 bytes per leaf): decompression stops past it.
    pub leaf_snapshot_payload: u64,
    /// An auditor attestation.
    pub attestation: u64,
    /// New root versions walked in one refresh.
    pub max_root_steps: u64,
    /// Most names asked in one multi-proof request; more are asked in several requests against
    /// the same timestamp version (the signer's `limits.max_proof_names`, 10,000 by default).
    pub names_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            root: 512 * 1024,
            timestamp: 16 * 1024,
            metadata: 64 * 1024 * 1024,
            proof: 72 * 1024,
            multi_proof: 64 * 1024 * 1024 + 4096,
            change_record: 1024 * 1024 * 1024,
            leaf_snapshot: 1024 * 1024 * 1024,
            leaf_snapshot_payload: 2 * 1024 * 1024 * 1024,
            attestation: 16 * 1024,
            max_root_steps: 1024,
            names_per_request: 10_000,
        }
    }
}

/// GETs a file that must exist.
pub fn fetch_required(
    transport: &dyn Transport,
    path: &str,
    limit: u64,
) -> Result<Vec<u8>, ClientError> {
    match transport.get(path, limit)? {
        Fetched::Found(b) => Ok(b),
        Fetched::NotFound => Err(ClientError::NotFound {
            what: path.to_owned(),
        }),
    }
}

/// Parses JSON strictly enough: malformed input is [`ClientError::MalformedJson`].
pub fn parse<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| ClientError::malformed(what, e))
}

/// The instant an `expires` names, for [`check_expiry`] and the state file. `Expires` holds
/// years 0000 to 9999, which jiff holds too; were one out of its range it would count as
/// already expired.
pub fn expires_at(expires: &Expires) -> jiff::Timestamp {
    jiff::Timestamp::from_second(expires.unix_seconds()).unwrap_or(jiff::Timestamp::MIN)
}

/// Checks expiry against `now`.
pub fn check_expiry(
    role: &'static str,
    version: u64,
    expires: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Result<(), ClientError> {
    if expires <= now {
        return Err(ClientError::Expired {
            role,
            version,
            expires,
        });
    }
    Ok(())
}

/// The [`ClientError`] for a refusal of the verifier core of the file `what`, whose version is
/// `version` (the one expected, or the one it claims): too few valid signatures are
/// [`ClientError::RootBelowThreshold`] for roots and
/// [`ClientError::BadSignature`] for the other roles, a `merkle_root` that is no hash is
/// [`ClientError::MissingMerkleRoot`], a root of another version [`ClientError::RootVersion`];
/// every other refusal (not JSON, not of the TUF form, two signatures under one key ID, a key
/// the core cannot use, …) is [`ClientError::MalformedJson`], with the core's message.
pub fn metadata_error(what: &str, version: u64, error: VerifyError) -> ClientError {
    let message = error.to_string();
    match error {
        VerifyError::BelowThreshold {
            document: Document::Role(role),
            by,
            ..
        } => below_threshold(role, version, by, message),
        VerifyError::MerkleRoot { version, reason } => ClientError::MissingMerkleRoot {
            version,
            message: reason,
        },
        VerifyError::RootVersion { found, .. } => ClientError::RootVersion {
            file: what.to_owned(),
            found,
        },
        _ => ClientError::malformed(what, message),
    }
}

fn below_threshold(role: RoleType, version: u64, by: SignedBy, message: String) -> ClientError {
    match role {
        RoleType::Root => ClientError::RootBelowThreshold {
            version,
            by: match by {
                SignedBy::Root { version } => format!("root {version}"),
                SignedBy::Itself | SignedBy::TrustedKeys => "itself".to_owned(),
            },
            message,
        },
        _ => ClientError::BadSignature {
            role: role.name(),
            version,
            message,
        },
    }
}

/// One step of the root chain: verifies `bytes` as `N+1.root.json` after `trusted` (TUF 5.3.4
/// to 5.3.6): signed by the threshold of the trusted root and by its own, then its version.
pub fn next_root(trusted: &TrustedRoot, bytes: &[u8]) -> Result<TrustedRoot, ClientError> {
    let next = trusted.version().saturating_add(1);
    let mut new = trusted.clone();
    new.update(bytes)
        .map_err(|e| metadata_error(&format!("{next}.root.json"), next, e))?;
    Ok(new)
}

/// Checks a trusted root given out of band: signed by its own threshold.
pub fn initial_root(bytes: &[u8]) -> Result<TrustedRoot, ClientError> {
    TrustedRoot::new(bytes).map_err(|e| metadata_error("root", claimed_version(bytes), e))
}

/// Walks `N+1.root.json` from `trusted` until none is found, at most `limits.max_root_steps`
/// steps; calls `each` with every new root and its exact bytes.
pub fn walk_roots(
    transport: &dyn Transport,
    role: &str,
    mut trusted: TrustedRoot,
    limits: &Limits,
    mut each: impl FnMut(&TrustedRoot, &[u8]) -> Result<(), ClientError>,
) -> Result<TrustedRoot, ClientError> {
    for _ in 0..limits.max_root_steps {
        let next = trusted.version().saturating_add(1);
        let path = format!("{role}/{next}.root.json");
        let bytes = match transport.get(&path, limits.root)? {
            Fetched::Found(b) => b,
            Fetched::NotFound => return Ok(trusted),
        };
        let new = next_root(&trusted, &bytes)?;
        each(&new, &bytes)?;
        trusted = new;
    }
    // One more probe: exactly max steps with nothing after is fine.
    let next = trusted.version().saturating_add(1);
    match transport.get(&format!("{role}/{next}.root.json"), limits.root)? {
        Fetched::NotFound => Ok(trusted),
        Fetched::Found(_) => Err(ClientError::RootChainTooLong(limits.max_root_steps)),
    }
}

/// A verified timestamp.
#[derive(Debug, Clone)]
pub struct VerifiedTimestamp {
    /// The timestamp, as the verifier core read it.
    pub timestamp: Timestamp,
    /// Its version.
    pub version: u64,
    /// Its `merkle_root`, if it has one.
    pub merkle_root: Option<Digest>,
}

/// Verifies a timestamp's signatures under `root` and reads its `merkle_root` (required when
/// `merkle`). Expiry and rollback are the caller's.
pub fn verify_timestamp(
    root: &TrustedRoot,
    what: &str,
    bytes: &[u8],
    merkle: bool,
) -> Result<VerifiedTimestamp, ClientError> {
    let timestamp = tuf_verify_core::load_trusted_timestamp(root, bytes)
        .map_err(|e| metadata_error(what, claimed_version(bytes), e))?;
    let version = timestamp.version();
    let merkle_root = timestamp.merkle_root().copied();
    if merkle && merkle_root.is_none() {
        return Err(ClientError::MissingMerkleRoot {
            version,
            message: "absent".into(),
        });
    }
    Ok(VerifiedTimestamp {
        timestamp,
        version,
        merkle_root,
    })
}

/// Verifies `bytes` (the file `what`) as `role`'s metadata under `root`: signed by the
/// threshold of the role's keys, of the role's `_type`, TUF 1.x, with a version and an
/// `expires`. What its version must be, and its expiry, are the caller's.
pub fn verify_role(
    root: &TrustedRoot,
    role: RoleType,
    what: &str,
    bytes: &[u8],
) -> Result<RoleMetadata, ClientError> {
    tuf_verify_core::verify_role(root, role, bytes)
        .map_err(|e| metadata_error(what, claimed_version(bytes), e))
}

/// The version a metadata file claims (unverified, for error messages), 0 if it has none.
fn claimed_version(bytes: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["signed"]["version"].as_u64())
        .unwrap_or(0)
}

/// A document in the TUF envelope: `signed` and the signatures over its OLPC canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// What is signed.
    pub signed: T,
    /// The signatures.
    pub signatures: Vec<Signature>,
}

/// One entry of `signatures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The TUF key ID of the key that signed (64 lowercase hex digits).
    pub keyid: String,
    /// The signature, in hex.
    pub sig: String,
}

/// Percent-encodes a target name for a URL path (keeps `/`).
pub fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Signs `signed` the TUF way (over its OLPC canonical JSON, with the key's TUF key ID) with
/// key files: for auditors, test repositories and benchmarks that build metadata themselves.
#[cfg(feature = "sign")]
pub fn sign_metadata<T: serde::Serialize>(
    signed: T,
    keys: &[&tuf_keys::FileSigner],
) -> Result<Signed<T>, ClientError> {
    let mut data = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut data, olpc_cjson::CanonicalFormatter::new());
    signed
        .serialize(&mut ser)
        .map_err(|e| ClientError::malformed("metadata to sign", e))?;
    let mut signatures = Vec::with_capacity(keys.len());
    for k in keys {
        let sig = k
            .sign_message_blocking(&data)
            .map_err(|source| ClientError::Signing {
                path: k.path().to_owned(),
                source,
            })?;
        signatures.push(Signature {
            keyid: k.public_key().key_id_hex(),
            sig: hex::encode(sig),
        });
    }
    Ok(Signed { signed, signatures })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_percent_encoded_but_slashes_kept() {
        assert_eq!(encode_path("se/rd/serde"), "se/rd/serde");
        assert_eq!(encode_path("a b/ü?"), "a%20b/%C3%BC%3F");
    }

    #[test]
    fn expiry_is_strict() {
        let t = jiff::Timestamp::from_second(1_000).unwrap();
        assert!(check_expiry("timestamp", 1, t, t).is_err());
        assert!(
            check_expiry(
                "timestamp",
                1,
                t,
                jiff::Timestamp::from_second(999).unwrap()
            )
            .is_ok()
        );
    }
}
