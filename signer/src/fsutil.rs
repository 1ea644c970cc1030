//! Durable file writes: write a temporary file, fsync it, rename it over the target, fsync the
//! directory.
//!
//! Property kept: a reader (a client fetching the published repository, or the signer after a
//! crash) sees either the old or the new contents of a file, never a partial one, and once
//! [`write_atomic`] returns the new contents survive a power loss.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// An I/O error with the path and action it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct FsError {
    /// The file or directory.
    pub path: PathBuf,
    /// What was being done.
    pub action: &'static str,
    /// The error.
    pub source: std::io::Error,
}

impl FsError {
    /// Wraps an I/O error.
    pub fn new(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        FsError {
            path: path.to_owned(),
            action,
            source,
        }
    }
}

/// Writes `bytes` to `path` atomically and durably (mode 0644).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_atomic_mode(path, bytes, 0o644)
}

/// Writes `bytes` to `path` atomically and durably, creating it with `mode`.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| FsError::new(dir, "create directory", e))?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| FsError::new(&tmp, "create", e))?;
        f.write_all(bytes)
            .map_err(|e| FsError::new(&tmp, "write", e))?;
        f.sync_all().map_err(|e| FsError::new(&tmp, "fsync", e))?;
        fs::rename(&tmp, path).map_err(|e| FsError::new(path, "rename into place", e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically (temporary file, rename) but without fsync: readers never
/// see a partial file, but a power loss may lose it. Only for files that can be rebuilt from
/// durable state (the published repository, rebuilt from the write-ahead log's round records);
/// [`sync_filesystem`] makes them durable in bulk.
pub fn write_atomic_nosync(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| FsError::new(dir, "create directory", e))?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let result = fs::write(&tmp, bytes)
        .map_err(|e| FsError::new(&tmp, "write", e))
        .and_then(|()| {
            fs::rename(&tmp, path).map_err(|e| FsError::new(path, "rename into place", e))
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Flushes every file of the filesystem holding `dir` to disk (`syncfs`).
pub fn sync_filesystem(dir: &Path) -> Result<(), FsError> {
    let d = File::open(dir).map_err(|e| FsError::new(dir, "open directory", e))?;
    rustix::fs::syncfs(&d).map_err(|e| FsError::new(dir, "syncfs", e.into()))
}

/// fsyncs a directory, so that renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), FsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FsError::new(dir, "fsync directory", e))
}

/// Creates a directory and its parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), FsError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| FsError::new(dir, "create directory", e))
}

/// Removes the temporary files that [`write_atomic`] leaves behind when the process is killed
/// mid-write (`.NAME.tmp.PID`), in `dir` only. Call with the data directory lock held.
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.')
            && name.contains(".tmp.")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}
