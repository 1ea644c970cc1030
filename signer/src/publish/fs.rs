//! The repository in a directory, `<data>/repo/<role>/` (the embedded default).
//!
//! Properties kept (beyond those of every [`Publisher`]): files are written through
//! [`tuf_files::atomic`] (random temporary names, no symlink followed, renamed into place);
//! immutable files are created with no-replace; round files are not fsynced one by one (the
//! round is durable in the log, and [`Publisher::sync`] flushes the repository with one
//! `syncfs` before a checkpoint empties the log), uploads are (the change that refers to them
//! is acknowledged right after); reads open one path component at a time without following
//! symlinks, regular files only, off the async workers.
//!
//! A published file's ETag is `"{inode}-{length}-{mtime in ns}"` (hex), from one `fstat` of the
//! opened file: no file is ever changed in place (immutable files are created once; heads are
//! replaced by renaming a new file over them, which gives a new inode and modification time),
//! so the triple changes whenever the contents do and is a strong validator at the cost of a
//! system call, where a hash would read the whole file.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use tuf_files::atomic::{self, Durability};
use tuf_files::{FsError, WriteOptions};
use tuf_merkle::Digest;

use super::{
    PublishError, PublishedFile, Publisher, ReadError, change_record_file, target_file,
    timestamp_file, tough_target_file,
};
use crate::round::Round;

/// Published files: world-readable. Immutable ones are created once, never replaced.
const PUBLISHED: WriteOptions = WriteOptions::PUBLIC;

/// One role's repository in a directory.
#[derive(Debug, Clone)]
pub struct FsPublisher {
    dir: PathBuf,
}

impl FsPublisher {
    /// A publisher for the repository at `dir`.
    pub fn new(dir: PathBuf) -> Self {
        FsPublisher { dir }
    }

    /// The repository directory.
    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The version of the published `timestamp.json`, if there is one that parses (the
    /// blocking form of [`Publisher::published_version`], for `import`).
    pub fn read_published_version(&self) -> Option<u64> {
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

    fn store_target_blocking(
        &self,
        name: &str,
        sha256: &Digest,
        bytes: &[u8],
    ) -> Result<(), PublishError> {
        let path = self.dir.join(target_file(name, sha256));
        immutable(&path, bytes, Durability::Durable)?;
        if let Some(alt) = tough_target_file(name, sha256) {
            let alt = self.dir.join(alt);
            let dir = alt.parent().unwrap_or(&self.dir).to_owned();
            // tough's name for `a/b` makes `SHA256.a` a directory, which the same bytes under
            // `a` need as a file: either order is a conflict (409), not a storage failure.
            match std::fs::create_dir_all(&dir) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotADirectory | std::io::ErrorKind::AlreadyExists
                    ) =>
                {
                    return Err(PublishError::Conflict { path: alt });
                }
                Err(e) => return Err(FsError::new(&dir, "create directory", e).into()),
            }
            match std::fs::hard_link(&path, &alt) {
                Ok(()) => tuf_files::dir::sync_dir(&dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if alt.is_dir() || !atomic::same_contents(&alt, bytes)? {
                        return Err(PublishError::Conflict { path: alt });
                    }
                }
                // No hard links here (or the first name is on another filesystem): a copy.
                Err(_) => immutable(&alt, bytes, Durability::Durable)?,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Publisher for FsPublisher {
    async fn prepare(&self) -> Result<(), PublishError> {
        // Temporary files a killed writer left: never published, never renamed into place.
        for dir in [
            self.dir.clone(),
            self.dir.join(tuf_repo_format::paths::TIMESTAMPS_DIR),
            self.dir.join(tuf_repo_format::paths::CHANGES_DIR),
            self.dir.join(tuf_repo_format::paths::LEAF_SNAPSHOTS_DIR),
        ] {
            tuf_files::dir::remove_stale_temps(&dir);
        }
        Ok(())
    }

    async fn publish_roots(&self, files: &[(u64, Vec<u8>)]) -> Result<(), PublishError> {
        for (version, bytes) in files {
            immutable(
                &self.dir.join(tuf_repo_format::paths::root(*version)),
                bytes,
                Durability::Durable,
            )?;
        }
        if let Some((_, latest)) = files.last() {
            let head = self.dir.join(tuf_repo_format::paths::ROOT);
            if !atomic::same_contents(&head, latest)? {
                atomic::write(&head, latest, PUBLISHED)?;
            }
        }
        Ok(())
    }

    async fn publish_round(&self, round: &Round) -> Result<(), PublishError> {
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

    async fn sync(&self) -> Result<(), PublishError> {
        tuf_files::dir::sync_filesystem(&self.dir)?;
        Ok(())
    }

    async fn is_published(&self, round: &Round) -> bool {
        let on_disk = std::fs::read(self.dir.join("timestamp.json")).ok();
        on_disk.as_deref() == round.timestamp_bytes()
    }

    async fn has_timestamp(&self, version: u64) -> bool {
        std::fs::symlink_metadata(self.dir.join(timestamp_file(version))).is_ok()
    }

    async fn published_version(&self) -> Option<u64> {
        self.read_published_version()
    }

    async fn store_target(
        &self,
        name: &str,
        sha256: &Digest,
        bytes: &[u8],
    ) -> Result<(), PublishError> {
        self.store_target_blocking(name, sha256, bytes)
    }

    async fn publish_leaf_snapshot(&self, version: u64, bytes: &[u8]) -> Result<(), PublishError> {
        // Durable at once: unlike a round's files, no log record can write it again.
        let path = self
            .dir
            .join(tuf_repo_format::paths::leaf_snapshot(version));
        immutable(&path, bytes, Durability::Durable)?;
        let pointer = tuf_repo_format::leaf_snapshot::LatestPointer::to(version, bytes).to_json();
        let head = self.dir.join(tuf_repo_format::paths::LEAF_SNAPSHOT_LATEST);
        atomic::write(&head, &pointer, PUBLISHED)?;
        Ok(())
    }

    async fn open(&self, path: &str) -> Result<PublishedFile, ReadError> {
        let dir = self.dir.clone();
        let rel = path.to_owned();
        // Opened component by component without following symlinks: whatever the repository
        // directory holds, nothing outside it is ever served.
        let opened = tokio::task::spawn_blocking(move || {
            let (file, length) = tuf_files::beneath::open_file(&dir, &rel)?;
            let meta = file
                .metadata()
                .map_err(tuf_files::beneath::BeneathError::Io)?;
            let etag = file_etag(&meta, length);
            Ok::<_, tuf_files::beneath::BeneathError>((file, length, etag))
        })
        .await
        .map_err(|e| ReadError::Io(std::io::Error::other(e)))?;
        match opened {
            Ok((file, length, etag)) => Ok(PublishedFile {
                length,
                etag,
                body: Box::pin(tokio::fs::File::from_std(file)),
            }),
            Err(tuf_files::beneath::BeneathError::Io(e)) => Err(ReadError::Io(e)),
            Err(_) => Err(ReadError::NotFound),
        }
    }
}

/// The ETag of an opened file of `length` bytes (see the module documentation): quoted, as
/// HTTP sends it.
fn file_etag(meta: &std::fs::Metadata, length: u64) -> String {
    use std::os::unix::fs::MetadataExt as _;
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    format!("\"{:x}-{length:x}-{mtime_ns:x}\"", meta.ino())
}

/// The largest `timestamp.json` read back (the signer writes about 1 KiB).
const MAX_TIMESTAMP_BYTES: u64 = 1024 * 1024;

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
    use crate::round::{FileMeta, SignedFile};

    fn meta(version: u64) -> FileMeta {
        FileMeta {
            version,
            length: 1,
            sha256: "00".repeat(32),
            expires: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn a_round_publishes_its_timestamps_exact_bytes_before_the_record_refers_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = FsPublisher::new(dir.path().join("repo"));
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
        p.publish_round(&round).await.unwrap();
        let copy = p.dir().join(timestamp_file(7));
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), ts_bytes);
        assert_eq!(
            std::fs::read_to_string(p.dir().join("timestamp.json")).unwrap(),
            ts_bytes
        );
        assert!(p.has_timestamp(7).await);
        assert_eq!(p.published_version().await, Some(7));
        // Publishing the round again (crash recovery) restores it with the same bytes.
        std::fs::remove_file(&copy).unwrap();
        p.publish_round(&round).await.unwrap();
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), ts_bytes);
        assert!(p.is_published(&round).await);
        // A different round under the same version is a conflict, and changes nothing.
        let mut other = round.clone();
        other.files[0].bytes = "other".into();
        assert!(matches!(
            p.publish_round(&other).await,
            Err(PublishError::Conflict { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(p.dir().join("7.snapshot.json")).unwrap(),
            "snap"
        );
    }

    #[test]
    fn target_paths_use_consistent_snapshot_names() {
        let h = tuf_merkle::hash::sha256(b"x");
        assert_eq!(
            target_file("a/b/c.txt", &h),
            format!("targets/a/b/{}.c.txt", h.to_hex())
        );
        assert_eq!(
            tough_target_file("a/b/c.txt", &h),
            Some(format!("targets/{}.a/b/c.txt", h.to_hex()))
        );
        assert_eq!(target_file("c", &h), format!("targets/{}.c", h.to_hex()));
        assert_eq!(tough_target_file("c", &h), None);
    }
}
