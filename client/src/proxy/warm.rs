//! Warming the proxy with a project's crates (`--warm Cargo.lock`, `--warm Cargo.toml`): their
//! index files are fetched and verified, all in one multi-proof, before the proxy accepts
//! cargo's first request, and answered from memory when cargo asks.
//!
//! Properties kept:
//! - A warmed file is served only as any remembered answer is ([`super::prefetch`]): verified
//!   against the view, within `--remember-secs` of its check. A name that does not verify at
//!   once is not remembered; cargo's own request then takes the full path.
//! - What is read from the project files is names only, each made an index path by the sparse
//!   layout ([`super::prefetch::index_path`]); anything else is skipped. A file that cannot be
//!   read or parsed is an error naming it, before anything is fetched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::prefetch::index_path;

/// The largest project file read.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Why a project file gives no names.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WarmError {
    /// It could not be read.
    #[error("cannot read {path} (--warm): {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// It is not a Cargo.lock or Cargo.toml.
    #[error("{path} (--warm) is not a Cargo.lock or Cargo.toml: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The index paths of the registry crates `path` names: every registry package of a
/// `Cargo.lock`, or the registry dependencies (normal, build, dev, per target, the workspace's)
/// of a `Cargo.toml`. Sorted, without duplicates.
pub fn index_paths(path: &Path) -> Result<Vec<String>, WarmError> {
    use std::io::Read as _;
    let read = |source| WarmError::Read {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(read)?
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    let parse = |message: String| WarmError::Parse {
        path: path.to_owned(),
        message,
    };
    if text.len() as u64 > MAX_FILE {
        return Err(parse(format!("larger than {MAX_FILE} bytes")));
    }
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| parse(e.to_string()))?;
    let mut names = BTreeSet::new();
    if let Some(packages) = table.get("package").and_then(|p| p.as_array()) {
        // Cargo.lock: `[[package]]` with a `source` for registry packages.
        for p in packages {
            let registry = p
                .get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"));
            if let (true, Some(name)) = (registry, p.get("name").and_then(|n| n.as_str())) {
                names.insert(name.to_owned());
            }
        }
    } else {
        // Cargo.toml: the dependency tables, wherever they are.
        let mut tables = vec![&table];
        if let Some(w) = table.get("workspace").and_then(|w| w.as_table()) {
            tables.push(w);
        }
        if let Some(targets) = table.get("target").and_then(|t| t.as_table()) {
            tables.extend(targets.values().filter_map(|t| t.as_table()));
        }
        for t in tables {
            for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
                let Some(deps) = t.get(kind).and_then(|d| d.as_table()) else {
                    continue;
                };
                for (key, spec) in deps {
                    // Path and git dependencies are not in the index.
                    let local = spec
                        .as_table()
                        .is_some_and(|s| s.contains_key("path") || s.contains_key("git"));
                    let name = spec.get("package").and_then(|p| p.as_str()).unwrap_or(key);
                    if !local {
                        names.insert(name.to_owned());
                    }
                }
            }
        }
        if !table.contains_key("package") && !table.contains_key("workspace") {
            return Err(parse(
                "no [[package]] list and no [package] or [workspace]".into(),
            ));
        }
    }
    let mut paths: Vec<String> = names.iter().filter_map(|n| index_path(n)).collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn paths_of(name: &str, text: &str) -> Result<Vec<String>, WarmError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        index_paths(&path)
    }

    #[test]
    fn names_from_a_lockfile_and_a_manifest() {
        let lock = r#"version = 4
[[package]]
name = "proj"
version = "0.1.0"
[[package]]
name = "serde"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
[[package]]
name = "Syn"
version = "2.0.0"
source = "sparse+https://127.0.0.1:8089/"
[[package]]
name = "local-git"
version = "0.1.0"
source = "git+https://example.org/x#abc"
"#;
        assert_eq!(
            paths_of("Cargo.lock", lock).unwrap(),
            vec!["3/s/syn", "se/rd/serde"]
        );
        let manifest = r#"[package]
name = "proj"
version = "0.1.0"
[dependencies]
hex = "0.4"
ren = { package = "cfg-if", version = "1" }
mine = { path = "../mine" }
[build-dependencies]
cc = "1"
[target.'cfg(unix)'.dependencies]
libc = "0.2"
[dev-dependencies]
"../evil" = "1"
"#;
        assert_eq!(
            paths_of("Cargo.toml", manifest).unwrap(),
            vec!["2/cc", "3/h/hex", "cf/g-/cfg-if", "li/bc/libc"]
        );
    }

    #[test]
    fn what_is_no_project_file_is_an_error_naming_it() {
        let err = paths_of("Cargo.toml", "this is [not toml").unwrap_err();
        assert!(matches!(err, WarmError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("Cargo.toml"), "{err}");
        let err = paths_of("x.toml", "a = 1\n").unwrap_err();
        assert!(matches!(err, WarmError::Parse { .. }), "{err}");
        let err = index_paths(Path::new("/nonexistent/Cargo.lock")).unwrap_err();
        assert!(matches!(err, WarmError::Read { .. }), "{err}");
    }
}
