//! `tuf-verify verify`: one target, optionally with its file or downloaded
//! ([`tuf_client::Client::verify`], [`tuf_client::Client::download`]).

use std::path::PathBuf;
use std::process::ExitCode;

use tuf_client::ClientError;
use tuf_client::local::read_file;
use tuf_client::state::write_atomic;
use tuf_client::transport::HttpOptions;

use super::output::{Output, verified_json};
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
    /// Download the target from the repository, check it, and write it here (a path, or a
    /// bare file name in the current directory).
    #[arg(long)]
    download: Option<PathBuf>,
}

pub fn run(args: Args, http: &HttpOptions, out: &Output) -> Result<ExitCode, ClientError> {
    let (mut client, _) = open(&args.common, http, out)?;
    let mut written = None;
    let (v, checked) = if let Some(path) = &args.download {
        let (v, bytes) = step(&mut client, out, |c| c.download(&args.name))?;
        if let Some(bytes) = bytes {
            write_atomic(path, &bytes)?;
            out.note(format_args!(
                "{} bytes written to {}",
                bytes.len(),
                path.display()
            ));
            written = Some(bytes.len());
        }
        (v, written.is_some())
    } else {
        let bytes = args.file.as_deref().map(read_file).transpose()?;
        let v = step(&mut client, out, |c| c.verify(&args.name, bytes.as_deref()))?;
        (v, bytes.is_some())
    };
    out.line(&v);
    let mut json = verified_json(&v, checked);
    json["download"] = match (&args.download, written) {
        (Some(path), Some(_)) => path.display().to_string().into(),
        _ => serde_json::Value::Null,
    };
    json["repository"] = client.repository().into();
    out.json(&json);
    Ok(if v.status.is_present() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_PRESENT)
    })
}
