//! The S3 client: one bucket under a key prefix, through aws-sdk-s3 (`[storage] type = "s3"`).
//!
//! Properties kept: every request has a connect timeout and a per-attempt timeout, and the SDK
//! never retries on its own (its retries would hide whether a conditional write landed: a
//! retried `If-Match` PUT that had in fact succeeded fails its own condition). Callers that must
//! retry do so themselves, and settle "did my timed-out PUT land?" by a GET and a byte
//! comparison after a [`BucketError::PreconditionFailed`]. Every SDK error becomes exactly one
//! [`BucketError`]: a condition that did not hold, a failure that may pass when retried
//! ([`BucketError::Unavailable`]), or a configuration problem that will not
//! ([`BucketError::Denied`]). Credentials come from the standard AWS chain only, and no error or
//! log line carries them. Keys are `{prefix}/{key}` (just `{key}` with an empty prefix).

use std::pin::Pin;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use tokio::io::AsyncReadExt as _;

use crate::config::S3Storage;

/// The longest wait for a TCP (and TLS) connection to the endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one request may take until its response has arrived (for a GET: its headers;
/// the body is then streamed). With no SDK retries, this bounds every operation.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A boxed error from the SDK, kept as the source of a [`BucketError`].
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// A bucket under a key prefix. Cheap to clone: clones share the SDK client (and its
/// connection pool).
#[derive(Debug, Clone)]
pub struct Bucket {
    client: Client,
    bucket: String,
    /// "" or segments without a leading or trailing '/'.
    prefix: String,
}

/// The condition of a PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// None: the object is created or replaced.
    None,
    /// `If-None-Match: *`: only if no object has the key.
    IfAbsent,
    /// `If-Match: ETAG`: only if the object's current ETag is this one (as S3 returned it,
    /// quotes included).
    IfMatch(String),
}

/// The headers stored with an object and sent with it to every reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `Cache-Control`, if any.
    pub cache_control: Option<&'static str>,
}

/// A whole object, read into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its ETag, quotes included.
    pub etag: String,
}

/// An object opened for streaming.
pub struct ObjectStream {
    /// Its length in bytes.
    pub length: u64,
    /// Its ETag, quotes included.
    pub etag: String,
    /// Its bytes.
    pub body: Pin<Box<dyn tokio::io::AsyncRead + Send>>,
}

impl std::fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream")
            .field("length", &self.length)
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

/// Why a bucket operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// The PUT's condition did not hold (412; 409 `ConditionalRequestConflict`; or the object an
    /// `If-Match` named is gone).
    #[error(
        "s3: the condition on writing {key} did not hold: another writer changed it (or, after a \
         timed-out attempt, this one did: compare the stored bytes)"
    )]
    PreconditionFailed {
        /// The full key.
        key: String,
    },
    /// The network, a timeout, a 5xx answer or throttling: may pass when retried.
    #[error(
        "s3: {key}: the bucket is unreachable or overloaded ({source}); it is retried, and if this \
         persists check the endpoint, the network and the service's health"
    )]
    Unavailable {
        /// The full key.
        key: String,
        /// The SDK's error.
        source: SourceError,
    },
    /// A 403, a missing bucket, another 4xx, missing credentials: a configuration problem that
    /// a retry will not fix.
    #[error(
        "s3: {key}: refused ({source}); check [storage] (bucket, prefix, region, endpoint, \
         path_style), the credentials in the AWS chain, and that the IAM policy allows \
         s3:GetObject, s3:PutObject and s3:ListBucket on the prefix"
    )]
    Denied {
        /// The full key.
        key: String,
        /// The SDK's error.
        source: SourceError,
    },
    /// A GET of an object bigger than the caller's limit.
    #[error(
        "s3: {key} is {bytes} bytes, more than this signer ever writes there; something else \
         wrote it: check what writes under the prefix"
    )]
    TooLarge {
        /// The full key.
        key: String,
        /// Its size (or the limit, when it was found bigger while reading).
        bytes: u64,
    },
    /// No region is configured and the AWS chain names none.
    #[error(
        "s3: no region: set [storage] region, or AWS_REGION (or a profile's region) in the \
         signer's environment"
    )]
    NoRegion,
}

impl BucketError {
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BucketError::Unavailable { .. })
    }
}

impl Bucket {
    /// Builds the client for `cfg`: its region and endpoint (else the AWS chain's), path-style
    /// addressing if asked, the timeouts above, no SDK retries, credentials from the AWS chain.
    /// Sends no request: a wrong bucket or missing credentials show on the first operation.
    pub async fn connect(cfg: &S3Storage) -> Result<Bucket, BucketError> {
        Self::connect_with_credentials(cfg, None).await
    }

    /// [`Bucket::connect`] with fixed credentials instead of the AWS chain's (for tests and
    /// embedding; the signer itself only uses the chain).
    pub async fn connect_with_credentials(
        cfg: &S3Storage,
        credentials: Option<aws_sdk_s3::config::Credentials>,
    ) -> Result<Bucket, BucketError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::disabled());
        if let Some(region) = &cfg.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &cfg.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            return Err(BucketError::NoRegion);
        }
        let s3 = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(cfg.path_style)
            // Checksums only where S3 requires them: the aws-chunked trailers the SDK would
            // otherwise send are not understood by every S3-compatible store, and what the
            // signer writes is checked by reading it back where it matters.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        Ok(Bucket {
            client: Client::from_conf(s3),
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.clone(),
        })
    }

    /// The same client and bucket under `prefix/sub` (or `sub` with an empty prefix).
    pub fn under(&self, sub: &str) -> Bucket {
        Bucket {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            prefix: self.full_key(sub.trim_matches('/')),
        }
    }

    /// The bucket's name.
    #[allow(dead_code, reason = "for the state store (the log in the bucket)")]
    pub fn name(&self) -> &str {
        &self.bucket
    }

    /// The key prefix ("" or without a trailing '/').
    #[allow(dead_code, reason = "for the state store (the log in the bucket)")]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full key of `key`.
    pub fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else if key.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Stores `bytes` at `key` under `cond`; returns the new ETag.
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        meta: ObjectMeta,
        cond: Condition,
    ) -> Result<String, BucketError> {
        let full = self.full_key(key);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .content_type(meta.content_type)
            .body(ByteStream::from(bytes));
        if let Some(cc) = meta.cache_control {
            req = req.cache_control(cc);
        }
        let if_match = matches!(cond, Condition::IfMatch(_));
        req = match cond {
            Condition::None => req,
            Condition::IfAbsent => req.if_none_match("*"),
            Condition::IfMatch(etag) => req.if_match(etag),
        };
        match req.send().await {
            Ok(out) => out.e_tag().map(str::to_owned).ok_or_else(|| no_etag(&full)),
            Err(e) => {
                // S3 answers an If-Match on a key that has no object with 404 NoSuchKey: the
                // object the caller knew is gone, so its condition does not hold.
                if if_match && status_and_code(&e).1.as_deref() == Some("NoSuchKey") {
                    return Err(BucketError::PreconditionFailed { key: full });
                }
                Err(classify(full, e))
            }
        }
    }

    /// Reads the object at `key` whole, if there is one; refuses one over `max_bytes`.
    pub async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Object>, BucketError> {
        let Some(stream) = self.get_stream(key).await? else {
            return Ok(None);
        };
        let full = self.full_key(key);
        if stream.length > max_bytes {
            return Err(BucketError::TooLarge {
                key: full,
                bytes: stream.length,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(stream.length).unwrap_or(0));
        // Bounded even if the length the store announced was wrong.
        stream
            .body
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| BucketError::Unavailable {
                key: full.clone(),
                source: Box::new(e),
            })?;
        if bytes.len() as u64 > max_bytes {
            return Err(BucketError::TooLarge {
                key: full,
                bytes: max_bytes,
            });
        }
        Ok(Some(Object {
            bytes,
            etag: stream.etag,
        }))
    }

    /// Opens the object at `key` for streaming, if there is one.
    pub async fn get_stream(&self, key: &str) -> Result<Option<ObjectStream>, BucketError> {
        let full = self.full_key(key);
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing_key(&e) => return Ok(None),
            Err(e) => return Err(classify(full, e)),
        };
        let etag = out
            .e_tag()
            .map(str::to_owned)
            .ok_or_else(|| no_etag(&full))?;
        let length = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| BucketError::Unavailable {
                key: full.clone(),
                source: "the GetObject answer has no Content-Length".into(),
            })?;
        Ok(Some(ObjectStream {
            length,
            etag,
            body: Box::pin(out.body.into_async_read()),
        }))
    }

    /// The ETag of the object at `key`, if there is one.
    pub async fn head(&self, key: &str) -> Result<Option<String>, BucketError> {
        let full = self.full_key(key);
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => out
                .e_tag()
                .map(|t| Some(t.to_owned()))
                .ok_or_else(|| no_etag(&full)),
            // A HEAD answer has no body, so a missing bucket looks like a missing key here.
            Err(e) if status_and_code(&e).0 == Some(404) => Ok(None),
            Err(e) => Err(classify(full, e)),
        }
    }

    /// Every key under `dir/` (all pages, in S3's order: ascending bytes), after `start_after`
    /// if given. Both `dir`, `start_after` and the keys returned are relative to this bucket's
    /// prefix, the form [`Bucket::get`] takes.
    #[allow(dead_code, reason = "for the state store (recovery lists the log)")]
    pub async fn list(
        &self,
        dir: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, BucketError> {
        self.list_pages(dir, start_after, None).await
    }

    /// [`Bucket::list`] with pages of at most `page` keys (the store's default: 1,000).
    #[allow(dead_code, reason = "for the state store (recovery lists the log)")]
    async fn list_pages(
        &self,
        dir: &str,
        start_after: Option<&str>,
        page: Option<i32>,
    ) -> Result<Vec<String>, BucketError> {
        let dir_key = format!("{}/", self.full_key(dir.trim_matches('/')));
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&dir_key)
                .set_max_keys(page);
            if let Some(after) = start_after {
                req = req.start_after(self.full_key(after));
            }
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let out = req.send().await.map_err(|e| classify(dir_key.clone(), e))?;
            for object in out.contents() {
                if let Some(key) = object.key()
                    && let Some(rel) = key.get(strip..)
                {
                    keys.push(rel.to_owned());
                }
            }
            match (out.is_truncated(), out.next_continuation_token()) {
                (Some(true), Some(next)) => token = Some(next.to_owned()),
                _ => return Ok(keys),
            }
        }
    }
}

/// Test helpers against moto.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use tuf_keys::test_support::{MotoKms, REGION};

    /// A client for bucket `name` under `prefix` at `endpoint` (nothing is sent).
    pub(crate) async fn at(endpoint: &str, name: &str, prefix: &str) -> Bucket {
        let cfg = S3Storage {
            bucket: name.into(),
            prefix: prefix.into(),
            region: Some(REGION.into()),
            endpoint: Some(endpoint.into()),
            path_style: true,
            advertise_url: "http://127.0.0.1:1".into(),
            node_id: None,
            lease_seconds: 5,
        };
        let credentials = aws_sdk_s3::config::Credentials::new(
            "moto-access-key",
            "moto-secret-key",
            None,
            None,
            "t",
        );
        Bucket::connect_with_credentials(&cfg, Some(credentials))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A bucket of moto's, created, at `prefix`.
    pub(crate) async fn moto_bucket(moto: &MotoKms, name: &str, prefix: &str) -> Bucket {
        let b = at(moto.endpoint_url(), name, prefix).await;
        if let Err(e) = b.client.create_bucket().bucket(name).send().await {
            panic!(
                "create bucket {name}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            );
        }
        b
    }

    /// The `Content-Type` and `Cache-Control` stored with `key` (relative to `b`'s prefix).
    pub(crate) async fn headers(b: &Bucket, key: &str) -> (Option<String>, Option<String>) {
        let out = b
            .client
            .head_object()
            .bucket(&b.bucket)
            .key(b.full_key(key))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("head {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e))
            });
        (
            out.content_type().map(str::to_owned),
            out.cache_control().map(str::to_owned),
        )
    }
}

fn no_etag(key: &str) -> BucketError {
    BucketError::Unavailable {
        key: key.to_owned(),
        source: "the answer has no ETag (is the endpoint an S3 API?)".into(),
    }
}

/// The HTTP status and S3 error code of an SDK error, where there was an answer.
fn status_and_code<E: ProvideErrorMetadata, R: HasStatus>(
    e: &SdkError<E, R>,
) -> (Option<u16>, Option<String>) {
    let status = e.raw_response().map(HasStatus::status_u16);
    (status, e.code().map(str::to_owned))
}

/// A raw response's status (the SDK's `HttpResponse`).
trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

/// A GET's "no such key" (not a missing bucket, which is a configuration problem).
fn is_missing_key<E: ProvideErrorMetadata, R: HasStatus>(e: &SdkError<E, R>) -> bool {
    let (status, code) = status_and_code(e);
    status == Some(404) && code.as_deref() != Some("NoSuchBucket")
}

/// The S3 error codes that say "try again".
const RETRYABLE_CODES: [&str; 8] = [
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    // "A conflicting conditional operation is currently in progress against this resource.
    // Try again."
    "OperationAborted",
];

/// Classifies an SDK error (one without a case its caller handles itself).
fn classify<E, R>(key: String, e: SdkError<E, R>) -> BucketError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HasStatus + std::fmt::Debug + Send + Sync + 'static,
{
    let (status, code) = status_and_code(&e);
    let retryable = match &e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => {
            // I/O and timeouts pass; a user error (a bad endpoint URL) or a failure to find
            // credentials does not.
            d.is_io()
                || d.is_timeout()
                || d.as_other().is_some_and(|k| {
                    use aws_config::retry::ErrorKind;
                    matches!(
                        k,
                        ErrorKind::TransientError
                            | ErrorKind::ThrottlingError
                            | ErrorKind::ServerError
                    )
                })
        }
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(_) => {
            let status = status.unwrap_or(0);
            match status {
                412 => return BucketError::PreconditionFailed { key },
                409 if code.as_deref() == Some("ConditionalRequestConflict") => {
                    return BucketError::PreconditionFailed { key };
                }
                429 | 500..=599 => true,
                _ => code
                    .as_deref()
                    .is_some_and(|c| RETRYABLE_CODES.contains(&c)),
            }
        }
        // SdkError is non-exhaustive: a kind this code does not know is not retried.
        _ => false,
    };
    let source = describe(e, status, code);
    if retryable {
        BucketError::Unavailable { key, source }
    } else {
        BucketError::Denied { key, source }
    }
}

/// The SDK error as a source with its status and code in the message (the SDK's own Display
/// for a service error is just "service error").
fn describe<E, R>(e: SdkError<E, R>, status: Option<u16>, code: Option<String>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match (status, code, e.message().map(str::to_owned)) {
        (Some(status), code, message) if matches!(e, SdkError::ServiceError(_)) => {
            let code = code.unwrap_or_else(|| "no error code".to_owned());
            let message = message.unwrap_or_default();
            format!("HTTP {status} {code}: {message}").trim_end().into()
        }
        // DisplayErrorContext prints the whole chain (connection refused, timed out, ...).
        _ => aws_sdk_s3::error::DisplayErrorContext(e).to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuf_keys::test_support::{MotoKms, REGION};

    fn storage(prefix: &str, endpoint: &str) -> S3Storage {
        S3Storage {
            bucket: "tuf-repo".into(),
            prefix: prefix.into(),
            region: Some(REGION.into()),
            endpoint: Some(endpoint.into()),
            path_style: true,
            advertise_url: "http://127.0.0.1:1".into(),
            node_id: None,
            lease_seconds: 5,
        }
    }

    /// moto's dummy credentials (as `MotoKms::options()` uses).
    fn credentials() -> aws_sdk_s3::config::Credentials {
        aws_sdk_s3::config::Credentials::new("moto-access-key", "moto-secret-key", None, None, "t")
    }

    async fn connect(prefix: &str, endpoint: &str) -> Bucket {
        Bucket::connect_with_credentials(&storage(prefix, endpoint), Some(credentials()))
            .await
            .unwrap()
    }

    const JSON: ObjectMeta = ObjectMeta {
        content_type: "application/json",
        cache_control: Some("public, max-age=30"),
    };

    #[tokio::test]
    async fn keys_are_under_the_prefix() {
        let b = connect("prod", "http://127.0.0.1:9").await;
        assert_eq!(
            b.full_key("repo/r/timestamp.json"),
            "prod/repo/r/timestamp.json"
        );
        let r = b.under("repo/r");
        assert_eq!(r.prefix(), "prod/repo/r");
        assert_eq!(r.full_key("1.root.json"), "prod/repo/r/1.root.json");
        let b = connect("", "http://127.0.0.1:9").await;
        assert_eq!(b.full_key("repo/r/x"), "repo/r/x");
        assert_eq!(b.under("state").full_key("lease.json"), "state/lease.json");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_unavailable() {
        // A port that was free a moment ago: connections to it are refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let b = connect("p", &format!("http://127.0.0.1:{port}")).await;
        let e = b.head("k").await.unwrap_err();
        assert!(matches!(e, BucketError::Unavailable { .. }), "{e}");
        assert!(e.to_string().contains("p/k"), "{e}");
        let e = b
            .put("k", vec![1], JSON, Condition::IfAbsent)
            .await
            .unwrap_err();
        assert!(e.is_retryable(), "{e}");
    }

    #[tokio::test]
    async fn conditional_puts_lists_and_errors_against_moto() {
        let Some(moto) = MotoKms::start_or_skip("conditional_puts_lists_and_errors_against_moto")
        else {
            return;
        };
        let root = connect("", moto.endpoint_url()).await;
        // The bucket does not exist yet: a configuration problem, not retried.
        let e = root.get("k", 10).await.unwrap_err();
        assert!(matches!(e, BucketError::Denied { .. }), "{e}");
        assert!(e.to_string().contains("NoSuchBucket"), "{e}");
        root.client
            .create_bucket()
            .bucket("tuf-repo")
            .send()
            .await
            .unwrap();

        let b = connect("prod/eu", moto.endpoint_url())
            .await
            .under("state/r");
        assert_eq!(b.get("lease.json", 100).await.unwrap(), None);
        assert_eq!(b.head("lease.json").await.unwrap(), None);

        // Create once; a second create fails its condition.
        let e1 = b
            .put("lease.json", b"one".to_vec(), JSON, Condition::IfAbsent)
            .await
            .unwrap();
        let e = b
            .put("lease.json", b"two".to_vec(), JSON, Condition::IfAbsent)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, BucketError::PreconditionFailed { key } if key == "prod/eu/state/r/lease.json"),
            "{e}"
        );
        // Swap only from the ETag read.
        let e = b
            .put(
                "lease.json",
                b"two".to_vec(),
                JSON,
                Condition::IfMatch("\"0000\"".into()),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, BucketError::PreconditionFailed { .. }), "{e}");
        let e2 = b
            .put(
                "lease.json",
                b"two".to_vec(),
                JSON,
                Condition::IfMatch(e1.clone()),
            )
            .await
            .unwrap();
        assert_ne!(e1, e2);
        assert_eq!(
            b.get("lease.json", 100).await.unwrap(),
            Some(Object {
                bytes: b"two".to_vec(),
                etag: e2.clone()
            })
        );
        assert_eq!(b.head("lease.json").await.unwrap(), Some(e2.clone()));
        // If-Match on a key with no object: the object the caller knew is gone.
        let e = b
            .put("gone.json", b"x".to_vec(), JSON, Condition::IfMatch(e2))
            .await
            .unwrap_err();
        assert!(matches!(e, BucketError::PreconditionFailed { .. }), "{e}");
        // The headers are stored with the object.
        let head = b
            .client
            .head_object()
            .bucket("tuf-repo")
            .key("prod/eu/state/r/lease.json")
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some("application/json"));
        assert_eq!(head.cache_control(), Some("public, max-age=30"));
        // An unconditional put replaces.
        let meta = ObjectMeta {
            content_type: "application/octet-stream",
            cache_control: None,
        };
        b.put("lease.json", b"three".to_vec(), meta, Condition::None)
            .await
            .unwrap();
        // Too large, by the announced length.
        let e = b.get("lease.json", 4).await.unwrap_err();
        assert!(matches!(e, BucketError::TooLarge { bytes: 5, .. }), "{e}");
        // Streaming.
        let mut s = b.get_stream("lease.json").await.unwrap().unwrap();
        assert_eq!(s.length, 5);
        let mut body = Vec::new();
        s.body.read_to_end(&mut body).await.unwrap();
        assert_eq!(body, b"three");
        assert!(b.get_stream("nothing").await.unwrap().is_none());

        // Lists: every page, relative keys, after a key.
        for seq in 0..25u64 {
            b.put(
                &format!("log/{seq:020}.json"),
                seq.to_string().into_bytes(),
                JSON,
                Condition::IfAbsent,
            )
            .await
            .unwrap();
        }
        let all = b.list_pages("log", None, Some(7)).await.unwrap();
        assert_eq!(all.len(), 25);
        assert_eq!(all[0], format!("log/{:020}.json", 0));
        assert_eq!(all[24], format!("log/{:020}.json", 24));
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        let after = b.list_pages("log/", Some(&all[19]), Some(2)).await.unwrap();
        assert_eq!(after, all[20..]);
        assert_eq!(
            b.list("log", Some(&all[24])).await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(b.list("nothing", None).await.unwrap(), Vec::<String>::new());
        // The listed keys are what get takes.
        assert_eq!(
            b.get(&all[3], 100).await.unwrap().map(|o| o.bytes),
            Some(b"3".to_vec())
        );
        // The whole prefix, from the top.
        let top = connect("prod", moto.endpoint_url()).await;
        assert_eq!(top.list("eu/state/r/log", None).await.unwrap().len(), 25);

        // Wrong credentials are refused... moto accepts any, so a missing bucket stands in for
        // a refusal here (see above); a wrong region or bucket name shows the same way.
        let other = Bucket::connect_with_credentials(
            &S3Storage {
                bucket: "no-such-bucket".into(),
                ..storage("", moto.endpoint_url())
            },
            Some(credentials()),
        )
        .await
        .unwrap();
        let e = other
            .put("k", b"x".to_vec(), JSON, Condition::IfAbsent)
            .await
            .unwrap_err();
        assert!(matches!(e, BucketError::Denied { .. }), "{e}");
        assert!(!e.is_retryable());
    }
}
