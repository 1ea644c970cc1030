//! TUF signing keys on tough's [`Sign`](tough::sign::Sign) and
//! [`KeySource`](tough::key_source::KeySource) traits.
//!
//! Three sources of keys, each for the two key types TUF metadata uses here (`docs/design.md`, D4):
//!
//! | source | Ed25519 (`ed25519`) | ECDSA P-256 (`ecdsa` / `ecdsa-sha2-nistp256`) |
//! | --- | --- | --- |
//! | PKCS#8 PEM file ([`FileSigner`], [`FileKeySource`]) | yes | yes (DER signatures) |
//! | AWS KMS ([`KmsSigner`], [`KmsKeySource`]; feature `kms`, on by default) | `ECC_NIST_EDWARDS25519`, `ED25519_SHA_512`, RAW, at most 4,096 bytes | `ECC_NIST_P256`, `ECDSA_SHA_256` over a SHA-256 digest |
//! | PKCS#11 token (`pkcs11::Pkcs11Signer`; feature `pkcs11`) | `CKM_EDDSA` | `CKM_ECDSA` over a SHA-256 digest, re-encoded as DER |
//!
//! Every source is a [`RawSigner`] (or a [`LocalRawSigner`], if it signs without waiting on a
//! remote service): it provides its public key and raw signatures, nothing else. One type,
//! [`Signer`], turns any of them into tough's `Sign` and this crate's [`TufSigner`], and it
//! verifies every signature against the public key before returning it, so a signature that a
//! TUF client would reject is never handed out. [`FileSigner`], [`KmsSigner`] and
//! `pkcs11::Pkcs11Signer` are [`Signer`] over each source.
//!
//! Every signer reports the TUF public key it signs for as a [`TufPublicKey`]: tough's [`Key`]
//! together with its key ID, computed as the TUF specification does (SHA-256 of the key's
//! canonical JSON). [`TufPublicKey`] also reads and writes public keys as DER and PEM
//! `SubjectPublicKeyInfo`, for every crate of the workspace.
//!
//! Configuration names a key with a [`KeySpec`] (`{ type = "file", path = "…" }`,
//! `{ type = "kms", key_id = "…", … }`, `{ type = "pkcs11", … }`), and [`KeySpec::open`]
//! opens it, whatever the source, as a `Box<dyn TufSigner + Send + Sync>`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use tuf_keys::{FileSigner, KeyAlgorithm, KeyOpenOptions, KeySpec};
//!
//! // First start: creates the key file with mode 0600; later starts load it.
//! let (signer, _created) =
//!     FileSigner::load_or_generate("tuf-data/keys/timestamp.pem", KeyAlgorithm::Ed25519)?;
//! println!("key ID {}", signer.public_key().key_id_hex());
//! let signature = signer.sign_message_blocking(b"canonical JSON of `signed`")?;
//! assert!(signer.public_key().verify(b"canonical JSON of `signed`", &signature));
//!
//! // The same key, as a config file names it.
//! let spec = KeySpec::File { path: "tuf-data/keys/timestamp.pem".into() };
//! let opened = spec.open(&KeyOpenOptions::default()).await?;
//! assert_eq!(opened.public_key(), signer.public_key());
//! # Ok(())
//! # }
//! ```
//!
//! # Adding a key source
//!
//! A new source (a YubiHSM, GCP KMS, …) is one new module in this crate plus its [`KeySpec`]
//! variant; no other crate changes, since they name keys by [`KeySpec`] and sign through
//! [`TufSigner`]. In this crate:
//!
//! 1. **The module** (`src/gcp_kms.rs`, behind a feature if it brings heavy dependencies, like
//!    `kms`): a key type (`GcpKmsKey`) holding the connection and the [`TufPublicKey`], with
//!    - `impl RawSigner` (or `impl LocalRawSigner` if it signs without awaiting anything):
//!      `public_key()` and `sign_raw()`, which returns the raw TUF signature (64 bytes for
//!      Ed25519; DER for ECDSA P-256, re-encoded if the service returns `r || s`). Do not
//!      verify it: [`Signer`] does, for every source, in one place;
//!    - `Display` (where the key is, e.g. `GCP KMS key projects/…`, for errors) and a `Debug`
//!      that shows no secret;
//!    - an error enum (`#[non_exhaustive]`, one variant per cause) with a
//!      `BadSignature(#[from] BadSignature)` variant, which [`Signer`] uses for signatures that
//!      do not verify;
//!    - `pub type GcpKmsSigner = Signer<GcpKmsKey>;` and its constructors in
//!      `impl Signer<GcpKmsKey> { pub async fn connect(…) }`. The key type gets no public
//!      constructor, so its unverified signatures never leave the crate;
//!    - a "Properties kept" header saying what the module guarantees.
//! 2. **`src/spec.rs`**: the [`KeySpec`] variant (its fields are the config keys, which
//!    `deny_unknown_fields` then checks), its arms in [`KeySpec::open`],
//!    [`KeySpec::resolve_relative_to`] (if it has paths) and `Display`, and the [`KeyError`]
//!    variant `GcpKms(#[from] GcpKmsError)`. A secret (a PIN, a credential) never goes into the
//!    spec: it becomes a field of [`KeyOpenOptions`], and only a caller that wants to offer
//!    the source with that secret has to fill it in.
//! 3. **`src/lib.rs`** and **`Cargo.toml`**: `mod gcp_kms;`, `pub use` of the signer, key and
//!    error types, a row in the table above; the feature and its optional dependencies.
//! 4. **Tests** beside the module, against an emulator or a software token where one exists (as
//!    `tests/kms.rs` does with moto and `tests/pkcs11.rs` with SoftHSM2), including the spec's
//!    config form.

mod error;
mod file;
#[cfg(feature = "kms")]
mod kms;
mod signer;
mod spec;
mod tuf_key;

/// Keys on PKCS#11 tokens (HSMs, YubiKey PIV through ykcs11, YubiHSM, SoftHSM2).
#[cfg(feature = "pkcs11")]
pub mod pkcs11;

#[cfg(feature = "test-support")]
pub mod test_support;
#[cfg(any(test, feature = "test-support"))]
mod tough_check;

pub use error::{BadSignature, PublicKeyError};
pub use file::{FileKey, FileKeySource, FileSigner, KeyFileError, MAX_KEY_FILE_LEN};
#[cfg(feature = "kms")]
pub use kms::{
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_OPERATION_TIMEOUT, KMS_RAW_MESSAGE_MAX, KmsError, KmsKey, KmsKeySource, KmsLimits,
    KmsOptions, KmsSigner, kms_client,
};
pub use signer::{LocalRawSigner, RawSigner, Signer, TufSigner};
pub use spec::{KeyError, KeyOpenOptions, KeySpec, KmsSettings};
pub use tuf_key::{KeyAlgorithm, TufPublicKey};

/// Re-exported so that callers can name KMS types ([`KmsOptions::credentials`], key specs)
/// without depending on the SDK themselves, and always with the same version.
#[cfg(feature = "kms")]
pub use aws_sdk_kms;
/// Re-exported so that callers can name the key and key ID types without depending on tough
/// themselves.
pub use tough::schema::decoded::{Decoded, Hex};
pub use tough::schema::key::Key;
