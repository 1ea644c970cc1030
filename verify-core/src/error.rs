//! Every way verification fails: one exhaustive enum, one variant per cause.
//!
//! Properties kept:
//! - every refusal is a specific [`VerifyError`] variant that names the role (or the
//!   [`Document`]) and, where there is one, the version concerned; there is no catch-all variant, so a caller can match on every
//!   cause and a new cause is a new variant (a breaking change it has to look at);
//! - no error echoes a signature or the bytes of a document: they name members, versions and
//!   key IDs, which are public.

use std::fmt;

use crate::time::Expires;

/// The four top-level TUF roles whose metadata a root lists keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoleType {
    /// `root`: the keys of every top-level role, signed by the root quorum.
    Root,
    /// `timestamp`: the newest snapshot (and here the Merkle root), signed by the online key.
    Timestamp,
    /// `snapshot`: the versions of the targets metadata.
    Snapshot,
    /// `targets`: what the targets are (empty in merkle mode: the tree says).
    Targets,
}

impl RoleType {
    /// Every top-level role, in the order the TUF specification lists them.
    pub const ALL: [RoleType; 4] = [
        RoleType::Root,
        RoleType::Timestamp,
        RoleType::Snapshot,
        RoleType::Targets,
    ];

    /// The role's name in metadata: `root`, `timestamp`, `snapshot` or `targets`.
    pub fn name(self) -> &'static str {
        match self {
            RoleType::Root => "root",
            RoleType::Timestamp => "timestamp",
            RoleType::Snapshot => "snapshot",
            RoleType::Targets => "targets",
        }
    }

    /// The role named `name` in a root's `roles`, if it is a top-level role.
    pub fn from_name(name: &str) -> Option<RoleType> {
        RoleType::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for RoleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whose signatures a threshold was counted against: the trusted root (for a new root, TUF
/// 5.3.4), or the document's own root role (a root checking itself, TUF 5.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedBy {
    /// The role's keys in the trusted root of this version.
    Root {
        /// The trusted root's version.
        version: u64,
    },
    /// The new root's own root role.
    Itself,
    /// Keys the caller trusts outside any root ([`crate::TrustedKeys`]).
    TrustedKeys,
}

impl fmt::Display for SignedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignedBy::Root { version } => write!(f, "the keys of trusted root version {version}"),
            SignedBy::Itself => f.write_str("its own root keys"),
            SignedBy::TrustedKeys => f.write_str("the keys the caller trusts"),
        }
    }
}

/// What a refused document is: the metadata of a top-level role, a key object given on its own,
/// or a document signed by keys the caller trusts outside any root ([`crate::TrustedKeys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Document {
    /// A top-level role's metadata (`root.json`, `timestamp.json`, …).
    Role(RoleType),
    /// A TUF key object that no root lists (an auditor's key, [`crate::PublicKey::from_key_json`]).
    Key,
    /// A document the caller names, signed by keys it trusts ("audit attestation").
    Named(&'static str),
}

impl From<RoleType> for Document {
    fn from(role: RoleType) -> Document {
        Document::Role(role)
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Document::Role(role) => write!(f, "{role} metadata"),
            Document::Key => f.write_str("key object"),
            Document::Named(name) => f.write_str(name),
        }
    }
}

/// Why a document, a key or a proof was refused.
///
/// Exhaustive on purpose: every cause of refusal has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes are not one JSON value (RFC 8259, UTF-8, nothing after it but white space).
    #[error("{document} is not JSON: {reason}")]
    Json {
        /// The document.
        document: Document,
        /// The parser's message (a position and what it expected; never the input).
        reason: String,
    },
    /// An object in the document has the same member twice. Parsers disagree on which one
    /// counts, so neither does.
    #[error("{document} has the member {member:?} twice in one object")]
    DuplicateMember {
        /// The document.
        document: Document,
        /// The repeated member name.
        member: String,
    },
    /// The document is JSON but not TUF metadata of its role: a member missing, of the wrong
    /// type, or out of range (version 0, a threshold of 0, an `expires` not of the form
    /// `YYYY-MM-DDTHH:MM:SSZ`, hex that is not hex, …).
    #[error("{document} does not have the TUF form: {reason}")]
    Schema {
        /// The document.
        document: Document,
        /// Which member is wrong and how.
        reason: String,
    },
    /// `signed._type` names another role (or another kind of document): a document signed for
    /// one purpose is never accepted as another.
    #[error("expected {expected}, found _type {found:?}")]
    WrongType {
        /// The document expected.
        expected: Document,
        /// The `_type` found.
        found: String,
    },
    /// `spec_version` is not TUF 1.x (`MAJOR.MINOR` or `MAJOR.MINOR.PATCH`, major 1).
    #[error("{role} metadata has spec_version {found:?}; only TUF 1.x is understood")]
    SpecVersion {
        /// The role of the document.
        role: RoleType,
        /// The `spec_version` found.
        found: String,
    },
    /// `signed` has no canonical JSON form that stands for exactly it: a number that is not an
    /// integer, or a string that is not in Unicode NFC (OLPC canonical JSON normalises strings,
    /// so the signed bytes would stand for another document).
    #[error("{document} has no exact canonical JSON form: {reason}")]
    NotCanonical {
        /// The document.
        document: Document,
        /// What stands in the way.
        reason: String,
    },
    /// A root lists a key under an ID that is not the key's TUF key ID (SHA-256 of its
    /// canonical JSON).
    #[error("root lists a key under key ID {listed:?}, but that key's ID is {computed}")]
    KeyIdMismatch {
        /// The ID the root lists it under.
        listed: String,
        /// The key's real ID.
        computed: String,
    },
    /// A root lists a key whose `keytype` and `scheme` are not `ed25519`/`ed25519` or
    /// `ecdsa` (or `ecdsa-sha2-nistp256`)/`ecdsa-sha2-nistp256`.
    #[error(
        "key {key_id} has keytype {keytype:?} and scheme {scheme:?}, which this verifier does not support"
    )]
    UnsupportedKey {
        /// The key's ID.
        key_id: String,
        /// Its `keytype`.
        keytype: String,
        /// Its `scheme`.
        scheme: String,
    },
    /// A root lists a key whose public key is not one: not hex or PEM of the right length, not
    /// a point on the curve, or (Ed25519) a point of small order, under which any signature
    /// would verify.
    #[error("key {key_id} is not a valid public key: {reason}")]
    InvalidPublicKey {
        /// The key's ID.
        key_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A root's `roles` lacks one of the four top-level roles.
    #[error("root metadata has no {role} role")]
    MissingRole {
        /// The role that is missing.
        role: RoleType,
    },
    /// A root's `roles` has a role that is not a top-level role.
    #[error("root metadata has the unknown role {name:?}")]
    UnknownRole {
        /// Its name.
        name: String,
    },
    /// A role lists the same key ID twice, which would let one key count twice.
    #[error("the {role} role lists key ID {key_id} twice")]
    DuplicateRoleKey {
        /// The role.
        role: RoleType,
        /// The repeated key ID.
        key_id: String,
    },
    /// A role lists a key ID the root's `keys` does not have.
    #[error("the {role} role lists key ID {key_id:?}, which is not among the root's keys")]
    RoleKeyMissing {
        /// The role.
        role: RoleType,
        /// The key ID.
        key_id: String,
    },
    /// Two entries of `signatures` name the same key ID (compared as the bytes the hex stands
    /// for, as tough compares them). tough and python-tuf refuse such a document, and so does the
    /// core, so that it never accepts what they refuse.
    #[error("{document} has two signatures under key ID {key_id:?}")]
    DuplicateSignature {
        /// The document.
        document: Document,
        /// The key ID, as the second entry writes it.
        key_id: String,
    },
    /// Fewer distinct keys of the role signed the document than the role's threshold.
    #[error(
        "{document} version {version}: {valid} valid signature(s) by {by}, threshold {threshold}"
    )]
    BelowThreshold {
        /// The document.
        document: Document,
        /// Its version (as the document says, unverified; 0 if it has none).
        version: u64,
        /// Whose keys were counted.
        by: SignedBy,
        /// Distinct listed keys whose signature verified.
        valid: u64,
        /// How many were needed.
        threshold: u64,
    },
    /// A new root is not version N+1 of the trusted root N (TUF 5.3.6).
    #[error("expected root version {expected}, found {found}")]
    RootVersion {
        /// N+1.
        expected: u64,
        /// The version the new root has.
        found: u64,
    },
    /// The trusted root is at the largest version there is; no root can follow it.
    #[error("root version {version} cannot be followed: no version N+1 exists")]
    VersionOverflow {
        /// The trusted root's version.
        version: u64,
    },
    /// The metadata has expired at the `now` the caller gave (expired when `now >= expires`).
    #[error("{role} metadata version {version} expired at {expires}")]
    Expired {
        /// The role.
        role: RoleType,
        /// Its version.
        version: u64,
        /// When it expired.
        expires: Expires,
    },
    /// The timestamp's `meta` does not describe `snapshot.json`, or describes more (TUF 4.6:
    /// it lists `snapshot.json` only).
    #[error(
        "timestamp metadata version {version}: meta must list exactly snapshot.json ({reason})"
    )]
    TimestampMeta {
        /// The timestamp's version.
        version: u64,
        /// What it lists instead.
        reason: String,
    },
    /// The timestamp's `merkle_root` is not 64 lowercase hex digits.
    #[error("timestamp metadata version {version}: merkle_root is not a hash: {reason}")]
    MerkleRoot {
        /// The timestamp's version.
        version: u64,
        /// What is wrong.
        reason: String,
    },
    /// A proof was checked against a timestamp that carries no `merkle_root` (a classic role).
    #[error("timestamp metadata version {version} has no merkle_root to check a proof against")]
    NoMerkleRoot {
        /// The timestamp's version.
        version: u64,
    },
    /// A new timestamp is older than the trusted one (TUF 5.4.3.1).
    #[error("timestamp version {new} is older than the trusted version {trusted}")]
    Rollback {
        /// The trusted version.
        trusted: u64,
        /// The version offered.
        new: u64,
    },
    /// A timestamp has the trusted version but other bytes: two different timestamps with one
    /// version (a fork, or a re-signature); the trusted one is kept.
    #[error("timestamp version {version} differs from the trusted timestamp of the same version")]
    SameVersionDifferentBytes {
        /// The version both carry.
        version: u64,
    },
    /// A new timestamp points at an older snapshot than the trusted one did (TUF 5.4.3.2).
    #[error(
        "timestamp names snapshot version {new}, older than the trusted snapshot version {trusted}"
    )]
    SnapshotRollback {
        /// The snapshot version the trusted timestamp named.
        trusted: u64,
        /// The snapshot version the new one names.
        new: u64,
    },
    /// A proof did not parse, did not verify against the timestamp's `merkle_root`, or is about
    /// other names than the ones asked (`tuf_merkle`'s own error, unchanged).
    #[error("timestamp version {version}: {source}")]
    Proof {
        /// The version of the timestamp whose root the proof was checked against.
        version: u64,
        /// Why `tuf-merkle` refused it.
        source: tuf_merkle::ProofError,
    },
}
