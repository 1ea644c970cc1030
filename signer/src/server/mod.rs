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

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::metrics::{ConnectionClose, ConnectionMetrics};
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

/// A queue of idle connections is compacted (entries of connections that closed or started a
/// request since are dropped) when it reaches twice its length after the last compaction, and
/// at least this length.
const MIN_COMPACT: usize = 64;

/// What the accept loop and the connections share.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Connections open.
    open: AtomicUsize,
    /// Where connections are counted.
    metrics: ConnectionMetrics,
    /// Wakes the accept loop (and the final wait of a shutdown): a connection closed or
    /// became idle.
    changed: Notify,
    /// Connections in the order they became idle, oldest first.
    idle: Mutex<IdleQueue>,
}

/// Connections in the order they became idle (accepted, or a response written out). A
/// connection is queued again each time it becomes idle; an entry whose connection has closed,
/// or is serving a request, or has become idle again since (a later entry) is stale: skipped
/// when met, dropped by compaction. Evicting the longest-idle connection is thus amortized
/// O(1), whatever the number of connections, as nginx's queue of reusable connections.
#[derive(Debug, Default)]
struct IdleQueue {
    entries: VecDeque<(Instant, Weak<Conn>)>,
    compact_at: usize,
}

impl Pool {
    pub(crate) fn new(metrics: ConnectionMetrics) -> Self {
        Pool {
            open: AtomicUsize::new(0),
            metrics,
            changed: Notify::new(),
            idle: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, IdleQueue> {
        // A queue of weak handles: never left half-updated by a panic.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// `conn` became idle at `since`.
    fn became_idle(&self, since: Instant, conn: Weak<Conn>) {
        let mut q = self.lock();
        if q.entries.len() >= q.compact_at.max(MIN_COMPACT) {
            q.entries.retain(|(since, c)| {
                c.upgrade()
                    .is_some_and(|c| c.evictable_since() == Some(*since))
            });
            q.compact_at = q.entries.len().saturating_mul(2);
        }
        q.entries.push_back((since, conn));
        drop(q);
        self.changed.notify_one();
    }

    /// A connection accepted now, and its place in the pool.
    fn insert(self: &Arc<Self>) -> (Arc<Conn>, Slot) {
        let conn = Arc::new(Conn::new(self.clone()));
        self.open.fetch_add(1, Ordering::AcqRel);
        self.metrics.accepted.inc();
        self.metrics.open.inc();
        if let Some(since) = conn.evictable_since() {
            self.became_idle(since, Arc::downgrade(&conn));
        }
        (conn, Slot { pool: self.clone() })
    }

    /// Closes the connection not serving a request that has been idle (or reading a head) the
    /// longest; whether there was one.
    fn evict_longest_idle(&self) -> bool {
        let mut q = self.lock();
        while let Some((since, conn)) = q.entries.pop_front() {
            if let Some(conn) = conn.upgrade()
                && conn.close_if_idle_since(since, ConnectionClose::Evicted)
            {
                return true;
            }
        }
        false
    }
}

/// A connection's place in the pool, given up when its task ends (however it ends).
#[derive(Debug)]
struct Slot {
    pool: Arc<Pool>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.open.fetch_sub(1, Ordering::AcqRel);
        self.pool.metrics.open.dec();
        self.pool.changed.notify_one();
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
    metrics: ConnectionMetrics,
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
    metrics.max.set(i64::try_from(max).unwrap_or(i64::MAX));
    let timeouts = Timeouts::from_config(&config);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(timeouts.idle + timeouts.header);
    let http = Arc::new(http);
    let pool = Arc::new(Pool::new(metrics));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = MIN_BACKOFF;
    let mut last_error_log: Option<Instant> = None;
    'accept: loop {
        // Over the cap only while an evicted connection is closing: wait for it, so there are
        // never more than `max + 1` connections.
        while pool.len() > max {
            tokio::select! {
                () = pool.changed.notified() => {}
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
                while pool.len() >= max && !pool.evict_longest_idle() {
                    if !paused {
                        paused = true;
                        pool.metrics.accept_paused.inc();
                    }
                    tokio::select! {
                        () = pool.changed.notified() => {}
                        () = &mut shutdown => break 'accept,
                    }
                }
                let (conn, slot) = pool.insert();
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
                pool.metrics.accept_errors.inc();
                if is_out_of_descriptors(&e) {
                    pool.evict_longest_idle();
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
    while pool.len() > 0 {
        pool.changed.notified().await;
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

/// Sets up an accepted socket: `TCP_NODELAY`. hyper writes a response whose body is streamed
/// (a published file read from disk) as its head, then the body's chunks; with Nagle's
/// algorithm the first chunk waits until the client acknowledges the head, which a client that
/// reuses its connection delays by up to 40 ms (Linux's delayed ACK). A mirror fetching a
/// round's two files, or a client refreshing, then pays that on every file.
fn configure(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
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
    configure(&stream);
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
    _slot.pool.metrics.closed(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_longest_idle_connection_is_evicted_and_busy_ones_never() {
        let pool = Arc::new(Pool::new(crate::metrics::Metrics::new().connections));
        let (a, _sa) = pool.insert();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let (b, _sb) = pool.insert();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let (c, _sc) = pool.insert();
        assert_eq!(pool.len(), 3);
        // `a` is serving a request: `b` is the longest idle.
        a.start_request_for_test();
        assert!(pool.evict_longest_idle());
        assert_eq!(b.evictable_since(), None);
        assert!(a.evictable_since().is_none() && c.evictable_since().is_some());
        // `a` finishes and becomes idle again, after `c`: `c` goes first.
        a.finish_request_for_test();
        assert!(pool.evict_longest_idle());
        assert_eq!(c.evictable_since(), None);
        assert!(pool.evict_longest_idle());
        assert_eq!(a.evictable_since(), None);
        assert!(!pool.evict_longest_idle());
    }

    #[tokio::test]
    async fn accepted_sockets_send_without_waiting_for_acks() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap(), "the platform's default");
        configure(&accepted);
        assert!(accepted.nodelay().unwrap());
    }

    #[tokio::test]
    async fn the_idle_queue_stays_proportional_to_the_connections() {
        let pool = Arc::new(Pool::new(crate::metrics::Metrics::new().connections));
        let conns: Vec<_> = (0..10).map(|_| pool.insert()).collect();
        // Ten thousand requests on ten keep-alive connections.
        for _ in 0..1000 {
            for (c, _) in &conns {
                c.start_request_for_test();
                c.finish_request_for_test();
            }
        }
        let queued = pool.lock().entries.len();
        assert!(
            queued <= 2 * MIN_COMPACT,
            "{queued} entries for 10 connections"
        );
    }
}
