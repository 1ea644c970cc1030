//! `timestamp.json` (TUF 5.4), and the rollback rules between a trusted timestamp and a new one.
//!
//! Properties kept:
//! - a [`Timestamp`] returned here met the threshold of the timestamp role of the trusted root
//!   it was checked against, and is that role's `_type`; [`verify_timestamp`] also refuses it
//!   expired at the caller's `now`, and refuses an expired root;
//! - its `merkle_root`, when present, is exactly 64 lowercase hex digits (one written form);
//! - [`Timestamp::check_rollback`] lets the trusted state only go forward: an older version is
//!   refused, the same version is accepted only as the very same bytes (a second timestamp with
//!   a trusted version is refused, and the trusted one kept), and the snapshot version it names
//!   never goes down.

use std::time::SystemTime;

use crate::error::{RoleType, SignedBy, VerifyError};
use crate::metadata::{Envelope, Timestamp};
use crate::root::TrustedRoot;

/// Verifies `bytes` as the newest `timestamp.json` under `root` at the caller's `now`:
/// the root is not expired (TUF 5.3.10), the timestamp is signed by a threshold of the root's
/// timestamp keys (5.4.2), is a TUF 1.x timestamp that lists `snapshot.json` alone, and has not
/// expired (5.4.4). Rollback against a trusted timestamp is [`Timestamp::check_rollback`].
pub fn verify_timestamp(
    root: &TrustedRoot,
    bytes: &[u8],
    now: SystemTime,
) -> Result<Timestamp, VerifyError> {
    root.check_expiry(now)?;
    let timestamp = load_trusted_timestamp(root, bytes)?;
    if timestamp.expires().is_expired_at(now) {
        return Err(VerifyError::Expired {
            role: RoleType::Timestamp,
            version: timestamp.version(),
            expires: timestamp.expires().clone(),
        });
    }
    Ok(timestamp)
}

/// Verifies `bytes` as a timestamp the caller trusted before and stored (TUF 5.2: trusted
/// metadata is re-checked for its signatures, not for expiry): everything
/// [`verify_timestamp`] checks except the two expiry checks. If the root rotated the timestamp
/// keys since, this fails, and the caller drops its stored timestamp (TUF 5.3.11).
pub fn load_trusted_timestamp(root: &TrustedRoot, bytes: &[u8]) -> Result<Timestamp, VerifyError> {
    let env = Envelope::parse(RoleType::Timestamp, bytes)?;
    root.root().check_threshold(
        RoleType::Timestamp,
        &env,
        SignedBy::Root {
            version: root.version(),
        },
    )?;
    Timestamp::from_envelope(&env)
}

/// How a verified timestamp stands to the trusted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// It is newer: trust it instead.
    Newer,
    /// It is the trusted timestamp itself, byte for byte: nothing changed.
    Unchanged,
}

impl Timestamp {
    /// Checks this (new, verified) timestamp against `trusted`, the one the caller trusted
    /// before (TUF 5.4.3): a lower version is [`VerifyError::Rollback`]; the same version with
    /// other bytes is [`VerifyError::SameVersionDifferentBytes`] (keep the trusted one); a
    /// snapshot version lower than the trusted one's is [`VerifyError::SnapshotRollback`].
    pub fn check_rollback(&self, trusted: &Timestamp) -> Result<Freshness, VerifyError> {
        if self.version() < trusted.version() {
            return Err(VerifyError::Rollback {
                trusted: trusted.version(),
                new: self.version(),
            });
        }
        if self.version() == trusted.version() {
            return if self.file_sha256() == trusted.file_sha256() {
                Ok(Freshness::Unchanged)
            } else {
                Err(VerifyError::SameVersionDifferentBytes {
                    version: self.version(),
                })
            };
        }
        if self.snapshot().version() < trusted.snapshot().version() {
            return Err(VerifyError::SnapshotRollback {
                trusted: trusted.snapshot().version(),
                new: self.snapshot().version(),
            });
        }
        Ok(Freshness::Newer)
    }
}
