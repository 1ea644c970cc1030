//! The binary encoding of leaf entries: a role's leaves, as the signer's checkpoint holds them
//! and as leaf snapshots for mirrors will carry them.
//!
//! Little-endian, no padding:
//!
//! ```text
//! entry    = [32] key | u64 version | u64 length | [32] sha256 | u16 name_len | name_len × u8 name
//! sequence = u64 count | count × entry
//! ```
//!
//! A tombstone has `length` `u64::MAX` (a length D2 cannot hold) and an all-zero `sha256`. A
//! name is UTF-8; length 0 means no name (a role that keeps no names, or a leaf restored without
//! one), so an empty name and no name are one thing. Every entry takes at least
//! [`ENTRY_FIXED_LEN`] bytes.
//!
//! Properties kept:
//! - **Byte identity.** [`encode_entry`] and [`encode_sequence`] write exactly what the signer's
//!   checkpoint has always written for its entries and its `count × entry` part, so existing
//!   checkpoints read back unchanged (`tests/fixtures/` holds one the signer wrote).
//! - **One encoding per leaf.** The decoder refuses what the encoder never writes: contents that
//!   D2 refuses (version 0, a version or length above 2^63 - 1), a tombstone with a hash, a name
//!   that is not UTF-8. The encoder refuses a name too long for its `u16` length instead of
//!   cutting it.
//! - **Bounded work on untrusted input.** A count is checked against the bytes left before
//!   anything is allocated for it (each entry needs [`ENTRY_FIXED_LEN`] bytes), and a name is
//!   only allocated once its bytes are there, so decoding allocates at most in proportion to
//!   the input's length, whatever the input claims.
//! - The codec checks entries one by one; whether keys are sorted or distinct, and whether a
//!   name hashes to its key ([`LeafEntry::name_matches_key`]), is for the reader to check where
//!   the input is not trusted (a tree build refuses repeated keys by itself).

use tuf_merkle::contents::ContentsError;
use tuf_merkle::{Digest, LeafContents, key_of};

/// The length that marks a tombstone.
const TOMBSTONE: u64 = u64::MAX;

/// The bytes of an entry besides its name: key, version, length, SHA-256 and name length.
pub const ENTRY_FIXED_LEN: usize = 32 + 8 + 8 + 32 + 2;

/// The longest name an entry holds, in bytes (its length is a `u16`).
pub const MAX_NAME_LEN: usize = u16::MAX as usize;

/// One leaf: its key, its contents and, where known, its target name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafEntry {
    /// `H(name)`.
    pub key: Digest,
    /// The leaf contents.
    pub contents: LeafContents,
    /// The target name, where known. `Some("")` is written as no name and read back as `None`.
    pub name: Option<String>,
}

impl LeafEntry {
    /// Whether the entry has no name, or a name whose hash is its key. Readers of untrusted
    /// entries check it: the tree covers keys only, so its root cannot vouch for a name.
    pub fn name_matches_key(&self) -> bool {
        self.name.as_deref().is_none_or(|n| key_of(n) == self.key)
    }

    /// The number of bytes [`encode_entry`] writes for this entry.
    pub fn encoded_len(&self) -> usize {
        ENTRY_FIXED_LEN + self.name.as_deref().map_or(0, str::len)
    }
}

/// Why an entry cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The input ends inside the entry.
    #[error("the entry is cut short: {needed} more bytes needed, {available} left")]
    Truncated {
        /// Bytes the next field needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// Contents D2 refuses: version 0, or a version or length above 2^63 - 1.
    #[error("leaf contents: {0}")]
    Contents(#[source] ContentsError),
    /// A tombstone whose SHA-256 is not all zeros.
    #[error("a tombstone carries a SHA-256")]
    TombstoneHash,
    /// A name that is not UTF-8.
    #[error("the name is not UTF-8")]
    NameNotUtf8,
    /// A name longer than [`MAX_NAME_LEN`] bytes, which the `u16` length cannot hold.
    #[error("the name is {len} bytes long; an entry holds at most {MAX_NAME_LEN}")]
    NameTooLong {
        /// The name's length in bytes.
        len: usize,
    },
}

/// Why a sequence of entries cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SequenceError {
    /// The input ends before the count.
    #[error("the entry count is cut short: 8 bytes needed, {available} left")]
    TruncatedCount {
        /// Bytes left in the input.
        available: usize,
    },
    /// A count of more entries than the bytes left could hold.
    #[error(
        "the sequence claims {count} entries but the {available} bytes left hold at most {room}"
    )]
    CountTooLarge {
        /// The count read.
        count: u64,
        /// Bytes left after the count.
        available: usize,
        /// The most entries those bytes could hold.
        room: usize,
    },
    /// An entry that cannot be written or read.
    #[error("entry {index}: {source}")]
    Entry {
        /// The entry's position in the sequence, from 0.
        index: u64,
        /// What is wrong with it.
        #[source]
        source: EntryError,
    },
}

/// Appends `entry`'s encoding to `out`. Nothing is appended if it fails.
pub fn encode_entry(entry: &LeafEntry, out: &mut Vec<u8>) -> Result<(), EntryError> {
    let name = entry.name.as_deref().unwrap_or("").as_bytes();
    let name_len =
        u16::try_from(name.len()).map_err(|_| EntryError::NameTooLong { len: name.len() })?;
    let (version, length, sha256) = match entry.contents {
        LeafContents::Present {
            version,
            length,
            sha256,
        } => (version, length, sha256.0),
        LeafContents::Deleted { version } => (version, TOMBSTONE, [0; 32]),
    };
    out.reserve(ENTRY_FIXED_LEN + name.len());
    out.extend_from_slice(&entry.key.0);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&sha256);
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(name);
    Ok(())
}

/// Reads one entry from the front of `input` and advances `input` past it. On an error `input`
/// is left where it was.
pub fn decode_entry(input: &mut &[u8]) -> Result<LeafEntry, EntryError> {
    decode_entry_with(input, true)
}

/// [`decode_entry`], keeping the name only if `keep_names` (it is checked either way): a
/// reader that needs only keys and contents (a merkle role's tree) allocates nothing per leaf.
pub fn decode_entry_with(input: &mut &[u8], keep_names: bool) -> Result<LeafEntry, EntryError> {
    let mut r = Reader { bytes: input };
    let key = Digest(r.array()?);
    let version = r.u64()?;
    let length = r.u64()?;
    let sha256 = r.array()?;
    let name_len = r.u16()?;
    let name = r.take(usize::from(name_len))?;
    let contents = if length == TOMBSTONE {
        if sha256 != [0; 32] {
            return Err(EntryError::TombstoneHash);
        }
        LeafContents::deleted(version)
    } else {
        LeafContents::present(version, length, Digest(sha256))
    }
    .map_err(EntryError::Contents)?;
    let name = if name.is_empty() {
        None
    } else {
        let name = std::str::from_utf8(name).map_err(|_| EntryError::NameNotUtf8)?;
        keep_names.then(|| name.to_owned())
    };
    *input = r.bytes;
    Ok(LeafEntry {
        key,
        contents,
        name,
    })
}

/// Appends the sequence `u64 count | count × entry` to `out`. Nothing is appended if an entry
/// cannot be written.
pub fn encode_sequence(entries: &[LeafEntry], out: &mut Vec<u8>) -> Result<(), SequenceError> {
    let start = out.len();
    out.reserve(8 + entries.iter().map(LeafEntry::encoded_len).sum::<usize>());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (index, entry) in entries.iter().enumerate() {
        if let Err(source) = encode_entry(entry, out) {
            out.truncate(start);
            return Err(SequenceError::Entry {
                index: index as u64,
                source,
            });
        }
    }
    Ok(())
}

/// Reads a sequence from the front of `input` and advances `input` past it; what follows is
/// the caller's (a checkpoint's checksum, or an error if nothing may follow). On an error
/// `input` is left where it was.
pub fn decode_sequence(input: &mut &[u8]) -> Result<Vec<LeafEntry>, SequenceError> {
    decode_sequence_with(input, true)
}

/// [`decode_sequence`], keeping names only if `keep_names` ([`decode_entry_with`]).
pub fn decode_sequence_with(
    input: &mut &[u8],
    keep_names: bool,
) -> Result<Vec<LeafEntry>, SequenceError> {
    let mut r = Reader { bytes: input };
    let count = r.u64().map_err(|_| SequenceError::TruncatedCount {
        available: input.len(),
    })?;
    let mut rest = r.bytes;
    // Before allocating: a count the input cannot hold is refused, so the vector below is never
    // larger than the input justifies.
    let room = rest.len() / ENTRY_FIXED_LEN;
    let count_fits = usize::try_from(count).ok().filter(|c| *c <= room);
    let Some(count) = count_fits else {
        return Err(SequenceError::CountTooLarge {
            count,
            available: rest.len(),
            room,
        });
    };
    let mut entries = Vec::with_capacity(count);
    for index in 0..count {
        let entry =
            decode_entry_with(&mut rest, keep_names).map_err(|source| SequenceError::Entry {
                index: index as u64,
                source,
            })?;
        entries.push(entry);
    }
    *input = rest;
    Ok(entries)
}

/// Reads fixed-size fields off the front of a slice.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EntryError> {
        let Some((head, tail)) = self.bytes.split_at_checked(n) else {
            return Err(EntryError::Truncated {
                needed: n,
                available: self.bytes.len(),
            });
        };
        self.bytes = tail;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], EntryError> {
        let bytes = self.take(N)?;
        // `take` returned exactly N bytes.
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn array(&mut self) -> Result<[u8; 32], EntryError> {
        self.fixed()
    }

    fn u64(&mut self) -> Result<u64, EntryError> {
        self.fixed().map(u64::from_le_bytes)
    }

    fn u16(&mut self) -> Result<u16, EntryError> {
        self.fixed().map(u16::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tuf_merkle::contents::MAX_INTEGER;
    use tuf_merkle::hash::sha256;

    fn entries() -> Vec<LeafEntry> {
        vec![
            LeafEntry {
                key: key_of("a"),
                contents: LeafContents::for_bytes(2, b"x").unwrap(),
                name: Some("a".into()),
            },
            LeafEntry {
                key: key_of("b"),
                contents: LeafContents::deleted(3).unwrap(),
                name: None,
            },
            LeafEntry {
                key: key_of("日本/ü"),
                contents: LeafContents::present(MAX_INTEGER, MAX_INTEGER, sha256(b"y")).unwrap(),
                name: Some("日本/ü".into()),
            },
        ]
    }

    /// The checkpoint's entry encoding as `tuf-signer` writes it today (`Checkpoint::encode`,
    /// the part between the header and the checksum), for comparison.
    fn checkpoint_encoding(entries: &[LeafEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for e in entries {
            out.extend_from_slice(&e.key.0);
            let (version, length, sha) = match e.contents {
                LeafContents::Present {
                    version,
                    length,
                    sha256,
                } => (version, length, sha256.0),
                LeafContents::Deleted { version } => (version, TOMBSTONE, [0; 32]),
            };
            out.extend_from_slice(&version.to_le_bytes());
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&sha);
            let name = e.name.as_deref().unwrap_or("").as_bytes();
            let len = u16::try_from(name.len()).unwrap_or(0);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&name[..usize::from(len)]);
        }
        out
    }

    #[test]
    fn encodes_as_the_checkpoint_did_and_round_trips() {
        let e = entries();
        let mut out = Vec::new();
        encode_sequence(&e, &mut out).unwrap();
        assert_eq!(out, checkpoint_encoding(&e));
        assert_eq!(
            out.len(),
            8 + e.iter().map(LeafEntry::encoded_len).sum::<usize>()
        );
        let mut input = &out[..];
        assert_eq!(decode_sequence(&mut input).unwrap(), e);
        assert!(input.is_empty());
        // What follows a sequence is left to the caller.
        out.extend_from_slice(b"crc!");
        let mut input = &out[..];
        assert_eq!(decode_sequence(&mut input).unwrap(), e);
        assert_eq!(input, b"crc!");
        // One entry on its own.
        let mut one = Vec::new();
        encode_entry(&e[1], &mut one).unwrap();
        assert_eq!(one.len(), ENTRY_FIXED_LEN);
        assert_eq!(&one[72..80], &[0; 8], "a tombstone's hash is zeros");
        let mut input = &one[..];
        assert_eq!(decode_entry(&mut input).unwrap(), e[1]);
        assert!(input.is_empty());
        // The empty sequence.
        let mut out = Vec::new();
        encode_sequence(&[], &mut out).unwrap();
        assert_eq!(out, [0; 8]);
        assert_eq!(decode_sequence(&mut &out[..]).unwrap(), []);
    }

    #[test]
    fn an_empty_name_is_no_name() {
        let mut e = entries().remove(0);
        e.name = Some(String::new());
        let mut out = Vec::new();
        encode_entry(&e, &mut out).unwrap();
        assert_eq!(out, checkpoint_encoding(&[e.clone()])[8..]);
        assert_eq!(decode_entry(&mut &out[..]).unwrap().name, None);
    }

    #[test]
    fn names_longer_than_a_u16_are_refused_not_cut() {
        let mut e = entries().remove(0);
        e.name = Some("n".repeat(MAX_NAME_LEN));
        let mut out = Vec::new();
        encode_entry(&e, &mut out).unwrap();
        assert_eq!(decode_entry(&mut &out[..]).unwrap(), e);
        e.name = Some("n".repeat(MAX_NAME_LEN + 1));
        let mut out = b"before".to_vec();
        assert_eq!(
            encode_entry(&e, &mut out),
            Err(EntryError::NameTooLong {
                len: MAX_NAME_LEN + 1
            })
        );
        let mut all = entries();
        all.push(e);
        assert_eq!(
            encode_sequence(&all, &mut out),
            Err(SequenceError::Entry {
                index: 3,
                source: EntryError::NameTooLong {
                    len: MAX_NAME_LEN + 1
                }
            })
        );
        assert_eq!(out, b"before", "nothing is appended on an error");
    }

    fn encoded() -> Vec<u8> {
        let mut out = Vec::new();
        encode_sequence(&entries(), &mut out).unwrap();
        out
    }

    /// Decodes `bytes` as a sequence, checking that the input is left alone on an error.
    fn decode(bytes: &[u8]) -> Result<Vec<LeafEntry>, SequenceError> {
        let mut input = bytes;
        let r = decode_sequence(&mut input);
        if r.is_err() {
            assert_eq!(input.len(), bytes.len());
        }
        r
    }

    #[test]
    fn every_cut_is_refused() {
        let bytes = encoded();
        for cut in 0..bytes.len() {
            let e = decode(&bytes[..cut]).unwrap_err();
            match e {
                SequenceError::TruncatedCount { available } => {
                    assert!(cut < 8);
                    assert_eq!(available, cut);
                }
                // A cut sequence either cannot hold its count or ends inside an entry.
                SequenceError::CountTooLarge { count: 3, .. }
                | SequenceError::Entry {
                    source: EntryError::Truncated { .. },
                    ..
                } => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn counts_beyond_the_input_are_refused_before_allocating() {
        let mut bytes = encoded();
        for count in [4, 1 << 40, u64::MAX] {
            bytes[..8].copy_from_slice(&count.to_le_bytes());
            assert_eq!(
                decode(&bytes),
                Err(SequenceError::CountTooLarge {
                    count,
                    available: bytes.len() - 8,
                    room: (bytes.len() - 8) / ENTRY_FIXED_LEN
                })
            );
        }
        // A count the bytes could hold by size, whose entries are not there: refused at the
        // first missing one, with what was allocated bounded by the input.
        let mut bytes = vec![0; 8 + 3 * ENTRY_FIXED_LEN];
        bytes[..8].copy_from_slice(&3u64.to_le_bytes());
        // Each zero entry has version 0.
        assert_eq!(
            decode(&bytes),
            Err(SequenceError::Entry {
                index: 0,
                source: EntryError::Contents(ContentsError::ZeroVersion)
            })
        );
        // A name length past the end.
        let mut one = Vec::new();
        encode_entry(&entries()[0], &mut one).unwrap();
        one.truncate(ENTRY_FIXED_LEN);
        one[ENTRY_FIXED_LEN - 2..].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(
            decode_entry(&mut &one[..]),
            Err(EntryError::Truncated {
                needed: MAX_NAME_LEN,
                available: 0
            })
        );
    }

    /// Encodes `entry` and lets `f` damage the bytes (offsets within the entry).
    fn damaged(f: impl FnOnce(&mut Vec<u8>)) -> Result<LeafEntry, EntryError> {
        let mut out = Vec::new();
        encode_entry(&entries()[0], &mut out).unwrap();
        f(&mut out);
        let mut input = &out[..];
        let r = decode_entry(&mut input);
        if r.is_err() {
            assert_eq!(input.len(), out.len(), "input left alone on an error");
        }
        r
    }

    #[test]
    fn refuses_what_the_encoder_never_writes() {
        let version = 32..40;
        let length = 40..48;
        let sha = 48..80;
        let set = |out: &mut Vec<u8>, at: std::ops::Range<usize>, v: u64| {
            out[at].copy_from_slice(&v.to_le_bytes());
        };
        assert_eq!(
            damaged(|o| set(o, version.clone(), 0)),
            Err(EntryError::Contents(ContentsError::ZeroVersion))
        );
        assert!(matches!(
            damaged(|o| set(o, version.clone(), MAX_INTEGER + 1)),
            Err(EntryError::Contents(ContentsError::TooLarge {
                field: "version",
                ..
            }))
        ));
        for bad in [MAX_INTEGER + 1, u64::MAX - 1] {
            assert!(matches!(
                damaged(|o| set(o, length.clone(), bad)),
                Err(EntryError::Contents(ContentsError::TooLarge {
                    field: "length",
                    ..
                }))
            ));
        }
        // A tombstone keeps no hash.
        assert_eq!(
            damaged(|o| set(o, length.clone(), u64::MAX)),
            Err(EntryError::TombstoneHash)
        );
        let tomb = damaged(|o| {
            set(o, length.clone(), u64::MAX);
            o[sha.clone()].fill(0);
        })
        .unwrap();
        assert_eq!(tomb.contents, LeafContents::Deleted { version: 2 });
        assert_eq!(
            damaged(|o| {
                let last = o.len() - 1;
                o[last] = 0xff;
            }),
            Err(EntryError::NameNotUtf8)
        );
    }

    #[test]
    fn names_are_checked_against_keys_on_request() {
        let mut e = entries();
        assert!(e.iter().all(LeafEntry::name_matches_key));
        e[0].name = Some("not a".into());
        assert!(!e[0].name_matches_key());
    }

    #[test]
    fn errors_say_where_and_why() {
        let mut bytes = encoded();
        // The third entry's version.
        let third = 8 + entries()[0].encoded_len() + entries()[1].encoded_len();
        bytes[third + 32..third + 40].copy_from_slice(&0u64.to_le_bytes());
        let e = decode(&bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "entry 2: leaf contents: version must be at least 1"
        );
    }
}
