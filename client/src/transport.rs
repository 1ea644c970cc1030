//! How the client reaches a repository: over HTTP(S) (the signer, a mirror, a CDN) or from a
//! local directory (a mirror's copy of the signer's `repo/`). The HTTP(S) transport (ureq,
//! rustls on aws-lc-rs, a C library) is the `http` feature, on by default; without it a caller
//! brings its own [`Transport`], and the crate builds without a C compiler.
//!
//! Paths are relative to the server's base: `crates.io/timestamp.json`,
//! `api/v1/crates.io/proof/se/rd/serde?version=7`.
//!
//! Properties kept:
//! - Every read carries a byte limit; a response over it is [`ClientError::TooLarge`] and is
//!   never read past the limit, and a response shorter than its announced length is
//!   [`ClientError::Truncated`].
//! - A request that does not complete within [`HttpOptions::timeout`] (all redirects and the
//!   whole body included) is [`ClientError::Timeout`], never `Truncated`: a stalled server is
//!   not a short answer.
//! - Redirects are followed only as [`Redirects`] allows (by default to the same origin only),
//!   never from `https` to `http`, at most [`HttpOptions::max_redirects`] times, and a POST only
//!   through 307/308 (which keep the method and body); anything else is
//!   [`ClientError::RedirectRefused`]. What arrives is verified anyway, but a redirect must not
//!   make the client talk to a host (or in clear text) it was not pointed at.
//! - A request that failed on the network (refused, reset, closed before the whole body) or
//!   was answered 5xx is sent again, the same request (method, path, body), at most
//!   [`HttpOptions::retries`] times, after an exponential backoff with jitter. Nothing else is
//!   retried: not a 4xx (the answer to the request), not a timeout (the deadline already
//!   bounded that attempt; it stays [`ClientError::Timeout`]), not a TLS or redirect refusal.
//!   Every request this client sends is a read (GETs, and the proof POST, which changes
//!   nothing), so sending it again is safe. The error of the last attempt is returned.
//! - With a CA bundle ([`HttpOptions::ca_bundle`]), HTTPS trusts the bundle's certificates
//!   instead of the webpki roots.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
#[cfg(feature = "http")]
use std::time::Instant;

use crate::error::ClientError;
#[cfg(feature = "http")]
use crate::error::RedirectRefusal;

/// A fetched file, or the server's word that there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetched {
    /// The body, at most the limit.
    Found(Vec<u8>),
    /// 404.
    NotFound,
}

/// A source of repository files and API answers.
pub trait Transport: Send + Sync {
    /// GETs `path`, reading at most `limit` bytes.
    fn get(&self, path: &str, limit: u64) -> Result<Fetched, ClientError>;
    /// POSTs the JSON `body` to `path`, reading at most `limit` bytes of the answer.
    fn post_json(&self, path: &str, body: &[u8], limit: u64) -> Result<Fetched, ClientError>;
    /// [`Transport::get`] with `Accept: accept` (the proof API's formats, `docs/api.md`). A
    /// transport without content negotiation ignores it; the caller reads any format.
    fn get_accepting(&self, path: &str, accept: &str, limit: u64) -> Result<Fetched, ClientError> {
        let _ = accept;
        self.get(path, limit)
    }
    /// [`Transport::post_json`] with `Accept: accept`, as [`Transport::get_accepting`].
    fn post_json_accepting(
        &self,
        path: &str,
        body: &[u8],
        accept: &str,
        limit: u64,
    ) -> Result<Fetched, ClientError> {
        let _ = accept;
        self.post_json(path, body, limit)
    }
    /// Where it fetches from, for messages.
    fn describe(&self) -> String;
}

/// The answer to a conditional GET ([`HttpTransport::get_if_none_match`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conditional {
    /// 304: the file still has the entity tag that was sent.
    Unchanged,
    /// The body (at most the limit) and its entity tag, if the server sent one.
    Found {
        /// The body.
        bytes: Vec<u8>,
        /// The `ETag` header.
        etag: Option<String>,
    },
    /// 404.
    NotFound,
}

/// Which HTTP redirects [`HttpTransport`] follows. Whatever the policy, `https` to `http` is
/// never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Redirects {
    /// None: every redirect is refused.
    None,
    /// Only to the origin (scheme, host and port) of the request. The default.
    #[default]
    SameOrigin,
    /// To any `http` or `https` origin (a mirror that sends clients to a CDN).
    AnyOrigin,
}

/// A redirect policy other than `none`, `same-origin` and `any-origin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redirect policy {0:?} is none of none, same-origin, any-origin")]
pub struct UnknownRedirects(pub String);

impl std::str::FromStr for Redirects {
    type Err = UnknownRedirects;
    fn from_str(s: &str) -> Result<Self, UnknownRedirects> {
        match s {
            "none" => Ok(Redirects::None),
            "same-origin" => Ok(Redirects::SameOrigin),
            "any-origin" => Ok(Redirects::AnyOrigin),
            _ => Err(UnknownRedirects(s.to_owned())),
        }
    }
}

/// How [`HttpTransport`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// The longest one attempt at a request may take, from connecting to the last byte of the
    /// body, all redirects included.
    pub timeout: Duration,
    /// Which redirects are followed.
    pub redirects: Redirects,
    /// How many redirects one request follows at most.
    pub max_redirects: u32,
    /// How many times a request is sent again after a network error or a 5xx answer (0: never);
    /// the request is made at most `retries + 1` times.
    pub retries: u32,
    /// The backoff before the first retry; it doubles for each further one (up to
    /// [`MAX_BACKOFF`]), and each wait is drawn at random between half of it and all of it.
    pub retry_backoff: Duration,
    /// The CAs HTTPS trusts instead of the webpki roots (`None`: the webpki roots).
    pub ca_bundle: Option<CaBundle>,
}

impl Default for HttpOptions {
    /// 60 seconds, same-origin redirects only, at most 5 of them; 2 retries (3 attempts) from
    /// 250 ms; the webpki roots.
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(60),
            redirects: Redirects::SameOrigin,
            max_redirects: 5,
            retries: 2,
            retry_backoff: Duration::from_millis(250),
            ca_bundle: None,
        }
    }
}

/// Idle connections kept per host by default (ureq's own default).
pub const IDLE_PER_HOST: usize = 3;
/// Idle connections kept in all by default (ureq's own default).
#[cfg(feature = "http")]
const IDLE_TOTAL: usize = 10;

/// The longest wait between two attempts at a request.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The wait before retry number `retry` (0 for the first): `base` doubled `retry` times, at
/// most [`MAX_BACKOFF`], then drawn between half of that and all of it (jitter, so that many
/// clients failed by one outage do not come back at once).
pub fn backoff(base: Duration, retry: u32) -> Duration {
    let full = base
        .saturating_mul(2u32.saturating_pow(retry.min(16)))
        .min(MAX_BACKOFF);
    full / 2 + full.mul_f64(random_unit() / 2.0)
}

/// A number in [0, 1) from the standard library's randomly keyed hasher (good enough for
/// jitter; nothing secret depends on it).
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// CA certificates for HTTPS, read from a PEM file (`--ca-bundle`): they replace the webpki
/// roots. To trust the public CAs too, put them in the same file (a system bundle such as
/// `/etc/ssl/certs/ca-certificates.crt` concatenated with one's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    path: PathBuf,
    certs: Arc<Vec<Vec<u8>>>,
}

impl CaBundle {
    #[cfg(feature = "http")]
    /// Reads the PEM file at `path`: every `CERTIFICATE` block in it (other blocks are
    /// ignored). Refuses ([`ClientError::CaBundle`]) a file that cannot be read, malformed PEM,
    /// no certificate at all, or a certificate that cannot be a trust anchor.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let bytes = std::fs::read(path).map_err(|e| ClientError::CaBundle {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_pem(path, &bytes)
    }

    #[cfg(feature = "http")]
    /// [`CaBundle::load`] for PEM `bytes` already read (`path` names them in messages).
    pub fn from_pem(path: &Path, bytes: &[u8]) -> Result<Self, ClientError> {
        let refuse = |message: String| ClientError::CaBundle {
            path: path.to_owned(),
            message,
        };
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(bytes) {
            match item.map_err(|e| refuse(format!("not valid PEM: {e}")))? {
                ureq::tls::PemItem::Certificate(c) => certs.push(c.der().to_vec()),
                _ => continue,
            }
        }
        if certs.is_empty() {
            return Err(refuse(
                "holds no PEM certificate (BEGIN CERTIFICATE)".into(),
            ));
        }
        let mut store = rustls::RootCertStore::empty();
        for (i, der) in certs.iter().enumerate() {
            store
                .add(rustls::pki_types::CertificateDer::from(der.as_slice()))
                .map_err(|e| refuse(format!("certificate {} cannot be a CA: {e}", i + 1)))?;
        }
        Ok(CaBundle {
            path: path.to_owned(),
            certs: Arc::new(certs),
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many certificates it holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Always false: a bundle holds at least one certificate.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Its certificates, DER-encoded.
    #[cfg(feature = "http")]
    pub(crate) fn der(&self) -> &[Vec<u8>] {
        &self.certs
    }

    #[cfg(feature = "http")]
    fn root_certs(&self) -> ureq::tls::RootCerts {
        let certs: Vec<ureq::tls::Certificate<'static>> = self
            .certs
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
            .collect();
        ureq::tls::RootCerts::Specific(Arc::new(certs))
    }
}

#[cfg(feature = "http")]
/// One failed attempt at a request, and whether sending it again may help (a network error or
/// a 5xx; not a timeout, a 4xx, a refused redirect or a TLS failure).
struct Failure {
    error: ClientError,
    transient: bool,
}

#[cfg(feature = "http")]
impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Failure {
            error,
            transient: false,
        }
    }
}

#[cfg(feature = "http")]
impl Failure {
    fn transient(error: ClientError) -> Self {
        Failure {
            error,
            transient: true,
        }
    }
}

#[cfg(feature = "http")]
/// HTTP or HTTPS through a blocking `ureq` agent on rustls with aws-lc-rs (the TLS stack the
/// workspace already builds), webpki roots, an overall timeout and a redirect policy
/// ([`HttpOptions`]).
pub struct HttpTransport {
    base: String,
    agent: ureq::Agent,
    options: HttpOptions,
}

#[cfg(feature = "http")]
impl HttpTransport {
    /// A transport for `base` (`http://127.0.0.1:8080` or `https://tuf.example.org/`) with the
    /// default [`HttpOptions`].
    pub fn new(base: &str) -> Self {
        Self::with_options(base, HttpOptions::default())
    }

    /// A transport for `base` with `options`.
    pub fn with_options(base: &str, options: HttpOptions) -> Self {
        Self::with_idle_connections(base, options, IDLE_PER_HOST)
    }

    /// [`HttpTransport::with_options`], keeping up to `per_host` idle connections per host
    /// (rather than [`IDLE_PER_HOST`]) for callers that send that many requests at once: each
    /// connection opened beyond the idle ones is closed after its request, and over HTTPS each
    /// costs a handshake.
    pub fn with_idle_connections(base: &str, options: HttpOptions, per_host: usize) -> Self {
        let mut tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ));
        if let Some(bundle) = &options.ca_bundle {
            tls = tls.root_certs(bundle.root_certs());
        }
        let tls = tls.build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are followed here, by `request`, under the policy; ureq hands them back.
            .max_redirects(0)
            .timeout_global(Some(options.timeout))
            .tls_config(tls)
            .user_agent(concat!("tuf-client/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(per_host)
            .max_idle_connections(per_host.max(IDLE_TOTAL))
            .build();
        HttpTransport {
            base: base.trim_end_matches('/').to_owned(),
            agent: config.into(),
            options,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// GET (`body` none) or POST `path`, following redirects as the policy allows, within one
    /// deadline for everything; sent again after a transient failure.
    fn request(
        &self,
        path: &str,
        body: Option<&[u8]>,
        accept: Option<&str>,
        limit: u64,
    ) -> Result<Fetched, ClientError> {
        self.retrying(|| {
            let (url, response) = self.send(
                path,
                body,
                Headers {
                    if_none_match: None,
                    accept,
                },
            )?;
            finish(&url, response, limit)
        })
    }

    /// Runs `attempt` until it succeeds, fails for good, or has been retried
    /// [`HttpOptions::retries`] times, waiting [`backoff`] before each retry; returns the last
    /// attempt's error.
    fn retrying<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, Failure>,
    ) -> Result<T, ClientError> {
        let mut retry = 0;
        loop {
            match attempt() {
                Ok(v) => return Ok(v),
                Err(f) if f.transient && retry < self.options.retries => {
                    std::thread::sleep(backoff(self.options.retry_backoff, retry));
                    retry += 1;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// A conditional GET of `path`: with `etag` (an entity tag this transport returned before),
    /// the server may answer [`Conditional::Unchanged`] without a body. Followers that poll a
    /// head (`timestamp.json`) use it so that an unchanged repository costs a few bytes.
    pub fn get_if_none_match(
        &self,
        path: &str,
        limit: u64,
        etag: Option<&str>,
    ) -> Result<Conditional, ClientError> {
        self.retrying(|| {
            let headers = Headers {
                if_none_match: etag,
                accept: None,
            };
            let (url, response) = self.send(path, None, headers)?;
            if response.status().as_u16() == 304 {
                discard(response);
                return Ok(Conditional::Unchanged);
            }
            let etag = response
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(match finish(&url, response, limit)? {
                Fetched::Found(bytes) => Conditional::Found { bytes, etag },
                Fetched::NotFound => Conditional::NotFound,
            })
        })
    }

    /// Sends the request and follows redirects; the final URL and response.
    fn send(
        &self,
        path: &str,
        body: Option<&[u8]>,
        headers: Headers<'_>,
    ) -> Result<(String, ureq::http::Response<ureq::Body>), Failure> {
        let deadline = Instant::now() + self.options.timeout;
        let mut url = self.url(path);
        let mut hops = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ClientError::Timeout { what: url }.into());
            }
            let result = match body {
                None => {
                    // The first hop runs under the agent's own configuration (its timeout is
                    // the whole deadline): a request-level configuration makes ureq build a
                    // fresh rustls configuration for every connection it opens, which neither
                    // is cached nor resumes TLS sessions. Later hops get what remains.
                    let mut get = if hops == 0 {
                        self.agent.get(&url)
                    } else {
                        self.agent
                            .get(&url)
                            .config()
                            .timeout_global(Some(remaining))
                            .build()
                    };
                    if let Some(tag) = headers.if_none_match {
                        get = get.header("if-none-match", tag);
                    }
                    if let Some(accept) = headers.accept {
                        get = get.header("accept", accept);
                    }
                    get.call()
                }
                Some(b) => {
                    let post = if hops == 0 {
                        self.agent.post(&url)
                    } else {
                        self.agent
                            .post(&url)
                            .config()
                            .timeout_global(Some(remaining))
                            .build()
                    };
                    let mut post = post.content_type("application/json");
                    if let Some(accept) = headers.accept {
                        post = post.header("accept", accept);
                    }
                    post.send(b)
                }
            };
            let response = result.map_err(|e| request_error(&url, e))?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok((url, response));
            }
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| ClientError::Transport {
                    what: url.clone(),
                    message: format!("HTTP status {status} without a Location"),
                })?;
            let next = follow(&url, location, self.options.redirects)?;
            discard(response);
            if body.is_some() && !matches!(status, 307 | 308) {
                // 301/302/303 turn a POST into a GET, which is not the request that was meant.
                return Err(ClientError::RedirectRefused {
                    what: url,
                    to: next,
                    reason: RedirectRefusal::MethodChange,
                }
                .into());
            }
            hops += 1;
            if hops > self.options.max_redirects {
                return Err(ClientError::TooManyRedirects {
                    what: self.url(path),
                    limit: self.options.max_redirects,
                }
                .into());
            }
            url = next;
        }
    }
}

/// The optional request headers of [`HttpTransport::send`].
#[cfg(feature = "http")]
#[derive(Clone, Copy)]
struct Headers<'a> {
    if_none_match: Option<&'a str>,
    accept: Option<&'a str>,
}

/// Where a redirect from `from` to `location` leads, if `policy` allows it.
#[cfg(feature = "http")]
fn follow(from: &str, location: &str, policy: Redirects) -> Result<String, ClientError> {
    let base = url::Url::parse(from).map_err(|e| ClientError::Transport {
        what: from.to_owned(),
        message: e.to_string(),
    })?;
    let to = base.join(location).map_err(|e| ClientError::Transport {
        what: from.to_owned(),
        message: format!("redirect to an invalid Location {location:?}: {e}"),
    })?;
    let refuse = |reason| ClientError::RedirectRefused {
        what: from.to_owned(),
        to: to.to_string(),
        reason,
    };
    if base.scheme() == "https" && to.scheme() != "https" {
        return Err(refuse(RedirectRefusal::Downgrade));
    }
    match policy {
        Redirects::None => Err(refuse(RedirectRefusal::NotFollowed)),
        Redirects::SameOrigin if to.origin() != base.origin() => {
            Err(refuse(RedirectRefusal::CrossOrigin))
        }
        Redirects::AnyOrigin if !matches!(to.scheme(), "http" | "https") => {
            Err(refuse(RedirectRefusal::UnsupportedScheme))
        }
        _ => Ok(to.to_string()),
    }
}

/// A failed request: a timeout, or any other transport error; those of the network
/// (connecting, the connection failing, a server that closed it without an answer) are
/// transient.
#[cfg(feature = "http")]
fn request_error(what: &str, e: ureq::Error) -> Failure {
    let transient = match &e {
        // A TLS failure (an unknown certificate, say) arrives as an I/O error too, and is
        // the same on every attempt.
        ureq::Error::Io(io) => io
            .get_ref()
            .is_none_or(|inner| !inner.is::<rustls::Error>()),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Protocol(_) => {
            true
        }
        _ => false,
    };
    let error = match e {
        ureq::Error::Timeout(_) => ClientError::Timeout {
            what: what.to_owned(),
        },
        other => ClientError::Transport {
            what: what.to_owned(),
            message: other.to_string(),
        },
    };
    Failure { error, transient }
}

/// Whether a body read failed because the deadline passed (ureq wraps its own error in the
/// `io::Error`; a socket timeout is `TimedOut`).
#[cfg(feature = "http")]
fn is_timeout(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)))
}

#[cfg(feature = "http")]
/// The body of a response (at most `limit` bytes), or why there is none; a 5xx and a body cut
/// short by the network are transient.
fn finish(
    what: &str,
    response: ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<Fetched, Failure> {
    let status = response.status().as_u16();
    if status == 404 {
        discard(response);
        return Ok(Fetched::NotFound);
    }
    if status != 200 {
        discard(response);
        let error = ClientError::Status {
            what: what.to_owned(),
            status,
        };
        return Err(Failure {
            error,
            transient: (500..=599).contains(&status),
        });
    }
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(ClientError::TooLarge {
            what: what.to_owned(),
            limit,
        }
        .into());
    }
    let mut body = Vec::new();
    let reader = response.into_body().into_reader();
    let read = reader.take(limit.saturating_add(1)).read_to_end(&mut body);
    if let Err(e) = read {
        if is_timeout(&e) {
            return Err(ClientError::Timeout {
                what: what.to_owned(),
            }
            .into());
        }
        return Err(Failure::transient(match announced {
            Some(expected) => ClientError::Truncated {
                what: what.to_owned(),
                expected,
                got: body.len() as u64,
            },
            None => ClientError::Transport {
                what: what.to_owned(),
                message: e.to_string(),
            },
        }));
    }
    match check_body(what, body, announced, limit) {
        // Fewer bytes than announced, the connection closed early: the network's doing.
        Err(e @ ClientError::Truncated { .. }) => Err(Failure::transient(e)),
        other => Ok(other?),
    }
}

/// The most of a body read only to be dropped (a 404's, a redirect's, an error's).
#[cfg(feature = "http")]
const DISCARDED_BODY_LIMIT: u64 = 64 * 1024;

/// Reads the rest of an answer whose body is not used, so that its connection goes back to the
/// agent's pool: ureq reuses a connection only once its body was read to the end, and a
/// follower polling a file that is not there (a leaf snapshot its upstream does not publish)
/// would otherwise open a connection per poll. A body over [`DISCARDED_BODY_LIMIT`] is left:
/// its connection is closed rather than read for nothing. Failures do not matter here.
#[cfg(feature = "http")]
fn discard(response: ureq::http::Response<ureq::Body>) {
    let reader = response.into_body().into_reader();
    let _ = std::io::copy(&mut reader.take(DISCARDED_BODY_LIMIT), &mut std::io::sink());
}

fn check_body(
    what: &str,
    body: Vec<u8>,
    announced: Option<u64>,
    limit: u64,
) -> Result<Fetched, ClientError> {
    if body.len() as u64 > limit {
        return Err(ClientError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    if let Some(expected) = announced
        && body.len() as u64 != expected
    {
        return Err(ClientError::Truncated {
            what: what.to_owned(),
            expected,
            got: body.len() as u64,
        });
    }
    Ok(Fetched::Found(body))
}

#[cfg(feature = "http")]
impl Transport for HttpTransport {
    fn get(&self, path: &str, limit: u64) -> Result<Fetched, ClientError> {
        self.request(path, None, None, limit)
    }

    fn post_json(&self, path: &str, body: &[u8], limit: u64) -> Result<Fetched, ClientError> {
        self.request(path, Some(body), None, limit)
    }

    fn get_accepting(&self, path: &str, accept: &str, limit: u64) -> Result<Fetched, ClientError> {
        self.request(path, None, Some(accept), limit)
    }

    fn post_json_accepting(
        &self,
        path: &str,
        body: &[u8],
        accept: &str,
        limit: u64,
    ) -> Result<Fetched, ClientError> {
        self.request(path, Some(body), Some(accept), limit)
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}

/// A local directory laid out like the server: `DIR/crates.io/timestamp.json`, … (the signer's
/// `<data>/repo/` or a mirror of it). It has no proof API.
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// A transport reading under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileTransport { dir: dir.into() }
    }
}

impl Transport for FileTransport {
    fn get(&self, path: &str, limit: u64) -> Result<Fetched, ClientError> {
        if path.starts_with("api/") {
            return Err(ClientError::NoProofApi {
                path: path.to_owned(),
            });
        }
        if path.split('/').any(|s| s == ".." || s.is_empty()) || path.contains('\\') {
            return Err(ClientError::RefusedPath {
                path: path.to_owned(),
            });
        }
        let full = self.dir.join(path);
        let what = full.display().to_string();
        let file = match std::fs::File::open(&full) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Fetched::NotFound),
            Err(e) => return Err(ClientError::local(&full)(e)),
        };
        let mut body = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(ClientError::local(&full))?;
        check_body(&what, body, None, limit)
    }

    fn post_json(&self, path: &str, _body: &[u8], _limit: u64) -> Result<Fetched, ClientError> {
        Err(ClientError::NoProofApi {
            path: path.to_owned(),
        })
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// A transport for `location`: an `http://` or `https://` URL, a `file://` URL, or a path;
/// HTTP with the default [`HttpOptions`].
pub fn open(location: &str) -> Box<dyn Transport> {
    open_with(location, HttpOptions::default())
}

/// [`open`] with `options` for HTTP.
pub fn open_with(location: &str, options: HttpOptions) -> Box<dyn Transport> {
    if location.starts_with("http://") || location.starts_with("https://") {
        http_transport(location, options)
    } else {
        let path = location.strip_prefix("file://").unwrap_or(location);
        Box::new(FileTransport::new(path))
    }
}

#[cfg(feature = "http")]
fn http_transport(base: &str, options: HttpOptions) -> Box<dyn Transport> {
    Box::new(HttpTransport::with_options(base, options))
}

#[cfg(not(feature = "http"))]
fn http_transport(base: &str, _options: HttpOptions) -> Box<dyn Transport> {
    Box::new(NoHttp {
        base: base.to_owned(),
    })
}

/// What [`open`] gives for a URL when this crate is built without its `http` feature: every
/// request fails, saying so (an embedder without that feature brings its own [`Transport`]).
#[cfg(not(feature = "http"))]
struct NoHttp {
    base: String,
}

#[cfg(not(feature = "http"))]
impl NoHttp {
    fn refuse(&self, path: &str) -> ClientError {
        ClientError::Transport {
            what: format!("{}/{path}", self.base.trim_end_matches('/')),
            message: "tuf-client was built without its `http` feature: no HTTP transport".into(),
        }
    }
}

#[cfg(not(feature = "http"))]
impl Transport for NoHttp {
    fn get(&self, path: &str, _limit: u64) -> Result<Fetched, ClientError> {
        Err(self.refuse(path))
    }

    fn post_json(&self, path: &str, _body: &[u8], _limit: u64) -> Result<Fetched, ClientError> {
        Err(self.refuse(path))
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}

/// A transport for the URL or directory that holds the file at `location`, and the file's name
/// on it: `https://auditor.example.org/crates.io/attestation.json` becomes the transport for
/// `https://auditor.example.org/crates.io` and `attestation.json`; a bare file name is
/// looked for in the current directory.
pub fn open_containing(location: &str, options: HttpOptions) -> (Box<dyn Transport>, String) {
    match location.rsplit_once('/') {
        Some((base, file)) if !base.is_empty() => (open_with(base, options), file.to_owned()),
        _ => (open_with(".", options), location.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bodies_over_the_limit_or_short_of_their_length_are_refused() {
        assert!(matches!(
            check_body("x", vec![0; 11], None, 10),
            Err(ClientError::TooLarge { limit: 10, .. })
        ));
        assert!(matches!(
            check_body("x", vec![0; 5], Some(9), 10),
            Err(ClientError::Truncated {
                expected: 9,
                got: 5,
                ..
            })
        ));
        assert_eq!(
            check_body("x", vec![1; 10], Some(10), 10).unwrap(),
            Fetched::Found(vec![1; 10])
        );
    }

    #[cfg(not(feature = "http"))]
    #[test]
    fn without_the_http_feature_urls_fail_and_directories_work() {
        let t = open("https://tuf.example.org/repo");
        match t.get("crates.io/timestamp.json", 10) {
            Err(ClientError::Transport { what, message }) => {
                assert_eq!(
                    what,
                    "https://tuf.example.org/repo/crates.io/timestamp.json"
                );
                assert!(message.contains("`http` feature"), "{message}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(t.post_json("api/v1/x/proofs", b"{}", 10).is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let local = open(&dir.path().display().to_string());
        assert!(matches!(local.get("f", 10), Ok(Fetched::Found(b)) if b == b"x"));
    }

    #[cfg(feature = "http")]
    #[test]
    fn redirects_follow_the_policy_and_never_downgrade() {
        let refused = |from: &str, to: &str, policy| match follow(from, to, policy) {
            Err(ClientError::RedirectRefused { reason, .. }) => Some(reason),
            Err(e) => panic!("{e}"),
            Ok(_) => None,
        };
        let same = "https://tuf.example.org/crates.io/timestamp.json";
        assert_eq!(
            follow(same, "/mirror/timestamp.json", Redirects::SameOrigin).unwrap(),
            "https://tuf.example.org/mirror/timestamp.json"
        );
        assert_eq!(
            follow(same, "https://tuf.example.org:443/x", Redirects::SameOrigin).unwrap(),
            "https://tuf.example.org/x"
        );
        for policy in [Redirects::None, Redirects::SameOrigin, Redirects::AnyOrigin] {
            assert_eq!(
                refused(same, "http://tuf.example.org/x", policy),
                Some(RedirectRefusal::Downgrade)
            );
            assert_eq!(
                refused(same, "http://cdn.example.net/x", policy),
                Some(RedirectRefusal::Downgrade)
            );
        }
        assert_eq!(
            refused(same, "https://cdn.example.net/x", Redirects::SameOrigin),
            Some(RedirectRefusal::CrossOrigin)
        );
        assert_eq!(
            refused(
                same,
                "https://tuf.example.org:8443/x",
                Redirects::SameOrigin
            ),
            Some(RedirectRefusal::CrossOrigin)
        );
        assert_eq!(
            refused(
                "http://a.example/x",
                "https://a.example/x",
                Redirects::SameOrigin
            ),
            Some(RedirectRefusal::CrossOrigin)
        );
        assert_eq!(
            refused(same, "/x", Redirects::None),
            Some(RedirectRefusal::NotFollowed)
        );
        assert_eq!(
            refused(
                "http://a.example/x",
                "ftp://cdn.example.net/x",
                Redirects::AnyOrigin
            ),
            Some(RedirectRefusal::UnsupportedScheme)
        );
        assert_eq!(
            refused(same, "https://cdn.example.net/x", Redirects::AnyOrigin),
            None
        );
        assert_eq!(
            refused(
                "http://a.example/",
                "https://b.example/",
                Redirects::AnyOrigin
            ),
            None
        );
    }

    #[test]
    fn directories_serve_files_within_limits_and_no_api() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("r")).unwrap();
        std::fs::write(dir.path().join("r/f.json"), b"12345").unwrap();
        let t = FileTransport::new(dir.path());
        assert_eq!(
            t.get("r/f.json", 5).unwrap(),
            Fetched::Found(b"12345".to_vec())
        );
        assert!(matches!(
            t.get("r/f.json", 4),
            Err(ClientError::TooLarge { .. })
        ));
        assert_eq!(t.get("r/none.json", 5).unwrap(), Fetched::NotFound);
        assert!(matches!(
            t.get("r/../r/f.json", 5),
            Err(ClientError::RefusedPath { .. })
        ));
        assert!(matches!(
            t.get("api/v1/r/proof/x", 5),
            Err(ClientError::NoProofApi { .. })
        ));
        assert!(t.post_json("api/v1/r/proofs", b"{}", 5).is_err());
    }
}
