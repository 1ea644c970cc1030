//! `tuf-verify proxy`: a verifying sparse-registry proxy between cargo and a crates.io-style
//! index (design D10, `docs/client.md`, "cargo through the verifying proxy").
//!
//! cargo asks the proxy for `config.json` and index files as it would ask the index
//! (`[source.crates-io] replace-with` a `sparse+http://127.0.0.1:PORT/` registry). For each file
//! the proxy fetches the bytes from the upstream index ([`index`]), checks them against a proof
//! for the pinned timestamp of the `crates.io` role ([`view`]: the signer or its mirrors, one
//! multi-proof for the names asked together), keeps what verified ([`cache`]) and serves only
//! that ([`server`]). As a file verifies, the files of its dependencies are fetched and verified
//! ahead of cargo's requests ([`prefetch`]). With `--tls` the proxy serves HTTPS with HTTP/2
//! ([`tls`]), on which cargo multiplexes all its requests on one connection. With `--warm` the
//! crates of a project are verified before cargo asks ([`warm`]).
//!
//! Properties kept:
//! - **Only verified bytes reach cargo.** A file is served only when its length and SHA-256 are
//!   the leaf of its name in a tree whose root a verified timestamp signed. A name is answered
//!   404 only when a proof shows it absent (or deleted) from that tree. Anything else gets 503
//!   with a message naming the file and the reason, which cargo shows and retries; the bytes
//!   that did not verify are dropped.
//! - **One view per resolution.** Proofs are asked against one pinned timestamp version (the
//!   client state's). The view moves forward only (never back: the client's rollback checks
//!   apply) when a resolution starts after an idle gap and the view is older than its maximum
//!   age, or when the index serves a file newer than the pinned tree (then the proxy refreshes
//!   and waits, within a bound, for a signed tree that covers it).
//! - **Offline, honestly.** With the index or the signer unreachable, a file is served from the
//!   cache only if it verified against the current view and that view's timestamp has not
//!   expired; the answer says so (`X-Tuf-Offline`).

pub mod cache;
pub mod index;
pub mod multiplex;
pub mod prefetch;
pub mod server;
pub mod tls;
pub mod view;
pub mod warm;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ClientError;
use crate::transport::HttpOptions;

/// The most requests served at once on blocking threads: the index reads in flight, and as
/// many waiting for their proofs.
pub const BLOCKING_THREADS: usize = 2 * index::PARALLEL;

/// How the proxy runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The client state directory (`tuf-verify init --role crates.io`); the verified-file
    /// cache lives in its `index-cache/`.
    pub state: PathBuf,
    /// The role's repositories (the signer, mirrors), tried in order.
    pub repositories: Vec<String>,
    /// The upstream sparse index's base URL (`https://index.crates.io/`).
    pub index: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// How long a request waits for a signed tree that covers the index's bytes.
    pub wait: Duration,
    /// A resolution that starts after this long without requests may move the view.
    pub idle: Duration,
    /// The view moves (at the start of a resolution) once it is older than this.
    pub max_age: Duration,
    /// How long a verified answer is served from memory (and so whether dependencies are
    /// prefetched): [`prefetch::RECENT`] by default, zero for none.
    pub remember: Duration,
    /// HTTP options for the index and the repositories.
    pub http: HttpOptions,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this certificate; `None`: plain HTTP/1.1.
    pub tls: Option<tls::Source>,
    /// Project files (`Cargo.lock`, `Cargo.toml`) whose crates are fetched and verified before
    /// the proxy listens ([`warm`]); remembered for `remember`.
    pub warm: Vec<PathBuf>,
}

/// Why the proxy cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The client state.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The state is not of a merkle role.
    #[error(
        "the state in {0} is not of a merkle role; the proxy verifies a crates.io-style index against a merkle role (tuf-verify init --role crates.io)"
    )]
    NotMerkle(PathBuf),
    /// The listen address.
    #[error("cannot listen on {addr}: {source}; pass another --listen address")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The async runtime.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The cache directory.
    #[error(transparent)]
    Cache(#[from] tuf_files::FsError),
    /// The TLS certificate and key.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A project file given to warm the proxy with.
    #[error(transparent)]
    Warm(#[from] warm::WarmError),
}

/// Runs the proxy until SIGINT or SIGTERM. Prints `tuf-verify proxy listening on http://ADDR`
/// (`https://` with TLS) once it accepts connections.
pub fn run(options: Options) -> Result<(), ProxyError> {
    // The certificate first: a bad one is an error before anything is fetched.
    let identity = options
        .tls
        .as_ref()
        .map(|source| tls::identity(source, &options.state, options.listen.ip()))
        .transpose()?;
    let mut warm_paths = Vec::new();
    for file in &options.warm {
        warm_paths.extend(warm::index_paths(file)?);
    }
    if !warm_paths.is_empty() {
        // What cargo asks first.
        warm_paths.push("config.json".to_owned());
    }
    warm_paths.sort();
    warm_paths.dedup();
    let verifier = view::Verifier::open(&options)?;
    let cache = cache::Cache::open(&options.state.join("index-cache"))?;
    let index = index::Index::new(&options.index, options.http.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Each request is served on a blocking thread (the index read, the proof's wait). cargo
        // over HTTP/2 asks for hundreds of files at once; a thread for each (tokio's default
        // allows 512) costs more in thread starts, wake-ups and page faults than it saves, as
        // at most `index::PARALLEL` index reads run at once anyway. The others queue.
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .map_err(ProxyError::Runtime)?;
    let served = runtime.block_on(server::serve(
        options,
        identity,
        warm_paths,
        verifier,
        cache.clone(),
        index,
    ));
    // A clean stop leaves on disk every file that verified (the writes run behind the answers).
    cache.flush();
    served
}
