//! `tuf-ceremony`: the offline tool with which the root quorum signs and rotates the root of
//! every TUF role at once (`docs/design.md`, D1, D4; the runbook is `docs/ceremony.md`).
//!
//! A ceremony lives in one directory, carried between machines on removable media:
//!
//! ```text
//! CEREMONY/ceremony.json             every role's draft N.root.json and the signatures so far
//! CEREMONY/previous/ROLE/K.root.json the chain the rotation starts from (copied at init)
//! CEREMONY/transcript.jsonl          the append-only record of every step
//! ```
//!
//! and ends by writing `ROOTS/ROLE/N.root.json`, the layout `tuf-signer` reads (`root_dir`) and
//! publishes under `/ROLE/`.
//!
//! Security properties, each enforced before anything is written:
//! - never touches the network; the PIN of a token is read from the terminal or
//!   `TUF_CEREMONY_PIN`, never from the command line, and never printed or recorded; the
//!   binary removes `TUF_CEREMONY_PIN` from its environment (and overwrites it in the block
//!   `/proc/PID/environ` shows) first thing in `main`, so no child process inherits it;
//! - every file on the media is read with a size limit and written without following a
//!   symlink ([`files`]), so planted files cannot exhaust memory or redirect a write;
//! - roots are built the D1 way: every role's root lists the same root members and threshold,
//!   and its own single online key for timestamp, snapshot and targets with threshold 1;
//!   consistent snapshots; `spec_version` 1.0.0; signatures over the OLPC canonical JSON of
//!   `signed`; key IDs as tough computes them; no key listed twice, comparing key material, so
//!   one key written two ways (two key IDs) cannot count twice towards a threshold;
//! - a draft changed after its digest was announced or after someone signed it, a duplicate or
//!   foreign signature, a non-member key, an impossible threshold, a version skip and an
//!   expired previous root are all refused with an error that says what to do;
//! - `finalize` writes every role's root or none, and only when tough accepts each of them
//!   under both the new and the previous root's threshold;
//! - `verify` walks each role's chain the way a TUF client does.

//!
//! The library does every step; the `tuf-ceremony` binary only parses its command line, calls
//! one step and prints the result. An embedder starts a ceremony with [`init::InitRequest`],
//! amends it with [`Ceremony::add_member`], [`Ceremony::remove_member`],
//! [`Ceremony::set_threshold`], [`Ceremony::set_online_key`] and [`Ceremony::set_expiry`], signs
//! with [`Ceremony::sign`], finalizes with [`Ceremony::finalize`] and checks published chains with
//! [`verify::verify_roots`].

mod amend;
pub mod ceremony;
pub mod chain;
pub mod error;
pub mod files;
pub mod init;
pub mod keys;
pub mod keysource;
pub mod model;
pub mod transcript;
pub mod verify;

pub use ceremony::Ceremony;
pub use error::CeremonyError;
