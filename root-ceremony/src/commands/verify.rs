//! `tuf-ceremony verify`: print what [`verify_roots`] found for each role and transcript, then
//! fail if anything did.

use std::path::PathBuf;

use root_ceremony::error::CeremonyError;
use root_ceremony::model::fmt_time;
use root_ceremony::verify::{RoleCheck, TranscriptCheck, verify_roots};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The root chains directory (ROOTS/ROLE/…).
    #[arg(long, value_name = "ROOTS")]
    roots: PathBuf,
    /// The roles to check (default: every directory in ROOTS).
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,
    /// A transcript to check against these roots (a ceremony's transcript.jsonl).
    #[arg(long, value_name = "FILE")]
    transcript: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let report = verify_roots(
        &args.roots,
        &args.roles,
        &args.transcript,
        jiff::Timestamp::now(),
    )?;
    for check in &report.roles {
        match check {
            // A role whose quorum differs verifies on its own: it is listed as such, and
            // the difference is among the failures at the end.
            RoleCheck::Verified {
                role,
                version,
                expires,
                ..
            } => println!(
                "{role}: OK, versions 1..{version} verify as a client would; expires {}",
                fmt_time(*expires)
            ),
            RoleCheck::Broken { role, error } => println!("{role}: BROKEN: {error}"),
            // An empty role directory has no line of its own; it is among the failures.
            RoleCheck::Empty { .. } => {}
            // Whatever a newer library reports, `into_result` below names its failures.
            _ => {}
        }
    }
    for check in &report.transcripts {
        match check {
            TranscriptCheck::Verified { path, steps } => println!(
                "transcript {}: OK, {steps} steps, finalized roots match",
                path.display()
            ),
            TranscriptCheck::Broken { path, error } => {
                println!("transcript {}: BROKEN: {error}", path.display());
            }
            // Whatever a newer library reports, `into_result` below names its failures.
            _ => {}
        }
    }
    report.into_result()
}
