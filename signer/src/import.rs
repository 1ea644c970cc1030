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
use rayon::prelude::*;
use tuf_merkle::contents::ContentsError;
use tuf_merkle::tree::TreeError;
use tuf_merkle::{LeafContents, Tree, key_of};

use crate::bucket::Bucket;
use crate::config::{Config, Storage};
use crate::layout::DataDir;
use crate::lock::{DataDirLock, LockError};
use crate::publish::fs::FsPublisher;
use crate::sequencer::MAX_PENDING_BYTES;
use crate::storage::checkpoint::{Checkpoint, CheckpointError, Entry};
use crate::target::{self, PathError};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// With `[storage] type = "s3"`: the role's prefix in the bucket already holds state or a
    /// published repository.
    #[error(
        "role {role:?} already has objects under s3://{bucket}/{prefix} (its {what}); import only \
         builds a new role, before any signer has served it. If the role has published, send \
         changes through the API (POST /api/v1/{role}/batch) instead"
    )]
    BucketNotEmpty {
        /// The role.
        role: String,
        /// The bucket.
        bucket: String,
        /// The key prefix that holds objects.
        prefix: String,
        /// What they are.
        what: &'static str,
    },
    /// The bucket.
    #[error("role {role:?}: {source}")]
    Bucket {
        /// The role.
        role: String,
        /// The error.
        source: crate::bucket::BucketError,
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
        /// The bound on a round's change records.
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
    /// Walking the checkout.
    #[error("walking {dir}: {source}")]
    Walk {
        /// The directory imported.
        dir: PathBuf,
        /// The error.
        source: walkdir::Error,
    },
    /// A file too large to be a leaf.
    #[error("{path}: {source}")]
    Contents {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ContentsError,
    },
    /// The leaves do not make a tree (cannot happen with distinct names).
    #[error("building the tree: {0}")]
    Tree(#[from] TreeError),
    /// Creating the role's state directory.
    #[error(transparent)]
    Fs(#[from] tuf_files::FsError),
    /// Writing the checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// What an import did.
#[derive(Debug)]
pub struct ImportSummary {
    /// Leaves imported.
    pub leaves: usize,
    /// Files skipped because their path is not a valid target name for the role, with why.
    pub skipped: Vec<(String, PathError)>,
    /// The tree root.
    pub root: tuf_merkle::Digest,
}

/// Runs `fut` to completion from this synchronous code: on the runtime that called it through
/// `spawn_blocking` (the `tuf-signer import` command), or on a runtime of its own.
fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(fut),
        Err(_) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(fut),
            Err(e) => panic!("cannot start a runtime for the bucket: {e}"),
        },
    }
}

/// Refuses a role whose state or repository prefix in the bucket holds anything.
async fn ensure_empty(bucket: &Bucket, role: &str) -> Result<(), ImportError> {
    for (dir, what) in [("state", "state"), ("repo", "published repository")] {
        let sub = bucket.under(&format!("{dir}/{role}"));
        let keys = sub
            .list("", None)
            .await
            .map_err(|source| ImportError::Bucket {
                role: role.to_owned(),
                source,
            })?;
        if !keys.is_empty() {
            return Err(ImportError::BucketNotEmpty {
                role: role.to_owned(),
                bucket: bucket.name().to_owned(),
                prefix: sub.prefix().to_owned(),
                what,
            });
        }
    }
    Ok(())
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
    let bucket = match &config.storage {
        Storage::Local => None,
        Storage::S3(s3) => Some(block_on(async {
            let bucket = Bucket::connect(s3)
                .await
                .map_err(|source| ImportError::Bucket {
                    role: role.to_owned(),
                    source,
                })?;
            ensure_empty(&bucket, role).await?;
            Ok::<_, ImportError>(bucket)
        })?),
    };
    let published = FsPublisher::new(data.repo(role))
        .read_published_version()
        .or_else(|| {
            // A repository whose head is missing but that holds timestamps still has a history.
            std::fs::read_dir(data.repo(role).join("timestamps"))
                .ok()
                .and_then(|mut d| d.next())
                .map(|_| 0)
        });
    if let Some(version) = published.filter(|_| bucket.is_none()) {
        return Err(ImportError::Published {
            role: role.to_owned(),
            version,
            state: paths.state_dir,
        });
    }
    if bucket.is_none() && data.role_has_state(role) {
        return Err(ImportError::NotEmpty(role.to_owned(), paths.state_dir));
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|source| ImportError::Walk {
            dir: dir.to_owned(),
            source,
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
            Err(e) => skipped.push((name, e)),
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
    let entries: Vec<Entry> = files
        .par_iter()
        .map(|(name, path)| {
            let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
                path: path.clone(),
                source,
            })?;
            let contents =
                LeafContents::for_bytes(1, &bytes).map_err(|source| ImportError::Contents {
                    path: path.clone(),
                    source,
                })?;
            bar.inc(1);
            Ok(Entry {
                key: key_of(name),
                contents,
                name: Some(name.clone()),
            })
        })
        .collect::<Result<_, ImportError>>()?;
    bar.finish_with_message(format!("hashed {role}"));
    let bytes: usize = entries
        .iter()
        .map(|e| {
            tuf_repo_format::change_record::change_json_len(e.name.as_deref(), None, e.contents)
        })
        .sum();
    if bytes > MAX_PENDING_BYTES {
        return Err(ImportError::TooLarge {
            leaves: entries.len(),
            bytes,
            max: MAX_PENDING_BYTES,
        });
    }
    let tree = Tree::from_leaves(entries.iter().map(|e| (e.key, e.contents)))?;
    let leaves = entries.len();
    let checkpoint = Checkpoint {
        seq: 0,
        timestamp_version: 0,
        entries,
    };
    match bucket {
        None => {
            tuf_files::dir::create_private_dir(&paths.state_dir)?;
            checkpoint.store(&paths.checkpoint())?;
        }
        // Checkpoint 0 under the role's state prefix, created only if absent: the first node
        // that leads the role signs it as its first round, as from a local import.
        Some(bucket) => block_on(async {
            crate::storage::bucket_checkpoint::store_initial(
                &bucket.under(&format!("state/{role}")),
                &checkpoint,
            )
            .await
            .map_err(ImportError::from)
        })?,
    }
    Ok(ImportSummary {
        leaves,
        skipped,
        root: tree.root(),
    })
}
