//! Incremental checkpoints: after a base, a checkpoint writes only the leaves that changed (a
//! delta) and a head that lists the chain. A restart recovers from base + deltas + log; a delta
//! written but not yet listed (a crash before the head) is ignored and its changes replayed from
//! the log; a listed delta that is torn, missing or damaged, a damaged head, or a head without
//! its base is refused with an error that names the file, never skipped; a new base supersedes
//! a head left behind.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{MERKLE, Signer, index_name, sha256_hex};

const IMPORTED: usize = 400;

fn import(data: &Path, dir: &Path) {
    let manifest = dir.join("manifest.tsv");
    let lines: String = (0..IMPORTED)
        .map(|i| format!("{}\t{}\t{i}\n", index_name(i), sha256_hex(&i.to_le_bytes())))
        .collect();
    std::fs::write(&manifest, lines).unwrap();
    tuf_signer::import::import_manifest(&common::config(data), MERKLE, &manifest, false).unwrap();
}

async fn write_signed(s: &Signer, names: &[String]) {
    for name in names {
        let r = s
            .write(
                MERKLE,
                "PUT",
                &format!("/api/v1/crates.io/targets/{name}?wait=signed"),
                None,
                name.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| index_name(10_000 + i)).collect()
}

fn deltas(state: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("delta-")
        })
        .collect();
    out.sort();
    out
}

async fn start_error(data: &Path) -> String {
    tuf_signer::start(common::config(data))
        .await
        .err()
        .expect("refused")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_recover_and_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = data.join("state/crates.io");
    import(&data, dir.path());
    let base = std::fs::read(state.join("checkpoint.bin")).unwrap();

    // Run 1: three changes; the clean stop writes a delta after the imported base.
    let s = Signer::start(&data).await;
    write_signed(&s, &names(0..3)).await;
    s.stop().await;
    assert_eq!(std::fs::read(state.join("checkpoint.bin")).unwrap(), base);
    let head1 = std::fs::read(state.join("checkpoint.head")).unwrap();
    let d1 = deltas(&state);
    assert_eq!(d1.len(), 1);
    let delta1 = std::fs::read(&d1[0]).unwrap();
    // Three leaves, not the 403: well under a tenth of the base.
    assert!(
        delta1.len() * 10 < base.len(),
        "{} vs {}",
        delta1.len(),
        base.len()
    );
    assert!(std::fs::read(state.join("wal.log")).unwrap().is_empty());

    // Run 2: two more; the log holds them while it runs; the stop writes a second delta.
    let s = Signer::start(&data).await;
    assert_eq!(s.status(MERKLE).await["leaves"], IMPORTED + 3);
    write_signed(&s, &names(3..5)).await;
    let wal2 = std::fs::read(state.join("wal.log")).unwrap();
    assert!(!wal2.is_empty());
    let version2 = s.status(MERKLE).await["timestamp_version"]
        .as_u64()
        .unwrap();
    s.stop().await;
    let head2 = std::fs::read(state.join("checkpoint.head")).unwrap();
    let d2 = deltas(&state);
    assert_eq!(d2.len(), 2);
    let delta2 = std::fs::read(&d2[1]).unwrap();
    assert_eq!(std::fs::read(state.join("checkpoint.bin")).unwrap(), base);

    // Restart: base + two deltas.
    let s = Signer::start(&data).await;
    let status = s.status(MERKLE).await;
    assert_eq!(status["leaves"], IMPORTED + 5);
    assert!(status["timestamp_version"].as_u64().unwrap() >= version2);
    let (verified, _) = s.verified_timestamp(MERKLE).await;
    assert_eq!(verified, status["timestamp_version"].as_u64().unwrap());
    s.stop().await;
    let d3 = deltas(&state);

    // A crash after the second delta was written but before the head listed it: the head of
    // run 1, the log of run 2 (not compacted). The unlisted delta is ignored; the log replays.
    for d in &d3 {
        std::fs::remove_file(d).unwrap();
    }
    std::fs::write(&d2[0], &delta1).unwrap();
    std::fs::write(&d2[1], &delta2).unwrap();
    std::fs::write(state.join("checkpoint.head"), &head1).unwrap();
    std::fs::write(state.join("wal.log"), &wal2).unwrap();
    let s = Signer::start(&data).await;
    let status = s.status(MERKLE).await;
    assert_eq!(status["leaves"], IMPORTED + 5, "{status}");
    assert!(status["timestamp_version"].as_u64().unwrap() >= version2);
    write_signed(&s, &names(5..6)).await;
    s.stop().await;
    assert_eq!(
        Signer::start(&data).await.status(MERKLE).await["leaves"],
        IMPORTED + 6
    );

    // Damage to a listed delta or to the head is refused, naming the file.
    let restore = |state: &Path| {
        for d in deltas(state) {
            std::fs::remove_file(d).unwrap();
        }
        std::fs::write(&d2[0], &delta1).unwrap();
        std::fs::write(&d2[1], &delta2).unwrap();
        std::fs::write(state.join("checkpoint.head"), &head2).unwrap();
        std::fs::write(state.join("checkpoint.bin"), &base).unwrap();
        std::fs::write(state.join("wal.log"), b"").unwrap();
    };
    let name2 = d2[1].file_name().unwrap().to_string_lossy().into_owned();
    // Torn: the delta cut short.
    restore(&state);
    std::fs::write(&d2[1], &delta2[..delta2.len() / 2]).unwrap();
    let e = start_error(&data).await;
    assert!(
        e.contains(&name2) && e.contains("where checkpoint.head says"),
        "{e}"
    );
    // Missing.
    restore(&state);
    std::fs::remove_file(&d2[1]).unwrap();
    let e = start_error(&data).await;
    assert!(e.contains(&name2) && e.contains("missing"), "{e}");
    // A flipped bit: the checksum.
    restore(&state);
    let mut flipped = delta2.clone();
    flipped[60] ^= 1;
    std::fs::write(&d2[1], &flipped).unwrap();
    let e = start_error(&data).await;
    assert!(e.contains(&name2) && e.contains("checksum mismatch"), "{e}");
    // Well formed, with its checksum, but not chained to its predecessor.
    restore(&state);
    let mut relinked = delta2.clone();
    relinked[16..24].copy_from_slice(&999u64.to_le_bytes());
    let body = relinked.len() - 4;
    let crc = crc32fast::hash(&relinked[..body]);
    relinked[body..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&d2[1], &relinked).unwrap();
    let e = start_error(&data).await;
    assert!(e.contains("the chain needs"), "{e}");
    // The head damaged.
    restore(&state);
    let mut head = head2.clone();
    let at = head.len() - 6;
    head[at] ^= 0x40;
    std::fs::write(state.join("checkpoint.head"), &head).unwrap();
    let e = start_error(&data).await;
    assert!(
        e.contains("checkpoint.head") && e.contains("checksum mismatch"),
        "{e}"
    );
    // The base gone, the head still there.
    restore(&state);
    std::fs::remove_file(state.join("checkpoint.bin")).unwrap();
    let e = start_error(&data).await;
    assert!(e.contains("checkpoint.bin") && e.contains("missing"), "{e}");
    // The head gone: the base alone is behind what was published, and that is refused too.
    restore(&state);
    std::fs::remove_file(state.join("checkpoint.head")).unwrap();
    let e = start_error(&data).await;
    assert!(
        e.contains("acknowledged changes are missing") || e.contains("only knows"),
        "{e}"
    );
}

/// Enough changes since the base make the next checkpoint a base again, which removes the head
/// and the deltas; a head left behind by a crash before its removal is superseded by the base.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_base_supersedes_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = data.join("state/crates.io");
    import(&data, dir.path());
    let base = std::fs::read(state.join("checkpoint.bin")).unwrap();
    let s = Signer::start(&data).await;
    write_signed(&s, &names(0..2)).await;
    s.stop().await;
    let head = std::fs::read(state.join("checkpoint.head")).unwrap();
    assert_eq!(deltas(&state).len(), 1);

    // More than a quarter of the base's bytes in changes (half its leaves, as new names; a
    // base also holds the tree's hashes): the next checkpoint is a base.
    let s = Signer::start(&data).await;
    for start in (1_000..1_000 + IMPORTED / 2).step_by(10) {
        let body = common::upserts(start..(start + 10).min(1_000 + IMPORTED / 2));
        let r = s
            .write(
                MERKLE,
                "POST",
                "/api/v1/crates.io/batch",
                Some("application/json"),
                &body,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    s.stop().await;
    assert_ne!(std::fs::read(state.join("checkpoint.bin")).unwrap(), base);
    assert!(!state.join("checkpoint.head").exists());
    assert!(deltas(&state).is_empty());
    let leaves = IMPORTED + 2 + IMPORTED / 2;

    // A crash after the base was renamed into place but before the head was removed.
    std::fs::write(state.join("checkpoint.head"), &head).unwrap();
    let s = Signer::start(&data).await;
    assert_eq!(s.status(MERKLE).await["leaves"], leaves);
    s.stop().await;
}
