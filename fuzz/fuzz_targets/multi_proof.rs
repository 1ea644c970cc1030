//! This POUF's multi-proof from untrusted bytes.
//!
//! Parsing never panics or allocates out of proportion; a parsed multi-proof re-encodes
//! canonically and parses back equal; every name it lists is found by `get` with its contents;
//! verification never panics and behaves as `check_verification` says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuf_merkle::multiproof::MultiProof;

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let parsed = MultiProof::from_json(data);
    tuf_fuzz::check_limit(data, &parsed, MultiProof::from_json_with_limit);
    let Ok(proof) = parsed else {
        return;
    };
    let json = proof.to_json();
    let again = MultiProof::from_json(&json).expect("the re-encoded multi-proof parses");
    assert_eq!(again, proof, "re-encoding changed the multi-proof");
    assert_eq!(again.to_json(), json, "the encoding is not canonical");
    assert!(!proof.targets().is_empty());
    for (name, contents) in proof.targets() {
        assert_eq!(proof.get(name), Some(contents.as_ref()), "{name:?}");
    }
    assert_eq!(proof.hash_bytes().len(), 32 * proof.hash_count());

    tuf_fuzz::check_verification(|root| proof.verify(root), &tuf_fuzz::some_root(data));
});
