//! A raw HTTP/1.1 client over a socket, async and blocking: it sends exactly what it is given
//! (paths, headers, bodies a friendlier client would normalise away) and reads the whole answer
//! (`Connection: close`). [`Conn`] keeps its connection open across requests, for load
//! generators.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// An answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics with the text if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// `error.code` of an error answer.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.text()))
            .to_owned()
    }
}

impl Resp {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The request head for `method path` with `headers` and a body of `len` bytes.
fn head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    len: usize,
) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Sends one request and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(head(addr, method, path, headers, body.len()).as_bytes())
        .await
        .expect("write head");
    // The server may answer (e.g. 413) before reading the whole body; ignore write errors then.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    parse(&raw)
}

/// [`request`] without a runtime, for synchronous tests.
pub fn request_blocking(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .write_all(head(addr, method, path, headers, body.len()).as_bytes())
        .expect("write head");
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// [`request_blocking`] that reports failures instead of panicking, with a bound on the whole
/// exchange: connection refused or reset, a timeout, or an answer cut short (a signer killed
/// mid-request) are `Err`. For clients of processes that may die or stop under them.
pub fn try_request_blocking(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: std::time::Duration,
) -> std::io::Result<Resp> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(head(addr, method, path, headers, body.len()).as_bytes())?;
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    try_parse(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("incomplete answer ({} bytes)", raw.len()),
        )
    })
}

/// [`parse`] of an answer that may be cut short: `None` unless the head is complete and the body
/// has the length the head announces (or ends with the last chunk).
fn try_parse(raw: &[u8]) -> Option<Resp> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = head.split("\r\n").next()?.split(' ').nth(1)?.parse().ok()?;
    let body = &raw[split + 4..];
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        if !body.ends_with(b"0\r\n\r\n") {
            return None;
        }
    } else if let Some(len) = lower
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        && body.len() < len
    {
        return None;
    }
    let _ = status;
    Some(parse(raw))
}

/// A keep-alive HTTP/1.1 connection, as a client's connection pool holds one: a load generator
/// that opened a loopback connection per request would measure its own TCP handshakes (and, at
/// thousands per second, its ephemeral ports) rather than the server. Answers must carry a
/// `Content-Length` (the signer's and the mirror's do).
pub struct Conn {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    host: String,
    line: Vec<u8>,
}

impl Conn {
    /// Connects (with `TCP_NODELAY`).
    pub async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: tokio::io::BufReader::new(stream),
            host: addr.to_string(),
            line: Vec::with_capacity(256),
        })
    }

    /// Sends `method path` with `headers` and `body`, and reads the answer (headers lowercased).
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        for (k, v) in headers {
            request.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body);
        let mut out = Vec::new();
        let mut kept = Vec::new();
        let status = self.exchange(&request, &mut out, Some(&mut kept)).await?;
        Ok(Resp {
            status,
            headers: kept,
            body: out,
        })
    }

    /// Sends `request` (a whole request, head and body, as bytes) and reads the answer's body
    /// into `body` (cleared first); returns its status. Nothing is allocated per request once
    /// `body` has grown to the answers' size: the path of a load generator.
    pub async fn send_raw(&mut self, request: &[u8], body: &mut Vec<u8>) -> std::io::Result<u16> {
        self.exchange(request, body, None).await
    }

    async fn exchange(
        &mut self,
        request: &[u8],
        body: &mut Vec<u8>,
        mut headers: Option<&mut Vec<(String, String)>>,
    ) -> std::io::Result<u16> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        self.stream.get_mut().write_all(request).await?;
        let mut status = None;
        let mut length = None;
        loop {
            self.line.clear();
            if self.stream.read_until(b'\n', &mut self.line).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the answer's head ended",
                ));
            }
            let l = self.line.trim_ascii_end();
            if l.is_empty() {
                break;
            }
            if status.is_none() {
                status = l
                    .split(|b| *b == b' ')
                    .nth(1)
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| s.parse::<u16>().ok());
                if status.is_none() {
                    return Err(bad("no status line"));
                }
                continue;
            }
            let Some(colon) = l.iter().position(|b| *b == b':') else {
                continue;
            };
            let (name, value) = (&l[..colon], l[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-length") {
                length = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok());
            }
            if let Some(h) = headers.as_deref_mut() {
                h.push((
                    String::from_utf8_lossy(name).to_ascii_lowercase(),
                    String::from_utf8_lossy(value).into_owned(),
                ));
            }
        }
        let length = length.ok_or_else(|| bad("an answer without Content-Length"))?;
        body.clear();
        body.resize(length, 0);
        self.stream.read_exact(body).await?;
        status.ok_or_else(|| bad("no status line"))
    }
}
