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
//! | tombstone                             | version + 1 (re-published)   | unchanged (same tombstone) |
//!
//! Properties kept:
//! - a target's version starts at 1 and goes up by exactly one on every change, deletion and
//!   re-publication after deletion included, so a version never names two contents;
//! - identical contents change nothing (same version, so a retried upload is harmless), and
//!   deleting a tombstone changes nothing either (a retried delete is harmless too);
//! - deleting a target that never existed is refused;
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
            // A retried delete: the tombstone stays as it is, like identical contents.
            Some(tomb @ LeafContents::Deleted { .. }) => Ok(tomb),
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
        // A retried delete leaves the tombstone as it is.
        assert_eq!(new(Some(tomb), Op::Delete), Ok(tomb));
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
}
