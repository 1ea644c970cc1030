//! `tuf-verify`: verify targets of a TUF repository with TAP-16 Merkle snapshots, and audit its
//! history. `docs/client.md` describes the commands.
//!
//! This file only parses the command line and hands each subcommand to its module in
//! `commands/`; verifying, auditing and attesting are the `tuf_client` library's.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tuf_client::ClientError;
use tuf_client::transport::{HttpOptions, Redirects};

use crate::commands::{audit, auditor_key, init, proxy, refresh, verify, verify_many};

#[derive(Parser)]
#[command(
    name = "tuf-verify",
    version,
    about = "Verify targets of a TUF repository with Merkle snapshots, and audit its history"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Which HTTP redirects to follow: none, same-origin, or any-origin (never https to http).
    #[arg(long, global = true, default_value = "same-origin")]
    redirects: Redirects,
    /// The longest one HTTP request may take, redirects and body included, in seconds.
    #[arg(long, global = true, default_value_t = 60)]
    http_timeout: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Trust a root (obtained out of band) for a role, in a new state directory.
    Init(init::Args),
    /// Update the root chain and timestamp (and snapshot/targets for classic roles).
    Refresh(refresh::Args),
    /// Verify one target: present (and the file matches), deleted or absent.
    Verify(verify::Args),
    /// Verify many targets with one multi-proof.
    VerifyMany(verify_many::Args),
    /// Replay a merkle role's history and check every signed root; optionally sign an
    /// attestation of the last root checked.
    Audit(audit::Args),
    /// Serve a crates.io-style sparse index to cargo, verified: each file checked against a
    /// proof for one signed timestamp of the role before cargo sees it.
    Proxy(proxy::Args),
    /// Print an auditor key's public TUF key (for clients' `--require-attestation` file);
    /// generates an Ed25519 key file if it does not exist.
    AuditorKey(auditor_key::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let http = HttpOptions {
        timeout: std::time::Duration::from_secs(cli.http_timeout),
        redirects: cli.redirects,
        ..Default::default()
    };
    match run(cli.command, http) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(commands::REFUSED)
        }
    }
}

/// Runs one subcommand; `http` goes to those that fetch.
fn run(command: Command, http: HttpOptions) -> Result<ExitCode, ClientError> {
    match command {
        Command::Init(args) => init::run(args),
        Command::Refresh(args) => refresh::run(args, http),
        Command::Verify(args) => verify::run(args, http),
        Command::VerifyMany(args) => verify_many::run(args, http),
        Command::Audit(args) => audit::run(args, http),
        Command::AuditorKey(args) => auditor_key::run(args),
        Command::Proxy(args) => proxy::run(args, http),
    }
}
