//! Errors of the ceremony tool. Each says what is wrong and what to do next; none carries a
//! PIN or private key material.
//!
//! Every cause the tool knows has its own variant (with the facts as fields), so an embedder can
//! tell a version skip from a missing online key without reading messages; the messages are
//! what `tuf-ceremony` prints after `error: `.

use std::fmt;
use std::path::PathBuf;

use tough::schema::RoleType;

use crate::keys::PIN_ENV;

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
    /// A `pkcs11:` member key given without `--pkcs11-module`.
    #[error("{spec}: a PKCS#11 key needs --pkcs11-module (e.g. /usr/lib/softhsm/libsofthsm2.so)")]
    Pkcs11NeedsModule {
        /// The key as given.
        spec: String,
    },
    /// A `pkcs11:` URI that is not of the supported form.
    #[error(
        "pkcs11:{uri}: {problem}; write pkcs11:token=LABEL;object=KEYLABEL or pkcs11:slot-id=N;object=KEYLABEL"
    )]
    BadPkcs11Uri {
        /// The URI after `pkcs11:`.
        uri: String,
        /// What is wrong.
        problem: String,
    },
    /// `--token-label`, `--slot` or `--key-label` without `--pkcs11-module`.
    #[error("--token-label, --slot and --key-label need --pkcs11-module")]
    TokenArgsWithoutModule,
    /// Neither or both of `--token-label` and `--slot`.
    #[error("with --pkcs11-module, give exactly one of --token-label and --slot")]
    TokenSelection,
    /// `--pkcs11-module` without `--key-label`.
    #[error("with --pkcs11-module, give --key-label")]
    MissingKeyLabel,
    /// Both a key file and a token.
    #[error("give either --key-file or --pkcs11-module, not both")]
    KeyFileAndToken,
    /// Neither a key file nor a token.
    #[error(
        "give the signing key: --key-file FILE, or --pkcs11-module MODULE with --token-label \
         (or --slot) and --key-label"
    )]
    NoSigningKey,
    /// The PIN could not be read from the terminal.
    #[error("cannot read the PIN from the terminal ({source}); run on a terminal, or set {env}")]
    PinPrompt {
        /// The environment variable that can give it instead.
        env: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// Amending drafts that someone has signed already.
    #[error(
        "the drafts are already signed by {signers}; changing them would void those signatures. \
         Start a new ceremony in a new directory"
    )]
    AlreadySigned {
        /// Who signed.
        signers: String,
    },
    /// `finalize` with a threshold unmet: every role short of a threshold.
    #[error("not finalized, nothing written: {}", join(.0, "; "))]
    ThresholdsUnmet(Vec<UnmetThreshold>),
    /// `finalize`: tough refuses a new root under its own threshold.
    #[error("not finalized, nothing written: {role}: tough rejects the new root: {source}")]
    NewRootRejected {
        /// The role.
        role: String,
        /// tough's reason (boxed: it carries a backtrace).
        source: Box<tough::schema::Error>,
    },
    /// `finalize`: tough refuses a new root under the previous root's threshold.
    #[error(
        "not finalized, nothing written: {role}: tough rejects the rotation from version {from}: {source}"
    )]
    RotationRejected {
        /// The role.
        role: String,
        /// The previous root's version.
        from: u64,
        /// tough's reason (boxed: it carries a backtrace).
        source: Box<tough::schema::Error>,
    },
    /// `finalize` of a new root that has expired meanwhile.
    #[error("{role}: the new root expired at {expires}; start a new ceremony")]
    NewRootExpired {
        /// The role.
        role: String,
        /// When it expired (TUF format).
        expires: String,
    },
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
    /// `verify` found problems: every one, in the order found.
    #[error("verification failed: {}", join(.0, "; "))]
    VerifyFailed(Vec<VerifyFailure>),
    /// `verify` without roles, in a roots directory that holds no role directories.
    #[error("verification failed: {} holds no role directories", .0.display())]
    NoRoleDirectories(PathBuf),
    /// JSON serialisation failed (a bug).
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A root that does not have the shape of D1 (or cannot be read back into a spec).
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// [`PIN_ENV`] holds bytes that are not UTF-8 (it has been removed from the environment).
    #[error("{} is not valid UTF-8", PIN_ENV)]
    PinNotUtf8,
    /// A role name that cannot be a directory and URL prefix.
    #[error(
        "role name {0:?}: use lowercase letters, digits, '.', '-' and '_', starting with a letter or digit"
    )]
    BadRoleName(String),
    /// An expiry outside 1..=3660 days (or one the clock cannot represent).
    #[error("expiry of {days} days: give between 1 and 3660 days")]
    BadExpiry {
        /// The days asked for.
        days: u64,
    },
    /// `--online-key` without `=`.
    #[error("--online-key {0}: write ROLE=KEYFILE")]
    OnlineKeySyntax(String),
    /// `--online-key ROLE=…` for a role the ceremony does not have.
    #[error("--online-key {arg}: {role} is not one of the roles ({})", .roles.join(", "))]
    OnlineKeyForOtherRole {
        /// The argument as given.
        arg: String,
        /// The role it names.
        role: String,
        /// The ceremony's roles.
        roles: Vec<String>,
    },
    /// A first ceremony without root members.
    #[error("a first ceremony needs the root members: --member KEY for each")]
    MembersMissing,
    /// A first ceremony without a threshold.
    #[error("a first ceremony needs --threshold")]
    ThresholdMissing,
    /// A role without an online key (first ceremony, or none carried over).
    #[error(
        "no online key for role {role}: add --online-key {role}=FILE (from `tuf-signer key export --role {role}`)"
    )]
    OnlineKeyMissing {
        /// The role.
        role: String,
    },
    /// A rotation whose previous-roots directory holds no chain for a role.
    #[error(
        "{} holds no roots for role {role}; a rotation needs each role's chain",
        .dir.display()
    )]
    NoPreviousRoots {
        /// The role.
        role: String,
        /// Where its chain was looked for.
        dir: PathBuf,
    },
    /// `init` in a directory that holds other files.
    #[error("{} is not empty; give a new or empty directory for the ceremony", .0.display())]
    DirectoryNotEmpty(PathBuf),
    /// A ceremony directory given as a path without a final name (`/`, `..`).
    #[error("{} has no directory name", .0.display())]
    NoDirectoryName(PathBuf),
    /// Two roles whose drafts would name different quorums (D1: one quorum for all).
    #[error(
        "roles {first} and {second} would get different root members or                          thresholds; every role's root must list the same quorum (D1): give                          --member and --threshold explicitly"
    )]
    QuorumsDiffer {
        /// One role.
        first: String,
        /// Another, whose quorum differs.
        second: String,
    },
    /// A role that is not one of the ceremony's.
    #[error("{role} is not a role of this ceremony")]
    UnknownRole {
        /// The role asked for.
        role: String,
    },
    /// `add-member` with a key that is a member already.
    #[error("{key_id} is a member already")]
    AlreadyAMember {
        /// The key.
        key_id: String,
    },
    /// `add-member` with a key that is a member already, under another key ID.
    #[error("{key_id} is a member already, written another way as {existing}")]
    AlreadyAMemberWrittenOtherwise {
        /// The key as given.
        key_id: String,
        /// The member's key ID in the drafts.
        existing: String,
    },
    /// `remove-member` with a key ID that is not a member.
    #[error("{key_id} is not a member (see `tuf-ceremony status`)")]
    NoSuchMember {
        /// The key ID given (trimmed, lowercase).
        key_id: String,
    },
    /// A key algorithm the tool does not generate.
    #[error(transparent)]
    Algorithm(tuf_keys::PublicKeyError),
    /// `keygen` or `pubkey` with neither, or both, of a key file and a token key.
    #[error(
        "give either --key-file FILE or --pkcs11-module with --token-label (or --slot) and --key-label"
    )]
    KeySourceNeeded,
    /// `sign` without `--expect-digest` and without a terminal to ask for the digest on.
    #[error("give --expect-digest with the digest read aloud (no terminal to ask on)")]
    NoTerminal,
}

/// One role short of a threshold at `finalize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmetThreshold {
    /// The role.
    pub role: String,
    /// Valid signatures by the new root's members.
    pub new_signatures: usize,
    /// The new root's threshold.
    pub new_threshold: u64,
    /// Valid signatures by the previous root's members and its threshold (rotations).
    pub previous: Option<(usize, u64)>,
}

impl fmt::Display for UnmetThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} of {} new-root signatures",
            self.role, self.new_signatures, self.new_threshold
        )?;
        if let Some((signatures, threshold)) = self.previous {
            write!(f, ", {signatures} of {threshold} previous-root signatures")?;
        }
        Ok(())
    }
}

/// One problem `verify` found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyFailure {
    /// A role directory without roots.
    #[error("{role}: no roots")]
    NoRoots {
        /// The role.
        role: String,
    },
    /// A role whose newest root lists another quorum than the first role's.
    #[error("{role}: its root quorum differs from the other roles' (D1: one quorum for all)")]
    QuorumDiffers {
        /// The role.
        role: String,
    },
    /// A chain that a client would not accept.
    #[error(transparent)]
    Chain(CeremonyError),
    /// A transcript that does not check out against the roots.
    #[error(transparent)]
    Transcript(CeremonyError),
}

/// Why a root does not have the D1 shape: consistent snapshots, a 1.x spec version, one online
/// key with threshold 1 for timestamp, snapshot and targets, a root threshold its members can
/// meet, and no key listed twice, however it is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// `consistent_snapshot` is false.
    #[error("consistent_snapshot is false (D1 requires true)")]
    InconsistentSnapshots,
    /// A `spec_version` other than 1.x.
    #[error("spec_version {0:?} is not 1.x")]
    SpecVersion(String),
    /// No root role.
    #[error("the root lists no root role")]
    NoRootRole,
    /// A key ID a role lists without its key in `keys`.
    #[error("{what} {key_id} is not in `keys`")]
    KeyMissing {
        /// "root key" or "online key".
        what: &'static str,
        /// The key ID.
        key_id: String,
    },
    /// A root member's key that is not an Ed25519 or P-256 key the tool can use.
    #[error("root key {key_id}: {source}")]
    BadMemberKey {
        /// The key ID.
        key_id: String,
        /// Why.
        source: tuf_keys::PublicKeyError,
    },
    /// The online key is not an Ed25519 or P-256 key the tool can use.
    #[error("online key: {0}")]
    BadOnlineKey(tuf_keys::PublicKeyError),
    /// An online role (timestamp, snapshot, targets) missing.
    #[error("the root lists no {0} role")]
    NoOnlineRole(RoleType),
    /// An online role held by other than exactly one key with threshold 1.
    #[error(
        "{role} must be held by exactly one online key with threshold 1 (it lists {keys} \
         key(s), threshold {threshold})"
    )]
    OnlineRoleKeys {
        /// The role.
        role: RoleType,
        /// How many keys it lists.
        keys: usize,
        /// Its threshold.
        threshold: u64,
    },
    /// Timestamp, snapshot and targets held by different keys.
    #[error("timestamp, snapshot and targets must share one online key")]
    OnlineKeysDiffer,
    /// A root threshold its members cannot meet (or zero).
    #[error("root threshold {threshold} cannot be met by its {members} member(s)")]
    ThresholdUnmeetable {
        /// The threshold.
        threshold: u64,
        /// How many members.
        members: usize,
    },
    /// A member key listed twice under one key ID.
    #[error("member key {0} is listed twice")]
    MemberListedTwice(String),
    /// One member key written two ways (two key IDs).
    #[error("member keys {first} and {second} are one key written two ways, listed twice")]
    MemberWrittenTwice {
        /// The first key ID.
        first: String,
        /// The second.
        second: String,
    },
    /// A root member that is also the online key.
    #[error(
        "key {member} is both a root member and an online key ({online}); the online key lives in \
         a KMS and must never hold the root role"
    )]
    MemberIsOnlineKey {
        /// The member's key ID.
        member: String,
        /// The online key's key ID.
        online: String,
    },
}

/// `items` joined by `sep`, each as it displays.
fn join<T: fmt::Display>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_name_every_item_as_before() {
        let unmet = CeremonyError::ThresholdsUnmet(vec![
            UnmetThreshold {
                role: "crates.io".into(),
                new_signatures: 0,
                new_threshold: 1,
                previous: None,
            },
            UnmetThreshold {
                role: "rustup".into(),
                new_signatures: 1,
                new_threshold: 3,
                previous: Some((2, 3)),
            },
        ]);
        assert_eq!(
            unmet.to_string(),
            "not finalized, nothing written: crates.io: 0 of 1 new-root signatures; rustup: 1 of \
             3 new-root signatures, 2 of 3 previous-root signatures"
        );
        let failed = CeremonyError::VerifyFailed(vec![
            VerifyFailure::NoRoots { role: "r7".into() },
            VerifyFailure::QuorumDiffers { role: "r2".into() },
            VerifyFailure::Chain(CeremonyError::NoCeremony(PathBuf::from("c"))),
        ]);
        assert_eq!(
            failed.to_string(),
            "verification failed: r7: no roots; r2: its root quorum differs from the other \
             roles' (D1: one quorum for all); c holds no ceremony (no ceremony.json); start one \
             with `tuf-ceremony init --dir c …`"
        );
        assert_eq!(
            CeremonyError::PinNotUtf8.to_string(),
            "TUF_CEREMONY_PIN is not valid UTF-8"
        );
        assert_eq!(
            CeremonyError::OnlineKeyForOtherRole {
                arg: "x=k.pub".into(),
                role: "x".into(),
                roles: vec!["a".into(), "b".into()],
            }
            .to_string(),
            "--online-key x=k.pub: x is not one of the roles (a, b)"
        );
    }
}
