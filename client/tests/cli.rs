//! `tuf-verify`'s contract for scripts (issue 12, item 3; `docs/client.md`, "For scripts"):
//! exit codes (0 present, 2 not present, 1 refused, 3 breach, 64 usage), `--json` on every
//! command with errors as `{"error": {"kind", "message"}}` on stdout, `--quiet` and
//! `--verbose`, shell completions, and `--download` to a bare file name.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use common::{ROLE, Signer};
use serde_json::Value;

const SERDE: &str = "se/rd/serde";
const RAND: &str = "ra/nd/rand";
const ABSENT: &str = "no/th/nothere";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "not one JSON object ({e}): {:?}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

fn run_in(dir: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tuf-verify"));
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("run tuf-verify");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(args: &[&str]) -> Run {
    run_in(None, args)
}

/// A signer with serde present, rand deleted; a state directory trusting its root.
struct Setup {
    signer: Signer,
    tmp: tempfile::TempDir,
    state: String,
}

fn setup() -> Setup {
    let signer = Signer::start();
    signer.publish(ROLE, SERDE, b"serde 1.0.0\n");
    signer.publish(ROLE, RAND, b"rand 0.9.0\n");
    signer.delete(ROLE, RAND);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state").display().to_string();
    let root = signer.repo(ROLE).join("1.root.json");
    let init = run(&[
        "init",
        "--json",
        "--role",
        ROLE,
        "--state",
        &state,
        "--root",
        root.to_str().unwrap(),
    ]);
    assert_eq!(init.code, Some(0), "{}", init.stderr);
    let v = init.json();
    assert_eq!(v["role"], ROLE);
    assert_eq!(v["mode"], "merkle");
    assert_eq!(v["root_version"], 1);
    assert_eq!(v["state"], state);
    assert_eq!(init.stderr, "");
    Setup { signer, tmp, state }
}

/// A URL on which nothing listens.
fn stopped() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[test]
fn usage_errors_exit_64_and_help_and_version_exit_0() {
    for args in [
        &[][..],
        &["verify"][..],
        &["--bogus", "refresh"][..],
        &["verify", "--state", "s", "--repo", "r"][..],
        &[
            "refresh",
            "--state",
            "s",
            "--repo",
            "r",
            "--redirects",
            "sideways",
        ][..],
        &["-v", "-q", "refresh", "--state", "s", "--repo", "r"][..],
        &["completions", "tcsh"][..],
        &[
            "verify",
            "--state",
            "s",
            "--repo",
            "r",
            "--proof-format",
            "cbor",
            "x",
        ][..],
    ] {
        let r = run(args);
        assert_eq!(r.code, Some(64), "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{args:?}");
        assert!(!r.stderr.is_empty(), "{args:?}");
    }
    // No names to verify is a usage error too (found after parsing).
    let r = run(&["verify-many", "--state", "s", "--repo", "r"]);
    assert_eq!(r.code, Some(64), "{}", r.stderr);
    assert!(r.stderr.contains("no names given"), "{}", r.stderr);
    let r = run(&["--json", "verify-many", "--state", "s", "--repo", "r"]);
    assert_eq!(r.code, Some(64));
    assert_eq!(r.json()["error"]["kind"], "no_names");

    // With --json the usage error is JSON on stdout.
    let r = run(&["verify", "--json", "--state", "s"]);
    assert_eq!(r.code, Some(64));
    let e = r.json();
    assert_eq!(e["error"]["kind"], "usage");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("--repo"),
        "{e}"
    );

    let help = run(&["--help"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
    assert!(help.stdout.contains("64 usage error"), "{}", help.stdout);
    assert!(help.stdout.contains("--retries"), "{}", help.stdout);
    assert!(help.stdout.contains("--ca-bundle"), "{}", help.stdout);
    let r = run(&["verify", "--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("--download"), "{}", r.stdout);
    let version = run(&["--version"]);
    assert_eq!(version.code, Some(0));
    assert!(
        version.stdout.starts_with("tuf-verify "),
        "{}",
        version.stdout
    );
}

#[test]
fn every_command_prints_json_and_exit_codes_tell_present_from_not_present() {
    let s = setup();
    let url = s.signer.url();
    let st = s.state.as_str();

    let r = run(&["--json", "refresh", "--state", st, "--repo", &url]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["role"], ROLE);
    assert_eq!(v["mode"], "merkle");
    assert_eq!(v["root_version"], 1);
    let version = v["timestamp_version"].as_u64().unwrap();
    assert!(version >= 3, "{v}");
    assert_eq!(v["proof_version"], version);
    assert_eq!(v["merkle_root"].as_str().unwrap().len(), 64);
    assert_eq!(v["repository"], url);
    // Diagnostics stay on stderr.
    assert!(r.stderr.starts_with("trusted: root 1"), "{}", r.stderr);

    let r = run(&["verify", "--json", "--state", st, "--repo", &url, SERDE]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["name"], SERDE);
    assert_eq!(v["status"], "present");
    assert_eq!(v["present"], true);
    assert_eq!(v["version"], 1);
    assert_eq!(v["length"], 12);
    assert_eq!(
        v["sha256"],
        tuf_merkle::hash::sha256(b"serde 1.0.0\n").to_hex()
    );
    assert_eq!(v["timestamp_version"], version);
    assert_eq!(v["file_checked"], false);
    assert_eq!(v["download"], Value::Null);
    assert_eq!(v["repository"], url);

    // Asked for JSON proofs: the same answer (binary is the default).
    let r = run(&[
        "verify",
        "--json",
        "--proof-format",
        "json",
        "--state",
        st,
        "--repo",
        &url,
        SERDE,
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.json(), v);

    let r = run(&["verify", "--json", "--state", st, "--repo", &url, RAND]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["status"], "deleted");
    assert_eq!(v["present"], false);
    assert_eq!(v["version"], 2);
    assert_eq!(v["sha256"], Value::Null);

    let r = run(&["verify", "--json", "--state", st, "--repo", &url, ABSENT]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.json()["status"], "absent");

    // verify-many: JSON Lines, one object per name (sorted), exit 2 as one is not present.
    let r = run(&[
        "verify-many",
        "--json",
        "--state",
        st,
        "--repo",
        &url,
        SERDE,
        ABSENT,
        RAND,
    ]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let lines = r.lines();
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec![ABSENT, RAND, SERDE]);
    let statuses: Vec<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["absent", "deleted", "present"]);
    let r = run(&[
        "verify-many",
        "--json",
        "--state",
        st,
        "--repo",
        &url,
        SERDE,
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    // The text forms are unchanged.
    let r = run(&["verify", "--state", st, "--repo", &url, SERDE]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout.starts_with("se/rd/serde: present "),
        "{}",
        r.stdout
    );

    // Errors: JSON on stdout with their kind; the attempts of every server when all failed.
    let dead = stopped();
    let r = run(&["--json", "verify", "--state", st, "--repo", &dead, SERDE]);
    assert_eq!(r.code, Some(1));
    let e = r.json();
    assert_eq!(e["error"]["kind"], "transport", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains(&dead));
    let other = stopped();
    let r = run(&[
        "--json",
        "--retries",
        "0",
        "verify",
        "--state",
        st,
        "--repo",
        &format!("{dead},{other}"),
        SERDE,
    ]);
    assert_eq!(r.code, Some(1));
    let e = r.json();
    assert_eq!(e["error"]["kind"], "all_repositories_failed", "{e}");
    let attempts = e["error"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["repository"], dead);
    assert_eq!(attempts[0]["fault"], "unavailable");
    assert_eq!(attempts[0]["kind"], "transport");
    let missing = s.tmp.path().join("missing");
    let r = run(&[
        "--json",
        "refresh",
        "--state",
        missing.to_str().unwrap(),
        "--repo",
        &url,
    ]);
    assert_eq!(r.code, Some(1));
    assert_eq!(r.json()["error"]["kind"], "not_initialized");
    // Without --json, the error is text on stderr.
    let r = run(&["verify", "--state", st, "--repo", &dead, SERDE]);
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stdout, "");
    assert!(r.stderr.starts_with("error: fetching "), "{}", r.stderr);

    // audit.
    let root = s.signer.repo(ROLE).join("1.root.json");
    let key = s.tmp.path().join("auditor.pem");
    let attestation = s.tmp.path().join("attestation.json");
    let r = run(&[
        "audit",
        "--json",
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
    // The key does not exist yet: the attestation cannot be signed.
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert_eq!(r.json()["error"]["kind"], "attestation");
    let r = run(&["auditor-key", "--json", "--key", key.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let k = r.json();
    assert_eq!(k["keyid"].as_str().unwrap().len(), 64);
    assert_eq!(k["keys"].as_array().unwrap().len(), 1);
    assert_eq!(k["key_file"], key.display().to_string());
    // Without --json: the keys file itself, as before.
    let r = run(&["auditor-key", "--key", key.to_str().unwrap()]);
    let keys: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(keys, k["keys"]);
    let r = run(&[
        "audit",
        "--json",
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
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let a = r.json();
    assert_eq!(a["role"], ROLE);
    assert_eq!(a["consistent"], true);
    assert_eq!(a["breach"], Value::Null);
    assert_eq!(a["started_from"], "genesis");
    assert_eq!(a["first_version"], 1);
    assert_eq!(a["last_good_version"], version);
    assert_eq!(a["latest_version"], version);
    assert_eq!(a["leaves"], 2);
    assert_eq!(a["attestation"], attestation.display().to_string());
    assert!(attestation.exists());

    // completions, as text and as JSON.
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell]);
        assert_eq!(r.code, Some(0), "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("verify-many"), "{shell}");
    }
    let r = run(&["completions", "bash", "--json"]);
    let c = r.json();
    assert_eq!(c["shell"], "bash");
    assert!(c["script"].as_str().unwrap().contains("tuf-verify"));
}

#[test]
fn quiet_prints_nothing_and_verbose_tells_more() {
    let s = setup();
    let url = s.signer.url();
    let st = s.state.as_str();
    for (name, code) in [(SERDE, 0), (RAND, 2), (ABSENT, 2)] {
        let r = run(&["-q", "verify", "--state", st, "--repo", &url, name]);
        assert_eq!(r.code, Some(code), "{name}: {}", r.stderr);
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{name}");
    }
    let r = run(&["refresh", "--quiet", "--state", st, "--repo", &url]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (Some(0), "", "")
    );
    // Errors are still told.
    let r = run(&["-q", "verify", "--state", st, "--repo", &stopped(), SERDE]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    // --json still prints its JSON, and nothing else.
    let r = run(&[
        "-q", "--json", "verify", "--state", st, "--repo", &url, SERDE,
    ]);
    assert_eq!(r.json()["status"], "present");
    assert_eq!(r.stderr, "");

    let r = run(&["verify", "--verbose", "--state", st, "--repo", &url, SERDE]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("state {st}: role {ROLE} (merkle)")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("repositories in order: {url}")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("answered by {url}")),
        "{}",
        r.stderr
    );
    let plain = run(&["verify", "--state", st, "--repo", &url, SERDE]);
    assert!(!plain.stderr.contains("answered by"), "{}", plain.stderr);
}

#[test]
fn download_to_a_bare_file_name_writes_it_in_the_current_directory() {
    let s = setup();
    let url = s.signer.url();
    let work = tempfile::tempdir().unwrap();
    let r = run_in(
        Some(work.path()),
        &[
            "verify",
            "--state",
            &s.state,
            "--repo",
            &url,
            SERDE,
            "--download",
            "out",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("12 bytes written to out"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(work.path().join("out")).unwrap(),
        b"serde 1.0.0\n"
    );
    // A relative path with a directory works as before; --json names the file.
    let r = run_in(
        Some(work.path()),
        &[
            "--json",
            "verify",
            "--state",
            &s.state,
            "--repo",
            &url,
            SERDE,
            "--download",
            "sub/out",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["download"], "sub/out");
    assert_eq!(v["file_checked"], true);
    assert_eq!(
        std::fs::read(work.path().join("sub/out")).unwrap(),
        b"serde 1.0.0\n"
    );
}
