//! The mirror's TOML configuration (`tuf-signer mirror --config FILE`; `docs/operations.md`,
//! "Mirrors").
//!
//! ```toml
//! data_dir = "mirror-data"          # the mirror's copy of the repository, its checkpoints, evidence
//! listen = "127.0.0.1:8081"
//!
//! [upstream]                        # where rounds come from: a URL (the signer, another mirror)
//! url = "https://tuf.example.org/"
//! # or the signer's bucket:  bucket = "tuf-repo", prefix = "", region, endpoint, path_style
//! poll_interval_ms = 1000
//!
//! [roles."crates.io"]
//! trusted_root = "roots/crates.io/1.root.json"   # obtained out of band, as a client's
//! kept_versions = 64
//! ```
//!
//! `[limits]` and `[server]` are the signer's (`crate::config`). Relative paths are relative to
//! the file's directory.
//!
//! Property kept: a mirror holds no key and no writer token, so nothing in this file lets it
//! sign or accept a write; what it trusts is each role's `trusted_root` alone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::Deserialize;

use crate::config::{
    ConfigError, Limits, S3Storage, ServerConfig, parse_toml, read_file, relative_to,
};

/// The whole mirror configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// The mirror's own files: the copied repository (`repo/<role>/`), its checkpoints
    /// (`mirror/<role>/`), and the evidence of refused upstream data (`evidence/<role>/`).
    pub data_dir: PathBuf,
    /// The HTTP listen address.
    pub listen: SocketAddr,
    /// Where the rounds come from.
    pub upstream: UpstreamConfig,
    /// Request size limits (the signer's; the write limits do not apply).
    #[serde(default)]
    pub limits: Limits,
    /// HTTP connection handling (the signer's).
    #[serde(default)]
    pub server: ServerConfig,
    /// The roles to follow, by name (none is refused by [`MirrorConfig::validate`], with a
    /// message saying what to add).
    #[serde(default)]
    pub roles: BTreeMap<String, MirrorRole>,
}

/// `[upstream]`: a URL or a bucket (exactly one), and how often to poll.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The base URL that serves `/{role}/timestamp.json` etc. (the signer or another mirror).
    #[serde(default)]
    pub url: Option<String>,
    /// The signer's bucket (`[storage] type = "s3"` of the signer): read-only use.
    #[serde(default)]
    pub bucket: Option<String>,
    /// The signer's key prefix in the bucket.
    #[serde(default)]
    pub prefix: String,
    /// The bucket's region (unset: the standard AWS chain).
    #[serde(default)]
    pub region: Option<String>,
    /// Another S3 endpoint than AWS's.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path-style addressing (moto, MinIO).
    #[serde(default)]
    pub path_style: bool,
    /// How often `timestamp.json` is polled, milliseconds (50 to 600,000).
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// The longest one upstream request may take, seconds (1 to 600).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_poll_ms() -> u64 {
    1000
}

fn default_timeout_secs() -> u64 {
    30
}

/// One followed role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorRole {
    /// The role's first trusted root (`1.root.json`), obtained out of band like a client's.
    pub trusted_root: PathBuf,
    /// Which target names the role accepts (the signer's `layout` for the role), so that the
    /// mirror refuses the same names with the same errors.
    #[serde(default)]
    pub layout: crate::target::Layout,
    /// How many recent tree versions are kept for proofs (the signer's default: 64).
    #[serde(default = "default_kept_versions")]
    pub kept_versions: usize,
    /// Write the mirror's checkpoint (its tree, so a restart replays nothing older) every this
    /// many versions, and at every clean stop.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
}

fn default_kept_versions() -> usize {
    64
}

fn default_checkpoint_every() -> u64 {
    1000
}

/// Where rounds come from, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamSource {
    /// Over HTTP(S) from this base URL.
    Url(String),
    /// From the signer's bucket.
    Bucket(S3Storage),
}

impl UpstreamConfig {
    /// The source, checked: exactly one of `url` and `bucket`.
    pub fn source(&self) -> Result<UpstreamSource, ConfigError> {
        match (&self.url, &self.bucket) {
            (Some(url), None) => {
                let parsed = url::Url::parse(url).map_err(|e| {
                    ConfigError::Invalid(format!("upstream.url {url:?} is not a URL: {e}"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(ConfigError::Invalid(format!(
                        "upstream.url {url:?}: only http and https are followed"
                    )));
                }
                Ok(UpstreamSource::Url(url.clone()))
            }
            (None, Some(bucket)) => Ok(UpstreamSource::Bucket(S3Storage {
                bucket: bucket.clone(),
                prefix: self.prefix.clone(),
                region: self.region.clone(),
                endpoint: self.endpoint.clone(),
                path_style: self.path_style,
                // A mirror never takes a lease: these are not used.
                advertise_url: String::new(),
                node_id: None,
                lease_seconds: 1,
            })),
            (Some(_), Some(_)) => Err(ConfigError::Invalid(
                "upstream: give either url or bucket, not both".into(),
            )),
            (None, None) => Err(ConfigError::Invalid(
                "upstream: give url (the signer's or a mirror's base URL) or bucket (the signer's bucket)"
                    .into(),
            )),
        }
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

impl MirrorConfig {
    /// Reads and validates a config file; relative paths are made relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut config = Self::parse(&read_file(path)?, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new(""));
        relative_to(base, &mut config.data_dir);
        for role in config.roles.values_mut() {
            relative_to(base, &mut role.trusted_root);
        }
        Ok(config)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: MirrorConfig = parse_toml(text, origin)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.roles.is_empty() {
            return invalid("no roles to follow; add a [roles.NAME] table".into());
        }
        self.server.validate()?;
        self.upstream.source()?;
        if !(50..=600_000).contains(&self.upstream.poll_interval_ms) {
            return invalid(format!(
                "upstream.poll_interval_ms = {} is outside 50 to 600000",
                self.upstream.poll_interval_ms
            ));
        }
        if !(1..=600).contains(&self.upstream.timeout_secs) {
            return invalid(format!(
                "upstream.timeout_secs = {} is outside 1 to 600",
                self.upstream.timeout_secs
            ));
        }
        for (name, role) in &self.roles {
            crate::config::check_role_name(name)?;
            if role.kept_versions == 0 {
                return invalid(format!("roles.{name}.kept_versions must be at least 1"));
            }
            if role.checkpoint_every == 0 {
                return invalid(format!("roles.{name}.checkpoint_every must be at least 1"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = r#"
data_dir = "m"
listen = "127.0.0.1:0"
[upstream]
url = "http://127.0.0.1:8080/"
[roles."crates.io"]
trusted_root = "1.root.json"
"#;

    #[test]
    fn parses_with_defaults() {
        let c = MirrorConfig::parse(GOOD, "test").unwrap();
        assert_eq!(
            c.upstream.source().unwrap(),
            UpstreamSource::Url("http://127.0.0.1:8080/".into())
        );
        assert_eq!(c.upstream.poll_interval(), Duration::from_secs(1));
        assert_eq!(c.roles["crates.io"].kept_versions, 64);
    }

    #[test]
    fn refuses_what_cannot_work() {
        for (bad, why) in [
            (GOOD.replace("url = ", "bucket = \"b\"\nurl = "), "not both"),
            (
                GOOD.replace("url = \"http://127.0.0.1:8080/\"", ""),
                "give url",
            ),
            (GOOD.replace("http://", "ftp://"), "only http"),
            (
                GOOD.replace("[roles.\"crates.io\"]\ntrusted_root = \"1.root.json\"", ""),
                "no roles",
            ),
            (
                GOOD.replace("[roles", "poll_interval_ms = 1\n[roles"),
                "poll_interval_ms",
            ),
            (
                GOOD.replace("trusted_root", "signing_key = \"k\"\ntrusted_root"),
                "unknown field",
            ),
            (GOOD.replace("\"crates.io\"", "\"../x\""), "role"),
        ] {
            let e = MirrorConfig::parse(&bad, "test").unwrap_err().to_string();
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
