//! `tuf-verify-core`: the verifying core of a TUF client for TAP-16 Merkle snapshots, small
//! enough for cargo or rustup to embed (`docs/design.md`, D10).
//!
//! It checks the root chain, the timestamp, the other roles' metadata (a classic role's snapshot
//! and targets), documents signed by keys the caller trusts (an auditor's attestation), and
//! membership, non-membership and multi-proofs against the timestamp's `merkle_root`. It does no I/O, has no clock, no async runtime and no
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
//! - **Other roles.** [`verify_role`] accepts a role's metadata only if a threshold of the
//!   trusted root's keys for that role signed it and its `_type` is that role; it checks the
//!   members every role has and hands the rest of `signed` over exactly as signed.
//! - **Attestations.** [`TrustedKeys::verify`] accepts a document only if a threshold of the
//!   keys the caller trusts signed it, counted as a role's signatures are, and its `_type` is
//!   the one the caller expects.
//! - **Proofs.** Proofs are checked only against a [`ProofRoot`]: the `merkle_root` of a
//!   verified [`Timestamp`], or one the caller verified before and stored
//!   ([`ProofRoot::trusted`], the one constructor that takes a root on the caller's word), by
//!   `tuf-merkle` (the tree math is not duplicated), and only for the names asked, in either
//!   encoding (JSON, or binary: POUF §10).
//! - **Signatures.** A threshold counts distinct keys the role lists: a signature counts only
//!   under a key ID the role lists, which the root was checked to list under the key's own TUF
//!   key ID (SHA-256 of its canonical JSON); one key listed under two IDs counts once, and a
//!   document with two signatures under one key ID is refused, as tough refuses it. Signatures
//!   are checked over the OLPC canonical JSON of `signed`, which must stand for exactly the
//!   parsed document (no non-integer numbers, every string in NFC), and nothing tough refuses
//!   is accepted (table below).
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
//! // The signer's answer, JSON, or binary when asked with `Accept: ` followed by
//! // `tuf_verify_core::BINARY_PROOF_MEDIA_TYPE` (a third of the bytes, POUF §10).
//! let answer = fetch(&format!("api/v1/crates.io/proof/se/rd/serde?version={}", timestamp.version()))
//!     .unwrap_or_default();
//! match timestamp.verify_proof_answer("se/rd/serde", &answer)? {
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
//! | case | tough 0.24 (aws-lc-rs) | tuf-verify-core | note |
//! | --- | --- | --- | --- |
//! | Ed25519: signature by a tuf-keys key file | accepts | accepts | |
//! | Ed25519: S replaced by S + L (non-canonical scalar) | refuses | refuses | RFC 8032 requires `S < L` |
//! | Ed25519: signature truncated to 63 bytes, or with a 65th byte | refuses | refuses | |
//! | Ed25519: public key in uppercase hex | accepts | accepts | another key object, another key ID, the same key |
//! | Ed25519: public key not a curve point | refuses | refuses | tough: no signature verifies; the core: the root is refused |
//! | Ed25519: small-order public key (the identity) with the forgery R = identity, S = 0 | **accepts** | refuses | under such a key every message "verifies"; the core refuses small-order keys and `R` (`verify_strict`) |
//! | ECDSA: DER signature by a tuf-keys key file | accepts | accepts | |
//! | ECDSA: low S and high S (`s` and `n - s`, both valid) | accepts | accepts | neither requires low S |
//! | ECDSA: raw `r ‖ s` (64 bytes) instead of DER | refuses | refuses | TUF's `ecdsa-sha2-nistp256` signatures are DER |
//! | ECDSA: DER INTEGER with a superfluous leading zero | refuses | refuses | strict DER on both sides |
//! | ECDSA: DER SEQUENCE length in long form (`0x81 NN`) | refuses | refuses | |
//! | ECDSA: a byte after the DER SEQUENCE | refuses | refuses | |
//! | ECDSA: DER INTEGER `r` negative (top bit set, no leading zero) | refuses | refuses | |
//! | ECDSA: `s = 0`, or `s = n` | refuses | refuses | |
//! | ECDSA: public key as the hex of the uncompressed point | accepts | accepts | the sigstore spelling |
//! | ECDSA: keytype `ecdsa-sha2-nistp256` (the older name) | accepts | accepts | |
//! | ECDSA: PEM with CRLF line ends and a final newline | accepts | accepts | |
//! | ECDSA: PEM labelled `EC PUBLIC KEY` instead of `PUBLIC KEY` | accepts | refuses | tough ignores the label |
//! | ECDSA: public key a compressed point (SPKI in PEM, or hex) | accepts | refuses | tuf-keys and tough write uncompressed points only |
//! | ECDSA: public key not on the curve | refuses | refuses | |
//! | ECDSA: SubjectPublicKeyInfo naming another curve | refuses | refuses | |
//! | Two signature entries under one key ID (threshold 1 or 2) | refuses | refuses | so is one key ID in two cases (tough compares the bytes) |
//! | One key listed under two key IDs (PEM and hex), both signing, threshold 2 | accepts | refuses | the core counts key material once (`tests/refusals.rs`) |
//! | A signature entry whose key ID is in uppercase hex | accepts | refuses | the core counts a key ID only as the role writes it (python-tuf compares strings too) |
//! | A key listed under an ID that is not its key ID | refuses | refuses | |
//! | A string in `signed` not in Unicode NFC (signed over its NFC form) | accepts | refuses | OLPC canonical JSON normalises strings: the signature would stand for another document |
//! | `expires` with fractional seconds (`…T00:00:00.5Z`) | refuses | refuses | tough re-serialises it differently; the core reads `YYYY-MM-DDTHH:MM:SSZ` only |
//! | A non-integer number in `signed` (`1.0`) | refuses | refuses | canonical JSON has no such number |
//! | An unknown member in `signed` (TUF's extension point) | accepts | accepts | covered by the signatures |
//! | A member repeated in `signed` (an unknown member) | accepts | refuses | tough keeps the last; the core refuses every repeated member |
//! | A member repeated in `signed` (`version`) | refuses | refuses | |
//! | A role that lists a key ID the root has no key for | accepts | refuses | |
//! | A role other than the four top-level roles (`mirror`) | refuses | refuses | |
//! | An RSA key listed in the root, unused | accepts | refuses | D4 has Ed25519 and ECDSA P-256 only |
//! | A member beside `signed` and `signatures` | accepts | accepts | |
//!
//! Besides the table: the core refuses a `spec_version` that is not TUF 1.x, a timestamp whose
//! `meta` lists anything but `snapshot.json`, and a `merkle_root` that is not 64 lowercase hex
//! digits, none of which tough checks. Every "refuses" in the core's column is also a refusal in
//! tough's where tough checks the matter at all, and no row has the core accepting what tough
//! refuses; `tests/interop.rs` asserts both.
//!
//! # Modules
//!
//! [`key`]: key IDs and signature checks; [`metadata`]: the TUF types and threshold counting;
//! [`root`]: the root chain; [`timestamp`]: the timestamp and the rollback rules; [`role`]: any
//! other role's metadata; [`trusted_keys`]: documents signed by keys the caller trusts;
//! [`proof`]: proofs against a verified timestamp; [`time`]: `expires`; [`error`]: every
//! refusal.

#![forbid(unsafe_code)]

pub mod error;
mod json;
pub mod key;
pub mod metadata;
pub mod proof;
pub mod role;
pub mod root;
pub mod time;
pub mod timestamp;
pub mod trusted_keys;

pub use error::{Document, RoleType, SignedBy, VerifyError};
pub use key::{KeyId, KeyType, PublicKey};
pub use metadata::{MetaFile, RoleKeys, RoleMetadata, Root, Timestamp};
pub use proof::{Membership, ProofRoot};
pub use role::verify_role;
pub use root::{RootUpdate, TrustedRoot};
pub use time::Expires;
pub use timestamp::{Freshness, load_trusted_timestamp, verify_timestamp};
pub use trusted_keys::TrustedKeys;
/// The proof types and their errors, from `tuf-merkle`, so that a caller needs no other crate.
pub use tuf_merkle::binary::{Answer as BinaryAnswer, MEDIA_TYPE as BINARY_PROOF_MEDIA_TYPE};
pub use tuf_merkle::multiproof::MultiProof;
pub use tuf_merkle::{Digest, LeafContents, Proof, ProofError};
