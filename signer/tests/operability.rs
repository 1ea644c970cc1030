//! Operating the real binary: one log event per request with its id, `/readyz`, systemd's
//! notify protocol over a real `NOTIFY_SOCKET`, and SIGHUP reloads: an online key rotated
//! through a real ceremony (the `root-ceremony` library: init, sign, finalize) is picked up
//! without a restart, and a reload that fails keeps what runs and says why.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use root_ceremony::Ceremony;
use root_ceremony::init::InitRequest;
use root_ceremony::keys::MemberSigner;
use root_ceremony::model::expires_in_days;
use serde_json::Value;
use tuf_keys::{FileSigner, KeyAlgorithm};

/// The binary, with its stderr collected line by line.
struct Proc {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Runs `tuf-signer serve --config CONFIG` with `env` (and no inherited log filter) and
    /// waits until it listens (the text line, or the JSON event).
    fn start(config: &Path, env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(SIGNER_BINARY)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("TUF_SIGNER_LOG")
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let collected = lines.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let addr = line
                    .strip_prefix("tuf-signer listening on http://")
                    .map(str::to_owned)
                    .or_else(|| {
                        let v: Value = serde_json::from_str(&line).ok()?;
                        (v["fields"]["message"] == "tuf-signer listening").then(|| {
                            v["fields"]["url"]
                                .as_str()
                                .unwrap_or_default()
                                .trim_start_matches("http://")
                                .to_owned()
                        })
                    });
                if let Some(a) = addr
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(a);
                }
                collected.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.trim().parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("signer did not start: {:#?}", lines.lock().unwrap());
            }
        };
        Proc { child, addr, lines }
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Waits until a stderr line contains `needle` (after the first `skip` lines); returns it.
    fn wait_for_line(&self, skip: usize, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .skip(skip)
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} in {:#?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        self.signal(rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the signer did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The development test config with `extra` TOML appended.
fn dev_config(dir: &Path, extra: &str) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    let path = dir.join("signer.toml");
    let text = TestConfig::new().toml(&data) + "\n" + extra;
    std::fs::write(&path, text).unwrap();
    (path, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_once_with_its_id_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = dev_config(dir.path(), "[log]\nformat = \"json\"\nfilter = \"info\"\n");
    let p = Proc::start(&config, &[]);
    // A well-formed id is kept; a malformed one replaced by a generated one.
    let r = request(
        p.addr,
        "GET",
        "/healthz",
        &[("X-Request-Id", "probe-1:a.b_c")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("probe-1:a.b_c"));
    let r = request(
        p.addr,
        "GET",
        "/readyz",
        &[("X-Request-Id", "bad id with spaces")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["roles"][MERKLE]["ready"], true);
    let generated = r.header("x-request-id").unwrap().to_owned();
    assert_eq!(generated.len(), 32, "{generated}");
    // A refused write with a secret in its Authorization header.
    let secret = "s3cr3t-token-never-logged";
    let bearer = format!("Bearer {secret}");
    let r = request(
        p.addr,
        "PUT",
        "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
        &[("Authorization", &bearer), ("X-Request-Id", "write-1")],
        b"x",
    )
    .await;
    assert_eq!(r.status, 401);
    let token = dev_token(&data, MERKLE);
    let auth = format!("Bearer {token}");
    let r = request(
        p.addr,
        "PUT",
        "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
        &[("Authorization", &auth), ("X-Request-Id", "write-2")],
        b"v1",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(
        p.addr,
        "GET",
        "/nowhere",
        &[("X-Request-Id", "lost-1")],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-request-id"), Some("lost-1"));

    p.wait_for_line(0, "lost-1");
    let lines = p.lines.lock().unwrap().clone();
    let access: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "tuf_signer::access")
        .collect();
    let by_id = |id: &str| -> Value {
        let found: Vec<&Value> = access
            .iter()
            .filter(|v| v["fields"]["request_id"] == id)
            .collect();
        assert_eq!(found.len(), 1, "{id}: {found:#?}");
        found[0]["fields"].clone()
    };
    let f = by_id("probe-1:a.b_c");
    assert_eq!(
        (f["route"].as_str(), f["status"].as_u64()),
        (Some("/healthz"), Some(200))
    );
    assert_eq!(f["method"], "GET");
    assert!(f["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(by_id(&generated)["route"], "/readyz");
    for (id, status) in [("write-1", 401), ("write-2", 200)] {
        let f = by_id(id);
        assert_eq!(f["route"], "/api/v1/{role}/targets/{*path}");
        assert_eq!(f["role"], MERKLE);
        assert_eq!(f["status"].as_u64(), Some(status));
        assert_eq!(f["method"], "PUT");
    }
    assert_eq!(by_id("lost-1")["route"], "-");
    assert_eq!(by_id("lost-1")["status"].as_u64(), Some(404));
    // Every line is JSON, and no line holds a token.
    for l in &lines {
        assert!(serde_json::from_str::<Value>(l).is_ok(), "not JSON: {l}");
        assert!(
            !l.contains(secret) && !l.contains(&token),
            "a token in the log: {l}"
        );
    }
    p.stop();
}

/// Receives one notification, or panics after `timeout`.
fn recv(socket: &UnixDatagram, timeout: Duration) -> String {
    socket.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no notification within {timeout:?}: {e}"));
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// Receives notifications until one starts with `prefix`, skipping watchdog pings; counts them.
fn recv_until(socket: &UnixDatagram, prefix: &str) -> (String, usize) {
    let mut pings = 0;
    loop {
        let m = recv(socket, Duration::from_secs(30));
        if m.starts_with(prefix) {
            return (m, pings);
        }
        assert_eq!(
            m, "WATCHDOG=1",
            "unexpected notification while waiting for {prefix}"
        );
        pings += 1;
    }
}

#[test]
fn systemd_hears_ready_watchdog_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = dev_config(dir.path(), "");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let notify = socket_path.display().to_string();
    let p = Proc::start(
        &config,
        &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "200000")],
    );
    let (ready, _) = recv_until(&socket, "READY=1");
    assert_eq!(ready, format!("READY=1\nSTATUS=listening on {}", p.addr));
    // Pinged every 100 ms: at least 5 in a second.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_secs(1) {
        assert_eq!(recv(&socket, Duration::from_secs(5)), "WATCHDOG=1");
        pings += 1;
    }
    assert!(pings >= 5, "{pings} pings in a second");
    p.signal(rustix::process::Signal::HUP);
    let (reloading, _) = recv_until(&socket, "RELOADING=1");
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(usec > 0);
    let (ready, _) = recv_until(&socket, "READY=1");
    assert!(ready.contains("STATUS=listening on"), "{ready}");
    p.wait_for_line(0, "configuration reloaded");
    // The process lives on after SIGHUP (its default action would have ended it).
    let r = tuf_testkit::http::request_blocking(p.addr, "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200);
    let child_pid = p.child.id();
    p.stop();
    let (stopping, _) = recv_until(&socket, "STOPPING=1");
    assert!(stopping.contains("STATUS="), "{stopping} (pid {child_pid})");
}

/// A ceremony's member: a key file.
fn member(dir: &Path, name: &str) -> (MemberSigner, tuf_keys::TufPublicKey) {
    let key = FileSigner::generate(dir.join(format!("{name}.pem")), KeyAlgorithm::Ed25519).unwrap();
    let public = key.public_key().clone();
    (MemberSigner::File(Box::new(key)), public)
}

/// Runs a whole ceremony in `dir` (first roots when `previous` is `None`, else a rotation
/// from it), signed by `signers`, finalized into `roots`.
fn ceremony(
    dir: &Path,
    roots: &Path,
    members: &[tuf_keys::TufPublicKey],
    signers: &[&MemberSigner],
    online_keys: BTreeMap<String, tuf_keys::TufPublicKey>,
    previous: bool,
) {
    let request = InitRequest {
        roles: vec![MERKLE.to_owned(), CLASSIC.to_owned()],
        members: if previous {
            Vec::new()
        } else {
            members.to_vec()
        },
        threshold: if previous { None } else { Some(2) },
        online_keys,
        expires: expires_in_days(365).unwrap(),
        previous_roots: previous.then(|| roots.to_owned()),
        allow_expired_previous: false,
        version: None,
    };
    request.create(dir, Some("coordinator")).unwrap();
    let mut c = Ceremony::load(dir).unwrap();
    for s in signers {
        c.sign(s, Some("member")).unwrap();
    }
    let written = c.finalize(roots, Some("coordinator")).unwrap();
    assert_eq!(written.len(), 2, "{written:?}");
}

/// The production config: roots from the ceremony, `online_key` for the merkle role, tokens.
fn production_config(
    path: &Path,
    data: &Path,
    roots: &Path,
    merkle_key: &Path,
    classic_key: &Path,
    merkle_token: &str,
) {
    let text = format!(
        r#"
mode = "production"
data_dir = "{data}"
listen = "127.0.0.1:0"
[roles."crates.io"]
snapshot = "merkle"
layout = "crates-index"
root_dir = "{roots}/crates.io"
online_key = {{ type = "file", path = "{merkle_key}" }}
writer_token_sha256 = ["{merkle_hash}"]
[roles.releases]
snapshot = "classic"
root_dir = "{roots}/releases"
online_key = {{ type = "file", path = "{classic_key}" }}
writer_token_sha256 = ["{classic_hash}"]
"#,
        data = data.display(),
        roots = roots.display(),
        merkle_key = merkle_key.display(),
        classic_key = classic_key.display(),
        merkle_hash = tuf_signer::token_hash(merkle_token),
        classic_hash = tuf_signer::token_hash("releases-writer"),
    );
    std::fs::write(path, text).unwrap();
}

/// The key ID that signed the role's published `timestamp.json`, and its version.
fn published_timestamp(data: &Path, role: &str) -> (String, u64) {
    let bytes = std::fs::read(data.join(format!("repo/{role}/timestamp.json"))).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    (
        v["signatures"][0]["keyid"].as_str().unwrap().to_owned(),
        v["signed"]["version"].as_u64().unwrap(),
    )
}

async fn put(addr: SocketAddr, token: &str, name: &str) -> Resp {
    let auth = format!("Bearer {token}");
    request(
        addr,
        "PUT",
        &format!("/api/v1/crates.io/targets/{name}?wait=signed"),
        &[("Authorization", &auth)],
        name.as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_takes_a_rotated_online_key_from_a_ceremony_and_keeps_what_runs_on_a_bad_reload() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = d.join("keys");
    std::fs::create_dir(&keys).unwrap();
    let members: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| member(&keys, n))
        .collect();
    let publics: Vec<_> = members.iter().map(|(_, p)| p.clone()).collect();
    let online = |name: &str| {
        let path = keys.join(format!("{name}.pem"));
        let key = FileSigner::generate(&path, KeyAlgorithm::Ed25519).unwrap();
        (path, key.public_key().clone())
    };
    let (merkle_1, merkle_1_pub) = online("online-crates-1");
    let (merkle_2, merkle_2_pub) = online("online-crates-2");
    let (classic, classic_pub) = online("online-releases");
    let roots = d.join("roots");
    std::fs::create_dir(&roots).unwrap();
    ceremony(
        &d.join("ceremony-1"),
        &roots,
        &publics,
        &[&members[0].0, &members[2].0],
        BTreeMap::from([
            (MERKLE.to_owned(), merkle_1_pub.clone()),
            (CLASSIC.to_owned(), classic_pub.clone()),
        ]),
        false,
    );
    let data = d.join("data");
    let config = d.join("signer.toml");
    production_config(&config, &data, &roots, &merkle_1, &classic, "writer-1");
    let p = Proc::start(&config, &[]);
    assert_eq!(put(p.addr, "writer-1", "se/rd/serde").await.status, 200);
    let (signed_by, _) = published_timestamp(&data, MERKLE);
    assert_eq!(signed_by, merkle_1_pub.key_id_hex());

    // A bad reload: the new key is not in root 1. Nothing changes, and the log says why.
    production_config(&config, &data, &roots, &merkle_2, &classic, "writer-2");
    let seen = p.line_count();
    p.signal(rustix::process::Signal::HUP);
    let failed = p.wait_for_line(seen, "reload failed");
    assert!(
        failed.contains("is not listed in root version 1"),
        "{failed}"
    );
    assert_eq!(put(p.addr, "writer-2", "ra/nd/rand").await.status, 401);
    let r = put(p.addr, "writer-1", "ra/nd/rand").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        published_timestamp(&data, MERKLE).0,
        merkle_1_pub.key_id_hex()
    );

    // The rotation: a second ceremony lists the new key; finalize writes 2.root.json.
    ceremony(
        &d.join("ceremony-2"),
        &roots,
        &publics,
        &[&members[1].0, &members[2].0],
        BTreeMap::from([(MERKLE.to_owned(), merkle_2_pub.clone())]),
        true,
    );
    assert!(roots.join("crates.io/2.root.json").exists());
    let (_, before) = published_timestamp(&data, MERKLE);
    let seen = p.line_count();
    p.signal(rustix::process::Signal::HUP);
    p.wait_for_line(seen, "configuration reloaded");
    // The next round is signed under root 2 with the new key, without a write.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (by, version) = published_timestamp(&data, MERKLE);
        if by == merkle_2_pub.key_id_hex() {
            assert!(version > before);
            break;
        }
        assert!(Instant::now() < deadline, "never signed with the new key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = request(p.addr, "GET", "/api/v1/crates.io/status", &[], b"").await;
    assert_eq!(status.json()["root_version"], 2);
    let root2 = request(p.addr, "GET", "/crates.io/2.root.json", &[], b"").await;
    assert_eq!(root2.status, 200);
    assert_eq!(
        root2.body,
        std::fs::read(roots.join("crates.io/2.root.json")).unwrap()
    );
    // The tokens were reloaded too.
    assert_eq!(
        put(p.addr, "writer-1", "se/rd/serde-json").await.status,
        401
    );
    let r = put(p.addr, "writer-2", "se/rd/serde-json").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        published_timestamp(&data, MERKLE).0,
        merkle_2_pub.key_id_hex()
    );
    // The classic role moved to its root 2 (same key) and re-signed; a client that trusts
    // root 1 walks the chain to it.
    let classic_repo = data.join("repo/releases");
    let deadline = Instant::now() + Duration::from_secs(30);
    let repo = loop {
        let loaded = tough::RepositoryLoader::new(
            &std::fs::read(roots.join("releases/1.root.json")).unwrap(),
            url::Url::from_directory_path(&classic_repo).unwrap(),
            url::Url::from_directory_path(classic_repo.join("targets")).unwrap(),
        )
        .transport(tough::FilesystemTransport)
        .load()
        .await
        .unwrap();
        if loaded.root().signed.version.get() == 2 && loaded.snapshot().signed.version.get() > 1 {
            break loaded;
        }
        assert!(
            Instant::now() < deadline,
            "releases never re-signed under root 2"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(repo.timestamp().signatures[0].keyid, *classic_pub.key_id());

    // A reload that would go back to root 1 (its 2.root.json removed) is refused.
    std::fs::rename(
        roots.join("crates.io/2.root.json"),
        d.join("2.root.json.moved"),
    )
    .unwrap();
    let seen = p.line_count();
    p.signal(rustix::process::Signal::HUP);
    let failed = p.wait_for_line(seen, "reload failed");
    assert!(
        failed.contains("is not listed in root version 1"),
        "{failed}"
    );
    // With the old key configured again, the chain check names the regression itself.
    production_config(&config, &data, &roots, &merkle_1, &classic, "writer-2");
    let seen = p.line_count();
    p.signal(rustix::process::Signal::HUP);
    let failed = p.wait_for_line(seen, "reload failed");
    assert!(
        failed.contains("never goes back to an older root"),
        "{failed}"
    );
    let r = put(p.addr, "writer-2", "ra/nd/rand-core").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        published_timestamp(&data, MERKLE).0,
        merkle_2_pub.key_id_hex()
    );
    p.stop();
}

/// The repository's `deploy/` directory.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Replaces `from` (which must occur) with `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "deploy/signer.toml no longer has {from:?}"
    );
    text.replace(from, to)
}

/// `deploy/signer.toml` parses, and starts in production mode against moto's S3 and KMS with
/// only its site-specific values replaced (paths, the bucket's endpoint, the KMS keys); the
/// writer tokens are the placeholders its comments name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_production_config_starts_against_the_emulators() {
    let example = deploy_dir().join("signer.toml");
    let parsed = tuf_signer::Config::load(&example).expect("deploy/signer.toml parses");
    assert_eq!(parsed.mode, tuf_signer::config::Mode::Production);
    assert_eq!(parsed.log.format, tuf_signer::logging::LogFormat::Json);
    let Some(s3) = tuf_testkit::s3::MotoS3::start_or_skip(
        "the_example_production_config_starts_against_the_emulators",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root_key: tuf_signer::metadata::SharedSigner =
        Arc::new(FileSigner::generate(d.join("root.pem"), KeyAlgorithm::Ed25519).unwrap());
    let mut text = std::fs::read_to_string(&example).unwrap();
    for (role, alias) in [
        (MERKLE, "alias/tuf-crates-io"),
        (CLASSIC, "alias/tuf-releases"),
    ] {
        let key_id = s3
            .kms()
            .create_key(tuf_keys::test_support::KeySpec::EccNistP256)
            .await
            .unwrap();
        let online = tuf_keys::KmsSigner::connect(&key_id, &s3.kms().options())
            .await
            .unwrap();
        tuf_signer::metadata::write_dev_root(
            &d.join(format!("roots/{role}")),
            &root_key,
            online.public_key(),
            3600,
        )
        .await
        .unwrap();
        text = edit(
            &text,
            &format!("key_id = \"{alias}\", region = \"us-east-1\""),
            &format!(
                "key_id = \"{key_id}\", region = \"us-east-1\", endpoint = \"{}\"",
                s3.kms().endpoint_url()
            ),
        );
    }
    text = edit(
        &text,
        "/etc/tuf-signer/roots/",
        &format!("{}/roots/", d.display()),
    );
    text = edit(
        &text,
        "data_dir = \"/var/lib/tuf-signer\"",
        &format!("data_dir = \"{}/data\"", d.display()),
    );
    text = edit(
        &text,
        "listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:0\"",
    );
    text = edit(
        &text,
        "lease_seconds = 5",
        &format!(
            "lease_seconds = 5\nendpoint = \"{}\"\npath_style = true",
            s3.endpoint_url()
        ),
    );
    let config = d.join("signer.toml");
    std::fs::write(&config, text).unwrap();
    let env = tuf_testkit::s3::MotoS3::env();
    let p = Proc::start(&config, &env);
    // Ready once it took both roles' leases.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = request(p.addr, "GET", "/readyz", &[], b"").await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(Instant::now() < deadline, "never ready: {}", r.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = put(p.addr, "replace-me-crates-io", "se/rd/serde").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        s3.get("prod/repo/crates.io/timestamp.json").is_some(),
        "published to the bucket under the example's prefix"
    );
    // The example's JSON logs: the request is in them.
    let line = p.wait_for_line(0, "/api/v1/{role}/targets/{*path}");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["fields"]["status"], 200);
    p.stop();
}

/// The directives docs/operations.md promises for the example unit.
const UNIT_DIRECTIVES: [&str; 14] = [
    "Type=notify",
    "NotifyAccess=main",
    "ExecReload=/bin/kill -HUP $MAINPID",
    "WatchdogSec=30",
    "Restart=on-failure",
    "User=tuf-signer",
    "StateDirectory=tuf-signer",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "CapabilityBoundingSet=",
    "SystemCallFilter=@system-service",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
];

/// `deploy/tuf-signer.service` has the directives the docs promise, runs `serve` with the
/// config path they name, and `systemd-analyze verify` (where installed) finds nothing wrong
/// with it (unknown or misspelt directives are warnings there, so its output must be empty).
#[test]
fn the_example_unit_is_hardened_and_verifies() {
    let unit = std::fs::read_to_string(deploy_dir().join("tuf-signer.service")).unwrap();
    let lines: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for d in UNIT_DIRECTIVES {
        assert!(lines.contains(&d), "the unit lacks {d}");
    }
    assert!(lines.contains(
        &"ExecStart=/usr/local/bin/tuf-signer serve --config /etc/tuf-signer/signer.toml"
    ));
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!(
            "systemd-analyze is not installed: the unit's directives were checked by reading it only"
        );
        return;
    };
    assert!(out.status.success());
    // Verified with ExecStart pointing at this build's binary (verify checks it exists).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tuf-signer.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/tuf-signer", SIGNER_BINARY),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}
