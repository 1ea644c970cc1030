//! The signer's `POST /api/v1/{role}/proofs` body
//! (`tuf_signer::internals::parse_proof_request`): unauthenticated, so it must hold against
//! anyone.
//!
//! Input: a mode byte, then the body. The mode picks the role's layout (bit 0: the crates.io
//! index layout), the most names (bits 1-3: 1-8) and the body limit (bit 4: 512 bytes).
//!
//! Checked: parsing never panics and never allocates out of proportion to the body. A refusal
//! is a 400 or a 413 with a stable code, a 413 exactly when the body is over the limit. What is
//! accepted agrees with a plain JSON reading: an object with `names` (a list of 1 to the limit
//! of distinct strings, in order, each passing the role's name rules) and at most an integer or
//! null `version`, nothing else.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tuf_signer::config::Limits;
use tuf_signer::internals::parse_proof_request;
use tuf_signer::target;

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let tuf_fuzz::request::Mode {
        layout,
        most,
        max_bytes,
    } = tuf_fuzz::request::mode(mode);
    let limits = Limits {
        max_proof_names: most,
        max_proof_request_bytes: max_bytes,
        ..Limits::default()
    };
    let request = match parse_proof_request(body, &limits, layout) {
        Ok(request) => request,
        Err(e) => {
            tuf_fuzz::request::check_refusal(&e, body.len(), max_bytes);
            return;
        }
    };
    assert!(body.len() <= limits.max_proof_request_bytes);
    let names = &request.names;
    assert!(!names.is_empty() && names.len() <= limits.max_proof_names);
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "a name twice");
    for name in names {
        assert_eq!(target::validate(name, layout), Ok(()));
    }
    let json: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
    let object = json.as_object().expect("an object");
    let listed: Vec<&str> = object["names"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|n| n.as_str().expect("a string"))
        .collect();
    assert_eq!(listed, names.iter().map(String::as_str).collect::<Vec<_>>());
    match object.get("version") {
        None | Some(Value::Null) => assert_eq!(request.version, None),
        Some(v) => assert_eq!(v.as_u64(), request.version),
    }
    assert!(object.keys().all(|k| k == "names" || k == "version"));
});
