//! One connection: what it is doing, since when, and the watchdog that closes it when a
//! timeout passes or the accept loop evicts it.
//!
//! A connection is in one [`Phase`] at a time. hyper serves one HTTP/1.1 request at a time per
//! connection, so the phases follow from three observations, none of which needs hyper's
//! internals: bytes arriving on the socket ([`TrackedStream`]'s reads), hyper calling the
//! service with a complete request head ([`ConnService`]), and hyper dropping the response body
//! and then flushing its write buffer (the [`ResponseBody`] guard, then [`TrackedStream`]'s
//! flush, which hyper calls only once its buffer is empty).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{BodyDeadline, Pool};
use crate::config::{MAX_TIMEOUT_SECS, ServerConfig};
use crate::metrics::ConnectionClose;

/// The four timeouts, as durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// First byte of a request to the end of its header block.
    pub header: Duration,
    /// Waiting for the first byte of a request.
    pub idle: Duration,
    /// End of the header block to the end of the body.
    pub body: Duration,
    /// A blocked write making no progress.
    pub write: Duration,
}

impl Timeouts {
    /// The configured timeouts, each at most [`MAX_TIMEOUT_SECS`] (a configuration built in code
    /// may skip validation; a longer one could overflow a clock reading).
    pub fn from_config(c: &ServerConfig) -> Self {
        let cap = |d: Duration| d.min(Duration::from_secs(MAX_TIMEOUT_SECS));
        Timeouts {
            header: cap(c.header_read_timeout()),
            idle: cap(c.idle_timeout()),
            body: cap(c.body_timeout()),
            write: cap(c.write_timeout()),
        }
    }
}

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of a request: just accepted, or its last response written.
    Idle,
    /// Part of a request's header block has arrived.
    Head,
    /// A request is being served: from its complete header block until its response is
    /// written out. `finishing`: the response body is done and hyper is flushing it.
    Busy { finishing: bool },
    /// Closing, for this reason: the watchdog returns it.
    Closing(ConnectionClose),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// When `phase` began.
    since: Instant,
    /// When the connection last became idle (accepted, or a response written out): the order
    /// of eviction. Reading a head does not change it, so a slow head is no younger.
    idle_since: Instant,
    /// Requests handed to the router whose response body hyper still holds.
    in_flight: u32,
    /// While a request's body is incomplete: when it must be complete.
    body_deadline: Option<Instant>,
    /// Since when a write has been blocked without progress.
    write_blocked_since: Option<Instant>,
}

/// A connection's shared state: written by its socket, its service and the accept loop, read by
/// its watchdog.
#[derive(Debug)]
pub struct Conn {
    state: Mutex<State>,
    /// Wakes the watchdog when a deadline may have moved earlier.
    wake: Notify,
    /// The accept loop's side: told when this connection becomes idle.
    pool: Arc<Pool>,
}

impl Conn {
    /// A connection accepted now, idle (the caller queues it in `pool` as idle).
    pub fn new(pool: Arc<Pool>) -> Self {
        let now = Instant::now();
        Conn {
            state: Mutex::new(State {
                phase: Phase::Idle,
                since: now,
                idle_since: now,
                in_flight: 0,
                body_deadline: None,
                write_blocked_since: None,
            }),
            wake: Notify::new(),
            pool,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data, consistent after every statement: a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: the first byte of a request starts its header-read timeout.
    fn bytes_read(&self) {
        let mut s = self.lock();
        if s.phase == Phase::Idle {
            s.phase = Phase::Head;
            s.since = Instant::now();
            drop(s);
            self.wake.notify_one();
        }
    }

    fn write_blocked(&self) {
        let mut s = self.lock();
        if s.write_blocked_since.is_none() {
            s.write_blocked_since = Some(Instant::now());
            drop(s);
            self.wake.notify_one();
        }
    }

    fn write_progressed(&self) {
        self.lock().write_blocked_since = None;
    }

    /// hyper flushed with its write buffer empty: a finished response is now fully written.
    fn flushed(self: &Arc<Self>) {
        let mut s = self.lock();
        if s.phase == (Phase::Busy { finishing: true }) && s.in_flight == 0 {
            let now = Instant::now();
            s.phase = Phase::Idle;
            s.since = now;
            s.idle_since = now;
            s.write_blocked_since = None;
            // The pool locks connections' states while holding its queue: never the reverse.
            drop(s);
            self.wake.notify_one();
            self.pool.became_idle(now, Arc::downgrade(self));
        }
    }

    /// hyper handed a request with a complete head to the service.
    fn request_started(self: &Arc<Self>, body_deadline: Option<Instant>) -> RequestGuard {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_add(1);
        if !matches!(s.phase, Phase::Closing(_)) {
            s.phase = Phase::Busy { finishing: false };
            s.since = Instant::now();
            s.body_deadline = body_deadline;
        }
        drop(s);
        self.wake.notify_one();
        RequestGuard(self.clone())
    }

    fn body_complete(&self) {
        self.lock().body_deadline = None;
    }

    fn request_finished(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.body_deadline = None;
            if let Phase::Busy { .. } = s.phase {
                s.phase = Phase::Busy { finishing: true };
            }
        }
    }

    /// Since when the connection has been evictable (idle, or reading a head since), or `None`
    /// while it serves a request or is closing.
    pub fn evictable_since(&self) -> Option<Instant> {
        let s = self.lock();
        matches!(s.phase, Phase::Idle | Phase::Head).then_some(s.idle_since)
    }

    /// Closes the connection for `why` if it is not serving a request and has been so since
    /// `idle_since` (not idle again after a request since); whether it did.
    pub fn close_if_idle_since(&self, idle_since: Instant, why: ConnectionClose) -> bool {
        let mut s = self.lock();
        if !matches!(s.phase, Phase::Idle | Phase::Head) || s.idle_since != idle_since {
            return false;
        }
        s.phase = Phase::Closing(why);
        drop(s);
        self.wake.notify_one();
        true
    }

    /// Closes the connection for `why` if it is not serving a request (idle or reading a
    /// head); whether it did.
    pub fn close_if_idle(&self, why: ConnectionClose) -> bool {
        let mut s = self.lock();
        if !matches!(s.phase, Phase::Idle | Phase::Head) {
            return false;
        }
        s.phase = Phase::Closing(why);
        drop(s);
        self.wake.notify_one();
        true
    }

    /// A request served and written out, as hyper drives it (for the pool's tests).
    #[cfg(test)]
    pub(super) fn start_request_for_test(self: &Arc<Self>) {
        std::mem::forget(self.request_started(None));
    }

    /// The end of the request of [`Conn::start_request_for_test`].
    #[cfg(test)]
    pub(super) fn finish_request_for_test(self: &Arc<Self>) {
        self.request_finished();
        self.flushed();
    }

    /// The next instant at which a timeout may pass (`None`: none is running), or the reason to
    /// close now. A timeout that has passed moves the connection to closing.
    fn check(&self, now: Instant, t: &Timeouts) -> Result<Option<Instant>, ConnectionClose> {
        let mut s = self.lock();
        let mut next: Option<(Instant, ConnectionClose)> = None;
        let mut consider = |at: Instant, why: ConnectionClose| {
            if next.is_none_or(|(n, _)| at < n) {
                next = Some((at, why));
            }
        };
        match s.phase {
            Phase::Closing(why) => return Err(why),
            Phase::Idle => consider(s.since + t.idle, ConnectionClose::IdleTimeout),
            Phase::Head => consider(s.since + t.header, ConnectionClose::HeaderTimeout),
            Phase::Busy { .. } => {
                if let Some(at) = s.body_deadline {
                    consider(at, ConnectionClose::BodyTimeout);
                }
            }
        }
        if let Some(since) = s.write_blocked_since {
            consider(since + t.write, ConnectionClose::WriteTimeout);
        }
        match next {
            Some((at, why)) if at <= now => {
                s.phase = Phase::Closing(why);
                Err(why)
            }
            other => Ok(other.map(|(at, _)| at)),
        }
    }

    /// Returns when the connection must close, and why: a timeout passed or it was evicted.
    pub async fn watchdog(&self, t: Timeouts) -> ConnectionClose {
        loop {
            match self.check(Instant::now(), &t) {
                Err(why) => return why,
                Ok(None) => self.wake.notified().await,
                Ok(Some(at)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.wake.notified() => {}
                    }
                }
            }
        }
    }
}

/// Held from the service call until hyper drops the response body.
#[derive(Debug)]
struct RequestGuard(Arc<Conn>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The accepted socket, reporting reads, blocked writes, progress and flushes to its [`Conn`].
#[derive(Debug)]
pub struct TrackedStream {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl TrackedStream {
    /// Wraps `inner`.
    pub fn new(inner: TcpStream, conn: Arc<Conn>) -> Self {
        TrackedStream { inner, conn }
    }

    fn on_write(&self, r: &Poll<io::Result<usize>>) {
        match r {
            Poll::Pending => self.conn.write_blocked(),
            Poll::Ready(Ok(n)) if *n > 0 => self.conn.write_progressed(),
            Poll::Ready(_) => {}
        }
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.bytes_read();
        }
        r
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.on_write(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.on_write(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            self.conn.flushed();
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The hyper service of one connection: the router, with each request's body deadline
/// recorded and its body and response tracked.
#[derive(Debug, Clone)]
pub struct ConnService {
    app: TowerToHyperService<Router>,
    conn: Arc<Conn>,
    body_timeout: Duration,
}

impl ConnService {
    /// The router `app` serving connection `conn`.
    pub fn new(app: Router, conn: Arc<Conn>, body_timeout: Duration) -> Self {
        ConnService {
            app: TowerToHyperService::new(app),
            conn,
            body_timeout,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let deadline = Instant::now() + self.body_timeout;
        let has_body = !req.body().is_end_stream();
        let guard = self.conn.request_started(has_body.then_some(deadline));
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(BodyDeadline(deadline));
        let body = RequestBody {
            inner: body,
            conn: has_body.then(|| self.conn.clone()),
        };
        let response = self.app.call(Request::from_parts(parts, body));
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|inner| ResponseBody {
                inner,
                _guard: guard,
            }))
        })
    }
}

/// A request body that tells its connection when it is complete (the body deadline then no
/// longer applies).
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    /// Until the body is complete.
    conn: Option<Arc<Conn>>,
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        let done = match &r {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if done && let Some(conn) = this.conn.take() {
            conn.body_complete();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body holding its request's place on the connection until hyper drops it.
#[derive(Debug)]
pub struct ResponseBody {
    inner: axum::body::Body,
    _guard: RequestGuard,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(30),
        body: Duration::from_secs(20),
        write: Duration::from_secs(40),
    };

    fn conn() -> Arc<Conn> {
        Arc::new(Conn::new(Arc::new(Pool::new(
            crate::metrics::Metrics::new().connections,
        ))))
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test]
    async fn idle_then_head_then_busy_then_idle_again() {
        let c = conn();
        let t0 = c.lock().since;
        // A silent connection: the idle timeout.
        assert_eq!(c.check(t0, &T), Ok(Some(t0 + T.idle)));
        assert_eq!(c.evictable_since(), Some(t0));
        // The first byte starts the header-read timeout.
        c.bytes_read();
        let head = c.lock().since;
        assert_eq!(c.check(head, &T), Ok(Some(head + T.header)));
        assert!(c.evictable_since().is_some());
        // More bytes of the same head do not restart it.
        c.bytes_read();
        assert_eq!(c.lock().since, head);
        // A complete head: busy, not evictable, the body deadline runs.
        let deadline = Instant::now() + T.body;
        let guard = c.request_started(Some(deadline));
        assert_eq!(c.evictable_since(), None);
        assert!(!c.close_if_idle(ConnectionClose::Evicted));
        assert_eq!(c.check(head, &T), Ok(Some(deadline)));
        // Body bytes do not make it a new head.
        c.bytes_read();
        assert_eq!(c.lock().phase, Phase::Busy { finishing: false });
        // A complete body: no timeout while the handler works.
        c.body_complete();
        assert_eq!(c.check(deadline + secs(1000), &T), Ok(None));
        // The response body dropped: still busy until hyper has flushed it.
        drop(guard);
        assert_eq!(c.evictable_since(), None);
        c.flushed();
        let idle = c.lock().since;
        assert_eq!(c.lock().phase, Phase::Idle);
        assert_eq!(c.check(idle, &T), Ok(Some(idle + T.idle)));
        assert_eq!(
            c.check(idle + T.idle, &T),
            Err(ConnectionClose::IdleTimeout)
        );
        // Closing is final.
        c.bytes_read();
        assert_eq!(c.check(idle, &T), Err(ConnectionClose::IdleTimeout));
    }

    #[tokio::test]
    async fn each_timeout_closes_with_its_reason() {
        let c = conn();
        c.bytes_read();
        let head = c.lock().since;
        assert_eq!(
            c.check(head + T.header, &T),
            Err(ConnectionClose::HeaderTimeout)
        );

        let c = conn();
        let deadline = Instant::now() + T.body;
        let _guard = c.request_started(Some(deadline));
        assert_eq!(c.check(deadline, &T), Err(ConnectionClose::BodyTimeout));

        let c = conn();
        let guard = c.request_started(None);
        c.write_blocked();
        let blocked = c.lock().write_blocked_since.unwrap();
        // Progress restarts the write timeout; a new block starts it again.
        c.write_progressed();
        assert_eq!(c.check(blocked + T.write, &T), Ok(None));
        c.write_blocked();
        let blocked = c.lock().write_blocked_since.unwrap();
        // Also once the response body is done but not yet written out.
        drop(guard);
        assert_eq!(
            c.check(blocked + T.write, &T),
            Err(ConnectionClose::WriteTimeout)
        );
    }

    #[tokio::test]
    async fn only_an_idle_or_head_reading_connection_is_evicted() {
        let c = conn();
        assert!(c.close_if_idle(ConnectionClose::Evicted));
        assert_eq!(c.check(Instant::now(), &T), Err(ConnectionClose::Evicted));
        assert!(!c.close_if_idle(ConnectionClose::Evicted));
        assert_eq!(c.evictable_since(), None);
        // A request arriving after the eviction does not revive it.
        let _guard = c.request_started(None);
        assert_eq!(c.check(Instant::now(), &T), Err(ConnectionClose::Evicted));
    }

    #[tokio::test]
    async fn the_watchdog_returns_when_evicted() {
        let c = conn();
        let c2 = c.clone();
        let watchdog = tokio::spawn(async move { c2.watchdog(T).await });
        tokio::task::yield_now().await;
        assert!(c.close_if_idle(ConnectionClose::Evicted));
        let why = tokio::time::timeout(secs(5), watchdog)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(why, ConnectionClose::Evicted);
    }
}
