//! `tuf-verify`: verify targets of a TUF repository with TAP-16 Merkle snapshots, and audit its
//! history. `docs/client.md` describes the commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tuf_client::attest::{
    ATTESTATION_SPEC, ATTESTATION_TYPE, Attestation, AttestationPolicy, Statement,
};
use tuf_client::{AttestationError, Client, ClientError, Mode, Verified, audit, transport};

#[derive(Parser)]
#[command(
    name = "tuf-verify",
    version,
    about = "Verify targets of a TUF repository with Merkle snapshots, and audit its history"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Which HTTP redirects to follow: none, same-origin, or any-origin (never https to http).
    #[arg(long, global = true, default_value = "same-origin")]
    redirects: transport::Redirects,
    /// The longest one HTTP request may take, redirects and body included, in seconds.
    #[arg(long, global = true, default_value_t = 60)]
    http_timeout: u64,
}

#[derive(clap::Args)]
struct Common {
    /// The client's state directory for this role.
    #[arg(long)]
    state: PathBuf,
    /// The repository: the signer's or a mirror's base URL (`http://127.0.0.1:8080`), or a
    /// directory laid out like it (no proofs then).
    #[arg(long)]
    repo: String,
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
}

#[derive(Subcommand)]
enum Command {
    /// Trust a root (obtained out of band) for a role, in a new state directory.
    Init {
        /// The state directory to create.
        #[arg(long)]
        state: PathBuf,
        /// The role (`crates.io`).
        #[arg(long)]
        role: String,
        /// `merkle` or `classic`.
        #[arg(long, default_value = "merkle")]
        mode: Mode,
        /// The root file to trust (usually `1.root.json`).
        #[arg(long)]
        root: PathBuf,
    },
    /// Update the root chain and timestamp (and snapshot/targets for classic roles).
    Refresh {
        #[command(flatten)]
        common: Common,
    },
    /// Verify one target: present (and the file matches), deleted or absent.
    Verify {
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
    },
    /// Verify many targets with one multi-proof.
    VerifyMany {
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
    },
    /// Replay a merkle role's history and check every signed root; optionally sign an
    /// attestation of the last root checked.
    Audit {
        /// The repository (URL or directory).
        #[arg(long)]
        repo: String,
        /// The role.
        #[arg(long)]
        role: String,
        /// The trusted first root (`1.root.json`).
        #[arg(long)]
        root: PathBuf,
        /// The auditor's key file (PKCS#8 PEM) to sign an attestation with.
        #[arg(long, requires = "attest_out")]
        attest_key: Option<PathBuf>,
        /// Where to write the attestation.
        #[arg(long)]
        attest_out: Option<PathBuf>,
    },
    /// Print an auditor key's public TUF key (for clients' `--require-attestation` file);
    /// generates an Ed25519 key file if it does not exist.
    AuditorKey {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let http = transport::HttpOptions {
        timeout: std::time::Duration::from_secs(cli.http_timeout),
        redirects: cli.redirects,
        ..Default::default()
    };
    match run(cli.command, http) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Local {
        path: path.to_owned(),
        source,
    })
}

fn open(common: &Common, http: transport::HttpOptions) -> Result<Client, ClientError> {
    let mut client = Client::open(&common.state, transport::open_with(&common.repo, http))?;
    if let (Some(keys), Some(location)) = (&common.require_attestation, &common.attestation) {
        let keys: Vec<tough::schema::key::Key> =
            serde_json::from_slice(&read(keys)?).map_err(|source| {
                AttestationError::AuditorKeysFile {
                    path: keys.clone(),
                    source,
                }
            })?;
        let (source, path) = split_location(location, http);
        client = client.require_attestation(AttestationPolicy {
            threshold: 1,
            keys,
            source,
            path,
            max_lag: common.max_lag,
        });
    }
    if !common.no_refresh {
        let r = client.refresh()?;
        eprintln!(
            "trusted: root {}, timestamp {}{}",
            r.root_version,
            r.timestamp_version,
            r.merkle_root
                .map(|m| format!(", merkle_root {m}"))
                .unwrap_or_default()
        );
    }
    Ok(client)
}

fn split_location(
    location: &str,
    http: transport::HttpOptions,
) -> (Box<dyn transport::Transport>, String) {
    match location.rsplit_once('/') {
        Some((base, file)) if !base.is_empty() => {
            (transport::open_with(base, http), file.to_owned())
        }
        _ => (transport::open_with(".", http), location.to_owned()),
    }
}

fn print(v: &Verified) -> bool {
    println!("{v}");
    v.status.is_present()
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), ClientError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ClientError::Local {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ClientError::Local {
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        if path.is_dir() {
            walk(&path, &rel, out)?;
        } else if rel != "config.json" {
            out.push(rel);
        }
    }
    Ok(())
}

fn run(command: Command, http: transport::HttpOptions) -> Result<ExitCode, ClientError> {
    match command {
        Command::Init {
            state,
            role,
            mode,
            root,
        } => {
            Client::init(&state, &role, mode, &read(&root)?)?;
            println!(
                "trusting {} for {role} in {}",
                root.display(),
                state.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Refresh { common } => {
            open(&common, http)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            common,
            name,
            file,
            download,
        } => {
            let mut client = open(&common, http)?;
            let v = if let Some(out) = download {
                let (v, bytes) = client.download(&name)?;
                if let Some(bytes) = bytes {
                    tuf_client::state::write_atomic(&out, &bytes)?;
                    eprintln!("{} bytes written to {}", bytes.len(), out.display());
                }
                v
            } else {
                let bytes = file.as_deref().map(read).transpose()?;
                client.verify(&name, bytes.as_deref())?
            };
            Ok(if print(&v) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::VerifyMany {
            common,
            mut names,
            names_file,
            dir,
            all,
        } => {
            if let Some(f) = names_file {
                let text = String::from_utf8_lossy(&read(&f)?).into_owned();
                names.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
            }
            if all && let Some(d) = &dir {
                walk(d, "", &mut names)?;
            }
            names.sort();
            names.dedup();
            if names.is_empty() {
                return Err(ClientError::NoNames);
            }
            let mut files = BTreeMap::new();
            if let Some(d) = &dir {
                for n in &names {
                    let p = d.join(n);
                    if p.is_file() {
                        files.insert(n.clone(), read(&p)?);
                    }
                }
            }
            let mut client = open(&common, http)?;
            let verified = client.verify_many(&names, &files)?;
            let mut all_present = true;
            for v in &verified {
                all_present &= print(v);
            }
            eprintln!(
                "{} names verified with one multi-proof ({} files checked)",
                verified.len(),
                files.len()
            );
            Ok(if all_present {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Audit {
            repo,
            role,
            root,
            attest_key,
            attest_out,
        } => {
            let t = transport::open_with(&repo, http);
            let report = audit::audit(t.as_ref(), &role, &read(&root)?, &Default::default())?;
            println!(
                "{role}: replayed {} records ({} changes) from timestamp {:?} to {:?} of latest {}; {} leaves",
                report.records,
                report.changes,
                report.first_version,
                report.last_good_version,
                report.latest_version,
                report.leaves
            );
            if let Some(b) = &report.breach {
                println!("BREACH: {b}");
                return Ok(ExitCode::from(3));
            }
            println!(
                "consistent: every signed root up to timestamp {} recomputed; no version went down",
                report.latest_version
            );
            if let (Some(key), Some(out), Some(v), Some(r)) = (
                attest_key,
                attest_out,
                report.last_good_version,
                report.last_good_root,
            ) {
                let key = tuf_keys::FileSigner::load(&key).map_err(AttestationError::Key)?;
                let statement = Statement {
                    typ: ATTESTATION_TYPE.into(),
                    spec_version: ATTESTATION_SPEC.into(),
                    role: role.clone(),
                    timestamp_version: v,
                    merkle_root: r.to_hex(),
                    root_version: report.last_root_version,
                    first_timestamp_version: report.first_version.unwrap_or(1),
                    leaves: report.leaves,
                    audited_at: jiff::Timestamp::now()
                        .round(jiff::Unit::Second)
                        .unwrap_or_else(|_| jiff::Timestamp::now())
                        .to_string(),
                };
                let a = Attestation::sign(statement, &key)?;
                let text = a.to_json()?;
                tuf_client::state::write_atomic(&out, &text)?;
                println!("attestation written to {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::AuditorKey { key } => {
            let (signer, _) =
                tuf_keys::FileSigner::load_or_generate(&key, tuf_keys::KeyAlgorithm::Ed25519)
                    .map_err(AttestationError::Key)?;
            let keys = vec![signer.public_key().key().clone()];
            let text = tuf_client::attest::auditor_keys_json(&keys)?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
