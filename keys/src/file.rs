//! Signing keys in PKCS#8 PEM files: Ed25519 and ECDSA P-256 ([`FileSigner`], a [`Signer`]
//! over [`FileKey`]).
//!
//! Security properties kept here:
//! - a key file this crate creates is never readable by anyone but its owner, not even for an
//!   instant, and never written through a symlink: it is written by `tuf_files::atomic::write`
//!   (a temporary file with an unpredictable name created with mode 0600 and
//!   `O_EXCL | O_NOFOLLOW` in the key's directory, written, fsynced, then renamed or linked to
//!   its final name, then the directory fsynced; the temporary file is removed on every failure
//!   path), in a directory created with mode 0700;
//! - key generation never overwrites an existing key (nor a symlink where the key would go);
//! - a key file that its group or other users can access is refused, with the `chmod` to run;
//! - key bytes read from disk are zeroed when dropped, and no error or `Debug` output contains
//!   key material;
//! - every signature is verified before it is returned, by [`Signer`].

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use tough::key_source::KeySource;
use tough::sign::Sign;
use tuf_files::{Durability, Replace, WriteOptions};
use zeroize::Zeroizing;

use crate::error::{BadSignature, PublicKeyError};
use crate::signer::{LocalRawSigner, Signer};
use crate::tuf_key::{KeyAlgorithm, TufPublicKey, pem_problem};

/// The largest key file this crate reads. PKCS#8 Ed25519 and P-256 keys in PEM are a few hundred
/// bytes; anything larger is not one of them.
pub const MAX_KEY_FILE_LEN: usize = 16 * 1024;

/// The PEM label of an unencrypted PKCS#8 private key.
const PKCS8_LABEL: &str = "PRIVATE KEY";

/// Permission bits that must be clear on a key file: any access by group or others.
const GROUP_OTHER_BITS: u32 = 0o077;

/// Why a PKCS#8 key file could not be generated, loaded, written or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// An I/O operation on a key file (or its directory) failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "open key file".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The key file can be read or written by its group or by others.
    #[error(
        "key file {path} has mode {mode:04o}, so its group or other users can access it; \
         a private key must be readable by its owner only: run `chmod 600 {path}`"
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The path names something other than a regular file.
    #[error("key file {path} is not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The key file is larger than any PKCS#8 key this crate reads.
    #[error("key file {path} is larger than {max} bytes; it is not a PKCS#8 Ed25519 or P-256 key")]
    TooLarge {
        /// The key file.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// The key file is not a PEM document.
    #[error("key file {path} is not a PEM document: {reason}")]
    NotPem {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its PEM framing (never its contents).
        reason: &'static str,
    },
    /// The key file holds more than one PEM block.
    #[error("key file {path} holds {count} PEM blocks; expected exactly one PRIVATE KEY block")]
    MultiplePemBlocks {
        /// The key file.
        path: PathBuf,
        /// How many blocks it holds.
        count: usize,
    },
    /// The PEM block has a label other than `PRIVATE KEY`.
    #[error("key file {path} holds a PEM \"{label}\" block; {hint}")]
    WrongPemLabel {
        /// The key file.
        path: PathBuf,
        /// The label found.
        label: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// The PKCS#8 document is not an unencrypted Ed25519 or ECDSA P-256 private key.
    #[error(
        "key file {path} is not an unencrypted PKCS#8 Ed25519 or ECDSA P-256 private key \
         (Ed25519: {ed25519_reason}; P-256: {p256_reason})"
    )]
    UnsupportedKey {
        /// The key file.
        path: PathBuf,
        /// Why it was rejected as an Ed25519 key.
        ed25519_reason: &'static str,
        /// Why it was rejected as an ECDSA P-256 key.
        p256_reason: &'static str,
    },
    /// The key file exists already; key generation never overwrites a key.
    #[error("key file {path} already exists; refusing to overwrite a key")]
    AlreadyExists {
        /// The key file.
        path: PathBuf,
    },
    /// The key file holds a key of another algorithm than the one asked for.
    #[error("key file {path} holds an {found} key, but an {expected} key was asked for")]
    AlgorithmMismatch {
        /// The key file.
        path: PathBuf,
        /// The algorithm asked for.
        expected: KeyAlgorithm,
        /// The algorithm of the key in the file.
        found: KeyAlgorithm,
    },
    /// The key file path has no file name (e.g. it ends in `..`).
    #[error("key file path {path} has no file name")]
    NoFileName {
        /// The path.
        path: PathBuf,
    },
    /// The system random number generator or the key generator failed.
    #[error("cannot generate an {algorithm} key: the crypto library reported an error")]
    Generate {
        /// The algorithm asked for.
        algorithm: KeyAlgorithm,
    },
    /// Signing failed inside the crypto library.
    #[error("signing with the {algorithm} key from {path} failed")]
    Sign {
        /// The key file.
        path: PathBuf,
        /// Its algorithm.
        algorithm: KeyAlgorithm,
    },
    /// A freshly made signature did not verify under the key's own public key (refused by
    /// [`Signer`]).
    #[error(transparent)]
    BadSignature(#[from] BadSignature),
    /// The public key of a loaded key could not be expressed as a TUF key.
    #[error("key file {path}: {source}")]
    PublicKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: PublicKeyError,
    },
}

impl From<tuf_files::FsError> for KeyFileError {
    /// A failed file operation keeps its action, path and error.
    fn from(e: tuf_files::FsError) -> Self {
        KeyFileError::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        }
    }
}

/// A loaded private key.
enum KeyPair {
    Ed25519(Ed25519KeyPair),
    EcdsaP256(EcdsaKeyPair),
}

/// A signer backed by a PKCS#8 PEM key file (Ed25519 or ECDSA P-256): [`FileSigner::load`],
/// [`FileSigner::generate`], [`FileSigner::load_or_generate`].
pub type FileSigner = Signer<FileKey>;

/// The key source of a [`FileSigner`]: a private key loaded from a PKCS#8 PEM file.
///
/// The private key stays in memory for the signer's lifetime (inside aws-lc, which zeroes it on
/// drop); the file is read once, by [`FileSigner::load`]. Only a [`FileSigner`] holds one.
pub struct FileKey {
    path: PathBuf,
    key: KeyPair,
    public: TufPublicKey,
    rng: SystemRandom,
}

impl fmt::Debug for FileKey {
    /// Shows the path, algorithm and key ID; never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSigner")
            .field("path", &self.path)
            .field("algorithm", &self.public.algorithm())
            .field("key_id", &self.public.key_id_hex())
            .finish()
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key file {}", self.path.display())
    }
}

impl LocalRawSigner for FileKey {
    type Error = KeyFileError;

    fn public_key(&self) -> &TufPublicKey {
        &self.public
    }

    /// Ed25519 over the message, or ECDSA P-256 over its SHA-256 with a DER signature (with a
    /// nonce from the system generator).
    fn sign_raw_blocking(&self, message: &[u8]) -> Result<Vec<u8>, KeyFileError> {
        match &self.key {
            KeyPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPair::EcdsaP256(pair) => pair
                .sign(&self.rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| KeyFileError::Sign {
                    path: self.path.clone(),
                    algorithm: self.public.algorithm(),
                }),
        }
    }
}

impl FileKey {
    /// Parses PEM text holding one PKCS#8 key; `path` is only used in errors.
    fn from_pem(path: &Path, text: &[u8]) -> Result<Self, KeyFileError> {
        let key = parse_pkcs8_pem(path, text)?;
        let public = match &key {
            KeyPair::Ed25519(pair) => TufPublicKey::ed25519(pair.public_key().as_ref()),
            KeyPair::EcdsaP256(pair) => TufPublicKey::ecdsa_p256(pair.public_key().as_ref()),
        }
        .map_err(|source| KeyFileError::PublicKey {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            key,
            public,
            rng: SystemRandom::new(),
        })
    }
}

impl Signer<FileKey> {
    /// Loads the key in `path`.
    ///
    /// Refuses a file that its group or others can read or write ([`KeyFileError::InsecurePermissions`]),
    /// checking the permissions of the opened file itself so that a swap between check and read
    /// cannot slip through. Refuses anything but a single unencrypted PKCS#8 `PRIVATE KEY` PEM
    /// block holding an Ed25519 or ECDSA P-256 key, with an error naming what is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io_error("open key file", path))?;
        let metadata = file.metadata().map_err(io_error("stat key file", path))?;
        if !metadata.is_file() {
            return Err(KeyFileError::NotAFile {
                path: path.to_owned(),
            });
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & GROUP_OTHER_BITS != 0 {
            return Err(KeyFileError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
        // Capacity for the whole limit up front, so the buffer never reallocates and leaves an
        // unzeroed copy of key bytes behind.
        let mut contents = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_LEN + 1));
        file.take(MAX_KEY_FILE_LEN as u64 + 1)
            .read_to_end(&mut contents)
            .map_err(io_error("read key file", path))?;
        if contents.len() > MAX_KEY_FILE_LEN {
            return Err(KeyFileError::TooLarge {
                path: path.to_owned(),
                max: MAX_KEY_FILE_LEN,
            });
        }
        FileKey::from_pem(path, &contents).map(Signer::new)
    }

    /// Generates a new key of `algorithm` and writes it to `path` as a PKCS#8 PEM file with
    /// mode 0600, creating missing parent directories with mode 0700.
    ///
    /// Never overwrites: if `path` exists, fails with [`KeyFileError::AlreadyExists`] and leaves
    /// it untouched. The file is never visible under `path` half-written, and never readable by
    /// group or others (see the module documentation).
    pub fn generate(path: impl AsRef<Path>, algorithm: KeyAlgorithm) -> Result<Self, KeyFileError> {
        let path = path.as_ref();
        let rng = SystemRandom::new();
        let document = match algorithm {
            // PKCS#8 v1, the form the OpenSSL command line reads and writes.
            KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng),
            KeyAlgorithm::EcdsaP256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            }
        }
        .map_err(|_| KeyFileError::Generate { algorithm })?;
        let block = pem::Pem::new(PKCS8_LABEL, document.as_ref().to_vec());
        let text = Zeroizing::new(pem::encode(&block));
        drop(Zeroizing::new(block.into_contents()));
        let key = FileKey::from_pem(path, text.as_bytes())?;
        write_key_file(path, text.as_bytes(), WriteMode::CreateNew)?;
        Ok(Signer::new(key))
    }

    /// Loads the key in `path`, or generates one of `algorithm` there if no file exists (for
    /// an embedded default that creates its keys on first start). Returns the signer and whether
    /// the key was generated now.
    ///
    /// An existing key of another algorithm is an error ([`KeyFileError::AlgorithmMismatch`]),
    /// and so is an existing file with unsafe permissions: an existing file is never replaced.
    /// Two processes racing to generate end up with the same key: the loser loads the winner's.
    pub fn load_or_generate(
        path: impl AsRef<Path>,
        algorithm: KeyAlgorithm,
    ) -> Result<(Self, bool), KeyFileError> {
        let path = path.as_ref();
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match Self::generate(path, algorithm) {
                    Ok(signer) => return Ok((signer, true)),
                    Err(KeyFileError::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(io_error("stat key file", path)(e)),
            Ok(_) => {}
        }
        let signer = Self::load(path)?;
        if signer.algorithm() != algorithm {
            return Err(KeyFileError::AlgorithmMismatch {
                path: path.to_owned(),
                expected: algorithm,
                found: signer.algorithm(),
            });
        }
        Ok((signer, false))
    }

    /// The key file this signer was loaded from or generated into.
    pub fn path(&self) -> &Path {
        &self.raw.path
    }
}

/// A tough [`KeySource`] for a PKCS#8 PEM key file, with this crate's permission checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKeySource {
    /// The key file.
    pub path: PathBuf,
}

impl FileKeySource {
    /// A key source for the key file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl KeySource for FileKeySource {
    /// Loads the key as [`FileSigner::load`] does.
    async fn as_sign(&self) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Box::new(FileSigner::load(&self.path)?))
    }

    /// Replaces the key file with `value` (PKCS#8 PEM text), which must hold an Ed25519 or
    /// ECDSA P-256 key; written atomically with mode 0600 like a generated key.
    async fn write(
        &self,
        value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        parse_pkcs8_pem(&self.path, value.as_bytes())?;
        write_key_file(&self.path, value.as_bytes(), WriteMode::Replace)?;
        Ok(())
    }
}

/// Parses PEM text holding exactly one unencrypted PKCS#8 Ed25519 or P-256 key.
fn parse_pkcs8_pem(path: &Path, text: &[u8]) -> Result<KeyPair, KeyFileError> {
    let blocks = pem::parse_many(text).map_err(|e| KeyFileError::NotPem {
        path: path.to_owned(),
        reason: pem_problem(&e),
    })?;
    let count = blocks.len();
    let mut blocks = blocks.into_iter();
    let block = match (blocks.next(), count) {
        (Some(block), 1) => block,
        (None, _) => {
            return Err(KeyFileError::NotPem {
                path: path.to_owned(),
                reason: "no PEM block found",
            });
        }
        (Some(first), _) => {
            drop(Zeroizing::new(first.into_contents()));
            blocks.for_each(|b| drop(Zeroizing::new(b.into_contents())));
            return Err(KeyFileError::MultiplePemBlocks {
                path: path.to_owned(),
                count,
            });
        }
    };
    let label = block.tag().to_owned();
    let der = Zeroizing::new(block.into_contents());
    if label != PKCS8_LABEL {
        return Err(KeyFileError::WrongPemLabel {
            path: path.to_owned(),
            hint: label_hint(&label),
            label,
        });
    }
    let ed25519_reason = match Ed25519KeyPair::from_pkcs8(&der) {
        Ok(pair) => return Ok(KeyPair::Ed25519(pair)),
        Err(e) => e.description_(),
    };
    let p256_reason = match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der) {
        Ok(pair) => return Ok(KeyPair::EcdsaP256(pair)),
        Err(e) => e.description_(),
    };
    Err(KeyFileError::UnsupportedKey {
        path: path.to_owned(),
        ed25519_reason,
        p256_reason,
    })
}

/// What to do about a PEM block that is not `PRIVATE KEY`.
fn label_hint(label: &str) -> &'static str {
    match label {
        "ENCRYPTED PRIVATE KEY" => {
            "encrypted keys are not supported: decrypt it to an unencrypted PKCS#8 \"PRIVATE KEY\" \
             (`openssl pkcs8 -in OLD -out NEW`) and keep NEW at mode 0600"
        }
        "EC PRIVATE KEY" => {
            "this is a SEC1 EC key: convert it to PKCS#8 with \
             `openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW` and keep NEW at mode 0600"
        }
        "RSA PRIVATE KEY" => "RSA keys are not supported: use an Ed25519 or ECDSA P-256 key",
        "PUBLIC KEY" => "this is a public key; a private key is needed to sign",
        _ => "expected a PKCS#8 \"PRIVATE KEY\" block",
    }
}

/// Whether a key file write may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// Fail with [`KeyFileError::AlreadyExists`] if the file exists.
    CreateNew,
    /// Atomically replace an existing file.
    Replace,
}

/// The mode of every key file this crate writes: its owner's only.
const KEY_FILE_MODE: u32 = 0o600;

/// Writes `contents` to `path` atomically, with mode 0600 from the moment the file exists, in
/// a directory created with mode 0700 if missing.
fn write_key_file(path: &Path, contents: &[u8], mode: WriteMode) -> Result<(), KeyFileError> {
    if path.file_name().is_none() {
        return Err(KeyFileError::NoFileName {
            path: path.to_owned(),
        });
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    tuf_files::dir::create_private_dir(dir)?;
    let options = WriteOptions {
        mode: KEY_FILE_MODE,
        durability: Durability::Durable,
        replace: match mode {
            WriteMode::CreateNew => Replace::Never,
            WriteMode::Replace => Replace::Always,
        },
        // Created above with 0700; tuf-files would use 0755.
        create_parents: false,
    };
    tuf_files::atomic::write(path, contents, options).map_err(|e| {
        if mode == WriteMode::CreateNew && e.is_already_exists() {
            KeyFileError::AlreadyExists {
                path: path.to_owned(),
            }
        } else {
            e.into()
        }
    })
}

/// Builds a `map_err` closure for an I/O error on `path`.
fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> KeyFileError + 'a {
    move |source| KeyFileError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests;
