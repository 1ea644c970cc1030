//! Verifying mirrors (`tuf-signer mirror`) against the signer they follow
//! (`cargo bench -p tuf-benches --bench mirror`): a bounded run of about two and a half minutes
//! that prints a report and stops by itself. Everything is on loopback; the signer and the
//! mirrors are the real `tuf-signer` binary (`serve` and `mirror`), child processes of this one.
//!
//! 1. A 250,000-leaf crates.io role: `signer_load`'s synthetic index files
//!    (`tuf_benches::index_files`), imported with `tuf_signer::import::import`, then served by
//!    `tuf-signer serve` with `leaf_snapshot_every = 4`, written to until a leaf snapshot exists
//!    at 250,000 leaves, and two rounds more.
//! 2. Cold starts: a fresh mirror, from process start until its status serves the signer's
//!    version: from the signer's leaf snapshot (directly, and through a forwarding proxy), and
//!    through a proxy that answers 404 for `leaf-snapshots/latest.json`, so that it replays from
//!    version 1 (the import's first round records all 250,000 leaves). Each one's RSS once
//!    caught up. The first mirror keeps running: it is the one measured below.
//! 3. The signer restarted with the default `leaf_snapshot_every` (1,000; at 4 it would write a
//!    250,000-leaf snapshot continuously under writes). Single proofs, closed loop, 48
//!    keep-alive HTTP/1.1 connections, `?version=V` fixed, 90% existing names and 10% absent:
//!    windows of 2.5 s alternating signer, mirror, mirror, signer, … (20 s each). Proofs/s,
//!    latency, the CPU each side used; a sample of answers compared byte for byte.
//! 4. RSS of the signer and the mirror at 250,000 leaves, per leaf.
//! 5. Lag: an open loop of 1,000 single-change writes per second (`wait=signed`) to the signer
//!    for 20 s, the mirror polling every 200 ms and writing its checkpoint every 250 versions
//!    (`checkpoint_every`; the default 1,000 would put at most one in the 20 s, wherever the
//!    version count happens to fall), so that its 250,000-leaf checkpoints are in the lag. For
//!    each timestamp version, the time from the first sign of it at the signer (a write's
//!    answer carrying it, or the signer's status polled every 5 ms) to the mirror's status
//!    serving it (polled every 10 ms).
//! 6. The cold starts again through the proxy, now with the lag phase's history (about 1,400
//!    versions, a leaf snapshot at 1,000): replay from version 1 against the snapshot.
//!
//! The `tuf-signer` binary is the one beside this executable (`target/release/tuf-signer`,
//! or `$TUF_SIGNER_BIN`); under `cargo bench` it is built first with the same cargo
//! (`cargo build --release -p tuf-signer --bin tuf-signer`, nothing to do when it is fresh).
//! `TUF_BENCH_KEEP=1` keeps the data directories and the mirrors' logs.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tuf_benches::report::{
    cpu_secs, fmt_ms, loadavg, machine, machine_busy_secs, percentile, rss_mib,
};
use tuf_testkit::config::TestConfig;
use tuf_testkit::http::{Conn, try_request_blocking};
use tuf_testkit::mirror::{Mirror, MirrorSpec};
use tuf_testkit::tamper::{Action, Proxy};
use tuf_testkit::{MERKLE, sha256_hex};

const LEAVES: usize = 250_000;
/// `signer_load`'s seed: the same 250,000 files.
const SEED: u64 = 0x5167_4e52;
/// `leaf_snapshot_every` while the cold starts are measured.
const SNAPSHOT_EVERY: u64 = 4;
/// Rounds the signer signs after the leaf snapshot, which a mirror started from it replays.
const ROUNDS_AFTER_SNAPSHOT: u64 = 2;
/// Proof load: closed loop on this many keep-alive connections.
const CONNECTIONS: usize = 48;
const WARMUP: Duration = Duration::from_millis(500);
/// Each server gets `PROOF_WINDOWS` windows of `PROOF_WINDOW` in the order signer, mirror,
/// mirror, signer, signer, mirror, … (so that a drift of the machine's other load weighs on
/// both alike): 20 s each in all. The spread of the windows is the noise the ratio is judged
/// against.
const PROOF_WINDOW: Duration = Duration::from_millis(2_500);
const PROOF_WINDOWS: usize = 8;
/// One proof request in this many asks for an absent name (a non-membership proof).
const ABSENT_EVERY: usize = 10;
/// Distinct requests the connections cycle through.
const REQUEST_POOL: usize = 1 << 16;
/// Answers compared byte for byte between the signer and the mirror.
const SAME_BYTES_SAMPLE: usize = 200;
/// Lag: writes per second and for how long, the mirror's polling interval.
const WRITE_RATE: usize = 1_000;
const LAG_SECS: u64 = 20;
const POLL_MS: u64 = 200;
/// The measured mirror's `checkpoint_every`: several checkpoints in the lag phase.
const MIRROR_CHECKPOINT_EVERY: u64 = 250;
const SIGNER_STATUS_EVERY: Duration = Duration::from_millis(5);
const MIRROR_STATUS_EVERY: Duration = Duration::from_millis(10);
const GOAL_PROOFS: f64 = 10_000.0;
const GOAL_COLD_SECS: f64 = 5.0;
const GOAL_LAG_SLACK_MS: f64 = 1_000.0;
const WAIT: Duration = Duration::from_secs(120);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    run(&rt);
}

/// The `tuf-signer` binary: `$TUF_SIGNER_BIN`, else `tuf-signer` in this executable's profile
/// directory (`target/release/deps/mirror-HASH` → `target/release/tuf-signer`), which is
/// brought up to date first when cargo runs this bench.
fn signer_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("TUF_SIGNER_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench runs from target/<profile>/deps");
    let bin = profile_dir.join("tuf-signer");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // `cargo bench` sets CARGO for what it runs; build the binary the mirrors run, so that the
    // numbers are of the code checked out (a no-op when it is fresh).
    if let Some(cargo) = std::env::var_os("CARGO") {
        let profile = profile_dir.file_name().and_then(|p| p.to_str());
        if profile == Some("release") {
            println!("building tuf-signer (cargo build --release -p tuf-signer --bin tuf-signer)");
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--release",
                    "-p",
                    "tuf-signer",
                    "--bin",
                    "tuf-signer",
                ])
                .current_dir(workspace)
                .status()
                .expect("run cargo");
            assert!(status.success(), "cargo build of tuf-signer failed");
        }
    }
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build --release -p tuf-signer` first (or set TUF_SIGNER_BIN)",
        bin.display()
    );
    bin
}

/// `tuf-signer serve --config FILE`.
struct Signer {
    child: Child,
    addr: SocketAddr,
}

impl Signer {
    fn start(bin: &Path, config: &Path) -> (Signer, Duration) {
        let t = Instant::now();
        let (child, addr) = tuf_testkit::signer::start_binary(bin.to_str().unwrap(), config, &[]);
        let s = Signer { child, addr };
        let deadline = Instant::now() + WAIT;
        while s.version() == 0 {
            assert!(Instant::now() < deadline, "the signer signed nothing");
            std::thread::sleep(Duration::from_millis(10));
        }
        (s, t.elapsed())
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn get(&self, path: &str) -> tuf_testkit::http::Resp {
        try_request_blocking(self.addr, "GET", path, &[], b"", Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("GET {path} from the signer: {e}"))
    }

    fn status(&self) -> Value {
        self.get(&format!("/api/v1/{MERKLE}/status")).json()
    }

    fn version(&self) -> u64 {
        self.status()["timestamp_version"].as_u64().unwrap_or(0)
    }

    /// SIGTERM (a clean stop), and waits.
    fn stop(mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.child.wait();
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn mirror_status(m: &Mirror) -> Option<Value> {
    try_request_blocking(
        m.addr,
        "GET",
        &format!("/api/v1/{MERKLE}/status"),
        &[],
        b"",
        Duration::from_secs(10),
    )
    .ok()
    .filter(|r| r.status == 200)
    .map(|r| r.json())
}

fn version_of(status: &Value) -> u64 {
    status["timestamp_version"].as_u64().unwrap_or(0)
}

/// A mirror's first start, timed from its process start to its status serving `target`.
struct ColdStart {
    label: &'static str,
    listening: Duration,
    serving: Duration,
    started_from: String,
    rss: (f64, f64),
}

fn cold_start(
    label: &'static str,
    bin: &Path,
    dir: &Path,
    upstream: &str,
    trusted_root: &Path,
    target: u64,
    role_lines: &[&str],
) -> (ColdStart, Mirror) {
    let mut spec = MirrorSpec::url(upstream, MERKLE, trusted_root);
    spec.poll_ms = POLL_MS;
    for line in role_lines {
        spec = spec.role_line(line);
    }
    let mut mirror = Mirror::configured(bin.to_str().unwrap(), dir, &spec, &[]);
    let t = Instant::now();
    // Returns once it listens: every role opened (its cold start done).
    mirror.restart();
    let listening = t.elapsed();
    let status = loop {
        if let Some(s) = mirror_status(&mirror)
            && version_of(&s) >= target
        {
            break s;
        }
        assert!(
            t.elapsed() < WAIT,
            "{label}: the mirror did not reach version {target}\n{}",
            mirror.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let serving = t.elapsed();
    // Settled (its first poll done, any checkpoint written): its memory at 250,000 leaves.
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_mib(mirror.pid().unwrap());
    let cold = ColdStart {
        label,
        listening,
        serving,
        started_from: status["mirror"]["started_from"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
        rss,
    };
    println!("  cold start {label}: {:.2} s", serving.as_secs_f64());
    (cold, mirror)
}

/// One closed-loop proof load against one server.
struct ProofLoad {
    proofs: usize,
    rate: f64,
    lat_ms: Vec<f64>,
    non_200: usize,
    errors: usize,
    mean_bytes: f64,
    server_cpu: f64,
    client_cpu: f64,
    /// CPU the machine's other processes used (not the signer, the mirror or this one).
    others_cpu: f64,
    secs: f64,
    /// Proofs/s of each window.
    windows: Vec<f64>,
}

impl ProofLoad {
    fn merge(mut self, other: ProofLoad) -> ProofLoad {
        self.proofs += other.proofs;
        self.lat_ms.extend(other.lat_ms);
        self.lat_ms.sort_by(f64::total_cmp);
        self.non_200 += other.non_200;
        self.errors += other.errors;
        self.mean_bytes = (self.mean_bytes + other.mean_bytes) / 2.0;
        self.server_cpu += other.server_cpu;
        self.client_cpu += other.client_cpu;
        self.others_cpu += other.others_cpu;
        self.secs += other.secs;
        self.windows.extend(other.windows);
        self.rate = self.proofs as f64 / self.secs;
        self
    }
}

/// `CONNECTIONS` keep-alive connections, each sending the next request of `requests` as soon
/// as it has the last answer; counted after `WARMUP`, for `secs`. `idle_pid` is the other
/// server, idle meanwhile.
async fn proof_load(
    addr: SocketAddr,
    server_pid: u32,
    idle_pid: u32,
    requests: &Arc<Vec<Vec<u8>>>,
    window: Duration,
) -> ProofLoad {
    let start = tokio::time::Instant::now() + WARMUP;
    let end = start + window;
    let cpu = tokio::spawn(async move {
        let sample = || {
            [
                cpu_secs(server_pid),
                cpu_secs(std::process::id()),
                cpu_secs(idle_pid),
                machine_busy_secs(),
            ]
        };
        tokio::time::sleep_until(start).await;
        let before = sample();
        tokio::time::sleep_until(end).await;
        let after = sample();
        let d: Vec<f64> = (0..4).map(|i| after[i] - before[i]).collect();
        (d[0], d[1], (d[3] - d[0] - d[1] - d[2]).max(0.0))
    });
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let requests = requests.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await.expect("connect");
            let mut body = Vec::with_capacity(4096);
            let mut i = c * (requests.len() / CONNECTIONS);
            let (mut lat, mut non_200, mut errors, mut bytes) = (Vec::new(), 0, 0, 0usize);
            loop {
                let t = tokio::time::Instant::now();
                if t >= end {
                    break;
                }
                let r = conn
                    .send_raw(&requests[i % requests.len()], &mut body)
                    .await;
                i += 1;
                let counted = t >= start;
                match r {
                    Ok(status) if counted => {
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                        bytes += body.len();
                        if status != 200 {
                            non_200 += 1;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        errors += usize::from(counted);
                        conn = Conn::open(addr).await.expect("reconnect");
                    }
                }
            }
            (lat, non_200, errors, bytes)
        }));
    }
    let mut load = ProofLoad {
        proofs: 0,
        rate: 0.0,
        lat_ms: Vec::new(),
        non_200: 0,
        errors: 0,
        mean_bytes: 0.0,
        server_cpu: 0.0,
        client_cpu: 0.0,
        others_cpu: 0.0,
        secs: window.as_secs_f64(),
        windows: Vec::new(),
    };
    let mut bytes = 0;
    for t in tasks {
        let (lat, non_200, errors, b) = t.await.unwrap();
        load.lat_ms.extend(lat);
        load.non_200 += non_200;
        load.errors += errors;
        bytes += b;
    }
    (load.server_cpu, load.client_cpu, load.others_cpu) = cpu.await.unwrap();
    load.lat_ms.sort_by(f64::total_cmp);
    load.proofs = load.lat_ms.len();
    load.rate = load.proofs as f64 / load.secs;
    load.windows.push(load.rate);
    load.mean_bytes = bytes as f64 / load.proofs.max(1) as f64;
    load
}

/// The proof requests the loads cycle through: `GET /api/v1/crates.io/proof/{name}?version=V`,
/// one name in `ABSENT_EVERY` absent (no `-`, which every imported name has).
fn proof_requests(names: &[String], version: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(SEED ^ 0x70_726f_6f66);
    (0..REQUEST_POOL)
        .map(|i| {
            let name = if i % ABSENT_EVERY == 0 {
                tuf_benches::index_path(&format!("absent{i}"))
            } else {
                names[rng.random_range(0..names.len())].clone()
            };
            format!(
                "GET /api/v1/{MERKLE}/proof/{name}?version={version} HTTP/1.1\r\nHost: bench\r\n\r\n"
            )
            .into_bytes()
        })
        .collect()
}

/// The first `n` requests' answers from both servers, byte for byte: (identical, compared).
async fn same_bytes(a: SocketAddr, b: SocketAddr, requests: &[Vec<u8>], n: usize) -> usize {
    let (mut ca, mut cb) = (
        Conn::open(a).await.expect("connect"),
        Conn::open(b).await.expect("connect"),
    );
    let (mut ba, mut bb) = (Vec::new(), Vec::new());
    let mut same = 0;
    for r in &requests[..n] {
        let sa = ca.send_raw(r, &mut ba).await.expect("signer answer");
        let sb = cb.send_raw(r, &mut bb).await.expect("mirror answer");
        if sa == 200 && sa == sb && ba == bb {
            same += 1;
        } else {
            eprintln!(
                "answers differ for {}: signer {sa} {}\nmirror {sb} {}",
                String::from_utf8_lossy(r)
                    .lines()
                    .next()
                    .unwrap_or_default(),
                String::from_utf8_lossy(&ba),
                String::from_utf8_lossy(&bb)
            );
        }
    }
    same
}

/// First sightings of each timestamp version, by the bench's clock.
#[derive(Default)]
struct Sightings {
    first: BTreeMap<u64, Instant>,
    newest: u64,
}

impl Sightings {
    /// `version` seen at `at`: it, and every version since the newest seen, were out by then.
    fn saw_up_to(&mut self, version: u64, at: Instant) {
        for v in self.newest + 1..=version {
            self.first.entry(v).or_insert(at);
        }
        self.newest = self.newest.max(version);
    }

    /// `version` seen at `at` (a write's answer): only that one.
    fn saw(&mut self, version: u64, at: Instant) {
        let e = self.first.entry(version).or_insert(at);
        if at < *e {
            *e = at;
        }
    }
}

struct Lag {
    writes: usize,
    write_rate: f64,
    write_lat_ms: Vec<f64>,
    write_failures: usize,
    versions: u64,
    first_version: u64,
    /// (lag ms, version), sorted by lag.
    lags: Vec<(f64, u64)>,
    caught_up_after_writes: Option<Duration>,
    status_failures: usize,
    /// The longest time the mirror's version stood still while the signer's moved: (ms, the
    /// version it stood at, the versions the signer published meanwhile).
    longest_pause: (f64, u64, u64),
    /// Lags of the versions the signer did not publish during that pause.
    lags_outside_pause: Vec<f64>,
}

/// Polls `addr`'s status every `every` until `stop`, recording first sightings.
fn status_poller(
    addr: SocketAddr,
    every: Duration,
    seen: Arc<Mutex<Sightings>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    failures: Arc<std::sync::atomic::AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    tokio::spawn(async move {
        let path = format!("GET /api/v1/{MERKLE}/status HTTP/1.1\r\nHost: bench\r\n\r\n");
        let mut conn = Conn::open(addr).await.expect("connect");
        let mut body = Vec::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            match conn.send_raw(path.as_bytes(), &mut body).await {
                Ok(200) => {
                    let at = Instant::now();
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    seen.lock().unwrap().saw_up_to(version_of(&v), at);
                }
                Ok(_) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    if let Ok(c) = Conn::open(addr).await {
                        conn = c;
                    }
                }
            }
        }
    })
}

async fn lag_phase(
    signer: SocketAddr,
    mirror: SocketAddr,
    token: &str,
    names: &Arc<Vec<String>>,
) -> Lag {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let at_signer = Arc::new(Mutex::new(Sightings::default()));
    let at_mirror = Arc::new(Mutex::new(Sightings::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let status_failures = Arc::new(AtomicUsize::new(0));
    let pollers = [
        status_poller(
            signer,
            SIGNER_STATUS_EVERY,
            at_signer.clone(),
            stop.clone(),
            status_failures.clone(),
        ),
        status_poller(
            mirror,
            MIRROR_STATUS_EVERY,
            at_mirror.clone(),
            stop.clone(),
            status_failures.clone(),
        ),
    ];
    // Let both pollers see the current version, so that only new versions are timed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first_version = at_signer.lock().unwrap().newest + 1;
    assert_eq!(
        at_mirror.lock().unwrap().newest + 1,
        first_version,
        "the mirror is not caught up before the writes"
    );

    // Open loop: `WRITE_RATE` single-change writes per second, a tick every millisecond, each on
    // its own task with a connection from a keep-alive pool.
    let started = Instant::now();
    let auth = Arc::new(format!("Bearer {token}"));
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::default();
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut rng = StdRng::seed_from_u64(SEED ^ 0x6c_6167);
    let mut tasks = Vec::with_capacity(WRITE_RATE * LAG_SECS as usize);
    for tick in 0..LAG_SECS as usize * 1000 {
        interval.tick().await;
        let n = (tick + 1) * WRITE_RATE / 1000 - tick * WRITE_RATE / 1000;
        for k in 0..n {
            let name = names[rng.random_range(0..names.len())].clone();
            let body = json!({ "sha256": sha256_hex(format!("lag {tick} {k}").as_bytes()), "length": tick + 1 }).to_string();
            let (auth, pool, at_signer) = (auth.clone(), pool.clone(), at_signer.clone());
            tasks.push(tokio::spawn(async move {
                let path = format!("/api/v1/{MERKLE}/targets/{name}?wait=signed");
                let t = Instant::now();
                let idle = pool.lock().unwrap().pop();
                let mut conn = match idle {
                    Some(c) => c,
                    None => Conn::open(signer).await.expect("connect"),
                };
                let headers = [
                    ("Content-Type", "application/json"),
                    ("Authorization", auth.as_str()),
                ];
                let r = conn.send("PUT", &path, &headers, body.as_bytes()).await;
                let answered = Instant::now();
                let Ok(r) = r else { return None };
                pool.lock().unwrap().push(conn);
                if r.status != 200 {
                    eprintln!("write answered {}: {}", r.status, r.text());
                    return None;
                }
                if let Some(v) = r.json()["timestamp_version"].as_u64() {
                    at_signer.lock().unwrap().saw(v, answered);
                }
                Some((answered - t).as_secs_f64() * 1e3)
            }));
        }
    }
    let mut write_lat_ms = Vec::with_capacity(tasks.len());
    let mut write_failures = 0;
    for t in tasks {
        match t.await.unwrap() {
            Some(ms) => write_lat_ms.push(ms),
            None => write_failures += 1,
        }
    }
    let write_rate = write_lat_ms.len() as f64 / started.elapsed().as_secs_f64();
    write_lat_ms.sort_by(f64::total_cmp);
    let writes_done = Instant::now();

    // Until the mirror serves the signer's last version.
    let last = at_signer.lock().unwrap().newest;
    let mut caught_up_after_writes = None;
    while writes_done.elapsed() < Duration::from_secs(30) {
        if at_mirror.lock().unwrap().newest >= last {
            caught_up_after_writes = Some(writes_done.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        let _ = p.await;
    }
    let (s, m) = (at_signer.lock().unwrap(), at_mirror.lock().unwrap());
    let mut lags: Vec<(f64, u64)> = (first_version..=last)
        .filter_map(|v| {
            let (a, b) = (s.first.get(&v)?, m.first.get(&v)?);
            Some((b.saturating_duration_since(*a).as_secs_f64() * 1e3, v))
        })
        .collect();
    lags.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The mirror's longest stand-still: from the first sighting of a version to that of the
    // next.
    let mut pause = (Duration::ZERO, 0, Instant::now(), Instant::now());
    for v in first_version..last {
        if let (Some(a), Some(b)) = (m.first.get(&v), m.first.get(&(v + 1)))
            && *b - *a > pause.0
        {
            pause = (*b - *a, v, *a, *b);
        }
    }
    let published_in_pause = |v: &u64| {
        s.first
            .get(v)
            .is_some_and(|t| *t >= pause.2 && *t < pause.3)
    };
    let mut lags_outside_pause: Vec<f64> = lags
        .iter()
        .filter(|(_, v)| !published_in_pause(v))
        .map(|l| l.0)
        .collect();
    lags_outside_pause.sort_by(f64::total_cmp);
    let longest_pause = (
        pause.0.as_secs_f64() * 1e3,
        pause.1,
        (first_version..=last).filter(published_in_pause).count() as u64,
    );
    Lag {
        longest_pause,
        lags_outside_pause,
        writes: write_lat_ms.len(),
        write_rate,
        write_lat_ms,
        write_failures,
        versions: last + 1 - first_version,
        first_version,
        lags,
        caught_up_after_writes,
        status_failures: status_failures.load(Ordering::Relaxed),
    }
}

/// The log lines of a mirror after byte `from`, at WARN or ERROR.
fn warnings(log: &str, from: usize) -> Vec<String> {
    log.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("error:"))
        .map(str::to_owned)
        .collect()
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The proxy's rule for a mirror that must replay from version 1: no leaf snapshot upstream.
fn hide_leaf_snapshots(_method: &str, path: &str) -> Action {
    if path.ends_with("/leaf-snapshots/latest.json") {
        Action::Respond(404, b"{\"error\":{\"code\":\"not_found\"}}".to_vec())
    } else {
        Action::Forward
    }
}

/// The mean of `xs` and its standard error.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

fn met(ok: bool) -> &'static str {
    if ok { "MET" } else { "MISSED" }
}

fn mib_per_leaf(mib: f64) -> f64 {
    mib * 1024.0 * 1024.0 / LEAVES as f64
}

fn run(rt: &tokio::runtime::Runtime) {
    let t0 = Instant::now();
    let bin = signer_binary();
    println!(
        "mirror: {} ; loadavg at start {} ; tuf-signer: {}",
        machine(),
        loadavg(),
        bin.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let root = root.as_path();
    // TUF_BENCH_KEEP=1 keeps the data directories and logs for a look afterwards.
    if std::env::var_os("TUF_BENCH_KEEP").is_some() {
        println!("keeping {}", tmp.keep().display());
    }

    // 1. The role: synthetic index files, imported into the signer's data directory.
    let index = root.join("index");
    let written = tuf_benches::index_files::write(&index, LEAVES, SEED);
    let names = Arc::new(written.paths);
    let data = root.join("signer-data");
    let batch = tuf_signer::Config::embedded_default().roles[MERKLE]
        .batch
        .clone();
    // A fixed port: the mirror keeps following the signer's URL across its restart.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = |snapshot_every: Option<u64>| {
        let c = TestConfig::signer_defaults()
            .batch(batch.max_changes, batch.max_delay_ms)
            .listen(listen);
        match snapshot_every {
            Some(every) => c.merkle_role(&format!("leaf_snapshot_every = {every}")),
            None => c,
        }
    };
    let t = Instant::now();
    let summary = tuf_signer::import::import(
        &config(Some(SNAPSHOT_EVERY)).build(&data),
        MERKLE,
        &index,
        false,
    )
    .unwrap();
    assert_eq!(summary.leaves, LEAVES);
    println!(
        "import of {LEAVES} index files ({:.0} MB): {:.2} s",
        written.sizes_sorted.iter().sum::<usize>() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&index).unwrap();

    // The signer, and rounds until a leaf snapshot of the 250,000 leaves is published.
    let dir = root.join("signer-snap");
    std::fs::create_dir_all(&dir).unwrap();
    let (signer, start1) = Signer::start(&bin, &config(Some(SNAPSHOT_EVERY)).write(&dir, &data));
    println!(
        "signer started on {LEAVES} leaves (first signed round included): {:.2} s",
        start1.as_secs_f64()
    );
    let token = tuf_testkit::repo::dev_token(&data, MERKLE);
    let trusted_root = data.join("roots").join(MERKLE).join("1.root.json");
    let mut write_n = 0usize;
    let mut publish = |signer: &Signer| -> u64 {
        write_n += 1;
        let body = json!({ "sha256": sha256_hex(format!("setup {write_n}").as_bytes()), "length": write_n })
            .to_string();
        let auth = format!("Bearer {token}");
        let r = try_request_blocking(
            signer.addr,
            "PUT",
            &format!("/api/v1/{MERKLE}/targets/{}?wait=signed", names[write_n]),
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            body.as_bytes(),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["timestamp_version"].as_u64().unwrap()
    };
    let mut version = signer.version();
    while version % SNAPSHOT_EVERY != 0 {
        version = publish(&signer);
    }
    let snapshot_version = version;
    let t = Instant::now();
    loop {
        let r = signer.get(&format!("/{MERKLE}/leaf-snapshots/latest.json"));
        if r.status == 200 && r.json()["timestamp_version"].as_u64() == Some(snapshot_version) {
            break;
        }
        assert!(t.elapsed() < WAIT, "no leaf snapshot at {snapshot_version}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let snapshot_bytes = signer
        .get(&format!(
            "/{MERKLE}/leaf-snapshots/{snapshot_version}.leaves.gz"
        ))
        .body
        .len();
    let change1_bytes = signer.get(&format!("/{MERKLE}/changes/1.json")).body.len();
    for _ in 0..ROUNDS_AFTER_SNAPSHOT {
        version = publish(&signer);
    }
    let target = version;
    println!(
        "leaf snapshot at version {snapshot_version} ({:.1} MB gzip, written {:.2} s after its round); signer at version {target}; changes/1.json {:.1} MB",
        snapshot_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        change1_bytes as f64 / 1e6
    );

    // 2. Cold starts: A directly (kept for the rest), C and B through the proxy.
    let proxy = Proxy::start(signer.addr);
    let direct = format!("http://{}", signer.addr);
    let mut colds = Vec::new();
    let (cold, mut mirror) = cold_start(
        "from the leaf snapshot, directly",
        &bin,
        &root.join("mirror-a"),
        &direct,
        &trusted_root,
        target,
        &[&format!("checkpoint_every = {MIRROR_CHECKPOINT_EVERY}")],
    );
    colds.push(cold);
    let (cold, mut c) = cold_start(
        "from the leaf snapshot, through the proxy",
        &bin,
        &root.join("mirror-c"),
        &proxy.url(),
        &trusted_root,
        target,
        &[],
    );
    colds.push(cold);
    c.kill9();
    proxy.set(hide_leaf_snapshots);
    let (cold, mut b) = cold_start(
        "replay from version 1, through the proxy",
        &bin,
        &root.join("mirror-b"),
        &proxy.url(),
        &trusted_root,
        target,
        &[],
    );
    colds.push(cold);
    b.kill9();
    let a_log_after_start = mirror.log().len();

    // 3. The signer again, with the default leaf snapshot cadence. Its memory first: after the
    // round that signed the 250,000 imported leaves, as `signer_load` measures it.
    let signer_rss_first = rss_mib(signer.pid());
    signer.stop();
    let dir = root.join("signer-default");
    std::fs::create_dir_all(&dir).unwrap();
    let (signer, start2) = Signer::start(&bin, &config(None).write(&dir, &data));
    let version = signer.version();
    let t = Instant::now();
    while mirror_status(&mirror).map(|s| version_of(&s)) != Some(version) {
        assert!(t.elapsed() < WAIT, "the mirror did not follow the restart");
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "signer restarted with the default leaf_snapshot_every in {:.2} s; the mirror at version {version} {:.2} s later",
        start2.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    let a_log_after_restart = mirror.log().len();

    let requests = Arc::new(proof_requests(&names, version));
    let same = rt.block_on(same_bytes(
        signer.addr,
        mirror.addr,
        &requests,
        SAME_BYTES_SAMPLE,
    ));
    let mirror_pid = mirror.pid().unwrap();
    let load = |addr, pid, idle| rt.block_on(proof_load(addr, pid, idle, &requests, PROOF_WINDOW));
    let (mut at_signer, mut at_mirror) = (None::<ProofLoad>, None::<ProofLoad>);
    for w in 0..PROOF_WINDOWS {
        let mirror_first = w % 2 == 1;
        for on_mirror in [mirror_first, !mirror_first] {
            let (addr, pid, idle, into) = if on_mirror {
                (mirror.addr, mirror_pid, signer.pid(), &mut at_mirror)
            } else {
                (signer.addr, signer.pid(), mirror_pid, &mut at_signer)
            };
            let l = load(addr, pid, idle);
            *into = Some(match into.take() {
                Some(sum) => sum.merge(l),
                None => l,
            });
        }
    }
    let (at_signer, at_mirror) = (at_signer.unwrap(), at_mirror.unwrap());
    println!(
        "  proofs/s, signer {:.0} (windows {:.0?}); mirror {:.0} (windows {:.0?})",
        at_signer.rate, at_signer.windows, at_mirror.rate, at_mirror.windows
    );

    // 4. Memory at 250,000 leaves.
    let signer_rss = rss_mib(signer.pid());
    let mirror_rss = rss_mib(mirror_pid);

    // 5. Lag under 1,000 writes per second.
    let a_log_before_lag = mirror.log().len();
    let lag = rt.block_on(lag_phase(signer.addr, mirror.addr, &token, &names));
    let mirror_rss_after = rss_mib(mirror_pid);
    let signer_rss_after = rss_mib(signer.pid());
    let metrics = String::from_utf8(mirror.get("/metrics").body).unwrap_or_default();
    let log = mirror.log();
    // What wrote 250,000 leaves during the lag phase: the mirror's checkpoint (its version, from
    // position.json, before the stop writes another) and the signer's leaf snapshot.
    let mirror_checkpoint = read_json(
        &mirror
            .data
            .join("mirror")
            .join(MERKLE)
            .join("position.json"),
    )
    .and_then(|v| v["timestamp_version"].as_u64());
    let signer_repo = tuf_testkit::repo::repo(&data, MERKLE);
    let signer_snapshot = read_json(&signer_repo.join("leaf-snapshots/latest.json"))
        .and_then(|v| v["timestamp_version"].as_u64())
        .filter(|v| *v > target)
        .map(|v| {
            let mtime = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let written = mtime(signer_repo.join(format!("leaf-snapshots/{v}.leaves.gz")))
                .zip(mtime(signer_repo.join(format!("changes/{v}.json"))))
                .and_then(|(a, b)| a.duration_since(b).ok());
            let copied = mirror
                .data
                .join("repo")
                .join(MERKLE)
                .join(format!("leaf-snapshots/{v}.leaves.gz"))
                .exists();
            (v, written, copied)
        });
    mirror.stop();

    // 3b. Cold starts again, with the lag phase's history behind the signer (a leaf snapshot at
    // 1,000 if it got that far), both through the proxy: replay from version 1, then from the
    // snapshot.
    let target_after = signer.version();
    let mut colds_after = Vec::new();
    for (label, hide) in [
        ("replay from version 1, through the proxy", true),
        ("from the leaf snapshot, through the proxy", false),
    ] {
        if hide {
            proxy.set(hide_leaf_snapshots);
        } else {
            proxy.honest();
        }
        let dir = root.join(format!("mirror-after-{}", colds_after.len()));
        let (cold, mut m) = cold_start(
            label,
            &bin,
            &dir,
            &proxy.url(),
            &trusted_root,
            target_after,
            &[],
        );
        m.kill9();
        colds_after.push(cold);
    }
    signer.stop();

    // Report.
    println!(
        "\n== mirror vs signer, {LEAVES}-leaf crates.io role, loopback, 2 cores shared by the signer, the mirror and this load generator =="
    );
    println!(
        "\n1. single proofs, closed loop, {CONNECTIONS} keep-alive connections, ?version={version}, 1 in {ABSENT_EVERY} names absent; {PROOF_WINDOWS} windows of {:.1} s per server (each after {:.1} s of warm-up), alternating signer, mirror, mirror, signer, ...",
        PROOF_WINDOW.as_secs_f64(),
        WARMUP.as_secs_f64()
    );
    println!(
        "{:<8} {:>9} {:>8} {:>8} {:>8} {:>9} {:>12} {:>12} {:>12} {:>7} {:>7}",
        "server",
        "proofs/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "answer B",
        "server CPU",
        "client CPU",
        "others' CPU",
        "non-200",
        "errors"
    );
    for (label, l) in [("signer", &at_signer), ("mirror", &at_mirror)] {
        println!(
            "{:<8} {:>9.0} {:>8} {:>8} {:>8} {:>9.0} {:>6.2} cores {:>6.2} cores {:>6.2} cores {:>7} {:>7}  ({:.1} µs server CPU per proof; windows {:.0?}/s)",
            label,
            l.rate,
            fmt_ms(percentile(&l.lat_ms, 0.5)),
            fmt_ms(percentile(&l.lat_ms, 0.99)),
            fmt_ms(l.lat_ms.last().copied().unwrap_or(0.0)),
            l.mean_bytes,
            l.server_cpu / l.secs,
            l.client_cpu / l.secs,
            l.others_cpu / l.secs,
            l.non_200,
            l.errors,
            l.server_cpu / l.proofs.max(1) as f64 * 1e6,
            l.windows
        );
    }
    let ratio = at_mirror.rate / at_signer.rate;
    // The windows' spread: two standard errors of the ratio of the two means.
    let ((ms, ms_se), (ss, ss_se)) = (mean_se(&at_mirror.windows), mean_se(&at_signer.windows));
    let noise = 2.0 * ratio * ((ms_se / ms).powi(2) + (ss_se / ss).powi(2)).sqrt();
    let vs_signer = if ratio >= 1.0 {
        "MET".to_owned()
    } else if ratio >= 1.0 - noise {
        format!("MET within noise (±{noise:.2})")
    } else {
        format!("MISSED by more than the noise (±{noise:.2})")
    };
    println!(
        "mirror/signer: {ratio:.2}x ± {noise:.2} (two standard errors over the windows; goal >= 1.0: {vs_signer}); mirror >= {GOAL_PROOFS:.0} proofs/s: {} ({:.2}x); {same} of {SAME_BYTES_SAMPLE} answers byte-identical",
        met(at_mirror.rate >= GOAL_PROOFS),
        at_mirror.rate / GOAL_PROOFS
    );

    println!(
        "\n2. lag at {WRITE_RATE} writes/s (single-change PUT, wait=signed, open loop, {LAG_SECS} s), mirror polling every {POLL_MS} ms"
    );
    let l99 = percentile(&lag.write_lat_ms, 0.99);
    println!(
        "writes: {} answered ({:.0}/s), {} failed; request -> signed p50 {} ms, p99 {} ms; {} timestamp versions from {} ({:.0} per s, {:.1} changes each)",
        lag.writes,
        lag.write_rate,
        lag.write_failures,
        fmt_ms(percentile(&lag.write_lat_ms, 0.5)),
        fmt_ms(l99),
        lag.versions,
        lag.first_version,
        lag.versions as f64 / LAG_SECS as f64,
        lag.writes as f64 / lag.versions.max(1) as f64
    );
    let lags: Vec<f64> = lag.lags.iter().map(|l| l.0).collect();
    let (p50, p99, max) = (
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0.0),
    );
    let goal_lag = POLL_MS as f64 + GOAL_LAG_SLACK_MS;
    println!(
        "signer publishes -> mirror serves, over {} versions: p50 {} ms, p99 {} ms, max {} ms (goal p99 <= {goal_lag:.0} ms: {}, {:.2}x the bound)",
        lags.len(),
        fmt_ms(p50),
        fmt_ms(p99),
        fmt_ms(max),
        met(!lags.is_empty() && p99 <= goal_lag && lag.lags.len() as u64 == lag.versions),
        p99 / goal_lag
    );
    let worst: Vec<String> = lag
        .lags
        .iter()
        .rev()
        .take(5)
        .map(|(ms, v)| format!("v{v} {}", fmt_ms(*ms)))
        .collect();
    println!(
        "worst: {}; mirror caught up {} after the last write; status polls failed: {}",
        worst.join(", "),
        lag.caught_up_after_writes
            .map_or("NOT within 30 s".to_owned(), |d| format!(
                "{:.0} ms",
                d.as_secs_f64() * 1e3
            )),
        lag.status_failures
    );
    let outside = &lag.lags_outside_pause;
    println!(
        "longest stand-still of the mirror: {} ms at version {} while the signer published {} versions; the other {} versions: p50 {} ms, p99 {} ms, max {} ms",
        fmt_ms(lag.longest_pause.0),
        lag.longest_pause.1,
        lag.longest_pause.2,
        outside.len(),
        fmt_ms(percentile(outside, 0.5)),
        fmt_ms(percentile(outside, 0.99)),
        fmt_ms(outside.last().copied().unwrap_or(0.0)),
    );
    // The mirror's checkpoints in the background (tuf_mirror_checkpoint_seconds; absent from
    // a mirror that writes them on its follower thread).
    let metric = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let checkpoints = match (
        metric("tuf_mirror_checkpoint_seconds_count"),
        metric("tuf_mirror_checkpoint_seconds_sum"),
    ) {
        (Some(n), Some(sum)) if n > 0.0 => format!(
            "{n:.0} written in the background since the mirror started, {:.2} s each on average",
            sum / n
        ),
        _ => "none written in the background".to_owned(),
    };
    println!(
        "250,000-leaf writes meanwhile: the mirror's checkpoint (every {MIRROR_CHECKPOINT_EVERY} versions it serves) at version {} ({checkpoints}); the signer's leaf snapshot {}",
        mirror_checkpoint.map_or("(none)".to_owned(), |v| v.to_string()),
        match signer_snapshot {
            Some((v, written, copied)) => format!(
                "of version {v}, published {} after its round; the mirror {} it",
                written.map_or("?".to_owned(), |d| format!("{:.2} s", d.as_secs_f64())),
                if copied { "copied" } else { "did not copy" }
            ),
            None => "(none)".to_owned(),
        }
    );

    println!(
        "\n3. cold start of a fresh mirror at {LEAVES} leaves: process start -> its status serves version {target} (the signer's)"
    );
    for c in &colds {
        println!(
            "  {:<44} {:>6.2} s (listening after {:.2} s)  started_from: {}",
            c.label,
            c.serving.as_secs_f64(),
            c.listening.as_secs_f64(),
            c.started_from
        );
    }
    for c in &colds_after {
        println!(
            "  {:<44} {:>6.2} s (listening after {:.2} s)  started_from: {}  (to version {target_after}, after the lag phase)",
            c.label,
            c.serving.as_secs_f64(),
            c.listening.as_secs_f64(),
            c.started_from
        );
    }
    let snap_direct = colds[0].serving.as_secs_f64();
    let snap_proxy = colds[1].serving.as_secs_f64();
    let replay = colds[2].serving.as_secs_f64();
    println!(
        "from the snapshot < {GOAL_COLD_SECS} s: {} ({snap_direct:.2} s, {:.2}x the bound); replay from version 1 / from the snapshot, both through the proxy: {:.1}x",
        met(snap_direct < GOAL_COLD_SECS),
        snap_direct / GOAL_COLD_SECS,
        replay / snap_proxy
    );
    println!(
        "after the lag phase (version {target_after}): replay from version 1 / from the snapshot, through the proxy: {:.1}x",
        colds_after[0].serving.as_secs_f64() / colds_after[1].serving.as_secs_f64()
    );

    println!("\n4. memory at {LEAVES} leaves (VmRSS; VmHWM peak in brackets)");
    println!(
        "  signer, first run (it signed v1 with every leaf) {:>6.0} MiB [{:.0}]  {:>6.0} B/leaf",
        signer_rss_first.0,
        signer_rss_first.1,
        mib_per_leaf(signer_rss_first.0)
    );
    println!(
        "  signer, restarted                {:>6.0} MiB [{:.0}]  {:>6.0} B/leaf; after the lag phase {:.0} MiB",
        signer_rss.0,
        signer_rss.1,
        mib_per_leaf(signer_rss.0),
        signer_rss_after.0
    );
    println!(
        "  mirror (after the proof load)    {:>6.0} MiB [{:.0}]  {:>6.0} B/leaf; after the lag phase {:.0} MiB; mirror/signer {:.2}x",
        mirror_rss.0,
        mirror_rss.1,
        mib_per_leaf(mirror_rss.0),
        mirror_rss_after.0,
        mirror_rss.0 / signer_rss.0
    );
    for c in colds.iter().chain(&colds_after) {
        println!(
            "  mirror just caught up, {:<44} {:>6.0} MiB [{:.0}]  {:>6.0} B/leaf",
            c.label,
            c.rss.0,
            c.rss.1,
            mib_per_leaf(c.rss.0)
        );
    }

    println!("\nmirror A's log:");
    for (what, from, to) in [
        ("its cold start", 0, a_log_after_start),
        (
            "the signer's restart",
            a_log_after_start,
            a_log_after_restart,
        ),
        ("the proof loads", a_log_after_restart, a_log_before_lag),
        ("the lag phase", a_log_before_lag, log.len()),
    ] {
        let w = warnings(&log[..to], from);
        println!("  warnings and errors during {what}: {}", w.len());
        for line in w.iter().take(3) {
            println!("    {line}");
        }
    }
    for name in [
        "tuf_mirror_upstream_errors_total",
        "tuf_mirror_incomplete",
        "tuf_mirror_inconsistent",
    ] {
        let v = metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("(absent)");
        println!("  {v}");
    }
    println!(
        "\nloadavg at end {}; whole run {:.0} s",
        loadavg(),
        t0.elapsed().as_secs_f64()
    );
}
