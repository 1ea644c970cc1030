//! Verified index files, kept on disk with what they verified against, so that cargo's
//! conditional requests are answered without a body and the proxy can serve offline.
//!
//! One file per entry, in one flat directory: its record (one JSON line: length, SHA-256, the
//! timestamp version, the index's entity tag), then the bytes. The name is the index path with
//! `/` written `+` (`se/rd/serde` is `se+rd+serde`), which no index path holds. A cold
//! resolution caches hundreds of files; one new inode each, with no parent directories and no
//! renames, is what a cold proxy's cache costs (a file, its record and its directory, each
//! created through a temporary file, were most of a cold proxy's CPU).
//!
//! Writes happen behind the requests, on one writer thread, and **only once requests pause**
//! ([`QUIET_BEFORE_WRITING`]; at most [`MAX_DEFER`] later, or sooner once [`MAX_PENDING_BYTES`]
//! are waiting): a resolution's files are written after cargo has them, not on the cores cargo
//! resolves on. Until its write is done an entry is served from memory, so a read sees every
//! change made before it. A crash loses at most the unwritten entries: cache misses.
//!
//! Property kept: an entry is written only after its bytes verified, and is read back only
//! with its recorded length and SHA-256 checked again (a file changed on disk, or cut short by
//! a crash, is a miss, never served).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tuf_files::FsError;
use tuf_merkle::Digest;

/// The most writes waiting for the writer thread; a request that would queue more waits.
const QUEUED: usize = 4096;
/// The writer waits until no entry was cached for this long...
pub const QUIET_BEFORE_WRITING: Duration = Duration::from_millis(100);
/// ... but not longer than this after the first change it holds...
pub const MAX_DEFER: Duration = Duration::from_secs(5);
/// ... nor while this many bytes wait in memory.
pub const MAX_PENDING_BYTES: usize = 64 << 20;
/// The longest record line read back (a record is about 200 bytes).
const MAX_RECORD: usize = 4096;

/// One verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// What it verified against, and the index's entity tag.
    pub meta: Meta,
}

/// The record an entry's file starts with.
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
    sequence: AtomicU64,
    /// The bytes of the entries in `pending`.
    pending_bytes: AtomicUsize,
    /// When the last change was queued, in microseconds since `opened`.
    last_change: AtomicU64,
    opened: Instant,
    /// Set by [`Cache::flush`]: write now, without waiting for a pause.
    flushing: AtomicBool,
}

impl Cache {
    /// The cache in `dir` (created, private), and its writer thread (which ends once every
    /// clone of the cache is dropped and the queued writes are made).
    pub fn open(dir: &Path) -> Result<Self, FsError> {
        tuf_files::dir::create_private_dir(dir)?;
        let files = Arc::new(Files {
            dir: dir.to_owned(),
            pending: Mutex::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            pending_bytes: AtomicUsize::new(0),
            last_change: AtomicU64::new(0),
            opened: Instant::now(),
            flushing: AtomicBool::new(false),
        });
        let (writes, queued) = mpsc::sync_channel::<String>(QUEUED);
        let writer = files.clone();
        std::thread::Builder::new()
            .name("tuf-proxy-cache".into())
            .spawn(move || {
                while let Ok(name) = queued.recv() {
                    writer.wait_for_a_pause();
                    writer.write_pending(&name);
                    // Everything queued meanwhile, in the same pause.
                    while let Ok(name) = queued.try_recv() {
                        writer.write_pending(&name);
                    }
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

    /// Records verified bytes, behind the caller.
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
        if file_name(name).is_none() {
            // Not an index path: nothing to keep (the server asks only for index paths).
            return;
        }
        let files = &self.files;
        let n = files.sequence.fetch_add(1, Ordering::Relaxed);
        let size = change.as_ref().map_or(0, |e| e.bytes.len());
        files.pending_bytes.fetch_add(size, Ordering::Relaxed);
        let replaced = files.pending().insert(name.to_owned(), (n, change));
        if let Some((_, Some(old))) = replaced {
            files
                .pending_bytes
                .fetch_sub(old.bytes.len(), Ordering::Relaxed);
        }
        files.touch();
        if self.writes.send(name.to_owned()).is_err() {
            // No writer (its thread is gone): write here.
            files.write_pending(name);
        }
    }

    /// Waits until every change queued so far is on disk, without waiting for a pause (a
    /// clean stop; tests).
    pub fn flush(&self) {
        self.files.flushing.store(true, Ordering::Relaxed);
        while !self.files.pending().is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.files.flushing.store(false, Ordering::Relaxed);
    }
}

/// The file an index path is kept in, `None` for anything that is not one.
fn file_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_./".contains(&b))
        && name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.'));
    ok.then(|| name.replace('/', "+"))
}

impl Files {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Option<Entry>)>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_change.store(self.now(), Ordering::Relaxed);
    }

    /// Returns once no change was queued for [`QUIET_BEFORE_WRITING`], or [`MAX_DEFER`] has
    /// passed, or too many bytes wait, or a flush asks.
    fn wait_for_a_pause(&self) {
        let quiet = u64::try_from(QUIET_BEFORE_WRITING.as_micros()).unwrap_or(u64::MAX);
        let give_up = Instant::now() + MAX_DEFER;
        loop {
            let since = self
                .now()
                .saturating_sub(self.last_change.load(Ordering::Relaxed));
            if since >= quiet
                || Instant::now() >= give_up
                || self.flushing.load(Ordering::Relaxed)
                || self.pending_bytes.load(Ordering::Relaxed) >= MAX_PENDING_BYTES
            {
                return;
            }
            // Short sleeps, so that a flush is not kept waiting long.
            std::thread::sleep(Duration::from_micros(quiet - since).min(Duration::from_millis(10)));
        }
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        file_name(name).map(|f| self.dir.join(f))
    }

    fn read(&self, name: &str) -> Option<Entry> {
        let data = std::fs::read(self.path(name)?).ok()?;
        let split = data.iter().take(MAX_RECORD).position(|&b| b == b'\n')?;
        let meta: Meta = serde_json::from_slice(&data[..split]).ok()?;
        let bytes = data[split + 1..].to_vec();
        (bytes.len() as u64 == meta.length && tuf_merkle::hash::sha256(&bytes) == meta.sha256)
            .then_some(Entry { bytes, meta })
    }

    /// Makes the change queued for `name` (if it was not made already), then forgets it unless
    /// a newer one was queued meanwhile.
    fn write_pending(&self, name: &str) {
        let Some((n, change)) = self.pending().get(name).cloned() else {
            return;
        };
        if let Some(path) = self.path(name) {
            match &change {
                Some(entry) => {
                    if let Err(e) = write_entry(&path, entry) {
                        eprintln!("tuf-verify proxy: cannot cache {name}: {e}");
                    }
                }
                None => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let mut pending = self.pending();
        if pending.get(name).is_some_and(|(m, _)| *m == n) {
            pending.remove(name);
            let size = change.as_ref().map_or(0, |e| e.bytes.len());
            self.pending_bytes.fetch_sub(size, Ordering::Relaxed);
        }
    }
}

/// Writes an entry's file in place: private, not fsynced, not through a temporary file. A
/// write cut short fails the length or SHA-256 check when read: a miss, like a lost one.
fn write_entry(path: &Path, entry: &Entry) -> Result<(), FsError> {
    let mut data = serde_json::to_vec(&entry.meta).unwrap_or_default();
    data.push(b'\n');
    data.extend_from_slice(&entry.bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(&data))
        .map_err(|e| FsError::new(path, "write", e))
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
        let file = d.path().join("c/se+rd+serde");
        let on_disk = std::fs::read(&file).unwrap();
        assert!(on_disk.ends_with(bytes), "the record, then the bytes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "private: {mode:o}");
        }
        // Cut short (a crash mid-write), then altered: misses.
        std::fs::write(&file, &on_disk[..on_disk.len() - 3]).unwrap();
        assert!(c.get("se/rd/serde").is_none());
        std::fs::write(&file, b"evil").unwrap();
        assert!(c.get("se/rd/serde").is_none());
        c.remove("se/rd/serde");
        assert!(c.get("se/rd/serde").is_none());
        c.flush();
        assert!(!file.exists());
        assert!(c.get("se/rd/serde").is_none());
        // A new cache on the same directory reads what the first one wrote.
        c.put("se/rd/serde", bytes, &meta);
        c.flush();
        let again = Cache::open(&d.path().join("c")).unwrap();
        assert_eq!(again.get("se/rd/serde").unwrap().bytes, bytes);
    }

    fn meta_of(bytes: &[u8]) -> Meta {
        Meta {
            sha256: tuf_merkle::hash::sha256(bytes),
            length: bytes.len() as u64,
            timestamp_version: 1,
            upstream_etag: None,
        }
    }

    #[test]
    fn writes_wait_for_a_pause_in_the_changes() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(&d.path().join("c")).unwrap();
        let on_disk = |n: usize| d.path().join(format!("c/3+a+a{n}")).exists();
        // A burst: a change every 10 ms for about half a second; nothing is written meanwhile.
        let started = Instant::now();
        for n in 0..50 {
            c.put(&format!("3/a/a{n}"), b"x", &meta_of(b"x"));
            std::thread::sleep(Duration::from_millis(10));
        }
        let burst = started.elapsed();
        assert!(
            burst < MAX_DEFER,
            "the burst ({burst:?}) is shorter than MAX_DEFER"
        );
        assert!((0..50).all(|n| !on_disk(n)), "written during the burst");
        // Every entry is served from memory meanwhile.
        assert!((0..50).all(|n| c.get(&format!("3/a/a{n}")).is_some()));
        // Once the changes pause, all of them are written.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(0..50).all(on_disk) {
            assert!(Instant::now() < deadline, "not written after the pause");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(c.files.pending().is_empty());
        assert_eq!(c.files.pending_bytes.load(Ordering::Relaxed), 0);
        // A flush writes at once, without waiting for a pause.
        c.put("3/b/b", b"y", &meta_of(b"y"));
        let started = Instant::now();
        c.flush();
        assert!(d.path().join("c/3+b+b").exists());
        assert!(
            started.elapsed() < QUIET_BEFORE_WRITING,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn only_index_paths_are_kept() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(&d.path().join("c")).unwrap();
        for bad in [
            "",
            "../x",
            "a/../../x",
            "se/rd/.hidden",
            "a+b",
            "Serde",
            "a\0b",
        ] {
            c.put(bad, b"x", &meta_of(b"x"));
            assert!(c.get(bad).is_none(), "{bad:?}");
        }
        c.flush();
        assert_eq!(std::fs::read_dir(d.path().join("c")).unwrap().count(), 0);
        assert!(!d.path().join("x").exists());
        assert_eq!(file_name("config.json").unwrap(), "config.json");
        assert_eq!(file_name("1/a").unwrap(), "1+a");
    }
}
