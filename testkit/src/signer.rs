//! The signer under test: started in-process ([`Signer`] on the caller's runtime,
//! [`Background`] on its own for synchronous tests) or as its real binary ([`start_binary`]).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tough::schema::{Root, Signed, Timestamp};
use tuf_merkle::Digest;
use tuf_signer::{Config, Running};

use crate::http::{Resp, request, request_blocking};

/// A signer running in-process on the caller's (multi-threaded) runtime.
pub struct Signer {
    /// The running service (taken by [`Signer::stop`]).
    pub running: Option<Running>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data: PathBuf,
}

impl Signer {
    /// Starts a signer with the default test configuration and data in `data`.
    pub async fn start(data: &Path) -> Signer {
        Self::start_with(crate::config::config(data)).await
    }

    /// Starts a signer with `config`.
    pub async fn start_with(config: Config) -> Signer {
        let data = config.data_dir.clone();
        let running = tuf_signer::start(config).await.expect("start");
        let addr = running.local_addr();
        Signer {
            running: Some(running),
            addr,
            data,
        }
    }

    /// Shuts it down (in-flight requests finish, a checkpoint is written).
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// The development writer token of `role`.
    pub fn token(&self, role: &str) -> String {
        crate::repo::dev_token(&self.data, role)
    }

    /// A raw request.
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        request(self.addr, method, path, headers, body).await
    }

    /// A write with the role's own token.
    pub async fn write(
        &self,
        role: &str,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Resp {
        let auth = format!("Bearer {}", self.token(role));
        let mut headers = vec![("Authorization", auth.as_str())];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        self.req(method, path, &headers, body).await
    }

    /// `GET /api/v1/{role}/status`, which must succeed.
    pub async fn status(&self, role: &str) -> Value {
        let r = self
            .req("GET", &format!("/api/v1/{role}/status"), &[], b"")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Fetches root.json and timestamp.json, verifies the timestamp's signature with tough
    /// against the root, and returns the timestamp's version and `merkle_root`.
    pub async fn verified_timestamp(&self, role: &str) -> (u64, Option<Digest>) {
        let root = self
            .req("GET", &format!("/{role}/root.json"), &[], b"")
            .await;
        assert_eq!(root.status, 200);
        let root: Signed<Root> = serde_json::from_slice(&root.body).expect("root.json");
        root.signed.verify_role(&root).expect("root self-signed");
        let ts = self
            .req("GET", &format!("/{role}/timestamp.json"), &[], b"")
            .await;
        assert_eq!(ts.status, 200);
        let ts: Signed<Timestamp> = serde_json::from_slice(&ts.body).expect("timestamp.json");
        root.signed
            .verify_role(&ts)
            .expect("timestamp signature verifies under the root");
        let merkle_root = ts
            .signed
            ._extra
            .get("merkle_root")
            .and_then(Value::as_str)
            .map(|h| tuf_merkle::hash::parse_hex(h).expect("merkle_root hex"));
        (ts.signed.version.get(), merkle_root)
    }
}

/// A signer running in-process on its own runtime, for synchronous tests; shut down on drop.
pub struct Background {
    runtime: tokio::runtime::Runtime,
    running: Option<Running>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data: PathBuf,
    _tmp: Option<tempfile_dir::TempDir>,
}

/// A temporary directory removed on drop (the kit does not depend on `tempfile`).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    /// A directory under the system's temporary directory, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        /// A new, empty directory.
        pub fn new() -> TempDir {
            let mut bytes = [0u8; 8];
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
                ^ u128::from(std::process::id());
            bytes.copy_from_slice(&seed.to_le_bytes()[..8]);
            let name = format!("tuf-testkit-{}", u64::from_le_bytes(bytes));
            let path = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&path).expect("temporary directory");
            TempDir(path)
        }

        /// Its path.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Background {
    /// Starts a signer with the signer's own default limits in a temporary directory.
    pub fn start() -> Background {
        Self::start_after(|_| {})
    }

    /// [`Background::start`], after `prepare` ran on the configuration (an import, say).
    pub fn start_after(prepare: impl FnOnce(&Config)) -> Background {
        Self::start_configured(prepare, crate::config::TestConfig::signer_defaults())
    }

    /// Starts a signer with `config` in a temporary directory, after `prepare` ran on it.
    pub fn start_configured(
        prepare: impl FnOnce(&Config),
        config: crate::config::TestConfig,
    ) -> Background {
        let tmp = tempfile_dir::TempDir::new();
        let data = tmp.path().join("data");
        let config = config.build(&data);
        prepare(&config);
        let mut b = Self::start_with(config);
        b._tmp = Some(tmp);
        b
    }

    /// Starts a signer with `config` (its data directory is the caller's).
    pub fn start_with(config: Config) -> Background {
        let data = config.data_dir.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let running = runtime
            .block_on(tuf_signer::start(config))
            .expect("start signer");
        let addr = running.local_addr();
        Background {
            runtime,
            running: Some(running),
            addr,
            data,
            _tmp: None,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `data/repo/role`.
    pub fn repo(&self, role: &str) -> PathBuf {
        crate::repo::repo(&self.data, role)
    }

    /// The development writer token of `role`.
    pub fn token(&self, role: &str) -> String {
        crate::repo::dev_token(&self.data, role)
    }

    /// A raw request.
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request_blocking(self.addr, method, path, headers, body)
    }

    /// Publishes `bytes` under `name` and waits for the signed timestamp; returns its version.
    pub fn publish(&self, role: &str, name: &str, bytes: &[u8]) -> u64 {
        let auth = format!("Bearer {}", self.token(role));
        let r = self.req(
            "PUT",
            &format!("/api/v1/{role}/targets/{name}?wait=signed"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/octet-stream"),
            ],
            bytes,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["timestamp_version"]
            .as_u64()
            .expect("timestamp_version")
    }

    /// Deletes `name` (a tombstone) and waits for the signed timestamp; returns its version.
    pub fn delete(&self, role: &str, name: &str) -> u64 {
        let auth = format!("Bearer {}", self.token(role));
        let r = self.req(
            "DELETE",
            &format!("/api/v1/{role}/targets/{name}?wait=signed"),
            &[("Authorization", &auth)],
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["timestamp_version"]
            .as_u64()
            .expect("timestamp_version")
    }

    /// The role's online key file (timestamp, snapshot, targets): what an attacker who stole
    /// it could sign with.
    pub fn online_key(&self, role: &str) -> tuf_keys::FileSigner {
        tuf_keys::FileSigner::load(self.data.join("keys").join(format!("{role}.pem")))
            .expect("online key")
    }

    /// The development root key.
    pub fn root_key(&self) -> tuf_keys::FileSigner {
        tuf_keys::FileSigner::load(self.data.join("keys").join("dev-root.pem")).expect("root key")
    }

    /// A client of `role` initialised with the role's `1.root.json`, fetching through `base`
    /// (the signer's URL, or a proxy's), with its state in `state`.
    pub fn client(
        &self,
        role: &str,
        mode: tuf_client::Mode,
        base: &str,
        state: &Path,
    ) -> tuf_client::Client {
        let root = std::fs::read(self.repo(role).join("1.root.json")).expect("1.root.json");
        tuf_client::Client::init(state, role, mode, &root).expect("init");
        tuf_client::Client::open(state, tuf_client::transport::open(base)).expect("open")
    }

    /// GETs a path, which must succeed.
    pub fn get(&self, path: &str) -> Vec<u8> {
        let r = self.req("GET", &format!("/{path}"), &[], b"");
        assert_eq!(r.status, 200, "{path}");
        r.body
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            self.runtime.block_on(r.shutdown());
        }
    }
}

/// Runs the real `tuf-signer serve --config CONFIG` with extra environment variables, and waits
/// until it listens. Returns the child (kill it when done) and its address.
///
/// `binary` is [`crate::signer_binary!`] in the signer's own tests.
pub fn start_binary(binary: &str, config: &Path, env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied());
    start_command(command)
}

/// Runs a prepared `serve` command (a shell wrapper that sets `ulimit`, say) and waits until the
/// signer listens; stderr is drained for the life of the process so it never blocks on a full
/// pipe.
pub fn start_command(mut command: Command) -> (Child, SocketAddr) {
    let mut child = command
        .env("TUF_SIGNER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let listening = line
                .strip_prefix("tuf-signer listening on http://")
                .or_else(|| line.strip_prefix("tuf-signer mirror listening on http://"));
            if let Some(addr) = listening
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Ok(addr.trim().to_owned()));
            } else if line.starts_with("error:")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Err(line));
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(addr)) => addr.parse().unwrap(),
        other => {
            let _ = child.kill();
            panic!("signer did not start: {other:?}");
        }
    };
    (child, addr)
}

/// Sends SIGKILL to a signer process and reaps it.
pub fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
