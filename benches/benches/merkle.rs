//! Timings of the `tuf-merkle` prefix tree against rs_merkle 1.5 (RFC 6962 hashing), on the same
//! seeded crates.io-like leaves in the same run, for the goals of issue 2:
//!
//! - `build_1m`: a tree from 1,000,000 leaves;
//! - `update_250k`: one leaf changed and the new root read, at 250,000 leaves;
//! - `batch_250k`: 1,000 leaves changed and the new root read, at 250,000 leaves;
//! - `proof_250k`: one proof generated, one verified;
//! - `multiproof_250k`: one proof for 1,000 random names, generated and verified.
//!
//! After the groups run, a summary prints each goal with our number, rs_merkle's and the
//! ratio, read back from criterion's results. `cargo bench -p tuf-benches --bench merkle`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, SamplingMode};
use rs_merkle::MerkleProof;
use std::collections::VecDeque;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tuf_benches::{Corpus, Rfc6962, SEED, rs_leaf_hash, rs_tree};
use tuf_merkle::proof::Proof;
use tuf_merkle::{Digest, LeafContents, MembershipProof, Tree};

/// Leaves in the build benchmark.
const BUILD_N: usize = 1_000_000;
/// Leaves in every other benchmark: crates.io today.
const N: usize = 250_000;
/// Names per multi-proof and changes per batch.
const BATCH: usize = 1_000;
/// Versions the "versions kept" update variant holds, as the signer keeps recent roots.
const KEPT_VERSIONS: usize = 16;

/// Times `routine` alone; what it returns is dropped outside the timing, so that freeing a
/// million-node tree is not counted as building it.
fn time_without_drop<T>(iters: u64, mut routine: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let out = black_box(routine());
        total += start.elapsed();
        drop(out);
    }
    total
}

/// Slow benchmarks (hundreds of ms each): few samples, flat sampling.
fn slow(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, secs: u64) {
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(secs));
}

fn build(c: &mut Criterion) {
    let corpus = Corpus::new(BUILD_N, SEED);
    let leaf_hashes = corpus.leaf_hashes();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();

    let mut g = c.benchmark_group("build_1m");
    let load = Load::start();
    slow(&mut g, 6);
    // Ours, from (key, contents): hashes every contents and leaf, sorts, builds; all cores.
    g.bench_function("tuf_merkle", |b| {
        b.iter_custom(|iters| time_without_drop(iters, || Tree::from_leaves(corpus.leaves())))
    });
    // The same on one thread, to compare work with the single-threaded rs_merkle.
    g.bench_function("tuf_merkle_1thread", |b| {
        b.iter_custom(|iters| {
            one_thread.install(|| time_without_drop(iters, || Tree::from_leaves(corpus.leaves())))
        })
    });
    // rs_merkle given the leaf hashes precomputed (the goal's baseline).
    g.bench_function("rs_merkle", |b| {
        b.iter_custom(|iters| time_without_drop(iters, || rs_tree(&leaf_hashes)))
    });
    // rs_merkle hashing the leaves itself from (key, contents), the same work ours does.
    g.bench_function("rs_merkle_with_leaf_hashing", |b| {
        b.iter_custom(|iters| {
            time_without_drop(iters, || {
                let hashes: Vec<[u8; 32]> =
                    corpus.leaves().map(|(k, c)| rs_leaf_hash(&k, &c)).collect();
                rs_tree(&hashes)
            })
        })
    });
    g.finish();
    load.report("build_1m");
}

/// Contents that differ from whatever the leaf held before: the version is the iteration count.
fn bumped(version: u64, key: &Digest) -> LeafContents {
    LeafContents::present(version, 4_096 + version % 1_000, *key).unwrap()
}

fn update(c: &mut Criterion, corpus: &Corpus, leaf_hashes: &[[u8; 32]]) {
    let keys: Vec<Digest> = corpus
        .sample(65_536, 11)
        .into_iter()
        .map(|i| corpus.keys[i])
        .collect();
    let positions = corpus.sample(65_536, 12);

    // One long-lived tree per variant, as in the signer: built once, not per sample, and the
    // version counter runs on across samples so that every set really changes its leaf.
    let (mut tree, mut versioned) = (corpus.tree(), corpus.tree());
    let mut kept: VecDeque<Tree> = VecDeque::with_capacity(KEPT_VERSIONS + 1);
    let mut hashes = leaf_hashes.to_vec();
    let mut i = 0u64;

    let mut g = c.benchmark_group("update_250k");
    let load = Load::start();
    g.bench_function("tuf_merkle", |b| {
        b.iter(|| {
            i += 1;
            let key = &keys[i as usize % keys.len()];
            tree.set(*key, bumped(i + 100, key));
            tree.root()
        })
    });
    // The signer keeps recent versions for proofs: every change copies its path, and the
    // oldest version is dropped (freeing what only it held).
    g.bench_function("tuf_merkle_versions_kept", |b| {
        b.iter(|| {
            i += 1;
            let key = &keys[i as usize % keys.len()];
            versioned.set(*key, bumped(i + 100, key));
            let root = versioned.root();
            kept.push_back(versioned.clone());
            if kept.len() > KEPT_VERSIONS {
                kept.pop_front();
            }
            root
        })
    });
    // rs_merkle has no update in place: a changed leaf means building the tree again.
    slow(&mut g, 5);
    g.bench_function("rs_merkle_rebuild", |b| {
        b.iter_custom(|iters| {
            time_without_drop(iters, || {
                i += 1;
                let at = positions[i as usize % positions.len()];
                let key = corpus.keys[at];
                hashes[at] = rs_leaf_hash(&key, &bumped(i + 100, &key));
                rs_tree(&hashes).root()
            })
        })
    });
    g.finish();
    load.report("update_250k");
}

fn batch(c: &mut Criterion, corpus: &Corpus, leaf_hashes: &[[u8; 32]]) {
    let batches: Vec<Vec<Digest>> = (0..64)
        .map(|s| {
            corpus
                .sample(BATCH, 100 + s)
                .into_iter()
                .map(|i| corpus.keys[i])
                .collect()
        })
        .collect();
    let position_batches: Vec<Vec<usize>> =
        (0..64).map(|s| corpus.sample(BATCH, 200 + s)).collect();

    let (mut tree, mut versioned) = (corpus.tree(), corpus.tree());
    let mut kept: VecDeque<Tree> = VecDeque::with_capacity(KEPT_VERSIONS + 1);
    let mut hashes = leaf_hashes.to_vec();
    let mut i = 0u64;

    let mut g = c.benchmark_group("batch_250k");
    let load = Load::start();
    g.bench_function("tuf_merkle", |b| {
        b.iter(|| {
            i += 1;
            let keys = &batches[i as usize % batches.len()];
            let changes = tree.set_many(keys.iter().map(|k| (*k, bumped(i + 100, k))));
            (changes, tree.root())
        })
    });
    g.bench_function("tuf_merkle_versions_kept", |b| {
        b.iter(|| {
            i += 1;
            let keys = &batches[i as usize % batches.len()];
            let changes = versioned.set_many(keys.iter().map(|k| (*k, bumped(i + 100, k))));
            let root = versioned.root();
            kept.push_back(versioned.clone());
            if kept.len() > KEPT_VERSIONS {
                kept.pop_front();
            }
            (changes, root)
        })
    });
    slow(&mut g, 5);
    g.bench_function("rs_merkle_rebuild", |b| {
        b.iter_custom(|iters| {
            time_without_drop(iters, || {
                i += 1;
                for &at in &position_batches[i as usize % position_batches.len()] {
                    let key = corpus.keys[at];
                    hashes[at] = rs_leaf_hash(&key, &bumped(i + 100, &key));
                }
                rs_tree(&hashes).root()
            })
        })
    });
    g.finish();
    load.report("batch_250k");
}

fn proof(c: &mut Criterion, corpus: &Corpus, tree: &Tree, leaf_hashes: &[[u8; 32]]) {
    let picks = corpus.sample(4_096, 21);
    let root = tree.root();
    let proofs: Vec<MembershipProof> = picks
        .iter()
        .map(|&i| match tree.prove(&corpus.names[i]) {
            Proof::Membership(p) => p,
            Proof::NonMembership(_) => unreachable!("every corpus name is in the tree"),
        })
        .collect();
    let jsons: Vec<Vec<u8>> = proofs.iter().map(MembershipProof::to_json).collect();
    let rs = rs_tree(leaf_hashes);
    let rs_root = rs.root().unwrap();
    let rs_proofs: Vec<MerkleProof<Rfc6962>> = picks.iter().map(|&i| rs.proof(&[i])).collect();

    let mut g = c.benchmark_group("proof_250k");
    let load = Load::start();
    let mut i = 0usize;
    g.bench_function("tuf_merkle_generate", |b| {
        b.iter(|| {
            i += 1;
            tree.prove(&corpus.names[picks[i % picks.len()]])
        })
    });
    g.bench_function("tuf_merkle_verify", |b| {
        b.iter(|| {
            i += 1;
            proofs[i % proofs.len()].verify(&root).unwrap()
        })
    });
    // What a client does with a proof it downloaded: parse the TAP-16 JSON, then verify.
    g.bench_function("tuf_merkle_parse_json_and_verify", |b| {
        b.iter(|| {
            i += 1;
            MembershipProof::from_json(&jsons[i % jsons.len()])
                .unwrap()
                .verify(&root)
                .unwrap()
        })
    });
    g.bench_function("tuf_merkle_to_json", |b| {
        b.iter(|| {
            i += 1;
            proofs[i % proofs.len()].to_json()
        })
    });
    g.bench_function("rs_merkle_generate", |b| {
        b.iter(|| {
            i += 1;
            rs.proof(&[picks[i % picks.len()]])
        })
    });
    g.bench_function("rs_merkle_verify", |b| {
        b.iter(|| {
            i += 1;
            let k = i % picks.len();
            let at = picks[k];
            assert!(rs_proofs[k].verify(rs_root, &[at], &[leaf_hashes[at]], leaf_hashes.len()));
        })
    });
    g.finish();
    load.report("proof_250k");
}

fn multiproof(c: &mut Criterion, corpus: &Corpus, tree: &Tree, leaf_hashes: &[[u8; 32]]) {
    let sets: Vec<Vec<usize>> = (0..8)
        .map(|s| {
            let mut set = corpus.sample(BATCH, 300 + s);
            set.sort_unstable();
            set
        })
        .collect();
    let names: Vec<Vec<&str>> = sets
        .iter()
        .map(|s| s.iter().map(|&i| corpus.names[i].as_str()).collect())
        .collect();
    let root = tree.root();
    let proofs: Vec<_> = names.iter().map(|n| tree.prove_many(n).unwrap()).collect();
    let rs = rs_tree(leaf_hashes);
    let rs_root = rs.root().unwrap();
    let rs_proofs: Vec<MerkleProof<Rfc6962>> = sets.iter().map(|s| rs.proof(s)).collect();
    let rs_leaves: Vec<Vec<[u8; 32]>> = sets
        .iter()
        .map(|s| s.iter().map(|&i| leaf_hashes[i]).collect())
        .collect();

    let mut g = c.benchmark_group("multiproof_250k");
    let load = Load::start();
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    let mut i = 0usize;
    g.bench_function("tuf_merkle_generate", |b| {
        b.iter(|| {
            i += 1;
            tree.prove_many(&names[i % names.len()]).unwrap()
        })
    });
    g.bench_function("tuf_merkle_verify", |b| {
        b.iter(|| {
            i += 1;
            proofs[i % proofs.len()].verify(&root).unwrap()
        })
    });
    g.bench_function("rs_merkle_generate", |b| {
        b.iter(|| {
            i += 1;
            rs.proof(&sets[i % sets.len()])
        })
    });
    g.bench_function("rs_merkle_verify", |b| {
        b.iter(|| {
            i += 1;
            let k = i % sets.len();
            assert!(rs_proofs[k].verify(rs_root, &sets[k], &rs_leaves[k], leaf_hashes.len()));
        })
    });
    g.finish();
    load.report("multiproof_250k");
}

// ---------------------------------------------------------------------------------------------
// Load

/// How busy the rest of the machine was while a group ran: this machine is shared, and timings
/// taken while others compile are not the tree's. Reads `/proc/stat` (every process) and
/// `/proc/self/stat` (this one) in clock ticks.
struct Load {
    start: Instant,
    busy: Option<u64>,
    ours: Option<u64>,
}

impl Load {
    fn start() -> Self {
        Load {
            start: Instant::now(),
            busy: system_busy_ticks(),
            ours: own_ticks(),
        }
    }

    /// Prints, and saves beside criterion's results for the summary, the average number of
    /// cores that other processes kept busy since `start`.
    fn report(self, group: &str) {
        let wall = self.start.elapsed().as_secs_f64();
        if wall < 1.0 {
            return; // the group was filtered out
        }
        let (Some(b0), Some(o0), Some(b1), Some(o1)) =
            (self.busy, self.ours, system_busy_ticks(), own_ticks())
        else {
            return;
        };
        let others = (b1 - b0).saturating_sub(o1 - o0) as f64 / TICKS_PER_SECOND / wall;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("[load] {group}: other processes kept {others:.2} of {cores} cores busy");
        let _ = std::fs::create_dir_all(criterion_dir());
        let _ = std::fs::write(load_file(group), format!("{others:.2}"));
    }
}

/// `USER_HZ`, the unit of `/proc/stat` and `/proc/<pid>/stat`; 100 on Linux everywhere.
const TICKS_PER_SECOND: f64 = 100.0;

fn system_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    Some(
        cpu.iter()
            .take(8)
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .map(|(_, v)| v)
            .sum(),
    )
}

fn own_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime, fields 14 and 15 of the line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn load_file(group: &str) -> PathBuf {
    criterion_dir().join(format!("tuf-benches-load-{group}.txt"))
}

fn saved_load(group: &str) -> String {
    std::fs::read_to_string(load_file(group)).unwrap_or_else(|_| "?".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Summary

/// Where criterion writes its results, found as criterion finds it.
fn criterion_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("criterion");
    }
    // The bench binary is <target>/<profile>/deps/merkle-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The time in nanoseconds criterion estimated for `group/bench` in its latest run: the mean,
/// and the median (which a burst of load elsewhere on the machine moves less).
fn estimate_ns(group: &str, bench: &str, statistic: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(bench)
        .join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json[statistic]["point_estimate"].as_f64()
}

fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    estimate_ns(group, bench, "mean")
}

fn show(ns: Option<f64>) -> String {
    match ns {
        None => "n/a".to_owned(),
        Some(ns) if ns >= 1e9 => format!("{:.3} s", ns / 1e9),
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.0} ns"),
    }
}

/// One line of the summary: ours against a baseline, and against a goal where there is one.
fn line(what: &str, ours: (&str, &str), base: (&str, &str), goal: Option<(f64, &str)>) {
    let (o, b) = (mean_ns(ours.0, ours.1), mean_ns(base.0, base.1));
    let ratio = match (o, b) {
        (Some(o), Some(b)) if o > 0.0 => format!("{:.2}x", b / o),
        _ => "n/a".to_owned(),
    };
    let verdict = match (goal, o, b) {
        (Some((limit, _)), Some(o), _) if limit > 0.0 => {
            if o < limit { "met" } else { "MISSED" }.to_owned()
        }
        // A limit of 0 means "no slower than the baseline".
        (Some((_, _)), Some(o), Some(b)) => if o <= b { "met" } else { "MISSED" }.to_owned(),
        (Some(_), _, _) => "n/a".to_owned(),
        (None, _, _) => "-".to_owned(),
    };
    let goal = goal.map_or("", |g| g.1);
    let load = saved_load(ours.0);
    let median = show(estimate_ns(ours.0, ours.1, "median"));
    println!(
        "{what:<46} {:>10} {median:>10} {:>10} {ratio:>8} {goal:>13} {verdict:>7} {load:>5}",
        show(o),
        show(b)
    );
}

fn summary() {
    println!();
    println!(
        "Summary (criterion means from {}):",
        criterion_dir().display()
    );
    println!(
        "{:<46} {:>10} {:>10} {:>10} {:>8} {:>13} {:>7} {:>5}",
        "", "tuf-merkle", "(median)", "rs_merkle", "speedup", "goal", "", "load"
    );
    let b = "build_1m";
    line(
        "build 1M: ours vs rs_merkle on leaf hashes",
        (b, "tuf_merkle"),
        (b, "rs_merkle"),
        Some((0.0, "<= rs_merkle")),
    );
    line(
        "build 1M, ours 1 thread vs same",
        (b, "tuf_merkle_1thread"),
        (b, "rs_merkle"),
        None,
    );
    line(
        "build 1M, ours vs rs_merkle + leaf hashing",
        (b, "tuf_merkle"),
        (b, "rs_merkle_with_leaf_hashing"),
        None,
    );
    line(
        "build 1M, 1 thread vs rs_merkle + leaf hashing",
        (b, "tuf_merkle_1thread"),
        (b, "rs_merkle_with_leaf_hashing"),
        None,
    );
    let u = "update_250k";
    line(
        "1 update + root at 250k",
        (u, "tuf_merkle"),
        (u, "rs_merkle_rebuild"),
        Some((5_000.0, "< 5 µs")),
    );
    line(
        "1 update + root, 16 versions kept",
        (u, "tuf_merkle_versions_kept"),
        (u, "rs_merkle_rebuild"),
        Some((5_000.0, "< 5 µs")),
    );
    let m = "batch_250k";
    line(
        "1,000 updates + root at 250k",
        (m, "tuf_merkle"),
        (m, "rs_merkle_rebuild"),
        Some((2e6, "< 2 ms")),
    );
    line(
        "1,000 updates + root, 16 versions kept",
        (m, "tuf_merkle_versions_kept"),
        (m, "rs_merkle_rebuild"),
        Some((2e6, "< 2 ms")),
    );
    let p = "proof_250k";
    line(
        "proof generation at 250k",
        (p, "tuf_merkle_generate"),
        (p, "rs_merkle_generate"),
        Some((5_000.0, "< 5 µs")),
    );
    line(
        "proof verification at 250k",
        (p, "tuf_merkle_verify"),
        (p, "rs_merkle_verify"),
        Some((5_000.0, "< 5 µs")),
    );
    line(
        "proof JSON parse + verify at 250k",
        (p, "tuf_merkle_parse_json_and_verify"),
        (p, "rs_merkle_verify"),
        None,
    );
    let mp = "multiproof_250k";
    line(
        "multi-proof of 1,000 names: generation",
        (mp, "tuf_merkle_generate"),
        (mp, "rs_merkle_generate"),
        None,
    );
    line(
        "multi-proof of 1,000 names: verification",
        (mp, "tuf_merkle_verify"),
        (mp, "rs_merkle_verify"),
        None,
    );
    println!(
        "(times are criterion's means, tuf-merkle's median beside; goals are judged on means;"
    );
    println!(" speedup = rs_merkle time / tuf-merkle time; above 1 means tuf-merkle is faster;");
    println!(" load = cores other processes kept busy while the group ran, out of the machine's)");
}

fn main() {
    // Short warm-ups and measurements keep the whole run to a few minutes; the slow groups set
    // their own. Command-line options still override these.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    build(&mut c);
    {
        let corpus = Corpus::new(N, SEED);
        let leaf_hashes = corpus.leaf_hashes();
        let tree = corpus.tree();
        update(&mut c, &corpus, &leaf_hashes);
        batch(&mut c, &corpus, &leaf_hashes);
        proof(&mut c, &corpus, &tree, &leaf_hashes);
        multiproof(&mut c, &corpus, &tree, &leaf_hashes);
    }
    c.final_summary();
    // Criterion's test mode (`cargo test --benches`) runs each routine once and records nothing.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
