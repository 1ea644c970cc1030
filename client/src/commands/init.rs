//! `tuf-verify init` ([`Client::init`]).

use std::path::PathBuf;
use std::process::ExitCode;

use tuf_client::local::read_file;
use tuf_client::{Client, ClientError, Mode};

#[derive(clap::Args)]
pub struct Args {
    /// The state directory to create.
    #[arg(long)]
    state: PathBuf,
    /// The role (`crates.io`).
    #[arg(long)]
    role: String,
    /// `merkle` or `classic`.
    #[arg(long, default_value = "merkle")]
    mode: Mode,
    /// The root file to trust (usually `1.root.json`).
    #[arg(long)]
    root: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode, ClientError> {
    Client::init(&args.state, &args.role, args.mode, &read_file(&args.root)?)?;
    println!(
        "trusting {} for {} in {}",
        args.root.display(),
        args.role,
        args.state.display()
    );
    Ok(ExitCode::SUCCESS)
}
