//! cargo through the verifying proxy (`cargo bench -p tuf-benches --bench cargo_proxy`): a
//! bounded run of about three minutes that prints a report; the numbers go to
//! `docs/performance.md`.
//!
//! Everything is on loopback: the real index samples (`../shared/data`, 2019 and 2026, about
//! 4,000 crates) served by a static sparse index, a signer that imported the same files, and
//! `tuf-verify proxy` (its library, `tuf_client::proxy::run`, in a thread of this process).
//!
//! 1. **Wall time of a cold `cargo generate-lockfile`** of a project with 295 direct
//!    dependencies (`benches/data/cargo-proxy-deps.txt`: crates of the samples whose dependency
//!    closure is in them; 300 packages locked), against the index directly and through the
//!    proxy, each over the same protocol: plain HTTP/1.1 (cargo keeps two requests in flight),
//!    and HTTPS with HTTP/2 (what `https://index.crates.io/` speaks; cargo multiplexes its whole
//!    queue on one connection; the proxy with `--tls`, its upstream the HTTPS index). Alternated,
//!    seven times each (`CARGO_PROXY_RUNS`), every run with an empty `CARGO_HOME` and (for the proxy) a fresh
//!    client state, cache and certificate: medians and the ratio proxy/direct per protocol; over
//!    HTTPS also with the proxy's memory and prefetching on, with its index over plain HTTP, and
//!    warmed with the project's `Cargo.toml` or `Cargo.lock` (`--warm`). For a proxy, cargo's run
//!    and the time from the proxy's start (state, certificate, first timestamp, warm-up) to the
//!    lockfile, each as a ratio to the direct run. Goal: the proxy adds at most 10% of wall time,
//!    or one round trip. The same again with the index and the signer a round trip away
//!    (`tuf_testkit::latency`, `CARGO_PROXY_RTT_MS`, 20 ms by default), as seen from a
//!    developer's machine or a CI runner, and with the proxy's index over HTTP/1.1 (as before
//!    the proxy read it over HTTP/2).
//! 2. **What verification fetched per resolution**, per protocol: one more run with a counting
//!    proxy between the verifying proxy and the signer: requests, proof requests (each one
//!    multi-proof for the names asked together) and bytes, against the bytes of the index files.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tuf_client::proxy::Options;
use tuf_client::proxy::tls::Source;
use tuf_client::transport::{CaBundle, HttpOptions};
use tuf_client::{Client, Mode};
use tuf_testkit::MERKLE;
use tuf_testkit::data::real_index;
use tuf_testkit::index::StaticIndex;
use tuf_testkit::latency::Latency;
use tuf_testkit::signer::Background;
use tuf_testkit::tamper::{Action, Proxy};

/// Runs of each way (`CARGO_PROXY_RUNS` to change).
fn runs() -> usize {
    std::env::var("CARGO_PROXY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
}

fn deps() -> Vec<String> {
    let list = include_str!("../data/cargo-proxy-deps.txt");
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let deps: String = deps().iter().map(|n| format!("{n} = \"*\"\n")).collect();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"bp\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\n{deps}"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
}

/// A cold `cargo generate-lockfile` against `registry` (trusting the CA in `cainfo` for
/// HTTPS): its wall time and the lockfile.
fn resolve(
    project: &Path,
    home: &Path,
    registry: &str,
    cainfo: Option<&Path>,
) -> (Duration, String) {
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home).unwrap();
    let trust = cainfo
        .map(|ca| format!("[http]\ncainfo = {:?}\n", ca.display().to_string()))
        .unwrap_or_default();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"r\"\n[source.r]\nregistry = \"sparse+{registry}/\"\n{trust}"
        ),
    )
    .unwrap();
    let _ = std::fs::remove_file(project.join("Cargo.lock"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let start = Instant::now();
    let out = Command::new(cargo)
        .arg("generate-lockfile")
        .current_dir(project)
        .env("CARGO_HOME", home)
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        took,
        std::fs::read_to_string(project.join("Cargo.lock")).unwrap(),
    )
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The index cargo and the proxy read, over one protocol.
struct Upstream<'a> {
    index: &'a StaticIndex,
    /// Its base URL (the index's own, or a [`Latency`] relay's in front of it).
    url: String,
    /// The index's CA (HTTPS), as a file for cargo and as a bundle for the proxy.
    ca: Option<(PathBuf, CaBundle)>,
}

impl<'a> Upstream<'a> {
    fn new(index: &'a StaticIndex, dir: &Path) -> Self {
        let ca = index.ca_pem.as_ref().map(|pem| {
            let path = dir.join(format!("index-ca-{}.pem", index.addr.port()));
            std::fs::write(&path, pem).unwrap();
            let bundle = CaBundle::from_pem(&path, pem.as_bytes()).unwrap();
            (path, bundle)
        });
        Upstream {
            index,
            url: index.url(),
            ca,
        }
    }

    /// The same index seen through `relay` (a round trip away).
    fn behind(&self, relay: &Latency) -> Self {
        Upstream {
            index: self.index,
            url: if self.ca.is_some() {
                relay.https_url()
            } else {
                relay.url()
            },
            ca: self.ca.clone(),
        }
    }

    fn cainfo(&self) -> Option<&Path> {
        self.ca.as_ref().map(|(p, _)| p.as_path())
    }
}

/// A verifying proxy started on a fresh state: its URL and (over HTTPS) the CA cargo trusts.
struct Started {
    url: String,
    cainfo: Option<PathBuf>,
}

/// How a verifying proxy serves: how long it remembers verified answers, over HTTPS or not,
/// warmed with the crates of which project file.
struct How<'a> {
    remember: Duration,
    tls: bool,
    warm: Option<&'a Path>,
}

/// Starts a verifying proxy (fresh state in `state`) against `repo` and `index`, over HTTPS
/// when `tls` (a certificate generated into `state`), warmed with the crates of `warm`; returns
/// once it listens.
fn start_proxy(
    signer: &Background,
    state: &Path,
    repo: &str,
    index: &str,
    index_ca: Option<CaBundle>,
    how: How<'_>,
) -> Started {
    let How {
        remember,
        tls,
        warm,
    } = how;
    let root = std::fs::read(signer.repo(MERKLE).join("1.root.json")).unwrap();
    Client::init(state, MERKLE, Mode::Merkle, &root).unwrap();
    let listen = free_addr();
    let options = Options {
        state: state.to_owned(),
        repositories: vec![repo.to_owned()],
        index: index.to_owned(),
        listen,
        wait: Duration::from_secs(5),
        idle: Duration::from_secs(2),
        max_age: Duration::from_secs(30),
        remember,
        http: HttpOptions {
            ca_bundle: index_ca,
            ..HttpOptions::default()
        },
        tls: tls.then_some(Source::Generated),
        warm: warm.map(Path::to_owned).into_iter().collect(),
    };
    std::thread::spawn(move || tuf_client::proxy::run(options).unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "the proxy does not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let scheme = if tls { "https" } else { "http" };
    Started {
        url: format!("{scheme}://{listen}"),
        cainfo: tls.then(|| state.join("proxy-tls").join("ca.pem")),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time used so far: (this process: the signer, the indexes and the proxies; its waited-for
/// children: cargo), from `/proc/self/stat` in clock ticks of 10 ms.
fn cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<u64> = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = |i: usize| Duration::from_millis(10 * fields[i]);
    // utime, stime, cutime, cstime are fields 14 to 17 of the line, 11 to 14 here.
    (ticks(11) + ticks(12), ticks(13) + ticks(14))
}

/// One row of the report: a way to resolve, its wall times and CPU times.
struct Row {
    label: &'static str,
    times: Vec<Duration>,
    /// CPU of this process (signer, index, proxy) during each run.
    servers: Vec<Duration>,
    /// CPU of cargo during each run.
    cargo: Vec<Duration>,
    /// For a proxy: from its start until it listens (fresh state, certificate, first
    /// timestamp, warming).
    start: Vec<Duration>,
    /// For a proxy: from its start until the lockfile is written (`start` plus the run).
    total: Vec<Duration>,
    /// Connections the index accepted during each run (from cargo, or from the proxy).
    connections: Vec<u64>,
}

impl Row {
    fn new(label: &'static str) -> Self {
        Row {
            label,
            times: Vec::new(),
            servers: Vec::new(),
            cargo: Vec::new(),
            start: Vec::new(),
            total: Vec::new(),
            connections: Vec::new(),
        }
    }

    fn print(&self) {
        if self.times.is_empty() {
            return;
        }
        println!(
            "  {:<50} median {:>6.0} ms   (runs: {:?}; CPU: servers {:.0} ms, cargo {:.0} ms; index connections {:?})",
            self.label,
            ms(median(self.times.clone())),
            self.times.iter().map(|t| t.as_millis()).collect::<Vec<_>>(),
            ms(median(self.servers.clone())),
            ms(median(self.cargo.clone())),
            self.connections,
        );
        if !self.start.is_empty() {
            println!(
                "  {:<50} (the proxy's start until it listened: median {:.0} ms; start to lockfile: median {:.0} ms, runs {:?})",
                "",
                ms(median(self.start.clone())),
                ms(median(self.total.clone())),
                self.total.iter().map(|t| t.as_millis()).collect::<Vec<_>>(),
            );
        }
    }
}

/// The ratio of the medians of `proxied` to `direct`: of cargo's wall time, or with
/// `from_start` from the proxy's start (its state, certificate, first timestamp and any
/// warming) to the lockfile.
fn ratio(label: &str, direct: &Row, proxied: &Row, from_start: bool, round_trip: Duration) {
    let p = if from_start {
        &proxied.total
    } else {
        &proxied.times
    };
    if direct.times.is_empty() || p.is_empty() {
        return;
    }
    let (d, p) = (median(direct.times.clone()), median(p.clone()));
    let r = p.as_secs_f64() / d.as_secs_f64();
    let added = ms(p) - ms(d);
    // Each proxied run against the direct run next to it in time (the ways alternate): the
    // median of those ratios follows the machine's drift less than the ratio of medians.
    let paired = median_f64(
        direct
            .times
            .iter()
            .zip(if from_start {
                &proxied.total
            } else {
                &proxied.times
            })
            .map(|(d, p)| p.as_secs_f64() / d.as_secs_f64())
            .collect(),
    );
    println!(
        "  {label:<50} {r:.2}x (paired {paired:.2}x), +{added:.1} ms   goal <= 1.10x (or one round trip, {:.0} ms): {}",
        ms(round_trip),
        if r <= 1.10 || added <= ms(round_trip) {
            "met"
        } else {
            "MISSED"
        }
    );
}

/// Counts what one cold resolution through a fresh proxy (over HTTPS when `tls`) fetched from
/// the signer and the index: (requests, proof requests, bytes, index bytes).
fn count(
    signer: &Background,
    index: &StaticIndex,
    tmp: &Path,
    proj: &Path,
    tls: bool,
) -> (u64, u64, u64, u64) {
    let counters: [Arc<AtomicU64>; 4] = Default::default();
    let counter = Proxy::start(signer.addr);
    {
        let [requests, proofs, bytes, _] = counters.clone();
        counter.set(move |_, path| {
            requests.fetch_add(1, Ordering::SeqCst);
            if path.contains("/proof") {
                proofs.fetch_add(1, Ordering::SeqCst);
            }
            let bytes = bytes.clone();
            Action::Mutate(Box::new(move |b| {
                bytes.fetch_add(b.len() as u64, Ordering::SeqCst);
                b
            }))
        });
    }
    // The index through a counting (plain HTTP) proxy too, over either protocol to cargo.
    let index_counter = Proxy::start(index.addr);
    {
        let index_bytes = counters[3].clone();
        index_counter.set(move |_, _| {
            let index_bytes = index_bytes.clone();
            Action::Mutate(Box::new(move |b| {
                index_bytes.fetch_add(b.len() as u64, Ordering::SeqCst);
                b
            }))
        });
    }
    let tag = if tls { "tls" } else { "plain" };
    let p = start_proxy(
        signer,
        &tmp.join(format!("state-count-{tag}")),
        &counter.url(),
        &index_counter.url(),
        None,
        How {
            remember: Duration::ZERO,
            tls,
            warm: None,
        },
    );
    let _ = resolve(
        proj,
        &tmp.join(format!("home-count-{tag}")),
        &p.url,
        p.cainfo.as_deref(),
    );
    let [a, b, c, d] = counters.map(|c| c.load(Ordering::SeqCst));
    (a, b, c, d)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let index: PathBuf = tmp.path().join("index");
    if real_index("crates-index-2019-sample.tar.gz", &index).is_none()
        || real_index("crates-index-2026-sample.tar.gz", &index).is_none()
    {
        return;
    }
    std::fs::write(
        index.join("config.json"),
        br#"{"dl":"http://127.0.0.1:9/dl","api":null}"#,
    )
    .unwrap();
    let started = Instant::now();
    let signer = Background::start_after(|config| {
        tuf_signer::import::import(config, MERKLE, &index, false).unwrap();
    });
    println!(
        "signer: imported and serving in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let plain_index = StaticIndex::start(&index);
    let tls_index = StaticIndex::start_tls(&index);
    let plain = Upstream::new(&plain_index, tmp.path());
    let https = Upstream::new(&tls_index, tmp.path());
    let proj = tmp.path().join("project");
    project(&proj);
    // The index and the signer a round trip away (`CARGO_PROXY_RTT_MS`, 20 by default), as
    // they are from a developer's machine or a CI runner; cargo and the proxy side by side.
    let rtt = Duration::from_millis(
        std::env::var("CARGO_PROXY_RTT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let far_index_relay = Latency::start(tls_index.addr, rtt);
    let far_signer_relay = Latency::start(signer.addr, rtt);
    let far = https.behind(&far_index_relay);
    // The same index over HTTPS without HTTP/2: the proxy then reads it over HTTP/1.1, as it
    // read every index before it spoke HTTP/2 upstream (`proxy::multiplex`).
    let tls1_index = StaticIndex::start_tls_offering(&index, &[b"http/1.1"]);
    let https1 = Upstream::new(&tls1_index, tmp.path());
    let far1_relay = Latency::start(tls1_index.addr, rtt);
    let far1 = https1.behind(&far1_relay);
    let far_signer = far_signer_relay.url();
    let rtt_ms = rtt.as_millis();

    // 1. Wall time, alternated.
    let mut rows = [
        Row::new("HTTP/1.1: cargo -> index, direct"),
        Row::new("HTTP/1.1: cargo -> proxy -> index + signer"),
        Row::new("HTTPS, HTTP/2: cargo -> index, direct"),
        Row::new("HTTPS, HTTP/2: cargo -> proxy -> index + signer"),
        Row::new("HTTPS, HTTP/2: the same, memory and prefetch on"),
        Row::new("HTTPS, HTTP/2: the same, index over plain HTTP"),
        Row::new("HTTPS, HTTP/2: proxy --warm Cargo.toml"),
        Row::new("HTTPS, HTTP/2: proxy --warm Cargo.lock"),
        Row::new("RTT: HTTPS, HTTP/2: cargo -> index, direct"),
        Row::new("RTT: HTTPS, HTTP/2: cargo -> proxy -> index + signer"),
        Row::new("RTT: HTTPS, HTTP/2: proxy --warm Cargo.lock"),
        Row::new("RTT: the proxy's index without HTTP/2 (as before)"),
    ];
    let warm = tmp.path().join("warm");
    std::fs::create_dir_all(&warm).unwrap();
    std::fs::copy(proj.join("Cargo.toml"), warm.join("Cargo.toml")).unwrap();
    // `CARGO_PROXY_ROWS=2,3`: only those rows (to profile one way; the `--warm Cargo.lock`
    // row needs a row before it that writes the lockfile). All by default.
    let only: Option<Vec<usize>> = std::env::var("CARGO_PROXY_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let mut locks = Vec::new();
    let runs = runs();
    for i in 0..runs {
        for (row, r) in rows.iter_mut().enumerate() {
            if only.as_ref().is_some_and(|o| !o.contains(&row)) {
                continue;
            }
            // (what cargo and the proxy read, direct?, the proxy's index if another, memory,
            // the project file the proxy is warmed with)
            let recent = tuf_client::proxy::prefetch::RECENT;
            let warmed = Duration::from_secs(60);
            let (upstream, direct, proxy_index, remember, warm_file) = match row {
                0 => (&plain, true, None, Duration::ZERO, None),
                1 => (&plain, false, None, Duration::ZERO, None),
                2 => (&https, true, None, Duration::ZERO, None),
                3 => (&https, false, None, Duration::ZERO, None),
                4 => (&https, false, None, recent, None),
                5 => (&https, false, Some(&plain), Duration::ZERO, None),
                6 => (&https, false, None, warmed, Some(warm.join("Cargo.toml"))),
                7 => (&https, false, None, warmed, Some(warm.join("Cargo.lock"))),
                8 => (&far, true, None, Duration::ZERO, None),
                9 => (&far, false, None, Duration::ZERO, None),
                10 => (&far, false, None, warmed, Some(warm.join("Cargo.lock"))),
                _ => (&far, false, Some(&far1), Duration::ZERO, None),
            };
            let repo = if row >= 8 {
                far_signer.clone()
            } else {
                signer.url()
            };
            let tls = upstream.ca.is_some();
            let proxy_index = proxy_index.unwrap_or(upstream);
            let home = tmp.path().join(format!("home-{row}"));
            // The last run's CARGO_HOME goes before any clock starts (removing it took more
            // than a second on this machine, and is no part of a resolution).
            let _ = std::fs::remove_dir_all(&home);
            // The last proxy writes its cache once requests pause (`cache::QUIET_BEFORE_WRITING`):
            // let it finish, so that no run pays for the one before it.
            std::thread::sleep(Duration::from_millis(500));
            let before = cpu();
            let connections = proxy_index.index.connections.load(Ordering::Relaxed);
            let (t, lock) = if direct {
                resolve(&proj, &home, &upstream.url, upstream.cainfo())
            } else {
                let started = Instant::now();
                let p = start_proxy(
                    &signer,
                    &tmp.path().join(format!("state-{row}-{i}")),
                    &repo,
                    &proxy_index.url,
                    proxy_index.ca.as_ref().map(|(_, b)| b.clone()),
                    How {
                        remember,
                        tls,
                        warm: warm_file.as_deref(),
                    },
                );
                r.start.push(started.elapsed());
                // Its start (state, certificate, first timestamp, warming) is reported apart
                // from cargo's run, and with it as `total`.
                let before = cpu();
                let (t, lock) = resolve(&proj, &home, &p.url, p.cainfo.as_deref());
                r.total.push(started.elapsed());
                let after = cpu();
                r.servers.push(after.0 - before.0);
                r.cargo.push(after.1 - before.1);
                (t, lock)
            };
            if direct {
                let after = cpu();
                r.servers.push(after.0 - before.0);
                r.cargo.push(after.1 - before.1);
            }
            r.times.push(t);
            r.connections
                .push(proxy_index.index.connections.load(Ordering::Relaxed) - connections);
            if !warm.join("Cargo.lock").exists() {
                // A project's committed lockfile, for --warm Cargo.lock.
                std::fs::write(warm.join("Cargo.lock"), &lock).unwrap();
            }
            locks.push(lock);
        }
    }
    let packages = locks[0].matches("[[package]]").count();
    let strip = |l: &str| {
        l.lines()
            .filter(|l| !l.starts_with("source = "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(locks.iter().all(|l| strip(l) == strip(&locks[0])));
    println!(
        "\ncold cargo generate-lockfile, {} direct dependencies, {packages} packages locked ({runs} runs each, alternated)",
        deps().len()
    );
    for r in &rows {
        r.print();
    }
    ratio(
        "proxy/direct over HTTP/1.1:",
        &rows[0],
        &rows[1],
        false,
        Duration::ZERO,
    );
    ratio(
        "proxy/direct over HTTPS + HTTP/2:",
        &rows[2],
        &rows[3],
        false,
        Duration::ZERO,
    );
    ratio(
        "  (memory and prefetch on):",
        &rows[2],
        &rows[4],
        false,
        Duration::ZERO,
    );
    ratio(
        "  (the proxy's index over plain HTTP):",
        &rows[2],
        &rows[5],
        false,
        Duration::ZERO,
    );
    ratio(
        "  (--warm Cargo.toml, cargo's run):",
        &rows[2],
        &rows[6],
        false,
        Duration::ZERO,
    );
    ratio(
        "  (--warm Cargo.lock, cargo's run):",
        &rows[2],
        &rows[7],
        false,
        Duration::ZERO,
    );
    println!(
        "  from the proxy's start (fresh state, certificate, timestamp, warming) to the lockfile:"
    );
    ratio(
        "  proxy over HTTPS + HTTP/2:",
        &rows[2],
        &rows[3],
        true,
        Duration::ZERO,
    );
    ratio(
        "  --warm Cargo.toml:",
        &rows[2],
        &rows[6],
        true,
        Duration::ZERO,
    );
    ratio(
        "  --warm Cargo.lock:",
        &rows[2],
        &rows[7],
        true,
        Duration::ZERO,
    );
    println!(
        "  the index and the signer {rtt_ms} ms away (round trip), cargo and the proxy side by side:"
    );
    ratio(
        "  proxy over HTTPS + HTTP/2, cargo's run:",
        &rows[8],
        &rows[9],
        false,
        rtt,
    );
    ratio(
        "  proxy over HTTPS + HTTP/2, from its start:",
        &rows[8],
        &rows[9],
        true,
        rtt,
    );
    ratio(
        "  --warm Cargo.lock, cargo's run:",
        &rows[8],
        &rows[10],
        false,
        rtt,
    );
    ratio(
        "  --warm Cargo.lock, from its start:",
        &rows[8],
        &rows[10],
        true,
        rtt,
    );
    ratio(
        "  the proxy's index without HTTP/2 (as before):",
        &rows[8],
        &rows[11],
        false,
        rtt,
    );

    if only.is_some() {
        return;
    }
    // 2. What verification fetched, per protocol.
    println!("\nfetched for verification in one cold resolution ({packages} packages)");
    for tls in [false, true] {
        let (r, proofs, b, ib) = count(&signer, &plain_index, tmp.path(), &proj, tls);
        println!(
            "  {}: from the signer {r} requests ({proofs} proof requests, {:.1} names each), {b} bytes ({:.0} per package); index files {ib} bytes (+{:.1}%)",
            if tls {
                "HTTPS, HTTP/2"
            } else {
                "HTTP/1.1     "
            },
            packages as f64 / proofs.max(1) as f64,
            b as f64 / packages as f64,
            b as f64 * 100.0 / ib.max(1) as f64
        );
    }
}
