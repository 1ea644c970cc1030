//! Signing keys in AWS KMS: `ECC_NIST_P256` and `ECC_NIST_EDWARDS25519`.
//!
//! - `ECC_NIST_P256` signs with `ECDSA_SHA_256` over the SHA-256 digest of the message, computed
//!   here (`MessageType::Digest`), so messages of any size can be signed and only 32 bytes travel.
//!   KMS returns a DER signature, which is what TUF's `ecdsa-sha2-nistp256` uses.
//! - `ECC_NIST_EDWARDS25519` signs with `ED25519_SHA_512` over the message itself
//!   (`MessageType::Raw`), which is TUF's `ed25519`. KMS accepts RAW messages of at most
//!   [`KMS_RAW_MESSAGE_MAX`] bytes; a longer message is refused here, before any call, and is
//!   never truncated. `ED25519_PH_SHA_512` (pre-hashed Ed25519) produces signatures that TUF
//!   clients do not accept, and is never used.
//!
//! Properties kept:
//! - the public key comes from `GetPublicKey`, once, when the signer is built; the alias (if one
//!   was given) is resolved then and the signer keeps using the key it resolved to;
//! - every signature KMS returns is verified against that public key before it is handed out
//!   (by [`Signer`]);
//! - an Ed25519 message is never truncated or pre-hashed, and every call is bounded in time, so
//!   a KMS outage makes signing fail instead of hang.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_lc_rs::digest::{SHA256, digest};
use aws_sdk_kms::Client;
use aws_sdk_kms::config::{Credentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use tough::key_source::KeySource;
use tough::sign::Sign;

use crate::error::{BadSignature, PublicKeyError};
use crate::signer::{RawSigner, Signer};
use crate::tuf_key::{KeyAlgorithm, TufPublicKey};

/// The largest message KMS signs with `MessageType::Raw`, in bytes.
pub const KMS_RAW_MESSAGE_MAX: usize = 4096;

/// How long one KMS operation (with its retries) may take by default.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one attempt of a KMS operation may take by default (never more than the
/// operation's limit).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to KMS may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many attempts one KMS operation gets by default (the SDK's standard retry policy:
/// throttling, transient and timeout errors are retried with backoff).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Where and how to reach AWS KMS. Everything left unset comes from the usual AWS configuration
/// (environment variables, `~/.aws/config` and `~/.aws/credentials`, web identity, container and
/// instance metadata), as `aws-config` resolves it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct KmsOptions {
    /// The AWS region, e.g. `us-west-2`.
    pub region: Option<String>,
    /// An explicit endpoint, e.g. `http://127.0.0.1:5000` for a KMS emulator in tests.
    pub endpoint_url: Option<String>,
    /// The profile to read from the AWS config files.
    pub profile: Option<String>,
    /// Explicit credentials (for tests and emulators; production uses the provider chain).
    /// Their `Debug` output redacts the secret.
    pub credentials: Option<Credentials>,
    /// The limit for one KMS operation including retries (default 30 s).
    pub operation_timeout: Option<Duration>,
    /// The limit for one attempt of an operation (default 10 s, and never more than the
    /// operation's limit).
    pub attempt_timeout: Option<Duration>,
    /// The limit for connecting to KMS (default 5 s).
    pub connect_timeout: Option<Duration>,
    /// How many attempts one operation gets, the first included (default 3; 1: no retries).
    pub max_attempts: Option<u32>,
}

impl KmsOptions {
    /// Sets the region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets an explicit endpoint URL.
    pub fn with_endpoint_url(mut self, endpoint_url: impl Into<String>) -> Self {
        self.endpoint_url = Some(endpoint_url.into());
        self
    }

    /// Sets the AWS config profile.
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Sets explicit credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sets the limit for one KMS operation including retries.
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Sets the limit for one attempt of an operation.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Sets the limit for connecting.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets how many attempts one operation gets.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The limits a client built from these options applies, defaults filled in.
    pub fn limits(&self) -> KmsLimits {
        let operation = self.operation_timeout.unwrap_or(DEFAULT_OPERATION_TIMEOUT);
        KmsLimits {
            connect: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            attempt: self
                .attempt_timeout
                .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT)
                .min(operation),
            operation,
            max_attempts: self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1),
        }
    }
}

/// The time limits and retries of a KMS client, as [`KmsOptions::limits`] fills them in; shown
/// in timeout errors so that the operator sees which limit to raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KmsLimits {
    /// Connecting.
    pub connect: Duration,
    /// One attempt.
    pub attempt: Duration,
    /// One operation, its retries included.
    pub operation: Duration,
    /// Attempts per operation.
    pub max_attempts: u32,
}

impl fmt::Display for KmsLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connect {} ms, attempt {} ms, operation {} ms, {} attempts",
            self.connect.as_millis(),
            self.attempt.as_millis(),
            self.operation.as_millis(),
            self.max_attempts
        )
    }
}

/// Builds a KMS client from the usual AWS configuration, with `options` overriding it.
///
/// Calls are bounded in time (connect 5 s, attempt 10 s, operation 30 s, 3 attempts by
/// default: [`KmsOptions::limits`]), so a KMS outage makes signing fail instead of hang.
pub async fn kms_client(options: &KmsOptions) -> Client {
    let limits = options.limits();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(limits.connect)
                .operation_attempt_timeout(limits.attempt)
                .operation_timeout(limits.operation)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(limits.max_attempts));
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint_url) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint_url);
    }
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(credentials) = &options.credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    Client::new(&loader.load().await)
}

/// The limits `client` applies, as far as its configuration says.
fn client_limits(client: &Client) -> Option<KmsLimits> {
    let config = client.config();
    let timeouts = config.timeout_config()?;
    Some(KmsLimits {
        connect: timeouts.connect_timeout()?,
        attempt: timeouts.operation_attempt_timeout()?,
        operation: timeouts.operation_timeout()?,
        max_attempts: config.retry_config().map_or(1, |r| r.max_attempts()),
    })
}

/// The KMS signing algorithm that produces TUF signatures for `algorithm`.
fn signing_algorithm(algorithm: KeyAlgorithm) -> SigningAlgorithmSpec {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => SigningAlgorithmSpec::EcdsaSha256,
        // Pure Ed25519; never `Ed25519PhSha512`.
        KeyAlgorithm::Ed25519 => SigningAlgorithmSpec::Ed25519Sha512,
    }
}

/// A signer whose private key lives in AWS KMS (an `ECC_NIST_P256` or `ECC_NIST_EDWARDS25519`
/// key with usage `SIGN_VERIFY`): [`KmsSigner::connect`], [`KmsSigner::from_client`]. Needs only
/// `kms:GetPublicKey` and `kms:Sign` on that key.
pub type KmsSigner = Signer<KmsKey>;

/// The key source of a [`KmsSigner`]: a KMS client and the key it signs with. Only a
/// [`KmsSigner`] holds one.
#[derive(Clone)]
pub struct KmsKey {
    client: Client,
    /// The key's ID or ARN as `GetPublicKey` reported it: never an alias.
    key_id: String,
    public: TufPublicKey,
    /// The client's limits, for timeout errors.
    limits: Option<KmsLimits>,
}

impl fmt::Debug for KmsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsSigner")
            .field("kms_key_id", &self.key_id)
            .field("algorithm", &self.public.algorithm())
            .field("key_id", &self.public.key_id_hex())
            .finish()
    }
}

impl fmt::Display for KmsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KMS key {}", self.key_id)
    }
}

impl RawSigner for KmsKey {
    type Error = KmsError;

    fn public_key(&self) -> &TufPublicKey {
        &self.public
    }

    /// One KMS `Sign` call: `ECDSA_SHA_256` over the message's SHA-256 digest for P-256 (any
    /// size), `ED25519_SHA_512` over the message itself for Ed25519 (at most
    /// [`KMS_RAW_MESSAGE_MAX`] bytes, else [`KmsError::MessageTooLarge`] without calling KMS;
    /// never truncated).
    async fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, KmsError> {
        let algorithm = self.public.algorithm();
        let request = self
            .client
            .sign()
            .key_id(&self.key_id)
            .signing_algorithm(signing_algorithm(algorithm));
        let request = match algorithm {
            KeyAlgorithm::EcdsaP256 => request
                .message(Blob::new(digest(&SHA256, message).as_ref()))
                .message_type(MessageType::Digest),
            KeyAlgorithm::Ed25519 => {
                if message.len() > KMS_RAW_MESSAGE_MAX {
                    return Err(KmsError::MessageTooLarge {
                        len: message.len(),
                        max: KMS_RAW_MESSAGE_MAX,
                    });
                }
                request
                    .message(Blob::new(message))
                    .message_type(MessageType::Raw)
            }
        };
        let out = request
            .send()
            .await
            .map_err(api_error("Sign", &self.key_id, self.limits))?;
        let signature = out.signature().ok_or_else(|| KmsError::MissingField {
            operation: "Sign",
            key_id: self.key_id.clone(),
            field: "Signature",
        })?;
        Ok(signature.as_ref().to_vec())
    }
}

impl Signer<KmsKey> {
    /// Connects to KMS with `options` and builds a signer for `key_id` (a key ID, key ARN, alias
    /// name or alias ARN), as [`KmsSigner::from_client`] does.
    pub async fn connect(key_id: &str, options: &KmsOptions) -> Result<Self, KmsError> {
        Self::from_client(kms_client(options).await, key_id).await
    }

    /// Builds a signer for `key_id` with an existing client: fetches the public key with
    /// `GetPublicKey` and checks that the key is a `SIGN_VERIFY` key of a supported key spec
    /// that offers the signing algorithm TUF needs, and that its public key matches that spec.
    pub async fn from_client(client: Client, key_id: &str) -> Result<Self, KmsError> {
        let limits = client_limits(&client);
        let out = client
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(api_error("GetPublicKey", key_id, limits))?;
        let missing = |field| KmsError::MissingField {
            operation: "GetPublicKey",
            key_id: key_id.to_owned(),
            field,
        };
        let resolved = out.key_id().ok_or_else(|| missing("KeyId"))?.to_owned();
        if let Some(usage) = out.key_usage()
            && *usage != KeyUsageType::SignVerify
        {
            return Err(KmsError::WrongKeyUsage {
                key_id: resolved,
                usage: usage.as_str().to_owned(),
            });
        }
        let key_spec = out.key_spec().ok_or_else(|| missing("KeySpec"))?;
        let algorithm = match key_spec {
            KeySpec::EccNistP256 => KeyAlgorithm::EcdsaP256,
            KeySpec::EccNistEdwards25519 => KeyAlgorithm::Ed25519,
            other => {
                return Err(KmsError::UnsupportedKeySpec {
                    key_id: resolved,
                    key_spec: other.as_str().to_owned(),
                });
            }
        };
        let needed = signing_algorithm(algorithm);
        if !out.signing_algorithms().contains(&needed) {
            return Err(KmsError::AlgorithmNotOffered {
                key_id: resolved,
                algorithm: needed.as_str().to_owned(),
                offered: out
                    .signing_algorithms()
                    .iter()
                    .map(SigningAlgorithmSpec::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let der = out.public_key().ok_or_else(|| missing("PublicKey"))?;
        let public =
            TufPublicKey::from_spki_der(der.as_ref()).map_err(|source| KmsError::PublicKey {
                key_id: resolved.clone(),
                source,
            })?;
        if public.algorithm() != algorithm {
            return Err(KmsError::KeySpecMismatch {
                key_id: resolved,
                key_spec: key_spec.as_str().to_owned(),
                found: public.algorithm(),
            });
        }
        Ok(Signer::new(KmsKey {
            client,
            key_id: resolved,
            public,
            limits,
        }))
    }

    /// The KMS key ID (or ARN) this signer signs with, as `GetPublicKey` resolved it.
    pub fn kms_key_id(&self) -> &str {
        &self.raw.key_id
    }
}

/// A tough [`KeySource`] for a KMS key.
#[derive(Debug, Clone)]
pub struct KmsKeySource {
    /// The key ID, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// How to reach KMS.
    pub options: KmsOptions,
}

#[async_trait]
impl KeySource for KmsKeySource {
    /// Connects and builds a [`KmsSigner`].
    async fn as_sign(&self) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Box::new(
            KmsSigner::connect(&self.key_id, &self.options).await?,
        ))
    }

    /// Always fails: KMS keys are created in KMS, never written through this crate.
    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err(Box::new(KmsError::WriteUnsupported))
    }
}

/// Builds a `map_err` closure turning an SDK error into [`KmsError::Timeout`] (a call cut off
/// by a time limit) or [`KmsError::Api`].
fn api_error<'a, E, R>(
    operation: &'static str,
    key_id: &'a str,
    limits: Option<KmsLimits>,
) -> impl FnOnce(SdkError<E, R>) -> KmsError + 'a
where
    E: std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
    aws_sdk_kms::Error: From<SdkError<E, R>>,
{
    move |error| {
        let timed_out = match &error {
            SdkError::TimeoutError(_) => true,
            SdkError::DispatchFailure(failure) => failure.is_timeout(),
            _ => false,
        };
        if timed_out {
            KmsError::Timeout {
                operation,
                key_id: key_id.to_owned(),
                limits: limits.map_or_else(|| "the client's".to_owned(), |l| l.to_string()),
            }
        } else {
            KmsError::Api {
                operation,
                key_id: key_id.to_owned(),
                error: Box::new(error.into()),
            }
        }
    }
}

/// Why an AWS KMS key could not be used for signing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// A KMS API call failed (network, credentials, permissions, unknown key, throttling...).
    #[error("KMS {operation} on key {key_id} failed: {}", DisplayErrorContext(&**error))]
    Api {
        /// The API operation, e.g. "GetPublicKey".
        operation: &'static str,
        /// The key the call was about.
        key_id: String,
        /// The SDK's error (shown with its whole chain of causes), for callers that want to
        /// match on the service error code.
        error: Box<aws_sdk_kms::Error>,
    },
    /// A KMS call was cut off by a time limit (connecting, one attempt, or the whole operation
    /// with its retries).
    #[error(
        "KMS {operation} on key {key_id} timed out (limits: {limits}); check that KMS is \
         reachable, or raise the KMS timeouts (connect_timeout_ms, attempt_timeout_ms, \
         operation_timeout_ms)"
    )]
    Timeout {
        /// The API operation, e.g. "Sign".
        operation: &'static str,
        /// The key the call was about.
        key_id: String,
        /// The limits in force.
        limits: String,
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
        found: KeyAlgorithm,
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
    /// The signature KMS returned does not verify under the key's public key (refused by
    /// [`Signer`]).
    #[error("{0} (wrong key, wrong algorithm, or a faulty KMS endpoint)")]
    BadSignature(#[from] BadSignature),
    /// `KeySource::write` was called on a KMS key source.
    #[error("a KMS key cannot be written through this crate; create keys with KMS itself")]
    WriteUnsupported,
}
