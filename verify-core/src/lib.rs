//! `tuf-verify-core`: the verifying core of a TUF client for TAP-16 Merkle snapshots, small
//! enough for cargo or rustup to embed (`docs/design.md`, D10).
//!
//! It checks the root chain, the timestamp, and membership, non-membership and multi-proofs
//! against the timestamp's `merkle_root`. It does no I/O, has no clock, no async runtime and no
//! HTTP stack: the caller brings the bytes it downloaded and the time it trusts. Signatures are
//! verified in pure Rust (`ed25519-dalek` for Ed25519, RustCrypto's `p256` for ECDSA P-256), so
//! it builds without a C compiler (checked with `CC=/bin/false CXX=/bin/false cargo build -p
//! tuf-verify-core` from an empty target directory; `docs/client.md`).
//!
//! Properties kept:
//! - **Roots.** A [`TrustedRoot`] is a root signed by a threshold of its own root keys, given
//!   out of band, or reached from one by [`TrustedRoot::update`], which accepts version N+1
//!   only if a threshold of N's root keys and of its own signed it (TUF 5.3.4–5.3.6).
//! - **Timestamps.** [`verify_timestamp`] accepts a timestamp only if a threshold of the trusted
//!   root's timestamp keys signed it and neither it nor the root has expired at the caller's
//!   `now`; [`Timestamp::check_rollback`] refuses an older version, a second timestamp with the
//!   trusted version, and a snapshot version going down.
//! - **Proofs.** Proofs are checked only against the `merkle_root` of a verified [`Timestamp`],
//!   by `tuf-merkle` (the tree math is not duplicated), and only for the names asked.
//! - **Signatures.** A threshold counts distinct keys the role lists: a signature counts only
//!   under a key ID the role lists, which the root was checked to list under the key's own TUF
//!   key ID (SHA-256 of its canonical JSON); a key that signs twice, or is listed under two IDs,
//!   counts once. Signatures are checked over the OLPC canonical JSON of `signed`, which must
//!   stand for exactly the parsed document (no non-integer numbers, every string in NFC), and
//!   no signature tough refuses is accepted (table below).
//! - **Parsing.** Types mirror the TUF specification's vocabulary and exist only as the result
//!   of parsing that checked them (private fields); JSON with a repeated member is refused;
//!   every refusal is its own [`VerifyError`] variant.
//! - No `unsafe` code (`#![forbid(unsafe_code)]`), no panics on input.
//!
//! ```no_run
//! use std::time::SystemTime;
//! use tuf_verify_core::{Membership, TrustedRoot, verify_timestamp};
//!
//! # fn fetch(_: &str) -> Option<Vec<u8>> { None }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The root shipped with the program (or the newest one verified before).
//! let mut root = TrustedRoot::new(&std::fs::read("1.root.json")?)?;
//! // Walk the chain: N+1.root.json until there is none.
//! while let Some(next) = fetch(&format!("{}.root.json", root.version() + 1)) {
//!     root.update(&next)?;
//! }
//! let now = SystemTime::now();
//! let timestamp = verify_timestamp(&root, &fetch("timestamp.json").unwrap_or_default(), now)?;
//! let proof = fetch("api/v1/crates.io/proof/se/rd/serde").unwrap_or_default();
//! match timestamp.verify_proof_json("se/rd/serde", &proof)? {
//!     Membership::Member(contents) => println!("present: {contents:?}"),
//!     Membership::Absent => println!("never published"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What the core and tough accept
//!
//! The core is meant to accept what tough accepts and to refuse what it refuses, wherever a
//! signature is concerned; where they differ, the core is the stricter, and it says so here.
//! `tests/interop.rs` checks every row against tough 0.24 (aws-lc-rs) and tuf-keys.
//!
//! INTEROP_TABLE
//!
//! # Modules
//!
//! [`key`]: key IDs and signature checks; [`metadata`]: the TUF types and threshold counting;
//! [`root`]: the root chain; [`timestamp`]: the timestamp and the rollback rules; [`proof`]:
//! proofs against a verified timestamp; [`time`]: `expires`; [`error`]: every refusal.

#![forbid(unsafe_code)]

pub mod error;
mod json;
pub mod key;
pub mod metadata;
pub mod proof;
pub mod root;
pub mod time;
pub mod timestamp;

pub use error::{RoleType, SignedBy, VerifyError};
pub use key::{KeyId, KeyType, PublicKey};
pub use metadata::{MetaFile, RoleKeys, Root, Timestamp};
pub use proof::Membership;
pub use root::{RootUpdate, TrustedRoot};
pub use time::Expires;
pub use timestamp::{Freshness, load_trusted_timestamp, verify_timestamp};
/// The proof types and their errors, from `tuf-merkle`, so that a caller needs no other crate.
pub use tuf_merkle::multiproof::MultiProof;
pub use tuf_merkle::{Digest, LeafContents, Proof, ProofError};
