//! The `tuf-signer` command: `serve`, `mirror`, `import`, `key export`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tuf_signer::Config;
use tuf_signer::config::ConfigError;

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
    let level = std::env::var("TUF_SIGNER_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .init();
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

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve { common, listen } => {
            raise_nofile_limit();
            let mut config = common.load()?;
            if let Some(l) = listen {
                config.listen = l;
            }
            let running = tuf_signer::start(config).await?;
            eprintln!("tuf-signer listening on http://{}", running.local_addr());
            wait_for_signal().await;
            eprintln!("shutting down: finishing queued changes");
            running.shutdown().await;
            Ok(())
        }
        Command::Mirror { config, listen } => {
            raise_nofile_limit();
            let mut config = tuf_signer::mirror::MirrorConfig::load(&config)?;
            if let Some(l) = listen {
                config.listen = l;
            }
            let running = tuf_signer::mirror::start(config).await?;
            eprintln!(
                "tuf-signer mirror listening on http://{}",
                running.local_addr()
            );
            wait_for_signal().await;
            eprintln!("shutting down: writing the mirror's checkpoint");
            running.shutdown().await;
            Ok(())
        }
        Command::Import {
            common,
            role,
            dir,
            manifest,
        } => {
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

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
