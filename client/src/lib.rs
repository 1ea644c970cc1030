//! `tuf-client`: a verifying TUF client and auditor for repositories with TAP-16 Merkle
//! snapshots (POUF `tuf-mpt-sha256-v1`), as `tuf-signer` publishes them.
//!
//! - [`Client`]: trusts a root per role, keeps a small state directory, and on
//!   [`Client::refresh`] walks the root chain, verifies the timestamp (and for classic roles
//!   snapshot and targets); [`Client::verify`] and [`Client::verify_many`] then prove targets
//!   present (with their length and SHA-256), deleted or absent against the trusted Merkle root.
//! - [`audit::audit`]: replays a role's whole history from its change records and checks every
//!   signed root ([`audit::audit_with`] can start at the newest leaf snapshot instead);
//!   [`audit_state::AuditState`] keeps what an auditor checked so that its next run resumes
//!   there; [`attest::Attestation`] is the auditor's signed statement of the last root it
//!   checked, which a client can require ([`Client::require_attestation`]).
//! - [`ClientError`]: one variant per attack.
//!
//! `docs/client.md` describes how cargo, rustup or a mirror would use it.

pub mod attest;
pub mod audit;
pub mod audit_state;
mod classic;
pub mod client;
pub mod error;
pub mod failover;
pub mod local;
pub mod proof_answer;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod state;
pub mod transport;
pub mod tuf;

pub use client::{Client, Refreshed, Status, Verified};
pub use error::{AttestationError, ClientError};
pub use failover::{FailedAttempt, ServerFault};
pub use proof_answer::ProofFormat;
pub use state::{Mode, State};
#[cfg(feature = "http")]
pub use transport::HttpTransport;
pub use transport::{FileTransport, Transport};
pub use tuf::Limits;
