//! Membership and non-membership proofs for one name (D3), their generation from a [`Tree`], and
//! their verification as pure functions of a root and a proof.
//!
//! Verification keeps one property: it accepts only if the proof's leaf (or absence) is part of
//! the tree whose root it is given, under SHA-256's collision resistance. It also refuses every
//! non-canonical proof it can see, so against a root computed as the POUF says each fact has
//! exactly one proof (up to its JSON text) and a proof cannot be padded. A proof is about the
//! name it carries: [`Proof::verify_for`] also checks that this is the name the caller asked
//! about (POUF §4, §5).

use crate::contents::{ContentsError, LeafContents};
use crate::hash::{Digest, EMPTY, HexError, KEY_BITS, climb, key_of, leaf_hash};
use crate::tree::{NodeRef, Tree, Visit};

/// A proof that `name` has the leaf `contents` in the tree: TAP-16's snapshot Merkle metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipProof {
    /// The target's name.
    pub name: String,
    /// The target's leaf contents (a tombstone proves that it was deleted).
    pub contents: LeafContents,
    /// `s[0..d)`: `s[i]` is the tree hash on the other side of bit `i`, the root's level first.
    pub siblings: Vec<Digest>,
}

/// A proof that the tree has no leaf for `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonMembershipProof {
    /// The name that is absent.
    pub name: String,
    /// `s[0..d)` down to the terminal, the root's level first.
    pub siblings: Vec<Digest>,
    /// What stands at depth `d` on the name's path.
    pub terminal: Terminal,
}

/// The end of a non-membership path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// Nothing is under the name's prefix at that depth.
    Empty,
    /// Another leaf is alone under the name's prefix at that depth.
    Leaf {
        /// That leaf's key, which shares the first `d` bits with the name's key.
        key: Digest,
        /// `H(c')` of that leaf's contents.
        contents_hash: Digest,
    },
}

/// A proof for one name: present or absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// The name has a leaf.
    Membership(MembershipProof),
    /// The name has no leaf.
    NonMembership(NonMembershipProof),
}

/// Every way a proof can be wrong, in its encoding or in its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The input is larger than the limit given to the parser.
    #[error("proof is {actual} bytes, over the limit of {limit}")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The input's size in bytes.
        actual: usize,
    },
    /// Not valid JSON, or JSON of the wrong shape (a missing or unknown field, a wrong type).
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// Something other than white space follows the JSON value.
    #[error("trailing data after the proof")]
    TrailingData,
    /// A field that should hold a hash does not.
    #[error("{field}: {error}")]
    Hex {
        /// Where in the proof.
        field: String,
        /// What is wrong with it.
        error: HexError,
    },
    /// Hex data whose length is not what the format requires.
    #[error("{field}: length {actual} is not {expected}")]
    WrongLength {
        /// Where in the proof.
        field: &'static str,
        /// What the format requires.
        expected: &'static str,
        /// The length found.
        actual: usize,
    },
    /// An index of `merkle_path` or `path_directions` that is not one of `"0"`, `"1"`, … in
    /// plain decimal below the number of entries.
    #[error("{field}: {index:?} is not an index from \"0\" to \"{}\"", .len.saturating_sub(1))]
    BadIndex {
        /// `merkle_path` or `path_directions`.
        field: &'static str,
        /// The key found.
        index: String,
        /// The number of entries.
        len: usize,
    },
    /// The same index twice.
    #[error("{field}: index {index:?} appears twice")]
    DuplicateIndex {
        /// `merkle_path` or `path_directions`.
        field: &'static str,
        /// The repeated index.
        index: String,
    },
    /// `merkle_path` and `path_directions` have different lengths.
    #[error("merkle_path has {path} entries but path_directions has {directions}")]
    DirectionCount {
        /// Entries in `merkle_path`.
        path: usize,
        /// Entries in `path_directions`.
        directions: usize,
    },
    /// A direction other than `"left"` or `"right"`.
    #[error("path_directions[{index}]: {value:?} is neither \"left\" nor \"right\"")]
    BadDirection {
        /// The entry's index.
        index: usize,
        /// The value found.
        value: String,
    },
    /// A direction that disagrees with the bits of the name's key.
    #[error("path_directions[{index}] disagrees with the key of the name")]
    DirectionMismatch {
        /// The entry's index (0 is the leaf's own sibling).
        index: usize,
    },
    /// More than 256 siblings: no path in a tree of 256-bit keys is that long.
    #[error("path of {len} siblings is longer than 256")]
    PathTooLong {
        /// The number of siblings.
        len: usize,
    },
    /// A proof that could verify but is not the one canonical proof for its fact.
    #[error("non-canonical proof: {0}")]
    NonCanonical(&'static str),
    /// `leaf_contents` must hold exactly one name.
    #[error("leaf_contents holds {0} entries, not exactly one")]
    LeafCount(usize),
    /// Leaf contents that are not one of D2's two shapes.
    #[error("leaf contents of {name:?}: {reason}")]
    Contents {
        /// The name they are for.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The same name twice in a multi-proof.
    #[error("name {0:?} appears twice")]
    DuplicateName(String),
    /// A multi-proof with no names.
    #[error("a multi-proof must name at least one target")]
    NoNames,
    /// A non-membership terminal leaf whose key does not share the name's prefix, or is the
    /// name's own key.
    #[error("terminal leaf does not belong on the path of {0:?}")]
    TerminalOffPath(String),
    /// A name claimed present whose path ends without its leaf.
    #[error("{0:?} is claimed present but its path holds no leaf for it")]
    MissingLeaf(String),
    /// The multi-proof's shape ended before the tree did.
    #[error("multi-proof shape ends too early")]
    ShapeTruncated,
    /// The multi-proof's hashes ran out.
    #[error("multi-proof has too few hashes")]
    HashesTruncated,
    /// Shape bits or hashes left over after the tree is complete.
    #[error("multi-proof has {0} left over")]
    Leftover(&'static str),
    /// The proof is about other names than the ones the verifier asked about (POUF §4–§6). It
    /// may verify, but only for the names it carries.
    #[error("the proof is not about the names asked: {0}")]
    WrongNames(String),
    /// A binary proof (POUF §10) or answer that does not start with its magic bytes: not
    /// this encoding at all (a JSON text, say).
    #[error("not a binary {0}: it does not start with the magic bytes")]
    BadMagic(&'static str),
    /// A binary encoding of a format version this reader does not know.
    #[error("binary format version {0} is not supported (only 1 is)")]
    UnsupportedFormat(u8),
    /// A binary proof of another kind than the reader expects (a multi-proof where a single
    /// proof was asked for, say), or of no kind at all.
    #[error("binary proof of kind {found}, not {expected}")]
    WrongKind {
        /// What the reader expects.
        expected: &'static str,
        /// The kind byte found.
        found: u8,
    },
    /// A binary proof that ends inside a field.
    #[error("binary proof ends inside {0}")]
    Truncated(&'static str),
    /// A tag byte with no meaning at its place (contents, an entry, a terminal).
    #[error("{field}: tag {tag:#04x} is not allowed here")]
    BadTag {
        /// The field.
        field: &'static str,
        /// The byte found.
        tag: u8,
    },
    /// A name (or role) in a binary proof that is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// Everything is well-formed but the computed root is not the trusted one.
    #[error("proof computes root {computed}, not the trusted root {expected}")]
    RootMismatch {
        /// The trusted root.
        expected: Digest,
        /// What the proof computes.
        computed: Digest,
    },
}

impl ProofError {
    pub(crate) fn contents(name: &str, e: impl std::fmt::Display) -> Self {
        ProofError::Contents {
            name: name.to_owned(),
            reason: e.to_string(),
        }
    }
}

impl From<(&str, ContentsError)> for ProofError {
    fn from((name, e): (&str, ContentsError)) -> Self {
        ProofError::contents(name, e)
    }
}

/// Verifies that `name` has the leaf `contents` in the tree with root `root`, given `s[0..d)`.
///
/// Refuses a path over 256 levels and a non-canonical one (`s[d-1] = E`).
pub fn verify_membership(
    root: &Digest,
    name: &str,
    contents: &LeafContents,
    siblings: &[Digest],
) -> Result<(), ProofError> {
    let key = key_of(name);
    check_canonical(siblings)?;
    let start = leaf_hash(&key, &contents.hash());
    compare(root, climb_path(&key, start, siblings))
}

/// Verifies that the tree with root `root` has no leaf for `name`.
pub fn verify_non_membership(
    root: &Digest,
    name: &str,
    siblings: &[Digest],
    terminal: &Terminal,
) -> Result<(), ProofError> {
    let key = key_of(name);
    check_canonical(siblings)?;
    let d = siblings.len();
    let start = match terminal {
        Terminal::Empty => EMPTY,
        Terminal::Leaf {
            key: other,
            contents_hash,
        } => {
            if *other == key || !other.shares_prefix(&key, d) {
                return Err(ProofError::TerminalOffPath(name.to_owned()));
            }
            leaf_hash(other, contents_hash)
        }
    };
    compare(root, climb_path(&key, start, siblings))
}

fn check_canonical(siblings: &[Digest]) -> Result<(), ProofError> {
    if siblings.len() > KEY_BITS {
        return Err(ProofError::PathTooLong {
            len: siblings.len(),
        });
    }
    if siblings.last().is_some_and(Digest::is_empty) {
        return Err(ProofError::NonCanonical(
            "the deepest sibling is the empty hash",
        ));
    }
    Ok(())
}

fn climb_path(key: &Digest, start: Digest, siblings: &[Digest]) -> Digest {
    siblings
        .iter()
        .enumerate()
        .rev()
        .fold(start, |h, (level, s)| climb(key, level, &h, s))
}

fn compare(expected: &Digest, computed: Digest) -> Result<(), ProofError> {
    if computed == *expected {
        Ok(())
    } else {
        Err(ProofError::RootMismatch {
            expected: *expected,
            computed,
        })
    }
}

/// Refuses a proof about `proved` when the caller asked about `asked`: a valid proof shows the
/// presence or absence of the name it carries, whatever was asked. Exact string equality, as
/// the POUF compares names (no normalisation).
fn check_name(asked: &str, proved: &str) -> Result<(), ProofError> {
    if asked == proved {
        Ok(())
    } else {
        Err(ProofError::WrongNames(format!(
            "asked about {asked:?}, the proof is about {proved:?}"
        )))
    }
}

impl MembershipProof {
    /// Verifies the proof against a trusted root.
    pub fn verify(&self, root: &Digest) -> Result<(), ProofError> {
        verify_membership(root, &self.name, &self.contents, &self.siblings)
    }

    /// Verifies the proof against a trusted root, and that it is about `asked` (POUF §4).
    pub fn verify_for(&self, root: &Digest, asked: &str) -> Result<(), ProofError> {
        check_name(asked, &self.name)?;
        self.verify(root)
    }
}

impl NonMembershipProof {
    /// Verifies the proof against a trusted root.
    pub fn verify(&self, root: &Digest) -> Result<(), ProofError> {
        verify_non_membership(root, &self.name, &self.siblings, &self.terminal)
    }

    /// Verifies the proof against a trusted root, and that it is about `asked` (POUF §5).
    pub fn verify_for(&self, root: &Digest, asked: &str) -> Result<(), ProofError> {
        check_name(asked, &self.name)?;
        self.verify(root)
    }
}

impl Proof {
    /// Verifies the proof against a trusted root.
    pub fn verify(&self, root: &Digest) -> Result<(), ProofError> {
        match self {
            Proof::Membership(p) => p.verify(root),
            Proof::NonMembership(p) => p.verify(root),
        }
    }

    /// Verifies the proof against a trusted root, and that it is about `asked`, the name the
    /// caller wants to know about (POUF §4, §5). [`Proof::verify`] alone proves the fact for
    /// [`Proof::name`], which a server could have swapped for another name.
    pub fn verify_for(&self, root: &Digest, asked: &str) -> Result<(), ProofError> {
        check_name(asked, self.name())?;
        self.verify(root)
    }

    /// The name the proof is about.
    pub fn name(&self) -> &str {
        match self {
            Proof::Membership(p) => &p.name,
            Proof::NonMembership(p) => &p.name,
        }
    }

    /// The contents proved, or `None` when the proof shows the name absent.
    pub fn contents(&self) -> Option<&LeafContents> {
        match self {
            Proof::Membership(p) => Some(&p.contents),
            Proof::NonMembership(_) => None,
        }
    }
}

impl Tree {
    /// The proof for `name` against this version's root: membership if the tree has a leaf for
    /// it (a tombstone included), non-membership otherwise. O(log n).
    pub fn prove(&self, name: &str) -> Proof {
        let key = key_of(name);
        let mut siblings = Vec::with_capacity(32);
        let Some(root) = self.root_node() else {
            return absent(name, siblings, Terminal::Empty);
        };
        // Where the name's key parts from the only leaf that could hold it, if anywhere.
        let found = root.blind_leaf_key(&key);
        let diverge = found.first_difference(&key);
        let mut node: NodeRef<'_> = root;
        loop {
            match node.visit() {
                Visit::Leaf(leaf_key, contents) => {
                    if diverge.is_none() {
                        let name = name.to_owned();
                        return Proof::Membership(MembershipProof {
                            name,
                            contents,
                            siblings,
                        });
                    }
                    let terminal = Terminal::Leaf {
                        key: leaf_key,
                        contents_hash: contents.hash(),
                    };
                    return absent(name, siblings, terminal);
                }
                Visit::Branch { split, children } => {
                    if let Some(j) = diverge.filter(|j| *j < split) {
                        // The key leaves this branch's prefix on a unary level above its split:
                        // the empty side there is the key's. `found` lies below this branch.
                        siblings.resize(j, EMPTY);
                        siblings.push(node.hash_at(j + 1, &found));
                        return absent(name, siblings, Terminal::Empty);
                    }
                    siblings.resize(split, EMPTY);
                    let side = usize::from(key.bit(split));
                    siblings.push(children[1 - side].hash());
                    node = children[side];
                }
            }
        }
    }
}

fn absent(name: &str, siblings: Vec<Digest>, terminal: Terminal) -> Proof {
    Proof::NonMembership(NonMembershipProof {
        name: name.to_owned(),
        siblings,
        terminal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    fn tree(n: u64) -> (Tree, Vec<String>) {
        let names: Vec<String> = (0..n).map(|i| format!("crate-{i}")).collect();
        let t = Tree::from_leaves(names.iter().enumerate().map(|(i, n)| {
            (
                key_of(n),
                LeafContents::for_bytes(1, &i.to_le_bytes()).unwrap(),
            )
        }))
        .unwrap();
        (t, names)
    }

    #[test]
    fn every_leaf_and_many_absent_names_prove() {
        for n in [0, 1, 2, 3, 17, 200] {
            let (t, names) = tree(n);
            let root = t.root();
            for name in &names {
                let p = t.prove(name);
                assert!(matches!(p, Proof::Membership(_)), "{name} in {n}");
                p.verify(&root).unwrap();
            }
            for i in 0..200 {
                let name = format!("absent-{i}");
                let p = t.prove(&name);
                assert!(matches!(p, Proof::NonMembership(_)));
                p.verify(&root).unwrap();
            }
        }
    }

    #[test]
    fn a_proof_for_another_root_fails() {
        let (t, names) = tree(50);
        let p = t.prove(&names[3]);
        let mut other = t.clone();
        other.set(key_of("new"), LeafContents::for_bytes(1, b"n").unwrap());
        assert!(matches!(
            p.verify(&other.root()),
            Err(ProofError::RootMismatch { .. })
        ));
    }

    #[test]
    fn non_canonical_paths_are_refused() {
        let (t, names) = tree(20);
        let Proof::Membership(mut p) = t.prove(&names[0]) else {
            panic!("member")
        };
        p.siblings.push(EMPTY);
        assert_eq!(
            p.verify(&t.root()),
            Err(ProofError::NonCanonical(
                "the deepest sibling is the empty hash"
            ))
        );
        p.siblings = vec![sha256(b"x"); 257];
        assert_eq!(
            p.verify(&t.root()),
            Err(ProofError::PathTooLong { len: 257 })
        );
    }

    #[test]
    fn verify_for_refuses_a_valid_proof_about_another_name() {
        let (t, names) = tree(40);
        let root = t.root();
        // Both proofs verify on their own: only the name check can tell them apart.
        let member = t.prove(&names[1]);
        member.verify(&root).unwrap();
        member.verify_for(&root, &names[1]).unwrap();
        assert!(matches!(
            member.verify_for(&root, &names[2]),
            Err(ProofError::WrongNames(_))
        ));
        let absent = t.prove("absent-a");
        absent.verify(&root).unwrap();
        absent.verify_for(&root, "absent-a").unwrap();
        assert!(matches!(
            absent.verify_for(&root, "absent-b"),
            Err(ProofError::WrongNames(_))
        ));
        // Exact strings: no normalisation, not even of case.
        assert!(matches!(
            absent.verify_for(&root, "ABSENT-A"),
            Err(ProofError::WrongNames(_))
        ));
    }

    #[test]
    fn a_tombstone_cannot_be_passed_off_as_absent() {
        let (mut t, names) = tree(30);
        let deleted = LeafContents::deleted(2).unwrap();
        t.set(key_of(&names[4]), deleted);
        let Proof::Membership(p) = t.prove(&names[4]) else {
            panic!("a tombstone is a member")
        };
        p.verify(&t.root()).unwrap();
        // The only leaf on its path is its own: as a terminal it is refused before any hashing.
        let forged = NonMembershipProof {
            name: names[4].clone(),
            siblings: p.siblings.clone(),
            terminal: Terminal::Leaf {
                key: key_of(&names[4]),
                contents_hash: deleted.hash(),
            },
        };
        assert_eq!(
            forged.verify(&t.root()),
            Err(ProofError::TerminalOffPath(names[4].clone()))
        );
    }

    /// POUF §7: an empty terminal one level below a lone leaf, with that leaf's hash as its
    /// sibling, passes every canonical check (the verifier cannot see that the sibling is one
    /// leaf) but does not reach a root built as §3 says: there the leaf sits one level higher.
    #[test]
    fn an_empty_terminal_beside_a_lone_leaf_does_not_reach_the_root() {
        let (t, _) = tree(200);
        let root = t.root();
        let mut tried = 0;
        for i in 0..200 {
            let name = format!("absent-{i}");
            let Proof::NonMembership(p) = t.prove(&name) else {
                panic!("absent")
            };
            let Terminal::Leaf { key, contents_hash } = p.terminal else {
                continue;
            };
            let d = p.siblings.len();
            if key.bit(d) == key_of(&name).bit(d) {
                // The leaf is on the name's side one level down too: no empty side there.
                continue;
            }
            tried += 1;
            let mut siblings = p.siblings.clone();
            siblings.push(leaf_hash(&key, &contents_hash));
            let deeper = NonMembershipProof {
                name: name.clone(),
                siblings,
                terminal: Terminal::Empty,
            };
            assert!(
                matches!(deeper.verify(&root), Err(ProofError::RootMismatch { .. })),
                "{name}"
            );
            p.verify(&root).unwrap();
        }
        assert!(tried > 10, "only {tried} cases");
    }

    #[test]
    fn a_present_name_cannot_borrow_a_non_membership_proof() {
        let (t, names) = tree(30);
        let Proof::NonMembership(p) = t.prove("absent") else {
            panic!("absent")
        };
        let forged = NonMembershipProof {
            name: names[0].clone(),
            ..p
        };
        assert!(forged.verify(&t.root()).is_err());
    }
}
