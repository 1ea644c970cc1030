//! What a verification is asked about, from local files: a file to check against its signed
//! length and SHA-256, a list of names, and a directory holding targets under their names (an
//! index checkout), as `tuf-verify verify` and `verify-many` read them.
//!
//! Properties kept: a directory is walked without leaving it except through symbolic links it
//! holds (followed, as a checkout made with links is still a checkout; a link loop is an error,
//! not endless recursion); hidden entries (`.git`, `.cargo-ok`) are never read, and the
//! registry's own `config.json` at the top is not a target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::ClientError;

/// The file at `path`, whole.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(ClientError::local(path))
}

/// The names in a names file: one per line, spaces around them and empty lines ignored (bytes
/// that are not UTF-8 are replaced, so such a name is refused as unknown, never skipped).
pub fn read_names_file(path: &Path) -> Result<Vec<String>, ClientError> {
    let text = String::from_utf8_lossy(&read_file(path)?).into_owned();
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Every target under `dir` by its name (the path below `dir` with `/` between components,
/// each not UTF-8 byte replaced), sorted: every file, and every symbolic link that is not to a
/// directory, skipping hidden entries (and what is under them) and the top `config.json`.
pub fn names_under(dir: &Path) -> Result<Vec<String>, ClientError> {
    // A `dir` that is missing or not a directory is an error (walkdir would find nothing in a
    // file); listing it once names the cause as the file system gives it.
    std::fs::read_dir(dir).map_err(ClientError::local(dir))?;
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_hidden(e.path()));
    let mut names = Vec::new();
    for entry in walk {
        let path = match entry {
            Ok(e) if e.file_type().is_dir() => continue,
            Ok(e) => e.into_path(),
            Err(e) => match e.path() {
                // Errors are yielded without the filter: a hidden entry is skipped whatever
                // is wrong with it.
                Some(p) if is_hidden(p) => continue,
                // A link to nothing names a target all the same: it is verified without a
                // file to check, as the walk has always done.
                Some(p) if is_dangling_link(p) && e.loop_ancestor().is_none() => p.to_owned(),
                _ => return Err(walk_error(dir, e)),
            },
        };
        let name = relative_name(dir, &path);
        if name != "config.json" {
            names.push(name);
        }
    }
    Ok(names)
}

/// What `verify-many` asks about: names given, from a names file, and (with `all`) every
/// target under `dir`, sorted and each once; and the bytes of each name's file under `dir`,
/// to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The names, sorted, each once.
    pub names: Vec<String>,
    /// The files found under the directory, by name.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Selection {
    /// Gathers the names (`names`, then those of `names_file`, then with `all` those under
    /// `dir`) and the files under `dir` for them. No names at all is
    /// [`ClientError::NoNames`].
    pub fn gather(
        mut names: Vec<String>,
        names_file: Option<&Path>,
        dir: Option<&Path>,
        all: bool,
    ) -> Result<Self, ClientError> {
        if let Some(f) = names_file {
            names.extend(read_names_file(f)?);
        }
        if all && let Some(d) = dir {
            names.extend(names_under(d)?);
        }
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Err(ClientError::NoNames);
        }
        let mut files = BTreeMap::new();
        if let Some(d) = dir {
            for n in &names {
                let p = d.join(n);
                if p.is_file() {
                    files.insert(n.clone(), read_file(&p)?);
                }
            }
        }
        Ok(Selection { names, files })
    }
}

/// Whether the last component of `path` starts with `.`.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Whether `path` is a symbolic link whose target does not exist.
fn is_dangling_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) && !path.exists()
}

/// `path` below `dir`, with `/` between components.
fn relative_name(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A failed walk as a local error on the path that failed (a link loop keeps walkdir's
/// message, which names both ends).
fn walk_error(dir: &Path, e: walkdir::Error) -> ClientError {
    let path: PathBuf = e.path().unwrap_or(dir).to_owned();
    let message = e.to_string();
    let source = e
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other(message));
    ClientError::Local { path, source }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn walks_files_and_links_but_not_hidden_entries_or_the_config() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for f in [
            "config.json",
            "se/rd/serde",
            "3/s/syn",
            "se/config.json",
            ".git/HEAD",
        ] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        std::fs::create_dir_all(d.join("se/.hidden")).unwrap();
        std::fs::write(d.join("se/.hidden/x"), b"x").unwrap();
        std::fs::write(d.join("se/.dot"), b"x").unwrap();
        // A link to a directory is walked into, a link to a file and one to nothing are names.
        std::os::unix::fs::symlink(d.join("se/rd"), d.join("linked")).unwrap();
        std::os::unix::fs::symlink(d.join("3/s/syn"), d.join("3/s/syn-link")).unwrap();
        std::os::unix::fs::symlink(d.join("nothing"), d.join("3/s/dangling")).unwrap();
        std::os::unix::fs::symlink(d.join("nothing"), d.join("3/.dangling")).unwrap();
        assert_eq!(
            names_under(d).unwrap(),
            [
                "3/s/dangling",
                "3/s/syn",
                "3/s/syn-link",
                "linked/serde",
                "se/config.json",
                "se/rd/serde"
            ]
        );
    }

    #[test]
    fn link_loops_and_missing_directories_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), tmp.path().join("a/up")).unwrap();
        assert!(matches!(
            names_under(tmp.path()),
            Err(ClientError::Local { .. })
        ));
        let missing = tmp.path().join("missing");
        match names_under(&missing) {
            Err(ClientError::Local { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn selections_are_sorted_once_each_with_the_files_found() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("index");
        std::fs::create_dir_all(d.join("se/rd")).unwrap();
        std::fs::write(d.join("se/rd/serde"), b"serde").unwrap();
        let list = tmp.path().join("names");
        std::fs::write(&list, "  se/rd/serde \n\nab/cd/abc\n").unwrap();
        let s =
            Selection::gather(vec!["se/rd/serde".into()], Some(&list), Some(&d), false).unwrap();
        assert_eq!(s.names, ["ab/cd/abc", "se/rd/serde"]);
        assert_eq!(s.files.keys().collect::<Vec<_>>(), ["se/rd/serde"]);
        assert!(matches!(
            Selection::gather(Vec::new(), None, Some(&d), false),
            Err(ClientError::NoNames)
        ));
    }
}
