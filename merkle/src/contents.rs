//! Leaf contents (D2): the TUF fileinfo of a target, or its tombstone.
//!
//! The tree hashes contents as their canonical JSON (the OLPC form TUF signs). Only the two shapes
//! of D2 exist, so the canonical form is written directly and parsing refuses anything else: unknown
//! fields, a `deleted` flag that is not `true`, a version of 0, uppercase or short hashes. That way
//! two implementations can never disagree on the bytes that were hashed.

use crate::hash::{Digest, HexError, parse_hex, sha256};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest version or length the POUF accepts: 2^63 - 1, so that every value survives JSON
/// implementations that hold integers as signed 64-bit numbers.
pub const MAX_INTEGER: u64 = i64::MAX as u64;

/// What a leaf says about its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeafContents {
    /// The target exists: `{"version": N, "length": L, "hashes": {"sha256": HEX}}`.
    Present {
        /// Starts at 1 and goes up by one each time the target changes.
        version: u64,
        /// The target's length in bytes.
        length: u64,
        /// SHA-256 of the target's bytes.
        sha256: Digest,
    },
    /// The target was deleted: `{"version": N, "deleted": true}`. The leaf stays so that the
    /// version keeps counting and clients can tell "deleted" from "withheld".
    Deleted {
        /// The version the deletion gave the target.
        version: u64,
    },
}

/// Why leaf contents are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentsError {
    /// Version 0 does not exist; versions start at 1.
    #[error("version must be at least 1")]
    ZeroVersion,
    /// A version or length above [`MAX_INTEGER`].
    #[error("{field} {value} is larger than 2^63 - 1")]
    TooLarge {
        /// `version` or `length`.
        field: &'static str,
        /// The value given.
        value: u64,
    },
    /// The SHA-256 is not 64 lowercase hex characters.
    #[error("hashes.sha256: {0}")]
    Hash(HexError),
    /// Neither shape of D2.
    #[error("{0}")]
    Shape(&'static str),
}

impl LeafContents {
    /// Contents of a present target, checked.
    pub fn present(version: u64, length: u64, sha256: Digest) -> Result<Self, ContentsError> {
        check_version(version)?;
        if length > MAX_INTEGER {
            return Err(ContentsError::TooLarge {
                field: "length",
                value: length,
            });
        }
        Ok(LeafContents::Present {
            version,
            length,
            sha256,
        })
    }

    /// A tombstone, checked.
    pub fn deleted(version: u64) -> Result<Self, ContentsError> {
        check_version(version)?;
        Ok(LeafContents::Deleted { version })
    }

    /// Contents describing `bytes` at `version`.
    pub fn for_bytes(version: u64, bytes: &[u8]) -> Result<Self, ContentsError> {
        Self::present(version, bytes.len() as u64, sha256(bytes))
    }

    /// The target's version.
    pub fn version(&self) -> u64 {
        match *self {
            LeafContents::Present { version, .. } | LeafContents::Deleted { version } => version,
        }
    }

    /// Whether this is a tombstone.
    pub fn is_deleted(&self) -> bool {
        matches!(self, LeafContents::Deleted { .. })
    }

    /// The canonical JSON bytes `c` that the leaf hash covers: keys sorted, no white space.
    pub fn canonical_json(&self) -> String {
        let mut buf = [0u8; CANONICAL_MAX];
        String::from_utf8_lossy(self.write_canonical(&mut buf)).into_owned()
    }

    /// `H(c)`, the hash of the canonical JSON. Allocates nothing, as tree updates call it often.
    pub fn hash(&self) -> Digest {
        let mut buf = [0u8; CANONICAL_MAX];
        sha256(self.write_canonical(&mut buf))
    }

    /// Writes the canonical form into `buf` and returns the bytes written. The longest form
    /// (two 19-digit integers and a 64-digit hash) takes 127 bytes, so it always fits.
    ///
    /// Written by hand rather than through `fmt`: every leaf hash in the tree starts here.
    fn write_canonical<'a>(&self, buf: &'a mut [u8; CANONICAL_MAX]) -> &'a [u8] {
        let mut w = Cursor { buf, at: 0 };
        match *self {
            LeafContents::Present {
                version,
                length,
                sha256,
            } => {
                w.put(br#"{"hashes":{"sha256":""#);
                let mut hex = [0u8; 64];
                // Cannot fail: 32 bytes always fill 64 hex digits.
                let _ = hex::encode_to_slice(sha256.0, &mut hex);
                w.put(&hex);
                w.put(br#""},"length":"#);
                w.decimal(length);
                w.put(br#","version":"#);
                w.decimal(version);
                w.put(b"}");
            }
            LeafContents::Deleted { version } => {
                w.put(br#"{"deleted":true,"version":"#);
                w.decimal(version);
                w.put(b"}");
            }
        }
        let written = w.at;
        &buf[..written]
    }
}

/// Appends to a buffer known to be large enough.
struct Cursor<'a> {
    buf: &'a mut [u8; CANONICAL_MAX],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }

    /// `n` in plain decimal, as JSON writes an integer.
    fn decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[start..]);
    }
}

/// Room for the longest canonical contents.
const CANONICAL_MAX: usize = 160;

fn check_version(version: u64) -> Result<(), ContentsError> {
    if version == 0 {
        return Err(ContentsError::ZeroVersion);
    }
    if version > MAX_INTEGER {
        return Err(ContentsError::TooLarge {
            field: "version",
            value: version,
        });
    }
    Ok(())
}

impl Serialize for LeafContents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Serialized through a value so that any JSON writer emits the canonical key order.
        let value: serde_json::Value = match serde_json::from_str(&self.canonical_json()) {
            Ok(v) => v,
            Err(e) => return Err(serde::ser::Error::custom(e)),
        };
        value.serialize(serializer)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContents {
    version: u64,
    length: Option<u64>,
    hashes: Option<RawHashes>,
    deleted: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHashes {
    sha256: String,
}

impl<'de> Deserialize<'de> for LeafContents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawContents::deserialize(deserializer)?;
        LeafContents::try_from(raw).map_err(D::Error::custom)
    }
}

impl TryFrom<RawContents> for LeafContents {
    type Error = ContentsError;

    fn try_from(raw: RawContents) -> Result<Self, ContentsError> {
        match (raw.deleted, raw.length, raw.hashes) {
            (Some(true), None, None) => LeafContents::deleted(raw.version),
            (Some(true), _, _) => Err(ContentsError::Shape(
                "a tombstone has only \"version\" and \"deleted\"",
            )),
            (Some(false), _, _) => Err(ContentsError::Shape(
                "\"deleted\" is only ever true; a present target omits it",
            )),
            (None, Some(length), Some(hashes)) => {
                let sha256 = parse_hex(&hashes.sha256).map_err(ContentsError::Hash)?;
                LeafContents::present(raw.version, length, sha256)
            }
            (None, _, _) => Err(ContentsError::Shape(
                "a present target needs \"version\", \"length\" and \"hashes\"",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<LeafContents, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn canonical_json_sorts_keys_and_has_no_spaces() {
        let c = LeafContents::for_bytes(3, b"hello").unwrap();
        assert_eq!(
            c.canonical_json(),
            r#"{"hashes":{"sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},"length":5,"version":3}"#
        );
        assert_eq!(
            LeafContents::deleted(7).unwrap().canonical_json(),
            r#"{"deleted":true,"version":7}"#
        );
    }

    #[test]
    fn canonical_integers_are_plain_decimal() {
        let h = sha256(b"x");
        for version in [1, 9, 10, 99, 100, 12_345, MAX_INTEGER] {
            for length in [0, 1, 10, 4_096, MAX_INTEGER] {
                let c = LeafContents::present(version, length, h).unwrap();
                let expected = format!(
                    r#"{{"hashes":{{"sha256":"{}"}},"length":{length},"version":{version}}}"#,
                    h.to_hex()
                );
                assert_eq!(c.canonical_json(), expected);
                assert_eq!(c.hash(), sha256(expected.as_bytes()));
            }
            let d = LeafContents::deleted(version).unwrap();
            assert_eq!(
                d.canonical_json(),
                format!(r#"{{"deleted":true,"version":{version}}}"#)
            );
        }
    }

    #[test]
    fn round_trips_through_serde() {
        for c in [
            LeafContents::for_bytes(1, b"x").unwrap(),
            LeafContents::deleted(2).unwrap(),
        ] {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, c.canonical_json());
            assert_eq!(parse(&json).unwrap(), c);
        }
    }

    #[test]
    fn refuses_every_other_shape() {
        let h = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let cases = [
            format!(r#"{{"version":0,"length":1,"hashes":{{"sha256":"{h}"}}}}"#),
            format!(
                r#"{{"version":1,"length":1,"hashes":{{"sha256":"{}"}}}}"#,
                h.to_uppercase()
            ),
            format!(r#"{{"version":1,"length":1,"hashes":{{"sha256":"{h}","sha512":"00"}}}}"#),
            format!(r#"{{"version":1,"length":1,"hashes":{{"sha256":"{h}"}},"custom":{{}}}}"#),
            format!(r#"{{"version":1,"length":1,"hashes":{{"sha256":"{h}"}},"deleted":false}}"#),
            format!(r#"{{"version":1,"length":1,"hashes":{{"sha256":"{h}"}},"deleted":true}}"#),
            format!(r#"{{"version":1,"length":-1,"hashes":{{"sha256":"{h}"}}}}"#),
            format!(r#"{{"version":9223372036854775808,"length":1,"hashes":{{"sha256":"{h}"}}}}"#),
            r#"{"version":1}"#.to_string(),
            r#"{"version":1,"deleted":true,"deleted":true}"#.to_string(),
            r#"{"version":1.0,"deleted":true}"#.to_string(),
        ];
        for case in cases {
            assert!(parse(&case).is_err(), "accepted {case}");
        }
    }

    /// POUF §2: an integer is one by its written form: digits only, no sign, fraction or
    /// exponent, no leading zero, at most 2^63 - 1. Other spellings of the same number, which
    /// many JSON parsers take, are refused.
    #[test]
    fn integers_are_plain_decimal_only() {
        let h = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let tombstone = |v: &str| format!(r#"{{"deleted":true,"version":{v}}}"#);
        let present =
            |l: &str| format!(r#"{{"hashes":{{"sha256":"{h}"}},"length":{l},"version":1}}"#);
        for (v, expected) in [("1", 1), ("10", 10), ("9223372036854775807", MAX_INTEGER)] {
            assert_eq!(parse(&tombstone(v)).unwrap().version(), expected);
        }
        for l in ["0", "9223372036854775807"] {
            parse(&present(l)).unwrap();
        }
        for v in [
            "1.0",
            "1.",
            "1e0",
            "1E0",
            "1e+0",
            "10e-1",
            "0.1e1",
            "-1",
            "-0",
            "+1",
            "01",
            "00",
            "NaN",
            "Infinity",
            "true",
            "\"1\"",
            "null",
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "1e400",
        ] {
            assert!(parse(&tombstone(v)).is_err(), "version {v} accepted");
        }
        // A length of zero may not be spelled any other way either.
        for l in ["-0", "0.0", "-0.0", "0e0", "00", "9223372036854775808"] {
            assert!(parse(&present(l)).is_err(), "length {l} accepted");
        }
    }
}
