//! Reads confined to a directory: open `root/a/b/c` one component at a time with `O_NOFOLLOW`,
//! so that no symlink anywhere below `root` is followed, and only a regular file is returned.
//!
//! Property kept: whatever a directory under `root` holds (a symlink to `/etc/shadow`, a FIFO,
//! a device), [`open_file`] never reads anything outside `root` and never blocks on a special
//! file. `root` itself is trusted (it comes from the configuration).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// Why a confined open failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeneathError {
    /// No such file (or a component is not a directory).
    #[error("not found")]
    NotFound,
    /// A component is a symlink.
    #[error("a path component is a symbolic link")]
    Symlink,
    /// The path names something other than a regular file.
    #[error("not a regular file")]
    NotRegular,
    /// A component is empty, `.` or `..`.
    #[error("not a plain relative path")]
    BadPath,
    /// Any other I/O error.
    #[error(transparent)]
    Io(std::io::Error),
}

/// Opens the regular file `relative` (components separated by `/`) under `root` for reading,
/// following no symlink. Returns the file and its length.
pub fn open_file(root: &Path, relative: &str) -> Result<(File, u64), BeneathError> {
    let mut parts = relative.split('/').peekable();
    let mut dir: OwnedFd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(map)?;
    while let Some(part) = parts.next() {
        if part.is_empty() || part == "." || part == ".." {
            return Err(BeneathError::BadPath);
        }
        let last = parts.peek().is_none();
        let flags = if last {
            // NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK
        } else {
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC
        };
        let fd = match rustix::fs::openat(&dir, part, flags, Mode::empty()) {
            Ok(fd) => fd,
            // `O_DIRECTORY | O_NOFOLLOW` on a symlink says ENOTDIR, not ELOOP: tell them apart.
            Err(Errno::NOTDIR)
                if rustix::fs::statat(&dir, part, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink) =>
            {
                return Err(BeneathError::Symlink);
            }
            Err(e) => return Err(map(e)),
        };
        if last {
            let stat = rustix::fs::fstat(&fd).map_err(map)?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Err(BeneathError::NotRegular);
            }
            // Back to blocking reads for the caller.
            rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(map)?;
            return Ok((File::from(fd), u64::try_from(stat.st_size).unwrap_or(0)));
        }
        dir = fd;
    }
    Err(BeneathError::BadPath)
}

fn map(e: Errno) -> BeneathError {
    match e {
        Errno::NOENT | Errno::NOTDIR => BeneathError::NotFound,
        Errno::LOOP => BeneathError::Symlink,
        Errno::NXIO => BeneathError::NotRegular,
        other => BeneathError::Io(other.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read;

    #[test]
    fn regular_files_only_and_no_symlink_anywhere() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/file"), b"hello").unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"secret").unwrap();
        std::os::unix::fs::symlink(&secret, root.join("a/link")).unwrap();
        std::os::unix::fs::symlink(root.join("a/b"), root.join("dirlink")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();

        let (mut f, len) = open_file(&root, "a/b/file").unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!((s.as_str(), len), ("hello", 5));
        assert!(matches!(
            open_file(&root, "a/link"),
            Err(BeneathError::Symlink)
        ));
        assert!(matches!(
            open_file(&root, "dirlink/file"),
            Err(BeneathError::Symlink)
        ));
        assert!(matches!(
            open_file(&root, "fifo"),
            Err(BeneathError::NotRegular)
        ));
        assert!(matches!(
            open_file(&root, "a/b"),
            Err(BeneathError::NotRegular)
        ));
        assert!(matches!(
            open_file(&root, "a/nope"),
            Err(BeneathError::NotFound)
        ));
        assert!(matches!(
            open_file(&root, "a/b/file/x"),
            Err(BeneathError::NotFound)
        ));
        assert!(matches!(
            open_file(&root, "a/../a/b/file"),
            Err(BeneathError::BadPath)
        ));
        assert!(matches!(
            open_file(&root, "a//b/file"),
            Err(BeneathError::BadPath)
        ));
    }
}
