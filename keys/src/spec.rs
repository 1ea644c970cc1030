//! Where a signing key is, as configuration names it ([`KeySpec`]), and opening it.
//!
//! Properties kept:
//! - the serialized form is a table tagged by `type` whose unknown keys are refused, so a typo in
//!   a config file is an error instead of a silently ignored setting; the `file` and `kms` forms
//!   are exactly the signer's `online_key` forms:
//!   `{ type = "file", path = "…" }` and `{ type = "kms", key_id = "…", region = "…",
//!   endpoint = "…" }` (`region` and `endpoint` optional);
//! - secrets are never part of a spec: a PKCS#11 PIN and explicit AWS credentials are handed to
//!   [`KeySpec::open`] in [`KeyOpenOptions`], so a spec can be logged and a config file holding
//!   one need not be secret;
//! - [`KeySpec::open`] returns a [`Signer`](crate::Signer) behind `dyn TufSigner`, so every
//!   signature of an opened key is verified before it is returned.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::signer::TufSigner;

/// Where a signing key is: the source and what it needs to find the key.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tuf_keys::KeySpec;
///
/// let spec: KeySpec = serde_json::from_str(r#"{ "type": "file", "path": "keys/online.pem" }"#)?;
/// assert_eq!(spec, KeySpec::File { path: "keys/online.pem".into() });
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum KeySpec {
    /// A PKCS#8 PEM file (mode 0600): `{ type = "file", path = "…" }`.
    File {
        /// The key file.
        path: PathBuf,
    },
    /// An AWS KMS key (`ECC_NIST_P256` or `ECC_NIST_EDWARDS25519`):
    /// `{ type = "kms", key_id = "…", region = "…", endpoint = "…" }`.
    #[cfg(feature = "kms")]
    Kms {
        /// Key ID, key ARN, alias name or alias ARN.
        key_id: String,
        /// The region; otherwise from the AWS configuration.
        #[serde(default)]
        region: Option<String>,
        /// An endpoint override (for an emulator).
        #[serde(default)]
        endpoint: Option<String>,
    },
    /// A key pair on a PKCS#11 token: `{ type = "pkcs11", module = "…", token = { label = "…" },
    /// key_label = "…" }` (or `token = { slot = N }`). The PIN is given to [`KeySpec::open`].
    #[cfg(feature = "pkcs11")]
    Pkcs11 {
        /// The PKCS#11 module (shared library). A bare file name (no `/`) is looked up by the
        /// dynamic loader; anything else is a path.
        module: PathBuf,
        /// The token.
        token: crate::pkcs11::TokenSelector,
        /// `CKA_LABEL` of the key pair.
        key_label: String,
    },
}

/// What opening a key may need besides its [`KeySpec`]: secrets, and settings that do not
/// belong in a config file. The default opens every source with nothing extra: key files as
/// they are, KMS with the usual AWS configuration, PKCS#11 tokens without a PIN.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct KeyOpenOptions {
    /// The KMS client settings that a [`KeySpec::Kms`] does not give (profile, explicit
    /// credentials, time limit); its `region` and `endpoint` take precedence over these.
    #[cfg(feature = "kms")]
    pub kms: crate::KmsOptions,
    /// The PKCS#11 user PIN: zeroed when dropped, never shown (its `Debug` is redacted).
    #[cfg(feature = "pkcs11")]
    pub pin: Option<crate::pkcs11::Pin>,
}

impl KeyOpenOptions {
    /// Sets the KMS client settings.
    #[cfg(feature = "kms")]
    pub fn with_kms(mut self, kms: crate::KmsOptions) -> Self {
        self.kms = kms;
        self
    }

    /// Sets the PKCS#11 user PIN.
    #[cfg(feature = "pkcs11")]
    pub fn with_pin(mut self, pin: crate::pkcs11::Pin) -> Self {
        self.pin = Some(pin);
        self
    }
}

/// Why the key a [`KeySpec`] names could not be opened: the error of its source, kept whole so
/// that callers can still match on it (a wrong PIN, a missing KMS key, an unsafe key file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A PKCS#8 key file.
    #[error(transparent)]
    File(#[from] crate::KeyFileError),
    /// An AWS KMS key.
    #[cfg(feature = "kms")]
    #[error(transparent)]
    Kms(#[from] crate::KmsError),
    /// A key on a PKCS#11 token.
    #[cfg(feature = "pkcs11")]
    #[error(transparent)]
    Pkcs11(#[from] crate::pkcs11::Pkcs11Error),
}

impl KeySpec {
    /// Opens the key: loads the key file, connects to KMS and fetches the public key, or opens
    /// the token and logs in. Every signature of the signer returned is verified before it is
    /// returned.
    ///
    /// Key files and tokens are opened with blocking calls (a file read; the token's module),
    /// as tough's key sources do; this is meant for start-up, not for a request path.
    // With only key files compiled in, nothing needs `options`.
    #[cfg_attr(not(any(feature = "kms", feature = "pkcs11")), allow(unused_variables))]
    pub async fn open(
        &self,
        options: &KeyOpenOptions,
    ) -> Result<Box<dyn TufSigner + Send + Sync>, KeyError> {
        match self {
            KeySpec::File { path } => Ok(Box::new(crate::FileSigner::load(path)?)),
            #[cfg(feature = "kms")]
            KeySpec::Kms {
                key_id,
                region,
                endpoint,
            } => {
                let mut kms = options.kms.clone();
                if let Some(region) = region {
                    kms.region = Some(region.clone());
                }
                if let Some(endpoint) = endpoint {
                    kms.endpoint_url = Some(endpoint.clone());
                }
                Ok(Box::new(crate::KmsSigner::connect(key_id, &kms).await?))
            }
            #[cfg(feature = "pkcs11")]
            KeySpec::Pkcs11 {
                module,
                token,
                key_label,
            } => {
                let spec = crate::pkcs11::Pkcs11KeySpec {
                    module: module.clone(),
                    token: token.clone(),
                    key_label: key_label.clone(),
                };
                Ok(Box::new(crate::pkcs11::Pkcs11Signer::open(
                    &spec,
                    options.pin.as_ref(),
                )?))
            }
        }
    }

    /// The source's `type`: `"file"`, `"kms"` or `"pkcs11"`.
    pub fn kind(&self) -> &'static str {
        match self {
            KeySpec::File { .. } => "file",
            #[cfg(feature = "kms")]
            KeySpec::Kms { .. } => "kms",
            #[cfg(feature = "pkcs11")]
            KeySpec::Pkcs11 { .. } => "pkcs11",
        }
    }

    /// Makes the spec's relative paths relative to `base` instead (absolute paths are kept), as
    /// a config file's paths are relative to the file's directory: a key file's path, and a
    /// PKCS#11 module given as a relative path (a bare file name stays a name for the dynamic
    /// loader to look up).
    pub fn resolve_relative_to(&mut self, base: &Path) {
        match self {
            KeySpec::File { path } => resolve(path, base),
            #[cfg(feature = "kms")]
            KeySpec::Kms { .. } => {}
            #[cfg(feature = "pkcs11")]
            KeySpec::Pkcs11 { module, .. } => {
                if module.components().count() > 1 {
                    resolve(module, base);
                }
            }
        }
    }
}

/// Joins a relative `path` onto `base`.
fn resolve(path: &mut PathBuf, base: &Path) {
    if path.is_relative() {
        *path = base.join(&*path);
    }
}

impl fmt::Display for KeySpec {
    /// Where the key is, for logs and errors: `key file …`, `KMS key …`, `PKCS#11 key …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySpec::File { path } => write!(f, "key file {}", path.display()),
            #[cfg(feature = "kms")]
            KeySpec::Kms { key_id, .. } => write!(f, "KMS key {key_id}"),
            #[cfg(feature = "pkcs11")]
            KeySpec::Pkcs11 {
                module,
                token,
                key_label,
            } => write!(
                f,
                "PKCS#11 key {key_label:?} on the {token} of {}",
                module.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests;
