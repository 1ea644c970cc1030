//! The signer's test configuration, written once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tuf_keys::{FileSigner, KeyAlgorithm};
use tuf_signer::Config;
use tuf_signer::metadata::{SharedSigner, write_dev_root};

/// The roles of the test configuration.
const ROLES: [&str; 2] = [crate::MERKLE, crate::CLASSIC];

/// Keys, roots and writer tokens made for production mode (which `[storage] type = "s3"`
/// requires): a root key, and for each role an online key file, a root chain listing it and a
/// writer token ([`ProductionKeys::token`]).
#[derive(Debug, Clone)]
pub struct ProductionKeys {
    dir: PathBuf,
}

impl ProductionKeys {
    /// Makes them under `dir` (once: a second call with the same `dir` reuses them, so several
    /// nodes of one repository share its keys and roots).
    pub async fn create(dir: &Path) -> ProductionKeys {
        let keys = ProductionKeys {
            dir: dir.to_owned(),
        };
        let (root_key, _) =
            FileSigner::load_or_generate(dir.join("root.pem"), KeyAlgorithm::Ed25519)
                .expect("root key");
        let root_key: SharedSigner = Arc::new(root_key);
        for role in ROLES {
            let (online, _) =
                FileSigner::load_or_generate(keys.online_key(role), KeyAlgorithm::Ed25519)
                    .expect("online key");
            if !keys.root_dir(role).join("1.root.json").exists() {
                write_dev_root(&keys.root_dir(role), &root_key, online.public_key(), 3600)
                    .await
                    .expect("root");
            }
        }
        keys
    }

    /// The online key file of `role`.
    pub fn online_key(&self, role: &str) -> PathBuf {
        self.dir.join(format!("{role}.online.pem"))
    }

    /// The trusted root directory of `role`.
    pub fn root_dir(&self, role: &str) -> PathBuf {
        self.dir.join(format!("roots/{role}"))
    }

    /// The writer token of `role`.
    pub fn token(&self, role: &str) -> String {
        format!("{role}-writer-token")
    }

    /// The TOML lines of `role`'s table.
    fn role_lines(&self, role: &str) -> String {
        format!(
            "root_dir = \"{}\"\nonline_key = {{ type = \"file\", path = \"{}\" }}\nwriter_token_sha256 = [\"{}\"]\n",
            self.root_dir(role).display(),
            self.online_key(role).display(),
            tuf_signer::token_hash(&self.token(role)),
        )
    }
}

/// The test configuration with overrides: `[limits]` and `[server]` entries, and extra TOML for
/// the merkle role (an `online_key`, say).
#[derive(Debug, Clone)]
pub struct TestConfig {
    limits: Vec<(String, String)>,
    server: Vec<(String, String)>,
    merkle_role: Vec<String>,
    batch: (usize, u64),
    production: Option<ProductionKeys>,
    storage: Vec<(String, String)>,
    listen: String,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            limits: Vec::new(),
            server: Vec::new(),
            merkle_role: Vec::new(),
            batch: (100, 2),
            production: None,
            storage: Vec::new(),
            listen: "127.0.0.1:0".to_owned(),
        }
    }
}

impl TestConfig {
    /// The defaults: `max_upload_bytes = 4096`, `max_json_bytes = 2048`,
    /// `max_batch_changes = 20`, batches of 100 changes or 2 ms.
    pub fn new() -> Self {
        TestConfig::default()
            .limit("max_upload_bytes", "4096")
            .limit("max_json_bytes", "2048")
            .limit("max_batch_changes", "20")
    }

    /// No limit overridden: the signer's own defaults (16 MiB uploads, …).
    pub fn signer_defaults() -> Self {
        TestConfig::default()
    }

    /// Sets `[limits] key = value` (TOML).
    pub fn limit(mut self, key: &str, value: &str) -> Self {
        self.limits.retain(|(k, _)| k != key);
        self.limits.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets `[server] key = value` (TOML).
    pub fn server(mut self, key: &str, value: &str) -> Self {
        self.server.retain(|(k, _)| k != key);
        self.server.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Group commits of at most `max_changes` changes or `max_delay_ms` (both roles).
    pub fn batch(mut self, max_changes: usize, max_delay_ms: u64) -> Self {
        self.batch = (max_changes, max_delay_ms);
        self
    }

    /// Listens on `addr` (default `127.0.0.1:0`, a free port): a fixed port, for a signer that
    /// is restarted under clients that keep its URL.
    pub fn listen(mut self, addr: std::net::SocketAddr) -> Self {
        self.listen = addr.to_string();
        self
    }

    /// Adds a line (`key = value`) to the merkle role's table.
    pub fn merkle_role(mut self, line: &str) -> Self {
        self.merkle_role.push(line.to_owned());
        self
    }

    /// Production mode with `keys` (each role's root, online key and writer token).
    pub fn production(mut self, keys: &ProductionKeys) -> Self {
        self.production = Some(keys.clone());
        self
    }

    /// Sets `[storage] key = value` (TOML), such as `type = "\"s3\""`.
    pub fn storage(mut self, key: &str, value: &str) -> Self {
        self.storage.retain(|(k, _)| k != key);
        self.storage.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `[storage]` for moto's S3 at `endpoint`: bucket `bucket`, key prefix `prefix`, path-style,
    /// region us-east-1, this node advertised as `http://127.0.0.1:1` (production mode is needed
    /// too: [`TestConfig::production`]).
    pub fn s3_storage(self, endpoint: &str, bucket: &str, prefix: &str) -> Self {
        let q = |v: &str| format!("\"{v}\"");
        self.storage("type", &q("s3"))
            .storage("bucket", &q(bucket))
            .storage("prefix", &q(prefix))
            .storage("region", &q("us-east-1"))
            .storage("endpoint", &q(endpoint))
            .storage("path_style", "true")
            .storage("advertise_url", &q("http://127.0.0.1:1"))
    }

    /// The TOML text for data in `data`.
    pub fn toml(&self, data: &Path) -> String {
        let table = |entries: &[(String, String)]| -> String {
            entries
                .iter()
                .map(|(k, v)| format!("{k} = {v}\n"))
                .collect()
        };
        let server = if self.server.is_empty() {
            String::new()
        } else {
            format!("[server]\n{}", table(&self.server))
        };
        let (mode, merkle_keys, classic_keys) = match &self.production {
            Some(keys) => (
                "production",
                keys.role_lines(crate::MERKLE),
                keys.role_lines(crate::CLASSIC),
            ),
            None => ("development", String::new(), String::new()),
        };
        let storage = if self.storage.is_empty() {
            String::new()
        } else {
            format!("[storage]\n{}", table(&self.storage))
        };
        format!(
            r#"
mode = "{mode}"
data_dir = "{}"
listen = "{listen}"
[limits]
{}
{server}
{storage}
[roles."crates.io"]
snapshot = "merkle"
layout = "crates-index"
batch = {{ max_changes = {changes}, max_delay_ms = {delay} }}
{merkle_keys}{}
[roles.releases]
snapshot = "classic"
batch = {{ max_changes = {changes}, max_delay_ms = {delay} }}
{classic_keys}"#,
            data.display(),
            table(&self.limits),
            self.merkle_role.join("\n"),
            changes = self.batch.0,
            delay = self.batch.1,
            listen = self.listen,
        )
    }

    /// The parsed configuration for data in `data`.
    pub fn build(&self, data: &Path) -> Config {
        Config::parse(&self.toml(data), "test").expect("test config")
    }

    /// Writes the configuration to `dir/signer.toml` (for the binary) and returns its path.
    pub fn write(&self, dir: &Path, data: &Path) -> PathBuf {
        let path = dir.join("signer.toml");
        std::fs::write(&path, self.toml(data)).expect("write config");
        path
    }
}

/// The default test configuration for data in `data`.
pub fn config(data: &Path) -> Config {
    TestConfig::new().build(data)
}
