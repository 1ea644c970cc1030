//! TUF signing keys on tough's [`Sign`](tough::sign::Sign) and
//! [`KeySource`](tough::key_source::KeySource) traits.
//!
//! Two sources of keys, each for the two key types TUF metadata uses here (DESIGN.md D4):
//!
//! | source | Ed25519 (`ed25519`) | ECDSA P-256 (`ecdsa` / `ecdsa-sha2-nistp256`) |
//! | --- | --- | --- |
//! | PKCS#8 PEM file ([`FileSigner`], [`FileKeySource`]) | yes | yes (DER signatures) |
//! | AWS KMS ([`KmsSigner`], [`KmsKeySource`]; feature `kms`, on by default) | `ECC_NIST_EDWARDS25519`, `ED25519_SHA_512`, RAW, at most 4,096 bytes | `ECC_NIST_P256`, `ECDSA_SHA_256` over a SHA-256 digest |
//!
//! Every signer reports the TUF public key it signs for as a [`TufPublicKey`]: tough's
//! [`Key`](tough::schema::key::Key) together with its key ID, computed as the TUF
//! specification does (SHA-256 of the key's canonical JSON). Every signer checks each signature
//! it produces against that public key before returning it, so a signature that a TUF client
//! would reject is never handed out.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use tuf_keys::{FileSigner, KeyAlgorithm, TufSigner};
//!
//! // First start: creates the key file with mode 0600; later starts load it.
//! let (signer, _created) =
//!     FileSigner::load_or_generate("tuf-data/keys/timestamp.pem", KeyAlgorithm::Ed25519)?;
//! println!("key ID {}", signer.public_key().key_id_hex());
//! let signature = signer.sign_message(b"canonical JSON of `signed`")?;
//! assert!(signer.public_key().verify(b"canonical JSON of `signed`", &signature));
//! # Ok(())
//! # }
//! ```

mod error;
mod file;
#[cfg(feature = "kms")]
mod kms;
mod tuf_key;

/// Keys on PKCS#11 tokens (HSMs, YubiKey PIV through ykcs11, YubiHSM, SoftHSM2).
#[cfg(feature = "pkcs11")]
pub mod pkcs11;

#[cfg(feature = "test-support")]
pub mod test_support;
#[cfg(any(test, feature = "test-support"))]
mod tough_check;

#[cfg(feature = "kms")]
pub use error::KmsError;
pub use error::{KeyFileError, PublicKeyError};
pub use file::{FileKeySource, FileSigner, MAX_KEY_FILE_LEN};
#[cfg(feature = "kms")]
pub use kms::{KMS_RAW_MESSAGE_MAX, KmsKeySource, KmsOptions, KmsSigner, kms_client};
pub use tuf_key::{KeyAlgorithm, TufPublicKey};

/// Re-exported so that callers can name KMS types ([`KmsOptions::credentials`], key specs)
/// without depending on the SDK themselves, and always with the same version.
#[cfg(feature = "kms")]
pub use aws_sdk_kms;
/// Re-exported so that callers can name the key and key ID types without depending on tough
/// themselves.
pub use tough::schema::decoded::{Decoded, Hex};
pub use tough::schema::key::Key;

/// A signer of TUF metadata that knows the TUF public key it signs for.
///
/// Implemented by [`FileSigner`] and `KmsSigner`; a `Box<dyn TufSigner>` lets a caller pick
/// the key source from configuration and still use tough's [`Sign`](tough::sign::Sign)
/// (`&*boxed as &dyn Sign`).
pub trait TufSigner: tough::sign::Sign + std::fmt::Debug {
    /// The TUF public key (and key ID) that every signature of this signer verifies under.
    fn public_key(&self) -> &TufPublicKey;
}
