//! The HTTP server: the accept loop and the connections it serves the router on
//! (`docs/operations.md`, "Connections").
//!
//! Properties kept:
//!
//! - **Only HTTP/1.1.** Connections are served by hyper's HTTP/1 connection alone; an HTTP/2
//!   prior-knowledge preface is a malformed HTTP/1 request and the connection is closed
//!   without an HTTP/2 answer.
//! - **No connection is held open by a client that does nothing.** A connection waits at most
//!   `idle_timeout` for the first byte of a request (after it is accepted, and after each
//!   response has been written), at most `header_read_timeout` from that byte to the end of the
//!   header block, and at most `body_timeout` from the end of the header block to the end of
//!   the body; a response write that makes no progress for `write_timeout` (a client that
//!   stops reading) closes it too. hyper's own header-read timer, set to `idle_timeout +
//!   header_read_timeout`, bounds the wait for a head even if this module's bookkeeping were
//!   wrong.
//! - **Descriptors are kept for signing.** At most `max_connections` connections are served,
//!   and one more socket is open while an evicted connection closes or while a new one waits
//!   for room; the default leaves a reserve of descriptors
//!   below the process's limit, so the sequencers can always open their log, checkpoint and
//!   published files and the KMS client its sockets ([`fds`]).
//! - **Idle sockets cannot keep anyone out.** At the cap, accepting a new connection closes the
//!   open connection that is not serving a request and has been idle (or reading a header
//!   block) the longest. Only when every connection is serving a request does the new
//!   connection wait, and accepting with it, until one ends or goes idle: those are bounded by
//!   the timeouts above or are real work.
//! - **The accept loop never ends on an error.** A failed `accept` (e.g. `EMFILE`) is counted,
//!   logged at most every ten seconds, and retried after a short back-off; when descriptors run
//!   out, the longest-idle connection is closed to free one.
//! - **Graceful shutdown.** On shutdown the listener is closed at once, connections not serving
//!   a request (idle, or part of a header block received) close at once, requests in flight
//!   finish (still bounded by the timeouts) and their connections then close, and [`serve`]
//!   returns when the last connection has closed.
//! - Nothing here writes to a client: errors of the accept loop and of connections go to the
//!   log only, never into a response.

mod conn;
pub mod fds;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::metrics::{CONNECTIONS, ConnectionClose};
pub use conn::Timeouts;
use conn::{Conn, ConnService, TrackedStream};
pub use fds::{ConnectionBudget, NofileLimit, raise_nofile_limit};

/// The instant by which a request's body must have arrived, in every request's extensions
/// (`axum::Extension<BodyDeadline>`): its header block's end plus `server.body_timeout_secs`.
/// The server closes the connection of a request whose body is incomplete then; a handler that
/// reads its body can use it (`tokio::time::timeout_at`) to answer instead of being cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDeadline(pub Instant);

/// The first back-off after a failed `accept`.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// The longest back-off after failed `accept`s in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// At most one log line per this period for failed `accept`s.
const ACCEPT_ERROR_LOG_PERIOD: Duration = Duration::from_secs(10);

/// The open connections.
#[derive(Debug, Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    /// Wakes the accept loop (and the final wait of a shutdown): a connection closed or
    /// became evictable.
    changed: Arc<Notify>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // A map of handles: never left half-updated by a panic.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn insert(self: &Arc<Self>) -> (Arc<Conn>, Slot) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(self.changed.clone()));
        self.lock().insert(id, conn.clone());
        CONNECTIONS.accepted.inc();
        CONNECTIONS.open.inc();
        (
            conn,
            Slot {
                registry: self.clone(),
                id,
            },
        )
    }

    /// Closes the connection not serving a request that has been idle (or reading a head) the
    /// longest; whether there was one. A linear scan: it runs only at the cap, once per accepted
    /// connection, over at most `max_connections` entries.
    fn evict_longest_idle(&self) -> bool {
        let conns = self.lock();
        let mut candidates: Vec<(Instant, &Arc<Conn>)> = conns
            .values()
            .filter_map(|c| c.evictable_since().map(|since| (since, c)))
            .collect();
        candidates.sort_unstable_by_key(|(since, _)| *since);
        // One that started a request since the scan is skipped for the next.
        candidates
            .into_iter()
            .any(|(_, c)| c.close_if_idle(ConnectionClose::Evicted))
    }
}

/// A connection's place in the registry, given up when its task ends (however it ends).
#[derive(Debug)]
struct Slot {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        CONNECTIONS.open.dec();
        self.registry.changed.notify_one();
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then closes the listener and returns
/// once every connection has closed (requests in flight finish). `roles` sizes the descriptor
/// reserve. Never returns early: accept errors are retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServerConfig,
    roles: usize,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let budget = ConnectionBudget::current(roles, config.max_connections);
    let max = budget.max_connections;
    if budget.lowered {
        tracing::warn!(
            configured = config.max_connections,
            max_connections = max,
            nofile = budget.nofile,
            reserve = budget.reserve,
            "server.max_connections is more than the descriptor limit leaves room for; lowered \
             (raise the limit, e.g. LimitNOFILE= in the systemd unit)"
        );
    } else if budget.allowed == Some(0) {
        tracing::warn!(
            nofile = budget.nofile,
            open = budget.open,
            reserve = budget.reserve,
            "the descriptor limit leaves no room for connections beside the reserve; serving \
             one at a time (raise the limit, e.g. LimitNOFILE= in the systemd unit)"
        );
    }
    tracing::info!(
        max_connections = max,
        nofile = budget.nofile,
        open = budget.open,
        reserve = budget.reserve,
        "connection cap"
    );
    CONNECTIONS.max.set(u64::try_from(max).unwrap_or(u64::MAX));
    let timeouts = Timeouts::from_config(&config);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(timeouts.idle + timeouts.header);
    let http = Arc::new(http);
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = MIN_BACKOFF;
    let mut last_error_log: Option<Instant> = None;
    'accept: loop {
        // Over the cap only while an evicted connection is closing: wait for it, so there are
        // never more than `max + 1` connections.
        while registry.len() > max {
            tokio::select! {
                () = registry.changed.notified() => {}
                () = &mut shutdown => break 'accept,
            }
        }
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break 'accept,
        };
        match accepted {
            Ok((stream, _peer)) => {
                backoff = MIN_BACKOFF;
                // Room for it: under the cap, or by evicting the longest-idle connection. When
                // every connection is serving a request, it waits (and accepting with it, so
                // later ones wait in the listen backlog) until one ends or goes idle. Decided
                // now that it has arrived, not before: a connection idle when accept() began
                // may be serving a request by now.
                let mut paused = false;
                while registry.len() >= max && !registry.evict_longest_idle() {
                    if !paused {
                        paused = true;
                        CONNECTIONS.accept_paused.inc();
                    }
                    tokio::select! {
                        () = registry.changed.notified() => {}
                        () = &mut shutdown => break 'accept,
                    }
                }
                let (conn, slot) = registry.insert();
                let task = connection(
                    stream,
                    conn,
                    http.clone(),
                    app.clone(),
                    timeouts,
                    stop_rx.clone(),
                    slot,
                );
                tokio::spawn(task);
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                CONNECTIONS.accept_errors.inc();
                if is_out_of_descriptors(&e) {
                    registry.evict_longest_idle();
                }
                let now = Instant::now();
                if last_error_log.is_none_or(|t| now >= t + ACCEPT_ERROR_LOG_PERIOD) {
                    last_error_log = Some(now);
                    tracing::error!(error = %e, "accepting a connection failed; retrying");
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => break 'accept,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while registry.len() > 0 {
        registry.changed.notified().await;
    }
    Ok(())
}

/// An error of the one connection being accepted, not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// `EMFILE` or `ENFILE`: the process or the system is out of descriptors.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    let errno = rustix::io::Errno::from_io_error(e);
    errno == Some(rustix::io::Errno::MFILE) || errno == Some(rustix::io::Errno::NFILE)
}

/// Serves one connection until it ends, a timeout passes, it is evicted, or (after a shutdown
/// was asked for) its request in flight is done.
async fn connection(
    stream: TcpStream,
    conn: Arc<Conn>,
    http: Arc<http1::Builder>,
    app: Router,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
    _slot: Slot,
) {
    let io = TokioIo::new(TrackedStream::new(stream, conn.clone()));
    let service = ConnService::new(app, conn.clone(), timeouts.body);
    let mut served = std::pin::pin!(http.serve_connection(io, service));
    let mut watchdog = std::pin::pin!(conn.watchdog(timeouts));
    let mut stopping = false;
    let reason = loop {
        if !stopping && *stop.borrow_and_update() {
            stopping = true;
            // Not serving a request (idle, or part of a head): nothing to finish, and waiting
            // for the head would hold the shutdown for up to the header-read timeout.
            if conn.close_if_idle(ConnectionClose::Shutdown) {
                break ConnectionClose::Shutdown;
            }
            served.as_mut().graceful_shutdown();
        }
        tokio::select! {
            r = served.as_mut() => break match r {
                Ok(()) if stopping => ConnectionClose::Shutdown,
                Ok(()) => ConnectionClose::Completed,
                // hyper's own header-read timer: the backstop behind the watchdog.
                Err(e) if e.is_timeout() => ConnectionClose::HeaderTimeout,
                Err(e) => {
                    tracing::debug!(error = %e, "HTTP connection error");
                    ConnectionClose::Error
                }
            },
            why = &mut watchdog => break why,
            // The only change is to `true` (checked at the top of the loop); a closed channel
            // means the server is gone, and `stopping` is then set as well.
            r = stop.changed(), if !stopping => {
                if r.is_err() && !stopping {
                    stopping = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    };
    tracing::debug!(reason = reason.label(), "HTTP connection closed");
    CONNECTIONS.closed(reason);
}
