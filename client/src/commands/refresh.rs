//! `tuf-verify refresh` ([`tuf_client::Client::refresh`]).

use std::process::ExitCode;

use tuf_client::ClientError;
use tuf_client::transport::HttpOptions;

use super::{Common, open};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
}

pub fn run(args: Args, http: HttpOptions) -> Result<ExitCode, ClientError> {
    open(&args.common, http)?;
    Ok(ExitCode::SUCCESS)
}
