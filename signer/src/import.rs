//! `tuf-signer import`: build a role's tree from an existing checkout (for crates.io, the index).
//!
//! From a directory ([`import`], one leaf per file) or from a manifest ([`import_manifest`], one
//! `name<TAB>sha256<TAB>length` line per target, as crates.io would export its database).
//!
//! Properties kept: import only writes into a role that has no state and has published nothing
//! (it never replaces a history that clients may already trust: a role that published timestamp
//! version V refuses, whatever its state directory holds, so no version is ever signed twice);
//! a manifest is checked whole before anything is written (its first bad line is reported with
//! its number); it takes the data-directory lock; every file's path
//! must pass the role's path rules (others are reported and skipped, never renamed); the result
//! is a durable checkpoint whose leaves all have version 1, and the next `serve` signs it as the
//! role's first timestamps, whose change records list every leaf (as many rounds as the log's
//! record bound requires: [`crate::sequencer`]'s import rounds).

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
    /// A manifest line that is not `name<TAB>sha256<TAB>length`, or names an invalid or
    /// repeated target; nothing was imported.
    #[error("{path}:{line}: {reason}; nothing was imported")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither a directory nor a manifest was given.
    #[error("give a directory to import or --manifest FILE")]
    NothingToImport,
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

/// Checks that `role` may be imported into (it has no state and has published nothing) and
/// connects to its bucket when the state lives there. The returned lock is held until the
/// checkpoint is written.
fn prepare<'c>(
    config: &'c Config,
    role: &str,
) -> Result<(&'c crate::config::RoleConfig, Target), ImportError> {
    let cfg = config
        .roles
        .get(role)
        .ok_or_else(|| ImportError::UnknownRole(role.to_owned()))?;
    let lock = DataDirLock::acquire(&config.data_dir)?;
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
    Ok((
        cfg,
        Target {
            role: role.to_owned(),
            paths,
            bucket,
            _lock: lock,
        },
    ))
}

/// Where an import writes its checkpoint, with the data-directory lock held.
struct Target {
    role: String,
    paths: crate::layout::RolePaths,
    bucket: Option<Bucket>,
    _lock: DataDirLock,
}

impl Target {
    /// Builds the tree of `entries` (all at version 1) and stores them as checkpoint 0.
    fn finish(
        self,
        entries: Vec<Entry>,
        skipped: Vec<(String, PathError)>,
    ) -> Result<ImportSummary, ImportError> {
        let started = std::time::Instant::now();
        let tree = Tree::from_leaves(entries.iter().map(|e| (e.key, e.contents)))?;
        let leaves = entries.len();
        tracing::info!(
            leaves,
            millis = started.elapsed().as_millis() as u64,
            "tree built"
        );
        let started = std::time::Instant::now();
        // The entries are in key order: the base keeps the tree's hashes for the first start.
        let mut hashes = Vec::with_capacity(leaves.saturating_sub(1));
        tree.for_each_branch_hash(|h| hashes.push(*h));
        let root = tree.root();
        drop(tree);
        let checkpoint = Checkpoint {
            seq: 0,
            timestamp_version: 0,
            entries,
            hashes,
        };
        match self.bucket {
            None => {
                tuf_files::dir::create_private_dir(&self.paths.state_dir)?;
                checkpoint.store(&self.paths.checkpoint())?;
            }
            // Checkpoint 0 under the role's state prefix, created only if absent: the first
            // node that leads the role signs it as its first rounds, as from a local import.
            Some(bucket) => block_on(async {
                crate::storage::bucket_checkpoint::store_initial(
                    &bucket.under(&format!("state/{}", self.role)),
                    &checkpoint,
                )
                .await
                .map_err(ImportError::from)
            })?,
        }
        tracing::info!(
            leaves,
            millis = started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        Ok(ImportSummary {
            leaves,
            skipped,
            root,
        })
    }
}

/// A progress bar on stderr (hidden without `progress`) counting `len` units of `what`.
fn progress_bar(progress: bool, len: u64, what: &str) -> ProgressBar {
    let bar = if progress {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Imports every file under `dir` as a leaf of `role`.
pub fn import(
    config: &Config,
    role: &str,
    dir: &Path,
    progress: bool,
) -> Result<ImportSummary, ImportError> {
    let (cfg, target) = prepare(config, role)?;
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
    let bar = progress_bar(progress, files.len() as u64, "files");
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
    // Distinct paths have distinct keys (a repeated key would be a SHA-256 collision).
    let entries = sorted_by_key(entries)
        .map_err(|(_, _, name)| ImportError::Tree(TreeError::DuplicateKey(key_of(&name))))?;
    target.finish(entries, skipped)
}

/// One manifest line's leaf, or why the line is refused.
fn parse_manifest_line(line: &str, layout: target::Layout) -> Result<Entry, String> {
    let mut fields = line.split('\t');
    let (Some(name), Some(sha256), Some(length), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!(
            "expected 3 tab-separated fields (name, SHA-256, length), found {}",
            line.split('\t').count()
        ));
    };
    target::validate(name, layout).map_err(|e| format!("target name {name:?}: {e}"))?;
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(format!(
            "SHA-256 {sha256:?} of {name:?} is not 64 lowercase hex digits"
        ));
    }
    let sha256 =
        tuf_merkle::hash::parse_hex(sha256).map_err(|e| format!("SHA-256 of {name:?}: {e}"))?;
    if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "length {length:?} of {name:?} is not a decimal number"
        ));
    }
    let length: u64 = length
        .parse()
        .map_err(|_| format!("length {length:?} of {name:?} is out of range"))?;
    let contents = LeafContents::present(1, length, sha256)
        .map_err(|e| format!("length {length} of {name:?}: {e}"))?;
    Ok(Entry {
        key: key_of(name),
        contents,
        name: Some(name.to_owned()),
    })
}

/// Imports the leaves listed in a manifest, as crates.io would export them from its database
/// (PostgreSQL's `COPY … TO STDOUT` writes this text format): one target per line,
/// `name<TAB>sha256<TAB>length`, the SHA-256 as 64 lowercase hex digits and the length in
/// decimal, lines ending in `\n` (the last one may omit it). No header, no blank lines, no
/// quoting (a target name holds no tab or newline). Every line is checked before anything is
/// written: the first bad line (a wrong field count, an invalid target name for the role's
/// layout, a malformed digest or length, a name listed twice) is reported with its line number
/// and nothing is imported.
pub fn import_manifest(
    config: &Config,
    role: &str,
    manifest: &Path,
    progress: bool,
) -> Result<ImportSummary, ImportError> {
    let (cfg, target) = prepare(config, role)?;
    let started = std::time::Instant::now();
    let bytes = std::fs::read(manifest).map_err(|source| ImportError::Read {
        path: manifest.to_owned(),
        source,
    })?;
    let bad = |line: usize, reason: String| ImportError::Manifest {
        path: manifest.to_owned(),
        line,
        reason,
    };
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let lines: Vec<&[u8]> = if body.is_empty() {
        Vec::new()
    } else {
        body.split(|&b| b == b'\n').collect()
    };
    let bar = progress_bar(progress, lines.len() as u64, "lines");
    bar.set_message(format!("reading {role}"));
    let layout = cfg.layout;
    // Parsed in parallel, in chunks so that the bar moves without a shared counter per line;
    // the first error by line number is the one reported.
    const CHUNK: usize = 16_384;
    let parsed: Vec<Result<Vec<Entry>, ImportError>> = lines
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let out = chunk
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    let number = c * CHUNK + i + 1;
                    let line =
                        std::str::from_utf8(line).map_err(|_| bad(number, "not UTF-8".into()))?;
                    parse_manifest_line(line, layout).map_err(|reason| bad(number, reason))
                })
                .collect();
            bar.inc(chunk.len() as u64);
            out
        })
        .collect();
    drop(lines);
    drop(bytes);
    let mut entries =
        Vec::with_capacity(parsed.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum());
    for chunk in parsed {
        entries.extend(chunk?);
    }
    bar.finish_with_message(format!("read {role}"));
    tracing::info!(
        role,
        lines = entries.len(),
        millis = started.elapsed().as_millis() as u64,
        "manifest read and parsed"
    );
    // A name listed twice: report both lines (entry i is line i + 1).
    let entries = sorted_by_key(entries).map_err(|(first, second, name)| {
        bad(
            second + 1,
            format!("{name:?} is listed again (first on line {})", first + 1),
        )
    })?;
    target.finish(entries, Vec::new())
}

/// `entries` in key order (the order of a tree's leaves, in which a checkpoint base is
/// written), or the positions of the first two entries with one key (the earlier first) and
/// the later one's name.
///
/// Sorts `(key, position)` pairs rather than the entries (112 bytes each) or positions compared
/// through the entries: at ten million leaves, comparisons that chase a pointer into a
/// gigabyte-sized array each cost a cache miss, which made the sort the largest part of an
/// import and grow faster than the number of lines.
fn sorted_by_key(mut entries: Vec<Entry>) -> Result<Vec<Entry>, (usize, usize, String)> {
    let started = std::time::Instant::now();
    let mut order: Vec<(tuf_merkle::Digest, usize)> = entries
        .par_iter()
        .enumerate()
        .map(|(i, e)| (e.key, i))
        .collect();
    order.par_sort_unstable();
    if let Some(w) = order.windows(2).find(|w| w[0].0 == w[1].0) {
        // Equal keys sort by position: w[0] is the earlier entry.
        let (first, second) = (w[0].1, w[1].1);
        let name = entries[second].name.clone().unwrap_or_default();
        return Err((first, second, name));
    }
    let sorted = order
        .iter()
        .map(|&(key, i)| Entry {
            key,
            contents: entries[i].contents,
            name: entries[i].name.take(),
        })
        .collect();
    tracing::info!(
        leaves = order.len(),
        millis = started.elapsed().as_millis() as u64,
        "leaves sorted by key"
    );
    Ok(sorted)
}
