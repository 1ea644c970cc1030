//! `tuf_benches::signer_process` end to end, as the benches use it: this executable, run again
//! with a config variable set, is a real signer (the development config of the workspace's
//! tests) on loopback. Checked: a start returns a listening address and its time; writes made
//! before a clean stop, and durable ones before a `kill -9`, are there after the next start; a
//! clean stop is timed; `ChildLog::Info` writes the signer's log to the file given and
//! `ChildLog::Silent` writes nothing; a child that cannot start makes `start` panic, saying so.
//!
//! Its own `main` (`harness = false`), because the child must run before anything else does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tuf_benches::signer_process::{ChildLog, SignerChild};
use tuf_testkit::config::TestConfig;

const LOGGING: SignerChild = SignerChild {
    config_var: "TUF_BENCHES_TEST_SIGNER_CONFIG",
    log: ChildLog::Info,
    start_within: Duration::from_secs(120),
};
const SILENT: SignerChild = SignerChild {
    config_var: "TUF_BENCHES_TEST_SILENT_SIGNER_CONFIG",
    log: ChildLog::Silent,
    start_within: Duration::from_secs(120),
};
const STOP_WITHIN: Duration = Duration::from_secs(60);

fn main() {
    if LOGGING.run_if_child() || SILENT.run_if_child() {
        return;
    }
    // `cargo test -- --list` (and tools that list tests first): one test, this file.
    if std::env::args().any(|a| a == "--list") {
        println!("signer_process: test");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    start_stop_kill_and_recover(&rt, tmp.path());
    silent_child_logs_nothing(tmp.path());
    child_that_cannot_start_fails_the_start(tmp.path());
    println!("signer_process: ok");
}

fn start_stop_kill_and_recover(rt: &tokio::runtime::Runtime, root: &Path) {
    let dir = root.join("logging");
    let data = dir.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let config = TestConfig::signer_defaults().write(&dir, &data);
    let log = dir.join("signer.log");

    let p = LOGGING.start(&config, &[], Some(&log));
    assert!(p.started_in() > Duration::ZERO && p.started_in() < LOGGING.start_within);
    let (rss, hwm) = p.rss_mib();
    assert!(rss > 1.0 && hwm >= rss, "RSS {rss} MiB, HWM {hwm} MiB");
    assert_eq!(leaves(rt, p.addr()), 0);
    let token = std::fs::read_to_string(data.join("dev-tokens/crates.io")).unwrap();
    put(rt, p.addr(), token.trim(), "se/rd/serde", "signed");
    assert_eq!(leaves(rt, p.addr()), 1);
    let stopped_in = p.stop(STOP_WITHIN).expect("a clean stop");
    assert!(stopped_in < STOP_WITHIN);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("INFO"), "the signer's log: {logged}");

    // After a clean stop: the change is there; the log file is appended to, not replaced.
    let p = LOGGING.start(&config, &[], Some(&log));
    assert_eq!(leaves(rt, p.addr()), 1);
    assert!(std::fs::read_to_string(&log).unwrap().starts_with(&logged));
    put(rt, p.addr(), token.trim(), "3/s/syn", "durable");
    p.kill9();

    // After kill -9: the durable change was recovered.
    let p = LOGGING.start(&config, &[], Some(&log));
    assert_eq!(leaves(rt, p.addr()), 2);
    let addr = p.addr();
    assert!(p.stop(STOP_WITHIN).is_some());
    // Stopped means gone: nothing listens there any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

fn silent_child_logs_nothing(root: &Path) {
    let dir = root.join("silent");
    std::fs::create_dir_all(&dir).unwrap();
    let config = TestConfig::signer_defaults().write(&dir, &dir.join("data"));
    let log = dir.join("signer.log");
    let p = SILENT.start(&config, &[], Some(&log));
    assert!(p.stop(STOP_WITHIN).is_some());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
}

fn child_that_cannot_start_fails_the_start(root: &Path) {
    let log = root.join("missing.log");
    let missing = root.join("no-such-config.toml");
    // The expected panic is caught and its message checked here: not printed as a failure.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
        LOGGING.start(&missing, &[], Some(&log))
    }));
    std::panic::set_hook(hook);
    let message = match started {
        Ok(_) => panic!("a signer started on a config that does not exist"),
        Err(e) => e.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    assert!(message.starts_with("the signer did not start"), "{message}");
    // The child said why, in its log.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("config"), "{logged}");
}

/// The merkle role's leaf count, from its status.
fn leaves(rt: &tokio::runtime::Runtime, addr: SocketAddr) -> u64 {
    let r = rt.block_on(tuf_testkit::http::request(
        addr,
        "GET",
        "/api/v1/crates.io/status",
        &[],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let status: Value = serde_json::from_slice(&r.body).unwrap();
    status["leaves"].as_u64().expect("leaves in the status")
}

/// One change to `name`, answered once `wait` (`durable` or `signed`).
fn put(rt: &tokio::runtime::Runtime, addr: SocketAddr, token: &str, name: &str, wait: &str) {
    let auth = format!("Bearer {token}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let body =
        serde_json::json!({ "sha256": tuf_testkit::sha256_hex(name.as_bytes()), "length": 10 });
    let r = rt.block_on(tuf_testkit::http::request(
        addr,
        "PUT",
        &format!("/api/v1/crates.io/targets/{name}?wait={wait}"),
        &headers,
        body.to_string().as_bytes(),
    ));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
