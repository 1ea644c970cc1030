//! JSON forms of the proofs: TAP-16's snapshot Merkle metadata for membership, and this POUF's
//! own forms for non-membership and multi-proofs (`docs/pouf.md` specifies them).
//!
//! Parsing is strict, because proofs come from the network: the input's size is checked before
//! anything is read, unknown fields and trailing data are refused, indices must be exactly
//! `"0"` to `"d-1"` in plain decimal, hashes exactly 64 lowercase hex digits, directions must
//! agree with the key, and repeated keys anywhere are refused (most JSON parsers keep the last).

use crate::contents::LeafContents;
use crate::hash::{Digest, KEY_BITS, key_of, parse_hex};
use crate::multiproof::MultiProof;
use crate::proof::{MembershipProof, NonMembershipProof, Proof, ProofError, Terminal};
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::fmt;

/// Size limit for a single proof's JSON text (POUF §7). The longest proof (256 siblings) for a
/// name of 4,096 bytes fits in fewer than 47,000 bytes even with every byte of the name escaped.
pub const MAX_PROOF_BYTES: usize = 64 * 1024;

/// Default size limit for a multi-proof: enough for about 100,000 names out of a tree of tens
/// of millions.
pub const MAX_MULTI_PROOF_BYTES: usize = 64 * 1024 * 1024;

/// The side a sibling is on, as `path_directions` writes it.
const LEFT: &str = "left";
const RIGHT: &str = "right";

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes `items` as a JSON object `{"0": items[0], "1": items[1], …}`, in numeric order.
struct Indexed<'a, T>(&'a [T]);

impl<T: Serialize> Serialize for Indexed<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (i, item) in self.0.iter().enumerate() {
            map.serialize_entry(&i.to_string(), item)?;
        }
        map.end()
    }
}

/// `merkle_path` and `path_directions` for `siblings` (`s[0..d)`, root first) on `key`'s path:
/// entry 0 is `s[d-1]`, the deepest, then upward.
fn path_fields(key: &Digest, siblings: &[Digest]) -> (Vec<String>, Vec<&'static str>) {
    let d = siblings.len();
    let path = siblings.iter().rev().map(Digest::to_hex).collect();
    let directions = (0..d)
        .map(|j| if key.bit(d - 1 - j) { LEFT } else { RIGHT })
        .collect();
    (path, directions)
}

struct OneEntry<'a, V>(&'a str, &'a V);

impl<V: Serialize> Serialize for OneEntry<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

impl Serialize for MembershipProof {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (path, directions) = path_fields(&key_of(&self.name), &self.siblings);
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("leaf_contents", &OneEntry(&self.name, &self.contents))?;
        map.serialize_entry("merkle_path", &Indexed(&path))?;
        map.serialize_entry("path_directions", &Indexed(&directions))?;
        map.end()
    }
}

impl Serialize for Terminal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Terminal::Empty => s.serialize_str("empty"),
            Terminal::Leaf { key, contents_hash } => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("contents_hash", &contents_hash.to_hex())?;
                map.serialize_entry("key", &key.to_hex())?;
                map.end()
            }
        }
    }
}

impl Serialize for NonMembershipProof {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (path, directions) = path_fields(&key_of(&self.name), &self.siblings);
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("merkle_path", &Indexed(&path))?;
        map.serialize_entry("path_directions", &Indexed(&directions))?;
        map.serialize_entry("terminal", &self.terminal)?;
        map.end()
    }
}

impl Serialize for Proof {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Proof::Membership(p) => p.serialize(s),
            Proof::NonMembership(p) => p.serialize(s),
        }
    }
}

impl Serialize for MultiProof {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Targets<'a>(&'a MultiProof);
        impl Serialize for Targets<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.targets().len()))?;
                for (name, contents) in self.0.targets() {
                    map.serialize_entry(name, contents)?;
                }
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("hashes", &hex::encode(self.hash_bytes()))?;
        map.serialize_entry("shape", &hex::encode(self.shape_bytes()))?;
        map.serialize_entry("targets", &Targets(self))?;
        map.end()
    }
}

/// Any proof as compact JSON bytes.
pub fn to_vec<T: Serialize>(proof: &T) -> Vec<u8> {
    // Serializing these types into memory cannot fail: every map key is a string.
    serde_json::to_vec(proof).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The entries of a JSON object in order, repeated keys kept so that they can be refused.
struct Entries<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Entries<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = access.next_entry::<String, T>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMembership {
    leaf_contents: Entries<Box<RawValue>>,
    merkle_path: Entries<String>,
    path_directions: Entries<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNonMembership {
    name: String,
    merkle_path: Entries<String>,
    path_directions: Entries<String>,
    terminal: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerminal {
    key: String,
    contents_hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMulti {
    targets: Entries<Box<RawValue>>,
    shape: String,
    hashes: String,
}

/// Parses one JSON value of type `T` from `bytes`, with the size limit checked first and
/// trailing data refused.
fn parse<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, ProofError> {
    if bytes.len() > limit {
        return Err(ProofError::TooLarge {
            limit,
            actual: bytes.len(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(&mut de).map_err(|e| ProofError::Malformed(e.to_string()))?;
    de.end().map_err(|_| ProofError::TrailingData)?;
    Ok(value)
}

fn parse_contents(name: &str, raw: &RawValue) -> Result<LeafContents, ProofError> {
    serde_json::from_str(raw.get()).map_err(|e| ProofError::contents(name, e))
}

/// Turns `{"0": …, "1": …}` into a vector, refusing anything but exactly the indices `0..len`.
fn indexed<T>(field: &'static str, entries: Entries<T>) -> Result<Vec<T>, ProofError> {
    let len = entries.0.len();
    if len > KEY_BITS {
        return Err(ProofError::PathTooLong { len });
    }
    let mut slots: Vec<Option<T>> = (0..len).map(|_| None).collect();
    for (index, value) in entries.0 {
        let canonical =
            index == "0" || (!index.starts_with('0') && index.bytes().all(|b| b.is_ascii_digit()));
        let i = index
            .parse::<usize>()
            .ok()
            .filter(|i| canonical && *i < len);
        let Some(i) = i else {
            return Err(ProofError::BadIndex { field, index, len });
        };
        if slots[i].replace(value).is_some() {
            return Err(ProofError::DuplicateIndex { field, index });
        }
    }
    // Every slot is filled: `len` distinct indices below `len`.
    Ok(slots.into_iter().flatten().collect())
}

/// Reads `merkle_path` and `path_directions` for `key` into `s[0..d)`, root first.
fn path(
    key: &Digest,
    merkle_path: Entries<String>,
    path_directions: Entries<String>,
) -> Result<Vec<Digest>, ProofError> {
    let hexes = indexed("merkle_path", merkle_path)?;
    let directions = indexed("path_directions", path_directions)?;
    if hexes.len() != directions.len() {
        return Err(ProofError::DirectionCount {
            path: hexes.len(),
            directions: directions.len(),
        });
    }
    let d = hexes.len();
    let mut siblings = Vec::with_capacity(d);
    for (j, (hex, direction)) in hexes.iter().zip(&directions).enumerate().rev() {
        let sibling = parse_hex(hex).map_err(|error| ProofError::Hex {
            field: format!("merkle_path[{j}]"),
            error,
        })?;
        let sibling_is_left = match direction.as_str() {
            LEFT => true,
            RIGHT => false,
            other => {
                return Err(ProofError::BadDirection {
                    index: j,
                    value: other.to_owned(),
                });
            }
        };
        // Entry j is the sibling at level d-1-j; it is on the left exactly when the key goes right.
        if sibling_is_left != key.bit(d - 1 - j) {
            return Err(ProofError::DirectionMismatch { index: j });
        }
        siblings.push(sibling);
    }
    Ok(siblings)
}

fn hex_field(field: &str, s: &str) -> Result<Digest, ProofError> {
    parse_hex(s).map_err(|error| ProofError::Hex {
        field: field.to_owned(),
        error,
    })
}

impl MembershipProof {
    /// Parses TAP-16 snapshot Merkle metadata with the default size limit.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProofError> {
        Self::from_json_with_limit(bytes, MAX_PROOF_BYTES)
    }

    /// Parses TAP-16 snapshot Merkle metadata of at most `limit` bytes.
    pub fn from_json_with_limit(bytes: &[u8], limit: usize) -> Result<Self, ProofError> {
        let raw: RawMembership = parse(bytes, limit)?;
        let mut leaves = raw.leaf_contents.0;
        if leaves.len() != 1 {
            return Err(ProofError::LeafCount(leaves.len()));
        }
        let Some((name, contents)) = leaves.pop() else {
            return Err(ProofError::LeafCount(0));
        };
        let contents = parse_contents(&name, &contents)?;
        let siblings = path(&key_of(&name), raw.merkle_path, raw.path_directions)?;
        Ok(MembershipProof {
            name,
            contents,
            siblings,
        })
    }

    /// The proof as TAP-16 snapshot Merkle metadata.
    pub fn to_json(&self) -> Vec<u8> {
        to_vec(self)
    }
}

impl NonMembershipProof {
    /// Parses this POUF's non-membership form with the default size limit.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProofError> {
        Self::from_json_with_limit(bytes, MAX_PROOF_BYTES)
    }

    /// Parses this POUF's non-membership form of at most `limit` bytes.
    pub fn from_json_with_limit(bytes: &[u8], limit: usize) -> Result<Self, ProofError> {
        let raw: RawNonMembership = parse(bytes, limit)?;
        let siblings = path(&key_of(&raw.name), raw.merkle_path, raw.path_directions)?;
        // The string is compared decoded, as every string in a proof is (`"\u0065mpty"` is
        // `"empty"`), not as the bytes received.
        let terminal = match serde_json::from_str::<String>(raw.terminal.get()) {
            Ok(s) if s == "empty" => Terminal::Empty,
            Ok(s) => {
                return Err(ProofError::Malformed(format!(
                    "terminal is the string {s:?}; the only string allowed is \"empty\""
                )));
            }
            Err(_) => {
                let t: RawTerminal = serde_json::from_str(raw.terminal.get()).map_err(|e| {
                    ProofError::Malformed(format!("terminal is neither \"empty\" nor a leaf: {e}"))
                })?;
                Terminal::Leaf {
                    key: hex_field("terminal.key", &t.key)?,
                    contents_hash: hex_field("terminal.contents_hash", &t.contents_hash)?,
                }
            }
        };
        Ok(NonMembershipProof {
            name: raw.name,
            siblings,
            terminal,
        })
    }

    /// The proof in this POUF's non-membership form.
    pub fn to_json(&self) -> Vec<u8> {
        to_vec(self)
    }
}

impl Proof {
    /// Parses either form, telling them apart by their fields (`leaf_contents` or `terminal`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(ProofError::TooLarge {
                limit: MAX_PROOF_BYTES,
                actual: bytes.len(),
            });
        }
        #[derive(Deserialize)]
        struct Probe {
            leaf_contents: Option<serde::de::IgnoredAny>,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| ProofError::Malformed(e.to_string()))?;
        if probe.leaf_contents.is_some() {
            MembershipProof::from_json(bytes).map(Proof::Membership)
        } else {
            NonMembershipProof::from_json(bytes).map(Proof::NonMembership)
        }
    }

    /// The proof in its JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        to_vec(self)
    }
}

impl MultiProof {
    /// Parses a multi-proof with the default size limit.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProofError> {
        Self::from_json_with_limit(bytes, MAX_MULTI_PROOF_BYTES)
    }

    /// Parses a multi-proof of at most `limit` bytes.
    pub fn from_json_with_limit(bytes: &[u8], limit: usize) -> Result<Self, ProofError> {
        let raw: RawMulti = parse(bytes, limit)?;
        let mut targets = Vec::with_capacity(raw.targets.0.len());
        for (name, value) in raw.targets.0 {
            let contents = if value.get() == "null" {
                None
            } else {
                Some(parse_contents(&name, &value)?)
            };
            targets.push((name, contents));
        }
        let shape = decode_hex_bytes("shape", &raw.shape)?;
        let hash_bytes = decode_hex_bytes("hashes", &raw.hashes)?;
        if hash_bytes.len() % 32 != 0 {
            return Err(ProofError::WrongLength {
                field: "hashes",
                expected: "a multiple of 64 hex digits",
                actual: raw.hashes.len(),
            });
        }
        let hashes = hash_bytes
            .chunks_exact(32)
            .map(|c| {
                let mut d = [0u8; 32];
                d.copy_from_slice(c);
                Digest(d)
            })
            .collect();
        MultiProof::from_parts(targets, shape, hashes)
    }

    /// The multi-proof in this POUF's JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        to_vec(self)
    }
}

/// Lowercase hex of any even length.
fn decode_hex_bytes(field: &'static str, s: &str) -> Result<Vec<u8>, ProofError> {
    if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(ProofError::Hex {
            field: field.to_owned(),
            error: crate::hash::HexError::Character(c),
        });
    }
    if !s.len().is_multiple_of(2) {
        return Err(ProofError::WrongLength {
            field,
            expected: "an even number of hex digits",
            actual: s.len(),
        });
    }
    hex::decode(s).map_err(|_| ProofError::WrongLength {
        field,
        expected: "hex",
        actual: s.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Tree;

    fn sample() -> (Tree, Vec<String>) {
        let names: Vec<String> = (0..64).map(|i| format!("{i}/x/crate{i}")).collect();
        let t = Tree::from_leaves(
            names
                .iter()
                .map(|n| (key_of(n), LeafContents::for_bytes(2, n.as_bytes()).unwrap())),
        )
        .unwrap();
        (t, names)
    }

    #[test]
    fn membership_round_trips_and_matches_tap16() {
        let (t, names) = sample();
        let Proof::Membership(p) = t.prove(&names[5]) else {
            panic!()
        };
        let json: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        let d = p.siblings.len();
        assert_eq!(json["merkle_path"]["0"], p.siblings[d - 1].to_hex());
        assert_eq!(json["leaf_contents"][&names[5]]["version"], 2);
        assert_eq!(MembershipProof::from_json(&p.to_json()).unwrap(), p);
    }

    #[test]
    fn strict_parsing_names_each_fault() {
        let (t, names) = sample();
        let Proof::Membership(p) = t.prove(&names[9]) else {
            panic!()
        };
        let good = String::from_utf8(p.to_json()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&good).unwrap();
        let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut w = v.clone();
            f(&mut w);
            MembershipProof::from_json(w.to_string().as_bytes()).unwrap_err()
        };
        assert_eq!(
            MembershipProof::from_json(format!("{good} x").as_bytes()),
            Err(ProofError::TrailingData)
        );
        assert!(matches!(
            MembershipProof::from_json_with_limit(good.as_bytes(), 10),
            Err(ProofError::TooLarge { limit: 10, .. })
        ));
        assert!(matches!(
            mutate(&|w| w["merkle_path"]["0"] = "zz".repeat(32).into()),
            ProofError::Hex { .. }
        ));
        assert!(matches!(
            mutate(&|w| w["merkle_path"]["0"] = "ab".into()),
            ProofError::Hex { .. }
        ));
        assert!(matches!(
            mutate(&|w| {
                let x = w["path_directions"]["0"].as_str().unwrap().to_owned();
                w["path_directions"]["0"] = if x == "left" { "right" } else { "left" }.into();
            }),
            ProofError::DirectionMismatch { index: 0 }
        ));
        assert!(matches!(
            mutate(&|w| w["path_directions"]["0"] = "up".into()),
            ProofError::BadDirection { .. }
        ));
        assert!(matches!(
            mutate(&|w| {
                let x = w["merkle_path"]
                    .as_object_mut()
                    .unwrap()
                    .remove("0")
                    .unwrap();
                w["merkle_path"]["00"] = x;
            }),
            ProofError::BadIndex { .. }
        ));
        assert!(matches!(
            mutate(&|w| {
                let m = w["merkle_path"].as_object_mut().unwrap();
                let last = (m.len() - 1).to_string();
                m.remove(&last);
            }),
            ProofError::DirectionCount { .. }
        ));
        // A gap in the indices.
        assert!(matches!(
            mutate(&|w| {
                w["merkle_path"].as_object_mut().unwrap().remove("1");
            }),
            ProofError::BadIndex { .. }
        ));
        assert!(matches!(
            mutate(&|w| w["extra"] = 1.into()),
            ProofError::Malformed(_)
        ));
        assert!(matches!(
            mutate(&|w| w["leaf_contents"]["other"] = w["leaf_contents"][&names[9]].clone()),
            ProofError::LeafCount(2)
        ));
        assert!(matches!(
            mutate(&|w| w["leaf_contents"][&names[9]]["version"] = 0.into()),
            ProofError::Contents { .. }
        ));
        // A repeated index, which serde_json's own maps would silently collapse.
        let dup = good.replacen(
            r#""merkle_path":{"0":"#,
            r#""merkle_path":{"1":"00","0":"#,
            1,
        );
        assert!(matches!(
            MembershipProof::from_json(dup.as_bytes()),
            Err(ProofError::DuplicateIndex { .. } | ProofError::BadIndex { .. })
        ));
    }

    #[test]
    fn multi_proof_parsing_names_each_fault() {
        let (t, names) = sample();
        let p = t.prove_many(&[&names[1], &names[2], "absent"]).unwrap();
        let good = String::from_utf8(p.to_json()).unwrap();
        assert_eq!(MultiProof::from_json(good.as_bytes()).unwrap(), p);
        // The same name twice in `targets`, which a map-based parser would collapse.
        let dup = good.replacen(r#""absent":null"#, r#""absent":null,"absent":null"#, 1);
        assert_ne!(dup, good);
        assert_eq!(
            MultiProof::from_json(dup.as_bytes()),
            Err(ProofError::DuplicateName("absent".into()))
        );
        let v: serde_json::Value = serde_json::from_str(&good).unwrap();
        let with = |field: &str, value: &str| {
            let mut w = v.clone();
            w[field] = value.into();
            MultiProof::from_json(w.to_string().as_bytes()).unwrap_err()
        };
        let hashes = v["hashes"].as_str().unwrap();
        assert!(matches!(
            with("hashes", &hashes[2..]),
            ProofError::WrongLength { .. }
        ));
        assert!(matches!(
            with("hashes", &hashes.to_uppercase()),
            ProofError::Hex { .. }
        ));
        assert!(matches!(
            with("shape", "abc"),
            ProofError::WrongLength { .. }
        ));
        let mut w = v.clone();
        w["targets"] = serde_json::json!({});
        assert_eq!(
            MultiProof::from_json(w.to_string().as_bytes()),
            Err(ProofError::NoNames)
        );
        assert!(matches!(
            MultiProof::from_json_with_limit(good.as_bytes(), 100),
            Err(ProofError::TooLarge { limit: 100, .. })
        ));
        assert_eq!(
            MultiProof::from_json(format!("{good}{{}}").as_bytes()),
            Err(ProofError::TrailingData)
        );
    }

    /// Writes `v` as compact JSON with the first member of its `target`-th object (numbered in
    /// pre-order from 0) written twice with the same value, as a parser that keeps the first
    /// or the last of repeated keys would silently accept.
    fn repeat_member(v: &serde_json::Value, target: usize, seen: &mut usize, out: &mut String) {
        use serde_json::Value;
        match v {
            Value::Object(m) => {
                let me = *seen;
                *seen += 1;
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                if let (true, Some(&first)) = (me == target, entries.first()) {
                    entries.insert(0, first);
                }
                out.push('{');
                for (i, (k, val)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    repeat_member(val, target, seen, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    repeat_member(item, target, seen, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// Every object of `proof`'s JSON, in turn, with one member repeated: each must be refused.
    /// Returns how many objects there were.
    fn refuses_every_repeated_member(
        proof: &[u8],
        parse: &dyn Fn(&[u8]) -> Result<(), ProofError>,
    ) -> usize {
        let v: serde_json::Value = serde_json::from_slice(proof).unwrap();
        // The rewriter itself writes acceptable JSON when it repeats nothing.
        let mut plain = String::new();
        repeat_member(&v, usize::MAX, &mut 0, &mut plain);
        parse(plain.as_bytes()).unwrap();
        let mut objects = 0;
        loop {
            let mut seen = 0;
            let mut text = String::new();
            repeat_member(&v, objects, &mut seen, &mut text);
            if objects >= seen {
                return objects;
            }
            assert!(parse(text.as_bytes()).is_err(), "accepted {text}");
            objects += 1;
        }
    }

    /// POUF §7: no object anywhere in a proof may repeat a member, even with the same value.
    #[test]
    fn every_object_refuses_a_repeated_member() {
        let (mut t, names) = sample();
        t.set(key_of(&names[3]), LeafContents::deleted(3).unwrap());
        let membership = |b: &[u8]| MembershipProof::from_json(b).map(drop);
        let non_membership = |b: &[u8]| NonMembershipProof::from_json(b).map(drop);
        let any = |b: &[u8]| Proof::from_json(b).map(drop);
        let multi = |b: &[u8]| MultiProof::from_json(b).map(drop);

        // The proof, leaf_contents, the contents, their hashes, merkle_path, path_directions.
        let p = t.prove(&names[5]).to_json();
        assert_eq!(refuses_every_repeated_member(&p, &membership), 6);
        assert_eq!(refuses_every_repeated_member(&p, &any), 6);
        // A tombstone's contents have no `hashes`.
        let p = t.prove(&names[3]).to_json();
        assert_eq!(refuses_every_repeated_member(&p, &membership), 5);
        // The proof, merkle_path, path_directions, and a leaf terminal.
        let (leaf_terminal, empty_terminal) = {
            let mut found = (None, None);
            for i in 0..1000 {
                let Proof::NonMembership(p) = t.prove(&format!("absent-{i}")) else {
                    panic!("absent")
                };
                match p.terminal {
                    Terminal::Leaf { .. } => found.0 = found.0.or(Some(p)),
                    Terminal::Empty => found.1 = found.1.or(Some(p)),
                }
            }
            (found.0.unwrap(), found.1.unwrap())
        };
        let p = leaf_terminal.to_json();
        assert_eq!(refuses_every_repeated_member(&p, &non_membership), 4);
        assert_eq!(refuses_every_repeated_member(&p, &any), 4);
        let p = empty_terminal.to_json();
        assert_eq!(refuses_every_repeated_member(&p, &non_membership), 3);
        // The proof, targets, one present name's contents and hashes, a tombstone's contents.
        let p = t
            .prove_many(&[&names[1], &names[3], "absent"])
            .unwrap()
            .to_json();
        assert_eq!(refuses_every_repeated_member(&p, &multi), 5);
    }

    /// A repeated member is the same member however its name is escaped.
    #[test]
    fn repeated_members_are_found_after_unescaping() {
        let (t, names) = sample();
        let good = String::from_utf8(t.prove(&names[2]).to_json()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&good).unwrap();
        let first = v["merkle_path"]["0"].as_str().unwrap();
        let dup = good.replacen(
            r#""merkle_path":{"#,
            &format!(r#""merkle_path":{{"\u0030":"{first}","#),
            1,
        );
        assert_eq!(
            MembershipProof::from_json(dup.as_bytes()),
            Err(ProofError::DuplicateIndex {
                field: "merkle_path",
                index: "0".into()
            })
        );
        let p = t.prove_many(&[&names[1], "absent"]).unwrap();
        let good = String::from_utf8(p.to_json()).unwrap();
        let dup = good.replacen(r#""absent":null"#, r#""absent":null,"\u0061bsent":null"#, 1);
        assert_eq!(
            MultiProof::from_json(dup.as_bytes()),
            Err(ProofError::DuplicateName("absent".into()))
        );
    }

    /// POUF §7: rules about strings apply to the decoded string, so escapes are accepted
    /// everywhere and mean what they decode to.
    #[test]
    fn strings_are_compared_decoded() {
        let (t, names) = sample();
        let Proof::Membership(p) = t.prove(&names[2]) else {
            panic!()
        };
        let good = String::from_utf8(p.to_json()).unwrap();
        let hex0 = p.siblings[p.siblings.len() - 1].to_hex();
        let escaped_hex = format!("\\u00{:02x}{}", hex0.as_bytes()[0], &hex0[1..]);
        let escaped_name = names[2].replace('/', "\\/");
        let escaped = good
            .replacen(
                &format!(r#""{}""#, names[2]),
                &format!(r#""{escaped_name}""#),
                1,
            )
            .replacen(r#""merkle_path":{"0""#, r#""merkle_path":{"\u0030""#, 1)
            .replacen(&format!(r#""{hex0}""#), &format!(r#""{escaped_hex}""#), 1)
            .replacen(
                r#""path_directions":{"0":"l"#,
                r#""path_directions":{"0":"\u006c"#,
                1,
            )
            .replacen(
                r#""path_directions":{"0":"r"#,
                r#""path_directions":{"0":"\u0072"#,
                1,
            );
        assert_eq!(
            escaped.matches('\\').count(),
            3 + names[2].matches('/').count()
        );
        assert_eq!(MembershipProof::from_json(escaped.as_bytes()).unwrap(), p);

        // The empty terminal, escaped; and a string that decodes to something else.
        let empty = (0..1000)
            .find_map(|i| match t.prove(&format!("absent-{i}")) {
                Proof::NonMembership(p) if p.terminal == Terminal::Empty => Some(p),
                _ => None,
            })
            .unwrap();
        let good = String::from_utf8(empty.to_json()).unwrap();
        let escaped = good.replacen(r#""terminal":"empty""#, r#""terminal":"\u0065mpty""#, 1);
        assert_ne!(escaped, good);
        assert_eq!(
            NonMembershipProof::from_json(escaped.as_bytes()).unwrap(),
            empty
        );
        assert_eq!(
            Proof::from_json(escaped.as_bytes()).unwrap(),
            Proof::NonMembership(empty.clone())
        );
        let wrong = good.replacen(r#""terminal":"empty""#, r#""terminal":"Empty""#, 1);
        assert!(matches!(
            NonMembershipProof::from_json(wrong.as_bytes()),
            Err(ProofError::Malformed(_))
        ));
    }

    /// A name is hashed as UTF-8, and an unpaired surrogate escape has no UTF-8 form.
    #[test]
    fn unpaired_surrogates_are_refused() {
        let (t, names) = sample();
        let good = String::from_utf8(t.prove(&names[2]).to_json()).unwrap();
        let bad = good.replacen(&names[2], r"\ud800x", 1);
        assert!(matches!(
            MembershipProof::from_json(bad.as_bytes()),
            Err(ProofError::Malformed(_))
        ));
        let good = String::from_utf8(t.prove("absent").to_json()).unwrap();
        let bad = good.replacen(r#""name":"absent""#, r#""name":"\udc00absent""#, 1);
        assert_ne!(bad, good);
        assert!(matches!(
            NonMembershipProof::from_json(bad.as_bytes()),
            Err(ProofError::Malformed(_))
        ));
        // A proper pair is a character like any other.
        let smiley = t.prove("😀");
        let good = String::from_utf8(smiley.to_json()).unwrap();
        let pair = good.replacen(r#""name":"😀""#, r#""name":"\ud83d\ude00""#, 1);
        assert_ne!(pair, good);
        assert_eq!(Proof::from_json(pair.as_bytes()).unwrap(), smiley);
    }

    /// POUF §2: version and length are plain decimal integers, whatever other forms of the same
    /// number a JSON parser might take.
    #[test]
    fn numbers_in_a_proof_must_be_plain_integers() {
        let (t, names) = sample();
        let Proof::Membership(p) = t.prove(&names[2]) else {
            panic!()
        };
        let good = String::from_utf8(p.to_json()).unwrap();
        assert!(good.contains(r#""version":2}"#));
        for (form, malformed) in [
            ("2.0", false),
            ("2e0", false),
            ("2E0", false),
            ("20e-1", false),
            ("-2", false),
            ("02", true),
            ("+2", true),
            ("NaN", true),
        ] {
            let bad = good.replacen(r#""version":2}"#, &format!(r#""version":{form}}}"#), 1);
            let err = MembershipProof::from_json(bad.as_bytes()).unwrap_err();
            // Not JSON at all is Malformed; JSON of the wrong form is refused as contents.
            if malformed {
                assert!(matches!(err, ProofError::Malformed(_)), "{form}: {err:?}");
            } else {
                assert!(
                    matches!(err, ProofError::Contents { .. }),
                    "{form}: {err:?}"
                );
            }
        }
    }

    /// POUF §7: the limit bounds every byte of the proof's text, white space included.
    #[test]
    fn the_size_limit_bounds_the_whole_text() {
        let (t, names) = sample();
        let good = String::from_utf8(t.prove(&names[2]).to_json()).unwrap();
        let padded = |size: usize| format!("{{{}{}", " ".repeat(size - good.len()), &good[1..]);
        assert_eq!(padded(MAX_PROOF_BYTES).len(), MAX_PROOF_BYTES);
        MembershipProof::from_json(padded(MAX_PROOF_BYTES).as_bytes()).unwrap();
        Proof::from_json(padded(MAX_PROOF_BYTES).as_bytes()).unwrap();
        let over = padded(MAX_PROOF_BYTES + 1);
        for err in [
            MembershipProof::from_json(over.as_bytes()).unwrap_err(),
            Proof::from_json(over.as_bytes()).unwrap_err(),
        ] {
            assert_eq!(
                err,
                ProofError::TooLarge {
                    limit: 65_536,
                    actual: 65_537
                }
            );
        }
    }

    /// POUF §7: the longest single proof for a name of 4,096 bytes, every byte of it escaped,
    /// fits the limit.
    #[test]
    fn the_longest_single_proof_fits_the_limit() {
        let name = "\u{1}".repeat(4096);
        let siblings: Vec<Digest> = (0..KEY_BITS as u32)
            .map(|i| crate::hash::sha256(&i.to_be_bytes()))
            .collect();
        let member = MembershipProof {
            name: name.clone(),
            contents: LeafContents::present(
                crate::contents::MAX_INTEGER,
                crate::contents::MAX_INTEGER,
                crate::hash::sha256(b"x"),
            )
            .unwrap(),
            siblings: siblings.clone(),
        };
        let absent = NonMembershipProof {
            name,
            siblings,
            terminal: Terminal::Leaf {
                key: crate::hash::sha256(b"k"),
                contents_hash: crate::hash::sha256(b"c"),
            },
        };
        let (m, a) = (member.to_json(), absent.to_json());
        eprintln!(
            "longest membership {} bytes, non-membership {}",
            m.len(),
            a.len()
        );
        assert!(m.len() <= 48 * 1024 && a.len() <= 48 * 1024);
        assert_eq!(MembershipProof::from_json(&m).unwrap(), member);
        assert_eq!(NonMembershipProof::from_json(&a).unwrap(), absent);
    }

    #[test]
    fn non_membership_round_trips() {
        let (t, _) = sample();
        for name in ["absent", "another", "1/a"] {
            let Proof::NonMembership(p) = t.prove(name) else {
                panic!()
            };
            let back = NonMembershipProof::from_json(&p.to_json()).unwrap();
            assert_eq!(back, p);
            back.verify(&t.root()).unwrap();
            assert_eq!(
                Proof::from_json(&p.to_json()).unwrap(),
                Proof::NonMembership(p)
            );
        }
    }
}
