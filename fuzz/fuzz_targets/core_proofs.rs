//! Proofs and multi-proofs through the verifier core (`tuf-verify-core`), against the
//! `merkle_root` of a timestamp the core verified: a small tree the target knows leaf by leaf
//! (present leaves, tombstones, and names that were never published), a root and a timestamp
//! over it signed with an Ed25519 key made from a fixed seed, checked with `TrustedRoot::new` and
//! `verify_timestamp` once.
//!
//! The first byte picks the mode, the next ones which names are asked; the rest is:
//! - 0: a single proof's JSON (`Timestamp::verify_proof_json`), for a name of the tree or the
//!   name the proof itself claims;
//! - 1: a multi-proof's JSON (`Timestamp::verify_multi_proof_json`), for a set of names of the
//!   tree or the names the proof itself lists;
//! - 2 and 3: the true proof (single, or a multi-proof of the asked set), with bytes changed by
//!   the input (three bytes each: a position and a byte to XOR it with), so that the fuzzer
//!   starts from what verifies.
//!
//! Checked: nothing panics or allocates out of proportion; whatever verifies states only the
//! truth about the tree (each asked name present with exactly its contents, deleted at its
//! version, or absent), for exactly the names asked; `ProofRoot::trusted` with the same root
//! and version gives the same verdict as the timestamp, and `tuf-merkle`'s own `verify_for`
//! agrees; what verifies against the tree's root verifies against no other root.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use ed25519_dalek::Signer as _;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tuf_merkle::json::MAX_MULTI_PROOF_BYTES;
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{LeafContents, Proof, Tree, key_of};
use tuf_verify_core::{Membership, ProofRoot, Timestamp, TrustedRoot, verify_timestamp};

/// The names the tree knows about: present (the first 12), deleted (the next 3), never
/// published (the rest). Index paths as crates.io has them, so that keys share no structure
/// but the hash's.
const NAMES: [&str; 20] = [
    "se/rd/serde",
    "3/s/syn",
    "1/a",
    "2/ab",
    "to/ki/tokio",
    "ra/nd/rand",
    "li/bc/libc",
    "lo/g_/log_",
    "an/yh/anyhow",
    "it/er/itertools",
    "re/ge/regex",
    "config.json",
    "ol/d-/old-crate",
    "ya/nk/yanked",
    "go/ne/gone",
    "ne/ve/never",
    "ab/se/absent",
    "zz/zz/zzzz",
    "4/abcd",
    "x/y/z",
];
const PRESENT: usize = 12;
const DELETED: usize = 3;
const VERSION: u64 = 77;

struct Fixture {
    tree: Tree,
    timestamp: Timestamp,
    /// What the tree holds for each name of [`NAMES`].
    truth: BTreeMap<&'static str, Membership>,
    /// The root of a tree with one leaf changed.
    other: ProofRoot,
}

/// Compact JSON, which is the canonical form for the values built here (members written in
/// sorted order, ASCII strings, integers).
fn canonical(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut tree = Tree::new();
        let mut truth = BTreeMap::new();
        for (i, name) in NAMES.iter().enumerate() {
            let m = if i < PRESENT {
                let c = LeafContents::for_bytes(i as u64 + 1, name.as_bytes()).expect("leaf");
                Membership::Member(c)
            } else if i < PRESENT + DELETED {
                Membership::Member(LeafContents::deleted(i as u64).expect("tombstone"))
            } else {
                Membership::Absent
            };
            if let Membership::Member(c) = m {
                tree.set(key_of(name), c);
            }
            truth.insert(*name, m);
        }
        let mut changed = tree.clone();
        changed.set(
            key_of(NAMES[0]),
            LeafContents::for_bytes(99, b"another serde").expect("leaf"),
        );

        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let key_json = json!({"keytype": "ed25519",
                              "keyval": {"public": hex::encode(key.verifying_key().as_bytes())},
                              "scheme": "ed25519"});
        let id = tuf_merkle::hash::sha256(&canonical(&key_json)).to_hex();
        let sign = |signed: Value| {
            let sig = key.sign(&canonical(&signed));
            serde_json::to_vec(
                &json!({"signatures": [{"keyid": id, "sig": hex::encode(sig.to_bytes())}],
                                       "signed": signed}),
            )
            .expect("JSON")
        };
        let role = json!({"keyids": [id], "threshold": 1});
        let root = sign(json!({
            "_type": "root", "consistent_snapshot": true, "expires": "2100-01-01T00:00:00Z",
            "keys": {id.clone(): key_json},
            "roles": {"root": role, "snapshot": role, "targets": role, "timestamp": role},
            "spec_version": "1.0.0", "version": 1,
        }));
        let timestamp = sign(json!({
            "_type": "timestamp", "expires": "2100-01-01T00:00:00Z",
            "merkle_root": tree.root().to_hex(),
            "meta": {"snapshot.json": {"version": 1}},
            "spec_version": "1.0.0", "version": VERSION,
        }));
        let root = TrustedRoot::new(&root).expect("the fixture root");
        let timestamp = verify_timestamp(&root, &timestamp, UNIX_EPOCH).expect("the timestamp");
        Fixture {
            tree,
            timestamp,
            truth,
            other: ProofRoot::trusted(VERSION, changed.root()),
        }
    })
}

/// `bytes` with the changes `edits` describes: three bytes each, a big-endian position (modulo
/// the length) and a byte to XOR there.
fn tamper(mut bytes: Vec<u8>, edits: &[u8]) -> Vec<u8> {
    for e in edits.chunks_exact(3) {
        if bytes.is_empty() {
            break;
        }
        let at = usize::from(u16::from_be_bytes([e[0], e[1]])) % bytes.len();
        bytes[at] ^= e[2];
    }
    bytes
}

fn check_single(f: &Fixture, asked: &str, json: &[u8]) {
    let stored = ProofRoot::trusted(VERSION, f.tree.root());
    let verdict = f.timestamp.verify_proof_json(asked, json);
    assert_eq!(stored.verify_proof_json(asked, json), verdict);
    let merkle = Proof::from_json(json).and_then(|p| p.verify_for(&f.tree.root(), asked));
    assert_eq!(merkle.is_ok(), verdict.is_ok(), "tuf-merkle disagrees");
    if let Ok(m) = verdict {
        let truth = f.truth.get(asked).copied().unwrap_or(Membership::Absent);
        assert_eq!(m, truth, "a verified proof lies about {asked:?}");
        assert!(
            f.other.verify_proof_json(asked, json).is_err(),
            "a proof verified against two roots"
        );
    }
}

fn check_multi(f: &Fixture, asked: &[String], json: &[u8]) {
    let stored = ProofRoot::trusted(VERSION, f.tree.root());
    let verdict = f
        .timestamp
        .verify_multi_proof_json(asked, json, MAX_MULTI_PROOF_BYTES);
    assert_eq!(
        stored.verify_multi_proof_json(asked, json, MAX_MULTI_PROOF_BYTES),
        verdict
    );
    let merkle = MultiProof::from_json(json).and_then(|p| p.verify_for(&f.tree.root(), asked));
    assert_eq!(merkle.is_ok(), verdict.is_ok(), "tuf-merkle disagrees");
    if let Ok(found) = verdict {
        let wanted: BTreeSet<&str> = asked.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(
            got, wanted,
            "a multi-proof for other names than the asked ones"
        );
        for (name, m) in &found {
            let truth = f
                .truth
                .get(name.as_str())
                .copied()
                .unwrap_or(Membership::Absent);
            assert_eq!(*m, truth, "a verified multi-proof lies about {name:?}");
        }
        assert!(
            f.other
                .verify_multi_proof_json(asked, json, MAX_MULTI_PROOF_BYTES)
                .is_err(),
            "a multi-proof verified against two roots"
        );
    }
}

/// The names whose bits are set in `mask` (at least one).
fn names_of(mask: u32) -> Vec<String> {
    let picked: Vec<String> = NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| (*n).to_owned())
        .collect();
    if picked.is_empty() {
        vec![NAMES[0].to_owned()]
    } else {
        picked
    }
}

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let [mode, a, b, c, d, rest @ ..] = data else {
        return;
    };
    let f = fixture();
    let pick = usize::from(*a);
    let mask = u32::from_le_bytes([*a, *b, *c, *d]);
    match mode % 4 {
        0 => {
            let asked = match NAMES.get(pick) {
                Some(n) => (*n).to_owned(),
                None => match Proof::from_json(rest) {
                    Ok(p) => p.name().to_owned(),
                    Err(_) => NAMES[0].to_owned(),
                },
            };
            check_single(f, &asked, rest);
        }
        1 => {
            let asked = if *b & 0x80 != 0 {
                match MultiProof::from_json(rest) {
                    Ok(p) => p.targets().iter().map(|(n, _)| n.clone()).collect(),
                    Err(_) => names_of(mask),
                }
            } else {
                names_of(mask)
            };
            check_multi(f, &asked, rest);
        }
        2 => {
            let asked = NAMES[pick % NAMES.len()];
            let json = tamper(f.tree.prove(asked).to_json(), rest);
            check_single(f, asked, &json);
        }
        _ => {
            let asked = names_of(mask);
            let Ok(proof) = f.tree.prove_many(&asked) else {
                return;
            };
            let json = tamper(proof.to_json(), rest);
            check_multi(f, &asked, &json);
        }
    }
});
