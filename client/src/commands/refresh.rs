//! `tuf-verify refresh` ([`tuf_client::Client::refresh`]).

use std::process::ExitCode;

use tuf_client::ClientError;
use tuf_client::transport::HttpOptions;

use super::output::Output;
use super::{Common, open, refreshed_json};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
}

pub fn run(args: Args, http: &HttpOptions, out: &Output) -> Result<ExitCode, ClientError> {
    let (client, refreshed) = open(&args.common, http, out)?;
    // With --no-refresh, what the state trusts from the last refresh.
    let r = refreshed.unwrap_or_else(|| {
        let s = client.state();
        tuf_client::Refreshed {
            root_version: s.root_version,
            timestamp_version: s.timestamp_version,
            merkle_root: s
                .merkle_root
                .as_deref()
                .and_then(|h| tuf_merkle::hash::parse_hex(h).ok()),
            proof_version: s.proof_version,
        }
    });
    out.json(&refreshed_json(&client, &r));
    Ok(ExitCode::SUCCESS)
}
