//! Configuration: a TOML file, or the embedded development default.
//!
//! Properties kept: unknown keys are refused (a typo never silently weakens a setting); every
//! writer token is stored only as its SHA-256 and belongs to exactly one role; in production mode
//! every role must name its trusted root directory, its online key and at least one writer token,
//! so nothing is generated behind the operator's back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::target::Layout;

/// The embedded default: four roles of D1, development keys and roots under `./tuf-data`.
pub const DEFAULT_CONFIG: &str = r#"
# Development default: keys and a root per role are generated under the data directory on
# first start. NEVER use this for a real repository.
mode = "development"
data_dir = "./tuf-data"
listen = "127.0.0.1:8080"

[roles."crates.io"]
snapshot = "merkle"
layout = "crates-index"

[roles.releases]
snapshot = "classic"

[roles.nightly]
snapshot = "classic"

[roles.rustup]
snapshot = "classic"
"#;

/// Names a role may not take: they are the service's own URL prefixes.
const RESERVED_ROLE_NAMES: [&str; 4] = ["api", "healthz", "metrics", "readyz"];

/// Development (generated keys and roots) or production (everything given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Generates missing keys, a development root per role and a writer token per role.
    Development,
    /// Requires every key, root and token to be configured; checks them before starting.
    #[default]
    Production,
}

/// Whether a role lists its targets in `targets.json` or in the Merkle tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotMode {
    /// TAP-16: the timestamp carries `merkle_root`; targets live in the tree.
    Merkle,
    /// Plain TUF: targets in `targets.json`.
    Classic,
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Development or production.
    #[serde(default)]
    pub mode: Mode,
    /// Where keys (development), state and the published repository live.
    pub data_dir: PathBuf,
    /// The HTTP listen address.
    pub listen: SocketAddr,
    /// Request size limits.
    #[serde(default)]
    pub limits: Limits,
    /// HTTP connection handling: timeouts and the connection cap (`docs/operations.md`,
    /// "Connections").
    #[serde(default)]
    pub server: ServerConfig,
    /// Where the published repository (and, with S3, the signer's state) lives: local files
    /// under `data_dir` (the default) or an S3-compatible bucket.
    #[serde(default)]
    pub storage: Storage,
    /// `[kms]`: how to reach AWS KMS for every KMS online key (profile, region, endpoint, time
    /// limits, retries); each role's `online_key` may override any of it.
    #[serde(default)]
    pub kms: tuf_keys::KmsSettings,
    /// `[log]`: the log filter and format (`docs/operations.md`, "Logging").
    #[serde(default)]
    pub log: crate::logging::LogConfig,
    /// The roles, by name.
    pub roles: BTreeMap<String, RoleConfig>,
}

/// `[storage]`: local files under `data_dir`, or an S3-compatible bucket.
///
/// Credentials for S3 come from the standard AWS chain only (environment, profile, instance
/// metadata), never from this file, so a config can be shared and committed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "lowercase",
    deny_unknown_fields,
    from = "StorageTable"
)]
pub enum Storage {
    /// Files under `data_dir`, as without a `[storage]` table.
    #[default]
    Local,
    /// One bucket (under a prefix): the published repository under `{prefix}/repo/{role}/`,
    /// the signer's state under `{prefix}/state/{role}/`.
    S3(S3Storage),
}

/// How `[storage]` is read. serde's internally tagged enums accept any key beside the tag for a
/// unit variant, so `local` reads an empty table that refuses them (a bucket set with
/// `type = "local"` is a mistake to report, not to ignore).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum StorageTable {
    Local(NoSettings),
    S3(S3Storage),
}

/// A table that may hold no key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoSettings {}

impl From<StorageTable> for Storage {
    fn from(t: StorageTable) -> Self {
        match t {
            StorageTable::Local(NoSettings {}) => Storage::Local,
            StorageTable::S3(s3) => Storage::S3(s3),
        }
    }
}

/// The default lease, seconds.
pub const DEFAULT_LEASE_SECONDS: u64 = 5;
/// The longest lease accepted, seconds: a leader that dies holds its roles this long.
pub const MAX_LEASE_SECONDS: u64 = 300;
/// The longest key prefix accepted, bytes: S3 keys are at most 1024 bytes, and a published
/// path may take 512 of them (`crate::target::MAX_REPOSITORY_PATH_BYTES`).
pub const MAX_PREFIX_BYTES: usize = 256;

/// `[storage] type = "s3"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Storage {
    /// The bucket's name (S3's naming rules: 3 to 63 lowercase letters, digits, '.' and '-').
    pub bucket: String,
    /// The key prefix for everything this signer stores: "" (the default) or '/'-separated
    /// segments with no leading or trailing '/', each held to the rules of target names.
    #[serde(default)]
    pub prefix: String,
    /// The region; unset: the standard AWS chain (`AWS_REGION`, the profile).
    #[serde(default)]
    pub region: Option<String>,
    /// Another endpoint than AWS's (moto, MinIO, R2, ...), as an http(s) URL.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path-style addressing (`{endpoint}/{bucket}/{key}`), which moto and MinIO need.
    #[serde(default)]
    pub path_style: bool,
    /// This node's own URL (http or https), which standby nodes tell writers to use.
    pub advertise_url: String,
    /// This node's name in the lease; unset: `<hostname>-<pid>` ([`S3Storage::node_id`]).
    #[serde(default)]
    pub node_id: Option<String>,
    /// How long a lease lasts without renewal, seconds (1 to 300).
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
}

fn default_lease_seconds() -> u64 {
    DEFAULT_LEASE_SECONDS
}

impl S3Storage {
    /// This node's name: the configured `node_id`, else `<hostname>-<pid>` (unique among the
    /// processes of one machine, and readable in the lease object).
    pub fn node_id(&self) -> String {
        match &self.node_id {
            Some(id) => id.clone(),
            None => {
                let uname = rustix::system::uname();
                let host = uname.nodename().to_string_lossy();
                format!("{host}-{}", std::process::id())
            }
        }
    }

    /// The lease duration.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if let Err(why) = check_bucket_name(&self.bucket) {
            return invalid(format!(
                "storage.bucket {:?}: {why} (S3's bucket naming rules)",
                self.bucket
            ));
        }
        if !self.prefix.is_empty() {
            if self.prefix.len() > MAX_PREFIX_BYTES {
                return invalid(format!(
                    "storage.prefix is {} bytes; use at most {MAX_PREFIX_BYTES}",
                    self.prefix.len()
                ));
            }
            if let Err(e) = crate::target::validate(&self.prefix, Layout::Generic) {
                return invalid(format!(
                    "storage.prefix {:?}: {e}; write segments separated by '/', with no '/' at either end",
                    self.prefix
                ));
            }
        }
        if !(1..=MAX_LEASE_SECONDS).contains(&self.lease_seconds) {
            return invalid(format!(
                "storage.lease_seconds must be between 1 and {MAX_LEASE_SECONDS} (default {DEFAULT_LEASE_SECONDS})"
            ));
        }
        if let Err(why) = check_http_url(&self.advertise_url) {
            return invalid(format!(
                "storage.advertise_url {:?}: {why}; give this node's URL as other nodes and writers reach it, such as \"http://10.0.0.5:8080\"",
                self.advertise_url
            ));
        }
        if let Some(endpoint) = &self.endpoint
            && let Err(why) = check_http_url(endpoint)
        {
            return invalid(format!(
                "storage.endpoint {endpoint:?}: {why}; give the S3 endpoint's URL, such as \"http://127.0.0.1:9000\", or leave it out for AWS"
            ));
        }
        if let Some(region) = &self.region
            && (region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return invalid(format!(
                "storage.region {region:?}: use a region name such as \"us-east-1\", or leave it out for the AWS chain"
            ));
        }
        if let Some(id) = &self.node_id
            && (id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()))
        {
            return invalid(format!(
                "storage.node_id {id:?}: use 1 to 128 printable ASCII characters without spaces, or leave it out for <hostname>-<pid>"
            ));
        }
        Ok(())
    }
}

/// S3's rules for a general-purpose bucket's name; `Err` says which one is broken.
fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&name.len()) {
        return Err("a bucket name has 3 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("use only lowercase letters, digits, '.' and '-'");
    }
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !alnum(name.as_bytes().first()) || !alnum(name.as_bytes().last()) {
        return Err("begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err("no '.' next to another '.' or a '-'");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("a bucket name is not an IP address");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") {
        return Err("the prefixes 'xn--' and 'sthree-' are reserved");
    }
    if name.ends_with("-s3alias") || name.ends_with("--ol-s3") {
        return Err("the suffixes '-s3alias' and '--ol-s3' are reserved");
    }
    Ok(())
}

/// An absolute http or https URL with a host and without credentials.
fn check_http_url(text: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(text).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("use an http:// or https:// URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials come from the AWS chain, and advertise_url is shown to every writer.
        return Err("the URL must not carry a user name or password");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL must not have a query or fragment");
    }
    Ok(())
}

/// Request size limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest target upload (octet-stream body), bytes.
    pub max_upload_bytes: usize,
    /// Largest JSON body, bytes.
    pub max_json_bytes: usize,
    /// Most names in one `POST .../proofs`.
    pub max_proof_names: usize,
    /// Largest `POST .../proofs` body, bytes (unauthenticated, so tighter than the JSON limit).
    pub max_proof_request_bytes: usize,
    /// Most multi-proof requests worked on at once (0: one per CPU); others wait briefly, then
    /// get 503 with `Retry-After`.
    pub max_concurrent_proofs: usize,
    /// Most changes in one `POST .../batch`.
    pub max_batch_changes: usize,
    /// Most durable changes a role holds unsigned (while signing fails, say) before it refuses
    /// writes with 503 and `Retry-After`. Also the most changes one request may carry.
    pub max_unsigned_changes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_upload_bytes: 16 * 1024 * 1024,
            max_json_bytes: 4 * 1024 * 1024,
            max_proof_names: 10_000,
            max_proof_request_bytes: 1024 * 1024,
            max_concurrent_proofs: 0,
            max_batch_changes: 10_000,
            max_unsigned_changes: 250_000,
        }
    }
}

impl Limits {
    /// [`Limits::max_concurrent_proofs`], with 0 resolved to the number of CPUs.
    pub fn concurrent_proofs(&self) -> usize {
        match self.max_concurrent_proofs {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

/// HTTP connection handling (`[server]`): timeouts and the connection cap. `crate::server`
/// enforces every one of them on every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Seconds from the first byte of a request to the end of its header block.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may wait for the first byte of a request: after it is accepted,
    /// and after each response has been written (an idle keep-alive connection).
    pub idle_timeout_secs: u64,
    /// Seconds from the end of a request's header block by which its whole body must have
    /// arrived (a deadline, so a body trickled in byte by byte cannot hold a connection).
    pub body_timeout_secs: u64,
    /// Seconds a write of a response may make no progress (a client that stops reading).
    pub write_timeout_secs: u64,
    /// Most connections open at once; unset: derived from the descriptor limit
    /// (`crate::server::ConnectionBudget`). Never more than the descriptor limit allows.
    pub max_connections: Option<usize>,
}

/// The longest timeout accepted, seconds (a day): far beyond any sensible value, and small
/// enough that adding it to a clock reading can never overflow.
pub const MAX_TIMEOUT_SECS: u64 = 24 * 3600;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 30,
            body_timeout_secs: 30,
            write_timeout_secs: 30,
            max_connections: None,
        }
    }
}

impl ServerConfig {
    /// The header-read timeout.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }
    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
    /// How long after its header block a request's body must be complete. The server closes
    /// the connection of a request whose body is still incomplete at that point; handlers find
    /// the instant itself in the request's `crate::server::BodyDeadline` extension.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }
    /// The write timeout.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("write_timeout_secs", self.write_timeout_secs),
        ] {
            if !(1..=MAX_TIMEOUT_SECS).contains(&v) {
                return Err(ConfigError::Invalid(format!(
                    "server.{name} must be between 1 and {MAX_TIMEOUT_SECS} seconds"
                )));
            }
        }
        if self.max_connections == Some(0) {
            return Err(ConfigError::Invalid(
                "server.max_connections must be at least 1 (leave it out for the automatic value)"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// One role's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Merkle or classic.
    pub snapshot: SnapshotMode,
    /// Which target names the role accepts.
    #[serde(default)]
    pub layout: Layout,
    /// Directory of the role's trusted root files `1.root.json`, `2.root.json`, …; the highest
    /// is current. Development mode generates one under the data directory when unset.
    #[serde(default)]
    pub root_dir: Option<PathBuf>,
    /// The role's online key (timestamp, snapshot and targets). Development mode generates a
    /// key file under the data directory when unset.
    #[serde(default)]
    pub online_key: Option<OnlineKey>,
    /// How long signed metadata stays valid.
    #[serde(default)]
    pub expiry: Expiry,
    /// Group-commit limits.
    #[serde(default)]
    pub batch: Batch,
    /// How many recent signed tree versions are kept for proofs.
    #[serde(default = "default_kept_versions")]
    pub kept_versions: usize,
    /// Write a checkpoint (and empty the write-ahead log) after this many changes.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Merkle roles: publish a leaf snapshot (`leaf-snapshots/V.leaves.gz`, every leaf at
    /// version V) at every timestamp version V that is a multiple of this; 0: never. Classic
    /// roles publish none (their timestamps carry no `merkle_root` to check one against).
    #[serde(default = "default_leaf_snapshot_every")]
    pub leaf_snapshot_every: u64,
    /// SHA-256 (lowercase hex) of each bearer token allowed to write to this role.
    #[serde(default)]
    pub writer_token_sha256: Vec<String>,
}

fn default_kept_versions() -> usize {
    64
}

fn default_checkpoint_every() -> u64 {
    100_000
}

fn default_leaf_snapshot_every() -> u64 {
    1_000
}

/// Where the online key is: `{ type = "file", path = "…" }`, `{ type = "kms", key_id = "…",
/// region = "…", endpoint = "…", … }` or `{ type = "pkcs11", module = "…", token = { label =
/// "…" }, key_label = "…", pin = { env = "…" } }` (tuf-keys' [`KeySpec`](tuf_keys::KeySpec);
/// [`Config::validate`] requires a PKCS#11 key to name its PIN's source).
pub type OnlineKey = tuf_keys::KeySpec;

/// The longest KMS time limit accepted, milliseconds (an hour): a round waits this long for
/// its signature at most.
pub const MAX_KMS_TIMEOUT_MS: u64 = 3_600_000;
/// The most attempts per KMS operation accepted.
pub const MAX_KMS_ATTEMPTS: u32 = 10;

/// Checks KMS client settings (the `[kms]` table, or a KMS `online_key`'s); `at` names them.
fn validate_kms(at: &str, kms: &tuf_keys::KmsSettings) -> Result<(), ConfigError> {
    let invalid = |m: String| Err(ConfigError::Invalid(m));
    for (name, value) in [
        ("connect_timeout_ms", kms.connect_timeout_ms),
        ("attempt_timeout_ms", kms.attempt_timeout_ms),
        ("operation_timeout_ms", kms.operation_timeout_ms),
    ] {
        if let Some(ms) = value
            && !(1..=MAX_KMS_TIMEOUT_MS).contains(&ms)
        {
            return invalid(format!(
                "{at}.{name} must be between 1 and {MAX_KMS_TIMEOUT_MS} milliseconds"
            ));
        }
    }
    if let Some(n) = kms.max_attempts
        && !(1..=MAX_KMS_ATTEMPTS).contains(&n)
    {
        return invalid(format!(
            "{at}.max_attempts must be between 1 (no retries) and {MAX_KMS_ATTEMPTS}"
        ));
    }
    if let Some(endpoint) = &kms.endpoint
        && let Err(why) = check_http_url(endpoint)
    {
        return invalid(format!(
            "{at}.endpoint {endpoint:?}: {why}; give the KMS endpoint's URL, such as \"http://127.0.0.1:5000\", or leave it out for AWS"
        ));
    }
    if let Some(region) = &kms.region
        && (region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return invalid(format!(
            "{at}.region {region:?}: use a region name such as \"us-east-1\", or leave it out for the AWS chain"
        ));
    }
    if let Some(profile) = &kms.profile
        && (profile.is_empty() || !profile.bytes().all(|b| b.is_ascii_graphic()))
    {
        return invalid(format!(
            "{at}.profile {profile:?}: use the name of a profile of the AWS config files"
        ));
    }
    Ok(())
}

/// Checks what the config can about an online key before it is opened: a KMS key's client
/// settings, and that a PKCS#11 key names where its PIN comes from.
fn validate_online_key(role: &str, key: &OnlineKey) -> Result<(), ConfigError> {
    let at = format!("roles.{role}.online_key");
    if let Some(kms) = key.kms_settings() {
        validate_kms(&at, &kms)?;
    }
    #[cfg(feature = "pkcs11")]
    if let OnlineKey::Pkcs11 { pin, key_label, .. } = key {
        use tuf_keys::pkcs11::PinSource;
        match pin {
            None => {
                return Err(ConfigError::Invalid(format!(
                    "{at}: a PKCS#11 online key needs the source of its PIN: pin = {{ env = \"VARIABLE\" }} or pin = {{ file = \"/path/to/pin\" }} (mode 0600); the PIN itself never goes in the config"
                )));
            }
            Some(PinSource::Env(var))
                if var.is_empty()
                    || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                return Err(ConfigError::Invalid(format!(
                    "{at}.pin.env {var:?}: name an environment variable (letters, digits and '_')"
                )));
            }
            Some(_) => {}
        }
        if key_label.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "{at}.key_label is empty: give the CKA_LABEL of the key pair on the token"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod online_key_tests {
    use super::*;

    /// A production config with one role whose `online_key` is `key`, and `extra` appended.
    fn with_key(key: &str, extra: &str) -> Result<Config, ConfigError> {
        let h = "a".repeat(64);
        Config::parse(
            &format!(
                "data_dir = \"/d\"\nlisten = \"127.0.0.1:1\"\n[roles.r]\nsnapshot = \"merkle\"\nroot_dir = \"/r\"\nonline_key = {key}\nwriter_token_sha256 = [\"{h}\"]\n{extra}"
            ),
            "t",
        )
    }

    #[track_caller]
    fn refused(key: &str, extra: &str, needle: &str) {
        match with_key(key, extra) {
            Err(ConfigError::Invalid(m)) => assert!(m.contains(needle), "{key} {extra}: {m}"),
            other => panic!("{key} {extra}: not refused as invalid: {other:?}"),
        }
    }

    #[cfg(feature = "pkcs11")]
    #[test]
    fn pkcs11_online_keys_need_a_pin_source() {
        use tuf_keys::pkcs11::{PinSource, TokenSelector};
        let key = |pin: &str| {
            format!(
                "{{ type = \"pkcs11\", module = \"/usr/lib/softhsm/libsofthsm2.so\", token = {{ label = \"tuf\" }}, key_label = \"online\"{pin} }}"
            )
        };
        let c = with_key(&key(", pin = { env = \"TUF_SIGNER_PIN\" }"), "").unwrap();
        assert_eq!(
            c.roles["r"].online_key,
            Some(OnlineKey::Pkcs11 {
                module: "/usr/lib/softhsm/libsofthsm2.so".into(),
                token: TokenSelector::Label("tuf".into()),
                key_label: "online".into(),
                pin: Some(PinSource::Env("TUF_SIGNER_PIN".into())),
            })
        );
        with_key(&key(", pin = { file = \"/etc/tuf/hsm.pin\" }"), "").unwrap();
        refused(&key(""), "", "needs the source of its PIN");
        refused(&key(", pin = { env = \"\" }"), "", "pin.env");
        refused(&key(", pin = { env = \"A=B\" }"), "", "pin.env");
        refused(
            &key(", pin = { env = \"P\" }").replace("\"online\"", "\"\""),
            "",
            "key_label is empty",
        );
        // The PIN itself has no place in the config.
        for bad in [
            ", pin = \"123456\"",
            ", pin = { value = \"123456\" }",
            ", user_pin = \"1\"",
        ] {
            assert!(
                matches!(with_key(&key(bad), ""), Err(ConfigError::Parse { .. })),
                "{bad} accepted"
            );
        }
        // A PIN file's relative path is relative to the config file's directory.
        let mut c = with_key(&key(", pin = { file = \"hsm.pin\" }"), "").unwrap();
        c.resolve_relative_to(Path::new("/etc/tuf"));
        assert!(matches!(
            &c.roles["r"].online_key,
            Some(OnlineKey::Pkcs11 { pin: Some(PinSource::File(p)), .. }) if p == Path::new("/etc/tuf/hsm.pin")
        ));
    }

    #[cfg(feature = "kms")]
    #[test]
    fn kms_settings_are_global_with_per_key_overrides() {
        let kms = "{ type = \"kms\", key_id = \"alias/x\" }";
        let c = with_key(kms, "").unwrap();
        assert_eq!(c.kms, tuf_keys::KmsSettings::default());
        let c = with_key(
            "{ type = \"kms\", key_id = \"alias/x\", operation_timeout_ms = 500, profile = \"tuf\" }",
            "[kms]\nregion = \"eu-west-1\"\nendpoint = \"http://127.0.0.1:5000\"\nconnect_timeout_ms = 200\nattempt_timeout_ms = 1000\noperation_timeout_ms = 3000\nmax_attempts = 2\nprofile = \"default\"\n",
        )
        .unwrap();
        assert_eq!(c.kms.region.as_deref(), Some("eu-west-1"));
        let key = c.roles["r"].online_key.as_ref().unwrap();
        let merged = c.kms.overridden_by(&key.kms_settings().unwrap());
        assert_eq!(merged.operation_timeout_ms, Some(500));
        assert_eq!(merged.connect_timeout_ms, Some(200));
        assert_eq!(merged.profile.as_deref(), Some("tuf"));
        assert_eq!(merged.max_attempts, Some(2));

        assert!(matches!(
            with_key(kms, "[kms]\nregoin = \"x\"\n"),
            Err(ConfigError::Parse { .. })
        ));
        for (extra, needle) in [
            ("operation_timeout_ms = 0", "kms.operation_timeout_ms"),
            ("connect_timeout_ms = 3600001", "kms.connect_timeout_ms"),
            ("max_attempts = 0", "kms.max_attempts"),
            ("max_attempts = 11", "kms.max_attempts"),
            ("endpoint = \"127.0.0.1:5000\"", "kms.endpoint"),
            ("region = \"us east\"", "kms.region"),
            ("profile = \"\"", "kms.profile"),
        ] {
            refused(kms, &format!("[kms]\n{extra}\n"), needle);
            // The same in the key's own settings, named as the role's.
            let own = kms.replace(" }", &format!(", {extra} }}"));
            refused(&own, "", &format!("roles.r.online_key.{}", &needle[4..]));
        }
    }
}

/// Expiry periods, seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expiry {
    /// `timestamp.json`.
    pub timestamp_secs: u64,
    /// `snapshot.json`.
    pub snapshot_secs: u64,
    /// `targets.json`.
    pub targets_secs: u64,
    /// A generated development root.
    pub dev_root_secs: u64,
}

impl Default for Expiry {
    fn default() -> Self {
        Expiry {
            timestamp_secs: 24 * 3600,
            snapshot_secs: 7 * 24 * 3600,
            targets_secs: 30 * 24 * 3600,
            dev_root_secs: 365 * 24 * 3600,
        }
    }
}

/// Group-commit limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Batch {
    /// Most changes in one group commit (one signed timestamp).
    pub max_changes: usize,
    /// Longest wait for more changes after the first one arrives, milliseconds.
    pub max_delay_ms: u64,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            max_changes: 1000,
            max_delay_ms: 10,
        }
    }
}

/// The text of the config file `path` (the signer's or a mirror's).
pub(crate) fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// `text` parsed as TOML of `T`; `origin` names it in the error.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        origin: origin.to_owned(),
        message: e.to_string(),
    })
}

/// Makes `p` relative to `base` if it is relative (a path in a config file means the same
/// wherever the process is started from).
pub(crate) fn relative_to(base: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

/// Checks a role name: it becomes a URL segment and a directory name.
pub(crate) fn check_role_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !RESERVED_ROLE_NAMES.contains(&name);
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "role name {name:?}: use lowercase letters, digits, '.', '-' and '_' (not one of {RESERVED_ROLE_NAMES:?})"
        )))
    }
}

/// Why a configuration is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML for this schema.
    #[error("config {origin}: {message}")]
    Parse {
        /// The file, or "embedded default".
        origin: String,
        /// The parser's message (with the line).
        message: String,
    },
    /// A setting that is present but wrong.
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// The embedded development default.
    pub fn embedded_default() -> Self {
        // The embedded text is a constant checked by the tests; a failure here is a build bug.
        Self::parse(DEFAULT_CONFIG, "embedded default").unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads and validates a config file. Relative paths in it (`data_dir`, each role's
    /// `root_dir` and file `online_key.path`) are relative to the directory holding the file,
    /// not to the working directory, so the same file means the same paths wherever the signer
    /// is started from.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut config = Self::parse(&read_file(path)?, &path.display().to_string())?;
        config.resolve_relative_to(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// Makes every relative path in the config relative to `base` instead (absolute paths
    /// are kept).
    pub fn resolve_relative_to(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| relative_to(base, p);
        resolve(&mut self.data_dir);
        for role in self.roles.values_mut() {
            if let Some(dir) = &mut role.root_dir {
                resolve(dir);
            }
            if let Some(key) = &mut role.online_key {
                key.resolve_relative_to(base);
            }
        }
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = parse_toml(text, origin)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the rules that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.roles.is_empty() {
            return invalid("no roles configured; add a [roles.NAME] table".into());
        }
        self.server.validate()?;
        validate_kms("kms", &self.kms)?;
        if !cfg!(feature = "kms") && self.kms != tuf_keys::KmsSettings::default() {
            return invalid(
                "a [kms] table is set, but this tuf-signer was built without KMS support".into(),
            );
        }
        self.log
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Storage::S3(s3) = &self.storage {
            if self.mode != Mode::Production {
                return invalid(
                    "storage type \"s3\" requires mode = \"production\": development keys and roots are generated per machine, so nodes sharing a bucket would not agree; configure root_dir, online_key and writer tokens"
                        .into(),
                );
            }
            s3.validate()?;
        }
        if self.limits.max_batch_changes > self.limits.max_unsigned_changes {
            return invalid(format!(
                "limits.max_batch_changes ({}) must not be above limits.max_unsigned_changes ({}): such a batch could never be accepted",
                self.limits.max_batch_changes, self.limits.max_unsigned_changes
            ));
        }
        let mut seen_tokens = BTreeMap::new();
        for (name, role) in &self.roles {
            check_role_name(name)?;
            if role.batch.max_changes == 0 {
                return invalid(format!("roles.{name}.batch.max_changes must be at least 1"));
            }
            if role.kept_versions == 0 {
                return invalid(format!("roles.{name}.kept_versions must be at least 1"));
            }
            let e = &role.expiry;
            if [
                e.timestamp_secs,
                e.snapshot_secs,
                e.targets_secs,
                e.dev_root_secs,
            ]
            .contains(&0)
            {
                return invalid(format!(
                    "roles.{name}.expiry: every period must be positive"
                ));
            }
            for hash in &role.writer_token_sha256 {
                if hash.len() != 64
                    || !hash
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return invalid(format!(
                        "roles.{name}.writer_token_sha256: {hash:?} is not 64 lowercase hex digits (store `sha256sum` of the token, not the token)"
                    ));
                }
                if let Some(other) = seen_tokens.insert(hash.clone(), name.clone()) {
                    return invalid(format!(
                        "a writer token is listed for both roles {other:?} and {name:?}; each token may write one role only"
                    ));
                }
            }
            if let Some(key) = &role.online_key {
                validate_online_key(name, key)?;
            }
            if self.mode == Mode::Production {
                if role.root_dir.is_none() {
                    return invalid(format!(
                        "roles.{name}.root_dir is required in production mode"
                    ));
                }
                if role.online_key.is_none() {
                    return invalid(format!(
                        "roles.{name}.online_key is required in production mode"
                    ));
                }
                if role.writer_token_sha256.is_empty() {
                    return invalid(format!(
                        "roles.{name}.writer_token_sha256 needs at least one token in production mode"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_has_the_four_roles() {
        let c = Config::embedded_default();
        assert_eq!(c.mode, Mode::Development);
        assert_eq!(
            c.roles.keys().collect::<Vec<_>>(),
            ["crates.io", "nightly", "releases", "rustup"]
        );
        assert_eq!(c.roles["crates.io"].snapshot, SnapshotMode::Merkle);
        assert_eq!(c.roles["crates.io"].layout, Layout::CratesIndex);
        assert_eq!(c.roles["rustup"].snapshot, SnapshotMode::Classic);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn relative_paths_in_a_config_file_are_relative_to_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let h = "a".repeat(64);
        let text = format!(
            r#"
            mode = "production"
            data_dir = "data"
            listen = "127.0.0.1:1"
            [roles.r]
            snapshot = "classic"
            root_dir = "roots/r"
            online_key = {{ type = "file", path = "../keys/r.pem" }}
            writer_token_sha256 = ["{h}"]
            "#
        );
        let file = etc.join("signer.toml");
        std::fs::write(&file, &text).unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(c.data_dir, etc.join("data"));
        assert_eq!(
            c.roles["r"].root_dir.as_deref(),
            Some(&*etc.join("roots/r"))
        );
        assert_eq!(
            c.roles["r"].online_key,
            Some(OnlineKey::File {
                path: etc.join("../keys/r.pem")
            })
        );

        // Absolute paths are kept; a bare file name is relative to its own (the current)
        // directory, i.e. unchanged.
        let mut abs = Config::parse(&text.replace("\"data\"", "\"/srv/tuf\""), "t").unwrap();
        abs.resolve_relative_to(&etc);
        assert_eq!(abs.data_dir, Path::new("/srv/tuf"));
        let mut here = Config::parse(&text, "t").unwrap();
        here.resolve_relative_to(Path::new(""));
        assert_eq!(here.data_dir, Path::new("data"));
    }

    #[test]
    fn the_server_section_has_defaults_and_refuses_typos_and_bad_values() {
        let top = "mode = \"development\"\ndata_dir = \"d\"\nlisten = \"127.0.0.1:1\"\n";
        let roles = "[roles.r]\nsnapshot = \"classic\"\n";
        let c = Config::parse(&format!("{top}{roles}"), "t").unwrap();
        assert_eq!(c.server, ServerConfig::default());
        assert_eq!(c.server.header_read_timeout(), Duration::from_secs(10));
        assert_eq!(c.server.max_connections, None);
        let with =
            |section: &str| Config::parse(&format!("{top}[server]\n{section}\n{roles}"), "t");
        let c = with("idle_timeout_secs = 5\nmax_connections = 200").unwrap();
        assert_eq!(c.server.idle_timeout(), Duration::from_secs(5));
        assert_eq!(c.server.body_timeout(), Duration::from_secs(30));
        assert_eq!(c.server.max_connections, Some(200));
        assert!(matches!(
            with("idle_timeout = 5"),
            Err(ConfigError::Parse { .. })
        ));
        for bad in [
            "write_timeout_secs = 0",
            "body_timeout_secs = 86401",
            "max_connections = 0",
        ] {
            assert!(
                matches!(with(bad), Err(ConfigError::Invalid(_))),
                "{bad} accepted"
            );
        }
    }

    #[test]
    #[cfg(feature = "kms")]
    fn production_requires_everything_and_refuses_typos() {
        let base = r#"
            data_dir = "/var/lib/tuf"
            listen = "127.0.0.1:1"
            [roles.r]
            snapshot = "classic"
        "#;
        assert!(
            matches!(Config::parse(base, "t"), Err(ConfigError::Invalid(m)) if m.contains("root_dir"))
        );
        let typo = format!("{base}\nsnapshott = 1");
        assert!(matches!(
            Config::parse(&typo, "t"),
            Err(ConfigError::Parse { .. })
        ));
        let h = "a".repeat(64);
        let full = format!(
            "{base}root_dir = \"/r\"\nonline_key = {{ type = \"kms\", key_id = \"alias/x\", region = \"us-east-1\" }}\nwriter_token_sha256 = [\"{h}\"]\n"
        );
        let c = Config::parse(&full, "t").unwrap();
        assert!(matches!(
            c.roles["r"].online_key,
            Some(OnlineKey::Kms { .. })
        ));
        let two = format!(
            "{full}[roles.s]\nsnapshot = \"merkle\"\nroot_dir = \"/r\"\nonline_key = {{ type = \"file\", path = \"/k\" }}\nwriter_token_sha256 = [\"{h}\"]\n"
        );
        assert!(
            matches!(Config::parse(&two, "t"), Err(ConfigError::Invalid(m)) if m.contains("one role only"))
        );
    }

    /// A production config with one role, and `storage` appended.
    fn with_storage(storage: &str) -> Result<Config, ConfigError> {
        let h = "a".repeat(64);
        Config::parse(
            &format!(
                "data_dir = \"/d\"\nlisten = \"127.0.0.1:1\"\n[roles.r]\nsnapshot = \"classic\"\nroot_dir = \"/r\"\nonline_key = {{ type = \"file\", path = \"/k\" }}\nwriter_token_sha256 = [\"{h}\"]\n[storage]\n{storage}\n"
            ),
            "t",
        )
    }

    const S3_BASE: &str =
        "type = \"s3\"\nbucket = \"tuf-repo\"\nadvertise_url = \"http://10.0.0.5:8080\"\n";

    #[test]
    fn storage_defaults_to_local_and_parses_s3() {
        let top = "mode = \"development\"\ndata_dir = \"d\"\nlisten = \"127.0.0.1:1\"\n[roles.r]\nsnapshot = \"classic\"\n";
        assert_eq!(Config::parse(top, "t").unwrap().storage, Storage::Local);
        assert_eq!(
            with_storage("type = \"local\"").unwrap().storage,
            Storage::Local
        );
        let c = with_storage(S3_BASE).unwrap();
        let Storage::S3(s3) = &c.storage else {
            panic!("not s3: {:?}", c.storage)
        };
        assert_eq!(s3.bucket, "tuf-repo");
        assert_eq!(s3.prefix, "");
        assert_eq!(s3.lease_seconds, DEFAULT_LEASE_SECONDS);
        assert!(!s3.path_style);
        assert_eq!(s3.region, None);
        assert!(s3.node_id().ends_with(&format!("-{}", std::process::id())));
        let c = with_storage(&format!(
            "{S3_BASE}prefix = \"prod/eu\"\nregion = \"eu-west-1\"\nendpoint = \"http://127.0.0.1:5000\"\npath_style = true\nnode_id = \"node-a\"\nlease_seconds = 300"
        ))
        .unwrap();
        let Storage::S3(s3) = &c.storage else {
            panic!("not s3")
        };
        assert_eq!(s3.prefix, "prod/eu");
        assert_eq!(s3.node_id(), "node-a");
        assert_eq!(s3.lease(), Duration::from_secs(300));
        assert!(s3.path_style);
    }

    /// Asserts that `storage` is refused as invalid with a message containing `needle`.
    #[track_caller]
    fn refused(storage: &str, needle: &str) {
        match with_storage(storage) {
            Err(ConfigError::Invalid(m)) => assert!(m.contains(needle), "{storage}: {m}"),
            other => panic!("{storage}: not refused as invalid: {other:?}"),
        }
    }

    #[test]
    fn storage_refuses_unknown_keys_and_types() {
        for bad in [
            format!("{S3_BASE}buckett = \"x\""),
            format!("{S3_BASE}access_key_id = \"AKIA\""),
            "type = \"gcs\"".to_owned(),
            "type = \"local\"\nbucket = \"x\"".to_owned(),
            "type = \"s3\"\nadvertise_url = \"http://a:1\"".to_owned(),
        ] {
            assert!(
                matches!(with_storage(&bad), Err(ConfigError::Parse { .. })),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn storage_refuses_bad_bucket_names() {
        for (name, why) in [
            ("ab", "3 to 63"),
            (&*"a".repeat(64), "3 to 63"),
            ("Tuf-Repo", "lowercase"),
            ("tuf_repo", "lowercase"),
            ("-tuf", "begin and end"),
            ("tuf.", "begin and end"),
            ("tuf..repo", "next to"),
            ("tuf.-repo", "next to"),
            ("192.168.1.1", "IP address"),
            ("xn--tuf", "reserved"),
            ("tuf-s3alias", "reserved"),
        ] {
            refused(
                &format!("type = \"s3\"\nbucket = \"{name}\"\nadvertise_url = \"http://a:1\""),
                why,
            );
        }
    }

    #[test]
    fn storage_refuses_bad_prefixes() {
        for prefix in ["/prod", "prod/", "a//b", "a/../b", "./a", "a\\\\b", " a"] {
            refused(&format!("{S3_BASE}prefix = \"{prefix}\""), "storage.prefix");
        }
        refused(
            &format!("{S3_BASE}prefix = \"{}\"", "a".repeat(MAX_PREFIX_BYTES + 1)),
            "at most",
        );
    }

    #[test]
    fn storage_refuses_lease_seconds_out_of_range() {
        refused(&format!("{S3_BASE}lease_seconds = 0"), "lease_seconds");
        refused(&format!("{S3_BASE}lease_seconds = 301"), "lease_seconds");
    }

    #[test]
    fn storage_refuses_bad_urls() {
        let no_url = "type = \"s3\"\nbucket = \"tuf-repo\"\n";
        for url in [
            "10.0.0.5:8080",
            "ftp://10.0.0.5/",
            "http://",
            "http://user:pw@10.0.0.5/",
            "http://10.0.0.5/?x=1",
            "",
        ] {
            refused(
                &format!("{no_url}advertise_url = \"{url}\""),
                "storage.advertise_url",
            );
        }
        refused(
            &format!("{S3_BASE}endpoint = \"127.0.0.1:5000\""),
            "storage.endpoint",
        );
        refused(&format!("{S3_BASE}region = \"us east\""), "storage.region");
        refused(&format!("{S3_BASE}node_id = \"\""), "storage.node_id");
        refused(&format!("{S3_BASE}node_id = \"a b\""), "storage.node_id");
    }

    #[test]
    fn s3_storage_requires_production_mode() {
        let text = format!(
            "mode = \"development\"\ndata_dir = \"d\"\nlisten = \"127.0.0.1:1\"\n[roles.r]\nsnapshot = \"classic\"\n[storage]\n{S3_BASE}"
        );
        assert!(
            matches!(Config::parse(&text, "t"), Err(ConfigError::Invalid(m)) if m.contains("production"))
        );
    }
}
