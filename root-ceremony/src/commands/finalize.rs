//! `tuf-ceremony finalize` ([`Ceremony::finalize`]).

use std::path::PathBuf;

use root_ceremony::Ceremony;
use root_ceremony::error::CeremonyError;

use super::DirArg;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// The root chains directory (ROOTS/ROLE/…); for a rotation, the one given at init.
    #[arg(long, value_name = "ROOTS")]
    roots: PathBuf,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let c = Ceremony::load(&args.dir.dir)?;
    let written = c.finalize(&args.roots, args.dir.operator.as_deref())?;
    for p in &written {
        println!("wrote {}", p.display());
    }
    let transcript = c.transcript_path();
    println!(
        "Keep {} with the published roots; check them with `tuf-ceremony verify --roots {} --transcript {}`.",
        transcript.display(),
        args.roots.display(),
        transcript.display()
    );
    Ok(())
}
