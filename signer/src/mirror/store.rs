//! The mirror's disk: its copy of each role's repository (`repo/<role>/`, served like the
//! signer's), its checkpoint (`mirror/<role>/`), and the evidence of what it refused
//! (`evidence/<role>/`).
//!
//! Properties kept:
//! - **Only verified bytes reach `repo/`.** The follower writes a file here after it checked it;
//!   immutable files are created once and never replaced (the same bytes again are accepted,
//!   other bytes are an error), heads (`timestamp.json`, `root.json`,
//!   `leaf-snapshots/latest.json`) are replaced atomically, and each round's `timestamp.json`
//!   is written after the files it refers to.
//! - **A checkpoint pairs a tree with its version.** The tree is written as a leaf snapshot
//!   named by its version, then `position.json` names it; a crash between the two leaves the
//!   previous pair. Nothing here is trusted on restart: the follower re-verifies the tree
//!   against the signed timestamp of that version before it serves anything.
//! - **Evidence is never overwritten**: each refusal gets a directory of its own.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tuf_files::atomic::{self, Durability, WriteOptions};
use tuf_files::{FsError, dir};

/// Files in `repo/` are public (served to anyone).
const PUBLISHED: WriteOptions = WriteOptions::PUBLIC;

/// One role's files in the mirror's data directory.
#[derive(Debug, Clone)]
pub struct MirrorStore {
    repo: PathBuf,
    state: PathBuf,
    evidence: PathBuf,
}

/// `mirror/<role>/position.json`: which checkpoint is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Position {
    /// The timestamp version of the tree in `V.leaves.gz`.
    timestamp_version: u64,
}

impl MirrorStore {
    /// The role's directories under `data_dir`, created if missing (state and evidence private).
    pub fn open(data_dir: &Path, role: &str) -> Result<Self, FsError> {
        let store = MirrorStore {
            repo: data_dir.join("repo").join(role),
            state: data_dir.join("mirror").join(role),
            evidence: data_dir.join("evidence").join(role),
        };
        std::fs::create_dir_all(&store.repo)
            .map_err(|e| FsError::new(&store.repo, "create directory", e))?;
        dir::create_private_dir(&data_dir.join("mirror"))?;
        dir::create_private_dir(&store.state)?;
        dir::create_private_dir(&data_dir.join("evidence"))?;
        dir::create_private_dir(&store.evidence)?;
        dir::remove_stale_temps(&store.state);
        Ok(store)
    }

    /// The copied repository (what `GET /{role}/…` serves).
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// A file of the copied repository (`file` as `tuf_repo_format::paths` names it), if present.
    pub fn read(&self, file: &str) -> Result<Option<Vec<u8>>, FsError> {
        let path = self.repo.join(file);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FsError::new(&path, "read", e)),
        }
    }

    /// Whether the copied repository has `file`.
    pub fn has(&self, file: &str) -> bool {
        std::fs::symlink_metadata(self.repo.join(file)).is_ok()
    }

    /// Writes an immutable file (accepted if it already holds exactly `bytes`).
    ///
    /// Not fsynced one by one: the mirror's copy can always be fetched again, and a restart
    /// re-verifies what it resumes from.
    pub fn put_immutable(&self, file: &str, bytes: &[u8]) -> Result<(), FsError> {
        atomic::write_immutable(
            &self.repo.join(file),
            bytes,
            PUBLISHED.durability(Durability::Deferred),
        )
        .map(|_| ())
    }

    /// Replaces a head (`timestamp.json`, `root.json`, `leaf-snapshots/latest.json`).
    pub fn put_head(&self, file: &str, bytes: &[u8]) -> Result<(), FsError> {
        let path = self.repo.join(file);
        if atomic::same_contents(&path, bytes)? {
            return Ok(());
        }
        atomic::write(&path, bytes, PUBLISHED.durability(Durability::Deferred))
    }

    /// Saves the tree at `version` (a leaf snapshot's bytes), durably, then makes it current
    /// and removes every other tree (the previous one, and one a crash left between its file
    /// and `position.json`).
    pub fn save_checkpoint(&self, version: u64, snapshot: &[u8]) -> Result<(), FsError> {
        let name = format!("{version}.leaves.gz");
        atomic::write(&self.state.join(&name), snapshot, WriteOptions::PRIVATE)?;
        let position = serde_json::to_vec(&Position {
            timestamp_version: version,
        })
        .unwrap_or_default();
        atomic::write(
            &self.state.join("position.json"),
            &position,
            WriteOptions::PRIVATE,
        )?;
        if let Ok(entries) = std::fs::read_dir(&self.state) {
            for entry in entries.flatten() {
                let file = entry.file_name();
                let file = file.to_string_lossy();
                if file.ends_with(".leaves.gz") && file != name {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// The current checkpoint: its version and leaf-snapshot bytes (unverified). An error when
    /// `position.json` names a file that cannot be read.
    pub fn checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, FsError> {
        let position = self.state.join("position.json");
        let bytes = match std::fs::read(&position) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FsError::new(&position, "read", e)),
        };
        let p: Position = serde_json::from_slice(&bytes).map_err(|e| {
            FsError::new(
                &position,
                "parse",
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        let file = self
            .state
            .join(format!("{}.leaves.gz", p.timestamp_version));
        let tree = std::fs::read(&file).map_err(|e| FsError::new(&file, "read", e))?;
        Ok(Some((p.timestamp_version, tree)))
    }

    /// Forgets the checkpoint (it failed verification: the mirror starts over from upstream).
    pub fn drop_checkpoint(&self) {
        let _ = std::fs::remove_file(self.state.join("position.json"));
    }

    /// Keeps the evidence of a refused upstream answer: `what` (the reason) and the refused
    /// bytes, in a new directory named by the time and the version. Returns the directory,
    /// relative to the data directory (`evidence/<role>/…`: it is shown in the role's status,
    /// which never carries an absolute path).
    pub fn keep_evidence(
        &self,
        version: u64,
        what: &str,
        files: &[(&str, &[u8])],
    ) -> Result<PathBuf, FsError> {
        let now = jiff::Timestamp::now();
        let mut dir = self
            .evidence
            .join(format!("{}-v{version}", now.strftime("%Y%m%dT%H%M%S%.6fZ")));
        let mut n = 1;
        while dir.exists() {
            n += 1;
            dir = self.evidence.join(format!(
                "{}-v{version}-{n}",
                now.strftime("%Y%m%dT%H%M%S%.6fZ")
            ));
        }
        dir::create_private_dir(&dir)?;
        atomic::write(
            &dir.join("reason.txt"),
            format!("{what}\n").as_bytes(),
            WriteOptions::PRIVATE,
        )?;
        for (name, bytes) in files {
            // Names are the mirror's own (`record.json`, `timestamp.json`), never upstream's.
            atomic::write(&dir.join(name), bytes, WriteOptions::PRIVATE)?;
        }
        let role = self.evidence.file_name().unwrap_or_default();
        let leaf = dir.file_name().unwrap_or_default();
        Ok(Path::new("evidence").join(role).join(leaf))
    }

    /// Makes everything written to `repo/` durable (at a checkpoint and at a clean stop).
    pub fn sync(&self) -> Result<(), FsError> {
        dir::sync_filesystem(&self.repo)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checkpoints_pair_a_tree_with_its_version() {
        let d = tempfile::tempdir().unwrap();
        let s = MirrorStore::open(d.path(), "r").unwrap();
        assert_eq!(s.checkpoint().unwrap(), None);
        s.save_checkpoint(5, b"five").unwrap();
        // A tree a crash left without its position.json.
        std::fs::write(d.path().join("mirror/r/7.leaves.gz"), b"seven").unwrap();
        assert_eq!(s.checkpoint().unwrap(), Some((5, b"five".to_vec())));
        s.save_checkpoint(9, b"nine").unwrap();
        assert_eq!(s.checkpoint().unwrap(), Some((9, b"nine".to_vec())));
        assert!(!d.path().join("mirror/r/5.leaves.gz").exists());
        assert!(!d.path().join("mirror/r/7.leaves.gz").exists());
        s.drop_checkpoint();
        assert_eq!(s.checkpoint().unwrap(), None);
    }

    #[test]
    fn immutable_files_are_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        let s = MirrorStore::open(d.path(), "r").unwrap();
        s.put_immutable("changes/1.json", b"a").unwrap();
        s.put_immutable("changes/1.json", b"a").unwrap();
        assert!(s.put_immutable("changes/1.json", b"b").is_err());
        assert_eq!(s.read("changes/1.json").unwrap().unwrap(), b"a");
        s.put_head("timestamp.json", b"1").unwrap();
        s.put_head("timestamp.json", b"2").unwrap();
        assert_eq!(s.read("timestamp.json").unwrap().unwrap(), b"2");
    }

    #[test]
    fn evidence_gets_a_directory_per_refusal() {
        let d = tempfile::tempdir().unwrap();
        let s = MirrorStore::open(d.path(), "r").unwrap();
        let a = s.keep_evidence(3, "why", &[("record.json", b"x")]).unwrap();
        let b = s.keep_evidence(3, "why", &[("record.json", b"y")]).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("evidence/r"), "{}", a.display());
        let (a, b) = (d.path().join(a), d.path().join(b));
        assert_eq!(std::fs::read(a.join("record.json")).unwrap(), b"x");
        assert_eq!(
            std::fs::read_to_string(b.join("reason.txt")).unwrap(),
            "why\n"
        );
    }
}
