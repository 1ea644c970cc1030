//! The client's trusted state follows the TUF client workflow (issue 12, item 5), checked
//! through the `tuf-verify` binary against the classic role of a real signer behind the
//! tampering proxy, with metadata forged with the role's own key file where an attack needs a
//! valid signature:
//!
//! - each role is persisted as soon as it is verified: a timestamp whose snapshot then fails
//!   (missing, wrong hash, unsigned, expired) is kept, so the older timestamp served again is
//!   a rollback; a snapshot whose targets then fail is kept, so a newer timestamp pointing back
//!   at the older snapshot is a rollback, and so is a snapshot listing older targets;
//! - the same in merkle mode when the required auditor attestation fails after the timestamp
//!   verified: the timestamp is kept, the version proofs are checked against does not move;
//! - a timestamp re-signed at the trusted version is discarded and the trusted one kept (TUF
//!   5.4.3; a merkle role's other tree at one version stays an equivocation);
//! - every metadata file the trusted snapshot lists stays listed, at a version not lower
//!   (TUF 5.5.5);
//! - a target listed with only a sha512 hash is unusable, the rest of targets.json is not.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{Action, CLASSIC, Proxy, ROLE, Signer, sign};
use serde_json::{Value, json};
use tuf_client::State;

const A: &str = "rustup/dist/a.tar";
const B: &str = "rustup/dist/b.tar";

/// What one run of `tuf-verify` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON object printed on stdout (`--json`).
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// The kind of the JSON error, asserting the run was refused.
    fn refused(&self) -> String {
        assert_eq!(self.code, Some(1), "{}{}", self.stdout, self.stderr);
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("no error kind: {}", self.stdout))
            .to_owned()
    }

    /// The error's message.
    fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn ok(&self) -> Value {
        assert_eq!(self.code, Some(0), "{}{}", self.stdout, self.stderr);
        self.json()
    }
}

fn tuf_verify(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tuf-verify"))
        .args(args)
        .output()
        .expect("run tuf-verify");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A signer's classic role behind a tampering proxy that serves the files a test forged (or
/// 404 for those set to `None`) and forwards the rest, and a `tuf-verify` state of that role.
struct Repo {
    signer: Signer,
    proxy: Proxy,
    served: Arc<Mutex<BTreeMap<String, Option<Vec<u8>>>>>,
    _tmp: tempfile::TempDir,
    state: PathBuf,
    role: &'static str,
}

impl Repo {
    /// A classic role with `A` published, trusted by a state that refreshed once.
    fn classic() -> Repo {
        let signer = Signer::start();
        signer.publish(CLASSIC, A, b"aaa");
        let repo = Repo::new(signer, CLASSIC, "classic");
        repo.refresh().ok();
        repo
    }

    fn new(signer: Signer, role: &'static str, mode: &str) -> Repo {
        let proxy = Proxy::start(signer.addr);
        let served: Arc<Mutex<BTreeMap<String, Option<Vec<u8>>>>> = Arc::default();
        let s = served.clone();
        proxy.set(
            move |_, path| match s.lock().unwrap().get(path.trim_start_matches('/')) {
                Some(Some(bytes)) => Action::Respond(200, bytes.clone()),
                Some(None) => Action::Respond(404, b"{\"error\":\"not_found\"}".to_vec()),
                None => Action::Forward,
            },
        );
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let root = signer.repo(role).join("1.root.json");
        tuf_verify(&[
            "--json",
            "init",
            "--role",
            role,
            "--mode",
            mode,
            "--state",
            state.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
        ])
        .ok();
        Repo {
            signer,
            proxy,
            served,
            _tmp: tmp,
            state,
            role,
        }
    }

    fn run(&self, command: &str, extra: &[&str]) -> Run {
        let url = self.proxy.url();
        let mut args = vec![
            "--json",
            command,
            "--state",
            self.state.to_str().unwrap(),
            "--repo",
            &url,
        ];
        args.extend_from_slice(extra);
        tuf_verify(&args)
    }

    fn refresh(&self) -> Run {
        self.run("refresh", &[])
    }

    /// Serves `bytes` (or 404 for `None`) for the role's `file` from now on.
    fn serve(&self, file: &str, bytes: Option<Vec<u8>>) {
        self.served
            .lock()
            .unwrap()
            .insert(format!("{}/{file}", self.role), bytes);
    }

    /// Forwards everything again.
    fn honest(&self) {
        self.served.lock().unwrap().clear();
    }

    /// The signer's `file` of the role, as published.
    fn published(&self, file: &str) -> Vec<u8> {
        self.signer.get(&format!("{}/{file}", self.role))
    }

    /// The latest published timestamp version.
    fn latest(&self) -> u64 {
        let ts: Value = serde_json::from_slice(&self.published("timestamp.json")).unwrap();
        ts["signed"]["version"].as_u64().unwrap()
    }

    fn state(&self) -> State {
        State::load(&self.state).unwrap()
    }

    /// A file of the state directory.
    fn trusted(&self, file: &str) -> Option<Vec<u8>> {
        std::fs::read(self.state.join(file)).ok()
    }

    /// `bytes` (a published metadata file) with its `signed` edited and signed again with the
    /// role's online key: what the key's thief, or a repository mixing files, could serve.
    fn resign(&self, bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_slice(bytes).unwrap();
        edit(&mut v["signed"]);
        let key = self.signer.online_key(self.role);
        serde_json::to_vec(&sign(v["signed"].clone(), &[&key])).unwrap()
    }

    /// A round `n` forged from the latest published one: targets (edited by `targets`),
    /// snapshot (edited by `snapshot`) and timestamp, each listing the one below it; served.
    /// Returns the three files.
    fn forge_round(
        &self,
        n: u64,
        targets: impl FnOnce(&mut Value),
        snapshot: impl FnOnce(&mut Value),
    ) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let v = self.latest();
        let t = self.resign(&self.published(&format!("{v}.targets.json")), |s| {
            s["version"] = n.into();
            targets(s);
        });
        let sn = self.resign(&self.published(&format!("{v}.snapshot.json")), |s| {
            s["version"] = n.into();
            s["meta"]["targets.json"] = meta_of(&t, n);
            snapshot(s);
        });
        let ts = self.timestamp_for(n, &sn, n);
        self.serve(&format!("{n}.targets.json"), Some(t.clone()));
        self.serve(&format!("{n}.snapshot.json"), Some(sn.clone()));
        self.serve("timestamp.json", Some(ts.clone()));
        (t, sn, ts)
    }

    /// A timestamp of version `version` listing `snapshot` (of version `snapshot_version`).
    fn timestamp_for(&self, version: u64, snapshot: &[u8], snapshot_version: u64) -> Vec<u8> {
        self.resign(&self.published("timestamp.json"), |s| {
            s["version"] = version.into();
            s["meta"]["snapshot.json"] = meta_of(snapshot, snapshot_version);
        })
    }
}

/// The `meta` entry for a metadata file.
fn meta_of(bytes: &[u8], version: u64) -> Value {
    json!({
        "length": bytes.len(),
        "hashes": { "sha256": tuf_merkle::hash::sha256(bytes).to_hex() },
        "version": version,
    })
}

fn version_of(bytes: &[u8]) -> u64 {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    v["signed"]["version"].as_u64().unwrap()
}

/// How a snapshot fails in [`a_timestamp_is_kept_when_its_snapshot_fails`].
#[derive(Debug, Clone, Copy)]
enum SnapshotFault {
    Missing,
    WrongHash,
    Unsigned,
    Expired,
}

#[test]
fn a_timestamp_is_kept_when_its_snapshot_fails_and_the_older_one_is_then_a_rollback() {
    let repo = Repo::classic();
    for (i, fault) in [
        SnapshotFault::Missing,
        SnapshotFault::WrongHash,
        SnapshotFault::Unsigned,
        SnapshotFault::Expired,
    ]
    .into_iter()
    .enumerate()
    {
        let old = repo.trusted("timestamp.json").unwrap();
        let old_version = version_of(&old);
        let v = repo.signer.publish(CLASSIC, B, format!("b {i}").as_bytes());
        let snapshot_file = format!("{v}.snapshot.json");
        let expected = match fault {
            SnapshotFault::Missing => {
                repo.serve(&snapshot_file, None);
                "not_found"
            }
            SnapshotFault::WrongHash => {
                // Same length, one byte changed: not the snapshot the timestamp lists.
                let mut bytes = repo.published(&snapshot_file);
                let at = bytes.iter().rposition(|b| b.is_ascii_hexdigit()).unwrap();
                bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
                repo.serve(&snapshot_file, Some(bytes));
                "metadata_mismatch"
            }
            SnapshotFault::Unsigned | SnapshotFault::Expired => {
                // A timestamp validly signed at v listing a snapshot that is not (signed by a
                // key the root does not list), or that has expired.
                let published = repo.published(&snapshot_file);
                let bytes = if matches!(fault, SnapshotFault::Unsigned) {
                    let tmp = tempfile::tempdir().unwrap();
                    let other = tuf_keys::FileSigner::generate(
                        tmp.path().join("other.pem"),
                        tuf_keys::KeyAlgorithm::Ed25519,
                    )
                    .unwrap();
                    let v: Value = serde_json::from_slice(&published).unwrap();
                    serde_json::to_vec(&sign(v["signed"].clone(), &[&other])).unwrap()
                } else {
                    repo.resign(&published, |s| {
                        s["expires"] = "2001-01-01T00:00:00Z".into();
                    })
                };
                repo.serve("timestamp.json", Some(repo.timestamp_for(v, &bytes, v)));
                repo.serve(&snapshot_file, Some(bytes));
                if matches!(fault, SnapshotFault::Unsigned) {
                    "bad_signature"
                } else {
                    "expired"
                }
            }
        };
        let run = repo.refresh();
        assert_eq!(run.refused(), expected, "{fault:?}: {}", run.message());
        // The timestamp verified before the snapshot failed is the trusted one now.
        let state = repo.state();
        assert_eq!(state.timestamp_version, v, "{fault:?}");
        assert_eq!(state.snapshot_version, v, "{fault:?}");
        assert_eq!(
            version_of(&repo.trusted("timestamp.json").unwrap()),
            v,
            "{fault:?}"
        );
        assert!(state.targets_version < v, "{fault:?}");

        // The repository serves the older timestamp again: a rollback.
        repo.honest();
        repo.serve("timestamp.json", Some(old.clone()));
        let run = repo.refresh();
        assert_eq!(run.refused(), "rollback", "{fault:?}: {}", run.message());
        assert!(
            run.message()
                .contains(&format!("timestamp version {old_version} is below")),
            "{}",
            run.message()
        );
        assert_eq!(repo.state().timestamp_version, v);

        // An honest repository that moved on is followed again.
        repo.honest();
        let next = repo.signer.publish(CLASSIC, A, format!("a {i}").as_bytes());
        let r = repo.refresh().ok();
        assert_eq!(r["timestamp_version"], next);
        assert_eq!(r["targets_version"], next);
        assert_eq!(repo.state().targets_version, next);
    }
}

#[test]
fn a_snapshot_is_kept_when_its_targets_fail_and_a_timestamp_pointing_back_is_refused() {
    let repo = Repo::classic();
    let v1 = repo.latest();
    let old_snapshot = repo.published(&format!("{v1}.snapshot.json"));
    let old_targets_version = repo.state().targets_version;
    let v2 = repo.signer.publish(CLASSIC, B, b"bbb");
    repo.serve(&format!("{v2}.targets.json"), None);
    let run = repo.refresh();
    assert_eq!(run.refused(), "not_found", "{}", run.message());
    assert!(run.message().contains("targets.json"), "{}", run.message());
    // Timestamp and snapshot v2 verified and kept; the targets are still the old ones.
    let state = repo.state();
    assert_eq!(state.timestamp_version, v2);
    assert_eq!(state.snapshot_version, v2);
    assert_eq!(state.targets_version, old_targets_version);
    assert_eq!(version_of(&repo.trusted("snapshot.json").unwrap()), v2);
    let verify = repo.run("verify", &["--no-refresh", A]).ok();
    assert_eq!(verify["status"], "listed");

    // A newer timestamp (validly signed) pointing back at the older snapshot: a rollback.
    repo.honest();
    let back = repo.timestamp_for(v2 + 1, &old_snapshot, v1);
    repo.serve("timestamp.json", Some(back));
    let run = repo.refresh();
    assert_eq!(run.refused(), "rollback", "{}", run.message());
    assert!(
        run.message().contains(&format!(
            "snapshot version {v1} is below the trusted version {v2}"
        )),
        "{}",
        run.message()
    );
    assert_eq!(repo.state().timestamp_version, v2);

    // A newer timestamp and snapshot that list the older targets: below what the trusted
    // snapshot lists, though not below the targets this client verified (TUF 5.5.5).
    repo.honest();
    let old_targets = repo.published(&format!("{v1}.targets.json"));
    let n = v2 + 2;
    let snapshot = repo.resign(&repo.published(&format!("{v2}.snapshot.json")), |s| {
        s["version"] = n.into();
        s["meta"]["targets.json"] = meta_of(&old_targets, v1);
    });
    repo.serve(&format!("{n}.snapshot.json"), Some(snapshot.clone()));
    repo.serve("timestamp.json", Some(repo.timestamp_for(n, &snapshot, n)));
    let run = repo.refresh();
    assert_eq!(run.refused(), "snapshot_rollback", "{}", run.message());
    assert!(
        run.message().contains(&format!(
            "lists targets.json at version {v1}, below version {v2} in the trusted snapshot"
        )),
        "{}",
        run.message()
    );
    // The snapshot that failed is not kept; the timestamp that verified is.
    assert_eq!(version_of(&repo.trusted("snapshot.json").unwrap()), v2);
    assert_eq!(repo.state().timestamp_version, n);
}

#[test]
fn a_timestamp_resigned_at_the_trusted_version_is_discarded_and_the_trusted_one_kept() {
    let repo = Repo::classic();
    let trusted = repo.trusted("timestamp.json").unwrap();
    let before = repo.state();
    let v = before.timestamp_version;
    // The same version, other content: another expiry, and a snapshot that does not exist.
    let other = repo.resign(&trusted, |s| {
        s["expires"] = "2099-01-01T00:00:00Z".into();
        s["meta"]["snapshot.json"]["version"] = (v + 5).into();
    });
    assert_ne!(other, trusted);
    repo.serve("timestamp.json", Some(other));
    let r = repo.refresh().ok();
    assert_eq!(r["timestamp_version"], v);
    assert_eq!(repo.trusted("timestamp.json").unwrap(), trusted);
    let after = repo.state();
    assert_eq!(after.timestamp_expires, before.timestamp_expires);
    assert_eq!(after.snapshot_version, before.snapshot_version);
    assert_eq!(after.targets_version, before.targets_version);

    // A merkle role: the same version with the same tree is discarded the same way; with
    // another tree it is an equivocation (the role's key signed two trees at one version).
    let signer = Signer::start();
    signer.publish(ROLE, "se/rd/serde", b"serde 1\n");
    let merkle = Repo::new(signer, ROLE, "merkle");
    merkle.refresh().ok();
    let trusted = merkle.trusted("timestamp.json").unwrap();
    let expires = merkle.state().timestamp_expires;
    merkle.serve(
        "timestamp.json",
        Some(merkle.resign(&trusted, |s| {
            s["expires"] = "2099-01-01T00:00:00Z".into();
        })),
    );
    merkle.refresh().ok();
    assert_eq!(merkle.trusted("timestamp.json").unwrap(), trusted);
    assert_eq!(merkle.state().timestamp_expires, expires);
    merkle.serve(
        "timestamp.json",
        Some(merkle.resign(&trusted, |s| {
            s["merkle_root"] = tuf_merkle::hash::sha256(b"fork").to_hex().into();
        })),
    );
    assert_eq!(merkle.refresh().refused(), "equivocation");
    assert_eq!(merkle.trusted("timestamp.json").unwrap(), trusted);
}

#[test]
fn a_snapshot_that_drops_a_listed_role_or_lowers_its_version_is_refused() {
    let repo = Repo::classic();
    let n = repo.latest() + 1;
    // Round n lists a delegated role's file besides targets.json; the client keeps it.
    repo.forge_round(
        n,
        |_| {},
        |s| {
            s["meta"]["delegated.json"] = json!({ "version": 2 });
        },
    );
    let r = repo.refresh().ok();
    assert_eq!(r["timestamp_version"], n);

    // Round n+1 lists it at a lower version.
    repo.forge_round(
        n + 1,
        |_| {},
        |s| {
            s["meta"]["delegated.json"] = json!({ "version": 1 });
        },
    );
    let run = repo.refresh();
    assert_eq!(run.refused(), "snapshot_rollback", "{}", run.message());
    assert!(
        run.message().contains("delegated.json"),
        "{}",
        run.message()
    );

    // Round n+2 drops it.
    repo.forge_round(n + 2, |_| {}, |_| {});
    let run = repo.refresh();
    assert_eq!(run.refused(), "role_dropped", "{}", run.message());
    assert!(
        run.message()
            .contains(&format!("does not list delegated.json, which the trusted snapshot version {n} lists at version 2")),
        "{}",
        run.message()
    );

    // Round n+3 drops targets.json itself.
    repo.forge_round(
        n + 3,
        |_| {},
        |s| {
            let meta = s["meta"].as_object_mut().unwrap();
            meta.remove("targets.json");
            meta.insert("delegated.json".into(), json!({ "version": 2 }));
        },
    );
    let run = repo.refresh();
    assert_eq!(run.refused(), "role_dropped", "{}", run.message());
    assert!(
        run.message().contains("does not list targets.json"),
        "{}",
        run.message()
    );
    // Nothing of the refused snapshots was kept.
    let trusted: Value = serde_json::from_slice(&repo.trusted("snapshot.json").unwrap()).unwrap();
    assert_eq!(trusted["signed"]["version"], n);
    assert_eq!(trusted["signed"]["meta"]["delegated.json"]["version"], 2);
    assert_eq!(repo.state().targets_version, n);
}

#[test]
fn a_target_listed_with_only_sha512_is_unusable_and_the_rest_of_targets_json_works() {
    let repo = Repo::classic();
    repo.signer.publish(CLASSIC, B, b"bbb");
    repo.refresh().ok();
    let n = repo.latest() + 1;
    let c = "rustup/dist/c.tar";
    repo.forge_round(
        n,
        |t| {
            t["targets"][c] = json!({ "length": 3, "hashes": { "sha512": "ab".repeat(64) } });
        },
        |_| {},
    );
    let r = repo.refresh().ok();
    assert_eq!(r["targets_version"], n);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.tar");
    std::fs::write(&file, b"aaa").unwrap();
    let v = repo
        .run(
            "verify",
            &["--no-refresh", A, "--file", file.to_str().unwrap()],
        )
        .ok();
    assert_eq!(v["status"], "listed");
    assert_eq!(v["file_checked"], true);
    assert_eq!(v["sha256"], tuf_merkle::hash::sha256(b"aaa").to_hex());

    let run = repo.run("verify", &["--no-refresh", c]);
    assert_eq!(run.refused(), "unusable_target", "{}", run.message());
    assert!(
        run.message().contains("no sha256 hash (only sha512)"),
        "{}",
        run.message()
    );
    let run = repo.run("verify", &["--no-refresh", "rustup/dist/none"]);
    assert_eq!(run.refused(), "not_listed");

    // Every other target of the file, in one run.
    let many = repo.run("verify-many", &["--no-refresh", A, B]);
    assert_eq!(many.code, Some(0), "{}{}", many.stdout, many.stderr);
    let lines: Vec<Value> = many
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["status"] == "listed"), "{lines:?}");

    // A download of a usable target still works from this targets.json.
    let out = repo.run(
        "verify",
        &[A, "--download", dir.path().join("dl").to_str().unwrap()],
    );
    assert_eq!(
        out.ok()["download"],
        dir.path().join("dl").display().to_string()
    );
    assert_eq!(std::fs::read(dir.path().join("dl")).unwrap(), b"aaa");
}

#[test]
fn a_merkle_timestamp_is_kept_when_the_required_attestation_fails() {
    let signer = Signer::start();
    signer.publish(ROLE, "se/rd/serde", b"serde 1\n");
    let repo = Repo::new(signer, ROLE, "merkle");
    let v1 = repo.refresh().ok()["timestamp_version"].as_u64().unwrap();
    let old = repo.trusted("timestamp.json").unwrap();
    let v2 = repo.signer.publish(ROLE, "se/rd/serde", b"serde 2\n");
    assert!(v2 > v1);

    // An auditor's key, and an attestation that is not there.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("auditor.pem");
    let keys = tuf_verify(&["auditor-key", "--key", key.to_str().unwrap()]);
    assert_eq!(keys.code, Some(0), "{}", keys.stderr);
    let auditors = dir.path().join("auditors.json");
    std::fs::write(&auditors, &keys.stdout).unwrap();
    let missing = dir.path().join("attestation.json");
    let run = repo.run(
        "refresh",
        &[
            "--require-attestation",
            auditors.to_str().unwrap(),
            "--attestation",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(run.refused(), "attestation", "{}", run.message());
    // The timestamp verified before the attestation was asked for is kept; proofs are still
    // checked against the version trusted before, never the unattested one.
    let state = repo.state();
    assert_eq!(state.timestamp_version, v2);
    assert_eq!(state.proof_version, v1);
    let v = repo.run("verify", &["--no-refresh", "se/rd/serde"]).ok();
    assert_eq!(v["timestamp_version"], v1);
    assert_eq!(v["version"], 1);

    // The older timestamp served again: a rollback.
    repo.serve("timestamp.json", Some(old));
    let run = repo.refresh();
    assert_eq!(run.refused(), "rollback", "{}", run.message());
    assert_eq!(repo.state().timestamp_version, v2);
}
