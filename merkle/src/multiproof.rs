//! The compact multi-proof: membership and non-membership of many names against one root, with
//! every hash that two names' paths share written once.
//!
//! The proof is the part of the tree the names' paths cover, written as a pre-order walk. At
//! each position the walk reaches (a depth `d` and the names whose first `d` bits lead there) it
//! writes a two-bit op:
//!
//! | op | bits | meaning |
//! |----|------|---------|
//! | `EMPTY` | `00` | the subtree is empty (`E`); the names here are absent |
//! | `LEAF`  | `01` | the subtree is one leaf: the one present name here, or else another leaf whose key and `H(c)` follow in the hashes |
//! | `SPLIT` | `10` | the subtree has two or more leaves: the side of bit `d` that is 0 follows, then the side that is 1 |
//! | `HASH`  | `11` | a side no name goes to: its tree hash follows in the hashes |
//!
//! A side no name goes to is always `EMPTY` or `HASH`. Ops are packed four to a byte from the
//! most significant bit; the bits after the last op are zero. `docs/pouf.md` has the details.

use crate::contents::LeafContents;
use crate::hash::{Digest, EMPTY, KEY_BITS, interior_hash, key_of, leaf_hash};
use crate::proof::ProofError;
use crate::tree::{NodeRef, Tree, Visit};
use std::collections::BTreeSet;

const EMPTY_OP: u8 = 0b00;
const LEAF_OP: u8 = 0b01;
const SPLIT_OP: u8 = 0b10;
const HASH_OP: u8 = 0b11;

/// A proof for many names at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiProof {
    /// Names with their contents, or `None` where absent; in key order.
    targets: Vec<(String, Option<LeafContents>)>,
    shape: Vec<u8>,
    hashes: Vec<Digest>,
}

/// A name with its key, for the walks.
struct Query<'a> {
    key: Digest,
    name: &'a str,
    contents: Option<&'a LeafContents>,
}

impl MultiProof {
    /// Assembles a multi-proof from its parts (as parsed), refusing repeated names and an empty
    /// name list. Nothing is verified until [`MultiProof::verify`].
    pub fn from_parts(
        targets: Vec<(String, Option<LeafContents>)>,
        shape: Vec<u8>,
        hashes: Vec<Digest>,
    ) -> Result<Self, ProofError> {
        let mut keyed: Vec<(Digest, (String, Option<LeafContents>))> =
            targets.into_iter().map(|t| (key_of(&t.0), t)).collect();
        if keyed.is_empty() {
            return Err(ProofError::NoNames);
        }
        keyed.sort_unstable_by_key(|a| a.0);
        if let Some(w) = keyed.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ProofError::DuplicateName(w[0].1.0.clone()));
        }
        let targets = keyed.into_iter().map(|(_, t)| t).collect();
        Ok(MultiProof {
            targets,
            shape,
            hashes,
        })
    }

    /// The names with their proved contents (`None`: absent), in key order.
    pub fn targets(&self) -> &[(String, Option<LeafContents>)] {
        &self.targets
    }

    /// The contents proved for `name`: `Some(None)` if proved absent, `None` if not in the proof.
    pub fn get(&self, name: &str) -> Option<Option<&LeafContents>> {
        let key = key_of(name);
        self.targets
            .binary_search_by(|(n, _)| key_of(n).cmp(&key))
            .ok()
            .map(|i| self.targets[i].1.as_ref())
    }

    /// The packed ops.
    pub fn shape_bytes(&self) -> &[u8] {
        &self.shape
    }

    /// The hashes, in the order the walk consumes them.
    pub fn hashes(&self) -> &[Digest] {
        &self.hashes
    }

    /// The hashes, concatenated.
    pub fn hash_bytes(&self) -> Vec<u8> {
        self.hashes.iter().flat_map(|h| h.0).collect()
    }

    /// Number of hashes the proof carries.
    pub fn hash_count(&self) -> usize {
        self.hashes.len()
    }

    /// Verifies the proof against a trusted root, and that its names are exactly `asked`, the
    /// names the caller wants to know about (POUF §6), as a set: none missing, none extra. A
    /// name asked twice counts once.
    pub fn verify_for<S: AsRef<str>>(&self, root: &Digest, asked: &[S]) -> Result<(), ProofError> {
        let asked: BTreeSet<&str> = asked.iter().map(AsRef::as_ref).collect();
        let proved: BTreeSet<&str> = self.targets.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(missing) = asked.difference(&proved).next() {
            return Err(ProofError::WrongNames(format!(
                "{missing:?} was asked about but is not in the proof"
            )));
        }
        if let Some(extra) = proved.difference(&asked).next() {
            return Err(ProofError::WrongNames(format!(
                "{extra:?} is in the proof but was not asked about"
            )));
        }
        self.verify(root)
    }

    /// Verifies every name's presence (with its contents) or absence against a trusted root.
    /// Refuses shapes that are not the canonical walk, and any op or hash left over.
    pub fn verify(&self, root: &Digest) -> Result<(), ProofError> {
        let queries: Vec<Query<'_>> = self
            .targets
            .iter()
            .map(|(name, contents)| Query {
                key: key_of(name),
                name,
                contents: contents.as_ref(),
            })
            .collect();
        let mut reader = Reader {
            shape: &self.shape,
            op: 0,
            hashes: &self.hashes,
            next_hash: 0,
        };
        let (computed, _) = reader.node(0, &queries)?;
        reader.finish()?;
        if computed == *root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch {
                expected: *root,
                computed,
            })
        }
    }
}

/// What kind of subtree a verified position held, for the canonical-shape checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    Leaf,
    Interior,
    Opaque,
}

struct Reader<'a> {
    shape: &'a [u8],
    op: usize,
    hashes: &'a [Digest],
    next_hash: usize,
}

impl Reader<'_> {
    fn op(&mut self) -> Result<u8, ProofError> {
        let byte = self
            .shape
            .get(self.op / 4)
            .ok_or(ProofError::ShapeTruncated)?;
        let op = (byte >> (6 - 2 * (self.op % 4))) & 0b11;
        self.op += 1;
        Ok(op)
    }

    fn hash(&mut self) -> Result<Digest, ProofError> {
        let h = self
            .hashes
            .get(self.next_hash)
            .ok_or(ProofError::HashesTruncated)?;
        self.next_hash += 1;
        Ok(*h)
    }

    fn finish(&self) -> Result<(), ProofError> {
        let used_bytes = self.op.div_ceil(4);
        if self.shape.len() > used_bytes {
            return Err(ProofError::Leftover("shape bytes"));
        }
        let pad = (4 - self.op % 4) % 4;
        let last = self.shape.last().copied().unwrap_or(0);
        if pad > 0 && last & ((1u8 << (2 * pad)) - 1) != 0 {
            return Err(ProofError::Leftover("shape bits"));
        }
        if self.next_hash != self.hashes.len() {
            return Err(ProofError::Leftover("hashes"));
        }
        Ok(())
    }

    /// A position at depth `d` that the non-empty `queries` (sorted by key) lead to.
    fn node(&mut self, d: usize, queries: &[Query<'_>]) -> Result<(Digest, Kind), ProofError> {
        match self.op()? {
            EMPTY_OP => {
                if let Some(q) = queries.iter().find(|q| q.contents.is_some()) {
                    return Err(ProofError::MissingLeaf(q.name.to_owned()));
                }
                Ok((EMPTY, Kind::Empty))
            }
            LEAF_OP => {
                let mut present = queries.iter().filter(|q| q.contents.is_some());
                let hash = match (present.next(), present.next()) {
                    (Some(q), None) => {
                        let contents = q.contents.map(LeafContents::hash).unwrap_or(EMPTY);
                        leaf_hash(&q.key, &contents)
                    }
                    (Some(_), Some(q)) => return Err(ProofError::MissingLeaf(q.name.to_owned())),
                    (None, _) => {
                        let key = self.hash()?;
                        let contents_hash = self.hash()?;
                        let first = &queries[0];
                        if queries.iter().any(|q| q.key == key) || !key.shares_prefix(&first.key, d)
                        {
                            return Err(ProofError::TerminalOffPath(first.name.to_owned()));
                        }
                        leaf_hash(&key, &contents_hash)
                    }
                };
                Ok((hash, Kind::Leaf))
            }
            SPLIT_OP => {
                if d >= KEY_BITS {
                    return Err(ProofError::PathTooLong { len: d + 1 });
                }
                let mid = queries.partition_point(|q| !q.key.bit(d));
                let (h0, k0) = self.side(d + 1, &queries[..mid])?;
                let (h1, k1) = self.side(d + 1, &queries[mid..])?;
                match (k0, k1) {
                    (Kind::Empty, Kind::Empty) => {
                        Err(ProofError::NonCanonical("a split with two empty sides"))
                    }
                    (Kind::Empty, Kind::Leaf) | (Kind::Leaf, Kind::Empty) => {
                        Err(ProofError::NonCanonical("a lone leaf below an empty side"))
                    }
                    _ => Ok((interior_hash(&h0, &h1), Kind::Interior)),
                }
            }
            _ => Err(ProofError::NonCanonical(
                "a hash stands on a proved name's path",
            )),
        }
    }

    /// One side of a split: a position that names lead to, or a pruned one.
    fn side(&mut self, d: usize, queries: &[Query<'_>]) -> Result<(Digest, Kind), ProofError> {
        if !queries.is_empty() {
            return self.node(d, queries);
        }
        match self.op()? {
            EMPTY_OP => Ok((EMPTY, Kind::Empty)),
            HASH_OP => {
                let h = self.hash()?;
                if h.is_empty() {
                    return Err(ProofError::NonCanonical(
                        "the empty hash written out as a hash",
                    ));
                }
                Ok((h, Kind::Opaque))
            }
            _ => Err(ProofError::NonCanonical(
                "a side no name goes to must be one hash",
            )),
        }
    }
}

#[derive(Default)]
struct Writer {
    shape: Vec<u8>,
    ops: usize,
    hashes: Vec<Digest>,
}

impl Writer {
    fn op(&mut self, op: u8) {
        if self.ops.is_multiple_of(4) {
            self.shape.push(0);
        }
        let shift = 6 - 2 * (self.ops % 4);
        if let Some(last) = self.shape.last_mut() {
            *last |= op << shift;
        }
        self.ops += 1;
    }
}

impl Tree {
    /// One proof for all of `names` against this version's root. Each present name carries its
    /// contents; hashes that several names' paths need are written once.
    pub fn prove_many<S: AsRef<str>>(&self, names: &[S]) -> Result<MultiProof, ProofError> {
        let mut keyed: Vec<(Digest, &str)> = names
            .iter()
            .map(|n| (key_of(n.as_ref()), n.as_ref()))
            .collect();
        if keyed.is_empty() {
            return Err(ProofError::NoNames);
        }
        keyed.sort_unstable_by_key(|a| a.0);
        if let Some(w) = keyed.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ProofError::DuplicateName(w[0].1.to_owned()));
        }
        let keys: Vec<Digest> = keyed.iter().map(|k| k.0).collect();
        let mut found = vec![None; keys.len()];
        let mut w = Writer::default();
        match self.root_node() {
            None => w.op(EMPTY_OP),
            Some(root) => write_node(root, 0, &keys, 0, &mut found, &mut w),
        }
        let targets = keyed
            .iter()
            .zip(found)
            .map(|((_, name), contents)| ((*name).to_owned(), contents))
            .collect();
        Ok(MultiProof {
            targets,
            shape: w.shape,
            hashes: w.hashes,
        })
    }
}

/// Writes the position at depth `d` holding `node` (which hangs at or above `d`, and splits at
/// or below it), for the sorted `keys`, the first of which has index `first` in `found`.
fn write_node(
    node: NodeRef<'_>,
    d: usize,
    keys: &[Digest],
    first: usize,
    found: &mut [Option<LeafContents>],
    w: &mut Writer,
) {
    match node.visit() {
        Visit::Leaf(key, contents) => {
            w.op(LEAF_OP);
            match keys.binary_search(&key) {
                Ok(i) => found[first + i] = Some(contents),
                Err(_) => {
                    w.hashes.push(key);
                    w.hashes.push(contents.hash());
                }
            }
        }
        Visit::Branch { split, children } => {
            w.op(SPLIT_OP);
            let mid = keys.partition_point(|k| !k.bit(d));
            let sides = [(&keys[..mid], first), (&keys[mid..], first + mid)];
            if split > d {
                // A unary level: every leaf below goes to the side of the node's own prefix.
                let prefix = node.some_key();
                let full = usize::from(prefix.bit(d));
                for (side, (ks, at)) in sides.into_iter().enumerate() {
                    if side != full {
                        w.op(EMPTY_OP);
                    } else if ks.is_empty() {
                        w.op(HASH_OP);
                        w.hashes.push(node.hash_at(d + 1, &prefix));
                    } else {
                        write_node(node, d + 1, ks, at, found, w);
                    }
                }
            } else {
                for (side, (ks, at)) in sides.into_iter().enumerate() {
                    if ks.is_empty() {
                        w.op(HASH_OP);
                        w.hashes.push(children[side].hash());
                    } else {
                        write_node(children[side], d + 1, ks, at, found, w);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: usize) -> Tree {
        Tree::from_leaves((0..n).map(|i| {
            let name = format!("c{i}");
            (
                key_of(&name),
                LeafContents::for_bytes(1, name.as_bytes()).unwrap(),
            )
        }))
        .unwrap()
    }

    #[test]
    fn proves_mixed_sets() {
        for n in [0, 1, 2, 5, 100, 1000] {
            let t = tree(n);
            let names: Vec<String> = (0..n.min(40))
                .map(|i| format!("c{}", i * 7 % n.max(1)))
                .chain((0..30).map(|i| format!("x{i}")))
                .collect();
            let mut names = names;
            names.sort();
            names.dedup();
            let p = t.prove_many(&names).unwrap();
            p.verify(&t.root()).unwrap();
            for name in &names {
                assert_eq!(p.get(name).unwrap().copied(), t.get(name), "{name}");
            }
            let back = MultiProof::from_json(&p.to_json()).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn refuses_duplicates_and_tampering() {
        let t = tree(200);
        assert_eq!(
            t.prove_many(&["c1", "c1"]).err(),
            Some(ProofError::DuplicateName("c1".into()))
        );
        assert_eq!(t.prove_many::<&str>(&[]).err(), Some(ProofError::NoNames));
        let p = t.prove_many(&["c1", "c2", "nope"]).unwrap();
        let mut forged = p.clone();
        forged.targets.iter_mut().for_each(|t| {
            if t.0 == "nope" {
                t.1 = Some(LeafContents::for_bytes(1, b"nope").unwrap());
            }
        });
        assert!(forged.verify(&t.root()).is_err());
        let mut extra = p.clone();
        extra.hashes.push(EMPTY);
        assert_eq!(extra.verify(&t.root()), Err(ProofError::Leftover("hashes")));
        let mut short = p.clone();
        short.shape.pop();
        assert!(short.verify(&t.root()).is_err());
    }

    #[test]
    fn verify_for_wants_exactly_the_names_asked() {
        let t = tree(100);
        let root = t.root();
        let p = t.prove_many(&["c1", "c2", "nope"]).unwrap();
        p.verify(&root).unwrap();
        p.verify_for(&root, &["nope", "c2", "c1"]).unwrap();
        // A name asked twice counts once.
        p.verify_for(&root, &["c1", "c2", "nope", "c1"]).unwrap();
        // A valid proof that leaves out a name asked about, or adds one, is refused.
        assert!(matches!(
            p.verify_for(&root, &["c1", "c2", "nope", "c3"]),
            Err(ProofError::WrongNames(_))
        ));
        assert!(matches!(
            p.verify_for(&root, &["c1", "c2"]),
            Err(ProofError::WrongNames(_))
        ));
    }

    /// POUF §6: "present" means "has a leaf", a tombstone included. A tombstoned name written
    /// as `null`, its leaf given as another leaf's key and `H(c)`, would reach the root; it is
    /// refused because that key is a name's own.
    #[test]
    fn a_tombstone_is_present_and_cannot_be_claimed_absent() {
        let mut t = tree(50);
        let deleted = LeafContents::deleted(2).unwrap();
        t.set(key_of("c7"), deleted);
        let root = t.root();
        let p = t.prove_many(&["c7"]).unwrap();
        assert_eq!(p.get("c7"), Some(Some(&deleted)));
        p.verify(&root).unwrap();
        // Rebuild the walk with c7 as another leaf: same ops, its key and H(c) spliced into the
        // hashes where the LEAF op reads them (the hashes before it are the sides before it).
        let ops: Vec<u8> = (0..p.shape.len() * 4)
            .map(|i| (p.shape[i / 4] >> (6 - 2 * (i % 4))) & 0b11)
            .collect();
        let leaf_at = ops.iter().position(|op| *op == LEAF_OP).unwrap();
        let before = ops[..leaf_at].iter().filter(|op| **op == HASH_OP).count();
        let mut hashes = p.hashes.clone();
        hashes.splice(before..before, [key_of("c7"), deleted.hash()]);
        let forged = MultiProof {
            targets: vec![("c7".into(), None)],
            shape: p.shape.clone(),
            hashes,
        };
        assert_eq!(
            forged.verify(&root),
            Err(ProofError::TerminalOffPath("c7".into()))
        );
    }
}
