//! The signer attacked from outside, as a stranger or a careless operator would: each test is
//! one finding of the hardening review and fails on the code as it was before the fix.
//!
//! - a batch too large for one round is refused before it is acknowledged, and a batch that is
//!   acknowledged survives `kill -9` with no timestamp version signed twice;
//! - `import` and `serve` never sign a published version a second time;
//! - target names cannot land on, or block, another target's bytes; look-alike names are
//!   refused with their own codes; concurrent identical uploads all succeed;
//! - error bodies and `/healthz` never carry internal paths or OS errors;
//! - bodies are bounded before they are read and cut off when they trickle;
//! - downloads are streamed (memory does not grow with clients that do not read);
//! - a flood of multi-proof requests cannot starve `/healthz` or writers.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    MERKLE, Signer, TestConfig, assert_history_kept, index_name, kill9, published_timestamps,
    request, sha256_hex, timestamp_version, upserts,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn bearer(data: &Path) -> String {
    format!("Bearer {}", common::dev_token(data, MERKLE))
}

async fn put_signed(addr: SocketAddr, data: &Path, name: &str, body: &[u8]) -> Value {
    let auth = bearer(data);
    let r = request(
        addr,
        "PUT",
        &format!("/api/v1/crates.io/targets/{name}?wait=signed"),
        &[("Authorization", &auth)],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Finding 1: with raised limits an 800,000-change batch was answered `durable`, and after
/// `kill -9` the restart cut it off as a "torn tail" and signed another timestamp under its
/// version. Now such a batch is refused before anything is acknowledged; a batch that is
/// acknowledged is all there after `kill -9`, and no version is signed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_too_large_for_a_round_is_refused_and_an_acknowledged_one_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = TestConfig::new()
        .limit("max_json_bytes", "536870912")
        .limit("max_batch_changes", "2000000")
        .limit("max_unsigned_changes", "2000000")
        .write(dir.path(), &data);
    let (mut child, addr) = common::start_binary(&config, &[]);
    put_signed(addr, &data, "se/rd/serde", b"serde").await;
    let version = timestamp_version(&data, MERKLE);
    let before = published_timestamps(&data, MERKLE);

    let auth = bearer(&data);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let t = Instant::now();
    let body = upserts(0..800_000);
    eprintln!("built in {:?}", t.elapsed());
    let r = request(addr, "POST", "/api/v1/crates.io/batch", &headers, &body).await;
    eprintln!("answered in {:?}", t.elapsed());
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.error_code(), "round_too_large");
    assert_eq!(
        timestamp_version(&data, MERKLE),
        version,
        "nothing was signed"
    );

    // A batch that fits is acknowledged; kill -9 at once, before or while it is signed.
    let r = request(
        addr,
        "POST",
        "/api/v1/crates.io/batch",
        &headers,
        &upserts(0..100_000),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "durable");
    kill9(&mut child);

    let (mut child, addr) = common::start_binary(&config, &[]);
    let status = request(addr, "GET", "/api/v1/crates.io/status", &[], b"")
        .await
        .json();
    assert_eq!(status["leaves"], 100_001, "{status}");
    assert!(status["timestamp_version"].as_u64().unwrap() > version);
    let sample: Vec<String> = (0..100_000).step_by(997).map(index_name).collect();
    let r = request(
        addr,
        "POST",
        "/api/v1/crates.io/proofs",
        &[],
        &serde_json::to_vec(&json!({ "names": sample })).unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let proof = tuf_merkle::multiproof::MultiProof::from_json(
        &serde_json::to_vec(&r.json()["proof"]).unwrap(),
    )
    .unwrap();
    let root = tuf_merkle::hash::parse_hex(r.json()["merkle_root"].as_str().unwrap()).unwrap();
    proof.verify(&root).unwrap();
    assert_eq!(proof.targets().len(), sample.len());
    for (name, contents) in proof.targets() {
        assert!(contents.is_some(), "{name} was acknowledged and is missing");
    }
    assert_history_kept(&before, &published_timestamps(&data, MERKLE));
    kill9(&mut child);
}

fn signer_command(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tuf-signer"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("TUF_SIGNER_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `serve` expecting it to refuse to start; returns what it printed.
fn serve_refused(config: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuf-signer"))
        .args(["serve", "--config"])
        .arg(config)
        .env("TUF_SIGNER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return err;
        }
        assert!(Instant::now() < deadline, "serve did not refuse to start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Finding 6: after `serve` published timestamp 1, `import` advised moving the state aside;
/// doing so and serving again published a second, different timestamp 1. Now `import` refuses
/// any role that has published, with advice that cannot lead there, and `serve` refuses a state
/// that is behind its repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_import_serve_never_signs_a_version_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = TestConfig::new().write(dir.path(), &data);
    let (mut child, addr) = common::start_binary(&config, &[]);
    put_signed(addr, &data, "se/rd/serde", b"serde 1").await;
    kill9(&mut child);
    let before = published_timestamps(&data, MERKLE);
    assert!(!before.is_empty());

    let index = dir.path().join("index");
    std::fs::create_dir_all(index.join("3/s")).unwrap();
    std::fs::write(index.join("3/s/syn"), b"{\"name\":\"syn\"}\n").unwrap();
    let import = |config: &Path| {
        signer_command(
            &["import", "--role", MERKLE, index.to_str().unwrap()],
            config,
        )
    };
    let out = import(&config);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("already published timestamp version"), "{err}");
    assert!(
        !err.contains("aside"),
        "the advice must not lead to a re-signed version: {err}"
    );

    // What the old advice said: move the state aside. Import still refuses, and serve refuses
    // to start rather than sign version 1 again.
    let state = data.join("state").join(MERKLE);
    let aside = data.join("state-aside");
    std::fs::rename(&state, &aside).unwrap();
    assert!(!import(&config).status.success());
    let err = serve_refused(&config);
    assert!(
        err.contains("behind") && err.contains("Restore the state"),
        "{err}"
    );
    assert_history_kept(&before, &published_timestamps(&data, MERKLE));

    // With its state back, the role goes on above the published versions.
    std::fs::remove_dir_all(&state).ok();
    std::fs::rename(&aside, &state).unwrap();
    let (mut child, addr) = common::start_binary(&config, &[]);
    let v = put_signed(addr, &data, "se/rd/serde", b"serde 2").await;
    let latest = *before.keys().last().unwrap();
    assert!(v["timestamp_version"].as_u64().unwrap() > latest);
    assert_history_kept(&before, &published_timestamps(&data, MERKLE));
    kill9(&mut child);
}

/// Finding 5: two consistent-snapshot layouts on one disk let one name's bytes land on another
/// name's path, or block it; concurrent identical uploads got spurious 503s; look-alike names
/// were accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_cannot_overwrite_or_block_each_other_and_look_alikes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let role = common::CLASSIC;
    let put = |name: String, body: &'static [u8]| {
        let s = &s;
        async move {
            s.write(
                role,
                "PUT",
                &format!("/api/v1/{role}/targets/{name}"),
                None,
                body,
            )
            .await
        }
    };
    // Names shaped like consistent-snapshot file names are refused.
    let h = sha256_hex(b"victim");
    for name in [
        format!("{h}.a/b"),
        format!("a/{h}.b"),
        format!("{h}.tool/blocker"),
    ] {
        let r = put(name.clone(), b"x").await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "path_hash_prefix".into()),
            "{name}"
        );
    }
    // A name that is a directory of another with identical bytes: the second is refused with
    // its own code and the first one's bytes stay where they are.
    assert_eq!(put("tool/x".into(), b"same").await.status, 200);
    let r = put("tool".into(), b"same").await;
    assert_eq!(
        (r.status, r.error_code()),
        (409, "target_path_conflict".into()),
        "{}",
        r.text()
    );
    let same = sha256_hex(b"same");
    let first = s
        .req("GET", &format!("/{role}/targets/tool/{same}.x"), &[], b"")
        .await;
    assert_eq!(
        (first.status, first.body.as_slice()),
        (200, b"same".as_slice())
    );
    // Other bytes under that name are fine.
    assert_eq!(put("tool".into(), b"other").await.status, 200);
    // The other order: `lib` first, then `lib/x/y` with the same bytes (tough's directory
    // `SHA256.lib/x` would have to pass through the file `SHA256.lib`).
    assert_eq!(put("lib".into(), b"same2").await.status, 200);
    let r = put("lib/x/y".into(), b"same2").await;
    assert_eq!(
        (r.status, r.error_code()),
        (409, "target_path_conflict".into()),
        "{}",
        r.text()
    );

    // 64 concurrent identical uploads of a new name all succeed.
    let auth = format!("Bearer {}", s.token(role));
    let uploads: Vec<_> = (0..64)
        .map(|_| {
            let (addr, auth) = (s.addr, auth.clone());
            tokio::spawn(async move {
                request(
                    addr,
                    "PUT",
                    "/api/v1/releases/targets/dist/same.tar",
                    &[("Authorization", &auth)],
                    b"identical bytes",
                )
                .await
            })
        })
        .collect();
    for u in uploads {
        let r = u.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }

    // Look-alike names, each with its own code, and nothing applied.
    for (name, code) in [
        ("cafe%CC%81.txt", "path_not_nfc"),
        ("tool%E2%80%8B", "path_invisible_character"),
        ("evil%E2%80%AEgpj.exe", "path_bidi_control"),
        ("tool%20", "path_whitespace"),
        ("%EF%BD%94ool", "path_confusable"),
        ("p%D0%B0ypal", "path_mixed_script"),
    ] {
        let r = put(name.into(), b"x").await;
        assert_eq!((r.status, r.error_code()), (400, code.into()), "{name}");
    }
    let status = s.status(role).await;
    // tool/x, tool, dist/same.tar and lib.
    assert_eq!(status["leaves"], 4, "{status}");

    // The static server never follows a symlink planted in the repository.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"secret").unwrap();
    let repo = dir.path().join("repo").join(role);
    std::os::unix::fs::symlink(&secret, repo.join("leak.json")).unwrap();
    std::os::unix::fs::symlink(dir.path(), repo.join("up")).unwrap();
    for path in ["leak.json", "up/secret"] {
        let r = s.req("GET", &format!("/{role}/{path}"), &[], b"").await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    s.stop().await;
}

/// Finding 7: errors over HTTP and `/healthz` carried internal paths and pids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_healthz_carry_codes_never_paths() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let secret_words = |text: &str| {
        let data = dir.path().to_string_lossy().into_owned();
        assert!(!text.contains(&data), "internal path leaked: {text}");
        assert!(!text.contains("os error"), "OS error leaked: {text}");
        assert!(
            !text.contains(&std::process::id().to_string()),
            "pid leaked: {text}"
        );
    };
    // Break publishing: the change-record directory becomes a file.
    let repo = dir.path().join("repo").join(MERKLE);
    std::fs::remove_dir_all(repo.join("changes")).unwrap();
    std::fs::write(repo.join("changes"), b"not a directory").unwrap();
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
            None,
            b"serde",
        )
        .await;
    assert_eq!((r.status, r.error_code()), (503, "not_signed".into()));
    secret_words(&r.text());
    let h = s.req("GET", "/healthz", &[], b"").await;
    assert_eq!(h.status, 503);
    assert_eq!(h.json()["roles"][MERKLE]["code"], "publish_failed");
    secret_words(&h.text());
    // Break storing uploads of the classic role the same way.
    let targets = dir
        .path()
        .join("repo")
        .join(common::CLASSIC)
        .join("targets");
    std::fs::create_dir_all(targets.parent().unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&targets);
    std::fs::write(&targets, b"not a directory").unwrap();
    let r = s
        .write(
            common::CLASSIC,
            "PUT",
            "/api/v1/releases/targets/dist/a.tar",
            None,
            b"bytes",
        )
        .await;
    assert_eq!((r.status, r.error_code()), (503, "storage_failed".into()));
    secret_words(&r.text());

    // Repaired, the role publishes again (the round is retried) and /healthz is ok.
    std::fs::remove_file(repo.join("changes")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.req("GET", "/healthz", &[], b"").await.status != 200 {
        assert!(Instant::now() < deadline, "the role did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
}

/// Opens a connection and sends `head` (a request head without its blank line).
async fn raw(addr: SocketAddr, head: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream
}

async fn read_status(stream: &mut tokio::net::TcpStream, within: Duration) -> u16 {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(within, stream.read(&mut buf))
        .await
        .expect("no answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Finding 3: an announced `Content-Length` of 10^11 on `POST /proofs` just waited; a JSON PUT
/// read up to the upload limit before applying the JSON limit; bodies could trickle forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_bounded_before_reading_and_cut_off_when_they_trickle() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.server.body_timeout_secs = 2;
    let running = tuf_signer::start(config).await.unwrap();
    let addr = running.local_addr();
    let token = common::dev_token(dir.path(), MERKLE);

    let mut s = raw(
        addr,
        "POST /api/v1/crates.io/proofs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100000000000",
    )
    .await;
    assert_eq!(read_status(&mut s, Duration::from_secs(1)).await, 413);

    // The JSON limit (2,048 here) applies to a JSON PUT before anything is read, though the
    // upload limit (4,096) is larger.
    let mut s = raw(
        addr,
        &format!(
            "PUT /api/v1/crates.io/targets/se/rd/serde HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 3000"
        ),
    )
    .await;
    assert_eq!(read_status(&mut s, Duration::from_secs(1)).await, 413);

    // A body that trickles one byte a second is cut off at the deadline with 408.
    for head in [
        "POST /api/v1/crates.io/proofs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100".to_owned(),
        format!("POST /api/v1/crates.io/batch HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100"),
    ] {
        let started = Instant::now();
        let mut s = raw(addr, &head).await;
        let trickle = async {
            for _ in 0..10 {
                if s.write_all(b" ").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(4), trickle).await.ok();
        assert_eq!(read_status(&mut s, Duration::from_secs(2)).await, 408, "{head}");
        assert!(started.elapsed() < Duration::from_secs(6));
    }
    running.shutdown().await;
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Finding 3: published files were read whole into memory: 100 clients that asked for a
/// 16 MiB target and did not read took the RSS from 413 MB to 1.9 GB. Now they are streamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_streamed_so_clients_that_do_not_read_cost_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = TestConfig::new()
        .limit("max_upload_bytes", &(16 * 1024 * 1024).to_string())
        .write(dir.path(), &data);
    let (mut child, addr) = common::start_binary(&config, &[]);
    let big: Vec<u8> = (0..16 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let auth = format!("Bearer {}", common::dev_token(&data, common::CLASSIC));
    let r = request(
        addr,
        "PUT",
        "/api/v1/releases/targets/dist/big.tar",
        &[("Authorization", &auth)],
        &big,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let path = format!("/releases/targets/dist/{}.big.tar", sha256_hex(&big));
    let before = rss_kib(child.id());
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(raw(addr, &format!("GET {path} HTTP/1.1")).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = rss_kib(child.id());
    let grown = during.saturating_sub(before);
    assert!(
        grown < 200 * 1024,
        "RSS grew by {grown} KiB with 100 clients not reading a 16 MiB file"
    );
    // One that reads gets every byte.
    let r = request(addr, "GET", &path, &[], b"").await;
    assert!(r.body == big, "the streamed file differs");
    drop(held);
    kill9(&mut child);
}

/// Finding 3/4: 32 clients flooding 100,000-name proof requests pushed `/healthz` to 6 s. Now
/// the concurrent proof work is bounded: over it requests get 503 `busy` with `Retry-After`,
/// counted in `/metrics`, and `/healthz` and writes keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_flood_cannot_starve_healthz_or_writers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = TestConfig::new()
        .limit("max_concurrent_proofs", "1")
        .limit("max_json_bytes", "4194304")
        .limit("max_batch_changes", "10000")
        .write(dir.path(), &data);
    let (mut child, addr) = common::start_binary(&config, &[]);
    let auth = bearer(&data);
    let r = request(
        addr,
        "POST",
        "/api/v1/crates.io/batch?wait=signed",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &upserts(0..10_000),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let names: Vec<String> = (0..10_000).map(index_name).collect();
    let body = serde_json::to_vec(&json!({ "names": names })).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flood = Vec::new();
    for _ in 0..16 {
        let (body, stop) = (body.clone(), stop.clone());
        flood.push(tokio::spawn(async move {
            let mut busy = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = request(addr, "POST", "/api/v1/crates.io/proofs", &[], &body).await;
                if r.status == 503 {
                    assert_eq!(r.error_code(), "busy");
                    assert!(r.headers.iter().any(|(k, _)| k == "retry-after"));
                    busy += 1;
                } else {
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            }
            busy
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        let r = request(addr, "GET", "/healthz", &[], b"").await;
        assert_eq!(r.status, 200);
        worst = worst.max(started.elapsed());
        if i % 5 == 0 {
            let started = Instant::now();
            put_signed(addr, &data, "se/rd/serde", format!("serde {i}").as_bytes()).await;
            worst = worst.max(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut busy = 0;
    for f in flood {
        busy += f.await.unwrap();
    }
    assert!(
        worst < Duration::from_secs(1),
        "healthz or a write took {worst:?}"
    );
    assert!(busy > 0, "the flood was never told to back off");
    let metrics = request(addr, "GET", "/metrics", &[], b"").await.text();
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tuf_signer_proof_requests_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(refused >= busy as u64, "{refused} < {busy}");
    kill9(&mut child);
}
