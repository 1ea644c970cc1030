//! Verified index files, kept on disk with what they verified against, so that cargo's
//! conditional requests are answered without a body and the proxy can serve offline.
//!
//! Property kept: an entry is written only after its bytes verified, and is read back only
//! with its recorded length and SHA-256 checked again (a file changed on disk is a miss, never
//! served).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tuf_files::FsError;
use tuf_files::atomic::{self, WriteOptions};
use tuf_merkle::Digest;

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
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir` (created, private).
    pub fn open(dir: &Path) -> Result<Self, FsError> {
        tuf_files::dir::create_private_dir(dir)?;
        Ok(Cache {
            dir: dir.to_owned(),
        })
    }

    fn paths(&self, name: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(name),
            self.dir.join(format!("{name}.tuf-meta.json")),
        )
    }

    /// The entry of `name`, if there is one whose bytes still match their record.
    pub fn get(&self, name: &str) -> Option<Entry> {
        let (file, meta) = self.paths(name);
        let meta: Meta = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
        let bytes = std::fs::read(file).ok()?;
        (bytes.len() as u64 == meta.length && tuf_merkle::hash::sha256(&bytes) == meta.sha256)
            .then_some(Entry { bytes, meta })
    }

    /// Records verified bytes (the bytes first, then their record).
    pub fn put(&self, name: &str, bytes: &[u8], meta: &Meta) -> Result<(), FsError> {
        let (file, record) = self.paths(name);
        // Private, parents created; not fsynced: a lost entry is a cache miss.
        let options = WriteOptions::PRIVATE.durability(atomic::Durability::Deferred);
        atomic::write(&file, bytes, options)?;
        atomic::write(
            &record,
            &serde_json::to_vec(meta).unwrap_or_default(),
            options,
        )
    }

    /// Forgets `name` (proved absent).
    pub fn remove(&self, name: &str) {
        let (file, meta) = self.paths(name);
        let _ = std::fs::remove_file(meta);
        let _ = std::fs::remove_file(file);
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
        c.put("se/rd/serde", bytes, &meta).unwrap();
        assert_eq!(c.get("se/rd/serde").unwrap().meta, meta);
        std::fs::write(d.path().join("c/se/rd/serde"), b"evil").unwrap();
        assert!(c.get("se/rd/serde").is_none());
        c.remove("se/rd/serde");
        assert!(c.get("se/rd/serde").is_none());
    }
}
