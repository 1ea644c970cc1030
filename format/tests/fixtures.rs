//! Files the current `tuf-signer` wrote (see `tests/fixtures/README.md`), read and written back
//! byte for byte: the change records of a merkle and a classic role, and the leaf entries of
//! the checkpoints of both.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use tuf_merkle::LeafContents;
use tuf_repo_format::{ChangeRecord, leaves, paths};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The records of a role's `changes/` directory, by version.
fn records(dir: &str) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = std::fs::read_dir(fixtures().join(dir))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let path = format!("changes/{name}");
            let Some(paths::PublishedFile::ChangeRecord(v)) = paths::PublishedFile::parse(&path)
            else {
                panic!("{path} is not a change record's name");
            };
            (v, std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn change_records_the_signer_published_are_written_back_byte_for_byte() {
    let mut seen = Seen::default();
    for (dir, merkle) in [("merkle", true), ("classic", false)] {
        let records = records(dir);
        assert!(records.len() >= 5, "{dir}: {}", records.len());
        let mut previous = None;
        for (v, bytes) in records {
            let record =
                ChangeRecord::from_json(&bytes).unwrap_or_else(|e| panic!("{dir}/{v}.json: {e}"));
            assert_eq!(
                record.to_json(),
                std::str::from_utf8(&bytes).unwrap(),
                "{dir}/{v}.json"
            );
            assert_eq!(record.timestamp_version, v);
            assert_eq!(record.previous_timestamp_version, previous);
            assert_eq!(record.timestamp_file, paths::timestamp_file(v));
            assert_eq!(record.merkle_root.is_some(), merkle);
            if merkle {
                assert_eq!(record.merkle_root, Some(record.tree_root));
            }
            for c in &record.changes {
                if let Some(name) = &c.name {
                    assert_eq!(tuf_merkle::key_of(name), c.key);
                    seen.named = true;
                    seen.non_ascii |= !name.is_ascii();
                    seen.escaped |= name.contains('"');
                } else {
                    seen.nameless = true;
                }
                seen.new_target |= c.old.is_none();
                seen.deleted |= c.new.is_deleted();
                seen.republished |= c.old.is_some_and(|o| o.is_deleted());
                seen.updated |= matches!(
                    (c.old, c.new),
                    (
                        Some(LeafContents::Present { .. }),
                        LeafContents::Present { .. }
                    )
                );
            }
            seen.batch |= record.changes.len() > 1 && previous.is_some();
            previous = Some(v);
        }
    }
    // The fixtures cover every shape a record has.
    assert_eq!(
        seen,
        Seen {
            named: true,
            nameless: true,
            non_ascii: true,
            escaped: true,
            new_target: true,
            deleted: true,
            republished: true,
            updated: true,
            batch: true,
        }
    );
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    named: bool,
    nameless: bool,
    non_ascii: bool,
    escaped: bool,
    new_target: bool,
    deleted: bool,
    republished: bool,
    updated: bool,
    batch: bool,
}

#[test]
fn checkpoints_the_signer_wrote_decode_and_encode_back_byte_for_byte() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".checkpoint.bin"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    let (mut named, mut nameless, mut tombstones) = (0, 0, 0);
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        // "TUFCKPT1" | u64 seq | u64 timestamp_version | sequence | u32 crc32
        assert_eq!(&bytes[..8], b"TUFCKPT1");
        let body = &bytes[24..];
        let mut input = body;
        let entries = leaves::decode_sequence(&mut input)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            input.len(),
            4,
            "{}: only the checksum follows",
            path.display()
        );
        let mut again = Vec::new();
        leaves::encode_sequence(&entries, &mut again).unwrap();
        assert_eq!(again, body[..body.len() - 4], "{}", path.display());
        for e in &entries {
            assert!(e.name_matches_key());
            match &e.name {
                Some(_) => named += 1,
                None => nameless += 1,
            }
            tombstones += usize::from(e.contents.is_deleted());
        }
    }
    assert!(named > 0 && nameless > 0 && tombstones > 0);
}
