//! `tuf-merkle`: the Merkle prefix tree of POUF `tuf-mpt-sha256-v1`, for TUF repositories that
//! use TAP-16 snapshot Merkle trees.
//!
//! - [`tree::Tree`] keeps the leaves of one role (one per target, keyed by `H(name)`), computes
//!   the root that goes into the signed timestamp, and keeps cheap versions for proofs.
//! - [`rules`] holds D2's version rules (the next contents of a target after an upsert or a
//!   delete), written once for the tree and for the signer that validates batches.
//! - [`proof`] holds membership and non-membership proofs, [`multiproof`] the compact proof for
//!   many names at once; both verify as pure functions of a root and a proof.
//! - [`json`] reads and writes them: TAP-16's snapshot Merkle metadata and this POUF's own forms,
//!   strictly, with size limits; [`binary`] the compact binary encoding of the same proofs
//!   (raw hashes, a bitmap of empty siblings), one byte string per proof.
//!
//! The crate does no I/O and has no unsafe code, so that a client such as cargo can embed the
//! verifier. `docs/pouf.md` in the repository specifies every byte.

#![forbid(unsafe_code)]

pub mod binary;
pub mod contents;
pub mod hash;
pub mod json;
pub mod multiproof;
pub mod proof;
pub mod rules;
pub mod tree;

pub use contents::LeafContents;
pub use hash::{Digest, EMPTY, key_of};
pub use proof::{MembershipProof, NonMembershipProof, Proof, ProofError, Terminal};
pub use tree::Tree;
