//! Synthetic crates.io index files on disk, for the benchmarks that import a role with
//! `tuf_signer::import::import` (what `tuf-signer import` runs): `signer_load`, `mirror`.
//!
//! Seeded, so every run writes the same files: 250,000 of them are 1,162 MB. Names are a random
//! lowercase stem of 1 to 12 letters, `-`, and a base-36 serial (so they are distinct, and no
//! name without a `-` is ever one of them); paths follow the index layout ([`crate::index_path`]).
//! Sizes are log-normal with the 2019 index's median 1.2 KB and 99th percentile 55 KB, capped at
//! 1 MiB (its largest file was 1.06 MB); the contents are index-like JSON lines.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What [`write`] wrote.
pub struct Written {
    /// The index path of each file, in the order written.
    pub paths: Vec<String>,
    /// The files' sizes, sorted.
    pub sizes_sorted: Vec<usize>,
}

impl Written {
    /// All the files' bytes.
    pub fn total_bytes(&self) -> usize {
        self.sizes_sorted.iter().sum()
    }

    /// The size at quantile `q` (0 to 1).
    pub fn size_quantile(&self, q: f64) -> usize {
        let n = self.sizes_sorted.len();
        if n == 0 {
            return 0;
        }
        self.sizes_sorted[((n - 1) as f64 * q).round() as usize]
    }
}

/// Writes `n` index files under `dir`, drawn from `seed`.
pub fn write(dir: &Path, n: usize, seed: u64) -> Written {
    let mut rng = StdRng::seed_from_u64(seed);
    let crates = crate_names(&mut rng, n);
    let paths: Vec<String> = crates.iter().map(|c| crate::index_path(c)).collect();
    let mut sizes = Vec::with_capacity(n);
    let mut buf = Vec::new();
    for (name, path) in crates.iter().zip(&paths) {
        let size = file_size(&mut rng);
        buf.clear();
        while buf.len() < size {
            let line = format!(
                "{{\"name\":\"{name}\",\"vers\":\"0.{}.{}\",\"deps\":[],\"cksum\":\"{}\",\"features\":{{}},\"yanked\":false}}\n",
                buf.len() % 97,
                rng.random_range(0..100),
                tuf_merkle::hash::sha256(&buf.len().to_le_bytes()).to_hex()
            );
            buf.extend_from_slice(line.as_bytes());
        }
        buf.truncate(size);
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("index directory");
        std::fs::write(&file, &buf).expect("index file");
        sizes.push(size);
    }
    sizes.sort_unstable();
    Written {
        paths,
        sizes_sorted: sizes,
    }
}

/// `n` distinct crate names: a random lowercase stem, `-`, and a base-36 serial.
fn crate_names(rng: &mut StdRng, n: usize) -> Vec<String> {
    let mut names = Vec::with_capacity(n);
    for i in 0..n {
        let stem_len = rng.random_range(1..=12);
        let mut name: String = (0..stem_len)
            .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
            .collect();
        name.push('-');
        let mut k = i;
        loop {
            name.push(char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[k % 36]));
            k /= 36;
            if k == 0 {
                break;
            }
        }
        names.push(name);
    }
    names
}

/// Sizes of index files: log-normal with median 1.2 KB and 99th percentile 55 KB (the 2019
/// index), capped at 1 MiB.
fn file_size(rng: &mut StdRng) -> usize {
    let mu = 1200f64.ln();
    let sigma = (55_000f64 / 1200.0).ln() / 2.326_347_874;
    // Box-Muller.
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    ((mu + sigma * z).exp() as usize).clamp(60, 1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_all_have_a_dash() {
        let mut rng = StdRng::seed_from_u64(1);
        let names = crate_names(&mut rng, 5_000);
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert!(names.iter().all(|n| n.contains('-')));
    }
}
