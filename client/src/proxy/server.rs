//! The HTTP side cargo talks to: `GET /config.json` and `GET /{index file}`, over plain
//! HTTP/1.1 or over TLS with HTTP/2 ([`super::tls`]).
//!
//! Properties kept:
//! - A path is a name of the crates.io index layout (lowercase ASCII letters, digits, `-`, `_`,
//!   `/`, and `config.json`), at most 256 bytes; anything else is 400 before the upstream is
//!   asked.
//! - 200 only with bytes that verified (an `ETag` of their SHA-256; a request whose
//!   `If-None-Match` names it gets 304); 404 only after a proof of absence; every other outcome
//!   503 with a text body naming the file and the reason (cargo prints it and retries).

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use std::sync::{Arc, OnceLock};

use super::cache::{Cache, Entry, Meta};
use super::index::{Answer, Index};
use super::multiplex::Fallback;
use super::prefetch::{Known, Prefetcher, Recent};
use super::tls::{self, Identity};
use super::view::{Candidate, Outcome, Pending, Verifier, ViewInfo};
use super::{Options, ProxyError};

struct Shared {
    verifier: Verifier,
    cache: Cache,
    index: Index,
    wait: std::time::Duration,
    recent: Arc<Recent>,
    prefetcher: OnceLock<Prefetcher>,
    /// Set once the first read over HTTP/2 fell back to HTTP/1.1 (logged once).
    fallback_logged: OnceLock<()>,
}

impl Shared {
    /// Remembers a verified file and queues the files of its dependencies.
    fn verified(&self, name: &str, entry: &Entry) {
        let version = entry.meta.timestamp_version;
        self.recent.put(name, version, Known::File(entry.clone()));
        if let Some(p) = self.prefetcher.get() {
            p.dependencies_of(&entry.bytes, version);
        }
    }
}

/// Serves until SIGINT or SIGTERM: plain HTTP/1.1, or HTTPS (HTTP/2 and HTTP/1.1, by ALPN)
/// with `identity`. The index files in `warm` are fetched and verified first; the proxy
/// listens once they are.
pub async fn serve(
    options: Options,
    identity: Option<Identity>,
    warm_paths: Vec<String>,
    verifier: Verifier,
    cache: Cache,
    index: Index,
) -> Result<(), ProxyError> {
    let recent = Arc::new(Recent::new(options.remember));
    let shared = Arc::new(Shared {
        verifier,
        cache,
        wait: options.wait,
        index,
        recent: recent.clone(),
        prefetcher: OnceLock::new(),
        fallback_logged: OnceLock::new(),
    });
    let weak = Arc::downgrade(&shared);
    let _ = shared
        .prefetcher
        .set(Prefetcher::start(recent, move |name, view| {
            if let Some(s) = weak.upgrade() {
                prefetch_one(&s, name, view);
            }
        }));
    eprintln!(
        "tuf-verify proxy: index {}, repositories {}",
        shared.index.base(),
        options.repositories.join(", ")
    );
    // The index's HTTP/2 connection is opened now, while cargo starts and connects: its
    // handshakes (two round trips to a far index) are then not on the first file's path.
    if shared.index.multiplexed().is_some() {
        let s = shared.clone();
        tokio::spawn(async move {
            if let Some(index) = s.index.multiplexed() {
                index.connect_ahead().await;
            }
        });
    }
    if !warm_paths.is_empty() {
        let started = Instant::now();
        let s = shared.clone();
        // Warming is against the first view: wait for it (a refresh asked now is answered
        // once the first view is made, without a second round trip).
        let v = shared.clone();
        let _ = tokio::task::spawn_blocking(move || v.verifier.refresh()).await;
        let paths = warm_paths.clone();
        // A warm-up that failed leaves cargo's requests to the ordinary path: said, not fatal.
        let verified = if shared.index.multiplexed().is_some() {
            warm_multiplexed(&s, &paths).await
        } else {
            match tokio::task::spawn_blocking(move || warm(&s, &paths)).await {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("tuf-verify proxy: warming stopped: {e}");
                    0
                }
            }
        };
        eprintln!(
            "tuf-verify proxy: warmed {verified} of {} index files in {} ms (kept {:?})",
            warm_paths.len(),
            started.elapsed().as_millis(),
            options.remember
        );
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ProxyError::Listen {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ProxyError::Listen {
        addr: options.listen,
        source,
    })?;
    let app = Router::new().fallback(handle).with_state(shared);
    let served = match identity {
        None => {
            eprintln!("tuf-verify proxy listening on http://{addr}");
            // Answers go out at once (no Nagle delay against cargo's delayed ACKs).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown())
                .await
        }
        Some(identity) => {
            let listener = tls::Listener::new(listener, identity.config).map_err(|source| {
                ProxyError::Listen {
                    addr: options.listen,
                    source,
                }
            })?;
            match &identity.ca {
                Some(ca) => eprintln!(
                    "tuf-verify proxy: TLS certificate authority {} ({}); cargo trusts it with `http.cainfo = {:?}` or CARGO_HTTP_CAINFO",
                    ca.display(),
                    identity.note.unwrap_or("generated"),
                    ca.display().to_string()
                ),
                None => eprintln!("tuf-verify proxy: TLS with the given certificate"),
            }
            eprintln!("tuf-verify proxy listening on https://{addr}");
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown())
                .await
        }
    };
    served.map_err(|source| ProxyError::Listen {
        addr: options.listen,
        source,
    })
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

/// Whether `name` is a path of the crates.io index layout.
fn valid_name(name: &str) -> bool {
    name == "config.json"
        || (!name.is_empty()
            && name.len() <= 256
            && name
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != "..")
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_/".contains(&b)))
}

fn text(status: StatusCode, message: String) -> Response {
    let mut r = (status, format!("{message}\n")).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn handle(State(s): State<Arc<Shared>>, request: Request) -> Response {
    if request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "tuf-verify proxy: only GET".into(),
        );
    }
    let name = request.uri().path().trim_start_matches('/').to_owned();
    if !valid_name(&name) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("tuf-verify proxy: {name:?} is not a file of a crates.io-style index"),
        );
    }
    let inm = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let head = request.method() == axum::http::Method::HEAD;
    // Verified moments ago against the pinned view (by a prefetch, or another request).
    if let Some(served) = remembered(&s, &name) {
        return served.into_response(inm.as_deref(), head);
    }
    // The proof is asked here, as the request arrives, rather than from the blocking thread:
    // a level of cargo's resolution (hundreds of requests at once over HTTP/2) then reaches
    // the verifier in one burst and shares one multi-proof, however the blocking threads are
    // scheduled.
    let proof = s.verifier.prove(&name);
    // Over HTTPS the file is read here, as a stream of the index's one HTTP/2 connection: a
    // level of cargo's resolution then costs one round trip to the index, as it does cargo
    // directly, not one per `index::PARALLEL` files. A file that verifies (or a name proved
    // absent) is answered here too, without a blocking thread; anything else (another
    // outcome, or a read that falls back to HTTP/1.1) goes on on one.
    let mut first = None;
    let mut proof = Some(proof);
    if let Some(index) = s.index.multiplexed() {
        let cached = s.cache.get(&name);
        let etag = cached.as_ref().and_then(|c| c.meta.upstream_etag.clone());
        match index.get(&name, etag.as_deref()).await {
            Ok(answer) => {
                if let Some((bytes, upstream_etag)) = served_bytes(answer, cached.as_ref(), &etag) {
                    let candidate = candidate_of(bytes.as_deref());
                    if let Some(pending) = proof.take() {
                        let outcome = pending.judged(&name, candidate).await;
                        let attempt = Attempt {
                            cached,
                            bytes,
                            upstream_etag,
                            outcome,
                        };
                        if matches!(
                            attempt.outcome,
                            Outcome::Present { .. } | Outcome::Absent { .. }
                        ) {
                            let served = match settle(&s, &name, attempt) {
                                Settled::Done(served) => served,
                                // (Not for these outcomes.)
                                Settled::Wait(reason) => refused(&name, &reason),
                            };
                            return served.into_response(inm.as_deref(), head);
                        }
                        first = Some(attempt);
                    }
                }
            }
            Err(Fallback(why)) => {
                if s.fallback_logged.set(()).is_ok() {
                    eprintln!(
                        "tuf-verify proxy: reading the index over HTTP/1.1 ({why}); said once"
                    );
                }
            }
        }
    }
    let shared = s.clone();
    let outcome =
        tokio::task::spawn_blocking(move || fetch_verified(&shared, &name, proof, first)).await;
    let served = match outcome {
        Ok(served) => served,
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("tuf-verify proxy: {e}"),
            );
        }
    };
    served.into_response(inm.as_deref(), head)
}

/// What a request gets.
enum Served {
    /// Verified bytes (`offline`: from the cache, with why).
    File {
        bytes: Vec<u8>,
        meta: Meta,
        offline: Option<String>,
    },
    /// Proved absent.
    Absent { version: u64 },
    /// Refused.
    Refused { status: StatusCode, message: String },
}

impl Served {
    fn into_response(self, if_none_match: Option<&str>, head: bool) -> Response {
        match self {
            Served::File {
                bytes,
                meta,
                offline,
            } => {
                let etag = format!("\"{}\"", meta.sha256.to_hex());
                let mut headers = HeaderMap::new();
                if let Ok(v) = HeaderValue::from_str(&etag) {
                    headers.insert(header::ETAG, v);
                }
                if let Ok(v) = HeaderValue::from_str(&meta.timestamp_version.to_string()) {
                    headers.insert("x-tuf-timestamp-version", v);
                }
                if let Some(why) = offline
                    && let Ok(v) = HeaderValue::from_str(&why)
                {
                    headers.insert("x-tuf-offline", v);
                }
                let matches = if_none_match.is_some_and(|inm| {
                    inm.split(',')
                        .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
                });
                if matches {
                    return (StatusCode::NOT_MODIFIED, headers).into_response();
                }
                let body = if head {
                    Body::empty()
                } else {
                    Body::from(bytes)
                };
                (StatusCode::OK, headers, body).into_response()
            }
            Served::Absent { version } => text(
                StatusCode::NOT_FOUND,
                format!("not found: proved absent from the tree signed at timestamp {version}"),
            ),
            Served::Refused { status, message } => text(status, message),
        }
    }
}

fn refused(name: &str, why: &str) -> Served {
    Served::Refused {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!(
            "tuf-verify proxy refused {name}: {why}; its bytes were not served (retry later)"
        ),
    }
}

/// The answer for `name` verified moments ago against the pinned view (by a prefetch, or
/// another request), if there is one.
fn remembered(s: &Shared, name: &str) -> Option<Served> {
    let view = s.verifier.info().version;
    match s.recent.get(name, view)? {
        Known::File(entry) => Some(Served::File {
            bytes: entry.bytes,
            meta: entry.meta,
            offline: None,
        }),
        Known::Absent => Some(Served::Absent { version: view }),
    }
}

/// One read of a file from the index, judged by a proof.
struct Attempt {
    /// The cached entry the read was made with (its entity tag sent).
    cached: Option<Entry>,
    /// What the index serves (`None`: it has no such file), and its entity tag.
    bytes: Option<Vec<u8>>,
    upstream_etag: Option<String>,
    /// What the proof says of them.
    outcome: Outcome,
}

/// Where an attempt leaves the request.
enum Settled {
    /// Answered.
    Done(Served),
    /// The index is ahead of the signed tree: move the view and try again (within the bound).
    Wait(String),
}

/// The bytes an index answer stands for (`None`: the index has no such file) and their
/// entity tag; `None` when the index said "unchanged" to a tag whose bytes are no longer held
/// (read again, plainly).
#[allow(clippy::type_complexity)]
fn served_bytes(
    answer: Answer,
    cached: Option<&Entry>,
    etag: &Option<String>,
) -> Option<(Option<Vec<u8>>, Option<String>)> {
    match answer {
        Answer::Found(b, tag) => Some((Some(b), tag)),
        Answer::Unchanged => cached.map(|c| (Some(c.bytes.clone()), etag.clone())),
        Answer::NotFound => Some((None, None)),
    }
}

fn candidate_of(bytes: Option<&[u8]>) -> Candidate {
    bytes.map(|b| (b.len() as u64, tuf_merkle::hash::sha256(b)))
}

/// The entry of bytes that verified as the leaf at timestamp `version`.
fn verified_entry(bytes: Option<Vec<u8>>, upstream_etag: Option<String>, version: u64) -> Entry {
    let (length, sha256) = candidate_of(bytes.as_deref()).unwrap_or_default();
    Entry {
        bytes: bytes.unwrap_or_default(),
        meta: Meta {
            sha256,
            length,
            timestamp_version: version,
            upstream_etag,
        },
    }
}

/// Reads `name` from the index (over HTTP/1.1, or HTTP/2 from a blocking thread) and judges
/// it by `proof`; `Err` is the answer when the index cannot be read.
fn attempt(s: &Shared, name: &str, proof: Pending) -> Result<Attempt, Served> {
    let cached = s.cache.get(name);
    let etag = cached.as_ref().and_then(|c| c.meta.upstream_etag.clone());
    let unreachable = |e: String, cached: Option<Entry>| {
        offline(s, name, cached, &format!("the index ({e})"), false)
    };
    let read = match s.index.get(name, etag.as_deref()) {
        Ok(answer) => served_bytes(answer, cached.as_ref(), &etag),
        Err(e) => return Err(unreachable(e, cached)),
    };
    let (bytes, upstream_etag) = match read {
        Some(read) => read,
        // The index said "unchanged" to a tag we no longer hold: ask plainly.
        None => match s.index.get(name, None) {
            Ok(Answer::Found(b, tag)) => (Some(b), tag),
            Ok(_) => (None, None),
            Err(e) => return Err(unreachable(e, cached)),
        },
    };
    let outcome = proof.judge(name, candidate_of(bytes.as_deref()));
    Ok(Attempt {
        cached,
        bytes,
        upstream_etag,
        outcome,
    })
}

/// What `attempt` means for the request: a verified file is cached and served, a name proved
/// absent forgotten and answered 404, a failure refused or served offline.
fn settle(s: &Shared, name: &str, attempt: Attempt) -> Settled {
    let Attempt {
        cached,
        bytes,
        upstream_etag,
        outcome,
    } = attempt;
    match outcome {
        Outcome::Present { version } => {
            let entry = verified_entry(bytes, upstream_etag, version);
            s.cache.put(name, &entry.bytes, &entry.meta);
            s.verified(name, &entry);
            Settled::Done(Served::File {
                bytes: entry.bytes,
                meta: entry.meta,
                offline: None,
            })
        }
        Outcome::Absent { version } => {
            s.cache.remove(name);
            s.recent.put(name, version, Known::Absent);
            Settled::Done(Served::Absent { version })
        }
        Outcome::NotCovered { reason, .. } => Settled::Wait(reason),
        Outcome::Failed {
            reason,
            unreachable: true,
        } => Settled::Done(offline(
            s,
            name,
            cached,
            &format!("the repositories ({reason})"),
            true,
        )),
        Outcome::Failed { reason, .. } => {
            eprintln!("tuf-verify proxy: refused {name}: {reason}");
            Settled::Done(refused(name, &reason))
        }
    }
}

/// Serves `name` once it verified: `first` (an attempt already made) is settled, then (or
/// without it) the file is read and judged by `proof` (asked by the caller against the current
/// view); while the index is ahead of the signed tree, waits (within the bound) with a new view
/// and a new proof each time.
fn fetch_verified(
    s: &Shared,
    name: &str,
    mut proof: Option<Pending>,
    mut first: Option<Attempt>,
) -> Served {
    let deadline = Instant::now() + s.wait;
    loop {
        let attempt = match first.take() {
            Some(a) => a,
            None => {
                // The proof travels while the file is fetched.
                let pending = proof.take().unwrap_or_else(|| s.verifier.prove(name));
                match attempt(s, name, pending) {
                    Ok(a) => a,
                    Err(served) => return served,
                }
            }
        };
        match settle(s, name, attempt) {
            Settled::Done(served) => return served,
            Settled::Wait(reason) => {
                if Instant::now() >= deadline {
                    eprintln!("tuf-verify proxy: refused {name}: {reason}");
                    return refused(
                        name,
                        &format!(
                            "{reason} (waited {:?} for a signed tree that covers it)",
                            s.wait
                        ),
                    );
                }
                // The index may be ahead of the signed tree: move the view and ask again.
                if let Err(e) = s.verifier.refresh() {
                    eprintln!("tuf-verify proxy: refresh while waiting for {name}: {e}");
                }
                std::thread::sleep(super::view::MIN_REFRESH_GAP);
            }
        }
    }
}

/// A prefetch of `name` for timestamp `view`: fetched, checked once (no waiting), and
/// remembered only if it verified against that view.
fn prefetch_one(s: &Shared, name: &str, view: u64) {
    if s.verifier.info().version != view || s.recent.get(name, view).is_some() {
        return;
    }
    verify_ahead(s, name, view, s.verifier.prove(name), true);
}

/// Fetches and checks `paths` before cargo asks ([`super::warm`]): every proof is asked before
/// any file is fetched (so the verifier proves them in one multi-proof), the files are fetched
/// [`super::index::PARALLEL`] at a time, and what verified is remembered. Returns how many
/// verified.
fn warm(s: &Shared, paths: &[String]) -> usize {
    let view = s.verifier.info().version;
    let proofs: Vec<(&String, Pending)> = paths.iter().map(|p| (p, s.verifier.prove(p))).collect();
    let queue = std::sync::Mutex::new(proofs.into_iter());
    let verified = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..super::index::PARALLEL {
            scope.spawn(|| {
                loop {
                    let next = queue
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .next();
                    let Some((name, proof)) = next else { return };
                    // A lockfile names the whole closure already; a manifest's dependencies
                    // are fetched when cargo asks.
                    if verify_ahead(s, name, view, proof, false) {
                        verified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    verified.into_inner()
}

/// Fetches `name` and judges it by `proof` (asked at `view`) once, without waiting; remembers
/// it (and, with `dependencies`, queues those it names) if it verified against that view.
/// Whether it did.
fn verify_ahead(s: &Shared, name: &str, view: u64, proof: Pending, dependencies: bool) -> bool {
    let cached = s.cache.get(name);
    let etag = cached.as_ref().and_then(|c| c.meta.upstream_etag.clone());
    let read = match s.index.get(name, etag.as_deref()) {
        Ok(answer) => served_bytes(answer, cached.as_ref(), &etag),
        Err(_) => return false,
    };
    let Some((bytes, upstream_etag)) = read else {
        return false;
    };
    let outcome = proof.judge(name, candidate_of(bytes.as_deref()));
    keep_ahead(s, name, view, bytes, upstream_etag, outcome, dependencies)
}

/// Keeps what was verified ahead of cargo's request if it verified against `view`: cached and
/// remembered (with `dependencies`, theirs queued too). Whether it did.
fn keep_ahead(
    s: &Shared,
    name: &str,
    view: u64,
    bytes: Option<Vec<u8>>,
    upstream_etag: Option<String>,
    outcome: Outcome,
    dependencies: bool,
) -> bool {
    match outcome {
        Outcome::Present { version } if version == view => {
            let entry = verified_entry(bytes, upstream_etag, version);
            s.cache.put(name, &entry.bytes, &entry.meta);
            if dependencies {
                s.verified(name, &entry);
            } else {
                s.recent.put(name, version, Known::File(entry));
            }
            true
        }
        Outcome::Absent { version } if version == view => {
            s.recent.put(name, version, Known::Absent);
            true
        }
        _ => false,
    }
}

/// [`warm`] over the index's HTTP/2 connection: every proof asked first (one multi-proof),
/// then every file at once, each a stream of the connection (a far index costs the warm-up one
/// round trip, not one per [`super::index::PARALLEL`] files). A file that cannot be read so is
/// read over HTTP/1.1.
async fn warm_multiplexed(s: &Arc<Shared>, paths: &[String]) -> usize {
    let view = s.verifier.info().version;
    let proofs: Vec<(String, Pending)> = paths
        .iter()
        .map(|p| (p.clone(), s.verifier.prove(p)))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (name, proof) in proofs {
        let s = s.clone();
        tasks.spawn(async move {
            let Some(index) = s.index.multiplexed() else {
                return false;
            };
            let cached = s.cache.get(&name);
            let etag = cached.as_ref().and_then(|c| c.meta.upstream_etag.clone());
            match index.get(&name, etag.as_deref()).await {
                Ok(answer) => {
                    let Some((bytes, tag)) = served_bytes(answer, cached.as_ref(), &etag) else {
                        return false;
                    };
                    let outcome = proof.judged(&name, candidate_of(bytes.as_deref())).await;
                    keep_ahead(&s, &name, view, bytes, tag, outcome, false)
                }
                Err(_) => {
                    tokio::task::spawn_blocking(move || verify_ahead(&s, &name, view, proof, false))
                        .await
                        .unwrap_or(false)
                }
            }
        });
    }
    let mut verified = 0;
    while let Some(done) = tasks.join_next().await {
        if done.unwrap_or(false) {
            verified += 1;
        }
    }
    verified
}

/// Something could not be reached. With the index down but the repositories up, what the cache
/// holds is checked against the current view (and a name the signed tree proves absent is
/// 404); with the repositories down, the cached copy is served only if it verified against the
/// current view and that view has not expired. Either way the answer says so.
fn offline(
    s: &Shared,
    name: &str,
    cached: Option<Entry>,
    what: &str,
    repositories_down: bool,
) -> Served {
    if !repositories_down {
        let candidate = cached.as_ref().map(|c| (c.meta.length, c.meta.sha256));
        match s.verifier.check(name, candidate) {
            Outcome::Present { version } => {
                if let Some(c) = cached {
                    return served_offline(name, c, what, version, &s.verifier.info());
                }
            }
            Outcome::Absent { version } => {
                eprintln!("tuf-verify proxy: offline: {name}: {what} unreachable; proved absent");
                return Served::Absent { version };
            }
            Outcome::Failed {
                unreachable: true, ..
            } => return offline(s, name, cached, "the index and the repositories", true),
            Outcome::NotCovered { reason, .. } | Outcome::Failed { reason, .. } => {
                return refused(name, &format!("{what} unreachable, and {reason}"));
            }
        }
    }
    let view = s.verifier.info();
    match cached {
        Some(c) if c.meta.timestamp_version == view.version && view.is_fresh() => {
            let version = view.version;
            served_offline(name, c, what, version, &view)
        }
        _ => refused(
            name,
            &format!("{what} unreachable, and no copy verified against the current timestamp"),
        ),
    }
}

fn served_offline(name: &str, c: Entry, what: &str, version: u64, view: &ViewInfo) -> Served {
    let why = format!(
        "{what} unreachable; served from the cache, verified against timestamp {version} (expires {})",
        view.expires.map(|e| e.to_string()).unwrap_or_default()
    );
    eprintln!("tuf-verify proxy: offline: {name}: {why}");
    Served::File {
        bytes: c.bytes,
        meta: c.meta,
        offline: Some(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_index_paths_are_asked_upstream() {
        for ok in [
            "config.json",
            "se/rd/serde",
            "3/s/syn",
            "1/a",
            "nu/m-/num-traits",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "se//serde",
            "se/rd/Serde",
            "api/v1/x?y",
            "a b",
            "se/rd/serde/../x",
            &"a".repeat(300),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
