//! Where every published file lives, relative to a role's repository (served as
//! `GET /{role}/{path}`), and which files may change.
//!
//! ```text
//! 1.root.json … N.root.json, root.json   the root chain; root.json is the latest    (N: immutable, root.json: head)
//! V.targets.json, V.snapshot.json        consistent snapshots                        (immutable)
//! timestamp.json                         the latest timestamp                        (head)
//! timestamps/V.timestamp.json            the exact bytes of timestamp version V      (immutable)
//! changes/V.json                         what timestamp V changed (change_record)    (immutable)
//! leaf-snapshots/V.leaves.gz             every leaf at version V (leaf_snapshot)     (immutable)
//! leaf-snapshots/latest.json             which leaf snapshot is the newest           (head)
//! targets/DIR/SHA256.BASENAME            a target's bytes, python-tuf's name         (immutable)
//! targets/SHA256.DIR/BASENAME            the same bytes, tough's name                (immutable)
//! ```
//!
//! Versions are positive decimal integers without leading zeros or signs, as the signer writes
//! them. The signer's own state (`state/<role>/…`) is not published and is not described here.
//!
//! Properties kept:
//! - every path is built in one place, so the signer that writes a file, the server that
//!   serves it and the client that fetches it cannot disagree on its name;
//! - [`PublishedFile::parse`] is the inverse of the builders: it accepts exactly the paths they
//!   produce (for valid target names) and nothing else, so a path it accepts has one meaning;
//! - a file is [`FileKind::Immutable`] if the signer writes it once and never replaces it (its
//!   name carries its version or its hash), and a [`FileKind::Head`] if it is replaced as the
//!   repository moves on (`timestamp.json`, `root.json`). Only heads may be cached briefly;
//!   immutable files may be cached forever.

use tuf_merkle::Digest;
use tuf_merkle::hash::parse_hex;

/// The latest root: a head.
pub const ROOT: &str = "root.json";
/// The latest timestamp: a head.
pub const TIMESTAMP: &str = "timestamp.json";
/// The directory of the exact timestamp bytes of every version.
pub const TIMESTAMPS_DIR: &str = "timestamps";
/// The directory of the change records.
pub const CHANGES_DIR: &str = "changes";
/// The directory of the leaf snapshots.
pub const LEAF_SNAPSHOTS_DIR: &str = "leaf-snapshots";
/// The pointer to the newest leaf snapshot ([`crate::leaf_snapshot::LatestPointer`]): a head.
pub const LEAF_SNAPSHOT_LATEST: &str = "leaf-snapshots/latest.json";
/// The directory of the stored target bytes.
pub const TARGETS_DIR: &str = "targets";

/// `N.root.json`: root version `version` of the chain.
pub fn root(version: u64) -> String {
    format!("{version}.root.json")
}

/// `timestamps/V.timestamp.json`: the exact bytes of timestamp version `version`, which the
/// change record of that version names.
pub fn timestamp_file(version: u64) -> String {
    format!("{TIMESTAMPS_DIR}/{version}.timestamp.json")
}

/// `V.snapshot.json`: the snapshot signed in round `version`.
pub fn snapshot(version: u64) -> String {
    format!("{version}.snapshot.json")
}

/// `V.targets.json`: the targets metadata signed in round `version`.
pub fn targets(version: u64) -> String {
    format!("{version}.targets.json")
}

/// `changes/V.json`: the change record of timestamp version `version`.
pub fn change_record(version: u64) -> String {
    format!("{CHANGES_DIR}/{version}.json")
}

/// `leaf-snapshots/V.leaves.gz`: every leaf of the role at timestamp version `version`
/// ([`crate::leaf_snapshot`]). Immutable: the version fixes the leaves, and a reader checks
/// them against that version's signed root.
pub fn leaf_snapshot(version: u64) -> String {
    format!("{LEAF_SNAPSHOTS_DIR}/{version}.leaves.gz")
}

/// `targets/DIR/SHA256.BASENAME`: where target `name` with bytes of hash `sha256` is stored,
/// the consistent-snapshot name of python-tuf and of the specification's example (the hash
/// prefixes the base name).
pub fn target(name: &str, sha256: &Digest) -> String {
    match name.rsplit_once('/') {
        Some((dir, base)) => format!("{TARGETS_DIR}/{dir}/{}.{base}", sha256.to_hex()),
        None => format!("{TARGETS_DIR}/{}.{name}", sha256.to_hex()),
    }
}

/// `targets/SHA256.DIR/BASENAME`: the other name clients use for the same bytes (tough prefixes
/// the hash to the whole target path). `None` when it is [`target`]'s (a name without `/`).
pub fn tough_target(name: &str, sha256: &Digest) -> Option<String> {
    name.contains('/')
        .then(|| format!("{TARGETS_DIR}/{}.{name}", sha256.to_hex()))
}

/// Whether a published file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// Written once, never replaced: a versioned file or stored target bytes.
    Immutable,
    /// Replaced as the repository moves on: `timestamp.json`, `root.json`.
    Head,
}

/// A file of a role's published repository, as its path names it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishedFile {
    /// `root.json`.
    Root,
    /// `N.root.json`.
    VersionedRoot(u64),
    /// `timestamp.json`.
    Timestamp,
    /// `timestamps/V.timestamp.json`.
    TimestampCopy(u64),
    /// `V.snapshot.json`.
    Snapshot(u64),
    /// `V.targets.json`.
    Targets(u64),
    /// `changes/V.json`.
    ChangeRecord(u64),
    /// `leaf-snapshots/V.leaves.gz`.
    LeafSnapshot(u64),
    /// `leaf-snapshots/latest.json`.
    LeafSnapshotLatest,
    /// Stored target bytes, under either consistent-snapshot name.
    Target {
        /// The target name.
        name: String,
        /// The SHA-256 of its bytes.
        sha256: Digest,
    },
}

impl PublishedFile {
    /// What `path` (relative to a role's repository, `/`-separated) names, or `None` if the
    /// signer never publishes a file there. Only the shape is checked: whether a target name is
    /// allowed at all is the signer's rule.
    pub fn parse(path: &str) -> Option<Self> {
        match path {
            ROOT => return Some(PublishedFile::Root),
            TIMESTAMP => return Some(PublishedFile::Timestamp),
            LEAF_SNAPSHOT_LATEST => return Some(PublishedFile::LeafSnapshotLatest),
            _ => {}
        }
        if let Some(rest) = path.strip_prefix("targets/") {
            return parse_target(rest);
        }
        if let Some(rest) = path.strip_prefix("timestamps/") {
            return version(rest.strip_suffix(".timestamp.json")?).map(Self::TimestampCopy);
        }
        if let Some(rest) = path.strip_prefix("changes/") {
            return version(rest.strip_suffix(".json")?).map(Self::ChangeRecord);
        }
        if let Some(rest) = path.strip_prefix("leaf-snapshots/") {
            return version(rest.strip_suffix(".leaves.gz")?).map(Self::LeafSnapshot);
        }
        let (number, suffix) = path.split_once('.')?;
        let v = version(number)?;
        match suffix {
            "root.json" => Some(PublishedFile::VersionedRoot(v)),
            "snapshot.json" => Some(PublishedFile::Snapshot(v)),
            "targets.json" => Some(PublishedFile::Targets(v)),
            _ => None,
        }
    }

    /// Whether the file is immutable or a head.
    pub fn kind(&self) -> FileKind {
        match self {
            PublishedFile::Root | PublishedFile::Timestamp | PublishedFile::LeafSnapshotLatest => {
                FileKind::Head
            }
            PublishedFile::VersionedRoot(_)
            | PublishedFile::TimestampCopy(_)
            | PublishedFile::Snapshot(_)
            | PublishedFile::Targets(_)
            | PublishedFile::ChangeRecord(_)
            | PublishedFile::LeafSnapshot(_)
            | PublishedFile::Target { .. } => FileKind::Immutable,
        }
    }
}

/// Whether the file at `path` is immutable or a head; `None` if the signer never publishes a
/// file there.
pub fn kind(path: &str) -> Option<FileKind> {
    PublishedFile::parse(path).map(|f| f.kind())
}

/// A version as the signer writes it: a positive decimal integer, no sign, no leading zero.
fn version(text: &str) -> Option<u64> {
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A segment `SHA256.REST`: the hash and the rest (not empty).
fn hash_prefixed(segment: &str) -> Option<(Digest, &str)> {
    let (hex, rest) = segment.split_at_checked(64)?;
    let rest = rest.strip_prefix('.')?;
    if rest.is_empty() {
        return None;
    }
    Some((parse_hex(hex).ok()?, rest))
}

/// The part of a stored target's path after `targets/`. Exactly one segment carries the hash:
/// the last (python-tuf's name) or the first (tough's); no target name has a segment of that
/// shape, so the two readings cannot both apply.
fn parse_target(rest: &str) -> Option<PublishedFile> {
    let segments: Vec<&str> = rest.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return None;
    }
    let hashed: Vec<usize> = (0..segments.len())
        .filter(|i| hash_prefixed(segments[*i]).is_some())
        .collect();
    let [at] = hashed[..] else {
        return None;
    };
    let (sha256, first) = hash_prefixed(segments[at])?;
    let name = if at == segments.len() - 1 {
        // python-tuf: DIR/SHA256.BASENAME (also the single-segment name both layouts share).
        let mut parts = segments[..at].to_vec();
        parts.push(first);
        parts.join("/")
    } else if at == 0 {
        // tough: SHA256.DIR/BASENAME.
        let mut parts = vec![first];
        parts.extend_from_slice(&segments[1..]);
        parts.join("/")
    } else {
        return None;
    };
    Some(PublishedFile::Target { name, sha256 })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tuf_merkle::hash::sha256;

    #[test]
    fn builders_write_the_published_names() {
        assert_eq!(root(3), "3.root.json");
        assert_eq!(timestamp_file(7), "timestamps/7.timestamp.json");
        assert_eq!(snapshot(7), "7.snapshot.json");
        assert_eq!(targets(7), "7.targets.json");
        assert_eq!(change_record(7), "changes/7.json");
        assert_eq!(leaf_snapshot(7000), "leaf-snapshots/7000.leaves.gz");
        let h = sha256(b"x");
        let hex = h.to_hex();
        assert_eq!(target("a/b/c.txt", &h), format!("targets/a/b/{hex}.c.txt"));
        assert_eq!(target("c", &h), format!("targets/{hex}.c"));
        assert_eq!(
            tough_target("a/b/c.txt", &h),
            Some(format!("targets/{hex}.a/b/c.txt"))
        );
        assert_eq!(tough_target("c", &h), None);
    }

    #[test]
    fn parse_inverts_the_builders_and_classifies() {
        use PublishedFile as F;
        let h = sha256(b"x");
        let t = |name: &str| F::Target {
            name: name.into(),
            sha256: h,
        };
        let cases = [
            (ROOT.to_owned(), F::Root, FileKind::Head),
            (TIMESTAMP.to_owned(), F::Timestamp, FileKind::Head),
            (
                LEAF_SNAPSHOT_LATEST.to_owned(),
                F::LeafSnapshotLatest,
                FileKind::Head,
            ),
            (root(12), F::VersionedRoot(12), FileKind::Immutable),
            (timestamp_file(9), F::TimestampCopy(9), FileKind::Immutable),
            (snapshot(9), F::Snapshot(9), FileKind::Immutable),
            (targets(9), F::Targets(9), FileKind::Immutable),
            (change_record(9), F::ChangeRecord(9), FileKind::Immutable),
            (
                leaf_snapshot(1000),
                F::LeafSnapshot(1000),
                FileKind::Immutable,
            ),
            (
                change_record(u64::MAX),
                F::ChangeRecord(u64::MAX),
                FileKind::Immutable,
            ),
            (target("c", &h), t("c"), FileKind::Immutable),
            (target("a/b/c.txt", &h), t("a/b/c.txt"), FileKind::Immutable),
            (
                tough_target("a/b/c.txt", &h).unwrap(),
                t("a/b/c.txt"),
                FileKind::Immutable,
            ),
            (
                target("se/rd/serde", &h),
                t("se/rd/serde"),
                FileKind::Immutable,
            ),
        ];
        for (path, file, k) in cases {
            assert_eq!(PublishedFile::parse(&path), Some(file.clone()), "{path}");
            assert_eq!(file.kind(), k, "{path}");
            assert_eq!(kind(&path), Some(k), "{path}");
        }
    }

    #[test]
    fn parse_refuses_what_is_never_published() {
        let hex = sha256(b"x").to_hex();
        let upper = hex.to_uppercase();
        for path in [
            "",
            "/root.json",
            "root.json/",
            "0.root.json",
            "01.root.json",
            "+1.root.json",
            "-1.root.json",
            "1.root.json.tmp",
            "x.root.json",
            "18446744073709551616.root.json",
            "1.timestamp.json",
            "snapshot.json",
            "targets.json",
            "1.snapshot.json/x",
            "timestamps/0.timestamp.json",
            "timestamps/1.json",
            "timestamps/timestamp.json",
            "changes/1.timestamp.json",
            "changes/01.json",
            "changes/x/1.json",
            "leaf-snapshots/0.leaves.gz",
            "leaf-snapshots/01.leaves.gz",
            "leaf-snapshots/1.leaves",
            "leaf-snapshots/1.json",
            "leaf-snapshots/latest.leaves.gz",
            "leaf-snapshots/x/1.leaves.gz",
            "1.leaves.gz",
            "state/crates.io/wal.log",
            "targets/",
            "targets/c",
            "targets/a/b/c.txt",
            &format!("targets/{hex}"),
            &format!("targets/{hex}."),
            &format!("targets/{upper}.c"),
            &format!("targets/{hex}x.c"),
            &format!("targets//{hex}.c"),
            &format!("targets/a//{hex}.c"),
            &format!("targets/../{hex}.c"),
            &format!("targets/./{hex}.c"),
            &format!("targets/{hex}.a/../c"),
            &format!("targets/{hex}.a/{hex}.c"),
            &format!("targets/a/{hex}.b/c"),
            &format!("targets/{hex}.c/"),
        ] {
            assert_eq!(PublishedFile::parse(path), None, "{path}");
            assert_eq!(kind(path), None, "{path}");
        }
    }
}
