//! Every file the ceremony reads or writes on its media goes through here.
//!
//! Properties kept:
//! - every read is bounded: at most the limit of its kind plus one byte is read, and a larger
//!   file is refused with [`CeremonyError::TooLarge`] naming the file and the limit, so a huge
//!   file (or `/dev/zero`) planted on the media cannot exhaust memory;
//! - every write is `tuf_files::atomic::write` (an unpredictable temporary name created with
//!   `O_EXCL | O_NOFOLLOW`, fsync, rename or no-replace link, directory fsync): a symlink
//!   planted where a temporary file or the file itself goes is never written through;
//! - the transcript, the one file appended to in place, is opened with `O_NOFOLLOW` and must be
//!   a regular file, and it is opened before the step writes anything else.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use tuf_files::WriteOptions;

use crate::error::CeremonyError;

/// The largest root metadata file read (`N.root.json`): a root of this tool is a few KB.
pub const MAX_ROOT_FILE: u64 = 512 * 1024;
/// The largest `ceremony.json` read: every role's draft and signatures.
pub const MAX_CEREMONY_FILE: u64 = 4 << 20;
/// The largest transcript read: about one KB per step.
pub const MAX_TRANSCRIPT_FILE: u64 = 16 << 20;
/// The largest public key file read (a PEM, a DER SubjectPublicKeyInfo, or the output of
/// `tuf-signer key export`). Private key files are read by `tuf_keys` with its own limit,
/// [`tuf_keys::MAX_KEY_FILE_LEN`].
pub const MAX_PUBLIC_KEY_FILE: u64 = 64 * 1024;

/// How ceremony files are written: world-readable (nothing on the media is secret), durable,
/// replacing, into a directory that must exist.
const WRITE: WriteOptions = WriteOptions {
    create_parents: false,
    ..WriteOptions::PUBLIC
};

/// Reads `path`, refusing it if it is larger than `limit` bytes; `what` names the kind of file
/// in the error ("a root", "the ceremony file").
pub fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, CeremonyError> {
    let file = File::open(path).map_err(CeremonyError::io("open", path))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(CeremonyError::io("read", path))?;
    if bytes.len() as u64 > limit {
        return Err(CeremonyError::TooLarge {
            path: path.to_owned(),
            limit,
            what,
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically and durably (see the module documentation).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), CeremonyError> {
    Ok(tuf_files::atomic::write(path, bytes, WRITE)?)
}

/// Writes `bytes` to `path` atomically and durably, creating missing directories, and never
/// replacing an existing file (or symlink): [`CeremonyError::OutputExists`] then.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CeremonyError> {
    let options = WriteOptions {
        create_parents: true,
        ..WRITE.replace(tuf_files::Replace::Never)
    };
    tuf_files::atomic::write(path, bytes, options).map_err(|e| {
        if e.is_already_exists() {
            CeremonyError::OutputExists(path.to_owned())
        } else {
            e.into()
        }
    })
}

/// Opens `path` for appending (creating it), refusing a symlink or anything but a regular file.
pub fn open_append(path: &Path) -> Result<File, CeremonyError> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        // NONBLOCK: a FIFO planted here must not hang the tool; it is refused below.
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                CeremonyError::NotARegularFile(path.to_owned())
            } else {
                CeremonyError::io("open for appending", path)(e)
            }
        })?;
    let meta = file
        .metadata()
        .map_err(CeremonyError::io("open for appending", path))?;
    if !meta.is_file() {
        return Err(CeremonyError::NotARegularFile(path.to_owned()));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_stop_one_byte_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_limited(&p, 5, "a test file").unwrap(), b"12345");
        let err = read_limited(&p, 4, "a test file").unwrap_err();
        assert!(
            matches!(&err, CeremonyError::TooLarge { limit: 4, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("larger than 4 bytes"), "{err}");
        let err = read_limited(Path::new("/dev/zero"), 1024, "a test file").unwrap_err();
        assert!(matches!(err, CeremonyError::TooLarge { .. }), "{err}");
        assert!(
            read_limited(&dir.path().join("none"), 4, "x")
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn appends_refuse_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            open_append(&link),
            Err(CeremonyError::NotARegularFile(_))
        ));
        assert!(matches!(
            open_append(dir.path()),
            Err(CeremonyError::NotARegularFile(_)) | Err(CeremonyError::Io { .. })
        ));
        assert!(open_append(&dir.path().join("new")).is_ok());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
