//! Membership, non-membership and multi-proofs (POUF `tuf-mpt-sha256-v1`, `docs/pouf.md`)
//! against the `merkle_root` of a verified timestamp.
//!
//! Properties kept:
//! - a proof is checked only against a [`ProofRoot`]: the `merkle_root` of a [`Timestamp`],
//!   which only verification makes, or a root the caller verified itself before and stored
//!   ([`ProofRoot::trusted`]: a client's state directory, or a root an auditor attested, whose
//!   attestation [`crate::TrustedKeys`] checked). That constructor is the one place where the
//!   core takes a root on the caller's word, and it says so;
//! - all tree math, parsing rules and canonical-form checks are `tuf-merkle`'s, unchanged
//!   (`verify_for`), so the core and the signer, the auditor and the Python checker of the POUF
//!   vectors apply the same rules;
//! - a proof counts only for the names asked: a proof about another name, or a multi-proof with
//!   a name missing or added, is refused even if it verifies (POUF §4–§6);
//! - both encodings, JSON (POUF §4–§6) and binary (§10), are decoded into the same proof types
//!   and verified by the same code: the encoding changes the bytes, never what is accepted;
//! - in an answer of the signer's API, only the proof counts: its `timestamp_version` and
//!   `merkle_root` are the server's claims and are not used.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use tuf_merkle::binary::Answer;
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{LeafContents, Proof, ProofError};

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

/// A Merkle root that proofs are checked against, with the timestamp version that signed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofRoot {
    version: u64,
    root: tuf_merkle::Digest,
}

impl ProofRoot {
    /// The `merkle_root` of a verified timestamp; [`VerifyError::NoMerkleRoot`] for a timestamp
    /// without one (a classic role's).
    pub fn of(timestamp: &Timestamp) -> Result<ProofRoot, VerifyError> {
        let root = timestamp.merkle_root().ok_or(VerifyError::NoMerkleRoot {
            version: timestamp.version(),
        })?;
        Ok(ProofRoot {
            version: timestamp.version(),
            root: *root,
        })
    }

    /// A root the caller verified before and kept: the `merkle_root` of timestamp `version`
    /// that it checked with [`crate::verify_timestamp`] and stored (a client's state directory
    /// between runs), or the root of timestamp `version` an auditor attested, whose attestation
    /// it checked with [`crate::TrustedKeys`]. The core cannot tell where `root` came from: the
    /// guarantee of every proof checked against it rests on the caller's storage.
    pub fn trusted(version: u64, root: tuf_merkle::Digest) -> ProofRoot {
        ProofRoot { version, root }
    }

    /// The timestamp version whose `merkle_root` this is.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The root.
    pub fn root(&self) -> &tuf_merkle::Digest {
        &self.root
    }

    fn proof_error(&self, source: tuf_merkle::ProofError) -> VerifyError {
        VerifyError::Proof {
            version: self.version,
            source,
        }
    }

    /// Verifies a single proof (membership or non-membership) for `asked` against this root.
    pub fn verify_proof(&self, asked: &str, proof: &Proof) -> Result<Membership, VerifyError> {
        proof
            .verify_for(&self.root, asked)
            .map_err(|e| self.proof_error(e))?;
        Ok(Membership::of(proof.contents()))
    }

    /// [`ProofRoot::verify_proof`] of a proof's JSON text (TAP-16 snapshot Merkle metadata, or
    /// the POUF's non-membership form), parsed strictly with the POUF's 64 KiB limit.
    pub fn verify_proof_json(&self, asked: &str, json: &[u8]) -> Result<Membership, VerifyError> {
        let proof = Proof::from_json(json).map_err(|e| self.proof_error(e))?;
        self.verify_proof(asked, &proof)
    }

    /// [`ProofRoot::verify_proof`] of a proof in the binary encoding (POUF §10), decoded
    /// strictly with its 16 KiB limit.
    pub fn verify_proof_binary(
        &self,
        asked: &str,
        bytes: &[u8],
    ) -> Result<Membership, VerifyError> {
        let proof = Proof::from_binary(bytes).map_err(|e| self.proof_error(e))?;
        self.verify_proof(asked, &proof)
    }

    /// [`ProofRoot::verify_proof`] of the body of the signer's answer to `GET
    /// …/proof/{name}` (`docs/api.md`), JSON or binary (`Accept:
    /// application/vnd.tuf-merkle-proof`), told apart by its first bytes. Only the proof in
    /// it counts (the caller bounds the body it reads; the proof has its own limit).
    pub fn verify_proof_answer(&self, asked: &str, body: &[u8]) -> Result<Membership, VerifyError> {
        match answer_proof(body).map_err(|e| self.proof_error(e))? {
            AnswerProof::Json(json) => self.verify_proof_json(asked, json.get().as_bytes()),
            AnswerProof::Binary(bytes) => self.verify_proof_binary(asked, bytes),
        }
    }

    /// Verifies a multi-proof for exactly the names `asked` (a name asked twice counts once)
    /// against this root; returns what it proves for each name.
    pub fn verify_multi_proof<S: AsRef<str>>(
        &self,
        asked: &[S],
        proof: &MultiProof,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        proof
            .verify_for(&self.root, asked)
            .map_err(|e| self.proof_error(e))?;
        Ok(proof
            .targets()
            .iter()
            .map(|(name, contents)| (name.clone(), Membership::of(contents.as_ref())))
            .collect())
    }

    /// [`ProofRoot::verify_multi_proof`] of a multi-proof's JSON text, parsed strictly with at
    /// most `limit` bytes ([`tuf_merkle::json::MAX_MULTI_PROOF_BYTES`], 64 MiB, is the POUF's
    /// default).
    pub fn verify_multi_proof_json<S: AsRef<str>>(
        &self,
        asked: &[S],
        json: &[u8],
        limit: usize,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        let proof =
            MultiProof::from_json_with_limit(json, limit).map_err(|e| self.proof_error(e))?;
        self.verify_multi_proof(asked, &proof)
    }

    /// [`ProofRoot::verify_multi_proof`] of a multi-proof in the binary encoding (POUF §10),
    /// decoded strictly with at most `limit` bytes
    /// ([`tuf_merkle::binary::MAX_BINARY_MULTI_PROOF_BYTES`], 64 MiB, is the POUF's default).
    pub fn verify_multi_proof_binary<S: AsRef<str>>(
        &self,
        asked: &[S],
        bytes: &[u8],
        limit: usize,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        let proof =
            MultiProof::from_binary_with_limit(bytes, limit).map_err(|e| self.proof_error(e))?;
        self.verify_multi_proof(asked, &proof)
    }

    /// [`ProofRoot::verify_multi_proof`] of the body of the signer's answer to `POST
    /// …/proofs`, JSON or binary, its proof at most `limit` bytes.
    pub fn verify_multi_proof_answer<S: AsRef<str>>(
        &self,
        asked: &[S],
        body: &[u8],
        limit: usize,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        match answer_proof(body).map_err(|e| self.proof_error(e))? {
            AnswerProof::Json(json) => {
                self.verify_multi_proof_json(asked, json.get().as_bytes(), limit)
            }
            AnswerProof::Binary(bytes) => self.verify_multi_proof_binary(asked, bytes, limit),
        }
    }
}

/// The proof in one of the signer's proof answers.
enum AnswerProof<'a> {
    /// The text of the JSON answer's `proof` member.
    Json(Box<RawValue>),
    /// The proof of a binary answer (POUF §10.5).
    Binary(&'a [u8]),
}

/// The JSON answer: exactly these members, none twice (serde refuses a repeated field).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // The envelope is read to be refused if malformed; only `proof` is used.
struct JsonAnswer {
    role: String,
    timestamp_version: u64,
    merkle_root: String,
    proof: Box<RawValue>,
}

fn answer_proof(body: &[u8]) -> Result<AnswerProof<'_>, ProofError> {
    if Answer::is_binary(body) {
        return Ok(AnswerProof::Binary(Answer::decode(body)?.proof));
    }
    let answer: JsonAnswer = serde_json::from_slice(body)
        .map_err(|e| ProofError::Malformed(format!("the proof answer: {e}")))?;
    Ok(AnswerProof::Json(answer.proof))
}

impl Timestamp {
    /// Verifies a single proof (membership or non-membership) for `asked` against this
    /// timestamp's `merkle_root` ([`ProofRoot::verify_proof`]).
    pub fn verify_proof(&self, asked: &str, proof: &Proof) -> Result<Membership, VerifyError> {
        ProofRoot::of(self)?.verify_proof(asked, proof)
    }

    /// [`ProofRoot::verify_proof`] of a proof's JSON text ([`ProofRoot::verify_proof_json`]).
    pub fn verify_proof_json(&self, asked: &str, json: &[u8]) -> Result<Membership, VerifyError> {
        ProofRoot::of(self)?.verify_proof_json(asked, json)
    }

    /// Verifies a multi-proof for exactly the names `asked` against this timestamp's
    /// `merkle_root` ([`ProofRoot::verify_multi_proof`]).
    pub fn verify_multi_proof<S: AsRef<str>>(
        &self,
        asked: &[S],
        proof: &MultiProof,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        ProofRoot::of(self)?.verify_multi_proof(asked, proof)
    }

    /// [`ProofRoot::verify_multi_proof`] of a multi-proof's JSON text
    /// ([`ProofRoot::verify_multi_proof_json`]).
    pub fn verify_multi_proof_json<S: AsRef<str>>(
        &self,
        asked: &[S],
        json: &[u8],
        limit: usize,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        ProofRoot::of(self)?.verify_multi_proof_json(asked, json, limit)
    }

    /// [`ProofRoot::verify_proof_binary`] against this timestamp's `merkle_root`.
    pub fn verify_proof_binary(
        &self,
        asked: &str,
        bytes: &[u8],
    ) -> Result<Membership, VerifyError> {
        ProofRoot::of(self)?.verify_proof_binary(asked, bytes)
    }

    /// [`ProofRoot::verify_proof_answer`] against this timestamp's `merkle_root`.
    pub fn verify_proof_answer(&self, asked: &str, body: &[u8]) -> Result<Membership, VerifyError> {
        ProofRoot::of(self)?.verify_proof_answer(asked, body)
    }

    /// [`ProofRoot::verify_multi_proof_binary`] against this timestamp's `merkle_root`.
    pub fn verify_multi_proof_binary<S: AsRef<str>>(
        &self,
        asked: &[S],
        bytes: &[u8],
        limit: usize,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        ProofRoot::of(self)?.verify_multi_proof_binary(asked, bytes, limit)
    }

    /// [`ProofRoot::verify_multi_proof_answer`] against this timestamp's `merkle_root`.
    pub fn verify_multi_proof_answer<S: AsRef<str>>(
        &self,
        asked: &[S],
        body: &[u8],
        limit: usize,
    ) -> Result<BTreeMap<String, Membership>, VerifyError> {
        ProofRoot::of(self)?.verify_multi_proof_answer(asked, body, limit)
    }
}
