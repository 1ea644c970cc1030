//! The real binary with `[storage] type = "s3"` against moto's S3 server on 127.0.0.1, through
//! the real aws-sdk-s3 client with credentials from the AWS environment chain: every published
//! object carries D8's Content-Type and Cache-Control, `timestamp.json` is written after what it
//! points at, the built-in server answers with the objects' ETags and 304s, and the bucket,
//! served by moto's own HTTP endpoint (`{endpoint}/{bucket}/{key}`), loads in tough, python-tuf
//! and the workspace's client (`tuf-verify`'s library, and the binary when it is built).
//!
//! Needs moto in the test virtualenv (`bash scripts/test-env.sh`); skipped without it, except
//! under CI, where a missing environment fails the test.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use common::{CLASSIC, MERKLE, TestConfig, request, sha256_hex};
use tough::{IntoVec, RepositoryLoader, TargetName, Transport, TransportError, TransportErrorKind};
use tuf_keys::test_support::{MotoKms, in_ci, test_python};
use tuf_testkit::config::ProductionKeys;
use tuf_testkit::s3::{ENV, keys, public_bucket};
use url::Url;

const BUCKET: &str = "tuf-repo";
const PREFIX: &str = "prod";

/// tough over plain HTTP on loopback (tough is built without its `http` feature here).
#[derive(Debug, Clone)]
struct LoopbackHttp;

/// One chunk, then the end.
struct Once(Option<bytes::Bytes>);

impl futures_core::Stream for Once {
    type Item = Result<bytes::Bytes, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }
}

#[async_trait::async_trait]
impl Transport for LoopbackHttp {
    async fn fetch(&self, url: Url) -> Result<tough::TransportStream, TransportError> {
        let addr: SocketAddr = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port().unwrap_or(80)
        )
        .parse()
        .map_err(|e| TransportError::new_with_cause(TransportErrorKind::Other, &url, e))?;
        let r = request(addr, "GET", url.path(), &[], b"").await;
        match r.status {
            200 => Ok(Box::pin(Once(Some(r.body.into())))),
            // S3 answers a missing key of a public bucket with 403 or 404.
            403 | 404 => Err(TransportError::new(TransportErrorKind::FileNotFound, &url)),
            s => Err(TransportError::new_with_cause(
                TransportErrorKind::Other,
                &url,
                format!("HTTP {s}"),
            )),
        }
    }
}

fn python_has_tuf() -> bool {
    std::process::Command::new(test_python())
        .args(["-c", "import tuf.ngclient"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Waits (at most 20 s) until the signer at `addr` leads `role`.
async fn wait_until_leading(addr: std::net::SocketAddr, role: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = request(addr, "GET", &format!("/api/v1/{role}/status"), &[], b"").await;
        let status: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        if status["leading"] == true {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{role}: not leading after 20 s: {}",
            r.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_publishes_a_bucket_that_tuf_clients_load() {
    let Some(moto) = MotoKms::start_or_skip("a_signer_publishes_a_bucket_that_tuf_clients_load")
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
        .write(dir.path(), &dir.path().join("data"));
    let (mut child, addr) = common::start_binary(&config, &ENV);
    // A node that shares a bucket starts as a standby and leads once it takes each role's lease.
    for role in [MERKLE, CLASSIC] {
        wait_until_leading(addr, role).await;
    }

    let auth = |role: &str| format!("Bearer {}", keys_dir.token(role));
    for i in 0..3 {
        let r = request(
            addr,
            "PUT",
            "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
            &[("Authorization", &auth(MERKLE))],
            format!("serde {i}").as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = request(
        addr,
        "PUT",
        "/api/v1/releases/targets/dist/a.txt?wait=signed",
        &[("Authorization", &auth(CLASSIC))],
        b"artifact",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Nothing of the repository is left under the data directory.
    assert!(
        !dir.path()
            .join("data/repo/releases/timestamp.json")
            .exists()
    );

    // Every published object: its Content-Type and Cache-Control (D8).
    let all = keys(&s3, BUCKET, &format!("{PREFIX}/repo/")).await;
    assert!(all.len() > 15, "{all:?}");
    for role in [MERKLE, CLASSIC] {
        let under = format!("{PREFIX}/repo/{role}/");
        let mut timestamp_modified = None;
        let mut latest_other = None;
        for key in all.iter().filter(|k| k.starts_with(&under)) {
            let rel = &key[under.len()..];
            let head = s3
                .head_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
            let ct = if rel.starts_with("targets/") {
                "application/octet-stream"
            } else {
                "application/json"
            };
            let cc = if rel == "timestamp.json" || rel == "root.json" {
                "public, max-age=30"
            } else {
                "public, max-age=31536000, immutable"
            };
            assert_eq!(head.content_type(), Some(ct), "{key}");
            assert_eq!(head.cache_control(), Some(cc), "{key}");
            let modified = head.last_modified().map(|t| t.as_nanos());
            if rel == "timestamp.json" {
                timestamp_modified = modified;
            } else if rel != "root.json" {
                latest_other = latest_other.max(modified);
            }
        }
        // timestamp.json is written after everything it points at (moto's clock has seconds:
        // this catches an order reversed by a second or more, the publisher's own test the
        // rest).
        assert!(timestamp_modified >= latest_other, "{role}");
        assert!(timestamp_modified.is_some(), "{role}: no timestamp.json");
    }

    // The built-in server serves the bucket's objects with their ETags, and 304s.
    let r = request(addr, "GET", "/crates.io/timestamp.json", &[], b"").await;
    assert_eq!(r.status, 200);
    let stored = s3
        .get_object()
        .bucket(BUCKET)
        .key(format!("{PREFIX}/repo/crates.io/timestamp.json"))
        .send()
        .await
        .unwrap();
    let etag = stored.e_tag().unwrap().to_owned();
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(r.header("cache-control"), Some("public, max-age=30"));
    assert_eq!(
        r.body,
        stored.body.collect().await.unwrap().into_bytes().to_vec()
    );
    let r = request(
        addr,
        "GET",
        "/crates.io/timestamp.json",
        &[("If-None-Match", &etag)],
        b"",
    )
    .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let target = format!("/releases/targets/dist/{}.a.txt", sha256_hex(b"artifact"));
    let r = request(addr, "GET", &target, &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"artifact");
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));

    // The bucket, as moto serves it, in real clients.
    let moto_addr: SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
    let base = format!("{endpoint}/{BUCKET}/{PREFIX}/repo");
    let root_of = |role: &str| {
        let path = format!("/{BUCKET}/{PREFIX}/repo/{role}/1.root.json");
        async move { request(moto_addr, "GET", &path, &[], b"").await.body }
    };

    // tough.
    for role in [MERKLE, CLASSIC] {
        let root = root_of(role).await;
        let metadata = Url::parse(&format!("{base}/{role}/")).unwrap();
        let targets = Url::parse(&format!("{base}/{role}/targets/")).unwrap();
        let repo = RepositoryLoader::new(&root, metadata, targets)
            .transport(LoopbackHttp)
            .load()
            .await
            .unwrap_or_else(|e| panic!("tough refused the {role} bucket: {e}"));
        if role == CLASSIC {
            let name = TargetName::new("dist/a.txt").unwrap();
            let stream = repo.read_target(&name).await.unwrap().expect("listed");
            assert_eq!(stream.into_vec().await.unwrap(), b"artifact");
        } else {
            assert!(repo.timestamp().signed._extra.contains_key("merkle_root"));
        }
    }

    // python-tuf.
    if python_has_tuf() {
        let root = dir.path().join("releases.1.root.json");
        std::fs::write(&root, root_of(CLASSIC).await).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ngclient.py");
        let mut cmd = std::process::Command::new(test_python());
        cmd.arg(script)
            .arg(dir.path().join("py"))
            .arg(&root)
            .arg(format!("{base}/{CLASSIC}"))
            .arg("dist/a.txt");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "python-tuf refused the bucket: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["target_hex"], hex::encode(b"artifact"));
    } else {
        assert!(!in_ci(), "python-tuf is missing from the test environment");
        eprintln!(
            "SKIPPED python-tuf part: no tuf.ngclient in {}",
            test_python().display()
        );
    }

    // The workspace's client, as `tuf-verify init` / `verify --download` run it (blocking).
    let state = dir.path().join("client-state");
    let root = root_of(CLASSIC).await;
    let base2 = base.clone();
    let state2 = state.clone();
    let verified = tokio::task::spawn_blocking(move || {
        tuf_client::Client::init(&state2, CLASSIC, tuf_client::Mode::Classic, &root).unwrap();
        let mut client =
            tuf_client::Client::open(&state2, tuf_client::transport::open(&base2)).unwrap();
        client.refresh().unwrap();
        client.download("dist/a.txt").unwrap()
    })
    .await
    .unwrap();
    assert!(verified.0.status.is_present(), "{}", verified.0);
    assert_eq!(verified.1.as_deref(), Some(&b"artifact"[..]));
    // And the binary itself, when it was built beside the signer's.
    let verify_bin = Path::new(common::SIGNER_BINARY).with_file_name("tuf-verify");
    if verify_bin.exists() {
        let state = dir.path().join("cli-state");
        let root_file = dir.path().join("releases.root.json");
        std::fs::write(&root_file, root_of(CLASSIC).await).unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new(&verify_bin)
                .args(args)
                .output()
                .unwrap()
        };
        let s = state.to_str().unwrap();
        let out = run(&[
            "init",
            "--state",
            s,
            "--role",
            CLASSIC,
            "--mode",
            "classic",
            "--root",
            root_file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = dir.path().join("a.txt");
        std::fs::write(&file, b"artifact").unwrap();
        let out = run(&[
            "verify",
            "--state",
            s,
            "--repo",
            &base,
            "dist/a.txt",
            "--file",
            file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&file, b"tampered").unwrap();
        let out = run(&[
            "verify",
            "--state",
            s,
            "--repo",
            &base,
            "dist/a.txt",
            "--file",
            file.to_str().unwrap(),
        ]);
        assert!(!out.status.success(), "a tampered file verified");
    } else {
        eprintln!(
            "NOTE: {} is not built; the bucket was checked through tuf-verify's library",
            verify_bin.display()
        );
    }
    common::kill9(&mut child);
}
