//! The data directory as tests look at it: tokens, published timestamps, the whole history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tough::schema::{Signed, Timestamp};

/// `data/repo/role`.
pub fn repo(data: &Path, role: &str) -> PathBuf {
    data.join("repo").join(role)
}

/// `data/state/role`.
pub fn state(data: &Path, role: &str) -> PathBuf {
    data.join("state").join(role)
}

/// A development token a signer wrote into `data`.
pub fn dev_token(data: &Path, role: &str) -> String {
    std::fs::read_to_string(data.join("dev-tokens").join(role))
        .expect("token")
        .trim()
        .to_owned()
}

/// Every `timestamps/V.timestamp.json` of `role`, by version.
pub fn published_timestamps(data: &Path, role: &str) -> BTreeMap<u64, Vec<u8>> {
    let dir = repo(data, role).join("timestamps");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().into_string().expect("UTF-8 name");
        if let Some(v) = name.strip_suffix(".timestamp.json") {
            out.insert(
                v.parse().expect("version"),
                std::fs::read(entry.path()).expect("read"),
            );
        }
    }
    out
}

/// Every version published before is still published with the same bytes: none was signed
/// twice, none lost.
pub fn assert_history_kept(before: &BTreeMap<u64, Vec<u8>>, after: &BTreeMap<u64, Vec<u8>>) {
    for (v, bytes) in before {
        assert_eq!(
            after.get(v),
            Some(bytes),
            "timestamp version {v} was signed again with other contents, or lost"
        );
    }
}

/// The version of `role`'s published `timestamp.json`.
pub fn timestamp_version(data: &Path, role: &str) -> u64 {
    let bytes = std::fs::read(repo(data, role).join("timestamp.json")).expect("timestamp.json");
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    v["signed"]["version"].as_u64().expect("version")
}

/// The merkle role's history in the data directory `data`: for every timestamp version from 1 to the latest a change
/// record, each linked to the one before, and the auditor's replay of them all reproduces every
/// signed `merkle_root`.
pub fn check_history(data: &Path) {
    let repo = data.join("repo");
    let role = repo.join("crates.io");
    let ts: Signed<Timestamp> =
        serde_json::from_slice(&std::fs::read(role.join("timestamp.json")).unwrap()).unwrap();
    let latest = ts.signed.version.get();
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(role.join("changes")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(v) = name
            .strip_suffix(".json")
            .and_then(|v| v.parse::<u64>().ok())
        {
            versions.push(v);
        }
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (1..=latest).collect::<Vec<_>>(),
        "a change record for every timestamp version from 1 to {latest}"
    );
    for v in 1..=latest {
        let record: Value =
            serde_json::from_slice(&std::fs::read(role.join(format!("changes/{v}.json"))).unwrap())
                .unwrap();
        let previous = (v > 1).then(|| v - 1);
        assert_eq!(
            record["previous_timestamp_version"].as_u64(),
            previous,
            "changes/{v}.json links to {} instead of {previous:?}",
            record["previous_timestamp_version"]
        );
    }
    let root1 = std::fs::read(role.join("1.root.json")).unwrap();
    let files = tuf_client::transport::FileTransport::new(&repo);
    let report =
        tuf_client::audit::audit(&files, "crates.io", &root1, &tuf_client::Limits::default())
            .expect("audit");
    assert_eq!(report.breach, None, "{report:?}");
    assert_eq!(report.first_version, Some(1));
    assert_eq!(report.last_good_version, Some(latest));
    assert_eq!(report.records, latest);
    eprintln!(
        "history: {latest} timestamp versions, {} changes replayed, every merkle_root reproduced",
        report.changes
    );
}
