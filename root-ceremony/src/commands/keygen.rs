//! `tuf-ceremony keygen` ([`KeySource::generate`]).

use std::path::PathBuf;

use root_ceremony::error::CeremonyError;
use root_ceremony::keys::EnvPin;
use root_ceremony::keysource::KeySource;
use tuf_keys::KeyAlgorithm;

use super::{TokenOpts, print_public};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ed25519 or p256.
    #[arg(long, default_value = "ed25519")]
    algorithm: String,
    /// Write a PKCS#8 key file here (never overwritten).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    #[command(flatten)]
    token: TokenOpts,
}

pub fn run(args: Args, env_pin: Option<&EnvPin>) -> Result<(), CeremonyError> {
    let algorithm: KeyAlgorithm = args.algorithm.parse().map_err(CeremonyError::Algorithm)?;
    let source = KeySource::from_args(args.key_file, &args.token.args())?;
    print_public(&source.generate(algorithm, env_pin)?);
    Ok(())
}
