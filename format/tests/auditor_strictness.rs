//! The typed record parses as strictly as the auditor's own structs did before it
//! (`tuf-client`'s `PublishedRecord` and `RecordChange`, copied verbatim below): over a list of
//! damaged records, both accept and refuse the same ones, except where the typed record is
//! stricter on purpose (listed with each case).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use serde::Deserialize;
use serde_json::{Value, json};
use tuf_merkle::LeafContents;
use tuf_merkle::hash::sha256;
use tuf_repo_format::ChangeRecord;

/// Verbatim from `client/src/audit.rs` before it used this crate.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordChange {
    pub name: Option<String>,
    pub key: String,
    pub old: Option<LeafContents>,
    pub new: LeafContents,
}

/// Verbatim from `client/src/audit.rs` before it used this crate.
#[derive(Debug, Clone, Deserialize)]
pub struct PublishedRecord {
    pub role: String,
    pub timestamp_version: u64,
    pub previous_timestamp_version: Option<u64>,
    pub root_version: u64,
    pub merkle_root: Option<String>,
    pub changes: Vec<RecordChange>,
    pub timestamp_file: String,
    pub timestamp_length: u64,
    pub timestamp_sha256: String,
}

fn base() -> Value {
    let c1 = LeafContents::for_bytes(1, b"a").unwrap();
    json!({
        "changes": [
            {"key": tuf_merkle::key_of("a").to_hex(), "name": "a", "new": c1, "old": null},
            {"key": tuf_merkle::key_of("b").to_hex(), "name": null, "new": {"deleted": true, "version": 2}, "old": c1},
        ],
        "log_sequence": 4,
        "merkle_root": sha256(b"r").to_hex(),
        "previous_timestamp_version": 1,
        "role": "crates.io",
        "root_version": 1,
        "timestamp_file": "timestamps/2.timestamp.json",
        "timestamp_length": 100,
        "timestamp_sha256": sha256(b"t").to_hex(),
        "timestamp_version": 2,
        "tree_root": sha256(b"r").to_hex(),
    })
}

/// How the typed record differs from the old structs on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Both accept or both refuse.
    Same,
    /// The typed record refuses what the old structs let through. Every such case was either a
    /// breach the auditor reported later, when it used the field (a hash not in lowercase hex:
    /// it never matches what it is compared with), or a field it ignored that the signer
    /// always writes (`tree_root`, `log_sequence`).
    Stricter,
}

/// A case: what it does, how the two parsers compare, and the edit of the base record.
type Case = (&'static str, Expect, Box<dyn Fn(&mut Value)>);

fn cases() -> Vec<Case> {
    use Expect::*;
    let upper = sha256(b"r").to_hex().to_uppercase();
    let u2 = upper.clone();
    let u3 = upper.clone();
    let u4 = upper.clone();
    vec![
        ("as written", Same, Box::new(|_| {})),
        ("unknown field", Same, Box::new(|v| v["x"] = json!(1))),
        (
            "unknown change field",
            Same,
            Box::new(|v| v["changes"][0]["x"] = json!(1)),
        ),
        (
            "no merkle_root",
            Same,
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("merkle_root"))),
        ),
        (
            "null merkle_root",
            Same,
            Box::new(|v| v["merkle_root"] = Value::Null),
        ),
        (
            "no previous",
            Same,
            Box::new(|v| {
                drop(
                    v.as_object_mut()
                        .unwrap()
                        .remove("previous_timestamp_version"),
                )
            }),
        ),
        (
            "no name",
            Same,
            Box::new(|v| drop(v["changes"][0].as_object_mut().unwrap().remove("name"))),
        ),
        (
            "no old",
            Same,
            Box::new(|v| drop(v["changes"][1].as_object_mut().unwrap().remove("old"))),
        ),
        (
            "no role",
            Same,
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("role"))),
        ),
        (
            "no changes",
            Same,
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("changes"))),
        ),
        (
            "no key",
            Same,
            Box::new(|v| drop(v["changes"][0].as_object_mut().unwrap().remove("key"))),
        ),
        (
            "no new",
            Same,
            Box::new(|v| drop(v["changes"][0].as_object_mut().unwrap().remove("new"))),
        ),
        (
            "no timestamp_file",
            Same,
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("timestamp_file"))),
        ),
        (
            "no timestamp_length",
            Same,
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("timestamp_length"))),
        ),
        (
            "no timestamp_sha256",
            Same,
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("timestamp_sha256"))),
        ),
        (
            "other timestamp_file",
            Same,
            Box::new(|v| v["timestamp_file"] = json!("x.json")),
        ),
        (
            "negative version",
            Same,
            Box::new(|v| v["timestamp_version"] = json!(-2)),
        ),
        (
            "float version",
            Same,
            Box::new(|v| v["timestamp_version"] = json!(2.0)),
        ),
        (
            "string version",
            Same,
            Box::new(|v| v["timestamp_version"] = json!("2")),
        ),
        (
            "version past u64",
            Same,
            Box::new(|v| v["root_version"] = json!(18446744073709551616.0)),
        ),
        (
            "null length",
            Same,
            Box::new(|v| v["timestamp_length"] = Value::Null),
        ),
        (
            "changes object",
            Same,
            Box::new(|v| v["changes"] = json!({})),
        ),
        (
            "name number",
            Same,
            Box::new(|v| v["changes"][0]["name"] = json!(1)),
        ),
        (
            "null new",
            Same,
            Box::new(|v| v["changes"][0]["new"] = Value::Null),
        ),
        (
            "deleted false",
            Same,
            Box::new(|v| v["changes"][0]["new"] = json!({"version": 1, "deleted": false})),
        ),
        (
            "version 0",
            Same,
            Box::new(|v| v["changes"][0]["new"] = json!({"version": 0, "deleted": true})),
        ),
        (
            "extra contents field",
            Same,
            Box::new(|v| v["changes"][0]["new"]["x"] = json!(1)),
        ),
        (
            "uppercase contents hash",
            Same,
            Box::new(move |v| v["changes"][0]["new"]["hashes"]["sha256"] = json!(u2.clone())),
        ),
        ("record an array", Same, Box::new(|v| *v = json!([]))),
        (
            "no tree_root",
            Stricter,
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("tree_root"))),
        ),
        (
            "no log_sequence",
            Stricter,
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("log_sequence"))),
        ),
        (
            "null tree_root",
            Stricter,
            Box::new(|v| v["tree_root"] = Value::Null),
        ),
        (
            "uppercase key",
            Stricter,
            Box::new(move |v| v["changes"][0]["key"] = json!(upper.clone())),
        ),
        (
            "short key",
            Stricter,
            Box::new(|v| v["changes"][0]["key"] = json!("abcd")),
        ),
        (
            "uppercase merkle_root",
            Stricter,
            Box::new(move |v| v["merkle_root"] = json!(u3.clone())),
        ),
        (
            "uppercase timestamp_sha256",
            Stricter,
            Box::new(move |v| v["timestamp_sha256"] = json!(u4.clone())),
        ),
        (
            "uppercase tree_root",
            Stricter,
            Box::new(|v| v["tree_root"] = json!(sha256(b"r").to_hex().to_uppercase())),
        ),
    ]
}

#[test]
fn the_typed_record_is_as_strict_as_the_auditors_old_structs() {
    for (what, expect, edit) in cases() {
        let mut v = base();
        edit(&mut v);
        let bytes = serde_json::to_vec(&v).unwrap();
        let old = serde_json::from_slice::<PublishedRecord>(&bytes).is_ok();
        let new = ChangeRecord::from_json(&bytes).is_ok();
        match expect {
            Expect::Same => assert_eq!(new, old, "{what}: typed {new}, old {old}"),
            Expect::Stricter => assert!(old && !new, "{what}: typed {new}, old {old}"),
        }
    }
}

#[test]
fn fields_given_twice_are_refused_by_both() {
    let json = serde_json::to_string(&base()).unwrap();
    for (from, to) in [
        (r#""role":"crates.io""#, r#""role":"crates.io","role":"x""#),
        (r#""name":"a""#, r#""name":"a","name":"b""#),
        (
            r#""timestamp_version":2"#,
            r#""timestamp_version":2,"timestamp_version":2"#,
        ),
    ] {
        let twice = json.replacen(from, to, 1);
        assert_ne!(twice, json);
        assert!(
            serde_json::from_str::<PublishedRecord>(&twice).is_err(),
            "{to}"
        );
        assert!(ChangeRecord::from_json(twice.as_bytes()).is_err(), "{to}");
    }
}
