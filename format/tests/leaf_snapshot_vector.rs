//! The leaf-snapshot test vector of `docs/pouf.md` §9: `tests/vectors/leaf-snapshot-1000.json`
//! describes the leaves, the root and the exact payload; `leaf-snapshot-1000.leaves.gz` is the
//! published file. The test decodes the file, compares it with the description, recomputes the
//! root, and writes the payload again byte for byte.
//!
//! `LEAF_SNAPSHOT_VECTOR_WRITE=1 cargo test -p tuf-repo-format --test leaf_snapshot_vector`
//! regenerates both files.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tuf_merkle::contents::MAX_INTEGER;
use tuf_merkle::hash::{parse_hex, sha256};
use tuf_merkle::{Digest, LeafContents, Tree, key_of};
use tuf_repo_format::leaf_snapshot::{self, LeafSnapshot};
use tuf_repo_format::{LeafEntry, paths};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// The leaves of the vector: a present target, a tombstone, the largest integers, a length of
/// 0, a name in Han script, and a leaf kept without its name.
fn leaves() -> Vec<LeafEntry> {
    let mut e = vec![
        (
            "se/rd/serde",
            LeafContents::for_bytes(7, b"serde index file").unwrap(),
            true,
        ),
        ("3/s/syn", LeafContents::deleted(4).unwrap(), true),
        (
            "ma/xi/maxint",
            LeafContents::present(MAX_INTEGER, MAX_INTEGER, sha256(b"m")).unwrap(),
            true,
        ),
        ("1/a", LeafContents::for_bytes(1, b"").unwrap(), true),
        (
            "日本/語",
            LeafContents::for_bytes(2, "語".as_bytes()).unwrap(),
            true,
        ),
        (
            "no/na/noname",
            LeafContents::for_bytes(3, b"n").unwrap(),
            false,
        ),
    ]
    .into_iter()
    .map(|(name, contents, named)| LeafEntry {
        key: key_of(name),
        contents,
        name: named.then(|| name.to_owned()),
    })
    .collect::<Vec<_>>();
    e.sort_by_key(|x| x.key.0);
    e
}

fn contents_json(c: &LeafContents) -> Value {
    serde_json::from_str(&c.canonical_json()).unwrap()
}

fn contents_from_json(v: &Value) -> LeafContents {
    let version = v["version"].as_u64().unwrap();
    if v.get("deleted").is_some() {
        return LeafContents::deleted(version).unwrap();
    }
    let sha = parse_hex(v["hashes"]["sha256"].as_str().unwrap()).unwrap();
    LeafContents::present(version, v["length"].as_u64().unwrap(), sha).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_vector_decodes_recomputes_and_encodes_back() {
    let json_path = vectors().join("leaf-snapshot-1000.json");
    let gz_path = vectors().join("leaf-snapshot-1000.leaves.gz");
    if std::env::var_os("LEAF_SNAPSHOT_VECTOR_WRITE").is_some() {
        let entries = leaves();
        let root = Tree::from_leaves(entries.iter().map(|e| (e.key, e.contents)))
            .unwrap()
            .root();
        let s = LeafSnapshot {
            role: "crates.io".into(),
            timestamp_version: 1000,
            merkle_root: root,
            entries,
        };
        let payload = s.encode_payload().unwrap();
        let description = json!({
            "path": paths::leaf_snapshot(1000),
            "role": s.role,
            "timestamp_version": s.timestamp_version,
            "merkle_root": root.to_hex(),
            "leaves": s.entries.iter().map(|e| json!({
                "key": e.key.to_hex(),
                "name": e.name,
                "contents": contents_json(&e.contents),
            })).collect::<Vec<_>>(),
            "payload_hex": hex(&payload),
            "payload_sha256": sha256(&payload).to_hex(),
        });
        let mut text = serde_json::to_string_pretty(&description).unwrap();
        text.push('\n');
        std::fs::write(&json_path, text).unwrap();
        std::fs::write(&gz_path, s.encode().unwrap()).unwrap();
    }

    let v: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let file = std::fs::read(&gz_path).unwrap();
    let root: Digest = parse_hex(v["merkle_root"].as_str().unwrap()).unwrap();
    let version = v["timestamp_version"].as_u64().unwrap();
    let role = v["role"].as_str().unwrap();
    assert_eq!(
        paths::PublishedFile::parse(v["path"].as_str().unwrap()),
        Some(paths::PublishedFile::LeafSnapshot(version))
    );

    // The file decodes to the described leaves, in key order, and recomputes the signed root.
    let payload_len = v["payload_hex"].as_str().unwrap().len() / 2;
    let s = leaf_snapshot::decode(&file, payload_len).unwrap();
    let described: Vec<LeafEntry> = v["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| LeafEntry {
            key: parse_hex(l["key"].as_str().unwrap()).unwrap(),
            contents: contents_from_json(&l["contents"]),
            name: l["name"].as_str().map(str::to_owned),
        })
        .collect();
    assert_eq!(described, leaves(), "the vector describes the leaves above");
    assert_eq!(s.entries, described);
    assert_eq!(s.role, role);
    assert_eq!(s.timestamp_version, version);
    assert_eq!(s.merkle_root, root);
    let tree = s.verify(role, version, &root).unwrap();
    assert_eq!(tree.root(), root);
    assert_eq!(tree.len(), 6);
    assert_eq!(tree.tombstones(), 1);

    // The payload, byte for byte, and its hash.
    let payload = s.encode_payload().unwrap();
    assert_eq!(hex(&payload), v["payload_hex"].as_str().unwrap());
    assert_eq!(
        sha256(&payload).to_hex(),
        v["payload_sha256"].as_str().unwrap()
    );
    // One byte less room than the payload needs is refused.
    assert_eq!(
        leaf_snapshot::decode(&file, payload_len - 1),
        Err(leaf_snapshot::DecodeError::TooLarge {
            limit: payload_len - 1
        })
    );
}
