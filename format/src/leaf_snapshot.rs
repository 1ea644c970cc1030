//! Leaf snapshots (`leaf-snapshots/V.leaves.gz`): every leaf of a role at timestamp version
//! `V`, so that a mirror or an auditor can start at `V` by checking one recomputed root
//! against the signed timestamp instead of replaying every change record from version 1
//! (design D9; `docs/pouf.md` §9).
//!
//! A leaf snapshot is one gzip member (RFC 1952) whose decompressed bytes, the **payload**, are
//! (little-endian, no padding):
//!
//! ```text
//! payload = [8] magic "TUFLEAF\0" | u32 format (1) | u16 role_len | role_len × u8 role
//!         | u64 timestamp_version | [32] merkle_root | sequence
//! ```
//!
//! where `sequence` is [`leaves`](crate::leaves)' `u64 count | count × entry`, in strictly
//! ascending key order (keys compared as bytes), and nothing follows it. The gzip header has
//! modification time 0 and no file name, comment or extra field.
//!
//! Properties kept:
//! - **One payload per snapshot.** The decoder refuses what the encoder never writes: another
//!   magic or format, an empty or non-UTF-8 role, version 0, keys out of order or repeated, a
//!   name that does not hash to its key, bytes after the sequence, a gzip header with a name,
//!   comment, extra field or time, bytes after the gzip member. (The deflate stream itself may
//!   be written many ways; the payload is the canonical form, and what the tests compare.)
//! - **Bounded work on untrusted input.** Decompression stops one byte past the caller's limit
//!   and refuses the file, so a small file cannot expand into an unbounded allocation; the
//!   sequence is then decoded with [`leaves`](crate::leaves)' own bounds.
//! - **The header is not trusted.** [`LeafSnapshot::verify`] checks the role and version against
//!   what the reader asked for, the header's root against the root the signed timestamp `V`
//!   carries, and the root recomputed from the leaves against both, before the leaves are used.

use std::io::{Read as _, Write as _};

use flate2::{Compression, GzBuilder};
use tuf_merkle::{Digest, Tree};

use crate::leaves::{self, LeafEntry, SequenceError};

/// The first bytes of every payload.
pub const MAGIC: [u8; 8] = *b"TUFLEAF\0";

/// The payload format this module writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Every leaf of a role at one timestamp version, with the root that version signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSnapshot {
    /// The role the leaves are of.
    pub role: String,
    /// The timestamp version whose tree this is.
    pub timestamp_version: u64,
    /// The `merkle_root` that timestamp signed, as the writer claims it (see
    /// [`LeafSnapshot::verify`]).
    pub merkle_root: Digest,
    /// The leaves, in strictly ascending key order.
    pub entries: Vec<LeafEntry>,
}

/// Why a leaf snapshot cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The role name is empty.
    #[error("the role name is empty")]
    EmptyRole,
    /// The role name is longer than its `u16` length can say.
    #[error("the role name is {len} bytes long; at most 65535 fit")]
    RoleTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Timestamp version 0, which no timestamp has.
    #[error("timestamp version 0 does not exist")]
    ZeroVersion,
    /// Entry `index`'s key is not above the one before it.
    #[error("entry {index}: keys are not in strictly ascending order")]
    KeysNotAscending {
        /// The entry's position, from 0.
        index: u64,
    },
    /// Entry `index` has a name that does not hash to its key.
    #[error("entry {index}: the name does not hash to the key")]
    NameMismatch {
        /// The entry's position, from 0.
        index: u64,
    },
    /// An entry the leaf encoding cannot hold.
    #[error(transparent)]
    Sequence(SequenceError),
    /// The compressor failed (writing into memory; not expected).
    #[error("compressing failed: {0}")]
    Compress(String),
}

/// Why bytes are not a leaf snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a valid gzip member (bad header, corrupt deflate data, wrong CRC or length).
    #[error("not a valid gzip file: {0}")]
    Gzip(String),
    /// The gzip header carries a name, comment, extra field or time, which the encoder never
    /// writes.
    #[error("the gzip header carries a file name, comment, extra field or time")]
    GzipHeader,
    /// Bytes after the gzip member.
    #[error("{bytes} bytes follow the gzip member")]
    TrailingGzip {
        /// How many.
        bytes: usize,
    },
    /// The payload is larger than the caller allows (a decompression bomb, or a limit too small
    /// for the role).
    #[error("the snapshot decompresses to more than {limit} bytes")]
    TooLarge {
        /// The caller's limit.
        limit: usize,
    },
    /// The payload ends inside its header.
    #[error("the payload ends inside its header")]
    TruncatedHeader,
    /// The payload does not start with [`MAGIC`].
    #[error("not a leaf snapshot (wrong magic)")]
    BadMagic,
    /// A format other than [`FORMAT_VERSION`].
    #[error("leaf snapshot format {0} is not supported (this reader knows {FORMAT_VERSION})")]
    UnsupportedFormat(u32),
    /// An empty role name.
    #[error("the role name is empty")]
    EmptyRole,
    /// A role name that is not UTF-8.
    #[error("the role name is not UTF-8")]
    RoleNotUtf8,
    /// Timestamp version 0.
    #[error("timestamp version 0 does not exist")]
    ZeroVersion,
    /// The leaf sequence is malformed.
    #[error("leaves: {0}")]
    Sequence(#[source] SequenceError),
    /// Entry `index`'s key is not above the one before it (out of order or repeated).
    #[error("entry {index}: keys are not in strictly ascending order")]
    KeysNotAscending {
        /// The entry's position, from 0.
        index: u64,
    },
    /// Entry `index` has a name that does not hash to its key.
    #[error("entry {index}: the name does not hash to the key")]
    NameMismatch {
        /// The entry's position, from 0.
        index: u64,
    },
    /// Bytes after the leaf sequence.
    #[error("{bytes} bytes follow the leaves")]
    TrailingPayload {
        /// How many.
        bytes: usize,
    },
}

/// Why a decoded leaf snapshot is not the tree a signed timestamp vouches for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The snapshot is of another role.
    #[error("the snapshot is of role {found:?}, not {expected:?}")]
    WrongRole {
        /// The role asked for.
        expected: String,
        /// The role in the header.
        found: String,
    },
    /// The snapshot is of another timestamp version.
    #[error("the snapshot is of timestamp version {found}, not {expected}")]
    WrongVersion {
        /// The version asked for.
        expected: u64,
        /// The version in the header.
        found: u64,
    },
    /// The header's root is not the root the signed timestamp carries.
    #[error("the snapshot's header names root {header}; the signed timestamp carries {signed}")]
    HeaderRoot {
        /// The header's root.
        header: Digest,
        /// The signed `merkle_root`.
        signed: Digest,
    },
    /// The leaves do not make a tree (cannot happen after [`decode`], which refuses repeated
    /// keys; kept for snapshots built by hand).
    #[error("the leaves do not make a tree: {0}")]
    Tree(#[source] tuf_merkle::tree::TreeError),
    /// The root recomputed from the leaves is not the signed root.
    #[error("the leaves recompute to root {computed}; the signed timestamp carries {signed}")]
    RootMismatch {
        /// The recomputed root.
        computed: Digest,
        /// The signed `merkle_root`.
        signed: Digest,
    },
}

/// Checks what the decoder also checks, so that the encoder never writes what the decoder
/// refuses: keys strictly ascending and names matching their keys.
fn check_entries(entries: &[LeafEntry]) -> Result<(), (u64, bool)> {
    for (i, e) in entries.iter().enumerate() {
        if i > 0 && entries[i - 1].key.0 >= e.key.0 {
            return Err((i as u64, true));
        }
        if !e.name_matches_key() {
            return Err((i as u64, false));
        }
    }
    Ok(())
}

impl LeafSnapshot {
    /// The payload (uncompressed) as §9 of `docs/pouf.md` writes it.
    pub fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
        if self.role.is_empty() {
            return Err(EncodeError::EmptyRole);
        }
        let role_len = u16::try_from(self.role.len()).map_err(|_| EncodeError::RoleTooLong {
            len: self.role.len(),
        })?;
        if self.timestamp_version == 0 {
            return Err(EncodeError::ZeroVersion);
        }
        check_entries(&self.entries).map_err(|(index, order)| {
            if order {
                EncodeError::KeysNotAscending { index }
            } else {
                EncodeError::NameMismatch { index }
            }
        })?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&role_len.to_le_bytes());
        out.extend_from_slice(self.role.as_bytes());
        out.extend_from_slice(&self.timestamp_version.to_le_bytes());
        out.extend_from_slice(&self.merkle_root.0);
        leaves::encode_sequence(&self.entries, &mut out).map_err(EncodeError::Sequence)?;
        Ok(out)
    }

    /// The published file: the payload as one gzip member with a fixed header (time 0, no
    /// name), so the same leaves always give the same file with the same compressor.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let payload = self.encode_payload()?;
        let mut gz = GzBuilder::new().mtime(0).write(
            Vec::with_capacity(payload.len() / 2),
            Compression::default(),
        );
        gz.write_all(&payload)
            .map_err(|e| EncodeError::Compress(e.to_string()))?;
        gz.finish()
            .map_err(|e| EncodeError::Compress(e.to_string()))
    }

    /// Reads a payload (uncompressed), refusing everything the encoder never writes.
    pub fn decode_payload(payload: &[u8]) -> Result<LeafSnapshot, DecodeError> {
        let mut rest = payload;
        let mut take = |n: usize| -> Result<&[u8], DecodeError> {
            let (head, tail) = rest
                .split_at_checked(n)
                .ok_or(DecodeError::TruncatedHeader)?;
            rest = tail;
            Ok(head)
        };
        if take(8)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let format = u32::from_le_bytes(fixed(take(4)?));
        if format != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedFormat(format));
        }
        let role_len = u16::from_le_bytes(fixed(take(2)?));
        let role = take(usize::from(role_len))?;
        if role.is_empty() {
            return Err(DecodeError::EmptyRole);
        }
        let role = std::str::from_utf8(role)
            .map_err(|_| DecodeError::RoleNotUtf8)?
            .to_owned();
        let timestamp_version = u64::from_le_bytes(fixed(take(8)?));
        if timestamp_version == 0 {
            return Err(DecodeError::ZeroVersion);
        }
        let merkle_root = Digest(fixed(take(32)?));
        let entries = leaves::decode_sequence(&mut rest).map_err(DecodeError::Sequence)?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingPayload { bytes: rest.len() });
        }
        check_entries(&entries).map_err(|(index, order)| {
            if order {
                DecodeError::KeysNotAscending { index }
            } else {
                DecodeError::NameMismatch { index }
            }
        })?;
        Ok(LeafSnapshot {
            role,
            timestamp_version,
            merkle_root,
            entries,
        })
    }

    /// Checks the snapshot against what a reader trusts: the role and version it asked for,
    /// and the `merkle_root` of the signed timestamp of that version. Returns the tree, whose
    /// root is that signed root.
    pub fn verify(
        &self,
        role: &str,
        timestamp_version: u64,
        signed_root: &Digest,
    ) -> Result<Tree, VerifyError> {
        if self.role != role {
            return Err(VerifyError::WrongRole {
                expected: role.to_owned(),
                found: self.role.clone(),
            });
        }
        if self.timestamp_version != timestamp_version {
            return Err(VerifyError::WrongVersion {
                expected: timestamp_version,
                found: self.timestamp_version,
            });
        }
        if self.merkle_root != *signed_root {
            return Err(VerifyError::HeaderRoot {
                header: self.merkle_root,
                signed: *signed_root,
            });
        }
        let tree = Tree::from_leaves(self.entries.iter().map(|e| (e.key, e.contents)))
            .map_err(VerifyError::Tree)?;
        let computed = tree.root();
        if computed != *signed_root {
            return Err(VerifyError::RootMismatch {
                computed,
                signed: *signed_root,
            });
        }
        Ok(tree)
    }
}

/// Decompresses and decodes a published leaf snapshot, refusing one whose payload is larger
/// than `max_payload` bytes before holding more than `max_payload + 1` of it.
pub fn decode(file: &[u8], max_payload: usize) -> Result<LeafSnapshot, DecodeError> {
    let mut gz = flate2::bufread::GzDecoder::new(file);
    let mut payload = Vec::new();
    // One byte past the limit tells "at the limit" from "over it" without reading further.
    let limit = u64::try_from(max_payload)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    (&mut gz)
        .take(limit)
        .read_to_end(&mut payload)
        .map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if payload.len() > max_payload {
        return Err(DecodeError::TooLarge { limit: max_payload });
    }
    let header = gz
        .header()
        .ok_or_else(|| DecodeError::Gzip("no gzip header".into()))?;
    if header.filename().is_some()
        || header.comment().is_some()
        || header.extra().is_some()
        || header.mtime() != 0
    {
        return Err(DecodeError::GzipHeader);
    }
    // The decoder consumed exactly the member (header, deflate data, trailer); a second member
    // or anything else after it is refused rather than ignored, so the file has one reading.
    let left = gz.into_inner().len();
    if left != 0 {
        return Err(DecodeError::TrailingGzip { bytes: left });
    }
    LeafSnapshot::decode_payload(&payload)
}

/// `leaf-snapshots/latest.json`: which leaf snapshot is the newest (a head, replaced each time
/// the signer publishes a snapshot). It is a hint, not a trust anchor: it carries no signature,
/// and a reader trusts the snapshot it names only after [`LeafSnapshot::verify`]. The length and
/// hash let a reader refuse a swapped file before decompressing it.
///
/// Serialized as compact JSON with the keys in this order:
/// `{"timestamp_version":V,"length":L,"sha256":"…"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatestPointer {
    /// The snapshot's timestamp version (`leaf-snapshots/V.leaves.gz`).
    pub timestamp_version: u64,
    /// The length of the file in bytes.
    pub length: u64,
    /// The SHA-256 of the file.
    #[serde(with = "crate::hex_digest")]
    pub sha256: Digest,
}

/// The largest `latest.json` a reader needs to read (a few dozen bytes in practice).
pub const MAX_POINTER_BYTES: u64 = 1024;

impl LatestPointer {
    /// The pointer to `file`, the published bytes of the snapshot of `timestamp_version`.
    pub fn to(timestamp_version: u64, file: &[u8]) -> Self {
        LatestPointer {
            timestamp_version,
            length: file.len() as u64,
            sha256: tuf_merkle::hash::sha256(file),
        }
    }

    /// The published bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Three plain fields: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a published pointer; version 0 is refused (no snapshot has it).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let p: LatestPointer = serde_json::from_slice(bytes)?;
        if p.timestamp_version == 0 {
            return Err(serde::de::Error::custom("timestamp_version 0"));
        }
        Ok(p)
    }

    /// Whether `file` is the file this pointer names (length and SHA-256).
    pub fn matches(&self, file: &[u8]) -> bool {
        file.len() as u64 == self.length && tuf_merkle::hash::sha256(file) == self.sha256
    }
}

/// A slice of exactly `N` bytes as an array (callers pass what `take(N)` returned).
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tuf_merkle::{LeafContents, key_of};

    fn snapshot(n: usize) -> LeafSnapshot {
        let mut entries: Vec<LeafEntry> = (0..n)
            .map(|i| {
                let name = format!("na/me/name-{i}");
                let contents = if i % 7 == 3 {
                    LeafContents::deleted(2).unwrap()
                } else {
                    LeafContents::for_bytes(1, name.as_bytes()).unwrap()
                };
                LeafEntry {
                    key: key_of(&name),
                    contents,
                    name: (i % 2 == 0).then_some(name),
                }
            })
            .collect();
        entries.sort_by_key(|e| e.key.0);
        let root = Tree::from_leaves(entries.iter().map(|e| (e.key, e.contents)))
            .unwrap()
            .root();
        LeafSnapshot {
            role: "crates.io".into(),
            timestamp_version: 1000,
            merkle_root: root,
            entries,
        }
    }

    fn gzip(payload: &[u8], builder: GzBuilder) -> Vec<u8> {
        let mut gz = builder.write(Vec::new(), Compression::fast());
        gz.write_all(payload).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn round_trips_and_verifies() {
        for n in [0, 1, 2, 100] {
            let s = snapshot(n);
            let file = s.encode().unwrap();
            let back = decode(&file, 1 << 20).unwrap();
            assert_eq!(back, s);
            let tree = back.verify("crates.io", 1000, &s.merkle_root).unwrap();
            assert_eq!(tree.len(), n);
            assert_eq!(tree.root(), s.merkle_root);
            // The same leaves give the same file.
            assert_eq!(s.encode().unwrap(), file);
        }
    }

    #[test]
    fn the_size_limit_holds_before_the_payload_is_read() {
        let s = snapshot(100);
        let len = s.encode_payload().unwrap().len();
        let file = s.encode().unwrap();
        assert!(decode(&file, len).is_ok());
        assert_eq!(
            decode(&file, len - 1),
            Err(DecodeError::TooLarge { limit: len - 1 })
        );
        // A bomb: 64 MiB of zeros in about 64 KiB, refused at a 1 MiB limit.
        let bomb = gzip(&vec![0u8; 64 << 20], GzBuilder::new());
        assert!(bomb.len() < 1 << 20);
        assert_eq!(
            decode(&bomb, 1 << 20),
            Err(DecodeError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn refuses_what_the_encoder_never_writes() {
        let s = snapshot(3);
        let payload = s.encode_payload().unwrap();
        let file = s.encode().unwrap();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut p = payload.clone();
            f(&mut p);
            decode(&gzip(&p, GzBuilder::new()), 1 << 20)
        };
        assert!(with(&|_| {}).is_ok());
        assert_eq!(with(&|p| p[0] = b'X'), Err(DecodeError::BadMagic));
        assert_eq!(with(&|p| p[8] = 2), Err(DecodeError::UnsupportedFormat(2)));
        assert_eq!(with(&|p| p.truncate(20)), Err(DecodeError::TruncatedHeader));
        assert_eq!(with(&|p| p[14] = 0xff), Err(DecodeError::RoleNotUtf8));
        let v = 14 + 9;
        assert_eq!(
            with(&|p| p[v..v + 8].fill(0)),
            Err(DecodeError::ZeroVersion)
        );
        assert_eq!(
            with(&|p| p.push(0)),
            Err(DecodeError::TrailingPayload { bytes: 1 })
        );
        assert!(matches!(
            with(&|p| p.pop().map(drop).unwrap_or(())),
            Err(DecodeError::Sequence(_))
        ));
        // An empty role.
        let mut empty_role = payload[..12].to_vec();
        empty_role.extend_from_slice(&0u16.to_le_bytes());
        empty_role.extend_from_slice(&payload[14 + 9..]);
        assert_eq!(
            decode(&gzip(&empty_role, GzBuilder::new()), 1 << 20),
            Err(DecodeError::EmptyRole)
        );
        // Entries out of order, repeated, or named wrongly.
        let reordered = |f: &dyn Fn(&mut Vec<LeafEntry>)| {
            let mut e = s.entries.clone();
            f(&mut e);
            let mut p = payload[..14 + 9 + 8 + 32].to_vec();
            leaves::encode_sequence(&e, &mut p).unwrap();
            decode(&gzip(&p, GzBuilder::new()), 1 << 20)
        };
        assert_eq!(
            reordered(&|e| e.swap(0, 1)),
            Err(DecodeError::KeysNotAscending { index: 1 })
        );
        assert_eq!(
            reordered(&|e| e[1] = e[0].clone()),
            Err(DecodeError::KeysNotAscending { index: 1 })
        );
        assert_eq!(
            reordered(&|e| e[2].name = Some("other".into())),
            Err(DecodeError::NameMismatch { index: 2 })
        );
        // The gzip container: header fields, a second member, damage.
        for b in [
            GzBuilder::new().filename("x"),
            GzBuilder::new().comment("x"),
            GzBuilder::new().extra(vec![1, 2]),
            GzBuilder::new().mtime(1),
        ] {
            assert_eq!(
                decode(&gzip(&payload, b), 1 << 20),
                Err(DecodeError::GzipHeader)
            );
        }
        let mut two = file.clone();
        two.extend_from_slice(&file);
        assert_eq!(
            decode(&two, 1 << 20),
            Err(DecodeError::TrailingGzip { bytes: file.len() })
        );
        let mut crc = file.clone();
        let at = crc.len() - 8;
        crc[at] ^= 1;
        assert!(matches!(decode(&crc, 1 << 20), Err(DecodeError::Gzip(_))));
        assert!(matches!(
            decode(&file[..file.len() - 1], 1 << 20),
            Err(DecodeError::Gzip(_))
        ));
        assert!(matches!(decode(b"", 1 << 20), Err(DecodeError::Gzip(_))));
    }

    #[test]
    fn the_encoder_refuses_what_the_decoder_would() {
        let mut s = snapshot(3);
        s.entries.swap(0, 2);
        assert_eq!(s.encode(), Err(EncodeError::KeysNotAscending { index: 1 }));
        let mut s = snapshot(3);
        s.entries[0].name = Some("x".into());
        assert_eq!(s.encode(), Err(EncodeError::NameMismatch { index: 0 }));
        let mut s = snapshot(1);
        s.timestamp_version = 0;
        assert_eq!(s.encode(), Err(EncodeError::ZeroVersion));
        s.timestamp_version = 1;
        s.role = String::new();
        assert_eq!(s.encode(), Err(EncodeError::EmptyRole));
    }

    #[test]
    fn verify_trusts_the_signed_root_not_the_header() {
        let s = snapshot(10);
        let root = s.merkle_root;
        assert!(matches!(
            s.verify("other", 1000, &root),
            Err(VerifyError::WrongRole { .. })
        ));
        assert_eq!(
            s.verify("crates.io", 999, &root).map(|_| ()),
            Err(VerifyError::WrongVersion {
                expected: 999,
                found: 1000
            })
        );
        let other = key_of("other root");
        assert!(matches!(
            s.verify("crates.io", 1000, &other),
            Err(VerifyError::HeaderRoot { .. })
        ));
        // A header that agrees with the signed root over leaves that do not.
        let mut forged = s.clone();
        forged.entries.pop();
        assert!(matches!(
            forged.verify("crates.io", 1000, &root),
            Err(VerifyError::RootMismatch { .. })
        ));
        let mut bumped = s.clone();
        bumped.entries[0].contents = LeafContents::deleted(9).unwrap();
        let file = bumped.encode().unwrap();
        let back = decode(&file, 1 << 20).unwrap();
        assert!(matches!(
            back.verify("crates.io", 1000, &root),
            Err(VerifyError::RootMismatch { .. })
        ));
    }

    #[test]
    fn latest_pointer_round_trips_and_checks_the_file() {
        let file = snapshot(10).encode().unwrap();
        let p = LatestPointer::to(1000, &file);
        let json = p.to_json();
        assert!(json.starts_with(b"{\"timestamp_version\":1000,\"length\":"));
        assert_eq!(LatestPointer::from_json(&json).unwrap(), p);
        assert!(p.matches(&file));
        let mut other = file.clone();
        other[20] ^= 1;
        assert!(!p.matches(&other));
        assert!(
            LatestPointer::from_json(br#"{"timestamp_version":0,"length":1,"sha256":"00"}"#)
                .is_err()
        );
        let extra = String::from_utf8(json).unwrap().replace('}', ",\"x\":1}");
        assert!(LatestPointer::from_json(extra.as_bytes()).is_err());
    }
}
