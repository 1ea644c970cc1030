//! The API contract: `docs/openapi.yaml` is lint-clean (Redocly's recommended rules) and a live
//! signer matches it, checked from outside by schemathesis (property-based requests generated
//! from the spec: valid ones must be accepted, invalid ones refused with a 4xx, every answer's
//! status, content type, headers and body must be the ones the spec documents, and nothing may
//! answer 5xx).
//!
//! Both tools come from the test environment (`scripts/test-env.sh`: schemathesis in `.venv`,
//! Redocly's CLI under `.tools/node`). Missing, the tests skip with the reason, or fail under
//! `CI=true`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tuf_keys::test_support::{in_ci, repo_root, test_python};
use tuf_testkit::signer::{kill9, start_command};

fn spec() -> PathBuf {
    repo_root().join("docs/openapi.yaml")
}

/// The tool at `path`, or `None` after saying why the test skips (a panic under CI).
fn tool(path: PathBuf, test: &str, how: &str) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path);
    }
    let why = format!("{test}: {} is missing; {how}", path.display());
    assert!(!in_ci(), "{why}");
    eprintln!("skipping {why}");
    None
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_spec_is_lint_clean() {
    let Some(redocly) = tool(
        repo_root().join(".tools/node/node_modules/.bin/redocly"),
        "the_spec_is_lint_clean",
        "run `bash scripts/test-env.sh` (it installs @redocly/cli with npm)",
    ) else {
        return;
    };
    let out = Command::new(redocly)
        .current_dir(repo_root())
        .args(["lint", "--format", "stylish"])
        .arg(spec())
        .output()
        .unwrap();
    let report = text(&out);
    assert!(out.status.success(), "redocly lint failed:\n{report}");
    // Warnings count too: the recommended rules' warnings (operationId, license, 4xx) are
    // part of the contract, and the only exceptions are in .redocly.lint-ignore.yaml.
    assert!(
        report.contains("Your API description is valid") && !report.contains("You have"),
        "redocly lint warns:\n{report}"
    );
}

/// One schemathesis run against `addr` with the role path parameter fixed to `role` and the
/// writer token in the environment (never in argv).
fn schemathesis(
    st: &Path,
    dir: &Path,
    addr: std::net::SocketAddr,
    role: &str,
    token: &str,
    extra: &[&str],
) -> Output {
    let config = dir.join(format!("schemathesis-{role}.toml"));
    std::fs::write(
        &config,
        format!(
            "# The token comes from the environment, so it is in no file and no argv.\n\
             [headers]\nAuthorization = \"Bearer ${{TUF_TEST_TOKEN}}\"\n\
             [generation]\ncodec = \"ascii\"\n\
             [parameters]\nrole = \"{role}\"\n"
        ),
    )
    .unwrap();
    Command::new(st)
        .current_dir(dir)
        .env("TUF_TEST_TOKEN", token)
        .env("SCHEMATHESIS_HOOKS", "")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(spec())
        .args(["--url", &format!("http://{addr}")])
        // One worker: hypothesis's lambda descriptions are not thread-safe (with two, a run
        // once ended in its "AST constructor recursion depth mismatch", a tool error).
        .args(["--checks", "all", "--max-examples", "8", "--workers", "1"])
        // The target-path pattern's look-aheads make generating batches of them slow; that is
        // the generator's cost, not the server's, so the timing health check is off.
        .args(["--suppress-health-check", "too_slow"])
        .args(["--seed", "20261201"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_live_signer_matches_its_spec() {
    let python = test_python();
    let Some(st) = tool(
        python.with_file_name("schemathesis"),
        "a_live_signer_matches_its_spec",
        "run `bash scripts/test-env.sh` (schemathesis is in scripts/requirements-test.txt)",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The embedded development config (all four roles), as the README starts it, on a free port.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_tuf-signer"));
    serve
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]);
    let (mut child, addr) = start_command(serve);
    let token = |role: &str| {
        std::fs::read_to_string(data.join("dev-tokens").join(role))
            .unwrap()
            .trim()
            .to_owned()
    };
    // A classic role with the generic path rules: every check, valid data included.
    let releases = schemathesis(&st, dir.path(), addr, "releases", &token("releases"), &[]);
    // The merkle role (proofs): its index layout ties a path's directories to the crate name,
    // which the spec says in prose but no JSON Schema pattern can, so a spec-valid path may be
    // refused there with 400; every other check still runs.
    let crates = schemathesis(
        &st,
        dir.path(),
        addr,
        "crates.io",
        &token("crates.io"),
        &["--exclude-checks", "positive_data_acceptance"],
    );
    let healthy = status_line(addr, "/healthz");
    kill9(&mut child);
    assert!(
        releases.status.success(),
        "schemathesis (role releases) found problems:\n{}",
        text(&releases)
    );
    assert!(
        crates.status.success(),
        "schemathesis (role crates.io) found problems:\n{}",
        text(&crates)
    );
    // And the hostile requests left the signer healthy.
    assert!(
        healthy.starts_with("HTTP/1.1 200"),
        "/healthz after the runs: {healthy}"
    );
}

/// The status line of a plain `GET path`.
fn status_line(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{BufRead as _, BufReader, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}
