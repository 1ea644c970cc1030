//! `tuf-verify audit`: replay a role's history ([`tuf_client::audit::audit_with`]), resuming
//! from a state directory ([`tuf_client::audit_state::AuditState`]) or starting at the newest
//! leaf snapshot when asked, and optionally sign an attestation of the last root checked
//! ([`Statement::from_report`]).

use std::path::PathBuf;
use std::process::ExitCode;

use tuf_client::ClientError;
use tuf_client::attest::{Attestation, Statement, load_auditor_key};
use tuf_client::audit::{AuditReport, Start, StartedFrom};
use tuf_client::audit_state::AuditState;
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
    /// Keep what was checked in this directory (one per role; created with mode 0700), and
    /// resume after its last good version next time instead of replaying from version 1. Its
    /// files are verified again on every run; a breach found is kept, and reported by every
    /// later run, until the directory is removed.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Start at the newest leaf snapshot (`leaf-snapshots/latest.json`) once its leaves
    /// recompute the signed root of its version, instead of replaying from version 1; the
    /// history before it is not checked. Without a snapshot on the repository, from version 1.
    #[arg(long, conflicts_with = "state")]
    from_leaf_snapshot: bool,
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
    let root = read_file(&args.root)?;
    let limits = Default::default();
    let report = match &args.state {
        Some(dir) => AuditState::open(dir)?.audit(t.as_ref(), role, &root, &limits)?,
        None => {
            let start = if args.from_leaf_snapshot {
                Start::LatestLeafSnapshot
            } else {
                Start::Genesis
            };
            tuf_client::audit::audit_with(t.as_ref(), role, &root, &limits, start)?
        }
    };
    print_start(&report, &args);
    if let StartedFrom::StoredBreach { found_at } = report.started_from {
        if let Some(b) = &report.breach {
            println!("BREACH (found {found_at}, kept in the audit state): {b}");
        }
        return Ok(ExitCode::from(BREACH));
    }
    println!(
        "{role}: replayed {} records ({} changes){} to timestamp {} of latest {}; {} leaves",
        report.records,
        report.changes,
        match report.started_from {
            StartedFrom::LeafSnapshot { version } | StartedFrom::State { version } =>
                format!(" after timestamp {version}"),
            _ => format!(" from timestamp {}", version(report.first_version)),
        },
        version(report.last_good_version),
        report.latest_version,
        report.leaves
    );
    if let Some(dir) = &args.state {
        println!(
            "state in {}: checked good to timestamp {}",
            dir.display(),
            version(report.last_good_version)
        );
    }
    if let Some(b) = &report.breach {
        println!("BREACH: {b}");
        if let Some(dir) = &args.state {
            println!(
                "the breach is kept in {}: later runs report it until the directory is removed",
                dir.display()
            );
        }
        return Ok(ExitCode::from(BREACH));
    }
    println!(
        "consistent: every signed root from timestamp {} to {} recomputed; no version went down",
        version(report.first_version),
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

/// Where the run started, when not at version 1 as asked.
fn print_start(report: &AuditReport, args: &Args) {
    let role = &report.role;
    let state = || {
        args.state
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    };
    match report.started_from {
        StartedFrom::NoLeafSnapshot => println!(
            "{role}: the repository has no leaf snapshot (leaf-snapshots/latest.json is missing): replaying from timestamp 1"
        ),
        StartedFrom::LeafSnapshot { version } => println!(
            "{role}: started at the leaf snapshot of timestamp {version}, whose leaves recompute its signed merkle_root; \
             the history before timestamp {version} was not checked by this run"
        ),
        StartedFrom::State { version: v } => println!(
            "{role}: resumed after timestamp {v} from the audit state in {} (verified again); \
             earlier runs checked {} records from timestamp {}",
            state(),
            report.total_records.saturating_sub(report.records),
            version(report.first_version),
        ),
        StartedFrom::StoredBreach { .. } => println!(
            "{role}: the audit state in {} records a breach: not auditing further until the directory is removed",
            state()
        ),
        _ => {}
    }
}

/// A version, or "none".
fn version(v: Option<u64>) -> String {
    v.map_or_else(|| "none".into(), |v| v.to_string())
}
