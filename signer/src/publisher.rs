//! Publishing a role's repository under `<data>/repo/<role>/`.
//!
//! ```text
//! 1.root.json … N.root.json, root.json        the trusted root chain (root.json = latest)
//! V.targets.json, V.snapshot.json             consistent snapshots
//! timestamp.json                              the latest timestamp
//! timestamps/V.timestamp.json                 the exact bytes of every timestamp version V
//! changes/V.json                              what timestamp V changed, for auditors
//! targets/DIR/SHA256.BASENAME                 uploaded target bytes (python-tuf's consistent name)
//! targets/SHA256.DIR/BASENAME                 the same bytes, hard-linked (tough's consistent name)
//! ```
//!
//! Properties kept: every file is renamed into place whole, so readers never see a partial file;
//! a versioned file (`N.root.json`, `V.targets.json`, `V.snapshot.json`,
//! `timestamps/V.timestamp.json`, `changes/V.json`, stored targets) is immutable: it is created
//! once and never replaced, and finding one with other contents than this signer's is an error
//! ([`PublishError::Conflict`]) that stops the role, since it means the state is behind what was
//! published (so publishing again would sign a version twice);
//! within a round, everything the timestamp points at (targets, snapshot), then the timestamp's
//! own copy `timestamps/V.timestamp.json`, then the change record that refers to it, are written
//! before `timestamp.json`, so a client never sees a timestamp whose snapshot is
//! missing. A round is first made durable whole (a round record in the write-ahead log; at a
//! checkpoint, `state/<role>/round.json`), so publishing can be repeated after a crash with
//! exactly the same bytes; the published files themselves are flushed in bulk before the log
//! is emptied.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tuf_merkle::Digest;

use tuf_files::atomic::{self, Durability};
use tuf_files::{FsError, WriteOptions};

use crate::metadata::{FileMeta, SignedFile};

/// Published files: world-readable. Immutable ones are created once, never replaced.
const PUBLISHED: WriteOptions = WriteOptions::PUBLIC;

/// Where the exact bytes of timestamp version `version` are published, relative to the
/// repository (the change record names it): `timestamps/V.timestamp.json`.
pub fn timestamp_file(version: u64) -> String {
    format!("timestamps/{version}.timestamp.json")
}

/// One signing round: everything needed to publish timestamp `timestamp_version` again, and to
/// continue from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// The timestamp version.
    pub timestamp_version: u64,
    /// The last write-ahead-log sequence number whose changes it includes.
    pub seq: u64,
    /// The root version it was signed under.
    pub root_version: u64,
    /// The tree root at `seq` (published as `merkle_root` in merkle mode).
    pub tree_root: String,
    /// Whether the timestamp carries `merkle_root`.
    pub merkle: bool,
    /// The current targets, snapshot and timestamp.
    pub targets: FileMeta,
    /// See `targets`.
    pub snapshot: FileMeta,
    /// See `targets`.
    pub timestamp: FileMeta,
    /// The files signed in this round, `timestamp.json` last.
    pub files: Vec<SignedFile>,
    /// The change record (`changes/V.json`) text.
    pub change_record: String,
}

impl Round {
    /// The tree root as a digest.
    pub fn tree_root(&self) -> Option<Digest> {
        tuf_merkle::hash::parse_hex(&self.tree_root).ok()
    }

    /// Loads `path`, if it exists.
    pub fn load(path: &Path) -> Result<Option<Self>, PublishError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| PublishError::BadRound {
                        path: path.to_owned(),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FsError::new(path, "read round", source).into()),
        }
    }

    /// Stores the round durably at `path` (at a checkpoint, before the log that holds it is
    /// emptied).
    pub fn store(&self, path: &Path) -> Result<(), PublishError> {
        let bytes = serde_json::to_vec(self).map_err(|e| PublishError::BadRound {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        atomic::write(path, &bytes, WriteOptions::PRIVATE)?;
        Ok(())
    }
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// I/O.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// An immutable file already published with other contents.
    #[error(
        "the published repository already holds {path} with other contents; this signer's state \
         is behind what was published (restored from an old backup, or another signer wrote \
         here), and publishing would give one version two meanings. Stop, and restore the state \
         that signed it"
    )]
    Conflict {
        /// The file.
        path: PathBuf,
    },
    /// A stored round that cannot be read back.
    #[error("stored round {path} is unreadable ({message}); restore it from a backup")]
    BadRound {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Writes one role's repository.
#[derive(Debug, Clone)]
pub struct Publisher {
    dir: PathBuf,
}

impl Publisher {
    /// A publisher for the repository at `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Publisher { dir }
    }

    /// Removes temporary files a killed process left in the metadata and change-record
    /// directories (never published: they were not yet renamed into place).
    pub fn remove_stale_temps(&self) {
        tuf_files::dir::remove_stale_temps(&self.dir);
        tuf_files::dir::remove_stale_temps(&self.dir.join("timestamps"));
        tuf_files::dir::remove_stale_temps(&self.dir.join("changes"));
    }

    /// The repository directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Publishes the root chain: every `N.root.json` as given, then `root.json` (the latest).
    pub fn publish_roots(&self, files: &[(u64, Vec<u8>)]) -> Result<(), PublishError> {
        for (version, bytes) in files {
            immutable(
                &self.dir.join(format!("{version}.root.json")),
                bytes,
                Durability::Durable,
            )?;
        }
        if let Some((_, latest)) = files.last() {
            let head = self.dir.join("root.json");
            if !atomic::same_contents(&head, latest)? {
                atomic::write(&head, latest, PUBLISHED)?;
            }
        }
        Ok(())
    }

    /// Whether `timestamp.json` already holds the round's timestamp (so it was fully published).
    pub fn is_published(&self, round: &Round) -> bool {
        let on_disk = std::fs::read(self.dir.join("timestamp.json")).ok();
        let ours = round
            .files
            .iter()
            .find(|f| f.name == "timestamp.json")
            .map(|f| f.bytes.as_bytes());
        on_disk.as_deref() == ours
    }

    /// Publishes a round: its targets and snapshot, the exact bytes of its timestamp as
    /// `timestamps/V.timestamp.json`, its change record (which refers to that file), then
    /// `timestamp.json`. Publishing a round again writes the same bytes.
    ///
    /// Files are renamed into place (atomic for readers) but not fsynced one by one: the round
    /// is durable in the write-ahead log before this is called, recovery republishes every round
    /// the log holds, and [`Publisher::sync`] flushes the repository before a checkpoint
    /// empties the log.
    pub fn publish_round(&self, round: &Round) -> Result<(), PublishError> {
        let (timestamp, others): (Vec<_>, Vec<_>) =
            round.files.iter().partition(|f| f.name == "timestamp.json");
        for f in others {
            immutable(
                &self.dir.join(&f.name),
                f.bytes.as_bytes(),
                Durability::Deferred,
            )?;
        }
        for f in &timestamp {
            let copy = self.dir.join(timestamp_file(round.timestamp_version));
            immutable(&copy, f.bytes.as_bytes(), Durability::Deferred)?;
        }
        let record = self.dir.join(change_record_file(round.timestamp_version));
        immutable(
            &record,
            round.change_record.as_bytes(),
            Durability::Deferred,
        )?;
        for f in timestamp {
            atomic::write(
                &self.dir.join(&f.name),
                f.bytes.as_bytes(),
                PUBLISHED.durability(Durability::Deferred),
            )?;
        }
        Ok(())
    }

    /// Makes everything published so far durable (one `syncfs`).
    pub fn sync(&self) -> Result<(), PublishError> {
        tuf_files::dir::sync_filesystem(&self.dir)?;
        Ok(())
    }

    /// Whether timestamp version `version` was already published: its exact bytes
    /// (`timestamps/V.timestamp.json`) exist. The sequencer asks before signing a version, so
    /// that a state that is behind the repository never signs a version clients may have seen.
    pub fn has_timestamp(&self, version: u64) -> bool {
        std::fs::symlink_metadata(self.dir.join(timestamp_file(version))).is_ok()
    }

    /// The version of the published `timestamp.json`, if there is one that parses.
    pub fn published_version(&self) -> Option<u64> {
        #[derive(Deserialize)]
        struct Head {
            signed: HeadSigned,
        }
        #[derive(Deserialize)]
        struct HeadSigned {
            version: u64,
        }
        let (file, len) = tuf_files::beneath::open_file(&self.dir, "timestamp.json").ok()?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, len.min(MAX_TIMESTAMP_BYTES)),
            &mut bytes,
        )
        .ok()?;
        serde_json::from_slice::<Head>(&bytes)
            .ok()
            .map(|h| h.signed.version)
    }
    /// Where the bytes of target `name` with hash `sha256` live:
    /// `targets/DIR/SHA256.BASENAME`, the consistent-snapshot name TUF clients fetch.
    pub fn target_path(&self, name: &str, sha256: &Digest) -> PathBuf {
        let (dir, base) = match name.rsplit_once('/') {
            Some((d, b)) => (Some(d), b),
            None => (None, name),
        };
        let mut path = self.dir.join("targets");
        if let Some(d) = dir {
            path.push(d);
        }
        path.push(format!("{}.{base}", sha256.to_hex()));
        path
    }

    /// The other name clients use for the same bytes: tough prefixes the hash to the whole
    /// target path (`targets/SHA256.DIR/BASENAME`), python-tuf and the specification's example
    /// to the base name. `None` when the two agree (a name without `/`).
    pub fn tough_target_path(&self, name: &str, sha256: &Digest) -> Option<PathBuf> {
        name.contains('/').then(|| {
            self.dir
                .join("targets")
                .join(format!("{}.{name}", sha256.to_hex()))
        })
    }

    /// Stores a target's bytes under both consistent-snapshot names (the second a hard link
    /// where the filesystem allows). Content-addressed and immutable: storing the same bytes
    /// again, or concurrently, succeeds without writing; a path that already holds something
    /// else (only possible for a name that is a directory of another name with byte-identical
    /// contents, see `docs/api.md`) is a [`PublishError::Conflict`] and nothing is written.
    /// `name` must have passed [`crate::target::validate`], so the paths stay under `targets/`
    /// and cannot land on another name's path.
    pub fn store_target(
        &self,
        name: &str,
        sha256: &Digest,
        bytes: &[u8],
    ) -> Result<PathBuf, PublishError> {
        let path = self.target_path(name, sha256);
        immutable(&path, bytes, Durability::Durable)?;
        if let Some(alt) = self.tough_target_path(name, sha256) {
            let dir = alt.parent().unwrap_or(&self.dir).to_owned();
            std::fs::create_dir_all(&dir).map_err(|e| FsError::new(&dir, "create directory", e))?;
            match std::fs::hard_link(&path, &alt) {
                Ok(()) => tuf_files::dir::sync_dir(&dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if !atomic::same_contents(&alt, bytes)? {
                        return Err(PublishError::Conflict { path: alt });
                    }
                }
                // No hard links here (or the first name is on another filesystem): a copy.
                Err(_) => immutable(&alt, bytes, Durability::Durable)?,
            }
        }
        Ok(path)
    }
}

/// The largest `timestamp.json` read back (the signer writes about 1 KiB).
const MAX_TIMESTAMP_BYTES: u64 = 1024 * 1024;

/// Where the change record of timestamp version `version` is published, relative to the
/// repository: `changes/V.json`.
pub fn change_record_file(version: u64) -> String {
    format!("changes/{version}.json")
}

/// Creates an immutable file, or accepts it when it already holds exactly `bytes`.
fn immutable(path: &Path, bytes: &[u8], durability: Durability) -> Result<(), PublishError> {
    match atomic::write_immutable(path, bytes, PUBLISHED.durability(durability)) {
        Ok(_) => Ok(()),
        Err(e) if e.is_already_exists() => Err(PublishError::Conflict {
            path: path.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(version: u64) -> FileMeta {
        FileMeta {
            version,
            length: 1,
            sha256: "00".repeat(32),
            expires: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_round_publishes_its_timestamps_exact_bytes_before_the_record_refers_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = Publisher::new(dir.path().join("repo"));
        let ts_bytes = "{\n  \"signed\": {\"version\": 7}\n}";
        let file = |name: &str, bytes: &str| SignedFile {
            name: name.into(),
            bytes: bytes.into(),
            meta: meta(7),
        };
        let round = Round {
            timestamp_version: 7,
            seq: 1,
            root_version: 1,
            tree_root: "00".repeat(32),
            merkle: true,
            targets: meta(7),
            snapshot: meta(7),
            timestamp: meta(7),
            files: vec![
                file("7.snapshot.json", "snap"),
                file("timestamp.json", ts_bytes),
            ],
            change_record: r#"{"timestamp_file":"timestamps/7.timestamp.json"}"#.into(),
        };
        p.publish_round(&round).unwrap();
        let copy = p.dir().join(timestamp_file(7));
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), ts_bytes);
        assert_eq!(
            std::fs::read_to_string(p.dir().join("timestamp.json")).unwrap(),
            ts_bytes
        );
        // Publishing the round again (crash recovery) restores it with the same bytes.
        std::fs::remove_file(&copy).unwrap();
        p.publish_round(&round).unwrap();
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), ts_bytes);
        assert!(p.is_published(&round));
    }

    #[test]
    fn target_paths_use_consistent_snapshot_names() {
        let p = Publisher::new(PathBuf::from("/r"));
        let h = tuf_merkle::hash::sha256(b"x");
        assert_eq!(
            p.target_path("a/b/c.txt", &h),
            PathBuf::from(format!("/r/targets/a/b/{}.c.txt", h.to_hex()))
        );
        assert_eq!(
            p.target_path("c", &h),
            PathBuf::from(format!("/r/targets/{}.c", h.to_hex()))
        );
    }
}
