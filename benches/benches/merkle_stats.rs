//! Measurements of the `tuf-merkle` prefix tree that are not timings, printed as a report:
//!
//! - memory per leaf at 1,000,000 leaves, counted by a global allocator that tracks the bytes
//!   live on the heap, and as resident memory from `/proc/self/statm`;
//! - the memory a kept version costs after one change and after a batch of 1,000;
//! - proof lengths at 250,000 leaves against `log2(n)`, and the JSON size of a proof;
//! - the size of a multi-proof for 1,000 random names against 1,000 single proofs;
//!
//! each beside rs_merkle 1.5's (RFC 6962 hashing) on the same leaves.
//! `cargo bench -p tuf-benches --bench merkle_stats`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tuf_benches::{Corpus, SEED, rs_tree};
use tuf_merkle::proof::Proof;
use tuf_merkle::{LeafContents, Tree};

/// The system allocator, counting the bytes it has handed out and not yet been given back.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// The only unsafe code in the workspace: implementing `GlobalAlloc` is unsafe by definition.
// Every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// contract is exactly the caller's.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which got them from `System`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's, under the same contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes live on the heap and live allocations now.
fn heap() -> (usize, usize) {
    (
        LIVE.load(Ordering::Relaxed),
        ALLOCATIONS.load(Ordering::Relaxed),
    )
}

/// Resident set size in bytes, from `/proc/self/statm` (its second field, in pages).
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> usize {
    // Linux on x86-64 and most aarch64 configurations; `statm` counts in these.
    4096
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let sha_ni = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|s| s.contains(" sha_ni"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{cores} cores, {model}{}, load average {}",
        if sha_ni { ", SHA-NI" } else { "" },
        load.join(" ")
    )
}

fn per(bytes: usize, n: usize) -> f64 {
    bytes as f64 / n as f64
}

fn memory() {
    const N: usize = 1_000_000;
    println!("## Memory per leaf at {N} leaves");
    // Start rayon's threads first, so that their stacks are not counted as the tree's.
    let _ = Corpus::new(20_000, 1).tree();
    let corpus = Corpus::new(N, SEED);
    let leaf_hashes = corpus.leaf_hashes();

    let (heap0, allocs0) = heap();
    let rss0 = rss();
    PEAK.store(heap0, Ordering::Relaxed);
    let tree = Tree::from_leaves(corpus.leaves()).unwrap();
    let (heap1, allocs1) = heap();
    let rss1 = rss();
    let peak = PEAK.load(Ordering::Relaxed);
    println!(
        "tuf-merkle heap:  {:.1} bytes/leaf live after the build ({} allocations, {:.2} per leaf); \
         peak during the build {:.1} bytes/leaf",
        per(heap1 - heap0, N),
        allocs1 - allocs0,
        per(allocs1 - allocs0, N),
        per(peak - heap0, N),
    );
    if let (Some(a), Some(b)) = (rss0, rss1) {
        println!(
            "tuf-merkle RSS:   {:.1} bytes/leaf (resident set after build minus before)",
            per(b.saturating_sub(a), N)
        );
    }
    let root = tree.root();

    let (heap2, _) = heap();
    let rss2 = rss();
    PEAK.store(heap2, Ordering::Relaxed);
    let rs = rs_tree(&leaf_hashes);
    let (heap3, _) = heap();
    let rss3 = rss();
    let rs_peak = PEAK.load(Ordering::Relaxed);
    println!(
        "rs_merkle heap:   {:.1} bytes/leaf live after from_leaves (leaf hashes given, not counted); \
         peak {:.1} bytes/leaf",
        per(heap3 - heap2, N),
        per(rs_peak - heap2, N)
    );
    if let (Some(a), Some(b)) = (rss2, rss3) {
        println!(
            "rs_merkle RSS:    {:.1} bytes/leaf",
            per(b.saturating_sub(a), N)
        );
    }
    println!("root {root}, rs_merkle depth {}", rs.depth());
    drop(rs);

    // Structural sharing: what keeping the previous version costs after a change.
    let mut tree = tree;
    for (label, count) in [("one change", 1usize), ("a batch of 1,000 changes", 1_000)] {
        let updates = corpus.updates(count, 7 + count as u64);
        let kept = tree.clone();
        let (before, _) = heap();
        tree.set_many(updates);
        let (after, _) = heap();
        println!(
            "a kept version after {label}: {} bytes ({:.0} bytes per changed leaf)",
            after - before,
            per(after - before, count)
        );
        drop(kept);
    }
    println!();
}

fn log2(n: usize) -> f64 {
    (n as f64).log2()
}

fn proofs() {
    const N: usize = 250_000;
    println!("## Proofs at {N} leaves (log2(n) = {:.2})", log2(N));
    let corpus = Corpus::new(N, SEED);
    let tree = corpus.tree();
    let root = tree.root();
    let leaf_hashes = corpus.leaf_hashes();
    let rs = rs_tree(&leaf_hashes);

    let (mut total_len, mut max_len, mut min_len, mut empties) =
        (0usize, 0usize, usize::MAX, 0usize);
    let (mut json_total, mut json_max) = (0usize, 0usize);
    let mut histogram = [0usize; 64];
    for name in &corpus.names {
        let Proof::Membership(p) = tree.prove(name) else {
            panic!("{name} is in the tree")
        };
        let d = p.siblings.len();
        total_len += d;
        max_len = max_len.max(d);
        min_len = min_len.min(d);
        histogram[d.min(63)] += 1;
        empties += p.siblings.iter().filter(|s| s.is_empty()).count();
        let json = p.to_json().len();
        json_total += json;
        json_max = json_max.max(json);
    }
    let mean = per(total_len, N);
    println!(
        "tuf-merkle proof length over all {N} leaves: mean {mean:.2} siblings (log2(n) + {:.2}), \
         min {min_len}, max {max_len}; {:.2} of them per proof are E (unary levels)",
        mean - log2(N),
        per(empties, N)
    );
    let spread: Vec<String> = histogram
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(d, c)| format!("{d}:{c}"))
        .collect();
    println!("  lengths (d:count): {}", spread.join(" "));
    println!(
        "tuf-merkle proof JSON (TAP-16 snapshot Merkle metadata): mean {:.0} bytes, max {json_max}; \
         its hashes alone {:.0} bytes raw",
        per(json_total, N),
        mean * 32.0
    );

    let sample = corpus.sample(20_000, 41);
    let (mut rs_hashes, mut rs_bytes, mut rs_json) = (0usize, 0usize, 0usize);
    for &i in &sample {
        let p = rs.proof(&[i]);
        rs_hashes += p.proof_hashes().len();
        rs_bytes += p.to_bytes().len();
        rs_json += serde_json::to_vec(&p.proof_hashes_hex()).unwrap().len();
    }
    let s = sample.len();
    println!(
        "rs_merkle proof ({s} sampled leaves): mean {:.2} hashes, {:.0} bytes by to_bytes, \
         {:.0} bytes as a JSON array of hex (no leaf, index or contents)",
        per(rs_hashes, s),
        per(rs_bytes, s),
        per(rs_json, s)
    );

    // An absent name's proof, for completeness.
    let absent = tree.prove("ab/se/absent-crate-name");
    absent.verify(&root).unwrap();
    println!(
        "a non-membership proof: {} bytes of JSON",
        absent.to_json().len()
    );
    println!();

    multiproofs(&corpus, &tree, &rs, &leaf_hashes);
}

fn multiproofs(
    corpus: &Corpus,
    tree: &Tree,
    rs: &rs_merkle::MerkleTree<tuf_benches::Rfc6962>,
    leaf_hashes: &[[u8; 32]],
) {
    const NAMES: usize = 1_000;
    const SETS: u64 = 8;
    println!(
        "## Multi-proofs for {NAMES} random names out of {} ({SETS} random sets)",
        corpus.len()
    );
    let root = tree.root();
    let (mut multi, mut singles, mut hashes, mut single_hashes) = (0usize, 0usize, 0usize, 0usize);
    let (mut rs_multi, mut rs_singles) = (0usize, 0usize);
    let mut ratios = Vec::new();
    for s in 0..SETS {
        let mut set = corpus.sample(NAMES, 300 + s);
        set.sort_unstable();
        let names: Vec<&str> = set.iter().map(|&i| corpus.names[i].as_str()).collect();
        let mp = tree.prove_many(&names).unwrap();
        mp.verify(&root).unwrap();
        let bytes = mp.to_json().len();
        let mut one = 0;
        for name in &names {
            let Proof::Membership(p) = tree.prove(name) else {
                panic!("{name} is in the tree")
            };
            one += p.to_json().len();
            single_hashes += p.siblings.len();
        }
        multi += bytes;
        singles += one;
        hashes += mp.hash_count();
        ratios.push(per(bytes, one));

        let rp = rs.proof(&set);
        rs_multi += serde_json::to_vec(&rp.proof_hashes_hex()).unwrap().len();
        for &i in &set {
            rs_singles += serde_json::to_vec(&rs.proof(&[i]).proof_hashes_hex())
                .unwrap()
                .len();
        }
        debug_assert!(rp.verify(
            rs.root().unwrap(),
            &set,
            &set.iter().map(|&i| leaf_hashes[i]).collect::<Vec<_>>(),
            leaf_hashes.len()
        ));
    }
    let sets = SETS as usize;
    let worst = ratios.iter().copied().fold(0.0, f64::max);
    println!(
        "tuf-merkle multi-proof JSON: mean {:.0} bytes, against {:.0} bytes for {NAMES} single \
         proofs: {:.1}% (worst set {:.1}%); goal under 60%",
        per(multi, sets),
        per(singles, sets),
        100.0 * per(multi, singles),
        100.0 * worst
    );
    println!(
        "  hashes: {:.0} in the multi-proof against {:.0} siblings in the single proofs",
        per(hashes, sets),
        per(single_hashes, sets)
    );
    println!(
        "rs_merkle multi-proof (hashes as a JSON hex array): mean {:.0} bytes, against {:.0} for \
         {NAMES} single proofs: {:.1}%",
        per(rs_multi, sets),
        per(rs_singles, sets),
        100.0 * per(rs_multi, rs_singles)
    );
    let example = LeafContents::for_bytes(1, b"x")
        .unwrap()
        .canonical_json()
        .len();
    println!("(a leaf's canonical contents are about {example} bytes of each proof's JSON)");
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets no report.
    if !std::env::args().any(|a| a == "--bench") {
        println!("merkle_stats: run with `cargo bench -p tuf-benches --bench merkle_stats`");
        return;
    }
    println!("# tuf-merkle measurements");
    println!("machine: {}", machine());
    println!();
    memory();
    proofs();
}
