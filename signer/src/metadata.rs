//! TUF metadata: the trusted root chain, and signing targets, snapshot and timestamp.
//!
//! Properties kept:
//! - The signer only starts on a root chain in which every `N.root.json` is signed by its own
//!   root threshold and (from 2 on) by the threshold of `N-1`, as a client walking the chain
//!   checks, and only if the current root lists the online key for `timestamp`, `snapshot` and
//!   `targets` with threshold 1. So it never publishes metadata that clients would refuse.
//! - Roles are signed with tough's own [`SignedRole`] over the OLPC canonical JSON of `signed`,
//!   and each signed role is verified again with tough's [`Root::verify_role`] before it is
//!   handed on, so a faulty key source cannot get a bad signature published.
//! - A merkle-mode timestamp carries `merkle_root` in `signed` beside `meta` (tough keeps it in
//!   `_extra`, so the signature covers it and tough and python-tuf still load the file).

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use tough::editor::signed::SignedRole;
use tough::key_source::KeySource;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{
    Hashes, KeyHolder, Metafile, Role, RoleKeys, RoleType, Root, Signed, Snapshot, Target, Targets,
    Timestamp,
};
use tough::sign::Sign;
use tuf_keys::{TufPublicKey, TufSigner};
use tuf_merkle::Digest;

use crate::round::{FileMeta, SignedFile};

/// The `spec_version` written. tough's editor only edits repositories at exactly "1.0.0", its
/// loader and python-tuf accept any 1.x, so "1.0.0" is what every tool reads.
pub const SPEC_VERSION: &str = "1.0.0";

/// A signer shared between the sequencer and tough's signing helpers.
pub type SharedSigner = Arc<dyn TufSigner + Send + Sync>;

/// Why metadata cannot be trusted, built or signed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A root file cannot be read.
    #[error("cannot read root file {path}: {source}")]
    ReadRoot {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A root file is not TUF root metadata (or lists a key under a wrong key ID).
    #[error("root file {path} is not valid TUF root metadata: {message}")]
    ParseRoot {
        /// The file.
        path: PathBuf,
        /// tough's message.
        message: String,
    },
    /// No root files.
    #[error(
        "no root files (1.root.json, 2.root.json, …) in {0}; copy the role's roots from the ceremony there"
    )]
    NoRoot(PathBuf),
    /// Root files that do not form a chain.
    #[error("root chain in {dir}: {message}")]
    Chain {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The online key is not the one the root lists.
    #[error(
        "the online key {key_id} is not listed in root version {root_version} for the {role} role \
         (listed: {listed:?}); run `tuf-signer key export --role R` and have the ceremony add it, \
         or configure the key the root lists"
    )]
    KeyNotInRoot {
        /// The online key's ID.
        key_id: String,
        /// The root version checked.
        root_version: u64,
        /// timestamp, snapshot or targets.
        role: RoleType,
        /// The key IDs the root lists for it.
        listed: Vec<String>,
    },
    /// A role with threshold above 1, which one online key cannot meet.
    #[error(
        "root version {root_version} sets threshold {threshold} for {role}; the online key alone can only meet 1"
    )]
    Threshold {
        /// The root version.
        root_version: u64,
        /// The role.
        role: RoleType,
        /// Its threshold.
        threshold: u64,
    },
    /// tough refused to sign or verify.
    #[error("signing {role}: {message}")]
    Sign {
        /// The role.
        role: RoleType,
        /// tough's message.
        message: String,
    },
    /// A time computation overflowed.
    #[error("expiry out of range")]
    Time,
    /// Writing a generated root.
    #[error(transparent)]
    Fs(#[from] tuf_files::FsError),
}

/// A role's trusted roots, verified as a chain.
#[derive(Debug, Clone)]
pub struct RootChain {
    /// `(version, exact file bytes)` for every root, in order from 1.
    pub files: Vec<(u64, Vec<u8>)>,
    /// The current (highest) root.
    pub current: Signed<Root>,
}

impl RootChain {
    /// Loads `1.root.json`, `2.root.json`, … from `dir` and verifies the chain.
    ///
    /// Every `N.root.json` in `dir` must be part of the chain: a root file beyond a missing
    /// version (say 1 and 3 present, 2 missing) is an error naming the missing version, never a
    /// quiet stop at the gap, which would trust an older root than the operator installed.
    pub fn load(dir: &Path) -> Result<Self, MetadataError> {
        let present = root_versions_in(dir)?;
        let highest = present.last().copied().unwrap_or(0);
        if let Some(missing) = (1..=highest).find(|v| present.binary_search(v).is_err()) {
            let found: Vec<String> = present.iter().map(|v| format!("{v}.root.json")).collect();
            return Err(MetadataError::Chain {
                dir: dir.to_owned(),
                message: format!(
                    "{missing}.root.json is missing but later roots are present ({}); \
                     copy every root from the ceremony, from 1 to {highest}, without gaps",
                    found.join(", ")
                ),
            });
        }
        let mut files = Vec::new();
        let mut previous: Option<Signed<Root>> = None;
        for version in 1..=highest {
            let path = dir.join(format!("{version}.root.json"));
            let bytes = std::fs::read(&path).map_err(|source| MetadataError::ReadRoot {
                path: path.clone(),
                source,
            })?;
            let root: Signed<Root> =
                serde_json::from_slice(&bytes).map_err(|e| MetadataError::ParseRoot {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            let chain = |message: String| MetadataError::Chain {
                dir: dir.to_owned(),
                message,
            };
            if root.signed.version.get() != version {
                return Err(chain(format!(
                    "{version}.root.json has version {}",
                    root.signed.version
                )));
            }
            root.signed.verify_role(&root).map_err(|e| {
                chain(format!(
                    "{version}.root.json is not signed by its own root threshold: {e}"
                ))
            })?;
            if let Some(prev) = &previous {
                prev.signed.verify_role(&root).map_err(|e| {
                    chain(format!(
                        "{version}.root.json is not signed by the threshold of root {}: {e}",
                        version - 1
                    ))
                })?;
            }
            files.push((version, bytes));
            previous = Some(root);
        }
        let current = previous.ok_or_else(|| MetadataError::NoRoot(dir.to_owned()))?;
        if current.signed.expires < jiff::Timestamp::now() {
            tracing::warn!(dir = %dir.display(), expires = %current.signed.expires, "the current root has expired: clients will refuse this repository until a new root is signed");
        }
        Ok(RootChain { files, current })
    }

    /// The current root's version.
    pub fn version(&self) -> u64 {
        self.current.signed.version.get()
    }

    /// Checks that the current root lists `key` for timestamp, snapshot and targets, with
    /// threshold 1.
    pub fn check_online_key(&self, key: &TufPublicKey) -> Result<(), MetadataError> {
        let root = &self.current.signed;
        for role in [RoleType::Timestamp, RoleType::Snapshot, RoleType::Targets] {
            let keys = root.roles.get(&role);
            let listed: Vec<String> = keys
                .map(|k| k.keyids.iter().map(|id| hex::encode(id.as_ref())).collect())
                .unwrap_or_default();
            let id = key.key_id();
            let present =
                keys.is_some_and(|k| k.keyids.contains(id)) && root.keys.get(id) == Some(key.key());
            if !present {
                return Err(MetadataError::KeyNotInRoot {
                    key_id: key.key_id_hex(),
                    root_version: self.version(),
                    role,
                    listed,
                });
            }
            let threshold = keys.map_or(0, |k| k.threshold.get());
            if threshold != 1 {
                return Err(MetadataError::Threshold {
                    root_version: self.version(),
                    role,
                    threshold,
                });
            }
        }
        Ok(())
    }
}

/// The versions `N` of the `N.root.json` files in `dir` (N a positive decimal integer without
/// leading zeros), sorted. A missing directory holds none.
fn root_versions_in(dir: &Path) -> Result<Vec<u64>, MetadataError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(MetadataError::ReadRoot {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut versions = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MetadataError::ReadRoot {
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(|n| n.strip_suffix(".root.json")) else {
            continue;
        };
        if number.is_empty()
            || number.starts_with('0')
            || !number.bytes().all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if let Ok(v) = number.parse::<u64>() {
            versions.push(v);
        }
    }
    versions.sort_unstable();
    Ok(versions)
}

/// Writes `1.root.json` for a development repository into `dir`: `root_key` holds the root
/// role, `online` the other three, all threshold 1. Returns the path written.
pub async fn write_dev_root(
    dir: &Path,
    root_key: &SharedSigner,
    online: &TufPublicKey,
    expires_in_secs: u64,
) -> Result<PathBuf, MetadataError> {
    write_single_key_root(dir, 1, root_key, online, expires_in_secs).await
}

/// Writes `VERSION.root.json` into `dir` with one root key (threshold 1, which also signs it)
/// and `online` for timestamp, snapshot and targets. With the same root key as the previous
/// version, the result is a valid next link of the chain: this is how the development setup
/// and the tests rotate an online key. Real roots come from the ceremony tool.
pub async fn write_single_key_root(
    dir: &Path,
    version: u64,
    root_key: &SharedSigner,
    online: &TufPublicKey,
    expires_in_secs: u64,
) -> Result<PathBuf, MetadataError> {
    let root_public = root_key.public_key();
    let mut keys = HashMap::new();
    keys.insert(root_public.key_id().clone(), root_public.key().clone());
    keys.insert(online.key_id().clone(), online.key().clone());
    let one = NonZeroU64::MIN;
    let role_keys = |id: &Decoded<Hex>| RoleKeys {
        keyids: vec![id.clone()],
        threshold: one,
        _extra: HashMap::new(),
    };
    let mut roles = HashMap::new();
    roles.insert(RoleType::Root, role_keys(root_public.key_id()));
    for role in [RoleType::Timestamp, RoleType::Snapshot, RoleType::Targets] {
        roles.insert(role, role_keys(online.key_id()));
    }
    let root = Root {
        spec_version: SPEC_VERSION.to_owned(),
        consistent_snapshot: true,
        version: nonzero(version)?,
        expires: expires_at(expires_in_secs)?,
        keys,
        roles,
        _extra: HashMap::new(),
    };
    let holder = KeyHolder::Root(root.clone());
    let signed = sign_with(root, &holder, root_key).await?;
    let path = dir.join(format!("{version}.root.json"));
    tuf_files::atomic::write(&path, signed.buffer(), tuf_files::WriteOptions::PUBLIC)?;
    Ok(path)
}

/// Now plus `secs`, rounded down to the second (TUF writes whole seconds).
pub fn expires_at(secs: u64) -> Result<jiff::Timestamp, MetadataError> {
    let now = jiff::Timestamp::now().as_second();
    let secs = i64::try_from(secs).map_err(|_| MetadataError::Time)?;
    jiff::Timestamp::from_second(now.checked_add(secs).ok_or(MetadataError::Time)?)
        .map_err(|_| MetadataError::Time)
}

/// What a timestamp or snapshot will say about a signed file.
fn file_meta_of<T: Role + Serialize>(
    role: &SignedRole<T>,
    version: u64,
    expires: jiff::Timestamp,
) -> FileMeta {
    FileMeta {
        version,
        length: *role.length(),
        sha256: hex::encode(role.sha256()),
        expires,
    }
}

/// The TUF `meta` entry for a file.
fn metafile(meta: &FileMeta) -> Result<Metafile, MetadataError> {
    let sha = hex::decode(&meta.sha256).map_err(|e| MetadataError::Sign {
        role: RoleType::Snapshot,
        message: format!("bad stored hash: {e}"),
    })?;
    Ok(Metafile {
        length: Some(meta.length),
        hashes: Some(Hashes {
            sha256: sha.into(),
            _extra: HashMap::new(),
        }),
        version: nonzero(meta.version)?,
        _extra: HashMap::new(),
    })
}

fn nonzero(v: u64) -> Result<NonZeroU64, MetadataError> {
    NonZeroU64::new(v).ok_or(MetadataError::Sign {
        role: RoleType::Timestamp,
        message: "version 0".into(),
    })
}

/// Signs a role's targets, snapshot and timestamp with the online key under the current root.
#[derive(Clone)]
pub struct MetadataSigner {
    root: Root,
    key: SharedSigner,
}

impl fmt::Debug for MetadataSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataSigner")
            .field("root_version", &self.root.version)
            .field("key", &self.key)
            .finish()
    }
}

impl MetadataSigner {
    /// A signer for roles listed in `root` (already checked with [`RootChain::check_online_key`]).
    pub fn new(root: Root, key: SharedSigner) -> Self {
        MetadataSigner { root, key }
    }

    /// The current root's version.
    pub fn root_version(&self) -> u64 {
        self.root.version.get()
    }

    /// When the current root expires (it is re-signed offline, at a ceremony).
    pub fn root_expires(&self) -> jiff::Timestamp {
        self.root.expires
    }

    /// Signs `targets.json` at `version` listing `targets` (name, length, SHA-256).
    pub async fn targets(
        &self,
        version: u64,
        expires_in: u64,
        targets: impl IntoIterator<Item = (String, u64, Digest)>,
    ) -> Result<SignedFile, MetadataError> {
        let expires = expires_at(expires_in)?;
        let mut role = Targets::new(SPEC_VERSION.to_owned(), nonzero(version)?, expires);
        for (name, length, sha) in targets {
            let target_name =
                tough::TargetName::new(name.clone()).map_err(|e| MetadataError::Sign {
                    role: RoleType::Targets,
                    message: format!("{name}: {e}"),
                })?;
            let target = Target {
                length,
                hashes: Hashes {
                    sha256: sha.0.to_vec().into(),
                    _extra: HashMap::new(),
                },
                custom: HashMap::new(),
                _extra: HashMap::new(),
            };
            role.targets.insert(target_name, target);
        }
        let signed = self.sign(role).await?;
        Ok(SignedFile {
            name: tuf_repo_format::paths::targets(version),
            meta: file_meta_of(&signed, version, expires),
            bytes: text(&signed),
        })
    }

    /// Signs `snapshot.json` at `version` pointing at `targets`.
    pub async fn snapshot(
        &self,
        version: u64,
        expires_in: u64,
        targets: &FileMeta,
    ) -> Result<SignedFile, MetadataError> {
        let expires = expires_at(expires_in)?;
        let mut role = Snapshot::new(SPEC_VERSION.to_owned(), nonzero(version)?, expires);
        role.meta
            .insert("targets.json".to_owned(), metafile(targets)?);
        let signed = self.sign(role).await?;
        Ok(SignedFile {
            name: tuf_repo_format::paths::snapshot(version),
            meta: file_meta_of(&signed, version, expires),
            bytes: text(&signed),
        })
    }

    /// Signs `timestamp.json` at `version` pointing at `snapshot`, with `merkle_root` for a
    /// merkle-mode role.
    pub async fn timestamp(
        &self,
        version: u64,
        expires_in: u64,
        snapshot: &FileMeta,
        merkle_root: Option<Digest>,
    ) -> Result<SignedFile, MetadataError> {
        let expires = expires_at(expires_in)?;
        let mut role = Timestamp::new(SPEC_VERSION.to_owned(), nonzero(version)?, expires);
        role.meta
            .insert("snapshot.json".to_owned(), metafile(snapshot)?);
        if let Some(root) = merkle_root {
            role._extra.insert(
                "merkle_root".to_owned(),
                serde_json::Value::String(root.to_hex()),
            );
        }
        let signed = self.sign(role).await?;
        Ok(SignedFile {
            name: "timestamp.json".to_owned(),
            meta: file_meta_of(&signed, version, expires),
            bytes: text(&signed),
        })
    }

    async fn sign<T: Role + Serialize + Clone>(
        &self,
        role: T,
    ) -> Result<SignedRole<T>, MetadataError> {
        let holder = KeyHolder::Root(self.root.clone());
        let signed = sign_with(role, &holder, &self.key).await?;
        self.root
            .verify_role(signed.signed())
            .map_err(|e| MetadataError::Sign {
                role: T::TYPE,
                message: format!("signature does not verify: {e}"),
            })?;
        Ok(signed)
    }
}

fn text<T: Role + Serialize>(signed: &SignedRole<T>) -> String {
    String::from_utf8_lossy(signed.buffer()).into_owned()
}

async fn sign_with<T: Role + Serialize>(
    role: T,
    holder: &KeyHolder,
    key: &SharedSigner,
) -> Result<SignedRole<T>, MetadataError> {
    let sources: [Box<dyn KeySource>; 1] = [Box::new(SharedKeySource(key.clone()))];
    SignedRole::new(role, holder, &sources, &SystemRandom::new())
        .await
        .map_err(|e| MetadataError::Sign {
            role: T::TYPE,
            message: e.to_string(),
        })
}

/// Lends a long-lived signer to tough's [`SignedRole`], which asks a [`KeySource`] for a fresh
/// [`Sign`] each time; the key (file or KMS connection) is not re-read per signature.
#[derive(Debug)]
struct SharedKeySource(SharedSigner);

#[async_trait]
impl KeySource for SharedKeySource {
    async fn as_sign(
        &self,
    ) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(Box::new(SharedSign(self.0.clone())))
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Err("the signer's online key source is read-only".into())
    }
}

struct SharedSign(SharedSigner);

#[async_trait]
impl Sign for SharedSign {
    fn tuf_key(&self) -> Key {
        self.0.tuf_key()
    }

    async fn sign(
        &self,
        msg: &[u8],
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.0.sign(msg, rng).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuf_keys::{FileSigner, KeyAlgorithm};

    fn keys(dir: &Path) -> (SharedSigner, SharedSigner) {
        let root: SharedSigner =
            Arc::new(FileSigner::generate(dir.join("root.pem"), KeyAlgorithm::Ed25519).unwrap());
        let online: SharedSigner =
            Arc::new(FileSigner::generate(dir.join("online.pem"), KeyAlgorithm::Ed25519).unwrap());
        (root, online)
    }

    #[tokio::test]
    async fn a_gap_in_the_root_chain_is_refused_naming_the_missing_version() {
        let dir = tempfile::tempdir().unwrap();
        let roots = dir.path().join("roots");
        std::fs::create_dir(&roots).unwrap();
        let (root, online) = keys(dir.path());
        for v in [1, 3] {
            write_single_key_root(&roots, v, &root, online.public_key(), 3600)
                .await
                .unwrap();
        }
        let err = RootChain::load(&roots).expect_err("a gap is refused");
        let text = err.to_string();
        assert!(text.contains("2.root.json is missing"), "{text}");
        assert!(text.contains("3.root.json"), "{text}");

        // Filling the gap makes it a chain again, whose current root is 3.
        write_single_key_root(&roots, 2, &root, online.public_key(), 3600)
            .await
            .unwrap();
        assert_eq!(RootChain::load(&roots).unwrap().version(), 3);
    }

    #[tokio::test]
    async fn a_chain_not_starting_at_one_is_refused_and_other_names_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let roots = dir.path().join("roots");
        std::fs::create_dir(&roots).unwrap();
        let (root, online) = keys(dir.path());
        write_single_key_root(&roots, 2, &root, online.public_key(), 3600)
            .await
            .unwrap();
        let err = RootChain::load(&roots).expect_err("no 1.root.json");
        assert!(err.to_string().contains("1.root.json is missing"), "{err}");

        std::fs::remove_file(roots.join("2.root.json")).unwrap();
        write_single_key_root(&roots, 1, &root, online.public_key(), 3600)
            .await
            .unwrap();
        for other in [
            "01.root.json",
            "x.root.json",
            "root.json",
            "2.root.json.tmp",
        ] {
            std::fs::write(roots.join(other), b"not a root").unwrap();
        }
        assert_eq!(RootChain::load(&roots).unwrap().version(), 1);

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(matches!(
            RootChain::load(&empty),
            Err(MetadataError::NoRoot(_))
        ));
    }
}
