//! `tuf-repo-format`: the files a `tuf-signer` repository publishes, written down once for the
//! signer that writes them and the clients, auditors and mirrors that read them.
//!
//! - [`paths`]: where every published file lives in a role's repository (`root.json`,
//!   `N.root.json`, `timestamp.json`, `timestamps/V.timestamp.json`, `V.snapshot.json`,
//!   `V.targets.json`, `changes/V.json`, `leaf-snapshots/V.leaves.gz`, both consistent-snapshot names of a target), and which
//!   of them are immutable and which are heads (for caching).
//! - [`change_record`]: the change record `changes/V.json`, typed, serialized byte for byte as
//!   the signer publishes it and parsed as strictly as the auditor needs.
//! - [`leaves`]: the binary encoding of leaf entries (key, contents, name) that the signer's
//!   checkpoint holds, with a decoder that allocates no more than its input justifies.
//! - [`leaf_snapshot`]: `leaf-snapshots/V.leaves.gz`, every leaf of a role at one timestamp
//!   version (gzip over a header and the leaf entries), decoded under a size bound and checked
//!   against the signed root of that version.
//! - [`hex_digest`]: serde for hashes as the POUF writes them, for other typed formats.
//!
//! The crate does no I/O, starts no threads and has no unsafe code, so that a client such as
//! cargo can embed it next to `tuf-merkle`'s verifier. Hashes are [`tuf_merkle::Digest`]s,
//! written as 64 lowercase hex digits, the only form the POUF writes.
//!
//! Properties kept:
//! - **Byte identity.** What this crate writes is exactly what the signer has published so far:
//!   the change record's keys in sorted order at every level (the order `serde_json::json!`
//!   gave them), `null` for an absent value, compact JSON; the leaf entries byte for byte as
//!   the checkpoint wrote them. The tests compare with records and checkpoints made by the
//!   signer itself (`tests/fixtures/`). The order is written out here, so it no longer depends on
//!   whether some crate in the build turns on serde_json's `preserve_order`.
//! - **One reading.** Parsing refuses what the signer never writes where a second reading could
//!   matter: hashes that are not 64 lowercase hex digits, leaf contents that are not one of D2's
//!   two canonical shapes, a field twice, a tombstone with a hash. Unknown fields of a change
//!   record are ignored, so that a record can gain a field without breaking auditors.
//! - **Bounded work on untrusted input.** No count read from the input makes the decoder
//!   allocate or loop beyond what the input's own length allows.
//!
//! D2's version rules themselves live in [`tuf_merkle::rules`].

#![forbid(unsafe_code)]

pub mod change_record;
pub mod hex_digest;
pub mod leaf_snapshot;
pub mod leaves;
pub mod paths;

pub use change_record::{Change, ChangeRecord};
pub use leaves::LeafEntry;
