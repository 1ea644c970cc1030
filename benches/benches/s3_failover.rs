//! tuf-signer on S3 (`cargo bench -p tuf-benches --bench s3_failover`): a bounded run of about
//! three minutes against moto's S3 on 127.0.0.1 that prints a report and stops by itself; the
//! numbers go to `docs/performance.md`. Needs moto (`scripts/test-env.sh`); without it, it says so
//! and stops.
//!
//! The signers are child processes of this executable (`s3_failover serve --config FILE` runs
//! `tuf_signer::start` on the file), started and watched with `tuf_testkit::cluster`, so each has
//! its own memory and can be killed with SIGKILL.
//!
//! 1. **Throughput and latency, local against S3, in the same run.** One node with the local
//!    default storage, then one node on the bucket (`[storage] type = "s3"`), same config
//!    otherwise (production mode, a file key, batches of 1,000 changes or 10 ms): 8 writers in a
//!    closed loop, 100 changes per request, `wait=durable` (changes/s, and the ratio S3/local);
//!    then 8 writers of one change per request, `wait=durable`, then `wait=signed` (request →
//!    durable and → signed, p50/p99).
//! 2. **Objects and bytes per batch, and how they grow with leaves** (S3): 20 sequential batches
//!    of 100 changes with `wait=signed` (each one group commit and one round), at about 1,000
//!    leaves and again after growing the tree to about 100,000: new objects and bytes under
//!    `state/` and `repo/` per batch (listing deltas; the lease's renewals replace one object and
//!    are not counted).
//! 3. **Failover**: three nodes through a recording proxy, two writers in a loop, the leader
//!    killed with SIGKILL three times: time from the kill to a standby saying it leads, and to the
//!    first `timestamp.json` the new leader stores.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tuf_testkit::MERKLE;
use tuf_testkit::cluster::{Cluster, ClusterSpec, WRITER_TOKEN};
use tuf_testkit::data::upserts;
use tuf_testkit::http::try_request_blocking;
use tuf_testkit::proxy::FaultProxy;
use tuf_testkit::s3::MotoS3;

const PREFIX: &str = "bench";
const WRITERS: usize = 8;
const BATCH: usize = 100;
const THROUGHPUT_SECS: u64 = 8;
const LATENCY_SECS: u64 = 5;
const SIZE_BATCHES: usize = 20;
const GROW_TO: usize = 100_000;
const KILLS: usize = 3;
const GOAL_RATE: f64 = 2_000.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        child_main(Path::new(&args[3]));
        return;
    }
    run();
}

/// A signer process: `serve --config FILE`, as `tuf-signer serve` minus its logging setup.
fn child_main(config: &Path) {
    let config = tuf_signer::Config::load(config).expect("config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match tuf_signer::start(config).await {
            Ok(running) => {
                eprintln!("tuf-signer listening on http://{}", running.local_addr());
                // Until killed.
                std::future::pending::<()>().await;
            }
            Err(e) => eprintln!("error: {e}"),
        }
    });
}

fn exe() -> String {
    std::env::current_exe().unwrap().display().to_string()
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores (nproc), {model}")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Option<tuf_testkit::http::Resp> {
    try_request_blocking(
        addr,
        "POST",
        path,
        &[
            ("Authorization", &format!("Bearer {WRITER_TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        body,
        Duration::from_secs(60),
    )
    .ok()
}

/// Waits until node 0 of a one-node cluster answers and (on S3) leads.
fn wait_ready(cluster: &Cluster, local: bool) {
    if local {
        let deadline = Instant::now() + Duration::from_secs(60);
        while cluster.nodes[0].status(MERKLE).is_none() {
            assert!(Instant::now() < deadline, "the signer does not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    } else {
        cluster.wait_leader(MERKLE, Duration::from_secs(60));
    }
}

/// Runs `writers` threads in a closed loop for `secs`, each sending requests of `per_request`
/// changes with `wait`; returns accepted changes per second and the latencies (ms).
fn closed_loop(
    addr: SocketAddr,
    writers: usize,
    per_request: usize,
    wait: &str,
    secs: u64,
    next: &Arc<AtomicU64>,
) -> (f64, Vec<f64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let changes = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (stop, latencies, changes, next) = (
                stop.clone(),
                latencies.clone(),
                changes.clone(),
                next.clone(),
            );
            let path = format!("/api/v1/crates.io/batch?wait={wait}");
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let first = next.fetch_add(per_request as u64, Ordering::Relaxed) as usize;
                    let body = upserts(first..first + per_request);
                    let t = Instant::now();
                    if let Some(r) = post(addr, &path, &body)
                        && r.status == 200
                    {
                        latencies
                            .lock()
                            .unwrap()
                            .push(t.elapsed().as_secs_f64() * 1e3);
                        changes.fetch_add(per_request as u64, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let rate = changes.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    let mut lat = Arc::try_unwrap(latencies).unwrap().into_inner().unwrap();
    lat.sort_by(f64::total_cmp);
    (rate, lat)
}

struct ModeResult {
    rate: f64,
    durable: Vec<f64>,
    signed: Vec<f64>,
}

fn mode(s3: &MotoS3, local: bool) -> ModeResult {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec {
        nodes: 1,
        batch: (1_000, 10),
        prefix: format!("{PREFIX}-{}", if local { "local" } else { "s3" }),
        log_level: "warn".to_owned(),
        local,
        ..ClusterSpec::default()
    };
    let cluster = Cluster::start(&exe(), dir.path(), spec, &[s3.endpoint_url()]);
    wait_ready(&cluster, local);
    let addr = cluster.nodes[0].addr;
    let next = Arc::new(AtomicU64::new(0));
    let (rate, _) = closed_loop(addr, WRITERS, BATCH, "durable", THROUGHPUT_SECS, &next);
    let (_, durable) = closed_loop(addr, WRITERS, 1, "durable", LATENCY_SECS, &next);
    let (_, signed) = closed_loop(addr, WRITERS, 1, "signed", LATENCY_SECS, &next);
    ModeResult {
        rate,
        durable,
        signed,
    }
}

/// (objects, bytes) under `prefix/state/` and `prefix/repo/`.
fn usage(s3: &MotoS3, prefix: &str) -> [(usize, u64); 2] {
    ["state", "repo"].map(|part| {
        let list = s3.list_sizes(&format!("{prefix}/{part}/"));
        (list.len(), list.iter().map(|(_, s)| s).sum())
    })
}

/// New objects and bytes per signed batch of [`BATCH`] changes, at the tree's current size.
fn per_batch(s3: &MotoS3, addr: SocketAddr, prefix: &str, next: &mut usize) -> [(f64, f64); 2] {
    let before = usage(s3, prefix);
    for _ in 0..SIZE_BATCHES {
        let r = post(
            addr,
            "/api/v1/crates.io/batch?wait=signed",
            &upserts(*next..*next + BATCH),
        )
        .expect("answer");
        assert_eq!(r.status, 200, "{}", r.text());
        *next += BATCH;
    }
    let after = usage(s3, prefix);
    let n = SIZE_BATCHES as f64;
    [0, 1].map(|i| {
        (
            (after[i].0 - before[i].0) as f64 / n,
            (after[i].1 - before[i].1) as f64 / n,
        )
    })
}

fn sizes(s3: &MotoS3) -> Vec<(usize, [(f64, f64); 2])> {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{PREFIX}-sizes");
    let spec = ClusterSpec {
        nodes: 1,
        prefix: prefix.clone(),
        log_level: "warn".to_owned(),
        ..ClusterSpec::default()
    };
    let cluster = Cluster::start(&exe(), dir.path(), spec, &[s3.endpoint_url()]);
    cluster.wait_leader(MERKLE, Duration::from_secs(60));
    let addr = cluster.nodes[0].addr;
    let mut next = 0;
    // About 1,000 leaves first.
    for _ in 0..10 {
        post(
            addr,
            "/api/v1/crates.io/batch?wait=durable",
            &upserts(next..next + BATCH),
        )
        .expect("answer");
        next += BATCH;
    }
    let small = (next, per_batch(s3, addr, &prefix, &mut next));
    while next < GROW_TO {
        let r = post(
            addr,
            "/api/v1/crates.io/batch?wait=durable",
            &upserts(next..next + 5_000),
        )
        .expect("answer");
        assert_eq!(r.status, 200, "{}", r.text());
        next += 5_000;
    }
    let large = (next, per_batch(s3, addr, &prefix, &mut next));
    vec![small, large]
}

fn failover(s3: &MotoS3) -> Vec<(Duration, Duration)> {
    let dir = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(s3.addr(), 3);
    let spec = ClusterSpec {
        nodes: 3,
        prefix: format!("{PREFIX}-failover"),
        log_level: "warn".to_owned(),
        role: vec!["checkpoint_every = 2000".to_owned()],
        ..ClusterSpec::default()
    };
    let endpoints: Vec<String> = (0..3).map(|i| proxy.endpoint_url(i)).collect();
    let mut cluster = Cluster::start(&exe(), dir.path(), spec, &endpoints);
    let lease = cluster.lease();
    let (mut leader, _) = cluster.wait_leader(MERKLE, Duration::from_secs(60));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, next) = (stop.clone(), next.clone());
            let mut client = cluster.client();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let first = next.fetch_add(10, Ordering::Relaxed) as usize;
                    client.send(
                        "POST",
                        "/api/v1/crates.io/batch?wait=durable",
                        &upserts(first..first + 10),
                        Duration::from_secs(10),
                        Instant::now() + Duration::from_secs(30),
                    );
                }
            })
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_secs(2));
        cluster.nodes[leader].kill9();
        let killed = Instant::now();
        let (next_leader, leads) = cluster.wait_leader_excluding(MERKLE, Some(leader), 10 * lease);
        let deadline = killed + 10 * lease;
        let signed = loop {
            if let Some(e) = proxy.exchanges().into_iter().find(|e| {
                e.front == next_leader
                    && e.at >= killed
                    && e.is_stored_put()
                    && e.key_path().ends_with("/timestamp.json")
            }) {
                break e.done - killed;
            }
            assert!(Instant::now() < deadline, "the new leader signs nothing");
            std::thread::sleep(Duration::from_millis(20));
        };
        times.push((leads, signed));
        cluster.nodes[leader].start();
        leader = next_leader;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    times
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

fn run() {
    let Some(s3) = MotoS3::start_or_skip("s3_failover bench") else {
        return;
    };
    println!("machine: {}", machine());
    let local = mode(&s3, true);
    let remote = mode(&s3, false);
    println!(
        "\n| storage | changes/s ({WRITERS} writers × {BATCH}/request, durable) | durable p50 | durable p99 | signed p50 | signed p99 |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, m) in [("local", &local), ("S3 (moto)", &remote)] {
        println!(
            "| {name} | {:.0} | {} | {} | {} | {} |",
            m.rate,
            ms(percentile(&m.durable, 0.5)),
            ms(percentile(&m.durable, 0.99)),
            ms(percentile(&m.signed, 0.5)),
            ms(percentile(&m.signed, 0.99)),
        );
    }
    println!(
        "\nS3/local throughput: {:.2} (goal on S3: ≥ {GOAL_RATE:.0}/s: {})",
        remote.rate / local.rate,
        if remote.rate >= GOAL_RATE {
            "met"
        } else {
            "MISSED"
        }
    );

    println!(
        "\n| leaves | new objects/batch state | bytes/batch state | new objects/batch repo | bytes/batch repo |"
    );
    println!("|---|---|---|---|---|");
    for (leaves, [state, repo]) in sizes(&s3) {
        println!(
            "| {leaves} | {:.2} | {:.0} | {:.2} | {:.0} |",
            state.0, state.1, repo.0, repo.1
        );
    }

    let times = failover(&s3);
    println!("\n| kill | standby leads after | first timestamp by it after |");
    println!("|---|---|---|");
    for (i, (leads, signed)) in times.iter().enumerate() {
        println!("| {i} | {leads:.2?} | {signed:.2?} |");
    }
    let worst = times.iter().map(|t| t.1).max().unwrap_or_default();
    println!(
        "worst kill → signed: {worst:.2?} (goal ≤ 2 × lease = 10 s: {})",
        if worst <= Duration::from_secs(10) {
            "met"
        } else {
            "MISSED"
        }
    );
}
