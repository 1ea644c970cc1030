//! `tuf-verify verify`: one target, optionally with its file or downloaded
//! ([`tuf_client::Client::verify`], [`tuf_client::Client::download`]).

use std::path::PathBuf;
use std::process::ExitCode;

use tuf_client::ClientError;
use tuf_client::local::read_file;
use tuf_client::state::write_atomic;
use tuf_client::transport::HttpOptions;

use super::{Common, NOT_PRESENT, open, step};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// The target name (`se/rd/serde`).
    name: String,
    /// The file to check against the signed length and SHA-256.
    #[arg(long, conflicts_with = "download")]
    file: Option<PathBuf>,
    /// Download the target from the repository, check it, and write it here.
    #[arg(long)]
    download: Option<PathBuf>,
}

pub fn run(args: Args, http: HttpOptions) -> Result<ExitCode, ClientError> {
    let mut client = open(&args.common, http)?;
    let v = if let Some(out) = args.download {
        let (v, bytes) = step(&mut client, |c| c.download(&args.name))?;
        if let Some(bytes) = bytes {
            write_atomic(&out, &bytes)?;
            eprintln!("{} bytes written to {}", bytes.len(), out.display());
        }
        v
    } else {
        let bytes = args.file.as_deref().map(read_file).transpose()?;
        step(&mut client, |c| c.verify(&args.name, bytes.as_deref()))?
    };
    println!("{v}");
    Ok(if v.status.is_present() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_PRESENT)
    })
}
