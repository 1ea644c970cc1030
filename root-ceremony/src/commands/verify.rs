//! `tuf-ceremony verify`: print what [`verify_roots`] found for each role and transcript, then
//! fail if anything did; with `--json`, the same as one JSON object.

use std::path::PathBuf;

use root_ceremony::error::CeremonyError;
use root_ceremony::model::fmt_time;
use root_ceremony::verify::{RoleCheck, TranscriptCheck, VerifyReport, verify_roots};
use serde_json::{Value, json};

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
    /// Print the report as one JSON object on stdout, failures included (`"ok": false`, exit
    /// 1); an error that stops the check is {"error": {"kind", "message"}}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let report = verify_roots(
        &args.roots,
        &args.roles,
        &args.transcript,
        jiff::Timestamp::now(),
    )?;
    if args.json {
        let mut value = report_json(&report);
        let result = report.into_result();
        value["ok"] = result.is_ok().into();
        value["failures"] = match &result {
            Err(CeremonyError::VerifyFailed(failures)) => {
                failures.iter().map(|f| f.to_string()).collect()
            }
            Err(e) => vec![e.to_string()].into(),
            Ok(()) => Value::Array(Vec::new()),
        };
        println!("{value}");
        // The failures are in the report: main prints no second object for them.
        return result;
    }
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

/// Each role's and transcript's check: `verified`, `broken` (with the error) or `empty`.
fn report_json(report: &VerifyReport) -> Value {
    let roles: Vec<Value> = report
        .roles
        .iter()
        .map(|check| match check {
            RoleCheck::Verified {
                role,
                version,
                expires,
                quorum_differs,
            } => json!({
                "role": role, "status": "verified", "version": version,
                "expires": fmt_time(*expires), "quorum_differs": quorum_differs, "error": null,
            }),
            RoleCheck::Broken { role, error } => json!({
                "role": role, "status": "broken", "version": null, "expires": null,
                "quorum_differs": null, "error": error.to_string(),
            }),
            RoleCheck::Empty { role } => json!({
                "role": role, "status": "empty", "version": null, "expires": null,
                "quorum_differs": null, "error": "no roots",
            }),
            _ => json!({ "role": null, "status": "unknown" }),
        })
        .collect();
    let transcripts: Vec<Value> = report
        .transcripts
        .iter()
        .map(|check| match check {
            TranscriptCheck::Verified { path, steps } => json!({
                "path": path.display().to_string(), "status": "verified", "steps": steps,
                "error": null,
            }),
            TranscriptCheck::Broken { path, error } => json!({
                "path": path.display().to_string(), "status": "broken", "steps": null,
                "error": error.to_string(),
            }),
            _ => json!({ "path": null, "status": "unknown" }),
        })
        .collect();
    json!({ "roles": roles, "transcripts": transcripts })
}
