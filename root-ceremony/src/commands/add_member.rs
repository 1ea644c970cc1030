//! `tuf-ceremony add-member` ([`Ceremony::add_member`]).

use std::path::PathBuf;

use root_ceremony::Ceremony;
use root_ceremony::error::CeremonyError;
use root_ceremony::keys::read_member_key;

use super::{DirArg, print_amended};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// The new member's public key (PEM file or pkcs11: URI).
    #[arg(long, value_name = "KEY")]
    member: String,
    /// Also set the threshold.
    #[arg(long)]
    threshold: Option<u64>,
    /// PKCS#11 module for a `pkcs11:` key.
    #[arg(long, value_name = "MODULE")]
    pkcs11_module: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let key = read_member_key(&args.member, args.pkcs11_module.as_deref())?;
    let mut c = Ceremony::load(&args.dir.dir)?;
    c.add_member(&key, args.threshold, args.dir.operator.as_deref())?;
    print_amended(&c)
}
