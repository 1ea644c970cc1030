//! A load run (ignored by default; `cargo test --release -p tuf-signer --test load -- --ignored
//! --nocapture`): a 250,000-leaf crates.io tree, file keys, loopback HTTP, concurrent writers
//! sending one change per request, and the same with batches. Prints accepted changes per second
//! and the latency percentiles to "durable" and to "signed".

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Signer, request, sha256_hex};
use serde_json::json;
use tuf_merkle::{LeafContents, key_of};
use tuf_signer::checkpoint::{Checkpoint, Entry};

const LEAVES: usize = 250_000;

fn crate_path(i: usize) -> String {
    let n = format!("crate{i:07}");
    format!("{}/{}/{n}", &n[..2], &n[2..4])
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

async fn run(
    s: &Signer,
    writers: usize,
    per_request: usize,
    seconds: u64,
    wait: &'static str,
) -> (f64, Vec<Duration>) {
    let token = s.token("crates.io");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (token, addr, latencies) = (token.clone(), s.addr, latencies.clone());
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {token}");
            let mut changes = 0usize;
            let mut c = 0usize;
            while Instant::now() < deadline {
                c += 1;
                let body = if per_request == 1 {
                    json!({ "sha256": sha256_hex(format!("{w} {c}").as_bytes()), "length": c }).to_string()
                } else {
                    let list: Vec<_> = (0..per_request)
                        .map(|k| {
                            let i = (w * 7919 + c * 104_729 + k * 31) % LEAVES;
                            json!({ "op": "upsert", "path": crate_path(i), "sha256": sha256_hex(format!("{w} {c} {k}").as_bytes()), "length": k })
                        })
                        .collect();
                    json!({ "changes": list }).to_string()
                };
                let path = if per_request == 1 {
                    format!("/api/v1/crates.io/targets/{}?wait={wait}", crate_path((w * 7919 + c * 104_729) % LEAVES))
                } else {
                    format!("/api/v1/crates.io/batch?wait={wait}")
                };
                let method = if per_request == 1 { "PUT" } else { "POST" };
                let t = Instant::now();
                let r = request(addr, method, &path, &[("Authorization", &auth), ("Content-Type", "application/json")], body.as_bytes()).await;
                let elapsed = t.elapsed();
                assert_eq!(r.status, 200, "{}", r.text());
                latencies.lock().unwrap().push(elapsed);
                changes += per_request;
            }
            changes
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    (rate, l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a load run: minutes, and meaningful only in release mode"]
async fn load_250k() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state/crates.io");
    std::fs::create_dir_all(&state).unwrap();
    let entries = (0..LEAVES)
        .map(|i| {
            let name = crate_path(i);
            Entry {
                key: key_of(&name),
                contents: LeafContents::for_bytes(1, name.as_bytes()).unwrap(),
                name: None,
            }
        })
        .collect();
    Checkpoint {
        seq: 0,
        timestamp_version: 0,
        entries,
    }
    .store(&state.join("checkpoint.bin"))
    .unwrap();
    let t = Instant::now();
    let mut config = common::config(dir.path());
    config.roles.retain(|name, _| name == "crates.io");
    config.limits = tuf_signer::config::Limits::default();
    config.roles.get_mut("crates.io").unwrap().batch.max_changes = 1000;
    let running = tuf_signer::start(config).await.unwrap();
    let s = Signer {
        addr: running.local_addr(),
        running: Some(running),
        data: dir.path().to_owned(),
    };
    eprintln!(
        "start with {LEAVES} leaves (first signed round included): {:?}",
        t.elapsed()
    );
    for (writers, per_request, wait) in [
        (64, 1, "durable"),
        (64, 1, "signed"),
        (8, 100, "durable"),
        (8, 100, "signed"),
    ] {
        let (rate, l) = run(&s, writers, per_request, 5, wait).await;
        eprintln!(
            "{writers} writers x {per_request} change(s)/request, wait={wait}: {rate:.0} changes/s; latency p50 {:?} p99 {:?} max {:?}",
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            l.last().copied().unwrap_or_default()
        );
    }
    let metrics = s.req("GET", "/metrics", &[], b"").await.text();
    for line in metrics
        .lines()
        .filter(|l| l.contains("_seconds_sum") || l.contains("_seconds_count"))
    {
        eprintln!("{line}");
    }
    let status = s.status("crates.io").await;
    eprintln!(
        "after: {} leaves, timestamp version {}",
        status["leaves"], status["timestamp_version"]
    );
    s.stop().await;
}
