//! The verifying client: a trusted root per role, `refresh` (root chain, timestamp, and for
//! classic roles snapshot and targets), and `verify`/`verify_many` of targets against the
//! trusted Merkle root with a proof from the signer's API.
//!
//! Properties kept: a [`Client`] holds its state directory's lock ([`StateLock`]) from before it
//! reads the state until it is dropped, so the read-modify-write of every run is serialized
//! with every other client of that directory and no run's names are lost; every state file is
//! written atomically without following symlinks ([`crate::state`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{Digest, LeafContents, Proof, ProofError};
use tuf_verify_core::{MetaFile, ProofRoot, RoleType, TrustedRoot, VerifyError};

use crate::attest::AttestationPolicy;
use crate::classic::{self, TrustedTargets};
use crate::error::ClientError;
use crate::failover::{self, FailedAttempt, Repositories};
use crate::proof_answer::{self, Claims, ProofFormat};
use crate::state::{Mode, State, StateLock, write_atomic};
use crate::transport::{Fetched, Transport};
use crate::tuf::{self, Limits};

/// What a verification established about one name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// In the signed tree with these contents (and the file, if given, matches them).
    Present(LeafContents),
    /// In the signed tree as a tombstone: deleted at this version. Not present.
    Deleted(u64),
    /// Proved absent from the signed tree (never published). Not present.
    Absent,
    /// Classic role: listed in the signed targets.json with this length and SHA-256.
    Listed {
        /// Length in bytes.
        length: u64,
        /// SHA-256.
        sha256: Digest,
    },
}

impl Status {
    /// Whether the target is there to use.
    pub fn is_present(&self) -> bool {
        matches!(self, Status::Present(_) | Status::Listed { .. })
    }
}

/// The result of verifying one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The name.
    pub name: String,
    /// What was proved.
    pub status: Status,
    /// The timestamp version it was proved against.
    pub timestamp_version: u64,
}

impl std::fmt::Display for Verified {
    /// One line for people: the name, what was proved, and against what.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.name;
        match &self.status {
            Status::Present(c) => write!(
                f,
                "{name}: present {} (timestamp {})",
                c.canonical_json(),
                self.timestamp_version
            ),
            Status::Listed { length, sha256 } => {
                write!(f, "{name}: listed, length {length}, sha256 {sha256}")
            }
            Status::Deleted(version) => write!(
                f,
                "{name}: not present (deleted at version {version}; proof checked)"
            ),
            Status::Absent => write!(f, "{name}: not present (never published; proof checked)"),
        }
    }
}

/// What a refresh ended on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The trusted root version.
    pub root_version: u64,
    /// The trusted timestamp version.
    pub timestamp_version: u64,
    /// Its `merkle_root` (merkle roles).
    pub merkle_root: Option<Digest>,
    /// The version proofs are checked against (below `timestamp_version` only when pinned to
    /// an attestation).
    pub proof_version: u64,
}

/// A verifying client for one role, fetching from one repository URL or several (the signer
/// and its mirrors: see [`crate::failover`] for when it moves to the next and what is shared).
///
/// It holds the state directory's lock for its whole life: another process opening the same
/// directory waits until this client is dropped, and a second `open` of it in this process is
/// refused ([`ClientError::StateInUse`]). Drop the client when a run is done.
pub struct Client {
    _lock: StateLock,
    dir: PathBuf,
    repositories: Repositories,
    /// Servers given up on since [`Client::take_failed_attempts`] was last called.
    failed: Vec<FailedAttempt>,
    state: State,
    root: TrustedRoot,
    limits: Limits,
    now: Option<jiff::Timestamp>,
    attestation: Option<AttestationPolicy>,
    /// Whether per-name leaf floors wait for [`Client::save_state`] (see
    /// [`Client::with_deferred_leaf_saves`]).
    defer_leaves: bool,
    /// Leaf floors verified but not yet written.
    leaves_unsaved: bool,
    /// The encoding proofs are asked in.
    proof_format: ProofFormat,
}

impl Client {
    /// `init`: trusts `root_bytes` (a root signed by its own threshold, obtained out of band) for
    /// `role` in `mode`, with state in `dir`. Refuses a directory that already has a state.
    pub fn init(dir: &Path, role: &str, mode: Mode, root_bytes: &[u8]) -> Result<(), ClientError> {
        let root = tuf::initial_root(root_bytes)?;
        std::fs::create_dir_all(dir).map_err(ClientError::local(dir))?;
        // Locked, so that two inits (or an init and a run) cannot interleave.
        let _lock = StateLock::acquire(dir)?;
        let state_file = dir.join("state.json");
        if std::fs::symlink_metadata(&state_file).is_ok() {
            return Err(ClientError::AlreadyInitialized(state_file));
        }
        write_atomic(&dir.join("root.json"), root_bytes)?;
        State::new(role, mode, root.version()).store(dir)
    }

    /// Opens the state in `dir`, fetching through `transport`. Waits while another process
    /// has the directory open (see [`Client`]).
    pub fn open(dir: &Path, transport: Box<dyn Transport>) -> Result<Self, ClientError> {
        Self::open_repositories(dir, vec![transport])
    }

    /// Opens the state in `dir`, fetching from `repositories` (the signer and mirrors of the
    /// role, asked in this order) and failing over between them as [`crate::failover`]
    /// describes; one trusted state serves them all. With one repository this is
    /// [`Client::open`]. Refuses an empty list ([`ClientError::NoRepositories`]).
    pub fn open_repositories(
        dir: &Path,
        repositories: Vec<Box<dyn Transport>>,
    ) -> Result<Self, ClientError> {
        let repositories = Repositories::new(repositories)?;
        let lock = StateLock::acquire(dir)?;
        // Holding the lock, no other writer is mid-write: temporary files are a killed run's.
        tuf_files::dir::remove_stale_temps(dir);
        let state = State::load(dir)?;
        let path = dir.join("root.json");
        let bytes = std::fs::read(&path).map_err(ClientError::local(&path))?;
        let root = tuf::initial_root(&bytes)?;
        Ok(Client {
            _lock: lock,
            dir: dir.to_owned(),
            repositories,
            failed: Vec::new(),
            state,
            root,
            limits: Limits::default(),
            now: None,
            attestation: None,
            defer_leaves: false,
            leaves_unsaved: false,
            proof_format: ProofFormat::default(),
        })
    }

    /// Asks the proof API for proofs in `format` (default: binary, POUF §10, with JSON as the
    /// fallback a server may answer); answers in either format are read and verified alike.
    pub fn with_proof_format(mut self, format: ProofFormat) -> Self {
        self.proof_format = format;
        self
    }

    /// Replaces the download limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Holds back the write of per-name leaf floors (the highest leaf version verified for each
    /// name) until [`Client::save_state`], instead of writing the state after every
    /// verification: for a long-running verifier (the cargo proxy) that checks many names a
    /// second. Roots and timestamps are still written as soon as they verify; a crash loses at
    /// most the leaf floors since the last save.
    pub fn with_deferred_leaf_saves(mut self) -> Self {
        self.defer_leaves = true;
        self
    }

    /// Writes leaf floors that [`Client::with_deferred_leaf_saves`] held back.
    pub fn save_state(&mut self) -> Result<(), ClientError> {
        if self.leaves_unsaved {
            self.state.store(&self.dir)?;
            self.leaves_unsaved = false;
        }
        Ok(())
    }

    /// After leaves were checked: writes the state, or (deferred) notes that it must be.
    fn store_leaves(&mut self) -> Result<(), ClientError> {
        if self.defer_leaves {
            self.leaves_unsaved = true;
            Ok(())
        } else {
            self.state.store(&self.dir)
        }
    }

    /// Uses `now` instead of the system clock for expiry checks (tests; replaying a day).
    pub fn with_time(mut self, now: jiff::Timestamp) -> Self {
        self.now = Some(now);
        self
    }

    /// Requires an auditor's attestation: after each refresh, proofs are checked only against a
    /// root that the auditor signed to have replayed.
    pub fn require_attestation(mut self, policy: AttestationPolicy) -> Self {
        self.attestation = Some(policy);
        self
    }

    /// The persisted state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The trusted root.
    pub fn root(&self) -> &TrustedRoot {
        &self.root
    }

    /// The repository (base URL or directory) that answered the last step, or will be asked
    /// first by the next one.
    pub fn repository(&self) -> String {
        self.repositories.current().describe()
    }

    /// The servers given up on (unavailable, or serving data that failed verification) since
    /// the last call, oldest first; empty when every step was answered by the first server
    /// asked. A caller reports these: a server that served bad data is tampering or broken,
    /// even if another server then verified.
    pub fn take_failed_attempts(&mut self) -> Vec<FailedAttempt> {
        std::mem::take(&mut self.failed)
    }

    fn transport(&self) -> &dyn Transport {
        self.repositories.current()
    }

    /// Runs `step` on one server after another ([`Repositories::order`]) until one gives a
    /// result that is not that server's fault ([`failover::fault`]). Each step runs whole on
    /// one server, so no answer of one server is combined with another's. The servers given
    /// up on are kept for [`Client::take_failed_attempts`]; when all of them fail, the error
    /// names each (with one server, its error is returned unchanged).
    fn failing_over<T>(
        &mut self,
        mut step: impl FnMut(&mut Self) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let several = self.repositories.len() > 1;
        let mut attempts = Vec::new();
        for i in self.repositories.order() {
            self.repositories.select(i);
            let error = match step(self) {
                Ok(v) => {
                    self.failed.append(&mut attempts);
                    return Ok(v);
                }
                Err(e) => e,
            };
            match failover::fault(&error) {
                Some(fault) if several => attempts.push(FailedAttempt {
                    repository: self.repositories.current().describe(),
                    fault,
                    error,
                }),
                _ => {
                    self.failed.append(&mut attempts);
                    return Err(error);
                }
            }
        }
        Err(ClientError::AllRepositoriesFailed { attempts })
    }

    fn now(&self) -> jiff::Timestamp {
        self.now.unwrap_or_else(jiff::Timestamp::now)
    }

    fn role(&self) -> &str {
        &self.state.role
    }

    /// `refresh`: the TUF client workflow (spec 5.3-5.6) for this role, on one server (the
    /// next one if it fails: see [`crate::failover`]).
    pub fn refresh(&mut self) -> Result<Refreshed, ClientError> {
        self.failing_over(Self::refresh_here)
    }

    /// [`Client::refresh`] on the current server.
    ///
    /// Each role is persisted as soon as it is verified (TUF 5.3.8, 5.4.5, 5.5.7, 5.6.6): the
    /// roots, then the timestamp, then (classic roles) the snapshot and the targets. A refresh
    /// that fails part-way keeps what it verified, so the rollback floor only rises: the old
    /// timestamp served again after a new one verified is a rollback even if the new one's
    /// snapshot never arrived. With a required attestation the timestamp is persisted before
    /// the attestation is checked, and the version and root proofs are checked against move
    /// only once the attestation is accepted.
    fn refresh_here(&mut self) -> Result<Refreshed, ClientError> {
        self.update_root()?;
        let merkle_root = self.update_timestamp()?;
        if self.state.mode == Mode::Classic {
            self.update_classic()?;
        }
        if let Some(policy) = &self.attestation
            && self.state.mode == Mode::Merkle
        {
            let a = policy.check(
                &self.state.role,
                self.state.timestamp_version,
                merkle_root,
                self.state.attested_version,
                &self.limits,
            )?;
            self.state.attested_version = a.timestamp_version;
            self.state.proof_version = a.timestamp_version;
            self.state.proof_root = Some(a.merkle_root.clone());
        } else {
            self.state.proof_version = self.state.timestamp_version;
            self.state.proof_root = merkle_root.map(|r| r.to_hex());
        }
        self.state.store(&self.dir)?;
        Ok(Refreshed {
            root_version: self.state.root_version,
            timestamp_version: self.state.timestamp_version,
            merkle_root,
            proof_version: self.state.proof_version,
        })
    }

    fn update_root(&mut self) -> Result<(), ClientError> {
        let dir = self.dir.clone();
        let role = self.state.role.clone();
        let mut state = self.state.clone();
        let mut current = self.root.clone();
        let walked = tuf::walk_roots(
            self.repositories.current(),
            &role,
            self.root.clone(),
            &self.limits,
            |new, bytes| {
                // TUF 5.3.11: a rotated timestamp or snapshot key voids the trusted versions
                // (recovery from a fast-forward attack).
                for r in [RoleType::Timestamp, RoleType::Snapshot] {
                    let keys = |root: &TrustedRoot| root.root().role(r).key_ids().to_vec();
                    if keys(&current) != keys(new) {
                        state.timestamp_version = 0;
                        state.merkle_root = None;
                        state.snapshot_version = 0;
                        state.targets_version = 0;
                        // The trusted timestamp and snapshot files go too: a snapshot signed
                        // by a rotated-out key must not hold back the new key's.
                        for file in ["timestamp.json", SNAPSHOT_FILE] {
                            remove_if_present(&dir.join(file))?;
                        }
                    }
                }
                // Each verified root is kept, even if a later step fails (TUF 5.3.8).
                write_atomic(&dir.join("root.json"), bytes)?;
                state.root_version = new.version();
                state.store(&dir)?;
                current = new.clone();
                Ok(())
            },
        );
        self.state = state;
        self.root = current;
        walked?;
        let r = self.root.root();
        tuf::check_expiry(
            "root",
            r.version(),
            tuf::expires_at(r.expires()),
            self.now(),
        )
    }

    fn update_timestamp(&mut self) -> Result<Option<Digest>, ClientError> {
        let path = format!("{}/timestamp.json", self.role());
        let bytes = tuf::fetch_required(self.transport(), &path, self.limits.timestamp)?;
        let merkle = self.state.mode == Mode::Merkle;
        let ts = tuf::verify_timestamp(&self.root, &path, &bytes, merkle)?;
        let trusted = self.state.timestamp_version;
        if ts.version < trusted {
            return Err(ClientError::Rollback {
                role: "timestamp",
                trusted,
                got: ts.version,
            });
        }
        let got_root = ts.merkle_root.map(|r| r.to_hex());
        if ts.version == trusted {
            // Two different trees signed with one version: a breach of the role's key.
            if got_root != self.state.merkle_root {
                return Err(ClientError::Equivocation {
                    version: trusted,
                    trusted: self.state.merkle_root.clone().unwrap_or_default(),
                    got: got_root.unwrap_or_default(),
                });
            }
            // TUF 5.4.3: the same version again is discarded and the trusted timestamp kept,
            // whatever else the new file says (another expiry, another snapshot); the update
            // goes on with the trusted one, which must not have expired.
            if let Some(expires) = self.state.timestamp_expires {
                tuf::check_expiry("timestamp", trusted, expires, self.now())?;
            }
            return Ok(ts.merkle_root);
        }
        let sv = ts.timestamp.snapshot().version();
        not_older("snapshot", self.state.snapshot_version, sv)?;
        let expires = tuf::expires_at(ts.timestamp.expires());
        tuf::check_expiry("timestamp", ts.version, expires, self.now())?;
        // TUF 5.4.5: persisted now, before the snapshot (or the attestation) is asked for, so
        // that a later step failing cannot let this timestamp be replaced by an older one.
        write_atomic(&self.dir.join("timestamp.json"), &bytes)?;
        self.state.timestamp_version = ts.version;
        self.state.timestamp_expires = Some(expires);
        self.state.merkle_root = got_root;
        self.state.snapshot_version = sv;
        self.state.store(&self.dir)?;
        Ok(ts.merkle_root)
    }

    /// Classic roles: snapshot then targets (TUF 5.5, 5.6), consistent-snapshot names, each
    /// persisted as soon as it is verified.
    fn update_classic(&mut self) -> Result<(), ClientError> {
        let ts_path = self.dir.join("timestamp.json");
        let ts_bytes = std::fs::read(&ts_path).map_err(ClientError::local(&ts_path))?;
        let ts = tuf::verify_timestamp(&self.root, "timestamp.json", &ts_bytes, false)?;
        let (version, meta) = self.update_snapshot(ts.timestamp.snapshot())?;
        self.update_targets(version, &meta)
    }

    /// The name of `file` at version `v` on the repository.
    fn meta_path(&self, v: u64, file: &str) -> String {
        if self.root.root().consistent_snapshot() {
            format!("{}/{v}.{file}", self.state.role)
        } else {
            format!("{}/{file}", self.state.role)
        }
    }

    /// TUF 5.5: the snapshot the trusted timestamp lists: its length and SHA-256, its
    /// signatures, its version; every metadata file the trusted snapshot lists still listed at
    /// a version not lower (5.5.5); not expired. Then persisted (`snapshot.json`). Returns its
    /// version and what it lists.
    fn update_snapshot(
        &mut self,
        meta: &MetaFile,
    ) -> Result<(u64, BTreeMap<String, MetaFile>), ClientError> {
        let sv = meta.version();
        let path = self.meta_path(sv, "snapshot.json");
        let bytes = self.fetch_meta(&path, meta)?;
        let snapshot = tuf::verify_role(&self.root, RoleType::Snapshot, &path, &bytes)?;
        let version = snapshot.version();
        if version != sv {
            return Err(ClientError::MetadataMismatch {
                what: path,
                message: format!("version {version}, the timestamp says {sv}"),
            });
        }
        let listed = snapshot
            .meta()
            .map_err(|e| tuf::metadata_error(&path, version, e))?;
        if let Some(trusted) = self.trusted_snapshot()? {
            for (file, &old) in &trusted.meta {
                let Some(new) = listed.get(file) else {
                    return Err(ClientError::RoleDropped {
                        version,
                        file: file.clone(),
                        trusted_version: trusted.version,
                        listed: old,
                    });
                };
                if new.version() < old {
                    return Err(ClientError::SnapshotRollback {
                        version,
                        file: file.clone(),
                        trusted: old,
                        got: new.version(),
                    });
                }
            }
        }
        tuf::check_expiry(
            "snapshot",
            version,
            tuf::expires_at(snapshot.expires()),
            self.now(),
        )?;
        write_atomic(&self.dir.join(SNAPSHOT_FILE), &bytes)?;
        Ok((version, listed))
    }

    /// The snapshot verified last (`snapshot.json` in the state directory), if any.
    fn trusted_snapshot(&self) -> Result<Option<classic::StoredSnapshot>, ClientError> {
        let path = self.dir.join(SNAPSHOT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(classic::read_stored_snapshot(SNAPSHOT_FILE, &bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::local(&path)(e)),
        }
    }

    /// TUF 5.6: the targets the verified snapshot (version `snapshot_version`, listing
    /// `listed`) lists: version not below the trusted one, length and SHA-256, signatures,
    /// version, not expired. Then persisted (`targets.json` and the state). A target this
    /// client cannot check (no SHA-256) does not refuse the file.
    fn update_targets(
        &mut self,
        snapshot_version: u64,
        listed: &BTreeMap<String, MetaFile>,
    ) -> Result<(), ClientError> {
        let spath = self.meta_path(snapshot_version, "snapshot.json");
        let tmeta = listed
            .get("targets.json")
            .ok_or_else(|| ClientError::MetadataMismatch {
                what: spath,
                message: "no targets.json entry".into(),
            })?;
        let tv = tmeta.version();
        not_older("targets", self.state.targets_version, tv)?;
        let tpath = self.meta_path(tv, "targets.json");
        let tbytes = self.fetch_meta(&tpath, tmeta)?;
        let verified = tuf::verify_role(&self.root, RoleType::Targets, &tpath, &tbytes)?;
        let version = verified.version();
        if version != tv {
            return Err(ClientError::MetadataMismatch {
                what: tpath,
                message: format!("version {version}, the snapshot says {tv}"),
            });
        }
        // Usable as the trusted targets: every target entry this client can check is read.
        classic::parse_signed(&tpath, verified.signed())?;
        tuf::check_expiry(
            "targets",
            version,
            tuf::expires_at(verified.expires()),
            self.now(),
        )?;
        write_atomic(&self.dir.join("targets.json"), &tbytes)?;
        self.state.targets_version = tv;
        self.state.store(&self.dir)?;
        Ok(())
    }

    /// Fetches the metadata file `path` that its parent role describes with `meta`: at most
    /// its length (exactly it, if given), and its SHA-256 if the parent lists hashes.
    fn fetch_meta(&self, path: &str, meta: &MetaFile) -> Result<Vec<u8>, ClientError> {
        let length = meta.length();
        let limit = length.unwrap_or(self.limits.metadata);
        let bytes = tuf::fetch_required(self.transport(), path, limit)?;
        if let Some(len) = length
            && bytes.len() as u64 != len
        {
            return Err(ClientError::Truncated {
                what: path.to_owned(),
                expected: len,
                got: bytes.len() as u64,
            });
        }
        let hashes = meta.hashes();
        if !hashes.is_empty() {
            let Some(sha256) = hashes.get("sha256") else {
                let listed: Vec<&str> = hashes.keys().map(String::as_str).collect();
                return Err(ClientError::MetadataMismatch {
                    what: path.to_owned(),
                    message: format!(
                        "its parent role lists no sha256 hash for it (only {}), and sha256 is \
                         the hash this client checks",
                        listed.join(", ")
                    ),
                });
            };
            if tuf_merkle::hash::sha256(&bytes).0.as_slice() != sha256.as_slice() {
                return Err(ClientError::MetadataMismatch {
                    what: path.to_owned(),
                    message: "sha256 differs from the one its parent role lists".into(),
                });
            }
        }
        Ok(bytes)
    }

    /// The root proofs are checked against (with its timestamp version), after checking the
    /// timestamp has not expired since the refresh (a frozen client must refresh). It is the
    /// root the state directory holds: a refresh wrote it there only after the verifier core
    /// verified its timestamp (or the auditor's attestation of it).
    fn proof_target(&self) -> Result<ProofRoot, ClientError> {
        if self.state.mode != Mode::Merkle {
            return Err(ClientError::ClassicRole {
                role: self.state.role.clone(),
            });
        }
        let root = self
            .state
            .proof_root
            .as_deref()
            .and_then(|h| tuf_merkle::hash::parse_hex(h).ok())
            .ok_or(ClientError::NotRefreshed)?;
        if let Some(expires) = self.state.timestamp_expires {
            tuf::check_expiry(
                "timestamp",
                self.state.timestamp_version,
                expires,
                self.now(),
            )?;
        }
        Ok(ProofRoot::trusted(self.state.proof_version, root))
    }

    /// `verify NAME [--file]`: proves `name` present (with `file`'s length and SHA-256, if
    /// given), deleted or absent against the trusted root, and checks that its version did not
    /// go down since this client last saw it.
    ///
    /// If the server no longer keeps the trusted timestamp version (410 Gone,
    /// `version_not_kept`: the signer moved on past its `kept_versions` window), the client
    /// refreshes (the full TUF workflow) and asks once more against the new trusted timestamp;
    /// a second 410 is returned as [`ClientError::Status`] with status 410, never as
    /// [`ClientError::Withheld`].
    pub fn verify(&mut self, name: &str, file: Option<&[u8]>) -> Result<Verified, ClientError> {
        self.failing_over(|c| c.verify_here(name, file))
    }

    /// [`Client::verify`] on the current server.
    fn verify_here(&mut self, name: &str, file: Option<&[u8]>) -> Result<Verified, ClientError> {
        if self.state.mode == Mode::Classic {
            return self.verify_classic(name, file);
        }
        self.refreshing_if_gone(|c| c.verify_merkle(name, file))
    }

    /// Runs `f`; if the server answered 410 Gone (the trusted timestamp version is no longer
    /// kept), refreshes and runs it once more.
    fn refreshing_if_gone<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        match f(self) {
            Err(e) if is_gone(&e) => {
                // On the same server: the step stays on one server.
                self.refresh_here()?;
                f(self)
            }
            other => other,
        }
    }

    fn verify_merkle(&mut self, name: &str, file: Option<&[u8]>) -> Result<Verified, ClientError> {
        let trusted = self.proof_target()?;
        let version = trusted.version();
        let path = format!(
            "api/v1/{}/proof/{}?version={version}",
            tuf::encode_path(self.role()),
            tuf::encode_path(name)
        );
        let accept = self.proof_format.accept();
        let answer = match self
            .transport()
            .get_accepting(&path, accept, self.limits.proof)?
        {
            Fetched::Found(b) => b,
            Fetched::NotFound => {
                return Err(ClientError::Withheld {
                    name: name.to_owned(),
                    how: "answered 404 instead of a membership or non-membership proof".into(),
                });
            }
        };
        let (answer, proof): (Claims, Proof) = proof_answer::single(&path, name, &answer)?;
        if proof.name() != name {
            return Err(ClientError::ProofForOtherName {
                asked: name.to_owned(),
                got: proof.name().to_owned(),
            });
        }
        let served = proof.contents().copied();
        match trusted.verify_proof(name, &proof) {
            Ok(_) => {}
            Err(VerifyError::Proof {
                source: ProofError::RootMismatch { computed, .. },
                ..
            }) => {
                return Err(self.diagnose(name, served, computed, &answer, &trusted));
            }
            Err(e) => return Err(proof_refused(name, e)),
        }
        let status = self.check_leaf(name, served, file)?;
        self.store_leaves()?;
        Ok(Verified {
            name: name.to_owned(),
            status,
            timestamp_version: version,
        })
    }

    /// Verifies `name`, then downloads its bytes from the repository (`<role>/targets/DIR/
    /// SHA256.BASENAME`, the consistent-snapshot name) reading at most the signed length, and
    /// checks them. A 404 for a target the signed tree (or targets.json) holds is
    /// [`ClientError::Withheld`]. `None` when the target is not present (deleted or absent).
    pub fn download(&mut self, name: &str) -> Result<(Verified, Option<Vec<u8>>), ClientError> {
        self.failing_over(|c| c.download_here(name))
    }

    /// [`Client::download`] on the current server: the proof and the file from one server.
    fn download_here(&mut self, name: &str) -> Result<(Verified, Option<Vec<u8>>), ClientError> {
        let v = self.verify_here(name, None)?;
        let (length, sha256) = match v.status {
            Status::Present(LeafContents::Present { length, sha256, .. }) => (length, sha256),
            Status::Listed { length, sha256 } => (length, sha256),
            _ => return Ok((v, None)),
        };
        let (dir, base) = match name.rsplit_once('/') {
            Some((d, b)) => (format!("{d}/"), b),
            None => (String::new(), name),
        };
        let path = format!(
            "{}/targets/{}{}.{}",
            tuf::encode_path(self.role()),
            tuf::encode_path(&dir),
            sha256.to_hex(),
            tuf::encode_path(base)
        );
        let bytes = match self.transport().get(&path, length)? {
            Fetched::Found(b) => b,
            Fetched::NotFound => {
                return Err(ClientError::Withheld {
                    name: name.to_owned(),
                    how: "answered 404 for the target file its signed metadata lists".into(),
                });
            }
        };
        let expected = LeafContents::Present {
            version: 1,
            length,
            sha256,
        };
        check_file(name, &expected, length, sha256, &bytes)?;
        Ok((v, Some(bytes)))
    }

    /// Tells which attack a proof that misses the trusted root is: valid for another root
    /// (mix-and-match), or, comparing with a second copy of the proof fetched through the
    /// multi-proof endpoint, a changed leaf, a forged absence, or a wrong sibling.
    fn diagnose(
        &self,
        name: &str,
        served: Option<LeafContents>,
        computed: Digest,
        answer: &Claims,
        trusted: &ProofRoot,
    ) -> ClientError {
        let (version, root) = (trusted.version(), *trusted.root());
        let claimed_root = tuf_merkle::hash::parse_hex(&answer.merkle_root).ok();
        if answer.timestamp_version != version || claimed_root == Some(computed) {
            return ClientError::ProofForOtherRoot {
                name: name.to_owned(),
                trusted_version: version,
                trusted_root: root,
                claimed_version: answer.timestamp_version,
                proof_root: computed,
            };
        }
        let rejected = ClientError::ProofRejected {
            name: name.to_owned(),
            source: ProofError::RootMismatch {
                expected: root,
                computed,
            },
        };
        let Ok(multi) = self.fetch_multi(&[name.to_owned()], version) else {
            return rejected;
        };
        if trusted.verify_multi_proof(&[name], &multi).is_err() {
            return rejected;
        }
        let signed = multi.get(name).flatten().copied();
        match (served, signed) {
            (None, Some(_)) => ClientError::Withheld {
                name: name.to_owned(),
                how: "sent a forged non-membership proof".into(),
            },
            (s, t) if s != t => ClientError::ChangedLeaf {
                name: name.to_owned(),
                served: s.map_or("absent".into(), |c| c.canonical_json()),
                signed: t.map_or("absent".into(), |c| c.canonical_json()),
            },
            _ => ClientError::WrongSibling {
                name: name.to_owned(),
            },
        }
    }

    fn fetch_multi(&self, names: &[String], version: u64) -> Result<MultiProof, ClientError> {
        let (_, proof) = self.fetch_multi_answer(names, version)?;
        Ok(proof)
    }

    fn fetch_multi_answer(
        &self,
        names: &[String],
        version: u64,
    ) -> Result<(Claims, MultiProof), ClientError> {
        let path = format!("api/v1/{}/proofs", tuf::encode_path(self.role()));
        let body = serde_json::to_vec(&serde_json::json!({ "names": names, "version": version }))
            .map_err(|e| ClientError::malformed("request", e))?;
        let accept = self.proof_format.accept();
        let answer = match self.transport().post_json_accepting(
            &path,
            &body,
            accept,
            self.limits.multi_proof,
        )? {
            Fetched::Found(b) => b,
            Fetched::NotFound => {
                return Err(ClientError::Withheld {
                    name: names.first().cloned().unwrap_or_default(),
                    how: "answered 404 to the multi-proof request".into(),
                });
            }
        };
        let first = names.first().map_or("", String::as_str);
        proof_answer::multi(&path, first, &answer)
    }

    /// `verify-many`: one multi-proof for all `names` (a lockfile's worth), each checked as
    /// [`Client::verify`] does (a 410 Gone included); `files` gives the bytes to check for some
    /// of them.
    pub fn verify_many(
        &mut self,
        names: &[String],
        files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<Verified>, ClientError> {
        self.failing_over(|c| c.verify_many_here(names, files))
    }

    /// [`Client::verify_many`] on the current server.
    fn verify_many_here(
        &mut self,
        names: &[String],
        files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<Verified>, ClientError> {
        let mut unique: Vec<String> = names.to_vec();
        unique.sort();
        unique.dedup();
        let names = &unique[..];
        if self.state.mode == Mode::Classic {
            let targets = self.classic_targets()?;
            return names
                .iter()
                .map(|n| self.lookup_classic(&targets, n, files.get(n).map(Vec::as_slice)))
                .collect();
        }
        self.refreshing_if_gone(|c| c.verify_many_merkle(names, files))
    }

    fn verify_many_merkle(
        &mut self,
        names: &[String],
        files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<Verified>, ClientError> {
        let trusted = self.proof_target()?;
        let version = trusted.version();
        // Servers bound the names of one request: ask in chunks, every chunk against the same
        // version and root, and check every leaf only once all of them verified.
        let mut proved: BTreeMap<&str, Option<LeafContents>> = BTreeMap::new();
        for chunk in names.chunks(self.limits.names_per_request.max(1)) {
            let proof = self.fetch_verified_multi(chunk, &trusted)?;
            for name in chunk {
                proved.insert(name, proof.get(name).flatten().copied());
            }
        }
        // All checks first, then the state: a refused list leaves the state untouched.
        let before = self.state.leaves.clone();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let contents = proved.get(name.as_str()).copied().flatten();
            match self.check_leaf(name, contents, files.get(name).map(Vec::as_slice)) {
                Ok(status) => out.push(Verified {
                    name: name.clone(),
                    status,
                    timestamp_version: version,
                }),
                Err(e) => {
                    self.state.leaves = before;
                    return Err(e);
                }
            }
        }
        self.store_leaves()?;
        Ok(out)
    }

    /// One multi-proof for exactly `names`, verified against `trusted`.
    fn fetch_verified_multi(
        &self,
        names: &[String],
        trusted: &ProofRoot,
    ) -> Result<MultiProof, ClientError> {
        let (version, root) = (trusted.version(), trusted.root());
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let (answer, proof) = self.fetch_multi_answer(names, version)?;
        let got: BTreeSet<&str> = proof.targets().iter().map(|(n, _)| n.as_str()).collect();
        if got != wanted {
            return Err(ClientError::WrongNames {
                asked: wanted.len(),
                got: got.len(),
            });
        }
        match trusted.verify_multi_proof(names, &proof) {
            Ok(_) => Ok(proof),
            Err(VerifyError::Proof {
                source: ProofError::RootMismatch { computed, .. },
                ..
            }) => {
                let name = names.first().cloned().unwrap_or_default();
                let claimed_root = tuf_merkle::hash::parse_hex(&answer.merkle_root).ok();
                if answer.timestamp_version != version || claimed_root == Some(computed) {
                    return Err(ClientError::ProofForOtherRoot {
                        name,
                        trusted_version: version,
                        trusted_root: *root,
                        claimed_version: answer.timestamp_version,
                        proof_root: computed,
                    });
                }
                Err(ClientError::ProofRejected {
                    name,
                    source: ProofError::RootMismatch {
                        expected: *root,
                        computed,
                    },
                })
            }
            Err(e) => Err(proof_refused(
                names.first().map(String::as_str).unwrap_or_default(),
                e,
            )),
        }
    }

    /// Version monotonicity and the file check for a proved leaf; records the version seen.
    fn check_leaf(
        &mut self,
        name: &str,
        contents: Option<LeafContents>,
        file: Option<&[u8]>,
    ) -> Result<Status, ClientError> {
        let got = contents.map_or(0, |c| c.version());
        let seen = self.state.leaves.get(name).copied().unwrap_or(0);
        if got < seen {
            return Err(ClientError::LeafVersionDecreased {
                name: name.to_owned(),
                seen,
                got,
            });
        }
        let status = match contents {
            None => Status::Absent,
            Some(LeafContents::Deleted { version }) => Status::Deleted(version),
            Some(c @ LeafContents::Present { length, sha256, .. }) => {
                if let Some(bytes) = file {
                    check_file(name, &c, length, sha256, bytes)?;
                }
                Status::Present(c)
            }
        };
        self.state.leaves.insert(name.to_owned(), got);
        Ok(status)
    }

    fn verify_classic(&mut self, name: &str, file: Option<&[u8]>) -> Result<Verified, ClientError> {
        let targets = self.classic_targets()?;
        self.lookup_classic(&targets, name, file)
    }

    /// The trusted targets.json of a classic role, after checking nothing has expired.
    fn classic_targets(&self) -> Result<TrustedTargets, ClientError> {
        let path = self.dir.join("targets.json");
        let bytes = std::fs::read(&path).map_err(ClientError::local(&path))?;
        let targets = classic::read_stored("targets.json", &bytes)?;
        if let Some(expires) = self.state.timestamp_expires {
            tuf::check_expiry(
                "timestamp",
                self.state.timestamp_version,
                expires,
                self.now(),
            )?;
        }
        tuf::check_expiry("targets", targets.version, targets.expires, self.now())?;
        Ok(targets)
    }

    fn lookup_classic(
        &self,
        targets: &TrustedTargets,
        name: &str,
        file: Option<&[u8]>,
    ) -> Result<Verified, ClientError> {
        let target = targets
            .targets
            .get(name)
            .ok_or_else(|| match targets.unusable.get(name) {
                Some(reason) => ClientError::UnusableTarget {
                    name: name.to_owned(),
                    reason: reason.clone(),
                },
                None => ClientError::NotListed(name.to_owned()),
            })?;
        let (length, sha256) = (target.length, target.sha256);
        if let Some(bytes) = file {
            let expected = LeafContents::Present {
                version: 1,
                length,
                sha256,
            };
            check_file(name, &expected, length, sha256, bytes)?;
        }
        Ok(Verified {
            name: name.to_owned(),
            status: Status::Listed { length, sha256 },
            timestamp_version: self.state.timestamp_version,
        })
    }
}

/// The [`ClientError`] for a proof the verifier core refused for another reason than a root
/// it does not reach (which the callers diagnose): not canonical, about other names, too large.
fn proof_refused(name: &str, error: VerifyError) -> ClientError {
    match error {
        VerifyError::Proof { source, .. } => ClientError::MalformedProof {
            name: name.to_owned(),
            source,
        },
        other => ClientError::malformed(format!("the proof for {name:?}"), other),
    }
}

fn check_file(
    name: &str,
    expected: &LeafContents,
    length: u64,
    sha256: Digest,
    bytes: &[u8],
) -> Result<(), ClientError> {
    let actual = tuf_merkle::hash::sha256(bytes);
    if bytes.len() as u64 != length || actual != sha256 {
        return Err(ClientError::FileMismatch {
            name: name.to_owned(),
            expected: Box::new(*expected),
            actual_length: bytes.len() as u64,
            actual_sha256: actual,
        });
    }
    Ok(())
}

/// A 410 Gone from the proof API: the server signed the asked timestamp version but no longer
/// keeps its tree (`version_not_kept`). Not a withheld target: refresh and ask again.
fn is_gone(e: &ClientError) -> bool {
    matches!(e, ClientError::Status { status: 410, .. })
}

/// The trusted snapshot of a classic role in the state directory.
const SNAPSHOT_FILE: &str = "snapshot.json";

/// Removes `path` if it exists.
fn remove_if_present(path: &Path) -> Result<(), ClientError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClientError::local(path)(e)),
        _ => Ok(()),
    }
}

/// Refuses a `role` version lower than the `trusted` one (a rollback).
fn not_older(role: &'static str, trusted: u64, got: u64) -> Result<(), ClientError> {
    if got < trusted {
        return Err(ClientError::Rollback { role, trusted, got });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_names_display_as_tuf_verify_prints_them() {
        let line = |status| {
            Verified {
                name: "se/rd/serde".into(),
                status,
                timestamp_version: 7,
            }
            .to_string()
        };
        let sha256 = tuf_merkle::hash::sha256(b"serde");
        let present = LeafContents::Present {
            version: 2,
            length: 5,
            sha256,
        };
        assert_eq!(
            line(Status::Present(present)),
            format!(
                "se/rd/serde: present {} (timestamp 7)",
                present.canonical_json()
            )
        );
        assert_eq!(
            line(Status::Listed { length: 5, sha256 }),
            format!("se/rd/serde: listed, length 5, sha256 {sha256}")
        );
        assert_eq!(
            line(Status::Deleted(3)),
            "se/rd/serde: not present (deleted at version 3; proof checked)"
        );
        assert_eq!(
            line(Status::Absent),
            "se/rd/serde: not present (never published; proof checked)"
        );
    }
}
