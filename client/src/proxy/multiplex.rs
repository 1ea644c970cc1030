//! The upstream index over one multiplexed HTTP/2 connection, as cargo itself reads
//! `https://index.crates.io/`.
//!
//! cargo asks for a whole level of its resolution at once (300 files and more). Over HTTP/1.1
//! the proxy had [`super::index::PARALLEL`] reads in flight, so a level far away cost
//! `files / PARALLEL` round trips where cargo, reading the index directly on one HTTP/2
//! connection, pays one. Here every read of a level is a stream of one connection: a level costs
//! the proxy one round trip too.
//!
//! This is a fast path, never the only one: it is used only when the index is HTTPS and
//! agrees to HTTP/2 (ALPN). Anything it does not answer plainly (no HTTP/2, a connection that
//! fails or times out, a status other than 200, 304, 404, 410 or 451, a redirect) is
//! [`Fallback`], and the caller reads the file over the HTTP/1.1 transport, with its retries,
//! redirect policy and error messages.
//!
//! Property kept: nothing read here is trusted (the caller verifies it), and no read takes
//! more than [`super::index::MAX_INDEX_FILE`] bytes or the transport's timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::Mutex;

use super::index::{Answer, MAX_INDEX_FILE};
use crate::transport::HttpOptions;

/// After a failed connection, reads go over HTTP/1.1 for this long before HTTP/2 is tried
/// again.
const RETRY_CONNECT_AFTER: Duration = Duration::from_secs(5);
/// The most bytes the reads in flight on the connection hold at once, in KiB. Every file of a
/// wave is read at once (300 and more), and an index may answer each with up to
/// [`MAX_INDEX_FILE`]: a read that would pass this budget falls back to HTTP/1.1, whose
/// [`super::index::PARALLEL`] reads bound the memory as before. Real index files are a few KiB
/// (the largest of crates.io's about 1 MiB), so a wave of them stays well within it.
pub const READ_BUDGET_KIB: u32 = 64 * 1024;

/// This read is for the HTTP/1.1 transport (the reason, for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback(pub String);

/// One HTTP/2 connection to an HTTPS index, opened on first use and again after it closes.
pub struct Multiplexed {
    /// `https`, host and port, and the path the index lives under (no trailing `/`).
    origin: String,
    host: String,
    port: u16,
    prefix: String,
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
    connection: Mutex<Connection>,
    /// [`READ_BUDGET_KIB`] permits, one per KiB a read in flight holds.
    budget: tokio::sync::Semaphore,
}

enum Connection {
    /// Not opened yet, or closed.
    None,
    /// Open.
    Open(http2::SendRequest<Empty<Bytes>>),
    /// The index does not speak HTTP/2: never again.
    Refused,
    /// Opening it failed: not before this instant.
    Failed(Instant),
}

impl std::fmt::Debug for Multiplexed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multiplexed")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Multiplexed {
    /// The index at `base` over HTTP/2, if `base` is an `https://` URL (`None` otherwise).
    pub fn new(base: &str, options: &HttpOptions) -> Option<Self> {
        let url = url::Url::parse(base).ok()?;
        if url.scheme() != "https" {
            return None;
        }
        let host = url.host_str()?.to_owned();
        let port = url.port_or_known_default()?;
        let mut roots = rustls::RootCertStore::empty();
        match &options.ca_bundle {
            Some(bundle) => {
                for der in bundle.der() {
                    roots
                        .add(rustls::pki_types::CertificateDer::from(der.clone()))
                        .ok()?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        // Both offered, so that an index without HTTP/2 completes the handshake and says so.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Some(Multiplexed {
            origin: format!("https://{}", url.authority()),
            host,
            port,
            prefix: url.path().trim_end_matches('/').to_owned(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout: options.timeout,
            connection: Mutex::new(Connection::None),
            budget: tokio::sync::Semaphore::new(READ_BUDGET_KIB as usize),
        })
    }

    /// Opens the connection ahead of the first read (a failure is left for that read to
    /// meet, and to fall back from).
    pub async fn connect_ahead(&self) {
        let _ = tokio::time::timeout(self.timeout, self.sender()).await;
    }

    /// Reads `name` unless it still has `etag`, within the timeout.
    pub async fn get(&self, name: &str, etag: Option<&str>) -> Result<Answer, Fallback> {
        match tokio::time::timeout(self.timeout, self.read(name, etag)).await {
            Ok(answer) => answer,
            Err(_) => Err(Fallback(format!("timed out after {:?}", self.timeout))),
        }
    }

    async fn read(&self, name: &str, etag: Option<&str>) -> Result<Answer, Fallback> {
        let mut sender = self.sender().await?;
        let uri = format!("{}{}/{}", self.origin, self.prefix, name);
        let mut request = hyper::Request::get(uri).header(
            hyper::header::USER_AGENT,
            concat!("tuf-client/", env!("CARGO_PKG_VERSION")),
        );
        if let Some(tag) = etag {
            request = request.header(hyper::header::IF_NONE_MATCH, tag);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| Fallback(e.to_string()))?;
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                self.forget().await;
                return Err(Fallback(format!("HTTP/2: {e}")));
            }
        };
        let status = response.status().as_u16();
        let tag = response
            .headers()
            .get(hyper::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match status {
            200 => {
                let body = read_body(response.into_body(), &self.budget).await?;
                Ok(Answer::Found(body, tag))
            }
            304 => Ok(Answer::Unchanged),
            404 | 410 | 451 => Ok(Answer::NotFound),
            other => Err(Fallback(format!("HTTP/2 status {other}"))),
        }
    }

    /// The open connection's sender, opening one if there is none.
    async fn sender(&self) -> Result<http2::SendRequest<Empty<Bytes>>, Fallback> {
        let mut connection = self.connection.lock().await;
        match &*connection {
            Connection::Open(sender) if !sender.is_closed() => return Ok(sender.clone()),
            Connection::Refused => return Err(Fallback("the index does not speak HTTP/2".into())),
            Connection::Failed(until) if Instant::now() < *until => {
                return Err(Fallback("HTTP/2 connection failed lately".into()));
            }
            _ => {}
        }
        match self.connect().await {
            Ok(sender) => {
                *connection = Connection::Open(sender.clone());
                Ok(sender)
            }
            Err((refused, why)) => {
                *connection = if refused {
                    Connection::Refused
                } else {
                    Connection::Failed(Instant::now() + RETRY_CONNECT_AFTER)
                };
                Err(Fallback(why))
            }
        }
    }

    async fn forget(&self) {
        let mut connection = self.connection.lock().await;
        if matches!(&*connection, Connection::Open(s) if s.is_closed()) {
            *connection = Connection::None;
        }
    }

    /// Opens a connection: `Err((true, _))` if the index does not agree to HTTP/2.
    async fn connect(&self) -> Result<http2::SendRequest<Empty<Bytes>>, (bool, String)> {
        let failed = |e: &dyn std::fmt::Display| (false, format!("HTTP/2 connection: {e}"));
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| failed(&e))?;
        let _ = tcp.set_nodelay(true);
        let name =
            rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| failed(&e))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| failed(&e))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err((true, "the index does not speak HTTP/2".into()));
        }
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|e| failed(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// Reads a body of at most [`MAX_INDEX_FILE`] bytes, holding a permit of `budget` per KiB read
/// until it returns; a body that would pass either bound is [`Fallback`] (never waited for: reads
/// that each hold part of the budget and wait for more would wait for ever).
async fn read_body<B>(mut body: B, budget: &tokio::sync::Semaphore) -> Result<Vec<u8>, Fallback>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let limit = usize::try_from(MAX_INDEX_FILE).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut held: Option<tokio::sync::SemaphorePermit<'_>> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Fallback(format!("HTTP/2 body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if out.len() + data.len() > limit {
            return Err(Fallback(format!(
                "HTTP/2 body: larger than {MAX_INDEX_FILE} bytes"
            )));
        }
        let kib = u32::try_from(data.len().div_ceil(1024)).unwrap_or(u32::MAX);
        let permit = budget.try_acquire_many(kib).map_err(|_| {
            Fallback(format!(
                "the reads in flight hold the {READ_BUDGET_KIB} KiB budget for HTTP/2 bodies"
            ))
        })?;
        match &mut held {
            Some(h) => h.merge(permit),
            None => held = Some(permit),
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn a_body_is_read_within_the_size_and_the_budget() {
        let budget = tokio::sync::Semaphore::new(8);
        let small = Full::new(Bytes::from(vec![b'x'; 5000]));
        assert_eq!(read_body(small, &budget).await.unwrap().len(), 5000);
        // The permits are given back once the read is done.
        assert_eq!(budget.available_permits(), 8);
        // More than the budget leaves (8 KiB): not read here.
        let large = Full::new(Bytes::from(vec![b'x'; 9 * 1024]));
        let Fallback(why) = read_body(large, &budget).await.unwrap_err();
        assert!(why.contains("budget"), "{why}");
        assert_eq!(budget.available_permits(), 8);
        // Past the largest index file, whatever the budget.
        let roomy = tokio::sync::Semaphore::new(READ_BUDGET_KIB as usize);
        let oversized = Full::new(Bytes::from(vec![0u8; MAX_INDEX_FILE as usize + 1]));
        let Fallback(why) = read_body(oversized, &roomy).await.unwrap_err();
        assert!(why.contains("larger than"), "{why}");
    }
}
