//! The data directory lock.
//!
//! Property kept: at most one process writes a data directory at a time. Two signers on one
//! directory would each sequence their own changes and sign two different histories under the
//! same timestamp versions; the second one refuses to start instead. The lock is an exclusive
//! `flock` on `<data>/signer.lock`, held for the life of the [`DataDirLock`] and released by the
//! kernel when the process dies, so a crash never leaves a stale lock behind.

use std::path::{Path, PathBuf};

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "data directory {dir} is in use by another tuf-signer (pid {holder}); stop that process \
         or choose another --data-dir"
    )]
    Held {
        /// The data directory.
        dir: PathBuf,
        /// The pid the holder wrote, or "unknown".
        holder: String,
    },
    /// I/O.
    #[error("cannot lock data directory {dir}: {source}")]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// An exclusive lock on a data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _held: tuf_files::DirLock,
}

impl DataDirLock {
    /// Takes the lock on `dir` (creating the directory if needed) without waiting.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        tuf_files::dir::create_private_dir(dir).map_err(|e| LockError::Io {
            dir: dir.to_owned(),
            source: e.source,
        })?;
        match tuf_files::DirLock::try_acquire(&dir.join("signer.lock")) {
            Ok(lock) => Ok(DataDirLock { _held: lock }),
            Err(tuf_files::LockError::Held { holder, .. }) => Err(LockError::Held {
                dir: dir.to_owned(),
                holder,
            }),
            Err(tuf_files::LockError::Io { source, .. }) => Err(LockError::Io {
                dir: dir.to_owned(),
                source,
            }),
            Err(other) => Err(LockError::Io {
                dir: dir.to_owned(),
                source: std::io::Error::other(other.to_string()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(err.to_string().contains(&std::process::id().to_string()));
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
