//! The binary encoding of proofs (`docs/pouf.md` §10): the same proofs as the JSON forms of
//! [`crate::json`], with raw 32-byte hashes, a bitmap for the empty siblings of a path instead
//! of 32 zero bytes each, no directions (the key gives them), and fixed-width integers.
//!
//! Properties kept:
//! - **One encoding per proof.** Every proof value has exactly one byte string: integers are
//!   fixed-width, names in a multi-proof are in ascending key order, an empty sibling is only
//!   ever a bitmap bit, bitmap bits past the path are zero, nothing follows the proof. A
//!   decoder refuses every other byte string, each fault with its own [`ProofError`], so that
//!   `decode(encode(p)) == p` and `encode(decode(b)) == b` for every `b` it accepts.
//! - **Bounded before anything is read.** The input's size is checked first; no buffer is
//!   sized from a length field before the bytes it announces are known to be there.
//! - **The same checks.** A decoded proof is the [`MembershipProof`], [`NonMembershipProof`]
//!   or [`MultiProof`] the JSON parser makes, and is verified by the same code; the encoding
//!   changes what travels, never what is accepted.
//!
//! An **answer** ([`Answer`]) is what the signer's API sends for
//! `Accept: application/vnd.tuf-merkle-proof` ([`MEDIA_TYPE`]): the role, the timestamp version
//! and the `merkle_root` the proof was made against (as the JSON answer's members), then the
//! proof.

use crate::contents::LeafContents;
use crate::hash::{Digest, EMPTY, HASH_LEN, KEY_BITS, key_of};
use crate::multiproof::MultiProof;
use crate::proof::{MembershipProof, NonMembershipProof, Proof, ProofError, Terminal};

/// The first bytes of every binary proof: `"TMP"` (tuf-merkle proof).
pub const MAGIC: [u8; 3] = *b"TMP";
/// The first bytes of every binary answer of the signer's API: `"TMA"` (tuf-merkle answer).
pub const ANSWER_MAGIC: [u8; 3] = *b"TMA";
/// The format version this module reads and writes.
pub const FORMAT: u8 = 1;
/// The media type of a binary answer (`Accept` and `Content-Type` of the signer's API). No
/// structured-syntax suffix: the encoding is its own syntax, not one of the registered ones.
pub const MEDIA_TYPE: &str = "application/vnd.tuf-merkle-proof";

/// Size limit for a binary single proof. The longest (256 siblings, none empty, a leaf
/// terminal) for a name of 4,096 bytes is 12,394 bytes.
pub const MAX_BINARY_PROOF_BYTES: usize = 16 * 1024;
/// Default size limit for a binary multi-proof, the JSON form's: the binary form of a proof is
/// never longer than its JSON form, so every multi-proof a JSON reader takes fits.
pub const MAX_BINARY_MULTI_PROOF_BYTES: usize = crate::json::MAX_MULTI_PROOF_BYTES;

/// The kind byte after the magic and the format.
const KIND_MEMBERSHIP: u8 = 1;
const KIND_NON_MEMBERSHIP: u8 = 2;
const KIND_MULTI: u8 = 3;

/// Contents tags; `ABSENT` only in a multi-proof's entries (JSON's `null`).
const TAG_PRESENT: u8 = 0;
const TAG_DELETED: u8 = 1;
const TAG_ABSENT: u8 = 2;

/// Terminal tags of a non-membership proof.
const TERMINAL_EMPTY: u8 = 0;
const TERMINAL_LEAF: u8 = 1;

/// The longest name (or role) a length field of two bytes (one for a role) can give.
const MAX_NAME_BYTES: usize = u16::MAX as usize;

// ---------------------------------------------------------------------------------------------
// Writing

struct Writer(Vec<u8>);

impl Writer {
    fn header(kind: u8, capacity: usize) -> Writer {
        let mut out = Vec::with_capacity(capacity + 5);
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT);
        out.push(kind);
        Writer(out)
    }

    fn name(&mut self, name: &str) -> Result<(), ProofError> {
        let len = u16::try_from(name.len()).map_err(|_| ProofError::TooLarge {
            limit: MAX_NAME_BYTES,
            actual: name.len(),
        })?;
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(name.as_bytes());
        Ok(())
    }

    fn contents(&mut self, contents: &LeafContents) {
        match *contents {
            LeafContents::Present {
                version,
                length,
                sha256,
            } => {
                self.0.push(TAG_PRESENT);
                self.0.extend_from_slice(&version.to_le_bytes());
                self.0.extend_from_slice(&length.to_le_bytes());
                self.0.extend_from_slice(&sha256.0);
            }
            LeafContents::Deleted { version } => {
                self.0.push(TAG_DELETED);
                self.0.extend_from_slice(&version.to_le_bytes());
            }
        }
    }

    /// `u16 d`, the bitmap of empty siblings, then the others, `s[0]` first.
    fn path(&mut self, siblings: &[Digest]) -> Result<(), ProofError> {
        let d = u16::try_from(siblings.len())
            .ok()
            .filter(|d| usize::from(*d) <= KEY_BITS)
            .ok_or(ProofError::PathTooLong {
                len: siblings.len(),
            })?;
        self.0.extend_from_slice(&d.to_le_bytes());
        let mut bitmap = vec![0u8; siblings.len().div_ceil(8)];
        for (i, s) in siblings.iter().enumerate() {
            if s.is_empty() {
                bitmap[i / 8] |= 0x80 >> (i % 8);
            }
        }
        self.0.extend_from_slice(&bitmap);
        for s in siblings.iter().filter(|s| !s.is_empty()) {
            self.0.extend_from_slice(&s.0);
        }
        Ok(())
    }

    fn count(&mut self, n: usize) -> Result<(), ProofError> {
        let n = u32::try_from(n).map_err(|_| ProofError::TooLarge {
            limit: u32::MAX as usize,
            actual: n,
        })?;
        self.0.extend_from_slice(&n.to_le_bytes());
        Ok(())
    }
}

/// The bytes a path takes: `u16 d`, the bitmap, the non-empty siblings.
fn path_len(siblings: &[Digest]) -> usize {
    2 + siblings.len().div_ceil(8) + HASH_LEN * siblings.iter().filter(|s| !s.is_empty()).count()
}

impl MembershipProof {
    /// The proof in the binary encoding (POUF §10). Fails only for a name longer than 65,535
    /// bytes or a path longer than 256, which no tree gives.
    pub fn to_binary(&self) -> Result<Vec<u8>, ProofError> {
        let mut w = Writer::header(
            KIND_MEMBERSHIP,
            2 + self.name.len() + 49 + path_len(&self.siblings),
        );
        w.name(&self.name)?;
        w.contents(&self.contents);
        w.path(&self.siblings)?;
        Ok(w.0)
    }
}

impl NonMembershipProof {
    /// The proof in the binary encoding (POUF §10). Fails only for a name longer than 65,535
    /// bytes or a path longer than 256, which no tree gives.
    pub fn to_binary(&self) -> Result<Vec<u8>, ProofError> {
        let mut w = Writer::header(
            KIND_NON_MEMBERSHIP,
            2 + self.name.len() + path_len(&self.siblings) + 65,
        );
        w.name(&self.name)?;
        w.path(&self.siblings)?;
        match self.terminal {
            Terminal::Empty => w.0.push(TERMINAL_EMPTY),
            Terminal::Leaf { key, contents_hash } => {
                w.0.push(TERMINAL_LEAF);
                w.0.extend_from_slice(&key.0);
                w.0.extend_from_slice(&contents_hash.0);
            }
        }
        Ok(w.0)
    }
}

impl Proof {
    /// The proof in the binary encoding (POUF §10).
    pub fn to_binary(&self) -> Result<Vec<u8>, ProofError> {
        match self {
            Proof::Membership(p) => p.to_binary(),
            Proof::NonMembership(p) => p.to_binary(),
        }
    }
}

impl MultiProof {
    /// The multi-proof in the binary encoding (POUF §10): names in ascending key order, as
    /// [`MultiProof::targets`] holds them. Fails only for a name longer than 65,535 bytes, or
    /// more than 2^32 − 1 names, ops or hashes.
    pub fn to_binary(&self) -> Result<Vec<u8>, ProofError> {
        let targets = self.targets();
        let names: usize = targets.iter().map(|(n, _)| n.len() + 51).sum();
        let mut w = Writer::header(
            KIND_MULTI,
            12 + names + self.shape_bytes().len() + HASH_LEN * self.hash_count(),
        );
        w.count(targets.len())?;
        for (name, contents) in targets {
            w.name(name)?;
            match contents {
                Some(c) => w.contents(c),
                None => w.0.push(TAG_ABSENT),
            }
        }
        w.count(self.shape_bytes().len())?;
        w.0.extend_from_slice(self.shape_bytes());
        w.count(self.hash_count())?;
        for h in self.hashes() {
            w.0.extend_from_slice(&h.0);
        }
        Ok(w.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A cursor over the input that never reads past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ProofError> {
        if n > self.remaining() {
            return Err(ProofError::Truncated(field));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ProofError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ProofError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, ProofError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, ProofError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, ProofError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn digest(&mut self, field: &'static str) -> Result<Digest, ProofError> {
        Ok(Digest(self.array(field)?))
    }

    /// The magic, the format and the kind byte, which must be one of `kinds`.
    fn header(&mut self, expected: &'static str, kinds: &[u8]) -> Result<u8, ProofError> {
        if self.take(MAGIC.len(), "the magic").ok() != Some(&MAGIC[..]) {
            return Err(ProofError::BadMagic("proof"));
        }
        let format = self.u8("the format")?;
        if format != FORMAT {
            return Err(ProofError::UnsupportedFormat(format));
        }
        let kind = self.u8("the kind")?;
        if !kinds.contains(&kind) {
            return Err(ProofError::WrongKind {
                expected,
                found: kind,
            });
        }
        Ok(kind)
    }

    fn name(&mut self) -> Result<&'a str, ProofError> {
        let len = self.u16("a name's length")?;
        let bytes = self.take(usize::from(len), "a name")?;
        std::str::from_utf8(bytes).map_err(|_| ProofError::NotUtf8("a name"))
    }

    /// Leaf contents after their tag byte; `allow_absent` in a multi-proof's entries.
    fn contents(
        &mut self,
        name: &str,
        allow_absent: bool,
    ) -> Result<Option<LeafContents>, ProofError> {
        let tag = self.u8("leaf contents")?;
        let checked = |r: Result<LeafContents, _>| r.map(Some).map_err(|e| (name, e).into());
        match tag {
            TAG_PRESENT => {
                let version = self.u64("a version")?;
                let length = self.u64("a length")?;
                let sha256 = self.digest("a sha256")?;
                checked(LeafContents::present(version, length, sha256))
            }
            TAG_DELETED => {
                let version = self.u64("a version")?;
                checked(LeafContents::deleted(version))
            }
            TAG_ABSENT if allow_absent => Ok(None),
            tag => Err(ProofError::BadTag {
                field: "leaf contents",
                tag,
            }),
        }
    }

    /// `s[0..d)`: the depth, the bitmap of empty siblings, the others. Refuses what has
    /// another encoding of the same path, and the one path the canonical rules never allow
    /// (the deepest sibling empty), as verification would.
    fn path(&mut self) -> Result<Vec<Digest>, ProofError> {
        let d = usize::from(self.u16("the depth")?);
        if d > KEY_BITS {
            return Err(ProofError::PathTooLong { len: d });
        }
        let bitmap = self.take(d.div_ceil(8), "the bitmap")?;
        let empty = |i: usize| bitmap[i / 8] & (0x80 >> (i % 8)) != 0;
        if d % 8 != 0 && bitmap.last().is_some_and(|b| b & (0xff >> (d % 8)) != 0) {
            return Err(ProofError::NonCanonical(
                "bitmap bits past the path's depth are set",
            ));
        }
        if d > 0 && empty(d - 1) {
            return Err(ProofError::NonCanonical(
                "the deepest sibling is the empty hash",
            ));
        }
        let written = d - bitmap
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum::<usize>();
        // All of them are there before anything is allocated for them.
        if written * HASH_LEN > self.remaining() {
            return Err(ProofError::Truncated("the siblings"));
        }
        let mut siblings = Vec::with_capacity(d);
        for i in 0..d {
            if empty(i) {
                siblings.push(EMPTY);
                continue;
            }
            let s = self.digest("the siblings")?;
            if s.is_empty() {
                return Err(ProofError::NonCanonical(
                    "an empty sibling is written out instead of marked in the bitmap",
                ));
            }
            siblings.push(s);
        }
        Ok(siblings)
    }

    fn finish(&self) -> Result<(), ProofError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(ProofError::TrailingData)
        }
    }
}

fn check_size(bytes: &[u8], limit: usize) -> Result<(), ProofError> {
    if bytes.len() > limit {
        return Err(ProofError::TooLarge {
            limit,
            actual: bytes.len(),
        });
    }
    Ok(())
}

/// A single proof of one of `kinds`, after its size was checked.
fn single(bytes: &[u8], expected: &'static str, kinds: &[u8]) -> Result<Proof, ProofError> {
    check_size(bytes, MAX_BINARY_PROOF_BYTES)?;
    let mut r = Reader { bytes, at: 0 };
    let kind = r.header(expected, kinds)?;
    let name = r.name()?.to_owned();
    let proof = if kind == KIND_MEMBERSHIP {
        let Some(contents) = r.contents(&name, false)? else {
            return Err(ProofError::BadTag {
                field: "leaf contents",
                tag: TAG_ABSENT,
            });
        };
        let siblings = r.path()?;
        Proof::Membership(MembershipProof {
            name,
            contents,
            siblings,
        })
    } else {
        let siblings = r.path()?;
        let terminal = match r.u8("the terminal")? {
            TERMINAL_EMPTY => Terminal::Empty,
            TERMINAL_LEAF => Terminal::Leaf {
                key: r.digest("the terminal's key")?,
                contents_hash: r.digest("the terminal's contents hash")?,
            },
            tag => {
                return Err(ProofError::BadTag {
                    field: "the terminal",
                    tag,
                });
            }
        };
        Proof::NonMembership(NonMembershipProof {
            name,
            siblings,
            terminal,
        })
    };
    r.finish()?;
    Ok(proof)
}

impl MembershipProof {
    /// Decodes a binary membership proof of at most [`MAX_BINARY_PROOF_BYTES`].
    pub fn from_binary(bytes: &[u8]) -> Result<Self, ProofError> {
        match single(bytes, "membership", &[KIND_MEMBERSHIP])? {
            Proof::Membership(p) => Ok(p),
            Proof::NonMembership(_) => Err(ProofError::WrongKind {
                expected: "membership",
                found: KIND_NON_MEMBERSHIP,
            }),
        }
    }
}

impl NonMembershipProof {
    /// Decodes a binary non-membership proof of at most [`MAX_BINARY_PROOF_BYTES`].
    pub fn from_binary(bytes: &[u8]) -> Result<Self, ProofError> {
        match single(bytes, "non-membership", &[KIND_NON_MEMBERSHIP])? {
            Proof::NonMembership(p) => Ok(p),
            Proof::Membership(_) => Err(ProofError::WrongKind {
                expected: "non-membership",
                found: KIND_MEMBERSHIP,
            }),
        }
    }
}

impl Proof {
    /// Decodes a binary single proof (membership or non-membership, told apart by its kind
    /// byte) of at most [`MAX_BINARY_PROOF_BYTES`].
    pub fn from_binary(bytes: &[u8]) -> Result<Self, ProofError> {
        single(
            bytes,
            "membership or non-membership",
            &[KIND_MEMBERSHIP, KIND_NON_MEMBERSHIP],
        )
    }
}

impl MultiProof {
    /// Decodes a binary multi-proof of at most [`MAX_BINARY_MULTI_PROOF_BYTES`].
    pub fn from_binary(bytes: &[u8]) -> Result<Self, ProofError> {
        Self::from_binary_with_limit(bytes, MAX_BINARY_MULTI_PROOF_BYTES)
    }

    /// Decodes a binary multi-proof of at most `limit` bytes.
    pub fn from_binary_with_limit(bytes: &[u8], limit: usize) -> Result<Self, ProofError> {
        check_size(bytes, limit)?;
        let mut r = Reader { bytes, at: 0 };
        r.header("multi", &[KIND_MULTI])?;
        let count = r.u32("the number of names")? as usize;
        if count == 0 {
            return Err(ProofError::NoNames);
        }
        // Each entry takes three bytes at least (an empty name, the tag of an absent one):
        // a count the bytes left cannot hold is refused before anything is allocated for it.
        if count > r.remaining() / 3 {
            return Err(ProofError::Truncated("the names"));
        }
        let mut targets = Vec::with_capacity(count);
        let mut last: Option<Digest> = None;
        for _ in 0..count {
            let name = r.name()?;
            let key = key_of(name);
            match last.map(|l| l.cmp(&key)) {
                Some(std::cmp::Ordering::Equal) => {
                    return Err(ProofError::DuplicateName(name.to_owned()));
                }
                Some(std::cmp::Ordering::Greater) => {
                    return Err(ProofError::NonCanonical(
                        "the names are not in ascending key order",
                    ));
                }
                _ => {}
            }
            last = Some(key);
            let contents = r.contents(name, true)?;
            targets.push((name.to_owned(), contents));
        }
        let shape_len = r.u32("the shape's length")? as usize;
        let shape = r.take(shape_len, "the shape")?.to_vec();
        let hash_count = r.u32("the number of hashes")? as usize;
        let hash_bytes = r.take(hash_count.saturating_mul(HASH_LEN), "the hashes")?;
        let hashes = hash_bytes
            .chunks_exact(HASH_LEN)
            .map(|c| {
                let mut d = [0u8; HASH_LEN];
                d.copy_from_slice(c);
                Digest(d)
            })
            .collect();
        r.finish()?;
        MultiProof::from_parts(targets, shape, hashes)
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

/// A binary answer of the signer's proof API: what the JSON answer's members say, then the
/// proof. Nothing in it is trusted: a client verifies the proof against the root of the
/// timestamp it verified itself, and uses the version and root given here only to tell what
/// went wrong when the proof misses that root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The role (`"role"`), 1 to 255 bytes of UTF-8.
    pub role: &'a str,
    /// The timestamp version the proof was made against (`"timestamp_version"`).
    pub timestamp_version: u64,
    /// That timestamp's `merkle_root` (`"merkle_root"`).
    pub merkle_root: Digest,
    /// The binary proof: a single proof or a multi-proof, as asked.
    pub proof: &'a [u8],
}

impl<'a> Answer<'a> {
    /// Whether `bytes` start like a binary answer (a JSON answer starts with `{`).
    pub fn is_binary(bytes: &[u8]) -> bool {
        bytes.starts_with(&ANSWER_MAGIC)
    }

    /// Splits a binary answer into its parts; the proof is decoded by the caller, who knows
    /// whether it asked for one name or many. Allocates nothing.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ProofError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(ANSWER_MAGIC.len(), "the magic").ok() != Some(&ANSWER_MAGIC[..]) {
            return Err(ProofError::BadMagic("answer"));
        }
        let format = r.u8("the format")?;
        if format != FORMAT {
            return Err(ProofError::UnsupportedFormat(format));
        }
        let len = r.u8("the role's length")?;
        if len == 0 {
            return Err(ProofError::Malformed("the answer's role is empty".into()));
        }
        let role = std::str::from_utf8(r.take(usize::from(len), "the role")?)
            .map_err(|_| ProofError::NotUtf8("the role"))?;
        let timestamp_version = r.u64("the timestamp version")?;
        let merkle_root = r.digest("the merkle root")?;
        Ok(Answer {
            role,
            timestamp_version,
            merkle_root,
            proof: &bytes[r.at..],
        })
    }

    /// The answer's bytes. Fails for a role that is empty or longer than 255 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, ProofError> {
        let len = u8::try_from(self.role.len())
            .ok()
            .filter(|l| *l > 0)
            .ok_or_else(|| {
                ProofError::Malformed(format!(
                    "a role of {} bytes; an answer's role has 1 to 255",
                    self.role.len()
                ))
            })?;
        let mut out = Vec::with_capacity(5 + self.role.len() + 40 + self.proof.len());
        out.extend_from_slice(&ANSWER_MAGIC);
        out.push(FORMAT);
        out.push(len);
        out.extend_from_slice(self.role.as_bytes());
        out.extend_from_slice(&self.timestamp_version.to_le_bytes());
        out.extend_from_slice(&self.merkle_root.0);
        out.extend_from_slice(self.proof);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contents::MAX_INTEGER;
    use crate::hash::sha256;
    use crate::tree::Tree;

    fn tree(n: usize) -> (Tree, Vec<String>) {
        let names: Vec<String> = (0..n).map(|i| format!("{i}/x/crate{i}")).collect();
        let mut t = Tree::from_leaves(
            names
                .iter()
                .map(|n| (key_of(n), LeafContents::for_bytes(2, n.as_bytes()).unwrap())),
        )
        .unwrap();
        if n > 3 {
            t.set(key_of(&names[3]), LeafContents::deleted(3).unwrap());
        }
        (t, names)
    }

    #[test]
    fn every_proof_round_trips_and_verifies() {
        for n in [0, 1, 2, 3, 50, 500] {
            let (t, names) = tree(n);
            let root = t.root();
            let asked: Vec<String> = names
                .iter()
                .take(20)
                .cloned()
                .chain((0..20).map(|i| format!("absent-{i}")))
                .collect();
            for name in &asked {
                let p = t.prove(name);
                let b = p.to_binary().unwrap();
                let back = Proof::from_binary(&b).unwrap();
                assert_eq!(back, p, "{name}");
                assert_eq!(back.to_binary().unwrap(), b);
                back.verify_for(&root, name).unwrap();
                // Through the parser of its own kind, refused by the other.
                match &p {
                    Proof::Membership(m) => {
                        assert_eq!(&MembershipProof::from_binary(&b).unwrap(), m);
                        assert!(matches!(
                            NonMembershipProof::from_binary(&b),
                            Err(ProofError::WrongKind { found: 1, .. })
                        ));
                    }
                    Proof::NonMembership(m) => {
                        assert_eq!(&NonMembershipProof::from_binary(&b).unwrap(), m);
                        assert!(matches!(
                            MembershipProof::from_binary(&b),
                            Err(ProofError::WrongKind { found: 2, .. })
                        ));
                    }
                }
                assert!(b.len() < p.to_json().len(), "{name}");
            }
            let multi = t.prove_many(&asked).unwrap();
            let b = multi.to_binary().unwrap();
            let back = MultiProof::from_binary(&b).unwrap();
            assert_eq!(back, multi);
            assert_eq!(back.to_binary().unwrap(), b);
            back.verify_for(&root, &asked).unwrap();
            assert!(b.len() < multi.to_json().len());
            assert!(matches!(
                Proof::from_binary(&b),
                Err(ProofError::WrongKind { found: 3, .. })
            ));
        }
    }

    /// Every sibling that is `E` is a bitmap bit; a membership proof of a leaf below unary
    /// levels shows them.
    #[test]
    fn empty_siblings_cost_one_bit() {
        let p = MembershipProof {
            name: "x".into(),
            contents: LeafContents::deleted(1).unwrap(),
            siblings: [vec![sha256(b"a")], vec![EMPTY; 20], vec![sha256(b"b")]].concat(),
        };
        let b = p.to_binary().unwrap();
        // header 5, name 3, tombstone 9, depth 2, bitmap 3, two hashes.
        assert_eq!(b.len(), 5 + 3 + 9 + 2 + 3 + 64);
        assert_eq!(&b[19..22], &[0x7f, 0xff, 0xf8]);
        assert_eq!(MembershipProof::from_binary(&b).unwrap(), p);
    }

    fn member() -> (MembershipProof, Vec<u8>) {
        let p = MembershipProof {
            name: "se/rd/serde".into(),
            contents: LeafContents::present(MAX_INTEGER, 0, sha256(b"c")).unwrap(),
            siblings: vec![sha256(b"1"), EMPTY, sha256(b"3")],
        };
        let b = p.to_binary().unwrap();
        (p, b)
    }

    #[test]
    fn refuses_every_other_byte_string_with_its_own_error() {
        let (_, good) = member();
        // Layout: magic 0..3, format 3, kind 4, name length 5..7, name 7..18, tag 18,
        // version 19..27, length 27..35, sha256 35..67, depth 67..69, bitmap 69, hashes 70...
        assert_eq!(good.len(), 70 + 64);
        let with = |at: usize, byte: u8| {
            let mut b = good.clone();
            b[at] = byte;
            MembershipProof::from_binary(&b).unwrap_err()
        };
        assert_eq!(with(0, b'{'), ProofError::BadMagic("proof"));
        assert_eq!(with(3, 2), ProofError::UnsupportedFormat(2));
        assert!(matches!(with(4, 9), ProofError::WrongKind { found: 9, .. }));
        assert!(matches!(with(18, 7), ProofError::BadTag { tag: 7, .. }));
        assert!(matches!(with(18, TAG_ABSENT), ProofError::BadTag { .. }));
        // Version 0; a version above 2^63 - 1.
        let mut b = good.clone();
        b[19..27].copy_from_slice(&0u64.to_le_bytes());
        assert!(matches!(
            MembershipProof::from_binary(&b),
            Err(ProofError::Contents { .. })
        ));
        assert!(matches!(with(26, 0x80), ProofError::Contents { .. }));
        assert!(matches!(with(34, 0x80), ProofError::Contents { .. }));
        // A depth over 256.
        let mut b = good.clone();
        b[67..69].copy_from_slice(&257u16.to_le_bytes());
        assert_eq!(
            MembershipProof::from_binary(&b),
            Err(ProofError::PathTooLong { len: 257 })
        );
        // Bitmap: a bit past the depth; the deepest sibling empty.
        assert!(matches!(with(69, 0b0100_0001), ProofError::NonCanonical(_)));
        assert_eq!(
            with(69, 0b0110_0000),
            ProofError::NonCanonical("the deepest sibling is the empty hash")
        );
        // An empty sibling written out: the bitmap says none is empty, and E is there.
        let mut b = good[..70].to_vec();
        b[69] = 0;
        b.extend_from_slice(&sha256(b"1").0);
        b.extend_from_slice(&EMPTY.0);
        b.extend_from_slice(&sha256(b"3").0);
        assert!(matches!(
            MembershipProof::from_binary(&b),
            Err(ProofError::NonCanonical(_))
        ));
        // A name that is not UTF-8.
        assert_eq!(with(7, 0xff), ProofError::NotUtf8("a name"));
        // Cut anywhere: truncated; a byte more: trailing.
        for cut in 0..good.len() {
            let e = MembershipProof::from_binary(&good[..cut]).unwrap_err();
            assert!(
                matches!(e, ProofError::Truncated(_) | ProofError::BadMagic(_)),
                "{cut}: {e:?}"
            );
        }
        let mut b = good.clone();
        b.push(0);
        assert_eq!(
            MembershipProof::from_binary(&b),
            Err(ProofError::TrailingData)
        );
        // Size first.
        let big = vec![0u8; MAX_BINARY_PROOF_BYTES + 1];
        assert_eq!(
            Proof::from_binary(&big),
            Err(ProofError::TooLarge {
                limit: MAX_BINARY_PROOF_BYTES,
                actual: MAX_BINARY_PROOF_BYTES + 1
            })
        );
    }

    /// POUF §10.3: the longest single proof for a name of 4,096 bytes fits the limit.
    #[test]
    fn the_longest_single_proof_fits_the_limit() {
        let name = "n".repeat(4096);
        let siblings: Vec<Digest> = (0..KEY_BITS as u32)
            .map(|i| sha256(&i.to_be_bytes()))
            .collect();
        let absent = NonMembershipProof {
            name: name.clone(),
            siblings: siblings.clone(),
            terminal: Terminal::Leaf {
                key: sha256(b"k"),
                contents_hash: sha256(b"c"),
            },
        }
        .to_binary()
        .unwrap();
        let member = MembershipProof {
            name,
            contents: LeafContents::present(MAX_INTEGER, MAX_INTEGER, sha256(b"x")).unwrap(),
            siblings,
        }
        .to_binary()
        .unwrap();
        assert_eq!((absent.len(), member.len()), (12_394, 12_378));
        NonMembershipProof::from_binary(&absent).unwrap();
        MembershipProof::from_binary(&member).unwrap();
    }

    #[test]
    fn multi_proofs_are_canonical() {
        let (t, names) = tree(40);
        let asked = [&names[1], &names[3], &names[7], "absent"];
        let p = t.prove_many(&asked).unwrap();
        let good = p.to_binary().unwrap();
        // Swap the first two names (and their entries): the same proof, another order.
        let mut r = Reader {
            bytes: &good,
            at: 9,
        };
        let mut entries = Vec::new();
        for _ in 0..asked.len() {
            let start = r.at;
            let name = r.name().unwrap();
            r.contents(name, true).unwrap();
            entries.push(good[start..r.at].to_vec());
        }
        let rest = good[r.at..].to_vec();
        entries.swap(0, 1);
        let swapped = [good[..9].to_vec(), entries.concat(), rest.clone()].concat();
        assert_eq!(
            MultiProof::from_binary(&swapped),
            Err(ProofError::NonCanonical(
                "the names are not in ascending key order"
            ))
        );
        // A name twice.
        let mut twice = good[..9].to_vec();
        twice[5..9].copy_from_slice(&5u32.to_le_bytes());
        twice.extend(entries[1].iter().chain(&entries[0]).chain(&entries[0]));
        twice.extend(entries[2..].concat());
        twice.extend(&rest);
        assert!(matches!(
            MultiProof::from_binary(&twice),
            Err(ProofError::DuplicateName(_))
        ));
        // No names; more names than the bytes could hold.
        let mut none = good.clone();
        none[5..9].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(MultiProof::from_binary(&none), Err(ProofError::NoNames));
        let mut many = good.clone();
        many[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            MultiProof::from_binary(&many),
            Err(ProofError::Truncated("the names"))
        );
        // Trailing bytes; the limit.
        let mut b = good.clone();
        b.push(0);
        assert_eq!(MultiProof::from_binary(&b), Err(ProofError::TrailingData));
        assert!(matches!(
            MultiProof::from_binary_with_limit(&good, good.len() - 1),
            Err(ProofError::TooLarge { .. })
        ));
        MultiProof::from_binary_with_limit(&good, good.len()).unwrap();
    }

    #[test]
    fn answers_carry_the_version_and_root_then_the_proof() {
        let (p, proof) = member();
        let a = Answer {
            role: "crates.io",
            timestamp_version: 1093,
            merkle_root: sha256(b"root"),
            proof: &proof,
        };
        let bytes = a.encode().unwrap();
        assert!(Answer::is_binary(&bytes));
        assert!(!Answer::is_binary(b"{\"role\":"));
        let back = Answer::decode(&bytes).unwrap();
        assert_eq!(back, a);
        assert_eq!(MembershipProof::from_binary(back.proof).unwrap(), p);
        assert_eq!(bytes.len(), 5 + 9 + 8 + 32 + proof.len());
        let mut bad = bytes.clone();
        bad[4] = 0;
        assert!(matches!(
            Answer::decode(&bad),
            Err(ProofError::Malformed(_))
        ));
        assert_eq!(Answer::decode(&proof), Err(ProofError::BadMagic("answer")));
        assert_eq!(
            Answer::decode(&bytes[..20]),
            Err(ProofError::Truncated("the timestamp version"))
        );
        assert!(Answer { role: "", ..a }.encode().is_err());
    }
}
