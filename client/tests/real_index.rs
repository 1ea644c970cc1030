//! `tuf-verify` (the built binary) against a running signer serving the real crates.io index
//! files of `../shared/data/`: imported with `tuf-signer import`, then updated through the API
//! with the real 2026 files; the CLI verifies every file, audits the history, signs an
//! attestation and verifies again requiring it.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{ROLE, Signer, real_index};

fn tuf_verify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tuf-verify"))
        .args(args)
        .output()
        .expect("run tuf-verify")
}

fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if e.path().is_dir() {
            files_under(&e.path(), &rel, out);
        } else {
            out.push(rel);
        }
    }
}

#[test]
fn tuf_verify_checks_real_index_files_served_by_a_signer() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(index2019) = real_index("crates-index-2019-sample.tar.gz", &tmp.path().join("i2019"))
    else {
        return;
    };
    let Some(index2026) = real_index("crates-index-2026-sample.tar.gz", &tmp.path().join("i2026"))
    else {
        return;
    };
    // 3,945 crates of 2019 imported; the 88 of 2026 then published over HTTP, as a live index.
    let signer = Signer::start_after(|config| {
        let summary = tuf_signer::import::import(config, ROLE, &index2019, false).expect("import");
        assert!(summary.leaves > 3900, "{}", summary.leaves);
    });
    let mut names2026 = Vec::new();
    files_under(&index2026, "", &mut names2026);
    for n in &names2026 {
        signer.publish(ROLE, n, &std::fs::read(index2026.join(n)).unwrap());
    }

    let state = tmp.path().join("state");
    let root = signer.repo(ROLE).join("1.root.json");
    let url = signer.url();
    let out = tuf_verify(&[
        "init",
        "--state",
        state.to_str().unwrap(),
        "--role",
        ROLE,
        "--root",
        root.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every 2019 file, in one multi-proof.
    let out = tuf_verify(&[
        "verify-many",
        "--state",
        state.to_str().unwrap(),
        "--repo",
        &url,
        "--dir",
        index2019.to_str().unwrap(),
        "--all",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A 2019 file that a 2026 file replaced is refused (its length and hash are not the
    // signed ones); check the others through the 2026 directory.
    let replaced: Vec<&String> = names2026
        .iter()
        .filter(|n| index2019.join(n).exists())
        .collect();
    if replaced.is_empty() {
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.lines().count() > 3900);
    } else {
        assert!(stderr.contains("but the signed leaf is {\""), "{stderr}");
    }

    // Every 2026 file, in one multi-proof, with its bytes checked.
    let out = tuf_verify(&[
        "verify-many",
        "--state",
        state.to_str().unwrap(),
        "--repo",
        &url,
        "--dir",
        index2026.to_str().unwrap(),
        "--all",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), names2026.len());
    assert!(stdout.lines().all(|l| l.contains(": present ")), "{stdout}");

    // One file at a time, and a tampered copy.
    let name = &names2026[0];
    let file = index2026.join(name);
    let out = tuf_verify(&[
        "verify",
        "--state",
        state.to_str().unwrap(),
        "--repo",
        &url,
        name,
        "--file",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Downloaded from the signer's repository and checked.
    let fetched = tmp.path().join("fetched");
    let out = tuf_verify(&[
        "verify",
        "--state",
        state.to_str().unwrap(),
        "--repo",
        &url,
        name,
        "--download",
        fetched.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let evil = tmp.path().join("evil");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(b"{\"name\":\"evil\"}\n");
    std::fs::write(&evil, bytes).unwrap();
    let out = tuf_verify(&[
        "verify",
        "--state",
        state.to_str().unwrap(),
        "--repo",
        &url,
        name,
        "--file",
        evil.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = tuf_verify(&[
        "verify",
        "--state",
        state.to_str().unwrap(),
        "--repo",
        &url,
        "ne/ve/never-published",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not present"));

    // Audit, attest, and require the attestation.
    let key = tmp.path().join("auditor.pem");
    let out = tuf_verify(&["auditor-key", "--key", key.to_str().unwrap()]);
    assert!(out.status.success());
    let keys = tmp.path().join("auditors.json");
    std::fs::write(&keys, &out.stdout).unwrap();
    let attestation = tmp.path().join("attestation.json");
    let out = tuf_verify(&[
        "audit",
        "--repo",
        &url,
        "--role",
        ROLE,
        "--root",
        root.to_str().unwrap(),
        "--attest-key",
        key.to_str().unwrap(),
        "--attest-out",
        attestation.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("consistent"), "{stdout}");
    let out = tuf_verify(&[
        "verify",
        "--state",
        state.to_str().unwrap(),
        "--repo",
        &url,
        "--require-attestation",
        keys.to_str().unwrap(),
        "--attestation",
        attestation.to_str().unwrap(),
        name,
        "--file",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
