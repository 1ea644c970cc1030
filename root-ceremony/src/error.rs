//! Errors of the ceremony tool. Each says what is wrong and what to do next; none carries a
//! PIN or private key material.

use std::path::PathBuf;

/// Why a ceremony step was refused. A refused step writes nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file larger than the tool reads for its kind.
    #[error(
        "{path} is larger than {limit} bytes, the most tuf-ceremony reads for {what}; it is \
         not a file this tool wrote: check the media"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
        /// The kind of file ("a root", "the ceremony file", …).
        what: &'static str,
    },
    /// A file the tool appends to is a symbolic link or not a regular file.
    #[error(
        "{0} is a symbolic link or not a regular file; the tool writes only regular files on \
         the media. Restore it from the copy on the other removable media"
    )]
    NotARegularFile(PathBuf),
    /// The ceremony directory has no ceremony in it.
    #[error(
        "{0} holds no ceremony (no ceremony.json); start one with `tuf-ceremony init --dir {0} …`"
    )]
    NoCeremony(PathBuf),
    /// `init` on a directory that already holds a ceremony.
    #[error(
        "{0} already holds a ceremony; use a new, empty directory (a ceremony is never overwritten)"
    )]
    CeremonyExists(PathBuf),
    /// A ceremony file that cannot be parsed or is inconsistent.
    #[error(
        "ceremony file {path} is damaged: {reason}; restore it from the last copy on the removable media"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The drafts no longer hash to the digest announced when they were written.
    #[error(
        "the drafts changed after digest {announced} was announced (they now hash to {actual}); \
         someone edited ceremony.json. Do not sign: restore it from the last copy on the \
         removable media"
    )]
    DraftChanged {
        /// The digest announced.
        announced: String,
        /// The digest now.
        actual: String,
    },
    /// A signature does not verify over the current draft.
    #[error(
        "role {role}: the signature of key {key_id} does not verify over the current draft: the \
         draft changed after that key signed (or the signature was damaged). Restore \
         ceremony.json from the removable media"
    )]
    SignatureInvalid {
        /// The role.
        role: String,
        /// The key.
        key_id: String,
    },
    /// Two signatures with the same key ID.
    #[error(
        "role {role}: key {key_id} has more than one signature on the draft; TUF clients \
         (tough) reject such metadata. Restore ceremony.json from the removable media"
    )]
    DuplicateSignature {
        /// The role.
        role: String,
        /// The key.
        key_id: String,
    },
    /// A signature by a key that is not a root member.
    #[error(
        "role {role}: the draft carries a signature by key {key_id}, which is not a member of \
         the new or the previous root; it does not belong to this ceremony. Restore \
         ceremony.json from the removable media"
    )]
    ForeignSignature {
        /// The role.
        role: String,
        /// The key.
        key_id: String,
    },
    /// The signing key is not a member.
    #[error(
        "key {key_id} is not a member of the new root nor of the previous root of role {role} \
         (members: {members}); nothing was signed. Check that this is the right key or token"
    )]
    NotAMember {
        /// The key.
        key_id: String,
        /// The role.
        role: String,
        /// The member key IDs.
        members: String,
    },
    /// A threshold that cannot be met or is zero.
    #[error(
        "threshold {threshold} is impossible with {members} member key(s): it must be between 1 and {members}"
    )]
    BadThreshold {
        /// The threshold asked for.
        threshold: u64,
        /// How many members.
        members: usize,
    },
    /// A version other than the previous plus one.
    #[error(
        "role {role}: version {version} does not follow the previous root's version {previous}; \
         a root chain must not skip (clients walk it one version at a time)"
    )]
    VersionSkip {
        /// The role.
        role: String,
        /// The version asked for.
        version: u64,
        /// The previous version (0 if none).
        previous: u64,
    },
    /// The previous root has expired.
    #[error(
        "role {role}: the previous root (version {version}) expired at {expires}. Check that \
         {dir} is the newest published chain. If it is, clients can still follow a rotation (TUF \
         checks only the newest root's expiry): re-run with --allow-expired-previous"
    )]
    ExpiredPrevious {
        /// The role.
        role: String,
        /// Its version.
        version: u64,
        /// When it expired.
        expires: String,
        /// Where the chain was read.
        dir: PathBuf,
    },
    /// A root chain that a client would not accept.
    #[error("role {role}: the root chain in {dir} breaks at {file}: {reason}")]
    ChainBroken {
        /// The role.
        role: String,
        /// The directory.
        dir: PathBuf,
        /// The file where it breaks.
        file: String,
        /// Why.
        reason: String,
    },
    /// A public key file that cannot be used.
    #[error("public key {path}: {reason}")]
    BadPublicKey {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A private key file that cannot be used.
    #[error(transparent)]
    KeyFile(#[from] tuf_keys::KeyFileError),
    /// A PKCS#11 problem.
    #[error(transparent)]
    Pkcs11(#[from] tuf_keys::pkcs11::Pkcs11Error),
    /// Bad command-line input.
    #[error("{0}")]
    Usage(String),
    /// Amending drafts that someone has signed already.
    #[error(
        "the drafts are already signed by {signers}; changing them would void those signatures. \
         Start a new ceremony in a new directory"
    )]
    AlreadySigned {
        /// Who signed.
        signers: String,
    },
    /// `finalize` with a threshold unmet.
    #[error("not finalized, nothing written: {0}")]
    ThresholdsUnmet(String),
    /// The digest typed does not match.
    #[error(
        "the digest you were given ({given}) does not match these drafts ({actual}); do not \
         sign: find out which copy of the ceremony is the right one"
    )]
    DigestMismatch {
        /// The digest given.
        given: String,
        /// The drafts' digest.
        actual: String,
    },
    /// The published chain no longer ends at the root the ceremony started from.
    #[error(
        "role {role}: {dir} ends at version {found}, but this ceremony follows {expected};          another root was published (or the wrong directory was given). Give the chain the          ceremony started from, or start a new ceremony from the current chain"
    )]
    ChainMoved {
        /// The role.
        role: String,
        /// The directory.
        dir: PathBuf,
        /// What the directory ends at ("none" or "version N (sha256 …)").
        found: String,
        /// What the ceremony follows.
        expected: String,
    },
    /// The output already holds a root of this version.
    #[error(
        "{0} exists already; finalize never overwrites a root (was this ceremony finalized before?)"
    )]
    OutputExists(PathBuf),
    /// A transcript that does not check out.
    #[error("transcript {path}, entry {entry}: {reason}")]
    Transcript {
        /// The file.
        path: PathBuf,
        /// The entry (1-based line).
        entry: usize,
        /// What is wrong.
        reason: String,
    },
    /// Verification found problems.
    #[error("verification failed: {0}")]
    VerifyFailed(String),
    /// JSON serialisation failed (a bug).
    #[error("JSON: {0}")]
    Json(String),
}

impl From<tuf_files::FsError> for CeremonyError {
    /// A failed write keeps its action, path and error.
    fn from(e: tuf_files::FsError) -> Self {
        CeremonyError::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        }
    }
}

impl CeremonyError {
    /// Whether this is an I/O error saying the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CeremonyError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// A `map_err` helper for I/O errors.
    pub fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| CeremonyError::Io {
            action,
            path,
            source,
        }
    }
}
