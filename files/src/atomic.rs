//! Atomic file writes: a temporary file beside the target, written, optionally fsynced, then
//! renamed (or linked) into place, then the directory optionally fsynced.
//!
//! Properties kept:
//! - Readers see the old file or the new one, never a partial one.
//! - The temporary name carries 64 random bits and is created with `O_CREAT | O_EXCL |
//!   O_NOFOLLOW` relative to a directory descriptor opened once: a symlink planted under a
//!   predictable name is never followed (there is no predictable name), a concurrent writer of
//!   the same file in the same process never shares a temporary file, and the rename happens in
//!   the directory that was checked.
//! - [`Durability::Durable`]: once [`write`] returns, the contents and the directory entry
//!   survive a power loss (file fsync before the rename, directory fsync after).
//! - [`Replace::Never`]: an existing file (or symlink) at the path is never replaced; the call
//!   fails with [`std::io::ErrorKind::AlreadyExists`] and changes nothing.
//! - A failed write removes its temporary file.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::FsError;

/// Whether the new contents must survive a power loss when [`write`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and the directory after it.
    Durable,
    /// No fsync: readers still never see a partial file, but a power loss may lose the write.
    /// Only for files rebuilt from durable state elsewhere (a published repository rebuilt from
    /// a write-ahead log), made durable in bulk later ([`crate::dir::sync_filesystem`]).
    Deferred,
}

/// What to do when the path already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace it atomically.
    Always,
    /// Never replace it: fail with `AlreadyExists` (an immutable file).
    Never,
}

/// How [`write`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// The permission bits the file gets, exactly (the umask does not apply).
    pub mode: u32,
    /// See [`Durability`].
    pub durability: Durability,
    /// See [`Replace`].
    pub replace: Replace,
    /// Create missing parent directories (mode 0755, less the umask).
    pub create_parents: bool,
}

impl WriteOptions {
    /// A world-readable (0644), durable file that replaces any older version.
    pub const PUBLIC: WriteOptions = WriteOptions {
        mode: 0o644,
        durability: Durability::Durable,
        replace: Replace::Always,
        create_parents: true,
    };
    /// A private (0600), durable file that replaces any older version.
    pub const PRIVATE: WriteOptions = WriteOptions {
        mode: 0o600,
        ..WriteOptions::PUBLIC
    };

    /// The same options with `durability`.
    pub const fn durability(self, durability: Durability) -> Self {
        WriteOptions { durability, ..self }
    }

    /// The same options with `replace`.
    pub const fn replace(self, replace: Replace) -> Self {
        WriteOptions { replace, ..self }
    }
}

/// Writes `bytes` to `path` atomically with `options`.
pub fn write(path: &Path, bytes: &[u8], options: WriteOptions) -> Result<(), FsError> {
    let (dir, name) = split(path)?;
    if options.create_parents {
        std::fs::create_dir_all(dir).map_err(|e| FsError::new(dir, "create directory", e))?;
    }
    let dir_fd = open_dir(dir)?;
    let tmp = temporary_name(name).map_err(|e| FsError::new(path, "choose a temporary name", e))?;
    let tmp_path = dir.join(&tmp);
    let fd = rustix::fs::openat(
        &dir_fd,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(options.mode),
    )
    .map_err(|e| FsError::new(&tmp_path, "create temporary file", e.into()))?;
    let written =
        fill(fd, bytes, options).map_err(|(action, e)| FsError::new(&tmp_path, action, e));
    let placed = written.and_then(|()| place(&dir_fd, &tmp, name, options.replace, path));
    if let Err(e) = placed {
        let _ = rustix::fs::unlinkat(&dir_fd, tmp.as_str(), AtFlags::empty());
        return Err(e);
    }
    if options.durability == Durability::Durable {
        rustix::fs::fsync(&dir_fd).map_err(|e| FsError::new(dir, "fsync directory", e.into()))?;
    }
    Ok(())
}

/// Writes an immutable file: creates it, or accepts it as it is when it already holds exactly
/// `bytes` (publishing the same thing again after a crash). Returns whether it was created. A
/// file that exists with other contents is never touched: the error has kind `AlreadyExists`.
pub fn write_immutable(path: &Path, bytes: &[u8], options: WriteOptions) -> Result<bool, FsError> {
    if same_contents(path, bytes)? {
        return Ok(false);
    }
    match write(path, bytes, options.replace(Replace::Never)) {
        Ok(()) => Ok(true),
        // A concurrent writer of the same bytes won the race: that is success too.
        Err(e) if e.is_already_exists() && same_contents(path, bytes)? => Ok(false),
        Err(e) if e.is_already_exists() => Err(FsError::new(
            path,
            "create immutable file",
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it already exists with other contents (immutable files are never replaced)",
            ),
        )),
        Err(e) => Err(e),
    }
}

/// Whether `path` is a regular file (not followed if a symlink) holding exactly `bytes`.
pub fn same_contents(path: &Path, bytes: &[u8]) -> Result<bool, FsError> {
    let (dir, name) = split(path)?;
    let dir_fd = match open_dir(dir) {
        Ok(fd) => fd,
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let fd = match rustix::fs::openat(
        &dir_fd,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(false),
        // A symlink (ELOOP) or anything else that is not our file: not the same contents.
        Err(Errno::LOOP) | Err(Errno::NXIO) => return Ok(false),
        Err(e) => return Err(FsError::new(path, "open", e.into())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| FsError::new(path, "stat", e.into()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile
        || u64::try_from(stat.st_size).ok() != Some(bytes.len() as u64)
    {
        return Ok(false);
    }
    let mut on_disk = Vec::with_capacity(bytes.len());
    std::io::Read::read_to_end(&mut File::from(fd), &mut on_disk)
        .map_err(|e| FsError::new(path, "read", e))?;
    Ok(on_disk == bytes)
}

/// Whether `name` is a temporary file name [`write`] uses (or an older release used), which a
/// process killed mid-write leaves behind and which is safe to remove at start.
pub fn is_temporary_name(name: &str) -> bool {
    if !name.starts_with('.') {
        return false;
    }
    let hex_tail = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match name.rsplit_once(".tmp") {
        Some((_, "")) => true,
        Some((_, rest)) => {
            rest.strip_prefix('-')
                .is_some_and(|r| hex_tail(r) || digits(r))
                || rest.strip_prefix('.').is_some_and(digits)
        }
        None => false,
    }
}

fn split(path: &Path) -> Result<(&Path, &str), FsError> {
    let invalid = |why: &str| {
        FsError::new(
            path,
            "write",
            std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned()),
        )
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| invalid("not a UTF-8 file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

fn open_dir(dir: &Path) -> Result<OwnedFd, FsError> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FsError::new(dir, "open directory", e.into()))
}

/// `.NAME.tmp-RRRRRRRRRRRRRRRR` with 64 random bits; NAME cut to 128 bytes so that the whole
/// stays under the 255-byte limit of a file name.
fn temporary_name(name: &str) -> std::io::Result<String> {
    let mut random = [0u8; 8];
    rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty())?;
    let mut cut = name.len().min(128);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(".{}.tmp-{hex}", &name[..cut]))
}

fn fill(
    fd: OwnedFd,
    bytes: &[u8],
    options: WriteOptions,
) -> Result<(), (&'static str, std::io::Error)> {
    // The umask may have removed bits: set exactly what was asked.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(options.mode))
        .map_err(|e| ("set permissions of", e.into()))?;
    let mut file = File::from(fd);
    file.write_all(bytes).map_err(|e| ("write", e))?;
    if options.durability == Durability::Durable {
        file.sync_all().map_err(|e| ("fsync", e))?;
    }
    Ok(())
}

fn place(
    dir: &impl AsFd,
    tmp: &str,
    name: &str,
    replace: Replace,
    path: &Path,
) -> Result<(), FsError> {
    match replace {
        Replace::Always => rustix::fs::renameat(dir, tmp, dir, name)
            .map_err(|e| FsError::new(path, "rename into place", e.into())),
        Replace::Never => {
            match rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::NOREPLACE) {
                Ok(()) => Ok(()),
                // Filesystems without RENAME_NOREPLACE: a hard link also refuses to replace.
                Err(Errno::INVAL) | Err(Errno::NOSYS) | Err(Errno::NOTSUP) => {
                    rustix::fs::linkat(dir, tmp, dir, name, AtFlags::empty())
                        .map_err(|e| FsError::new(path, "link into place", e.into()))?;
                    let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
                    Ok(())
                }
                Err(e) => Err(FsError::new(path, "create", e.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_atomically_with_the_exact_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write(&p, b"one", WriteOptions::PRIVATE).unwrap();
        write(&p, b"two", WriteOptions::PRIVATE).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(names(dir.path()), ["a.json"]);
    }

    #[test]
    fn a_planted_symlink_is_replaced_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let p = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        write(&p, b"new", WriteOptions::PUBLIC).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!std::fs::symlink_metadata(&p).unwrap().is_symlink());
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn never_replace_keeps_the_existing_file_and_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1.json");
        write(&p, b"first", WriteOptions::PUBLIC.replace(Replace::Never)).unwrap();
        let err = write(&p, b"second", WriteOptions::PUBLIC.replace(Replace::Never)).unwrap_err();
        assert!(err.is_already_exists(), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        // Immutable writes accept the same bytes again and refuse others.
        assert!(!write_immutable(&p, b"first", WriteOptions::PUBLIC).unwrap());
        assert!(write_immutable(&p, b"other", WriteOptions::PUBLIC).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        let link = dir.path().join("2.json");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(write_immutable(&link, b"first", WriteOptions::PUBLIC).is_err());
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(names(dir.path()), ["1.json", "2.json"]);
    }

    #[test]
    fn concurrent_writers_of_one_file_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shared");
        std::thread::scope(|s| {
            for i in 0..16u8 {
                let p = &p;
                s.spawn(move || {
                    for _ in 0..20 {
                        write(
                            p,
                            &[i; 1000],
                            WriteOptions::PUBLIC.durability(Durability::Deferred),
                        )
                        .unwrap();
                        assert!(
                            write_immutable(
                                &p.with_extension("imm"),
                                b"same",
                                WriteOptions::PUBLIC
                            )
                            .is_ok()
                        );
                    }
                });
            }
        });
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.iter().all(|b| *b == bytes[0]));
        assert_eq!(names(dir.path()), ["shared", "shared.imm"]);
    }

    #[test]
    fn temporary_names_are_recognised() {
        let t = temporary_name("x.json").unwrap();
        assert!(is_temporary_name(&t), "{t}");
        assert_ne!(t, temporary_name("x.json").unwrap());
        let long = "é".repeat(120);
        assert!(temporary_name(&long).unwrap().len() < 160);
        for legacy in [
            ".a.json.tmp.1234",
            ".state.json.tmp",
            ".ceremony.json.tmp-99",
        ] {
            assert!(is_temporary_name(legacy), "{legacy}");
        }
        for not in ["a.json", ".hidden", ".a.tmp-xyz", "tmp", ".a.tmpfile"] {
            assert!(!is_temporary_name(not), "{not}");
        }
    }
}
