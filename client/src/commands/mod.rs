//! One module per subcommand, each with its arguments (`Args`) and `run`; here the arguments
//! of the commands that open a state directory, and the exit codes. What is printed where is
//! [`output`]'s.

pub mod audit;
pub mod auditor_key;
pub mod completions;
pub mod init;
pub mod output;
pub mod proxy;
pub mod refresh;
pub mod verify;
pub mod verify_many;

use std::path::PathBuf;

use serde_json::{Value, json};
use tuf_client::attest::{AttestationPolicy, read_auditor_keys};
use tuf_client::transport::{self, HttpOptions};
use tuf_client::{Client, ProofFormat, Refreshed};
use tuf_client::{ClientError, ServerFault};

use output::Output;

/// Exit code of a refusal: verification failed, or the command could not run.
pub const REFUSED: u8 = 1;
/// Exit code of a target proved not present (deleted or never published).
pub const NOT_PRESENT: u8 = 2;
/// Exit code of an audit that found a breach.
pub const BREACH: u8 = 3;
/// Exit code of a usage error (BSD's `EX_USAGE`): a command line that cannot be run as given.
pub const USAGE: u8 = 64;

// The state directory, the repository, and how much to trust before verifying.
#[derive(clap::Args)]
pub struct Common {
    /// The client's state directory for this role.
    #[arg(long)]
    state: PathBuf,
    /// The repository: the signer's or a mirror's base URL (`http://127.0.0.1:8080`), or a
    /// directory laid out like it (no proofs then). Give it several times, or as a comma
    /// list, for failover: each step (refresh, verify) asks the server that answered last,
    /// then the others in the order given, moving on when one is unreachable, times out,
    /// answers 5xx/408/429/410, or serves data that fails verification (reported on stderr).
    /// A verified answer (present, deleted, absent) is never asked again elsewhere. Every
    /// server is verified against the same trusted root and state: a mirror adds
    /// availability, not trust, and one behind the trusted timestamp is refused as a rollback.
    #[arg(long, required = true, value_delimiter = ',')]
    repo: Vec<String>,
    /// Do not refresh first: verify against the timestamp trusted at the last refresh.
    #[arg(long)]
    no_refresh: bool,
    /// Require an auditor attestation: a JSON file with the auditors' TUF public keys
    /// (`[{"keytype": …}]`, as `tuf-verify auditor-key` prints them).
    #[arg(long, requires = "attestation")]
    require_attestation: Option<PathBuf>,
    /// Where the attestation is: a URL or a file.
    #[arg(long)]
    attestation: Option<String>,
    /// How many timestamp versions the attested one may lag behind the latest.
    #[arg(long, default_value_t = 64)]
    max_lag: u64,
    /// The encoding proofs are asked in: binary (POUF §10, a third of the bytes; a server that
    /// only has JSON answers JSON) or json. Either is verified the same way.
    #[arg(long, default_value = "binary", value_name = "binary|json")]
    proof_format: ProofFormat,
}

/// Opens the state directory on the repository, requires the attestation if asked to, and
/// refreshes (unless `--no-refresh`), telling on stderr what it then trusts. Returns the
/// client and what the refresh ended on.
pub fn open(
    common: &Common,
    http: &HttpOptions,
    out: &Output,
) -> Result<(Client, Option<Refreshed>), ClientError> {
    let repositories = common
        .repo
        .iter()
        .map(|location| transport::open_with(location, http.clone()))
        .collect();
    let mut client = Client::open_repositories(&common.state, repositories)?
        .with_proof_format(common.proof_format);
    let s = client.state();
    out.detail(format_args!(
        "state {}: role {} ({}), trusted root {}, timestamp {}; repositories in order: {}",
        common.state.display(),
        s.role,
        mode_name(s.mode),
        s.root_version,
        s.timestamp_version,
        common.repo.join(", ")
    ));
    if let (Some(keys), Some(location)) = (&common.require_attestation, &common.attestation) {
        let keys = read_auditor_keys(keys)?;
        client = client.require_attestation(AttestationPolicy::at(
            location,
            keys,
            common.max_lag,
            http.clone(),
        ));
        out.detail(format_args!("requiring an attestation from {location}"));
    }
    if common.no_refresh {
        out.detail("not refreshing (--no-refresh): verifying against the last refresh");
        return Ok((client, None));
    }
    let r = step(&mut client, out, Client::refresh)?;
    out.note(format_args!(
        "trusted: root {}, timestamp {}{}{}",
        r.root_version,
        r.timestamp_version,
        r.merkle_root
            .map(|m| format!(", merkle_root {m}"))
            .unwrap_or_default(),
        // Which of several servers answered; one server's output stays as it was.
        if common.repo.len() > 1 {
            format!(" (from {})", client.repository())
        } else {
            String::new()
        }
    ));
    if r.proof_version != r.timestamp_version {
        out.detail(format_args!(
            "proofs are checked against the attested timestamp {}",
            r.proof_version
        ));
    }
    Ok((client, Some(r)))
}

/// Runs one step of `client`, then tells on stderr which servers it gave up on, whatever the
/// outcome: a server that served bad data is reported even when another one then verified.
pub fn step<T>(
    client: &mut Client,
    out: &Output,
    f: impl FnOnce(&mut Client) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let result = f(client);
    let attempts = client.take_failed_attempts();
    for attempt in &attempts {
        let verdict = match attempt.fault {
            ServerFault::BadData => "WARNING: repository served data that failed verification",
            _ => "repository unavailable",
        };
        out.note(format_args!(
            "{verdict}: {}: {}",
            attempt.repository, attempt.error
        ));
    }
    if result.is_ok() {
        if attempts.is_empty() {
            out.detail(format_args!("answered by {}", client.repository()));
        } else {
            out.note(format_args!(
                "answered and verified by {}",
                client.repository()
            ));
        }
    }
    result
}

/// What a refresh ended on, as JSON.
pub fn refreshed_json(client: &Client, r: &Refreshed) -> Value {
    let s = client.state();
    json!({
        "role": s.role,
        "mode": mode_name(s.mode),
        "root_version": r.root_version,
        "timestamp_version": r.timestamp_version,
        "merkle_root": r.merkle_root.map(|m| m.to_hex()),
        "proof_version": r.proof_version,
        "snapshot_version": s.snapshot_version,
        "targets_version": s.targets_version,
        "repository": client.repository(),
    })
}

/// `merkle` or `classic`.
pub fn mode_name(mode: tuf_client::Mode) -> &'static str {
    match mode {
        tuf_client::Mode::Merkle => "merkle",
        tuf_client::Mode::Classic => "classic",
        _ => "other",
    }
}
