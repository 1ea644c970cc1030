//! `tuf-ceremony`: the offline root-key ceremony for every TUF role (see `docs/ceremony.md`).
//!
//! This file only takes the PIN out of the environment, parses the command line and hands each
//! subcommand to its module in `commands/`; the steps themselves are the `root_ceremony`
//! library's.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use root_ceremony::error::CeremonyError;
use root_ceremony::keys::{EnvPin, PIN_ENV};

use crate::commands::{
    add_member, finalize, init, keygen, pubkey, remove_member, set_expiry, set_online_key,
    set_threshold, sign, status, verify,
};

/// The offline TUF root-key ceremony: a quorum signs the next root of every role at once.
///
/// Typical first ceremony: `init` (once, by the coordinator), then each member reads the digest
/// aloud and runs `sign`, then `status`, `finalize` and `verify`. Rotations start with
/// `init --previous-roots ROOTS` and may be adjusted with `add-member`, `remove-member`,
/// `set-threshold`, `set-online-key` and `set-expiry` before the first signature.
/// This tool never uses the network. See docs/ceremony.md for the full runbook.
#[derive(Debug, Parser)]
#[command(name = "tuf-ceremony", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a ceremony: write the unsigned drafts of every role's next root and print the digest
    /// members compare aloud.
    ///
    /// A KEY is a PEM file (a public key, e.g. from `tuf-ceremony pubkey` or
    /// `tuf-signer key export --role R`) or a key on a token, `pkcs11:token=LABEL;object=KEYLABEL`
    /// (with --pkcs11-module). With --previous-roots this is a rotation: members, threshold and
    /// online keys default to those of each role's newest root.
    Init(init::Args),
    /// Rotation: add a root member to every role's draft (before anyone signs).
    AddMember(add_member::Args),
    /// Rotation: remove a root member from every role's draft (before anyone signs). The removed
    /// member can still sign to meet the previous root's threshold.
    RemoveMember(remove_member::Args),
    /// Rotation: change the root threshold of every role's draft (before anyone signs).
    SetThreshold(set_threshold::Args),
    /// Rotation: replace one role's online key, e.g. after a KMS key compromise (before anyone signs).
    SetOnlineKey(set_online_key::Args),
    /// Renew: set every draft's expiry to now plus DAYS (before anyone signs).
    SetExpiry(set_expiry::Args),
    /// Sign every role's draft with one member's key (a key file or a PKCS#11 token).
    ///
    /// The PIN is read from the terminal, or from TUF_CEREMONY_PIN; never give it as an argument.
    /// Signing again with the same key changes nothing.
    Sign(sign::Args),
    /// Show, per role, who signed, whether both thresholds are met, what changed, and expiry.
    Status(status::Args),
    /// Write ROOTS/ROLE/N.root.json for every role, only when every threshold is met.
    Finalize(finalize::Args),
    /// Check every role's chain 1.root.json…N.root.json as a TUF client does, and optionally a
    /// ceremony's transcript.
    Verify(verify::Args),
    /// Generate a member key: a PKCS#8 file (mode 0600) or a key pair on a token; prints the
    /// public key PEM to give to the coordinator.
    Keygen(keygen::Args),
    /// Print the public key (PEM) and key ID of a key file or token key.
    Pubkey(pubkey::Args),
}

fn main() -> ExitCode {
    // First, while this is the only thread: no child process, and nothing reading
    // /proc/PID/environ, may see the PIN after this line.
    let env_pin = take_pin_from_env();
    let cli = Cli::parse();
    let json = cli.command.json();
    let verify = matches!(cli.command, Command::Verify(_));
    let result = env_pin.and_then(|pin| run(cli.command, pin.as_ref()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `verify --json` printed its report, failures included.
        Err(CeremonyError::VerifyFailed(_)) if json && verify => ExitCode::FAILURE,
        Err(e) if json => {
            println!(
                "{}",
                serde_json::json!({ "error": { "kind": error_kind(&e), "message": e.to_string() } })
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

impl Command {
    /// Whether the command prints JSON (`status --json`, `verify --json`).
    fn json(&self) -> bool {
        match self {
            Command::Status(args) => args.json,
            Command::Verify(args) => args.json,
            _ => false,
        }
    }
}

/// A stable identifier of an error for `--json`: the [`CeremonyError`] variant's name in
/// snake_case (`io`, `verify_failed`, `wrong_digest`).
fn error_kind(e: &CeremonyError) -> String {
    let debug = format!("{e:?}");
    let mut kind = String::new();
    for (i, c) in debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .enumerate()
    {
        if c.is_ascii_uppercase() {
            if i > 0 {
                kind.push('_');
            }
            kind.push(c.to_ascii_lowercase());
        } else {
            kind.push(c);
        }
    }
    kind
}

/// Runs one subcommand; `env_pin` goes only to those that may log in to a token.
fn run(command: Command, env_pin: Option<&EnvPin>) -> Result<(), CeremonyError> {
    match command {
        Command::Init(args) => init::run(args),
        Command::AddMember(args) => add_member::run(args),
        Command::RemoveMember(args) => remove_member::run(args),
        Command::SetThreshold(args) => set_threshold::run(args),
        Command::SetOnlineKey(args) => set_online_key::run(args),
        Command::SetExpiry(args) => set_expiry::run(args),
        Command::Sign(args) => sign::run(args, env_pin),
        Command::Status(args) => status::run(args),
        Command::Finalize(args) => finalize::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Keygen(args) => keygen::run(args, env_pin),
        Command::Pubkey(args) => pubkey::run(args),
    }
}

/// Takes the PIN out of the environment: removes [`PIN_ENV`] (so no child process inherits it)
/// and overwrites its bytes in the environment block the kernel set up (which
/// `/proc/PID/environ` shows, and which `remove_var` alone leaves in place). Must run before
/// any other thread exists. A PIN that is not UTF-8 is an error (after it is removed).
#[allow(unsafe_code)]
fn take_pin_from_env() -> Result<Option<EnvPin>, CeremonyError> {
    use std::os::unix::ffi::OsStringExt;
    use zeroize::Zeroize;

    let Some(value) = std::env::var_os(PIN_ENV) else {
        return Ok(None);
    };
    let pin = String::from_utf8(value.into_vec())
        .map(EnvPin::new)
        .map_err(|e| e.into_bytes().zeroize());

    unsafe extern "C" {
        /// The C library's environment: a null-terminated array of `NAME=VALUE` strings.
        static mut environ: *const *mut std::ffi::c_char;
    }
    let prefix = format!("{PIN_ENV}=");
    let mut entries: Vec<(*mut u8, usize)> = Vec::new();
    // SAFETY: main calls this first, before any other thread exists, so nothing else reads or
    // changes the environment meanwhile (the reason `remove_var` is unsafe in edition 2024).
    // `environ` is the C library's null-terminated array of pointers to NUL-terminated strings;
    // it is read by value (no reference to the `static mut`), and each entry is read only up to
    // its NUL. Nothing in this program has called `setenv` or `putenv` yet, so every entry is
    // the kernel's block on the initial stack or the C library's own heap copy: writable.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = std::ffi::CStr::from_ptr(*p);
            if entry.to_bytes().starts_with(prefix.as_bytes()) {
                entries.push(((*p).cast::<u8>(), entry.to_bytes().len()));
            }
            p = p.add(1);
        }
        std::env::remove_var(PIN_ENV);
        // After `remove_var` no array entry points at them any more: overwrite the strings
        // themselves (name and value) where the kernel put them.
        for (start, len) in entries {
            std::slice::from_raw_parts_mut(start, len).zeroize();
        }
    }
    pin.map(Some).map_err(|()| CeremonyError::PinNotUtf8)
}
