//! `tuf-signer mirror`: a read-only verifying mirror (design D9, `docs/operations.md`,
//! "Mirrors").
//!
//! A mirror follows each configured merkle role from an upstream (the signer's HTTP API,
//! another mirror, or the signer's bucket), verifies every round as an auditor does
//! ([`follow`]), keeps a copy of the repository ([`store`]), and serves the signer's read API
//! from it with the same code: static files, proofs, multi-proofs, status, `/healthz`,
//! `/metrics`. Writes get 405 `read_only_mirror`.
//!
//! Data flows one way: [`upstream`] → [`follow`] (verify, apply) → [`store`] and the served
//! versions → `http`; [`background`] writes the checkpoints from the served versions. The mirror holds no key and no token: it adds capacity, never trust.
//!
//! Properties kept: nothing is served before every role has opened (its copy re-verified, or a
//! cold start done); shutdown stops HTTP first, then each follower, which waits for its
//! background work ([`background`]: checkpoints, leaf snapshot copies) and writes a checkpoint.

mod background;
pub mod config;
mod follow;
mod store;
mod upstream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

pub use config::MirrorConfig;
pub use follow::FollowError;

use crate::config::SnapshotMode;
use crate::http::RoleHandle;
use crate::http::auth::TokenTable;
use crate::lock::{DataDirLock, LockError};
use crate::metrics::Metrics;
use crate::publish::fs::FsPublisher;
use crate::service::{Running, Serving, serve_roles};
use crate::state::RoleState;
use follow::Follower;
use store::MirrorStore;
use upstream::Upstream;

/// Why a mirror cannot start.
#[derive(Debug, thiserror::Error)]
pub enum MirrorStartError {
    /// The data directory is locked (another process uses it) or unusable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The upstream bucket cannot be used.
    #[error("upstream bucket: {0}")]
    Bucket(#[from] crate::bucket::BucketError),
    /// A role cannot be followed.
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// The mirror's files.
    #[error(transparent)]
    Fs(#[from] tuf_files::FsError),
    /// The listen address.
    #[error("cannot listen on {addr}: {source}; pass another --listen address")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// A thread could not be started.
    #[error("cannot start a follower thread: {0}")]
    Thread(std::io::Error),
    /// A follower thread died while opening.
    #[error("role {0}: the follower thread died while opening")]
    ThreadDied(String),
    /// Called from a current-thread runtime.
    #[error("the mirror must run on a multi-threaded tokio runtime")]
    Runtime,
}

/// Starts a mirror: opens every role (re-verifying its copy, or starting cold from the
/// upstream), then listens. The returned [`Running`] stops it like a signer.
pub async fn start(config: MirrorConfig) -> Result<Running, MirrorStartError> {
    if tokio::runtime::Handle::current().runtime_flavor()
        != tokio::runtime::RuntimeFlavor::MultiThread
    {
        return Err(MirrorStartError::Runtime);
    }
    let lock = DataDirLock::acquire(&config.data_dir)?;
    let (follow_stop, follow_stop_rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let source = config.upstream.source().map_err(|e| {
        MirrorStartError::Follow(FollowError::TrustedRoot {
            role: String::new(),
            path: String::new(),
            message: e.to_string(),
        })
    })?;
    let upstream = Arc::new(Upstream::open(&source, config.upstream.timeout()).await?);
    let mut roles = BTreeMap::new();
    let mut threads = Vec::new();
    let mut readies = Vec::new();
    for (name, cfg) in &config.roles {
        let store = MirrorStore::open(&config.data_dir, name)?;
        let state = Arc::new(RoleState::new(
            name,
            SnapshotMode::Merkle,
            cfg.kept_versions,
        ));
        state.set_leadership(false, None);
        let (ready_tx, ready_rx) = oneshot::channel();
        let parts = (
            name.clone(),
            cfg.clone(),
            upstream.clone(),
            store.clone(),
            state.clone(),
            metrics.mirror(name),
            config.upstream.poll_interval(),
        );
        let stop = follow_stop_rx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("mirror-{name}"))
            .spawn(move || {
                let (name, cfg, upstream, store, state, metrics, poll) = parts;
                match Follower::open(&name, cfg, upstream, store, state, metrics, poll) {
                    Ok(follower) => {
                        let _ = ready_tx.send(Ok(()));
                        follower.run(stop);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(MirrorStartError::Thread)?;
        threads.push(thread);
        readies.push((name.clone(), ready_rx));
        roles.insert(
            name.clone(),
            RoleHandle {
                snapshot: SnapshotMode::Merkle,
                layout: cfg.layout,
                tx: None,
                state,
                published: Arc::new(FsPublisher::new(store.repo().to_owned())),
            },
        );
    }
    let mut failure = None;
    for (role, ready) in readies {
        match ready.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(MirrorStartError::Follow(e))),
            Err(_) => failure = failure.or(Some(MirrorStartError::ThreadDied(role))),
        }
    }
    let listener = match failure {
        Some(e) => Err(e),
        None => tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| MirrorStartError::Listen {
                addr: config.listen,
                source,
            }),
    };
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            let _ = follow_stop.send(true);
            let _ = tokio::task::spawn_blocking(move || {
                threads.into_iter().for_each(|t| drop(t.join()))
            })
            .await;
            return Err(e);
        }
    };
    let addr = listener
        .local_addr()
        .map_err(|source| MirrorStartError::Listen {
            addr: config.listen,
            source,
        })?;
    let running = serve_roles(
        Serving {
            listener,
            addr,
            roles,
            tokens: TokenTable::default(),
            limits: &config.limits,
            server: &config.server,
            metrics: &metrics,
        },
        follow_stop,
        threads,
        lock,
    );
    tracing::info!(%addr, upstream = upstream.describe(), "mirror listening");
    Ok(running)
}
