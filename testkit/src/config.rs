//! The signer's test configuration, written once.

use std::path::{Path, PathBuf};

use tuf_signer::Config;

/// The test configuration with overrides: `[limits]` and `[server]` entries, and extra TOML for
/// the merkle role (an `online_key`, say).
#[derive(Debug, Clone)]
pub struct TestConfig {
    limits: Vec<(String, String)>,
    server: Vec<(String, String)>,
    merkle_role: Vec<String>,
    batch: (usize, u64),
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            limits: Vec::new(),
            server: Vec::new(),
            merkle_role: Vec::new(),
            batch: (100, 2),
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

    /// Adds a line (`key = value`) to the merkle role's table.
    pub fn merkle_role(mut self, line: &str) -> Self {
        self.merkle_role.push(line.to_owned());
        self
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
        format!(
            r#"
mode = "development"
data_dir = "{}"
listen = "127.0.0.1:0"
[limits]
{}
{server}
[roles."crates.io"]
snapshot = "merkle"
layout = "crates-index"
batch = {{ max_changes = {changes}, max_delay_ms = {delay} }}
{}
[roles.releases]
snapshot = "classic"
batch = {{ max_changes = {changes}, max_delay_ms = {delay} }}
"#,
            data.display(),
            table(&self.limits),
            self.merkle_role.join("\n"),
            changes = self.batch.0,
            delay = self.batch.1,
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
