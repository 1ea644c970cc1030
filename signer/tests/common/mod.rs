//! Shared helpers for the HTTP tests: a signer started in-process on 127.0.0.1:0 in a temporary
//! data directory, and a minimal HTTP/1.1 client over a raw socket (so tests can send paths
//! and headers that a friendlier client would normalise away).

#![allow(dead_code, missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tough::schema::{Root, Signed, Timestamp};
use tuf_merkle::Digest;
use tuf_signer::{Config, Running};

pub const MERKLE: &str = "crates.io";
pub const CLASSIC: &str = "releases";

/// The test config: one merkle role with the index layout, one classic role, small limits.
pub fn config(data: &Path) -> Config {
    Config::parse(&config_toml(data, &[]), "test").expect("test config")
}

/// The test config's TOML with `limits` overriding (or adding to) its `[limits]`.
pub fn config_toml(data: &Path, limits: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, String)> = vec![
        ("max_upload_bytes", "4096".into()),
        ("max_json_bytes", "2048".into()),
        ("max_batch_changes", "20".into()),
    ];
    for (k, v) in limits {
        all.retain(|(key, _)| key != k);
        all.push((k, (*v).to_owned()));
    }
    let limits: String = all.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    format!(
        r#"
mode = "development"
data_dir = "{}"
listen = "127.0.0.1:0"
[limits]
{limits}
[roles."crates.io"]
snapshot = "merkle"
layout = "crates-index"
batch = {{ max_changes = 100, max_delay_ms = 2 }}
[roles.releases]
snapshot = "classic"
batch = {{ max_changes = 100, max_delay_ms = 2 }}
"#,
        data.display()
    )
}

/// Writes the test config (see [`config_toml`]) to `dir/signer.toml` for the real binary.
pub fn config_file(dir: &Path, data: &Path, limits: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("signer.toml");
    std::fs::write(&path, config_toml(data, limits)).expect("write config");
    path
}

/// A development token written by a signer into `data`.
pub fn dev_token(data: &Path, role: &str) -> String {
    std::fs::read_to_string(data.join("dev-tokens").join(role))
        .expect("token")
        .trim()
        .to_owned()
}

pub struct Signer {
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub data: PathBuf,
}

impl Signer {
    pub async fn start(data: &Path) -> Signer {
        let running = tuf_signer::start(config(data)).await.expect("start");
        let addr = running.local_addr();
        Signer {
            running: Some(running),
            addr,
            data: data.to_owned(),
        }
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    pub fn token(&self, role: &str) -> String {
        dev_token(&self.data, role)
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        request(self.addr, method, path, headers, body).await
    }

    /// A write with the role's own token.
    pub async fn write(
        &self,
        role: &str,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Resp {
        let auth = format!("Bearer {}", self.token(role));
        let mut headers = vec![("Authorization", auth.as_str())];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        self.req(method, path, &headers, body).await
    }

    pub async fn status(&self, role: &str) -> Value {
        let r = self
            .req("GET", &format!("/api/v1/{role}/status"), &[], b"")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Fetches root.json and timestamp.json, verifies the timestamp's signature with tough
    /// against the root, and returns the timestamp's version and `merkle_root`.
    pub async fn verified_timestamp(&self, role: &str) -> (u64, Option<Digest>) {
        let root = self
            .req("GET", &format!("/{role}/root.json"), &[], b"")
            .await;
        assert_eq!(root.status, 200);
        let root: Signed<Root> = serde_json::from_slice(&root.body).expect("root.json");
        root.signed.verify_role(&root).expect("root self-signed");
        let ts = self
            .req("GET", &format!("/{role}/timestamp.json"), &[], b"")
            .await;
        assert_eq!(ts.status, 200);
        let ts: Signed<Timestamp> = serde_json::from_slice(&ts.body).expect("timestamp.json");
        root.signed
            .verify_role(&ts)
            .expect("timestamp signature verifies under the root");
        let merkle_root = ts
            .signed
            ._extra
            .get("merkle_root")
            .and_then(Value::as_str)
            .map(|h| tuf_merkle::hash::parse_hex(h).expect("merkle_root hex"));
        (ts.signed.version.get(), merkle_root)
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.text()))
            .to_owned()
    }
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    // The server may answer (e.g. 413) before reading the whole body; ignore write errors then.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
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

pub fn sha256_hex(bytes: &[u8]) -> String {
    tuf_merkle::hash::sha256(bytes).to_hex()
}

/// Runs the real `tuf-signer serve --config CONFIG` with extra environment variables, and waits
/// until it listens. Returns the child (kill it when done) and its address.
pub fn start_binary(config: &Path, env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuf-signer"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("TUF_SIGNER_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("tuf-signer listening on http://")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Ok(addr.trim().to_owned()));
            } else if line.starts_with("error:")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Err(line));
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(addr)) => addr.parse().unwrap(),
        other => {
            let _ = child.kill();
            panic!("signer did not start: {other:?}");
        }
    };
    (child, addr)
}

/// The merkle role's history in the data directory `data`: for every timestamp version from 1 to the latest a change
/// record, each linked to the one before, and the auditor's replay of them all reproduces every
/// signed `merkle_root`.
pub fn check_history(data: &Path) {
    let repo = data.join("repo");
    let role = repo.join("crates.io");
    let ts: Signed<Timestamp> =
        serde_json::from_slice(&std::fs::read(role.join("timestamp.json")).unwrap()).unwrap();
    let latest = ts.signed.version.get();
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(role.join("changes")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(v) = name
            .strip_suffix(".json")
            .and_then(|v| v.parse::<u64>().ok())
        {
            versions.push(v);
        }
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (1..=latest).collect::<Vec<_>>(),
        "a change record for every timestamp version from 1 to {latest}"
    );
    for v in 1..=latest {
        let record: Value =
            serde_json::from_slice(&std::fs::read(role.join(format!("changes/{v}.json"))).unwrap())
                .unwrap();
        let previous = (v > 1).then(|| v - 1);
        assert_eq!(
            record["previous_timestamp_version"].as_u64(),
            previous,
            "changes/{v}.json links to {} instead of {previous:?}",
            record["previous_timestamp_version"]
        );
    }
    let root1 = std::fs::read(role.join("1.root.json")).unwrap();
    let files = tuf_client::transport::FileTransport::new(&repo);
    let report =
        tuf_client::audit::audit(&files, "crates.io", &root1, &tuf_client::Limits::default())
            .expect("audit");
    assert_eq!(report.breach, None, "{report:?}");
    assert_eq!(report.first_version, Some(1));
    assert_eq!(report.last_good_version, Some(latest));
    assert_eq!(report.records, latest);
    eprintln!(
        "history: {latest} timestamp versions, {} changes replayed, every merkle_root reproduced",
        report.changes
    );
}
