//! Serde for [`Digest`]s as the POUF writes them: 64 lowercase hex digits, nothing else accepted
//! (uppercase would give one hash two spellings, and so a record two byte forms).
//!
//! For `#[serde(with = "tuf_repo_format::hex_digest")]` on a `Digest` field, and
//! `#[serde(default, with = "tuf_repo_format::hex_digest::option")]` on an `Option<Digest>`
//! (`null` or absent when `None`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use tuf_merkle::Digest;
use tuf_merkle::hash::parse_hex;

/// Writes `digest` as lowercase hex.
pub fn serialize<S: Serializer>(digest: &Digest, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&digest.to_hex())
}

/// Reads 64 lowercase hex digits.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
    // An owned string: JSON may spell the digits with escapes, which cannot be borrowed. What
    // the string says is then checked, as the auditor always checked it.
    let text = String::deserialize(deserializer)?;
    parse_hex(&text).map_err(D::Error::custom)
}

/// The same for an optional digest (`null` when absent).
pub mod option {
    use super::*;

    /// Writes `Some` as lowercase hex and `None` as `null`.
    pub fn serialize<S: Serializer>(
        digest: &Option<Digest>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match digest {
            Some(d) => serializer.serialize_str(&d.to_hex()),
            None => serializer.serialize_none(),
        }
    }

    /// Reads `null` or 64 lowercase hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Digest>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => parse_hex(&text).map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}
