//! Fault injection with real parts: the KMS emulator cut off while writes go on and the signer
//! killed during the outage; a data directory on a full disk.
//!
//! Each ends with the same three checks: every acknowledged change is present, the timestamp
//! versions published before the fault keep their exact bytes (none signed twice), and the
//! auditor replays the whole history from version 1 with no gap and every root reproduced.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    MERKLE, TestConfig, assert_history_kept, index_name, kill9, published_timestamps, request,
    sha256_hex, upserts,
};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tuf_keys::test_support::{KeySpec, MotoKms, REGION};

/// Every name in `names` has a leaf in the latest signed tree (checked with a verified
/// multi-proof, chunked to the server's name limit).
async fn assert_present(addr: SocketAddr, names: &[String]) {
    for chunk in names.chunks(5_000) {
        let r = request(
            addr,
            "POST",
            "/api/v1/crates.io/proofs",
            &[],
            &serde_json::to_vec(&json!({ "names": chunk })).unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let root = tuf_merkle::hash::parse_hex(v["merkle_root"].as_str().unwrap()).unwrap();
        let proof = tuf_merkle::multiproof::MultiProof::from_json(
            &serde_json::to_vec(&v["proof"]).unwrap(),
        )
        .unwrap();
        proof.verify(&root).unwrap();
        for (name, contents) in proof.targets() {
            assert!(contents.is_some(), "{name} was acknowledged and is missing");
        }
    }
}

/// A TCP proxy on loopback in front of the KMS emulator. Cut, it closes every connection it
/// holds and every new one at once, as a network partition or a KMS outage looks to a client.
struct Switch {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Switch {
    async fn start(upstream: SocketAddr) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (up2, generation2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let born = generation2.load(Ordering::SeqCst);
                let generation = generation2.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let cut = async {
                        while generation.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        () = cut => {}
                    }
                });
            }
        });
        Switch {
            addr,
            up,
            generation,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Issue 8, fault injection: the KMS emulator unreachable while 100,000 changes are written
/// durable, the backlog bound reached (503 with `Retry-After`), `kill -9` during the outage,
/// then KMS back: every acknowledged change is signed, versions strictly increase, none is
/// signed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kms_outage_with_kill_9_loses_nothing_and_signs_no_version_twice() {
    let Some(kms) = MotoKms::start_or_skip("a_kms_outage_with_kill_9_loses_nothing") else {
        return;
    };
    let key_id = kms.create_key(KeySpec::EccNistP256).await.unwrap();
    let upstream: SocketAddr = kms
        .endpoint_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let switch = Switch::start(upstream).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = TestConfig::new()
        .limit("max_json_bytes", "16777216")
        .limit("max_batch_changes", "50000")
        .limit("max_unsigned_changes", "100000")
        .merkle_role(&format!(
            "online_key = {{ type = \"kms\", key_id = \"{key_id}\", region = \"{REGION}\", endpoint = \"http://{}\" }}",
            switch.addr
        ))
        .write(dir.path(), &data);
    let env = [
        ("AWS_ACCESS_KEY_ID", "moto-access-key"),
        ("AWS_SECRET_ACCESS_KEY", "moto-secret-key"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let (mut child, addr) = common::start_binary(&config, &env);
    let auth = format!("Bearer {}", common::dev_token(&data, MERKLE));
    let json_auth = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let r = request(
        addr,
        "POST",
        "/api/v1/crates.io/batch?wait=signed",
        &json_auth,
        &upserts(0..10),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let before = published_timestamps(&data, MERKLE);

    switch.cut();
    for chunk in [10..50_010, 50_010..100_010] {
        let r = request(
            addr,
            "POST",
            "/api/v1/crates.io/batch",
            &json_auth,
            &upserts(chunk),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["status"], "durable");
    }
    // Signing is down: the role says so, and holds every change.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = request(addr, "GET", "/api/v1/crates.io/status", &[], b"")
            .await
            .json();
        if status["error_code"] == "signing_failed" && status["unsigned_changes"] == 100_000 {
            break status;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["leaves"], 100_010);
    // The backlog is full: a write is refused with 503 and Retry-After, and changes nothing.
    let r = request(
        addr,
        "POST",
        "/api/v1/crates.io/batch",
        &json_auth,
        &upserts(200_000..200_001),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (503, "backlog_full".into()),
        "{}",
        r.text()
    );
    assert!(r.headers.iter().any(|(k, _)| k == "retry-after"));
    let health = request(addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["roles"][MERKLE]["code"], "signing_failed");

    kill9(&mut child);
    switch.restore();
    let (mut child, addr) = common::start_binary(&config, &env);
    let names: Vec<String> = (0..100_010).map(index_name).collect();
    assert_present(addr, &names).await;
    let status = request(addr, "GET", "/api/v1/crates.io/status", &[], b"")
        .await
        .json();
    assert_eq!(status["unsigned_changes"], 0, "{status}");
    assert_eq!(status["leaves"], 100_010);
    assert_history_kept(&before, &published_timestamps(&data, MERKLE));
    kill9(&mut child);
    common::check_history(&data);
}

/// A tmpfs of `size` mounted on `dir`, unmounted on drop. Needs root (CI runs the tests as
/// root); elsewhere the test is skipped with the reason.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_owned())),
            other => {
                let why = format!("cannot mount a tmpfs (needs root): {other:?}");
                assert!(!tuf_keys::test_support::in_ci(), "{why}");
                eprintln!("SKIPPED: {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the filesystem holding `dir` with `dir/filler` until writes fail.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let small = [0xa5u8; 512];
    while f.write_all(&small).is_ok() {}
    path
}

/// Issue 8, fault injection: a full disk refuses writes with 503 `storage_full` and
/// `Retry-After`, changes nothing, and the role recovers by itself when space returns, losing
/// nothing (also across `kill -9`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_tmpfs) = Tmpfs::mount(&dir.path().join("disk"), "16m") else {
        return;
    };
    let data = dir.path().join("disk").join("data");
    let config = TestConfig::new().write(dir.path(), &data);
    let (mut child, addr) = common::start_binary(&config, &[]);
    let auth = format!("Bearer {}", common::dev_token(&data, MERKLE));
    let put = |i: usize, wait: &'static str| {
        let auth = auth.clone();
        async move {
            let body = json!({ "sha256": sha256_hex(&i.to_le_bytes()), "length": i }).to_string();
            request(
                addr,
                "PUT",
                &format!("/api/v1/crates.io/targets/{}?wait={wait}", index_name(i)),
                &[
                    ("Authorization", auth.as_str()),
                    ("Content-Type", "application/json"),
                ],
                body.as_bytes(),
            )
            .await
        }
    };
    let mut acked = Vec::new();
    for i in 0..5 {
        assert_eq!(put(i, "signed").await.status, 200);
        acked.push(index_name(i));
    }
    let before = published_timestamps(&data, MERKLE);

    let filler = fill(&dir.path().join("disk"));
    let mut refused = None;
    for i in 5..500 {
        let r = put(i, "durable").await;
        match r.status {
            200 => acked.push(index_name(i)),
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!("{other}: {}", r.text()),
        }
    }
    let r = refused.expect("a full disk never refused a write");
    assert_eq!(r.error_code(), "storage_full", "{}", r.text());
    assert!(r.headers.iter().any(|(k, _)| k == "retry-after"));
    let health = request(addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(health.status, 503, "{}", health.text());

    // Space returns: the role recovers by itself (retrying its round) and takes writes again.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while request(addr, "GET", "/healthz", &[], b"").await.status != 200 {
        assert!(Instant::now() < deadline, "the role did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 500..505 {
        let r = put(i, "signed").await;
        assert_eq!(r.status, 200, "{}", r.text());
        acked.push(index_name(i));
    }
    kill9(&mut child);
    let (mut child, addr) = common::start_binary(&config, &[]);
    assert_present(addr, &acked).await;
    let status: Value = request(addr, "GET", "/api/v1/crates.io/status", &[], b"")
        .await
        .json();
    assert_eq!(status["error"], Value::Null, "{status}");
    assert_history_kept(&before, &published_timestamps(&data, MERKLE));
    kill9(&mut child);
    common::check_history(&data);
}
