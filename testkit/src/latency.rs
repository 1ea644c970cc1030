//! A network's round trip on loopback: a TCP relay on 127.0.0.1 that delivers every byte, in
//! both directions, half a round trip after it was sent, whatever the protocol above (HTTP/1.1,
//! HTTP/2, TLS). Benchmarks put it between a client and a server that would be far away (the
//! index and the signer, seen from a developer's machine or a CI runner), so that what costs
//! round trips shows as it would there.
//!
//! The model: a connection is usable one round trip after it is accepted (TCP's handshake),
//! and each chunk read from one side is written to the other half a round trip after it was
//! read, in order. Bandwidth is not limited.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A relay that adds a round trip to every exchange with `upstream`.
pub struct Latency {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Latency {
    /// Starts a relay to `upstream` with round trip `rtt` (it runs until the process ends).
    pub fn start(upstream: SocketAddr, rtt: Duration) -> Latency {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(client) = stream else { continue };
                let accepted = Instant::now();
                std::thread::spawn(move || {
                    let Ok(server) = TcpStream::connect(upstream) else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let usable = accepted + rtt;
                    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                        return;
                    };
                    let half = rtt / 2;
                    std::thread::spawn(move || relay(client, s2, usable, half));
                    relay(server, c2, usable, half);
                });
            }
        });
        Latency { addr }
    }

    /// Its address as an `http://` base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its address as an `https://` base URL (TLS passes through the relay untouched).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// Copies `from` to `to`, each chunk delivered `delay` after it was read (and not before
/// `usable`), then passes the end of the stream on.
fn relay(mut from: TcpStream, mut to: TcpStream, usable: Instant, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let due = Instant::now().max(usable) + delay;
                if tx.send((due, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_exchange_takes_a_round_trip_more() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in echo.incoming() {
                let mut s = s.unwrap();
                std::thread::spawn(move || {
                    let mut b = [0u8; 5];
                    while s.read_exact(&mut b).is_ok() {
                        s.write_all(&b).unwrap();
                    }
                });
            }
        });
        let rtt = Duration::from_millis(60);
        let relay = Latency::start(echo_addr, rtt);
        let mut c = TcpStream::connect(relay.addr).unwrap();
        let started = Instant::now();
        // The first exchange: the connection's round trip, then the request's.
        for round in 1..=3u32 {
            c.write_all(b"hello").unwrap();
            let mut b = [0u8; 5];
            c.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"hello");
            let took = started.elapsed();
            assert!(took >= rtt * (round + 1), "round {round}: {took:?}");
        }
    }
}
