//! HTTPS for the proxy (`--tls`, or `--tls-cert`/`--tls-key`): cargo multiplexes its whole
//! queue of index requests on one HTTP/2 connection only over TLS. Over plain HTTP its sparse
//! client speaks HTTP/1.1 on at most two connections per host, so two requests are in flight
//! and each index file costs a trip through the proxy (`docs/performance.md`).
//!
//! Properties kept:
//! - ALPN offers `h2`, then `http/1.1`; TLS 1.3 on rustls with the aws-lc-rs provider (the
//!   crypto the workspace already compiles).
//! - A generated identity lives in `STATE/proxy-tls/`: `ca.pem`, a certificate authority whose
//!   key is never written anywhere (it signs the one server certificate and is dropped, so
//!   trusting `ca.pem` in cargo trusts nothing else), and `cert.pem` + `key.pem`, the server's
//!   certificate (for `localhost`, `127.0.0.1`, `::1` and the listen address) and key. The key
//!   file is created with mode 0600 (never readable by others, not even for a moment) and
//!   written atomically; the directory is 0700. It is kept across restarts (cargo's
//!   `http.cainfo` stays valid) and replaced at start only when it no longer verifies: for the
//!   listen address, against `ca.pem`, 30 days from now.
//! - A given key file that other users can read or write is refused, as is anything but PEM
//!   certificates and one PEM private key that matches the first certificate.
//! - Handshakes run beside the accept loop, each bounded in time; a failed one closes its own
//!   connection and is logged with the peer and the reason (a cargo that does not trust the
//!   certificate shows up here).

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tuf_files::atomic::{self, WriteOptions};

/// The directory of the generated identity, in the state directory.
pub const DIR: &str = "proxy-tls";
/// The generated certificate authority (for cargo's `http.cainfo`).
pub const CA_FILE: &str = "ca.pem";
/// The generated server certificate.
pub const CERT_FILE: &str = "cert.pem";
/// The generated server key (mode 0600).
pub const KEY_FILE: &str = "key.pem";

/// How long a generated certificate is valid.
const VALIDITY_DAYS: i32 = 5 * 365;
/// A generated certificate that expires within this is replaced at start.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest certificate or key file read.
const MAX_PEM: u64 = 1024 * 1024;
/// Permission bits that let other users (not the owner, not the group) at a key file. Group
/// access is allowed: TLS keys are commonly shared with a service through a group (`ssl-cert`).
const OTHER_BITS: u32 = 0o007;

/// Where the proxy's certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Generated on first start into `STATE/proxy-tls/` (see the module's properties).
    Generated,
    /// PEM files: the certificate chain (server certificate first) and its private key.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
}

/// Why HTTPS cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The key file is open to other users.
    #[error(
        "TLS key file {path} has mode {mode:04o}, so other users can access it; a private key must not be readable by others: run `chmod 600 {path}`"
    )]
    KeyReadableByOthers {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The certificate and key do not make a server configuration.
    #[error("the TLS certificate {cert} and key {key} cannot be used: {source}")]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why (rustls).
        source: rustls::Error,
    },
    /// Generating the certificate failed.
    #[error("cannot generate the proxy's TLS certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing the generated files failed.
    #[error(transparent)]
    Write(#[from] tuf_files::FsError),
}

/// A certificate authority and a server certificate it signed, in PEM.
pub struct Generated {
    /// The certificate authority (its key is gone).
    pub ca_pem: String,
    /// The server certificate.
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
}

/// Generates a certificate authority and a server certificate for `localhost`, `127.0.0.1`,
/// `::1` and `ips`, valid from yesterday for five years; the authority's key is dropped here.
pub fn generate(ips: &[IpAddr]) -> Result<Generated, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
    };
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let ymd = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(d.year().into(), d.month() as u8, d.day() as u8)
    };
    let from = ymd(today.yesterday().unwrap_or(today));
    let until = ymd(today
        .checked_add(jiff::Span::new().days(VALIDITY_DAYS))
        .unwrap_or(today));
    let host = hostname();

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("tuf-verify proxy CA ({host}, key discarded)"),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = from;
    ca.not_after = until;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut server = CertificateParams::new(vec!["localhost".to_owned()])?;
    let mut all = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    for ip in ips {
        if !ip.is_unspecified() && !all.contains(ip) {
            all.push(*ip);
        }
    }
    server
        .subject_alt_names
        .extend(all.into_iter().map(SanType::IpAddress));
    server.distinguished_name = rcgen::DistinguishedName::new();
    server
        .distinguished_name
        .push(DnType::CommonName, format!("tuf-verify proxy ({host})"));
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = from;
    server.not_after = until;
    let cert = server.signed_by(&key, &issuer)?;
    Ok(Generated {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.len() <= 64)
        .unwrap_or_else(|| "localhost".into())
}

/// The server's TLS setup.
pub struct Identity {
    /// The rustls configuration (ALPN `h2`, `http/1.1`).
    pub config: Arc<ServerConfig>,
    /// The certificate authority to give cargo, when generated.
    pub ca: Option<PathBuf>,
    /// What happened to the generated identity at this start ("generated", "kept").
    pub note: Option<&'static str>,
}

/// The provider every TLS object here is built with.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Sets up the identity `source` says, for a server listening on `listen`. A generated one
/// lives in `state`'s [`DIR`].
pub fn identity(source: &Source, state: &Path, listen: IpAddr) -> Result<Identity, TlsError> {
    match source {
        Source::Files { cert, key } => {
            let chain = read_chain(cert)?;
            let private = read_key(key)?;
            Ok(Identity {
                config: server_config(chain, private, cert, key)?,
                ca: None,
                note: None,
            })
        }
        Source::Generated => {
            let dir = state.join(DIR);
            let (ca, cert, key) = (dir.join(CA_FILE), dir.join(CERT_FILE), dir.join(KEY_FILE));
            if let Ok(config) = reuse(&ca, &cert, &key, listen) {
                return Ok(Identity {
                    config,
                    ca: Some(ca),
                    note: Some("kept"),
                });
            }
            tuf_files::dir::create_private_dir(&dir)?;
            let g = generate(&[listen])?;
            // The key first: a crash before the certificates are written leaves files that do
            // not verify together, which the next start replaces.
            atomic::write(&key, g.key_pem.as_bytes(), WriteOptions::PRIVATE)?;
            atomic::write(&cert, g.cert_pem.as_bytes(), WriteOptions::PUBLIC)?;
            atomic::write(&ca, g.ca_pem.as_bytes(), WriteOptions::PUBLIC)?;
            let config = server_config(read_chain(&cert)?, read_key(&key)?, &cert, &key)?;
            Ok(Identity {
                config,
                ca: Some(ca),
                note: Some("generated"),
            })
        }
    }
}

/// The generated identity in `ca`, `cert`, `key`, if it still verifies for `listen` 30 days
/// from now.
fn reuse(
    ca: &Path,
    cert: &Path,
    key: &Path,
    listen: IpAddr,
) -> Result<Arc<ServerConfig>, TlsError> {
    let anchors = read_chain(ca)?;
    let chain = read_chain(cert)?;
    let private = read_key(key)?;
    let invalid = |message: String| TlsError::Invalid {
        path: cert.to_owned(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for a in anchors {
        roots
            .add(a)
            .map_err(|e| invalid(format!("its CA cannot be a trust anchor: {e}")))?;
    }
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| invalid(e.to_string()))?;
    let later = SystemTime::now()
        .checked_add(RENEW_BEFORE)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(UnixTime::since_unix_epoch)
        .ok_or_else(|| invalid("the clock is out of range".into()))?;
    let ip = if listen.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        listen
    };
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| invalid("no certificate".into()))?;
    verifier
        .verify_server_cert(leaf, intermediates, &ServerName::from(ip), &[], later)
        .map_err(|e| invalid(e.to_string()))?;
    server_config(chain, private, cert, key)
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let config_error = |source| TlsError::Config {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(config_error)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads at most [`MAX_PEM`] bytes of `file` (opened at `path`).
fn read_bounded(mut file: std::fs::File, path: &Path) -> Result<Vec<u8>, TlsError> {
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_PEM + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_PEM {
        return Err(TlsError::Invalid {
            path: path.to_owned(),
            message: format!("larger than {MAX_PEM} bytes; not a PEM certificate or key"),
        });
    }
    Ok(bytes)
}

fn open(path: &Path) -> Result<std::fs::File, TlsError> {
    std::fs::File::open(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The PEM certificates in `path` (at least one).
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_bounded(open(path)?, path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            path: path.to_owned(),
            message: format!("not valid PEM: {e}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Invalid {
            path: path.to_owned(),
            message: "holds no PEM certificate (BEGIN CERTIFICATE)".into(),
        });
    }
    Ok(chain)
}

/// The PEM private key in `path`, which other users must not be able to access (checked on the
/// opened file, so that a swap between the check and the read cannot slip through).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let file = open(path)?;
    let meta = file.metadata().map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(TlsError::Invalid {
            path: path.to_owned(),
            message: "not a regular file".into(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & OTHER_BITS != 0 {
        return Err(TlsError::KeyReadableByOthers {
            path: path.to_owned(),
            mode,
        });
    }
    let bytes = zeroize::Zeroizing::new(read_bounded(file, path)?);
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Invalid {
        path: path.to_owned(),
        message: format!("holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
    })
}

/// TLS connections for `axum::serve`: TCP connections accepted, their handshakes completed
/// beside the accept loop (a slow or failing client holds up no one else).
pub struct Listener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl Listener {
    /// Accepts on `tcp` with `config`; must be called inside the runtime.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Listener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors and the like: wait rather than spin.
                        eprintln!("tuf-verify proxy: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                // Answers go out at once (no Nagle delay against cargo's delayed ACKs).
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        // Closed before a handshake (a port probe, a health check): not worth
                        // a line.
                        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                        Ok(Err(e)) => {
                            eprintln!("tuf-verify proxy: TLS handshake with {peer} failed: {e}");
                        }
                        Err(_) => eprintln!(
                            "tuf-verify proxy: TLS handshake with {peer} timed out after {HANDSHAKE_TIMEOUT:?}"
                        ),
                    }
                });
            }
        });
        Ok(Listener { ready, local })
    }
}

impl axum::serve::Listener for Listener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ended (the runtime is shutting down): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_generated_identity_is_private_kept_and_replaced_when_it_no_longer_fits() {
        let state = tempfile::tempdir().unwrap();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let first = identity(&Source::Generated, state.path(), lo).unwrap();
        assert_eq!(first.note, Some("generated"));
        let dir = state.path().join(DIR);
        assert_eq!(mode_of(&dir.join(KEY_FILE)), 0o600);
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(first.ca, Some(dir.join(CA_FILE)));
        let ca = std::fs::read(dir.join(CA_FILE)).unwrap();
        // Kept across restarts, so that cargo's http.cainfo stays valid.
        let again = identity(&Source::Generated, state.path(), lo).unwrap();
        assert_eq!(again.note, Some("kept"));
        assert_eq!(std::fs::read(dir.join(CA_FILE)).unwrap(), ca);
        // Another listen address that the certificate does not name: replaced.
        let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let moved = identity(&Source::Generated, state.path(), other).unwrap();
        assert_eq!(moved.note, Some("generated"));
        assert_ne!(std::fs::read(dir.join(CA_FILE)).unwrap(), ca);
        // A damaged file: replaced, not an error.
        std::fs::write(dir.join(CERT_FILE), b"garbage").unwrap();
        let healed = identity(&Source::Generated, state.path(), other).unwrap();
        assert_eq!(healed.note, Some("generated"));
        assert_eq!(mode_of(&dir.join(KEY_FILE)), 0o600);
    }

    #[test]
    fn given_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate(&[]).unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &g.cert_pem).unwrap();
        std::fs::write(&key, &g.key_pem).unwrap();
        let source = Source::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for mode in [0o644, 0o604, 0o602, 0o666] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let Err(err) = identity(&source, dir.path(), lo) else {
                panic!("mode {mode:o} accepted")
            };
            assert!(
                matches!(err, TlsError::KeyReadableByOthers { .. }),
                "{mode:o}: {err}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        for mode in [0o600, 0o640, 0o400] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let id = identity(&source, dir.path(), lo).unwrap();
            assert_eq!(id.ca, None);
            assert_eq!(id.config.alpn_protocols[0], b"h2");
        }
        // Another key than the certificate's.
        std::fs::write(&key, generate(&[]).unwrap().key_pem).unwrap();
        let Err(err) = identity(&source, dir.path(), lo) else {
            panic!("a mismatched key was accepted")
        };
        assert!(matches!(err, TlsError::Config { .. }), "{err}");
        // Not PEM at all.
        std::fs::write(&cert, b"not a certificate").unwrap();
        let Err(err) = identity(&source, dir.path(), lo) else {
            panic!("garbage accepted")
        };
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        // Nothing generated when the files are given.
        assert!(!dir.path().join(DIR).exists());
    }
}
