//! `tuf-ceremony status`: the drafts' signatures and changes, whether the transcript holds,
//! and the digest; with `--json`, the same as one JSON object.

use std::path::PathBuf;

use root_ceremony::Ceremony;
use root_ceremony::ceremony::spoken;
use root_ceremony::error::CeremonyError;
use root_ceremony::model::{fmt_time, root_keyids};
use serde_json::{Value, json};

use super::{print_digest, print_status};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ceremony directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Print the status as one JSON object on stdout (and an error as
    /// {"error": {"kind", "message"}}).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let c = Ceremony::load(&args.dir)?;
    if args.json {
        println!("{}", status_json(&c)?);
        return Ok(());
    }
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

/// What `status --json` prints: per role its version, expiry, signers against each threshold,
/// changes and whether it is complete; the root members; whether `finalize` may run; the
/// transcript; the digest.
fn status_json(c: &Ceremony) -> Result<Value, CeremonyError> {
    let mut roles = Vec::new();
    let mut ready = true;
    for s in c.status()? {
        let complete = s.complete();
        ready &= complete;
        roles.push(json!({
            "role": s.role,
            "version": s.version,
            "expires": fmt_time(s.expires),
            "complete": complete,
            "new_root": { "signers": s.new_signers, "threshold": s.new_threshold },
            "previous_root": s.old.as_ref().map(|(signers, threshold)| {
                json!({ "signers": signers, "threshold": threshold })
            }),
            "changes": s.changes,
        }));
    }
    let members = c
        .file
        .roles
        .values()
        .next()
        .map(|first| root_keyids(&first.draft.signed))
        .unwrap_or_default();
    let transcript = match c.verify_transcript() {
        Ok(t) => json!({ "consistent": true, "steps": t.entries.len(), "error": null }),
        Err(e) => json!({ "consistent": false, "steps": null, "error": e.to_string() }),
    };
    Ok(json!({
        "dir": c.dir.display().to_string(),
        "roles": roles,
        "root_members": members,
        "ready": ready,
        "transcript": transcript,
        "digest": { "sha256": c.digest(), "spoken": spoken(c.digest()) },
    }))
}
