//! `tuf-verify init` ([`Client::init`]).

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use tuf_client::local::read_file;
use tuf_client::{Client, ClientError, Mode};

use super::mode_name;
use super::output::Output;

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

pub fn run(args: Args, out: &Output) -> Result<ExitCode, ClientError> {
    let bytes = read_file(&args.root)?;
    Client::init(&args.state, &args.role, args.mode, &bytes)?;
    let root = tuf_client::tuf::initial_root(&bytes)?;
    out.line(format_args!(
        "trusting {} for {} in {}",
        args.root.display(),
        args.role,
        args.state.display()
    ));
    out.json(&json!({
        "role": args.role,
        "mode": mode_name(args.mode),
        "state": args.state.display().to_string(),
        "root_version": root.version(),
    }));
    Ok(ExitCode::SUCCESS)
}
