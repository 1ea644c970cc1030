//! Membership, non-membership and multi-proofs (POUF `tuf-mpt-sha256-v1`, `docs/pouf.md`)
//! against the `merkle_root` of a verified timestamp.
//!
//! Properties kept:
//! - a proof is checked only against the `merkle_root` of a [`Timestamp`], which only
//!   verification makes: there is no way to check a proof against a root the caller typed in;
//! - all tree math, parsing rules and canonical-form checks are `tuf-merkle`'s, unchanged
//!   (`verify_for`), so the core and the signer, the auditor and the Python checker of the POUF
//!   vectors apply the same rules;
//! - a proof counts only for the names asked: a proof about another name, or a multi-proof with
//!   a name missing or added, is refused even if it verifies (POUF §4–§6).

use std::collections::BTreeMap;

use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{LeafContents, Proof};

use crate::error::VerifyError;
use crate::metadata::Timestamp;

/// What a verified proof says about one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The tree has a leaf for the name: its contents, which may be a tombstone
    /// ([`LeafContents::Deleted`]: the target was deleted, not withheld).
    Member(LeafContents),
    /// The tree has no leaf for the name: it was never published.
    Absent,
}

impl Membership {
    fn of(contents: Option<&LeafContents>) -> Membership {
        contents.map_or(Membership::Absent, |c| Membership::Member(*c))
    }
}

impl Timestamp {
    /// The `merkle_root` proofs are checked against.
    fn proof_root(&self) -> Result<&tuf_merkle::Digest, VerifyError> {
        self.merkle_root().ok_or(VerifyError::NoMerkleRoot {
            version: self.version(),
        })
    }

    fn proof_error(&self, source: tuf_merkle::ProofError) -> VerifyError {
        VerifyError::Proof {
            version: self.version(),
            source,
        }
    }

    /// Verifies a single proof (membership or non-membership) for `asked` against this
    /// timestamp's `merkle_root`.
    pub fn verify_proof(&self, asked: &str, proof: &Proof) -> Result<Membership, VerifyError> {
        let root = self.proof_root()?;
        proof
            .verify_for(root, asked)
            .map_err(|e| self.proof_error(e))?;
        Ok(Membership::of(proof.contents()))
    }

    /// [`Timestamp::verify_proof`] of a proof's JSON text (TAP-16 snapshot Merkle metadata, or
    /// the POUF's non-membership form), parsed strictly with the POUF's 64 KiB limit.
    pub fn verify_proof_json(&self, asked: &str, json: &[u8]) -> Result<Membership, VerifyError> {
        self.proof_root()?;
        let proof = Proof::from_json(json).map_err(|e| self.proof_error(e))?;
        self.verify_proof(asked, &proof)
    }

    /// Verifies a multi-proof for exactly the names `asked` (a name asked twice counts once)
    /// against this timestamp's `merkle_root`; returns what it proves for each name.
    pub fn verify_multi_proof<S: AsRef<str>>(
        &self,
        asked: &[S],
        proof: &MultiProof,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        let root = self.proof_root()?;
        proof
            .verify_for(root, asked)
            .map_err(|e| self.proof_error(e))?;
        Ok(proof
            .targets()
            .iter()
            .map(|(name, contents)| (name.clone(), Membership::of(contents.as_ref())))
            .collect())
    }

    /// [`Timestamp::verify_multi_proof`] of a multi-proof's JSON text, parsed strictly with at
    /// most `limit` bytes ([`tuf_merkle::json::MAX_MULTI_PROOF_BYTES`], 64 MiB, is the POUF's
    /// default).
    pub fn verify_multi_proof_json<S: AsRef<str>>(
        &self,
        asked: &[S],
        json: &[u8],
        limit: usize,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        self.proof_root()?;
        let proof =
            MultiProof::from_json_with_limit(json, limit).map_err(|e| self.proof_error(e))?;
        self.verify_multi_proof(asked, &proof)
    }
}
