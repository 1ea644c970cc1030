//! The metadata of any top-level role under a trusted root: what a classic role's
//! `snapshot.json` and `targets.json` need (TUF 5.5, 5.6), where the core has no type of its own.
//!
//! Properties kept:
//! - a [`RoleMetadata`] returned here met the threshold of `role`'s keys in the trusted root it
//!   was checked against, and its `_type` is that role's: a document signed for one role is
//!   never accepted as another;
//! - nothing but the envelope is read before the signatures are counted; then only the members
//!   every role has (`spec_version` TUF 1.x, `version` at least 1, `expires` in TUF's one form)
//!   are checked, and the rest of `signed` is handed to the caller exactly as the signatures
//!   cover it;
//! - expiry is checked only against the caller's `now` ([`RoleMetadata::check_expiry`]), and
//!   what a role's version must be (the one its parent lists, not below the trusted one) is the
//!   caller's, who knows the parent.

use crate::error::{RoleType, SignedBy, VerifyError};
use crate::metadata::{Envelope, RoleMetadata};
use crate::root::TrustedRoot;

/// Verifies `bytes` as `role`'s metadata under `root`: signed by a threshold of the root's keys
/// for `role` (TUF 5.5.3, 5.6.3), of that role's `_type`, TUF 1.x, with a version and an
/// `expires`. For `root` itself this is only the trusted root's root keys: a new root is
/// [`TrustedRoot::update`]'s, which also needs its own keys; a timestamp is
/// [`crate::verify_timestamp`]'s, which reads all of it.
pub fn verify_role(
    root: &TrustedRoot,
    role: RoleType,
    bytes: &[u8],
) -> Result<RoleMetadata, VerifyError> {
    let env = Envelope::parse(role, bytes)?;
    root.root().check_threshold(
        role,
        &env,
        SignedBy::Root {
            version: root.version(),
        },
    )?;
    RoleMetadata::from_envelope(role, env)
}
