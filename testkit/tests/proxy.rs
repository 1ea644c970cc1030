//! The fault proxy against moto's S3: it forwards faithfully (conditional headers, chunked
//! bodies, answers byte for byte) and injects exactly the faults it is told to, for as long as
//! it is told to. The failover tests rely on both.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tuf_testkit::http::try_request_blocking;
use tuf_testkit::proxy::{Fault, FaultProxy, Scope};
use tuf_testkit::s3::{AUTHORIZATION, BUCKET, MotoS3};

const T: Duration = Duration::from_secs(10);

fn put(addr: SocketAddr, key: &str, body: &[u8], headers: &[(&str, &str)]) -> std::io::Result<u16> {
    let mut all = vec![("Authorization", AUTHORIZATION)];
    all.extend_from_slice(headers);
    try_request_blocking(addr, "PUT", &format!("/{BUCKET}/{key}"), &all, body, T).map(|r| r.status)
}

fn get(addr: SocketAddr, key: &str) -> std::io::Result<tuf_testkit::http::Resp> {
    try_request_blocking(
        addr,
        "GET",
        &format!("/{BUCKET}/{key}"),
        &[("Authorization", AUTHORIZATION)],
        b"",
        T,
    )
}

/// A PUT with a chunked body, written by hand.
fn put_chunked(addr: SocketAddr, key: &str, chunks: &[&[u8]]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "PUT /{BUCKET}/{key} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: {AUTHORIZATION}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    for c in chunks {
        write!(s, "{:x}\r\n", c.len()).unwrap();
        s.write_all(c).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let head = String::from_utf8_lossy(&raw);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_proxy_forwards_faithfully_and_injects_faults_on_command() {
    let Some(s3) = MotoS3::start_or_skip("the_proxy_forwards_faithfully") else {
        return;
    };
    let proxy = FaultProxy::start(s3.addr(), 2);
    let front = proxy.front(0);

    // Conditional creates reach moto: the first wins, the second is refused.
    assert_eq!(
        put(front, "a", b"one", &[("If-None-Match", "*")]).unwrap(),
        200
    );
    assert_eq!(
        put(front, "a", b"two", &[("If-None-Match", "*")]).unwrap(),
        412
    );
    let (bytes, etag) = s3.get_with_etag("a").unwrap();
    assert_eq!(bytes, b"one");
    // If-Match with the right ETag replaces, with a stale one is refused.
    assert_eq!(
        put(front, "a", b"three", &[("If-Match", &etag)]).unwrap(),
        200
    );
    assert_eq!(
        put(front, "a", b"four", &[("If-Match", &etag)]).unwrap(),
        412
    );
    assert_eq!(s3.get("a").unwrap(), b"three");
    // A chunked body arrives whole.
    assert_eq!(
        put_chunked(front, "chunked", &[b"hello ", b"chunked ", b"world"]),
        200
    );
    assert_eq!(s3.get("chunked").unwrap(), b"hello chunked world");
    // A GET through the proxy answers what moto stores.
    let r = get(front, "chunked").unwrap();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"hello chunked world"[..])
    );

    // 503 on PUTs only: the PUT is refused and not stored, a GET still works.
    proxy.inject(Fault::Status(503), Scope::Puts, Duration::from_secs(60));
    assert_eq!(put(front, "b", b"x", &[]).unwrap(), 503);
    assert_eq!(s3.get("b"), None, "a refused PUT was stored");
    let r = get(front, "a").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(proxy.injected(Fault::Status(503)), 1);

    // Dropped connections, on all requests: no answer, nothing stored.
    proxy.inject(Fault::Drop, Scope::All, Duration::from_secs(60));
    assert!(put(front, "c", b"x", &[]).is_err());
    assert!(get(front, "a").is_err());
    assert_eq!(s3.get("c"), None);

    // Forwarded then dropped: no answer, but the write landed.
    proxy.inject(Fault::ForwardThenDrop, Scope::Puts, Duration::from_secs(60));
    assert!(put(front, "d", b"landed", &[]).is_err());
    assert_eq!(s3.get("d").unwrap(), b"landed");

    // Delayed past the client's timeout: the client gives up, the write lands later.
    proxy.inject(
        Fault::Delay(Duration::from_millis(1500)),
        Scope::Puts,
        Duration::from_secs(60),
    );
    let r = try_request_blocking(
        front,
        "PUT",
        &format!("/{BUCKET}/e"),
        &[("Authorization", AUTHORIZATION)],
        b"late",
        Duration::from_millis(300),
    );
    assert!(r.is_err(), "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s3.get("e").is_none() {
        assert!(Instant::now() < deadline, "the delayed PUT never landed");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A fault on one front leaves the other alone; faults end when their time is up or healed.
    proxy.inject_on(
        1,
        Fault::Status(500),
        Scope::All,
        Duration::from_millis(300),
    );
    assert_eq!(put(front, "f", b"x", &[]).unwrap(), 200);
    assert_eq!(put(proxy.front(1), "g", b"x", &[]).unwrap(), 500);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(put(proxy.front(1), "g", b"x", &[]).unwrap(), 200);
    proxy.inject(Fault::Status(503), Scope::All, Duration::from_secs(60));
    proxy.heal();
    assert_eq!(put(front, "h", b"x", &[]).unwrap(), 200);

    // The log names the front and the condition of each exchange.
    let log = proxy.exchanges();
    assert!(log.iter().any(|e| e.front == 1 && e.status == Some(500)));
    assert!(
        log.iter()
            .any(|e| e.condition.as_deref() == Some("if-none-match: *") && e.status == Some(412))
    );
    assert!(log.iter().filter(|e| e.is_stored_put()).count() >= 7);
}

/// Conditional creates of one key at the same instant: exactly one wins through the proxy (moto
/// alone may let two through).
#[test]
fn concurrent_conditional_creates_have_one_winner() {
    let Some(s3) = MotoS3::start_or_skip("concurrent_conditional_creates_have_one_winner") else {
        return;
    };
    let proxy = FaultProxy::start(s3.addr(), 3);
    for round in 0..20 {
        let key = format!("race/{round}");
        let handles: Vec<_> = (0..3)
            .map(|f| {
                let (addr, key) = (proxy.front(f), key.clone());
                std::thread::spawn(move || {
                    put(
                        addr,
                        &key,
                        format!("front {f}").as_bytes(),
                        &[("If-None-Match", "*")],
                    )
                    .unwrap()
                })
            })
            .collect();
        let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        let winner = statuses.iter().position(|s| *s == 200).unwrap();
        assert_eq!(s3.get(&key).unwrap(), format!("front {winner}").as_bytes());
    }
}
