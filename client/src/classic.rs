//! A classic role's `targets.json` and `snapshot.json`, read so that one target the client
//! cannot check does not make the whole file unusable.
//!
//! TUF lets a target list any hash algorithms; this client checks SHA-256. A target listed
//! with only `sha512` (or with an entry this client cannot read) is kept aside with the reason
//! ([`TrustedTargets::unusable`]): asking for it is [`ClientError::UnusableTarget`], every
//! other target works.
//!
//! Properties kept: a file fetched from the repository is read here only after
//! `tuf-verify-core` verified it (`crate::tuf::verify_role`: the role's threshold signed its
//! `signed` object as it is, entries set aside included); a file read back from the state
//! directory is one the client verified before it wrote it there, and is read without its
//! signatures, as the trusted state it is.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use tuf_merkle::Digest;

use crate::error::ClientError;
use crate::tuf;

/// One target a classic role lists that this client can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    /// Its length in bytes.
    pub length: u64,
    /// Its SHA-256.
    pub sha256: Digest,
}

/// A targets.json split into the targets this client can check and the others.
#[derive(Debug, Clone)]
pub(crate) struct TrustedTargets {
    /// `version`.
    pub version: u64,
    /// `expires`.
    pub expires: jiff::Timestamp,
    /// The targets this client can check, by name.
    pub targets: BTreeMap<String, Target>,
    /// The targets listed that cannot be used, by name, with the reason.
    pub unusable: BTreeMap<String, String>,
}

/// A file of the state directory: the `signed` object of a metadata file the client verified
/// before it stored it.
#[derive(Deserialize)]
struct Stored {
    signed: Value,
}

/// Reads the targets.json the client stored (the file `what`).
pub(crate) fn read_stored(what: &str, bytes: &[u8]) -> Result<TrustedTargets, ClientError> {
    let stored: Stored = tuf::parse(what, bytes)?;
    parse_signed(what, &stored.signed)
}

/// Reads a targets.json's `signed` object (the file `what`): the targets split into usable and
/// unusable ones. A `signed` that is not a targets role, or a version or expiry that cannot be
/// read refuse the whole file; a target entry that cannot be checked is only set aside.
pub(crate) fn parse_signed(what: &str, value: &Value) -> Result<TrustedTargets, ClientError> {
    if value.get("_type").and_then(Value::as_str) != Some("targets") {
        return Err(ClientError::malformed(what, "_type is not \"targets\""));
    }
    let version = value
        .get("version")
        .and_then(Value::as_u64)
        .filter(|v| *v > 0)
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
    let mut targets = BTreeMap::new();
    let mut unusable = BTreeMap::new();
    for (name, entry) in entries {
        match target(name, entry) {
            Ok(t) => {
                targets.insert(name.clone(), t);
            }
            Err(reason) => {
                unusable.insert(name.clone(), reason);
            }
        }
    }
    Ok(TrustedTargets {
        version,
        expires,
        targets,
        unusable,
    })
}

/// A target entry as TUF writes it (`length`, `hashes`, optional `custom`); other members are
/// allowed.
#[derive(Deserialize)]
struct RawTarget {
    length: u64,
    hashes: serde_json::Map<String, Value>,
    /// Read only so that a `custom` that is not an object sets the entry aside, as tough does.
    #[serde(default)]
    #[allow(dead_code)]
    custom: serde_json::Map<String, Value>,
}

/// The entry `name` of a targets.json, or why this client cannot check it.
fn target(name: &str, entry: &Value) -> Result<Target, String> {
    if let Some(hashes) = entry.get("hashes").and_then(Value::as_object)
        && !hashes.contains_key("sha256")
    {
        let listed: Vec<&str> = hashes.keys().map(String::as_str).collect();
        return Err(format!(
            "it lists no sha256 hash (only {}), and sha256 is the hash this client checks",
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        ));
    }
    check_target_name(name).map_err(|e| format!("its name is not a valid target name: {e}"))?;
    let raw: RawTarget = serde_json::from_value(entry.clone())
        .map_err(|e| format!("its entry cannot be read: {e}"))?;
    let sha256 = raw
        .hashes
        .get("sha256")
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| "its entry cannot be read: its sha256 is not hex".to_owned())?;
    let sha256 = <[u8; 32]>::try_from(sha256.as_slice())
        .map_err(|_| format!("its sha256 is {} bytes, not 32", sha256.len()))?;
    Ok(Target {
        length: raw.length,
        sha256: Digest(sha256),
    })
}

/// Refuses the target names TUF clients cannot turn into a file name (the ones tough refuses):
/// empty, `..`, or a path whose `.` and `..` segments resolve to nothing (`a/..`) or to `/`.
fn check_target_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    let mut depth: usize = 0;
    for segment in name.split('/') {
        match segment {
            "" | "." => {}
            ".." => depth = depth.saturating_sub(1),
            _ => depth += 1,
        }
    }
    if depth == 0 {
        return Err("as a path it resolves to no file name");
    }
    Ok(())
}

/// The versions a snapshot the client stored lists (`meta`), and its own version: what a new
/// snapshot is checked against (TUF 5.5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredSnapshot {
    /// The snapshot's version.
    pub version: u64,
    /// Each metadata file it lists, with the version it lists.
    pub meta: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct RawStoredSnapshot {
    version: u64,
    meta: BTreeMap<String, RawStoredMeta>,
}

#[derive(Deserialize)]
struct RawStoredMeta {
    version: u64,
}

/// Reads the snapshot.json the client stored (the file `what`).
pub(crate) fn read_stored_snapshot(
    what: &str,
    bytes: &[u8],
) -> Result<StoredSnapshot, ClientError> {
    let stored: Stored = tuf::parse(what, bytes)?;
    let raw: RawStoredSnapshot =
        serde_json::from_value(stored.signed).map_err(|e| ClientError::malformed(what, e))?;
    Ok(StoredSnapshot {
        version: raw.version,
        meta: raw
            .meta
            .into_iter()
            .map(|(file, m)| (file, m.version))
            .collect(),
    })
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
            "good": { "length": 3, "hashes": { "sha256": sha }, "custom": { "x": 1 } },
            "only-512": { "length": 3, "hashes": { "sha512": "cd".repeat(64) } },
            "short": { "length": 3, "hashes": { "sha256": "abcd" } },
            "not-hex": { "length": 3, "hashes": { "sha256": "zz".repeat(32) } },
            "no-length": { "hashes": { "sha256": sha } },
            "a/..": { "length": 3, "hashes": { "sha256": sha } },
            "/": { "length": 3, "hashes": { "sha256": sha } },
            "../b/./c": { "length": 3, "hashes": { "sha256": sha } },
        }));
        let t = read_stored("targets.json", &bytes).unwrap();
        assert_eq!(t.version, 3);
        let names: Vec<&str> = t.targets.keys().map(String::as_str).collect();
        assert_eq!(names, vec!["../b/./c", "good"]);
        assert_eq!(t.targets["good"].length, 3);
        assert_eq!(t.targets["good"].sha256, Digest([0xab; 32]));
        assert_eq!(
            t.unusable.keys().collect::<Vec<_>>(),
            vec!["/", "a/..", "no-length", "not-hex", "only-512", "short"]
        );
        assert!(t.unusable["only-512"].contains("no sha256 hash (only sha512)"));
        assert!(t.unusable["short"].contains("2 bytes, not 32"));
        assert!(t.unusable["a/.."].contains("not a valid target name"));
    }

    #[test]
    fn a_file_that_is_not_targets_is_refused_whole() {
        let mut v: Value = serde_json::from_slice(&file(serde_json::json!({}))).unwrap();
        v["signed"]["_type"] = "snapshot".into();
        let err = read_stored("targets.json", &serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(err, ClientError::MalformedJson { .. }), "{err}");
        let err = read_stored("targets.json", b"{").unwrap_err();
        assert!(matches!(err, ClientError::MalformedJson { .. }), "{err}");
    }

    #[test]
    fn a_stored_snapshot_lists_its_versions() {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "signed": { "_type": "snapshot", "version": 4,
                        "meta": { "targets.json": { "version": 3, "length": 9 } } },
            "signatures": [],
        }))
        .unwrap();
        let s = read_stored_snapshot("snapshot.json", &bytes).unwrap();
        assert_eq!(s.version, 4);
        assert_eq!(s.meta["targets.json"], 3);
    }
}
