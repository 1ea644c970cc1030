//! The ceremony transcript: an append-only JSON Lines file, one entry per step (who, what, the
//! digests before and after), kept with the published roots.
//!
//! Each entry names the SHA-256 of the entry before it (`prev`) and of the ceremony file before
//! and after the step, so that removing, reordering or editing an entry, or changing the
//! ceremony file outside the tool, shows when the transcript is verified
//! ([`verify_transcript`]). Entries are only ever appended (the file is opened in append mode,
//! never through a symlink, and fsynced), and the file is read with a size limit
//! ([`crate::files::MAX_TRANSCRIPT_FILE`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CeremonyError;
use crate::files::{self, MAX_ROOT_FILE, MAX_TRANSCRIPT_FILE};
use crate::model::{fmt_time, sha256_hex};

/// The transcript's file name in the ceremony directory.
pub const TRANSCRIPT_FILE: &str = "transcript.jsonl";

/// One step of the ceremony.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1, 2, 3, …
    pub seq: u64,
    /// When (UTC, the air-gapped machine's clock).
    pub time: String,
    /// `init`, `add-member`, `remove-member`, `set-threshold`, `set-online-key`, `set-expiry`,
    /// `sign`, `finalize`.
    pub action: String,
    /// The person at the keyboard, as given with `--operator`.
    pub operator: Option<String>,
    /// For `sign`: the key that signed.
    pub key_id: Option<String>,
    /// What the step did, in words.
    pub detail: Vec<String>,
    /// The drafts' digest before the step (none for `init`).
    pub digest_before: Option<String>,
    /// The drafts' digest after the step.
    pub digest_after: String,
    /// SHA-256 of `ceremony.json` before the step (none for `init`).
    pub file_before: Option<String>,
    /// SHA-256 of `ceremony.json` after the step.
    pub file_after: String,
    /// For `finalize`: `ROLE/N.root.json` → SHA-256 of the file written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// SHA-256 of the previous entry's line (none for the first).
    pub prev: Option<String>,
}

/// Reads the transcript's lines (without their newlines).
pub fn read_lines(path: &Path) -> Result<Vec<String>, CeremonyError> {
    let bytes = match files::read_limited(path, MAX_TRANSCRIPT_FILE, "a transcript") {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        CeremonyError::io("read", path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// Builds the next entry of the transcript at `path` (sequence number and `prev` filled in).
#[allow(clippy::too_many_arguments)]
pub fn next_entry(
    path: &Path,
    action: &str,
    operator: Option<&str>,
    key_id: Option<String>,
    detail: Vec<String>,
    digest_before: Option<String>,
    digest_after: String,
    file_before: Option<String>,
    file_after: String,
) -> Result<Entry, CeremonyError> {
    let lines = read_lines(path)?;
    Ok(Entry {
        seq: lines.len() as u64 + 1,
        time: fmt_time(jiff::Timestamp::now()),
        action: action.to_owned(),
        operator: operator.map(str::to_owned),
        key_id,
        detail,
        digest_before,
        digest_after,
        file_before,
        file_after,
        outputs: BTreeMap::new(),
        prev: lines.last().map(|l| sha256_hex(l.as_bytes())),
    })
}

/// Appends `entry` as one line to the transcript at `path` and fsyncs.
pub fn append(path: &Path, entry: &Entry) -> Result<(), CeremonyError> {
    append_to(&mut files::open_append(path)?, path, entry)
}

/// Appends `entry` as one line to `file`, the transcript at `path` opened with
/// [`files::open_append`] (before the step changed anything), and fsyncs.
pub fn append_to(file: &mut File, path: &Path, entry: &Entry) -> Result<(), CeremonyError> {
    let mut line = serde_json::to_string(entry)?;
    line.push('\n');
    file.write_all(line.as_bytes())
        .map_err(CeremonyError::io("append to", path))?;
    file.sync_all().map_err(CeremonyError::io("sync", path))
}

/// What a verified transcript says.
#[derive(Debug, Clone)]
pub struct TranscriptSummary {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// Verifies the transcript at `path`: the entries' sequence and hash chain, and that each step
/// starts from the ceremony file the previous one left. With `ceremony_sha256`, the last step
/// must have left exactly that ceremony file; with `roots_dir`, every root a `finalize` step
/// wrote must be in `roots_dir/ROLE/` with the same SHA-256.
pub fn verify_transcript(
    path: &Path,
    ceremony_sha256: Option<&str>,
    roots_dir: Option<&Path>,
) -> Result<TranscriptSummary, CeremonyError> {
    let bad = |entry: usize, reason: String| CeremonyError::Transcript {
        path: path.to_owned(),
        entry,
        reason,
    };
    let lines = read_lines(path)?;
    if lines.is_empty() {
        return Err(bad(0, "the transcript is missing or empty".into()));
    }
    let mut entries: Vec<Entry> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let entry: Entry = serde_json::from_str(line)
            .map_err(|e| bad(n, format!("not a transcript entry: {e}")))?;
        if entry.seq != n as u64 {
            return Err(bad(
                n,
                format!(
                    "sequence number {} (expected {n}): an entry was removed or reordered",
                    entry.seq
                ),
            ));
        }
        let expected_prev = i.checked_sub(1).map(|p| sha256_hex(lines[p].as_bytes()));
        if entry.prev != expected_prev {
            return Err(bad(
                n,
                "its `prev` hash does not match the entry before it: the transcript was edited"
                    .into(),
            ));
        }
        match entries.last() {
            None => {
                if entry.action != "init" {
                    return Err(bad(
                        n,
                        format!("the first step is {:?}, not init", entry.action),
                    ));
                }
            }
            Some(prev) => {
                if entry.file_before.as_deref() != Some(prev.file_after.as_str()) {
                    return Err(bad(n, "the ceremony file changed between this step and the one before, outside the tool".into()));
                }
                if entry.digest_before.as_deref() != Some(prev.digest_after.as_str()) {
                    return Err(bad(
                        n,
                        "the drafts' digest changed between this step and the one before".into(),
                    ));
                }
            }
        }
        if let Some(dir) = roots_dir {
            for (file, sha) in &entry.outputs {
                let p: PathBuf = dir.join(file);
                let bytes = files::read_limited(&p, MAX_ROOT_FILE, "a root").map_err(|e| {
                    bad(n, format!("finalize wrote {file}, but cannot read it: {e}"))
                })?;
                if &sha256_hex(&bytes) != sha {
                    return Err(bad(
                        n,
                        format!(
                            "{} differs from the root this ceremony finalized",
                            p.display()
                        ),
                    ));
                }
            }
        }
        entries.push(entry);
    }
    if let (Some(sha), Some(last)) = (ceremony_sha256, entries.last())
        && last.file_after != sha
    {
        return Err(bad(
            entries.len(),
            "ceremony.json is not the file the last recorded step left: it changed outside the tool".into(),
        ));
    }
    Ok(TranscriptSummary { entries })
}
