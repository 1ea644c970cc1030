//! `tuf-signer`: the signing service for TUF repositories with TAP-16 Merkle snapshots.
//!
//! Data flows one way, one stage per module:
//!
//! ```text
//! http ──► sequencer ──► tree ──► metadata ──► publish
//! (checks,   (group commit,   (D2 rules,   (signs        (writes the
//!  auth)      storage: log     Merkle       targets,      repository,
//!             and checkpoint)  tree)        snapshot,     timestamp.json
//!                                           timestamp)    last)
//! ```
//!
//! The types that travel between stages live in their own modules ([`change`]: a change as it
//! is requested, accepted and answered; `round`: what one signing round made). [`service`]
//! wires the stages together and is the only module that knows them all; [`server`] accepts
//! connections and bounds them in time; [`config`] is the TOML configuration; [`layout`] the
//! data directory. `docs/architecture.md` describes the whole and `docs/design.md` the
//! decisions behind it.
//!
//! The public API is what an operator's tooling and the other crates of the workspace use:
//! [`start`] and [`Running`], [`Config`], [`import::import`], [`metadata`] (root chains and
//! signing, for the ceremony's tests and benchmarks), [`target`] (the name rules). Tests reach
//! the storage formats and request parsers through the `test-support` feature ([`internals`]).

mod bucket;
pub mod change;
pub mod config;
mod http;
pub mod import;
pub mod layout;
mod leadership;
mod lease;
mod lock;
pub mod logging;
pub mod metadata;
mod metrics;
pub mod mirror;
mod publish;
pub mod reload;
mod round;
mod sequencer;
pub mod server;
mod service;
mod state;
mod storage;
pub mod systemd;
pub mod target;
mod tree;
mod trust;

pub use config::Config;
pub use http::auth::token_hash;
pub use service::{Running, StartError, load_online_key, start};

/// Internals for the workspace's own tests, fuzz targets and benchmarks: the storage formats
/// and the request parsers. Not a stable API.
#[cfg(feature = "test-support")]
pub mod internals {
    pub use crate::http::{ApiError, ProofsBody, parse_batch, parse_proof_request};
    pub use crate::sequencer::MAX_PENDING_BYTES;
    pub use crate::storage::{checkpoint, wal};
}
