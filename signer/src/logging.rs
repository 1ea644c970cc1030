//! The process's log: where events go, which of them, and in what format (`docs/operations.md`,
//! "Logging").
//!
//! Properties kept: the filter is an `EnvFilter` (per-module levels, e.g.
//! `info,tuf_signer::access=warn`), taken from `TUF_SIGNER_LOG`, else `RUST_LOG`, else the
//! config's `log.filter`, else `info`; a filter that does not parse is refused with its text and
//! the parser's reason rather than silently replaced. The format (`text` or `json`, one object
//! per line) is fixed for the life of the process; the filter from the config can be changed by
//! a reload (SIGHUP) unless an environment variable set it. Events go to stderr (the journal,
//! under systemd).

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The environment variables that override `log.filter`, in order of precedence.
pub const FILTER_ENV_VARS: [&str; 2] = ["TUF_SIGNER_LOG", "RUST_LOG"];

/// The filter when neither the environment nor the config sets one.
pub const DEFAULT_FILTER: &str = "info";

/// `[log]` in the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// An `EnvFilter` directive list, e.g. `"info,tuf_signer::access=warn"`; `TUF_SIGNER_LOG` or
    /// `RUST_LOG` override it.
    pub filter: Option<String>,
    /// `text` (the default) or `json`.
    pub format: LogFormat,
}

/// How each event is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`, `span`, `spans`).
    Json,
}

/// A filter that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("log filter {origin} = {text:?} is not valid: {reason}")]
pub struct FilterError {
    /// Where it came from (`TUF_SIGNER_LOG`, `RUST_LOG` or `log.filter`).
    pub origin: String,
    /// The filter's text.
    pub text: String,
    /// The parser's message.
    pub reason: String,
}

/// Parses an `EnvFilter` directive list, refusing one that does not parse (`EnvFilter`'s own
/// lenient constructors would drop the bad directives silently).
pub fn parse_filter(text: &str, origin: &str) -> Result<EnvFilter, FilterError> {
    EnvFilter::builder().parse(text).map_err(|e| FilterError {
        origin: origin.to_owned(),
        text: text.to_owned(),
        reason: e.to_string(),
    })
}

impl LogConfig {
    /// Checks the filter (for config validation).
    pub fn validate(&self) -> Result<(), FilterError> {
        match &self.filter {
            Some(f) => parse_filter(f, "log.filter").map(drop),
            None => Ok(()),
        }
    }
}

/// The installed log: lets a reload change the filter.
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
    /// The environment variable that set the filter, if one did: then the config's filter is
    /// not applied, at start or at a reload.
    env_override: Option<&'static str>,
}

impl LogHandle {
    /// Applies `config`'s filter, unless an environment variable set it; returns what the
    /// filter now is, for the reload's log line.
    pub fn apply(&self, config: &LogConfig) -> Result<String, FilterError> {
        if let Some(var) = self.env_override {
            return Ok(format!(
                "{var} (unchanged: the environment overrides log.filter)"
            ));
        }
        let text = config.filter.as_deref().unwrap_or(DEFAULT_FILTER);
        let filter = parse_filter(text, "log.filter")?;
        self.filter.reload(filter).map_err(|e| FilterError {
            origin: "log.filter".into(),
            text: text.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(text.to_owned())
    }
}

/// Installs the process's log from `config` and the environment. Call once, before anything
/// logs.
pub fn init(config: &LogConfig) -> Result<LogHandle, FilterError> {
    let from_env = FILTER_ENV_VARS.iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*var, v))
    });
    let (filter, env_override) = match &from_env {
        Some((var, text)) => (parse_filter(text, var)?, Some(*var)),
        None => (
            parse_filter(
                config.filter.as_deref().unwrap_or(DEFAULT_FILTER),
                "log.filter",
            )?,
            None,
        ),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // `try_init` fails only when a subscriber is already installed (a test that called this
    // twice); the first one stays.
    let _ = match config.format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry
            .with(fmt.json().flatten_event(false).with_current_span(true))
            .try_init(),
    };
    Ok(LogHandle {
        filter: handle,
        env_override,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_or_say_why() {
        assert!(parse_filter("info,tuf_signer::access=warn", "log.filter").is_ok());
        assert!(parse_filter("debug", "log.filter").is_ok());
        let e = parse_filter("info,tuf_signer=loud", "log.filter").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("log.filter") && text.contains("loud"),
            "{text}"
        );
    }

    #[test]
    fn the_log_table_parses() {
        let c: LogConfig = toml::from_str("filter = \"warn\"\nformat = \"json\"").unwrap();
        assert_eq!(c.format, LogFormat::Json);
        assert!(toml::from_str::<LogConfig>("format = \"xml\"").is_err());
        assert!(toml::from_str::<LogConfig>("level = \"info\"").is_err());
    }
}
