//! The data directory: where every file the signer keeps lives.
//!
//! ```text
//! <data>/signer.lock                 exclusive flock, holds the pid
//! <data>/keys/<role>.pem             development online keys (0600)
//! <data>/keys/dev-root.pem           development root key (0600)
//! <data>/roots/<role>/N.root.json    development roots (production: roles.<r>.root_dir)
//! <data>/dev-tokens/<role>           development writer tokens (0600)
//! <data>/state/<role>/wal.log        write-ahead log
//! <data>/state/<role>/checkpoint.bin checkpoint (leaves at a log sequence number)
//! <data>/state/<role>/round.json     the last signed round at the last checkpoint
//! <data>/repo/<role>/…               the published repository (docs/api.md)
//! ```
//!
//! Every path is made here and nowhere else, so the layout is read in one place.

use std::path::{Path, PathBuf};

/// The data directory.
#[derive(Debug, Clone)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// `<data>/state/<role>`: the role's log, checkpoint and stored round.
    pub fn role_paths(&self, role: &str) -> RolePaths {
        RolePaths {
            state_dir: self.0.join("state").join(role),
        }
    }
    /// `<data>/repo/<role>`: the role's published repository.
    pub fn repo(&self, role: &str) -> PathBuf {
        self.0.join("repo").join(role)
    }
    /// `<data>/keys/<role>.pem`: a generated online key.
    pub fn online_key(&self, role: &str) -> PathBuf {
        self.0.join("keys").join(format!("{role}.pem"))
    }
    /// `<data>/keys/dev-root.pem`: the development root key.
    pub fn dev_root_key(&self) -> PathBuf {
        self.0.join("keys").join("dev-root.pem")
    }
    /// `<data>/roots/<role>`: generated development roots.
    pub fn dev_roots(&self, role: &str) -> PathBuf {
        self.0.join("roots").join(role)
    }
    /// `<data>/dev-tokens/<role>`: a generated development writer token.
    pub fn dev_token(&self, role: &str) -> PathBuf {
        self.0.join("dev-tokens").join(role)
    }

    /// Whether the role has any state (a non-empty log, checkpoint or stored round).
    pub fn role_has_state(&self, role: &str) -> bool {
        let paths = self.role_paths(role);
        let non_empty = |p: PathBuf| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
        non_empty(paths.wal()) || non_empty(paths.checkpoint()) || non_empty(paths.round())
    }
}

/// Where a role keeps its state.
#[derive(Debug, Clone)]
pub struct RolePaths {
    /// `<data>/state/<role>`.
    pub state_dir: PathBuf,
}

impl RolePaths {
    /// The write-ahead log.
    pub fn wal(&self) -> PathBuf {
        self.state_dir.join("wal.log")
    }
    /// The checkpoint.
    pub fn checkpoint(&self) -> PathBuf {
        self.state_dir.join("checkpoint.bin")
    }
    /// The last stored round.
    pub fn round(&self) -> PathBuf {
        self.state_dir.join("round.json")
    }
}
