//! The change record `changes/V.json`: what timestamp version `V` changed, for auditors.
//!
//! ```text
//! {"changes":[{"key":HEX,"name":NAME|null,"new":CONTENTS,"old":CONTENTS|null},…],
//!  "log_sequence":N,"merkle_root":HEX|null,"previous_timestamp_version":N|null,"role":ROLE,
//!  "root_version":N,"timestamp_file":"timestamps/V.timestamp.json","timestamp_length":N,
//!  "timestamp_sha256":HEX,"timestamp_version":V,"tree_root":HEX}
//! ```
//!
//! (one line, no white space). `CONTENTS` is a leaf's contents as D2 writes them. The signed
//! timestamp is not embedded (re-serialized JSON is not what was signed) but referred to: its
//! exact bytes are published as `timestamps/V.timestamp.json`, before the record, with the
//! length and SHA-256 the record gives. The first record of an imported role lists every leaf,
//! with `name` `null` where the import did not keep names.
//!
//! Properties kept:
//! - **Byte identity.** [`ChangeRecord::to_json`] writes exactly the bytes the signer has always
//!   published: compact JSON, the keys of every object in sorted order (what `serde_json::json!`
//!   produced), `null` for absent values. The order is written out by hand below, so a build that
//!   turns on serde_json's `preserve_order` cannot change it. `tests/fixtures/` holds records the
//!   signer published, and the tests write them again byte for byte.
//! - **Parsing as strict as the auditor's.** Every field the auditor reads is required with its
//!   type, except the optional ones, which may be `null` or absent; a field given twice is
//!   refused; leaf contents must be one of D2's two shapes exactly; hashes must be 64 lowercase
//!   hex digits. Unknown fields are ignored, so a record can gain a field without breaking
//!   auditors. Beyond what the auditor read before, `tree_root` and `log_sequence` are required
//!   (the signer always writes them) and hashes are checked when parsed rather than when used.
//! - Parsing checks the shape, not the history: whether `key` is `H(name)`, whether `old` is the
//!   leaf the history has, and whether the timestamp is the one signed are the auditor's checks.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use tuf_merkle::{Digest, LeafContents};

use crate::hex_digest;

/// One leaf change of a record: a target's contents before and after.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Change {
    /// The target name; `None` (`null`) for leaves of an imported role whose names were not kept.
    #[serde(default)]
    pub name: Option<String>,
    /// `H(name)`, the leaf's key.
    #[serde(with = "hex_digest")]
    pub key: Digest,
    /// The contents before; `None` (`null`) for a new target.
    #[serde(default)]
    pub old: Option<LeafContents>,
    /// The contents after.
    pub new: LeafContents,
}

/// `changes/V.json`: the changes of one timestamp version, and the exact timestamp they were
/// signed with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChangeRecord {
    /// The role.
    pub role: String,
    /// The timestamp version this record belongs to.
    pub timestamp_version: u64,
    /// The timestamp version before (`None` for the first), so that a missing record shows.
    #[serde(default)]
    pub previous_timestamp_version: Option<u64>,
    /// The root version the timestamp was signed under.
    pub root_version: u64,
    /// The `merkle_root` the timestamp signs; `None` for a classic role, whose timestamp has
    /// none.
    #[serde(default, with = "hex_digest::option")]
    pub merkle_root: Option<Digest>,
    /// The root of the role's tree after these changes (both modes keep the tree).
    #[serde(with = "hex_digest")]
    pub tree_root: Digest,
    /// The last write-ahead-log sequence number the record includes.
    pub log_sequence: u64,
    /// The changes, in the order they were applied.
    pub changes: Vec<Change>,
    /// Where the timestamp's exact bytes are published:
    /// [`crate::paths::timestamp_file`]`(timestamp_version)`. Kept as read, so that an auditor
    /// can say what a record named instead.
    pub timestamp_file: String,
    /// The length of those bytes.
    pub timestamp_length: u64,
    /// The SHA-256 of those bytes.
    #[serde(with = "hex_digest")]
    pub timestamp_sha256: Digest,
}

// The fields are written in sorted order (the order `serde_json::json!`'s maps gave them when
// the signer built records that way), whatever order the structs declare them in.

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Change", 4)?;
        s.serialize_field("key", &Hex(&self.key))?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("new", &self.new)?;
        s.serialize_field("old", &self.old)?;
        s.end()
    }
}

impl Serialize for ChangeRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ChangeRecord", 11)?;
        s.serialize_field("changes", &self.changes)?;
        s.serialize_field("log_sequence", &self.log_sequence)?;
        s.serialize_field("merkle_root", &self.merkle_root.as_ref().map(Hex))?;
        s.serialize_field(
            "previous_timestamp_version",
            &self.previous_timestamp_version,
        )?;
        s.serialize_field("role", &self.role)?;
        s.serialize_field("root_version", &self.root_version)?;
        s.serialize_field("timestamp_file", &self.timestamp_file)?;
        s.serialize_field("timestamp_length", &self.timestamp_length)?;
        s.serialize_field("timestamp_sha256", &Hex(&self.timestamp_sha256))?;
        s.serialize_field("timestamp_version", &self.timestamp_version)?;
        s.serialize_field("tree_root", &Hex(&self.tree_root))?;
        s.end()
    }
}

/// A digest written as lowercase hex.
struct Hex<'a>(&'a Digest);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        hex_digest::serialize(self.0, serializer)
    }
}

impl ChangeRecord {
    /// The record as published: compact JSON, byte for byte what the signer writes.
    pub fn to_json(&self) -> String {
        // Cannot fail: nothing in a record serializes with an error (no maps with non-string
        // keys, no floats), and the signer has always written records this way.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a published record (see the module documentation for what is refused).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The length of `change` in a record, as [`ChangeRecord::to_json`] writes it, computed from
/// its parts without its key (whose hex always has 64 digits): for bounding what waits to be
/// signed before the key is known.
pub fn change_json_len(name: Option<&str>, old: Option<LeafContents>, new: LeafContents) -> usize {
    #[derive(Serialize)]
    struct Parts<'a> {
        name: Option<&'a str>,
        old: Option<LeafContents>,
        new: LeafContents,
    }
    let mut count = ByteCount(0);
    let _ = serde_json::to_writer(&mut count, &Parts { name, old, new });
    // `{"name":…,"old":…,"new":…}` plus `,"key":"` and its 64 digits and `"`.
    count.0 + r#","key":"""#.len() + 64
}

/// A writer that only counts.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tuf_merkle::hash::sha256;
    use tuf_merkle::key_of;

    fn record() -> ChangeRecord {
        let c1 = LeafContents::for_bytes(1, b"a").unwrap();
        ChangeRecord {
            role: "crates.io".into(),
            timestamp_version: 7,
            previous_timestamp_version: Some(6),
            root_version: 1,
            merkle_root: Some(sha256(b"root")),
            tree_root: sha256(b"root"),
            log_sequence: 12,
            changes: vec![
                Change {
                    name: Some("se/rd/serde".into()),
                    key: key_of("se/rd/serde"),
                    old: None,
                    new: c1,
                },
                Change {
                    name: None,
                    key: key_of("3/s/syn"),
                    old: Some(c1),
                    new: LeafContents::deleted(2).unwrap(),
                },
            ],
            timestamp_file: crate::paths::timestamp_file(7),
            timestamp_length: 1234,
            timestamp_sha256: sha256(b"ts"),
        }
    }

    #[test]
    fn writes_sorted_compact_json_with_nulls() {
        let r = record();
        let json = r.to_json();
        assert_eq!(serde_json::to_string(&r).unwrap(), json);
        assert!(!json.contains(' ') && !json.contains('\n'));
        // serde_json's maps (without `preserve_order`, as in this workspace) sort their keys:
        // going through one changes nothing, at any level.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), json);
        assert!(json.starts_with(r#"{"changes":[{"key":""#), "{json}");
        assert!(json.contains(r#""name":null,"new":{"deleted":true,"version":2},"old":{"#));
        assert!(json.contains(r#""old":null}"#));
        let mut classic = r.clone();
        classic.merkle_root = None;
        classic.previous_timestamp_version = None;
        let json = classic.to_json();
        assert!(json.contains(r#""merkle_root":null,"previous_timestamp_version":null,"#));
        assert_eq!(ChangeRecord::from_json(json.as_bytes()).unwrap(), classic);
    }

    #[test]
    fn round_trips() {
        let r = record();
        assert_eq!(ChangeRecord::from_json(r.to_json().as_bytes()).unwrap(), r);
        let empty = ChangeRecord {
            changes: Vec::new(),
            ..record()
        };
        assert!(
            empty
                .to_json()
                .starts_with(r#"{"changes":[],"log_sequence":12,"#)
        );
        assert_eq!(
            ChangeRecord::from_json(empty.to_json().as_bytes()).unwrap(),
            empty
        );
    }

    /// Rewrites the JSON of [`record`] with `f` and parses it.
    fn parse_edited(f: impl FnOnce(&mut serde_json::Value)) -> Result<ChangeRecord, String> {
        let mut v: serde_json::Value = serde_json::from_str(&record().to_json()).unwrap();
        f(&mut v);
        ChangeRecord::from_json(&serde_json::to_vec(&v).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn optional_fields_may_be_null_or_absent() {
        let absent = parse_edited(|v| {
            let o = v.as_object_mut().unwrap();
            o.remove("merkle_root");
            o.remove("previous_timestamp_version");
            let c = v["changes"][0].as_object_mut().unwrap();
            c.remove("name");
            c.remove("old");
        })
        .unwrap();
        assert_eq!(absent.merkle_root, None);
        assert_eq!(absent.previous_timestamp_version, None);
        assert_eq!(
            (&absent.changes[0].name, absent.changes[0].old),
            (&None, None)
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let r = parse_edited(|v| {
            v["future"] = serde_json::json!({"anything": [1, 2]});
            v["changes"][0]["future"] = serde_json::json!(true);
        })
        .unwrap();
        assert_eq!(r, record());
    }

    #[test]
    fn refuses_missing_required_fields_and_wrong_types() {
        for field in [
            "role",
            "timestamp_version",
            "root_version",
            "tree_root",
            "log_sequence",
            "changes",
            "timestamp_file",
            "timestamp_length",
            "timestamp_sha256",
        ] {
            let e = parse_edited(|v| {
                v.as_object_mut().unwrap().remove(field);
            })
            .unwrap_err();
            assert!(
                e.contains(&format!("missing field `{field}`")),
                "{field}: {e}"
            );
        }
        for field in ["key", "new"] {
            let e = parse_edited(|v| {
                v["changes"][0].as_object_mut().unwrap().remove(field);
            })
            .unwrap_err();
            assert!(
                e.contains(&format!("missing field `{field}`")),
                "{field}: {e}"
            );
        }
        for (field, bad) in [
            ("timestamp_version", serde_json::json!(-1)),
            ("timestamp_version", serde_json::json!(1.5)),
            ("timestamp_version", serde_json::json!("7")),
            ("timestamp_length", serde_json::json!(null)),
            ("role", serde_json::json!(null)),
            ("changes", serde_json::json!(null)),
            ("changes", serde_json::json!({})),
            ("tree_root", serde_json::json!(null)),
        ] {
            assert!(
                parse_edited(|v| v[field] = bad.clone()).is_err(),
                "{field}: {bad}"
            );
        }
        assert!(parse_edited(|v| v["changes"][0]["new"] = serde_json::json!(null)).is_err());
        assert!(parse_edited(|v| *v = serde_json::json!([])).is_err());
    }

    #[test]
    fn refuses_hashes_not_written_as_the_pouf_writes_them() {
        let upper = sha256(b"x").to_hex().to_uppercase();
        let short = "ab".repeat(31);
        for field in ["tree_root", "merkle_root", "timestamp_sha256"] {
            for bad in [&upper, &short, &format!("{}0", sha256(b"x").to_hex())] {
                let e = parse_edited(|v| v[field] = bad.as_str().into()).unwrap_err();
                assert!(e.contains("hex"), "{field}: {e}");
            }
        }
        let e = parse_edited(|v| v["changes"][1]["key"] = upper.as_str().into()).unwrap_err();
        assert!(e.contains("lowercase hex"), "{e}");
    }

    #[test]
    fn refuses_contents_outside_d2s_two_shapes() {
        for bad in [
            serde_json::json!({"version": 1, "deleted": false}),
            serde_json::json!({"version": 0, "deleted": true}),
            serde_json::json!({"version": 1, "deleted": true, "length": 1}),
            serde_json::json!({"version": 1, "length": 1, "hashes": {"sha256": "00"}}),
            serde_json::json!({"version": 1, "length": 1, "hashes": {"sha256": sha256(b"x").to_hex()}, "extra": 1}),
        ] {
            assert!(
                parse_edited(|v| v["changes"][0]["new"] = bad.clone()).is_err(),
                "{bad}"
            );
            assert!(
                parse_edited(|v| v["changes"][0]["old"] = bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_a_field_given_twice() {
        let json = record().to_json();
        let twice = json.replacen(
            r#""role":"crates.io""#,
            r#""role":"crates.io","role":"x""#,
            1,
        );
        assert!(ChangeRecord::from_json(twice.as_bytes()).is_err());
        let twice = json.replacen(r#""name":null"#, r#""name":null,"name":"a""#, 1);
        assert!(ChangeRecord::from_json(twice.as_bytes()).is_err());
    }

    /// The signer's `sequencer::entry_len` as it is written today, for comparison.
    fn entry_len_in_the_signer(name: &str, old: Option<LeafContents>, new: LeafContents) -> usize {
        #[derive(Serialize)]
        struct Sized<'a> {
            name: &'a str,
            key: &'a str,
            old: Option<LeafContents>,
            new: LeafContents,
        }
        serde_json::to_string(&Sized {
            name,
            key: "",
            old,
            new,
        })
        .unwrap()
        .len()
            + 64
    }

    #[test]
    fn change_json_len_is_the_written_length() {
        for change in record().changes {
            let written = serde_json::to_string(&change).unwrap().len();
            assert_eq!(
                change_json_len(change.name.as_deref(), change.old, change.new),
                written
            );
            if let Some(name) = change.name.as_deref() {
                assert_eq!(
                    entry_len_in_the_signer(name, change.old, change.new),
                    written
                );
            }
        }
        let quote = "a\"b\\c\u{1}ü";
        let new = LeafContents::for_bytes(u64::MAX >> 1, b"x").unwrap();
        let change = Change {
            name: Some(quote.into()),
            key: key_of(quote),
            old: Some(new),
            new,
        };
        assert_eq!(
            change_json_len(Some(quote), Some(new), new),
            serde_json::to_string(&change).unwrap().len()
        );
    }
}
