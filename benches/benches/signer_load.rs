//! tuf-signer under load (`cargo bench -p tuf-benches --bench signer_load`): a bounded run of
//! about four minutes that prints a report and stops by itself. Everything is on loopback.
//!
//! 1. `import`: 250,000 synthetic crates.io index files (sizes log-normal with the real index's
//!    median 1.2 KB and 99th percentile 55 KB, capped at 1 MB; seeded) imported with
//!    `tuf_signer::import::import`, the function behind `tuf-signer import`.
//! 2. For each key (a file key, then the KMS emulator, moto, on 127.0.0.1) and each batch delay
//!    (the development config's default, then 2 ms): the signer, started on that 250,000-leaf
//!    tree in a child process (this same executable, so its memory is its own), takes writers
//!    over HTTP: 256 writers in a closed loop, one change per request (its capacity); then an
//!    open loop of 5,000 single-change requests per second (the goal's rate), answered once
//!    durable and once signed (the latencies); then 8 writers with 100 changes per request;
//!    then the signed open loop again (after about 200,000 changes: a checkpoint may fall in it).
//!    Reported: accepted changes per second, latency p50/p99/max from request to answer, the
//!    signer's RSS, its mean signing time per round.
//! 3. The emulator's own latency per `Sign` call, against a file key's in the same run.
//! 4. Bytes a client downloads per update: merkle mode (timestamp.json and one proof, or one
//!    multi-proof for 1,000 names) against classic metadata for the same 250,000 targets, signed
//!    with the signer's own metadata code.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tough::editor::signed::SignedRole;
use tough::key_source::KeySource;
use tough::schema::{KeyHolder, Metafile, Snapshot};
use tuf_benches::open_loop::{Paced, paced_puts};
use tuf_benches::report::{fmt_ms, loadavg, machine, percentile};
use tuf_benches::signer_process::{ChildLog, SignerChild};
use tuf_keys::test_support::{KeySpec, MotoKms, REGION};
use tuf_keys::{FileKeySource, FileSigner, KeyAlgorithm, KmsSigner};
use tuf_merkle::LeafContents;
use tuf_signer::internals::checkpoint::Checkpoint;
use tuf_signer::metadata::{MetadataSigner, RootChain, SharedSigner, write_dev_root};
use tuf_testkit::http::Conn;

const LEAVES: usize = 250_000;
const SEED: u64 = 0x5167_4e52;
/// Load phases: one change per request, then batches.
/// Closed loop, enough writers to saturate the signer: its capacity.
const CAPACITY_WRITERS: usize = 256;
const CAPACITY_SECS: u64 = 6;
/// Open loop at the goal's rate: the latencies.
const PACED_SECS: u64 = 6;
const BATCH_WRITERS: usize = 8;
const BATCH_SIZE: usize = 100;
const BATCH_SECS: u64 = 5;
const SMALL_DELAY_MS: u64 = 2;
const GOAL_RATE: f64 = 5_000.0;
const GOAL_SIGNED_SLACK_MS: f64 = 20.0;
const GOAL_IMPORT_SECS: f64 = 10.0;
/// The signer in a child process (its memory its own), silent, its stderr this process's.
const SIGNER: SignerChild = SignerChild {
    config_var: "TUF_SIGNER_LOAD_CHILD_CONFIG",
    log: ChildLog::Silent,
    start_within: Duration::from_secs(180),
};
/// How long a clean stop may take; after it, the signer is killed.
const STOP_WITHIN: Duration = Duration::from_secs(60);

fn main() {
    if SIGNER.run_if_child() {
        return;
    }
    // `cargo bench` passes `--bench` (and a filter); this run has nothing to filter.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

struct Resp {
    status: u16,
    body: Vec<u8>,
}

/// One HTTP/1.1 request on a new loopback connection (`Connection: close`), JSON body, with
/// `auth` as its `Authorization` when not empty.
async fn request(addr: SocketAddr, method: &str, path: &str, auth: &str, body: &[u8]) -> Resp {
    let mut headers = vec![("Content-Type", "application/json")];
    if !auth.is_empty() {
        headers.push(("Authorization", auth));
    }
    let r = tuf_testkit::http::request(addr, method, path, &headers, body).await;
    Resp {
        status: r.status,
        body: r.body,
    }
}

use tuf_testkit::sha256_hex;

/// The headers of a write: a JSON body and the writer's `Authorization`.
fn json_auth(auth: &str) -> [(&'static str, &str); 2] {
    [
        ("Content-Type", "application/json"),
        ("Authorization", auth),
    ]
}

struct Phase {
    rate: f64,
    lat_ms: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
async fn load_phase(
    addr: SocketAddr,
    token: &str,
    names: &Arc<Vec<String>>,
    writers: usize,
    per_request: usize,
    secs: u64,
    wait: &'static str,
    salt: usize,
) -> Phase {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (auth, names, latencies) =
            (format!("Bearer {token}"), names.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(SEED ^ (salt * 1000 + w) as u64);
            let mut changes = 0usize;
            let mut c = 0usize;
            let mut mine = Vec::new();
            let mut conn = Conn::open(addr).await.expect("connect");
            while Instant::now() < deadline {
                c += 1;
                let (method, path, body) = if per_request == 1 {
                    let name = &names[rng.random_range(0..names.len())];
                    let body = json!({ "sha256": sha256_hex(format!("{salt} {w} {c}").as_bytes()), "length": c });
                    ("PUT", format!("/api/v1/crates.io/targets/{name}?wait={wait}"), body)
                } else {
                    let picked = rand::seq::index::sample(&mut rng, names.len(), per_request);
                    let list: Vec<_> = picked
                        .iter()
                        .enumerate()
                        .map(|(k, i)| {
                            let name = &names[i];
                            json!({ "op": "upsert", "path": name,
                                    "sha256": sha256_hex(format!("{salt} {w} {c} {k}").as_bytes()), "length": k + 1 })
                        })
                        .collect();
                    ("POST", format!("/api/v1/crates.io/batch?wait={wait}"), json!({ "changes": list }))
                };
                let body = body.to_string();
                let t = Instant::now();
                let r = conn
                    .send(method, &path, &json_auth(&auth), body.as_bytes())
                    .await
                    .expect("request");
                let elapsed = t.elapsed();
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                mine.push(elapsed.as_secs_f64() * 1e3);
                changes += per_request;
            }
            latencies.lock().unwrap().extend(mine);
            changes
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let mut lat_ms = latencies.lock().unwrap().clone();
    lat_ms.sort_by(f64::total_cmp);
    Phase { rate, lat_ms }
}

/// Open loop: `rate` single-change requests per second to random names of `names`, for `secs`.
async fn paced_phase(
    addr: SocketAddr,
    token: &str,
    names: &Arc<Vec<String>>,
    rate: usize,
    secs: u64,
    wait: &'static str,
    salt: usize,
) -> Phase {
    let started = Instant::now();
    let auth = format!("Bearer {token}");
    let load = Paced {
        addr,
        auth: &auth,
        rate,
        secs,
        wait,
        seed: SEED ^ salt as u64,
        salt: salt as u64,
    };
    let lat_ms = paced_puts(load, |rng| names[rng.random_range(0..names.len())].clone()).await;
    let rate = lat_ms.len() as f64 / started.elapsed().as_secs_f64();
    Phase { rate, lat_ms }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{role=\"crates.io\"")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

struct Scenario {
    key: &'static str,
    delay_ms: u64,
    start_s: f64,
    rss_start: (f64, f64),
    rss_end: (f64, f64),
    phases: Vec<(String, Phase)>,
    mean_sign_ms: f64,
    changes_per_round: f64,
}

#[allow(clippy::too_many_arguments)]
async fn scenario(
    root: &Path,
    base_checkpoint: &Path,
    names: &Arc<Vec<String>>,
    key: &'static str,
    online_key: &str,
    env: &[(&str, &str)],
    delay_ms: u64,
    max_changes: usize,
    sizes: Option<&mut Sizes>,
) -> Scenario {
    let data = root.join(format!("data-{key}-{delay_ms}ms"));
    let state = data.join("state/crates.io");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::copy(base_checkpoint, state.join("checkpoint.bin")).unwrap();
    let dir = root.join(format!("config-{key}-{delay_ms}ms"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = tuf_testkit::config::TestConfig::signer_defaults()
        .batch(max_changes, delay_ms)
        .merkle_role(online_key)
        .write(&dir, &data);
    let p = SIGNER.start(&config, env, None);
    let rss_start = p.rss_mib();
    let token = std::fs::read_to_string(data.join("dev-tokens/crates.io"))
        .unwrap()
        .trim()
        .to_owned();
    let status: Value = serde_json::from_slice(
        &request(p.addr(), "GET", "/api/v1/crates.io/status", "", b"")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(status["leaves"], LEAVES, "{status}");
    if let Some(sizes) = sizes {
        merkle_sizes(p.addr(), names, sizes).await;
    }
    let mut phases = Vec::new();
    // A phase during which the sequencer wrote a checkpoint (every `checkpoint_every` changes,
    // default 100,000) is marked: the sequencer takes no new round while it writes one.
    let ckpt = state.join("checkpoint.bin");
    let mtime = || std::fs::metadata(&ckpt).and_then(|m| m.modified()).ok();
    let mut last = mtime();
    let mut mark = |label: String| {
        let now = mtime();
        let changed = now != last;
        last = now;
        if changed { format!("{label} *") } else { label }
    };
    for (i, wait) in ["durable", "signed"].into_iter().enumerate() {
        let ph = paced_phase(
            p.addr(),
            &token,
            names,
            GOAL_RATE as usize,
            PACED_SECS,
            wait,
            1 + i,
        )
        .await;
        phases.push((mark(format!("paced {GOAL_RATE:.0}/s x 1, {wait}")), ph));
    }
    let cap = load_phase(
        p.addr(),
        &token,
        names,
        CAPACITY_WRITERS,
        1,
        CAPACITY_SECS,
        "durable",
        0,
    )
    .await;
    phases.push((
        mark(format!("capacity: {CAPACITY_WRITERS} writers x 1, durable")),
        cap,
    ));
    for (i, wait) in ["durable", "signed"].into_iter().enumerate() {
        let ph = load_phase(
            p.addr(),
            &token,
            names,
            BATCH_WRITERS,
            BATCH_SIZE,
            BATCH_SECS,
            wait,
            3 + i,
        )
        .await;
        phases.push((
            mark(format!("{BATCH_WRITERS} writers x {BATCH_SIZE}, {wait}")),
            ph,
        ));
    }
    let ph = paced_phase(
        p.addr(),
        &token,
        names,
        GOAL_RATE as usize,
        PACED_SECS,
        "signed",
        5,
    )
    .await;
    phases.push((
        mark(format!("paced {GOAL_RATE:.0}/s x 1, signed, again")),
        ph,
    ));
    let metrics =
        String::from_utf8(request(p.addr(), "GET", "/metrics", "", b"").await.body).unwrap();
    let rounds = metric(&metrics, "tuf_signer_rounds_total");
    let changes = metric(&metrics, "tuf_signer_changes_total");
    let sign_sum = metric(&metrics, "tuf_signer_sign_seconds_sum");
    let sign_count = metric(&metrics, "tuf_signer_sign_seconds_count");
    let rss_end = p.rss_mib();
    let start_s = p.started_in().as_secs_f64();
    if p.stop(STOP_WITHIN).is_none() {
        eprintln!(
            "the signer did not stop within {} s; killing it",
            STOP_WITHIN.as_secs()
        );
    }
    Scenario {
        key,
        delay_ms,
        start_s,
        rss_start,
        rss_end,
        phases,
        mean_sign_ms: if sign_count > 0.0 {
            sign_sum / sign_count * 1e3
        } else {
            0.0
        },
        changes_per_round: if rounds > 0.0 { changes / rounds } else { 0.0 },
    }
}

#[derive(Default)]
struct Sizes {
    timestamp: usize,
    proof: usize,
    multi_proof_1000: usize,
}

/// What a merkle-mode client downloads: timestamp.json, one proof, one 1,000-name multi-proof.
async fn merkle_sizes(addr: SocketAddr, names: &Arc<Vec<String>>, sizes: &mut Sizes) {
    let ts = request(addr, "GET", "/crates.io/timestamp.json", "", b"").await;
    assert_eq!(ts.status, 200);
    sizes.timestamp = ts.body.len();
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    let mut total = 0;
    for _ in 0..100 {
        let name = &names[rng.random_range(0..names.len())];
        let r = request(
            addr,
            "GET",
            &format!("/api/v1/crates.io/proof/{name}"),
            "",
            b"",
        )
        .await;
        assert_eq!(r.status, 200);
        total += r.body.len();
    }
    sizes.proof = total / 100;
    let picked: Vec<&String> = rand::seq::index::sample(&mut rng, names.len(), 1000)
        .iter()
        .map(|i| &names[i])
        .collect();
    let body = json!({ "names": picked }).to_string();
    let r = request(
        addr,
        "POST",
        "/api/v1/crates.io/proofs",
        "",
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    sizes.multi_proof_1000 = r.body.len();
}

/// Per-call latency of `Sign`: a file key, and the emulator for both KMS key specs.
async fn sign_latency(kms: &MotoKms, dir: &Path) -> Vec<(String, f64, f64)> {
    const N: usize = 200;
    let message = vec![b'x'; 700];
    let mut out = Vec::new();
    let file = FileSigner::generate(dir.join("sign-bench.pem"), KeyAlgorithm::Ed25519).unwrap();
    let mut l: Vec<f64> = (0..N)
        .map(|_| {
            let t = Instant::now();
            file.sign_message_blocking(&message).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    l.sort_by(f64::total_cmp);
    out.push((
        "file key, Ed25519 (baseline)".to_owned(),
        percentile(&l, 0.5),
        percentile(&l, 0.99),
    ));
    for (spec, label) in [
        (KeySpec::EccNistP256, "moto KMS, ECC_NIST_P256"),
        (
            KeySpec::EccNistEdwards25519,
            "moto KMS, ECC_NIST_EDWARDS25519",
        ),
    ] {
        let key_id = kms.create_key(spec).await.unwrap();
        let signer = KmsSigner::connect(&key_id, &kms.options()).await.unwrap();
        let _ = signer.sign_message(&message).await.unwrap();
        let mut l = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            signer.sign_message(&message).await.unwrap();
            l.push(t.elapsed().as_secs_f64() * 1e3);
        }
        l.sort_by(f64::total_cmp);
        out.push((label.to_owned(), percentile(&l, 0.5), percentile(&l, 0.99)));
    }
    out
}

/// Classic metadata for the same 250,000 targets, signed with the signer's `MetadataSigner`
/// (targets.json listing them all, snapshot.json, timestamp.json), and a snapshot.json listing
/// one delegated targets file per crate (tough's `Snapshot`, signed by the same tough path).
async fn classic_sizes(dir: &Path, checkpoint: &Checkpoint) -> (usize, usize, usize, usize) {
    let online_path = dir.join("classic-online.pem");
    let online: SharedSigner =
        Arc::new(FileSigner::generate(&online_path, KeyAlgorithm::Ed25519).unwrap());
    let root_key: SharedSigner = Arc::new(
        FileSigner::generate(dir.join("classic-root.pem"), KeyAlgorithm::Ed25519).unwrap(),
    );
    let roots = dir.join("classic-roots");
    write_dev_root(&roots, &root_key, online.public_key(), 3600)
        .await
        .unwrap();
    let root = RootChain::load(&roots).unwrap().current.signed;
    let signer = MetadataSigner::new(root.clone(), online);
    let targets = checkpoint.entries.iter().map(|e| match e.contents {
        LeafContents::Present { length, sha256, .. } => (e.name.clone().unwrap(), length, sha256),
        LeafContents::Deleted { .. } => unreachable!("an import has no tombstones"),
    });
    let targets = signer.targets(1, 86_400, targets).await.unwrap();
    let snapshot = signer.snapshot(1, 86_400, &targets.meta).await.unwrap();
    let timestamp = signer
        .timestamp(1, 86_400, &snapshot.meta, None)
        .await
        .unwrap();

    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let mut per_crate = Snapshot::new("1.0.0".to_owned(), NonZeroU64::MIN, expires);
    for e in &checkpoint.entries {
        per_crate.meta.insert(
            format!("{}.json", e.name.as_deref().unwrap()),
            Metafile {
                length: None,
                hashes: None,
                version: NonZeroU64::MIN,
                _extra: HashMap::new(),
            },
        );
    }
    let sources: [Box<dyn KeySource>; 1] = [Box::new(FileKeySource::new(&online_path))];
    let signed = SignedRole::new(
        per_crate,
        &KeyHolder::Root(root),
        &sources,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .await
    .unwrap();
    (
        timestamp.bytes.len(),
        snapshot.bytes.len(),
        targets.bytes.len(),
        signed.buffer().len(),
    )
}

async fn run() {
    let t0 = Instant::now();
    println!(
        "signer_load: {} ; loadavg at start {}",
        machine(),
        loadavg()
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // 1. Synthetic index and import.
    let index = root.join("index");
    let written = tuf_benches::index_files::write(&index, LEAVES, SEED);
    let sizes_written = &written.sizes_sorted;
    let total_bytes = written.total_bytes();
    let paths = written.paths;
    let import_data = root.join("import-data");
    let import_config = tuf_signer::Config::parse(
        &format!(
            "mode = \"development\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n[roles.\"crates.io\"]\nsnapshot = \"merkle\"\nlayout = \"crates-index\"\n",
            import_data.display()
        ),
        "bench",
    )
    .unwrap();
    let t = Instant::now();
    let summary = tuf_signer::import::import(&import_config, "crates.io", &index, false).unwrap();
    let import_s = t.elapsed().as_secs_f64();
    assert_eq!(
        summary.leaves,
        LEAVES,
        "skipped: {:?}",
        &summary.skipped[..summary.skipped.len().min(5)]
    );
    println!(
        "\nimport of {LEAVES} synthetic index files ({:.0} MB; sizes p50 {} B, p99 {} B, max {} B; page cache warm): {import_s:.2} s (goal < {GOAL_IMPORT_SECS} s: {})",
        total_bytes as f64 / 1e6,
        sizes_written[LEAVES / 2],
        sizes_written[LEAVES * 99 / 100],
        sizes_written[LEAVES - 1],
        if import_s < GOAL_IMPORT_SECS {
            "MET"
        } else {
            "MISSED"
        }
    );
    std::fs::remove_dir_all(&index).unwrap();
    let base_checkpoint = import_data.join("state/crates.io/checkpoint.bin");
    let checkpoint = Checkpoint::load(&base_checkpoint).unwrap();
    let names = Arc::new(paths);

    // 2. Load with a file key and with the KMS emulator.
    let default_delay = tuf_signer::Config::embedded_default().roles["crates.io"]
        .batch
        .clone();
    let mut sizes = Sizes::default();
    let mut scenarios = Vec::new();
    for delay in [default_delay.max_delay_ms, SMALL_DELAY_MS] {
        let s = scenario(
            root,
            &base_checkpoint,
            &names,
            "file key",
            "",
            &[],
            delay,
            default_delay.max_changes,
            (delay == default_delay.max_delay_ms).then_some(&mut sizes),
        )
        .await;
        scenarios.push(s);
    }
    let kms = MotoKms::start_or_skip("signer_load");
    let mut signs = Vec::new();
    if let Some(kms) = &kms {
        let key_id = kms.create_key(KeySpec::EccNistP256).await.unwrap();
        let online = format!(
            "online_key = {{ type = \"kms\", key_id = \"{key_id}\", region = \"{REGION}\", endpoint = \"{}\" }}",
            kms.endpoint_url()
        );
        let env = [
            ("AWS_ACCESS_KEY_ID", "moto-access-key"),
            ("AWS_SECRET_ACCESS_KEY", "moto-secret-key"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        for delay in [default_delay.max_delay_ms, SMALL_DELAY_MS] {
            let s = scenario(
                root,
                &base_checkpoint,
                &names,
                "moto KMS P-256",
                &online,
                &env,
                delay,
                default_delay.max_changes,
                None,
            )
            .await;
            scenarios.push(s);
        }
        signs = sign_latency(kms, root).await;
    }

    // 3. Report.
    println!(
        "\nload over loopback, {LEAVES}-leaf crates.io tree, max_changes {} per round; latency = request to answer, ms",
        default_delay.max_changes
    );
    println!(
        "{:<16} {:>6} {:<38} {:>10} {:>7} {:>7} {:>7}  goal",
        "key", "delay", "phase", "changes/s", "p50", "p99", "max"
    );
    for s in &scenarios {
        for (label, ph) in &s.phases {
            let (p50, p99, max) = (
                percentile(&ph.lat_ms, 0.5),
                percentile(&ph.lat_ms, 0.99),
                ph.lat_ms.last().copied().unwrap_or(0.0),
            );
            let mut goal = Vec::new();
            if label.starts_with("capacity") {
                goal.push(format!(
                    "rate >= {GOAL_RATE:.0}: {} ({:.2}x)",
                    if ph.rate >= GOAL_RATE {
                        "MET"
                    } else {
                        "MISSED"
                    },
                    ph.rate / GOAL_RATE
                ));
            }
            if label.starts_with("paced") && label.contains("signed") {
                let limit = s.delay_ms as f64 + GOAL_SIGNED_SLACK_MS;
                goal.push(format!(
                    "p99 < {limit:.0} ms: {}",
                    if p99 < limit { "MET" } else { "MISSED" }
                ));
            }
            println!(
                "{:<16} {:>4}ms {:<38} {:>10.0} {:>7} {:>7} {:>7}  {}",
                s.key,
                s.delay_ms,
                label,
                ph.rate,
                fmt_ms(p50),
                fmt_ms(p99),
                fmt_ms(max),
                goal.join("; ")
            );
        }
    }
    println!(
        "* = the sequencer wrote a 250,000-leaf checkpoint during this phase (on its background thread, competing for the cores and the disk)"
    );
    println!();
    for s in &scenarios {
        println!(
            "{:<16} {:>4}ms: start on {LEAVES} leaves (first signed round included) {:.2} s; RSS after start {:.0} MiB, after load {:.0} MiB (peak {:.0} MiB); mean signing per round {:.2} ms; {:.0} changes per round",
            s.key,
            s.delay_ms,
            s.start_s,
            s.rss_start.0,
            s.rss_end.0,
            s.rss_end.1,
            s.mean_sign_ms,
            s.changes_per_round
        );
    }
    if signs.is_empty() {
        println!("\nKMS emulator not available: run `bash scripts/test-env.sh` for the KMS rows");
    } else {
        println!(
            "\nper-call Sign latency (moto is a Python emulator on 127.0.0.1: these are its latencies, not AWS KMS's), ms:"
        );
        let base = signs[0].1;
        for (label, p50, p99) in &signs {
            println!(
                "  {label:<34} p50 {p50:>8.3}  p99 {p99:>8.3}  ({:.0}x the file key's p50)",
                p50 / base
            );
        }
    }
    let (c_ts, c_snap, c_targets, c_per_crate) = classic_sizes(root, &checkpoint).await;
    let merkle_one = sizes.timestamp + sizes.proof;
    let merkle_many = sizes.timestamp + sizes.multi_proof_1000;
    let classic = c_ts + c_snap + c_targets;
    println!("\nbytes a client downloads per update, {LEAVES} targets (uncompressed):");
    println!(
        "  merkle: timestamp.json {} B + one proof answer {} B (mean of 100) = {merkle_one} B",
        sizes.timestamp, sizes.proof
    );
    println!(
        "  merkle: timestamp.json + one 1,000-name multi-proof answer {} B = {merkle_many} B",
        sizes.multi_proof_1000
    );
    println!(
        "  classic (tuf-signer classic mode, MetadataSigner): timestamp.json {c_ts} B + snapshot.json {c_snap} B + targets.json {c_targets} B = {classic} B"
    );
    println!(
        "  classic with one delegated targets file per crate: snapshot.json listing {LEAVES} files (version only) {c_per_crate} B"
    );
    println!(
        "  ratio merkle/classic: one update {:.5} ({:.0}x fewer bytes); 1,000-name resolution {:.4} ({:.0}x fewer); one update vs the per-crate snapshot.json alone {:.5}",
        merkle_one as f64 / classic as f64,
        classic as f64 / merkle_one as f64,
        merkle_many as f64 / classic as f64,
        classic as f64 / merkle_many as f64,
        merkle_one as f64 / c_per_crate as f64,
    );
    println!(
        "\nloadavg at end {}; whole run {:.0} s",
        loadavg(),
        t0.elapsed().as_secs_f64()
    );
}
