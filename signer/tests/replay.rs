//! The real 2026 index files of `../shared/data/` replayed as a publish stream: every line of
//! every crate file, in `pubtime` order, is one publish of that crate's file as it stood after the
//! line was appended. At the end every leaf holds the real file (length and SHA-256) at a version
//! equal to its number of lines, proved against the signed timestamp's `merkle_root`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use common::{MERKLE, Signer, sha256_hex};
use serde_json::json;
use tuf_merkle::LeafContents;
use tuf_merkle::multiproof::MultiProof;

const WORKERS: usize = 32;

/// Index path → file bytes, from the archive.
fn index_files() -> BTreeMap<String, Vec<u8>> {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/crates-index-2026-sample.tar.gz");
    let file = std::fs::File::open(&archive)
        .expect("shared/data/crates-index-2026-sample.tar.gz beside the repository");
    let mut files = BTreeMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(path, bytes);
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_the_2026_publish_stream() {
    let files = index_files();
    assert_eq!(files.len(), 88);
    // Events: (pubtime, path). The k-th event of a crate appends its k-th line, so each crate's
    // file grows in its own order and ends as the real file.
    let mut events = Vec::new();
    for (path, bytes) in &files {
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            events.push((v["pubtime"].as_str().unwrap_or("").to_owned(), path.clone()));
        }
    }
    events.sort();
    let total = events.len();
    assert!(total > 4000);

    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    // Each worker owns a share of the crates, so a crate's publishes stay in order.
    let mut queues: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); WORKERS];
    let mut grown: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, path) in &events {
        let full = &files[path];
        let k = grown.entry(path).or_default();
        let end = full
            .split_inclusive(|b| *b == b'\n')
            .take(*k + 1)
            .map(<[u8]>::len)
            .sum();
        *k += 1;
        let worker = (tuf_merkle::key_of(path).0[0] as usize) % WORKERS;
        queues[worker].push((path.clone(), full[..end].to_vec()));
    }
    let token = s.token(MERKLE);
    let mut tasks = Vec::new();
    for queue in queues {
        let (addr, token) = (s.addr, token.clone());
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {token}");
            for (path, bytes) in queue {
                let body =
                    json!({ "sha256": sha256_hex(&bytes), "length": bytes.len() }).to_string();
                let r = common::request(
                    addr,
                    "PUT",
                    &format!("/api/v1/crates.io/targets/{path}"),
                    &[
                        ("Authorization", &auth),
                        ("Content-Type", "application/json"),
                    ],
                    body.as_bytes(),
                )
                .await;
                assert_eq!(r.status, 200, "{path}: {}", r.text());
                assert_eq!(r.json()["results"][0]["changed"], true);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // One more (signed) publish so the last timestamp includes everything.
    let last = events.last().unwrap().1.clone();
    let bytes = &files[&last];
    let body = json!({ "sha256": sha256_hex(bytes), "length": bytes.len() }).to_string();
    let r = s
        .write(
            MERKLE,
            "PUT",
            &format!("/api/v1/crates.io/targets/{last}?wait=signed"),
            Some("application/json"),
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.json()["results"][0]["changed"], false);

    let (version, root) = s.verified_timestamp(MERKLE).await;
    let root = root.unwrap();
    let names: Vec<&String> = files.keys().collect();
    let r = s
        .req(
            "POST",
            "/api/v1/crates.io/proofs",
            &[],
            json!({ "names": names }).to_string().as_bytes(),
        )
        .await;
    let v = r.json();
    assert_eq!(v["timestamp_version"], version);
    let proof = MultiProof::from_json(&serde_json::to_vec(&v["proof"]).unwrap()).unwrap();
    proof.verify(&root).unwrap();
    for (path, bytes) in &files {
        let lines = bytes.split_inclusive(|b| *b == b'\n').count() as u64;
        let expected = LeafContents::for_bytes(lines, bytes).unwrap();
        assert_eq!(proof.get(path), Some(Some(&expected)), "{path}");
    }
    let status = s.status(MERKLE).await;
    assert_eq!(status["leaves"], 88);
    eprintln!("replayed {total} publishes; timestamp version {version}");
    s.stop().await;
}
