//! `tuf-testkit`: what the workspace's tests share, so that each test says only what is
//! particular to it. Dev-only: never a dependency of a shipped crate.
//!
//! - [`config`]: the test configuration of the signer (one merkle role with the crates.io index
//!   layout, one classic role, small limits), with overrides, as a [`tuf_signer::Config`] or a
//!   file for the binary;
//! - [`signer`]: the signer started in-process (async, or on its own runtime for synchronous
//!   tests) or as its real binary;
//! - [`http`]: a raw HTTP/1.1 client, so tests can send what a friendlier client would
//!   normalise away;
//! - [`repo`]: the data directory's published timestamps and history checks;
//! - [`data`]: request bodies and names made in bulk, the real index samples;
//! - [`s3`]: moto's S3 with a bucket for a test, and a plain reader of the bucket;
//! - [`proxy`]: a fault-injecting HTTP proxy between signers and moto;
//! - [`index`]: a static sparse-registry index server (the upstream of the cargo proxy);
//! - [`tamper`]: a tampering HTTP proxy in front of a signer or a mirror (the hostile network);
//! - [`mirror`]: `tuf-signer mirror` processes following a signer;
//! - [`cluster`]: several `tuf-signer serve` processes on one bucket, and a writer that
//!   follows the leader.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod cluster;
pub mod config;
pub mod data;
pub mod http;
pub mod index;
pub mod latency;
pub mod mirror;
pub mod proxy;
pub mod repo;
pub mod s3;
pub mod signer;
pub mod tamper;

/// The merkle role of the test configuration (crates.io index layout).
pub const MERKLE: &str = "crates.io";
/// The classic role of the test configuration.
pub const CLASSIC: &str = "releases";

/// The path of the `tuf-signer` binary built for the calling test (only in `tuf-signer`'s own
/// integration tests, where Cargo defines `CARGO_BIN_EXE_tuf-signer`).
#[macro_export]
macro_rules! signer_binary {
    () => {
        env!("CARGO_BIN_EXE_tuf-signer")
    };
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    tuf_merkle::hash::sha256(bytes).to_hex()
}
