//! Test helpers: a real `tuf-signer` started in-process on 127.0.0.1:0 (its own runtime and
//! temporary data directory), a tampering HTTP proxy in front of it, and forging helpers that
//! sign with the role's own key files from the data directory (what an attacker who stole them
//! could do).

#![allow(
    dead_code,
    unused_imports,
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used
)]

use serde::Serialize;
use tough::schema::{Root, Signed, Timestamp};
use tuf_keys::FileSigner;
use tuf_merkle::Digest;

pub use tuf_testkit::CLASSIC;
pub use tuf_testkit::MERKLE as ROLE;

/// A signer running in-process on its own runtime (the workspace's test kit), with the
/// signer's default limits.
pub use tuf_testkit::signer::Background as Signer;

/// TUF signature over the canonical JSON of `signed`.
pub fn sign<T: Serialize>(signed: T, keys: &[&FileSigner]) -> tuf_client::tuf::Signed<T> {
    tuf_client::tuf::sign_metadata(signed, keys).expect("sign")
}

/// A copy of `ts` re-signed with `key` at `version`, expiring at `expires` (to the second, the
/// one form TUF writes), carrying `root`.
pub fn forge_timestamp(
    ts: &Signed<Timestamp>,
    key: &FileSigner,
    version: u64,
    expires: jiff::Timestamp,
    root: Digest,
) -> Vec<u8> {
    let mut t = ts.signed.clone();
    t.version = std::num::NonZeroU64::new(version).expect("version");
    t.expires = expires.round(jiff::Unit::Second).expect("expires");
    t._extra.insert(
        "merkle_root".into(),
        serde_json::Value::String(root.to_hex()),
    );
    serde_json::to_vec(&sign(t, &[key])).expect("json")
}

pub fn parse_timestamp(bytes: &[u8]) -> Signed<Timestamp> {
    serde_json::from_slice(bytes).expect("timestamp")
}

pub fn parse_root(bytes: &[u8]) -> Signed<Root> {
    serde_json::from_slice(bytes).expect("root")
}

pub use tuf_testkit::data::real_index;
pub use tuf_testkit::tamper::{Action, Proxy, edit_json};
