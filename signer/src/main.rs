//! The `tuf-signer` command: `serve`, `mirror`, `import`, `key export`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::atomic::Ordering;

use clap::{Args, Parser, Subcommand};
use tuf_signer::Config;
use tuf_signer::config::ConfigError;
use tuf_signer::logging::{self, LogConfig, LogFormat};
use tuf_signer::systemd::Notifier;

/// TUF repository signer with TAP-16 Merkle snapshots.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the signing service (the embedded development default without --config).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (overrides the config).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Build a role's tree from a directory (one leaf per file), e.g. a crates.io index
    /// checkout, or from a manifest (`--manifest FILE`: one `name<TAB>sha256<TAB>length` line
    /// per target, as a database export writes it).
    Import {
        #[command(flatten)]
        common: Common,
        /// The role to build.
        #[arg(long)]
        role: String,
        /// The directory to import.
        #[arg(required_unless_present = "manifest", conflicts_with = "manifest")]
        dir: Option<PathBuf>,
        /// A manifest to import instead of a directory (docs/operations.md, "Importing").
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Run a read-only verifying mirror: follow roles from the signer (its URL or its bucket),
    /// verify every round against the root chain, and serve the same read API
    /// (docs/operations.md, "Mirrors").
    Mirror {
        /// The mirror's TOML config file (upstream, roles with their trusted roots).
        #[arg(long)]
        config: PathBuf,
        /// Address to listen on (overrides the config).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Key management.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print a role's online public key (PEM and TUF key JSON) for the root ceremony.
    Export {
        #[command(flatten)]
        common: Common,
        /// The role.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// TOML config file (default: the embedded development config).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl Common {
    fn load(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::embedded_default(),
        };
        if let Some(d) = &self.data_dir {
            config.data_dir = d.clone();
        }
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads `serve`'s configuration with the command line's overrides (at start and at each
/// reload, so that an override never reads as a change).
fn serve_config(common: &Common, listen: Option<SocketAddr>) -> Result<Config, ConfigError> {
    let mut config = common.load()?;
    if let Some(l) = listen {
        config.listen = l;
    }
    Ok(config)
}

/// Says where the service listens: the line scripts and tests wait for (in the JSON format, an
/// event with the same message and `url`).
fn announce(format: LogFormat, what: &str, addr: SocketAddr) {
    match format {
        LogFormat::Text => eprintln!("{what} listening on http://{addr}"),
        LogFormat::Json => {
            tracing::info!(url = %format!("http://{addr}"), "{what} listening")
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve { common, listen } => {
            let config = serve_config(&common, listen)?;
            let format = config.log.format;
            let log = logging::init(&config.log)?;
            raise_nofile_limit();
            let notifier = Notifier::from_env();
            let mut signals = Signals::new()?;
            let mut running = tuf_signer::start(config).await?;
            let addr = running.local_addr();
            announce(format, "tuf-signer", addr);
            notifier.ready(&format!("listening on {addr}"));
            let serving = running.serving();
            {
                // Pings for as long as the process runs (returns at once without a watchdog,
                // so its branch is polled only when one is set).
                let watchdog = notifier.run_watchdog(|| serving.load(Ordering::Relaxed));
                tokio::pin!(watchdog);
                let pinging = notifier.watchdog().is_some();
                loop {
                    let signal = tokio::select! {
                        s = signals.next() => s,
                        _ = &mut watchdog, if pinging => continue,
                    };
                    match signal {
                        Signal::Stop => break,
                        Signal::Reload => {
                            notifier.reloading();
                            reload(&common, listen, &mut running, &log).await;
                            notifier.ready(&format!("listening on {addr}"));
                        }
                    }
                }
            }
            notifier.stopping("finishing queued changes");
            tracing::info!("shutting down: finishing queued changes");
            running.shutdown().await;
            Ok(())
        }
        Command::Mirror { config, listen } => {
            let _log = logging::init(&LogConfig::default())?;
            raise_nofile_limit();
            let mut config = tuf_signer::mirror::MirrorConfig::load(&config)?;
            if let Some(l) = listen {
                config.listen = l;
            }
            let mut signals = Signals::new()?;
            let running = tuf_signer::mirror::start(config).await?;
            announce(LogFormat::Text, "tuf-signer mirror", running.local_addr());
            while signals.next().await == Signal::Reload {
                tracing::warn!(
                    "SIGHUP: a mirror does not reload its configuration; restart it to apply changes"
                );
            }
            tracing::info!("shutting down: writing the mirror's checkpoint");
            running.shutdown().await;
            Ok(())
        }
        Command::Import {
            common,
            role,
            dir,
            manifest,
        } => {
            let _log = logging::init(&LogConfig::default())?;
            let config = common.load()?;
            let summary = tokio::task::spawn_blocking(move || match (manifest, dir) {
                (Some(manifest), _) => {
                    tuf_signer::import::import_manifest(&config, &role, &manifest, true)
                }
                (None, Some(dir)) => tuf_signer::import::import(&config, &role, &dir, true),
                (None, None) => Err(tuf_signer::import::ImportError::NothingToImport),
            })
            .await??;
            println!(
                "imported {} leaves; tree root {}",
                summary.leaves, summary.root
            );
            if !summary.skipped.is_empty() {
                println!(
                    "skipped {} files whose paths are not valid target names:",
                    summary.skipped.len()
                );
                for (name, why) in summary.skipped.iter().take(10) {
                    println!("  {name}: {why}");
                }
            }
            println!(
                "run `tuf-signer serve` with the same config to sign and publish the first timestamp"
            );
            Ok(())
        }
        Command::Key {
            command: KeyCommand::Export { common, role },
        } => {
            let _log = logging::init(&LogConfig::default())?;
            let config = common.load()?;
            let key = tuf_signer::load_online_key(&config, &role).await?;
            let public = key.public_key();
            print!("{}", public.to_spki_pem());
            println!("key ID: {}", public.key_id_hex());
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ public.key_id_hex(): public.key() })
                )?
            );
            Ok(())
        }
    }
}

/// Raises the open-file limit before anything opens files: the connection cap is sized from it.
fn raise_nofile_limit() {
    match tuf_signer::server::raise_nofile_limit() {
        Ok(l) if l.before != l.now => {
            tracing::info!(before = l.before, now = l.now, "raised the open-file limit")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// Reloads the configuration file (SIGHUP): logs what changed, or why nothing did.
async fn reload(
    common: &Common,
    listen: Option<SocketAddr>,
    running: &mut tuf_signer::Running,
    log: &logging::LogHandle,
) {
    tracing::info!("SIGHUP: reloading the configuration");
    let config = match serve_config(common, listen) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "reload failed; the running configuration stays");
            return;
        }
    };
    match tuf_signer::reload::reload(running, config).await {
        Ok(outcome) => {
            for r in &outcome.roles {
                tracing::info!(
                    role = r.role,
                    root_version = r.root_version,
                    key_id = r.key_id,
                    changed = r.changed,
                    "role reloaded"
                );
            }
            if !outcome.restart_needed.is_empty() {
                tracing::warn!(
                    settings = outcome.restart_needed.join(", "),
                    "changed settings that take effect only at a restart; they stay as they run"
                );
            }
            match log.apply(&outcome.log) {
                Ok(filter) => tracing::info!(log_filter = filter, "configuration reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "configuration reloaded, but not the log filter")
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "reload failed; the running configuration stays"),
    }
}

/// A signal that matters to a running service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// SIGINT or SIGTERM.
    Stop,
    /// SIGHUP.
    Reload,
}

/// The signals a service waits for (SIGHUP is caught from start, so that one arriving early
/// never kills the process with its default action).
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Signal::Stop,
            _ = self.term.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
