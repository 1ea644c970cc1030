//! A tampering HTTP/1.1 proxy on 127.0.0.1 in front of a signer or a mirror: each request is
//! forwarded, rewritten, answered with altered bytes, or answered by the proxy itself, as a
//! rule chosen by the test says (`(method, path) -> Action`). It plays the hostile network, CDN
//! or mirror that clients and mirrors must catch.
//!
//! Requests are forwarded with `ureq` as GET or POST (the body and `Content-Type` kept); the
//! answer is passed back with its status and body only (no `ETag`, no `Cache-Control`), each
//! connection closed after one exchange.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the proxy does with one request.
pub enum Action {
    /// Forward it, then pass the (status, body) through this function.
    Forward,
    /// Forward it to another path.
    Rewrite(String),
    /// Forward it and replace the body.
    Mutate(Box<dyn Fn(Vec<u8>) -> Vec<u8> + Send>),
    /// Answer with this status and body.
    Respond(u16, Vec<u8>),
    /// Write these raw bytes and close (truncated or broken responses).
    Raw(Vec<u8>),
}

/// A rule: what to do with a `(method, path)`.
pub type Rule = Box<dyn Fn(&str, &str) -> Action + Send + Sync>;

/// A tampering HTTP/1.1 proxy on 127.0.0.1 in front of the signer.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    rule: Arc<Mutex<Rule>>,
}

impl Proxy {
    /// Starts a proxy in front of `upstream`, forwarding everything until a rule is set.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let rule: Arc<Mutex<Rule>> = Arc::new(Mutex::new(Box::new(|_, _| Action::Forward)));
        let r = rule.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let r = r.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, upstream, &r);
                });
            }
        });
        Proxy { addr, rule }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the rule: `(method, path) -> Action`.
    pub fn set(&self, rule: impl Fn(&str, &str) -> Action + Send + Sync + 'static) {
        *self.rule.lock().unwrap() = Box::new(rule);
    }

    /// Forwards everything again.
    pub fn honest(&self) {
        self.set(|_, _| Action::Forward);
    }
}

fn serve(mut stream: TcpStream, upstream: SocketAddr, rule: &Mutex<Rule>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut content_type = None;
    let mut length = 0usize;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                length = v.trim().parse().unwrap_or(0);
            } else if k == "content-type" {
                content_type = Some(v.trim().to_owned());
            }
        }
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let action = (rule.lock().unwrap())(&method, &path);
    let forward = |p: &str| -> (u16, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("http://{upstream}{p}");
        let result = if method == "POST" {
            agent
                .post(&url)
                .content_type(content_type.as_deref().unwrap_or("application/json"))
                .send(&body[..])
        } else {
            agent.get(&url).call()
        };
        match result {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let body = r
                    .body_mut()
                    .with_config()
                    .limit(1 << 30)
                    .read_to_vec()
                    .unwrap_or_default();
                (status, body)
            }
            Err(e) => (502, e.to_string().into_bytes()),
        }
    };
    let (status, out) = match action {
        Action::Forward => forward(&path),
        Action::Rewrite(p) => forward(&p),
        Action::Mutate(f) => {
            let (s, b) = forward(&path);
            (s, f(b))
        }
        Action::Respond(s, b) => (s, b),
        Action::Raw(bytes) => {
            stream.write_all(&bytes)?;
            return stream.flush();
        }
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        out.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&out)?;
    stream.flush()
}

/// Edits a JSON body.
pub fn edit_json(body: Vec<u8>, f: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json body");
    f(&mut v);
    serde_json::to_vec(&v).expect("json")
}
