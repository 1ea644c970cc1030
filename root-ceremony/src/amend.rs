//! The amendments a rotation may make before anyone signs: members, threshold, an online key,
//! the expiry. Each is one step of the transcript with its own action name and a description of
//! what changed, and each rebuilds every role's draft ([`Ceremony::amend`]), so it is refused
//! once anyone has signed and announces a new digest.

use tuf_keys::TufPublicKey;

use crate::ceremony::Ceremony;
use crate::error::CeremonyError;
use crate::model::fmt_time;

impl Ceremony {
    /// `add-member`: adds `key` as a root member of every role (and sets the threshold, if
    /// given). Refuses a key that is a member already, however it is written.
    pub fn add_member(
        &mut self,
        key: &TufPublicKey,
        threshold: Option<u64>,
        operator: Option<&str>,
    ) -> Result<(), CeremonyError> {
        let id = key.key_id_hex();
        let mut detail = vec![format!("added root member {id}")];
        if let Some(t) = threshold {
            detail.push(format!("threshold {t}"));
        }
        self.amend("add-member", operator, detail, |_, spec| {
            // The same key may be written another way in the draft (carried over from a
            // previous root), under another key ID.
            if let Some(m) = spec.members.iter().find(|m| m.is_same_key(key)) {
                return Err(if m.key_id() == key.key_id() {
                    CeremonyError::AlreadyAMember { key_id: id.clone() }
                } else {
                    CeremonyError::AlreadyAMemberWrittenOtherwise {
                        key_id: id.clone(),
                        existing: m.key_id_hex(),
                    }
                });
            }
            spec.members.push(key.clone());
            if let Some(t) = threshold {
                spec.threshold = t;
            }
            Ok(())
        })
    }

    /// `remove-member`: removes the member with `key_id` (hex, any case, spaces around it
    /// ignored) from every role (and sets the threshold, if given). The removed member can
    /// still sign to meet the previous root's threshold.
    pub fn remove_member(
        &mut self,
        key_id: &str,
        threshold: Option<u64>,
        operator: Option<&str>,
    ) -> Result<(), CeremonyError> {
        let id = key_id.trim().to_ascii_lowercase();
        let mut detail = vec![format!("removed root member {id}")];
        if let Some(t) = threshold {
            detail.push(format!("threshold {t}"));
        }
        self.amend("remove-member", operator, detail, |_, spec| {
            let before = spec.members.len();
            spec.members.retain(|m| m.key_id_hex() != id);
            if spec.members.len() == before {
                return Err(CeremonyError::NoSuchMember { key_id: id.clone() });
            }
            if let Some(t) = threshold {
                spec.threshold = t;
            }
            Ok(())
        })
    }

    /// `set-threshold`: sets the root threshold of every role.
    pub fn set_threshold(
        &mut self,
        threshold: u64,
        operator: Option<&str>,
    ) -> Result<(), CeremonyError> {
        self.amend(
            "set-threshold",
            operator,
            vec![format!("root threshold {threshold}")],
            |_, spec| {
                spec.threshold = threshold;
                Ok(())
            },
        )
    }

    /// `set-online-key`: replaces the online key of `role` only (e.g. after a KMS key
    /// compromise).
    pub fn set_online_key(
        &mut self,
        role: &str,
        key: &TufPublicKey,
        operator: Option<&str>,
    ) -> Result<(), CeremonyError> {
        if !self.file.roles.contains_key(role) {
            return Err(CeremonyError::UnknownRole {
                role: role.to_owned(),
            });
        }
        self.amend(
            "set-online-key",
            operator,
            vec![format!("{role}: online key {}", key.key_id_hex())],
            |name, spec| {
                if name == role {
                    spec.online = key.clone();
                }
                Ok(())
            },
        )
    }

    /// `set-expiry`: sets every draft's expiry (see [`crate::model::expires_in_days`]).
    pub fn set_expiry(
        &mut self,
        expires: jiff::Timestamp,
        operator: Option<&str>,
    ) -> Result<(), CeremonyError> {
        self.amend(
            "set-expiry",
            operator,
            vec![format!("expires {}", fmt_time(expires))],
            |_, spec| {
                spec.expires = expires;
                Ok(())
            },
        )
    }
}
