//! The signer's `POST /api/v1/{role}/batch` body (`tuf_signer::internals::parse_batch`), as
//! the HTTP handler calls it once the body is read.
//!
//! Input: a mode byte, then the body. The mode picks the role's layout (bit 0: the crates.io
//! index layout) and small limits (bits 1-3: at most 1-8 changes; bit 4: a JSON limit of 512
//! bytes), so that the bounds are reached by inputs the fuzzer can grow to.
//!
//! Checked: parsing never panics and never allocates out of proportion to the body. A refusal
//! is a 400 or a 413 with a stable code, and a 413 only for a body over the JSON limit. What is
//! accepted agrees with a plain JSON reading of the body: an object with exactly `changes`, not
//! empty and within the limit, each change an object whose `op` is `upsert` (with `path`,
//! `sha256`, `length` and nothing else) or `delete` (with `path` only), in the same order; every
//! path passes the role's name rules; a hash is 64 lowercase hex digits and decodes to the
//! accepted digest; a length is at most 2^63 - 1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tuf_signer::change::Op;
use tuf_signer::config::Limits;
use tuf_signer::internals::parse_batch;
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
        max_batch_changes: most,
        max_json_bytes: max_bytes,
        ..Limits::default()
    };
    let ops = match parse_batch(body, &limits, layout) {
        Ok(ops) => ops,
        Err(e) => {
            tuf_fuzz::request::check_refusal(&e, body.len(), max_bytes);
            return;
        }
    };
    assert!(body.len() <= limits.max_json_bytes);
    assert!(!ops.is_empty() && ops.len() <= limits.max_batch_changes);
    let json: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
    let object = json.as_object().expect("an object");
    assert_eq!(object.len(), 1, "only `changes`");
    let changes = object["changes"].as_array().expect("a list of changes");
    assert_eq!(changes.len(), ops.len());
    for (op, change) in ops.iter().zip(changes) {
        let change = change.as_object().expect("a change is an object");
        assert_eq!(target::validate(op.name(), layout), Ok(()));
        assert_eq!(change["path"].as_str(), Some(op.name()));
        match op {
            Op::Upsert { length, sha256, .. } => {
                assert_eq!(change["op"], "upsert");
                assert_eq!(change.len(), 4, "op, path, sha256, length: {change:?}");
                assert!(*length <= tuf_merkle::contents::MAX_INTEGER);
                assert_eq!(change["length"].as_u64(), Some(*length));
                let hex = change["sha256"].as_str().expect("a hash string");
                assert_eq!(hex.len(), 64);
                assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
                assert_eq!(hex, sha256.to_hex(), "the hash decodes to another digest");
            }
            Op::Delete { .. } => {
                assert_eq!(change["op"], "delete");
                assert_eq!(change.len(), 2, "op, path: {change:?}");
            }
        }
    }
});
