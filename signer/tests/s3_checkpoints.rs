//! Incremental checkpoints in a bucket, through the real binary with `[storage] type = "s3"`
//! against moto's S3 on 127.0.0.1: after a base, a checkpoint stores only the changed leaves as
//! a new delta object (`checkpoints/{seq}-{base}-{prev}-{prev_crc}-{crc}.delta`), far smaller
//! than the base; a restart after `kill -9` recovers every acknowledged write from base +
//! deltas + log; a delta that does not chain (an orphan) is ignored; a chaining delta that is
//! damaged is refused, the error naming the object.
//!
//! Needs moto in the test virtualenv (`bash scripts/test-env.sh`); skipped without it, except
//! under CI, where a missing environment fails the test.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{MERKLE, TestConfig, kill9, request};
use tuf_keys::test_support::MotoKms;
use tuf_testkit::config::ProductionKeys;
use tuf_testkit::data::upserts;
use tuf_testkit::s3::{ENV, public_bucket};

const BUCKET: &str = "tuf-ckpt";
const PREFIX: &str = "prod";
/// Leaves written in one batch before the deltas, so that the base is large next to them.
const BULK: usize = 2000;

async fn status(addr: SocketAddr) -> serde_json::Value {
    let r = request(addr, "GET", &format!("/api/v1/{MERKLE}/status"), &[], b"").await;
    serde_json::from_slice(&r.body).unwrap_or_default()
}

/// Waits until the node leads the role and has recovered it (a role that signed before has a
/// timestamp version again; `fresh`: one that never did).
async fn wait_until_leading(addr: SocketAddr, fresh: bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = status(addr).await;
        if s["leading"] == true && (fresh || s["timestamp_version"].as_u64() > Some(0)) {
            return s;
        }
        assert!(Instant::now() < deadline, "not leading after 30 s: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn batch(addr: SocketAddr, token: &str, range: std::ops::Range<usize>) {
    let r = request(
        addr,
        "POST",
        &format!("/api/v1/{MERKLE}/batch?wait=signed"),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        &upserts(range),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The role's checkpoint objects (keys relative to its state prefix) and their sizes.
async fn checkpoints(s3: &aws_sdk_s3::Client) -> Vec<(String, u64)> {
    let under = format!("{PREFIX}/state/{MERKLE}/");
    let out = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{under}checkpoints/"))
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .map(|o| {
            (
                o.key().unwrap()[under.len()..].to_owned(),
                o.size().unwrap_or(0) as u64,
            )
        })
        .collect()
}

fn deltas(all: &[(String, u64)]) -> Vec<(String, u64)> {
    all.iter()
        .filter(|(k, _)| k.ends_with(".delta"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_checkpoints_are_deltas_that_recover_and_refuse_damage() {
    let Some(moto) =
        MotoKms::start_or_skip("bucket_checkpoints_are_deltas_that_recover_and_refuse_damage")
    else {
        return;
    };
    let endpoint = moto.endpoint_url().to_owned();
    let s3 = public_bucket(&endpoint, BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = ProductionKeys::create(&dir.path().join("keys")).await;
    let config = TestConfig::new()
        .production(&keys_dir)
        .s3_storage(&endpoint, BUCKET, PREFIX)
        .limit("max_json_bytes", "1048576")
        .limit("max_batch_changes", "5000")
        .storage("lease_seconds", "3")
        .merkle_role("checkpoint_every = 10")
        .write(dir.path(), &dir.path().join("data"));
    let token = keys_dir.token(MERKLE);
    let (mut child, addr) = common::start_binary(&config, &ENV);
    wait_until_leading(addr, true).await;

    // A large batch (its checkpoint is a base), then single changes: deltas.
    batch(addr, &token, 0..BULK).await;
    let mut written = BULK;
    let deadline = Instant::now() + Duration::from_secs(60);
    while deltas(&checkpoints(&s3).await).len() < 3 {
        assert!(Instant::now() < deadline, "{:?}", checkpoints(&s3).await);
        batch(addr, &token, written..written + 1).await;
        written += 1;
    }
    let all = checkpoints(&s3).await;
    let (base_key, base_bytes) = all
        .iter()
        .filter(|(k, _)| k.ends_with(".bin"))
        .max()
        .cloned()
        .unwrap();
    let before = deltas(&all);
    for (key, bytes) in &before {
        assert!(
            bytes * 20 < base_bytes,
            "{key}: {bytes} vs {base_key}: {base_bytes}"
        );
    }
    eprintln!(
        "base {base_key}: {base_bytes} bytes; deltas: {:?}",
        before.iter().map(|d| d.1).collect::<Vec<_>>()
    );
    // Some acknowledged writes only in the log, then a crash.
    batch(addr, &token, written..written + 3).await;
    written += 3;
    kill9(&mut child);

    // An orphan: a delta after a checkpoint that is not there (its bytes are not even read).
    let orphan = format!(
        "checkpoints/{:020}-{}-{:020}-00000000-00000000.delta",
        u64::MAX / 2,
        &base_key["checkpoints/".len().."checkpoints/".len() + 20],
        u64::MAX / 4
    );
    s3.put_object()
        .bucket(BUCKET)
        .key(format!("{PREFIX}/state/{MERKLE}/{orphan}"))
        .body(b"not a delta".to_vec().into())
        .send()
        .await
        .unwrap();

    // Restart: base + deltas + log hold every acknowledged write.
    let (mut child, addr) = common::start_binary(&config, &ENV);
    let s = wait_until_leading(addr, false).await;
    assert_eq!(s["leaves"], written, "{s}");
    batch(addr, &token, written..written + 1).await;
    written += 1;
    kill9(&mut child);
    let (mut child, addr) = common::start_binary(&config, &ENV);
    let s = wait_until_leading(addr, false).await;
    assert_eq!(s["leaves"], written, "{s}");
    kill9(&mut child);

    // Damage: the newest delta (the chain's last) cut short (as a bad copy or a faulty store would).
    let chained: Vec<(String, u64)> = deltas(&checkpoints(&s3).await)
        .into_iter()
        .filter(|(k, _)| *k != orphan)
        .collect();
    let (victim, _) = chained.iter().max().cloned().unwrap();
    let full = format!("{PREFIX}/state/{MERKLE}/{victim}");
    let bytes = s3
        .get_object()
        .bucket(BUCKET)
        .key(&full)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    s3.put_object()
        .bucket(BUCKET)
        .key(&full)
        .body(bytes[..bytes.len() / 2].to_vec().into())
        .send()
        .await
        .unwrap();
    // The node refuses to recover the role and says which object is damaged.
    let mut refused = Command::new(common::SIGNER_BINARY)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .envs(ENV.iter().copied())
        .env("TUF_SIGNER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = refused.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = victim.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&wanted) {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60));
    kill9(&mut refused);
    let line = line.expect("an error naming the damaged delta");
    assert!(line.contains("truncated or damaged"), "{line}");
}
