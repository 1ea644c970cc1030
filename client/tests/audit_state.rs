//! The auditor that resumes (`tuf-verify audit --state DIR`, `tuf_client::audit_state`) and the
//! auditor that starts at a leaf snapshot (`--from-leaf-snapshot`, `audit::Start`), against a
//! real `tuf-signer` over loopback HTTP, or a copy of its repository directory that a test
//! alters (as `attacks.rs` does).

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{ROLE, Signer, forge_timestamp, parse_root, parse_timestamp, sign};
use tuf_client::audit::{
    AuditReport, Breach, LeafSnapshotError, Start, StartedFrom, audit, audit_with,
};
use tuf_client::audit_state::{AuditState, AuditStateError, LOCK_FILE, STATE_FILE};
use tuf_client::transport::{Fetched, FileTransport, Transport};
use tuf_client::{ClientError, Limits};
use tuf_merkle::{LeafContents, Tree, key_of};
use tuf_repo_format::leaf_snapshot::{self, LatestPointer, LeafSnapshot};
use tuf_repo_format::paths;
use tuf_testkit::config::TestConfig;
use tuf_testkit::data::index_name;

/// Publishes `count` new names (`index_name(from..)`), one timestamp version each; returns the
/// last version.
fn publish(signer: &Signer, from: usize, count: usize) -> u64 {
    let mut version = 0;
    for i in from..from + count {
        version = signer.publish(ROLE, &index_name(i), format!("file {i}\n").as_bytes());
    }
    version
}

fn root1(signer: &Signer) -> Vec<u8> {
    std::fs::read(signer.repo(ROLE).join("1.root.json")).unwrap()
}

fn root1_path(signer: &Signer) -> PathBuf {
    signer.repo(ROLE).join("1.root.json")
}

/// A full replay from version 1 over HTTP: what every other start must end at.
fn full(signer: &Signer) -> AuditReport {
    let http = tuf_client::transport::open(&signer.url());
    let report = audit(http.as_ref(), ROLE, &root1(signer), &Limits::default()).unwrap();
    assert_eq!(report.breach, None, "{report:?}");
    report
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A copy of the signer's published repository: `<dir>/<role>/…`, served by a
/// [`FileTransport`] on `<dir>` (or `--repo <dir>`).
fn copy_repo(signer: &Signer, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join(ROLE));
    copy_dir(&signer.repo(ROLE), &dir.join(ROLE));
}

fn tuf_verify_audit(repo: &str, root: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tuf-verify"))
        .args(["audit", "--repo", repo, "--role", ROLE, "--root"])
        .arg(root)
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn state_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(STATE_FILE)).unwrap()).unwrap()
}

/// The names in the state directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// The root of the tree a state directory holds at `version`.
fn stored_root(dir: &Path, version: u64) -> tuf_merkle::Digest {
    let file = std::fs::read(dir.join(format!("{version}.leaves.gz"))).unwrap();
    leaf_snapshot::decode(&file, 1 << 30).unwrap().merkle_root
}

fn open_state(dir: &Path) -> AuditState {
    AuditState::open(dir).unwrap()
}

#[test]
fn a_second_run_replays_only_the_new_records_and_ends_where_a_full_audit_does() {
    let signer = Signer::start();
    let first = publish(&signer, 0, 4);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("audit-state");
    let state_arg = state.to_str().unwrap();

    let (code, stdout, stderr) = text(&tuf_verify_audit(
        &signer.url(),
        &root1_path(&signer),
        &["--state", state_arg],
    ));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        // The signer's first version is its empty tree's: one record more than names.
        stdout.contains(&format!(
            "replayed {first} records (4 changes) from timestamp 1 to timestamp {first}"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("consistent"), "{stdout}");
    // Private: the directory 0700, every file 0600.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    for name in names(&state) {
        assert_eq!(mode(&state.join(&name)), 0o600, "{name}");
    }
    assert_eq!(
        names(&state),
        [
            "1.root.json".to_owned(),
            format!("{first}.leaves.gz"),
            format!("{first}.timestamp.json"),
            STATE_FILE.to_owned(),
            LOCK_FILE.to_owned(),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    let json = state_json(&state);
    assert_eq!(json["last_good"]["timestamp_version"], first);
    assert_eq!(json["first_version"], 1);
    assert_eq!(json["records"], first);
    // The exact bytes the repository serves for that version.
    assert_eq!(
        std::fs::read(state.join(format!("{first}.timestamp.json"))).unwrap(),
        signer.get(&format!("{ROLE}/timestamps/{first}.timestamp.json"))
    );

    let latest = publish(&signer, 100, 3);
    let new = latest - first;
    let (code, stdout, stderr) = text(&tuf_verify_audit(
        &signer.url(),
        &root1_path(&signer),
        &["--state", state_arg],
    ));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "resumed after timestamp {first} from the audit state in {state_arg} (verified again); \
             earlier runs checked {first} records from timestamp 1"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "replayed {new} records ({new} changes) after timestamp {first} to timestamp {latest} of latest {latest}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "every signed root from timestamp 1 to {latest} recomputed"
        )),
        "{stdout}"
    );

    // The same as a replay from scratch: the last root, the leaves, the counters.
    let scratch = full(&signer);
    assert_eq!(scratch.last_good_version, Some(latest));
    assert_eq!(stored_root(&state, latest), scratch.last_good_root.unwrap());
    let json = state_json(&state);
    assert_eq!(json["last_good"]["timestamp_version"], latest);
    assert_eq!(json["records"], scratch.records);
    assert_eq!(json["changes"], scratch.changes);
    // The older version's files are gone.
    assert!(!state.join(format!("{first}.leaves.gz")).exists());
    assert!(!state.join(format!("{first}.timestamp.json")).exists());

    // Through the library, nothing new: no record replayed, the state's totals reported.
    let http = tuf_client::transport::open(&signer.url());
    let held = open_state(&state);
    let report = held
        .audit(http.as_ref(), ROLE, &root1(&signer), &Limits::default())
        .unwrap();
    assert_eq!(report.breach, None, "{report:?}");
    assert_eq!(report.started_from, StartedFrom::State { version: latest });
    assert_eq!(report.records, 0);
    assert_eq!(report.total_records, scratch.records);
    assert_eq!(report.first_version, Some(1));
    assert_eq!(report.last_good_root, scratch.last_good_root);
    assert_eq!(report.leaves, scratch.leaves);

    // Two auditors cannot share the directory: the second is refused at once.
    let (code, _, stderr) = text(&tuf_verify_audit(
        &signer.url(),
        &root1_path(&signer),
        &["--state", state_arg],
    ));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("held by another process"), "{stderr}");
    assert!(matches!(
        AuditState::open(&state),
        Err(ClientError::StateLock(_))
    ));
    drop(held);
    assert!(AuditState::open(&state).is_ok());

    // A directory with other files is not taken for a new state.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"mine").unwrap();
    let err = open_state(&other)
        .audit(http.as_ref(), ROLE, &root1(&signer), &Limits::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::AuditState(AuditStateError::NotAnAuditState { .. })
        ),
        "{err}"
    );
}

/// A transport that fails (as a dropped connection) on one path: a run stopped mid-way.
struct FailOn {
    inner: Box<dyn Transport>,
    path: String,
}

impl Transport for FailOn {
    fn get(&self, path: &str, limit: u64) -> Result<Fetched, ClientError> {
        if path == self.path {
            return Err(ClientError::Transport {
                what: path.to_owned(),
                message: "connection reset (test)".into(),
            });
        }
        self.inner.get(path, limit)
    }
    fn post_json(&self, path: &str, body: &[u8], limit: u64) -> Result<Fetched, ClientError> {
        self.inner.post_json(path, body, limit)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// A repository that cannot be reached at all.
struct Unreachable;

impl Transport for Unreachable {
    fn get(&self, path: &str, _: u64) -> Result<Fetched, ClientError> {
        panic!("{path} fetched");
    }
    fn post_json(&self, path: &str, _: &[u8], _: u64) -> Result<Fetched, ClientError> {
        panic!("{path} posted to");
    }
    fn describe(&self) -> String {
        "nowhere".into()
    }
}

#[test]
fn a_run_stopped_midway_resumes_from_its_last_checkpoint() {
    let signer = Signer::start();
    let latest = publish(&signer, 0, 9);
    assert!(latest >= 9);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("s");
    let fail_at = latest - 1;
    let failing = FailOn {
        inner: tuf_client::transport::open(&signer.url()),
        path: format!("{ROLE}/changes/{fail_at}.json"),
    };
    let err = open_state(&state)
        .checkpoint_every(3)
        .audit(&failing, ROLE, &root1(&signer), &Limits::default())
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
    // The last checkpoint before the failure: a multiple of 3 below it, tree and timestamp of
    // the same version.
    let saved = (fail_at - 1) / 3 * 3;
    let json = state_json(&state);
    assert_eq!(json["last_good"]["timestamp_version"], saved, "{json}");
    assert_eq!(json["records"], saved);
    assert!(state.join(format!("{saved}.leaves.gz")).exists());
    assert!(state.join(format!("{saved}.timestamp.json")).exists());
    assert!(!state.join(format!("{}.leaves.gz", saved - 3)).exists());

    // Killed between writing the next tree and the state that would name it: a stray file,
    // ignored and removed.
    std::fs::write(state.join(format!("{}.leaves.gz", saved + 1)), b"half").unwrap();
    let http = tuf_client::transport::open(&signer.url());
    let report = open_state(&state)
        .checkpoint_every(3)
        .audit(http.as_ref(), ROLE, &root1(&signer), &Limits::default())
        .unwrap();
    assert_eq!(report.breach, None, "{report:?}");
    assert_eq!(report.started_from, StartedFrom::State { version: saved });
    assert_eq!(report.records, latest - saved);
    assert_eq!(report.total_records, latest);
    assert_eq!(report.first_version, Some(1));
    assert_eq!(report.last_good_root, full(&signer).last_good_root);
    assert!(!state.join(format!("{}.leaves.gz", saved + 1)).exists());
}

/// Changes one hex digit of the first signature of a signed JSON file.
fn flip_signature(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let key = text.find("\"sig\"").unwrap() + 5;
    let colon = key + text[key..].find(':').unwrap();
    let at = colon + text[colon..].find('"').unwrap() + 1;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_tampered_local_state_is_refused_by_name_and_nothing_advances() {
    let signer = Signer::start();
    publish(&signer, 0, 3);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_repo(&signer, &repo);
    // A root rotation (same keys, signed by the root key), so the state keeps a chain.
    let root_1 = parse_root(&root1(&signer));
    let mut r2 = root_1.signed.clone();
    r2.version = std::num::NonZeroU64::new(2).unwrap();
    let root2 = serde_json::to_vec(&sign(r2.clone(), &[&signer.root_key()])).unwrap();
    std::fs::write(repo.join(ROLE).join("2.root.json"), &root2).unwrap();

    let state = tmp.path().join("s");
    let state_arg = state.to_str().unwrap();
    let repo_arg = repo.to_str().unwrap();
    let root = root1_path(&signer);
    let (code, stdout, stderr) = text(&tuf_verify_audit(repo_arg, &root, &["--state", state_arg]));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let v = state_json(&state)["last_good"]["timestamp_version"]
        .as_u64()
        .unwrap();
    assert_eq!(std::fs::read(state.join("2.root.json")).unwrap(), root2);

    // The repository moves on: an honest run would advance.
    let latest = publish(&signer, 50, 2);
    copy_repo(&signer, &repo);
    std::fs::write(repo.join(ROLE).join("2.root.json"), &root2).unwrap();
    let refused = |what: &str, file: &str| {
        let before = std::fs::read(state.join(STATE_FILE)).unwrap();
        let (code, stdout, stderr) =
            text(&tuf_verify_audit(repo_arg, &root, &["--state", state_arg]));
        assert_eq!(code, Some(1), "{what}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "error: audit state: {}",
                state.join(file).display()
            )),
            "{what}: {stderr}"
        );
        assert!(stderr.contains("remove the directory"), "{what}: {stderr}");
        assert_eq!(
            std::fs::read(state.join(STATE_FILE)).unwrap(),
            before,
            "{what}: nothing advanced"
        );
        stderr
    };
    let tamper = |file: &str, f: &dyn Fn(&Path)| {
        let path = state.join(file);
        let original = std::fs::read(&path).unwrap();
        f(&path);
        let stderr = refused(file, file);
        std::fs::write(&path, original).unwrap();
        stderr
    };

    // A byte of the stored tree flipped.
    let tree = format!("{v}.leaves.gz");
    let stderr = tamper(&tree, &|p| {
        let mut b = std::fs::read(p).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0x20;
        std::fs::write(p, b).unwrap();
    });
    assert!(stderr.contains("damaged or tampered with"), "{stderr}");
    // A well-formed tree, but not the signed one (a leaf lowered).
    let stderr = tamper(&tree, &|p| {
        let mut s = leaf_snapshot::decode(&std::fs::read(p).unwrap(), 1 << 30).unwrap();
        s.entries[0].contents = LeafContents::deleted(9).unwrap();
        std::fs::write(p, s.encode().unwrap()).unwrap();
    });
    assert!(stderr.contains("recompute to root"), "{stderr}");
    // The stored timestamp's signature.
    let stderr = tamper(&format!("{v}.timestamp.json"), &|p| flip_signature(p));
    assert!(stderr.contains("not signed"), "{stderr}");
    // Another version's timestamp in its place.
    let other_ts = std::fs::read(repo.join(ROLE).join(paths::timestamp_file(v - 1))).unwrap();
    let stderr = tamper(&format!("{v}.timestamp.json"), &|p| {
        std::fs::write(p, &other_ts).unwrap()
    });
    assert!(stderr.contains(&format!("the state names {v}")), "{stderr}");
    // A stored root replaced by one the chain does not sign.
    let stranger = tuf_keys::FileSigner::generate(
        tmp.path().join("stranger.pem"),
        tuf_keys::KeyAlgorithm::Ed25519,
    )
    .unwrap();
    let forged_root = serde_json::to_vec(&sign(r2, &[&stranger])).unwrap();
    let stderr = tamper("2.root.json", &|p| std::fs::write(p, &forged_root).unwrap());
    assert!(stderr.contains("root threshold"), "{stderr}");
    // The trusted root itself (or a state made with another root).
    let stderr = tamper("1.root.json", &|p| {
        let pretty = serde_json::to_vec_pretty(&parse_root(&std::fs::read(p).unwrap())).unwrap();
        std::fs::write(p, pretty).unwrap();
    });
    assert!(
        stderr.contains("is not the trusted root given to this run"),
        "{stderr}"
    );
    // The state file itself.
    tamper(STATE_FILE, &|p| {
        std::fs::write(p, b"{\"format\":1}").unwrap()
    });
    // A missing tree.
    std::fs::rename(state.join(&tree), tmp.path().join("kept")).unwrap();
    let stderr = refused("missing tree", &tree);
    assert!(stderr.contains("is missing"), "{stderr}");
    std::fs::rename(tmp.path().join("kept"), state.join(&tree)).unwrap();
    assert_eq!(state_json(&state)["last_good"]["timestamp_version"], v);

    // Restored, the state resumes and advances.
    let (code, stdout, stderr) = text(&tuf_verify_audit(repo_arg, &root, &["--state", state_arg]));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("replayed {} records", latest - v)),
        "{stdout}"
    );
    assert_eq!(state_json(&state)["last_good"]["timestamp_version"], latest);
    // A state of another role.
    let files = FileTransport::new(&repo);
    let err = open_state(&state)
        .audit(&files, "releases", &root1(&signer), &Limits::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::AuditState(AuditStateError::OtherRole { .. })
        ),
        "{err}"
    );
}

/// Extends the copied repository under `repo` (`<repo>/<role>`) with a timestamp signed by the
/// role's key over a tree in which `name` went from version 2 back to 1, and an honest-looking
/// record of it; returns the forged version.
fn forge_lowered(repo: &Path, key: &tuf_keys::FileSigner, name: &str, bytes_v1: &[u8]) -> u64 {
    let role = repo.join(ROLE);
    let ts = parse_timestamp(&std::fs::read(role.join("timestamp.json")).unwrap());
    let latest = ts.signed.version.get();
    let mut tree = Tree::new();
    for v in 1..=latest {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(role.join(format!("changes/{v}.json"))).unwrap())
                .unwrap();
        for c in r["changes"].as_array().unwrap() {
            let key = tuf_merkle::hash::parse_hex(c["key"].as_str().unwrap()).unwrap();
            tree.set(key, serde_json::from_value(c["new"].clone()).unwrap());
        }
    }
    let old = tree.get(name).unwrap();
    assert_eq!(old.version(), 2);
    let lowered = LeafContents::for_bytes(1, bytes_v1).unwrap();
    tree.set(key_of(name), lowered);
    let next = latest + 1;
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let forged_ts = forge_timestamp(&ts, key, next, expires, tree.root());
    let mut record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(role.join(format!("changes/{latest}.json"))).unwrap(),
    )
    .unwrap();
    record["timestamp_version"] = next.into();
    record["previous_timestamp_version"] = latest.into();
    record["merkle_root"] = tree.root().to_hex().into();
    record["tree_root"] = tree.root().to_hex().into();
    let file = paths::timestamp_file(next);
    std::fs::write(role.join(&file), &forged_ts).unwrap();
    record["timestamp_file"] = file.into();
    record["timestamp_length"] = forged_ts.len().into();
    record["timestamp_sha256"] = tuf_merkle::hash::sha256(&forged_ts).to_hex().into();
    record["changes"] = serde_json::json!([{
        "name": name, "key": key_of(name).to_hex(),
        "old": serde_json::to_value(old).unwrap(), "new": serde_json::to_value(lowered).unwrap(),
    }]);
    std::fs::write(
        role.join(paths::change_record(next)),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    std::fs::write(role.join("timestamp.json"), &forged_ts).unwrap();
    next
}

#[test]
fn a_breach_is_kept_until_the_state_is_removed() {
    const SERDE: &str = "se/rd/serde";
    let signer = Signer::start();
    signer.publish(ROLE, SERDE, b"serde 1.0.0\n");
    publish(&signer, 0, 2);
    signer.publish(ROLE, SERDE, b"serde 1.0.0\nserde 1.0.1\n");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_repo(&signer, &repo);
    let state = tmp.path().join("s");
    let (state_arg, repo_arg) = (state.to_str().unwrap(), repo.to_str().unwrap());
    let root = root1_path(&signer);
    let run = || text(&tuf_verify_audit(repo_arg, &root, &["--state", state_arg]));
    let (code, stdout, stderr) = run();
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    // The online key's holder lowers serde in a new version.
    let ts_bytes = std::fs::read(repo.join(ROLE).join("timestamp.json")).unwrap();
    let forged = forge_lowered(&repo, &signer.online_key(ROLE), SERDE, b"serde 1.0.0\n");
    let (code, stdout, stderr) = run();
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    let message = format!("timestamp {forged}: {SERDE} went from version 2 down to 1");
    assert!(stdout.contains(&format!("BREACH: {message}")), "{stdout}");
    assert!(stdout.contains("kept in"), "{stdout}");
    let json = state_json(&state);
    assert_eq!(json["breach"]["breach"]["kind"], "version_decreased");
    assert_eq!(json["breach"]["breach"]["timestamp_version"], forged);
    assert_eq!(json["last_good"]["timestamp_version"], forged - 1);

    // Repaired: still a breach, reported again without fetching anything.
    std::fs::remove_file(repo.join(ROLE).join(paths::change_record(forged))).unwrap();
    std::fs::remove_file(repo.join(ROLE).join(paths::timestamp_file(forged))).unwrap();
    std::fs::write(repo.join(ROLE).join("timestamp.json"), ts_bytes).unwrap();
    assert!(
        full_from(&repo, &signer).breach.is_none(),
        "the repository is honest again"
    );
    let (code, stdout, stderr) = run();
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("records a breach"), "{stdout}");
    assert!(
        stdout.contains(&format!("kept in the audit state): {message}")),
        "{stdout}"
    );
    let report = open_state(&state)
        .audit(&Unreachable, ROLE, &root1(&signer), &Limits::default())
        .unwrap();
    assert!(matches!(
        report.started_from,
        StartedFrom::StoredBreach { .. }
    ));
    assert!(matches!(
        report.breach,
        Some(Breach::VersionDecreased { timestamp_version, .. }) if timestamp_version == forged
    ));
    assert_eq!(report.last_good_version, Some(forged - 1));

    // Until the operator removes the state.
    std::fs::remove_dir_all(&state).unwrap();
    let (code, stdout, stderr) = run();
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}

fn full_from(repo: &Path, signer: &Signer) -> AuditReport {
    audit(
        &FileTransport::new(repo),
        ROLE,
        &root1(signer),
        &Limits::default(),
    )
    .unwrap()
}

#[test]
fn a_repository_older_than_the_state_is_a_rollback() {
    let signer = Signer::start();
    let old = publish(&signer, 0, 3);
    let tmp = tempfile::tempdir().unwrap();
    let old_repo = tmp.path().join("old");
    copy_repo(&signer, &old_repo);
    let latest = publish(&signer, 10, 2);
    let http = tuf_client::transport::open(&signer.url());
    let limits = Limits::default();
    let state = tmp.path().join("s");
    let report = open_state(&state)
        .audit(http.as_ref(), ROLE, &root1(&signer), &limits)
        .unwrap();
    assert_eq!(report.breach, None);
    assert_eq!(report.last_good_version, Some(latest));

    let report = open_state(&state)
        .audit(
            &FileTransport::new(&old_repo),
            ROLE,
            &root1(&signer),
            &limits,
        )
        .unwrap();
    assert_eq!(
        report.breach,
        Some(Breach::Rollback {
            checked: latest,
            served: old
        })
    );
    assert_eq!(report.last_good_version, Some(latest));
    assert!(
        report
            .breach
            .as_ref()
            .unwrap()
            .to_string()
            .contains("the repository went back"),
    );
    // Sticky: the signer (honest) does not clear it.
    let report = open_state(&state)
        .audit(http.as_ref(), ROLE, &root1(&signer), &limits)
        .unwrap();
    assert!(matches!(report.breach, Some(Breach::Rollback { .. })));

    // A repository that now serves other bytes for the version the state checked.
    let state = tmp.path().join("s2");
    open_state(&state)
        .audit(http.as_ref(), ROLE, &root1(&signer), &limits)
        .unwrap();
    let repo = tmp.path().join("now");
    copy_repo(&signer, &repo);
    let path = repo.join(ROLE).join(paths::timestamp_file(latest));
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    let report = open_state(&state)
        .audit(&FileTransport::new(&repo), ROLE, &root1(&signer), &limits)
        .unwrap();
    assert!(
        matches!(
            report.breach,
            Some(Breach::BadTimestamp { timestamp_version, ref message })
                if timestamp_version == latest && message.contains("another")
        ),
        "{:?}",
        report.breach
    );
}

/// A signer publishing a leaf snapshot every 5 versions, with `count` versions published;
/// returns it with the newest snapshot's version, once the pointer names it.
fn snapshotting_signer(count: usize) -> (Signer, u64) {
    let signer = Signer::start_configured(
        |_| {},
        TestConfig::signer_defaults()
            .merkle_role("leaf_snapshot_every = 5")
            .batch(1, 1),
    );
    let latest = publish(&signer, 0, count);
    let newest = latest / 5 * 5;
    let pointer = signer.repo(ROLE).join(paths::LEAF_SNAPSHOT_LATEST);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(bytes) = std::fs::read(&pointer)
            && LatestPointer::from_json(&bytes).is_ok_and(|p| p.timestamp_version == newest)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no pointer to {newest}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (signer, newest)
}

#[test]
fn from_a_leaf_snapshot_the_replay_starts_at_the_pointer_and_ends_where_a_full_one_does() {
    let (signer, newest) = snapshotting_signer(12);
    let scratch = full(&signer);
    let latest = scratch.latest_version;
    assert!(newest >= 10 && newest < latest, "{newest} {latest}");
    let limits = Limits::default();
    let http = tuf_client::transport::open(&signer.url());
    let report = audit_with(
        http.as_ref(),
        ROLE,
        &root1(&signer),
        &limits,
        Start::LatestLeafSnapshot,
    )
    .unwrap();
    assert_eq!(report.breach, None, "{report:?}");
    assert_eq!(
        report.started_from,
        StartedFrom::LeafSnapshot { version: newest }
    );
    assert_eq!(report.first_version, Some(newest));
    assert_eq!(report.records, latest - newest);
    assert_eq!(report.last_good_version, Some(latest));
    assert_eq!(report.last_good_root, scratch.last_good_root);
    assert_eq!(report.leaves, scratch.leaves);

    let (code, stdout, stderr) = text(&tuf_verify_audit(
        &signer.url(),
        &root1_path(&signer),
        &["--from-leaf-snapshot"],
    ));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "started at the leaf snapshot of timestamp {newest}, whose leaves recompute its signed merkle_root; \
             the history before timestamp {newest} was not checked by this run"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "every signed root from timestamp {newest} to {latest} recomputed"
        )),
        "{stdout}"
    );
    // Not with a state.
    let out = tuf_verify_audit(
        &signer.url(),
        &root1_path(&signer),
        &["--from-leaf-snapshot", "--state", "/nonexistent/s"],
    );
    // A usage error: 64 (EX_USAGE), never 2, which is "not present".
    assert_eq!(out.status.code(), Some(64));

    // An older snapshot the pointer names (consistently): the replay starts there.
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_repo(&signer, &repo);
    let role = repo.join(ROLE);
    let pointer_path = role.join(paths::LEAF_SNAPSHOT_LATEST);
    let older = newest - 5;
    let older_file = std::fs::read(role.join(paths::leaf_snapshot(older))).unwrap();
    std::fs::write(
        &pointer_path,
        LatestPointer::to(older, &older_file).to_json(),
    )
    .unwrap();
    let files = FileTransport::new(&repo);
    let from = |t: &dyn Transport| {
        audit_with(t, ROLE, &root1(&signer), &limits, Start::LatestLeafSnapshot)
    };
    let report = from(&files).unwrap();
    assert_eq!(
        report.started_from,
        StartedFrom::LeafSnapshot { version: older }
    );
    assert_eq!(report.records, latest - older);
    assert_eq!(report.last_good_root, scratch.last_good_root);
    assert_eq!(report.breach, None);

    // No pointer: from version 1, and said so.
    std::fs::remove_file(&pointer_path).unwrap();
    let report = from(&files).unwrap();
    assert_eq!(report.started_from, StartedFrom::NoLeafSnapshot);
    assert_eq!(report.first_version, Some(1));
    assert_eq!(report.records, latest);
    assert_eq!(report.last_good_root, scratch.last_good_root);
    let (code, stdout, _) = text(&tuf_verify_audit(
        repo.to_str().unwrap(),
        &root1_path(&signer),
        &["--from-leaf-snapshot"],
    ));
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("the repository has no leaf snapshot"),
        "{stdout}"
    );
}

#[test]
fn a_leaf_snapshot_that_does_not_verify_is_an_error_not_a_breach() {
    let (signer, newest) = snapshotting_signer(11);
    let limits = Limits::default();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let role = repo.join(ROLE);
    let snapshot = role.join(paths::leaf_snapshot(newest));
    let pointer_path = role.join(paths::LEAF_SNAPSHOT_LATEST);
    let files = FileTransport::new(&repo);
    let from = || {
        audit_with(
            &files,
            ROLE,
            &root1(&signer),
            &limits,
            Start::LatestLeafSnapshot,
        )
    };
    let fresh = || copy_repo(&signer, &repo);

    // Swapped for another (valid) snapshot: not the file the pointer names.
    fresh();
    std::fs::copy(role.join(paths::leaf_snapshot(newest - 5)), &snapshot).unwrap();
    let err = from().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::LeafSnapshot(LeafSnapshotError::Mismatch { .. })
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("is not the file"), "{message}");
    assert!(message.contains("not a breach"), "{message}");
    let (code, _, stderr) = text(&tuf_verify_audit(
        repo.to_str().unwrap(),
        &root1_path(&signer),
        &["--from-leaf-snapshot"],
    ));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("error: leaf snapshot: ") && stderr.contains("is not the file"),
        "{stderr}"
    );

    // One byte corrupted.
    fresh();
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&snapshot, &bytes).unwrap();
    assert!(matches!(
        from().unwrap_err(),
        ClientError::LeafSnapshot(LeafSnapshotError::Mismatch { .. })
    ));

    // A forged snapshot the pointer names (pointers are unsigned): its leaves do not
    // recompute the signed root.
    fresh();
    let mut forged = leaf_snapshot::decode(&std::fs::read(&snapshot).unwrap(), 1 << 30).unwrap();
    forged.entries[0].contents = LeafContents::deleted(7).unwrap();
    let forged = forged.encode().unwrap();
    std::fs::write(&snapshot, &forged).unwrap();
    std::fs::write(&pointer_path, LatestPointer::to(newest, &forged).to_json()).unwrap();
    let err = from().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::LeafSnapshot(LeafSnapshotError::Verify {
                source: leaf_snapshot::VerifyError::RootMismatch { .. },
                ..
            })
        ),
        "{err}"
    );
    // The right leaves under another version's header.
    fresh();
    let mut other: LeafSnapshot =
        leaf_snapshot::decode(&std::fs::read(&snapshot).unwrap(), 1 << 30).unwrap();
    other.timestamp_version = newest - 1;
    let other = other.encode().unwrap();
    std::fs::write(&snapshot, &other).unwrap();
    std::fs::write(&pointer_path, LatestPointer::to(newest, &other).to_json()).unwrap();
    assert!(matches!(
        from().unwrap_err(),
        ClientError::LeafSnapshot(LeafSnapshotError::Verify {
            source: leaf_snapshot::VerifyError::WrongVersion { .. },
            ..
        })
    ));

    // The snapshot's timestamp with a bad signature.
    fresh();
    flip_signature(&role.join(paths::timestamp_file(newest)));
    assert!(matches!(
        from().unwrap_err(),
        ClientError::LeafSnapshot(LeafSnapshotError::Timestamp { .. })
    ));

    // A pointer that is not one, and one ahead of timestamp.json.
    fresh();
    std::fs::write(&pointer_path, b"{\"timestamp_version\":0}").unwrap();
    assert!(matches!(
        from().unwrap_err(),
        ClientError::LeafSnapshot(LeafSnapshotError::Pointer { .. })
    ));
    let file = std::fs::read(&snapshot).unwrap();
    std::fs::write(&pointer_path, LatestPointer::to(999, &file).to_json()).unwrap();
    assert!(matches!(
        from().unwrap_err(),
        ClientError::LeafSnapshot(LeafSnapshotError::AheadOfLatest { version: 999, .. })
    ));
    // The named file missing.
    fresh();
    std::fs::remove_file(&snapshot).unwrap();
    assert!(matches!(
        from().unwrap_err(),
        ClientError::LeafSnapshot(LeafSnapshotError::Missing { .. })
    ));
}
