//! Structure-aware: builds a small tree from the input, proves names in it, tampers with the
//! proofs, and checks that only the truth verifies.
//!
//! - The tree is built by `set` one leaf at a time; its root equals `from_leaves` and
//!   `set_many` over the same final leaves (the root depends only on the set of leaves), and
//!   `get` agrees with a plain map.
//! - Leaves are named ones and "near" ones: a named leaf's key with one bit flipped (and the
//!   bits after it taken from the input), so that paths share long prefixes and the unary levels
//!   of a deep split appear, which SHA-256 of real names would never give.
//! - For each queried name, present or not: `prove` gives a proof that verifies against the
//!   root, says what the map says, and survives its JSON round trip; likewise one multi-proof
//!   for all queried names.
//! - Tampering (bit flips in the JSON, or a changed sibling, contents, name, terminal, shape or
//!   hash): whatever still parses and verifies against the root must state only the truth about
//!   the tree (every name it covers present with exactly those contents, or absent). A proof
//!   for this root never verifies against another root.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{
    Digest, LeafContents, MembershipProof, NonMembershipProof, Proof, Terminal, Tree, key_of,
};

#[derive(Debug, Arbitrary)]
enum Contents {
    Present { version: u16, length: u32, sha: u8 },
    Deleted { version: u16 },
}

impl Contents {
    fn leaf(&self) -> LeafContents {
        match *self {
            Contents::Present {
                version,
                length,
                sha,
            } => LeafContents::Present {
                version: u64::from(version) + 1,
                length: u64::from(length),
                sha256: Digest([sha; 32]),
            },
            Contents::Deleted { version } => LeafContents::Deleted {
                version: u64::from(version) + 1,
            },
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Leaf {
    /// A leaf for a name.
    Named(String, Contents),
    /// A leaf whose key is the `of`-th name's key with bit `bit` flipped and the later bits
    /// replaced by `tail`.
    Near {
        of: u8,
        bit: u8,
        tail: [u8; 32],
        contents: Contents,
    },
}

#[derive(Debug, Arbitrary)]
enum Query {
    /// The `i`-th name of the leaves.
    Named(u8),
    /// Any name, usually absent.
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Tamper {
    /// Flip bit `bit` of byte `at` of a proof's JSON.
    FlipJson {
        at: u16,
        bit: u8,
    },
    /// Change byte `byte` of sibling `index`.
    Sibling {
        index: u8,
        byte: u8,
        xor: u8,
    },
    /// Drop the deepest sibling, or add an empty or arbitrary one.
    Depth {
        grow: bool,
        empty: bool,
    },
    /// Claim other contents.
    Contents(Contents),
    /// Claim the proof is for another name.
    Rename(Query),
    /// Replace a non-membership terminal.
    Terminal {
        empty: bool,
        key_of_query: Option<Query>,
        hash: u8,
    },
    /// Multi-proof: flip a bit of the shape or a hash, or set a name's contents.
    Shape {
        at: u16,
        bit: u8,
    },
    Hash {
        index: u16,
        byte: u8,
        xor: u8,
    },
    MultiContents {
        index: u8,
        contents: Option<Contents>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    leaves: Vec<Leaf>,
    queries: Vec<Query>,
    tampers: Vec<Tamper>,
}

const MAX_LEAVES: usize = 48;
const MAX_QUERIES: usize = 16;
const MAX_TAMPERS: usize = 24;

struct World {
    names: Vec<String>,
    model: BTreeMap<Digest, LeafContents>,
    tree: Tree,
    root: Digest,
}

impl World {
    fn name(&self, q: &Query) -> String {
        match q {
            Query::Named(i) if !self.names.is_empty() => {
                self.names[usize::from(*i) % self.names.len()].clone()
            }
            Query::Named(i) => format!("absent-{i}"),
            Query::Other(s) => s.clone(),
        }
    }

    /// What the tree says about `name`.
    fn truth(&self, name: &str) -> Option<LeafContents> {
        self.model.get(&key_of(name)).copied()
    }

    /// If `proof` verifies against the root, it must state the truth.
    fn check_single(&self, proof: &Proof, how: &str) {
        if proof.verify(&self.root).is_ok() {
            assert_eq!(
                proof.contents().copied(),
                self.truth(proof.name()),
                "{how}: a tampered proof verifies and lies about {:?}",
                proof.name()
            );
        }
    }

    fn check_multi(&self, proof: &MultiProof, how: &str) {
        if proof.verify(&self.root).is_ok() {
            for (name, contents) in proof.targets() {
                assert_eq!(
                    *contents,
                    self.truth(name),
                    "{how}: a tampered multi-proof verifies and lies about {name:?}"
                );
            }
        }
    }
}

fn build(input: &Input) -> World {
    let mut names: Vec<String> = Vec::new();
    let mut model: BTreeMap<Digest, LeafContents> = BTreeMap::new();
    let mut tree = Tree::new();
    for leaf in input.leaves.iter().take(MAX_LEAVES) {
        let (key, contents) = match leaf {
            Leaf::Named(name, c) => {
                names.push(name.clone());
                (key_of(name), c.leaf())
            }
            Leaf::Near {
                of,
                bit,
                tail,
                contents,
            } => {
                let base = match names.len() {
                    0 => key_of(""),
                    n => key_of(&names[usize::from(*of) % n]),
                };
                let bit = usize::from(*bit);
                let mut key = base;
                for i in bit + 1..256 {
                    let t = (tail[i / 8] >> (7 - i % 8)) & 1;
                    key.0[i / 8] = (key.0[i / 8] & !(1 << (7 - i % 8))) | (t << (7 - i % 8));
                }
                key.0[bit / 8] ^= 1 << (7 - bit % 8);
                (key, contents.leaf())
            }
        };
        tree.set(key, contents);
        model.insert(key, contents);
    }
    let root = tree.root();

    // The root depends only on the final set of leaves.
    assert_eq!(tree.len(), model.len());
    let rebuilt = Tree::from_leaves(model.iter().map(|(k, c)| (*k, *c))).expect("distinct keys");
    assert_eq!(rebuilt.root(), root, "from_leaves and set disagree");
    let mut batched = Tree::new();
    batched.set_many(model.iter().rev().map(|(k, c)| (*k, *c)));
    assert_eq!(batched.root(), root, "set_many and set disagree");
    for (key, contents) in &model {
        assert_eq!(tree.get_key(key), Some(*contents));
    }
    World {
        names,
        model,
        tree,
        root,
    }
}

fn flip(json: &[u8], at: u16, bit: u8) -> Vec<u8> {
    let mut out = json.to_vec();
    if !out.is_empty() {
        let i = usize::from(at) % out.len();
        out[i] ^= 1 << (bit % 8);
    }
    out
}

fn tamper_single(world: &World, proof: &Proof, t: &Tamper) {
    match t {
        Tamper::FlipJson { at, bit } => {
            let bytes = flip(&proof.to_json(), *at, *bit);
            if let Ok(p) = Proof::from_json(&bytes) {
                world.check_single(&p, "flipped JSON bit");
            }
        }
        Tamper::Sibling { index, byte, xor } => {
            let mut p = proof.clone();
            let siblings = match &mut p {
                Proof::Membership(m) => &mut m.siblings,
                Proof::NonMembership(n) => &mut n.siblings,
            };
            if !siblings.is_empty() && *xor != 0 {
                let i = usize::from(*index) % siblings.len();
                siblings[i].0[usize::from(*byte) % 32] ^= xor;
                assert!(p.verify(&world.root).is_err(), "a changed sibling verifies");
            }
        }
        Tamper::Depth { grow, empty } => {
            let mut p = proof.clone();
            let siblings = match &mut p {
                Proof::Membership(m) => &mut m.siblings,
                Proof::NonMembership(n) => &mut n.siblings,
            };
            if *grow {
                siblings.push(if *empty {
                    tuf_merkle::EMPTY
                } else {
                    Digest([0x5a; 32])
                });
            } else if siblings.pop().is_none() {
                return;
            }
            world.check_single(&p, "changed depth");
            // A proof one level off computes another root (or is refused).
            assert!(
                p.verify(&world.root).is_err(),
                "a proof one level off verifies"
            );
        }
        Tamper::Contents(c) => {
            let contents = c.leaf();
            let p = match proof {
                Proof::Membership(m) => Proof::Membership(MembershipProof {
                    contents,
                    ..m.clone()
                }),
                Proof::NonMembership(n) => Proof::Membership(MembershipProof {
                    name: n.name.clone(),
                    contents,
                    siblings: n.siblings.clone(),
                }),
            };
            world.check_single(&p, "other contents");
        }
        Tamper::Rename(q) => {
            let name = world.name(q);
            let mut p = proof.clone();
            match &mut p {
                Proof::Membership(m) => m.name = name,
                Proof::NonMembership(n) => n.name = name,
            }
            world.check_single(&p, "renamed");
        }
        Tamper::Terminal {
            empty,
            key_of_query,
            hash,
        } => {
            let (name, siblings) = match proof {
                Proof::Membership(m) => (m.name.clone(), m.siblings.clone()),
                Proof::NonMembership(n) => (n.name.clone(), n.siblings.clone()),
            };
            let terminal = if *empty {
                Terminal::Empty
            } else {
                let key = match key_of_query {
                    Some(q) => key_of(&world.name(q)),
                    None => world.model.keys().next().copied().unwrap_or_default(),
                };
                let contents_hash = match world.model.get(&key) {
                    Some(c) if *hash == 0 => c.hash(),
                    _ => Digest([*hash; 32]),
                };
                Terminal::Leaf { key, contents_hash }
            };
            let p = Proof::NonMembership(NonMembershipProof {
                name,
                siblings,
                terminal,
            });
            world.check_single(&p, "other terminal");
        }
        Tamper::Shape { .. } | Tamper::Hash { .. } | Tamper::MultiContents { .. } => {}
    }
}

fn tamper_multi(world: &World, proof: &MultiProof, t: &Tamper) {
    let parts = |p: &MultiProof| {
        (
            p.targets().to_vec(),
            p.shape_bytes().to_vec(),
            p.hash_bytes()
                .chunks_exact(32)
                .map(|c| Digest(c.try_into().unwrap_or([0; 32])))
                .collect::<Vec<_>>(),
        )
    };
    let (mut targets, mut shape, mut hashes) = parts(proof);
    match t {
        Tamper::FlipJson { at, bit } => {
            let bytes = flip(&proof.to_json(), *at, *bit);
            if let Ok(p) = MultiProof::from_json(&bytes) {
                world.check_multi(&p, "flipped JSON bit");
            }
            return;
        }
        Tamper::Shape { at, bit } => {
            let i = usize::from(*at) % shape.len().max(1);
            if let Some(b) = shape.get_mut(i) {
                *b ^= 1 << (bit % 8);
            }
        }
        Tamper::Hash { index, byte, xor } => {
            if hashes.is_empty() || *xor == 0 {
                return;
            }
            let i = usize::from(*index) % hashes.len();
            hashes[i].0[usize::from(*byte) % 32] ^= xor;
            let p = MultiProof::from_parts(targets, shape, hashes).expect("same names");
            assert!(p.verify(&world.root).is_err(), "a changed hash verifies");
            return;
        }
        Tamper::MultiContents { index, contents } => {
            let i = usize::from(*index) % targets.len();
            targets[i].1 = contents.as_ref().map(Contents::leaf);
        }
        Tamper::Rename(q) => {
            let i = targets.len() - 1;
            targets[i].0 = world.name(q);
        }
        _ => return,
    }
    if let Ok(p) = MultiProof::from_parts(targets, shape, hashes) {
        world.check_multi(&p, "tampered multi-proof");
    }
}

fuzz_target!(|input: Input| {
    tuf_fuzz::begin(4096);
    let world = build(&input);
    let mut other = world.tree.clone();
    other.set(
        key_of("\u{0}another leaf"),
        LeafContents::Deleted { version: 1 },
    );
    let other_root = other.root();

    let mut names: Vec<String> = input
        .queries
        .iter()
        .take(MAX_QUERIES)
        .map(|q| world.name(q))
        .collect();
    if names.is_empty() {
        names.push(world.name(&Query::Named(0)));
    }
    for name in &names {
        let proof = world.tree.prove(name);
        assert_eq!(proof.name(), name);
        assert_eq!(
            proof.verify(&world.root),
            Ok(()),
            "a genuine proof is refused"
        );
        assert_eq!(proof.contents().copied(), world.truth(name));
        assert!(proof.verify(&other_root).is_err());
        let back = Proof::from_json(&proof.to_json()).expect("a genuine proof parses");
        assert_eq!(back, proof);
        for t in input.tampers.iter().take(MAX_TAMPERS) {
            tamper_single(&world, &proof, t);
        }
    }

    names.sort();
    names.dedup();
    let multi = world.tree.prove_many(&names).expect("distinct names");
    assert_eq!(
        multi.verify(&world.root),
        Ok(()),
        "a genuine multi-proof is refused"
    );
    for name in &names {
        assert_eq!(multi.get(name), Some(world.truth(name).as_ref()));
    }
    assert!(multi.verify(&other_root).is_err());
    let back = MultiProof::from_json(&multi.to_json()).expect("a genuine multi-proof parses");
    assert_eq!(back, multi);
    for t in input.tampers.iter().take(MAX_TAMPERS) {
        tamper_multi(&world, &multi, t);
    }
});
