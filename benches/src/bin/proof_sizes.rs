//! Proof sizes, JSON against the POUF's binary encoding (§10), at 250,000 to 50 million leaves
//! (issue 13), printed as a report: not timings, bytes.
//!
//! For each tree size it builds one tree (in release, from a stream of synthetic crates.io-like
//! targets, `tuf_benches::indexed_target`, so that 50 million leaves need no list of names) and
//! measures:
//!
//! - single proofs of 10,000 present names and 1,000 absent ones: the proof alone and the
//!   signer's whole answer (`role`, `timestamp_version`, `merkle_root`, then the proof), as
//!   JSON and as binary; mean, p50, p99 and max;
//! - one multi-proof for 1,000 present names (a resolution) against the 1,000 single proofs:
//!   the binary multi-proof answer against the sum of the 1,000 single JSON answers a client
//!   would fetch instead, and the JSON multi-proof too;
//! - the CPU time to decode and verify that multi-proof, JSON against binary (median of runs).
//!
//! Goals: a single proof at 50M leaves ≤ 1,000 bytes with its leaf contents; the 1,000-name
//! resolution at 50M ≤ 40% of the bytes of 1,000 single JSON proofs.
//!
//! ```sh
//! cargo run --release -p tuf-benches --bin proof_sizes               # 250k, 1M, 10M, 50M
//! TUF_PROOF_SIZES=250000,1000000 cargo run --release -p tuf-benches --bin proof_sizes
//! ```
//!
//! A binary of `tuf-benches` rather than a bench: its release build needs tuf-merkle and
//! serde_json only, not the dependencies of the other benches (the signer, the client).
//!
//! A tree takes about 168 bytes per leaf, and its build twice that at its peak (the sorted
//! leaves beside the nodes): 50M leaves need about 13 GB. A size whose estimate exceeds
//! `MemAvailable` is skipped, and the report says so.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use serde_json::json;
use tuf_benches::report::{loadavg, machine, percentile};
use tuf_benches::{SEED, indexed_target};
use tuf_merkle::binary::Answer;
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{Digest, Proof, Tree, key_of};

/// The role and version the answers carry, as the signer would write them.
const ROLE: &str = "crates.io";
const VERSION: u64 = 1_234_567;

/// Bytes per leaf the build needs at its peak, for the memory check.
const PEAK_BYTES_PER_LEAF: u64 = 260;

fn json_answer(root: &Digest, proof: &impl serde::Serialize) -> Vec<u8> {
    // The signer's own construction (`signer/src/http/proofs.rs`).
    serde_json::to_vec(&json!({
        "role": ROLE,
        "timestamp_version": VERSION,
        "merkle_root": root.to_hex(),
        "proof": proof,
    }))
    .unwrap()
}

fn binary_answer(root: &Digest, proof: &[u8]) -> Vec<u8> {
    Answer {
        role: ROLE,
        timestamp_version: VERSION,
        merkle_root: *root,
        proof,
    }
    .encode()
    .unwrap()
}

/// `mean | p50 | p99 | max` of `sizes`, for a Markdown row.
fn stats(sizes: &[usize]) -> String {
    let mut sorted: Vec<f64> = sizes.iter().map(|s| *s as f64).collect();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    format!(
        "{mean:.0} | {:.0} | {:.0} | {:.0}",
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or(0.0)
    )
}

fn mem_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A pseudo-random sample of `count` distinct indices below `n`.
fn sample(n: u64, count: usize, seed: u64) -> Vec<u64> {
    use std::collections::BTreeSet;
    let mut x = seed;
    let mut out = BTreeSet::new();
    while out.len() < count.min(n as usize) {
        // SplitMix64.
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.insert((z ^ (z >> 31)) % n);
    }
    out.into_iter().collect()
}

/// Runs `a` and `b` alternately `runs` times each; the minimum and the median of each, in
/// microseconds. Alternating puts a drift of the machine's load on both; the minimum is the run
/// least disturbed by other processes.
fn alternate(runs: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> [(f64, f64); 2] {
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1e6
    };
    let (mut ta, mut tb) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        ta.push(time(&mut a));
        tb.push(time(&mut b));
    }
    [ta, tb].map(|mut t| {
        t.sort_by(f64::total_cmp);
        (t[0], t[t.len() / 2])
    })
}

struct Row {
    n: u64,
    binary_proof_mean: f64,
    binary_proof_p99: f64,
    binary_answer_mean: f64,
    json_answer_mean: f64,
    multi_binary: usize,
    singles_json: usize,
}

fn measure(n: u64) -> Option<Row> {
    let need = n * PEAK_BYTES_PER_LEAF;
    let available = mem_available().unwrap_or(u64::MAX);
    println!("## {n} leaves");
    if need > available {
        println!(
            "skipped: the build needs about {:.1} GB, MemAvailable is {:.1} GB\n",
            need as f64 / 1e9,
            available as f64 / 1e9
        );
        return None;
    }
    let t = Instant::now();
    let tree = Tree::from_leaves((0..n).map(|i| {
        let (name, contents) = indexed_target(SEED, i);
        (key_of(&name), contents)
    }))
    .expect("names are distinct");
    let root = tree.root();
    println!(
        "built in {:.1} s (load average {}), root {root}",
        t.elapsed().as_secs_f64(),
        loadavg()
    );

    // Single proofs: 10,000 present names, 1,000 absent ones.
    let present: Vec<String> = sample(n, 10_000, SEED ^ n)
        .into_iter()
        .map(|i| indexed_target(SEED, i).0)
        .collect();
    let absent: Vec<String> = (0..1_000)
        .map(|i| format!("ab/se/absent-{n}-{i}"))
        .collect();
    println!(
        "names: {:.1} bytes on average (present)",
        present.iter().map(String::len).sum::<usize>() as f64 / present.len() as f64
    );
    println!("| proofs | encoding | what | mean | p50 | p99 | max | depth mean / max |");
    let mut row = None;
    for (label, names) in [("present", &present), ("absent", &absent)] {
        let (mut jp, mut ja, mut bp, mut ba, mut depth) = (vec![], vec![], vec![], vec![], vec![]);
        for name in names.iter() {
            let p = tree.prove(name);
            assert_eq!(matches!(p, Proof::Membership(_)), label == "present");
            depth.push(match &p {
                Proof::Membership(m) => m.siblings.len(),
                Proof::NonMembership(m) => m.siblings.len(),
            });
            let json = p.to_json();
            let binary = p.to_binary().unwrap();
            debug_assert_eq!(Proof::from_binary(&binary).unwrap(), p);
            ja.push(json_answer(&root, &p).len());
            ba.push(binary_answer(&root, &binary).len());
            jp.push(json.len());
            bp.push(binary.len());
        }
        let d = format!(
            "{:.1} / {}",
            depth.iter().sum::<usize>() as f64 / depth.len() as f64,
            depth.iter().max().unwrap()
        );
        println!("| {label} | JSON | proof | {} | {d} |", stats(&jp));
        println!("| {label} | JSON | answer | {} | |", stats(&ja));
        println!("| {label} | binary | proof | {} | |", stats(&bp));
        println!("| {label} | binary | answer | {} | |", stats(&ba));
        if label == "present" {
            let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
            let mut sorted: Vec<f64> = bp.iter().map(|s| *s as f64).collect();
            sorted.sort_by(f64::total_cmp);
            let within = bp.iter().filter(|s| **s <= 1_000).count();
            println!(
                "binary proofs ≤ 1,000 bytes: {:.1}% of the present names; binary / JSON answer: {:.1}%",
                100.0 * within as f64 / bp.len() as f64,
                100.0 * mean(&ba) / mean(&ja)
            );
            row = Some((mean(&bp), percentile(&sorted, 0.99), mean(&ba), mean(&ja)));
        }
    }

    // A resolution: 1,000 present names in one multi-proof, against 1,000 single proofs.
    let names: Vec<&String> = present.iter().take(1_000).collect();
    let multi = tree.prove_many(&names).unwrap();
    let multi_json = multi.to_json();
    let multi_binary = multi.to_binary().unwrap();
    let multi_json_answer = json_answer(&root, &multi).len();
    let multi_binary_answer = binary_answer(&root, &multi_binary).len();
    let singles_json: usize = names
        .iter()
        .map(|n| json_answer(&root, &tree.prove(n)).len())
        .sum();
    let singles_binary: usize = names
        .iter()
        .map(|n| binary_answer(&root, &tree.prove(n).to_binary().unwrap()).len())
        .sum();
    println!(
        "1,000 names: multi-proof answer binary {multi_binary_answer} B, JSON {multi_json_answer} B; \
         1,000 single answers JSON {singles_json} B, binary {singles_binary} B"
    );
    println!(
        "  binary multi / 1,000 single JSON: {:.1}%; JSON multi / 1,000 single JSON: {:.1}%; \
         binary multi / JSON multi: {:.1}%; {} hashes in the multi-proof ({:.1} per name)",
        100.0 * multi_binary_answer as f64 / singles_json as f64,
        100.0 * multi_json_answer as f64 / singles_json as f64,
        100.0 * multi_binary.len() as f64 / multi_json.len() as f64,
        multi.hash_count(),
        multi.hash_count() as f64 / 1_000.0
    );
    let asked: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    let [(json_min, json_median), (binary_min, binary_median)] = alternate(
        31,
        || {
            MultiProof::from_json(&multi_json)
                .unwrap()
                .verify_for(&root, &asked)
                .unwrap();
        },
        || {
            MultiProof::from_binary(&multi_binary)
                .unwrap()
                .verify_for(&root, &asked)
                .unwrap();
        },
    );
    println!(
        "  decode + verify the multi-proof, 31 runs each, alternating: JSON min {:.2} ms \
         (median {:.2}), binary min {:.2} ms (median {:.2}); binary / JSON {:.2} (min), {:.2} (median)\n",
        json_min / 1e3,
        json_median / 1e3,
        binary_min / 1e3,
        binary_median / 1e3,
        binary_min / json_min,
        binary_median / json_median
    );
    let (binary_proof_mean, binary_proof_p99, binary_answer_mean, json_answer_mean) = row?;
    Some(Row {
        n,
        binary_proof_mean,
        binary_proof_p99,
        binary_answer_mean,
        json_answer_mean,
        multi_binary: multi_binary_answer,
        singles_json,
    })
}

fn main() {
    let sizes: Vec<u64> = std::env::var("TUF_PROOF_SIZES")
        .unwrap_or_else(|_| "250000,1000000,10000000,50000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("TUF_PROOF_SIZES: numbers"))
        .collect();
    println!("# Proof sizes, JSON and binary (POUF §10)\n");
    println!("machine: {}", machine());
    println!("sizes in bytes; answers are the signer's HTTP bodies, proofs the POUF objects\n");
    let rows: Vec<Row> = sizes.into_iter().filter_map(measure).collect();
    println!("## Summary");
    println!(
        "| leaves | binary proof mean / p99 | binary answer mean | JSON answer mean | binary multi (1,000) / 1,000 single JSON |"
    );
    for r in &rows {
        println!(
            "| {} | {:.0} / {:.0} | {:.0} | {:.0} | {} / {} = {:.1}% |",
            r.n,
            r.binary_proof_mean,
            r.binary_proof_p99,
            r.binary_answer_mean,
            r.json_answer_mean,
            r.multi_binary,
            r.singles_json,
            100.0 * r.multi_binary as f64 / r.singles_json as f64
        );
    }
    if let Some(r) = rows.iter().find(|r| r.n == 50_000_000) {
        println!(
            "goal, single proof at 50M ≤ 1,000 B: mean {:.0} B ({}), p99 {:.0} B ({})",
            r.binary_proof_mean,
            if r.binary_proof_mean <= 1_000.0 {
                "met"
            } else {
                "missed"
            },
            r.binary_proof_p99,
            if r.binary_proof_p99 <= 1_000.0 {
                "met"
            } else {
                "missed"
            },
        );
        let ratio = r.multi_binary as f64 / r.singles_json as f64;
        println!(
            "goal, 1,000-name resolution at 50M ≤ 40% of 1,000 single JSON proofs: {:.1}% ({})",
            100.0 * ratio,
            if ratio <= 0.40 { "met" } else { "missed" }
        );
    }
    println!("load average at the end: {}", loadavg());
}
