//! `tuf-verify completions SHELL`: the shell's completion script ([`clap_complete`]).

use std::process::ExitCode;

use clap_complete::Shell;
use serde_json::json;
use tuf_client::ClientError;

use super::output::Output;

#[derive(clap::Args)]
pub struct Args {
    /// The shell: bash, elvish, fish, powershell or zsh.
    shell: Shell,
}

/// Writes the script for `command` (the whole command line's definition).
pub fn run(args: Args, mut command: clap::Command, out: &Output) -> Result<ExitCode, ClientError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "tuf-verify", &mut script);
    if out.json {
        out.json(&json!({
            "shell": args.shell.to_string(),
            "script": String::from_utf8_lossy(&script),
        }));
    } else {
        // The script is the result: printed with --quiet too.
        print!("{}", String::from_utf8_lossy(&script));
    }
    Ok(ExitCode::SUCCESS)
}
