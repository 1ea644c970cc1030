//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1 between signers and moto's S3.
//!
//! It forwards each request as it came (method, origin-form target, every header including
//! `Host`, `If-None-Match`, `If-Match` and the SigV4 ones, the body streamed with its own framing,
//! `Content-Length` or chunked) on a fresh upstream connection, and streams the answer back the
//! same way. On command, for a while, it instead:
//!
//! - answers with an S3 error status ([`Fault::Status`]: 500 `InternalError`, 503 `SlowDown`),
//!   without forwarding;
//! - holds the request for a time and then forwards it ([`Fault::Delay`]): longer than the
//!   client's timeout, the client gives up while its PUT may still land, as on a slow network;
//! - closes the connection without an answer, without forwarding ([`Fault::Drop`]) or after
//!   forwarding ([`Fault::ForwardThenDrop`]: the write landed but its answer was lost);
//!
//! for PUTs only or for every request ([`Scope`]).
//!
//! It listens on several ports ("fronts", one per signer): every exchange is recorded with the
//! front it came in on, so a test can tell which node wrote what and when ([`Exchange`]).
//!
//! moto checks a conditional write (`If-None-Match: *`, `If-Match`) and then stores the object
//! as two steps of a threaded server, so two conditional PUTs of one key at the same instant may
//! both succeed there, which S3 never allows. The proxy runs conditional writes one at a time
//! (across all fronts), making them atomic as on S3; unconditional requests are not serialized.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// What to do to requests instead of forwarding them faithfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (500 or 503, say) and an S3 error body; nothing is forwarded.
    Status(u16),
    /// Hold the request this long, then forward it.
    Delay(Duration),
    /// Close the connection without an answer; nothing is forwarded.
    Drop,
    /// Forward the request, then close the connection without passing the answer on.
    ForwardThenDrop,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `PUT` requests only (object writes).
    Puts,
    /// Every request.
    All,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The front (listening port index) it came in on.
    pub front: usize,
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Its `If-None-Match` or `If-Match` header, as `"If-None-Match: *"`.
    pub condition: Option<String>,
    /// The upstream's status (also when the answer was then dropped: [`Fault::ForwardThenDrop`])
    /// or the injected one; `None` when there was none (dropped before forwarding, the upstream
    /// unreachable).
    pub status: Option<u16>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// When it arrived.
    pub at: Instant,
    /// When it ended (its answer head passed back, or it was dropped).
    pub done: Instant,
}

impl Exchange {
    /// The path without the query (`/BUCKET/KEY`: the SDK adds `?x-id=PutObject`).
    pub fn key_path(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// An object write the upstream stored (`PUT` answered 2xx by it, whether or not the answer
    /// reached the client).
    pub fn is_stored_put(&self) -> bool {
        self.method == "PUT" && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Debug, Clone, Copy)]
struct Active {
    fault: Fault,
    scope: Scope,
    until: Instant,
    /// Only requests on this front, or on all.
    front: Option<usize>,
}

struct Shared {
    upstream: SocketAddr,
    active: Mutex<Option<Active>>,
    log: Mutex<Vec<Exchange>>,
    /// Every fault applied, when the request arrived (a delayed one is logged when it ends).
    applied: Mutex<Vec<Fault>>,
    conditional: tokio::sync::Mutex<()>,
}

impl Shared {
    fn fault_for(&self, front: usize, method: &Method) -> Option<Fault> {
        let active = *self.active.lock().expect("lock");
        let a = active?;
        let applies = Instant::now() < a.until
            && a.front.is_none_or(|f| f == front)
            && (a.scope == Scope::All || method == Method::PUT);
        applies.then_some(a.fault)
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

/// The proxy; stops (closing its listeners and its connections) when dropped.
pub struct FaultProxy {
    runtime: Option<tokio::runtime::Runtime>,
    fronts: Vec<SocketAddr>,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` with `fronts` listening ports on 127.0.0.1.
    pub fn start(upstream: SocketAddr, fronts: usize) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("runtime");
        let shared = Arc::new(Shared {
            upstream,
            active: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            applied: Mutex::new(Vec::new()),
            conditional: tokio::sync::Mutex::new(()),
        });
        let mut addrs = Vec::new();
        for front in 0..fronts {
            let listener = runtime
                .block_on(TcpListener::bind("127.0.0.1:0"))
                .expect("bind");
            addrs.push(listener.local_addr().expect("address"));
            let shared = shared.clone();
            runtime.spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handle(shared.clone(), front, req)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
        FaultProxy {
            runtime: Some(runtime),
            fronts: addrs,
            shared,
        }
    }

    /// The address of front `i`.
    pub fn front(&self, i: usize) -> SocketAddr {
        self.fronts[i]
    }

    /// `http://ADDR` of front `i`: the S3 endpoint to give a signer.
    pub fn endpoint_url(&self, i: usize) -> String {
        format!("http://{}", self.fronts[i])
    }

    /// Applies `fault` to requests in `scope` on every front for `duration` (replacing any
    /// fault in force).
    pub fn inject(&self, fault: Fault, scope: Scope, duration: Duration) {
        self.set(fault, scope, duration, None);
    }

    /// [`FaultProxy::inject`] on front `front` only.
    pub fn inject_on(&self, front: usize, fault: Fault, scope: Scope, duration: Duration) {
        self.set(fault, scope, duration, Some(front));
    }

    fn set(&self, fault: Fault, scope: Scope, duration: Duration, front: Option<usize>) {
        *self.shared.active.lock().expect("lock") = Some(Active {
            fault,
            scope,
            until: Instant::now() + duration,
            front,
        });
    }

    /// Ends any fault in force: requests from now on are forwarded faithfully.
    pub fn heal(&self) {
        *self.shared.active.lock().expect("lock") = None;
    }

    /// Every exchange so far, in the order they ended.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.log.lock().expect("lock").clone()
    }

    /// How many requests had `fault` applied so far (counted when they arrived).
    pub fn injected(&self, fault: Fault) -> usize {
        self.shared
            .applied
            .lock()
            .expect("lock")
            .iter()
            .filter(|f| **f == fault)
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// An S3-style error answer.
fn s3_error(status: u16) -> Response<Body> {
    let code = match status {
        503 => "SlowDown",
        500 => "InternalError",
        _ => "ServiceUnavailable",
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by the test proxy</Message><RequestId>fault</RequestId></Error>"
    );
    let mut resp = Response::new(
        Full::new(Bytes::from(xml))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    resp
}

/// Why the proxy closed a connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    shared: Arc<Shared>,
    front: usize,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let at = Instant::now();
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().to_string(), ToString::to_string);
    let condition = ["if-none-match", "if-match"].iter().find_map(|h| {
        req.headers()
            .get(*h)
            .map(|v| format!("{h}: {}", String::from_utf8_lossy(v.as_bytes())))
    });
    let fault = shared.fault_for(front, &method);
    if let Some(f) = fault {
        shared.applied.lock().expect("lock").push(f);
    }
    let record = |status: Option<u16>| Exchange {
        front,
        method: method.to_string(),
        path: path.clone(),
        condition: condition.clone(),
        status,
        fault,
        at,
        done: Instant::now(),
    };
    let log = |e: Exchange| shared.log.lock().expect("lock").push(e);

    // The fault paths read the whole request first, so that the client sees the answer (or the
    // close) rather than a failed body write.
    match fault {
        Some(Fault::Status(status)) => {
            let _ = req.into_body().collect().await;
            log(record(Some(status)));
            return Ok(s3_error(status));
        }
        Some(Fault::Drop) => {
            let _ = req.into_body().collect().await;
            log(record(None));
            return Err(Dropped);
        }
        _ => {}
    }

    let (parts, body) = req.into_parts();
    let body: Body = match fault {
        Some(Fault::Delay(_)) => {
            // Buffered, so that the forward below outlives a client that gave up.
            let bytes = body
                .collect()
                .await
                .map_err(|_| Dropped)
                .map(http_body_util::Collected::to_bytes)?;
            Full::new(bytes).map_err(|never| match never {}).boxed()
        }
        _ => body.boxed(),
    };
    let mut upstream_req = Request::from_parts(parts, body);
    // The proxy answered any `Expect: 100-continue` itself.
    upstream_req.headers_mut().remove(hyper::header::EXPECT);
    let conditional = condition.is_some();
    let upstream = shared.upstream;
    let shared2 = shared.clone();
    // On its own task: a client that hangs up does not cancel a write already under way.
    let delay = match fault {
        Some(Fault::Delay(d)) => d,
        _ => Duration::ZERO,
    };
    let forwarded = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _serial = if conditional {
            Some(shared2.conditional.lock().await)
        } else {
            None
        };
        let stream = TcpStream::connect(upstream).await.ok()?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(conn);
        send.send_request(upstream_req).await.ok()
    })
    .await
    .ok()
    .flatten();
    let Some(resp) = forwarded else {
        log(record(None));
        return Err(Dropped);
    };
    let status = resp.status().as_u16();
    if fault == Some(Fault::ForwardThenDrop) {
        log(record(Some(status)));
        return Err(Dropped);
    }
    log(record(Some(status)));
    Ok(resp.map(BodyExt::boxed))
}
