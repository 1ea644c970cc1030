//! Directories: private creation, fsync, flushing a whole filesystem, and removing the temporary
//! files a killed writer left behind.

use std::fs::{self, File};
use std::path::Path;

use crate::FsError;

/// Creates a directory and its missing parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), FsError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| FsError::new(dir, "create directory", e))
}

/// fsyncs a directory, so that renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), FsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FsError::new(dir, "fsync directory", e))
}

/// Flushes every file of the filesystem holding `dir` to disk (`syncfs`).
pub fn sync_filesystem(dir: &Path) -> Result<(), FsError> {
    let d = File::open(dir).map_err(|e| FsError::new(dir, "open directory", e))?;
    rustix::fs::syncfs(&d).map_err(|e| FsError::new(dir, "syncfs", e.into()))
}

/// Removes, from `dir` only (not below it), the temporary files of [`crate::atomic::write`] that
/// a killed process left behind. Regular files only; symlinks and directories are left alone.
/// Call only while holding the lock that excludes every other writer of `dir`.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(crate::atomic::is_temporary_name)
            && entry.file_type().is_ok_and(|t| t.is_file())
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stale_temporaries_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for n in [".a.tmp-0123456789abcdef", ".b.tmp.77", "keep.json", ".keep"] {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join(".d.tmp-0123456789abcdef")).unwrap();
        assert_eq!(remove_stale_temps(dir.path()), 2);
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".d.tmp-0123456789abcdef", ".keep", "keep.json"]);
    }
}
