//! What a role signs under: its root chain and its online key, checked against each other, and
//! how a reload hands a new one to the role's sequencer.
//!
//! Properties kept: a [`Trust`] exists only for a chain that [`RootChain::load`] verified and
//! whose current root lists the online key ([`RootChain::check_online_key`]), the same checks
//! at start and at a reload. A sequencer takes a new trust between rounds, publishes its root
//! files before it signs anything under it, and signs its next round with it (new targets,
//! snapshot and timestamp when the root changed).

use std::sync::Arc;

use tokio::sync::watch;

use crate::metadata::{MetadataError, MetadataSigner, RootChain, SharedSigner};

/// A role's verified root chain and the online key its current root lists.
pub struct Trust {
    /// Signs under the current root.
    pub signer: MetadataSigner,
    /// `(version, exact bytes)` of every root, from 1: what is published.
    pub roots: Vec<(u64, Vec<u8>)>,
    /// The online key's TUF key ID (hex).
    pub key_id: String,
}

impl Trust {
    /// Checks that `chain`'s current root lists `key` for the online roles.
    pub fn check(chain: RootChain, key: SharedSigner) -> Result<Self, MetadataError> {
        chain.check_online_key(key.public_key())?;
        let key_id = key.public_key().key_id_hex();
        Ok(Trust {
            signer: MetadataSigner::new(chain.current.signed, key),
            roots: chain.files,
            key_id,
        })
    }

    /// The current root's version.
    pub fn root_version(&self) -> u64 {
        self.signer.root_version()
    }
}

/// Where a role's sequencer learns of a new trust (the reload holds the sender).
pub type TrustUpdates = watch::Receiver<Arc<Trust>>;
