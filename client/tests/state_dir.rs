//! The client's state directory under hostile or concurrent use (issue 8): symlinks planted where
//! the client writes are never followed, and parallel runs of `tuf-verify` on one state
//! directory serialize, all succeed, and every name they verified is recorded.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{ROLE, Signer};
use tuf_client::{Client, Mode, State, Status};

/// Every file of the state directory the client writes, and the temporary names older releases
/// used for them (`.NAME.tmp`, fixed, so anyone who could write to the directory could plant
/// a symlink there).
const WRITTEN: [&str; 3] = ["root.json", "timestamp.json", "state.json"];

#[test]
fn symlinks_planted_in_the_state_directory_are_never_followed() {
    let signer = Signer::start();
    signer.publish(ROLE, "se/rd/serde", b"serde 1.0.0\n");
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let root = std::fs::read(signer.repo(ROLE).join("1.root.json")).unwrap();
    Client::init(&state, ROLE, Mode::Merkle, &root).unwrap();

    let mut victims = Vec::new();
    let mut victim = |name: &str, bytes: &[u8]| {
        let p = outside.join(name);
        std::fs::write(&p, bytes).unwrap();
        victims.push((p.clone(), bytes.to_vec()));
        p
    };
    // The old fixed temporary names.
    for name in WRITTEN {
        let target = victim(&format!("tmp-{name}"), b"precious, must not change\n");
        std::os::unix::fs::symlink(&target, state.join(format!(".{name}.tmp"))).unwrap();
    }
    // The files themselves: timestamp.json does not exist yet; state.json and root.json do,
    // and their copies outside stay as they are when the client replaces them.
    let target = victim("timestamp.json", b"precious timestamp\n");
    std::os::unix::fs::symlink(&target, state.join("timestamp.json")).unwrap();
    for name in ["state.json", "root.json"] {
        let bytes = std::fs::read(state.join(name)).unwrap();
        let target = victim(name, &bytes);
        std::fs::remove_file(state.join(name)).unwrap();
        std::os::unix::fs::symlink(&target, state.join(name)).unwrap();
    }

    {
        let mut client = Client::open(&state, tuf_client::transport::open(&signer.url())).unwrap();
        client.refresh().unwrap();
        let v = client
            .verify("se/rd/serde", Some(b"serde 1.0.0\n"))
            .unwrap();
        assert!(matches!(v.status, Status::Present(_)));
    }

    for (path, bytes) in &victims {
        assert_eq!(
            String::from_utf8_lossy(&std::fs::read(path).unwrap()),
            String::from_utf8_lossy(bytes),
            "{} was written through a symlink",
            path.display()
        );
    }
    // The files the run wrote replaced the symlinks (root.json was only read: no new root).
    for name in ["timestamp.json", "state.json"] {
        let meta = std::fs::symlink_metadata(state.join(name)).unwrap();
        assert!(meta.is_file(), "{name} should now be a regular file");
    }
    let s = State::load(&state).unwrap();
    assert_eq!(s.leaves.get("se/rd/serde"), Some(&1));
}

/// `n` names in the crates.io index layout (`cr/at/crate-07`).
fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("cr/at/crate-{i:02}")).collect()
}

fn tuf_verify() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tuf-verify"))
}

#[test]
fn parallel_verify_runs_on_one_state_directory_all_succeed_and_record_every_name() {
    const RUNS: usize = 16;
    let signer = Signer::start();
    let names = names(RUNS);
    for n in &names {
        signer.publish(ROLE, n, format!("{n} 1.0.0\n").as_bytes());
    }
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = tuf_verify()
        .args(["init", "--role", ROLE, "--state"])
        .arg(&state)
        .arg("--root")
        .arg(signer.repo(ROLE).join("1.root.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let url = signer.url();
    let children: Vec<_> = names
        .iter()
        .map(|n| {
            tuf_verify()
                .args(["verify", "--repo", &url, "--state"])
                .arg(&state)
                .arg(n)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut failures = Vec::new();
    for (n, child) in names.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{n}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNS} parallel runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let s = State::load(&state).unwrap();
    let missing: Vec<_> = names
        .iter()
        .filter(|n| s.leaves.get(*n) != Some(&1))
        .collect();
    assert!(missing.is_empty(), "names lost from the state: {missing:?}");
    assert_only_state_files(&state);
}

/// Nothing but the state's own files (and the lock) is left in the directory.
fn assert_only_state_files(state: &Path) {
    let mut left: Vec<String> = std::fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !WRITTEN.contains(&n.as_str()) && n != "client.lock")
        .collect();
    left.sort();
    assert!(left.is_empty(), "left behind: {left:?}");
}
