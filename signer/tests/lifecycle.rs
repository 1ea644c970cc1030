//! Trust checks in production mode, re-signing idle roles, and importing real index files.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{CLASSIC, MERKLE, Signer};
use serde_json::json;
use tuf_keys::{FileSigner, KeyAlgorithm};
use tuf_merkle::multiproof::MultiProof;
use tuf_signer::Config;
use tuf_signer::metadata::{SharedSigner, write_dev_root};
use tuf_signer::token_hash;

fn production_config(data: &Path, roots: &Path, key: &Path) -> Config {
    let text = format!(
        r#"
        mode = "production"
        data_dir = "{}"
        listen = "127.0.0.1:0"
        [roles.rustup]
        snapshot = "classic"
        root_dir = "{}"
        online_key = {{ type = "file", path = "{}" }}
        writer_token_sha256 = ["{}"]
        "#,
        data.display(),
        roots.display(),
        key.display(),
        token_hash("rustup-writer")
    );
    Config::parse(&text, "test").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_mode_checks_the_root_and_the_online_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let root_key: SharedSigner =
        Arc::new(FileSigner::generate(keys.join("root.pem"), KeyAlgorithm::EcdsaP256).unwrap());
    let online = FileSigner::generate(keys.join("online.pem"), KeyAlgorithm::EcdsaP256).unwrap();
    FileSigner::generate(keys.join("other.pem"), KeyAlgorithm::Ed25519).unwrap();
    let roots = dir.path().join("roots");
    write_dev_root(&roots, &root_key, online.public_key(), 3600)
        .await
        .unwrap();

    // The right key under a root signed by its threshold: starts, and a write signs.
    let data = dir.path().join("data");
    let running = tuf_signer::start(production_config(&data, &roots, &keys.join("online.pem")))
        .await
        .unwrap();
    let r = common::request(
        running.local_addr(),
        "PUT",
        "/api/v1/rustup/targets/dist/rustup-init?wait=signed",
        &[("Authorization", "Bearer rustup-writer")],
        b"binary",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    running.shutdown().await;

    // Another online key: refused, naming the key.
    let err = tuf_signer::start(production_config(&data, &roots, &keys.join("other.pem")))
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("is not listed in root version 1"),
        "{err}"
    );

    // A root whose signed part was changed: refused.
    let tampered = dir.path().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let text = std::fs::read_to_string(roots.join("1.root.json")).unwrap();
    let mut root: serde_json::Value = serde_json::from_str(&text).unwrap();
    root["signed"]["expires"] = json!("2099-01-01T00:00:00Z");
    std::fs::write(
        tampered.join("1.root.json"),
        serde_json::to_vec(&root).unwrap(),
    )
    .unwrap();
    let err = tuf_signer::start(production_config(
        &data,
        &tampered,
        &keys.join("online.pem"),
    ))
    .await
    .err()
    .expect("refused");
    assert!(
        err.to_string()
            .contains("not signed by its own root threshold"),
        "{err}"
    );

    // A 2.root.json not signed by root 1's keys: refused.
    let other_root: SharedSigner =
        Arc::new(FileSigner::generate(keys.join("root2.pem"), KeyAlgorithm::Ed25519).unwrap());
    let forged = dir.path().join("forged");
    write_dev_root(&forged, &other_root, online.public_key(), 3600)
        .await
        .unwrap();
    let mut v2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(forged.join("1.root.json")).unwrap()).unwrap();
    v2["signed"]["version"] = json!(2);
    std::fs::write(roots.join("2.root.json"), serde_json::to_vec(&v2).unwrap()).unwrap();
    let err = tuf_signer::start(production_config(&data, &roots, &keys.join("online.pem")))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("2.root.json"), "{err}");

    // No root at all.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = tuf_signer::start(production_config(&data, &empty, &keys.join("online.pem")))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("no root files"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_roles_are_resigned_before_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.roles.retain(|name, _| name == MERKLE);
    config.roles.get_mut(MERKLE).unwrap().expiry.timestamp_secs = 2;
    let running = tuf_signer::start(config).await.unwrap();
    let s = Signer {
        addr: running.local_addr(),
        running: Some(running),
        data: dir.path().to_owned(),
    };
    let (v1, _) = s.verified_timestamp(MERKLE).await;
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let (v2, _) = s.verified_timestamp(MERKLE).await;
    assert!(v2 > v1, "not re-signed: {v1} -> {v2}");
    // Only the timestamp was re-signed: it still points at snapshot version 1.
    let ts = s
        .req("GET", "/crates.io/timestamp.json", &[], b"")
        .await
        .json();
    assert_eq!(ts["signed"]["meta"]["snapshot.json"]["version"], 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_real_index_files_then_serve() {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/crates-index-2026-sample.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let file = std::fs::File::open(&archive)
        .expect("shared/data/crates-index-2026-sample.tar.gz beside the repository");
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(&index)
        .unwrap();
    std::fs::create_dir_all(index.join(".git")).unwrap();
    std::fs::write(index.join(".git/HEAD"), "ref: x").unwrap();
    std::fs::write(index.join("README.md"), "not an index path").unwrap();

    let data = dir.path().join("data");
    let config = common::config(&data);
    let summary = tuf_signer::import::import(&config, MERKLE, &index, false).unwrap();
    assert_eq!(summary.leaves, 88);
    assert_eq!(summary.skipped.len(), 1, "{:?}", summary.skipped);
    // A second import into the same role is refused.
    assert!(tuf_signer::import::import(&config, MERKLE, &index, false).is_err());

    let s = Signer::start(&data).await;
    let (version, root) = s.verified_timestamp(MERKLE).await;
    assert_eq!(root, Some(summary.root));
    let names = ["3/s/syn", "2/h2", "3/h/hex", "3/m/mio"];
    let body = json!({ "names": names }).to_string();
    let r = s
        .req("POST", "/api/v1/crates.io/proofs", &[], body.as_bytes())
        .await;
    let multi = MultiProof::from_json(&serde_json::to_vec(&r.json()["proof"]).unwrap()).unwrap();
    multi.verify(&summary.root).unwrap();
    for n in names {
        let bytes = std::fs::read(index.join(n)).unwrap();
        let expected = tuf_merkle::LeafContents::for_bytes(1, &bytes).unwrap();
        assert_eq!(multi.get(n), Some(Some(&expected)), "{n}");
    }
    let record = s
        .req(
            "GET",
            &format!("/crates.io/changes/{version}.json"),
            &[],
            b"",
        )
        .await
        .json();
    assert_eq!(record["changes"].as_array().unwrap().len(), 88);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_refuses_state_that_does_not_match_what_was_signed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    for name in ["1/a", "1/b", "1/c"] {
        let r = s
            .write(
                MERKLE,
                "PUT",
                &format!("/api/v1/crates.io/targets/{name}"),
                None,
                name.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    s.stop().await;
    let state = dir.path().join("state/crates.io");
    let round_path = state.join("round.json");
    let original = std::fs::read(&round_path).unwrap();

    // A stored round whose root is not the tree's: refused.
    let mut round: serde_json::Value = serde_json::from_slice(&original).unwrap();
    round["tree_root"] = json!("00".repeat(32));
    std::fs::write(&round_path, serde_json::to_vec(&round).unwrap()).unwrap();
    let err = tuf_signer::start(common::config(dir.path()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("where timestamp"), "{err}");
    std::fs::write(&round_path, &original).unwrap();

    // Acknowledged changes missing (checkpoint and log gone, round still there): refused.
    let checkpoint = std::fs::read(state.join("checkpoint.bin")).unwrap();
    std::fs::remove_file(state.join("checkpoint.bin")).unwrap();
    let err = tuf_signer::start(common::config(dir.path()))
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("acknowledged changes are missing"),
        "{err}"
    );
    std::fs::write(state.join("checkpoint.bin"), &checkpoint).unwrap();

    // A damaged checkpoint: refused.
    let mut damaged = checkpoint.clone();
    let last = damaged.len() - 10;
    damaged[last] ^= 0xff;
    std::fs::write(state.join("checkpoint.bin"), &damaged).unwrap();
    let err = tuf_signer::start(common::config(dir.path()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("damaged"), "{err}");
    std::fs::write(state.join("checkpoint.bin"), &checkpoint).unwrap();

    // A leaf changed under the base's intact stored hashes, its checksum made right: the root
    // the hashes give is still the signed one, so the role starts (nothing to sign), and the
    // background check of the hashes against the leaves faults it: not ready, writes refused
    // before anything reaches the log, nothing signed.
    use tuf_signer::internals::checkpoint::Checkpoint;
    let mut forged = Checkpoint::decode(&checkpoint, Path::new("checkpoint.bin")).unwrap();
    assert_eq!(forged.hashes.len(), forged.entries.len() - 1);
    forged.entries[1].contents = tuf_merkle::LeafContents::for_bytes(1, b"forged").unwrap();
    std::fs::write(state.join("checkpoint.bin"), forged.encode().unwrap()).unwrap();
    let s = Signer::start(dir.path()).await;
    let mut status = s.status(MERKLE).await;
    for _ in 0..200 {
        if !status["error_code"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        status = s.status(MERKLE).await;
    }
    assert_eq!(status["error_code"], "tree_hash_mismatch", "{status}");
    let ready = s.req("GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.text().contains("tree_hash_mismatch"),
        "{}",
        ready.text()
    );
    let metrics = s.req("GET", "/metrics", &[], b"").await;
    assert!(
        metrics
            .text()
            .lines()
            .any(|l| l.contains("tree_hash_mismatch") && l.ends_with(" 1")),
        "{}",
        metrics.text()
    );
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/fo/rg/forged?wait=signed",
            None,
            b"x",
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.text());
    let version = status["timestamp_version"].clone();
    s.stop().await;
    std::fs::write(state.join("checkpoint.bin"), &checkpoint).unwrap();

    // Restored, it starts and still has the three targets.
    // (and signed nothing while it was faulty)
    let s = Signer::start(dir.path()).await;
    assert_eq!(s.status(MERKLE).await["leaves"], 3);
    assert_eq!(s.status(MERKLE).await["timestamp_version"], version);
    s.stop().await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Writes `names` to the merkle role, one signed round each.
async fn write_signed(s: &Signer, names: &[&str]) {
    for name in names {
        let r = s
            .write(
                MERKLE,
                "PUT",
                &format!("/api/v1/crates.io/targets/{name}?wait=signed"),
                None,
                name.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

/// A checkpoint is written in the background while the log grows, and the log is compacted
/// afterwards; a crash may leave any mix of an old or new `round.json`, `checkpoint.bin` and an
/// uncompacted log. Each must recover every change, the last timestamp, and sign on from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_from_every_checkpoint_and_compaction_interleaving() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state/crates.io");
    let read = |name: &str| std::fs::read(state.join(name)).unwrap();

    // Run 1 ends with a checkpoint C1 and an empty log.
    let s = Signer::start(dir.path()).await;
    write_signed(&s, &["1/a", "1/b"]).await;
    s.stop().await;
    let (c1, r1) = (read("checkpoint.bin"), read("round.json"));
    assert!(read("wal.log").is_empty());

    // Run 2: the log W2 holds c and d; stopping writes C2 and empties the log.
    let s = Signer::start(dir.path()).await;
    write_signed(&s, &["1/c", "1/d"]).await;
    let w2 = read("wal.log");
    assert!(!w2.is_empty());
    s.stop().await;
    let (c2, r2) = (read("checkpoint.bin"), read("round.json"));
    // Each crash point comes with the repository as it was then: a state restored next to a
    // repository it never published would be refused (it is behind), rightly.
    let repo = dir.path().join("repo");
    let repo2 = dir.path().join("repo-after-run-2");
    copy_dir(&repo, &repo2);

    // Run 3: the log W3 holds e; stopping writes C3.
    let s = Signer::start(dir.path()).await;
    write_signed(&s, &["1/e"]).await;
    let w3 = read("wal.log");
    let v3 = s.status(MERKLE).await["timestamp_version"]
        .as_u64()
        .unwrap();
    s.stop().await;
    let r3 = read("round.json");
    let repo3 = dir.path().join("repo-after-run-3");
    copy_dir(&repo, &repo3);
    let mut w23 = w2.clone();
    w23.extend_from_slice(&w3);

    // (case, checkpoint.bin, round.json, wal.log, leaves)
    type Case<'a> = (&'a str, &'a [u8], &'a [u8], &'a [u8], u64);
    let cases: [Case; 6] = [
        // Crash while the checkpoint thread writes round.json: old checkpoint, whole log.
        ("before round.json", &c1, &r1, &w23, 5),
        ("round.json written, checkpoint not", &c1, &r2, &w23, 5),
        ("newer round.json, checkpoint not", &c1, &r3, &w23, 5),
        // Checkpoint renamed into place, log not yet compacted (records <= its seq remain),
        // with or without appends after the snapshot.
        ("checkpoint written, log not compacted", &c2, &r2, &w2, 4),
        (
            "checkpoint written, log grew, not compacted",
            &c2,
            &r2,
            &w23,
            5,
        ),
        // Compacted: only the records after the checkpoint.
        ("log compacted", &c2, &r2, &w3, 5),
    ];
    let mut versions = Vec::new();
    for (case, c, r, w, leaves) in cases {
        std::fs::write(state.join("checkpoint.bin"), c).unwrap();
        std::fs::write(state.join("round.json"), r).unwrap();
        std::fs::write(state.join("wal.log"), w).unwrap();
        std::fs::remove_dir_all(&repo).unwrap();
        copy_dir(if leaves == 5 { &repo3 } else { &repo2 }, &repo);
        let s = Signer::start(dir.path()).await;
        let status = s.status(MERKLE).await;
        assert_eq!(status["leaves"], leaves, "{case}: {status}");
        let version = status["timestamp_version"].as_u64().unwrap();
        // Never below what was published before the crash (the log or round.json has it).
        let published = if leaves == 5 { v3 } else { v3 - 1 };
        assert!(version >= published, "{case}: {version} < {published}");
        let (verified, _) = s.verified_timestamp(MERKLE).await;
        assert_eq!(verified, version, "{case}");
        // Signing goes on above it.
        write_signed(
            &s,
            &[["1/f", "1/g", "1/h", "1/i", "1/j", "1/k"][versions.len()]],
        )
        .await;
        let after = s.status(MERKLE).await["timestamp_version"]
            .as_u64()
            .unwrap();
        assert_eq!(after, version + 1, "{case}");
        assert_eq!(s.status(MERKLE).await["leaves"], leaves + 1, "{case}");
        s.stop().await;
        versions.push((case, version));
    }
}

/// With a small `checkpoint_every`, checkpoints are written in the background while writes go
/// on, and the log is compacted to the records after them; a restart recovers everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_checkpoints_compact_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    for role in config.roles.values_mut() {
        role.checkpoint_every = 3;
    }
    let running = tuf_signer::start(config).await.unwrap();
    let s = Signer {
        addr: running.local_addr(),
        running: Some(running),
        data: dir.path().to_owned(),
    };
    let state = dir.path().join("state/crates.io");
    let names: Vec<String> = (0..40).map(|i| format!("ab/cd/abcd{i}")).collect();
    for name in &names {
        let r = s
            .write(
                MERKLE,
                "PUT",
                &format!("/api/v1/crates.io/targets/{name}"),
                None,
                name.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = s
            .write(
                CLASSIC,
                "PUT",
                &format!("/api/v1/releases/targets/{name}"),
                None,
                name.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Between batches the sequencer collects the finished checkpoint (a base or, with 40
    // leaves and 3 changes, mostly deltas after it) and compacts the log.
    let mut compacted = false;
    for _ in 0..100 {
        let checkpoint = tuf_signer::internals::checkpoint::CheckpointFiles::new(&state)
            .load(false)
            .unwrap()
            .base;
        if checkpoint.seq > 0 {
            let wal = std::fs::read(state.join("wal.log")).unwrap();
            let first = (wal.len() >= 8).then(|| {
                let len = u32::from_le_bytes(wal[..4].try_into().unwrap()) as usize;
                serde_json::from_slice::<serde_json::Value>(&wal[8..8 + len]).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            });
            if first.is_none_or(|f| f > checkpoint.seq) {
                assert!(first.is_none_or(|f| f == checkpoint.seq + 1));
                compacted = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(compacted, "no background checkpoint compacted the log");
    s.stop().await;
    let s = Signer::start(dir.path()).await;
    assert_eq!(s.status(MERKLE).await["leaves"], 40);
    assert_eq!(s.status(CLASSIC).await["leaves"], 40);
    s.stop().await;
}

#[test]
fn cli_key_export_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_tuf-signer");
    let out = std::process::Command::new(bin)
        .args(["key", "export", "--role", "rustup", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("-----BEGIN PUBLIC KEY-----"), "{text}");
    let key_id = text
        .lines()
        .find_map(|l| l.strip_prefix("key ID: "))
        .unwrap()
        .to_owned();
    let json_start = text.find('{').unwrap();
    let keys: serde_json::Value = serde_json::from_str(&text[json_start..]).unwrap();
    assert_eq!(keys[&key_id]["keytype"], "ed25519");
    // The exported key is the one the generated key file holds.
    let signer = FileSigner::load(data.join("keys/rustup.pem")).unwrap();
    assert_eq!(signer.public_key().key_id_hex(), key_id);

    let out = std::process::Command::new(bin)
        .args(["key", "export", "--role", "nope", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no role \"nope\""));

    let index = dir.path().join("index");
    for (path, bytes) in [
        ("1/a", "a"),
        ("se/rd/serde", "serde"),
        ("config.json", "{}"),
    ] {
        std::fs::create_dir_all(index.join(path).parent().unwrap()).unwrap();
        std::fs::write(index.join(path), bytes).unwrap();
    }
    let out = std::process::Command::new(bin)
        .args(["import", "--role", "crates.io", "--data-dir"])
        .arg(&data)
        .arg(&index)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 leaves"));
}
