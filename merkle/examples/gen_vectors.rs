//! Writes the POUF test vectors into `merkle/tests/vectors/`.
//!
//! `cargo run -p tuf-merkle --example gen_vectors` rewrites them; `tests/vectors.rs` checks the
//! committed files against the code, so a change to the encoding shows up as a diff here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use tuf_merkle::hash::{Digest, sha256};
use tuf_merkle::{LeafContents, Proof, Tree, key_of};

struct Vector {
    file: &'static str,
    description: &'static str,
    leaves: Vec<(String, LeafContents)>,
    /// Names to give membership proofs for (all leaves when `None`).
    members: Option<Vec<String>>,
    absent: Vec<String>,
    multi: Vec<Vec<String>>,
}

fn contents(name: &str, version: u64) -> LeafContents {
    LeafContents::for_bytes(
        version,
        format!("index file of {name}, version {version}\n").as_bytes(),
    )
    .unwrap()
}

/// The first name `{prefix}{i}` (in order of i) whose key shares its first `bits` bits with
/// some earlier one, and that earlier one.
fn colliding(prefix: &str, bits: usize) -> (String, String) {
    let mut seen: HashMap<u64, String> = HashMap::new();
    for i in 0u64.. {
        let name = format!("{prefix}{i}");
        let k = key_of(&name);
        let top = u64::from_be_bytes(k.0[..8].try_into().unwrap()) >> (64 - bits);
        if let Some(other) = seen.insert(top, name.clone()) {
            return (other, name);
        }
    }
    unreachable!()
}

/// The first name `{prefix}{i}` whose key shares exactly `bits` leading bits with `key`.
fn sharing(prefix: &str, key: &Digest, bits: usize) -> String {
    (0u64..)
        .map(|i| format!("{prefix}{i}"))
        .find(|n| key_of(n).first_difference(key) == Some(bits))
        .unwrap()
}

fn vectors() -> Vec<Vector> {
    let (a, b) = colliding("deep/split/", 28);
    let ka = key_of(&a);
    let split = ka.first_difference(&key_of(&b)).unwrap();
    // Absent names whose paths end inside the unary levels above the split (terminal E), and
    // at one of the two leaves (terminal leaf).
    let inside = sharing("deep/absent/", &ka, 12);
    let at_leaf = sharing("deep/leaf/", &ka, split + 1);

    let mut tomb_leaves: Vec<(String, LeafContents)> = (0..12)
        .map(|i| {
            let name =
                format!("{}/{}", i % 4, ["serde", "syn", "rand", "tokio"][i % 4]) + &i.to_string();
            (name.clone(), contents(&name, 1 + i as u64 % 3))
        })
        .collect();
    for (i, leaf) in tomb_leaves.iter_mut().enumerate() {
        if i % 3 == 0 {
            leaf.1 = LeafContents::deleted(leaf.1.version() + 1).unwrap();
        }
    }

    let thousand: Vec<(String, LeafContents)> = (0..1000)
        .map(|i| {
            let name = format!("crate-{i:04}");
            let version = 1 + (sha256(name.as_bytes()).0[0] % 9) as u64;
            if i % 97 == 0 {
                (name, LeafContents::deleted(version).unwrap())
            } else {
                let c = contents(&name, version);
                (name, c)
            }
        })
        .collect();
    let sample: Vec<String> = thousand.iter().step_by(50).map(|l| l.0.clone()).collect();

    vec![
        Vector {
            file: "empty.json",
            description: "The empty tree: root E; every name is absent with terminal \"empty\" at depth 0.",
            leaves: vec![],
            members: None,
            absent: vec!["se/rd/serde".into(), "".into()],
            multi: vec![vec!["se/rd/serde".into(), "1/a".into()]],
        },
        Vector {
            file: "one-leaf.json",
            description: "One leaf: the root is its leaf hash, its proof is empty, and absent names end at it.",
            leaves: vec![("se/rd/serde".into(), contents("se/rd/serde", 1))],
            members: None,
            absent: vec!["3/s/syn".into()],
            multi: vec![vec!["se/rd/serde".into(), "3/s/syn".into()]],
        },
        Vector {
            file: "deep-split.json",
            description: "Two leaves whose keys share their first bits: unary levels (siblings E) above the split. Absent names end inside those levels (terminal empty) and at a leaf.",
            leaves: vec![(a.clone(), contents(&a, 1)), (b.clone(), contents(&b, 2))],
            members: None,
            absent: vec![inside.clone(), at_leaf.clone(), "elsewhere".into()],
            multi: vec![vec![a.clone(), b.clone(), inside, at_leaf]],
        },
        Vector {
            file: "tombstones.json",
            description: "Twelve leaves, every third a tombstone {\"version\": N, \"deleted\": true}; tombstones are members, not absent.",
            leaves: tomb_leaves,
            members: None,
            absent: vec!["0/serde".into(), "5/none".into()],
            multi: vec![vec!["0/serde0".into(), "1/syn1".into(), "0/serde".into()]],
        },
        Vector {
            file: "thousand.json",
            description: "1,000 leaves (every 97th a tombstone); membership proofs for every 50th leaf, non-membership for some absent names, one multi-proof.",
            leaves: thousand,
            members: Some(sample.clone()),
            absent: (0..10).map(|i| format!("absent-{i}")).collect(),
            multi: vec![
                sample
                    .into_iter()
                    .chain((0..5).map(|i| format!("absent-{i}")))
                    .collect(),
            ],
        },
    ]
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    std::fs::create_dir_all(&dir).unwrap();
    for v in vectors() {
        let tree = Tree::from_leaves(v.leaves.iter().map(|(n, c)| (key_of(n), *c))).unwrap();
        let members: Vec<String> = v
            .members
            .unwrap_or_else(|| v.leaves.iter().map(|l| l.0.clone()).collect());
        let membership: Vec<Value> = members
            .iter()
            .map(|n| match tree.prove(n) {
                Proof::Membership(p) => serde_json::to_value(&p).unwrap(),
                Proof::NonMembership(_) => panic!("{n} should be present"),
            })
            .collect();
        let non_membership: Vec<Value> = v
            .absent
            .iter()
            .map(|n| match tree.prove(n) {
                Proof::NonMembership(p) => json!({"name": n, "proof": p}),
                Proof::Membership(_) => panic!("{n} should be absent"),
            })
            .collect();
        let multi: Vec<Value> = v
            .multi
            .iter()
            .map(|names| json!({"names": names, "proof": tree.prove_many(names).unwrap()}))
            .collect();
        let leaves: Vec<Value> = v
            .leaves
            .iter()
            .map(|(n, c)| json!({"name": n, "contents": c}))
            .collect();
        let doc = json!({
            "pouf": "tuf-mpt-sha256-v1",
            "description": v.description,
            "leaves": leaves,
            "root": tree.root().to_hex(),
            "membership": membership,
            "non_membership": non_membership,
            "multi_proofs": multi,
        });
        let mut text = serde_json::to_string_pretty(&doc).unwrap();
        text.push('\n');
        std::fs::write(dir.join(v.file), text).unwrap();
        println!(
            "wrote {} ({} leaves, root {})",
            v.file,
            v.leaves.len(),
            tree.root()
        );
    }
}
