//! `tuf-ceremony pubkey` ([`KeySource::public_key`]).

use std::path::PathBuf;

use root_ceremony::error::CeremonyError;
use root_ceremony::keysource::KeySource;

use super::{TokenOpts, print_public};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A PKCS#8 private key file, or a public key PEM file.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    #[command(flatten)]
    token: TokenOpts,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let source = KeySource::from_args(args.key_file, &args.token.args())?;
    print_public(&source.public_key()?);
    Ok(())
}
