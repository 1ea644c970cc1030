//! `tuf-verify auditor-key`: the auditor's public key in the file clients give to
//! `--require-attestation` ([`auditor_keys_json`]).

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use tuf_client::ClientError;
use tuf_client::attest::{auditor_keys_json, load_or_generate_auditor_key};

use super::output::Output;

#[derive(clap::Args)]
pub struct Args {
    /// The key file.
    #[arg(long)]
    key: PathBuf,
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, ClientError> {
    let signer = load_or_generate_auditor_key(&args.key)?;
    let key = serde_json::to_value(signer.public_key().key()).map_err(|e| {
        ClientError::MalformedJson {
            what: "auditor key".into(),
            message: e.to_string(),
        }
    })?;
    let keys = auditor_keys_json(&[key])?;
    // Without --json the keys file itself (`> auditors.json`), --quiet or not: it is the
    // command's result.
    if !out.json {
        println!("{keys}");
    }
    let keys: serde_json::Value =
        serde_json::from_str(&keys).map_err(|e| ClientError::MalformedJson {
            what: "auditor keys".into(),
            message: e.to_string(),
        })?;
    out.json(&json!({
        "key_file": args.key.display().to_string(),
        "keyid": signer.public_key().key_id_hex(),
        "keys": keys,
    }));
    Ok(ExitCode::SUCCESS)
}
