//! The auditor: replays a merkle role's history from its change records (`changes/V.json`) and
//! checks every signed root.
//!
//! For every timestamp version from the first to the latest it checks that:
//! - the record is the next one (its `previous_timestamp_version` is the last record replayed:
//!   no record is missing, versions only go up);
//! - the timestamp it refers to, fetched as the exact bytes the signer signed
//!   (`timestamps/V.timestamp.json`, of the length and SHA-256 the record names), is signed by
//!   the threshold of the root version it names (a root of the chain walked from the auditor's
//!   trusted root), carries this version, and its `merkle_root` is the record's;
//! - each change's `old` is exactly the replayed tree's leaf (the record tells the truth about
//!   the past), and its `new` version is above `old`'s (never down, never the same with other
//!   contents);
//! - the root recomputed from the replayed leaves equals the signed `merkle_root`. Changes can
//!   only set leaves, so a leaf that disappears, or changes without a record, makes the signed
//!   root differ from the replayed one.
//!
//! The latest `timestamp.json` must be one of the replayed versions: byte for byte the
//! `timestamps/V.timestamp.json` of its version.
//!
//! Records are parsed with `tuf-repo-format`'s [`PublishedRecord`] (the type the signer's
//! records are defined by), which already refuses hashes that are not 64 lowercase hex digits;
//! paths come from `tuf_repo_format::paths`.

use std::collections::HashMap;

use serde::Deserialize;
use tough::schema::{Root, Signed, Timestamp};
use tuf_merkle::{Digest, LeafContents, Tree, key_of};
use tuf_repo_format::paths;

use crate::error::ClientError;
use crate::transport::{Fetched, Transport};
use crate::tuf::{self, Limits};

/// One change in a record: `tuf-repo-format`'s, the type the signer writes.
pub use tuf_repo_format::Change as RecordChange;

/// `changes/V.json`, as the signer publishes it (compact JSON): the record refers to the exact
/// bytes of its timestamp, published as `timestamps/V.timestamp.json`, by name, length and
/// SHA-256. `tuf-repo-format` defines it and parses it strictly.
pub use tuf_repo_format::ChangeRecord as PublishedRecord;

/// A change record with its signed timestamp resolved (from the exact bytes a
/// [`PublishedRecord`] refers to): what [`Replay::apply`] checks.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeRecord {
    /// The role.
    pub role: String,
    /// This timestamp version.
    pub timestamp_version: u64,
    /// The version before (none for the first).
    pub previous_timestamp_version: Option<u64>,
    /// The root version the timestamp was signed under.
    pub root_version: u64,
    /// The signed `merkle_root`.
    #[serde(default, with = "tuf_repo_format::hex_digest::option")]
    pub merkle_root: Option<Digest>,
    /// The changes, in the order applied.
    pub changes: Vec<RecordChange>,
    /// The signed timestamp itself.
    pub timestamp: Signed<Timestamp>,
}

/// Fetches the exact timestamp bytes `record` refers to, checks them against the record's
/// length and SHA-256, and returns them with the record resolved. A transport failure is an
/// error; a missing, altered or unparsable file is a breach.
fn resolve(
    transport: &dyn Transport,
    role: &str,
    record: PublishedRecord,
    limits: &Limits,
) -> Result<Result<(Vec<u8>, ChangeRecord), Breach>, ClientError> {
    let v = record.timestamp_version;
    if let Err(breach) = check_timestamp_file(&record) {
        return Ok(Err(breach));
    }
    let path = format!("{role}/{}", paths::timestamp_file(v));
    let bytes = match transport.get(&path, limits.timestamp)? {
        Fetched::Found(b) => b,
        Fetched::NotFound => {
            return Ok(Err(Breach::BadTimestamp {
                timestamp_version: v,
                message: format!("{path} is missing"),
            }));
        }
    };
    Ok(resolve_with(record, &bytes).map(|r| (bytes, r)))
}

/// The record must name its timestamp where the signer publishes it.
fn check_timestamp_file(record: &PublishedRecord) -> Result<(), Breach> {
    let expected = paths::timestamp_file(record.timestamp_version);
    if record.timestamp_file != expected {
        return Err(Breach::BadRecord {
            timestamp_version: record.timestamp_version,
            message: format!(
                "the record names {:?} for its timestamp, not {expected:?}",
                record.timestamp_file
            ),
        });
    }
    Ok(())
}

/// Resolves `record` with `bytes`, the file its timestamp is published in
/// (`timestamps/V.timestamp.json`), obtained by the caller: the bytes must have the length and
/// SHA-256 the record names and parse as a signed timestamp. The signature is checked later,
/// by [`Replay::apply`], against the root chain.
pub fn resolve_with(record: PublishedRecord, bytes: &[u8]) -> Result<ChangeRecord, Breach> {
    check_timestamp_file(&record)?;
    let v = record.timestamp_version;
    let path = paths::timestamp_file(v);
    let bad_ts = |message: String| Breach::BadTimestamp {
        timestamp_version: v,
        message,
    };
    let sha256 = tuf_merkle::hash::sha256(bytes);
    if bytes.len() as u64 != record.timestamp_length || sha256 != record.timestamp_sha256 {
        return Err(bad_ts(format!(
            "{path} has length {} and sha256 {sha256}; its record says {} and {}",
            bytes.len(),
            record.timestamp_length,
            record.timestamp_sha256
        )));
    }
    let timestamp: Signed<Timestamp> = serde_json::from_slice(bytes)
        .map_err(|e| bad_ts(format!("{path} is not a timestamp: {e}")))?;
    Ok(ChangeRecord {
        role: record.role,
        timestamp_version: v,
        previous_timestamp_version: record.previous_timestamp_version,
        root_version: record.root_version,
        merkle_root: record.merkle_root,
        changes: record.changes,
        timestamp,
    })
}

/// The first inconsistency found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Breach {
    /// A leaf's version went down.
    #[error(
        "timestamp {timestamp_version}: {name} went from version {from} down to {to} (signed root {merkle_root})"
    )]
    VersionDecreased {
        /// Where.
        timestamp_version: u64,
        /// The name (or key).
        name: String,
        /// Before.
        from: u64,
        /// After.
        to: u64,
        /// The root signed with it.
        merkle_root: String,
    },
    /// A leaf changed without a new version.
    #[error("timestamp {timestamp_version}: {name} changed contents but kept version {version}")]
    VersionNotIncreased {
        /// Where.
        timestamp_version: u64,
        /// The name.
        name: String,
        /// The version.
        version: u64,
    },
    /// The signed root is not the root of the replayed leaves.
    #[error(
        "timestamp {timestamp_version}: signed merkle_root {signed} is not the replayed root {replayed} \
         (a leaf was removed, added or changed without a record)"
    )]
    RootMismatch {
        /// Where.
        timestamp_version: u64,
        /// The signed root.
        signed: String,
        /// The replayed one.
        replayed: String,
    },
    /// A record that contradicts the history before it.
    #[error("timestamp {timestamp_version}: {message}")]
    BadRecord {
        /// Where.
        timestamp_version: u64,
        /// What is wrong.
        message: String,
    },
    /// A timestamp in the history that is not validly signed.
    #[error("timestamp {timestamp_version}: {message}")]
    BadTimestamp {
        /// Where.
        timestamp_version: u64,
        /// What is wrong.
        message: String,
    },
    /// Records missing from the history.
    #[error("the change record after timestamp {after:?} is missing (next found: {next:?})")]
    MissingRecord {
        /// The last replayed version.
        after: Option<u64>,
        /// The next record found, if any.
        next: Option<u64>,
    },
}

/// What an audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// The role.
    pub role: String,
    /// The first timestamp version replayed.
    pub first_version: Option<u64>,
    /// The last timestamp version checked good.
    pub last_good_version: Option<u64>,
    /// Its root.
    pub last_good_root: Option<Digest>,
    /// The root version it was signed under.
    pub last_root_version: u64,
    /// The latest timestamp version the repository serves.
    pub latest_version: u64,
    /// Records replayed.
    pub records: u64,
    /// Changes applied.
    pub changes: u64,
    /// Leaves at the last good version.
    pub leaves: u64,
    /// The first breach, if any.
    pub breach: Option<Breach>,
}

/// Replays `role`'s history from `transport`, trusting `trusted_root` (the role's first root,
/// `1.root.json`, obtained out of band).
pub fn audit(
    transport: &dyn Transport,
    role: &str,
    trusted_root: &[u8],
    limits: &Limits,
) -> Result<AuditReport, ClientError> {
    let first = tuf::initial_root(trusted_root)?;
    let mut roots: HashMap<u64, Root> = HashMap::new();
    roots.insert(first.signed.version.get(), first.signed.clone());
    let latest_root = tuf::walk_roots(transport, role, first, limits, |r, _| {
        roots.insert(r.signed.version.get(), r.signed.clone());
        Ok(())
    })?;
    let ts_path = format!("{role}/{}", paths::TIMESTAMP);
    let ts_bytes = tuf::fetch_required(transport, &ts_path, limits.timestamp)?;
    let latest = tuf::verify_timestamp(&latest_root.signed, &ts_path, &ts_bytes, true)?;
    let mut auditor = Replay::new(role, roots);
    let mut missing_from: Option<u64> = None;
    let mut latest_exact: Option<Vec<u8>> = None;
    for v in 1..=latest.version {
        let path = format!("{role}/{}", paths::change_record(v));
        let bytes = match transport.get(&path, limits.change_record)? {
            Fetched::Found(b) => b,
            Fetched::NotFound => {
                missing_from.get_or_insert(v);
                continue;
            }
        };
        let record = match PublishedRecord::from_json(&bytes) {
            Ok(r) => r,
            Err(e) => {
                auditor.breach = Some(Breach::BadRecord {
                    timestamp_version: v,
                    message: format!("{path} is malformed: {e}"),
                });
                break;
            }
        };
        if record.timestamp_version != v {
            auditor.breach = Some(Breach::BadRecord {
                timestamp_version: v,
                message: format!("{path} is the record of {}", record.timestamp_version),
            });
            break;
        }
        let (exact, record) = match resolve(transport, role, record, limits)? {
            Ok(resolved) => resolved,
            Err(breach) => {
                auditor.breach = Some(breach);
                break;
            }
        };
        if !auditor.apply(&record) {
            break;
        }
        if v == latest.version {
            latest_exact = Some(exact);
        }
        missing_from = None;
    }
    if auditor.breach.is_none() {
        if missing_from.is_some() || auditor.last != Some(latest.version) {
            auditor.breach = Some(Breach::MissingRecord {
                after: auditor.last,
                next: None,
            });
        } else if auditor.last_root != latest.merkle_root
            || latest_exact.as_deref() != Some(&ts_bytes[..])
        {
            auditor.breach = Some(Breach::BadTimestamp {
                timestamp_version: latest.version,
                message: format!(
                    "timestamp.json differs from {}, the timestamp its change record names",
                    paths::timestamp_file(latest.version)
                ),
            });
        }
    }
    Ok(AuditReport {
        role: role.to_owned(),
        first_version: auditor.first,
        last_good_version: auditor.last,
        last_good_root: auditor.last_root,
        last_root_version: auditor.last_root_version,
        latest_version: latest.version,
        records: auditor.records,
        changes: auditor.changes,
        leaves: auditor.tree.len() as u64,
        breach: auditor.breach,
    })
}

/// The replay state: the tree and the last version checked. Usable on its own (benchmarks,
/// auditors that keep the tree between runs).
pub struct Replay {
    role: String,
    roots: HashMap<u64, Root>,
    /// The replayed tree.
    pub tree: Tree,
    /// The first version replayed.
    pub first: Option<u64>,
    /// The last version checked good.
    pub last: Option<u64>,
    /// Its root.
    pub last_root: Option<Digest>,
    /// The root version it was signed under.
    pub last_root_version: u64,
    /// Records replayed.
    pub records: u64,
    /// Changes applied.
    pub changes: u64,
    /// The first breach.
    pub breach: Option<Breach>,
}

impl Replay {
    /// An empty replay trusting `roots` (by version).
    pub fn new(role: &str, roots: HashMap<u64, Root>) -> Self {
        Replay {
            role: role.to_owned(),
            roots,
            tree: Tree::new(),
            first: None,
            last: None,
            last_root: None,
            last_root_version: 0,
            records: 0,
            changes: 0,
            breach: None,
        }
    }

    /// A replay that starts after version `version`, from `tree`: the leaves of a leaf snapshot
    /// the caller verified against the signed timestamp `version` (its `merkle_root`, under
    /// root version `root_version` of `roots`). The next record applied must be `version + 1`'s.
    /// Nothing before `version` is checked by this replay.
    pub fn starting_at(
        role: &str,
        roots: HashMap<u64, Root>,
        tree: Tree,
        version: u64,
        root_version: u64,
    ) -> Self {
        let root = tree.root();
        Replay {
            tree,
            first: Some(version),
            last: Some(version),
            last_root: Some(root),
            last_root_version: root_version,
            ..Replay::new(role, roots)
        }
    }

    /// Adds a root of the chain (one the caller verified against the previous root), so that
    /// records signed under it can be checked.
    pub fn trust_root(&mut self, root: Root) {
        self.roots.insert(root.version.get(), root);
    }

    /// The root versions this replay trusts.
    pub fn root_versions(&self) -> impl Iterator<Item = u64> + '_ {
        self.roots.keys().copied()
    }

    /// Checks and applies the next record; false (with [`Replay::breach`] set) on a breach.
    pub fn apply(&mut self, record: &ChangeRecord) -> bool {
        match self.check(record) {
            Ok(()) => true,
            Err(b) => {
                self.breach = Some(b);
                false
            }
        }
    }

    fn check(&mut self, record: &ChangeRecord) -> Result<(), Breach> {
        let v = record.timestamp_version;
        let bad = |message: String| Breach::BadRecord {
            timestamp_version: v,
            message,
        };
        if record.role != self.role {
            return Err(bad(format!("record of role {:?}", record.role)));
        }
        if record.previous_timestamp_version != self.last {
            return Err(Breach::MissingRecord {
                after: self.last,
                next: Some(v),
            });
        }
        // The signed timestamp.
        let root = self
            .roots
            .get(&record.root_version)
            .ok_or_else(|| Breach::BadTimestamp {
                timestamp_version: v,
                message: format!(
                    "signed under root version {}, which is not in the verified chain",
                    record.root_version
                ),
            })?;
        let ts = tuf::verified_timestamp(root, record.timestamp.clone(), true).map_err(|e| {
            Breach::BadTimestamp {
                timestamp_version: v,
                message: e.to_string(),
            }
        })?;
        if ts.version != v {
            return Err(Breach::BadTimestamp {
                timestamp_version: v,
                message: format!("the record's timestamp has version {}", ts.version),
            });
        }
        let signed = ts.merkle_root.unwrap_or(tuf_merkle::EMPTY);
        if record.merkle_root != Some(signed) {
            return Err(bad("the record's merkle_root is not its timestamp's".into()));
        }
        // The changes, against the replayed tree (with an overlay for a name changed twice).
        let mut overlay: HashMap<Digest, LeafContents> = HashMap::new();
        let mut order: Vec<Digest> = Vec::new();
        for c in &record.changes {
            // The key's hex was checked when the record was parsed.
            let key = c.key;
            let label = c.name.clone().unwrap_or_else(|| c.key.to_hex());
            if let Some(name) = &c.name
                && key_of(name) != key
            {
                return Err(bad(format!("key {} is not H({name:?})", c.key)));
            }
            let current = overlay
                .get(&key)
                .copied()
                .or_else(|| self.tree.get_key(&key));
            if current != c.old {
                return Err(bad(format!(
                    "{label}: the record says it was {:?} but the history has {:?}",
                    c.old.map(|o| o.canonical_json()),
                    current.map(|o| o.canonical_json())
                )));
            }
            if let Some(old) = current {
                if c.new.version() < old.version() {
                    return Err(Breach::VersionDecreased {
                        timestamp_version: v,
                        name: label,
                        from: old.version(),
                        to: c.new.version(),
                        merkle_root: signed.to_hex(),
                    });
                }
                if c.new.version() == old.version() && c.new != old {
                    return Err(Breach::VersionNotIncreased {
                        timestamp_version: v,
                        name: label,
                        version: old.version(),
                    });
                }
            }
            if overlay.insert(key, c.new).is_none() {
                order.push(key);
            }
        }
        self.tree.set_many(order.iter().map(|k| (*k, overlay[k])));
        let replayed = self.tree.root();
        if replayed != signed {
            return Err(Breach::RootMismatch {
                timestamp_version: v,
                signed: signed.to_hex(),
                replayed: replayed.to_hex(),
            });
        }
        self.first.get_or_insert(v);
        self.last = Some(v);
        self.last_root = Some(replayed);
        self.last_root_version = record.root_version;
        self.records += 1;
        self.changes += record.changes.len() as u64;
        Ok(())
    }
}

#[cfg(all(test, feature = "sign"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::num::NonZeroU64;

    use tough::schema::{RoleKeys, RoleType};
    use tuf_keys::FileSigner;

    use super::*;

    fn root(key: &FileSigner) -> Root {
        let p = key.public_key();
        let keys = [(p.key_id().clone(), p.key().clone())]
            .into_iter()
            .collect();
        let roles = [
            RoleType::Root,
            RoleType::Timestamp,
            RoleType::Snapshot,
            RoleType::Targets,
        ]
        .into_iter()
        .map(|r| {
            let k = RoleKeys {
                keyids: vec![p.key_id().clone()],
                threshold: NonZeroU64::MIN,
                _extra: HashMap::new(),
            };
            (r, k)
        })
        .collect();
        Root {
            spec_version: "1.0.0".into(),
            consistent_snapshot: true,
            version: NonZeroU64::MIN,
            expires: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
            keys,
            roles,
            _extra: HashMap::new(),
        }
    }

    fn record(
        key: &FileSigner,
        v: u64,
        changes: Vec<(&str, Option<LeafContents>, LeafContents)>,
        root: Digest,
    ) -> ChangeRecord {
        let mut t = Timestamp::new(
            "1.0.0".into(),
            NonZeroU64::new(v).unwrap(),
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        );
        t._extra.insert(
            "merkle_root".into(),
            serde_json::Value::String(root.to_hex()),
        );
        ChangeRecord {
            role: "crates.io".into(),
            timestamp_version: v,
            previous_timestamp_version: (v > 1).then(|| v - 1),
            root_version: 1,
            merkle_root: Some(root),
            changes: changes
                .into_iter()
                .map(|(n, old, new)| RecordChange {
                    name: Some(n.into()),
                    key: key_of(n),
                    old,
                    new,
                })
                .collect(),
            timestamp: tuf::sign_metadata(t, &[key]).unwrap(),
        }
    }

    fn c(v: u64, b: &[u8]) -> LeafContents {
        LeafContents::for_bytes(v, b).unwrap()
    }

    #[test]
    fn replay_checks_versions_records_roots_and_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let key = FileSigner::generate(dir.path().join("k.pem"), tuf_keys::KeyAlgorithm::Ed25519)
            .unwrap();
        let roots: HashMap<u64, Root> = [(1, root(&key))].into_iter().collect();
        let mut tree = Tree::new();
        tree.set(key_of("a"), c(1, b"a1"));
        let r1 = record(&key, 1, vec![("a", None, c(1, b"a1"))], tree.root());
        let mut replay = Replay::new("crates.io", roots.clone());
        assert!(replay.apply(&r1), "{:?}", replay.breach);

        // Same version, other contents.
        let mut t2 = tree.clone();
        t2.set(key_of("a"), c(1, b"a-other"));
        let bad = record(
            &key,
            2,
            vec![("a", Some(c(1, b"a1")), c(1, b"a-other"))],
            t2.root(),
        );
        let mut r = Replay::new("crates.io", roots.clone());
        assert!(r.apply(&r1));
        assert!(!r.apply(&bad));
        assert!(matches!(r.breach, Some(Breach::VersionNotIncreased { .. })));

        // A record lying about the old contents.
        let lie = record(
            &key,
            2,
            vec![("a", Some(c(3, b"a3")), c(4, b"a4"))],
            t2.root(),
        );
        let mut r = Replay::new("crates.io", roots.clone());
        assert!(r.apply(&r1));
        assert!(!r.apply(&lie));
        assert!(matches!(r.breach, Some(Breach::BadRecord { .. })));

        // A timestamp signed by another key.
        let other = FileSigner::generate(dir.path().join("o.pem"), tuf_keys::KeyAlgorithm::Ed25519)
            .unwrap();
        let forged = record(&other, 2, vec![], tree.root());
        let mut r = Replay::new("crates.io", roots.clone());
        assert!(r.apply(&r1));
        assert!(!r.apply(&forged));
        assert!(matches!(r.breach, Some(Breach::BadTimestamp { .. })));

        // A record out of order.
        let skip = record(&key, 3, vec![], tree.root());
        let mut r = Replay::new("crates.io", roots);
        assert!(r.apply(&r1));
        let mut skip = skip;
        skip.previous_timestamp_version = Some(2);
        assert!(!r.apply(&skip));
        assert!(matches!(r.breach, Some(Breach::MissingRecord { .. })));

        // An honest update.
        let mut t3 = tree.clone();
        t3.set(key_of("a"), c(2, b"a2"));
        t3.set(key_of("b"), c(1, b"b1"));
        let good = record(
            &key,
            2,
            vec![
                ("a", Some(c(1, b"a1")), c(2, b"a2")),
                ("b", None, c(1, b"b1")),
            ],
            t3.root(),
        );
        assert!(replay.apply(&good), "{:?}", replay.breach);
        assert_eq!(replay.last_root, Some(t3.root()));
        assert_eq!(replay.tree.len(), 2);
    }
}
