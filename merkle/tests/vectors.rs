//! Checks the committed POUF test vectors (`tests/vectors/*.json`) against the code: the root of
//! the listed leaves, and every proof both verifies and is exactly the proof the code generates;
//! every `accepted` text is read as the canonical proof it encodes, and every `refused` text is
//! refused, with the error the vector names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::Path;
use tuf_merkle::hash::{Digest, parse_hex};
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{
    LeafContents, MembershipProof, NonMembershipProof, Proof, ProofError, Tree, key_of,
};

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
        "rules.json",
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

/// What the vector names as the one or several names asked about.
fn asked(entry: &Value) -> Vec<&str> {
    match &entry["asked"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(|n| n.as_str().unwrap()).collect(),
        other => panic!("asked: {other}"),
    }
}

/// Reads `text` as a proof of `kind`, verifies it for the names asked, and checks that it is the
/// proof `tree` itself gives for them.
fn read_and_verify(
    kind: &str,
    asked: &[&str],
    text: &str,
    root: &Digest,
    tree: &Tree,
) -> Result<(), ProofError> {
    let bytes = text.as_bytes();
    match kind {
        "membership" | "non_membership" => {
            let [name] = asked else {
                panic!("{kind}: one name")
            };
            // Through the parser of the form, and through the one that tells the forms apart.
            let p = if kind == "membership" {
                Proof::Membership(MembershipProof::from_json(bytes)?)
            } else {
                Proof::NonMembership(NonMembershipProof::from_json(bytes)?)
            };
            assert_eq!(Proof::from_json(bytes)?, p);
            p.verify_for(root, name)?;
            assert_eq!(
                p,
                tree.prove(name),
                "an accepted text is the canonical proof"
            );
        }
        "multi" => {
            let p = MultiProof::from_json(bytes)?;
            p.verify_for(root, asked)?;
            assert_eq!(p, tree.prove_many(asked).unwrap());
        }
        other => panic!("kind {other}"),
    }
    Ok(())
}

/// The variant's name of an error, as `Debug` writes it (`NonCanonical("…")` is NonCanonical).
fn variant(e: &ProofError) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

#[test]
fn accepted_texts_are_the_canonical_proofs_and_refused_texts_are_refused() {
    let mut refused_count = 0;
    for (file, v) in vectors() {
        let leaves = v["leaves"].as_array().unwrap().iter().map(|l| {
            let c: LeafContents = serde_json::from_value(l["contents"].clone()).unwrap();
            (key_of(l["name"].as_str().unwrap()), c)
        });
        let tree = Tree::from_leaves(leaves).unwrap();
        let root = parse_hex(v["root"].as_str().unwrap()).unwrap();
        for e in v["accepted"].as_array().into_iter().flatten() {
            let (kind, text) = (e["kind"].as_str().unwrap(), e["text"].as_str().unwrap());
            read_and_verify(kind, &asked(e), text, &root, &tree)
                .unwrap_or_else(|err| panic!("{file}: {}: refused: {err}", e["why"]));
        }
        for e in v["refused"].as_array().into_iter().flatten() {
            let (kind, text) = (e["kind"].as_str().unwrap(), e["text"].as_str().unwrap());
            let Err(err) = read_and_verify(kind, &asked(e), text, &root, &tree) else {
                panic!("{file}: {}: accepted", e["why"]);
            };
            assert_eq!(
                variant(&err),
                e["error"].as_str().unwrap(),
                "{file}: {}: {err}",
                e["why"]
            );
            refused_count += 1;
        }
    }
    assert!(refused_count >= 40, "only {refused_count} refused vectors");
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
