//! Checks the committed POUF test vectors (`tests/vectors/*.json`) against the code: the root of
//! the listed leaves, and every proof both verifies and is exactly the proof the code generates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::Path;
use tuf_merkle::hash::parse_hex;
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{LeafContents, MembershipProof, NonMembershipProof, Proof, Tree, key_of};

fn vectors() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("tests/vectors exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable vector");
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&text).expect("vector is JSON"),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn the_required_vectors_exist() {
    let names: Vec<String> = vectors().into_iter().map(|v| v.0).collect();
    for required in [
        "empty.json",
        "one-leaf.json",
        "deep-split.json",
        "tombstones.json",
        "thousand.json",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing vector {required}"
        );
    }
}

#[test]
fn vectors_check_out() {
    for (file, v) in vectors() {
        let leaves: Vec<(String, LeafContents)> = v["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let c: LeafContents = serde_json::from_value(l["contents"].clone()).unwrap();
                (l["name"].as_str().unwrap().to_owned(), c)
            })
            .collect();
        let tree = Tree::from_leaves(leaves.iter().map(|(n, c)| (key_of(n), *c))).unwrap();
        let root = parse_hex(v["root"].as_str().unwrap()).unwrap();
        assert_eq!(tree.root(), root, "{file}: root");

        let membership = v["membership"].as_array().unwrap();
        assert!(!leaves.is_empty() || membership.is_empty());
        for m in membership {
            let p = MembershipProof::from_json(&bytes(m)).unwrap();
            p.verify(&root)
                .unwrap_or_else(|e| panic!("{file}: {}: {e}", p.name));
            assert_eq!(
                tree.prove(&p.name),
                Proof::Membership(p.clone()),
                "{file}: {}",
                p.name
            );
        }
        for n in v["non_membership"].as_array().unwrap() {
            let name = n["name"].as_str().unwrap();
            let p = NonMembershipProof::from_json(&bytes(&n["proof"])).unwrap();
            assert_eq!(p.name, name, "{file}");
            p.verify(&root)
                .unwrap_or_else(|e| panic!("{file}: {name}: {e}"));
            assert_eq!(tree.prove(name), Proof::NonMembership(p), "{file}: {name}");
        }
        for m in v["multi_proofs"].as_array().unwrap() {
            let p = MultiProof::from_json(&bytes(&m["proof"])).unwrap();
            p.verify(&root)
                .unwrap_or_else(|e| panic!("{file}: multi: {e}"));
            let names: Vec<&str> = m["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            assert_eq!(tree.prove_many(&names).unwrap(), p, "{file}: multi");
        }
    }
}

/// A second implementation, in Python from the POUF document alone, checks the same vectors.
/// Needs `python3`; under `CI=true` its absence fails the test.
#[test]
fn an_independent_python_implementation_agrees() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let files: Vec<_> = vectors().into_iter().map(|(f, _)| dir.join(f)).collect();
    let output = match std::process::Command::new("python3")
        .arg(dir.join("check_vectors.py"))
        .args(&files)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "python3 is needed: {e}"
            );
            eprintln!("skipping: python3 not found: {e}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with("check out")).count(),
        files.len(),
        "{stdout}"
    );
}
