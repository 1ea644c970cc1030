//! Crash safety: the real binary under load, killed with SIGKILL at random moments, restarted.
//!
//! After every restart, three properties are checked:
//! 1. no acknowledged change is lost: each name's leaf has at least the version last acknowledged
//!    for it (and exactly the acknowledged contents when the version is equal);
//! 2. the published timestamp version never goes down;
//! 3. no two different timestamps carry the same version: every timestamp seen (from replies,
//!    from `timestamp.json`, and the exact bytes `timestamps/V.timestamp.json` that each
//!    `changes/V.json` names) is remembered by version with its `merkle_root`, and any
//!    disagreement fails the test.
//!
//! After the last restart, the history must still be whole: a change record for every
//! timestamp version from 1 to the latest, each linked to the one before by
//! `previous_timestamp_version`, and `tuf-client`'s auditor, replaying them all with
//! `tuf-merkle`, reproduces every signed `merkle_root`.
//!
//! `TUF_SIGNER_CRASH_KILLS` sets the number of kills (default 20).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{request, sha256_hex};
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tough::schema::{Root, Signed, Timestamp};
use tuf_merkle::multiproof::MultiProof;

const WRITERS: usize = 4;
const NAMES_PER_WRITER: usize = 8;

#[derive(Default)]
struct Seen {
    /// Timestamp version → merkle_root.
    roots: BTreeMap<u64, String>,
    max_version: u64,
}

impl Seen {
    fn record(&mut self, version: u64, root: &str, whence: &str) {
        if let Some(old) = self.roots.insert(version, root.to_owned()) {
            assert_eq!(
                old, root,
                "two different timestamps with version {version} ({whence})"
            );
        }
    }
}

fn name(writer: usize, i: usize) -> String {
    let n = format!("cr{writer}x-n{i}");
    format!("{}/{}/{n}", &n[..2], &n[2..4])
}

async fn check_after_restart(
    addr: SocketAddr,
    data: &Path,
    acked: &BTreeMap<String, (u64, String)>,
    seen: &mut Seen,
) {
    // Property 2 and 3 on timestamp.json, verified with tough against the root.
    let root = request(addr, "GET", "/crates.io/root.json", &[], b"").await;
    let root: Signed<Root> = serde_json::from_slice(&root.body).unwrap();
    let ts = request(addr, "GET", "/crates.io/timestamp.json", &[], b"").await;
    let ts: Signed<Timestamp> = serde_json::from_slice(&ts.body).unwrap();
    root.signed.verify_role(&ts).expect("timestamp verifies");
    let version = ts.signed.version.get();
    let merkle_root = ts.signed._extra["merkle_root"].as_str().unwrap().to_owned();
    assert!(
        version >= seen.max_version,
        "timestamp version went down: {} -> {version}",
        seen.max_version
    );
    seen.max_version = version;
    seen.record(version, &merkle_root, "timestamp.json after restart");
    // Property 3 on every change record, each with the exact bytes of its signed timestamp.
    let repo = data.join("repo/crates.io");
    for entry in std::fs::read_dir(repo.join("changes")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue; // a temporary file that a kill left behind; never published
        }
        let record: Value = serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
        let file = record["timestamp_file"].as_str().unwrap();
        let exact = std::fs::read(repo.join(file))
            .unwrap_or_else(|e| panic!("{file}, named by {:?}: {e}", entry.file_name()));
        assert_eq!(record["timestamp_length"], exact.len(), "{file}");
        assert_eq!(record["timestamp_sha256"], sha256_hex(&exact), "{file}");
        let signed: Signed<Timestamp> = serde_json::from_slice(&exact).unwrap();
        root.signed
            .verify_role(&signed)
            .expect("the record's timestamp verifies");
        let v = signed.signed.version.get();
        let r = signed.signed._extra["merkle_root"].as_str().unwrap();
        assert_eq!(record["timestamp_version"], v);
        seen.record(v, r, "timestamps/V.timestamp.json");
    }
    check_acknowledged(addr, acked, seen).await;
}

async fn check_acknowledged(
    addr: SocketAddr,
    acked: &BTreeMap<String, (u64, String)>,
    seen: &mut Seen,
) {
    let version = seen.max_version;
    // Property 1: every acknowledged change is in the signed tree.
    if acked.is_empty() {
        return;
    }
    let names: Vec<&String> = acked.keys().collect();
    let body = json!({ "names": names }).to_string();
    let r = request(
        addr,
        "POST",
        "/api/v1/crates.io/proofs",
        &[],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v["timestamp_version"].as_u64().unwrap() >= version);
    let proof = MultiProof::from_json(&serde_json::to_vec(&v["proof"]).unwrap()).unwrap();
    let proved_root = tuf_merkle::hash::parse_hex(v["merkle_root"].as_str().unwrap()).unwrap();
    proof.verify(&proved_root).unwrap();
    seen.record(
        v["timestamp_version"].as_u64().unwrap(),
        v["merkle_root"].as_str().unwrap(),
        "proofs",
    );
    for (n, (acked_version, acked_sha)) in acked {
        match proof.get(n) {
            Some(Some(tuf_merkle::LeafContents::Present {
                version, sha256, ..
            })) => {
                assert!(
                    *version >= *acked_version,
                    "{n}: acknowledged version {acked_version}, found {version}"
                );
                if version == acked_version {
                    assert_eq!(
                        &sha256.to_hex(),
                        acked_sha,
                        "{n}: acknowledged contents lost"
                    );
                }
            }
            other => {
                panic!("{n}: acknowledged (version {acked_version}) but the tree has {other:?}")
            }
        }
    }
}

#[test]
fn sigkill_under_load_loses_nothing() {
    let kills: usize = std::env::var("TUF_SIGNER_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    sigkill_under_load(kills, 0);
}

/// The same over a role imported with 2,000 other leaves, so that its checkpoints are deltas
/// (the writes touch 32 names) after the imported base, and a kill may come while a delta or
/// the head that lists it is being written.
#[test]
fn sigkill_with_delta_checkpoints_loses_nothing() {
    let kills: usize = std::env::var("TUF_SIGNER_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(12);
    sigkill_under_load(kills, 2_000);
}

fn sigkill_under_load(kills: usize, imported: usize) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Over an import, checkpoints come more often, so that kills land among deltas.
    let every = if imported > 0 { 40 } else { 150 };
    let test_config = common::TestConfig::signer_defaults()
        .batch(64, 3)
        .merkle_role(&format!("checkpoint_every = {every}"));
    let config = test_config.write(dir.path(), &data);
    if imported > 0 {
        let manifest = dir.path().join("manifest.tsv");
        let lines: String = (0..imported)
            .map(|i| {
                format!(
                    "{}\t{}\t{i}\n",
                    common::index_name(i),
                    sha256_hex(&i.to_le_bytes())
                )
            })
            .collect();
        std::fs::write(&manifest, lines).unwrap();
        tuf_signer::import::import_manifest(
            &test_config.build(&data),
            common::MERKLE,
            &manifest,
            false,
        )
        .unwrap();
    }
    let state = data.join("state/crates.io");
    let mut deltas_seen = 0;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let acked: Arc<Mutex<BTreeMap<String, (u64, String)>>> = Arc::default();
    let signed_seen: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let mut seen = Seen::default();
    let mut counter = 0u64;
    let mut total_acked = 0usize;
    for round in 0..=kills {
        let (mut child, addr) = common::start_binary(&config, &[]);
        let token = std::fs::read_to_string(data.join("dev-tokens/crates.io"))
            .unwrap()
            .trim()
            .to_owned();
        runtime.block_on(check_after_restart(
            addr,
            &data,
            &acked.lock().unwrap(),
            &mut seen,
        ));
        for (v, r) in signed_seen.lock().unwrap().drain(..) {
            seen.record(v, &r, "signed reply");
        }
        if state.join("checkpoint.head").exists() {
            deltas_seen += 1;
        }
        if round == kills {
            let _ = child.kill();
            let _ = child.wait();
            common::check_history(&data);
            break;
        }
        // Load, then SIGKILL at a random moment.
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (stop, acked, signed_seen, token) = (
                stop.clone(),
                acked.clone(),
                signed_seen.clone(),
                token.clone(),
            );
            let start_at = counter + (w as u64) * 1_000_000;
            tasks.push(runtime.spawn(async move {
                let mut c = start_at;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    c += 1;
                    let target = name(w, (c as usize) % NAMES_PER_WRITER);
                    let bytes = format!("contents {c}");
                    let body =
                        json!({ "sha256": sha256_hex(bytes.as_bytes()), "length": bytes.len() })
                            .to_string();
                    let wait = if c.is_multiple_of(3) {
                        "signed"
                    } else {
                        "durable"
                    };
                    let auth = format!("Bearer {token}");
                    let headers = [
                        ("Authorization", auth.as_str()),
                        ("Content-Type", "application/json"),
                    ];
                    let path = format!("/api/v1/crates.io/targets/{target}?wait={wait}");
                    let r = tokio::time::timeout(
                        Duration::from_secs(10),
                        request_safe(addr, &path, &headers, body.as_bytes()),
                    )
                    .await;
                    let Ok(Some((status, v))) = r else { break };
                    if status != 200 {
                        continue;
                    }
                    let version = v["results"][0]["contents"]["version"].as_u64().unwrap();
                    acked
                        .lock()
                        .unwrap()
                        .insert(target, (version, sha256_hex(bytes.as_bytes())));
                    if let (Some(tv), Some(root)) =
                        (v["timestamp_version"].as_u64(), v["merkle_root"].as_str())
                    {
                        signed_seen.lock().unwrap().push((tv, root.to_owned()));
                    }
                    n += 1;
                }
                n
            }));
        }
        std::thread::sleep(Duration::from_millis(20 + rng.random_range(0..300)));
        child.kill().unwrap();
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            total_acked += runtime.block_on(t).unwrap_or(0);
        }
        counter += 10_000_000;
    }
    eprintln!(
        "{kills} kills, {total_acked} acknowledged changes, {} timestamp versions seen, a \
         chain of deltas at {deltas_seen} restarts",
        seen.roots.len()
    );
    assert!(total_acked > 0);
    if imported > 0 {
        assert!(deltas_seen > 0, "no delta checkpoint was ever written");
    }
}

/// A request that reports a dropped connection (the kill) as `None` instead of panicking.
async fn request_safe(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(body).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = String::from_utf8_lossy(&raw[..split])
        .split(' ')
        .nth(1)?
        .parse()
        .ok()?;
    let v = serde_json::from_slice(&raw[split + 4..]).ok()?;
    Some((status, v))
}
