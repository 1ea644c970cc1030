//! `tuf-verify auditor-key`: the auditor's public key in the file clients give to
//! `--require-attestation` ([`auditor_keys_json`]).

use std::path::PathBuf;
use std::process::ExitCode;

use tuf_client::ClientError;
use tuf_client::attest::{auditor_keys_json, load_or_generate_auditor_key};

#[derive(clap::Args)]
pub struct Args {
    /// The key file.
    #[arg(long)]
    key: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode, ClientError> {
    let signer = load_or_generate_auditor_key(&args.key)?;
    println!(
        "{}",
        auditor_keys_json(&[signer.public_key().key().clone()])?
    );
    Ok(ExitCode::SUCCESS)
}
