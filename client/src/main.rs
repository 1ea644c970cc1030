//! `tuf-verify`: verify targets of a TUF repository with TAP-16 Merkle snapshots, and audit its
//! history. `docs/client.md` describes the commands, and ("For scripts") the exit codes and the
//! JSON printed with `--json`.
//!
//! This file only parses the command line and hands each subcommand to its module in
//! `commands/`; verifying, auditing and attesting are the `tuf_client` library's.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tuf_client::ClientError;
use tuf_client::transport::{CaBundle, HttpOptions, Redirects};

use crate::commands::output::{Output, Verbosity, usage_json};
use crate::commands::{
    USAGE, audit, auditor_key, completions, init, proxy, refresh, verify, verify_many,
};

#[derive(Parser)]
#[command(
    name = "tuf-verify",
    version,
    about = "Verify targets of a TUF repository with Merkle snapshots, and audit its history",
    after_help = "Exit codes: 0 verified (present), 2 verified not present (deleted or never \
                  published), 1 refused (verification failed, or the command could not run), \
                  3 breach (audit), 64 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print the result as JSON on stdout: one object per line (one per name for
    /// verify-many), and an error as {"error": {"kind", "message"}} on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Print more on stderr: the state, the servers asked, which one answered each step.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    verbose: bool,
    /// Print nothing on success (the exit code tells); errors are still printed, and --json
    /// still prints its JSON.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Which HTTP redirects to follow: none, same-origin, or any-origin (never https to http).
    #[arg(long, global = true, default_value = "same-origin")]
    redirects: Redirects,
    /// The longest one HTTP request may take, redirects and body included, in seconds.
    #[arg(long, global = true, default_value_t = 60)]
    http_timeout: u64,
    /// How many times an HTTP request that failed on the network or was answered 5xx is sent
    /// again (with exponential backoff and jitter); 0 never. A 4xx or a timeout is not retried.
    #[arg(long, global = true, default_value_t = 2, value_name = "N")]
    retries: u32,
    /// Trust the CA certificates of this PEM file for HTTPS instead of the built-in (webpki)
    /// roots. To keep the public CAs too, put them in the same file.
    #[arg(long, global = true, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
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
    /// Print a shell completion script (`tuf-verify completions bash > …`).
    Completions(completions::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let out = Output {
        json: cli.json,
        verbosity: if cli.quiet {
            Verbosity::Quiet
        } else if cli.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        },
    };
    let http = match http_options(&cli) {
        Ok(http) => http,
        Err(e) => return out.fail(&e),
    };
    match run(cli.command, &http, &out) {
        Ok(code) => code,
        Err(e) => out.fail(&e),
    }
}

/// `--help` and `--version` print and exit 0; any other command-line error exits [`USAGE`]
/// (64, never clap's 2, which is "not present"), as JSON on stdout when `--json` was given.
fn usage_error(e: &clap::Error) -> ExitCode {
    if e.exit_code() == 0 {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    // The line could not be parsed, so whether --json was asked is read from it directly.
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if json {
        println!("{}", usage_json(e.render().to_string().trim_end()));
    } else {
        let _ = e.print();
    }
    ExitCode::from(USAGE)
}

/// The HTTP options the global flags give.
fn http_options(cli: &Cli) -> Result<HttpOptions, ClientError> {
    Ok(HttpOptions {
        timeout: std::time::Duration::from_secs(cli.http_timeout),
        redirects: cli.redirects,
        retries: cli.retries,
        ca_bundle: cli.ca_bundle.as_deref().map(CaBundle::load).transpose()?,
        ..Default::default()
    })
}

/// Runs one subcommand; `http` goes to those that fetch.
fn run(command: Command, http: &HttpOptions, out: &Output) -> Result<ExitCode, ClientError> {
    match command {
        Command::Init(args) => init::run(args, out),
        Command::Refresh(args) => refresh::run(args, http, out),
        Command::Verify(args) => verify::run(args, http, out),
        Command::VerifyMany(args) => verify_many::run(args, http, out),
        Command::Audit(args) => audit::run(args, http, out),
        Command::AuditorKey(args) => auditor_key::run(args, out),
        Command::Completions(args) => completions::run(args, Cli::command(), out),
        Command::Proxy(args) => proxy::run(args, http.clone()),
    }
}
