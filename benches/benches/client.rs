//! Client and auditor costs (issue 5), on a 250,000-leaf crates.io-like tree:
//!
//! - `client/verify_one`: parse and verify one proof answer's proof (TAP-16 form), as
//!   `Client::verify` does after the download;
//! - `client/timestamp_signature`: verify one timestamp's Ed25519 signature with the verifier
//!   core, as `refresh` does (once per refresh);
//! - `client/resolve_1000_multi`: parse and verify one multi-proof for 1,000 random names
//!   (a lockfile's worth), as `Client::verify_many` does; goal under 20 ms of CPU;
//! - `client/resolve_1000_single`: the same 1,000 names as 1,000 single proofs, for comparison;
//! - `client/audit_10k`: replay 10,000 timestamp versions (4 changes each, every timestamp's
//!   signature checked, every root recomputed) on top of the 250,000 leaves, as `audit` does
//!   after parsing the records; `client/audit_parse_10k` parses those 10,000 records' JSON (as
//!   published: `changes/V.json`, which names its timestamp's file).
//!
//! - `client/resolve_1000_end_to_end`: `Client::verify_many` for the 1,000 names through an
//!   in-memory transport: the answer's JSON, the multi-proof, version checks, and the atomic
//!   `state.json` write (with fsync) — everything but the network.
//!
//! A summary prints the byte sizes (goal: the multi-proof under 60% of the bytes of 1,000 single
//! proofs) and the timings against the goals. `cargo bench -p tuf-benches --bench client`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rand::{Rng as _, SeedableRng as _};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::json;
use tuf_client::audit::{ChangeRecord, PublishedRecord, RecordChange, Replay};
use tuf_client::transport::Fetched;
use tuf_client::tuf::sign_metadata;
use tuf_keys::{FileSigner, KeyAlgorithm};
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{Digest, LeafContents, Proof, Tree, key_of};

const N: usize = 250_000;
const RESOLVE: usize = 1_000;
const VERSIONS: u64 = 10_000;
const CHANGES_PER_VERSION: usize = 4;

/// A deterministic crates.io-like index path for crate `i`.
fn name(i: usize) -> String {
    let n = format!("crate-{i:06x}");
    format!("{}/{}/{n}", &n[0..2], &n[2..4])
}

/// A seeded generator, so runs repeat.
type Rng = rand::rngs::StdRng;

fn contents(version: u64, i: usize) -> LeafContents {
    LeafContents::for_bytes(version, format!("{i}:{version}").as_bytes()).unwrap()
}

struct Fixture {
    tree: Tree,
    names: Vec<String>,
}

fn fixture() -> Fixture {
    let names: Vec<String> = (0..N).map(name).collect();
    let tree = Tree::from_leaves(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (key_of(n), contents(1, i))),
    )
    .unwrap();
    Fixture { tree, names }
}

/// A whole-second `expires` (TUF's one form) `hours` from now.
fn expires_in(hours: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(hours))
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string()
}

/// A root whose four roles are held by `key` alone (threshold 1).
fn root_metadata(key: &FileSigner) -> serde_json::Value {
    let public = key.public_key();
    let id = public.key_id_hex();
    let role = json!({"keyids": [id], "threshold": 1});
    json!({
        "_type": "root", "spec_version": "1.0.0", "consistent_snapshot": true, "version": 1,
        "expires": expires_in(24 * 365),
        "keys": {id.clone(): serde_json::to_value(public.key()).unwrap()},
        "roles": {"root": role, "timestamp": role, "snapshot": role, "targets": role},
    })
}

/// The bytes of timestamp `version`, signed by `key`, carrying `root`.
fn timestamp(key: &FileSigner, version: u64, root: Digest) -> Vec<u8> {
    let t = json!({
        "_type": "timestamp", "spec_version": "1.0.0", "version": version,
        "expires": expires_in(24),
        "meta": {"snapshot.json": {"version": 1, "length": 500,
                 "hashes": {"sha256": hex::encode([7u8; 32])}}},
        "merkle_root": root.to_hex(),
    });
    serde_json::to_vec(&sign_metadata(t, &[key]).unwrap()).unwrap()
}

/// 10,000 records of 4 changes each over the fixture's tree, with signed timestamps.
fn history(f: &Fixture, key: &FileSigner) -> Vec<ChangeRecord> {
    let mut tree = f.tree.clone();
    let mut versions = vec![1u64; N];
    let mut rng = Rng::seed_from_u64(0x5eed);
    let mut out = Vec::with_capacity(VERSIONS as usize);
    for v in 1..=VERSIONS {
        let mut changes = Vec::with_capacity(CHANGES_PER_VERSION);
        let mut batch = Vec::new();
        for _ in 0..CHANGES_PER_VERSION {
            let i = rng.random_range(0..N);
            if batch.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let key = key_of(&f.names[i]);
            let old = tree.get_key(&key);
            versions[i] += 1;
            let new = contents(versions[i], i);
            batch.push((i, new));
            changes.push(RecordChange {
                name: Some(f.names[i].clone()),
                key,
                old,
                new,
            });
        }
        tree.set_many(batch.iter().map(|(i, c)| (key_of(&f.names[*i]), *c)));
        let root = tree.root();
        out.push(ChangeRecord {
            role: "crates.io".into(),
            timestamp_version: v,
            previous_timestamp_version: (v > 1).then(|| v - 1),
            root_version: 1,
            merkle_root: Some(root),
            changes,
            timestamp: timestamp(key, v, root),
        });
    }
    out
}

/// The record as the signer publishes it (`changes/V.json`, naming its timestamp's file).
fn record_json(r: &ChangeRecord) -> Vec<u8> {
    PublishedRecord {
        role: r.role.clone(),
        timestamp_version: r.timestamp_version,
        previous_timestamp_version: r.previous_timestamp_version,
        root_version: r.root_version,
        merkle_root: r.merkle_root,
        tree_root: r.merkle_root.unwrap_or(tuf_merkle::EMPTY),
        log_sequence: r.timestamp_version,
        changes: r.changes.clone(),
        timestamp_file: tuf_repo_format::paths::timestamp_file(r.timestamp_version),
        timestamp_length: r.timestamp.len() as u64,
        timestamp_sha256: tuf_merkle::hash::sha256(&r.timestamp),
    }
    .to_json()
    .into_bytes()
}

/// Serves a fixed timestamp and multi-proof answer from memory.
struct Memory {
    timestamp: Vec<u8>,
    proofs: Vec<u8>,
}

impl tuf_client::Transport for Memory {
    fn get(&self, path: &str, _limit: u64) -> Result<Fetched, tuf_client::ClientError> {
        Ok(if path.ends_with("/timestamp.json") {
            Fetched::Found(self.timestamp.clone())
        } else {
            Fetched::NotFound
        })
    }
    fn post_json(
        &self,
        _path: &str,
        _body: &[u8],
        _limit: u64,
    ) -> Result<Fetched, tuf_client::ClientError> {
        Ok(Fetched::Found(self.proofs.clone()))
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}

/// This process's user + system CPU time, from `/proc/self/stat` (Linux; 10 ms ticks).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn mean(c: &mut Criterion, id: &str, iters: u64, mut f: impl FnMut()) -> Duration {
    let _ = c;
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let d = start.elapsed() / iters as u32;
    println!("{id}: {d:?} per iteration ({iters} iterations)");
    d
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let f = fixture();
    let mut rng = Rng::seed_from_u64(42);
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < RESOLVE {
        chosen.insert(rng.random_range(0..N));
    }
    let picked: Vec<String> = chosen.iter().map(|i| f.names[*i].clone()).collect();
    let root = f.tree.root();

    // One proof.
    let one = f.tree.prove(&picked[0]).to_json();
    c.bench_function("client/verify_one", |b| {
        b.iter(|| {
            let p = Proof::from_json(black_box(&one)).unwrap();
            p.verify(&root).unwrap();
            black_box(p.contents().copied())
        })
    });

    // The timestamp signature, checked by the verifier core as `refresh` does.
    let tmp = tempfile::tempdir().unwrap();
    let key = FileSigner::generate(tmp.path().join("online.pem"), KeyAlgorithm::Ed25519).unwrap();
    let root_file =
        serde_json::to_vec(&sign_metadata(root_metadata(&key), &[&key]).unwrap()).unwrap();
    let trusted = tuf_client::tuf::initial_root(&root_file).unwrap();
    let ts_bytes = timestamp(&key, 1, root);
    c.bench_function("client/timestamp_signature", |b| {
        b.iter(|| {
            let t = tuf_client::tuf::verify_timestamp(&trusted, "t", black_box(&ts_bytes), true)
                .unwrap();
            black_box(t.merkle_root)
        })
    });

    // 1,000 names: one multi-proof against 1,000 single proofs.
    let multi = f.tree.prove_many(&picked).unwrap().to_json();
    let singles: Vec<Vec<u8>> = picked.iter().map(|n| f.tree.prove(n).to_json()).collect();
    let single_bytes: usize = singles.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("client");
    g.sample_size(20);
    g.bench_function("resolve_1000_multi", |b| {
        b.iter(|| {
            let p = MultiProof::from_json(black_box(&multi)).unwrap();
            p.verify(&root).unwrap();
            black_box(p.targets().len())
        })
    });
    g.bench_function("resolve_1000_single", |b| {
        b.iter(|| {
            for s in &singles {
                let p = Proof::from_json(s).unwrap();
                p.verify(&root).unwrap();
            }
        })
    });
    let answer = format!(
        r#"{{"role":"crates.io","timestamp_version":1,"merkle_root":"{}","proof":{}}}"#,
        root.to_hex(),
        String::from_utf8(multi.clone()).unwrap()
    );
    let state_dir = tmp.path().join("state");
    tuf_client::Client::init(
        &state_dir,
        "crates.io",
        tuf_client::Mode::Merkle,
        &root_file,
    )
    .unwrap();
    let mut client = tuf_client::Client::open(
        &state_dir,
        Box::new(Memory {
            timestamp: ts_bytes.clone(),
            proofs: answer.into_bytes(),
        }),
    )
    .unwrap();
    client.refresh().unwrap();
    let none = std::collections::BTreeMap::new();
    g.bench_function("resolve_1000_end_to_end", |b| {
        b.iter(|| black_box(client.verify_many(&picked, &none).unwrap().len()))
    });
    g.finish();
    // CPU time (user + system, from /proc) of the end-to-end resolution, as opposed to the
    // wall-clock time above, which includes waiting for the state file's fsync.
    let cpu_before = cpu_time();
    let wall = Instant::now();
    const E2E: u32 = 50;
    for _ in 0..E2E {
        black_box(client.verify_many(&picked, &none).unwrap().len());
    }
    let end_to_end_wall = wall.elapsed() / E2E;
    let end_to_end_cpu = cpu_time().map(|after| (after - cpu_before.unwrap_or_default()) / E2E);

    // Auditing 10,000 versions.
    eprintln!("building a history of {VERSIONS} signed timestamps…");
    let records = history(&f, &key);
    let jsons: Vec<Vec<u8>> = records.iter().map(record_json).collect();
    let record_bytes: usize = jsons.iter().map(Vec::len).sum();
    let roots: HashMap<u64, _> = [(1, trusted.clone())].into_iter().collect();
    let audit = mean(&mut c, "client/audit_10k", 3, || {
        let mut replay = Replay::new("crates.io", roots.clone());
        replay.tree = f.tree.clone();
        for r in &records {
            assert!(replay.apply(r), "{:?}", replay.breach);
        }
        black_box(replay.last_root);
    });
    let parse = mean(&mut c, "client/audit_parse_10k", 3, || {
        for j in &jsons {
            let r = PublishedRecord::from_json(j).unwrap();
            black_box(r.timestamp_version);
        }
    });
    c.final_summary();

    let multi_time = {
        let start = Instant::now();
        for _ in 0..20 {
            let p = MultiProof::from_json(&multi).unwrap();
            p.verify(&root).unwrap();
        }
        start.elapsed() / 20
    };
    println!("\n== client summary ({} leaves) ==", N);
    println!(
        "resolution of {} names: multi-proof {} bytes, {} single proofs {} bytes: {:.1}% (goal < 60%)",
        picked.len(),
        multi.len(),
        singles.len(),
        single_bytes,
        100.0 * multi.len() as f64 / single_bytes as f64
    );
    println!(
        "resolution of {} names: parse + verify {multi_time:?} (goal < 20 ms)",
        picked.len()
    );
    println!(
        "resolution of {} names end to end (answer parse, proof, versions, state write): {end_to_end_wall:?} wall, {end_to_end_cpu:?} CPU",
        picked.len()
    );
    println!(
        "audit of {VERSIONS} versions x {CHANGES_PER_VERSION} changes: replay {audit:?}, parse {parse:?}, records {:.1} MB",
        record_bytes as f64 / 1e6
    );
}
