//! `tuf-files`: the one implementation of file writes, directory locks and confined reads that
//! every tool of the workspace (signer, client, ceremony, key files) uses.
//!
//! Properties kept:
//! - [`atomic::write`]: a reader sees the old contents or the new, never a mix; the temporary
//!   file has an unpredictable name and is created with `O_EXCL | O_NOFOLLOW` inside a directory
//!   opened once, so a symlink planted where a temporary file or the file itself would go is never
//!   followed, and a concurrent writer in the same directory never shares a temporary file; with
//!   [`atomic::Durability::Durable`] the file and its directory entry survive a power loss once
//!   the call returns; with [`atomic::Replace::Never`] an existing file is never replaced.
//! - [`lock::DirLock`]: one holder at a time per lock file (`flock`), released by the kernel
//!   when the holder dies, so a crash never leaves a stale lock.
//! - [`beneath::open_file`]: a read confined to a directory never follows a symlink, in any
//!   component, and opens regular files only.
//!
//! Errors name the path and the action; callers that answer strangers (the HTTP API) log them
//! and answer with a code instead.

pub mod atomic;
pub mod beneath;
pub mod dir;
pub mod lock;

use std::path::{Path, PathBuf};

pub use atomic::{Durability, Replace, WriteOptions};
pub use lock::{DirLock, LockError};

/// An I/O error with the path and the action it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct FsError {
    /// The file or directory.
    pub path: PathBuf,
    /// What was being done.
    pub action: &'static str,
    /// The error.
    #[source]
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

    /// Whether the error is "the file already exists" (from [`Replace::Never`]).
    pub fn is_already_exists(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::AlreadyExists
    }

    /// Whether the disk (or quota) is full.
    pub fn is_storage_full(&self) -> bool {
        matches!(self.source.raw_os_error(), Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error() || code == rustix::io::Errno::DQUOT.raw_os_error())
    }
}

/// Where the tests of the crates above can find the temporary-name rule.
pub use atomic::is_temporary_name;
