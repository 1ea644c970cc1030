//! What `tuf-verify` prints, and where: the result on stdout (lines for people, or with
//! `--json` one JSON object per line), diagnostics on stderr (none with `--quiet`, more with
//! `--verbose`), and an error as text on stderr or, with `--json`, as
//! `{"error": {"kind", "message"}}` on stdout. `docs/client.md` ("For scripts") is the contract.

use std::process::ExitCode;

use serde_json::{Value, json};
use tuf_client::failover::ServerFault;
use tuf_client::{ClientError, Status, Verified};

use super::{REFUSED, USAGE};

/// How much goes to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `--quiet`: nothing but errors.
    Quiet,
    /// The default: what was trusted, servers given up on.
    Normal,
    /// `--verbose`: also the state, the servers asked and which one answered each step.
    Verbose,
}

/// Where and how results, diagnostics and errors are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`.
    pub json: bool,
    /// `--quiet`, `--verbose`.
    pub verbosity: Verbosity,
}

impl Output {
    /// A result line for people on stdout (not with `--json` or `--quiet`).
    pub fn line(&self, text: impl std::fmt::Display) {
        if !self.json && self.verbosity > Verbosity::Quiet {
            println!("{text}");
        }
    }

    /// The JSON result on stdout, one object on one line (only with `--json`, `--quiet` or
    /// not: it was asked for).
    pub fn json(&self, value: &Value) {
        if self.json {
            println!("{value}");
        }
    }

    /// A diagnostic on stderr (not with `--quiet`).
    pub fn note(&self, text: impl std::fmt::Display) {
        if self.verbosity > Verbosity::Quiet {
            eprintln!("{text}");
        }
    }

    /// A diagnostic on stderr with `--verbose` only.
    pub fn detail(&self, text: impl std::fmt::Display) {
        if self.verbosity >= Verbosity::Verbose {
            eprintln!("{text}");
        }
    }

    /// Reports `e` (always, `--quiet` or not) and returns its exit code: [`USAGE`] for a
    /// command line that asks for nothing to do, [`REFUSED`] for everything else.
    pub fn fail(&self, e: &ClientError) -> ExitCode {
        if self.json {
            println!("{}", error_json(e));
        } else {
            eprintln!("error: {e}");
        }
        ExitCode::from(exit_code(e))
    }
}

/// The exit code of an error.
pub fn exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::NoNames => USAGE,
        _ => REFUSED,
    }
}

/// `{"error": {"kind", "message"}}`, with `attempts` (each server's failure) when every
/// repository failed.
pub fn error_json(e: &ClientError) -> Value {
    let mut error = json!({ "kind": e.kind(), "message": e.to_string() });
    if let ClientError::AllRepositoriesFailed { attempts } = e {
        error["attempts"] = attempts
            .iter()
            .map(|a| {
                json!({
                    "repository": a.repository,
                    "fault": fault_name(a.fault),
                    "kind": a.error.kind(),
                    "message": a.error.to_string(),
                })
            })
            .collect();
    }
    json!({ "error": error })
}

/// A usage error (clap's) as JSON.
pub fn usage_json(message: &str) -> Value {
    json!({ "error": { "kind": "usage", "message": message } })
}

/// `unavailable` or `bad_data`.
pub fn fault_name(fault: ServerFault) -> &'static str {
    match fault {
        ServerFault::Unavailable => "unavailable",
        ServerFault::BadData => "bad_data",
        _ => "other",
    }
}

/// One verified name as JSON: every field always there (`null` where it does not apply).
pub fn verified_json(v: &Verified, file_checked: bool) -> Value {
    let (status, version, length, sha256) = match &v.status {
        Status::Present(c) => {
            let (length, sha256) = match c {
                tuf_merkle::LeafContents::Present { length, sha256, .. } => {
                    (Some(*length), Some(sha256.to_hex()))
                }
                _ => (None, None),
            };
            ("present", Some(c.version()), length, sha256)
        }
        Status::Listed { length, sha256 } => ("listed", None, Some(*length), Some(sha256.to_hex())),
        Status::Deleted(version) => ("deleted", Some(*version), None, None),
        Status::Absent => ("absent", None, None, None),
        // An outcome added later: not present.
        _ => ("unknown", None, None, None),
    };
    json!({
        "name": v.name,
        "status": status,
        "present": v.status.is_present(),
        "timestamp_version": v.timestamp_version,
        "version": version,
        "length": length,
        "sha256": sha256,
        "file_checked": file_checked && v.status.is_present(),
    })
}
