//! Checks the committed binary vectors (`tests/vectors/binary/*.json`, POUF §10) against the
//! code: every hex string decodes to the very proof its JSON form parses to, re-encodes to the
//! same bytes, verifies for the names asked and is the proof the tree gives; every answer
//! carries its JSON answer's members; every `refused` byte string is refused with the error
//! the vector names. `check_binary.py`, a second implementation written from the POUF, checks
//! the same files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use tuf_merkle::binary::Answer;
use tuf_merkle::hash::{Digest, parse_hex};
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{
    LeafContents, MembershipProof, NonMembershipProof, Proof, ProofError, Tree, key_of,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/binary")
}

fn vectors() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir())
        .expect("tests/vectors/binary exists")
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

fn tree_of(v: &Value) -> (Tree, Digest) {
    let leaves = v["leaves"].as_array().unwrap().iter().map(|l| {
        let c: LeafContents = serde_json::from_value(l["contents"].clone()).unwrap();
        (key_of(l["name"].as_str().unwrap()), c)
    });
    let tree = Tree::from_leaves(leaves).unwrap();
    (tree, parse_hex(v["root"].as_str().unwrap()).unwrap())
}

fn asked(entry: &Value) -> Vec<&str> {
    match &entry["asked"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(|n| n.as_str().unwrap()).collect(),
        other => panic!("asked: {other}"),
    }
}

/// Decodes `bytes` as a proof of `kind`, verifies it for `asked`, and checks that it is the
/// tree's proof and re-encodes to the same bytes.
fn read_and_verify(
    kind: &str,
    asked: &[&str],
    bytes: &[u8],
    root: &Digest,
    tree: &Tree,
) -> Result<(), ProofError> {
    match kind {
        "membership" | "non_membership" => {
            let [name] = asked else {
                panic!("{kind}: one name")
            };
            let p = if kind == "membership" {
                Proof::Membership(MembershipProof::from_binary(bytes)?)
            } else {
                Proof::NonMembership(NonMembershipProof::from_binary(bytes)?)
            };
            assert_eq!(Proof::from_binary(bytes)?, p);
            p.verify_for(root, name)?;
            assert_eq!(p, tree.prove(name));
            assert_eq!(p.to_binary().unwrap(), bytes, "one encoding per proof");
        }
        "multi" => {
            let p = MultiProof::from_binary(bytes)?;
            p.verify_for(root, asked)?;
            assert_eq!(p, tree.prove_many(asked).unwrap());
            assert_eq!(p.to_binary().unwrap(), bytes, "one encoding per proof");
        }
        other => panic!("kind {other}"),
    }
    Ok(())
}

fn json_proof(kind: &str, json: &Value) -> Result<Vec<u8>, ProofError> {
    let text = serde_json::to_vec(json).unwrap();
    Ok(match kind {
        "multi" => MultiProof::from_json(&text)?.to_binary()?,
        _ => Proof::from_json(&text)?.to_binary()?,
    })
}

fn variant(e: &ProofError) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

#[test]
fn the_binary_vectors_exist() {
    let names: Vec<String> = vectors().into_iter().map(|v| v.0).collect();
    for required in [
        "empty.json",
        "one-leaf.json",
        "deep-split.json",
        "tombstones.json",
        "rules.json",
    ] {
        assert!(names.iter().any(|n| n == required), "missing {required}");
    }
}

#[test]
fn every_binary_proof_is_its_json_proof_and_verifies() {
    let mut proofs = 0;
    for (file, v) in vectors() {
        let (tree, root) = tree_of(&v);
        assert_eq!(tree.root(), root, "{file}: root");
        for e in v["proofs"].as_array().unwrap() {
            let kind = e["kind"].as_str().unwrap();
            let bytes = hex::decode(e["hex"].as_str().unwrap()).unwrap();
            assert_eq!(e["length"].as_u64().unwrap() as usize, bytes.len());
            read_and_verify(kind, &asked(e), &bytes, &root, &tree)
                .unwrap_or_else(|err| panic!("{file}: {}: {err}", e["asked"]));
            assert_eq!(
                json_proof(kind, &e["json"]).unwrap(),
                bytes,
                "{file}: {}: the JSON form encodes to the hex",
                e["asked"]
            );
            assert!(bytes.len() < e["json_length"].as_u64().unwrap() as usize);
            proofs += 1;
        }
        for e in v["answers"].as_array().into_iter().flatten() {
            let bytes = hex::decode(e["hex"].as_str().unwrap()).unwrap();
            let a = Answer::decode(&bytes).unwrap();
            let j = &e["json"];
            assert_eq!(a.role, j["role"].as_str().unwrap());
            assert_eq!(
                a.timestamp_version,
                j["timestamp_version"].as_u64().unwrap()
            );
            assert_eq!(a.merkle_root.to_hex(), j["merkle_root"].as_str().unwrap());
            let kind = e["kind"].as_str().unwrap();
            assert_eq!(json_proof(kind, &j["proof"]).unwrap(), a.proof, "{file}");
            read_and_verify(kind, &asked(e), a.proof, &root, &tree).unwrap();
            assert_eq!(a.encode().unwrap(), bytes);
        }
    }
    assert!(proofs >= 40, "only {proofs} proofs");
}

#[test]
fn refused_byte_strings_are_refused_with_their_error() {
    let mut count = 0;
    for (file, v) in vectors() {
        let (tree, root) = tree_of(&v);
        for e in v["refused"].as_array().into_iter().flatten() {
            let kind = e["kind"].as_str().unwrap();
            let bytes = hex::decode(e["hex"].as_str().unwrap()).unwrap();
            let Err(err) = read_and_verify(kind, &asked(e), &bytes, &root, &tree) else {
                panic!("{file}: {}: accepted", e["why"]);
            };
            assert_eq!(
                variant(&err),
                e["error"].as_str().unwrap(),
                "{file}: {}: {err}",
                e["why"]
            );
            count += 1;
        }
    }
    assert!(count >= 25, "only {count} refused vectors");
}

/// The second implementation, in Python from the POUF alone. Needs `python3`; under `CI=true`
/// its absence fails the test.
#[test]
fn an_independent_python_implementation_agrees() {
    let files: Vec<PathBuf> = vectors().into_iter().map(|(f, _)| dir().join(f)).collect();
    let output = match std::process::Command::new("python3")
        .arg(dir().join("check_binary.py"))
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
