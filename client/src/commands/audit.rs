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

use serde_json::{Value, json};

use super::BREACH;
use super::output::Output;

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

pub fn run(args: Args, http: &HttpOptions, out: &Output) -> Result<ExitCode, ClientError> {
    let role = &args.role;
    let t = transport::open_with(&args.repo, http.clone());
    let root = read_file(&args.root)?;
    let limits = Default::default();
    out.detail(format_args!("auditing {role} at {}", args.repo));
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
    print_start(&report, &args, out);
    if let StartedFrom::StoredBreach { found_at } = report.started_from {
        if let Some(b) = &report.breach {
            out.line(format_args!(
                "BREACH (found {found_at}, kept in the audit state): {b}"
            ));
        }
        out.json(&report_json(&report, &args, None));
        return Ok(ExitCode::from(BREACH));
    }
    out.line(format_args!(
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
    ));
    if let Some(dir) = &args.state {
        out.line(format_args!(
            "state in {}: checked good to timestamp {}",
            dir.display(),
            version(report.last_good_version)
        ));
    }
    if let Some(b) = &report.breach {
        out.line(format_args!("BREACH: {b}"));
        if let Some(dir) = &args.state {
            out.line(format_args!(
                "the breach is kept in {}: later runs report it until the directory is removed",
                dir.display()
            ));
        }
        out.json(&report_json(&report, &args, None));
        return Ok(ExitCode::from(BREACH));
    }
    out.line(format_args!(
        "consistent: every signed root from timestamp {} to {} recomputed; no version went down",
        version(report.first_version),
        report.latest_version
    ));
    let mut attestation = None;
    if let (Some(key), Some(path), Some(statement)) = (
        &args.attest_key,
        &args.attest_out,
        Statement::from_report(&report, jiff::Timestamp::now()),
    ) {
        let signed = Attestation::sign(statement, &load_auditor_key(key)?)?;
        write_atomic(path, &signed.to_json()?)?;
        out.line(format_args!("attestation written to {}", path.display()));
        attestation = Some(path.display().to_string());
    }
    out.json(&report_json(&report, &args, attestation));
    Ok(ExitCode::SUCCESS)
}

/// The report as `audit --json` prints it.
fn report_json(report: &AuditReport, args: &Args, attestation: Option<String>) -> Value {
    let (started_from, started_after) = match &report.started_from {
        StartedFrom::Genesis => ("genesis", None),
        StartedFrom::NoLeafSnapshot => ("no_leaf_snapshot", None),
        StartedFrom::LeafSnapshot { version } => ("leaf_snapshot", Some(*version)),
        StartedFrom::State { version } => ("state", Some(*version)),
        StartedFrom::StoredBreach { .. } => ("stored_breach", None),
        _ => ("other", None),
    };
    let breach = report.breach.as_ref().map(|b| {
        let mut v = serde_json::to_value(b).unwrap_or_else(|_| json!({}));
        v["message"] = b.to_string().into();
        if let StartedFrom::StoredBreach { found_at } = &report.started_from {
            v["found_at"] = found_at.to_string().into();
        }
        v
    });
    json!({
        "role": report.role,
        "started_from": started_from,
        "started_after": started_after,
        "first_version": report.first_version,
        "last_good_version": report.last_good_version,
        "last_good_root": report.last_good_root.map(|r| r.to_hex()),
        "last_root_version": report.last_root_version,
        "latest_version": report.latest_version,
        "records": report.records,
        "changes": report.changes,
        "total_records": report.total_records,
        "total_changes": report.total_changes,
        "leaves": report.leaves,
        "consistent": report.breach.is_none(),
        "breach": breach,
        "state": args.state.as_ref().map(|d| d.display().to_string()),
        "attestation": attestation,
    })
}

/// Where the run started, when not at version 1 as asked.
fn print_start(report: &AuditReport, args: &Args, out: &Output) {
    let role = &report.role;
    let state = || {
        args.state
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    };
    match report.started_from {
        StartedFrom::NoLeafSnapshot => out.line(format_args!(
            "{role}: the repository has no leaf snapshot (leaf-snapshots/latest.json is missing): replaying from timestamp 1"
        )),
        StartedFrom::LeafSnapshot { version } => out.line(format_args!(
            "{role}: started at the leaf snapshot of timestamp {version}, whose leaves recompute its signed merkle_root; \
             the history before timestamp {version} was not checked by this run"
        )),
        StartedFrom::State { version: v } => out.line(format_args!(
            "{role}: resumed after timestamp {v} from the audit state in {} (verified again); \
             earlier runs checked {} records from timestamp {}",
            state(),
            report.total_records.saturating_sub(report.records),
            version(report.first_version),
        )),
        StartedFrom::StoredBreach { .. } => out.line(format_args!(
            "{role}: the audit state in {} records a breach: not auditing further until the directory is removed",
            state()
        )),
        _ => {}
    }
}

/// A version, or "none".
fn version(v: Option<u64>) -> String {
    v.map_or_else(|| "none".into(), |v| v.to_string())
}
