//! The TUF steps shared by the client and the auditor: fetching with limits, parsing metadata,
//! walking the root chain, verifying a timestamp.

use serde::de::DeserializeOwned;
use tough::schema::{Role, RoleType, Root, Signed, Timestamp};
use tuf_merkle::Digest;

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

/// The lowercase name of a top-level role.
pub fn role_name(role: RoleType) -> &'static str {
    match role {
        RoleType::Root => "root",
        RoleType::Timestamp => "timestamp",
        RoleType::Snapshot => "snapshot",
        RoleType::Targets => "targets",
        _ => "delegated targets",
    }
}

/// Checks `signed` against the threshold `root` sets for its role.
pub fn verify_signed<T: Role + serde::Serialize>(
    root: &Root,
    signed: &Signed<T>,
    version: u64,
) -> Result<(), ClientError> {
    root.verify_role(signed)
        .map_err(|e| ClientError::BadSignature {
            role: role_name(T::TYPE),
            version,
            message: e.to_string(),
        })
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

/// One step of the root chain: verifies `bytes` as `N+1.root.json` after `trusted` (TUF 5.3.4
/// to 5.3.6): signed by the threshold of the trusted root and by its own, then its version.
pub fn next_root(trusted: &Root, bytes: &[u8]) -> Result<Signed<Root>, ClientError> {
    let next = trusted.version.get() + 1;
    let file = format!("{next}.root.json");
    let new: Signed<Root> = parse(&file, bytes)?;
    trusted
        .verify_role(&new)
        .map_err(|e| ClientError::RootBelowThreshold {
            version: next,
            by: format!("root {}", trusted.version),
            message: e.to_string(),
        })?;
    new.signed
        .verify_role(&new)
        .map_err(|e| ClientError::RootBelowThreshold {
            version: next,
            by: "itself".to_owned(),
            message: e.to_string(),
        })?;
    if new.signed.version.get() != next {
        return Err(ClientError::RootVersion {
            file,
            found: new.signed.version.get(),
        });
    }
    Ok(new)
}

/// Parses and checks a trusted root given out of band: signed by its own threshold.
pub fn initial_root(bytes: &[u8]) -> Result<Signed<Root>, ClientError> {
    let root: Signed<Root> = parse("root", bytes)?;
    root.signed
        .verify_role(&root)
        .map_err(|e| ClientError::RootBelowThreshold {
            version: root.signed.version.get(),
            by: "itself".to_owned(),
            message: e.to_string(),
        })?;
    Ok(root)
}

/// Walks `N+1.root.json` from `trusted` until none is found, at most `limits.max_root_steps`
/// steps; calls `each` with every new root and its exact bytes.
pub fn walk_roots(
    transport: &dyn Transport,
    role: &str,
    mut trusted: Signed<Root>,
    limits: &Limits,
    mut each: impl FnMut(&Signed<Root>, &[u8]) -> Result<(), ClientError>,
) -> Result<Signed<Root>, ClientError> {
    for _ in 0..limits.max_root_steps {
        let next = trusted.signed.version.get() + 1;
        let path = format!("{role}/{next}.root.json");
        let bytes = match transport.get(&path, limits.root)? {
            Fetched::Found(b) => b,
            Fetched::NotFound => return Ok(trusted),
        };
        let new = next_root(&trusted.signed, &bytes)?;
        each(&new, &bytes)?;
        trusted = new;
    }
    // One more probe: exactly max steps with nothing after is fine.
    let next = trusted.signed.version.get() + 1;
    match transport.get(&format!("{role}/{next}.root.json"), limits.root)? {
        Fetched::NotFound => Ok(trusted),
        Fetched::Found(_) => Err(ClientError::RootChainTooLong(limits.max_root_steps)),
    }
}

/// A verified timestamp.
#[derive(Debug, Clone)]
pub struct VerifiedTimestamp {
    /// The parsed file.
    pub signed: Signed<Timestamp>,
    /// Its version.
    pub version: u64,
    /// Its `merkle_root`, if it has one.
    pub merkle_root: Option<Digest>,
}

/// Verifies a timestamp's signatures under `root` and reads its `merkle_root` (required when
/// `merkle`). Expiry and rollback are the caller's.
pub fn verify_timestamp(
    root: &Root,
    what: &str,
    bytes: &[u8],
    merkle: bool,
) -> Result<VerifiedTimestamp, ClientError> {
    let signed: Signed<Timestamp> = parse(what, bytes)?;
    verified_timestamp(root, signed, merkle)
}

/// [`verify_timestamp`] for an already parsed timestamp.
pub fn verified_timestamp(
    root: &Root,
    signed: Signed<Timestamp>,
    merkle: bool,
) -> Result<VerifiedTimestamp, ClientError> {
    let version = signed.signed.version.get();
    verify_signed(root, &signed, version)?;
    let merkle_root = match signed.signed._extra.get("merkle_root") {
        None if merkle => {
            return Err(ClientError::MissingMerkleRoot {
                version,
                message: "absent".into(),
            });
        }
        None => None,
        Some(v) => {
            let hex = v.as_str().ok_or_else(|| ClientError::MissingMerkleRoot {
                version,
                message: "not a string".into(),
            })?;
            Some(
                tuf_merkle::hash::parse_hex(hex).map_err(|e| ClientError::MissingMerkleRoot {
                    version,
                    message: e.to_string(),
                })?,
            )
        }
    };
    Ok(VerifiedTimestamp {
        signed,
        version,
        merkle_root,
    })
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
        let s: tough::schema::Signature = serde_json::from_value(serde_json::json!({
            "keyid": k.public_key().key_id_hex(),
            "sig": hex::encode(sig),
        }))
        .map_err(|e| ClientError::malformed("signature", e))?;
        signatures.push(s);
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
