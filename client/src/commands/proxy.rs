//! `tuf-verify proxy`: the verifying sparse-registry proxy for cargo
//! ([`tuf_client::proxy`]; `docs/client.md`, "cargo through the verifying proxy").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tuf_client::ClientError;
use tuf_client::proxy::{self, Options, ProxyError, tls};
use tuf_client::transport::HttpOptions;

#[derive(clap::Args)]
pub struct Args {
    /// The client's state directory of the `crates.io` role (`tuf-verify init --role
    /// crates.io`); verified index files are cached in its `index-cache/`.
    #[arg(long)]
    state: PathBuf,
    /// The role's repositories (the signer, mirrors): several times or a comma list, tried in
    /// order; proofs are checked against the root, whoever serves them.
    #[arg(long, required = true, value_delimiter = ',')]
    repo: Vec<String>,
    /// The upstream sparse index (`https://index.crates.io/`).
    #[arg(long)]
    index: String,
    /// Where to listen; point cargo at `sparse+http://ADDR/` (`sparse+https://ADDR/` with TLS).
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Serve HTTPS (HTTP/2, on which cargo multiplexes all its requests on one connection, and
    /// HTTP/1.1) with a certificate generated on first start into STATE/proxy-tls/ and kept:
    /// point cargo's `http.cainfo` (or CARGO_HTTP_CAINFO) at the `ca.pem` printed at start.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls: bool,
    /// Serve HTTPS with this PEM certificate chain (server certificate first); needs --tls-key.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert; refused if other users can read it.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// How long a request waits for a signed tree that covers the index's bytes (the index can
    /// be briefly ahead of the signer) before it is refused, in seconds.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    wait_secs: f64,
    /// A resolution starts when requests come after this many milliseconds without any.
    #[arg(long, default_value_t = 2000)]
    idle_ms: u64,
    /// A resolution that starts with a view older than this many seconds moves it to the
    /// latest timestamp first.
    #[arg(long, default_value_t = 30)]
    max_age_secs: u64,
    /// How long a file verified against the view (by cargo's request, warmed, or prefetched
    /// as a dependency of one) is answered from memory, in seconds. 0 (the default without
    /// --warm; 60 with it) turns memory and prefetching off: every request asks the index and
    /// proves again. Measured on a 300-package resolution, prefetching did not pay
    /// (docs/performance.md); it may for deep graphs.
    #[arg(long, value_parser = seconds)]
    remember_secs: Option<f64>,
    /// A project's Cargo.lock (every registry package) or Cargo.toml (its registry
    /// dependencies): their index files are fetched and verified, in one multi-proof, before
    /// the proxy listens, and answered from memory when cargo asks. Several times for several
    /// files.
    #[arg(long, value_name = "FILE")]
    warm: Vec<PathBuf>,
}

/// A number of seconds: finite and not negative.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (0 or more)")),
    }
}

/// How long answers are remembered with --warm unless --remember-secs says otherwise: long
/// enough for the resolution started once the proxy listens.
const WARM_REMEMBER_SECS: f64 = 60.0;

pub fn run(args: Args, http: HttpOptions) -> Result<ExitCode, ClientError> {
    let options = Options {
        state: args.state,
        repositories: args.repo,
        index: args.index,
        listen: args.listen,
        wait: Duration::from_secs_f64(args.wait_secs.clamp(0.0, 600.0)),
        idle: Duration::from_millis(args.idle_ms),
        max_age: Duration::from_secs(args.max_age_secs),
        remember: Duration::from_secs_f64(
            args.remember_secs
                .unwrap_or(if args.warm.is_empty() {
                    0.0
                } else {
                    WARM_REMEMBER_SECS
                })
                .clamp(0.0, 3600.0),
        ),
        http,
        tls: match (args.tls, args.tls_cert, args.tls_key) {
            (_, Some(cert), Some(key)) => Some(tls::Source::Files { cert, key }),
            (true, _, _) => Some(tls::Source::Generated),
            _ => None,
        },
        warm: args.warm,
    };
    match proxy::run(options) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(ProxyError::Client(e)) => Err(e),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(super::REFUSED))
        }
    }
}
