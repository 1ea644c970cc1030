//! The signer's checkpoint format (`tuf_signer::internals::checkpoint::Checkpoint::decode`),
//! whose leaves are `tuf_repo_format::leaves`' sequence.
//!
//! Input: a mode byte, then the file. Mode 0 decodes the rest as is; mode 1 appends the right
//! CRC-32 first, so that the fuzzer gets past the checksum to the entries.
//!
//! Checked: decoding never panics and never allocates out of proportion (an entry count of
//! 2^64 - 1 in a short file must not reserve room for that many); what decodes re-encodes to
//! bytes that decode to the same checkpoint, and encodes identically again; no more entries
//! than the bytes can hold. Both formats are read (`TUFCKPT1`, and `TUFCKPT2` with the tree's
//! branch hashes); encoding writes version 2.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tuf_signer::internals::checkpoint::Checkpoint;

/// The smallest entry: key, version, length, sha256, name length.
const MIN_ENTRY: usize = 32 + 8 + 8 + 32 + 2;

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode % 2 == 1 {
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
    }
    let path = Path::new("fuzz.checkpoint");
    let Ok(c) = Checkpoint::decode(&bytes, path) else {
        return;
    };
    assert!(c.entries.len() <= bytes.len() / MIN_ENTRY);
    // Every entry decoded is one the encoder writes (names fit their u16 length).
    let encoded = c.encode().expect("a decoded checkpoint encodes");
    let back = Checkpoint::decode(&encoded, path).expect("a re-encoded checkpoint decodes");
    assert_eq!(back, c, "decode -> encode -> decode changed the checkpoint");
    assert_eq!(
        back.encode().expect("encodes"),
        encoded,
        "encoding is not deterministic"
    );
    // A version 1 checkpoint is re-encoded as version 2, which adds a hash count (8 bytes).
    let v1_growth = if bytes.starts_with(b"TUFCKPT1") { 8 } else { 0 };
    assert!(
        encoded.len() <= bytes.len() + v1_growth,
        "re-encoding grew the checkpoint"
    );
});
