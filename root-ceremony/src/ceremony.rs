//! The ceremony directory: one `ceremony.json` holding every role's draft (with the signatures
//! gathered so far), the previous root chains copied in at `init`, and the transcript.
//!
//! Properties kept:
//! - every change to `ceremony.json` is one atomic rename of a fsynced file, so a step either
//!   happens whole or not at all; every check runs before anything is written, the transcript
//!   included (it is opened before `ceremony.json` is replaced);
//! - every file is read with a size limit and written without following symlinks
//!   ([`crate::files`]): a symlink planted on the media, at a temporary name or at a file the
//!   tool writes, is never written through;
//! - every draft has the D1 shape whenever the ceremony is loaded, with no key listed twice
//!   however it is written (see [`crate::model::check_shape`]);
//! - whenever the ceremony is loaded, the drafts must still hash to the digest announced when
//!   they were last written, every signature must verify over its draft, no key may sign twice,
//!   and every signer must be a member of the new or the previous root;
//! - drafts can be amended only while nobody has signed;
//! - `finalize` writes the new roots only when every role meets both thresholds, and either
//!   writes all of them or none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tough::schema::{Root, Signature, Signed};

use crate::chain::{Chain, load_chain};
use crate::error::{CeremonyError, UnmetThreshold};
use crate::files::{self, MAX_CEREMONY_FILE, MAX_ROOT_FILE};
use crate::keys::MemberSigner;
use crate::model::{
    RootSpec, build_root, canonical, check_shape, fmt_time, id_hex, root_file_bytes, root_keyids,
    sha256_hex, spec_of, valid_root_signers,
};
use crate::transcript::{self, TRANSCRIPT_FILE};

/// The ceremony file's name.
pub const CEREMONY_FILE: &str = "ceremony.json";
/// The format tag of the ceremony file.
pub const FORMAT: &str = "tuf-ceremony/1";
/// The directory (in the ceremony directory) with the previous root chains.
pub const PREVIOUS_DIR: &str = "previous";

/// The ceremony file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyFile {
    /// [`FORMAT`].
    pub format: String,
    /// The drafts' digest as announced ([`content_digest`]).
    pub digest: String,
    /// Per role.
    pub roles: BTreeMap<String, RoleEntry>,
}

/// One role in the ceremony.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleEntry {
    /// The previous root, for a rotation: `previous/ROLE/VERSION.root.json` and its SHA-256.
    pub previous: Option<PreviousRef>,
    /// The new root with the signatures gathered so far.
    pub draft: Signed<Root>,
}

/// Names the previous root of a role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PreviousRef {
    /// Its version.
    pub version: u64,
    /// SHA-256 of its file.
    pub sha256: String,
}

/// A loaded and checked ceremony.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// The directory.
    pub dir: PathBuf,
    /// The file's contents.
    pub file: CeremonyFile,
    /// The previous root per role (rotations).
    pub previous: BTreeMap<String, Signed<Root>>,
    /// SHA-256 of `ceremony.json` as loaded.
    pub file_sha256: String,
}

/// The digest of the drafts that members compare aloud: SHA-256 over the canonical JSON of
/// `{"format": "tuf-ceremony-digest/1", "roles": {ROLE: {"previous_sha256": …, "signed": …}}}`.
/// It covers every role's unsigned new root and the previous root it follows, not signatures,
/// so it stays the same while members sign.
pub fn content_digest(roles: &BTreeMap<String, RoleEntry>) -> Result<String, CeremonyError> {
    let mut map = serde_json::Map::new();
    for (name, entry) in roles {
        map.insert(
            name.clone(),
            serde_json::json!({
                "previous_sha256": entry.previous.as_ref().map(|p| p.sha256.clone()),
                "signed": serde_json::to_value(&entry.draft.signed)?,
            }),
        );
    }
    let value = serde_json::json!({ "format": "tuf-ceremony-digest/1", "roles": map });
    Ok(sha256_hex(&canonical(&value)?))
}

/// The digest as read aloud: its first 128 bits in eight groups of four hex digits.
pub fn spoken(digest: &str) -> String {
    digest
        .as_bytes()
        .chunks(4)
        .take(8)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a digest typed by a member (spaces ignored, at least 32 hex digits) against `actual`.
pub fn check_typed_digest(given: &str, actual: &str) -> Result<(), CeremonyError> {
    let typed: String = given
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if typed.len() < 32 || !actual.starts_with(&typed) {
        return Err(CeremonyError::DigestMismatch {
            given: given.to_owned(),
            actual: spoken(actual),
        });
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically and durably, never through a symlink
/// ([`files::write`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CeremonyError> {
    files::write(path, bytes)
}

fn sync_dir(dir: &Path) -> Result<(), CeremonyError> {
    Ok(tuf_files::dir::sync_dir(dir)?)
}

/// A role's input to a new ceremony.
#[derive(Debug, Clone)]
pub struct RoleInit {
    /// The previous chain (rotation) or `None` (first root).
    pub previous: Option<Chain>,
    /// The new root.
    pub spec: RootSpec,
}

/// Per-role threshold state.
#[derive(Debug, Clone)]
pub struct RoleStatus {
    /// The role.
    pub role: String,
    /// New root version.
    pub version: u64,
    /// Valid signers among the new root's members.
    pub new_signers: Vec<String>,
    /// The new root's threshold.
    pub new_threshold: u64,
    /// Valid signers among the previous root's members, and its threshold (rotations).
    pub old: Option<(Vec<String>, u64)>,
    /// Expiry.
    pub expires: jiff::Timestamp,
    /// Changes from the previous root.
    pub changes: Vec<String>,
}

impl RoleStatus {
    /// Whether both thresholds are met.
    pub fn complete(&self) -> bool {
        self.new_signers.len() as u64 >= self.new_threshold
            && self.old.as_ref().is_none_or(|(s, t)| s.len() as u64 >= *t)
    }

    /// What is missing, unless both thresholds are met.
    pub fn unmet(&self) -> Option<UnmetThreshold> {
        (!self.complete()).then(|| UnmetThreshold {
            role: self.role.clone(),
            new_signatures: self.new_signers.len(),
            new_threshold: self.new_threshold,
            previous: self.old.as_ref().map(|(s, t)| (s.len(), *t)),
        })
    }
}

impl Ceremony {
    /// Starts a ceremony in `dir`, which must not exist or be empty. Everything is written to a
    /// sibling staging directory first and renamed into place, so a failed `init` leaves
    /// nothing behind.
    pub fn create(
        dir: &Path,
        roles: BTreeMap<String, RoleInit>,
        operator: Option<&str>,
    ) -> Result<Ceremony, CeremonyError> {
        if dir.join(CEREMONY_FILE).exists() {
            return Err(CeremonyError::CeremonyExists(dir.to_owned()));
        }
        if let Ok(mut entries) = std::fs::read_dir(dir)
            && entries.next().is_some()
        {
            return Err(CeremonyError::DirectoryNotEmpty(dir.to_owned()));
        }
        let mut entries = BTreeMap::new();
        let mut detail = Vec::new();
        for (name, init) in &roles {
            let root = build_root(&init.spec)?;
            check_shape(&root)?;
            let previous = init
                .previous
                .as_ref()
                .and_then(|c| c.last())
                .map(|last| PreviousRef {
                    version: last.root.signed.version.get(),
                    sha256: sha256_hex(&last.bytes),
                });
            detail.push(format!(
                "{name}: version {}, {} of {} root members, online key {}, expires {}",
                init.spec.version,
                init.spec.threshold,
                init.spec.members.len(),
                init.spec.online.key_id_hex(),
                fmt_time(init.spec.expires)
            ));
            entries.insert(
                name.clone(),
                RoleEntry {
                    previous,
                    draft: Signed {
                        signed: root,
                        signatures: Vec::new(),
                    },
                },
            );
        }
        // D1: one quorum for every role.
        let quorum = |e: &RoleEntry| {
            let mut ids = root_keyids(&e.draft.signed);
            ids.sort();
            let t = e
                .draft
                .signed
                .roles
                .get(&tough::schema::RoleType::Root)
                .map_or(0, |k| k.threshold.get());
            (ids, t)
        };
        let mut quorums = entries.iter().map(|(n, e)| (n, quorum(e)));
        if let Some((first_name, first)) = quorums.next() {
            for (name, q) in quorums {
                if q != first {
                    return Err(CeremonyError::QuorumsDiffer {
                        first: first_name.clone(),
                        second: name.clone(),
                    });
                }
            }
        }
        let digest = content_digest(&entries)?;
        let file = CeremonyFile {
            format: FORMAT.to_owned(),
            digest: digest.clone(),
            roles: entries,
        };
        let bytes = file_bytes(&file)?;

        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(CeremonyError::io("create", &parent))?;
        let name = dir
            .file_name()
            .ok_or_else(|| CeremonyError::NoDirectoryName(dir.to_owned()))?;
        let staging = parent.join(format!(
            ".{}.staging-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        // `create_dir` is exclusive and does not follow a symlink planted at the name: the
        // staging directory is this process's own (or the step fails before writing).
        if let Err(e) = std::fs::create_dir(&staging) {
            return Err(CeremonyError::io("create", &staging)(e));
        }
        let result = (|| {
            for (role, init) in &roles {
                if let Some(chain) = &init.previous {
                    let d = staging.join(PREVIOUS_DIR).join(role);
                    for r in &chain.roots {
                        let p = d.join(format!("{}.root.json", r.root.signed.version));
                        files::write_new(&p, &r.bytes)?;
                    }
                }
            }
            let mut log = files::open_append(&staging.join(TRANSCRIPT_FILE))?;
            write_atomic(&staging.join(CEREMONY_FILE), &bytes)?;
            let entry = transcript::next_entry(
                &staging.join(TRANSCRIPT_FILE),
                "init",
                operator,
                None,
                detail,
                None,
                digest.clone(),
                None,
                sha256_hex(&bytes),
            )?;
            transcript::append_to(&mut log, &staging.join(TRANSCRIPT_FILE), &entry)?;
            if dir.exists() {
                std::fs::remove_dir(dir)
                    .map_err(CeremonyError::io("replace empty directory", dir))?;
            }
            std::fs::rename(&staging, dir).map_err(CeremonyError::io("move into place", dir))?;
            sync_dir(&parent)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        Ceremony::load(dir)
    }

    /// Loads the ceremony in `dir` and checks it (see the module documentation).
    pub fn load(dir: &Path) -> Result<Ceremony, CeremonyError> {
        let path = dir.join(CEREMONY_FILE);
        let bytes = match files::read_limited(&path, MAX_CEREMONY_FILE, "the ceremony file") {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Err(CeremonyError::NoCeremony(dir.to_owned())),
            Err(e) => return Err(e),
        };
        let damaged = |reason: String| CeremonyError::Damaged {
            path: path.clone(),
            reason,
        };
        let file: CeremonyFile =
            serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        if file.format != FORMAT {
            return Err(damaged(format!(
                "format {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        if file.roles.is_empty() {
            return Err(damaged("it lists no roles".into()));
        }
        let mut previous = BTreeMap::new();
        for (name, entry) in &file.roles {
            crate::model::check_role_name(name).map_err(|e| damaged(e.to_string()))?;
            let prev_version = match &entry.previous {
                Some(p) => {
                    let pp = dir
                        .join(PREVIOUS_DIR)
                        .join(name)
                        .join(format!("{}.root.json", p.version));
                    let pb = files::read_limited(&pp, MAX_ROOT_FILE, "a root")?;
                    if sha256_hex(&pb) != p.sha256 {
                        return Err(damaged(format!(
                            "{} is not the previous root the ceremony started from",
                            pp.display()
                        )));
                    }
                    let root: Signed<Root> = serde_json::from_slice(&pb)
                        .map_err(|e| damaged(format!("{}: {e}", pp.display())))?;
                    previous.insert(name.clone(), root);
                    p.version
                }
                None => 0,
            };
            check_shape(&entry.draft.signed).map_err(|e| damaged(format!("{name}: {e}")))?;
            let version = entry.draft.signed.version.get();
            if version != prev_version + 1 {
                return Err(CeremonyError::VersionSkip {
                    role: name.clone(),
                    version,
                    previous: prev_version,
                });
            }
        }
        let actual = content_digest(&file.roles)?;
        if actual != file.digest {
            return Err(CeremonyError::DraftChanged {
                announced: spoken(&file.digest),
                actual: spoken(&actual),
            });
        }
        let ceremony = Ceremony {
            dir: dir.to_owned(),
            file,
            previous,
            file_sha256: sha256_hex(&bytes),
        };
        ceremony.check_signatures()?;
        Ok(ceremony)
    }

    /// Every signature must be by a member of the new or previous root, once, and verify.
    fn check_signatures(&self) -> Result<(), CeremonyError> {
        for (name, entry) in &self.file.roles {
            let message = canonical(&entry.draft.signed)?;
            let mut seen = std::collections::BTreeSet::new();
            for sig in &entry.draft.signatures {
                let id = id_hex(&sig.keyid);
                if !seen.insert(id.clone()) {
                    return Err(CeremonyError::DuplicateSignature {
                        role: name.clone(),
                        key_id: id,
                    });
                }
                let key =
                    self.member_key(name, &id)
                        .ok_or_else(|| CeremonyError::ForeignSignature {
                            role: name.clone(),
                            key_id: id.clone(),
                        })?;
                if !key.verify(&message, &sig.sig) {
                    return Err(CeremonyError::SignatureInvalid {
                        role: name.clone(),
                        key_id: id,
                    });
                }
            }
        }
        Ok(())
    }

    /// The key with `id` if it is a root member of the new or previous root of `role`.
    fn member_key(&self, role: &str, id: &str) -> Option<tuf_keys::TufPublicKey> {
        let entry = self.file.roles.get(role)?;
        let mut roots = vec![&entry.draft.signed];
        if let Some(p) = self.previous.get(role) {
            roots.push(&p.signed);
        }
        for root in roots {
            if root_keyids(root).iter().any(|k| k == id) {
                let key = root.keys.iter().find(|(k, _)| id_hex(k) == id)?.1;
                return tuf_keys::TufPublicKey::from_tuf_key(key.clone()).ok();
            }
        }
        None
    }

    /// The drafts' digest.
    pub fn digest(&self) -> &str {
        &self.file.digest
    }

    /// The transcript's path (kept with the published roots after `finalize`).
    pub fn transcript_path(&self) -> PathBuf {
        self.dir.join(TRANSCRIPT_FILE)
    }

    /// Verifies the transcript ([`transcript::verify_transcript`]): its hash chain, and that
    /// its last step left exactly the ceremony file as loaded.
    pub fn verify_transcript(&self) -> Result<transcript::TranscriptSummary, CeremonyError> {
        transcript::verify_transcript(&self.transcript_path(), Some(&self.file_sha256), None)
    }

    /// Refuses a token key that is not a member, before its PIN is asked for, so that a wrong
    /// token never costs a PIN attempt. A key the token shows only after login passes here; it
    /// is checked again when it signs ([`Ceremony::sign`]).
    pub fn check_token_key(
        &self,
        spec: &tuf_keys::pkcs11::Pkcs11KeySpec,
    ) -> Result<(), CeremonyError> {
        match tuf_keys::pkcs11::read_public_key_only(spec) {
            Ok(public) => self.check_member(&public),
            Err(tuf_keys::pkcs11::Pkcs11Error::KeyNotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Key IDs that have signed any draft.
    pub fn signers(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .file
            .roles
            .values()
            .flat_map(|e| e.draft.signatures.iter().map(|s| id_hex(&s.keyid)))
            .collect();
        s.sort();
        s.dedup();
        s
    }

    /// Per-role status.
    pub fn status(&self) -> Result<Vec<RoleStatus>, CeremonyError> {
        let mut out = Vec::new();
        for (name, entry) in &self.file.roles {
            let draft = &entry.draft;
            let new_signers = valid_root_signers(&draft.signed, draft)?;
            let new_threshold = draft
                .signed
                .roles
                .get(&tough::schema::RoleType::Root)
                .map_or(0, |k| k.threshold.get());
            let (old, changes) = match self.previous.get(name) {
                Some(prev) => {
                    let t = prev
                        .signed
                        .roles
                        .get(&tough::schema::RoleType::Root)
                        .map_or(0, |k| k.threshold.get());
                    (
                        Some((valid_root_signers(&prev.signed, draft)?, t)),
                        crate::model::describe_changes(&prev.signed, &draft.signed),
                    )
                }
                None => (None, vec!["first root of this role".to_owned()]),
            };
            out.push(RoleStatus {
                role: name.clone(),
                version: draft.signed.version.get(),
                new_signers,
                new_threshold,
                old,
                expires: draft.signed.expires,
                changes,
            });
        }
        Ok(out)
    }

    /// Signs every draft with `signer`. A key that has signed already is skipped (its
    /// signature stays as it is); a key that is not a member of the new or previous root of
    /// every role is refused before anything is signed. Returns how many drafts were signed now.
    pub fn sign(
        &mut self,
        signer: &MemberSigner,
        operator: Option<&str>,
    ) -> Result<usize, CeremonyError> {
        let public = signer.public_key().clone();
        let id = public.key_id_hex();
        self.check_member(&public)?;
        let mut file = self.file.clone();
        let mut signed_now = Vec::new();
        for (name, entry) in file.roles.iter_mut() {
            if entry
                .draft
                .signatures
                .iter()
                .any(|s| id_hex(&s.keyid) == id)
            {
                continue;
            }
            let message = canonical(&entry.draft.signed)?;
            let sig = signer.sign(&message)?;
            if !public.verify(&message, &sig) {
                return Err(CeremonyError::SignatureInvalid {
                    role: name.clone(),
                    key_id: id.clone(),
                });
            }
            entry.draft.signatures.push(Signature {
                keyid: public.key_id().clone(),
                sig: sig.into(),
            });
            signed_now.push(format!(
                "{name}: signed version {}",
                entry.draft.signed.version
            ));
        }
        if signed_now.is_empty() {
            return Ok(0);
        }
        signed_now.push(format!("with {}", signer.describe()));
        let n = signed_now.len() - 1;
        self.save(file, "sign", operator, Some(id), signed_now)?;
        Ok(n)
    }

    /// Refuses a key that is not a root member of the new or the previous root of every role.
    pub fn check_member(&self, public: &tuf_keys::TufPublicKey) -> Result<(), CeremonyError> {
        let id = public.key_id_hex();
        for (name, entry) in &self.file.roles {
            match self.member_key(name, &id) {
                Some(k) if k.key() == public.key() => {}
                _ => {
                    let mut members = root_keyids(&entry.draft.signed);
                    if let Some(p) = self.previous.get(name) {
                        members.extend(root_keyids(&p.signed));
                    }
                    members.sort();
                    members.dedup();
                    return Err(CeremonyError::NotAMember {
                        key_id: id,
                        role: name.clone(),
                        members: members.join(", "),
                    });
                }
            }
        }
        Ok(())
    }

    /// Rebuilds every draft from its spec after `change` edits it, before anyone has signed.
    pub fn amend(
        &mut self,
        action: &str,
        operator: Option<&str>,
        detail: Vec<String>,
        mut change: impl FnMut(&str, &mut RootSpec) -> Result<(), CeremonyError>,
    ) -> Result<(), CeremonyError> {
        let signers = self.signers();
        if !signers.is_empty() {
            return Err(CeremonyError::AlreadySigned {
                signers: signers.join(", "),
            });
        }
        let mut file = self.file.clone();
        for (name, entry) in file.roles.iter_mut() {
            let mut spec = spec_of(&entry.draft.signed)?;
            change(name, &mut spec)?;
            let root = build_root(&spec)?;
            check_shape(&root)?;
            entry.draft = Signed {
                signed: root,
                signatures: Vec::new(),
            };
        }
        file.digest = content_digest(&file.roles)?;
        self.save(file, action, operator, None, detail)
    }

    /// Writes `file` as the new ceremony state and records the step.
    fn save(
        &mut self,
        file: CeremonyFile,
        action: &str,
        operator: Option<&str>,
        key_id: Option<String>,
        detail: Vec<String>,
    ) -> Result<(), CeremonyError> {
        let bytes = file_bytes(&file)?;
        let after = sha256_hex(&bytes);
        let tpath = self.dir.join(TRANSCRIPT_FILE);
        // Opened first: a transcript that cannot be appended to stops the step before
        // `ceremony.json` changes.
        let mut log = files::open_append(&tpath)?;
        let entry = transcript::next_entry(
            &tpath,
            action,
            operator,
            key_id,
            detail,
            Some(self.file.digest.clone()),
            file.digest.clone(),
            Some(self.file_sha256.clone()),
            after.clone(),
        )?;
        write_atomic(&self.dir.join(CEREMONY_FILE), &bytes)?;
        transcript::append_to(&mut log, &tpath, &entry)?;
        self.file = file;
        self.file_sha256 = after;
        Ok(())
    }

    /// Writes `ROOTS/ROLE/N.root.json` for every role, only if every role meets both
    /// thresholds (checked with tough) and `ROOTS/ROLE` holds exactly the chain the ceremony
    /// started from; all files or none. Returns the paths written.
    pub fn finalize(
        &self,
        roots: &Path,
        operator: Option<&str>,
    ) -> Result<Vec<PathBuf>, CeremonyError> {
        // The record must be complete: every change to the ceremony file was a recorded step.
        self.verify_transcript()?;
        let now = jiff::Timestamp::now();
        let unmet: Vec<UnmetThreshold> = self
            .status()?
            .iter()
            .filter_map(RoleStatus::unmet)
            .collect();
        if !unmet.is_empty() {
            return Err(CeremonyError::ThresholdsUnmet(unmet));
        }
        let mut outputs = Vec::new();
        for (name, entry) in &self.file.roles {
            let draft = &entry.draft;
            // The same checks a client makes, by tough itself.
            draft
                .signed
                .verify_role(draft)
                .map_err(|source| CeremonyError::NewRootRejected {
                    role: name.clone(),
                    source: Box::new(source),
                })?;
            if let Some(prev) = self.previous.get(name) {
                prev.signed.verify_role(draft).map_err(|source| {
                    CeremonyError::RotationRejected {
                        role: name.clone(),
                        from: prev.signed.version.get(),
                        source: Box::new(source),
                    }
                })?;
            }
            if draft.signed.expires <= now {
                return Err(CeremonyError::NewRootExpired {
                    role: name.clone(),
                    expires: fmt_time(draft.signed.expires),
                });
            }
            let dir = roots.join(name);
            let chain = load_chain(name, &dir, None)?;
            let expected = entry.previous.as_ref();
            let matches = match (chain.last(), expected) {
                (None, None) => true,
                (Some(last), Some(p)) => {
                    last.root.signed.version.get() == p.version
                        && sha256_hex(&last.bytes) == p.sha256
                }
                _ => false,
            };
            if !matches {
                let describe = |v: Option<(u64, String)>| match v {
                    None => "no root (a first ceremony)".to_owned(),
                    Some((v, sha)) => format!("version {v} (SHA-256 {sha})"),
                };
                return Err(CeremonyError::ChainMoved {
                    role: name.clone(),
                    dir: dir.clone(),
                    found: describe(
                        chain
                            .last()
                            .map(|l| (l.root.signed.version.get(), sha256_hex(&l.bytes))),
                    ),
                    expected: describe(expected.map(|p| (p.version, p.sha256.clone()))),
                });
            }
            let path = dir.join(format!("{}.root.json", draft.signed.version));
            if path.exists() {
                return Err(CeremonyError::OutputExists(path));
            }
            outputs.push((name.clone(), dir, path, root_file_bytes(draft)?));
        }
        // Every file is placed atomically without replacing anything; if one fails, the ones
        // placed before it are removed again: all or none.
        let tpath = self.dir.join(TRANSCRIPT_FILE);
        let mut log = files::open_append(&tpath)?;
        let mut placed: Vec<&Path> = Vec::new();
        for (_, _, path, bytes) in &outputs {
            if let Err(e) = files::write_new(path, bytes) {
                for p in &placed {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
            placed.push(path);
        }
        let mut entry = transcript::next_entry(
            &tpath,
            "finalize",
            operator,
            None,
            outputs
                .iter()
                .map(|(name, _, path, _)| format!("{name}: wrote {}", path.display()))
                .collect(),
            Some(self.file.digest.clone()),
            self.file.digest.clone(),
            Some(self.file_sha256.clone()),
            self.file_sha256.clone(),
        )?;
        for (name, _, path, bytes) in &outputs {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            entry
                .outputs
                .insert(format!("{name}/{file}"), sha256_hex(bytes));
        }
        transcript::append_to(&mut log, &tpath, &entry)?;
        Ok(outputs.into_iter().map(|(_, _, p, _)| p).collect())
    }
}

/// The ceremony file's bytes: indented JSON with sorted keys.
fn file_bytes(file: &CeremonyFile) -> Result<Vec<u8>, CeremonyError> {
    crate::model::pretty_sorted(file)
}
