//! `tuf-ceremony remove-member` ([`Ceremony::remove_member`]).

use root_ceremony::Ceremony;
use root_ceremony::error::CeremonyError;

use super::{DirArg, print_amended};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// The member's key ID (hex).
    #[arg(long, value_name = "KEYID")]
    key_id: String,
    /// Also set the threshold.
    #[arg(long)]
    threshold: Option<u64>,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let mut c = Ceremony::load(&args.dir.dir)?;
    c.remove_member(&args.key_id, args.threshold, args.dir.operator.as_deref())?;
    print_amended(&c)
}
