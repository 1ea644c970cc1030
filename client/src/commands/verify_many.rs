//! `tuf-verify verify-many`: the names gathered from the command line, a names file and a
//! directory ([`Selection::gather`]) with one multi-proof ([`tuf_client::Client::verify_many`]).

use std::path::PathBuf;
use std::process::ExitCode;

use tuf_client::ClientError;
use tuf_client::local::Selection;
use tuf_client::transport::HttpOptions;

use super::output::{Output, verified_json};
use super::{Common, NOT_PRESENT, open, step};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Target names.
    names: Vec<String>,
    /// A file with one name per line.
    #[arg(long)]
    names_file: Option<PathBuf>,
    /// A directory holding the targets under their names (an index checkout): each name's
    /// file there is checked.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Verify every file under `--dir` (hidden entries and `config.json` skipped).
    #[arg(long, requires = "dir")]
    all: bool,
}

pub fn run(args: Args, http: &HttpOptions, out: &Output) -> Result<ExitCode, ClientError> {
    // Gathered before the repository is asked anything: a mistake in the names costs no fetch.
    let selection = Selection::gather(
        args.names,
        args.names_file.as_deref(),
        args.dir.as_deref(),
        args.all,
    )?;
    let (mut client, _) = open(&args.common, http, out)?;
    let verified = step(&mut client, out, |c| {
        c.verify_many(&selection.names, &selection.files)
    })?;
    for v in &verified {
        out.line(v);
        // JSON Lines: one object per name, in the order of the names (sorted, each once).
        out.json(&verified_json(v, selection.files.contains_key(&v.name)));
    }
    out.note(format_args!(
        "{} names verified with one multi-proof ({} files checked)",
        verified.len(),
        selection.files.len()
    ));
    Ok(if verified.iter().all(|v| v.status.is_present()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_PRESENT)
    })
}
