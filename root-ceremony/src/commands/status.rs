//! `tuf-ceremony status`: the drafts' signatures and changes, whether the transcript holds,
//! and the digest.

use std::path::PathBuf;

use root_ceremony::Ceremony;
use root_ceremony::error::CeremonyError;

use super::{print_digest, print_status};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ceremony directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let c = Ceremony::load(&args.dir)?;
    print_status(&c)?;
    // A broken transcript is reported, not an error: status is how one finds out what broke.
    match c.verify_transcript() {
        Ok(t) => println!(
            "Transcript: {} recorded steps, consistent.",
            t.entries.len()
        ),
        Err(e) => println!("Transcript: BROKEN: {e}"),
    }
    print_digest(&c);
    Ok(())
}
