//! A static sparse-registry index on 127.0.0.1 (what `https://index.crates.io/` is to cargo):
//! `GET /PATH` answers the file `DIR/PATH` as it is on disk at that moment (so a test can
//! publish to the index by writing a file), 404 when there is none. No caching headers.
//!
//! Two ways to serve it: plain HTTP/1.1 ([`StaticIndex::start`]: one thread per connection,
//! keep-alive), or HTTPS with HTTP/2 and HTTP/1.1 by ALPN ([`StaticIndex::start_tls`]: hyper on
//! its own tokio runtime, a certificate generated for 127.0.0.1), which is how crates.io's index
//! is served and so the fair baseline for the proxy over HTTPS.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The running index.
pub struct StaticIndex {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Over HTTPS: the PEM certificate authority that signed its certificate (for cargo's
    /// `http.cainfo`, or a client's CA bundle). `None`: plain HTTP.
    pub ca_pem: Option<String>,
    /// TCP connections accepted so far (a benchmark checks that its clients keep them alive).
    pub connections: Arc<AtomicU64>,
}

impl StaticIndex {
    /// Serves `dir` over plain HTTP/1.1.
    pub fn start(dir: &Path) -> StaticIndex {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let dir = dir.to_owned();
        let connections = Arc::new(AtomicU64::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                counted.fetch_add(1, Ordering::Relaxed);
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &dir);
                });
            }
        });
        StaticIndex {
            addr,
            ca_pem: None,
            connections,
        }
    }

    /// Serves `dir` over HTTPS (ALPN `h2`, then `http/1.1`) with a certificate for 127.0.0.1
    /// signed by [`StaticIndex::ca_pem`].
    pub fn start_tls(dir: &Path) -> StaticIndex {
        Self::start_tls_offering(dir, &[b"h2", b"http/1.1"])
    }

    /// [`StaticIndex::start_tls`] offering only the protocols in `alpn` (`&[b"http/1.1"]`: an
    /// HTTPS index without HTTP/2).
    pub fn start_tls_offering(dir: &Path, alpn: &[&[u8]]) -> StaticIndex {
        let generated = tuf_client::proxy::tls::generate(&[]).expect("certificate");
        let chain = CertificateDer::pem_slice_iter(generated.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(generated.key_pem.as_bytes()).expect("key PEM");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("TLS configuration");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let dir = Arc::new(dir.to_owned());
        let connections = Arc::new(AtomicU64::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    counted.fetch_add(1, Ordering::Relaxed);
                    let _ = tcp.set_nodelay(true);
                    let (acceptor, dir) = (acceptor.clone(), dir.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(move |request| {
                            let (status, body) = answer(&dir, request.uri().path());
                            let response = hyper::Response::builder()
                                .status(status)
                                .header("content-type", "text/plain")
                                .body(http_body_util::Full::new(bytes::Bytes::from(body)));
                            async move { Ok::<_, Infallible>(response.expect("response")) }
                        });
                        let builder = hyper_util::server::conn::auto::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        );
                        let _ = builder
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                            .await;
                    });
                }
            });
        });
        StaticIndex {
            addr,
            ca_pem: Some(generated.ca_pem),
            connections,
        }
    }

    /// `http://ADDR`, or `https://ADDR` over TLS.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }
}

/// The status and body for `path`: the file under `dir`, or 404.
fn answer(dir: &Path, path: &str) -> (u16, Vec<u8>) {
    let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
    let safe = !path.split('/').any(|s| s.is_empty() || s == "..");
    match safe.then(|| std::fs::read(dir.join(path)).ok()).flatten() {
        Some(b) => (200, b),
        None => (404, b"not found\n".to_vec()),
    }
}

fn serve(stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    // One write per answer, sent at once (no 40 ms of Nagle against delayed ACKs per request).
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut first = String::new();
        if reader.read_line(&mut first)? == 0 {
            return Ok(());
        }
        // Skip the headers (GETs have no body).
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                break;
            }
        }
        let path = first.split(' ').nth(1).unwrap_or("/");
        let (status, body) = answer(dir, path);
        let status = if status == 200 {
            "200 OK"
        } else {
            "404 Not Found"
        };
        let mut answer = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        out.write_all(&answer)?;
        out.flush()?;
    }
}
