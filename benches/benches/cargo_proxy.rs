//! cargo through the verifying proxy (`cargo bench -p tuf-benches --bench cargo_proxy`): a
//! bounded run of about a minute that prints a report; the numbers go to `docs/performance.md`.
//!
//! Everything is on loopback: the real index samples (`../shared/data`, 2019 and 2026, about
//! 4,000 crates) served by a static sparse index, a signer that imported the same files, and
//! `tuf-verify proxy` (its library, `tuf_client::proxy::run`, in a thread of this process).
//!
//! 1. **Wall time of a cold `cargo generate-lockfile`** of a project with 294 direct
//!    dependencies (`benches/data/cargo-proxy-deps.txt`: crates of the samples whose dependency
//!    closure is in them; 300 packages locked), against the index directly and through the
//!    proxy, alternated, five times each, every run with an empty `CARGO_HOME` and (for the
//!    proxy) a fresh client state and cache: median and the ratio proxy/direct; the proxy also
//!    without its memory and prefetching (`--remember-secs 0`). Goal: the proxy adds at most
//!    10% of wall time, or one round trip.
//! 2. **Bytes fetched for verification per resolution**: one more run with a counting proxy
//!    between the verifying proxy and the signer: requests and bytes (root, timestamp,
//!    multi-proofs), against the bytes of the index files cargo fetched.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tuf_client::proxy::Options;
use tuf_client::transport::HttpOptions;
use tuf_client::{Client, Mode};
use tuf_testkit::MERKLE;
use tuf_testkit::data::real_index;
use tuf_testkit::index::StaticIndex;
use tuf_testkit::signer::Background;
use tuf_testkit::tamper::{Action, Proxy};

const RUNS: usize = 5;

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

/// A cold `cargo generate-lockfile` against `registry`: its wall time and the lockfile.
fn resolve(project: &Path, home: &Path, registry: &str) -> (Duration, String) {
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"r\"\n[source.r]\nregistry = \"sparse+{registry}/\"\n"
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

/// Starts a verifying proxy (fresh state in `state`) against `repo` and `index`; its URL.
fn start_proxy(
    signer: &Background,
    state: &Path,
    repo: &str,
    index: &str,
    remember: Duration,
) -> String {
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
        http: HttpOptions::default(),
        // Plain HTTP/1.1, as the numbers in docs/performance.md were measured.
        tls: None,
    };
    std::thread::spawn(move || tuf_client::proxy::run(options).unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "the proxy does not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    format!("http://{listen}")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
    let static_index = StaticIndex::start(&index);
    let proj = tmp.path().join("project");
    project(&proj);

    // 1. Wall time, alternated.
    let (mut direct, mut proxied, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    let mut locks = Vec::new();
    for i in 0..RUNS {
        let (t, lock) = resolve(&proj, &tmp.path().join("home-d"), &static_index.url());
        direct.push(t);
        locks.push(lock);
        for (remember, times, tag) in [
            (tuf_client::proxy::prefetch::RECENT, &mut proxied, "p"),
            (Duration::ZERO, &mut plain, "n"),
        ] {
            let url = start_proxy(
                &signer,
                &tmp.path().join(format!("state-{tag}{i}")),
                &signer.url(),
                &static_index.url(),
                remember,
            );
            let (t, lock) = resolve(&proj, &tmp.path().join(format!("home-{tag}")), &url);
            times.push(t);
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
    let (d, p) = (median(direct.clone()), median(proxied.clone()));
    println!(
        "\ncold cargo generate-lockfile, {} direct dependencies, {packages} packages locked ({RUNS} runs each, alternated)",
        deps().len()
    );
    println!(
        "  direct:          median {:>7.1} ms   (runs: {:?})",
        d.as_secs_f64() * 1e3,
        direct.iter().map(|t| t.as_millis()).collect::<Vec<_>>()
    );
    println!(
        "  through proxy:   median {:>7.1} ms   (runs: {:?})",
        p.as_secs_f64() * 1e3,
        proxied.iter().map(|t| t.as_millis()).collect::<Vec<_>>()
    );
    let n = median(plain.clone());
    println!(
        "  without prefetch: median {:>6.1} ms   (runs: {:?}; --remember-secs 0)",
        n.as_secs_f64() * 1e3,
        plain.iter().map(|t| t.as_millis()).collect::<Vec<_>>()
    );
    let ratio = p.as_secs_f64() / d.as_secs_f64();
    println!(
        "  proxy/direct:    {ratio:.2}x, +{:.1} ms   goal <= 1.10x (or one round trip): {}",
        (p.as_secs_f64() - d.as_secs_f64()) * 1e3,
        if ratio <= 1.10 { "met" } else { "MISSED" }
    );

    // 2. Bytes for verification.
    let (requests, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let counter = Proxy::start(signer.addr);
    {
        let (requests, bytes) = (requests.clone(), bytes.clone());
        counter.set(move |_, _| {
            requests.fetch_add(1, Ordering::SeqCst);
            let bytes = bytes.clone();
            Action::Mutate(Box::new(move |b| {
                bytes.fetch_add(b.len() as u64, Ordering::SeqCst);
                b
            }))
        });
    }
    let index_counter = Proxy::start(static_index.addr);
    let index_bytes = Arc::new(AtomicU64::new(0));
    {
        let index_bytes = index_bytes.clone();
        index_counter.set(move |_, _| {
            let index_bytes = index_bytes.clone();
            Action::Mutate(Box::new(move |b| {
                index_bytes.fetch_add(b.len() as u64, Ordering::SeqCst);
                b
            }))
        });
    }
    let url = start_proxy(
        &signer,
        &tmp.path().join("state-count"),
        &counter.url(),
        &index_counter.url(),
        tuf_client::proxy::prefetch::RECENT,
    );
    let _ = resolve(&proj, &tmp.path().join("home-c"), &url);
    let (r, b, ib) = (
        requests.load(Ordering::SeqCst),
        bytes.load(Ordering::SeqCst),
        index_bytes.load(Ordering::SeqCst),
    );
    println!("\nbytes fetched for verification in one cold resolution ({packages} packages)");
    println!(
        "  from the signer: {r} requests, {b} bytes ({:.0} bytes per package); index files: {ib} bytes (+{:.1}%)",
        b as f64 / packages as f64,
        b as f64 * 100.0 / ib as f64
    );
}
