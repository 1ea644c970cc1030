//! Strict JSON reading, and the canonical JSON (OLPC) that signatures are checked over.
//!
//! Properties kept:
//! - a document is one JSON value with no repeated member in any object, refused otherwise:
//!   parsers disagree on which of two repeated members counts, and a verifier must read exactly
//!   what every other reader reads;
//! - the bytes a signature is checked over are the OLPC canonical JSON of `signed`, written by
//!   `olpc-cjson`, the same code tough signs and verifies with, so the core and tough check the
//!   same bytes;
//! - those bytes stand for exactly the document that was parsed: `signed` is refused if
//!   canonicalisation would change it (a non-integer number, which canonical JSON cannot write;
//!   a string not in Unicode NFC, which OLPC canonical JSON normalises, so that two different
//!   documents, or two member names, would share one signature).

use std::cell::RefCell;
use std::fmt;

use serde::Serialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{Document, VerifyError};

/// Parses `bytes` as one JSON value, refusing a repeated member anywhere.
pub(crate) fn parse_strict(document: Document, bytes: &[u8]) -> Result<Value, VerifyError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (parsed, duplicate.into_inner()) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(member)) => Err(VerifyError::DuplicateMember { document, member }),
        (Err(e), None) => Err(VerifyError::Json {
            document,
            reason: e.to_string(),
        }),
    }
}

/// The OLPC canonical JSON of `value` (what TUF signs), refusing a value it would not stand for
/// exactly.
pub(crate) fn canonical(document: Document, value: &Value) -> Result<Vec<u8>, VerifyError> {
    if let Some(s) = first_non_nfc(value) {
        return Err(VerifyError::NotCanonical {
            document,
            reason: format!(
                "the string {:?} is not in Unicode NFC",
                s.chars().take(64).collect::<String>()
            ),
        });
    }
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value
        .serialize(&mut ser)
        .map_err(|e| VerifyError::NotCanonical {
            document,
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// The first string (member name or value) that NFC normalisation would change.
fn first_non_nfc(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => (!unicode_normalization::is_nfc(s)).then_some(s.as_str()),
        Value::Array(items) => items.iter().find_map(first_non_nfc),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if unicode_normalization::is_nfc(k) {
                first_non_nfc(v)
            } else {
                Some(k.as_str())
            }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Builds a [`Value`] like serde_json's own, but fails on a repeated member and records its
/// name.
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // Kept, so that canonicalisation refuses it with its own error.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let message = format!("repeated member {key:?}");
                *self.duplicate.borrow_mut() = Some(key);
                return Err(de::Error::custom(message));
            }
            let value = access.next_value_seed(self)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use crate::error::RoleType;

    const R: Document = Document::Role(RoleType::Root);

    #[test]
    fn repeated_members_are_refused_at_any_depth() {
        for text in [
            r#"{"a":1,"a":1}"#,
            r#"{"x":{"b":[{"c":1,"c":2}]}}"#,
            r#"{"\u0061":1,"a":2}"#,
        ] {
            let err = parse_strict(R, text.as_bytes()).unwrap_err();
            assert!(
                matches!(err, VerifyError::DuplicateMember { .. }),
                "{text}: {err}"
            );
        }
        assert!(parse_strict(R, br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).is_ok());
    }

    #[test]
    fn not_json_and_trailing_bytes_are_refused() {
        for text in [&b"{"[..], b"{} {}", b"{}x", b"\xff", b"", b"{'a':1}"] {
            let err = parse_strict(R, text).unwrap_err();
            assert!(matches!(err, VerifyError::Json { .. }), "{err}");
        }
        assert_eq!(
            parse_strict(R, b" \n{\"a\":[1,-2,true,null,\"s\"]}\t").unwrap(),
            serde_json::json!({"a": [1, -2, true, null, "s"]})
        );
    }

    #[test]
    fn canonical_form_is_olpc() {
        let v = parse_strict(
            R,
            "{\"b\": [1, {\"d\": \"x\\ny\\\"\", \"c\": -3}], \"a\": \"\\u00e9\", \"_t\": null}"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            canonical(R, &v).unwrap(),
            "{\"_t\":null,\"a\":\"é\",\"b\":[1,{\"c\":-3,\"d\":\"x\ny\\\"\"}]}".as_bytes()
        );
    }

    #[test]
    fn what_canonical_json_would_change_is_refused() {
        for text in [
            r#"{"a":1.0}"#,
            r#"{"a":1e3}"#,
            // "e" + COMBINING ACUTE ACCENT: NFC is "é".
            "{\"a\":\"e\u{301}\"}",
            // KELVIN SIGN: NFC is "K"; as a member name it would collide with "K".
            "{\"\u{212a}\":1,\"K\":2}",
        ] {
            let v = parse_strict(R, text.as_bytes()).unwrap();
            let err = canonical(R, &v).unwrap_err();
            assert!(
                matches!(err, VerifyError::NotCanonical { .. }),
                "{text}: {err}"
            );
        }
    }
}
