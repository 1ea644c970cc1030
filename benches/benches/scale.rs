//! The signer at scale (issue 13): per tree size (250,000, 1,000,000 and, with
//! `TUF_SCALE_SIZES`, 10,000,000 leaves), the real signer in a child process (this executable),
//! measured end to end:
//!
//! 1. a manifest of N lines (`name<TAB>sha256<TAB>length`, index paths) written (not timed), then
//!    `tuf_signer::import::import_manifest` timed (what `tuf-signer import --manifest` runs);
//! 2. the first start, which signs the import rounds and checkpoints them;
//! 3. a clean stop and a start after it (timed to listening, which is after recovery and the
//!    first round); the signer's RSS (VmRSS, VmHWM) after that start;
//! 4. JSON proof bytes for one name (`GET …/proof/{name}`) and for resolutions of 1 and 1,000
//!    names (`POST …/proofs`), each with the client's CPU to parse and verify it (this process,
//!    median of repeated runs); the same in the binary encoding (`Accept:
//!    application/vnd.tuf-merkle-proof`, POUF §10): the answer's bytes (the proof with the role,
//!    version and root) and the client's CPU to decode and verify, for one name and for 1,000;
//! 5. one update and one 1,000-change batch, each `wait=signed`, at idle;
//! 6. 1,000 single-change requests/s, `wait=signed`, open loop for `TUF_SCALE_PACED_SECS`
//!    (default 20 s), with `checkpoint_every = 10,000`: p50/p99, and every checkpoint written
//!    meanwhile (bytes, delta or base, milliseconds, from the signer's log);
//! 7. 100,000 changes in 1,000-change batches: the checkpoint bytes they cost (deltas and any
//!    base) against one full base;
//! 8. a few seconds more at 1,000/s, then SIGKILL, and the recovery time of the next start.
//!
//! Tree-only rows (`TUF_SCALE_TREE_SIZES`, e.g. `50000000`; none by default): the tree alone,
//! built in this process from the same targets, with its build time, the resident memory it
//! added per leaf, and the answer bytes (JSON and binary) of one name's proof and of a
//! 1,000-name multi-proof; no signer (at 50 million leaves the signer's state does not fit
//! this machine's memory beside the build's peak). About 13 GB at 50M.
//!
//! Sizes: `TUF_SCALE_SIZES=250000,1000000,10000000` (default `250000,1000000`). The work
//! directory is `TUF_SCALE_DIR` (default a temporary directory), emptied after each size unless
//! `TUF_SCALE_KEEP` is set (this executable with `TUF_SCALE_CHILD_CONFIG=DIR/nN/signer.toml`
//! then runs the signer on that state again, printing `LISTENING addr`).
//! `cargo bench -p tuf-benches --bench scale`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tuf_benches::open_loop::{Paced, paced_puts};
use tuf_benches::report::{fmt_ms, loadavg, machine, percentile, rss_mib};
use tuf_benches::signer_process::{ChildLog, SignerChild, SignerProcess};
use tuf_merkle::Proof;
use tuf_merkle::multiproof::MultiProof;
use tuf_testkit::data::index_name;
use tuf_testkit::sha256_hex;

/// The signer in a child process: its log (INFO, to `signer.log`) is read back for checkpoints
/// and the hash check; a start at 10M leaves recovers for minutes.
const SIGNER: SignerChild = SignerChild {
    config_var: "TUF_SCALE_CHILD_CONFIG",
    log: ChildLog::Info,
    start_within: Duration::from_secs(1800),
};
/// How long a clean stop (the final checkpoint) may take.
const STOP_WITHIN: Duration = Duration::from_secs(600);
const ROLE: &str = "crates.io";
const SEED: u64 = 13;
const RATE: usize = 1_000;
const CHECKPOINT_EVERY: u64 = 10_000;
const BULK_CHANGES: usize = 100_000;

fn main() {
    if SIGNER.run_if_child() {
        return;
    }
    // The import runs in this process: its phases (`manifest read and parsed`, `leaves sorted
    // by key`, `tree built`, `checkpoint written`) go to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// A clean stop; how long it took.
fn stop(p: SignerProcess) -> Duration {
    p.stop(STOP_WITHIN)
        .unwrap_or_else(|| panic!("the signer did not stop within {} s", STOP_WITHIN.as_secs()))
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let r = tuf_testkit::http::request(addr, "GET", path, &[], b"").await;
    (r.status, r.body)
}

/// The binary answer (POUF §10.5) to a proof request: `GET …/proof/{name}` or `POST …/proofs`.
async fn binary_answer(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", tuf_merkle::binary::MEDIA_TYPE),
    ];
    let r = tuf_testkit::http::request(addr, method, path, &headers, body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(tuf_merkle::binary::Answer::is_binary(&r.body));
    r.body
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth),
    ];
    let r = tuf_testkit::http::request(addr, method, path, &headers, body).await;
    (r.status, r.body)
}

/// A batch body upserting `names` with contents derived from `salt`.
fn batch_body(names: &[String], salt: u64) -> Vec<u8> {
    let changes: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({ "op": "upsert", "path": n, "sha256": sha256_hex(format!("{salt} {i}").as_bytes()), "length": i + 1 })
        })
        .collect();
    json!({ "changes": changes }).to_string().into_bytes()
}

/// Open loop: [`RATE`] single-change PUTs per second for `secs` to random names of the `n`
/// imported ones; the sorted latencies in ms.
async fn paced(
    addr: SocketAddr,
    auth: &str,
    n: usize,
    secs: u64,
    wait: &'static str,
    salt: u64,
) -> Vec<f64> {
    let load = Paced {
        addr,
        auth,
        rate: RATE,
        secs,
        wait,
        seed: SEED ^ salt,
        salt,
    };
    paced_puts(load, |rng| index_name(rng.random_range(0..n))).await
}

/// One `checkpoint written` line of the signer's log.
#[derive(Debug, Clone, Copy)]
struct CheckpointLine {
    bytes: u64,
    delta: bool,
    millis: u64,
}

fn checkpoints_in(log: &Path) -> Vec<CheckpointLine> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    text.lines()
        .filter(|l| l.contains("checkpoint written"))
        .filter_map(|l| {
            Some(CheckpointLine {
                bytes: field(l, "bytes")?.parse().ok()?,
                delta: field(l, "delta")? == "true",
                millis: field(l, "millis")?.parse().ok()?,
            })
        })
        .collect()
}

/// Waits (up to 10 minutes) for the signer's log to report the check of the stored tree
/// hashes after its latest start; returns the check's milliseconds (0 when none was reported:
/// a base without hashes, which this benchmark does not write).
fn wait_for_hash_check(log: &Path) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // The lines after the latest start ("recovered the role's state").
        let Some(start) = text.rfind("recovered the role's state") else {
            return 0;
        };
        let after = &text[start..];
        if let Some(line) = after
            .lines()
            .find(|l| l.contains("checked the tree's stored hashes"))
        {
            return line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("millis="))
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
        }
        if Instant::now() > deadline {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Median wall time (ms) of `f` over `runs` runs, single-threaded in this process.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

#[derive(Default, Debug)]
struct Row {
    n: usize,
    load: Vec<String>,
    import_s: f64,
    manifest_mb: f64,
    first_start_s: f64,
    clean_stop_s: f64,
    start_s: f64,
    hash_check_ms: u64,
    rss: (f64, f64),
    rss_after_load: (f64, f64),
    recovery_s: f64,
    recovered_changes: usize,
    rss_recovered: (f64, f64),
    base_bytes: u64,
    proof_one: (usize, f64),
    proofs_1: (usize, f64),
    proofs_1000: (usize, f64),
    /// Binary answers: one name, and a resolution of 1,000 (bytes, client ms).
    binary_one: (usize, f64),
    binary_1000: (usize, f64),
    one_update_ms: f64,
    batch_1000_ms: f64,
    p50: f64,
    p99: f64,
    paced_rate: f64,
    paced_checkpoints: Vec<CheckpointLine>,
    bulk_checkpoints: Vec<CheckpointLine>,
    bulk_ratio: f64,
}

async fn run_size(root: &Path, n: usize, paced_secs: u64) -> Row {
    let mut row = Row {
        n,
        ..Row::default()
    };
    row.load.push(loadavg());
    let dir = root.join(format!("n{n}"));
    let data = dir.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    // 1. Manifest, then import.
    let manifest = dir.join("manifest.tsv");
    {
        let mut out =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&manifest).unwrap());
        for i in 0..n {
            let len = 200 + (i * 7919) % 50_000;
            writeln!(
                out,
                "{}\t{}\t{len}",
                index_name(i),
                sha256_hex(&(i as u64).to_le_bytes())
            )
            .unwrap();
        }
        out.flush().unwrap();
    }
    row.manifest_mb = std::fs::metadata(&manifest).unwrap().len() as f64 / 1e6;
    let config_text = format!(
        "mode = \"development\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n[roles.\"{ROLE}\"]\nsnapshot = \"merkle\"\nlayout = \"crates-index\"\ncheckpoint_every = {CHECKPOINT_EVERY}\nleaf_snapshot_every = 0\n",
        data.display()
    );
    let config_path = dir.join("signer.toml");
    std::fs::write(&config_path, &config_text).unwrap();
    let config = tuf_signer::Config::load(&config_path).unwrap();
    let t = Instant::now();
    let summary = tuf_signer::import::import_manifest(&config, ROLE, &manifest, false).unwrap();
    row.import_s = t.elapsed().as_secs_f64();
    assert_eq!(summary.leaves, n);
    std::fs::remove_file(&manifest).unwrap();
    let state = data.join(format!("state/{ROLE}"));
    println!("  n={n}: import {:.2} s", row.import_s);

    // 2. First start: the import rounds.
    let log = dir.join("signer.log");
    let p = SIGNER.start(&config_path, &[], Some(&log));
    row.first_start_s = p.started_in().as_secs_f64();
    println!(
        "  n={n}: first start (import rounds) {:.1} s, RSS {:?}",
        row.first_start_s,
        p.rss_mib()
    );
    // 3. Clean stop, start.
    row.clean_stop_s = stop(p).as_secs_f64();
    row.load.push(loadavg());
    let p = SIGNER.start(&config_path, &[], Some(&log));
    row.start_s = p.started_in().as_secs_f64();
    // The start served from the base's stored tree hashes and checks them in the background
    // (both cores, seconds at 10M): wait for it, so that the latencies below are not measured
    // beside it, and report how long it took.
    row.hash_check_ms = wait_for_hash_check(&log);
    row.rss = p.rss_mib();
    row.base_bytes = std::fs::metadata(state.join("checkpoint.bin"))
        .unwrap()
        .len();
    println!(
        "  n={n}: start after clean stop {:.2} s, RSS {:?}",
        row.start_s, row.rss
    );
    let addr = p.addr();
    let (status, body) = get(addr, &format!("/api/v1/{ROLE}/status")).await;
    assert_eq!(status, 200);
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["leaves"], n, "{status}");
    let token = std::fs::read_to_string(data.join(format!("dev-tokens/{ROLE}")))
        .unwrap()
        .trim()
        .to_owned();
    let auth = format!("Bearer {token}");

    // 4. Proofs and the client's CPU.
    let mut rng = StdRng::seed_from_u64(SEED);
    let name = index_name(rng.random_range(0..n));
    let (s, one) = get(addr, &format!("/api/v1/{ROLE}/proof/{name}")).await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&one).unwrap();
    let root = tuf_merkle::hash::parse_hex(v["merkle_root"].as_str().unwrap()).unwrap();
    let proof_json = serde_json::to_vec(&v["proof"]).unwrap();
    let cpu = median_ms(201, || {
        let p = Proof::from_json(&proof_json).unwrap();
        p.verify(&root).unwrap();
    });
    row.proof_one = (one.len(), cpu);
    let answer = binary_answer(addr, "GET", &format!("/api/v1/{ROLE}/proof/{name}"), b"").await;
    let cpu = median_ms(201, || {
        let a = tuf_merkle::binary::Answer::decode(&answer).unwrap();
        let p = Proof::from_binary(a.proof).unwrap();
        p.verify(&root).unwrap();
    });
    row.binary_one = (answer.len(), cpu);
    for count in [1usize, 1000] {
        let picked: Vec<String> = rand::seq::index::sample(&mut rng, n, count)
            .iter()
            .map(index_name)
            .collect();
        let (s, body) = send(
            addr,
            "POST",
            &format!("/api/v1/{ROLE}/proofs"),
            "",
            json!({ "names": picked }).to_string().as_bytes(),
        )
        .await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let root = tuf_merkle::hash::parse_hex(v["merkle_root"].as_str().unwrap()).unwrap();
        let proof_json = serde_json::to_vec(&v["proof"]).unwrap();
        let cpu = median_ms(if count == 1 { 201 } else { 21 }, || {
            let p = MultiProof::from_json(&proof_json).unwrap();
            p.verify(&root).unwrap();
        });
        if count == 1 {
            row.proofs_1 = (body.len(), cpu);
        } else {
            row.proofs_1000 = (body.len(), cpu);
            let answer = binary_answer(
                addr,
                "POST",
                &format!("/api/v1/{ROLE}/proofs"),
                json!({ "names": picked }).to_string().as_bytes(),
            )
            .await;
            let cpu = median_ms(21, || {
                let a = tuf_merkle::binary::Answer::decode(&answer).unwrap();
                let p = MultiProof::from_binary(a.proof).unwrap();
                p.verify(&root).unwrap();
            });
            row.binary_1000 = (answer.len(), cpu);
        }
    }

    // 5. One update, one 1,000-change batch, at idle.
    let mut ones = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let name = index_name(rng.random_range(0..n));
        let body = json!({ "sha256": sha256_hex(format!("one {i}").as_bytes()), "length": 7 + i })
            .to_string();
        let (s, b) = send(
            addr,
            "PUT",
            &format!("/api/v1/{ROLE}/targets/{name}?wait=signed"),
            &auth,
            body.as_bytes(),
        )
        .await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
        ones.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ones.sort_by(f64::total_cmp);
    row.one_update_ms = ones[2];
    let mut batches = Vec::new();
    for i in 0..3 {
        let names: Vec<String> = rand::seq::index::sample(&mut rng, n, 1000)
            .iter()
            .map(index_name)
            .collect();
        let body = batch_body(&names, 100 + i);
        let t = Instant::now();
        let (s, b) = send(
            addr,
            "POST",
            &format!("/api/v1/{ROLE}/batch?wait=signed"),
            &auth,
            &body,
        )
        .await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
        batches.push(t.elapsed().as_secs_f64() * 1e3);
    }
    batches.sort_by(f64::total_cmp);
    row.batch_1000_ms = batches[1];

    // 6. 1,000 changes/s, signed.
    let before = checkpoints_in(&log).len();
    let t = Instant::now();
    let lat = paced(addr, &auth, n, paced_secs, "signed", 1).await;
    row.paced_rate = lat.len() as f64 / t.elapsed().as_secs_f64();
    row.p50 = percentile(&lat, 0.5);
    row.p99 = percentile(&lat, 0.99);
    // Let a checkpoint started at the end finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    row.paced_checkpoints = checkpoints_in(&log)[before..].to_vec();
    row.rss_after_load = p.rss_mib();
    println!(
        "  n={n}: paced p50 {:.1} p99 {:.1} ms; checkpoints {:?}",
        row.p50, row.p99, row.paced_checkpoints
    );

    // 7. 100,000 changes in batches of 1,000: what their checkpoints cost.
    let before = checkpoints_in(&log).len();
    for b in 0..BULK_CHANGES / 1000 {
        let names: Vec<String> = rand::seq::index::sample(&mut rng, n, 1000)
            .iter()
            .map(index_name)
            .collect();
        let body = batch_body(&names, 1_000 + b as u64);
        let (s, r) = send(addr, "POST", &format!("/api/v1/{ROLE}/batch"), &auth, &body).await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&r));
    }
    // The checkpoint of the last 10,000 starts between batches: one more batch triggers it.
    let names: Vec<String> = (0..1).map(|_| index_name(rng.random_range(0..n))).collect();
    let (s, _) = send(
        addr,
        "POST",
        &format!("/api/v1/{ROLE}/batch?wait=signed"),
        &auth,
        &batch_body(&names, 9),
    )
    .await;
    assert_eq!(s, 200);
    let deadline = Instant::now() + Duration::from_secs(300);
    while checkpoints_in(&log).len() < before + (BULK_CHANGES as u64 / CHECKPOINT_EVERY) as usize
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    row.bulk_checkpoints = checkpoints_in(&log)[before..].to_vec();
    let bulk_bytes: u64 = row.bulk_checkpoints.iter().map(|c| c.bytes).sum();
    row.bulk_ratio = bulk_bytes as f64 / row.base_bytes as f64;
    println!(
        "  n={n}: 100k changes → {} checkpoints, {bulk_bytes} bytes = {:.3} of a base",
        row.bulk_checkpoints.len(),
        row.bulk_ratio
    );

    // 8. A few seconds more, then kill -9, and recovery.
    let lat = paced(addr, &auth, n, 3, "durable", 2).await;
    row.recovered_changes = lat.len();
    row.load.push(loadavg());
    p.kill9();
    let p = SIGNER.start(&config_path, &[], Some(&log));
    row.recovery_s = p.started_in().as_secs_f64();
    row.rss_recovered = p.rss_mib();
    println!(
        "  n={n}: recovery after kill -9 {:.2} s, RSS {:?}",
        row.recovery_s, row.rss_recovered
    );
    stop(p);
    if std::env::var_os("TUF_SCALE_KEEP").is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    row
}

/// A tree-only row (see the module documentation).
struct TreeRow {
    n: usize,
    build_s: f64,
    rss_mib: f64,
    json_one: usize,
    binary_one: usize,
    json_1000: usize,
    binary_1000: usize,
    load: String,
}

fn tree_only(n: usize) -> TreeRow {
    use tuf_merkle::binary::Answer;
    use tuf_merkle::{LeafContents, Tree, key_of};
    let (before, _) = rss_mib(std::process::id());
    let t = Instant::now();
    let tree = Tree::from_leaves((0..n).map(|i| {
        let len = 200 + (i as u64 * 7919) % 50_000;
        let sha = tuf_merkle::hash::sha256(&(i as u64).to_le_bytes());
        (
            key_of(&index_name(i)),
            LeafContents::present(1, len, sha).unwrap(),
        )
    }))
    .unwrap();
    let build_s = t.elapsed().as_secs_f64();
    let (after, _) = rss_mib(std::process::id());
    let root = tree.root();
    let json_answer = |proof: Value| {
        json!({ "role": ROLE, "timestamp_version": 1, "merkle_root": root.to_hex(), "proof": proof })
            .to_string()
            .len()
    };
    let binary_answer = |proof: &[u8]| {
        Answer {
            role: ROLE,
            timestamp_version: 1,
            merkle_root: root,
            proof,
        }
        .encode()
        .unwrap()
        .len()
    };
    let mut rng = StdRng::seed_from_u64(SEED);
    let one = tree.prove(&index_name(rng.random_range(0..n)));
    let names: Vec<String> = rand::seq::index::sample(&mut rng, n, 1000)
        .iter()
        .map(index_name)
        .collect();
    let multi = tree.prove_many(&names).unwrap();
    let row = TreeRow {
        n,
        build_s,
        rss_mib: after - before,
        json_one: json_answer(serde_json::to_value(&one).unwrap()),
        binary_one: binary_answer(&one.to_binary().unwrap()),
        json_1000: json_answer(serde_json::to_value(&multi).unwrap()),
        binary_1000: binary_answer(&multi.to_binary().unwrap()),
        load: loadavg(),
    };
    println!(
        "  tree only n={n}: built in {build_s:.1} s, +{:.0} MiB",
        row.rss_mib
    );
    row
}

async fn run() {
    let sizes: Vec<usize> = std::env::var("TUF_SCALE_SIZES")
        .unwrap_or_else(|_| "250000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let paced_secs: u64 = std::env::var("TUF_SCALE_PACED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let root: PathBuf =
        std::env::var("TUF_SCALE_DIR").map_or_else(|_| tmp.path().to_owned(), PathBuf::from);
    println!(
        "scale: {} ; loadavg at start {} ; sizes {sizes:?}",
        machine(),
        loadavg()
    );
    let tree_sizes: Vec<usize> = std::env::var("TUF_SCALE_TREE_SIZES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut rows = Vec::new();
    for n in sizes {
        rows.push(run_size(&root, n, paced_secs).await);
    }
    let tree_rows: Vec<TreeRow> = tree_sizes.into_iter().map(tree_only).collect();
    let mib = |v: f64| format!("{v:.0}");
    println!(
        "\n| leaves | import (manifest MB) | first start (import rounds) | clean stop | start after clean stop (hash check after it) | RSS after start (peak) MiB, B/leaf | RSS after load MiB | recovery after kill -9 (changes replayed) | RSS after recovery MiB | base checkpoint | checkpoints at 1,000/s: bytes, ms | 100,000 changes: checkpoints, bytes / base | one update signed | 1,000-change batch signed | signed p50 / p99 at 1,000/s (rate) | JSON proof one name: B, client ms | resolution of 1: B, ms | resolution of 1,000: B, ms | binary proof one name: B, ms | binary resolution of 1,000: B, ms | load (1/5/15 min) |"
    );
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        let cks = |c: &[CheckpointLine]| {
            c.iter()
                .map(|c| {
                    format!(
                        "{}{} B/{} ms",
                        if c.delta { "Δ " } else { "base " },
                        c.bytes,
                        c.millis
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        println!(
            "| {} | {:.2} s ({:.0}) | {:.1} s | {:.2} s | {:.2} s ({:.1} s) | {} ({}), {:.0} | {} | {:.2} s ({}) | {} | {:.1} MB | {} | {} ({} deltas), {:.3} | {} ms | {} ms | {} / {} ms ({:.0}/s) | {} B, {:.3} ms | {} B, {:.3} ms | {} B, {:.2} ms | {} B, {:.3} ms | {} B, {:.2} ms | {} |",
            r.n,
            r.import_s,
            r.manifest_mb,
            r.first_start_s,
            r.clean_stop_s,
            r.start_s,
            r.hash_check_ms as f64 / 1e3,
            mib(r.rss.0),
            mib(r.rss.1),
            r.rss.0 * 1024.0 * 1024.0 / r.n as f64,
            mib(r.rss_after_load.0),
            r.recovery_s,
            r.recovered_changes,
            mib(r.rss_recovered.0),
            r.base_bytes as f64 / 1e6,
            cks(&r.paced_checkpoints),
            r.bulk_checkpoints.len(),
            r.bulk_checkpoints.iter().filter(|c| c.delta).count(),
            r.bulk_ratio,
            fmt_ms(r.one_update_ms),
            fmt_ms(r.batch_1000_ms),
            fmt_ms(r.p50),
            fmt_ms(r.p99),
            r.paced_rate,
            r.proof_one.0,
            r.proof_one.1,
            r.proofs_1.0,
            r.proofs_1.1,
            r.proofs_1000.0,
            r.proofs_1000.1,
            r.binary_one.0,
            r.binary_one.1,
            r.binary_1000.0,
            r.binary_1000.1,
            r.load.join(" → "),
        );
    }
    if !tree_rows.is_empty() {
        println!(
            "\n| leaves (tree only) | build | tree RSS MiB, B/leaf | JSON proof one name B | binary proof one name B | JSON resolution of 1,000 B | binary resolution of 1,000 B | load (1/5/15 min) |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for r in &tree_rows {
            println!(
                "| {} | {:.1} s | {:.0}, {:.0} | {} | {} | {} | {} | {} |",
                r.n,
                r.build_s,
                r.rss_mib,
                r.rss_mib * 1024.0 * 1024.0 / r.n as f64,
                r.json_one,
                r.binary_one,
                r.json_1000,
                r.binary_1000,
                r.load
            );
        }
    }
    if let (Some(small), Some(large)) = (rows.first(), rows.last()) {
        println!(
            "\nsigned p99 at {} leaves / at {} leaves: {:.2}x",
            large.n,
            small.n,
            large.p99 / small.p99
        );
    }
    println!("loadavg at end {}", loadavg());
}
