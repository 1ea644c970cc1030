//! Errors shared by every key source: public keys ([`PublicKeyError`]) and signatures that do
//! not verify ([`BadSignature`]). Each source's own errors live in its module, and
//! [`KeyError`](crate::KeyError), which gathers them, beside [`KeySpec`](crate::KeySpec).
//!
//! Properties kept: no error carries key material or a PIN; errors about PEM text describe its
//! framing, never its contents.

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

/// A signature from a key source that does not verify under the key's public key: refused by
/// [`Signer`](crate::Signer) before anyone sees it. Every source's error type converts from it.
#[derive(Debug, thiserror::Error)]
#[error(
    "{signer} made a signature that does not verify under its public key (key ID {key_id}); \
     it was not used"
)]
#[non_exhaustive]
pub struct BadSignature {
    /// Where the key is, as the source describes itself (e.g. `key file keys/online.pem`).
    pub signer: String,
    /// The TUF key ID the signature should have verified under.
    pub key_id: String,
}
