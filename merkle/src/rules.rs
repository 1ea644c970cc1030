//! D2's version rules: the next contents of one target, given its current contents and the
//! change asked of it.
//!
//! This is the only place the rules are written. [`crate::tree::Tree`] applies them
//! ([`Tree::change`](crate::tree::Tree::change), and `publish`/`delete`/`next_*`, which add the
//! key to the error), and a signer that validates a batch against a tree plus the earlier
//! changes of the same batch calls [`next_contents`] with whatever it holds as current.
//!
//! | current contents                      | upsert `{length, sha256}`    | delete           |
//! |---------------------------------------|------------------------------|------------------|
//! | none (new target)                     | version 1                    | [`RuleError::NotFound`] |
//! | present, same length and SHA-256      | unchanged (same version)     | version + 1, tombstone |
//! | present, other length or SHA-256      | version + 1                  | version + 1, tombstone |
//! | tombstone                             | version + 1 (re-published)   | [`RuleError::AlreadyDeleted`] |
//!
//! Properties kept:
//! - a target's version starts at 1 and goes up by exactly one on every change, deletion and
//!   re-publication after deletion included, so a version never names two contents;
//! - identical contents change nothing (same version, so a retried upload is harmless);
//! - deleting an absent or already deleted target is refused;
//! - no version or length goes past 2^63 - 1 ([`crate::contents::MAX_INTEGER`]), which every JSON
//!   implementation reads exactly: going past is refused, never wrapped or saturated;
//! - the rules are a pure function of their inputs: they see no key or name, so callers put
//!   whichever they have into their own messages.

use crate::contents::{LeafContents, MAX_INTEGER};
use crate::hash::Digest;

/// The change asked of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Add the target, or give it new bytes.
    Upsert {
        /// The length of the new bytes.
        length: u64,
        /// The SHA-256 of the new bytes.
        sha256: Digest,
    },
    /// Delete the target: its leaf becomes a tombstone, which keeps the version counting.
    Delete,
}

/// Why the rules refuse a change. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// Deleting a target that has no leaf.
    #[error("the target does not exist")]
    NotFound,
    /// Deleting a target that is already a tombstone.
    #[error("the target is already deleted")]
    AlreadyDeleted,
    /// The target's version is already 2^63 - 1, so it cannot change again.
    // The message is the one the signer has always answered with (after the target name).
    #[error("version would overflow")]
    VersionOverflow {
        /// The current version.
        version: u64,
    },
    /// A length above 2^63 - 1.
    // Worded as `ContentsError::TooLarge` words it, which the signer answered with before.
    #[error("length {length} is larger than 2^63 - 1")]
    LengthTooLarge {
        /// The length asked for.
        length: u64,
    },
}

/// The contents a target has after `op`, given its contents `current` (`None`: no leaf).
///
/// An unchanged result (`Ok(c)` with `Some(c) == current`) means the change is a no-op.
pub fn next_contents(current: Option<LeafContents>, op: Op) -> Result<LeafContents, RuleError> {
    match op {
        Op::Upsert { length, sha256 } => {
            let version = match current {
                None => 1,
                Some(LeafContents::Present {
                    version,
                    length: l,
                    sha256: s,
                }) if l == length && s == sha256 => {
                    return Ok(LeafContents::Present {
                        version,
                        length,
                        sha256,
                    });
                }
                // The version first: a target at the last version cannot change at all, whatever
                // the length (the order the signer has always checked in).
                Some(old) => next_version(old.version())?,
            };
            if length > MAX_INTEGER {
                return Err(RuleError::LengthTooLarge { length });
            }
            Ok(LeafContents::Present {
                version,
                length,
                sha256,
            })
        }
        Op::Delete => match current {
            None => Err(RuleError::NotFound),
            Some(LeafContents::Deleted { .. }) => Err(RuleError::AlreadyDeleted),
            Some(old) => Ok(LeafContents::Deleted {
                version: next_version(old.version())?,
            }),
        },
    }
}

/// The version after `version`: one more, refused past 2^63 - 1.
pub fn next_version(version: u64) -> Result<u64, RuleError> {
    version
        .checked_add(1)
        .filter(|v| *v <= MAX_INTEGER)
        .ok_or(RuleError::VersionOverflow { version })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::contents::ContentsError;
    use crate::hash::sha256;

    fn up(length: u64, bytes: &[u8]) -> Op {
        Op::Upsert {
            length,
            sha256: sha256(bytes),
        }
    }

    fn present(version: u64, length: u64, bytes: &[u8]) -> LeafContents {
        LeafContents::Present {
            version,
            length,
            sha256: sha256(bytes),
        }
    }

    #[test]
    fn the_table_of_d2() {
        let new = |c, op| next_contents(c, op);
        assert_eq!(new(None, up(1, b"a")), Ok(present(1, 1, b"a")));
        assert_eq!(
            new(Some(present(4, 1, b"a")), up(1, b"a")),
            Ok(present(4, 1, b"a"))
        );
        assert_eq!(
            new(Some(present(4, 1, b"a")), up(1, b"b")),
            Ok(present(5, 1, b"b"))
        );
        assert_eq!(
            new(Some(present(4, 1, b"a")), up(2, b"a")),
            Ok(present(5, 2, b"a"))
        );
        let tomb = LeafContents::Deleted { version: 5 };
        assert_eq!(new(Some(present(4, 1, b"a")), Op::Delete), Ok(tomb));
        // Re-publishing the bytes it had before deletion still counts up.
        assert_eq!(new(Some(tomb), up(1, b"a")), Ok(present(6, 1, b"a")));
        assert_eq!(new(Some(tomb), Op::Delete), Err(RuleError::AlreadyDeleted));
        assert_eq!(new(None, Op::Delete), Err(RuleError::NotFound));
    }

    #[test]
    fn nothing_goes_past_2_63_minus_1() {
        let last = present(MAX_INTEGER, 1, b"a");
        let overflow = Err(RuleError::VersionOverflow {
            version: MAX_INTEGER,
        });
        assert_eq!(next_contents(Some(last), up(1, b"b")), overflow);
        assert_eq!(next_contents(Some(last), Op::Delete), overflow);
        let tomb = LeafContents::Deleted {
            version: MAX_INTEGER,
        };
        assert_eq!(next_contents(Some(tomb), up(1, b"b")), overflow);
        // Identical contents at the last version are still a no-op, not an overflow.
        assert_eq!(next_contents(Some(last), up(1, b"a")), Ok(last));
        let below = present(MAX_INTEGER - 1, 1, b"a");
        assert_eq!(
            next_contents(Some(below), up(1, b"b")),
            Ok(present(MAX_INTEGER, 1, b"b"))
        );
        for length in [MAX_INTEGER + 1, u64::MAX] {
            assert_eq!(
                next_contents(None, up(length, b"a")),
                Err(RuleError::LengthTooLarge { length })
            );
        }
        assert_eq!(
            next_contents(Some(present(1, 1, b"a")), up(MAX_INTEGER, b"a")),
            Ok(present(2, MAX_INTEGER, b"a"))
        );
        // The version is checked before the length.
        assert_eq!(next_contents(Some(last), up(u64::MAX, b"a")), overflow);
        // The length message is the one `LeafContents::present` gives.
        assert_eq!(
            RuleError::LengthTooLarge { length: u64::MAX }.to_string(),
            LeafContents::present(1, u64::MAX, sha256(b"a"))
                .unwrap_err()
                .to_string()
        );
        assert!(matches!(
            LeafContents::present(1, u64::MAX, sha256(b"a")),
            Err(ContentsError::TooLarge {
                field: "length",
                ..
            })
        ));
    }

    /// The signer's `tree::next_contents` as it was written before these rules existed (its own
    /// copy of D2), kept verbatim as the reference for the adapter below.
    mod signer_before {
        use crate::{Digest, LeafContents};

        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Op {
            Upsert {
                name: String,
                length: u64,
                sha256: Digest,
            },
            Delete {
                name: String,
            },
        }

        impl Op {
            pub fn name(&self) -> &str {
                match self {
                    Op::Upsert { name, .. } | Op::Delete { name } => name,
                }
            }
        }

        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum RuleError {
            #[error("cannot delete {0:?}: the role has no such target")]
            NotFound(String),
            #[error("cannot delete {0:?}: it is already deleted")]
            AlreadyDeleted(String),
            #[error("{0:?}: {1}")]
            Range(String, String),
        }

        pub fn next_contents(
            op: &Op,
            current: Option<LeafContents>,
        ) -> Result<LeafContents, RuleError> {
            let bump = |name: &str, v: u64| {
                v.checked_add(1)
                    .filter(|v| *v <= crate::contents::MAX_INTEGER)
                    .ok_or_else(|| {
                        RuleError::Range(name.to_owned(), "version would overflow".into())
                    })
            };
            match op {
                Op::Upsert {
                    name,
                    length,
                    sha256,
                } => {
                    let version = match current {
                        None => 1,
                        Some(LeafContents::Present {
                            version,
                            length: l,
                            sha256: s,
                        }) if l == *length && s == *sha256 => {
                            return Ok(LeafContents::Present {
                                version,
                                length: l,
                                sha256: s,
                            });
                        }
                        Some(old) => bump(name, old.version())?,
                    };
                    LeafContents::present(version, *length, *sha256)
                        .map_err(|e| RuleError::Range(name.clone(), e.to_string()))
                }
                Op::Delete { name } => match current {
                    None => Err(RuleError::NotFound(name.clone())),
                    Some(LeafContents::Deleted { .. }) => {
                        Err(RuleError::AlreadyDeleted(name.clone()))
                    }
                    Some(old) => Ok(LeafContents::Deleted {
                        version: bump(name, old.version())?,
                    }),
                },
            }
        }
    }

    /// The thin call the signer's `tree::next_contents` becomes (its `Op` and `RuleError`, which
    /// carry the name and the API codes, unchanged).
    fn signer_after(
        op: &signer_before::Op,
        current: Option<LeafContents>,
    ) -> Result<LeafContents, signer_before::RuleError> {
        use signer_before::{Op as SignerOp, RuleError as SignerError};
        let rule = match *op {
            SignerOp::Upsert { length, sha256, .. } => Op::Upsert { length, sha256 },
            SignerOp::Delete { .. } => Op::Delete,
        };
        next_contents(current, rule).map_err(|e| {
            let name = op.name().to_owned();
            match e {
                RuleError::NotFound => SignerError::NotFound(name),
                RuleError::AlreadyDeleted => SignerError::AlreadyDeleted(name),
                other => SignerError::Range(name, other.to_string()),
            }
        })
    }

    #[test]
    fn the_signers_thin_call_answers_exactly_as_its_own_copy_did() {
        let versions = [1, 2, MAX_INTEGER - 1, MAX_INTEGER];
        let lengths = [0, 1, MAX_INTEGER, MAX_INTEGER + 1, u64::MAX - 1, u64::MAX];
        let hashes = [sha256(b"a"), sha256(b"b")];
        let mut currents = vec![None];
        for v in versions {
            currents.push(Some(LeafContents::Deleted { version: v }));
            for l in [0, 1, MAX_INTEGER] {
                for h in hashes {
                    currents.push(Some(LeafContents::Present {
                        version: v,
                        length: l,
                        sha256: h,
                    }));
                }
            }
        }
        let name = "se/rd/serde".to_owned();
        let mut ops = vec![signer_before::Op::Delete { name: name.clone() }];
        for length in lengths {
            for sha256 in hashes {
                ops.push(signer_before::Op::Upsert {
                    name: name.clone(),
                    length,
                    sha256,
                });
            }
        }
        let mut compared = 0;
        for current in &currents {
            for op in &ops {
                let before = signer_before::next_contents(op, *current);
                let after = signer_after(op, *current);
                assert_eq!(after, before, "{op:?} on {current:?}");
                if let (Err(a), Err(b)) = (&after, &before) {
                    assert_eq!(a.to_string(), b.to_string());
                }
                compared += 1;
            }
        }
        assert_eq!(compared, currents.len() * ops.len());
    }
}
