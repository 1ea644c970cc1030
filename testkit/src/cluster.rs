//! Several `tuf-signer serve` processes on one S3 bucket (`[storage] type = "s3"`,
//! `docs/operations.md`): one shared production configuration (a root written for the test,
//! one file online key, one writer token) that differs per node only in `listen`, `node_id`
//! and `advertise_url` (and, when the test puts a proxy per node in front of S3, `endpoint`).
//!
//! Each node's stderr goes to `DIR/node-I.log` (at `TUF_SIGNER_LOG=info`, so failovers and lost
//! races are in it); the process is killed when its [`Node`] is dropped.
//!
//! [`ClusterClient`] is a writer as a deployment's publish pipeline would be: it sends to the
//! node it believes leads, follows `503 not_leader` to the `leader` URL the answer names, and
//! moves on to the next node when one does not answer.

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tuf_keys::{FileSigner, KeyAlgorithm};

use crate::http::{Resp, try_request_blocking};
use crate::s3::MotoS3;

/// The writer token of the cluster's roles.
pub const WRITER_TOKEN: &str = "cluster-writer-token";

/// What the cluster runs.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// How many nodes.
    pub nodes: usize,
    /// `[storage] lease_seconds`.
    pub lease_seconds: u64,
    /// `[storage] prefix` ("" for none).
    pub prefix: String,
    /// Group commits of at most this many changes or this many milliseconds.
    pub batch: (usize, u64),
    /// `TUF_SIGNER_LOG` of the nodes.
    pub log_level: String,
    /// Extra `[limits]` lines (`key = value`).
    pub limits: Vec<String>,
    /// Extra lines for the role's table (`checkpoint_every = 1000`, say).
    pub role: Vec<String>,
    /// No `[storage]` table: the local default (state and repository under each node's data
    /// directory), for comparisons with one node.
    pub local: bool,
}

impl Default for ClusterSpec {
    /// Three nodes, a lease of 5 s (the default), prefix `test`, batches of 100 changes or 5 ms.
    fn default() -> Self {
        ClusterSpec {
            nodes: 3,
            lease_seconds: 5,
            prefix: "test".to_owned(),
            batch: (100, 5),
            log_level: "info".to_owned(),
            limits: Vec::new(),
            role: Vec::new(),
            local: false,
        }
    }
}

/// One `tuf-signer serve` process of a cluster.
pub struct Node {
    /// Its index in the cluster.
    pub index: usize,
    /// `[storage] node_id`: `node-I`.
    pub node_id: String,
    /// Where it listens (the same across restarts).
    pub addr: SocketAddr,
    binary: String,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    log_level: String,
}

impl Node {
    /// `http://ADDR`, its `advertise_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its config file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Whether its process is running (possibly stopped with SIGSTOP).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Its process id, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts (or restarts) the process and waits until it listens.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.node_id);
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .envs(MotoS3::env())
            .env("TUF_SIGNER_LOG", &self.log_level);
        self.child = Some(spawn_logged(command, &self.log, &self.node_id));
    }

    /// `kill -9`, and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `kill -STOP`: the process stays, frozen, its sockets open (connections to it are
    /// accepted by the kernel and wait).
    pub fn sigstop(&mut self) {
        self.signal(rustix::process::Signal::STOP);
    }

    /// `kill -CONT`.
    pub fn sigcont(&mut self) {
        self.signal(rustix::process::Signal::CONT);
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let child = self.child.as_ref().expect("node runs");
        rustix::process::kill_process(rustix::process::Pid::from_child(child), signal)
            .expect("kill");
    }

    /// A request to it; `Err` when it does not answer within `timeout`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> std::io::Result<Resp> {
        try_request_blocking(self.addr, method, path, headers, body, timeout)
    }

    /// `GET /api/v1/{role}/status`, if it answers 200 within 2 s.
    pub fn status(&self, role: &str) -> Option<Value> {
        let r = self
            .request(
                "GET",
                &format!("/api/v1/{role}/status"),
                &[],
                b"",
                Duration::from_secs(2),
            )
            .ok()?;
        (r.status == 200).then(|| serde_json::from_slice(&r.body).ok())?
    }

    /// Whether its status says it leads `role`.
    pub fn is_leader(&self, role: &str) -> bool {
        self.status(role).is_some_and(|s| is_leader(&s))
    }

    /// `GET /healthz`: its status code and body, if it answers within 2 s.
    pub fn health(&self) -> Option<(u16, Value)> {
        let r = self
            .request("GET", "/healthz", &[], b"", Duration::from_secs(2))
            .ok()?;
        Some((
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        ))
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of its log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} log (last {n} lines) ---\n{}",
            self.node_id,
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Whether a role status says the node leads the role (`"leading": true`).
pub fn is_leader(status: &Value) -> bool {
    status["leading"] == Value::Bool(true)
}

/// The leader's URL a standby names: in a status (`leader`), or in a `not_leader` error
/// (`error.leader`); `None` while no node leads.
pub fn leader_url(answer: &Value) -> Option<String> {
    [&answer["error"]["leader"], &answer["leader"]]
        .into_iter()
        .find_map(|v| v.as_str().map(str::to_owned))
}

/// Runs `command` with stderr appended to `log`, and waits until it prints that it listens.
pub(crate) fn spawn_logged(command: Command, log: &Path, name: &str) -> Child {
    match try_spawn_logged(command, log) {
        Ok(child) => child,
        Err(why) => {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{name} did not start: {why}\n{text}");
        }
    }
}

/// Starts a `tuf-signer serve` or `mirror` process with its stderr appended to `log`, and waits
/// until it listens; `Err` with its error line if it exits or does not listen within 60 s.
pub(crate) fn try_spawn_logged(mut command: Command, log: &Path) -> Result<Child, String> {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tuf-signer");
    let stderr = child.stderr.take().expect("stderr");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let _ = writeln!(file, "=== started pid {}", child.id());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
            if (line.starts_with("tuf-signer listening on http://")
                || line.starts_with("tuf-signer mirror listening on http://"))
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Ok(()));
            } else if line.starts_with("error:")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Err(line));
            }
        }
        if let Some(tx) = tx.take() {
            let _ = tx.send(Err("exited without listening".into()));
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(())) => Ok(child),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            Err(match other {
                Ok(Err(line)) => line,
                _ => "did not listen within 60 s".into(),
            })
        }
    }
}

/// A free port on 127.0.0.1 that a node keeps across restarts.
///
/// It is taken from below the kernel's ephemeral range (`ip_local_port_range`): a port-0 bind
/// or an outbound connection of any process (moto, proxies, other tests' clients) gets its port
/// from that range, so between a node's kill and its restart nothing else can take a port from
/// outside it. (A port-0 port, bound and released, was taken by such a connection under CI.)
/// Ports are handed out from a per-process start and a counter, and each is checked free.
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u32, ephemeral_low.clamp(12_000, 65_535));
    let span = high - low;
    let start = (std::process::id().wrapping_mul(7_919)) % span;
    for _ in 0..span {
        let port = low + (start + NEXT.fetch_add(1, Ordering::Relaxed) * 13) % span;
        let port = u16::try_from(port).expect("port below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // No port free below the ephemeral range: fall back to the kernel's choice.
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Nodes on one bucket.
pub struct Cluster {
    /// The nodes, by index.
    pub nodes: Vec<Node>,
    /// What they run.
    pub spec: ClusterSpec,
    /// The role's first root (`1.root.json`), for clients and the auditor.
    pub root1: Vec<u8>,
}

impl Cluster {
    /// Writes the shared keys, root and per-node configs under `dir` and starts `spec.nodes`
    /// processes of `binary` on the bucket of `s3`. `endpoints` is the S3 endpoint of every node
    /// (one entry: the same for all; else one per node, e.g. a proxy front each).
    ///
    /// The configuration has one role, `crates.io` (merkle, crates.io index layout).
    pub fn start(binary: &str, dir: &Path, spec: ClusterSpec, endpoints: &[String]) -> Cluster {
        let mut cluster = Self::prepare(binary, dir, spec, endpoints);
        eprintln!(
            "cluster of {} nodes: configs and logs (node-I.log) in {}",
            cluster.nodes.len(),
            dir.display()
        );
        for node in &mut cluster.nodes {
            node.start();
        }
        cluster
    }

    /// [`Cluster::start`] without starting the processes (start each with [`Node::start`]).
    pub fn prepare(binary: &str, dir: &Path, spec: ClusterSpec, endpoints: &[String]) -> Cluster {
        assert!(
            endpoints.len() == 1 || endpoints.len() == spec.nodes,
            "one endpoint, or one per node"
        );
        std::fs::create_dir_all(dir).expect("mkdir");
        let keys = dir.join("keys");
        let root_key: tuf_signer::metadata::SharedSigner = Arc::new(
            FileSigner::generate(keys.join("root.pem"), KeyAlgorithm::EcdsaP256).expect("root key"),
        );
        let online = FileSigner::generate(keys.join("online.pem"), KeyAlgorithm::EcdsaP256)
            .expect("online key");
        let roots = dir.join("roots");
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(tuf_signer::metadata::write_dev_root(
                &roots,
                &root_key,
                online.public_key(),
                30 * 86_400,
            ))
            .expect("root");
        let root1 = std::fs::read(roots.join("1.root.json")).expect("1.root.json");
        let nodes = (0..spec.nodes)
            .map(|i| {
                let port = free_port();
                let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
                let node_id = format!("node-{i}");
                let endpoint = &endpoints[if endpoints.len() == 1 { 0 } else { i }];
                let config = dir.join(format!("{node_id}.toml"));
                std::fs::write(
                    &config,
                    node_toml(&spec, &node_id, addr, endpoint, dir, &roots, &keys),
                )
                .expect("config");
                Node {
                    index: i,
                    node_id: node_id.clone(),
                    addr,
                    binary: binary.to_owned(),
                    config,
                    log: dir.join(format!("{node_id}.log")),
                    child: None,
                    log_level: spec.log_level.clone(),
                }
            })
            .collect();
        Cluster { nodes, spec, root1 }
    }

    /// The lease duration.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.spec.lease_seconds)
    }

    /// The nodes whose status says they lead `role` now.
    pub fn leaders(&self, role: &str) -> Vec<usize> {
        self.leaders_excluding(role, None)
    }

    /// [`Cluster::leaders`], not asking node `exclude` (one that is stopped, say: it would not
    /// answer).
    pub fn leaders_excluding(&self, role: &str, exclude: Option<usize>) -> Vec<usize> {
        self.nodes
            .iter()
            .filter(|n| Some(n.index) != exclude && n.is_leader(role))
            .map(|n| n.index)
            .collect()
    }

    /// Polls until exactly one node says it leads `role`, at most `timeout`; returns it and how
    /// long that took. Panics (with every node's log tail) when none does in time, or when two
    /// say so at once.
    pub fn wait_leader(&self, role: &str, timeout: Duration) -> (usize, Duration) {
        self.wait_leader_excluding(role, None, timeout)
    }

    /// [`Cluster::wait_leader`] among the nodes but `exclude`.
    pub fn wait_leader_excluding(
        &self,
        role: &str,
        exclude: Option<usize>,
        timeout: Duration,
    ) -> (usize, Duration) {
        let start = Instant::now();
        loop {
            let leaders = self.leaders_excluding(role, exclude);
            assert!(
                leaders.len() <= 1,
                "nodes {leaders:?} all say they lead {role}\n{}",
                self.log_tails(40)
            );
            if let [one] = leaders[..] {
                return (one, start.elapsed());
            }
            assert!(
                start.elapsed() < timeout,
                "no node leads {role} after {timeout:?}\n{}",
                self.log_tails(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every node's log tail, for failure messages.
    pub fn log_tails(&self, n: usize) -> String {
        self.nodes
            .iter()
            .map(|node| node.log_tail(n))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A writer that finds the leader by itself.
    pub fn client(&self) -> ClusterClient {
        ClusterClient {
            addrs: self.nodes.iter().map(|n| n.addr).collect(),
            current: 0,
            redirects: 0,
        }
    }
}

/// A node's configuration file.
fn node_toml(
    spec: &ClusterSpec,
    node_id: &str,
    addr: SocketAddr,
    endpoint: &str,
    dir: &Path,
    roots: &Path,
    keys: &Path,
) -> String {
    let storage = if spec.local {
        String::new()
    } else {
        format!(
            r#"[storage]
type = "s3"
bucket = "{bucket}"
prefix = "{prefix}"
region = "{region}"
endpoint = "{endpoint}"
path_style = true
advertise_url = "http://{addr}"
node_id = "{node_id}"
lease_seconds = {lease}
"#,
            bucket = crate::s3::BUCKET,
            prefix = spec.prefix,
            region = tuf_keys::test_support::REGION,
            lease = spec.lease_seconds,
        )
    };
    format!(
        r#"mode = "production"
data_dir = "{data}"
listen = "{addr}"

[limits]
{limits}

{storage}
[roles."crates.io"]
snapshot = "merkle"
layout = "crates-index"
root_dir = "{roots}"
online_key = {{ type = "file", path = "{key}" }}
writer_token_sha256 = ["{token}"]
batch = {{ max_changes = {changes}, max_delay_ms = {delay} }}
{role}
"#,
        data = dir.join(format!("{node_id}-data")).display(),
        limits = spec.limits.join("\n"),
        roots = roots.display(),
        key = keys.join("online.pem").display(),
        token = tuf_signer::token_hash(WRITER_TOKEN),
        changes = spec.batch.0,
        delay = spec.batch.1,
        role = spec.role.join("\n"),
    )
}

/// What became of a request sent through a [`ClusterClient`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A leader answered (any status but `503 not_leader`).
    Answered(Resp),
    /// No leader answered before the deadline; the last failure.
    GaveUp(String),
}

/// A writer that follows the leader: `503 not_leader` sends it to the `leader` URL of the answer
/// (after the `Retry-After` if the URL is its own or unknown), a node that does not answer sends
/// it to the next one.
pub struct ClusterClient {
    addrs: Vec<SocketAddr>,
    current: usize,
    /// How many `not_leader` answers it followed.
    pub redirects: u64,
}

impl ClusterClient {
    /// Sends to node `index` first from now on.
    pub fn prefer(&mut self, index: usize) {
        self.current = index;
    }

    /// The node it sends to now.
    pub fn current(&self) -> SocketAddr {
        self.addrs[self.current]
    }

    /// Sends `method path` with the writer token and `body` (JSON) until a leader answers or
    /// `deadline` passes. Each attempt may take `attempt_timeout`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        attempt_timeout: Duration,
        deadline: Instant,
    ) -> Outcome {
        let auth = format!("Bearer {WRITER_TOKEN}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        let mut last = String::from("not sent");
        while Instant::now() < deadline {
            let addr = self.addrs[self.current];
            match try_request_blocking(addr, method, path, &headers, body, attempt_timeout) {
                Ok(r) if r.status == 503 && is_not_leader(&r) => {
                    self.redirects += 1;
                    let target = serde_json::from_slice::<Value>(&r.body)
                        .ok()
                        .and_then(|v| leader_url(&v))
                        .and_then(|u| u.trim_start_matches("http://").parse().ok())
                        .and_then(|a: SocketAddr| self.addrs.iter().position(|x| *x == a));
                    last = format!("{addr}: not_leader ({})", r.text());
                    match target {
                        Some(i) if i != self.current => self.current = i,
                        // No leader known yet (the lease is being taken over): wait a little.
                        _ => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
                Ok(r) => return Outcome::Answered(r),
                Err(e) => {
                    last = format!("{addr}: {e}");
                    self.current = (self.current + 1) % self.addrs.len();
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Outcome::GaveUp(last)
    }
}

/// Whether an answer is `503 {"error":{"code":"not_leader",…}}`.
pub fn is_not_leader(r: &Resp) -> bool {
    r.status == 503
        && serde_json::from_slice::<Value>(&r.body)
            .is_ok_and(|v| v["error"]["code"] == "not_leader")
}
