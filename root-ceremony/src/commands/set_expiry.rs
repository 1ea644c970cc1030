//! `tuf-ceremony set-expiry` ([`Ceremony::set_expiry`]).

use root_ceremony::Ceremony;
use root_ceremony::error::CeremonyError;
use root_ceremony::model::expires_in_days;

use super::{DirArg, print_amended};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// Days from now.
    #[arg(long)]
    expires_days: u64,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let expires = expires_in_days(args.expires_days)?;
    let mut c = Ceremony::load(&args.dir.dir)?;
    c.set_expiry(expires, args.dir.operator.as_deref())?;
    print_amended(&c)
}
