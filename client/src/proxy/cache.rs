//! Verified index files, kept on disk with what they verified against, so that cargo's
//! conditional requests are answered without a body and the proxy can serve offline.
//!
//! Writes happen behind the requests, on one writer thread: a request's answer does not wait
//! for two file creations and renames, and the files of a level of cargo's resolution (hundreds
//! at once) are not created by many threads that contend for the same directories' locks
//! (which cost more CPU than the writes themselves). Until its write is done, an entry is
//! served from memory, so a read sees every write made before it.
//!
//! Property kept: an entry is written only after its bytes verified, and is read back only
//! with its recorded length and SHA-256 checked again (a file changed on disk is a miss, never
//! served).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use serde::{Deserialize, Serialize};
use tuf_files::FsError;
use tuf_files::atomic::{self, WriteOptions};
use tuf_merkle::Digest;

/// The most writes waiting for the writer thread; a request that would queue more waits.
const QUEUED: usize = 4096;

/// One verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// What it verified against, and the index's entity tag.
    pub meta: Meta,
}

/// The record beside an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// SHA-256 of the bytes.
    #[serde(with = "tuf_repo_format::hex_digest")]
    pub sha256: Digest,
    /// Their length.
    pub length: u64,
    /// The timestamp version whose tree they verified against.
    pub timestamp_version: u64,
    /// The upstream index's entity tag for them.
    pub upstream_etag: Option<String>,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    files: Arc<Files>,
    /// To the writer thread: the names whose pending change it is to make.
    writes: mpsc::SyncSender<String>,
}

/// The directory, and the changes queued for it: the entry to write (`None`: to remove) for
/// each name, with a sequence number so that the writer forgets only the change it made.
#[derive(Debug)]
struct Files {
    dir: PathBuf,
    pending: Mutex<HashMap<String, (u64, Option<Entry>)>>,
    sequence: std::sync::atomic::AtomicU64,
}

impl Cache {
    /// The cache in `dir` (created, private), and its writer thread (which ends once every
    /// clone of the cache is dropped and the queued writes are made).
    pub fn open(dir: &Path) -> Result<Self, FsError> {
        tuf_files::dir::create_private_dir(dir)?;
        let files = Arc::new(Files {
            dir: dir.to_owned(),
            pending: Mutex::new(HashMap::new()),
            sequence: std::sync::atomic::AtomicU64::new(0),
        });
        let (writes, queued) = mpsc::sync_channel::<String>(QUEUED);
        let writer = files.clone();
        std::thread::Builder::new()
            .name("tuf-proxy-cache".into())
            .spawn(move || {
                for name in queued {
                    writer.write_pending(&name);
                }
            })
            .map_err(|e| FsError::new(dir, "start the cache writer", e))?;
        Ok(Cache { files, writes })
    }

    /// The entry of `name`, if there is one whose bytes still match their record.
    pub fn get(&self, name: &str) -> Option<Entry> {
        if let Some((_, change)) = self.files.pending().get(name) {
            return change.clone();
        }
        self.files.read(name)
    }

    /// Records verified bytes (the bytes first, then their record), behind the caller.
    pub fn put(&self, name: &str, bytes: &[u8], meta: &Meta) {
        self.queue(
            name,
            Some(Entry {
                bytes: bytes.to_vec(),
                meta: meta.clone(),
            }),
        );
    }

    /// Forgets `name` (proved absent).
    pub fn remove(&self, name: &str) {
        self.queue(name, None);
    }

    fn queue(&self, name: &str, change: Option<Entry>) {
        let n = self
            .files
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.files.pending().insert(name.to_owned(), (n, change));
        if self.writes.send(name.to_owned()).is_err() {
            // No writer (its thread is gone): write here.
            self.files.write_pending(name);
        }
    }

    /// Waits until every change queued so far is on disk (tests; a clean stop).
    pub fn flush(&self) {
        while !self.files.pending().is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl Files {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Option<Entry>)>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn paths(&self, name: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(name),
            self.dir.join(format!("{name}.tuf-meta.json")),
        )
    }

    fn read(&self, name: &str) -> Option<Entry> {
        let (file, meta) = self.paths(name);
        let meta: Meta = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
        let bytes = std::fs::read(file).ok()?;
        (bytes.len() as u64 == meta.length && tuf_merkle::hash::sha256(&bytes) == meta.sha256)
            .then_some(Entry { bytes, meta })
    }

    /// Makes the change queued for `name` (if it was not made already), then forgets it unless
    /// a newer one was queued meanwhile.
    fn write_pending(&self, name: &str) {
        let Some((n, change)) = self.pending().get(name).cloned() else {
            return;
        };
        match &change {
            Some(entry) => {
                if let Err(e) = self.write(name, entry) {
                    eprintln!("tuf-verify proxy: cannot cache {name}: {e}");
                }
            }
            None => {
                let (file, meta) = self.paths(name);
                let _ = std::fs::remove_file(meta);
                let _ = std::fs::remove_file(file);
            }
        }
        let mut pending = self.pending();
        if pending.get(name).is_some_and(|(m, _)| *m == n) {
            pending.remove(name);
        }
    }

    fn write(&self, name: &str, entry: &Entry) -> Result<(), FsError> {
        let (file, record) = self.paths(name);
        // Private; not fsynced: a lost entry is a cache miss. Parents are created only when
        // missing (creating them every time takes the directory's lock for each file).
        let options = WriteOptions {
            create_parents: false,
            ..WriteOptions::PRIVATE.durability(atomic::Durability::Deferred)
        };
        let written = atomic::write(&file, &entry.bytes, options);
        match written {
            Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => atomic::write(
                &file,
                &entry.bytes,
                WriteOptions {
                    create_parents: true,
                    ..options
                },
            )?,
            other => other?,
        }
        atomic::write(
            &record,
            &serde_json::to_vec(&entry.meta).unwrap_or_default(),
            options,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn entries_changed_on_disk_are_misses() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(&d.path().join("c")).unwrap();
        let bytes = b"{\"name\":\"serde\"}\n";
        let meta = Meta {
            sha256: tuf_merkle::hash::sha256(bytes),
            length: bytes.len() as u64,
            timestamp_version: 3,
            upstream_etag: Some("\"x\"".into()),
        };
        c.put("se/rd/serde", bytes, &meta);
        // Served from memory until written, then from disk.
        assert_eq!(c.get("se/rd/serde").unwrap().meta, meta);
        c.flush();
        assert_eq!(c.get("se/rd/serde").unwrap().meta, meta);
        std::fs::write(d.path().join("c/se/rd/serde"), b"evil").unwrap();
        assert!(c.get("se/rd/serde").is_none());
        c.remove("se/rd/serde");
        assert!(c.get("se/rd/serde").is_none());
        c.flush();
        assert!(!d.path().join("c/se/rd/serde").exists());
        assert!(c.get("se/rd/serde").is_none());
        // A new cache on the same directory reads what the first one wrote.
        c.put("se/rd/serde", bytes, &meta);
        c.flush();
        let again = Cache::open(&d.path().join("c")).unwrap();
        assert_eq!(again.get("se/rd/serde").unwrap().bytes, bytes);
    }
}
