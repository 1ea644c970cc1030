//! The tree over real crates.io index files from `../shared/data/`: one leaf per file, named by
//! its index path, with version 1 and the file's length and SHA-256; and the 2026 files'
//! `pubtime` stream replayed as a publish per line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use flate2::read::GzDecoder;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use tuf_merkle::hash::sha256;
use tuf_merkle::{LeafContents, Proof, Tree, key_of};

/// Where the shared data lives: `$TUF_SHARED_DATA`, or `shared/data` beside the repository.
fn data_dir() -> PathBuf {
    std::env::var_os("TUF_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// Reads every regular file of a `.tar.gz` into (path, bytes), or says why it cannot. Under
/// `CI=true` a missing archive fails the test; elsewhere the test is skipped with the reason.
fn archive(name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    let path = data_dir().join(name);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            let why = format!("cannot open {}: {e} (set TUF_SHARED_DATA)", path.display());
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipping: {why}");
            return None;
        }
    };
    let mut files = BTreeMap::new();
    let mut tar = tar::Archive::new(GzDecoder::new(file));
    for entry in tar.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .expect("path")
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read entry");
        files.insert(name, bytes);
    }
    Some(files)
}

fn leaf(bytes: &[u8]) -> LeafContents {
    LeafContents::for_bytes(1, bytes).unwrap()
}

#[test]
fn index_2019_one_leaf_per_file() {
    let Some(files) = archive("crates-index-2019-sample.tar.gz") else {
        return;
    };
    assert_eq!(files.len(), 3945, "the README counts 3,945 crates");
    let tree = Tree::from_leaves(files.iter().map(|(n, b)| (key_of(n), leaf(b)))).unwrap();
    let mut incremental = Tree::new();
    for (n, b) in files.iter().rev() {
        incremental.set(key_of(n), leaf(b));
    }
    assert_eq!(tree.root(), incremental.root());
    let root = tree.root();
    for (n, b) in files.iter().step_by(7) {
        let Proof::Membership(p) = tree.prove(n) else {
            panic!("{n} present")
        };
        assert_eq!(p.contents, leaf(b));
        p.verify(&root).unwrap();
        assert!(p.siblings.len() <= 30, "{n} sits {} deep", p.siblings.len());
    }
    // The sample holds only crates whose name hashes to a first byte ≡ 0 mod 8; others are absent.
    for absent in ["se/rd/serde-not-there", "zz/zz/zzzzz"] {
        let p = tree.prove(absent);
        assert!(matches!(p, Proof::NonMembership(_)));
        p.verify(&root).unwrap();
    }
    let names: Vec<&String> = files.keys().take(500).collect();
    let multi = tree.prove_many(&names).unwrap();
    multi.verify(&root).unwrap();
}

#[derive(serde::Deserialize)]
struct Line {
    pubtime: String,
}

#[test]
fn index_2026_pubtime_stream_replays_as_publishes() {
    let Some(files) = archive("crates-index-2026-sample.tar.gz") else {
        return;
    };
    assert_eq!(files.len(), 88);
    // Every line of every file is a publish event at its pubtime; ties keep file order.
    let mut events = Vec::new();
    for (name, bytes) in &files {
        let text = std::str::from_utf8(bytes).expect("index files are UTF-8");
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let parsed: Line = serde_json::from_str(line.trim_end()).expect("index line");
            events.push((parsed.pubtime, name.clone(), i, line.to_owned()));
        }
    }
    assert_eq!(events.len(), 4199, "the README counts 4,199 versions");
    events.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));

    let mut tree = Tree::new();
    let mut served: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    let mut kept = Vec::new();
    for (step, (_, name, _, line)) in events.iter().enumerate() {
        let file = served.entry(name).or_default();
        file.extend_from_slice(line.as_bytes());
        let before = tree.get(name).map_or(0, |c| c.version());
        let now = tree
            .publish(key_of(name), file.len() as u64, sha256(file))
            .unwrap();
        assert_eq!(now.version(), before + 1, "{name} at event {step}");
        if step % 500 == 0 {
            kept.push((tree.clone(), name.clone(), now));
        }
    }
    // Each file's version counts its lines, and the final state is the one built at once.
    for (name, bytes) in &files {
        let lines = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
        assert_eq!(tree.get(name).map(|c| c.version()), Some(lines), "{name}");
    }
    let at_once = Tree::from_leaves(served.iter().map(|(n, b)| {
        let v = tree.get(n).map_or(1, |c| c.version());
        (key_of(n), LeafContents::for_bytes(v, b).unwrap())
    }))
    .unwrap();
    assert_eq!(tree.root(), at_once.root());
    // Versions kept along the way still prove what they held then.
    for (version, name, contents) in &kept {
        let Proof::Membership(p) = version.prove(name) else {
            panic!("{name} present")
        };
        assert_eq!(p.contents, *contents);
        p.verify(&version.root()).unwrap();
    }
}
