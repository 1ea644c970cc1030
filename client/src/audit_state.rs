//! An auditor's state directory (`tuf-verify audit --state DIR`): what the runs of an audit
//! checked, so that the next run resumes after the last good version instead of replaying the
//! role's history from version 1. One directory per role:
//!
//! ```text
//! audit-state.json   the role, the trusted root's version, the last good timestamp version V
//!                    and the root version it was signed under, the first version checked,
//!                    counters (records, changes), and a breach if one was found
//! N.root.json        the root chain from the trusted root on, exact bytes as fetched
//! V.timestamp.json   the exact bytes of the repository's `timestamps/V.timestamp.json`
//! V.leaves.gz        the tree at V, as a leaf snapshot (`docs/pouf.md` §9) of role and V
//! audit.lock         held (flock) by the one auditor using the directory
//! ```
//!
//! `audit-state.json` is compact JSON: `{"format":1,"role":…,"trusted_root_version":N,
//! "last_good":{"timestamp_version":V,"root_version":R}|null,"first_version":F|null,
//! "records":…,"changes":…,"breach":null|{"found_at":…,"latest_version":…,"breach":{"kind":…}}}`.
//!
//! Properties kept:
//! - **Local files are not trusted.** Every run verifies the state again before using it, as if
//!   it had been fetched: the stored trusted root is byte for byte the one given; each stored
//!   root is signed by the threshold of the one before and its own; V's timestamp is signed by
//!   the root version the state names and has version V; the leaves of `V.leaves.gz` recompute
//!   that timestamp's `merkle_root` ([`LeafSnapshot::verify`]). A file that fails is an error
//!   naming it ([`AuditStateError`]), never skipped: the run stops, nothing is advanced, and the
//!   operator restores the file or removes the directory to audit from the start.
//! - **A tree always goes with its own timestamp.** The tree and timestamp files are named by
//!   their version and written (atomically: `tuf-files`) before `audit-state.json`, which names
//!   V, is replaced; files of other versions are removed only after that. A crash at any point
//!   leaves a state that names a version whose two files are both there.
//! - **A killed run loses little.** During a replay the state is written every
//!   [`CHECKPOINT_EVERY`] records, and at the end of every run.
//! - **A breach is sticky.** A breach is recorded with the version it was found at; the runs
//!   after it report it again (fetching nothing) and never advance, until the operator removes
//!   the directory. A repository older than the state (a rollback) is a breach.
//! - **One auditor per directory.** [`AuditState::open`] takes `audit.lock` without waiting: a
//!   second auditor on the directory is refused at once ([`ClientError::StateLock`]). The kernel
//!   releases the lock of a process that dies.
//! - **Private.** The directory is created with mode 0700 and every file written with 0600.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tuf_files::beneath::{self, BeneathError};
use tuf_files::{DirLock, WriteOptions};
use tuf_merkle::Tree;
use tuf_repo_format::LeafEntry;
use tuf_repo_format::leaf_snapshot::{self, LeafSnapshot};
use tuf_verify_core::TrustedRoot;

use crate::audit::{
    self, AuditReport, Begin, Breach, Chain, Progress, Replay, ResumePoint, StartedFrom,
};
use crate::error::ClientError;
use crate::transport::Transport;
use crate::tuf::{self, Limits};

/// The state file.
pub const STATE_FILE: &str = "audit-state.json";

/// The lock file.
pub const LOCK_FILE: &str = "audit.lock";

/// During a replay the state is written every this many records (and at the end of the run).
pub const CHECKPOINT_EVERY: u64 = 10_000;

/// The format of `audit-state.json` this module writes and reads.
const FORMAT: u32 = 1;

/// The largest `audit-state.json` read (a few hundred bytes, more with a long breach message).
const MAX_STATE_BYTES: u64 = 1024 * 1024;

/// `audit-state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u32,
    role: String,
    /// The version of the trusted root given (`N.root.json`, the chain's first file).
    trusted_root_version: u64,
    last_good: Option<LastGood>,
    first_version: Option<u64>,
    records: u64,
    changes: u64,
    breach: Option<RecordedBreach>,
}

/// The last version checked good, whose tree and timestamp the directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LastGood {
    timestamp_version: u64,
    root_version: u64,
}

/// A breach a run found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedBreach {
    found_at: jiff::Timestamp,
    /// The latest timestamp version the repository served then.
    latest_version: u64,
    breach: Breach,
}

/// Why an audit state directory cannot be used. Every variant but the last two names the file;
/// [`AuditStateError::remedy`] says what the operator can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditStateError {
    /// The directory holds files but no `audit-state.json`: it is not an audit state.
    #[error("{} holds files but no {STATE_FILE}", .dir.display())]
    NotAnAuditState {
        /// The directory.
        dir: PathBuf,
    },
    /// A file of the state could not be read (or is a symlink, or not a regular file).
    #[error("{}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file the state needs is missing.
    #[error("{} is missing", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// A file larger than any this module writes of its kind.
    #[error("{} is larger than {limit} bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// `audit-state.json` is not a state this module wrote.
    #[error("{}: not an audit state: {message}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The state of another role.
    #[error("{} is the audit state of role {found:?}, not {expected:?}", .path.display())]
    OtherRole {
        /// The state file.
        path: PathBuf,
        /// Its role.
        found: String,
        /// The role audited.
        expected: String,
    },
    /// The stored trusted root is not the one given to this run.
    #[error("{} is not the trusted root given to this run", .path.display())]
    OtherTrustedRoot {
        /// The stored root.
        path: PathBuf,
    },
    /// A stored root that does not follow the one before it.
    #[error("{}: {source}", .path.display())]
    Root {
        /// The stored root.
        path: PathBuf,
        /// Why.
        source: Box<ClientError>,
    },
    /// The state names a root version its stored chain does not reach.
    #[error(
        "{}: the last good timestamp is signed under root version {root_version}, which the stored root chain does not reach",
        .path.display()
    )]
    RootNotInChain {
        /// The state file.
        path: PathBuf,
        /// The root version named.
        root_version: u64,
    },
    /// The stored timestamp does not verify, or is of another version.
    #[error("{}: {message}", .path.display())]
    Timestamp {
        /// The stored timestamp.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The stored tree is not a leaf snapshot.
    #[error("{}: {source}", .path.display())]
    SnapshotDecode {
        /// The stored tree.
        path: PathBuf,
        /// The decoder's error.
        source: leaf_snapshot::DecodeError,
    },
    /// The stored tree is not the one the stored timestamp signed.
    #[error("{}: {source}", .path.display())]
    SnapshotVerify {
        /// The stored tree.
        path: PathBuf,
        /// Why not.
        source: leaf_snapshot::VerifyError,
    },
    /// The replayed tree could not be encoded (not expected: it is a valid tree).
    #[error("encoding the tree of timestamp {version}: {source}")]
    Encode {
        /// Its version.
        version: u64,
        /// The encoder's error.
        source: leaf_snapshot::EncodeError,
    },
    /// The state could not be serialized (not expected).
    #[error("writing {STATE_FILE}: {0}")]
    Serialize(#[source] serde_json::Error),
}

impl AuditStateError {
    /// What the operator can do about it.
    pub fn remedy(&self) -> &'static str {
        match self {
            AuditStateError::NotAnAuditState { .. } => "give an empty or new directory",
            AuditStateError::OtherRole { .. } => {
                "give that role's state directory, or a new one for this role"
            }
            AuditStateError::OtherTrustedRoot { .. } => {
                "give the trusted root the state was made with, or remove the directory to audit \
                 from the start"
            }
            AuditStateError::Read { .. }
            | AuditStateError::Missing { .. }
            | AuditStateError::TooLarge { .. }
            | AuditStateError::Malformed { .. }
            | AuditStateError::Root { .. }
            | AuditStateError::RootNotInChain { .. }
            | AuditStateError::Timestamp { .. }
            | AuditStateError::SnapshotDecode { .. }
            | AuditStateError::SnapshotVerify { .. } => {
                "the local state was damaged or tampered with and is not used: restore the file, \
                 or remove the directory to audit from the start"
            }
            AuditStateError::Encode { .. } | AuditStateError::Serialize(_) => {
                "nothing was written; this is a bug"
            }
        }
    }
}

/// An audit state directory, open and locked for this process's auditor.
#[derive(Debug)]
pub struct AuditState {
    dir: PathBuf,
    _lock: DirLock,
    checkpoint_every: u64,
}

impl AuditState {
    /// Opens `dir` (created with mode 0700 if missing) and takes its lock without waiting:
    /// [`ClientError::StateLock`] when another auditor holds it, [`ClientError::NotADirectory`]
    /// when `dir` is a file.
    pub fn open(dir: &Path) -> Result<Self, ClientError> {
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => return Err(ClientError::NotADirectory(dir.to_owned())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tuf_files::dir::create_private_dir(dir)?;
            }
            Err(e) => return Err(ClientError::local(dir)(e)),
        }
        let lock = DirLock::try_acquire(&dir.join(LOCK_FILE))?;
        // Holding the lock, no other writer is mid-write: temporary files are a killed run's.
        tuf_files::dir::remove_stale_temps(dir);
        Ok(AuditState {
            dir: dir.to_owned(),
            _lock: lock,
            checkpoint_every: CHECKPOINT_EVERY,
        })
    }

    /// The same state, written every `records` records during a replay instead of every
    /// [`CHECKPOINT_EVERY`] (at least 1).
    pub fn checkpoint_every(mut self, records: u64) -> Self {
        self.checkpoint_every = records.max(1);
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Audits `role` from `transport`, trusting `trusted_root` (the role's first root, obtained
    /// out of band), and resuming where this state left off: from version 1 for a new state;
    /// after the last good version once the local files verified again; not at all when the
    /// state records a breach (the report gives it again, [`StartedFrom::StoredBreach`]).
    /// Writes the state during the replay and at the end; a breach found is recorded, with the
    /// last good version (or, when the record refused had already changed the replayed tree,
    /// the last version written before it).
    pub fn audit(
        &self,
        transport: &dyn Transport,
        role: &str,
        trusted_root: &[u8],
        limits: &Limits,
    ) -> Result<AuditReport, ClientError> {
        let trusted = tuf::initial_root(trusted_root)?;
        let (file, chain, resume) = self.load(role, trusted_root, trusted, limits)?;
        if let Some(recorded) = &file.breach {
            return Ok(stored_breach_report(role, &file, recorded, resume.as_ref()));
        }
        let mut writer = Writer {
            dir: &self.dir,
            role,
            persisted: file.last_good.map(|l| l.timestamp_version),
            prior: (file.records, file.changes),
            file,
            since: 0,
            every: self.checkpoint_every,
        };
        let begin = match resume {
            Some(point) => Begin::Resume(point),
            None => Begin::Genesis,
        };
        let run = audit::run(transport, role, chain, limits, begin, &mut writer)?;
        if let Some(timestamp) = &run.last_timestamp {
            writer.save(&run.replay, timestamp, run.report.breach.is_none())?;
        }
        if let Some(breach) = &run.report.breach {
            writer.file.breach = Some(RecordedBreach {
                found_at: jiff::Timestamp::now()
                    .round(jiff::Unit::Second)
                    .unwrap_or_else(|_| jiff::Timestamp::now()),
                latest_version: run.report.latest_version,
                breach: breach.clone(),
            });
            store_json(&self.dir, &writer.file)?;
        }
        Ok(run.report)
    }

    /// The state, verified; a new one (written) when the directory has none.
    fn load(
        &self,
        role: &str,
        trusted_bytes: &[u8],
        trusted: TrustedRoot,
        limits: &Limits,
    ) -> Result<(StateFile, Chain, Option<ResumePoint>), ClientError> {
        let state_path = self.dir.join(STATE_FILE);
        let Some(bytes) = self.read(STATE_FILE, MAX_STATE_BYTES)? else {
            return self.create(role, trusted_bytes, trusted);
        };
        let malformed = |message: String| AuditStateError::Malformed {
            path: state_path.clone(),
            message,
        };
        let file: StateFile =
            serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
        if file.format != FORMAT {
            return Err(malformed(format!(
                "format {} (this auditor knows {FORMAT})",
                file.format
            ))
            .into());
        }
        if file.role != role {
            return Err(AuditStateError::OtherRole {
                path: state_path,
                found: file.role,
                expected: role.to_owned(),
            }
            .into());
        }
        // The chain's first file is the trusted root given, byte for byte.
        let first_version = trusted.version();
        let first_name = root_file(first_version);
        if file.trusted_root_version != first_version
            || self.require(&first_name, limits.root)? != trusted_bytes
        {
            return Err(AuditStateError::OtherTrustedRoot {
                path: self.dir.join(first_name),
            }
            .into());
        }
        let mut chain = Chain::new(trusted);
        loop {
            let name = root_file(chain.latest.version() + 1);
            let Some(bytes) = self.read(&name, limits.root)? else {
                break;
            };
            let next =
                tuf::next_root(&chain.latest, &bytes).map_err(|e| AuditStateError::Root {
                    path: self.dir.join(&name),
                    source: Box::new(e),
                })?;
            chain.push(next);
        }
        let resume = match file.last_good {
            Some(last) => Some(self.verify_last_good(role, &file, last, &chain, limits)?),
            None => None,
        };
        remove_other_versions(&self.dir, file.last_good.map(|l| l.timestamp_version));
        Ok((file, chain, resume))
    }

    /// Checks the last good version's timestamp and tree, and returns where to resume.
    fn verify_last_good(
        &self,
        role: &str,
        file: &StateFile,
        last: LastGood,
        chain: &Chain,
        limits: &Limits,
    ) -> Result<ResumePoint, AuditStateError> {
        let v = last.timestamp_version;
        let root =
            chain
                .roots
                .get(&last.root_version)
                .ok_or_else(|| AuditStateError::RootNotInChain {
                    path: self.dir.join(STATE_FILE),
                    root_version: last.root_version,
                })?;
        let ts_name = timestamp_file(v);
        let ts_path = self.dir.join(&ts_name);
        let timestamp = self.require(&ts_name, limits.timestamp)?;
        let bad_ts = |message: String| AuditStateError::Timestamp {
            path: ts_path.clone(),
            message,
        };
        let verified = tuf::verify_timestamp(root, &ts_name, &timestamp, true)
            .map_err(|e| bad_ts(e.to_string()))?;
        if verified.version != v {
            return Err(bad_ts(format!(
                "it has version {}; the state names {v}",
                verified.version
            )));
        }
        let signed_root = verified.merkle_root.unwrap_or(tuf_merkle::EMPTY);
        let tree_name = tree_file(v);
        let tree_path = self.dir.join(&tree_name);
        let bytes = self.require(&tree_name, limits.leaf_snapshot)?;
        let payload_limit = usize::try_from(limits.leaf_snapshot_payload).unwrap_or(usize::MAX);
        let snapshot = leaf_snapshot::decode(&bytes, payload_limit).map_err(|source| {
            AuditStateError::SnapshotDecode {
                path: tree_path.clone(),
                source,
            }
        })?;
        let tree = snapshot.verify(role, v, &signed_root).map_err(|source| {
            AuditStateError::SnapshotVerify {
                path: tree_path,
                source,
            }
        })?;
        Ok(ResumePoint {
            tree,
            version: v,
            root_version: last.root_version,
            timestamp,
            first_version: file.first_version.unwrap_or(v),
            records: file.records,
            changes: file.changes,
        })
    }

    /// A new state in an empty directory: the trusted root, and a state file that checked
    /// nothing yet (so that the directory is known to be an audit state from now on).
    fn create(
        &self,
        role: &str,
        trusted_bytes: &[u8],
        trusted: TrustedRoot,
    ) -> Result<(StateFile, Chain, Option<ResumePoint>), ClientError> {
        let entries = std::fs::read_dir(&self.dir).map_err(ClientError::local(&self.dir))?;
        for entry in entries {
            let entry = entry.map_err(ClientError::local(&self.dir))?;
            if entry.file_name() != LOCK_FILE {
                return Err(AuditStateError::NotAnAuditState {
                    dir: self.dir.clone(),
                }
                .into());
            }
        }
        let version = trusted.version();
        write_private(&self.dir.join(root_file(version)), trusted_bytes)?;
        let file = StateFile {
            format: FORMAT,
            role: role.to_owned(),
            trusted_root_version: version,
            last_good: None,
            first_version: None,
            records: 0,
            changes: 0,
            breach: None,
        };
        store_json(&self.dir, &file)?;
        Ok((file, Chain::new(trusted), None))
    }

    /// The file `name` of the directory (no symlink followed, regular files only), or `None`
    /// when it is missing; more than `limit` bytes is an error.
    fn read(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, AuditStateError> {
        let path = self.dir.join(name);
        let read_error = |source: std::io::Error| AuditStateError::Read {
            path: path.clone(),
            source,
        };
        let file = match beneath::open_file(&self.dir, name) {
            Ok((file, _)) => file,
            Err(BeneathError::NotFound) => return Ok(None),
            Err(BeneathError::Io(e)) => return Err(read_error(e)),
            Err(e) => return Err(read_error(std::io::Error::other(e.to_string()))),
        };
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > limit {
            return Err(AuditStateError::TooLarge { path, limit });
        }
        Ok(Some(bytes))
    }

    /// [`AuditState::read`] of a file the state needs.
    fn require(&self, name: &str, limit: u64) -> Result<Vec<u8>, AuditStateError> {
        self.read(name, limit)?
            .ok_or_else(|| AuditStateError::Missing {
                path: self.dir.join(name),
            })
    }
}

/// The report of a run that found the state's recorded breach and did nothing else.
fn stored_breach_report(
    role: &str,
    file: &StateFile,
    recorded: &RecordedBreach,
    resume: Option<&ResumePoint>,
) -> AuditReport {
    AuditReport {
        role: role.to_owned(),
        first_version: file.first_version,
        last_good_version: resume.map(|p| p.version),
        last_good_root: resume.map(|p| p.tree.root()),
        last_root_version: resume.map_or(0, |p| p.root_version),
        latest_version: recorded.latest_version,
        records: 0,
        changes: 0,
        total_records: file.records,
        total_changes: file.changes,
        leaves: resume.map_or(0, |p| p.tree.len() as u64),
        started_from: StartedFrom::StoredBreach {
            found_at: recorded.found_at,
        },
        breach: Some(recorded.breach.clone()),
    }
}

/// Writes the state as a run goes.
struct Writer<'a> {
    dir: &'a Path,
    role: &'a str,
    file: StateFile,
    /// The version whose tree and timestamp files the directory holds.
    persisted: Option<u64>,
    /// The counters of the runs before this one.
    prior: (u64, u64),
    /// Records checked since the state was last written.
    since: u64,
    every: u64,
}

impl Progress for Writer<'_> {
    fn new_root(&mut self, root: &TrustedRoot, bytes: &[u8]) -> Result<(), ClientError> {
        // Verified against the chain before it is handed here; stored before anything that
        // depends on it, so a later state never names a root the directory lacks.
        write_private(&self.dir.join(root_file(root.version())), bytes)
    }

    fn checked(&mut self, replay: &Replay, timestamp: &[u8]) -> Result<(), ClientError> {
        self.since += 1;
        if self.since >= self.every {
            self.save(replay, timestamp, true)?;
        }
        Ok(())
    }
}

impl Writer<'_> {
    /// Writes the state at `replay.last` (whose timestamp's exact bytes are `timestamp`): the
    /// tree and timestamp files of that version first, then `audit-state.json`, then removes
    /// the files of other versions. `consistent`: the replay's tree is the tree at
    /// `replay.last` (always, except after a breach found while applying a record, which may
    /// have changed the tree: then the tree is saved only if its root shows it is still that).
    fn save(
        &mut self,
        replay: &Replay,
        timestamp: &[u8],
        consistent: bool,
    ) -> Result<(), ClientError> {
        self.since = 0;
        let Some(v) = replay.last else {
            return Ok(());
        };
        if self.persisted != Some(v) {
            if !consistent && Some(replay.tree.root()) != replay.last_root {
                // The last checkpoint stands; the breach is recorded by the caller.
                return Ok(());
            }
            let tree = encode_tree(self.role, v, &replay.tree)?;
            write_private(&self.dir.join(tree_file(v)), &tree)?;
            write_private(&self.dir.join(timestamp_file(v)), timestamp)?;
        }
        self.file.last_good = Some(LastGood {
            timestamp_version: v,
            root_version: replay.last_root_version,
        });
        self.file.first_version = replay.first;
        self.file.records = self.prior.0 + replay.records;
        self.file.changes = self.prior.1 + replay.changes;
        store_json(self.dir, &self.file)?;
        if self.persisted != Some(v) {
            remove_other_versions(self.dir, Some(v));
            self.persisted = Some(v);
        }
        Ok(())
    }
}

/// The tree at `version` as a leaf snapshot of `role` (no names: the tree keeps none).
fn encode_tree(role: &str, version: u64, tree: &Tree) -> Result<Vec<u8>, AuditStateError> {
    let mut entries = Vec::with_capacity(tree.len());
    tree.for_each_leaf(|key, contents| {
        entries.push(LeafEntry {
            key: *key,
            contents,
            name: None,
        })
    });
    // Visited in key order already; the sort makes the format's order not depend on the walk.
    entries.sort_by_key(|e| e.key.0);
    LeafSnapshot {
        role: role.to_owned(),
        timestamp_version: version,
        merkle_root: tree.root(),
        entries,
    }
    .encode()
    .map_err(|source| AuditStateError::Encode { version, source })
}

/// Writes `audit-state.json` (last: it names the files written before it).
fn store_json(dir: &Path, file: &StateFile) -> Result<(), ClientError> {
    let bytes = serde_json::to_vec(file).map_err(AuditStateError::Serialize)?;
    write_private(&dir.join(STATE_FILE), &bytes)
}

/// Writes `path` atomically and durably, mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    Ok(tuf_files::atomic::write(
        path,
        bytes,
        WriteOptions::PRIVATE,
    )?)
}

/// Removes the tree and timestamp files of versions other than `keep` (a killed run's, or the
/// last state's once the new one is written). Best effort: a file left is removed next time.
fn remove_other_versions(dir: &Path, keep: Option<u64>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let version = name
            .strip_suffix(".leaves.gz")
            .or_else(|| name.strip_suffix(".timestamp.json"))
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(version) = version
            && Some(version) != keep
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `N.root.json`.
fn root_file(version: u64) -> String {
    format!("{version}.root.json")
}

/// `V.timestamp.json`.
fn timestamp_file(version: u64) -> String {
    format!("{version}.timestamp.json")
}

/// `V.leaves.gz`.
fn tree_file(version: u64) -> String {
    format!("{version}.leaves.gz")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_directory_is_private_and_locked_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let state = AuditState::open(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(matches!(
            AuditState::open(&dir),
            Err(ClientError::StateLock(tuf_files::LockError::Held { .. }))
        ));
        drop(state);
        assert!(AuditState::open(&dir).is_ok());
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            AuditState::open(&file),
            Err(ClientError::NotADirectory(_))
        ));
    }

    #[test]
    fn only_the_tree_and_timestamp_files_of_other_versions_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let names = [
            "7.leaves.gz",
            "7.timestamp.json",
            "6.leaves.gz",
            "8.timestamp.json",
            "1.root.json",
            "x.leaves.gz",
            ".leaves.gz",
            "notes.txt",
            STATE_FILE,
        ];
        for n in names {
            std::fs::write(tmp.path().join(n), b"x").unwrap();
        }
        remove_other_versions(tmp.path(), Some(7));
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".leaves.gz",
                "1.root.json",
                "7.leaves.gz",
                "7.timestamp.json",
                STATE_FILE,
                "notes.txt",
                "x.leaves.gz"
            ]
        );
    }

    #[test]
    fn a_breach_round_trips_through_the_state_file() {
        let file = StateFile {
            format: FORMAT,
            role: "crates.io".into(),
            trusted_root_version: 1,
            last_good: Some(LastGood {
                timestamp_version: 9,
                root_version: 1,
            }),
            first_version: Some(1),
            records: 9,
            changes: 12,
            breach: Some(RecordedBreach {
                found_at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
                latest_version: 10,
                breach: Breach::Rollback {
                    checked: 9,
                    served: 4,
                },
            }),
        };
        let json = serde_json::to_vec(&file).unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            text.contains(r#""breach":{"kind":"rollback","checked":9,"served":4}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_slice::<StateFile>(&json).unwrap(), file);
        let extra = text.replacen('{', r#"{"extra":1,"#, 1);
        assert!(serde_json::from_str::<StateFile>(&extra).is_err());
    }
}
