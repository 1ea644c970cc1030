//! The change record as `tuf-signer` builds it (`Sequencer::sign_round`: a `RecordEntry` per
//! change and one `serde_json::json!` object, turned into text with `serde_json::to_string`),
//! copied verbatim, against [`ChangeRecord::to_json`] over many generated records: the typed
//! record writes the same bytes for every shape the signer can produce.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use tuf_merkle::hash::sha256;
use tuf_merkle::{Digest, LeafContents, key_of};
use tuf_repo_format::{Change, ChangeRecord, paths};

/// Verbatim from `signer/src/sequencer.rs`.
#[derive(Debug, Clone, Serialize)]
struct RecordEntry {
    name: Option<String>,
    key: String,
    old: Option<LeafContents>,
    new: LeafContents,
}

/// What `sign_round` has at hand when it writes the record.
struct Round {
    role: String,
    version: u64,
    last: Option<u64>,
    root_version: u64,
    merkle: bool,
    tree_root: Digest,
    applied_seq: u64,
    pending: Vec<RecordEntry>,
    timestamp_length: u64,
    timestamp_sha256: String,
}

/// The `json!` of `sign_round`, verbatim but for `self.` and the round's fields.
fn signer_record(r: &Round) -> String {
    let version = r.version;
    let merkle = r.merkle;
    let tree_root = r.tree_root;
    let record = serde_json::json!({
        "role": r.role,
        "timestamp_version": version,
        "previous_timestamp_version": r.last,
        "root_version": r.root_version,
        "merkle_root": merkle.then(|| tree_root.to_hex()),
        "tree_root": tree_root.to_hex(),
        "log_sequence": r.applied_seq,
        "changes": r.pending,
        "timestamp_file": format!("timestamps/{version}.timestamp.json"),
        "timestamp_length": r.timestamp_length,
        "timestamp_sha256": r.timestamp_sha256,
    });
    serde_json::to_string(&record).unwrap_or_default()
}

/// The same round as a typed record.
fn typed_record(r: &Round) -> ChangeRecord {
    ChangeRecord {
        role: r.role.clone(),
        timestamp_version: r.version,
        previous_timestamp_version: r.last,
        root_version: r.root_version,
        merkle_root: r.merkle.then_some(r.tree_root),
        tree_root: r.tree_root,
        log_sequence: r.applied_seq,
        changes: r
            .pending
            .iter()
            .map(|e| Change {
                name: e.name.clone(),
                key: tuf_merkle::hash::parse_hex(&e.key).unwrap(),
                old: e.old,
                new: e.new,
            })
            .collect(),
        timestamp_file: paths::timestamp_file(r.version),
        timestamp_length: r.timestamp_length,
        timestamp_sha256: tuf_merkle::hash::parse_hex(&r.timestamp_sha256).unwrap(),
    }
}

/// A seeded generator, so that failures reproduce.
type Rng = rand::rngs::StdRng;

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

const NAMES: &[&str] = &[
    "se/rd/serde",
    "3/s/syn",
    "1/a",
    "docs/ünï.txt",
    "日本/語.txt",
    "q\"uote'/ü.txt",
    "tab\there",
    "back\\slash",
    "ctl\u{1}\u{1f}\u{7f}",
    "emoji/😀",
    "<script>&amp;",
    "line\u{2028}sep",
];

fn contents(rng: &mut Rng) -> LeafContents {
    let version = match rng.random_range(0..4) {
        0 => 1,
        1 => tuf_merkle::contents::MAX_INTEGER,
        _ => 1 + rng.random_range(0..1000),
    };
    if rng.random_range(0..4) == 0 {
        LeafContents::deleted(version).unwrap()
    } else {
        let length = match rng.random_range(0..3) {
            0 => 0,
            1 => tuf_merkle::contents::MAX_INTEGER,
            _ => rng.random_range(0..1 << 40),
        };
        LeafContents::present(version, length, sha256(&rng.random::<u64>().to_le_bytes())).unwrap()
    }
}

fn round(rng: &mut Rng) -> Round {
    let version = 1 + rng.random_range(0..u64::MAX - 1);
    let pending = (0..rng.random_range(0..6))
        .map(|_| {
            let name = pick(rng, NAMES);
            RecordEntry {
                name: (rng.random_range(0..3) != 0).then(|| name.to_owned()),
                key: key_of(name).to_hex(),
                old: (rng.random_range(0..2) == 0).then(|| contents(rng)),
                new: contents(rng),
            }
        })
        .collect();
    Round {
        role: pick(rng, &["crates.io", "releases", "r\u{e9}le \"x\""]).to_owned(),
        version,
        last: (rng.random_range(0..3) != 0).then(|| version - 1),
        root_version: 1 + rng.random_range(0..5),
        merkle: rng.random_range(0..2) == 0,
        tree_root: if rng.random_range(0..5) == 0 {
            tuf_merkle::EMPTY
        } else {
            sha256(&rng.random::<u64>().to_le_bytes())
        },
        applied_seq: rng.random::<u64>(),
        pending,
        timestamp_length: rng.random_range(0..1 << 20),
        timestamp_sha256: sha256(&rng.random::<u64>().to_le_bytes()).to_hex(),
    }
}

#[test]
fn typed_records_write_what_the_signers_json_macro_wrote() {
    let mut rng = Rng::seed_from_u64(0x5eed_f00d_cafe_d00d);
    let mut changes = 0;
    for i in 0..5_000 {
        let r = round(&mut rng);
        changes += r.pending.len();
        let expected = signer_record(&r);
        let typed = typed_record(&r);
        assert_eq!(typed.to_json(), expected, "round {i}");
        assert_eq!(
            ChangeRecord::from_json(expected.as_bytes()).unwrap(),
            typed,
            "round {i}"
        );
    }
    assert!(changes > 10_000);
}
