//! The client's local state: one directory per role.
//!
//! ```text
//! root.json        the trusted root, exact bytes (replaced as the chain is walked)
//! timestamp.json   the trusted timestamp, exact bytes
//! snapshot.json    classic roles: the trusted snapshot metadata, exact bytes
//! targets.json     classic roles: the trusted targets metadata, exact bytes
//! state.json       versions, the trusted merkle_root, and the last leaf version seen per name
//! client.lock      held (flock) by the one client that has the directory open
//! ```
//!
//! Properties kept:
//! - Every file is written with `tuf_files::atomic::write`: an unpredictable temporary name
//!   created with `O_EXCL | O_NOFOLLOW`, fsync, rename, fsync of the directory. A crash leaves
//!   the old or the new file, never a mix, and a symlink planted in the directory (where a
//!   temporary file or the file itself goes) is replaced, never written through.
//! - Each role is persisted as soon as it is verified (the file, then `state.json`), so a
//!   refresh that fails part-way keeps what it verified and the rollback floor only rises. A
//!   root or timestamp on disk newer than `state.json` (a crash between the two writes) is
//!   re-verified on the next refresh anyway.
//! - One client at a time per directory ([`StateLock`]): a [`crate::Client`] holds an exclusive
//!   lock on `client.lock` from before it reads the state until it is dropped, so concurrent
//!   runs (several `tuf-verify` processes, or threads of one embedder) serialize their
//!   read-modify-write instead of losing each other's names. The kernel releases the lock of a
//!   process that dies.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tuf_files::{DirLock, WriteOptions};

use crate::error::ClientError;

/// How a role lists its targets (D2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Mode {
    /// TAP-16: targets are leaves of the Merkle tree whose root the timestamp carries.
    Merkle,
    /// Targets are listed in `targets.json`, reached through snapshot.
    Classic,
}

/// A mode other than `merkle` and `classic`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mode {0:?} is neither merkle nor classic")]
pub struct UnknownMode(pub String);

impl std::str::FromStr for Mode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, UnknownMode> {
        match s {
            "merkle" => Ok(Mode::Merkle),
            "classic" => Ok(Mode::Classic),
            _ => Err(UnknownMode(s.to_owned())),
        }
    }
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Format of this file (1).
    pub format: u32,
    /// The role (`crates.io`): its repository is `<base>/<role>/`.
    pub role: String,
    /// Merkle or classic.
    pub mode: Mode,
    /// The trusted root's version.
    pub root_version: u64,
    /// The trusted timestamp's version (0: none yet).
    pub timestamp_version: u64,
    /// When the trusted timestamp expires.
    pub timestamp_expires: Option<jiff::Timestamp>,
    /// The trusted timestamp's `merkle_root`.
    pub merkle_root: Option<String>,
    /// The snapshot version the trusted timestamp points at.
    pub snapshot_version: u64,
    /// The trusted targets version (classic roles).
    pub targets_version: u64,
    /// The timestamp version proofs are checked against: the trusted timestamp, or with a
    /// required attestation, the last attested one.
    pub proof_version: u64,
    /// The root proofs are checked against.
    pub proof_root: Option<String>,
    /// The highest attested timestamp version accepted (attestations never go back).
    pub attested_version: u64,
    /// The last leaf version this client verified, per name (0: proved absent).
    pub leaves: BTreeMap<String, u64>,
}

impl State {
    /// A fresh state for `role`, trusting root `root_version`.
    pub fn new(role: &str, mode: Mode, root_version: u64) -> Self {
        State {
            format: 1,
            role: role.to_owned(),
            mode,
            root_version,
            timestamp_version: 0,
            timestamp_expires: None,
            merkle_root: None,
            snapshot_version: 0,
            targets_version: 0,
            proof_version: 0,
            proof_root: None,
            attested_version: 0,
            leaves: BTreeMap::new(),
        }
    }

    /// Loads `dir/state.json`.
    pub fn load(dir: &Path) -> Result<Self, ClientError> {
        let path = dir.join("state.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::NotInitialized(dir.to_owned()));
            }
            Err(e) => return Err(ClientError::local(&path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|source| ClientError::StateJson { path, source })
    }

    /// Writes `dir/state.json` atomically.
    pub fn store(&self, dir: &Path) -> Result<(), ClientError> {
        let bytes = serde_json::to_vec(self).map_err(|source| ClientError::StateJson {
            path: dir.to_owned(),
            source,
        })?;
        write_atomic(&dir.join("state.json"), &bytes)
    }
}

/// Writes `path` atomically and durably (mode 0644, missing parent directories created), never
/// following a symlink planted at `path` or beside it. A bare file name (`out`, whose parent is
/// the empty path) is written in the current directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let in_current_dir;
    let path = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => {
            in_current_dir = Path::new(".").join(path);
            &in_current_dir
        }
        _ => path,
    };
    Ok(tuf_files::atomic::write(path, bytes, WriteOptions::PUBLIC)?)
}

/// The lock file in a state directory.
pub const LOCK_FILE: &str = "client.lock";

/// State directories (device, inode) locked by this process. `flock` locks of one process
/// through two open files exclude each other, so a second [`StateLock`] on a directory this
/// process holds would wait for itself forever: it is refused instead.
static HELD: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

/// Exclusive use of a state directory: an `flock` on `client.lock`, released on drop (or by
/// the kernel when the process dies).
#[derive(Debug)]
pub struct StateLock {
    // Dropped after `Drop::drop` has removed `id` from `HELD`.
    _lock: DirLock,
    id: (u64, u64),
}

impl StateLock {
    /// Takes the lock of `dir`, waiting while another process holds it. Refuses
    /// ([`ClientError::StateInUse`]) when this process holds it already, and
    /// ([`ClientError::NotInitialized`]) when `dir` does not exist.
    pub fn acquire(dir: &Path) -> Result<Self, ClientError> {
        let meta = match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => return Err(ClientError::NotADirectory(dir.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::NotInitialized(dir.to_owned()));
            }
            Err(e) => return Err(ClientError::local(dir)(e)),
        };
        let id = (meta.dev(), meta.ino());
        {
            let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
            if held.contains(&id) {
                return Err(ClientError::StateInUse(dir.to_owned()));
            }
            // Claimed before waiting, so that another thread of this process cannot wait on the
            // same directory behind us and make the refusal above depend on timing.
            held.push(id);
        }
        match DirLock::acquire(&dir.join(LOCK_FILE)) {
            Ok(lock) => Ok(StateLock { _lock: lock, id }),
            Err(e) => {
                release(id);
                Err(e.into())
            }
        }
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        release(self.id);
    }
}

fn release(id: (u64, u64)) {
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    held.retain(|h| *h != id);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn state_round_trips_and_is_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            State::load(dir.path()),
            Err(ClientError::NotInitialized(_))
        ));
        let mut s = State::new("crates.io", Mode::Merkle, 1);
        s.leaves.insert("se/rd/serde".into(), 7);
        s.store(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
        s.timestamp_version = 9;
        s.store(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap().timestamp_version, 9);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_state_directory_is_locked_once_per_process() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            StateLock::acquire(dir.path()),
            Err(ClientError::StateInUse(_))
        ));
        drop(first);
        let _again = StateLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            StateLock::acquire(&dir.path().join("missing")),
            Err(ClientError::NotInitialized(_))
        ));
    }
}
