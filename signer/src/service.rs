//! Starting and stopping the service: the data-directory lock, keys, roots, one sequencer per
//! role, and the HTTP server.
//!
//! Properties kept: nothing is served before every role has recovered (replayed its log and
//! republished its last round) and passed the trust checks of [`crate::metadata`]; the lock is
//! held for as long as anything may write; shutdown stops accepting HTTP requests first, lets
//! in-flight ones finish, then lets each sequencer commit what is queued and write a checkpoint.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tuf_keys::{FileSigner, KeyAlgorithm, KeyOpenOptions};

use crate::bucket::Bucket;
use crate::config::{Config, Mode, Storage};
use crate::http::auth::{TokenTable, token_hash};
use crate::http::{RoleHandle, Service};
use crate::layout::DataDir;
use crate::leadership::Leadership;
use crate::lease::Lease;
use crate::lock::{DataDirLock, LockError};
use crate::metadata::{MetadataError, RootChain, SharedSigner, write_dev_root};
use crate::metrics::Metrics;
use crate::publish::fs::FsPublisher;
use crate::publish::s3::S3Publisher;
use crate::publish::{PublishError, Publisher};
use crate::sequencer::{Parts, RecoveryError, Sequencer};
use crate::state::RoleState;
use crate::trust::Trust;

/// Depth of each role's request queue.
const QUEUE_DEPTH: usize = 4096;

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory is locked or unusable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A key: its file, KMS key or token.
    #[error("role {role}: online key: {source}")]
    Key {
        /// The role.
        role: String,
        /// The error.
        source: tuf_keys::KeyError,
    },
    /// Trust checks or root generation.
    #[error("role {role}: {source}")]
    Metadata {
        /// The role.
        role: String,
        /// The error.
        source: MetadataError,
    },
    /// Recovery.
    #[error("role {role}: recovery failed: {source}")]
    Recovery {
        /// The role.
        role: String,
        /// The error.
        source: Box<RecoveryError>,
    },
    /// Files in the data directory.
    #[error(transparent)]
    Fs(#[from] tuf_files::FsError),
    /// Publishing the root chain.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The listen address.
    #[error("cannot listen on {addr}: {source}; pass another --listen address")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// A role that the command names but the config lacks.
    #[error("no role {0:?} in the configuration")]
    UnknownRole(String),
    /// Called from a current-thread runtime.
    #[error(
        "tuf-signer must run on a multi-threaded tokio runtime (e.g. #[tokio::main] or #[tokio::test(flavor = \"multi_thread\")])"
    )]
    Runtime,
    /// The bucket (`[storage] type = "s3"`) cannot be reached or used.
    #[error("object storage: {0}")]
    Bucket(#[from] crate::bucket::BucketError),
    /// A thread could not be started.
    #[error("cannot start the sequencer thread: {0}")]
    Thread(std::io::Error),
}

/// The configuration a signer runs with and each role's trust: what `crate::reload` replaces.
pub(crate) struct Reloadable {
    /// The running configuration (as started, with every reload applied).
    pub config: Config,
    /// Each role's trust, read by its sequencer.
    pub trusts: BTreeMap<String, watch::Sender<Arc<Trust>>>,
}

/// A running service.
pub struct Running {
    addr: SocketAddr,
    http_stop: watch::Sender<bool>,
    /// Stops the per-role threads (sequencers; a mirror's followers).
    sequencer_stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// True while the HTTP server task runs (the systemd watchdog's liveness).
    serving: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    service: Arc<Service>,
    /// What a reload may change (the signer's; `None` on a mirror).
    reload: Option<Reloadable>,
    _lock: DataDirLock,
}

impl Running {
    /// What a reload may change, and the shared state it swaps tokens in (`crate::reload`);
    /// `None` on a mirror.
    pub(crate) fn reloadable(&mut self) -> Option<(&mut Reloadable, &Service)> {
        let service = &self.service;
        self.reload.as_mut().map(|r| (r, &**service))
    }

    /// The address the HTTP server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// True for as long as the HTTP server runs: what the systemd watchdog pings on.
    pub fn serving(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.serving.clone()
    }

    /// The shared state (for tests and embedding).
    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// Stops HTTP (in-flight requests finish), then the sequencers (queued changes are
    /// committed, a checkpoint is written), then releases the lock.
    pub async fn shutdown(self) {
        let _ = self.http_stop.send(true);
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "HTTP server error"),
            Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
        }
        let _ = self.sequencer_stop.send(true);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Loads (or in development mode generates) a role's online key.
pub async fn load_online_key(config: &Config, role: &str) -> Result<SharedSigner, StartError> {
    let cfg = config
        .roles
        .get(role)
        .ok_or_else(|| StartError::UnknownRole(role.to_owned()))?;
    let data = DataDir(config.data_dir.clone());
    let key_err = |source: tuf_keys::KeyError| StartError::Key {
        role: role.to_owned(),
        source,
    };
    match &cfg.online_key {
        // PKCS#11 keys: the module's calls block while they open the token and log in, here at
        // start-up only; each round's signature is made on the role's sequencer thread, never
        // on the runtime's workers (crate::sequencer).
        Some(spec) => Ok(spec
            .open(&online_key_options(config))
            .await
            .map_err(key_err)?
            .into()),
        None if config.mode == Mode::Development => {
            let path = data.online_key(role);
            let (signer, created) = FileSigner::load_or_generate(&path, KeyAlgorithm::Ed25519)
                .map_err(|e| key_err(e.into()))?;
            if created {
                tracing::warn!(role, path = %path.display(), "generated a DEVELOPMENT online key");
            }
            Ok(Arc::new(signer))
        }
        None => Err(StartError::Metadata {
            role: role.to_owned(),
            source: MetadataError::NoRoot(PathBuf::from(
                "online_key is required in production mode",
            )),
        }),
    }
}

/// What opening an online key needs besides its spec: the `[kms]` table's settings (each KMS
/// `online_key` may override them). A PKCS#11 key reads its PIN from the source it names.
fn online_key_options(config: &Config) -> KeyOpenOptions {
    #[cfg(feature = "kms")]
    {
        let mut kms = tuf_keys::KmsOptions::default();
        config.kms.apply_to(&mut kms);
        KeyOpenOptions::default().with_kms(kms)
    }
    #[cfg(not(feature = "kms"))]
    {
        let _ = config;
        KeyOpenOptions::default()
    }
}

/// The role's trusted root directory, creating a development root there if needed.
async fn root_dir(
    config: &Config,
    role: &str,
    online: &SharedSigner,
) -> Result<PathBuf, StartError> {
    let data = DataDir(config.data_dir.clone());
    let cfg = &config.roles[role];
    let meta_err = |source| StartError::Metadata {
        role: role.to_owned(),
        source,
    };
    if let Some(dir) = &cfg.root_dir {
        return Ok(dir.clone());
    }
    let dir = data.dev_roots(role);
    if !dir.join("1.root.json").exists() {
        let (root_key, _) =
            FileSigner::load_or_generate(data.dev_root_key(), KeyAlgorithm::Ed25519).map_err(
                |source| StartError::Key {
                    role: role.to_owned(),
                    source: source.into(),
                },
            )?;
        let root_key: SharedSigner = Arc::new(root_key);
        let path = write_dev_root(
            &dir,
            &root_key,
            online.public_key(),
            cfg.expiry.dev_root_secs,
        )
        .await
        .map_err(meta_err)?;
        tracing::warn!(role, path = %path.display(), "generated a DEVELOPMENT root signed by a local key");
    }
    Ok(dir)
}

/// Reads or creates the development writer token of a role (0600, never replaced); returns it.
fn dev_token(data: &DataDir, role: &str) -> Result<String, StartError> {
    let path = data.dev_token(role);
    if let Ok(t) = std::fs::read_to_string(&path) {
        return Ok(t.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| {
            tuf_files::FsError::new(
                &path,
                "generate token",
                std::io::Error::other("no randomness"),
            )
        })?;
    let token = hex::encode(bytes);
    if let Some(dir) = path.parent() {
        tuf_files::dir::create_private_dir(dir)?;
    }
    let options = tuf_files::WriteOptions::PRIVATE.replace(tuf_files::Replace::Never);
    tuf_files::atomic::write(&path, format!("{token}\n").as_bytes(), options)?;
    Ok(token)
}

/// The writer token hashes of `role`: the configured ones, or in development mode without any,
/// the hash of its generated token.
pub(crate) fn token_hashes(config: &Config, role: &str) -> Result<Vec<String>, StartError> {
    let cfg = config
        .roles
        .get(role)
        .ok_or_else(|| StartError::UnknownRole(role.to_owned()))?;
    let mut hashes = cfg.writer_token_sha256.clone();
    if config.mode == Mode::Development && hashes.is_empty() {
        let data = DataDir(config.data_dir.clone());
        hashes.push(token_hash(&dev_token(&data, role)?));
    }
    Ok(hashes)
}

/// Loads `role`'s online key and root chain and checks them against each other: the trust
/// checks of start and of every reload.
pub(crate) async fn load_trust(config: &Config, role: &str) -> Result<Trust, StartError> {
    let key = load_online_key(config, role).await?;
    let dir = root_dir(config, role, &key).await?;
    let meta_err = |source| StartError::Metadata {
        role: role.to_owned(),
        source,
    };
    let chain = RootChain::load(&dir).map_err(meta_err)?;
    Trust::check(chain, key).map_err(meta_err)
}

/// Starts the service: takes the lock, recovers every role, listens.
///
/// Must run on a multi-threaded tokio runtime: each sequencer drives its async work from its
/// own thread through the runtime's handle, which a current-thread runtime cannot serve.
pub async fn start(config: Config) -> Result<Running, StartError> {
    if tokio::runtime::Handle::current().runtime_flavor()
        != tokio::runtime::RuntimeFlavor::MultiThread
    {
        return Err(StartError::Runtime);
    }
    let lock = DataDirLock::acquire(&config.data_dir)?;
    let data = DataDir(config.data_dir.clone());
    if config.mode == Mode::Development {
        tracing::warn!(
            data_dir = %config.data_dir.display(),
            "DEVELOPMENT MODE: keys, roots and writer tokens are generated locally. This repository \
             is for development only; its root is NOT the ceremony's root. Use a config file with \
             mode = \"production\" for anything real."
        );
    }
    let (sequencer_stop, sequencer_stop_rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let mut tokens = TokenTable::default();
    let mut roles = BTreeMap::new();
    let mut threads = Vec::new();
    let mut readies = Vec::new();
    let mut trusts = BTreeMap::new();
    // With object storage every role's repository and state live in one bucket, and the roles
    // are led by whichever node holds each one's lease (crate::leadership).
    let bucket = match &config.storage {
        Storage::Local => None,
        Storage::S3(s3) => Some((Bucket::connect(s3).await?, s3.clone())),
    };
    for (name, cfg) in &config.roles {
        let hashes = token_hashes(&config, name)?;
        if config.mode == Mode::Development && cfg.writer_token_sha256.is_empty() {
            tracing::warn!(role = name, path = %data.dev_token(name).display(), "DEVELOPMENT writer token");
        }
        tokens.add_role(name, &hashes);
        let trust = load_trust(&config, name).await?;
        tracing::info!(
            role = name,
            root_version = trust.root_version(),
            key_id = trust.key_id,
            "trust checks passed"
        );
        let (trust_tx, trust_rx) = watch::channel(Arc::new(trust));
        let chain_files = trust_rx.borrow().roots.clone();
        let publisher: Arc<dyn Publisher> = match &bucket {
            None => {
                let publisher = Arc::new(FsPublisher::new(data.repo(name)));
                publisher.prepare().await?;
                tuf_files::dir::remove_stale_temps(&data.role_paths(name).state_dir);
                publisher.publish_roots(&chain_files).await?;
                publisher
            }
            // Only the leader writes: it prepares and publishes the roots when it takes over.
            Some((b, _)) => Arc::new(S3Publisher::new(b, name)),
        };
        let state = Arc::new(RoleState::new(name, cfg.snapshot, cfg.kept_versions));
        let role_metrics = Arc::new(metrics.role(name));
        role_metrics.leading.set(1);
        let parts = Parts {
            role: name.clone(),
            cfg: cfg.clone(),
            store: crate::storage::StateStore::Dir(data.role_paths(name)),
            trust: trust_rx,
            publisher: publisher.clone(),
            state: state.clone(),
            metrics: role_metrics,
            max_unsigned: config.limits.max_unsigned_changes,
        };
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (ready_tx, ready_rx) = oneshot::channel();
        let handle = tokio::runtime::Handle::current();
        let stop = sequencer_stop_rx.clone();
        let leadership = bucket.as_ref().map(|(b, s3)| {
            let state_bucket = b.under(&format!("state/{name}"));
            Leadership {
                parts: parts.clone(),
                lease: Arc::new(Lease::new(
                    state_bucket.clone(),
                    s3.node_id(),
                    s3.advertise_url.clone(),
                    Duration::from_secs(s3.lease_seconds),
                )),
                state_bucket,
            }
        });
        if leadership.is_some() {
            state.set_leadership(false, None);
        }
        let thread = std::thread::Builder::new()
            .name(format!("sequencer-{name}"))
            .spawn(move || {
                handle.block_on(async move {
                    if let Some(leadership) = leadership {
                        // A standby serves reads at once; it leads when it takes the lease.
                        let _ = ready_tx.send(Ok(()));
                        leadership.run(rx, stop).await;
                        return;
                    }
                    match Sequencer::open(parts).await {
                        Ok(seq) => {
                            let _ = ready_tx.send(Ok(()));
                            let mut rx = rx;
                            seq.run(&mut rx, stop).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(StartError::Thread)?;
        threads.push(thread);
        readies.push((name.clone(), ready_rx));
        trusts.insert(name.clone(), trust_tx);
        roles.insert(
            name.clone(),
            RoleHandle {
                snapshot: cfg.snapshot,
                layout: cfg.layout,
                tx: Some(tx),
                state,
                published: publisher,
            },
        );
    }
    let mut failure = None;
    for (role, ready) in readies {
        match ready.await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                failure = failure.or(Some(StartError::Recovery {
                    role,
                    source: Box::new(source),
                }))
            }
            Err(_) => {
                failure = failure.or(Some(StartError::Recovery {
                    role: role.clone(),
                    source: Box::new(RecoveryError::ThreadDied { role }),
                }))
            }
        }
    }
    let listener = match failure {
        Some(e) => Err(e),
        None => tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.listen,
                source,
            }),
    };
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            let _ = sequencer_stop.send(true);
            drop(roles);
            let _ = tokio::task::spawn_blocking(move || {
                threads.into_iter().for_each(|t| drop(t.join()))
            })
            .await;
            return Err(e);
        }
    };
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let mut running = serve_roles(
        Serving {
            listener,
            addr,
            roles,
            tokens,
            limits: &config.limits,
            server: &config.server,
            metrics: &metrics,
        },
        sequencer_stop,
        threads,
        lock,
    );
    running.reload = Some(Reloadable { config, trusts });
    tracing::info!(%addr, "listening");
    Ok(running)
}

/// What [`serve_roles`] serves.
pub(crate) struct Serving<'a> {
    /// Bound, not yet accepting.
    pub listener: tokio::net::TcpListener,
    /// Its address.
    pub addr: SocketAddr,
    /// The roles, each with its state and published files.
    pub roles: BTreeMap<String, RoleHandle>,
    /// Writer tokens (none on a mirror).
    pub tokens: TokenTable,
    /// Request limits.
    pub limits: &'a crate::config::Limits,
    /// Connection handling.
    pub server: &'a crate::config::ServerConfig,
    /// Every metric.
    pub metrics: &'a Arc<Metrics>,
}

/// Serves the HTTP API over `s.roles` (the signer's and the mirror's last step): the shared
/// state, the router, the server task, and the [`Running`] that stops it all, HTTP first, then
/// the per-role `threads` (told to stop through `threads_stop`).
pub(crate) fn serve_roles(
    s: Serving<'_>,
    threads_stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    lock: DataDirLock,
) -> Running {
    let (http_stop, mut http_stop_rx) = watch::channel(false);
    let role_count = s.roles.len();
    let service = Arc::new(Service {
        roles: s.roles,
        tokens: crate::http::auth::LiveTokens::new(s.tokens),
        limits: s.limits.clone(),
        metrics: s.metrics.clone(),
        proof_permits: Arc::new(tokio::sync::Semaphore::new(s.limits.concurrent_proofs())),
        body_timeout: s.server.body_timeout(),
    });
    let app = crate::http::router(service.clone());
    let serving = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let server = crate::server::serve(
        s.listener,
        app,
        s.server.clone(),
        role_count,
        s.metrics.connections.clone(),
        async move {
            let _ = http_stop_rx.wait_for(|stop| *stop).await;
        },
    );
    let flag = serving.clone();
    let server = tokio::spawn(async move {
        let result = server.await;
        flag.store(false, std::sync::atomic::Ordering::Relaxed);
        result
    });
    Running {
        addr: s.addr,
        http_stop,
        sequencer_stop: threads_stop,
        server,
        serving,
        threads,
        service,
        reload: None,
        _lock: lock,
    }
}
