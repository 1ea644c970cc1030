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
//! A run starts at version 1 ([`Start::Genesis`]), at the newest leaf snapshot
//! ([`Start::LatestLeafSnapshot`], `docs/pouf.md` §9), or where an audit state directory left
//! off ([`crate::audit_state`]). The report says which ([`StartedFrom`]).
//!
//! Properties kept:
//! - **Nothing unsigned is trusted.** A leaf snapshot is used only once the root recomputed from
//!   its leaves equals the `merkle_root` of the timestamp of its version, whose signature was
//!   checked against the root chain; the pointer `leaf-snapshots/latest.json` only says which
//!   file to fetch (its length and SHA-256 are checked before the file is decompressed, and the
//!   decompressed size is bounded). A snapshot that fails is an error, not a breach: it is not
//!   signed, so it shows nothing about the signer's history.
//! - **The start is reported.** What a run did not check (the history before a leaf snapshot)
//!   shows in [`AuditReport::first_version`] and [`AuditReport::started_from`].
//! - **A resumed audit never goes back.** A repository whose `timestamp.json` is older than the
//!   version an audit state checked, or that now serves other bytes for that version's
//!   timestamp, is a breach ([`Breach::Rollback`], [`Breach::BadTimestamp`]).
//!
//! Records are parsed with `tuf-repo-format`'s [`PublishedRecord`] (the type the signer's
//! records are defined by), which already refuses hashes that are not 64 lowercase hex digits;
//! paths come from `tuf_repo_format::paths`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tuf_merkle::{Digest, LeafContents, Tree, key_of};
use tuf_repo_format::leaf_snapshot::{self, LatestPointer, MAX_POINTER_BYTES};
use tuf_repo_format::paths;
use tuf_verify_core::TrustedRoot;

use crate::error::ClientError;
use crate::transport::{Fetched, Transport};
use crate::tuf::{self, Limits};

/// One change in a record: `tuf-repo-format`'s, the type the signer writes.
pub use tuf_repo_format::Change as RecordChange;

/// `changes/V.json`, as the signer publishes it (compact JSON): the record refers to the exact
/// bytes of its timestamp, published as `timestamps/V.timestamp.json`, by name, length and
/// SHA-256. `tuf-repo-format` defines it and parses it strictly.
pub use tuf_repo_format::ChangeRecord as PublishedRecord;

/// A change record with its signed timestamp resolved (the exact bytes a [`PublishedRecord`]
/// refers to): what [`Replay::apply`] checks.
#[derive(Debug, Clone)]
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
    pub merkle_root: Option<Digest>,
    /// The changes, in the order applied.
    pub changes: Vec<RecordChange>,
    /// The signed timestamp itself: the file's exact bytes, verified by [`Replay::apply`].
    pub timestamp: Vec<u8>,
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
/// SHA-256 the record names. They are read and their signature checked later, by
/// [`Replay::apply`], against the root chain.
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
    Ok(ChangeRecord {
        role: record.role,
        timestamp_version: v,
        previous_timestamp_version: record.previous_timestamp_version,
        root_version: record.root_version,
        merkle_root: record.merkle_root,
        changes: record.changes,
        timestamp: bytes.to_vec(),
    })
}

/// The first inconsistency found. Serialized (tagged by `kind`) in an audit state, which keeps
/// a breach until the operator removes it ([`crate::audit_state`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
    /// The repository went back: its `timestamp.json` is older than a version this auditor
    /// already checked (an audit state's).
    #[error(
        "rollback: the repository's timestamp.json has version {served}, below timestamp {checked} \
         this auditor already checked (the repository went back)"
    )]
    Rollback {
        /// The version checked before.
        checked: u64,
        /// The version the repository serves now.
        served: u64,
    },
}

/// Where a run of [`audit_with`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// At version 1: the whole history is replayed.
    Genesis,
    /// At the newest leaf snapshot the repository names (`leaf-snapshots/latest.json`), once
    /// its leaves recompute the signed `merkle_root` of its version; at version 1 when the
    /// repository has no pointer. The history before the snapshot is not checked.
    LatestLeafSnapshot,
}

/// Where a run's replay started, as its [`AuditReport`] tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartedFrom {
    /// Version 1.
    Genesis,
    /// Version 1, because a leaf snapshot was asked for and the repository has none
    /// (`leaf-snapshots/latest.json` is missing).
    NoLeafSnapshot,
    /// After the leaf snapshot of `version`, whose leaves recompute that version's signed
    /// `merkle_root`. The history before `version` was not checked by this run.
    LeafSnapshot {
        /// The snapshot's timestamp version.
        version: u64,
    },
    /// After `version`, the last version an audit state recorded as checked (by earlier runs,
    /// from [`AuditReport::first_version`]); its local files were verified again.
    State {
        /// The version the state had checked.
        version: u64,
    },
    /// Nowhere: the audit state records a breach an earlier run found, so this run fetched
    /// nothing and reports it again ([`AuditReport::breach`]).
    StoredBreach {
        /// When the breach was found.
        found_at: jiff::Timestamp,
    },
}

/// Why a run could not start at a leaf snapshot ([`Start::LatestLeafSnapshot`]). An error, not
/// a [`Breach`]: the snapshot and its pointer are unsigned hints, so a bad one shows nothing
/// about the signer's history; replaying from version 1 ([`Start::Genesis`]) needs neither.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeafSnapshotError {
    /// `leaf-snapshots/latest.json` is not a pointer.
    #[error("{path} is not a leaf snapshot pointer: {message}")]
    Pointer {
        /// The pointer's path.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The pointer names a version above the latest `timestamp.json` (a stale cached
    /// `timestamp.json`, or a pointer that is wrong).
    #[error(
        "{path} names timestamp {version}, above the repository's latest timestamp.json ({latest})"
    )]
    AheadOfLatest {
        /// The pointer's path.
        path: String,
        /// The version it names.
        version: u64,
        /// The latest timestamp version.
        latest: u64,
    },
    /// The pointer names a file larger than [`Limits::leaf_snapshot`].
    #[error("{path} is {length} bytes long, above the limit of {limit}")]
    TooLarge {
        /// The snapshot's path.
        path: String,
        /// The length the pointer names.
        length: u64,
        /// The limit.
        limit: u64,
    },
    /// The file the pointer names, or the timestamp of its version, is missing.
    #[error("{path} is missing (404)")]
    Missing {
        /// The missing file.
        path: String,
    },
    /// The file is not the one the pointer names (another length or SHA-256): swapped or
    /// corrupted.
    #[error("{path} is not the file {pointer} names: {detail}")]
    Mismatch {
        /// The snapshot's path.
        path: String,
        /// The pointer's path.
        pointer: String,
        /// How it differs.
        detail: String,
    },
    /// The snapshot's timestamp does not verify under the root chain, or is of another
    /// version.
    #[error("{path}: {message}")]
    Timestamp {
        /// The timestamp's path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file is not a leaf snapshot.
    #[error("{path}: {source}")]
    Decode {
        /// The snapshot's path.
        path: String,
        /// The decoder's error.
        source: leaf_snapshot::DecodeError,
    },
    /// The snapshot's leaves are not the tree its signed timestamp vouches for.
    #[error("{path}: {source}")]
    Verify {
        /// The snapshot's path.
        path: String,
        /// Why not.
        source: leaf_snapshot::VerifyError,
    },
}

/// What an audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// The role.
    pub role: String,
    /// The first timestamp version of the history checked: 1 from genesis, the snapshot's
    /// version from a leaf snapshot (the history before it was not checked), or for a resumed
    /// audit state the version its first run started at.
    pub first_version: Option<u64>,
    /// The last timestamp version checked good.
    pub last_good_version: Option<u64>,
    /// Its root.
    pub last_good_root: Option<Digest>,
    /// The root version it was signed under.
    pub last_root_version: u64,
    /// The latest timestamp version the repository serves (for a stored breach: the one it
    /// served when the breach was found).
    pub latest_version: u64,
    /// Records replayed by this run.
    pub records: u64,
    /// Changes applied by this run.
    pub changes: u64,
    /// Records replayed since [`AuditReport::first_version`], by this run and the earlier runs
    /// of its audit state (without a state, [`AuditReport::records`]).
    pub total_records: u64,
    /// Changes applied since [`AuditReport::first_version`] (see
    /// [`AuditReport::total_records`]).
    pub total_changes: u64,
    /// Leaves at the last good version.
    pub leaves: u64,
    /// Where this run's replay started.
    pub started_from: StartedFrom,
    /// The first breach, if any.
    pub breach: Option<Breach>,
}

/// Replays `role`'s history from `transport`, trusting `trusted_root` (the role's first root,
/// `1.root.json`, obtained out of band): [`audit_with`] from [`Start::Genesis`].
pub fn audit(
    transport: &dyn Transport,
    role: &str,
    trusted_root: &[u8],
    limits: &Limits,
) -> Result<AuditReport, ClientError> {
    audit_with(transport, role, trusted_root, limits, Start::Genesis)
}

/// Replays `role`'s history from `transport` from `start`, trusting `trusted_root` (the role's
/// first root, obtained out of band). Errors are failures to run (a transport error, a bad
/// root chain or latest timestamp, a leaf snapshot that does not verify); what the history
/// shows wrong is the report's [`AuditReport::breach`].
pub fn audit_with(
    transport: &dyn Transport,
    role: &str,
    trusted_root: &[u8],
    limits: &Limits,
    start: Start,
) -> Result<AuditReport, ClientError> {
    let chain = Chain::new(tuf::initial_root(trusted_root)?);
    let begin = match start {
        Start::Genesis => Begin::Genesis,
        Start::LatestLeafSnapshot => Begin::LatestLeafSnapshot,
    };
    Ok(run(transport, role, chain, limits, begin, &mut NoProgress)?.report)
}

/// A root chain verified from a trusted root: every root by version, and the newest.
pub(crate) struct Chain {
    pub(crate) roots: HashMap<u64, TrustedRoot>,
    pub(crate) latest: TrustedRoot,
}

impl Chain {
    /// The chain of one root (trusted out of band).
    pub(crate) fn new(first: TrustedRoot) -> Self {
        let mut roots = HashMap::new();
        roots.insert(first.version(), first.clone());
        Chain {
            roots,
            latest: first,
        }
    }

    /// Adds the next root, which the caller verified against [`Chain::latest`].
    pub(crate) fn push(&mut self, root: TrustedRoot) {
        self.roots.insert(root.version(), root.clone());
        self.latest = root;
    }
}

/// Where [`run`] starts.
pub(crate) enum Begin {
    /// Version 1.
    Genesis,
    /// The newest leaf snapshot, or version 1 without one.
    LatestLeafSnapshot,
    /// A point an audit state verified.
    Resume(ResumePoint),
}

/// Where an audit state left off, verified again from its local files: the tree at `version`
/// (its leaves recompute the signed root of `timestamp`, signed under `root_version`).
pub(crate) struct ResumePoint {
    pub(crate) tree: Tree,
    pub(crate) version: u64,
    pub(crate) root_version: u64,
    /// The exact bytes of `timestamps/{version}.timestamp.json`.
    pub(crate) timestamp: Vec<u8>,
    pub(crate) first_version: u64,
    pub(crate) records: u64,
    pub(crate) changes: u64,
}

/// What a run tells whoever keeps its progress (an audit state).
pub(crate) trait Progress {
    /// A new root of the chain, verified against the one before, with its exact bytes.
    fn new_root(&mut self, root: &TrustedRoot, bytes: &[u8]) -> Result<(), ClientError>;
    /// `replay.last` was just checked good; `timestamp` is its timestamp's exact bytes.
    fn checked(&mut self, replay: &Replay, timestamp: &[u8]) -> Result<(), ClientError>;
}

/// No one keeps the progress.
struct NoProgress;

impl Progress for NoProgress {
    fn new_root(&mut self, _: &TrustedRoot, _: &[u8]) -> Result<(), ClientError> {
        Ok(())
    }
    fn checked(&mut self, _: &Replay, _: &[u8]) -> Result<(), ClientError> {
        Ok(())
    }
}

/// The outcome of [`run`]: the report, the final replay, and the exact bytes of the timestamp
/// of its last good version.
pub(crate) struct Run {
    pub(crate) report: AuditReport,
    pub(crate) replay: Replay,
    pub(crate) last_timestamp: Option<Vec<u8>>,
}

/// Walks the root chain on from `chain`, reads the latest timestamp, starts at `begin` and
/// replays every record after it, telling `progress`.
pub(crate) fn run(
    transport: &dyn Transport,
    role: &str,
    mut chain: Chain,
    limits: &Limits,
    begin: Begin,
    progress: &mut dyn Progress,
) -> Result<Run, ClientError> {
    let mut new_roots = Vec::new();
    tuf::walk_roots(transport, role, chain.latest.clone(), limits, |r, bytes| {
        progress.new_root(r, bytes)?;
        new_roots.push(r.clone());
        Ok(())
    })?;
    for r in new_roots {
        chain.push(r);
    }
    let ts_path = format!("{role}/{}", paths::TIMESTAMP);
    let ts_bytes = tuf::fetch_required(transport, &ts_path, limits.timestamp)?;
    let latest = tuf::verify_timestamp(&chain.latest, &ts_path, &ts_bytes, true)?;

    let mut prior = (0, 0);
    let (mut auditor, mut last_exact, started_from) = match begin {
        Begin::Genesis => (Replay::new(role, chain.roots), None, StartedFrom::Genesis),
        Begin::LatestLeafSnapshot => {
            match from_latest_leaf_snapshot(transport, role, &chain.roots, latest.version, limits)?
            {
                Some(s) => (
                    Replay::starting_at(role, chain.roots, s.tree, s.version, s.root_version),
                    Some(s.timestamp),
                    StartedFrom::LeafSnapshot { version: s.version },
                ),
                None => (
                    Replay::new(role, chain.roots),
                    None,
                    StartedFrom::NoLeafSnapshot,
                ),
            }
        }
        Begin::Resume(p) => {
            prior = (p.records, p.changes);
            let mut replay =
                Replay::starting_at(role, chain.roots, p.tree, p.version, p.root_version);
            replay.first = Some(p.first_version);
            replay.breach =
                still_served(transport, role, p.version, &p.timestamp, &latest, limits)?;
            (
                replay,
                Some(p.timestamp),
                StartedFrom::State { version: p.version },
            )
        }
    };

    let mut missing_from: Option<u64> = None;
    let after = auditor.last.unwrap_or(0);
    let end = if auditor.breach.is_none() {
        latest.version
    } else {
        after
    };
    for v in after.saturating_add(1)..=end {
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
        progress.checked(&auditor, &exact)?;
        last_exact = Some(exact);
        missing_from = None;
    }
    if auditor.breach.is_none() {
        if missing_from.is_some() || auditor.last != Some(latest.version) {
            auditor.breach = Some(Breach::MissingRecord {
                after: auditor.last,
                next: None,
            });
        } else if auditor.last_root != latest.merkle_root
            || last_exact.as_deref() != Some(&ts_bytes[..])
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
    let report = AuditReport {
        role: role.to_owned(),
        first_version: auditor.first,
        last_good_version: auditor.last,
        last_good_root: auditor.last_root,
        last_root_version: auditor.last_root_version,
        latest_version: latest.version,
        records: auditor.records,
        changes: auditor.changes,
        total_records: prior.0 + auditor.records,
        total_changes: prior.1 + auditor.changes,
        leaves: auditor.tree.len() as u64,
        started_from,
        breach: auditor.breach.clone(),
    };
    Ok(Run {
        report,
        replay: auditor,
        last_timestamp: last_exact,
    })
}

/// For a resumed audit: the repository must not have gone back before `version`, the version
/// checked before, and must still serve the same bytes as that version's timestamp. A breach
/// if not.
fn still_served(
    transport: &dyn Transport,
    role: &str,
    version: u64,
    checked: &[u8],
    latest: &tuf::VerifiedTimestamp,
    limits: &Limits,
) -> Result<Option<Breach>, ClientError> {
    if latest.version < version {
        return Ok(Some(Breach::Rollback {
            checked: version,
            served: latest.version,
        }));
    }
    let file = paths::timestamp_file(version);
    let path = format!("{role}/{file}");
    let message = match transport.get(&path, limits.timestamp)? {
        Fetched::Found(b) if b == checked => return Ok(None),
        Fetched::Found(_) => {
            format!("the repository now serves another {file} than the one this auditor checked")
        }
        Fetched::NotFound => format!("{file}, which this auditor checked, is missing now"),
    };
    Ok(Some(Breach::BadTimestamp {
        timestamp_version: version,
        message,
    }))
}

/// A verified leaf snapshot to start at.
struct SnapshotStart {
    tree: Tree,
    version: u64,
    root_version: u64,
    timestamp: Vec<u8>,
}

/// The newest leaf snapshot of `role`, checked: the pointer, the file it names (length and
/// SHA-256 before decompressing), the signed timestamp of its version (under a root of
/// `roots`), and the leaves against that timestamp's `merkle_root`. `None` when the repository
/// has no pointer.
fn from_latest_leaf_snapshot(
    transport: &dyn Transport,
    role: &str,
    roots: &HashMap<u64, TrustedRoot>,
    latest: u64,
    limits: &Limits,
) -> Result<Option<SnapshotStart>, ClientError> {
    let pointer_path = format!("{role}/{}", paths::LEAF_SNAPSHOT_LATEST);
    let bytes = match transport.get(&pointer_path, MAX_POINTER_BYTES)? {
        Fetched::Found(b) => b,
        Fetched::NotFound => return Ok(None),
    };
    let pointer = LatestPointer::from_json(&bytes).map_err(|e| LeafSnapshotError::Pointer {
        path: pointer_path.clone(),
        message: e.to_string(),
    })?;
    let version = pointer.timestamp_version;
    if version > latest {
        return Err(LeafSnapshotError::AheadOfLatest {
            path: pointer_path,
            version,
            latest,
        }
        .into());
    }
    let path = format!("{role}/{}", paths::leaf_snapshot(version));
    if pointer.length > limits.leaf_snapshot {
        return Err(LeafSnapshotError::TooLarge {
            path,
            length: pointer.length,
            limit: limits.leaf_snapshot,
        }
        .into());
    }
    let mismatch = |detail: String| LeafSnapshotError::Mismatch {
        path: path.clone(),
        pointer: pointer_path.clone(),
        detail,
    };
    // At most the length the pointer names: a longer file is not the one named.
    let file = match transport.get(&path, pointer.length) {
        Ok(Fetched::Found(b)) => b,
        Ok(Fetched::NotFound) => return Err(LeafSnapshotError::Missing { path }.into()),
        Err(ClientError::TooLarge { .. }) => {
            return Err(mismatch(format!(
                "it is longer than the {} bytes named",
                pointer.length
            ))
            .into());
        }
        Err(e) => return Err(e),
    };
    if !pointer.matches(&file) {
        return Err(mismatch(format!(
            "it has length {} and sha256 {}; the pointer names {} and {}",
            file.len(),
            tuf_merkle::hash::sha256(&file),
            pointer.length,
            pointer.sha256
        ))
        .into());
    }
    let ts_path = format!("{role}/{}", paths::timestamp_file(version));
    let timestamp = match transport.get(&ts_path, limits.timestamp)? {
        Fetched::Found(b) => b,
        Fetched::NotFound => return Err(LeafSnapshotError::Missing { path: ts_path }.into()),
    };
    let (root_version, signed) =
        verify_under_chain(roots, &ts_path, &timestamp).map_err(|message| {
            LeafSnapshotError::Timestamp {
                path: ts_path.clone(),
                message,
            }
        })?;
    if signed.version != version {
        return Err(LeafSnapshotError::Timestamp {
            path: ts_path,
            message: format!("it has version {}", signed.version),
        }
        .into());
    }
    let signed_root = signed.merkle_root.unwrap_or(tuf_merkle::EMPTY);
    let payload_limit = usize::try_from(limits.leaf_snapshot_payload).unwrap_or(usize::MAX);
    let snapshot = leaf_snapshot::decode(&file, payload_limit).map_err(|source| {
        LeafSnapshotError::Decode {
            path: path.clone(),
            source,
        }
    })?;
    let tree = snapshot
        .verify(role, version, &signed_root)
        .map_err(|source| LeafSnapshotError::Verify { path, source })?;
    Ok(Some(SnapshotStart {
        tree,
        version,
        root_version,
        timestamp,
    }))
}

/// Verifies a timestamp (a merkle role's: with a `merkle_root`) under the newest root of
/// `roots` whose threshold signed it; returns that root's version. A timestamp does not name
/// the root it was signed under, and every root of the chain was trusted in its time.
fn verify_under_chain(
    roots: &HashMap<u64, TrustedRoot>,
    what: &str,
    bytes: &[u8],
) -> Result<(u64, tuf::VerifiedTimestamp), String> {
    let mut newest_first: Vec<(u64, &TrustedRoot)> = roots.iter().map(|(v, r)| (*v, r)).collect();
    newest_first.sort_unstable_by_key(|(v, _)| std::cmp::Reverse(*v));
    let mut newest_error = None;
    for (v, root) in newest_first {
        match tuf::verify_timestamp(root, what, bytes, true) {
            Ok(ts) => return Ok((v, ts)),
            Err(e) => {
                newest_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    Err(newest_error.unwrap_or_else(|| "no root to verify it with".into()))
}

/// The replay state: the tree and the last version checked. Usable on its own (benchmarks,
/// auditors that keep the tree between runs).
pub struct Replay {
    role: String,
    roots: HashMap<u64, TrustedRoot>,
    /// The replayed tree: the tree at [`Replay::last`], except after a
    /// [`Breach::RootMismatch`], when it holds the changes of the record refused.
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
    pub fn new(role: &str, roots: HashMap<u64, TrustedRoot>) -> Self {
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
        roots: HashMap<u64, TrustedRoot>,
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
    pub fn trust_root(&mut self, root: TrustedRoot) {
        self.roots.insert(root.version(), root);
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
        let what = paths::timestamp_file(v);
        let ts = tuf::verify_timestamp(root, &what, &record.timestamp, true).map_err(|e| {
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
    use serde_json::json;
    use tuf_keys::FileSigner;

    use super::*;

    const FAR: &str = "2100-01-01T00:00:00Z";

    fn root(key: &FileSigner) -> TrustedRoot {
        let p = key.public_key();
        let id = p.key_id_hex();
        let role = json!({"keyids": [id], "threshold": 1});
        let signed = json!({
            "_type": "root", "spec_version": "1.0.0", "consistent_snapshot": true,
            "version": 1, "expires": FAR,
            "keys": {id.clone(): serde_json::to_value(p.key()).unwrap()},
            "roles": {"root": role, "timestamp": role, "snapshot": role, "targets": role},
        });
        let bytes = serde_json::to_vec(&tuf::sign_metadata(signed, &[key]).unwrap()).unwrap();
        TrustedRoot::new(&bytes).unwrap()
    }

    fn record(
        key: &FileSigner,
        v: u64,
        changes: Vec<(&str, Option<LeafContents>, LeafContents)>,
        root: Digest,
    ) -> ChangeRecord {
        let t = json!({
            "_type": "timestamp", "spec_version": "1.0.0", "version": v, "expires": FAR,
            "meta": {"snapshot.json": {"version": 1}},
            "merkle_root": root.to_hex(),
        });
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
            timestamp: serde_json::to_vec(&tuf::sign_metadata(t, &[key]).unwrap()).unwrap(),
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
        let roots: HashMap<u64, TrustedRoot> = [(1, root(&key))].into_iter().collect();
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
