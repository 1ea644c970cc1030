//! Leaf contents (POUF §2) from untrusted bytes.
//!
//! Parsing never panics; what parses is one of the two shapes within the POUF's bounds, its
//! canonical JSON is what serde writes, parses back equal, and is what `hash` hashes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuf_merkle::LeafContents;
use tuf_merkle::contents::MAX_INTEGER;

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let Ok(contents) = serde_json::from_slice::<LeafContents>(data) else {
        return;
    };
    let version = contents.version();
    assert!((1..=MAX_INTEGER).contains(&version), "{contents:?}");
    match contents {
        LeafContents::Present {
            version,
            length,
            sha256,
        } => {
            assert!(length <= MAX_INTEGER);
            assert_eq!(LeafContents::present(version, length, sha256), Ok(contents));
        }
        LeafContents::Deleted { version } => {
            assert_eq!(LeafContents::deleted(version), Ok(contents));
        }
    }
    let canonical = contents.canonical_json();
    assert_eq!(
        serde_json::to_string(&contents).ok().as_deref(),
        Some(canonical.as_str())
    );
    let back: LeafContents = serde_json::from_str(&canonical).expect("canonical form parses");
    assert_eq!(back, contents);
    assert_eq!(
        contents.hash(),
        tuf_merkle::hash::sha256(canonical.as_bytes())
    );
    // The canonical form has no white space and sorted keys: serde_json's Value (sorted maps)
    // writes the same bytes.
    let value: serde_json::Value = serde_json::from_str(&canonical).expect("json");
    assert_eq!(value.to_string(), canonical);
});
