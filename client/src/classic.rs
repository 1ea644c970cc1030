//! A classic role's `targets.json`, read so that one target the client cannot check does not
//! make the whole file unusable.
//!
//! TUF lets a target list any hash algorithms; this client checks SHA-256. A target listed
//! with only `sha512` (or with an entry this client cannot read) is kept aside with the reason
//! ([`TrustedTargets::unusable`]): asking for it is [`ClientError::UnusableTarget`], every
//! other target works. The signature is checked over the file's `signed` object as it is
//! (its OLPC canonical JSON, through the same [`crate::tuf::verify_signed`] as every role), so
//! entries the typed schema cannot hold are still covered by it.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use serde::Serialize;
use serde_json::Value;
use tough::schema::{Role, RoleType, Signed, Target, Targets};

use crate::error::ClientError;
use crate::tuf;

/// The `signed` object of a targets.json as it was served, for the signature check: its
/// canonical form is the one the role's key signed, whatever its entries hold.
#[derive(Debug, Clone)]
pub(crate) struct RawTargets {
    value: Value,
    version: NonZeroU64,
    expires: jiff::Timestamp,
}

impl Serialize for RawTargets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl Role for RawTargets {
    const TYPE: RoleType = RoleType::Targets;

    fn expires(&self) -> jiff::Timestamp {
        self.expires
    }

    fn version(&self) -> NonZeroU64 {
        self.version
    }

    fn filename(&self, consistent_snapshot: bool) -> String {
        if consistent_snapshot {
            format!("{}.targets.json", self.version)
        } else {
            "targets.json".to_owned()
        }
    }
}

/// A targets.json split into the targets this client can check and the others.
#[derive(Debug, Clone)]
pub(crate) struct TrustedTargets {
    /// The metadata with only the usable targets.
    pub targets: Targets,
    /// The targets listed that cannot be used, by name, with the reason.
    pub unusable: BTreeMap<String, String>,
}

impl TrustedTargets {
    /// The version.
    pub fn version(&self) -> u64 {
        self.targets.version.get()
    }
}

/// Parses `bytes` (the file `what`): the signed object for the signature check, and the
/// targets split into usable and unusable ones. Malformed JSON, a `signed` that is not a
/// targets role, or a version or expiry that cannot be read refuse the whole file; a target
/// entry that cannot be checked is only set aside.
pub(crate) fn parse(
    what: &str,
    bytes: &[u8],
) -> Result<(Signed<RawTargets>, TrustedTargets), ClientError> {
    let raw: Signed<Value> = tuf::parse(what, bytes)?;
    let value = raw.signed;
    if value.get("_type").and_then(Value::as_str) != Some("targets") {
        return Err(ClientError::malformed(what, "_type is not \"targets\""));
    }
    let version = value
        .get("version")
        .and_then(Value::as_u64)
        .and_then(NonZeroU64::new)
        .ok_or_else(|| ClientError::malformed(what, "no valid version"))?;
    let expires = value
        .get("expires")
        .and_then(Value::as_str)
        .and_then(|e| e.parse::<jiff::Timestamp>().ok())
        .ok_or_else(|| ClientError::malformed(what, "no valid expires"))?;
    let entries = value
        .get("targets")
        .and_then(Value::as_object)
        .ok_or_else(|| ClientError::malformed(what, "targets is not an object"))?;
    let mut usable = serde_json::Map::new();
    let mut unusable = BTreeMap::new();
    for (name, entry) in entries {
        match unusable_reason(name, entry) {
            None => {
                usable.insert(name.clone(), entry.clone());
            }
            Some(reason) => {
                unusable.insert(name.clone(), reason);
            }
        }
    }
    let mut typed = value.clone();
    typed["targets"] = Value::Object(usable);
    let targets: Targets =
        serde_json::from_value(typed).map_err(|e| ClientError::malformed(what, e))?;
    let signed = Signed {
        signed: RawTargets {
            value,
            version,
            expires,
        },
        signatures: raw.signatures,
    };
    Ok((signed, TrustedTargets { targets, unusable }))
}

/// Why the entry `name` of a targets.json cannot be checked by this client, if it cannot.
fn unusable_reason(name: &str, entry: &Value) -> Option<String> {
    if let Some(hashes) = entry.get("hashes").and_then(Value::as_object)
        && !hashes.contains_key("sha256")
    {
        let listed: Vec<&str> = hashes.keys().map(String::as_str).collect();
        return Some(format!(
            "it lists no sha256 hash (only {}), and sha256 is the hash this client checks",
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        ));
    }
    if let Err(e) = tough::TargetName::new(name) {
        return Some(format!("its name is not a valid target name: {e}"));
    }
    match serde_json::from_value::<Target>(entry.clone()) {
        Ok(t) if t.hashes.sha256.len() != 32 => Some(format!(
            "its sha256 is {} bytes, not 32",
            t.hashes.sha256.len()
        )),
        Ok(_) => None,
        Err(e) => Some(format!("its entry cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn file(targets: Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "signed": {
                "_type": "targets", "spec_version": "1.0.0", "version": 3,
                "expires": "2030-01-01T00:00:00Z", "targets": targets,
            },
            "signatures": [],
        }))
        .unwrap()
    }

    #[test]
    fn a_target_without_sha256_is_set_aside_and_the_others_are_kept() {
        let sha = "ab".repeat(32);
        let bytes = file(serde_json::json!({
            "good": { "length": 3, "hashes": { "sha256": sha } },
            "only-512": { "length": 3, "hashes": { "sha512": "cd".repeat(64) } },
            "short": { "length": 3, "hashes": { "sha256": "abcd" } },
            "no-length": { "hashes": { "sha256": sha } },
        }));
        let (raw, t) = parse("targets.json", &bytes).unwrap();
        assert_eq!(t.version(), 3);
        assert_eq!(raw.signed.version.get(), 3);
        let names: Vec<&str> = t.targets.targets.keys().map(|n| n.raw()).collect();
        assert_eq!(names, vec!["good"]);
        assert_eq!(
            t.unusable.keys().collect::<Vec<_>>(),
            vec!["no-length", "only-512", "short"]
        );
        assert!(t.unusable["only-512"].contains("no sha256 hash (only sha512)"));
        // The canonical form signed is the file's, entries set aside included.
        let canonical = String::from_utf8(raw.signed.canonical_form().unwrap()).unwrap();
        assert!(canonical.contains("only-512"), "{canonical}");
    }

    #[test]
    fn a_file_that_is_not_targets_is_refused_whole() {
        let mut v: Value = serde_json::from_slice(&file(serde_json::json!({}))).unwrap();
        v["signed"]["_type"] = "snapshot".into();
        let err = parse("targets.json", &serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, ClientError::MalformedJson { .. }), "{err}");
        let err = parse("targets.json", b"{").unwrap_err();
        assert!(matches!(err, ClientError::MalformedJson { .. }), "{err}");
    }
}
