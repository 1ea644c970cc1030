//! `tuf-signer import`: build a role's tree from an existing checkout (for crates.io, the index).
//!
//! Properties kept: import only writes into a role that has no state and has published nothing
//! (it never replaces a history that clients may already trust: a role that published timestamp
//! version V refuses, whatever its state directory holds, so no version is ever signed twice);
//! the first round's change record, which lists every leaf, must fit in one log record; it
//! takes the data-directory lock; every file's path
//! must pass the role's path rules (others are reported and skipped, never renamed); the result
//! is a durable checkpoint whose leaves all have version 1, and the next `serve` signs it as the
//! role's first timestamp, with a change record that lists every leaf.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use tuf_merkle::{LeafContents, Tree, key_of};

use crate::checkpoint::{Checkpoint, Entry};
use crate::config::Config;
use crate::lock::{DataDirLock, LockError};
use crate::service::{DataDir, role_has_state};
use crate::target;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The data directory is locked.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The role is not configured.
    #[error("no role {0:?} in the configuration")]
    UnknownRole(String),
    /// The role already has state but has published nothing.
    #[error(
        "role {0:?} already has state in {1} but has published nothing yet; import only builds a \
         new role. To build it again from scratch, stop the signer and delete {1} (any change \
         it acknowledged is lost), then import again"
    )]
    NotEmpty(String, PathBuf),
    /// The role has published a timestamp: its history cannot start again.
    #[error(
        "role {role:?} has already published timestamp version {version}; import only builds a \
         new role, and a role whose history started again would sign versions that clients have \
         already seen with other contents (they would refuse the role for good). Keep serving \
         the role and send changes through the API (POST /api/v1/{role}/batch); if its state \
         was lost, restore {state} from a backup: `tuf-signer serve` refuses to start a role \
         whose state is behind what it published"
    )]
    Published {
        /// The role.
        role: String,
        /// The latest published timestamp version.
        version: u64,
        /// The state directory.
        state: PathBuf,
    },
    /// The first round would be too large for one log record.
    #[error(
        "{leaves} leaves make a first change record of {bytes} bytes, over the limit of {max} \
         bytes for one round; import fewer files into this role"
    )]
    TooLarge {
        /// Leaves found.
        leaves: usize,
        /// Bytes of their change-record entries.
        bytes: usize,
        /// [`crate::sequencer::MAX_PENDING_BYTES`].
        max: usize,
    },
    /// Reading the checkout.
    #[error("reading {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Building the tree.
    #[error("building the tree: {0}")]
    Tree(String),
    /// Writing the checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
}

/// What an import did.
#[derive(Debug)]
pub struct ImportSummary {
    /// Leaves imported.
    pub leaves: usize,
    /// Files skipped because their path is not a valid target name for the role, with why.
    pub skipped: Vec<(String, String)>,
    /// The tree root.
    pub root: tuf_merkle::Digest,
}

/// Imports every file under `dir` as a leaf of `role`.
pub fn import(
    config: &Config,
    role: &str,
    dir: &Path,
    progress: bool,
) -> Result<ImportSummary, ImportError> {
    let cfg = config
        .roles
        .get(role)
        .ok_or_else(|| ImportError::UnknownRole(role.to_owned()))?;
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let data = DataDir(config.data_dir.clone());
    let paths = data.role_paths(role);
    let publisher = crate::publisher::Publisher::new(data.repo(role));
    let published = publisher.published_version().or_else(|| {
        // A repository whose head is missing but that holds timestamps still has a history.
        std::fs::read_dir(data.repo(role).join("timestamps"))
            .ok()
            .and_then(|mut d| d.next())
            .map(|_| 0)
    });
    if let Some(version) = published {
        return Err(ImportError::Published {
            role: role.to_owned(),
            version,
            state: paths.state_dir,
        });
    }
    if role_has_state(&config.data_dir, role) {
        return Err(ImportError::NotEmpty(role.to_owned(), paths.state_dir));
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| ImportError::Read {
            path: e
                .path()
                .map(Path::to_owned)
                .unwrap_or_else(|| dir.to_owned()),
            source: std::io::Error::other(e.to_string()),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let name = rel
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/");
        match target::validate(&name, cfg.layout) {
            Ok(()) => files.push((name, entry.path().to_owned())),
            Err(e) => skipped.push((name, e.to_string())),
        }
    }
    let bar = if progress {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} files ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("hashing {role}"));
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Entry>, ImportError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                let bar = bar.clone();
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (name, path) in part {
                        let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
                            path: path.clone(),
                            source,
                        })?;
                        let contents = LeafContents::for_bytes(1, &bytes)
                            .map_err(|e| ImportError::Tree(e.to_string()))?;
                        out.push(Entry {
                            key: key_of(name),
                            contents,
                            name: Some(name.clone()),
                        });
                        bar.inc(1);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ImportError::Tree("a hashing thread panicked".into())))
            })
            .collect()
    });
    let mut entries = Vec::with_capacity(files.len());
    for r in results {
        entries.extend(r?);
    }
    bar.finish_with_message(format!("hashed {role}"));
    let bytes: usize = entries
        .iter()
        .map(|e| crate::sequencer::entry_len(e.name.as_deref().unwrap_or(""), None, e.contents))
        .sum();
    if bytes > crate::sequencer::MAX_PENDING_BYTES {
        return Err(ImportError::TooLarge {
            leaves: entries.len(),
            bytes,
            max: crate::sequencer::MAX_PENDING_BYTES,
        });
    }
    let tree = Tree::from_leaves(entries.iter().map(|e| (e.key, e.contents)))
        .map_err(|e| ImportError::Tree(e.to_string()))?;
    tuf_files::dir::create_private_dir(&paths.state_dir).map_err(|e| ImportError::Read {
        path: e.path,
        source: e.source,
    })?;
    let leaves = entries.len();
    Checkpoint {
        seq: 0,
        timestamp_version: 0,
        entries,
    }
    .store(&paths.checkpoint())?;
    Ok(ImportSummary {
        leaves,
        skipped,
        root: tree.root(),
    })
}
