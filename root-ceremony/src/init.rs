//! What `init` decides before it writes anything: for every role, the chain a rotation starts
//! from and the new root's members, threshold, online key, version and expiry.
//!
//! Properties kept (each refused with its own [`CeremonyError`] before anything is written):
//! - a rotation starts from each role's chain as a client would verify it, and never from an
//!   expired newest root unless the caller says so (a stale copy of the chain is the likelier
//!   cause);
//! - the new version is exactly the previous one plus one (clients walk the chain one version
//!   at a time);
//! - what a first ceremony must be told (members, threshold, online keys) is never guessed;
//!   a rotation carries each of them over from the role's newest root unless it is given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tuf_keys::TufPublicKey;

use crate::ceremony::{Ceremony, RoleInit};
use crate::chain::load_chain;
use crate::error::CeremonyError;
use crate::model::{RootSpec, check_role_name, fmt_time, spec_of};

/// What `init` is asked for, with every key already read.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// The roles (each its own repository and root chain).
    pub roles: Vec<String>,
    /// The root members; empty in a rotation to keep each role's previous members.
    pub members: Vec<TufPublicKey>,
    /// The root threshold; `None` in a rotation to keep the previous one.
    pub threshold: Option<u64>,
    /// Online keys by role; a role missing here keeps its previous online key (rotations).
    pub online_keys: BTreeMap<String, TufPublicKey>,
    /// When the new roots expire ([`crate::model::expires_in_days`]).
    pub expires: jiff::Timestamp,
    /// The published chains, `ROOTS/ROLE/1.root.json` …: makes this a rotation.
    pub previous_roots: Option<PathBuf>,
    /// Rotate even though a role's newest previous root has expired.
    pub allow_expired_previous: bool,
    /// The new version; the previous version plus one when `None`.
    pub version: Option<u64>,
}

impl InitRequest {
    /// Every role's input to [`Ceremony::create`], checked as of `now` (the expiry of the
    /// previous roots). Reads the previous chains; writes nothing.
    pub fn role_inits(
        &self,
        now: jiff::Timestamp,
    ) -> Result<BTreeMap<String, RoleInit>, CeremonyError> {
        // An embedder may fill `online_keys` by hand; the command line checks this as it
        // parses `--online-key`, with the argument in the message.
        if let Some(role) = self.online_keys.keys().find(|r| !self.roles.contains(r)) {
            return Err(CeremonyError::UnknownRole { role: role.clone() });
        }
        let mut inits = BTreeMap::new();
        for role in &self.roles {
            check_role_name(role)?;
            let previous = match &self.previous_roots {
                Some(roots) => Some(self.previous_chain(role, &roots.join(role), now)?),
                None => None,
            };
            let base = previous
                .as_ref()
                .and_then(|c| c.last())
                .map(|l| spec_of(&l.root.signed))
                .transpose()?;
            let prev_version = base.as_ref().map_or(0, |b| b.version);
            let new_version = self.version.unwrap_or(prev_version + 1);
            if new_version != prev_version + 1 {
                return Err(CeremonyError::VersionSkip {
                    role: role.clone(),
                    version: new_version,
                    previous: prev_version,
                });
            }
            let members = if !self.members.is_empty() {
                self.members.clone()
            } else if let Some(b) = &base {
                b.members.clone()
            } else {
                return Err(CeremonyError::MembersMissing);
            };
            let threshold = match (self.threshold, &base) {
                (Some(t), _) => t,
                (None, Some(b)) => b.threshold,
                (None, None) => return Err(CeremonyError::ThresholdMissing),
            };
            let online = match (self.online_keys.get(role), &base) {
                (Some(k), _) => k.clone(),
                (None, Some(b)) => b.online.clone(),
                (None, None) => {
                    return Err(CeremonyError::OnlineKeyMissing { role: role.clone() });
                }
            };
            inits.insert(
                role.clone(),
                RoleInit {
                    previous,
                    spec: RootSpec {
                        members,
                        threshold,
                        online,
                        version: new_version,
                        expires: self.expires,
                    },
                },
            );
        }
        Ok(inits)
    }

    /// Starts the ceremony in `dir` ([`InitRequest::role_inits`] as of now, then
    /// [`Ceremony::create`]).
    pub fn create(&self, dir: &Path, operator: Option<&str>) -> Result<Ceremony, CeremonyError> {
        let inits = self.role_inits(jiff::Timestamp::now())?;
        Ceremony::create(dir, inits, operator)
    }

    /// The verified chain of `role` in `dir`, which must hold at least one root, the newest
    /// unexpired at `now` unless [`InitRequest::allow_expired_previous`].
    fn previous_chain(
        &self,
        role: &str,
        dir: &Path,
        now: jiff::Timestamp,
    ) -> Result<crate::chain::Chain, CeremonyError> {
        let chain = load_chain(role, dir, None)?;
        let Some(last) = chain.last() else {
            return Err(CeremonyError::NoPreviousRoots {
                role: role.to_owned(),
                dir: dir.to_owned(),
            });
        };
        if last.root.signed.expires <= now && !self.allow_expired_previous {
            return Err(CeremonyError::ExpiredPrevious {
                role: role.to_owned(),
                version: last.root.signed.version.get(),
                expires: fmt_time(last.root.signed.expires),
                dir: dir.to_owned(),
            });
        }
        Ok(chain)
    }
}
