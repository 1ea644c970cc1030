//! The signer's proof answers (`docs/api.md`), as the client asks for them and reads them:
//! JSON, or the POUF's binary encoding (`docs/pouf.md` §10), a third of the bytes.
//!
//! Properties kept:
//! - Either format is read whatever was asked, told apart by the first bytes (a binary answer
//!   starts with `TMA`, a JSON answer with `{`): a server or cache that ignores `Accept` still
//!   gets its answer checked, and the format never changes what is accepted, since both decode
//!   into the same proof types and are verified by the same code.
//! - A JSON answer that is not the answer object is [`ClientError::MalformedJson`]; a proof,
//!   or a binary answer, that breaks the POUF's rules is [`ClientError::MalformedProof`].
//! - Nothing in the answer's envelope is trusted: `timestamp_version` and `merkle_root` only
//!   help name the attack when a proof misses the trusted root.

use serde::Deserialize;
use serde_json::value::RawValue;
use tuf_merkle::binary::Answer;
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{Proof, ProofError};

use crate::error::ClientError;
use crate::tuf;

/// Which encoding the client asks the proof API for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProofFormat {
    /// The binary encoding (POUF §10), with JSON as the fallback a server may answer instead.
    #[default]
    Binary,
    /// JSON only (POUF §4–§6).
    Json,
}

impl ProofFormat {
    /// The `Accept` header that asks for this format.
    pub fn accept(self) -> &'static str {
        match self {
            // A server that knows only JSON sends JSON whatever is asked; one that knows both
            // prefers what has the higher quality.
            ProofFormat::Binary => "application/vnd.tuf-merkle-proof, application/json;q=0.5",
            ProofFormat::Json => "application/json",
        }
    }
}

/// A proof format other than `binary` and `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proof format {0:?} is neither binary nor json")]
pub struct UnknownProofFormat(pub String);

impl std::str::FromStr for ProofFormat {
    type Err = UnknownProofFormat;
    fn from_str(s: &str) -> Result<Self, UnknownProofFormat> {
        match s {
            "binary" => Ok(ProofFormat::Binary),
            "json" => Ok(ProofFormat::Json),
            _ => Err(UnknownProofFormat(s.to_owned())),
        }
    }
}

/// What an answer claims besides its proof (not trusted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    /// The timestamp version the server says it proved against.
    pub timestamp_version: u64,
    /// The `merkle_root` the server says that timestamp has, as given (hex).
    pub merkle_root: String,
}

/// The JSON answer object.
#[derive(Deserialize)]
struct JsonAnswer {
    #[allow(dead_code)]
    role: String,
    timestamp_version: u64,
    merkle_root: String,
    proof: Box<RawValue>,
}

/// The proof of an answer in whichever format it came.
enum Body<'a> {
    Json(Box<RawValue>),
    Binary(&'a [u8]),
}

/// Splits the answer `bytes` to `path` into its claims and its proof's bytes; `name` is the
/// name (or first name) asked, for errors.
fn split<'a>(path: &str, name: &str, bytes: &'a [u8]) -> Result<(Claims, Body<'a>), ClientError> {
    if Answer::is_binary(bytes) {
        let a = Answer::decode(bytes).map_err(|source| malformed(name, source))?;
        let claims = Claims {
            timestamp_version: a.timestamp_version,
            merkle_root: a.merkle_root.to_hex(),
        };
        return Ok((claims, Body::Binary(a.proof)));
    }
    let a: JsonAnswer = tuf::parse(path, bytes)?;
    let claims = Claims {
        timestamp_version: a.timestamp_version,
        merkle_root: a.merkle_root,
    };
    Ok((claims, Body::Json(a.proof)))
}

fn malformed(name: &str, source: ProofError) -> ClientError {
    ClientError::MalformedProof {
        name: name.to_owned(),
        source,
    }
}

/// The single proof in the answer to `GET …/proof/{name}` (`path`).
pub(crate) fn single(path: &str, name: &str, bytes: &[u8]) -> Result<(Claims, Proof), ClientError> {
    let (claims, body) = split(path, name, bytes)?;
    let proof = match body {
        Body::Json(raw) => Proof::from_json(raw.get().as_bytes()),
        Body::Binary(b) => Proof::from_binary(b),
    }
    .map_err(|source| malformed(name, source))?;
    Ok((claims, proof))
}

/// The multi-proof in the answer to `POST …/proofs` (`path`); `name` is the first name asked.
pub(crate) fn multi(
    path: &str,
    name: &str,
    bytes: &[u8],
) -> Result<(Claims, MultiProof), ClientError> {
    let (claims, body) = split(path, name, bytes)?;
    let proof = match body {
        Body::Json(raw) => MultiProof::from_json(raw.get().as_bytes()),
        Body::Binary(b) => MultiProof::from_binary(b),
    }
    .map_err(|source| malformed(name, source))?;
    Ok((claims, proof))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::path::Path;

    /// The POUF's binary vectors (`merkle/tests/vectors/binary`), read as the client reads
    /// answers: each binary proof, wrapped in a binary answer and in a JSON answer, gives the
    /// same proof; each refused byte string is refused.
    #[test]
    fn the_binary_vectors_read_as_answers() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../merkle/tests/vectors/binary");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let root = tuf_merkle::hash::parse_hex(v["root"].as_str().unwrap()).unwrap();
            let first = |e: &Value| match &e["asked"] {
                Value::String(s) => s.clone(),
                other => other[0].as_str().unwrap().to_owned(),
            };
            for e in v["proofs"].as_array().unwrap() {
                let bytes = hex::decode(e["hex"].as_str().unwrap()).unwrap();
                let binary = Answer {
                    role: "crates.io",
                    timestamp_version: 7,
                    merkle_root: root,
                    proof: &bytes,
                }
                .encode()
                .unwrap();
                let json = serde_json::to_vec(&json!({
                    "role": "crates.io", "timestamp_version": 7,
                    "merkle_root": root.to_hex(), "proof": e["json"],
                }))
                .unwrap();
                let claims = Claims {
                    timestamp_version: 7,
                    merkle_root: root.to_hex(),
                };
                let name = first(e);
                if e["kind"] == "multi" {
                    let (c, from_binary) = multi("p", &name, &binary).unwrap();
                    assert_eq!(c, claims);
                    let (c, from_json) = multi("p", &name, &json).unwrap();
                    assert_eq!(c, claims);
                    assert_eq!(from_binary, from_json);
                    from_binary.verify(&root).unwrap();
                } else {
                    let (c, from_binary) = single("p", &name, &binary).unwrap();
                    assert_eq!(c, claims);
                    let (_, from_json) = single("p", &name, &json).unwrap();
                    assert_eq!(from_binary, from_json);
                    from_binary.verify_for(&root, &name).unwrap();
                }
                checked += 1;
            }
            for e in v["refused"].as_array().into_iter().flatten() {
                let bytes = hex::decode(e["hex"].as_str().unwrap()).unwrap();
                let answer = Answer {
                    role: "crates.io",
                    timestamp_version: 7,
                    merkle_root: root,
                    proof: &bytes,
                }
                .encode()
                .unwrap();
                let name = first(e);
                // Refused while decoding, or by verification.
                let refused = if e["kind"] == "multi" {
                    multi("p", &name, &answer)
                        .is_err_and(|e| matches!(e, ClientError::MalformedProof { .. }))
                        || multi("p", &name, &answer).is_ok_and(|(_, p)| {
                            let asked: Vec<String> =
                                serde_json::from_value(e["asked"].clone()).unwrap();
                            p.verify_for(&root, &asked).is_err()
                        })
                } else {
                    single("p", &name, &answer)
                        .is_err_and(|e| matches!(e, ClientError::MalformedProof { .. }))
                        || single("p", &name, &answer)
                            .is_ok_and(|(_, p)| p.verify_for(&root, &name).is_err())
                };
                assert!(refused, "{}: accepted", e["why"]);
                checked += 1;
            }
        }
        assert!(checked >= 70, "only {checked}");
    }

    #[test]
    fn a_json_answer_that_is_not_an_answer_is_malformed_json() {
        assert!(matches!(
            single("p", "n", b"[1, 2,"),
            Err(ClientError::MalformedJson { .. })
        ));
        // A binary answer cut inside its envelope is a malformed proof.
        assert!(matches!(
            single("p", "n", b"TMA\x01\x09crates"),
            Err(ClientError::MalformedProof {
                source: ProofError::Truncated(_),
                ..
            })
        ));
        assert_eq!("binary".parse(), Ok(ProofFormat::Binary));
        assert_eq!("json".parse(), Ok(ProofFormat::Json));
        assert!("cbor".parse::<ProofFormat>().is_err());
    }
}
