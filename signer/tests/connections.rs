//! Connection handling, tested from outside as an attacker would: the real binary, raw
//! sockets. Slow or silent clients are closed within their timeout, HTTP/2 is not spoken, and
//! idle sockets by the thousand keep neither writers nor `/healthz` out of a signer whose
//! descriptor limit is 1,024.
//!
//! Every test starts its own signer with short timeouts, so the connection metrics it reads
//! are its own; the shutdown test runs the signer in-process, since it calls
//! `Running::shutdown`.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{CLASSIC, TestConfig, request, sha256_hex};

/// What the shared two-core test machine may add to a timeout before a close is seen.
const SLACK: Duration = Duration::from_secs(3);

/// A signer process, killed when dropped.
struct Proc {
    child: Child,
    addr: SocketAddr,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `tuf-signer serve` with the test roles, `extra` TOML (a `[server]` section, limits)
    /// and, if given, `ulimit -n nofile` (soft and hard, so the signer cannot raise it).
    fn start(config: TestConfig, nofile: Option<u64>) -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = config.write(dir.path(), &data);
        let bin = tuf_testkit::signer_binary!();
        let command = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(r#"ulimit -n "$0" && exec "$1" serve --config "$2""#)
                    .arg(n.to_string())
                    .arg(bin)
                    .arg(&config);
                c
            }
            None => {
                let mut c = Command::new(bin);
                c.arg("serve").arg("--config").arg(&config);
                c
            }
        };
        let (child, addr) = tuf_testkit::signer::start_command(command);
        Proc {
            child,
            addr,
            data,
            _dir: dir,
        }
    }

    fn token(&self, role: &str) -> String {
        common::dev_token(&self.data, role)
    }

    /// A metric's value from `/metrics` (`name` with its labels, exactly as printed).
    async fn metric(&self, name: &str) -> Option<u64> {
        let r = request(self.addr, "GET", "/metrics", &[], b"").await;
        assert_eq!(r.status, 200);
        r.text().lines().find_map(|l| {
            let (n, v) = l.rsplit_once(' ')?;
            (n == name).then(|| v.parse().ok())?
        })
    }

    async fn closed(&self, reason: &str) -> Option<u64> {
        self.metric(&format!(
            "tuf_signer_http_connections_closed_total{{reason=\"{reason}\"}}"
        ))
        .await
    }
}

/// The signer's default limits with every server timeout `secs`, then `extra` `[server]`
/// entries.
fn server(secs: u64, extra: &[(&str, &str)]) -> TestConfig {
    let mut c = TestConfig::signer_defaults();
    for key in [
        "header_read_timeout_secs",
        "idle_timeout_secs",
        "body_timeout_secs",
        "write_timeout_secs",
    ] {
        c = c.server(key, &secs.to_string());
    }
    for (k, v) in extra {
        c = c.server(k, v);
    }
    c
}

/// Reads (and drops) whatever arrives until the server closes the connection (end of stream
/// or reset); the time that took, or `None` if it was still open after `limit`.
async fn wait_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_all)
        .await
        .ok()
        .map(|()| start.elapsed())
}

/// Reads one response with a `Content-Length` off a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed in the response head");
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (status, body)
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let s = Proc::start(server(2, &[("idle_timeout_secs", "2")]), None);
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let took = wait_closed(&mut c, Duration::from_secs(2) + SLACK)
        .await
        .expect("a connection that never sent a byte was still open");
    assert!(
        took >= Duration::from_millis(1500),
        "closed too early: {took:?}"
    );
    assert_eq!(s.closed("idle_timeout").await, Some(1));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let s = Proc::start(server(2, &[]), None);
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    // Two requests on one connection: keep-alive works, then it is closed when idle.
    for _ in 0..2 {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (status, body) = read_response(&mut c).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let took = wait_closed(&mut c, Duration::from_secs(2) + SLACK)
        .await
        .expect("an idle keep-alive connection was still open");
    assert!(
        took >= Duration::from_millis(1500),
        "closed too early: {took:?}"
    );
    assert_eq!(s.closed("idle_timeout").await, Some(1));
}

#[tokio::test]
async fn a_slowloris_header_is_cut_off_by_the_header_read_timeout() {
    // A long idle timeout: only the header-read timeout can close this one.
    let s = Proc::start(server(2, &[("idle_timeout_secs", "60")]), None);
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let start = Instant::now();
    let limit = Duration::from_secs(2) + SLACK;
    let mut buf = [0u8; 1024];
    let mut closed = None;
    // One byte a second; watch for the close in between.
    'outer: for byte in head.iter() {
        if c.write_all(&[*byte]).await.is_err() {
            closed = Some(start.elapsed());
            break;
        }
        let tick = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(tick);
        loop {
            tokio::select! {
                () = &mut tick => break,
                r = c.read(&mut buf) => match r {
                    Ok(0) | Err(_) => { closed = Some(start.elapsed()); break 'outer; }
                    Ok(_) => {}
                },
            }
        }
        if start.elapsed() > limit {
            break;
        }
    }
    let took = closed.expect("a header sent one byte a second was still being read");
    assert!(took <= limit, "closed only after {took:?}");
    assert_eq!(s.closed("header_timeout").await, Some(1));
}

#[tokio::test]
async fn a_body_trickled_in_is_cut_off_by_the_body_timeout() {
    let s = Proc::start(server(2, &[("idle_timeout_secs", "60")]), None);
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let token = s.token(CLASSIC);
    c.write_all(
        format!(
            "PUT /api/v1/{CLASSIC}/targets/slow/body HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: 100\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let start = Instant::now();
    let limit = Duration::from_secs(2) + SLACK;
    let mut buf = [0u8; 1024];
    let mut answer = Vec::new();
    let mut closed = None;
    // One byte every 1.5 s: never silent for long, never finished.
    'outer: while start.elapsed() <= limit {
        if c.write_all(b"x").await.is_err() {
            closed = Some(start.elapsed());
            break;
        }
        let tick = tokio::time::sleep(Duration::from_millis(1500));
        tokio::pin!(tick);
        loop {
            tokio::select! {
                () = &mut tick => break,
                r = c.read(&mut buf) => match r {
                    Ok(0) | Err(_) => { closed = Some(start.elapsed()); break 'outer; }
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
            }
        }
    }
    let took = closed.expect("a body sent one byte every 1.5 s was still being read");
    assert!(took <= limit, "closed only after {took:?}");
    // The handler answers 408 just before the server's own deadline; if it could not, the
    // server closes the connection at the deadline.
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408") || s.closed("body_timeout").await == Some(1),
        "neither a 408 nor a body timeout: {answer:?}"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_by_the_write_timeout() {
    // The upload itself may take a while on a busy machine: a long body timeout.
    let s = Proc::start(
        server(
            2,
            &[("body_timeout_secs", "60"), ("idle_timeout_secs", "60")],
        )
        .limit("max_upload_bytes", "67108864"),
        None,
    );
    // Larger than the most the kernel may buffer on the server's side of the socket.
    let send_buffer_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let size = (2 * send_buffer_max + (4 << 20)).clamp(15 << 20, 60 << 20);
    let big: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let auth = format!("Bearer {}", s.token(CLASSIC));
    let put = request(
        s.addr,
        "PUT",
        &format!("/api/v1/{CLASSIC}/targets/big/file"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
        ],
        &big,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let path = format!("/{CLASSIC}/targets/big/{}.file", sha256_hex(&big));

    // A receive buffer of a few kilobytes, never read: the answer fills it and the
    // server's send buffer, and the server's writes stop making progress.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut c = socket.connect(s.addr).await.unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2) + SLACK).await;
    // What the kernel had already queued still arrives, then the end: never the whole file.
    let mut got = Vec::new();
    let read_all = async {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("the connection stayed open");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &got[..got.len().min(64)]
    );
    assert!(
        got.len() < big.len(),
        "the whole file was sent: {} bytes",
        got.len()
    );
    assert_eq!(s.closed("write_timeout").await, Some(1));
}

#[tokio::test]
async fn http2_is_not_spoken() {
    let s = Proc::start(server(2, &[]), None);
    // Prior knowledge: the preface and an empty SETTINGS frame. An HTTP/2 server answers with
    // its own SETTINGS frame (9-byte header, type 4).
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2) + SLACK, c.read_to_end(&mut got)).await;
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 "),
        "an HTTP/2 preface was answered with {:02x?}",
        &got[..got.len().min(32)]
    );
    // An upgrade request is answered as plain HTTP/1.1.
    let r = request(
        s.addr,
        "GET",
        "/healthz",
        &[
            ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    // The preface was refused, not timed out.
    assert_eq!(s.closed("error").await, Some(1));
}

#[tokio::test]
async fn at_the_cap_requests_in_flight_are_not_evicted_and_accepting_waits_for_one_to_end() {
    let s = Proc::start(server(60, &[("max_connections", "2")]), None);
    let token = s.token(CLASSIC);
    // Two writes with half their bodies sent: both connections are serving a request.
    let mut busy = Vec::new();
    for i in 0..2 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(
            format!(
                "PUT /api/v1/{CLASSIC}/targets/cap/{i} HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: 10\r\n\r\n01234"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        busy.push(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A third connection waits in the listen backlog: no answer while both are busy.
    let mut third = TcpStream::connect(s.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), third.read_to_end(&mut answer))
            .await
            .is_err(),
        "a connection over the cap was served: {}",
        String::from_utf8_lossy(&answer)
    );
    // One write finishes; its connection, now idle, makes way for the third.
    busy[0].write_all(b"56789").await.unwrap();
    let (status, body) = read_response(&mut busy[0]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
        .await
        .expect("the waiting connection was not served once a slot was free")
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The other write was never evicted: it finishes too.
    busy[1].write_all(b"56789").await.unwrap();
    let (status, body) = read_response(&mut busy[1]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The metrics are read over a connection of their own: with every test connection closed
    // first, so that reading them cannot meet the cap (and pause accepting) a second time.
    drop(busy);
    drop(third);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        s.metric("tuf_signer_http_accept_paused_total").await,
        Some(1)
    );
    assert_eq!(s.closed("evicted").await, Some(1));
}

/// Raises this process's soft descriptor limit to at least `n`.
fn raise_own_nofile(n: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|c| c >= n) {
        return;
    }
    assert!(
        limit.maximum.is_none_or(|m| m >= n),
        "this test needs {n} descriptors; the hard limit is {:?}",
        limit.maximum
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(n),
            maximum: limit.maximum,
        },
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_keep_neither_writers_nor_healthz_out() {
    const IDLE: usize = 1100;
    raise_own_nofile(IDLE as u64 + 512);
    // A common systemd default, which the signer cannot raise (the hard limit too), and
    // timeouts far longer than the test: only the connection cap can help.
    let s = Proc::start(server(600, &[]), Some(1024));
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(s.addr).await.unwrap());
    }
    // Let the server take them all in.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let auth = format!("Bearer {}", s.token(CLASSIC));
    for i in 0..3 {
        let start = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            request(
                s.addr,
                "PUT",
                &format!("/api/v1/{CLASSIC}/targets/under/siege-{i}?wait=signed"),
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/octet-stream"),
                ],
                format!("contents {i}").as_bytes(),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("write {i} got no answer within 30 s"));
        assert_eq!(r.status, 200, "write {i}: {}", r.text());
        assert_eq!(r.json()["status"], "signed", "{}", r.text());
        eprintln!("write {i} signed in {:?}", start.elapsed());
    }
    for i in 0..5 {
        let start = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(1),
            request(s.addr, "GET", "/healthz", &[], b""),
        )
        .await
        .unwrap_or_else(|_| panic!("/healthz {i} took over a second"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(start.elapsed() < Duration::from_secs(1));
    }
    let max = s.metric("tuf_signer_http_connections_max").await.unwrap();
    let open = s.metric("tuf_signer_http_connections").await.unwrap();
    let evicted = s.closed("evicted").await.unwrap();
    eprintln!("cap {max}, open {open}, evicted {evicted}");
    assert!(max > 0 && max < 1024, "cap {max}");
    assert!(open <= max + 1, "{open} connections open, cap {max}");
    assert!(evicted > 0);
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_at_once_and_lets_requests_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    // The default timeouts (10 s for a header, 30 s idle): the shutdown must not wait for them.
    let mut signer = common::Signer::start(dir.path()).await;
    let addr = signer.addr;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut half_head = TcpStream::connect(addr).await.unwrap();
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost")
        .await
        .unwrap();
    // A write whose body is half sent when the shutdown starts.
    let token = signer.token(CLASSIC);
    let mut writer = TcpStream::connect(addr).await.unwrap();
    writer
        .write_all(
            format!(
                "PUT /api/v1/{CLASSIC}/targets/late/file?wait=signed HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: 10\r\n\r\n01234"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shutdown = tokio::spawn(signer.running.take().unwrap().shutdown());

    let limit = Duration::from_secs(3);
    assert!(
        wait_closed(&mut idle, limit).await.is_some(),
        "an idle connection held the shutdown"
    );
    assert!(
        wait_closed(&mut half_head, limit).await.is_some(),
        "a half-sent header held the shutdown"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting during shutdown"
    );
    assert!(
        !shutdown.is_finished(),
        "did not wait for the write in flight"
    );
    writer.write_all(b"56789").await.unwrap();
    let (status, body) = read_response(&mut writer).await;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "signed", "{body}");
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown did not finish")
        .unwrap();
}
