//! `tuf-verify audit`: replay a role's history ([`tuf_client::audit::audit`]) and optionally
//! sign an attestation of the last root checked ([`Statement::from_report`]).

use std::path::PathBuf;
use std::process::ExitCode;

use tuf_client::ClientError;
use tuf_client::attest::{Attestation, Statement, load_auditor_key};
use tuf_client::local::read_file;
use tuf_client::state::write_atomic;
use tuf_client::transport::{self, HttpOptions};

use super::BREACH;

#[derive(clap::Args)]
pub struct Args {
    /// The repository (URL or directory).
    #[arg(long)]
    repo: String,
    /// The role.
    #[arg(long)]
    role: String,
    /// The trusted first root (`1.root.json`).
    #[arg(long)]
    root: PathBuf,
    /// The auditor's key file (PKCS#8 PEM) to sign an attestation with.
    #[arg(long, requires = "attest_out")]
    attest_key: Option<PathBuf>,
    /// Where to write the attestation.
    #[arg(long)]
    attest_out: Option<PathBuf>,
}

pub fn run(args: Args, http: HttpOptions) -> Result<ExitCode, ClientError> {
    let role = &args.role;
    let t = transport::open_with(&args.repo, http);
    let report = tuf_client::audit::audit(
        t.as_ref(),
        role,
        &read_file(&args.root)?,
        &Default::default(),
    )?;
    println!(
        "{role}: replayed {} records ({} changes) from timestamp {:?} to {:?} of latest {}; {} leaves",
        report.records,
        report.changes,
        report.first_version,
        report.last_good_version,
        report.latest_version,
        report.leaves
    );
    if let Some(b) = &report.breach {
        println!("BREACH: {b}");
        return Ok(ExitCode::from(BREACH));
    }
    println!(
        "consistent: every signed root up to timestamp {} recomputed; no version went down",
        report.latest_version
    );
    if let (Some(key), Some(out), Some(statement)) = (
        args.attest_key,
        args.attest_out,
        Statement::from_report(&report, jiff::Timestamp::now()),
    ) {
        let attestation = Attestation::sign(statement, &load_auditor_key(&key)?)?;
        write_atomic(&out, &attestation.to_json()?)?;
        println!("attestation written to {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}
