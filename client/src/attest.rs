//! Auditor attestations: a signed statement that an auditor replayed a role's history up to a
//! timestamp version and found it consistent, in the TUF envelope (`signed` + `signatures`,
//! signatures over the OLPC canonical JSON of `signed`, key IDs as TUF computes them).
//!
//! ```json
//! { "signed": { "_type": "audit-attestation", "spec_version": "tuf-client-attestation-v1",
//!               "role": "crates.io", "timestamp_version": 1093, "merkle_root": "<hex>",
//!               "root_version": 1, "first_timestamp_version": 1, "leaves": 250000,
//!               "audited_at": "2026-11-23T16:00:00Z" },
//!   "signatures": [ { "keyid": "<hex>", "sig": "<hex>" } ] }
//! ```

use std::num::NonZeroU64;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tuf_merkle::Digest;
use tuf_verify_core::{PublicKey, TrustedKeys, VerifyError};

use crate::audit::AuditReport;
use crate::error::{AttestationError, ClientError};
use crate::transport::{self, HttpOptions, Transport};
use crate::tuf::{self, Limits};

/// The `_type` of an attestation.
pub const ATTESTATION_TYPE: &str = "audit-attestation";
/// The format's name and version.
pub const ATTESTATION_SPEC: &str = "tuf-client-attestation-v1";

/// What an auditor attests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always [`ATTESTATION_TYPE`].
    #[serde(rename = "_type")]
    pub typ: String,
    /// Always [`ATTESTATION_SPEC`].
    pub spec_version: String,
    /// The role audited.
    pub role: String,
    /// The last timestamp version replayed and checked.
    pub timestamp_version: u64,
    /// Its `merkle_root`, recomputed by the auditor and equal to the signed one.
    pub merkle_root: String,
    /// The root version that timestamp was signed under.
    pub root_version: u64,
    /// The first timestamp version replayed.
    pub first_timestamp_version: u64,
    /// Leaves in the tree at `timestamp_version` (tombstones included).
    pub leaves: u64,
    /// When the audit finished (RFC 3339, UTC).
    pub audited_at: String,
}

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationSignature {
    /// The TUF key ID of the auditor's key.
    pub keyid: String,
    /// Hex signature over the canonical JSON of `signed`.
    pub sig: String,
}

/// A signed attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// The statement.
    pub signed: Statement,
    /// Its signatures.
    pub signatures: Vec<AttestationSignature>,
}

#[cfg(feature = "sign")]
fn canonical(statement: &Statement) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    statement
        .serialize(&mut ser)
        .map_err(AttestationError::Json)?;
    Ok(out)
}

impl Attestation {
    /// Signs `statement` with an auditor's key file.
    #[cfg(feature = "sign")]
    pub fn sign(statement: Statement, key: &tuf_keys::FileSigner) -> Result<Self, ClientError> {
        let message = canonical(&statement)?;
        let sig = key
            .sign_message_blocking(&message)
            .map_err(AttestationError::Key)?;
        Ok(Attestation {
            signed: statement,
            signatures: vec![AttestationSignature {
                keyid: key.public_key().key_id_hex(),
                sig: hex::encode(sig),
            }],
        })
    }

    /// Checks that at least `threshold` (at least 1) distinct keys of `keys` signed it, with
    /// the verifier core's TUF signature check ([`TrustedKeys`]): over the OLPC canonical JSON
    /// of `signed`, whose `_type` must be [`ATTESTATION_TYPE`] and `spec_version`
    /// [`ATTESTATION_SPEC`].
    pub fn verify(&self, keys: &[PublicKey], threshold: usize) -> Result<(), ClientError> {
        if self.signed.typ != ATTESTATION_TYPE || self.signed.spec_version != ATTESTATION_SPEC {
            return Err(AttestationError::WrongFormat.into());
        }
        let threshold = NonZeroU64::new(threshold.max(1) as u64).unwrap_or(NonZeroU64::MIN);
        let auditors = TrustedKeys::new(keys.iter().cloned(), threshold);
        let bytes = serde_json::to_vec(self).map_err(AttestationError::Json)?;
        match auditors.verify(ATTESTATION_TYPE, &bytes) {
            Ok(_) => Ok(()),
            Err(e) => Err(AttestationError::Unverified(e).into()),
        }
    }

    /// The attestation as the auditor publishes it: indented JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, ClientError> {
        Ok(serde_json::to_vec_pretty(self).map_err(AttestationError::Json)?)
    }
}

/// A client's requirement of an attestation.
pub struct AttestationPolicy {
    /// The auditors' public keys.
    pub keys: Vec<PublicKey>,
    /// How many of them must have signed.
    pub threshold: usize,
    /// Where the attestation is fetched from.
    pub source: Box<dyn Transport>,
    /// Its path on `source`.
    pub path: String,
    /// How many timestamp versions the attested one may lag behind the latest.
    pub max_lag: u64,
}

impl AttestationPolicy {
    /// A policy requiring one of the auditors' `keys` to have signed the attestation at
    /// `location` (a URL or a path; the directory or URL it is in becomes the transport, over
    /// HTTP with `http`), at most `max_lag` timestamp versions behind the latest.
    pub fn at(location: &str, keys: Vec<PublicKey>, max_lag: u64, http: HttpOptions) -> Self {
        let (source, path) = transport::open_containing(location, http);
        AttestationPolicy {
            keys,
            threshold: 1,
            source,
            path,
            max_lag,
        }
    }

    /// Fetches and checks the attestation for a client that trusts timestamp `latest` with
    /// `merkle_root`, and that accepted attestation `previous` before. Returns the statement
    /// whose root the client then checks proofs against.
    pub fn check(
        &self,
        role: &str,
        latest: u64,
        merkle_root: Option<Digest>,
        previous: u64,
        limits: &Limits,
    ) -> Result<Statement, ClientError> {
        let bytes = tuf::fetch_required(self.source.as_ref(), &self.path, limits.attestation)
            .map_err(AttestationError::from)?;
        let a: Attestation = tuf::parse("attestation", &bytes)?;
        a.verify(&self.keys, self.threshold)?;
        let s = a.signed;
        if s.role != role {
            return Err(AttestationError::OtherRole {
                attested: s.role,
                role: role.to_owned(),
            }
            .into());
        }
        if s.timestamp_version > latest {
            return Err(AttestationError::AheadOfLatest {
                attested: s.timestamp_version,
                latest,
            }
            .into());
        }
        if s.timestamp_version < previous {
            return Err(AttestationError::Rollback {
                attested: s.timestamp_version,
                accepted: previous,
            }
            .into());
        }
        if latest - s.timestamp_version > self.max_lag {
            return Err(AttestationError::TooFarBehind {
                attested: s.timestamp_version,
                max_lag: self.max_lag,
                latest,
            }
            .into());
        }
        if s.timestamp_version == latest
            && merkle_root.map(|r| r.to_hex()).as_deref() != Some(s.merkle_root.as_str())
        {
            return Err(ClientError::Equivocation {
                version: latest,
                trusted: merkle_root.map(|r| r.to_hex()).unwrap_or_default(),
                got: s.merkle_root,
            });
        }
        tuf_merkle::hash::parse_hex(&s.merkle_root).map_err(AttestationError::MerkleRoot)?;
        Ok(s)
    }
}

impl Statement {
    /// The attested root.
    pub fn root(&self) -> Option<Digest> {
        tuf_merkle::hash::parse_hex(&self.merkle_root).ok()
    }

    /// What an auditor attests after `report`: the last timestamp version it checked good and
    /// its root, audited at `audited_at` (to the second). `None` when nothing was checked good.
    /// A breach does not stop the statement: it covers the versions before it.
    pub fn from_report(report: &AuditReport, audited_at: jiff::Timestamp) -> Option<Statement> {
        let (version, root) = report.last_good_version.zip(report.last_good_root)?;
        Some(Statement {
            typ: ATTESTATION_TYPE.into(),
            spec_version: ATTESTATION_SPEC.into(),
            role: report.role.clone(),
            timestamp_version: version,
            merkle_root: root.to_hex(),
            root_version: report.last_root_version,
            first_timestamp_version: report.first_version.unwrap_or(1),
            leaves: report.leaves,
            audited_at: audited_at
                .round(jiff::Unit::Second)
                .unwrap_or(audited_at)
                .to_string(),
        })
    }
}

/// Reads the auditors' public keys a client trusts: a JSON list of TUF key objects, as
/// [`auditor_keys_json`] writes it, each an Ed25519 or ECDSA P-256 key the verifier core can
/// use ([`PublicKey::from_key_json`]).
pub fn read_auditor_keys(path: &Path) -> Result<Vec<PublicKey>, ClientError> {
    let bytes = std::fs::read(path).map_err(ClientError::local(path))?;
    let objects: Vec<serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|source| AttestationError::AuditorKeysFile {
            path: path.to_owned(),
            source,
        })?;
    Ok(objects
        .iter()
        .map(PublicKey::from_key_json)
        .collect::<Result<_, VerifyError>>()
        .map_err(AttestationError::AuditorKey)?)
}

/// The auditors' public keys (TUF key objects) as clients read them ([`read_auditor_keys`]):
/// indented JSON.
pub fn auditor_keys_json(keys: &[serde_json::Value]) -> Result<String, ClientError> {
    Ok(serde_json::to_string_pretty(keys).map_err(AttestationError::Json)?)
}

/// The auditor's key file at `path`, generated (Ed25519, mode 0600) if there is none.
#[cfg(feature = "sign")]
pub fn load_or_generate_auditor_key(path: &Path) -> Result<tuf_keys::FileSigner, ClientError> {
    let (signer, _) = tuf_keys::FileSigner::load_or_generate(path, tuf_keys::KeyAlgorithm::Ed25519)
        .map_err(AttestationError::Key)?;
    Ok(signer)
}

/// The auditor's key file at `path`, to sign attestations with.
#[cfg(feature = "sign")]
pub fn load_auditor_key(path: &Path) -> Result<tuf_keys::FileSigner, ClientError> {
    Ok(tuf_keys::FileSigner::load(path).map_err(AttestationError::Key)?)
}

#[cfg(all(test, feature = "sign"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tuf_keys::FileSigner;

    fn statement() -> Statement {
        Statement {
            typ: ATTESTATION_TYPE.into(),
            spec_version: ATTESTATION_SPEC.into(),
            role: "crates.io".into(),
            timestamp_version: 10,
            merkle_root: tuf_merkle::hash::sha256(b"r").to_hex(),
            root_version: 1,
            first_timestamp_version: 1,
            leaves: 3,
            audited_at: "2026-11-23T16:00:00Z".into(),
        }
    }

    #[test]
    fn attestations_verify_only_unchanged_and_under_known_keys() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileSigner::generate(dir.path().join("a.pem"), tuf_keys::KeyAlgorithm::Ed25519)
            .unwrap();
        let b = FileSigner::generate(dir.path().join("b.pem"), tuf_keys::KeyAlgorithm::EcdsaP256)
            .unwrap();
        let key = |s: &FileSigner| {
            PublicKey::from_key_json(&serde_json::to_value(s.public_key().key()).unwrap()).unwrap()
        };
        let keys = vec![key(&a), key(&b)];
        let signed = Attestation::sign(statement(), &a).unwrap();
        signed.verify(&keys, 1).unwrap();
        assert!(signed.verify(&keys, 2).is_err());
        assert!(signed.verify(&keys[1..], 1).is_err());
        let mut changed = signed.clone();
        changed.signed.timestamp_version = 11;
        assert!(changed.verify(&keys, 1).is_err());
        // The same signature twice counts once.
        let mut twice = signed.clone();
        twice.signatures.push(twice.signatures[0].clone());
        assert!(twice.verify(&keys, 2).is_err());
        let mut both = signed;
        both.signatures
            .extend(Attestation::sign(statement(), &b).unwrap().signatures);
        both.verify(&keys, 2).unwrap();
        // Round trip through JSON.
        let text = serde_json::to_vec(&both).unwrap();
        let back: Attestation = serde_json::from_slice(&text).unwrap();
        back.verify(&keys, 2).unwrap();
    }
}
