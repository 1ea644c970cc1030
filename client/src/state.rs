//! The client's local state: one directory per role.
//!
//! ```text
//! root.json        the trusted root, exact bytes (replaced as the chain is walked)
//! timestamp.json   the trusted timestamp, exact bytes
//! targets.json     classic roles: the trusted targets metadata, exact bytes
//! state.json       versions, the trusted merkle_root, and the last leaf version seen per name
//! ```
//!
//! Every file is written atomically (temporary file, fsync, rename, fsync of the directory), so a
//! crash leaves either the old or the new state, never a mix within one file. `state.json` is
//! written last: a root or timestamp on disk newer than `state.json` is re-verified on the next
//! refresh anyway.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ClientError;

/// How a role lists its targets (D2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// TAP-16: targets are leaves of the Merkle tree whose root the timestamp carries.
    Merkle,
    /// Targets are listed in `targets.json`, reached through snapshot.
    Classic,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "merkle" => Ok(Mode::Merkle),
            "classic" => Ok(Mode::Classic),
            _ => Err(format!("mode {s:?} is neither merkle nor classic")),
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
            Err(e) => return Err(ClientError::local(&path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| ClientError::local(&path, e))
    }

    /// Writes `dir/state.json` atomically.
    pub fn store(&self, dir: &Path) -> Result<(), ClientError> {
        let bytes = serde_json::to_vec(self).map_err(|e| ClientError::local(dir, e))?;
        write_atomic(&dir.join("state.json"), &bytes)
    }
}

/// Writes `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
    std::fs::create_dir_all(&dir).map_err(|e| ClientError::local(&dir, e))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    result.map_err(|e| ClientError::local(path, e))
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
}
