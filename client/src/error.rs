//! Every way verification can fail. Each attack the client defends against has its own variant,
//! so callers (and the attack suite) can tell a rollback from a freeze from a forged proof; so
//! does every local cause (a missing file, a state directory in use, no names to verify).
//!
//! The enums are `#[non_exhaustive]`: new attacks get new variants, so a caller's `match`
//! keeps a wildcard arm, which should refuse.

use std::path::PathBuf;

use tuf_merkle::{Digest, LeafContents, ProofError};

use crate::attest::ATTESTATION_SPEC;
use crate::audit::LeafSnapshotError;
use crate::audit_state::AuditStateError;
use crate::failover::FailedAttempt;

/// Why the client refused what it was served, or could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    // ----- transport -----
    /// The server could not be reached, or the connection failed before a response.
    #[error("fetching {what}: {message}")]
    Transport {
        /// What was being fetched.
        what: String,
        /// The underlying error.
        message: String,
    },
    /// An HTTP status other than 200 or 404.
    #[error("fetching {what}: HTTP status {status}")]
    Status {
        /// What was being fetched.
        what: String,
        /// The status.
        status: u16,
    },
    /// A file the protocol requires is missing (404).
    #[error("{what} is missing on the repository (404)")]
    NotFound {
        /// What was being fetched.
        what: String,
    },
    /// Oversized response: larger than the limit for its kind (endless-data attack).
    #[error("{what} is larger than its limit of {limit} bytes")]
    TooLarge {
        /// What was being fetched.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// Truncated response: the connection ended before the announced length.
    #[error("{what} is truncated: got {got} bytes of {expected}")]
    Truncated {
        /// What was being fetched.
        what: String,
        /// The announced length (0 when unknown).
        expected: u64,
        /// The bytes received.
        got: u64,
    },
    /// No complete answer within the transport's timeout (a stalled or very slow server).
    #[error("fetching {what}: timed out")]
    Timeout {
        /// What was being fetched.
        what: String,
    },
    /// A redirect the transport's policy does not follow.
    #[error("{what} redirects to {to}, which is not followed: {reason}")]
    RedirectRefused {
        /// The URL that redirected.
        what: String,
        /// Where it redirected to.
        to: String,
        /// Why it is not followed.
        reason: RedirectRefusal,
    },
    /// More redirects than the transport follows for one request.
    #[error("fetching {what}: more than {limit} redirects")]
    TooManyRedirects {
        /// The URL first asked for.
        what: String,
        /// The most redirects followed.
        limit: u32,
    },
    /// Every repository URL of the role failed the step (several URLs only: with one, its own
    /// error is returned). Each attempt says which server and why, in the order tried.
    #[error("every repository failed: {}", display_attempts(.attempts))]
    AllRepositoriesFailed {
        /// Each server's failed attempt.
        attempts: Vec<FailedAttempt>,
    },
    /// A CA bundle (`--ca-bundle`, [`crate::transport::CaBundle`]) that cannot be read or
    /// holds no usable certificate.
    #[error("CA bundle {}: {message}", .path.display())]
    CaBundle {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A client opened on an empty list of repositories.
    #[error("no repository URL given")]
    NoRepositories,
    /// Malformed JSON, or JSON of the wrong shape, in metadata or an API answer.
    #[error("{what} is not valid: {message}")]
    MalformedJson {
        /// What was being parsed.
        what: String,
        /// The parser's message.
        message: String,
    },

    // ----- root chain -----
    /// `N.root.json` carries another version than N.
    #[error("{file} has version {found}")]
    RootVersion {
        /// The file fetched.
        file: String,
        /// The version inside.
        found: u64,
    },
    /// A root rotation signed below threshold: by fewer than the previous root's root threshold,
    /// or fewer than its own.
    #[error("root version {version} is not signed by the root threshold of {by}: {message}")]
    RootBelowThreshold {
        /// The new root's version.
        version: u64,
        /// `"root N-1"` or `"itself"`.
        by: String,
        /// The verifier's message (`tuf-verify-core`).
        message: String,
    },
    /// More root versions than the client walks in one refresh.
    #[error("more than {0} new root versions in one refresh")]
    RootChainTooLong(u64),

    // ----- timestamp, snapshot, targets -----
    /// Freeze attack: metadata that has expired.
    #[error("{role} version {version} expired at {expires} (freeze attack or stale mirror)")]
    Expired {
        /// root, timestamp, snapshot or targets.
        role: &'static str,
        /// Its version.
        version: u64,
        /// When it expired.
        expires: jiff::Timestamp,
    },
    /// Metadata not signed by the threshold of the keys the trusted root lists for its role.
    #[error("{role} version {version} is not signed by its role's threshold: {message}")]
    BadSignature {
        /// timestamp, snapshot or targets.
        role: &'static str,
        /// Its version.
        version: u64,
        /// The verifier's message (`tuf-verify-core`).
        message: String,
    },
    /// Rollback attack: a version below the one already trusted.
    #[error("rollback: {role} version {got} is below the trusted version {trusted}")]
    Rollback {
        /// timestamp, snapshot or targets.
        role: &'static str,
        /// The trusted version.
        trusted: u64,
        /// The version served.
        got: u64,
    },
    /// Two different timestamps with one version: the repository signed two histories.
    #[error("timestamp version {version} was seen with merkle_root {trusted} and now with {got}")]
    Equivocation {
        /// The version.
        version: u64,
        /// The root trusted for it.
        trusted: String,
        /// The root served now.
        got: String,
    },
    /// A merkle-mode timestamp without a valid `merkle_root`.
    #[error("timestamp version {version} has no valid merkle_root: {message}")]
    MissingMerkleRoot {
        /// The timestamp version.
        version: u64,
        /// What is wrong.
        message: String,
    },
    /// Snapshot or targets metadata that is not what the role above it points at.
    #[error("{what}: {message}")]
    MetadataMismatch {
        /// The file.
        what: String,
        /// What differs.
        message: String,
    },
    /// A snapshot that no longer lists a metadata file the trusted snapshot lists (TUF 5.5.5:
    /// every role a trusted snapshot lists stays listed).
    #[error(
        "snapshot version {version} does not list {file}, which the trusted snapshot version \
         {trusted_version} lists at version {listed} (rollback)"
    )]
    RoleDropped {
        /// The new snapshot's version.
        version: u64,
        /// The metadata file it dropped (`targets.json`, a delegated role's file).
        file: String,
        /// The trusted snapshot's version.
        trusted_version: u64,
        /// The version the trusted snapshot lists for the file.
        listed: u64,
    },
    /// A snapshot that lists a metadata file at a lower version than the trusted snapshot does
    /// (TUF 5.5.5).
    #[error(
        "rollback: snapshot version {version} lists {file} at version {got}, below version \
         {trusted} in the trusted snapshot"
    )]
    SnapshotRollback {
        /// The new snapshot's version.
        version: u64,
        /// The metadata file.
        file: String,
        /// The version the trusted snapshot lists.
        trusted: u64,
        /// The version the new snapshot lists.
        got: u64,
    },

    // ----- proofs and targets -----
    /// Mix-and-match: a proof that is valid, but for another tree root than the trusted one.
    #[error(
        "mix-and-match: the proof for {name:?} is for root {proof_root} (timestamp {claimed_version}), \
         not the trusted root {trusted_root} (timestamp {trusted_version})"
    )]
    ProofForOtherRoot {
        /// The name.
        name: String,
        /// The trusted timestamp version.
        trusted_version: u64,
        /// The trusted root.
        trusted_root: Digest,
        /// The timestamp version the server claimed.
        claimed_version: u64,
        /// The root the proof computes.
        proof_root: Digest,
    },
    /// A changed leaf: the contents served for a name are not the ones in the signed tree.
    #[error("changed leaf: {name:?} was served as {served} but the signed tree holds {signed}")]
    ChangedLeaf {
        /// The name.
        name: String,
        /// The contents served in the forged proof.
        served: String,
        /// The contents the signed tree holds.
        signed: String,
    },
    /// A wrong sibling: the leaf is the signed one but the proof's path was altered.
    #[error("wrong sibling: the path of {name:?} was altered (the leaf itself is the signed one)")]
    WrongSibling {
        /// The name.
        name: String,
    },
    /// A proof that does not reach the trusted root, where no second copy could tell which part
    /// was altered.
    #[error("the proof for {name:?} does not verify against the trusted root: {source}")]
    ProofRejected {
        /// The name.
        name: String,
        /// The verifier's error.
        source: ProofError,
    },
    /// A proof that is not a well-formed, canonical proof.
    #[error("the proof for {name:?} is malformed: {source}")]
    MalformedProof {
        /// The name (or the list's first).
        name: String,
        /// The parser's error.
        source: ProofError,
    },
    /// A withheld target: the server would not give a proof (404) or claimed absence for a
    /// name the signed tree holds.
    #[error("withheld: {name:?} is in the signed tree but the repository {how}")]
    Withheld {
        /// The name.
        name: String,
        /// What it did instead.
        how: String,
    },
    /// A leaf version lower than the one this client saw before for the name.
    #[error("{name:?} has version {got}, lower than the version {seen} this client saw before")]
    LeafVersionDecreased {
        /// The name.
        name: String,
        /// The version seen before.
        seen: u64,
        /// The version proved now.
        got: u64,
    },
    /// A file whose length or SHA-256 is not the one its leaf gives.
    #[error(
        "{name:?}: the file has length {actual_length} and sha256 {actual_sha256}, but the signed leaf is {}",
        .expected.canonical_json()
    )]
    FileMismatch {
        /// The name.
        name: String,
        /// The signed leaf (or target entry).
        expected: Box<LeafContents>,
        /// The file's length.
        actual_length: u64,
        /// The file's SHA-256.
        actual_sha256: Digest,
    },
    /// A multi-proof whose names are not the ones asked for.
    #[error(
        "the multi-proof's names are not the requested ones: {asked} names asked, {got} in the proof"
    )]
    WrongNames {
        /// How many names were asked for.
        asked: usize,
        /// How many names the proof is about.
        got: usize,
    },
    /// A proof about another name than the one asked for.
    #[error(
        "the multi-proof's names are not the requested ones: asked for {asked:?}, got a proof for {got:?}"
    )]
    ProofForOtherName {
        /// The name asked for.
        asked: String,
        /// The name the proof is about.
        got: String,
    },
    /// A target that a classic role's targets.json does not list.
    #[error("{0:?} is not listed in the role's targets.json")]
    NotListed(String),
    /// A target that a classic role's targets.json lists in a way this client cannot check
    /// (no SHA-256 hash, say): that target alone is unusable, the rest of targets.json is.
    #[error("{name:?} is listed in the role's targets.json but cannot be used: {reason}")]
    UnusableTarget {
        /// The name.
        name: String,
        /// Why it cannot be checked.
        reason: String,
    },

    // ----- auditing -----
    /// An audit could not start at a leaf snapshot (`--from-leaf-snapshot`).
    #[error(
        "leaf snapshot: {0} (not a breach: the snapshot is unsigned; audit from version 1 instead)"
    )]
    LeafSnapshot(#[from] LeafSnapshotError),
    /// An audit state directory whose files do not verify, or cannot be used.
    #[error("audit state: {0}; {remedy}", remedy = .0.remedy())]
    AuditState(#[from] AuditStateError),

    // ----- attestations -----
    /// An auditor attestation that is missing, unsigned, or does not cover the trusted root;
    /// or the auditor's own key or output that cannot be used.
    #[error("auditor attestation: {0}")]
    Attestation(#[from] AttestationError),

    // ----- local -----
    /// The state directory has no trusted root yet.
    #[error("{0} holds no trusted root; run `tuf-verify init` first")]
    NotInitialized(PathBuf),
    /// Reading a local file (state, a file to check, a list of names) failed.
    #[error("{}: {source}", .path.display())]
    Local {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Writing a local file (atomically, through `tuf-files`) failed.
    #[error("{}: cannot {action}: {source}", .path.display())]
    LocalWrite {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// `state.json` that is not a state this client wrote (or one it cannot write).
    #[error("{}: {source}", .path.display())]
    StateJson {
        /// The file (or its directory).
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A state directory that is a file.
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// `init` in a state directory that has a state already.
    #[error("{}: already initialised; use another directory or remove it", .0.display())]
    AlreadyInitialized(PathBuf),
    /// Signing metadata with a key file failed.
    #[cfg(feature = "sign")]
    #[error("{}: {source}", .path.display())]
    Signing {
        /// The key file.
        path: PathBuf,
        /// The error.
        source: tuf_keys::KeyFileError,
    },
    /// The state directory is open already in this process (by another [`crate::Client`]):
    /// waiting for its lock would wait forever.
    #[error("{0} is already open in this process; use one Client per state directory at a time")]
    StateInUse(PathBuf),
    /// The state directory's lock file could not be taken.
    #[error("locking the state directory: {0}")]
    StateLock(#[source] tuf_files::LockError),
    /// A proof asked of a directory, which has no proof API.
    #[error("{path}: a directory has no proof API; use the signer's or a mirror's HTTP URL")]
    NoProofApi {
        /// The API path asked for.
        path: String,
    },
    /// A repository path that could leave the repository's directory (`..`, empty segments,
    /// backslashes).
    #[error("refusing path {path:?}")]
    RefusedPath {
        /// The path asked for.
        path: String,
    },
    /// Nothing to verify: no names given, none in the names file, no file under the directory.
    #[error("no names given")]
    NoNames,
    /// Merkle proofs asked of a classic role, which lists its targets in `targets.json`.
    #[error("{role} is a classic role: it has no Merkle proofs")]
    ClassicRole {
        /// The role.
        role: String,
    },
    /// Proofs asked for before any timestamp was trusted.
    #[error("no trusted timestamp yet: refresh first")]
    NotRefreshed,
}

/// Why an auditor attestation was refused, or could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The attestation could not be fetched.
    #[error(transparent)]
    Fetch(Box<ClientError>),
    /// Not an attestation of this format.
    #[error("not a {} attestation", ATTESTATION_SPEC)]
    WrongFormat,
    /// An auditor key that is not a key the verifier can use (not a TUF key object, a type
    /// other than Ed25519 or ECDSA P-256, not a valid public key).
    #[error("auditor key: {0}")]
    AuditorKey(#[source] tuf_verify_core::VerifyError),
    /// A signature entry that is not a TUF signature.
    #[error("signature: {0}")]
    Signature(#[source] serde_json::Error),
    /// Not signed by the threshold of the auditor keys.
    #[error(transparent)]
    Unverified(tuf_verify_core::VerifyError),
    /// An attestation of another role.
    #[error("it is for role {attested:?}, not {role:?}")]
    OtherRole {
        /// The role attested.
        attested: String,
        /// The client's role.
        role: String,
    },
    /// An attestation of a timestamp the client has not reached: refresh again.
    #[error("it attests timestamp {attested} but the latest is {latest}; refresh again")]
    AheadOfLatest {
        /// The version attested.
        attested: u64,
        /// The client's latest timestamp version.
        latest: u64,
    },
    /// An attestation below one accepted before.
    #[error("it attests timestamp {attested}, below the {accepted} accepted before (rollback)")]
    Rollback {
        /// The version attested.
        attested: u64,
        /// The version accepted before.
        accepted: u64,
    },
    /// An attestation further behind the latest timestamp than the client allows.
    #[error("it attests timestamp {attested}, more than {max_lag} behind the latest {latest}")]
    TooFarBehind {
        /// The version attested.
        attested: u64,
        /// The most versions it may lag.
        max_lag: u64,
        /// The client's latest timestamp version.
        latest: u64,
    },
    /// A `merkle_root` that is not 64 hex digits.
    #[error("merkle_root: {0}")]
    MerkleRoot(#[source] tuf_merkle::hash::HexError),
    /// A file of auditor keys that is not a JSON list of TUF keys.
    #[error("{}: {source}", .path.display())]
    AuditorKeysFile {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// Writing a statement or a key as JSON failed.
    #[error(transparent)]
    Json(serde_json::Error),
    /// The auditor's key file cannot be loaded, generated or signed with.
    #[cfg(feature = "sign")]
    #[error(transparent)]
    Key(#[from] tuf_keys::KeyFileError),
}

impl From<ClientError> for AttestationError {
    /// A failed fetch of the attestation keeps its cause.
    fn from(e: ClientError) -> Self {
        AttestationError::Fetch(Box::new(e))
    }
}

/// Why a redirect was not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectRefusal {
    /// From `https` to anything else: the rest would travel in clear text.
    #[error("it leaves https")]
    Downgrade,
    /// To another origin (scheme, host or port) while only same-origin redirects are followed.
    #[error("another origin (only same-origin redirects are followed)")]
    CrossOrigin,
    /// To a scheme other than `http` and `https`.
    #[error("only http and https are fetched")]
    UnsupportedScheme,
    /// Redirects are not followed at all.
    #[error("redirects are not followed")]
    NotFollowed,
    /// A 301, 302 or 303 for a POST: following it would turn the POST into a GET.
    #[error("a POST is only redirected by 307 or 308")]
    MethodChange,
}

impl From<tuf_files::FsError> for ClientError {
    /// A local file operation that failed: the path, and the action with its error.
    fn from(e: tuf_files::FsError) -> Self {
        ClientError::LocalWrite {
            path: e.path,
            action: e.action,
            source: e.source,
        }
    }
}

impl From<tuf_files::LockError> for ClientError {
    /// The state directory's lock could not be taken.
    fn from(e: tuf_files::LockError) -> Self {
        ClientError::StateLock(e)
    }
}

impl ClientError {
    /// A `map_err` helper: an I/O error on the local file `path`.
    pub(crate) fn local(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ClientError::Local { path, source }
    }

    pub(crate) fn malformed(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        ClientError::MalformedJson {
            what: what.into(),
            message: e.to_string(),
        }
    }

    /// A stable identifier of the error's kind for scripts: the variant's name in snake_case
    /// (`rollback`, `changed_leaf`, `all_repositories_failed`); `tuf-verify --json` prints it as
    /// `error.kind`. A new variant gets a new kind; an existing kind never changes.
    pub fn kind(&self) -> &'static str {
        use ClientError as E;
        match self {
            E::Transport { .. } => "transport",
            E::Status { .. } => "status",
            E::NotFound { .. } => "not_found",
            E::TooLarge { .. } => "too_large",
            E::Truncated { .. } => "truncated",
            E::Timeout { .. } => "timeout",
            E::RedirectRefused { .. } => "redirect_refused",
            E::TooManyRedirects { .. } => "too_many_redirects",
            E::AllRepositoriesFailed { .. } => "all_repositories_failed",
            E::CaBundle { .. } => "ca_bundle",
            E::NoRepositories => "no_repositories",
            E::MalformedJson { .. } => "malformed_json",
            E::RootVersion { .. } => "root_version",
            E::RootBelowThreshold { .. } => "root_below_threshold",
            E::RootChainTooLong(_) => "root_chain_too_long",
            E::Expired { .. } => "expired",
            E::BadSignature { .. } => "bad_signature",
            E::Rollback { .. } => "rollback",
            E::Equivocation { .. } => "equivocation",
            E::MissingMerkleRoot { .. } => "missing_merkle_root",
            E::MetadataMismatch { .. } => "metadata_mismatch",
            E::RoleDropped { .. } => "role_dropped",
            E::SnapshotRollback { .. } => "snapshot_rollback",
            E::ProofForOtherRoot { .. } => "proof_for_other_root",
            E::ChangedLeaf { .. } => "changed_leaf",
            E::WrongSibling { .. } => "wrong_sibling",
            E::ProofRejected { .. } => "proof_rejected",
            E::MalformedProof { .. } => "malformed_proof",
            E::Withheld { .. } => "withheld",
            E::LeafVersionDecreased { .. } => "leaf_version_decreased",
            E::FileMismatch { .. } => "file_mismatch",
            E::WrongNames { .. } => "wrong_names",
            E::ProofForOtherName { .. } => "proof_for_other_name",
            E::NotListed(_) => "not_listed",
            E::UnusableTarget { .. } => "unusable_target",
            E::LeafSnapshot(_) => "leaf_snapshot",
            E::AuditState(_) => "audit_state",
            E::Attestation(_) => "attestation",
            E::NotInitialized(_) => "not_initialized",
            E::Local { .. } => "local",
            E::LocalWrite { .. } => "local_write",
            E::StateJson { .. } => "state_json",
            E::NotADirectory(_) => "not_a_directory",
            E::AlreadyInitialized(_) => "already_initialized",
            #[cfg(feature = "sign")]
            E::Signing { .. } => "signing",
            E::StateInUse(_) => "state_in_use",
            E::StateLock(_) => "state_lock",
            E::NoProofApi { .. } => "no_proof_api",
            E::RefusedPath { .. } => "refused_path",
            E::NoNames => "no_names",
            E::ClassicRole { .. } => "classic_role",
            E::NotRefreshed => "not_refreshed",
        }
    }
}

/// `URL: why; URL: why`, for [`ClientError::AllRepositoriesFailed`].
fn display_attempts(attempts: &[FailedAttempt]) -> String {
    attempts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
