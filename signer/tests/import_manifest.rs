//! `tuf-signer import --manifest`: a listing of name, SHA-256 and length per line builds a role
//! without one file per leaf; a bad line is reported by number and nothing is imported; an
//! import too large for one round is signed as several import rounds, each under the log's
//! record bound, and survives a restart.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::fmt::Write as _;

use common::{MERKLE, Signer, index_name, sha256_hex};
use tuf_signer::import::{ImportError, import_manifest};

fn line(i: usize) -> String {
    format!(
        "{}\t{}\t{}\n",
        index_name(i),
        sha256_hex(i.to_string().as_bytes()),
        100 + i
    )
}

fn manifest(range: std::ops::Range<usize>) -> String {
    let mut out = String::new();
    for i in range {
        out.push_str(&line(i));
    }
    out
}

#[test]
fn bad_lines_are_reported_by_number_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = common::config(&data);
    let good = manifest(0..5);
    let hash = sha256_hex(b"x");
    let cases: Vec<(String, usize, &str)> = vec![
        (
            format!("{good}1/a\t{hash}\n"),
            6,
            "expected 3 tab-separated fields",
        ),
        (format!("{good}1/a\t{hash}\t1\textra\n"), 6, "found 4"),
        (format!("{good}1/a {hash} 1\n"), 6, "found 1"),
        (format!("{good}../x\t{hash}\t1\n"), 6, "target name"),
        (format!("{good}\n"), 6, "found 1"),
        (
            format!("{good}1/a\t{}\t1\n", hash.to_uppercase()),
            6,
            "lowercase hex",
        ),
        (
            format!("{good}1/a\t{}\t1\n", &hash[1..]),
            6,
            "lowercase hex",
        ),
        (
            format!("{good}1/a\t{hash}\t-1\n"),
            6,
            "not a decimal number",
        ),
        (
            format!("{good}1/a\t{hash}\t99999999999999999999\n"),
            6,
            "out of range",
        ),
        (
            format!("{good}1/a\t{hash}\t9223372036854775808\n"),
            6,
            "length",
        ),
        (
            format!("{}{good}", line(3)),
            5,
            "listed again (first on line 1)",
        ),
        (
            format!("1/a\t{hash}\t1\r\n{good}"),
            1,
            "not a decimal number",
        ),
    ];
    let path = dir.path().join("manifest.tsv");
    for (text, number, why) in cases {
        std::fs::write(&path, &text).unwrap();
        match import_manifest(&config, MERKLE, &path, false) {
            Err(e @ ImportError::Manifest { line, .. }) => {
                let message = e.to_string();
                assert_eq!(line, number, "{message}");
                assert!(message.contains(why), "{message} lacks {why:?}");
                assert!(
                    message.contains(&format!("manifest.tsv:{number}:")),
                    "{message}"
                );
                assert!(message.ends_with("nothing was imported"), "{message}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
        assert!(
            !data
                .join("state")
                .join(MERKLE)
                .join("checkpoint.bin")
                .exists(),
            "a refused manifest wrote a checkpoint"
        );
    }
    // Invalid UTF-8.
    let mut bytes = good.clone().into_bytes();
    bytes.extend_from_slice(b"1/\xff\t0\t1\n");
    std::fs::write(&path, &bytes).unwrap();
    let e = import_manifest(&config, MERKLE, &path, false).unwrap_err();
    assert!(e.to_string().contains(":6: not UTF-8"), "{e}");
    // The same role then imports a good manifest (the last line without its newline).
    std::fs::write(&path, good.trim_end()).unwrap();
    let summary = import_manifest(&config, MERKLE, &path, false).unwrap();
    assert_eq!(summary.leaves, 5);
    // And refuses a second import.
    assert!(matches!(
        import_manifest(&config, MERKLE, &path, false),
        Err(ImportError::NotEmpty(..))
    ));
}

/// Leaves whose change-record entries take more than one round's bound (64 MiB).
const LARGE: usize = 360_000;

async fn change_count(s: &Signer, version: u64) -> usize {
    let r = s
        .req(
            "GET",
            &format!("/crates.io/changes/{version}.json"),
            &[],
            b"",
        )
        .await;
    r.json()["changes"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_over_one_round_is_signed_in_import_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = common::config(&data);
    let path = dir.path().join("manifest.tsv");
    let mut text = String::with_capacity(LARGE * 110);
    for i in 0..LARGE {
        let _ = writeln!(
            text,
            "{}\t{}\t{}",
            index_name(i),
            sha256_hex(&i.to_le_bytes()),
            i
        );
    }
    std::fs::write(&path, text).unwrap();
    let summary = import_manifest(&config, MERKLE, &path, false).unwrap();
    assert_eq!(summary.leaves, LARGE);

    let s = Signer::start(&data).await;
    let (version, root) = s.verified_timestamp(MERKLE).await;
    assert_eq!(version, 2, "two import rounds");
    assert_eq!(root, Some(summary.root));
    let (first, second) = (change_count(&s, 1).await, change_count(&s, 2).await);
    assert!(first > 0 && second > 0, "{first} + {second}");
    assert_eq!(first + second, LARGE);
    // A proof against the final root, for a leaf of each round.
    for i in [0, LARGE - 1] {
        let r = s
            .req(
                "GET",
                &format!("/api/v1/crates.io/proof/{}", index_name(i)),
                &[],
                b"",
            )
            .await;
        assert_eq!(r.status, 200);
    }
    // The import rounds were checkpointed: the log no longer holds them.
    let wal = data.join("state").join(MERKLE).join("wal.log");
    assert!(std::fs::metadata(&wal).unwrap().len() < 1 << 20);
    // A change after the import signs version 3.
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/1/a?wait=signed",
            None,
            b"a",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.stop().await;

    let s = Signer::start(&data).await;
    let (version, _) = s.verified_timestamp(MERKLE).await;
    assert!(version >= 3);
    assert_eq!(s.status(MERKLE).await["leaves"], LARGE + 1);
    s.stop().await;
}
