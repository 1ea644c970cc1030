//! `HttpTransport` against real loopback HTTP servers (issue 8): redirects are followed to the
//! same origin only (by default), a POST only through 307/308, and a stalled server is reported
//! as a timeout, not as a truncated answer.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tuf_client::error::RedirectRefusal;
use tuf_client::transport::{Fetched, HttpOptions, Redirects};
use tuf_client::{ClientError, HttpTransport, Transport};

/// A one-thread-per-connection HTTP/1.1 server on 127.0.0.1 that records `METHOD PATH` of every
/// request (and its `Accept` header) and answers with `handler`, which writes the raw response.
struct Server {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
    accepts: Arc<Mutex<Vec<Option<String>>>>,
}

impl Server {
    fn start(handler: impl Fn(&str, &str, &mut TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let accepts = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let (h, a) = (hits.clone(), accepts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (handler, hits, accepts) = (handler.clone(), h.clone(), a.clone());
                std::thread::spawn(move || {
                    let Some((method, path, accept)) = read_request(&mut stream) else {
                        return;
                    };
                    hits.lock().unwrap().push(format!("{method} {path}"));
                    accepts.lock().unwrap().push(accept);
                    handler(&method, &path, &mut stream);
                    let _ = stream.flush();
                });
            }
        });
        Server {
            port,
            hits,
            accepts,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

/// Reads a request's head and body (by Content-Length); returns its method, path and `Accept`.
fn read_request(stream: &mut TcpStream) -> Option<(String, String, Option<String>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end - 4;
    while have < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        have += n;
    }
    let accept = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_owned());
    let mut first = head.lines().next()?.split(' ');
    Some((first.next()?.to_owned(), first.next()?.to_owned(), accept))
}

fn respond(stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(body);
}

fn redirect(stream: &mut TcpStream, status: &str, location: &str) {
    respond(stream, status, &format!("Location: {location}\r\n"), b"");
}

fn with(base: &str, redirects: Redirects) -> HttpTransport {
    HttpTransport::with_options(
        base,
        HttpOptions {
            redirects,
            ..Default::default()
        },
    )
}

#[test]
fn cross_origin_redirects_are_refused_and_the_other_origin_is_never_asked() {
    let other = Server::start(|_, _, s| respond(s, "200 OK", "", b"from the other origin"));
    let to = format!("{}/crates.io/timestamp.json", other.url());
    let first = Server::start(move |_, _, s| redirect(s, "302 Found", &to));

    for t in [
        HttpTransport::new(&first.url()),
        with(&first.url(), Redirects::SameOrigin),
    ] {
        let err = t.get("crates.io/timestamp.json", 1000).unwrap_err();
        assert!(
            matches!(
                &err,
                ClientError::RedirectRefused {
                    reason: RedirectRefusal::CrossOrigin,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(&other.url()), "{err}");
    }
    assert_eq!(other.hits(), Vec::<String>::new());
    let err = with(&first.url(), Redirects::None)
        .get("crates.io/timestamp.json", 1000)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::RedirectRefused {
                reason: RedirectRefusal::NotFollowed,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(other.hits(), Vec::<String>::new());

    // Allowed explicitly, the other origin answers.
    let got = with(&first.url(), Redirects::AnyOrigin)
        .get("crates.io/timestamp.json", 1000)
        .unwrap();
    assert_eq!(got, Fetched::Found(b"from the other origin".to_vec()));
    assert_eq!(other.hits(), vec!["GET /crates.io/timestamp.json"]);
}

#[test]
fn same_origin_redirects_are_followed_and_posts_only_through_307_and_308() {
    let server = Server::start(|method, path, s| match path {
        "/old/timestamp.json" => redirect(s, "301 Moved Permanently", "/new/timestamp.json"),
        "/new/timestamp.json" => respond(s, "200 OK", "", b"moved"),
        "/api/v1/r/proofs" => redirect(s, "308 Permanent Redirect", "/api/v2/r/proofs"),
        "/api/v2/r/proofs" if method == "POST" => respond(s, "200 OK", "", b"proofs"),
        "/api/v1/r/see-other" => redirect(s, "303 See Other", "/api/v2/r/proofs"),
        "/loop" => redirect(s, "302 Found", "/loop"),
        _ => respond(s, "404 Not Found", "", b""),
    });
    let t = HttpTransport::new(&server.url());
    assert_eq!(
        t.get("old/timestamp.json", 100).unwrap(),
        Fetched::Found(b"moved".to_vec())
    );
    assert_eq!(
        t.post_json("api/v1/r/proofs", b"{}", 100).unwrap(),
        Fetched::Found(b"proofs".to_vec())
    );
    let err = t.post_json("api/v1/r/see-other", b"{}", 100).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::RedirectRefused {
                reason: RedirectRefusal::MethodChange,
                ..
            }
        ),
        "{err}"
    );
    let err = t.get("loop", 100).unwrap_err();
    assert!(
        matches!(err, ClientError::TooManyRedirects { limit: 5, .. }),
        "{err}"
    );
    assert_eq!(
        server.hits().iter().filter(|h| *h == "GET /loop").count(),
        6,
        "the first request and five redirects"
    );
}

#[test]
fn a_server_that_stalls_is_a_timeout_not_a_truncated_answer() {
    let server = Server::start(|_, path, s| match path {
        // Headers announcing 100 bytes, 10 of them, then nothing while the connection stays open.
        "/stall-body" => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
            let _ = s.flush();
            std::thread::sleep(Duration::from_secs(10));
        }
        // Not even headers.
        "/stall-head" => std::thread::sleep(Duration::from_secs(10)),
        // A body cut short by the server closing the connection: that is truncation.
        "/short" => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        }
        _ => respond(s, "404 Not Found", "", b""),
    });
    let t = HttpTransport::with_options(
        &server.url(),
        HttpOptions {
            timeout: Duration::from_millis(800),
            ..Default::default()
        },
    );
    for path in ["stall-body", "stall-head"] {
        let start = Instant::now();
        let err = t.get(path, 1000).unwrap_err();
        assert!(
            matches!(&err, ClientError::Timeout { what } if what.ends_with(path)),
            "{path}: {err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{path}");
        assert!(err.to_string().contains("timed out"), "{err}");
    }
    let err = t.get("short", 1000).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Truncated {
                expected: 100,
                got: 10,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A transport retrying `retries` times from a short backoff.
fn retrying(base: &str, retries: u32) -> HttpTransport {
    HttpTransport::with_options(
        base,
        HttpOptions {
            retries,
            retry_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            ..Default::default()
        },
    )
}

/// Issue 12, item 4: network errors (a connection closed without an answer, a body cut short)
/// and 5xx answers are sent again, the same request, with a growing backoff, a bounded number
/// of times; a 4xx, a 404 and a timeout are never retried.
#[test]
fn network_errors_and_5xx_are_retried_with_backoff_4xx_and_timeouts_are_not() {
    let counts: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let c = counts.clone();
    let server = Server::start(move |_, path, s| {
        let n = {
            let mut counts = c.lock().unwrap();
            let n = counts.entry(path.to_owned()).or_default();
            *n += 1;
            *n
        };
        match path {
            // 503 twice, then the answer.
            "/flaky" if n <= 2 => respond(s, "503 Service Unavailable", "", b"busy"),
            "/flaky" => respond(s, "200 OK", "", b"at last"),
            // The connection closed without a word, once.
            "/reset" if n == 1 => {}
            "/reset" => respond(s, "200 OK", "", b"back"),
            // The body cut short every time.
            "/short" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
            }
            "/down" => respond(s, "502 Bad Gateway", "", b""),
            "/bad" => respond(s, "400 Bad Request", "", b""),
            "/slow-down" => respond(s, "429 Too Many Requests", "", b""),
            "/stall" => std::thread::sleep(Duration::from_secs(10)),
            "/api/v1/r/proofs" if n == 1 => respond(s, "500 Internal Server Error", "", b""),
            "/api/v1/r/proofs" => respond(s, "200 OK", "", b"proofs"),
            _ => respond(s, "404 Not Found", "", b""),
        }
    });
    let hits = |path: &str| {
        server
            .hits()
            .iter()
            .filter(|h| h.ends_with(&format!(" /{path}")))
            .count()
    };
    let t = retrying(&server.url(), 2);

    let start = Instant::now();
    assert_eq!(
        t.get("flaky", 100).unwrap(),
        Fetched::Found(b"at last".to_vec())
    );
    assert_eq!(hits("flaky"), 3);
    // Backoffs of 50-100 ms, then 100-200 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );

    assert_eq!(
        t.get("reset", 100).unwrap(),
        Fetched::Found(b"back".to_vec())
    );
    assert_eq!(hits("reset"), 2);

    let err = t.get("short", 1000).unwrap_err();
    assert!(matches!(err, ClientError::Truncated { .. }), "{err:?}");
    assert_eq!(hits("short"), 3);

    // Retries run out: the last attempt's error.
    let err = t.get("down", 100).unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 502, .. }),
        "{err:?}"
    );
    assert_eq!(hits("down"), 3);

    // The proof POST is a read: sent again as it was.
    assert_eq!(
        t.post_json("api/v1/r/proofs", b"{\"names\":[]}", 100)
            .unwrap(),
        Fetched::Found(b"proofs".to_vec())
    );
    assert_eq!(
        server
            .hits()
            .iter()
            .filter(|h| h.contains("proofs"))
            .collect::<Vec<_>>(),
        vec!["POST /api/v1/r/proofs", "POST /api/v1/r/proofs"]
    );

    // Never retried: a 4xx (the answer), a 404 (an answer too), a timeout.
    for (path, status) in [("bad", 400), ("slow-down", 429)] {
        let err = t.get(path, 100).unwrap_err();
        assert!(
            matches!(err, ClientError::Status { status: s, .. } if s == status),
            "{err:?}"
        );
        assert_eq!(hits(path), 1, "{path}");
    }
    assert_eq!(t.get("missing", 100).unwrap(), Fetched::NotFound);
    assert_eq!(hits("missing"), 1);
    let stalling = HttpTransport::with_options(
        &server.url(),
        HttpOptions {
            timeout: Duration::from_millis(500),
            retries: 2,
            ..Default::default()
        },
    );
    let err = stalling.get("stall", 100).unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert_eq!(hits("stall"), 1);

    // No retries asked: one attempt.
    let once = retrying(&server.url(), 0);
    let err = once.get("down", 100).unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 502, .. }),
        "{err:?}"
    );
    assert_eq!(hits("down"), 4);

    // A server that cannot be reached at all: retried, then reported as it was.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let start = Instant::now();
    let err = retrying(&dead, 2).get("x", 100).unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn backoff_doubles_with_jitter_and_is_capped() {
    use tuf_client::transport::{MAX_BACKOFF, backoff};
    let base = Duration::from_millis(200);
    for retry in 0..4u32 {
        let full = base * 2u32.pow(retry);
        for _ in 0..20 {
            let d = backoff(base, retry);
            assert!(d >= full / 2 && d <= full, "{retry}: {d:?}");
        }
    }
    assert!(backoff(base, 30) <= MAX_BACKOFF);
    assert!(backoff(base, 30) >= MAX_BACKOFF / 2);
    assert_eq!(HttpOptions::default().retries, 2);
}

/// The proof API's formats (`docs/api.md`): `get_accepting` and `post_json_accepting` send the
/// `Accept` they are given, the plain calls none of it, on every attempt and through redirects.
#[test]
fn accept_is_sent_where_asked() {
    let server = Server::start(|_, path, s| match path {
        "/moved" => redirect(s, "307 Temporary Redirect", "/here"),
        _ => respond(s, "200 OK", "", b"ok"),
    });
    let t = HttpTransport::new(&server.url());
    let binary = "application/vnd.tuf-merkle-proof, application/json;q=0.5";
    t.get("here", 10).unwrap();
    t.get_accepting("here", binary, 10).unwrap();
    t.post_json("here", b"{}", 10).unwrap();
    t.post_json_accepting("moved", b"{}", "application/json", 10)
        .unwrap();
    let accepts = server.accepts.lock().unwrap().clone();
    // ureq sends `*/*` of its own when told nothing.
    assert_eq!(
        accepts,
        vec![
            Some("*/*".to_owned()),
            Some(binary.to_owned()),
            Some("*/*".to_owned()),
            Some("application/json".to_owned()),
            Some("application/json".to_owned()),
        ]
    );
    assert_eq!(server.hits().len(), 5);
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request on a connection until
/// the client closes it, and counts the connections it accepted. `/found` is 200 with an
/// entity tag (304 when asked with it), `/moved` a same-origin redirect to `/found`, anything
/// else 404 with a JSON error body, as the signer answers.
fn keep_alive_server() -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(0));
    let a = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            *a.lock().unwrap() += 1;
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // Requests without bodies: each ends at its blank line.
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    buf.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let (status, headers, body): (&str, &str, &[u8]) = match path.as_str() {
                        "/found" if head.contains("if-none-match: \"e1\"") => {
                            ("304 Not Modified", "ETag: \"e1\"\r\n", b"")
                        }
                        "/found" => ("200 OK", "ETag: \"e1\"\r\n", b"{}"),
                        "/moved" => ("302 Found", "Location: /found\r\n", b"moved"),
                        _ => (
                            "404 Not Found",
                            "Content-Type: application/json\r\n",
                            b"{\"error\":\"not_found\",\"message\":\"no such file\"}",
                        ),
                    };
                    let length = if status.starts_with("304") {
                        String::new()
                    } else {
                        format!("Content-Length: {}\r\n", body.len())
                    };
                    let head = format!("HTTP/1.1 {status}\r\n{headers}{length}\r\n");
                    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), accepted)
}

/// A follower polling a file that is not there (a mirror asking for a leaf snapshot its
/// upstream does not publish) keeps one connection: the body of a 404, of a redirect and of
/// a 304 is read to its end, so the connection goes back to the pool instead of being closed.
#[test]
fn answers_without_a_used_body_keep_the_connection() {
    let (url, accepted) = keep_alive_server();
    let t = HttpTransport::new(&url);
    for _ in 0..5 {
        assert_eq!(t.get("/missing.json", 1 << 20).unwrap(), Fetched::NotFound);
    }
    assert_eq!(
        t.get("/moved", 1 << 20).unwrap(),
        Fetched::Found(b"{}".to_vec())
    );
    assert_eq!(
        t.get_if_none_match("/found", 1 << 20, Some("\"e1\""))
            .unwrap(),
        tuf_client::transport::Conditional::Unchanged
    );
    assert_eq!(t.get("/missing.json", 1 << 20).unwrap(), Fetched::NotFound);
    assert_eq!(
        *accepted.lock().unwrap(),
        1,
        "a new connection after an unread body"
    );
}
