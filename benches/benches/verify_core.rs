//! The verifier core's CPU per 1,000 names (issue 12; `docs/performance.md`, "cargo through the
//! verifying proxy"), on a 250,000-leaf crates.io-like tree built with tuf-merkle and a signed
//! timestamp over its root, each row beside the path `tuf-client` took before it verified
//! through `tuf-verify-core` (commit 612e7e5: tough for signatures, tuf-merkle directly for
//! proofs), in the same run:
//!
//! - `timestamp_{ed25519,p256}`: the core's `verify_timestamp` (strict JSON, canonical form,
//!   signature, expiry, `merkle_root`) against tough's `Signed<Timestamp>` parse and
//!   `Root::verify_role` (aws-lc-rs underneath), for a timestamp signed with an Ed25519 and an
//!   ECDSA P-256 tuf-keys key file;
//! - `single_1000`: 1,000 single proofs (TAP-16 form, as the signer serves them) through
//!   `Timestamp::verify_proof_json`, against `Proof::from_json` + `Proof::verify`;
//! - `multi_1000`: one multi-proof for the same 1,000 names through
//!   `Timestamp::verify_multi_proof_json`, against `MultiProof::from_json` + `MultiProof::verify`.
//!
//! Criterion prints its timings; the summary then measures each pair again, alternating core and
//! baseline rounds so that both see the same load, as this thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), and prints the ratios and the core's CPU per 1,000 names (one
//! timestamp check plus the multi-proof, or plus the 1,000 single proofs).
//!
//! `cargo bench -p tuf-benches --bench verify_core`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;
use tuf_client::tuf::sign_metadata;
use tuf_keys::{FileSigner, KeyAlgorithm};
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{Digest, LeafContents, Proof, Tree, key_of};
use tuf_verify_core::{Timestamp, TrustedRoot, verify_timestamp};

const LEAVES: usize = 250_000;
const NAMES: usize = 1_000;
/// Alternating rounds of the summary, per pair.
const ROUNDS: usize = 7;

/// A deterministic crates.io-like index path for crate `i` (as `benches/client.rs`).
fn name(i: usize) -> String {
    let n = format!("crate-{i:06x}");
    format!("{}/{}/{n}", &n[0..2], &n[2..4])
}

/// A whole-second `expires` (TUF's one form) a day from now.
fn tomorrow() -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24))
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string()
}

/// One online key: its root and a timestamp over `merkle_root`, as files.
struct Signed {
    label: &'static str,
    root: Vec<u8>,
    timestamp: Vec<u8>,
}

fn signed_by(label: &'static str, key: &FileSigner, merkle_root: Digest) -> Signed {
    let public = key.public_key();
    let id = public.key_id_hex();
    let role = json!({"keyids": [id], "threshold": 1});
    let root = json!({
        "_type": "root", "spec_version": "1.0.0", "consistent_snapshot": true, "version": 1,
        "expires": tomorrow(),
        "keys": {id.clone(): serde_json::to_value(public.key()).unwrap()},
        "roles": {"root": role, "timestamp": role, "snapshot": role, "targets": role},
    });
    // The size and shape of the signer's timestamp.json.
    let timestamp = json!({
        "_type": "timestamp", "spec_version": "1.0.0", "version": 1093, "expires": tomorrow(),
        "meta": {"snapshot.json": {"version": 1093, "length": 431,
                 "hashes": {"sha256": tuf_merkle::hash::sha256(b"snapshot").to_hex()}}},
        "merkle_root": merkle_root.to_hex(),
    });
    Signed {
        label,
        root: serde_json::to_vec(&sign_metadata(root, &[key]).unwrap()).unwrap(),
        timestamp: serde_json::to_vec(&sign_metadata(timestamp, &[key]).unwrap()).unwrap(),
    }
}

/// The core: what `tuf-client` and `tuf-verify proxy` run now.
fn core_timestamp(root: &TrustedRoot, bytes: &[u8], now: SystemTime) -> Timestamp {
    verify_timestamp(root, bytes, now).unwrap()
}

/// The baseline: `tuf_client::tuf::verify_timestamp` at 612e7e5 (tough parses, tough's
/// `verify_role` checks the signature, the `merkle_root` is read from the extra members).
fn tough_timestamp(root: &tough::schema::Root, bytes: &[u8]) -> Digest {
    let ts: tough::schema::Signed<tough::schema::Timestamp> =
        serde_json::from_slice(bytes).unwrap();
    root.verify_role(&ts).unwrap();
    let hex = ts.signed._extra["merkle_root"].as_str().unwrap();
    tuf_merkle::hash::parse_hex(hex).unwrap()
}

/// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, nanoseconds).
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time per call of `f`, over `iters` calls.
fn cpu_per_call(iters: u32, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        f();
    }
    (thread_cpu() - start) / iters
}

/// Alternating rounds of `core` and `baseline`, each about a third of a second of CPU: the
/// median of each, measured under the same load.
fn pair(mut core: impl FnMut(), mut baseline: impl FnMut()) -> (Duration, Duration) {
    let one = cpu_per_call(3, &mut core).max(Duration::from_micros(1));
    let iters = (Duration::from_millis(300).as_nanos() / one.as_nanos()).clamp(3, 100_000) as u32;
    let (mut c, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        c.push(cpu_per_call(iters, &mut core));
        b.push(cpu_per_call(iters, &mut baseline));
    }
    c.sort();
    b.sort();
    (c[ROUNDS / 2], b[ROUNDS / 2])
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let now = SystemTime::now();

    eprintln!("building a tree of {LEAVES} leaves…");
    let names: Vec<String> = (0..LEAVES).map(name).collect();
    let tree = Tree::from_leaves(names.iter().enumerate().map(|(i, n)| {
        let contents = LeafContents::for_bytes(1, format!("{i}").as_bytes()).unwrap();
        (key_of(n), contents)
    }))
    .unwrap();
    let merkle_root = tree.root();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < NAMES {
        chosen.insert(rng.random_range(0..LEAVES));
    }
    let picked: Vec<String> = chosen.iter().map(|i| names[*i].clone()).collect();
    let singles: Vec<Vec<u8>> = picked.iter().map(|n| tree.prove(n).to_json()).collect();
    let multi = tree.prove_many(&picked).unwrap().to_json();

    let tmp = tempfile::tempdir().unwrap();
    let ed = FileSigner::generate(tmp.path().join("ed.pem"), KeyAlgorithm::Ed25519).unwrap();
    let ec = FileSigner::generate(tmp.path().join("ec.pem"), KeyAlgorithm::EcdsaP256).unwrap();
    let files = [
        signed_by("ed25519", &ed, merkle_root),
        signed_by("p256", &ec, merkle_root),
    ];

    // Timestamps.
    let mut timestamps = Vec::new();
    for f in &files {
        let core_root = TrustedRoot::new(&f.root).unwrap();
        let tough_root: tough::schema::Signed<tough::schema::Root> =
            serde_json::from_slice(&f.root).unwrap();
        let tough_root = tough_root.signed;
        assert_eq!(
            core_timestamp(&core_root, &f.timestamp, now).merkle_root(),
            Some(&tough_timestamp(&tough_root, &f.timestamp))
        );
        let mut g = c.benchmark_group(format!("timestamp_{}", f.label));
        g.bench_function("core", |b| {
            b.iter(|| core_timestamp(&core_root, black_box(&f.timestamp), now))
        });
        g.bench_function("baseline_tough", |b| {
            b.iter(|| tough_timestamp(&tough_root, black_box(&f.timestamp)))
        });
        g.finish();
        timestamps.push((f.label, core_root, tough_root));
    }
    let ts = core_timestamp(&timestamps[0].1, &files[0].timestamp, now);

    // Proofs.
    let core_singles = || {
        for (n, p) in picked.iter().zip(&singles) {
            black_box(ts.verify_proof_json(n, p).unwrap());
        }
    };
    let baseline_singles = || {
        for p in &singles {
            let proof = Proof::from_json(p).unwrap();
            proof.verify(&merkle_root).unwrap();
            black_box(proof.contents().copied());
        }
    };
    let core_multi = || {
        let found = ts
            .verify_multi_proof_json(&picked, &multi, tuf_merkle::json::MAX_MULTI_PROOF_BYTES)
            .unwrap();
        black_box(found.len());
    };
    let baseline_multi = || {
        let proof = MultiProof::from_json(&multi).unwrap();
        proof.verify(&merkle_root).unwrap();
        black_box(proof.targets().len());
    };
    let mut g = c.benchmark_group("single_1000");
    g.sample_size(20);
    g.bench_function("core", |b| b.iter(core_singles));
    g.bench_function("baseline_tuf_merkle", |b| b.iter(baseline_singles));
    g.finish();
    let mut g = c.benchmark_group("multi_1000");
    g.sample_size(20);
    g.bench_function("core", |b| b.iter(core_multi));
    g.bench_function("baseline_tuf_merkle", |b| b.iter(baseline_multi));
    g.finish();
    c.final_summary();

    // The summary: CPU time, core and baseline alternating.
    println!(
        "\n== verifier core CPU ({LEAVES} leaves, {NAMES} names; median of {ROUNDS} alternating rounds, this thread's CPU time) =="
    );
    let ratio = |core: Duration, base: Duration| core.as_secs_f64() / base.as_secs_f64();
    let mut timestamp_cpu = Vec::new();
    for (label, core_root, tough_root) in &timestamps {
        let bytes = &files.iter().find(|f| f.label == *label).unwrap().timestamp;
        let (core, base) = pair(
            || {
                black_box(core_timestamp(core_root, bytes, now));
            },
            || {
                black_box(tough_timestamp(tough_root, bytes));
            },
        );
        println!(
            "timestamp signature ({label}): core {core:?}, tough {base:?}, ratio {:.2}",
            ratio(core, base)
        );
        timestamp_cpu.push((*label, core, base));
    }
    let (core_s, base_s) = pair(core_singles, baseline_singles);
    println!(
        "{NAMES} single proofs: core {core_s:?}, tuf-merkle {base_s:?}, ratio {:.2}",
        ratio(core_s, base_s)
    );
    let (core_m, base_m) = pair(core_multi, baseline_multi);
    println!(
        "one {NAMES}-name multi-proof: core {core_m:?}, tuf-merkle {base_m:?}, ratio {:.2}",
        ratio(core_m, base_m)
    );
    for (label, core_t, base_t) in timestamp_cpu {
        println!(
            "per {NAMES} names ({label} timestamp): multi-proof {:?} (before {:?}, ratio {:.2}); single proofs {:?} (before {:?}, ratio {:.2})",
            core_t + core_m,
            base_t + base_m,
            ratio(core_t + core_m, base_t + base_m),
            core_t + core_s,
            base_t + base_s,
            ratio(core_t + core_s, base_t + base_s),
        );
    }
}
