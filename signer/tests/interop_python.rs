//! python-tuf's ngclient `Updater` loads what the signer publishes, over HTTP from the running
//! signer: the merkle role (its trusted timestamp carries `merkle_root`, against which the proofs
//! the signer serves verify) and a classic role, whose target it downloads and verifies.
//!
//! Needs `tuf` in the test virtualenv (`bash scripts/test-env.sh`); skipped without it, except
//! under CI, where a missing environment fails the test.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{CLASSIC, MERKLE, Signer};
use serde_json::Value;
use tuf_keys::test_support::{in_ci, test_python};
use tuf_merkle::Proof;

fn python_has_tuf() -> Result<(), String> {
    let python = test_python();
    let ok = std::process::Command::new(&python)
        .args(["-c", "import tuf.ngclient"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} cannot import tuf.ngclient (run scripts/test-env.sh)",
            python.display()
        ))
    }
}

async fn ngclient(work: &Path, root: &Path, url: &str, target: Option<&str>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ngclient.py");
    let mut cmd = std::process::Command::new(test_python());
    cmd.arg(script).arg(work).arg(root).arg(url);
    if let Some(t) = target {
        cmd.arg(t);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf refused {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tuf_loads_what_we_publish() {
    if let Err(why) = python_has_tuf() {
        assert!(!in_ci(), "{why}");
        eprintln!("SKIPPED python_tuf_loads_what_we_publish: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Signer::start(&data).await;
    for i in 0..2 {
        let r = s
            .write(
                MERKLE,
                "PUT",
                "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
                None,
                format!("v{i}").as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = s
        .write(
            CLASSIC,
            "PUT",
            "/api/v1/releases/targets/dist/channel-rust-stable.toml?wait=signed",
            None,
            b"[pkg.rust]",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The merkle role: python-tuf trusts the timestamp; its merkle_root verifies our proof.
    let root = data.join("repo/crates.io/1.root.json");
    let url = format!("http://{}/crates.io", s.addr);
    let out = ngclient(&dir.path().join("py-merkle"), &root, &url, None).await;
    let (version, _) = s.verified_timestamp(MERKLE).await;
    assert_eq!(out["timestamp_version"], version);
    let merkle_root =
        tuf_merkle::hash::parse_hex(out["merkle_root"].as_str().expect("merkle_root")).unwrap();
    let r = s
        .req("GET", "/api/v1/crates.io/proof/se/rd/serde", &[], b"")
        .await;
    let proof = Proof::from_json(&serde_json::to_vec(&r.json()["proof"]).unwrap()).unwrap();
    proof.verify(&merkle_root).unwrap();

    // The classic role: python-tuf downloads the target and checks it against targets.json.
    let root = data.join("repo/releases/1.root.json");
    let url = format!("http://{}/releases", s.addr);
    let out = ngclient(
        &dir.path().join("py-classic"),
        &root,
        &url,
        Some("dist/channel-rust-stable.toml"),
    )
    .await;
    assert_eq!(out["target_hex"], hex::encode(b"[pkg.rust]"));
    s.stop().await;
}
