//! The hash functions of POUF `tuf-mpt-sha256-v1` (D3): keys, leaf hashes, interior hashes.
//!
//! Leaf and interior hashes are domain-separated by their first byte (`0x00` and `0x01`), so no
//! leaf can be passed off as an interior node or the other way round.

use sha2::{Digest as _, Sha256};
use std::fmt;

/// Length of every hash and key in bytes.
pub const HASH_LEN: usize = 32;

/// Number of bits in a key, and so the deepest a leaf can sit.
pub const KEY_BITS: usize = HASH_LEN * 8;

/// A SHA-256 output: a key, a leaf hash, an interior hash or the empty hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest(pub [u8; HASH_LEN]);

/// The hash of an empty subtree: 32 zero bytes.
pub const EMPTY: Digest = Digest([0; HASH_LEN]);

impl Digest {
    /// The bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Lowercase hex, the only form the POUF writes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether this is the empty hash `E`.
    pub fn is_empty(&self) -> bool {
        *self == EMPTY
    }

    /// Bit `i` of the hash read as a key: `(k[i / 8] >> (7 - i % 8)) & 1`, as D3 numbers them.
    /// `false` is left, `true` is right. Panics if `i >= 256`; callers bound depths first.
    #[inline]
    pub fn bit(&self, i: usize) -> bool {
        (self.0[i / 8] >> (7 - i % 8)) & 1 == 1
    }

    /// The index of the first bit at which `self` and `other` differ, or `None` if they are equal.
    #[inline]
    pub fn first_difference(&self, other: &Digest) -> Option<usize> {
        for (i, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                return Some(i * 8 + x.leading_zeros() as usize);
            }
        }
        None
    }

    /// Whether the first `bits` bits of `self` and `other` agree.
    pub fn shares_prefix(&self, other: &Digest, bits: usize) -> bool {
        match self.first_difference(other) {
            None => true,
            Some(j) => j >= bits,
        }
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

/// `H(bytes)`: plain SHA-256.
pub fn sha256(bytes: &[u8]) -> Digest {
    if bytes.len() <= SHORT_MAX {
        return sha256_short(bytes);
    }
    Digest(Sha256::digest(bytes).into())
}

// The tree hashes short messages by the million: 65-byte leaf and interior hashes, names and
// contents of about 100 bytes. For those, the SHA-256 padding is written out here and the blocks
// go straight to the compression function, skipping the streaming hasher's buffering, which
// costs about a fifth of a two-block hash. The output is plain SHA-256; the tests compare it
// with the streaming hasher at every length.

/// One 64-byte SHA-256 block, as `sha2::compress256` takes it.
type Block = sha2::digest::generic_array::GenericArray<u8, sha2::digest::consts::U64>;

/// SHA-256's initial state.
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The longest message [`sha256_short`] takes: three blocks less the padding's 9 bytes.
const SHORT_MAX: usize = 3 * 64 - 9;

/// SHA-256 of a message of at most [`SHORT_MAX`] bytes, padded by hand.
fn sha256_short(bytes: &[u8]) -> Digest {
    let mut blocks = [Block::default(); 3];
    let count = (bytes.len() + 9).div_ceil(64);
    let mut written = 0;
    for block in blocks.iter_mut() {
        let take = bytes.len().saturating_sub(written).min(64);
        block[..take].copy_from_slice(&bytes[written..written + take]);
        written += take;
        if take < 64 {
            break;
        }
    }
    let (block, at) = (bytes.len() / 64, bytes.len() % 64);
    blocks[block][at] = 0x80;
    let bits = (bytes.len() as u64 * 8).to_be_bytes();
    blocks[count - 1][56..].copy_from_slice(&bits);
    finish(&blocks[..count])
}

/// SHA-256 of the 65 bytes `prefix || a || b`: exactly two blocks.
#[inline]
fn sha256_65(prefix: u8, a: &[u8; HASH_LEN], b: &[u8; HASH_LEN]) -> Digest {
    let mut blocks = [Block::default(); 2];
    blocks[0][0] = prefix;
    blocks[0][1..33].copy_from_slice(a);
    blocks[0][33..].copy_from_slice(&b[..31]);
    blocks[1][0] = b[31];
    blocks[1][1] = 0x80;
    blocks[1][56..].copy_from_slice(&(65u64 * 8).to_be_bytes());
    finish(&blocks)
}

#[inline]
fn finish(blocks: &[Block]) -> Digest {
    let mut state = H0;
    sha2::compress256(&mut state, blocks);
    let mut out = [0u8; HASH_LEN];
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    Digest(out)
}

/// The key of a target: `k = H(name)`, over the name's UTF-8 bytes.
pub fn key_of(name: &str) -> Digest {
    sha256(name.as_bytes())
}

/// `LH = H(0x00 || k || H(c))`, given the key and the hash of the canonical contents.
pub fn leaf_hash(key: &Digest, contents_hash: &Digest) -> Digest {
    sha256_65(0x00, &key.0, &contents_hash.0)
}

/// `IH(l, r) = H(0x01 || l || r)`.
#[inline]
pub fn interior_hash(left: &Digest, right: &Digest) -> Digest {
    sha256_65(0x01, &left.0, &right.0)
}

/// Combines the hash `h` of the subtree on `key`'s side of bit `level` with its sibling `s`:
/// `IH(h, s)` when bit `level` of `key` is 0 (we are on the left), `IH(s, h)` otherwise.
#[inline]
pub fn climb(key: &Digest, level: usize, h: &Digest, sibling: &Digest) -> Digest {
    if key.bit(level) {
        interior_hash(sibling, h)
    } else {
        interior_hash(h, sibling)
    }
}

/// Parses exactly 64 lowercase hex characters. Uppercase is refused so that every hash has one
/// written form.
pub fn parse_hex(s: &str) -> Result<Digest, HexError> {
    if s.len() != 2 * HASH_LEN {
        return Err(HexError::Length(s.len()));
    }
    if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(HexError::Character(c));
    }
    let mut out = [0u8; HASH_LEN];
    hex::decode_to_slice(s, &mut out).map_err(|_| HexError::Length(s.len()))?;
    Ok(Digest(out))
}

/// Why a hex string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Not 64 characters long.
    #[error("expected 64 hex characters, found {0}")]
    Length(usize),
    /// A character other than `0-9a-f`.
    #[error("{0:?} is not a lowercase hex digit")]
    Character(char),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_numbered_from_the_most_significant_bit() {
        let mut k = [0u8; 32];
        k[0] = 0b1000_0001;
        k[1] = 0b0100_0000;
        let d = Digest(k);
        assert!(d.bit(0));
        assert!(!d.bit(1));
        assert!(d.bit(7));
        assert!(!d.bit(8));
        assert!(d.bit(9));
    }

    #[test]
    fn first_difference_finds_the_first_bit() {
        let a = Digest([0; 32]);
        let mut b = [0u8; 32];
        b[3] = 0b0001_0000;
        assert_eq!(a.first_difference(&Digest(b)), Some(27));
        assert_eq!(a.first_difference(&a), None);
        assert!(a.shares_prefix(&Digest(b), 27));
        assert!(!a.shares_prefix(&Digest(b), 28));
    }

    #[test]
    fn hashes_are_domain_separated() {
        let k = key_of("se/rd/serde");
        let c = sha256(b"{}");
        let lh = leaf_hash(&k, &c);
        assert_ne!(lh, interior_hash(&k, &c));
        let mut manual = vec![0u8];
        manual.extend_from_slice(&k.0);
        manual.extend_from_slice(&c.0);
        assert_eq!(lh, sha256(&manual));
        let mut manual = vec![1u8];
        manual.extend_from_slice(&k.0);
        manual.extend_from_slice(&c.0);
        assert_eq!(interior_hash(&k, &c), sha256(&manual));
    }

    #[test]
    fn hand_padded_sha256_is_sha256_at_every_length() {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=data.len() {
            let expected: [u8; 32] = Sha256::digest(&data[..len]).into();
            assert_eq!(sha256(&data[..len]).0, expected, "length {len}");
        }
        let (a, b) = (key_of("a"), key_of("b"));
        for prefix in [0u8, 1] {
            let mut buf = vec![prefix];
            buf.extend_from_slice(&a.0);
            buf.extend_from_slice(&b.0);
            let expected: [u8; 32] = Sha256::digest(&buf).into();
            assert_eq!(sha256_65(prefix, &a.0, &b.0).0, expected);
        }
    }

    #[test]
    fn hex_is_strict() {
        let h = key_of("x");
        assert_eq!(parse_hex(&h.to_hex()), Ok(h));
        assert_eq!(
            parse_hex(&h.to_hex().to_uppercase())
                .err()
                .map(|e| matches!(e, HexError::Character(_))),
            Some(true)
        );
        assert_eq!(parse_hex("00"), Err(HexError::Length(2)));
        assert_eq!(parse_hex(&"g".repeat(64)), Err(HexError::Character('g')));
    }
}
