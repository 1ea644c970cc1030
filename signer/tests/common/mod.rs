//! The signer's tests share the workspace's test kit (`tuf-testkit`); this module re-exports
//! what they use and adds the one thing only this crate can: the path of its own binary.

#![allow(
    dead_code,
    unused_imports,
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;

pub use tuf_testkit::config::{TestConfig, config};
pub use tuf_testkit::data::{index_name, upserts};
pub use tuf_testkit::http::{Resp, request};
pub use tuf_testkit::repo::{
    assert_history_kept, check_history, dev_token, published_timestamps, timestamp_version,
};
pub use tuf_testkit::signer::{Signer, kill9};
pub use tuf_testkit::{CLASSIC, MERKLE, sha256_hex};

/// This crate's `tuf-signer` binary.
pub const SIGNER_BINARY: &str = tuf_testkit::signer_binary!();

/// Runs this crate's `tuf-signer serve --config CONFIG` and waits until it listens.
pub fn start_binary(config: &Path, env: &[(&str, &str)]) -> (Child, SocketAddr) {
    tuf_testkit::signer::start_binary(tuf_testkit::signer_binary!(), config, env)
}

/// Prometheus's `promtool` (Debian's `prometheus` package, which `scripts/test.sh` installs
/// when run as root), or `None` after saying why it is missing. Under `CI=true` a missing
/// `promtool` fails the test instead.
pub fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = "promtool not found on PATH: install Debian's `prometheus` package \
                   (scripts/test.sh does when run as root)";
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg}");
        eprintln!("skipped: {msg}");
    }
    found
}
