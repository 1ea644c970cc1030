//! The signer's write-ahead log (`tuf_signer::internals::wal::Wal::open`) on a file holding fuzz bytes.
//!
//! Input: a mode byte, an 8-byte little-endian checkpoint sequence number, then the log. Mode 0
//! uses the rest as the log file as is. Mode 1 reads it as chunks `[kind][u16 LE len][bytes]`
//! and frames them the way the signer does (length, CRC-32, payload), so that the fuzzer gets
//! past the checksum: kind 0 frames correctly, 1 with a wrong CRC, 2 writes the bytes raw, 3
//! writes a header announcing far more than follows.
//!
//! Checked: opening never panics and never allocates out of proportion (a huge length field
//! must not allocate its size); it either opens or returns an error. An error leaves the file
//! as it was. When it opens: the records kept follow each other, all after the checkpoint; the
//! next sequence number follows them (or the checkpoint); what was cut off is exactly a tail
//! (or, when the log ends before the checkpoint, the records it covers), and the file is now
//! the rest; opening again gives the same records with nothing cut; an
//! appended record gets the next sequence number and is read back.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tuf_merkle::{LeafContents, key_of};
use tuf_signer::change::Change;
use tuf_signer::internals::wal::{LoggedChange, Wal, WalError};

fn path() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| tuf_fuzz::scratch_dir("wal_open").join("wal.log"))
}

fn frame(out: &mut Vec<u8>, len: u32, crc: u32, payload: &[u8]) {
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

fn log_bytes(mode: u8, mut rest: &[u8]) -> Vec<u8> {
    if mode % 2 == 0 {
        return rest.to_vec();
    }
    let mut out = Vec::with_capacity(rest.len() + 64);
    while rest.len() >= 3 {
        let kind = rest[0] % 4;
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        let take = len.min(rest.len() - 3);
        let payload = &rest[3..3 + take];
        rest = &rest[3 + take..];
        let crc = crc32fast::hash(payload);
        let plen = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        match kind {
            0 => frame(&mut out, plen, crc, payload),
            1 => frame(&mut out, plen, crc ^ 1, payload),
            2 => out.extend_from_slice(payload),
            _ => frame(&mut out, u32::MAX - plen, crc, payload),
        }
    }
    out.extend_from_slice(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    if data.len() < 9 {
        return;
    }
    let mode = data[0];
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&data[1..9]);
    // Modes 2 and 3 keep the sequence number small, where the log's records usually are.
    let checkpoint_seq = if mode & 2 == 0 {
        u64::from_le_bytes(seq)
    } else {
        u64::from(seq[0])
    };
    let log = log_bytes(mode, &data[9..]);
    let path = path();
    std::fs::write(path, &log).expect("write the log");

    let opened = match Wal::open(path, checkpoint_seq) {
        Ok(o) => o,
        Err(_) => {
            let after = std::fs::read(path).expect("read the log");
            assert!(after == log, "a refused log was changed");
            return;
        }
    };
    let records = opened.records.clone();
    for pair in records.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq.wrapping_add(1),
            "records do not follow on"
        );
    }
    assert!(
        records.iter().all(|r| r.seq > checkpoint_seq),
        "a record the checkpoint covers"
    );
    let next = opened.wal.next_seq();
    match records.last() {
        Some(last) => assert_eq!(Some(next), last.seq.checked_add(1)),
        None => assert!(
            next > checkpoint_seq,
            "next sequence {next} after {checkpoint_seq}"
        ),
    }
    assert_eq!(opened.wal.last_seq(), next - 1);
    let kept = opened.wal.bytes();
    let total = log.len() as u64;
    assert!(kept + opened.truncated <= total);
    if kept + opened.truncated < total {
        // Records the checkpoint covers, at the end of a log that ends before it, are dropped.
        assert!(
            kept == 0 && records.is_empty(),
            "bytes dropped beyond the torn tail"
        );
    }
    let after = std::fs::read(path).expect("read the log");
    assert!(
        after[..] == log[..kept as usize],
        "the kept log is not a prefix of the input"
    );
    drop(opened);

    let again = Wal::open(path, checkpoint_seq).expect("a log that opened opens again");
    assert_eq!(again.truncated, 0);
    assert_eq!(again.records, records);
    assert_eq!(again.wal.next_seq(), next);
    let mut wal = again.wal;
    let change = Change {
        name: "fuzz/appended".into(),
        key: key_of("fuzz/appended"),
        old: None,
        new: LeafContents::Deleted { version: 1 },
    };
    let logged = LoggedChange {
        name: change.name.clone(),
        contents: change.new.clone(),
    };
    match wal.append(std::slice::from_ref(&change)) {
        Ok(s) => {
            assert_eq!(s, next);
            drop(wal);
            let third = Wal::open(path, checkpoint_seq).expect("opens after an append");
            let last = third.records.last().expect("the appended record");
            assert_eq!(last.seq, next);
            assert_eq!(last.changes, vec![logged]);
        }
        // The one sequence number after which nothing can be appended.
        Err(WalError::SequenceExhausted { seq, .. }) if next == u64::MAX => assert_eq!(seq, next),
        Err(e) => panic!("append after a successful open failed: {e}"),
    }
});
