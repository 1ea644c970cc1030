//! Reloading without a restart (SIGHUP; `docs/operations.md`, "Reloading"): writer tokens,
//! each role's root chain and online key, and the log filter.
//!
//! Properties kept:
//! - A new root chain and key pass exactly the checks of start ([`crate::service`]'s
//!   `load_trust`: every root signed by its own threshold and the previous one's, the online key
//!   listed by the newest), and the new chain must extend the running one: the roots already
//!   trusted are byte for byte the same and the newest version is not lower. A reload never moves
//!   a role back to an older root or swaps one it has published.
//! - All or nothing: everything is loaded and checked before anything changes; if any role fails,
//!   the running tokens, roots and keys stay and the error names the role and the reason.
//! - Settings that only a restart can change (the listen address, storage, limits, a role's
//!   snapshot mode, roles added or removed, the log format, …) are left as they run and named
//!   in the outcome, so the log says which edits are not in effect yet.
//! - A role takes its new trust between rounds and signs its next round with it
//!   ([`crate::trust`]); writer tokens are swapped whole for the next request.

use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::http::auth::TokenTable;
use crate::service::{Running, StartError, load_trust, token_hashes};
use serde_json::Value;

/// The settings of a role that a reload applies; every other one needs a restart.
const RELOADED_ROLE_KEYS: [&str; 3] = ["writer_token_sha256", "online_key", "root_dir"];

/// Why a reload was refused. The running configuration is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file cannot be read or is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A role's key, tokens or root chain failed the start-up checks.
    #[error(transparent)]
    Role(#[from] StartError),
    /// The new chain ends before the running root.
    #[error(
        "role {role}: the root chain now ends at version {found}, below the running root version {running}; a reload never goes back to an older root (copy every root from the ceremony into root_dir)"
    )]
    RootWentBack {
        /// The role.
        role: String,
        /// The root version the role signs under.
        running: u64,
        /// The newest root version found.
        found: u64,
    },
    /// A root already trusted has other bytes now.
    #[error(
        "role {role}: {version}.root.json differs from the one the signer trusts and has published; trusted roots never change (a new root is the next version, from a ceremony)"
    )]
    RootRewritten {
        /// The role.
        role: String,
        /// The root version whose file changed.
        version: u64,
    },
    /// This process does not reload (a mirror).
    #[error("this process does not reload its configuration; restart it")]
    NotSupported,
}

/// What a reload did, for the log.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    /// Each role's trust after the reload.
    pub roles: Vec<RoleOutcome>,
    /// Settings changed in the file that stay as they run until a restart.
    pub restart_needed: Vec<String>,
    /// The log settings read (the filter is applied by the caller, which owns the log).
    pub log: crate::logging::LogConfig,
}

/// One role after a reload.
#[derive(Debug, Clone)]
pub struct RoleOutcome {
    /// The role.
    pub role: String,
    /// The root version it signs under from its next round.
    pub root_version: u64,
    /// The online key's ID.
    pub key_id: String,
    /// Whether the root or the key changed (the role then signs a new round at once).
    pub changed: bool,
}

/// Re-reads what can change without a restart from `new` (the config file read again): every
/// role's writer tokens, root chain and online key, checked exactly as at start. All or nothing:
/// if any role fails, the running configuration stays and the error says why. Settings that need
/// a restart are named in the outcome and left as they run.
pub async fn reload(running: &mut Running, new: Config) -> Result<ReloadOutcome, ReloadError> {
    let Some((state, service)) = running.reloadable() else {
        return Err(ReloadError::NotSupported);
    };
    let restart_needed = restart_needed(&state.config, &new);
    // What will run: the running configuration with the reloadable settings of the roles it
    // runs taken from the file.
    let mut next = state.config.clone();
    next.log.filter = new.log.filter.clone();
    for (name, cfg) in &mut next.roles {
        if let Some(from) = new.roles.get(name) {
            cfg.writer_token_sha256 = from.writer_token_sha256.clone();
            cfg.online_key = from.online_key.clone();
            cfg.root_dir = from.root_dir.clone();
        }
    }
    next.validate()?;
    let mut tokens = TokenTable::default();
    let mut loaded = Vec::new();
    for (name, tx) in &state.trusts {
        tokens.add_role(name, &token_hashes(&next, name)?);
        let trust = load_trust(&next, name).await?;
        let running = tx.borrow().clone();
        if trust.root_version() < running.root_version() {
            return Err(ReloadError::RootWentBack {
                role: name.clone(),
                running: running.root_version(),
                found: trust.root_version(),
            });
        }
        for (i, (version, bytes)) in running.roots.iter().enumerate() {
            if trust.roots.get(i) != Some(&(*version, bytes.clone())) {
                return Err(ReloadError::RootRewritten {
                    role: name.clone(),
                    version: *version,
                });
            }
        }
        let changed =
            trust.root_version() != running.root_version() || trust.key_id != running.key_id;
        loaded.push((name.clone(), trust, changed));
    }
    // Every check passed: apply.
    service.tokens.replace(tokens);
    let mut roles = Vec::new();
    for (name, trust, changed) in loaded {
        roles.push(RoleOutcome {
            role: name.clone(),
            root_version: trust.root_version(),
            key_id: trust.key_id.clone(),
            changed,
        });
        if changed && let Some(tx) = state.trusts.get(&name) {
            tx.send_replace(Arc::new(trust));
        }
    }
    state.config = next;
    Ok(ReloadOutcome {
        roles,
        restart_needed,
        log: new.log,
    })
}

/// The settings that differ between `running` and `new` and that a reload does not apply, as
/// dotted names (`listen`, `roles.releases.snapshot`, `roles.nightly (added)`).
fn restart_needed(running: &Config, new: &Config) -> Vec<String> {
    let as_table = |c: &Config| match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (mut old, mut new_table) = (as_table(running), as_table(new));
    let old_roles = old.remove("roles").unwrap_or(Value::Null);
    let new_roles = new_table.remove("roles").unwrap_or(Value::Null);
    let mut changed = Vec::new();
    // The log filter is reloaded; the format is not.
    for table in [&mut old, &mut new_table] {
        if let Some(Value::Object(log)) = table.get_mut("log") {
            log.remove("filter");
        }
    }
    diff_keys("", &old, &new_table, &mut changed);
    let empty = serde_json::Map::new();
    let (old_roles, new_roles) = (
        old_roles.as_object().unwrap_or(&empty),
        new_roles.as_object().unwrap_or(&empty),
    );
    for (name, cfg) in old_roles {
        let Some(new_cfg) = new_roles.get(name) else {
            changed.push(format!("roles.{name} (removed)"));
            continue;
        };
        let strip = |v: &Value| {
            let mut m = v.as_object().cloned().unwrap_or_default();
            for key in RELOADED_ROLE_KEYS {
                m.remove(key);
            }
            m
        };
        diff_keys(
            &format!("roles.{name}."),
            &strip(cfg),
            &strip(new_cfg),
            &mut changed,
        );
    }
    for name in new_roles.keys() {
        if !old_roles.contains_key(name) {
            changed.push(format!("roles.{name} (added)"));
        }
    }
    changed
}

/// Appends `prefix` + every key whose value differs between `a` and `b`.
fn diff_keys(
    prefix: &str,
    a: &serde_json::Map<String, Value>,
    b: &serde_json::Map<String, Value>,
    out: &mut Vec<String>,
) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        if a.get(key) != b.get(key) {
            out.push(format!("{prefix}{key}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
mode = "development"
data_dir = "/tmp/x"
listen = "127.0.0.1:8080"
[roles.a]
snapshot = "classic"
[roles.b]
snapshot = "merkle"
"#;

    #[test]
    fn settings_that_need_a_restart_are_named() {
        let base = Config::parse(BASE, "t").unwrap();
        assert!(restart_needed(&base, &base).is_empty());
        let role_a = "[roles.a]\nsnapshot = \"merkle\"\nwriter_token_sha256 = [\"".to_owned()
            + &"a".repeat(64)
            + "\"]\n[log]\nfilter = \"debug\"\nformat = \"json\"";
        let edited = BASE
            .replace("8080", "9090")
            .replace(
                "[roles.b]\nsnapshot = \"merkle\"",
                "[roles.c]\nsnapshot = \"merkle\"",
            )
            .replace("[roles.a]\nsnapshot = \"classic\"", &role_a);
        let edited = Config::parse(&edited, "t").unwrap();
        assert_eq!(
            restart_needed(&base, &edited),
            [
                "listen",
                "log",
                "roles.a.snapshot",
                "roles.b (removed)",
                "roles.c (added)"
            ]
        );
        // The log filter and a role's tokens, root and key are reloaded.
        let reloadable = BASE.replace(
            "[roles.a]\nsnapshot = \"classic\"",
            "[log]\nfilter = \"debug\"\n[roles.a]\nsnapshot = \"classic\"\nroot_dir = \"/r\"",
        );
        let reloadable = Config::parse(&reloadable, "t").unwrap();
        assert!(restart_needed(&base, &reloadable).is_empty());
    }
}
