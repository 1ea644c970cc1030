//! Several repository URLs for one role (the signer and its mirrors, D9) and the rules for
//! failing over between them.
//!
//! Failover adds availability, never trust: every answer, from whichever server, is verified
//! against the client's trusted root and state exactly as with one server. The rules:
//!
//! - **One server per step.** A step ([`crate::Client::refresh`], `verify`, `verify_many`,
//!   `download`) asks a single server for everything it needs (root chain, timestamp, proof,
//!   the second copy of a proof used to name an attack, the target file). When that server
//!   cannot give a verified result, the whole step starts over on the next server; answers
//!   from two servers are never combined within a step, so no server can pick which half of
//!   a step another server's answer completes.
//! - **The order.** The server that answered the last successful step is asked first (it
//!   holds the timestamp version the client trusts), then the others in the order given.
//! - **What fails over** ([`fault`]): a server that cannot be reached, times out, redirects
//!   where the policy does not follow, or answers 5xx (a `503 not_leader` included), 408, 429
//!   or 410 ([`ServerFault::Unavailable`]); and a server whose answer fails verification: a
//!   bad signature, a rollback (a mirror behind the trusted timestamp), an expired timestamp
//!   (a frozen mirror), an altered or withheld proof, a missing required file, an oversized,
//!   truncated or malformed answer ([`ServerFault::BadData`]). Each is recorded as a
//!   [`FailedAttempt`], so tampering is reported even when a later server verifies.
//! - **What does not.** A verified result is the repository's answer, the same from every
//!   honest server, and is never retried elsewhere to find a different one: a target proved
//!   present, deleted or absent, a file that does not match its verified leaf, a leaf version
//!   that went down in a verified tree, two timestamps signed with one version (the role's key
//!   signed both: a breach of the repository, not of a server). A 404 the protocol defines as
//!   an answer (no newer `N.root.json`) is taken as that answer. Any other 4xx (400 for an
//!   invalid name, 409 for a classic role) is the same request's answer everywhere. Local
//!   causes (the state directory, a file to check) and the auditor's attestation (fetched from
//!   its own location) do not involve the servers.
//! - **One trusted state.** The state directory holds one trusted state per role, shared by
//!   every server: the root, the timestamp version (the rollback floor), the snapshot and
//!   targets versions and the leaf versions seen. A server behind that floor is refused as a
//!   rollback exactly as with one server, then the next server is tried. Nothing is kept per
//!   server: a server proves nothing about itself, so there is nothing about it to trust.

use crate::error::ClientError;
use crate::transport::Transport;

/// Why a server's attempt at a step was given up for the next server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerFault {
    /// It could not answer: unreachable, timed out, a 5xx, 408, 429 or 410, a refused redirect,
    /// or no proof API (a directory).
    #[error("unavailable")]
    Unavailable,
    /// Its answer failed verification: tampered, withheld, behind the trusted state (rollback),
    /// expired, or malformed.
    #[error("served data that failed verification")]
    BadData,
}

/// One server's failed attempt at a step.
#[derive(Debug)]
pub struct FailedAttempt {
    /// The server ([`Transport::describe`]: its base URL or directory).
    pub repository: String,
    /// What kind of failure it was.
    pub fault: ServerFault,
    /// The error, as it would have been returned with this server alone.
    pub error: ClientError,
}

impl std::fmt::Display for FailedAttempt {
    /// `URL: unavailable: fetching …: HTTP status 503`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.repository, self.fault, self.error)
    }
}

/// Whether `e`, returned by a step on one server, is that server's fault (so the next server
/// is tried), and which kind; `None` when every server would give the same result.
pub fn fault(e: &ClientError) -> Option<ServerFault> {
    use ClientError as E;
    match e {
        E::Transport { .. }
        | E::Timeout { .. }
        | E::RedirectRefused { .. }
        | E::TooManyRedirects { .. }
        | E::NoProofApi { .. } => Some(ServerFault::Unavailable),
        // 410: not kept even after the step's own refresh; 408, 429 and 5xx: try later. Another
        // 4xx answers the request itself (an invalid name, a classic role): the wildcard below.
        E::Status {
            status: 408 | 410 | 429 | 500..=599,
            ..
        } => Some(ServerFault::Unavailable),
        E::NotFound { .. }
        | E::TooLarge { .. }
        | E::Truncated { .. }
        | E::MalformedJson { .. }
        | E::RootVersion { .. }
        | E::RootBelowThreshold { .. }
        | E::RootChainTooLong(_)
        | E::Expired { .. }
        | E::BadSignature { .. }
        | E::Rollback { .. }
        | E::MissingMerkleRoot { .. }
        | E::MetadataMismatch { .. }
        | E::RoleDropped { .. }
        | E::SnapshotRollback { .. }
        | E::ProofForOtherRoot { .. }
        | E::ChangedLeaf { .. }
        | E::WrongSibling { .. }
        | E::ProofRejected { .. }
        | E::MalformedProof { .. }
        | E::Withheld { .. }
        | E::WrongNames { .. }
        | E::ProofForOtherName { .. } => Some(ServerFault::BadData),
        // Verified answers (FileMismatch, LeafVersionDecreased, NotListed), a breach signed
        // by the role's key (Equivocation), the attestation, and local causes.
        _ => None,
    }
}

/// The ordered servers of one role, and which of them answered last.
pub struct Repositories {
    list: Vec<Box<dyn Transport>>,
    current: usize,
}

impl Repositories {
    /// `list` in the order given (the first is asked first). Refuses an empty list.
    pub fn new(list: Vec<Box<dyn Transport>>) -> Result<Self, ClientError> {
        if list.is_empty() {
            return Err(ClientError::NoRepositories);
        }
        Ok(Repositories { list, current: 0 })
    }

    /// How many servers there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Always false: there is at least one server.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The server steps use now.
    pub fn current(&self) -> &dyn Transport {
        // `new` refuses an empty list and `current` only takes indexes from `order`.
        self.list[self.current].as_ref()
    }

    /// The order in which a step tries the servers: the current one, then the others as given.
    pub(crate) fn order(&self) -> Vec<usize> {
        std::iter::once(self.current)
            .chain((0..self.list.len()).filter(|&i| i != self.current))
            .collect()
    }

    /// Makes server `i` (an index from [`Repositories::order`]) the current one.
    pub(crate) fn select(&mut self, i: usize) {
        if i < self.list.len() {
            self.current = i;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::transport::FileTransport;

    #[test]
    fn the_current_server_is_tried_first_then_the_others_in_order() {
        let list: Vec<Box<dyn Transport>> = ["a", "b", "c"]
            .iter()
            .map(|d| Box::new(FileTransport::new(d)) as Box<dyn Transport>)
            .collect();
        let mut r = Repositories::new(list).unwrap();
        assert_eq!(r.order(), vec![0, 1, 2]);
        r.select(2);
        assert_eq!(r.order(), vec![2, 0, 1]);
        assert_eq!(r.current().describe(), "c");
        r.select(7);
        assert_eq!(r.current().describe(), "c");
        assert!(matches!(
            Repositories::new(Vec::new()),
            Err(ClientError::NoRepositories)
        ));
    }

    #[test]
    fn unavailable_and_unverified_answers_fail_over_verified_answers_do_not() {
        let status = |status| ClientError::Status {
            what: "x".into(),
            status,
        };
        assert_eq!(fault(&status(503)), Some(ServerFault::Unavailable));
        assert_eq!(fault(&status(410)), Some(ServerFault::Unavailable));
        assert_eq!(fault(&status(400)), None);
        assert_eq!(fault(&status(409)), None);
        let rollback = ClientError::Rollback {
            role: "timestamp",
            trusted: 3,
            got: 2,
        };
        assert_eq!(fault(&rollback), Some(ServerFault::BadData));
        let withheld = ClientError::Withheld {
            name: "n".into(),
            how: "404".into(),
        };
        assert_eq!(fault(&withheld), Some(ServerFault::BadData));
        let decreased = ClientError::LeafVersionDecreased {
            name: "n".into(),
            seen: 2,
            got: 1,
        };
        assert_eq!(fault(&decreased), None);
        let equivocation = ClientError::Equivocation {
            version: 1,
            trusted: "a".into(),
            got: "b".into(),
        };
        assert_eq!(fault(&equivocation), None);
        assert_eq!(fault(&ClientError::NotListed("n".into())), None);
    }
}
