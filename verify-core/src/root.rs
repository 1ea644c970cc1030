//! The trusted root and the root chain (TUF 5.2, 5.3).
//!
//! Properties kept:
//! - a [`TrustedRoot`] holds a root that met the threshold of its own root role: the one the
//!   caller brought out of band ([`TrustedRoot::new`]), or one reached from it one version at a
//!   time ([`TrustedRoot::update`]);
//! - version N+1 replaces N only if a threshold of N's root keys **and** a threshold of its own
//!   root keys signed it (TUF 5.3.4, 5.3.5) and its version is exactly N+1 (5.3.6); N's keys
//!   are counted before anything but the envelope of N+1 is read;
//! - a refused update leaves the trusted root as it was;
//! - expiry is checked only against the caller's `now`, and only where TUF checks it: on the
//!   newest root, once the chain is walked (5.3.10) — an expired trusted root may still be
//!   updated, which is how a client recovers from one.

use std::time::SystemTime;

use crate::error::{RoleType, SignedBy, VerifyError};
use crate::metadata::{Envelope, Root};

/// A root the caller trusts, and the only thing timestamps are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRoot {
    root: Root,
}

/// What a root update changed that the caller's stored state depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootUpdate {
    /// The new root's version.
    pub version: u64,
    /// The timestamp role's key IDs or threshold changed. TUF 5.3.11: the caller discards its
    /// trusted timestamp (and snapshot), so that a rollback floor set by a compromised key can
    /// be left behind.
    pub timestamp_keys_changed: bool,
    /// The snapshot role's key IDs or threshold changed (TUF 5.3.11: discard the trusted
    /// snapshot).
    pub snapshot_keys_changed: bool,
}

impl TrustedRoot {
    /// Trusts `bytes`, a root the caller got out of band (`1.root.json` shipped with the
    /// program, or the newest root it verified before), once it is well formed and signed by a
    /// threshold of its own root keys. Its expiry is not checked here (see
    /// [`TrustedRoot::check_expiry`]).
    pub fn new(bytes: &[u8]) -> Result<TrustedRoot, VerifyError> {
        let env = Envelope::parse(RoleType::Root, bytes)?;
        let root = Root::from_envelope(&env)?;
        root.check_threshold(RoleType::Root, &env, SignedBy::Itself)?;
        Ok(TrustedRoot { root })
    }

    /// Verifies `next_bytes` as `N+1.root.json` after the trusted root N and, if it passes,
    /// trusts it instead. On any error the trusted root is unchanged.
    pub fn update(&mut self, next_bytes: &[u8]) -> Result<RootUpdate, VerifyError> {
        let trusted = self.root.version();
        let expected = trusted
            .checked_add(1)
            .ok_or(VerifyError::VersionOverflow { version: trusted })?;
        let env = Envelope::parse(RoleType::Root, next_bytes)?;
        // 5.3.4: N's keys, before the new root's contents are read.
        self.root
            .check_threshold(RoleType::Root, &env, SignedBy::Root { version: trusted })?;
        let next = Root::from_envelope(&env)?;
        // 5.3.5: its own keys.
        next.check_threshold(RoleType::Root, &env, SignedBy::Itself)?;
        // 5.3.6.
        if next.version() != expected {
            return Err(VerifyError::RootVersion {
                expected,
                found: next.version(),
            });
        }
        let update = RootUpdate {
            version: expected,
            timestamp_keys_changed: self.root.role(RoleType::Timestamp)
                != next.role(RoleType::Timestamp),
            snapshot_keys_changed: self.root.role(RoleType::Snapshot)
                != next.role(RoleType::Snapshot),
        };
        self.root = next;
        Ok(update)
    }

    /// Refuses a root that has expired at `now` (TUF 5.3.10, on the newest root once the chain
    /// is walked). [`crate::verify_timestamp`] calls it too.
    pub fn check_expiry(&self, now: SystemTime) -> Result<(), VerifyError> {
        if self.root.expires().is_expired_at(now) {
            Err(VerifyError::Expired {
                role: RoleType::Root,
                version: self.root.version(),
                expires: self.root.expires().clone(),
            })
        } else {
            Ok(())
        }
    }

    /// The trusted root.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Its version.
    pub fn version(&self) -> u64 {
        self.root.version()
    }
}
