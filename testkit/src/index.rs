//! A static sparse-registry index on 127.0.0.1 (what `https://index.crates.io/` is to cargo):
//! `GET /PATH` answers the file `DIR/PATH` as it is on disk at that moment (so a test can
//! publish to the index by writing a file), 404 when there is none. One thread per connection,
//! keep-alive, no caching headers.

use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;

/// The running index.
pub struct StaticIndex {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl StaticIndex {
    /// Serves `dir`.
    pub fn start(dir: &Path) -> StaticIndex {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let dir = dir.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &dir);
                });
            }
        });
        StaticIndex { addr }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
        let path = first.split(' ').nth(1).unwrap_or("/").to_owned();
        let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
        let safe = !path.split('/').any(|s| s.is_empty() || s == "..");
        let file = safe.then(|| std::fs::read(dir.join(path)).ok()).flatten();
        let (status, body) = match file {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"not found\n".to_vec()),
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
