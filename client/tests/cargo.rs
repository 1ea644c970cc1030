//! The real `cargo` through `tuf-verify proxy` (design D10): a static sparse index on loopback
//! serving real crates.io index files, a signer that imported the same files, the proxy between
//! them and cargo (its `CARGO_HOME` in a temporary directory, no network). cargo resolves
//! through the proxy exactly as it does directly; every attack on the index (through a
//! tampering proxy in front of it) makes cargo fail with the proxy's message, and nothing
//! unverified reaches cargo's cache.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Action, Proxy, ROLE, Signer, real_index};
use tuf_testkit::index::StaticIndex;

/// Crates of the 2026 sample whose dependency closure is in the sample.
const DEPENDENCIES: &[(&str, &str)] = &[
    ("cfg-if", "1"),
    ("hex", "0.4"),
    ("version_check", "0.9"),
    ("equivalent", "1"),
    ("try-lock", "0.2"),
    ("percent-encoding", "2"),
    ("utf8_iter", "1"),
    ("dyn-clone", "1"),
    ("untrusted", "0.9"),
    ("fs_extra", "1"),
    ("tower-service", "0.3"),
    ("base64ct", "1"),
    ("adler2", "2"),
];

const HEX: &str = "3/h/hex";

struct Setup {
    tmp: tempfile::TempDir,
    index_dir: PathBuf,
    signer: Signer,
    index: StaticIndex,
}

fn setup() -> Option<Setup> {
    let tmp = tempfile::tempdir().unwrap();
    let index_dir = real_index("crates-index-2026-sample.tar.gz", &tmp.path().join("index"))?;
    std::fs::write(
        index_dir.join("config.json"),
        br#"{"dl":"http://127.0.0.1:9/api/v1/crates","api":null}"#,
    )
    .unwrap();
    let signer = Signer::start_after(|config| {
        tuf_signer::import::import(config, ROLE, &index_dir, false).expect("import");
    });
    let index = StaticIndex::start(&index_dir);
    Some(Setup {
        tmp,
        index_dir,
        signer,
        index,
    })
}

/// A running `tuf-verify proxy`.
struct VerifyingProxy {
    child: Child,
    url: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl VerifyingProxy {
    fn start(s: &Setup, state: &Path, index_url: &str, wait_secs: &str) -> VerifyingProxy {
        Self::start_with_repo(s, state, index_url, wait_secs, &s.signer.url(), "10")
    }

    fn start_with_repo(
        s: &Setup,
        state: &Path,
        index_url: &str,
        wait_secs: &str,
        repo: &str,
        remember_secs: &str,
    ) -> VerifyingProxy {
        Self::start_with_args(s, state, index_url, wait_secs, repo, remember_secs, &[])
    }

    fn start_with_args(
        s: &Setup,
        state: &Path,
        index_url: &str,
        wait_secs: &str,
        repo: &str,
        remember_secs: &str,
        extra: &[&str],
    ) -> VerifyingProxy {
        let bin = env!("CARGO_BIN_EXE_tuf-verify");
        if !state.join("state.json").exists() {
            let root = s.signer.repo(ROLE).join("1.root.json");
            let out = Command::new(bin)
                .args(["init", "--role", ROLE, "--state"])
                .arg(state)
                .arg("--root")
                .arg(root)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        let mut child = Command::new(bin)
            .args(["proxy", "--listen", "127.0.0.1:0", "--wait-secs", wait_secs])
            .args(["--remember-secs", remember_secs])
            .arg("--state")
            .arg(state)
            .args(["--repo", repo, "--index", index_url])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(addr) = line.strip_prefix("tuf-verify proxy listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("proxy listens");
        VerifyingProxy { child, url, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Whether the log holds `needle` within 10 s: the proxy logs some events (a refused
    /// handshake) after cargo has already given up, and its stderr is read by another thread.
    fn logged(&self, needle: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.log().contains(needle) {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for VerifyingProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project depending on [`DEPENDENCIES`] in `dir`.
fn project(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let deps: String = DEPENDENCIES
        .iter()
        .map(|(n, v)| format!("{n} = \"{v}\"\n"))
        .collect();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"proj\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\n{deps}"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    dir.to_owned()
}

/// `cargo generate-lockfile` in `project` with a fresh `CARGO_HOME` whose crates.io is
/// replaced by the sparse registry at `registry`: (success, stderr, the lockfile).
fn generate_lockfile(project: &Path, home: &Path, registry: &str) -> (bool, String, String) {
    generate_lockfile_with(project, home, registry, "", &[])
}

/// [`generate_lockfile`] with more of cargo's configuration (`config`, appended to its
/// `config.toml`) and environment (`env`).
fn generate_lockfile_with(
    project: &Path,
    home: &Path,
    registry: &str,
    config: &str,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"verified\"\n[source.verified]\nregistry = \"sparse+{registry}/\"\n[net]\nretry = 0\n{config}"
        ),
    )
    .unwrap();
    let _ = std::fs::remove_file(project.join("Cargo.lock"));
    let out = Command::new(env!("CARGO"))
        .arg("generate-lockfile")
        .current_dir(project)
        .env("CARGO_HOME", home)
        .env_remove("CARGO_TARGET_DIR")
        .env("CARGO_HTTP_TIMEOUT", "30")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap_or_default();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        lock,
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A lockfile without its `source = ` lines: a lockfile names the registry it was resolved
/// from; the packages, versions and checksums are what must agree.
fn without_sources(lockfile: &str) -> String {
    lockfile
        .lines()
        .filter(|l| !l.starts_with("source = "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The test project, and its lockfile resolved directly against the index (no proxy).
fn project_resolved_directly(s: &Setup) -> (PathBuf, String) {
    let proj = project(&s.tmp.path().join("proj"));
    let (ok, err, direct) =
        generate_lockfile(&proj, &s.tmp.path().join("home-direct"), &s.index.url());
    assert!(ok, "{err}");
    (proj, direct)
}

/// `GET url` (with `headers`), whatever its status.
fn get_any(url: &str, headers: &[(&str, &str)]) -> ureq::http::Response<ureq::Body> {
    let mut request = ureq::get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap()
}

#[test]
fn cargo_resolves_through_the_proxy_as_it_does_directly() {
    let Some(s) = setup() else { return };
    let (proj, direct) = project_resolved_directly(&s);
    let proxy = VerifyingProxy::start(&s, &s.tmp.path().join("state"), &s.index.url(), "5");
    let (ok, err, through) = generate_lockfile(&proj, &s.tmp.path().join("home-proxy"), &proxy.url);
    assert!(ok, "{err}\n{}", proxy.log());
    // The lockfile names the source it was resolved from; the packages, versions and
    // checksums are the same.
    assert_eq!(without_sources(&direct), without_sources(&through));
    assert_eq!(
        through.matches("[[package]]").count(),
        DEPENDENCIES.len() + 1
    );

    // A second resolution with cargo's cache: conditional requests, answered 304 by the proxy.
    let (ok, err, again) = generate_lockfile(&proj, &s.tmp.path().join("home-proxy"), &proxy.url);
    assert!(ok, "{err}");
    assert_eq!(again, through);
    let r = ureq::get(&format!("{}/{HEX}", proxy.url)).call().unwrap();
    let etag = r
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(r.headers().get("x-tuf-timestamp-version").is_some());
    let r = get_any(
        &format!("{}/{HEX}", proxy.url),
        &[("if-none-match", etag.as_str())],
    );
    assert_eq!(r.status(), 304);
    // A name the index does not have: 404, after a proof of absence.
    let r = get_any(&format!("{}/no/th/nothere", proxy.url), &[]);
    assert_eq!(r.status(), 404);
    // Paths that are no index file are refused before anything is asked.
    let r = get_any(&format!("{}/..%2Fx", proxy.url), &[]);
    assert_eq!(r.status(), 400);
}

/// Over HTTPS (`--tls`: a certificate the proxy generated into its state, trusted by cargo
/// through `http.cainfo`) cargo speaks HTTP/2 to the proxy and resolves as it does directly;
/// a cargo that does not trust the certificate gets nothing, and an altered file is refused.
#[test]
fn cargo_resolves_through_the_proxy_over_https_with_http2() {
    let Some(s) = setup() else { return };
    let (proj, direct) = project_resolved_directly(&s);
    let evil = Proxy::start(s.index.addr);
    let state = s.tmp.path().join("state");
    let proxy = VerifyingProxy::start_with_args(
        &s,
        &state,
        &evil.url(),
        "1",
        &s.signer.url(),
        "0",
        &["--tls"],
    );
    assert!(proxy.url.starts_with("https://127.0.0.1:"), "{}", proxy.url);
    let ca = state.join("proxy-tls/ca.pem");
    assert!(
        proxy
            .log()
            .contains(&format!("http.cainfo = {:?}", ca.display().to_string())),
        "{}",
        proxy.log()
    );
    let key_mode = std::fs::metadata(state.join("proxy-tls/key.pem"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode) & 0o777,
        0o600
    );
    let trust = format!("[http]\ncainfo = {:?}\n", ca.display().to_string());
    // curl's view of the exchange: the protocol each answer came on.
    let debug = [("CARGO_HTTP_DEBUG", "true"), ("CARGO_LOG", "network=debug")];
    let (ok, err, through) = generate_lockfile_with(
        &proj,
        &s.tmp.path().join("home-tls"),
        &proxy.url,
        &trust,
        &debug,
    );
    assert!(ok, "{err}\n{}", proxy.log());
    assert_eq!(without_sources(&direct), without_sources(&through));
    let h2 = err.matches("HTTP/2 200").count();
    assert!(h2 > DEPENDENCIES.len(), "{h2} answers over HTTP/2:\n{err}");
    assert!(!err.contains("HTTP/1.1 200"), "{err}");

    // A cargo that does not trust the certificate: refused in the handshake, nothing served.
    let (ok, err, _) = generate_lockfile(&proj, &s.tmp.path().join("home-untrusted"), &proxy.url);
    assert!(!ok);
    assert!(err.contains("certificate"), "{err}");
    assert!(proxy.logged("TLS handshake with"), "{}", proxy.log());

    // An altered index file, over TLS as over plain HTTP: cargo fails with the proxy's message
    // and caches nothing of it.
    evil.set(|_, p| {
        if p == "/3/h/hex" {
            Action::Mutate(Box::new(|mut b| {
                b.extend_from_slice(b"{}\n");
                b
            }))
        } else {
            Action::Forward
        }
    });
    let home = s.tmp.path().join("home-attacked");
    let (ok, err, _) = generate_lockfile_with(&proj, &home, &proxy.url, &trust, &[]);
    assert!(!ok, "cargo succeeded\n{err}");
    assert!(
        err.contains(&format!("tuf-verify proxy refused {HEX}")),
        "{err}"
    );
    for e in walkdir::WalkDir::new(&home).into_iter().flatten() {
        assert!(
            !e.path().to_string_lossy().ends_with("/3/h/hex"),
            "cargo cached {}",
            e.path().display()
        );
    }
}

/// `--warm Cargo.lock`: the proxy fetches and verifies the project's crates before it listens,
/// and cargo's resolution is then answered from memory: no index file is asked of the index
/// again, and the lockfile is the same.
#[test]
fn a_proxy_warmed_with_the_lockfile_answers_cargo_from_memory() {
    let Some(s) = setup() else { return };
    let (proj, direct) = project_resolved_directly(&s);
    let lockfile = s.tmp.path().join("Cargo.lock");
    std::fs::write(&lockfile, &direct).unwrap();
    let counting = Proxy::start(s.index.addr);
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let asked = asked.clone();
        counting.set(move |_, path| {
            asked.lock().unwrap().push(path.to_owned());
            Action::Forward
        });
    }
    let state = s.tmp.path().join("state");
    let lock_arg = lockfile.to_string_lossy().into_owned();
    let proxy = VerifyingProxy::start_with_args(
        &s,
        &state,
        &counting.url(),
        "1",
        &s.signer.url(),
        "60",
        &["--tls", "--warm", &lock_arg],
    );
    // The dependencies and config.json.
    let n = DEPENDENCIES.len() + 1;
    assert!(
        proxy
            .log()
            .contains(&format!("warmed {n} of {n} index files")),
        "{}",
        proxy.log()
    );
    let warmed: Vec<String> = std::mem::take(&mut *asked.lock().unwrap());
    assert_eq!(warmed.len(), n, "{warmed:?}");
    let trust = format!(
        "[http]\ncainfo = {:?}\n",
        state.join("proxy-tls/ca.pem").display().to_string()
    );
    let (ok, err, through) =
        generate_lockfile_with(&proj, &s.tmp.path().join("home"), &proxy.url, &trust, &[]);
    assert!(ok, "{err}\n{}", proxy.log());
    assert_eq!(without_sources(&direct), without_sources(&through));
    // No warmed file was asked of the index again. cargo may still ask for files the lockfile
    // does not name (utf8_iter 1.1.0 depends on utf_types, which the sample does not have: the
    // resolver asks, gets a proven 404 and settles on 1.0.4): those take the full path.
    let again: Vec<String> = asked.lock().unwrap().clone();
    assert!(
        again.iter().all(|p| !warmed.contains(p)),
        "warmed {warmed:?}, asked again {again:?}"
    );

    // A file that is no project file: refused at start, with its name.
    let bad = s.tmp.path().join("notes.txt");
    std::fs::write(&bad, "not toml [").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tuf-verify"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .args([
            "--repo",
            &s.signer.url(),
            "--index",
            &s.index.url(),
            "--warm",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes.txt") && err.contains("--warm"), "{err}");
}

#[test]
fn every_attack_on_the_index_makes_cargo_fail_with_the_proxys_message() {
    let Some(s) = setup() else { return };
    let proj = project(&s.tmp.path().join("proj"));
    let evil = Proxy::start(s.index.addr);
    // Nothing remembered: each resolution asks the (tampering) index again, as one after the
    // memory expired would.
    let proxy = VerifyingProxy::start_with_repo(
        &s,
        &s.tmp.path().join("state"),
        &evil.url(),
        "1",
        &s.signer.url(),
        "0",
    );
    let old_hex = std::fs::read(s.index_dir.join(HEX)).unwrap();

    // An update of hex lands in the index and in the signed tree: the old file is now stale.
    let mut new_hex = old_hex.clone();
    let last = String::from_utf8(old_hex.clone())
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let mut line: serde_json::Value = serde_json::from_str(&last).unwrap();
    line["vers"] = "0.4.99".into();
    new_hex.extend_from_slice(format!("{line}\n").as_bytes());
    std::fs::write(s.index_dir.join(HEX), &new_hex).unwrap();
    s.signer.publish(ROLE, HEX, &new_hex);
    let (ok, err, lock) = generate_lockfile(&proj, &s.tmp.path().join("home-0"), &proxy.url);
    assert!(ok, "{err}\n{}", proxy.log());
    assert!(lock.contains("0.4.99"), "{lock}");

    type Rule = Box<dyn Fn(&str, &str) -> Action + Send + Sync>;
    let on_hex = |action: fn() -> Action| -> Rule {
        Box::new(move |_, p| {
            if p == "/3/h/hex" {
                action()
            } else {
                Action::Forward
            }
        })
    };
    let old = old_hex.clone();
    let attacks: Vec<(&str, Rule, &str)> = vec![
        (
            "an altered index line",
            on_hex(|| {
                Action::Mutate(Box::new(|b| {
                    // The first version's line, yanked (`"yanked": false` → `true`).
                    let text = String::from_utf8(b).unwrap();
                    let at = text.find("\"yanked\"").unwrap();
                    let f = at + text[at..].find("false").unwrap();
                    format!("{}true{}", &text[..f], &text[f + 5..]).into_bytes()
                }))
            }),
            HEX,
        ),
        (
            "a removed version",
            on_hex(|| {
                Action::Mutate(Box::new(|b| {
                    let text = String::from_utf8(b).unwrap();
                    let mut lines: Vec<&str> = text.lines().collect();
                    lines.remove(lines.len() / 2);
                    format!("{}\n", lines.join("\n")).into_bytes()
                }))
            }),
            HEX,
        ),
        (
            "a file swapped for another crate's",
            on_hex(|| Action::Rewrite("/cf/g-/cfg-if".into())),
            HEX,
        ),
        (
            "a name that exists made to 404",
            on_hex(|| Action::Respond(404, b"no".to_vec())),
            HEX,
        ),
        (
            "an old file replayed after an update",
            Box::new(move |_: &str, p: &str| {
                if p == "/3/h/hex" {
                    Action::Respond(200, old.clone())
                } else {
                    Action::Forward
                }
            }),
            HEX,
        ),
        (
            "config.json altered",
            Box::new(|_: &str, p: &str| {
                if p == "/config.json" {
                    Action::Respond(
                        200,
                        br#"{"dl":"http://evil.example/api/v1/crates","api":null}"#.to_vec(),
                    )
                } else {
                    Action::Forward
                }
            }),
            "config.json",
        ),
    ];
    for (i, (what, rule, file)) in attacks.into_iter().enumerate() {
        evil.set(rule);
        let home = s.tmp.path().join(format!("home-{}", i + 1));
        let (ok, err, _) = generate_lockfile(&proj, &home, &proxy.url);
        assert!(!ok, "{what}: cargo succeeded\n{err}");
        assert!(
            err.contains(&format!("tuf-verify proxy refused {file}")),
            "{what}: {err}"
        );
        // Nothing unverified reached cargo's cache: it holds no copy of the attacked file, and
        // nothing that names the attacker's host.
        for e in walkdir::WalkDir::new(&home).into_iter().flatten() {
            let path = e.path().to_string_lossy().into_owned();
            assert!(
                !(file == HEX && path.ends_with("/3/h/hex")),
                "{what}: cargo cached {path}"
            );
            if e.file_type().is_file() {
                let bytes = std::fs::read(e.path()).unwrap();
                assert!(!contains(&bytes, b"evil.example"), "{what}: {path}");
            }
        }
    }
    // Healed: cargo resolves again.
    evil.honest();
    let (ok, err, lock) = generate_lockfile(&proj, &s.tmp.path().join("home-healed"), &proxy.url);
    assert!(ok, "{err}");
    assert!(lock.contains("0.4.99"));
}

/// The index and the signer are updated by different systems: a publish that lands in the
/// index before the signer signs it makes the proxy wait, and the resolution succeeds once the
/// signer catches up.
#[test]
fn a_publish_in_the_index_before_the_signer_resolves_once_it_catches_up() {
    let Some(s) = setup() else { return };
    let proj = project(&s.tmp.path().join("proj"));
    let proxy = VerifyingProxy::start(&s, &s.tmp.path().join("state"), &s.index.url(), "20");
    let mut hex = std::fs::read(s.index_dir.join(HEX)).unwrap();
    let last = String::from_utf8(hex.clone())
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let mut line: serde_json::Value = serde_json::from_str(&last).unwrap();
    line["vers"] = "0.4.98".into();
    hex.extend_from_slice(format!("{line}\n").as_bytes());
    std::fs::write(s.index_dir.join(HEX), &hex).unwrap();
    let home = s.tmp.path().join("home");
    let cargo = {
        let (proj, home, url) = (proj.clone(), home.clone(), proxy.url.clone());
        std::thread::spawn(move || generate_lockfile(&proj, &home, &url))
    };
    std::thread::sleep(Duration::from_secs(2));
    s.signer.publish(ROLE, HEX, &hex);
    let (ok, err, lock) = cargo.join().unwrap();
    assert!(ok, "{err}\n{}", proxy.log());
    assert!(lock.contains("0.4.98"), "{lock}");
}

/// With the index unreachable, the proxy serves what it verified against the current view,
/// saying so.
#[test]
fn offline_the_proxy_serves_verified_copies_and_says_so() {
    let Some(s) = setup() else { return };
    let proj = project(&s.tmp.path().join("proj"));
    let gate = Proxy::start(s.index.addr);
    let signer_gate = Proxy::start(s.signer.addr);
    let proxy = VerifyingProxy::start_with_repo(
        &s,
        &s.tmp.path().join("state"),
        &gate.url(),
        "1",
        &signer_gate.url(),
        // Nothing answered from memory: every request meets the unreachable index.
        "0",
    );
    let (ok, err, online) = generate_lockfile(&proj, &s.tmp.path().join("home-1"), &proxy.url);
    assert!(ok, "{err}");
    // The index goes away (the gate answers 502 to everything).
    gate.set(|_, _| Action::Respond(502, b"down".to_vec()));
    let r = ureq::get(&format!("{}/{HEX}", proxy.url)).call().unwrap();
    let why = r.headers().get("x-tuf-offline").unwrap().to_str().unwrap();
    assert!(
        why.contains("served from the cache, verified against timestamp"),
        "{why}"
    );
    let (ok, err, offline) = generate_lockfile(&proj, &s.tmp.path().join("home-2"), &proxy.url);
    assert!(ok, "{err}\n{}", proxy.log());
    assert_eq!(offline, online);
    assert!(proxy.log().contains("offline"), "{}", proxy.log());
    // The signer (every repository) goes away too: copies verified against the current,
    // unexpired timestamp are still served, saying so; what was never verified is refused.
    signer_gate.set(|_, _| Action::Respond(503, b"down".to_vec()));
    let r = ureq::get(&format!("{}/{HEX}", proxy.url))
        .call()
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log()));
    let why = r.headers().get("x-tuf-offline").unwrap().to_str().unwrap();
    assert!(
        why.contains("the index and the repositories unreachable"),
        "{why}"
    );
    let r = get_any(&format!("{}/se/rd/serde_json", proxy.url), &[]);
    assert_eq!(r.status(), 503);
    let body = r.into_body().read_to_string().unwrap();
    assert!(
        body.contains("no copy verified against the current timestamp"),
        "{body}"
    );
}

/// A proxy stopped with SIGTERM right after a resolution (its cache writes wait for a pause in
/// the requests) leaves every verified file on disk: started again with the index gone, it
/// resolves the same lockfile from them, saying so.
#[test]
fn a_clean_stop_keeps_every_verified_file_for_the_next_start() {
    let Some(s) = setup() else { return };
    let proj = project(&s.tmp.path().join("proj"));
    let state = s.tmp.path().join("state");
    let gate = Proxy::start(s.index.addr);
    let mut proxy =
        VerifyingProxy::start_with_repo(&s, &state, &gate.url(), "1", &s.signer.url(), "0");
    let (ok, err, online) = generate_lockfile(&proj, &s.tmp.path().join("home-1"), &proxy.url);
    assert!(ok, "{err}");
    // At once: within the writer's pause, so the files are still in memory.
    let term = Command::new("kill")
        .args(["-TERM", &proxy.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stopped = proxy.child.wait().unwrap();
    assert!(stopped.success(), "{stopped:?}\n{}", proxy.log());
    let cached = std::fs::read_dir(state.join("index-cache"))
        .unwrap()
        .count();
    let packages = online.matches("[[package]]").count();
    assert!(
        cached >= packages,
        "{cached} files cached for {packages} packages"
    );
    drop(proxy);
    gate.set(|_, _| Action::Respond(502, b"down".to_vec()));
    let proxy = VerifyingProxy::start_with_repo(&s, &state, &gate.url(), "1", &s.signer.url(), "0");
    let (ok, err, offline) = generate_lockfile(&proj, &s.tmp.path().join("home-2"), &proxy.url);
    assert!(ok, "{err}\n{}", proxy.log());
    assert_eq!(offline, online);
    assert!(proxy.logged("offline"), "{}", proxy.log());
}

/// Over an HTTPS index that speaks HTTP/2 the proxy reads a whole resolution on one connection
/// (every file a stream of it), as cargo reads the index directly; an HTTPS index without
/// HTTP/2 is read over HTTP/1.1, saying so once, with the same lockfile.
#[test]
fn the_proxy_reads_an_https_index_on_one_http2_connection() {
    let Some(s) = setup() else { return };
    let (proj, direct) = project_resolved_directly(&s);
    let alpn_h2: &[&[u8]] = &[b"h2", b"http/1.1"];
    let alpn_h1: &[&[u8]] = &[b"http/1.1"];
    for (i, (alpn, h2)) in [(alpn_h2, true), (alpn_h1, false)].into_iter().enumerate() {
        let index = StaticIndex::start_tls_offering(&s.index_dir, alpn);
        let ca = s.tmp.path().join(format!("index-ca-{i}.pem"));
        std::fs::write(&ca, index.ca_pem.as_ref().unwrap()).unwrap();
        let url = format!("https://{}", index.addr);
        let ca_arg = ca.display().to_string();
        let proxy = VerifyingProxy::start_with_args(
            &s,
            &s.tmp.path().join(format!("state-{i}")),
            &url,
            "1",
            &s.signer.url(),
            "0",
            &["--ca-bundle", &ca_arg],
        );
        let (ok, err, through) =
            generate_lockfile(&proj, &s.tmp.path().join(format!("home-{i}")), &proxy.url);
        assert!(ok, "{err}\n{}", proxy.log());
        assert_eq!(through, direct);
        let connections = index.connections.load(std::sync::atomic::Ordering::Relaxed);
        let fell_back = "reading the index over HTTP/1.1 (the index does not speak HTTP/2)";
        if h2 {
            assert_eq!(connections, 1, "{}", proxy.log());
            assert!(!proxy.log().contains(fell_back), "{}", proxy.log());
            // A file altered in the index after it verified: refused on this path too, the
            // altered bytes not served.
            let file = s.index_dir.join(HEX);
            let original = std::fs::read(&file).unwrap();
            let mut altered = original.clone();
            altered.extend_from_slice(b"{\"name\":\"hex\",\"vers\":\"99.0.0\",\"deps\":[],\"cksum\":\"00\",\"features\":{},\"yanked\":false}\n");
            std::fs::write(&file, &altered).unwrap();
            let r = get_any(&format!("{}/{HEX}", proxy.url), &[]);
            assert_eq!(r.status(), 503);
            let body = r.into_body().read_to_string().unwrap();
            assert!(body.contains(&format!("refused {HEX}")), "{body}");
            assert!(!body.contains("99.0.0"), "{body}");
            std::fs::write(&file, &original).unwrap();
            // A hostile index: files larger than the proxy reads (16 MiB), on either protocol.
            // Their bytes are never served: a name the signed tree does not hold is proved
            // absent (404); one it holds is served from its verified copy, saying the index
            // could not be read.
            let big = s.index_dir.join("3/b/big");
            std::fs::create_dir_all(big.parent().unwrap()).unwrap();
            std::fs::write(&big, vec![b'x'; 17 << 20]).unwrap();
            let get = |path: &str| get_any(&format!("{}/{path}", proxy.url), &[]);
            let r = get("3/b/big");
            assert_eq!(r.status(), 404);
            let body = r.into_body().read_to_string().unwrap();
            assert!(body.contains("proved absent"), "{body}");
            std::fs::write(&file, vec![b'x'; 17 << 20]).unwrap();
            let r = get(HEX);
            assert_eq!(r.status(), 200);
            let why = r.headers().get("x-tuf-offline").unwrap().to_str().unwrap();
            assert!(why.contains("the index"), "{why}");
            assert_eq!(r.into_body().read_to_vec().unwrap(), original);
            std::fs::write(&file, &original).unwrap();
            std::fs::remove_file(&big).unwrap();
        } else {
            assert!(connections > 1, "{connections}");
            assert!(proxy.logged(fell_back), "{}", proxy.log());
        }
    }
    // Warmed with the lockfile over HTTP/2: every file on the one connection, then cargo's
    // resolution answered from memory (no more reads of the index).
    let index = StaticIndex::start_tls(&s.index_dir);
    let ca = s.tmp.path().join("index-ca-warm.pem");
    std::fs::write(&ca, index.ca_pem.as_ref().unwrap()).unwrap();
    let lockfile = s.tmp.path().join("Cargo.lock");
    std::fs::write(&lockfile, &direct).unwrap();
    let (ca_arg, lock_arg) = (ca.display().to_string(), lockfile.display().to_string());
    let proxy = VerifyingProxy::start_with_args(
        &s,
        &s.tmp.path().join("state-warm"),
        &format!("https://{}", index.addr),
        "1",
        &s.signer.url(),
        "60",
        &["--ca-bundle", &ca_arg, "--warm", &lock_arg],
    );
    let n = DEPENDENCIES.len() + 1;
    assert!(
        proxy
            .log()
            .contains(&format!("warmed {n} of {n} index files")),
        "{}",
        proxy.log()
    );
    let (ok, err, through) = generate_lockfile(&proj, &s.tmp.path().join("home-warm"), &proxy.url);
    assert!(
        ok,
        "{err}
{}",
        proxy.log()
    );
    assert_eq!(through, direct);
    assert_eq!(
        index.connections.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "{}",
        proxy.log()
    );
}
