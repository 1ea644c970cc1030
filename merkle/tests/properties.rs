//! Property tests of the tree and its proofs against D3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use std::collections::BTreeMap;
use tuf_merkle::hash::{Digest, sha256};
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::proof::{MembershipProof, NonMembershipProof, Terminal, verify_non_membership};
use tuf_merkle::{LeafContents, Proof, Tree, key_of};

fn contents() -> impl Strategy<Value = LeafContents> {
    prop_oneof![
        (1u64..1000, 0u64..1 << 40, any::<[u8; 32]>()).prop_map(|(v, l, h)| LeafContents::present(
            v,
            l,
            Digest(h)
        )
        .unwrap()),
        (1u64..1000).prop_map(|v| LeafContents::deleted(v).unwrap()),
    ]
}

/// Up to 80 distinct names with contents.
fn leaf_set() -> impl Strategy<Value = BTreeMap<String, LeafContents>> {
    prop::collection::btree_map("[a-z0-9/_-]{1,12}", contents(), 0..80)
}

#[derive(Debug, Clone)]
enum Op {
    Set(String, LeafContents),
    Publish(String, u64),
    Delete(String),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    // A small name space, so that operations hit the same names often.
    let name = "[a-f]{1,3}";
    prop::collection::vec(
        prop_oneof![
            (name, contents()).prop_map(|(n, c)| Op::Set(n, c)),
            (name, 0u64..4).prop_map(|(n, l)| Op::Publish(n, l)),
            name.prop_map(Op::Delete),
        ],
        0..120,
    )
}

fn build(set: &BTreeMap<String, LeafContents>) -> Tree {
    Tree::from_leaves(set.iter().map(|(n, c)| (key_of(n), *c))).unwrap()
}

/// Flips bit `bit` (taken modulo the length) of `bytes`.
fn flip(bytes: &mut [u8], bit: usize) {
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

fn flip_contents(c: &LeafContents, bit: usize) -> Option<LeafContents> {
    match *c {
        LeafContents::Present {
            version,
            length,
            mut sha256,
        } => match bit % 3 {
            0 => LeafContents::present(version ^ (1 << (bit % 8)), length, sha256).ok(),
            1 => LeafContents::present(version, length ^ (1 << (bit % 40)), sha256).ok(),
            _ => {
                flip(&mut sha256.0, bit);
                LeafContents::present(version, length, sha256).ok()
            }
        },
        LeafContents::Deleted { version } => LeafContents::deleted(version ^ (1 << (bit % 8))).ok(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn root_does_not_depend_on_insertion_order(set in leaf_set(), seed in any::<u64>()) {
        let at_once = build(&set);
        let mut forward = Tree::new();
        for (n, c) in &set {
            forward.set(key_of(n), *c);
        }
        // A seeded permutation: sort by a hash of (seed, name).
        let mut shuffled: Vec<_> = set.iter().collect();
        shuffled.sort_by_key(|(n, _)| sha256(format!("{seed}{n}").as_bytes()));
        let mut permuted = Tree::new();
        for (n, c) in shuffled {
            permuted.set(key_of(n), *c);
        }
        let mut batched = Tree::new();
        batched.set_many(set.iter().rev().map(|(n, c)| (key_of(n), *c)));
        prop_assert_eq!(forward.root(), at_once.root());
        prop_assert_eq!(permuted.root(), at_once.root());
        prop_assert_eq!(batched.root(), at_once.root());
        prop_assert_eq!(at_once.len(), set.len());
    }

    #[test]
    fn any_history_ends_at_the_root_of_its_final_set(ops in ops(), initial in leaf_set()) {
        let mut tree = build(&initial);
        let mut model = initial.clone();
        let before = tree.clone();
        let before_root = before.root();
        for op in ops {
            match op {
                Op::Set(n, c) => {
                    tree.set(key_of(&n), c);
                    model.insert(n, c);
                }
                Op::Publish(n, len) => {
                    let sha = sha256(&len.to_be_bytes());
                    let old = model.get(&n).copied();
                    let new = tree.publish(key_of(&n), len, sha).unwrap();
                    let expected = match old {
                        None => 1,
                        Some(LeafContents::Present { version, length, sha256 }) if length == len && sha256 == sha => version,
                        Some(old) => old.version() + 1,
                    };
                    prop_assert_eq!(new.version(), expected);
                    model.insert(n, new);
                }
                Op::Delete(n) => match (model.get(&n).copied(), tree.delete(key_of(&n))) {
                    (Some(LeafContents::Present { version, .. }), Ok(new)) => {
                        prop_assert_eq!(new, LeafContents::Deleted { version: version + 1 });
                        model.insert(n, new);
                    }
                    // A retried delete leaves the tombstone as it is (D2).
                    (Some(tomb @ LeafContents::Deleted { .. }), Ok(new)) => prop_assert_eq!(new, tomb),
                    (None, Err(_)) => {}
                    (old, result) => prop_assert!(false, "delete {} from {:?} gave {:?}", n, old, result),
                },
            }
        }
        prop_assert_eq!(tree.root(), build(&model).root());
        prop_assert_eq!(tree.len(), model.len());
        prop_assert_eq!(tree.tombstones(), model.values().filter(|c| c.is_deleted()).count());
        // The version taken before the history is untouched by it.
        prop_assert_eq!(before.root(), before_root);
        prop_assert_eq!(before.root(), build(&initial).root());
    }

    #[test]
    fn proofs_verify_and_any_flipped_bit_breaks_them(
        set in leaf_set(),
        absent in prop::collection::vec("[A-Z]{1,6}", 1..8),
        bit in any::<usize>(),
    ) {
        let tree = build(&set);
        let root = tree.root();
        let mut bad_root = root;
        flip(&mut bad_root.0, bit);
        for (name, c) in &set {
            let Proof::Membership(p) = tree.prove(name) else {
                return Err(TestCaseError::fail(format!("{name} is present")));
            };
            prop_assert_eq!(&p.contents, c);
            p.verify(&root).unwrap();
            // Through JSON and back.
            prop_assert_eq!(&MembershipProof::from_json(&p.to_json()).unwrap(), &p);
            prop_assert!(p.verify(&bad_root).is_err());
            if !p.siblings.is_empty() {
                let mut q = p.clone();
                let i = bit % q.siblings.len();
                flip(&mut q.siblings[i].0, bit / 7);
                prop_assert!(q.verify(&root).is_err());
            }
            if let Some(other) = flip_contents(c, bit) {
                let q = MembershipProof { contents: other, ..p.clone() };
                prop_assert!(q.verify(&root).is_err());
            }
            let mut name_bytes = name.clone().into_bytes();
            flip(&mut name_bytes, bit);
            if let Ok(other) = String::from_utf8(name_bytes) {
                let q = MembershipProof { name: other, ..p.clone() };
                prop_assert!(q.verify(&root).is_err());
            }
            // A present name cannot be proved absent with any terminal on its own path.
            for terminal in [Terminal::Empty, Terminal::Leaf { key: key_of(name), contents_hash: c.hash() }] {
                prop_assert!(verify_non_membership(&root, name, &p.siblings, &terminal).is_err());
            }
        }
        for name in absent.iter().filter(|n| !set.contains_key(*n)) {
            let Proof::NonMembership(p) = tree.prove(name) else {
                return Err(TestCaseError::fail(format!("{name} is absent")));
            };
            p.verify(&root).unwrap();
            prop_assert_eq!(&NonMembershipProof::from_json(&p.to_json()).unwrap(), &p);
            prop_assert!(p.verify(&bad_root).is_err());
            if !p.siblings.is_empty() {
                let mut q = p.clone();
                let i = bit % q.siblings.len();
                flip(&mut q.siblings[i].0, bit / 7);
                prop_assert!(q.verify(&root).is_err());
            }
            if let Terminal::Leaf { key, contents_hash } = p.terminal {
                let (mut k, mut h) = (key, contents_hash);
                flip(&mut k.0, bit);
                flip(&mut h.0, bit);
                for t in [Terminal::Leaf { key: k, contents_hash }, Terminal::Leaf { key, contents_hash: h }, Terminal::Empty] {
                    let q = NonMembershipProof { terminal: t, ..p.clone() };
                    prop_assert!(q.verify(&root).is_err());
                }
            }
            // The same proof cannot speak for a present name.
            for present in set.keys().take(5) {
                let q = NonMembershipProof { name: present.clone(), ..p.clone() };
                prop_assert!(q.verify(&root).is_err());
            }
        }
    }

    #[test]
    fn multi_proofs_verify_and_tampering_breaks_them(
        set in leaf_set(),
        absent in prop::collection::vec("[A-Z]{1,6}", 0..8),
        take in 0usize..40,
        bit in any::<usize>(),
    ) {
        let tree = build(&set);
        let root = tree.root();
        let mut names: Vec<String> = set.keys().take(take).cloned().collect();
        names.extend(absent.into_iter().filter(|n| !set.contains_key(n)));
        names.sort();
        names.dedup();
        prop_assume!(!names.is_empty());
        let proof = tree.prove_many(&names).unwrap();
        proof.verify(&root).unwrap();
        for name in &names {
            prop_assert_eq!(proof.get(name).unwrap().copied(), set.get(name).copied());
        }
        let json = proof.to_json();
        let back = MultiProof::from_json(&json).unwrap();
        prop_assert_eq!(&back, &proof);
        // Flip a bit inside the hex of the hashes or the shape: the proof must fail to parse
        // or to verify.
        let text = String::from_utf8(json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for field in ["hashes", "shape"] {
            let s = v[field].as_str().unwrap();
            if s.is_empty() {
                continue;
            }
            let mut bytes = hex::decode(s).unwrap();
            flip(&mut bytes, bit);
            let mut w = v.clone();
            w[field] = hex::encode(bytes).into();
            let tampered = MultiProof::from_json(w.to_string().as_bytes());
            prop_assert!(tampered.and_then(|p| p.verify(&root)).is_err(), "flipped {}", field);
        }
        // Claiming a present name absent, or the other way round, fails.
        let mut claims: Vec<_> = proof.targets().to_vec();
        let i = bit % claims.len();
        claims[i].1 = match claims[i].1 {
            Some(_) => None,
            None => Some(LeafContents::for_bytes(1, b"forged").unwrap()),
        };
        let forged = MultiProof::from_parts(claims, proof.shape_bytes().to_vec(), back_hashes(&proof)).unwrap();
        prop_assert!(forged.verify(&root).is_err());
    }
}

fn back_hashes(p: &MultiProof) -> Vec<Digest> {
    p.hash_bytes()
        .chunks_exact(32)
        .map(|c| {
            let mut d = [0u8; 32];
            d.copy_from_slice(c);
            Digest(d)
        })
        .collect()
}

#[test]
fn old_versions_stay_readable_while_the_tree_moves_on() {
    let names: Vec<String> = (0..2000).map(|i| format!("c{i}")).collect();
    let mut tree = Tree::from_leaves(
        names
            .iter()
            .map(|n| (key_of(n), LeafContents::for_bytes(1, n.as_bytes()).unwrap())),
    )
    .unwrap();
    let mut versions = Vec::new();
    for round in 0..20u64 {
        versions.push(tree.clone());
        for n in names.iter().skip(round as usize * 50).take(50) {
            tree.publish(key_of(n), round, sha256(&round.to_be_bytes()))
                .unwrap();
        }
    }
    for (round, v) in versions.iter().enumerate() {
        let n = &names[round * 50];
        let Proof::Membership(p) = v.prove(n) else {
            panic!("present")
        };
        assert_eq!(
            p.contents.version(),
            1,
            "version {round} still holds the old leaf"
        );
        p.verify(&v.root()).unwrap();
        assert!(p.verify(&tree.root()).is_err());
    }
}
