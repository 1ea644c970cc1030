//! Shared inputs for the benchmarks: seeded synthetic leaves shaped like crates.io's index.
//!
//! Every input is a pure function of its size and seed, so two runs (or two machines) measure
//! the same trees. Names follow the index layout (`1/a`, `2/ab`, `3/s/syn`, `se/rd/serde`),
//! contents are version-1..N fileinfo with index-file-like lengths and random SHA-256s.
//!
//! [`index_files`] writes synthetic index files for the benchmarks that import a role, and
//! [`report`] has what the load benchmarks print beside their numbers (machine, percentiles,
//! a process's memory and CPU time). [`signer_process`] (feature `signer-process`, on for the
//! benches) runs the signer in a child process of the benchmark's own executable: its start,
//! clean stop, `kill -9` and memory; [`open_loop`] (the same feature) sends it writes at a fixed
//! rate.
//!
//! The rs_merkle baseline lives here too: [`Rfc6962`] is an `rs_merkle::Hasher` with RFC 6962
//! domain separation (leaf `H(0x00 || data)`, node `H(0x01 || l || r)`), the same hash costs per
//! node as this POUF's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod index_files;
#[cfg(feature = "signer-process")]
pub mod open_loop;
pub mod report;
#[cfg(feature = "signer-process")]
pub mod signer_process;

use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
use tuf_merkle::hash::leaf_hash;
use tuf_merkle::{Digest, LeafContents, Tree, key_of};

/// The seed every benchmark uses unless it says otherwise.
pub const SEED: u64 = 0x7475_662d_6d70_7431; // "tuf-mpt1"

/// Names the corpus always starts with: one of each index path shape.
pub const FIXED_NAMES: [&str; 4] = ["se/rd/serde", "3/s/syn", "1/a", "2/ab"];

/// A crates.io-like set of targets: distinct names, their keys and their leaf contents.
pub struct Corpus {
    /// Index paths, all distinct.
    pub names: Vec<String>,
    /// `key_of(names[i])`.
    pub keys: Vec<Digest>,
    /// The leaf contents of `names[i]`.
    pub contents: Vec<LeafContents>,
}

impl Corpus {
    /// `n` distinct targets drawn from `seed`.
    pub fn new(n: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut seen: HashSet<String> = HashSet::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        for name in FIXED_NAMES.iter().take(n) {
            seen.insert((*name).to_owned());
            names.push((*name).to_owned());
        }
        while names.len() < n {
            let path = index_path(&crate_name(&mut rng));
            if seen.insert(path.clone()) {
                names.push(path);
            }
        }
        let keys = names.iter().map(|n| key_of(n)).collect();
        let contents = (0..n).map(|_| random_contents(&mut rng, None)).collect();
        Corpus {
            names,
            keys,
            contents,
        }
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the corpus is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The `(key, contents)` pairs [`Tree::from_leaves`] takes.
    pub fn leaves(&self) -> impl Iterator<Item = (Digest, LeafContents)> + '_ {
        self.keys.iter().copied().zip(self.contents.iter().copied())
    }

    /// The tree of the whole corpus.
    pub fn tree(&self) -> Tree {
        Tree::from_leaves(self.leaves()).expect("corpus names are distinct")
    }

    /// Each target's leaf hash `LH = H(0x00 || k || H(c))`, in corpus order: the same leaf
    /// hashes the prefix tree hashes, handed to rs_merkle precomputed.
    pub fn leaf_hashes(&self) -> Vec<[u8; 32]> {
        self.leaves()
            .map(|(k, c)| leaf_hash(&k, &c.hash()).0)
            .collect()
    }

    /// `count` changes to existing targets (distinct within a batch): the next version with a
    /// new hash and length, as a publish makes them.
    pub fn updates(&self, count: usize, seed: u64) -> Vec<(Digest, LeafContents)> {
        let mut rng = StdRng::seed_from_u64(seed);
        index::sample(&mut rng, self.len(), count.min(self.len()))
            .into_iter()
            .map(|i| {
                (
                    self.keys[i],
                    random_contents(&mut rng, Some(self.contents[i].version())),
                )
            })
            .collect()
    }

    /// `count` distinct indices into the corpus.
    pub fn sample(&self, count: usize, seed: u64) -> Vec<usize> {
        let mut rng = StdRng::seed_from_u64(seed);
        index::sample(&mut rng, self.len(), count.min(self.len())).into_vec()
    }
}

/// Target `i` of a corpus too large to keep its names (50 million leaves): a crate-like name
/// made unique by `-` and `i` in base 36 (`ab/cd/abcdef-1x3`), and its contents, both a pure
/// function of `seed` and `i`, so that a tree of any size is built from a stream and any of its
/// names can be asked for again. Names are about six bytes longer than [`Corpus`]'s.
pub fn indexed_target(seed: u64, i: u64) -> (String, LeafContents) {
    let mut rng = StdRng::seed_from_u64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut name = crate_name(&mut rng);
    name.push('-');
    let mut digits = Vec::new();
    let mut n = i;
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    name.extend(digits.iter().rev().map(|d| char::from(*d)));
    let contents = random_contents(&mut rng, None);
    (index_path(&name), contents)
}

/// A crate name: mostly lowercase letters, sometimes digits, `-` and `_`; lengths spread like
/// crates.io's (a few of 1-3 characters, most of 5-15, a tail up to 40).
fn crate_name(rng: &mut StdRng) -> String {
    let len = match rng.random_range(0..1000u32) {
        0..2 => 1,
        2..8 => 2,
        8..30 => 3,
        30..100 => 4,
        100..900 => rng.random_range(5..=15),
        _ => rng.random_range(16..=40),
    };
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const OTHERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut name = String::with_capacity(len);
    name.push(char::from(LETTERS[rng.random_range(0..LETTERS.len())]));
    for _ in 1..len {
        let c = if rng.random_bool(0.85) {
            LETTERS[rng.random_range(0..LETTERS.len())]
        } else {
            OTHERS[rng.random_range(0..OTHERS.len())]
        };
        name.push(char::from(c));
    }
    name
}

/// The crates.io index path of a (lowercase) crate name.
pub fn index_path(name: &str) -> String {
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// Fileinfo for an index file: version 1-40 (or the one after `previous`), a length like an
/// index file's, a random SHA-256.
fn random_contents(rng: &mut StdRng, previous: Option<u64>) -> LeafContents {
    let version = match previous {
        Some(v) => v + 1,
        None => 1 + rng.random_range(0..40u64).min(rng.random_range(0..40u64)),
    };
    let length = rng.random_range(200..200_000u64);
    let sha = Digest(rng.random::<[u8; 32]>());
    LeafContents::present(version, length, sha).expect("in range")
}

/// RFC 6962 hashing for rs_merkle: leaves `H(0x00 || data)`, nodes `H(0x01 || l || r)`. An odd
/// node at the end of a level is promoted unhashed, as RFC 6962's tree shape implies.
#[derive(Clone, Copy, Debug)]
pub struct Rfc6962;

impl rs_merkle::Hasher for Rfc6962 {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([0x00]);
        h.update(data);
        h.finalize().into()
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => {
                let mut buf = [0u8; 65];
                buf[0] = 0x01;
                buf[1..33].copy_from_slice(left);
                buf[33..].copy_from_slice(right);
                Sha256::digest(buf).into()
            }
            None => *left,
        }
    }
}

/// The leaf hash rs_merkle gets for a target when it hashes the leaf itself:
/// `Rfc6962::hash(k || H(c))`, equal to the prefix tree's `LH`.
pub fn rs_leaf_hash(key: &Digest, contents: &LeafContents) -> [u8; 32] {
    let mut data = [0u8; 64];
    data[..32].copy_from_slice(&key.0);
    data[32..].copy_from_slice(&contents.hash().0);
    <Rfc6962 as rs_merkle::Hasher>::hash(&data)
}

/// rs_merkle's tree over `leaf_hashes`.
pub fn rs_tree(leaf_hashes: &[[u8; 32]]) -> rs_merkle::MerkleTree<Rfc6962> {
    rs_merkle::MerkleTree::<Rfc6962>::from_leaves(leaf_hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_targets_are_a_pure_function_of_seed_and_number_and_distinct() {
        let names: HashSet<String> = (0..20_000).map(|i| indexed_target(SEED, i).0).collect();
        assert_eq!(names.len(), 20_000);
        assert_eq!(indexed_target(SEED, 12_345), indexed_target(SEED, 12_345));
        assert_ne!(indexed_target(SEED, 1).1, indexed_target(SEED + 1, 1).1);
        let (name, _) = indexed_target(SEED, 36);
        assert!(name.ends_with("-10"), "{name}");
        assert_eq!(name, index_path(name.rsplit('/').next().unwrap()));
    }

    #[test]
    fn corpus_is_seeded_distinct_and_index_shaped() {
        let a = Corpus::new(5_000, SEED);
        let b = Corpus::new(5_000, SEED);
        assert_eq!(a.names, b.names);
        assert_eq!(a.contents, b.contents);
        assert_eq!(&a.names[..4], &FIXED_NAMES.map(String::from));
        let distinct: HashSet<_> = a.keys.iter().collect();
        assert_eq!(distinct.len(), a.len());
        for name in &a.names {
            let crate_name = name.rsplit('/').next().unwrap();
            assert_eq!(index_path(crate_name), *name);
        }
        assert_eq!(a.tree().len(), 5_000);
    }

    #[test]
    fn rs_leaf_hash_is_the_prefix_tree_leaf_hash() {
        let c = Corpus::new(10, SEED);
        let hashes = c.leaf_hashes();
        for (i, (k, v)) in c.leaves().enumerate() {
            assert_eq!(rs_leaf_hash(&k, &v), hashes[i]);
        }
        // Two leaves: rs_merkle's root is IH(l0, l1), as the POUF's interior hash writes it.
        let root = rs_tree(&hashes[..2]).root().unwrap();
        let ih = tuf_merkle::hash::interior_hash(&Digest(hashes[0]), &Digest(hashes[1]));
        assert_eq!(root, ih.0);
    }

    #[test]
    fn updates_bump_versions_of_distinct_existing_keys() {
        let c = Corpus::new(1_000, SEED);
        let u = c.updates(100, 1);
        let keys: HashSet<_> = u.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys.len(), 100);
        for (k, v) in &u {
            let i = c.keys.iter().position(|x| x == k).unwrap();
            assert_eq!(v.version(), c.contents[i].version() + 1);
        }
    }
}
