//! Leaf snapshots (`leaf-snapshots/V.leaves.gz`): a signer with a small `leaf_snapshot_every`
//! publishes one at every multiple of it, and each decodes to exactly the tree that version's
//! signed timestamp vouches for (its recomputed root is the signed `merkle_root`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{CLASSIC, MERKLE, TestConfig, index_name};
use tuf_merkle::hash::parse_hex;
use tuf_merkle::{LeafContents, key_of};
use tuf_repo_format::leaf_snapshot;
use tuf_repo_format::paths;
use tuf_testkit::signer::Background;

const EVERY: u64 = 3;

/// Waits for a file the signer writes in the background.
fn wait_for(path: &std::path::Path) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(bytes) = std::fs::read(path) {
            return bytes;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `merkle_root` of the signed timestamp of `version`, from its exact published bytes.
fn signed_root(b: &Background, version: u64) -> tuf_merkle::Digest {
    let bytes = std::fs::read(b.repo(MERKLE).join(paths::timestamp_file(version))).unwrap();
    let ts: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    parse_hex(ts["signed"]["merkle_root"].as_str().unwrap()).unwrap()
}

#[test]
fn snapshots_are_published_every_n_versions_and_recompute_the_signed_root() {
    let b = Background::start_configured(
        |_| {},
        TestConfig::new()
            .merkle_role(&format!("leaf_snapshot_every = {EVERY}"))
            .batch(1, 1),
    );
    // What each version's tree holds: (name, contents) published so far, one change a round.
    let mut leaves: Vec<(String, LeafContents)> = Vec::new();
    let mut at_version = std::collections::BTreeMap::new();
    let mut version = 0;
    let mut i = 0;
    while version < 3 * EVERY + 1 {
        let name = index_name(i);
        let bytes = format!("file {i}").into_bytes();
        version = b.publish(MERKLE, &name, &bytes);
        leaves.push((name, LeafContents::for_bytes(1, &bytes).unwrap()));
        if i == 2 {
            // A tombstone too.
            let deleted = index_name(0);
            version = b.delete(MERKLE, &deleted);
            leaves[0].1 = LeafContents::deleted(2).unwrap();
        }
        at_version.insert(version, leaves.clone());
        i += 1;
    }

    let mut checked = 0;
    for (&v, expected) in &at_version {
        let path = b.repo(MERKLE).join(paths::leaf_snapshot(v));
        if !v.is_multiple_of(EVERY) {
            continue;
        }
        let file = wait_for(&path);
        let snapshot = leaf_snapshot::decode(&file, 1 << 20).unwrap();
        let root = signed_root(&b, v);
        let tree = snapshot.verify(MERKLE, v, &root).unwrap();
        assert_eq!(tree.root(), root, "version {v}");
        // Exactly the leaves published up to v, with their contents.
        assert_eq!(tree.len(), expected.len(), "version {v}");
        for (name, contents) in expected {
            assert_eq!(
                tree.get_key(&key_of(name)),
                Some(*contents),
                "{name} at {v}"
            );
        }
        // Merkle roles keep no names.
        assert!(snapshot.entries.iter().all(|e| e.name.is_none()));
        // Served like every immutable file.
        let r = b.req(
            "GET",
            &format!("/{MERKLE}/{}", paths::leaf_snapshot(v)),
            &[],
            b"",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body, file);
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        // Another version's root does not vouch for it.
        if v > EVERY {
            assert!(snapshot.verify(MERKLE, v, &signed_root(&b, v - 1)).is_err());
        }
        checked += 1;
    }
    assert!(checked >= 3, "{checked}");

    // The pointer names the newest snapshot, by length and hash, and is served as a head.
    let newest = at_version
        .keys()
        .copied()
        .filter(|v| v.is_multiple_of(EVERY))
        .max()
        .unwrap();
    let newest_file = wait_for(&b.repo(MERKLE).join(paths::leaf_snapshot(newest)));
    let pointer_path = b.repo(MERKLE).join(paths::LEAF_SNAPSHOT_LATEST);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pointer = loop {
        let p = leaf_snapshot::LatestPointer::from_json(&wait_for(&pointer_path)).unwrap();
        if p.timestamp_version == newest || std::time::Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(pointer.timestamp_version, newest);
    assert!(pointer.matches(&newest_file));
    let r = b.req(
        "GET",
        &format!("/{MERKLE}/{}", paths::LEAF_SNAPSHOT_LATEST),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=30"));
    assert_eq!(r.header("content-type"), Some("application/json"));

    // Only at multiples of the interval, and only for merkle roles.
    let names: Vec<String> = std::fs::read_dir(b.repo(MERKLE).join(paths::LEAF_SNAPSHOTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for name in names.iter().filter(|n| *n != "latest.json") {
        let Some(paths::PublishedFile::LeafSnapshot(v)) =
            paths::PublishedFile::parse(&format!("leaf-snapshots/{name}"))
        else {
            panic!("{name}");
        };
        assert!(v.is_multiple_of(EVERY), "{name}");
    }
    for i in 0..4 {
        b.publish(CLASSIC, &format!("c{i}.txt"), b"x");
    }
    assert!(!b.repo(CLASSIC).join(paths::LEAF_SNAPSHOTS_DIR).exists());
}

#[test]
fn zero_turns_snapshots_off() {
    let b = Background::start_configured(
        |_| {},
        TestConfig::new()
            .merkle_role("leaf_snapshot_every = 0")
            .batch(1, 1),
    );
    for i in 0..4 {
        b.publish(MERKLE, &index_name(i), b"x");
    }
    // Give a background writer time it would have needed.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!b.repo(MERKLE).join(paths::LEAF_SNAPSHOTS_DIR).exists());
}
