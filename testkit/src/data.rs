//! Test data made in bulk: crates.io index names, batch bodies, the real index samples.

use std::fmt::Write as _;

/// The crates.io index path of a made-up crate `c{i}` (seven digits): `c0/00/c0000042`.
pub fn index_name(i: usize) -> String {
    let n = format!("c{i:07}");
    format!("{}/{}/{n}", &n[..2], &n[2..4])
}

/// A `POST .../batch` body upserting [`index_name`]`(i)` for every `i` in `range`, with
/// length `i` and the hash of `i`'s bytes. Written by hand: building it through
/// `serde_json::Value` takes longer than the signer's work in a debug build.
pub fn upserts(range: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = String::from("{\"changes\":[");
    for i in range {
        let hash = crate::sha256_hex(&i.to_le_bytes());
        let _ = write!(
            out,
            "{{\"op\":\"upsert\",\"path\":\"{}\",\"sha256\":\"{hash}\",\"length\":{i}}},",
            index_name(i)
        );
    }
    out.pop();
    out.push_str("]}");
    out.into_bytes()
}

/// A real index sample from the data beside the repository (`../shared/data/ARCHIVE`, a
/// `.tar.gz`), unpacked into `into`; `None` (after saying why) when it is missing outside CI.
/// Under `CI=true` a missing sample fails the test.
pub fn real_index(archive: &str, into: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(archive);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!(
                "{}: {e} (the shared real-index data beside the repository)",
                path.display()
            );
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
    };
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .expect("unpack");
    Some(into.to_owned())
}
