//! Errors of this crate: one enum per concern.
//!
//! No error carries key material: file errors name the path and what is wrong with the file,
//! never its contents.

use std::path::PathBuf;

/// Why a TUF public key could not be built or recognised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// An Ed25519 public key that is not 32 bytes.
    #[error("an Ed25519 public key is 32 bytes, got {len}")]
    Ed25519Length {
        /// The length that was given.
        len: usize,
    },
    /// An ECDSA P-256 public key that is not a valid uncompressed point.
    #[error(
        "an ECDSA P-256 public key must be a valid uncompressed point (65 bytes starting with 0x04)"
    )]
    InvalidP256Point,
    /// DER `SubjectPublicKeyInfo` that is neither an Ed25519 nor an ECDSA P-256 key.
    #[error(
        "the SubjectPublicKeyInfo is not an Ed25519 or ECDSA P-256 (prime256v1) public key \
         ({len} bytes of DER)"
    )]
    UnsupportedSpki {
        /// The length of the DER document.
        len: usize,
    },
    /// A TUF key of a type or scheme this crate does not sign with.
    #[error("unsupported TUF key: only ed25519 and ecdsa-sha2-nistp256 keys are supported")]
    UnsupportedTufKey,
    /// An algorithm name other than `ed25519`, `ecdsa`, `ecdsa-sha2-nistp256` or `p256`.
    #[error("unknown key algorithm {name:?}: expected ed25519 or ecdsa-sha2-nistp256")]
    UnknownAlgorithm {
        /// The name given.
        name: String,
    },
    /// The key ID could not be computed (canonical JSON serialisation failed).
    #[error("cannot compute the TUF key ID: {0}")]
    KeyId(#[source] Box<tough::schema::Error>),
    /// The text is not PEM.
    #[error("not a PEM document: {reason}")]
    NotPem {
        /// What is wrong with its PEM framing (never its contents).
        reason: &'static str,
    },
    /// The text holds more than one PEM block.
    #[error("{count} PEM blocks found; expected exactly one PUBLIC KEY block")]
    MultiplePemBlocks {
        /// How many blocks it holds.
        count: usize,
    },
    /// The PEM block has a label other than `PUBLIC KEY`.
    #[error("the PEM block is \"{label}\", expected \"PUBLIC KEY\"")]
    WrongPemLabel {
        /// The label found.
        label: String,
    },
}

impl From<tough::schema::Error> for PublicKeyError {
    /// Boxed: tough's error is large, and this one travels inside every source's error.
    fn from(e: tough::schema::Error) -> Self {
        PublicKeyError::KeyId(Box::new(e))
    }
}

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
        expected: crate::KeyAlgorithm,
        /// The algorithm of the key in the file.
        found: crate::KeyAlgorithm,
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
        algorithm: crate::KeyAlgorithm,
    },
    /// Signing failed inside the crypto library.
    #[error("signing with the {algorithm} key from {path} failed")]
    Sign {
        /// The key file.
        path: PathBuf,
        /// Its algorithm.
        algorithm: crate::KeyAlgorithm,
    },
    /// A freshly made signature did not verify under the key's own public key.
    #[error("the signature made with the key from {path} does not verify under its public key")]
    SelfCheck {
        /// The key file.
        path: PathBuf,
    },
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

/// Why an AWS KMS key could not be used for signing.
#[cfg(feature = "kms")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// A KMS API call failed (network, credentials, permissions, unknown key, throttling...).
    #[error("KMS {operation} on key {key_id} failed: {message}")]
    Api {
        /// The API operation, e.g. "GetPublicKey".
        operation: &'static str,
        /// The key the call was about.
        key_id: String,
        /// The SDK's error with its whole chain of causes.
        message: String,
        /// The SDK's error, for callers that want to match on the service error code.
        error: Box<aws_sdk_kms::Error>,
    },
    /// A KMS response lacked a field this crate needs.
    #[error("KMS {operation} on key {key_id} returned no {field}")]
    MissingField {
        /// The API operation.
        operation: &'static str,
        /// The key.
        key_id: String,
        /// The missing field.
        field: &'static str,
    },
    /// The KMS key has a key spec this crate does not sign with.
    #[error(
        "KMS key {key_id} has key spec {key_spec}; TUF signing needs ECC_NIST_P256 or \
         ECC_NIST_EDWARDS25519"
    )]
    UnsupportedKeySpec {
        /// The key.
        key_id: String,
        /// Its key spec.
        key_spec: String,
    },
    /// The KMS key is not a signing key.
    #[error("KMS key {key_id} has key usage {usage}; TUF signing needs SIGN_VERIFY")]
    WrongKeyUsage {
        /// The key.
        key_id: String,
        /// Its key usage.
        usage: String,
    },
    /// The KMS key does not offer the signing algorithm that TUF needs for its key spec.
    #[error("KMS key {key_id} does not offer signing algorithm {algorithm} (it offers: {offered})")]
    AlgorithmNotOffered {
        /// The key.
        key_id: String,
        /// The algorithm needed.
        algorithm: String,
        /// The algorithms the key offers.
        offered: String,
    },
    /// The public key KMS returned does not match the key spec or is malformed.
    #[error("KMS key {key_id}: {source}")]
    PublicKey {
        /// The key.
        key_id: String,
        /// Why.
        source: PublicKeyError,
    },
    /// The KMS key spec and the public key KMS returned disagree.
    #[error("KMS key {key_id} has key spec {key_spec} but its public key is an {found} key")]
    KeySpecMismatch {
        /// The key.
        key_id: String,
        /// The key spec reported.
        key_spec: String,
        /// The algorithm of the public key returned.
        found: crate::KeyAlgorithm,
    },
    /// An Ed25519 message is longer than KMS accepts for a RAW message. It is never truncated.
    #[error(
        "message of {len} bytes is too large for KMS Ed25519 signing: KMS signs RAW messages of \
         at most {max} bytes with ED25519_SHA_512 (the message is not truncated, and \
         ED25519_PH_SHA_512 is not TUF's ed25519)"
    )]
    MessageTooLarge {
        /// The message length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The signature KMS returned does not verify under the key's public key.
    #[error(
        "KMS key {key_id} returned a signature that does not verify under its public key \
         (wrong key, wrong algorithm, or a faulty KMS endpoint)"
    )]
    BadSignature {
        /// The key.
        key_id: String,
    },
    /// `KeySource::write` was called on a KMS key source.
    #[error("a KMS key cannot be written through this crate; create keys with KMS itself")]
    WriteUnsupported,
}
