//! Writes the POUF test vectors into `merkle/tests/vectors/`.
//!
//! `cargo run -p tuf-merkle --example gen_vectors` rewrites them; `tests/vectors.rs` checks the
//! committed files against the code, so a change to the encoding shows up as a diff here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use tuf_merkle::contents::MAX_INTEGER;
use tuf_merkle::hash::{Digest, interior_hash, leaf_hash, sha256};
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{
    EMPTY, LeafContents, MembershipProof, NonMembershipProof, Proof, Terminal, Tree, key_of,
};

struct Vector {
    file: &'static str,
    description: &'static str,
    leaves: Vec<(String, LeafContents)>,
    /// Names to give membership proofs for (all leaves when `None`).
    members: Option<Vec<String>>,
    absent: Vec<String>,
    multi: Vec<Vec<String>>,
    /// JSON texts that encode a canonical proof of the file another way: readers must accept
    /// them (`rules.json` only).
    accepted: Vec<Value>,
    /// JSON texts that readers must refuse (`rules.json` only).
    refused: Vec<Value>,
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
            accepted: vec![],
            refused: vec![],
        },
        Vector {
            file: "one-leaf.json",
            description: "One leaf: the root is its leaf hash, its proof is empty, and absent names end at it.",
            leaves: vec![("se/rd/serde".into(), contents("se/rd/serde", 1))],
            members: None,
            absent: vec!["3/s/syn".into()],
            multi: vec![vec!["se/rd/serde".into(), "3/s/syn".into()]],
            accepted: vec![],
            refused: vec![],
        },
        Vector {
            file: "deep-split.json",
            description: "Two leaves whose keys share their first bits: unary levels (siblings E) above the split. Absent names end inside those levels (terminal empty) and at a leaf.",
            leaves: vec![(a.clone(), contents(&a, 1)), (b.clone(), contents(&b, 2))],
            members: None,
            absent: vec![inside.clone(), at_leaf.clone(), "elsewhere".into()],
            multi: vec![vec![a.clone(), b.clone(), inside, at_leaf]],
            accepted: vec![],
            refused: vec![],
        },
        Vector {
            file: "tombstones.json",
            description: "Twelve leaves, every third a tombstone {\"version\": N, \"deleted\": true}; tombstones are members, not absent.",
            leaves: tomb_leaves,
            members: None,
            absent: vec!["0/serde".into(), "5/none".into()],
            multi: vec![vec!["0/serde0".into(), "1/syn1".into(), "0/serde".into()]],
            accepted: vec![],
            refused: vec![],
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
            accepted: vec![],
            refused: vec![],
        },
        rules(),
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
        if v.file != "thousand.json" {
            let proved = Proved {
                file: v.file,
                leaves: &v.leaves,
                members: &members,
                absent: &v.absent,
                multi: &v.multi,
            };
            write_binary(&dir.join("binary"), &proved, &tree);
        }
        let mut doc = json!({
            "pouf": "tuf-mpt-sha256-v1",
            "description": v.description,
            "leaves": leaves,
            "root": tree.root().to_hex(),
            "membership": membership,
            "non_membership": non_membership,
            "multi_proofs": multi,
        });
        // Only where there are any, so that the older files stay byte for byte as they were.
        if !v.accepted.is_empty() || !v.refused.is_empty() {
            doc["accepted"] = Value::Array(v.accepted);
            doc["refused"] = Value::Array(v.refused);
        }
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

// ---------------------------------------------------------------------------------------------
// binary/*.json: the binary encoding (POUF §10) of the same proofs, with their JSON forms.

/// One proof in both encodings.
fn both(kind: &str, asked: Value, json_bytes: Vec<u8>, binary: Vec<u8>) -> Value {
    json!({
        "kind": kind,
        "asked": asked,
        "json": serde_json::from_slice::<Value>(&json_bytes).unwrap(),
        "json_length": json_bytes.len(),
        "hex": hex::encode(&binary),
        "length": binary.len(),
    })
}

/// What a vector file proves, for its binary twin.
struct Proved<'a> {
    file: &'static str,
    leaves: &'a [(String, LeafContents)],
    members: &'a [String],
    absent: &'a [String],
    multi: &'a [Vec<String>],
}

fn write_binary(dir: &Path, v: &Proved<'_>, tree: &Tree) {
    std::fs::create_dir_all(dir).unwrap();
    let root = tree.root();
    let mut proofs = Vec::new();
    for n in v.members.iter().chain(v.absent) {
        let p = tree.prove(n);
        let kind = match p {
            Proof::Membership(_) => "membership",
            Proof::NonMembership(_) => "non_membership",
        };
        proofs.push(both(kind, json!(n), p.to_json(), p.to_binary().unwrap()));
    }
    for names in v.multi {
        let p = tree.prove_many(names).unwrap();
        proofs.push(both(
            "multi",
            json!(names),
            p.to_json(),
            p.to_binary().unwrap(),
        ));
    }
    let mut doc = json!({
        "pouf": "tuf-mpt-sha256-v1",
        "encoding": "binary, docs/pouf.md §10",
        "description": format!(
            "The proofs of ../{} (leaves, root) in the binary encoding, each with its JSON form and both lengths in bytes.",
            v.file
        ),
        "leaves": v.leaves.iter().map(|(n, c)| json!({"name": n, "contents": c})).collect::<Vec<_>>(),
        "root": root.to_hex(),
        "proofs": proofs,
    });
    if v.file == "rules.json" {
        let (answers, refused) = binary_rules(tree);
        doc["description"] = json!(format!(
            "{} `answers`: the signer's binary answers (§10.5) with their JSON forms; `refused`: byte strings that readers must refuse when asked about `asked` against `root`, with the section whose rule refuses them and the tuf_merkle::ProofError variant the reference reports.",
            doc["description"].as_str().unwrap()
        ));
        doc["answers"] = Value::Array(answers);
        doc["refused"] = Value::Array(refused);
    }
    let mut text = serde_json::to_string_pretty(&doc).unwrap();
    text.push('\n');
    std::fs::write(dir.join(v.file), text).unwrap();
    println!("wrote binary/{}", v.file);
}

/// `bytes` with `bytes[at..at + with.len()]` replaced by `with`.
fn patch(bytes: &[u8], at: usize, with: &[u8]) -> String {
    let mut b = bytes.to_vec();
    b[at..at + with.len()].copy_from_slice(with);
    hex::encode(b)
}

/// The rules tree's binary answers and the byte strings readers must refuse.
fn binary_rules(tree: &Tree) -> (Vec<Value>, Vec<Value>) {
    let a = with_prefix("rules/a/", "000");
    let b = with_prefix("rules/b/", "010");
    let d = with_prefix("rules/d/", "10");
    let f = with_prefix("rules/f/", "1100");
    let r = with_prefix("rules/absent/r/", "001");
    let q = with_prefix("rules/absent/q/", "111");
    let u = with_prefix("rules/absent/u/", "1100");
    let root = tree.root();

    let answer = |kind: &str, asked: Value, version: u64, proof_json: Vec<u8>, proof: Vec<u8>| {
        let bytes = tuf_merkle::binary::Answer {
            role: "crates.io",
            timestamp_version: version,
            merkle_root: root,
            proof: &proof,
        }
        .encode()
        .unwrap();
        let proof_json: Value = serde_json::from_slice(&proof_json).unwrap();
        json!({
            "kind": kind,
            "asked": asked,
            "json": {"role": "crates.io", "timestamp_version": version, "merkle_root": root.to_hex(), "proof": proof_json},
            "hex": hex::encode(&bytes),
            "length": bytes.len(),
        })
    };
    let pf = tree.prove(&f);
    let multi = tree.prove_many(&[&a, &r, &q, &d]).unwrap();
    let answers = vec![
        answer(
            "membership",
            json!(f),
            7,
            pf.to_json(),
            pf.to_binary().unwrap(),
        ),
        answer(
            "multi",
            json!([&a, &r, &q, &d]),
            7,
            multi.to_json(),
            multi.to_binary().unwrap(),
        ),
    ];

    let refuse = |kind: &str, asked: Value, section: &str, error: &str, why: &str, hex: String| json!({"kind": kind, "asked": asked, "section": section, "error": error, "why": why, "hex": hex});
    // f's proof: magic 0..3, format 3, kind 4, name length 5..7, name, contents tag, version,
    // length, sha256, depth, one bitmap byte, three siblings (the one at level 2 is E).
    let member_f = tree.prove(&f).to_binary().unwrap();
    let n = f.len();
    let tag = 7 + n;
    let depth = tag + 49;
    let bitmap = depth + 2;
    assert_eq!(member_f[depth..bitmap], 4u16.to_le_bytes());
    assert_eq!(member_f[bitmap], 0b0010_0000, "f's sibling at level 2 is E");
    assert_eq!(member_f.len(), bitmap + 1 + 3 * 32);
    let mf = |section: &str, error: &str, why: &str, hex: String| {
        refuse("membership", json!(f), section, error, why, hex)
    };
    let absent_u = tree.prove(&u).to_binary().unwrap();
    let absent_q = tree.prove(&q).to_binary().unwrap();
    let multi_b = multi.to_binary().unwrap();
    // The multi-proof's entries, to reorder and repeat them.
    let p = MultiProof::from_binary(&multi_b).unwrap();
    let entry = |name: &str, c: Option<LeafContents>| {
        let single = MultiProof::from_parts(vec![(name.to_owned(), c)], vec![0], vec![])
            .unwrap()
            .to_binary()
            .unwrap();
        // Header 5, count 4, the entry, shape length 4, shape 1, hash count 4.
        single[9..single.len() - 9].to_vec()
    };
    let entries: Vec<Vec<u8>> = p.targets().iter().map(|(n, c)| entry(n, *c)).collect();
    let entries_len: usize = entries.iter().map(Vec::len).sum();
    let tail = multi_b[9 + entries_len..].to_vec();
    let multi_with = |count: u32, list: &[&Vec<u8>]| {
        let mut out = multi_b[..5].to_vec();
        out.extend_from_slice(&count.to_le_bytes());
        for e in list {
            out.extend_from_slice(e);
        }
        out.extend_from_slice(&tail);
        hex::encode(out)
    };
    let ma = |section: &str, error: &str, why: &str, hex: String| {
        refuse("multi", json!([&a, &r, &q, &d]), section, error, why, hex)
    };
    let mut padded_f = member_f.clone();
    padded_f.resize(16_385, 0);
    let mut trailing = member_f.clone();
    trailing.push(0);
    let written_e = {
        let mut out = member_f[..bitmap].to_vec();
        out.push(0);
        out.extend_from_slice(&member_f[bitmap + 1..bitmap + 1 + 64]);
        out.extend_from_slice(&EMPTY.0);
        out.extend_from_slice(&member_f[bitmap + 1 + 64..]);
        hex::encode(out)
    };
    let refused = vec![
        mf(
            "10",
            "BadMagic",
            "§10: a JSON text where the binary form was asked for",
            hex::encode(tree.prove(&f).to_json()),
        ),
        mf(
            "10",
            "UnsupportedFormat",
            "§10: format version 2",
            patch(&member_f, 3, &[2]),
        ),
        mf(
            "10",
            "WrongKind",
            "§10: kind 0 names no proof",
            patch(&member_f, 4, &[0]),
        ),
        mf(
            "10",
            "WrongKind",
            "§10: a multi-proof read as a single proof",
            hex::encode(tree.prove_many(&[&f]).unwrap().to_binary().unwrap()),
        ),
        mf(
            "10",
            "TooLarge",
            "§10: 16,385 bytes, over the 16 KiB limit of a single proof (here its last sibling followed by zeros)",
            hex::encode(&padded_f),
        ),
        mf(
            "10",
            "Truncated",
            "§10: the last byte of the last sibling missing",
            hex::encode(&member_f[..member_f.len() - 1]),
        ),
        mf(
            "10",
            "TrailingData",
            "§10: a byte after the proof",
            hex::encode(&trailing),
        ),
        mf(
            "10",
            "NotUtf8",
            "§10: a name byte 0xff, not UTF-8",
            patch(&member_f, 7, &[0xff]),
        ),
        mf(
            "10",
            "BadTag",
            "§10: contents tag 2 (absent) in a membership proof",
            patch(&member_f, tag, &[2]),
        ),
        mf(
            "10",
            "BadTag",
            "§10: contents tag 3",
            patch(&member_f, tag, &[3]),
        ),
        mf(
            "2",
            "Contents",
            "§2: version 0",
            patch(&member_f, tag + 1, &0u64.to_le_bytes()),
        ),
        mf(
            "2",
            "Contents",
            "§2: a length of 2^63",
            patch(&member_f, tag + 9, &(1u64 << 63).to_le_bytes()),
        ),
        mf(
            "10",
            "PathTooLong",
            "§10: depth 257",
            patch(&member_f, depth, &257u16.to_le_bytes()),
        ),
        mf(
            "10",
            "NonCanonical",
            "§10: a bitmap bit past the depth set",
            patch(&member_f, bitmap, &[0b0010_1000]),
        ),
        mf(
            "10",
            "NonCanonical",
            "§10 (§4): the bitmap marks the deepest sibling empty",
            patch(&member_f, bitmap, &[0b0011_0000]),
        ),
        mf(
            "10",
            "NonCanonical",
            "§10: the empty sibling written out as 32 zero bytes instead of a bitmap bit",
            written_e,
        ),
        mf(
            "4",
            "RootMismatch",
            "§4: a sibling changed",
            patch(&member_f, bitmap + 1, &[0x55]),
        ),
        refuse(
            "membership",
            json!(b),
            "4",
            "WrongNames",
            "§4: a valid proof about f where b was asked",
            hex::encode(&member_f),
        ),
        refuse(
            "non_membership",
            json!(u),
            "10",
            "BadTag",
            "§10: terminal tag 2",
            patch(&absent_u, absent_u.len() - 65, &[2]),
        ),
        refuse(
            "non_membership",
            json!(q),
            "10",
            "Truncated",
            "§10: the terminal missing",
            hex::encode(&absent_q[..absent_q.len() - 1]),
        ),
        refuse(
            "non_membership",
            json!(q),
            "10",
            "WrongKind",
            "§10: a non-membership proof read as a membership proof is of the wrong kind",
            patch(&absent_q, 4, &[1]),
        ),
        ma(
            "10",
            "NoNames",
            "§10: a name count of 0",
            multi_with(0, &[]),
        ),
        ma(
            "10",
            "Truncated",
            "§10: a name count of 2^32 - 1, more than the bytes hold",
            multi_with(u32::MAX, &entries.iter().collect::<Vec<_>>()),
        ),
        ma(
            "10",
            "NonCanonical",
            "§10: the first two names swapped (not in ascending key order)",
            multi_with(4, &[&entries[1], &entries[0], &entries[2], &entries[3]]),
        ),
        ma(
            "10",
            "DuplicateName",
            "§10: a name twice",
            multi_with(
                5,
                &[
                    &entries[0],
                    &entries[1],
                    &entries[1],
                    &entries[2],
                    &entries[3],
                ],
            ),
        ),
        ma("10", "BadTag", "§10: an entry tag 3", {
            let mut e0 = entries[0].clone();
            let at = e0.len()
                - match p.targets()[0].1 {
                    Some(LeafContents::Present { .. }) => 49,
                    Some(LeafContents::Deleted { .. }) => 9,
                    None => 1,
                };
            e0[at] = 3;
            multi_with(4, &[&e0, &entries[1], &entries[2], &entries[3]])
        }),
        ma(
            "10",
            "Truncated",
            "§10: one hash short",
            hex::encode(&multi_b[..multi_b.len() - 32]),
        ),
        ma(
            "10",
            "TrailingData",
            "§10: a byte after the hashes",
            hex::encode([&multi_b[..], &[0]].concat()),
        ),
        ma(
            "6",
            "Leftover",
            "§6: a shape byte more (the hash count and hashes follow it)",
            {
                let shape_at = 9 + entries_len;
                let shape_len =
                    u32::from_le_bytes(multi_b[shape_at..shape_at + 4].try_into().unwrap());
                let end = shape_at + 4 + shape_len as usize;
                let mut out = multi_b[..shape_at].to_vec();
                out.extend_from_slice(&(shape_len + 1).to_le_bytes());
                out.extend_from_slice(&multi_b[shape_at + 4..end]);
                out.push(0);
                out.extend_from_slice(&multi_b[end..]);
                hex::encode(out)
            },
        ),
        refuse(
            "multi",
            json!([&a, &r, &q]),
            "6",
            "WrongNames",
            "§6: a valid multi-proof with a name not asked about",
            hex::encode(&multi_b),
        ),
    ];
    (answers, refused)
}

// ---------------------------------------------------------------------------------------------
// rules.json: the encodings a reader must accept, and the proofs it must refuse.

const EMPTY_OP: u8 = 0b00;
const LEAF_OP: u8 = 0b01;
const SPLIT_OP: u8 = 0b10;
const HASH_OP: u8 = 0b11;

/// The first name `{prefix}{i}` whose key starts with the bits written in `bits` ("0110").
fn with_prefix(prefix: &str, bits: &str) -> String {
    (0u64..)
        .map(|i| format!("{prefix}{i}"))
        .find(|n| {
            let k = key_of(n);
            bits.bytes()
                .enumerate()
                .all(|(i, b)| k.bit(i) == (b == b'1'))
        })
        .unwrap()
}

/// Ops packed four to a byte from the most significant bits, as lowercase hex.
fn pack(ops: &[u8]) -> String {
    let mut bytes = vec![0u8; ops.len().div_ceil(4)];
    for (i, op) in ops.iter().enumerate() {
        bytes[i / 4] |= op << (6 - 2 * (i % 4));
    }
    hex::encode(bytes)
}

fn hex_of(hashes: &[Digest]) -> String {
    hashes.iter().map(Digest::to_hex).collect()
}

/// A multi-proof's JSON text with `targets` in the order given.
fn multi_text(targets: &[(&str, Option<LeafContents>)], ops: &[u8], hashes: &[Digest]) -> String {
    let targets: Vec<String> = targets
        .iter()
        .map(|(n, c)| {
            let value = c.map_or("null".to_owned(), |c| c.canonical_json());
            format!("{}:{value}", serde_json::to_string(n).unwrap())
        })
        .collect();
    format!(
        r#"{{"hashes":"{}","shape":"{}","targets":{{{}}}}}"#,
        hex_of(hashes),
        pack(ops),
        targets.join(",")
    )
}

/// `text` with its first `from` replaced by `to`; `from` must be there.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} not in {text}");
    text.replacen(from, to, 1)
}

/// `text` padded with spaces after its opening brace to exactly `size` bytes.
fn padded(text: &str, size: usize) -> String {
    format!("{{{}{}", " ".repeat(size - text.len()), &text[1..])
}

fn text(json: Vec<u8>) -> String {
    String::from_utf8(json).unwrap()
}

fn rules() -> Vector {
    // A tree whose shape is known from the keys' first bits:
    //
    //   0 ─ 00: a          1 ─ 10: d (a tombstone)
    //     └ 01 ─ 010: b      └ 11 ─ 110 ─ 1100: f
    //            └ 011: c           │     └ 1101: g
    //                               └ 111: E (a unary level)
    //
    // and absent names r (001: ends at a), q (111: ends at E), u (1100…: ends at f).
    let a = with_prefix("rules/a/", "000");
    let b = with_prefix("rules/b/", "010");
    let c = with_prefix("rules/c/", "011");
    let d = with_prefix("rules/d/", "10");
    let f = with_prefix("rules/f/", "1100");
    let g = with_prefix("rules/g/", "1101");
    let r = with_prefix("rules/absent/r/", "001");
    let q = with_prefix("rules/absent/q/", "111");
    let u = with_prefix("rules/absent/u/", "1100");
    // a: the empty file (length 0, version 1); b: the largest version and length.
    let ca = LeafContents::for_bytes(1, b"").unwrap();
    let cb = LeafContents::present(MAX_INTEGER, MAX_INTEGER, sha256(b"b")).unwrap();
    let cc = contents(&c, 3);
    let cd = LeafContents::deleted(2).unwrap();
    let cf = contents(&f, 1);
    let cg = contents(&g, 5);
    let leaves: Vec<(String, LeafContents)> =
        [(&a, ca), (&b, cb), (&c, cc), (&d, cd), (&f, cf), (&g, cg)]
            .into_iter()
            .map(|(n, c)| (n.clone(), c))
            .collect();
    let tree = Tree::from_leaves(leaves.iter().map(|(n, c)| (key_of(n), *c))).unwrap();
    let lh = |n: &str, c: &LeafContents| leaf_hash(&key_of(n), &c.hash());
    let (lh_a, lh_b, lh_c, lh_d, lh_f, lh_g) = (
        lh(&a, &ca),
        lh(&b, &cb),
        lh(&c, &cc),
        lh(&d, &cd),
        lh(&f, &cf),
        lh(&g, &cg),
    );
    let h01 = interior_hash(&lh_b, &lh_c);
    let h0 = interior_hash(&lh_a, &h01);
    let h11 = interior_hash(&interior_hash(&lh_f, &lh_g), &EMPTY);
    let h1 = interior_hash(&lh_d, &h11);
    assert_eq!(
        interior_hash(&h0, &h1),
        tree.root(),
        "the tree is shaped as drawn"
    );

    let (e, l, sp, h) = (EMPTY_OP, LEAF_OP, SPLIT_OP, HASH_OP);
    // The canonical multi-proofs the refused ones are made from, checked against the prover.
    let canonical = |names: &[&String], ops: &[u8], hashes: &[Digest]| {
        let p = tree.prove_many(names).unwrap();
        assert_eq!(hex::encode(p.shape_bytes()), pack(ops), "{names:?}");
        assert_eq!(hex::encode(p.hash_bytes()), hex_of(hashes), "{names:?}");
        text(p.to_json())
    };
    let multi_a = canonical(&[&a], &[sp, sp, l, h, h], &[h01, h1]);
    canonical(&[&b], &[sp, sp, h, sp, l, h, h], &[lh_a, lh_c, h1]);
    canonical(&[&d], &[sp, h, sp, l, h], &[h0, h11]);
    canonical(&[&a, &r], &[sp, sp, l, h, h], &[h01, h1]);
    canonical(&[&r], &[sp, sp, l, h, h], &[key_of(&a), ca.hash(), h01, h1]);
    canonical(&[&f], &[sp, h, sp, h, sp, sp, l, h, e], &[h0, lh_d, lh_g]);
    let multi_arqd = text(tree.prove_many(&[&a, &r, &q, &d]).unwrap().to_json());

    let member_a = text(tree.prove(&a).to_json());
    let member_b = text(tree.prove(&b).to_json());
    let absent_q = text(tree.prove(&q).to_json());
    let absent_r = text(tree.prove(&r).to_json());
    let absent_u = text(tree.prove(&u).to_json());
    let path_a = format!(r#""merkle_path":{{"0":"{h01}","1":"{h1}"}}"#);
    let contents_a = ca.canonical_json();
    let name_a = serde_json::to_string(&a).unwrap();
    assert!(member_a.contains(&path_a) && member_a.contains(&contents_a));
    let Proof::NonMembership(nu) = tree.prove(&u) else {
        panic!("u is absent")
    };
    let Terminal::Leaf {
        key: ku,
        contents_hash: chu,
    } = nu.terminal
    else {
        panic!("u ends at f")
    };

    let accept = |kind: &str, asked: Value, why: &str, text: String| json!({"kind": kind, "asked": asked, "why": why, "text": text});
    let accepted = vec![
        accept(
            "membership",
            json!(a),
            "§7: white space (space, tab, CR, LF) between tokens and any member order, in every object",
            format!(
                "{{\r\n\t\"path_directions\" : {{ \"1\" : \"right\" , \"0\" : \"right\" }},\n  \"merkle_path\": {{\"1\": \"{h1}\", \"0\": \"{h01}\"}},\n  \"leaf_contents\": {{ {name_a}: {{ \"version\": 1, \"length\": 0, \"hashes\": {{ \"sha256\": \"{}\" }} }} }}\n}}\n",
                sha256(b"").to_hex()
            ),
        ),
        accept(
            "membership",
            json!(a),
            "§7: strings compare decoded: escapes in the name, an index, a hash and a direction",
            {
                let h = h01.to_hex();
                let escaped_name = name_a.replace('/', "\\/").replacen('r', "\\u0072", 1);
                let t = edit(&member_a, &name_a, &escaped_name);
                let t = edit(
                    &t,
                    &format!(r#""merkle_path":{{"0":"{h}""#),
                    &format!(
                        r#""merkle_path":{{"\u0030":"\u00{:02x}{}""#,
                        h.as_bytes()[0],
                        &h[1..]
                    ),
                );
                edit(&t, r#"{"0":"right""#, r#"{"0":"\u0072ight""#)
            },
        ),
        accept(
            "membership",
            json!(a),
            "§7: exactly 65,536 bytes, white space included, is within the limit",
            padded(&member_a, 65_536),
        ),
        accept(
            "non_membership",
            json!(q),
            "§7: the terminal \"empty\" written with an escape is still \"empty\"",
            edit(
                &absent_q,
                r#""terminal":"empty""#,
                r#""terminal":"\u0065mpty""#,
            ),
        ),
        accept(
            "non_membership",
            json!(u),
            "§7: a leaf terminal's members in the other order",
            edit(
                &absent_u,
                &format!(r#""terminal":{{"contents_hash":"{chu}","key":"{ku}"}}"#),
                &format!(r#""terminal": {{"key": "{ku}", "contents_hash": "{chu}"}}"#),
            ),
        ),
        accept(
            "multi",
            json!([&a, &r, &q, &d]),
            "§6: the order of targets carries no meaning (here descending key order, and the proof's members reversed)",
            {
                let p = tree.prove_many(&[&a, &r, &q, &d]).unwrap();
                let targets: Vec<String> = p
                    .targets()
                    .iter()
                    .rev()
                    .map(|(n, c)| {
                        let value = c.map_or("null".to_owned(), |c| c.canonical_json());
                        format!("{}: {value}", serde_json::to_string(n).unwrap())
                    })
                    .collect();
                format!(
                    r#"{{"targets": {{{}}}, "shape": "{}", "hashes": "{}"}}"#,
                    targets.join(", "),
                    hex::encode(p.shape_bytes()),
                    hex::encode(p.hash_bytes())
                )
            },
        ),
    ];
    assert_eq!(
        accepted[1]["text"].as_str().unwrap().matches('\\').count(),
        4 + a.matches('/').count()
    );

    let refuse = |kind: &str, asked: Value, section: &str, error: &str, why: &str, text: String| json!({"kind": kind, "asked": asked, "section": section, "error": error, "why": why, "text": text});
    let m = |section: &str, error: &str, why: &str, text: String| {
        refuse("membership", json!(a), section, error, why, text)
    };
    let ma = |section: &str, error: &str, why: &str, text: String| {
        refuse("multi", json!([&a]), section, error, why, text)
    };
    let (hb, hex_h01) = (member_b.clone(), h01.to_hex());
    assert!(hex_h01.bytes().any(|c| c.is_ascii_alphabetic()));
    let refused = vec![
        // §7: size, JSON, repeated members.
        m(
            "7",
            "TooLarge",
            "§7: 65,537 bytes, over the 64 KiB limit (white space counts)",
            padded(&member_a, 65_537),
        ),
        m(
            "7",
            "Malformed",
            "§7: the proof's member merkle_path twice (same value)",
            edit(&member_a, &path_a, &format!("{path_a},{path_a}")),
        ),
        m(
            "7",
            "LeafCount",
            "§7: leaf_contents names the target twice (same contents)",
            edit(
                &member_a,
                &format!("{name_a}:{contents_a}"),
                &format!("{name_a}:{contents_a},{name_a}:{contents_a}"),
            ),
        ),
        m(
            "7",
            "DuplicateIndex",
            "§7: merkle_path index \"0\" twice (same value)",
            edit(&member_a, r#""0":""#, &format!(r#""0":"{hex_h01}","0":""#)),
        ),
        m(
            "7",
            "DuplicateIndex",
            "§7: merkle_path indices \"0\" and \"\\u0030\", the same once decoded",
            edit(
                &member_a,
                r#""0":""#,
                &format!(r#""0":"{hex_h01}","\u0030":""#),
            ),
        ),
        m(
            "7",
            "DuplicateIndex",
            "§7: path_directions index \"1\" twice (same value)",
            edit(&member_a, r#""1":"right"}"#, r#""1":"right","1":"right"}"#),
        ),
        m(
            "7",
            "Contents",
            "§7: the contents' member version twice (same value)",
            edit(&member_a, r#""version":1}"#, r#""version":1,"version":1}"#),
        ),
        m(
            "7",
            "Contents",
            "§7: the contents' hashes name sha256 twice (same value)",
            edit(
                &member_a,
                r#""sha256":""#,
                &format!(r#""sha256":"{}","sha256":""#, sha256(b"").to_hex()),
            ),
        ),
        refuse(
            "non_membership",
            json!(q),
            "7",
            "Malformed",
            "§7: the proof's member name twice (same value)",
            edit(
                &absent_q,
                r#"{"name":"#,
                &format!(r#"{{"name":{},"name":"#, serde_json::to_string(&q).unwrap()),
            ),
        ),
        refuse(
            "non_membership",
            json!(u),
            "7",
            "Malformed",
            "§7: the terminal's member key twice (same value)",
            edit(
                &absent_u,
                r#","key":""#,
                &format!(r#","key":"{ku}","key":""#),
            ),
        ),
        refuse(
            "multi",
            json!([&a, &r, &q, &d]),
            "7",
            "Malformed",
            "§7: the proof's member shape twice (same value)",
            {
                let shape = hex::encode(tree.prove_many(&[&a, &r, &q, &d]).unwrap().shape_bytes());
                edit(
                    &multi_arqd,
                    r#","shape":"#,
                    &format!(r#","shape":"{shape}","shape":"#),
                )
            },
        ),
        refuse(
            "multi",
            json!([&a, &r, &q, &d]),
            "7",
            "DuplicateName",
            "§7: targets names r twice (same value)",
            edit(
                &multi_arqd,
                &format!("{}:null", serde_json::to_string(&r).unwrap()),
                &format!("{0}:null,{0}:null", serde_json::to_string(&r).unwrap()),
            ),
        ),
        refuse(
            "multi",
            json!([&a, &r, &q, &d]),
            "7",
            "DuplicateName",
            "§7: targets names r twice, once escaped",
            edit(
                &multi_arqd,
                &format!("{}:null", serde_json::to_string(&r).unwrap()),
                &format!(
                    "{}:null,{}:null",
                    serde_json::to_string(&r).unwrap(),
                    serde_json::to_string(&r).unwrap().replace('/', "\\/")
                ),
            ),
        ),
        // §2: integers are written in plain decimal, at most 2^63 - 1.
        m(
            "2",
            "Contents",
            "§2: version 1 written 1.0",
            edit(&member_a, r#""version":1}"#, r#""version":1.0}"#),
        ),
        m(
            "2",
            "Contents",
            "§2: version 1 written 1e0",
            edit(&member_a, r#""version":1}"#, r#""version":1e0}"#),
        ),
        m(
            "2",
            "Contents",
            "§2: version 1 written 1E0",
            edit(&member_a, r#""version":1}"#, r#""version":1E0}"#),
        ),
        m(
            "2",
            "Contents",
            "§2: version 1 written 10e-1",
            edit(&member_a, r#""version":1}"#, r#""version":10e-1}"#),
        ),
        m(
            "2",
            "Contents",
            "§2: length 0 written -0",
            edit(&member_a, r#""length":0,"#, r#""length":-0,"#),
        ),
        m(
            "2",
            "Contents",
            "§2: length 0 written 0.0",
            edit(&member_a, r#""length":0,"#, r#""length":0.0,"#),
        ),
        m(
            "2",
            "Contents",
            "§2: a negative version",
            edit(&member_a, r#""version":1}"#, r#""version":-1}"#),
        ),
        refuse(
            "membership",
            json!(b),
            "2",
            "Contents",
            "§2: version 2^63, above 2^63 - 1",
            edit(
                &hb,
                r#""version":9223372036854775807}"#,
                r#""version":9223372036854775808}"#,
            ),
        ),
        refuse(
            "membership",
            json!(b),
            "2",
            "Contents",
            "§2: length 2^64, above 2^63 - 1 (and above 64 bits)",
            edit(
                &hb,
                r#""length":9223372036854775807,"#,
                r#""length":18446744073709551616,"#,
            ),
        ),
        m(
            "7",
            "Malformed",
            "§7: version 1 written 01 is not JSON",
            edit(&member_a, r#""version":1}"#, r#""version":01}"#),
        ),
        m(
            "7",
            "Malformed",
            "§7: NaN is not JSON",
            edit(&member_a, r#""version":1}"#, r#""version":NaN}"#),
        ),
        // §7: strings, hashes, indices, directions.
        m(
            "7",
            "Malformed",
            "§7: a name with an unpaired surrogate escape has no UTF-8 form",
            edit(&member_a, &name_a, &name_a.replacen('/', "\\ud800", 1)),
        ),
        m(
            "7",
            "Hex",
            "§7: a sibling of 62 hex digits",
            edit(&member_a, &hex_h01, &hex_h01[2..]),
        ),
        m(
            "7",
            "LeafCount",
            "§4, §7: leaf_contents with two names",
            edit(
                &member_a,
                &format!("{name_a}:{contents_a}"),
                &format!(
                    "{name_a}:{contents_a},{}:{}",
                    serde_json::to_string(&b).unwrap(),
                    cb.canonical_json()
                ),
            ),
        ),
        m(
            "7",
            "Hex",
            "§7: a sibling in uppercase hex",
            edit(&member_a, &hex_h01, &hex_h01.to_uppercase()),
        ),
        m(
            "7",
            "BadIndex",
            "§7: the index \"1\" written \"01\"",
            edit(&member_a, r#","1":""#, r#","01":""#),
        ),
        m(
            "7",
            "DirectionMismatch",
            "§7: a direction that disagrees with the key",
            edit(&member_a, r#"{"0":"right""#, r#"{"0":"left""#),
        ),
        // §4, §5: canonical paths, terminals, the name asked.
        m(
            "4",
            "NonCanonical",
            "§4: the path padded with an E sibling one level below the leaf",
            text(
                MembershipProof {
                    name: a.clone(),
                    contents: ca,
                    siblings: vec![h1, h01, EMPTY],
                }
                .to_json(),
            ),
        ),
        refuse(
            "membership",
            json!(b),
            "4",
            "WrongNames",
            "§4: a valid proof, but for another name than the one asked",
            member_a.clone(),
        ),
        refuse(
            "non_membership",
            json!(q),
            "5",
            "WrongNames",
            "§5: a valid proof of absence, but for another name than the one asked",
            absent_r.clone(),
        ),
        refuse(
            "non_membership",
            json!(d),
            "5",
            "TerminalOffPath",
            "§5: a tombstone is a member: its own leaf cannot be its terminal",
            text(
                NonMembershipProof {
                    name: d.clone(),
                    siblings: vec![h0, h11],
                    terminal: Terminal::Leaf {
                        key: key_of(&d),
                        contents_hash: cd.hash(),
                    },
                }
                .to_json(),
            ),
        ),
        refuse(
            "non_membership",
            json!(r),
            "5",
            "TerminalOffPath",
            "§5: a terminal leaf whose key does not share the name's first d bits",
            text(
                NonMembershipProof {
                    name: r.clone(),
                    siblings: vec![h1, h01],
                    terminal: Terminal::Leaf {
                        key: key_of(&b),
                        contents_hash: cb.hash(),
                    },
                }
                .to_json(),
            ),
        ),
        refuse(
            "non_membership",
            json!(r),
            "5",
            "RootMismatch",
            "§7: terminal \"empty\" one level below the lone leaf a, with a's leaf hash as sibling: passes the canonical checks, but a sits one level higher in the tree, so the root differs",
            text(
                NonMembershipProof {
                    name: r.clone(),
                    siblings: vec![h1, h01, lh_a],
                    terminal: Terminal::Empty,
                }
                .to_json(),
            ),
        ),
        // §6: the multi-proof's rules.
        refuse(
            "multi",
            json!([&d]),
            "6",
            "TerminalOffPath",
            "§6: a tombstone is present: written null, with its own key and H(c) as another leaf",
            multi_text(
                &[(&d, None)],
                &[sp, h, sp, l, h],
                &[h0, key_of(&d), cd.hash(), h11],
            ),
        ),
        refuse(
            "multi",
            json!([&b]),
            "6",
            "NonCanonical",
            "§6: a side with no names (the lone leaf a) written as LEAF with a's key and H(c) instead of HASH; same root",
            multi_text(
                &[(&b, Some(cb))],
                &[sp, sp, l, sp, l, h, h],
                &[key_of(&a), ca.hash(), lh_c, h1],
            ),
        ),
        ma(
            "6",
            "NonCanonical",
            "§6: a side with no names (b and c) written as SPLIT of two HASH instead of HASH; same root",
            multi_text(
                &[(&a, Some(ca))],
                &[sp, sp, l, sp, h, h, h],
                &[lh_b, lh_c, h1],
            ),
        ),
        refuse(
            "multi",
            json!([&a, &r]),
            "6",
            "NonCanonical",
            "§6: SPLIT of a LEAF (a) and an EMPTY that proves r absent: the EMPTY counts as E",
            multi_text(
                &[(&a, Some(ca)), (&r, None)],
                &[sp, sp, sp, l, e, h, h],
                &[h01, h1],
            ),
        ),
        refuse(
            "multi",
            json!([&r]),
            "6",
            "RootMismatch",
            "§7: SPLIT of a HASH (a's leaf hash) and an EMPTY proving r absent: passes the canonical checks, but a sits one level higher, so the root differs",
            multi_text(&[(&r, None)], &[sp, sp, sp, h, e, h, h], &[lh_a, h01, h1]),
        ),
        refuse(
            "multi",
            json!([&f]),
            "6",
            "NonCanonical",
            "§6: the empty side 111 written as HASH of E instead of EMPTY",
            multi_text(
                &[(&f, Some(cf))],
                &[sp, h, sp, h, sp, sp, l, h, h],
                &[h0, lh_d, lh_g, EMPTY],
            ),
        ),
        ma(
            "6",
            "NonCanonical",
            "§6: a HASH where a name's path goes (a's leaf hash instead of LEAF)",
            multi_text(&[(&a, Some(ca))], &[sp, sp, h, h, h], &[lh_a, h01, h1]),
        ),
        ma(
            "6",
            "Leftover",
            "§6: a shape byte after the one holding the last op",
            edit(&multi_a, r#""shape":"a7c0""#, r#""shape":"a7c000""#),
        ),
        ma(
            "6",
            "Leftover",
            "§6: non-zero bits after the last op",
            edit(&multi_a, r#""shape":"a7c0""#, r#""shape":"a7c1""#),
        ),
        ma(
            "6",
            "Leftover",
            "§6: a hash left over",
            edit(
                &multi_a,
                &format!(r#""hashes":"{}"#, hex_of(&[h01, h1])),
                &format!(r#""hashes":"{}"#, hex_of(&[h01, h1, h1])),
            ),
        ),
        ma(
            "6",
            "ShapeTruncated",
            "§6: an empty shape: every walk writes at least one op",
            edit(&multi_a, r#""shape":"a7c0""#, r#""shape":"""#),
        ),
        ma(
            "7",
            "Hex",
            "§6, §7: shape in uppercase hex",
            edit(&multi_a, r#""shape":"a7c0""#, r#""shape":"A7C0""#),
        ),
        ma(
            "7",
            "WrongLength",
            "§7: shape of an odd number of hex digits",
            edit(&multi_a, r#""shape":"a7c0""#, r#""shape":"a7c""#),
        ),
        ma(
            "7",
            "Malformed",
            "§6: hashes is a string, \"\" when empty, never null",
            edit(
                &multi_a,
                &format!(r#""hashes":"{}""#, hex_of(&[h01, h1])),
                r#""hashes":null"#,
            ),
        ),
        ma(
            "7",
            "Malformed",
            "§6: hashes is never left out",
            edit(
                &multi_a,
                &format!(r#""hashes":"{}","#, hex_of(&[h01, h1])),
                "",
            ),
        ),
        refuse(
            "multi",
            json!([&a, &r, &q]),
            "6",
            "WrongNames",
            "§6: a valid multi-proof that leaves out a name asked about",
            canonical(&[&a, &r], &[sp, sp, l, h, h], &[h01, h1]),
        ),
        ma(
            "6",
            "WrongNames",
            "§6: a valid multi-proof with a name that was not asked about",
            canonical(&[&a, &r], &[sp, sp, l, h, h], &[h01, h1]),
        ),
        ma(
            "6",
            "NoNames",
            "§6: targets names no one",
            multi_text(&[], &[sp, sp, l, h, h], &[h01, h1]),
        ),
    ];
    // The multi-proof for a alone, as the refused ones above assume it.
    assert!(multi_a.contains(r#""shape":"a7c0""#));

    Vector {
        file: "rules.json",
        description: "Six leaves shaped as the generator draws them. `accepted`: other JSON texts of proofs listed in this file, which readers must accept; `refused`: texts that readers must refuse when asked about `asked` against `root`, each with the POUF section whose rule refuses it and the tuf_merkle::ProofError variant the reference reports.",
        members: None,
        absent: vec![r.clone(), q.clone(), u.clone()],
        multi: vec![
            vec![
                a.clone(),
                b.clone(),
                c.clone(),
                d.clone(),
                f.clone(),
                g.clone(),
            ],
            vec![a.clone(), r.clone(), q.clone(), d.clone()],
            vec![a.clone()],
            vec![b.clone()],
            vec![d.clone()],
            vec![f.clone()],
            vec![r.clone()],
            vec![a.clone(), r.clone()],
        ],
        leaves,
        accepted,
        refused,
    }
}
