//! Findings of the fuzz targets (`fuzz/`, `docs/fuzzing.md`) on the signer's readers of untrusted
//! or damaged bytes, each with the input that found it, kept as plain tests. The same inputs are
//! under `fuzz/regressions/<target>/`, which `scripts/fuzz.sh` replays through the targets.
//!
//! The fuzz inputs of `wal_open` are a mode byte, the checkpoint's sequence number (8 bytes,
//! little-endian) and then the log (mode 0: as is; odd modes: chunks the target frames); those
//! of `checkpoint_decode` a mode byte (odd: the target appends the CRC) and then the file.

#![allow(
    unsafe_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use tuf_merkle::{LeafContents, key_of};
use tuf_signer::change::Change;
use tuf_signer::internals::checkpoint::Checkpoint;
use tuf_signer::internals::wal::{Wal, WalError};
use tuf_signer::target::{self, Layout as PathLayout, PathError};

// ---------------------------------------------------------------------------------------------
// The largest single allocation made by this thread while `largest_allocation` measures.

struct Tracking;

thread_local! {
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

// SAFETY: every call goes to `System` unchanged; the thread-local only records sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static TRACKING: Tracking = Tracking;

fn note(size: usize) {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = LARGEST.try_with(|l| {
        if let Some(max) = l.get() {
            l.set(Some(max.max(size)));
        }
    });
}

/// Runs `f` and returns its result with the largest single allocation it made on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(Some(0)));
    let out = f();
    let max = LARGEST.with(|l| l.replace(None)).unwrap_or(0);
    (out, max)
}

// ---------------------------------------------------------------------------------------------
// Write-ahead log

/// One record framed as the signer writes it: length, CRC-32, JSON payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn change() -> Vec<Change> {
    vec![Change {
        name: "se/rd/serde".into(),
        key: key_of("se/rd/serde"),
        old: None,
        new: LeafContents::Deleted { version: 1 },
    }]
}

/// `wal_open`, fuzz/regressions/wal_open/log-ends-before-checkpoint: a log whose records all
/// lie below the checkpoint (here record 14 and checkpoint 20; the fuzzer's was a real log of
/// the signer against a checkpoint far ahead, as after restoring an older log from a backup).
/// The open succeeded and the next append got sequence 21, after 14 in the file: the next open
/// refused the log ("record has sequence 21, expected 15") and the signer could not restart.
/// Now the open drops the records the checkpoint covers, as `Wal::truncate` does.
#[test]
fn a_log_that_ends_before_the_checkpoint_takes_appends_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    std::fs::write(&path, frame(br#"{"seq":14}"#)).unwrap();
    let opened = Wal::open(&path, 20).unwrap();
    assert!(opened.records.is_empty(), "record 14 is the checkpoint's");
    assert_eq!(opened.wal.next_seq(), 21);
    let mut wal = opened.wal;
    assert_eq!(wal.append(&change()).unwrap(), 21);
    drop(wal);
    let again = Wal::open(&path, 20).expect("the log opens after an append");
    assert_eq!(
        again.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [21]
    );
    // The fuzzer's input, from the real log in fuzz/corpus/wal_open/signer.bin: mode 0, a
    // checkpoint at 0xEF00_0000_000D, and the signer's records 14 (a change) and 15 (a round,
    // damaged here, so cut off as a torn tail).
    let input = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions/wal_open/log-ends-before-checkpoint"),
    )
    .unwrap();
    let seq = u64::from_le_bytes(input[1..9].try_into().unwrap());
    assert_eq!(seq, 0xEF00_0000_000D);
    std::fs::write(&path, &input[9..]).unwrap();
    let mut wal = Wal::open(&path, seq).unwrap().wal;
    assert_eq!(wal.append(&change()).unwrap(), seq + 1);
    drop(wal);
    let again = Wal::open(&path, seq).expect("the log opens after an append");
    assert_eq!(
        again.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [seq + 1]
    );
}

/// `wal_open`, fuzz/regressions/wal_open/checkpoint-at-max: a checkpoint at sequence
/// 2^64 - 1 (only a damaged checkpoint can hold it) overflowed `checkpoint_seq + 1` in
/// `Wal::open`: a panic in debug builds, and in release builds a next sequence number of 0, so
/// that every record appended after it would be at or below the checkpoint and skipped on
/// replay. Now it is `WalError::SequenceExhausted`, and the log is left alone.
#[test]
fn a_checkpoint_at_the_last_sequence_number_is_refused() {
    // The fuzzer's input: mode 0x19, the checkpoint's sequence 2^64 - 1, a one-byte log "A".
    let input: &[u8] = b"\x19\xff\xff\xff\xff\xff\xff\xff\xffA";
    let seq = u64::from_le_bytes(input[1..9].try_into().unwrap());
    assert_eq!(seq, u64::MAX);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    std::fs::write(&path, &input[9..]).unwrap();
    match Wal::open(&path, seq) {
        Err(WalError::SequenceExhausted { seq: s, .. }) => assert_eq!(s, u64::MAX),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"A",
        "the refused log was changed"
    );
}

/// Found with the fix above (the target appends after every successful open): a record at
/// 2^64 - 1 in the log overflowed `record.seq + 1` in `Wal::open`, and an append at
/// 2^64 - 1 overflowed the next sequence number. Both are `WalError::SequenceExhausted` now;
/// the append writes nothing.
#[test]
fn the_last_sequence_number_is_never_written_or_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    std::fs::write(
        &path,
        frame(format!(r#"{{"seq":{}}}"#, u64::MAX).as_bytes()),
    )
    .unwrap();
    match Wal::open(&path, u64::MAX - 1) {
        Err(WalError::SequenceExhausted { seq, .. }) => assert_eq!(seq, u64::MAX),
        other => panic!("{other:?}"),
    }

    let path = dir.path().join("empty.log");
    let mut wal = Wal::open(&path, u64::MAX - 1).unwrap().wal;
    assert_eq!(wal.next_seq(), u64::MAX);
    match wal.append(&change()) {
        Err(WalError::SequenceExhausted { seq, .. }) => assert_eq!(seq, u64::MAX),
        other => panic!("{other:?}"),
    }
    assert!(wal.is_empty());
    drop(wal);
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

/// `checkpoint_decode`, fuzz/regressions/checkpoint_decode/huge-count: a checkpoint of 101
/// bytes with a valid CRC whose entry count is 0x5959_5959_5959_5959 made `Checkpoint::decode`
/// reserve room for 2^24 entries up front (1,879,048,192 bytes) before finding that the bytes
/// hold none. Now the count is checked against the bytes before anything is reserved
/// (`tuf_repo_format::leaves::decode_sequence`).
#[test]
fn a_huge_entry_count_does_not_allocate_its_size() {
    let input = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions/checkpoint_decode/huge-count"),
    )
    .unwrap();
    // Mode byte (odd: the target appends the CRC), then the file.
    assert_eq!(input[0] % 2, 1);
    let mut bytes = input[1..].to_vec();
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    assert_eq!(&bytes[..8], b"TUFCKPT1");
    assert_eq!(
        u64::from_le_bytes(bytes[24..32].try_into().unwrap()),
        0x5959_5959_5959_5959
    );
    let (result, largest) =
        largest_allocation(|| Checkpoint::decode(&bytes, Path::new("checkpoint.bin")));
    let err = result.expect_err("the count runs past the bytes");
    assert!(err.to_string().contains("claims"), "{err}");
    assert!(
        largest < 4096,
        "decoding 101 bytes allocated {largest} bytes at once"
    );

    // The same with the largest count, and with a count the bytes do hold.
    let mut max = bytes[..bytes.len() - 4].to_vec();
    max[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    max.extend_from_slice(&crc32fast::hash(&max).to_le_bytes());
    let (result, largest) =
        largest_allocation(|| Checkpoint::decode(&max, Path::new("checkpoint.bin")));
    assert!(result.is_err());
    assert!(largest < 4096, "{largest}");
}

// ---------------------------------------------------------------------------------------------
// Target paths

/// `target_path`, fuzz/regressions/target_path/empty: `target::index_path` sliced its argument
/// by byte positions, so the empty string (the fuzzer's input) and names whose first bytes are
/// not whole characters panicked. It now refuses what is not a crate name once lowercased, and
/// what it returns is always a valid index path.
#[test]
fn index_path_refuses_what_is_not_a_crate_name() {
    assert_eq!(
        target::index_path(""),
        Err(PathError::BadCrateName(String::new()))
    );
    for name in [
        "é",
        "aé",
        "ééé",
        "ab\u{301}cd",
        "日本語",
        "a/b",
        "9lives",
        "-x",
    ] {
        assert!(
            matches!(target::index_path(name), Err(PathError::BadCrateName(_))),
            "{name:?}"
        );
    }
    assert_eq!(
        target::index_path(&"a".repeat(65)),
        Err(PathError::CrateNameTooLong(65))
    );
    for (name, path) in [
        ("a", "1/a"),
        ("AB", "2/ab"),
        ("syn", "3/s/syn"),
        ("Serde", "se/rd/serde"),
        ("tokio-util", "to/ki/tokio-util"),
    ] {
        assert_eq!(target::index_path(name).as_deref(), Ok(path));
        assert_eq!(target::validate(path, PathLayout::CratesIndex), Ok(()));
    }
}
