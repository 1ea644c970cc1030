//! A change to a target as it flows through the signer: requested ([`Op`]), accepted by the
//! version rules ([`Change`], the one shape the log, the tree and the change record are made
//! from), and answered ([`Applied`]).
//!
//! Property kept: a change's key, `H(name)`, is computed once, when the rules accept it, and
//! carried from there; the log, the tree and the change record all see the same change.

use bytes::Bytes;
use tuf_merkle::{Digest, LeafContents};

/// A requested change to one target, as the HTTP API validated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Add or update a target.
    Upsert {
        /// Target name (already validated).
        name: String,
        /// Length in bytes.
        length: u64,
        /// SHA-256 of the bytes.
        sha256: Digest,
    },
    /// Delete a target (it becomes a tombstone).
    Delete {
        /// Target name (already validated).
        name: String,
    },
}

impl Op {
    /// The target name.
    pub fn name(&self) -> &str {
        match self {
            Op::Upsert { name, .. } | Op::Delete { name } => name,
        }
    }
}

/// A target's bytes uploaded with its change: stored in the published repository by the
/// sequencer once the change is accepted and before it is logged, so that a durable change
/// never points at bytes that are not there.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The target name.
    pub name: String,
    /// SHA-256 of `bytes`, computed by the HTTP side.
    pub sha256: Digest,
    /// The bytes.
    pub bytes: Bytes,
}

/// A change the version rules accepted and that changes something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The target name.
    pub name: String,
    /// `H(name)`.
    pub key: Digest,
    /// Its contents before (`None`: a new target).
    pub old: Option<LeafContents>,
    /// Its contents after.
    pub new: LeafContents,
}

impl Change {
    /// Whether the change makes a target present that was not (a new entry in a classic
    /// `targets.json`).
    pub fn adds_present_target(&self) -> bool {
        is_present(&self.new) && !self.old.as_ref().is_some_and(is_present)
    }
}

/// Whether the contents are a present target (not a tombstone).
pub fn is_present(contents: &LeafContents) -> bool {
    matches!(contents, LeafContents::Present { .. })
}

/// The outcome of one accepted op, as the requester sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The target name.
    pub name: String,
    /// Its contents before (`None`: new).
    pub old: Option<LeafContents>,
    /// Its contents after.
    pub new: LeafContents,
    /// Whether the op changed anything (an identical upsert does not).
    pub changed: bool,
}
