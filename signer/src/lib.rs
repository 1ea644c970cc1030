//! `tuf-signer`: the signing service for TUF repositories with TAP-16 Merkle snapshots.
//!
//! Data flows one way: [`http`] → [`sequencer`] (group commit through the [`wal`]) → [`tree`]
//! (D2's version rules on the Merkle tree) → [`metadata`] (signing with tough) → [`publisher`]
//! (the repository on disk). [`state`] keeps recent signed tree versions for proofs,
//! [`checkpoint`] the periodic snapshot of the leaves, [`lock`] the data directory lock,
//! [`config`] the TOML configuration, [`target`] the path rules, [`auth`] the writer tokens,
//! [`service`] starts and stops everything, [`server`] accepts and times out HTTP connections,
//! [`import`] builds a role from a checkout.
//! `docs/architecture.md` describes the whole.

pub mod auth;
pub mod checkpoint;
pub mod config;
pub mod http;
pub mod import;
pub mod lock;
pub mod metadata;
pub mod metrics;
pub mod publisher;
pub mod sequencer;
pub mod server;
pub mod service;
pub mod state;
pub mod target;
pub mod tree;
pub mod wal;

pub use config::Config;
pub use service::{Running, StartError, start};
