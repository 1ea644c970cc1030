//! Where a signing key is, as configuration names it ([`KeySpec`]), and opening it.
//!
//! Properties kept:
//! - the serialized form is a table tagged by `type` whose unknown keys are refused, so a typo in
//!   a config file is an error instead of a silently ignored setting; the `file` and `kms` forms
//!   are exactly the signer's `online_key` forms:
//!   `{ type = "file", path = "…" }`, `{ type = "kms", key_id = "…", region = "…",
//!   endpoint = "…" }` (`region`, `endpoint` and the rest of [`KmsSettings`] optional) and
//!   `{ type = "pkcs11", module = "…", token = { label = "…" }, key_label = "…", pin = { … } }`;
//! - secrets are never part of a spec: a PKCS#11 PIN and explicit AWS credentials are handed to
//!   [`KeySpec::open`] in [`KeyOpenOptions`], or (a PIN) read there from the environment
//!   variable or 0600 file the spec names, so a spec can be logged and a config file holding
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
    /// `{ type = "kms", key_id = "…", region = "…", endpoint = "…" }`, and optionally the
    /// client settings of [`KmsSettings`] (`profile`, `connect_timeout_ms`, …), which override
    /// those given to [`KeySpec::open`].
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
        /// The profile of the AWS config files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile: Option<String>,
        /// The limit for connecting, milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect_timeout_ms: Option<u64>,
        /// The limit for one attempt of an operation, milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt_timeout_ms: Option<u64>,
        /// The limit for one operation with its retries, milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation_timeout_ms: Option<u64>,
        /// Attempts per operation, the first included.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_attempts: Option<u32>,
    },
    /// A key pair on a PKCS#11 token: `{ type = "pkcs11", module = "…", token = { label = "…" },
    /// key_label = "…", pin = { env = "…" } }` (or `token = { slot = N }`, `pin = { file = "…" }`).
    /// The PIN is given to [`KeySpec::open`], or read there from the source `pin` names.
    #[cfg(feature = "pkcs11")]
    Pkcs11 {
        /// The PKCS#11 module (shared library). A bare file name (no `/`) is looked up by the
        /// dynamic loader; anything else is a path.
        module: PathBuf,
        /// The token.
        token: crate::pkcs11::TokenSelector,
        /// `CKA_LABEL` of the key pair.
        key_label: String,
        /// Where [`KeySpec::open`] reads the PIN from when [`KeyOpenOptions`] gives none: an
        /// environment variable or a file (mode 0600). Never the PIN itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin: Option<crate::pkcs11::PinSource>,
    },
}

/// How to reach AWS KMS, as configuration gives it: the AWS profile, region and endpoint, and
/// the client's time limits and retries. Every setting left out keeps its default (the usual
/// AWS configuration; the limits of [`KmsOptions::limits`](crate::KmsOptions::limits)).
///
/// A config file may give these once for every KMS key (the signer's `[kms]` table) and each
/// [`KeySpec::Kms`] may override any of them ([`KmsSettings::overridden_by`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsSettings {
    /// The profile of the AWS config files.
    #[serde(default)]
    pub profile: Option<String>,
    /// The region, e.g. `us-west-2`.
    #[serde(default)]
    pub region: Option<String>,
    /// Another endpoint than AWS's (an emulator, a VPC endpoint), as a URL.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The limit for connecting, milliseconds.
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// The limit for one attempt of an operation, milliseconds.
    #[serde(default)]
    pub attempt_timeout_ms: Option<u64>,
    /// The limit for one operation with its retries, milliseconds.
    #[serde(default)]
    pub operation_timeout_ms: Option<u64>,
    /// Attempts per operation, the first included (1: no retries).
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

impl KmsSettings {
    /// These settings with every one that `other` gives replaced by `other`'s.
    pub fn overridden_by(&self, other: &KmsSettings) -> KmsSettings {
        KmsSettings {
            profile: other.profile.clone().or_else(|| self.profile.clone()),
            region: other.region.clone().or_else(|| self.region.clone()),
            endpoint: other.endpoint.clone().or_else(|| self.endpoint.clone()),
            connect_timeout_ms: other.connect_timeout_ms.or(self.connect_timeout_ms),
            attempt_timeout_ms: other.attempt_timeout_ms.or(self.attempt_timeout_ms),
            operation_timeout_ms: other.operation_timeout_ms.or(self.operation_timeout_ms),
            max_attempts: other.max_attempts.or(self.max_attempts),
        }
    }

    /// Sets every option these settings give (and only those) in `options`.
    #[cfg(feature = "kms")]
    pub fn apply_to(&self, options: &mut crate::KmsOptions) {
        use std::time::Duration;
        if let Some(profile) = &self.profile {
            options.profile = Some(profile.clone());
        }
        if let Some(region) = &self.region {
            options.region = Some(region.clone());
        }
        if let Some(endpoint) = &self.endpoint {
            options.endpoint_url = Some(endpoint.clone());
        }
        if let Some(ms) = self.connect_timeout_ms {
            options.connect_timeout = Some(Duration::from_millis(ms));
        }
        if let Some(ms) = self.attempt_timeout_ms {
            options.attempt_timeout = Some(Duration::from_millis(ms));
        }
        if let Some(ms) = self.operation_timeout_ms {
            options.operation_timeout = Some(Duration::from_millis(ms));
        }
        if let Some(n) = self.max_attempts {
            options.max_attempts = Some(n);
        }
    }
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
            KeySpec::Kms { key_id, .. } => {
                let mut kms = options.kms.clone();
                if let Some(settings) = self.kms_settings() {
                    settings.apply_to(&mut kms);
                }
                Ok(Box::new(crate::KmsSigner::connect(key_id, &kms).await?))
            }
            #[cfg(feature = "pkcs11")]
            KeySpec::Pkcs11 {
                module,
                token,
                key_label,
                pin,
            } => {
                let spec = crate::pkcs11::Pkcs11KeySpec {
                    module: module.clone(),
                    token: token.clone(),
                    key_label: key_label.clone(),
                };
                let read;
                let pin = match (&options.pin, pin) {
                    (Some(given), _) => Some(given),
                    (None, Some(source)) => {
                        read = source.read()?;
                        Some(&read)
                    }
                    (None, None) => None,
                };
                Ok(Box::new(crate::pkcs11::Pkcs11Signer::open(&spec, pin)?))
            }
        }
    }

    /// The KMS client settings a [`KeySpec::Kms`] gives (each overriding what
    /// [`KeyOpenOptions`] gives); `None` for other sources.
    pub fn kms_settings(&self) -> Option<KmsSettings> {
        match self {
            #[cfg(feature = "kms")]
            KeySpec::Kms {
                region,
                endpoint,
                profile,
                connect_timeout_ms,
                attempt_timeout_ms,
                operation_timeout_ms,
                max_attempts,
                ..
            } => Some(KmsSettings {
                profile: profile.clone(),
                region: region.clone(),
                endpoint: endpoint.clone(),
                connect_timeout_ms: *connect_timeout_ms,
                attempt_timeout_ms: *attempt_timeout_ms,
                operation_timeout_ms: *operation_timeout_ms,
                max_attempts: *max_attempts,
            }),
            _ => None,
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
            KeySpec::Pkcs11 { module, pin, .. } => {
                if module.components().count() > 1 {
                    resolve(module, base);
                }
                if let Some(crate::pkcs11::PinSource::File(path)) = pin {
                    resolve(path, base);
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
                ..
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
