//! `tuf-ceremony set-threshold` ([`Ceremony::set_threshold`]).

use root_ceremony::Ceremony;
use root_ceremony::error::CeremonyError;

use super::{DirArg, print_amended};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// The new threshold.
    #[arg(long)]
    threshold: u64,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let mut c = Ceremony::load(&args.dir.dir)?;
    c.set_threshold(args.threshold, args.dir.operator.as_deref())?;
    print_amended(&c)
}
