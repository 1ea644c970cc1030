//! Documents signed by keys the caller trusts outside any root: an auditor's attestation
//! (`docs/client.md`, "The auditor"), checked with the same signature rules as TUF metadata.
//!
//! Properties kept:
//! - a document is accepted only if a threshold of distinct keys among [`TrustedKeys`] signed
//!   the OLPC canonical JSON of its `signed`, counted exactly as a role's signatures are (one
//!   key under two IDs counts once; two signatures under one key ID refuse the document), and
//!   only if `signed._type` is the type the caller expects, so a document signed for one
//!   purpose (or a TUF role signed by the same key) is never accepted as another;
//! - the keys are TUF key objects, each under its own TUF key ID, of the types the core
//!   verifies ([`crate::PublicKey::from_key_json`]); the threshold is at least 1 by its type.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use serde_json::Value;

use crate::error::{Document, SignedBy, VerifyError};
use crate::key::{KeyId, PublicKey};
use crate::metadata::Envelope;

/// Keys the caller trusts, and how many of them must sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: BTreeMap<KeyId, PublicKey>,
    ids: Vec<KeyId>,
    threshold: u64,
}

impl TrustedKeys {
    /// `keys` (a key given twice counts once), of which `threshold` distinct ones must sign.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>, threshold: NonZeroU64) -> TrustedKeys {
        let keys: BTreeMap<KeyId, PublicKey> = keys.into_iter().map(|k| (*k.key_id(), k)).collect();
        TrustedKeys {
            ids: keys.keys().copied().collect(),
            keys,
            threshold: threshold.get(),
        }
    }

    /// The keys, by key ID.
    pub fn keys(&self) -> &BTreeMap<KeyId, PublicKey> {
        &self.keys
    }

    /// How many distinct keys must sign.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// Verifies `bytes`, a document in the TUF envelope (`signed`, `signatures`) whose
    /// `signed._type` must be `type_name` (which also names the document in errors): a
    /// threshold of these keys signed it. Returns `signed`, exactly as the signatures cover it,
    /// for the caller to read.
    pub fn verify(&self, type_name: &'static str, bytes: &[u8]) -> Result<Value, VerifyError> {
        let env = Envelope::parse(Document::Named(type_name), bytes)?;
        env.check_threshold(&self.keys, &self.ids, self.threshold, SignedBy::TrustedKeys)?;
        env.check_type_named(type_name)?;
        Ok(env.into_signed())
    }
}
