//! `tuf-ceremony set-online-key` ([`Ceremony::set_online_key`]).

use root_ceremony::Ceremony;
use root_ceremony::error::CeremonyError;
use root_ceremony::keys::read_member_key;

use super::{DirArg, print_amended};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// The role.
    #[arg(long)]
    role: String,
    /// The new online public key (PEM, e.g. `tuf-signer key export --role R`).
    #[arg(long, value_name = "KEY")]
    key: String,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    // An online key lives in a KMS, never on a token of the ceremony: no PKCS#11 module.
    let key = read_member_key(&args.key, None)?;
    let mut c = Ceremony::load(&args.dir.dir)?;
    c.set_online_key(&args.role, &key, args.dir.operator.as_deref())?;
    print_amended(&c)
}
