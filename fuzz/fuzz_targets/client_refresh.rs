//! Structure-aware: the whole client (`Client::refresh`, `verify`, `verify_many`) against a
//! repository the input describes, served from memory.
//!
//! The target holds the keys (Ed25519, from fixed seeds), so the input can describe *validly
//! signed* metadata and get past the signature checks: a chain of new roots (keys, thresholds,
//! who signs, versions, expiry), and per refresh a timestamp (version, snapshot version,
//! `merkle_root` of one of a few small trees or a malformed one, signers, expiry), for classic
//! roles a snapshot and targets (versions, lengths, hashes, signers), and answers to proof
//! requests (the right tree's proof, another tree's, another version, 404, 410, a multi-proof).
//! On top, bit flips in any file or answer and raw replacement bytes.
//!
//! Checked, besides never panicking and never allocating out of proportion: whatever the client
//! accepts is true.
//! - A refresh that succeeds trusts a root whose meaning is one this input signed, the last
//!   one served, reached through roots each signed by the threshold of the one before and of
//!   itself, not expired; and a timestamp whose meaning is one this input signed, with the
//!   threshold of that root's timestamp keys, not expired, not older than the one trusted before
//!   (unless the root rotated the timestamp keys), with the same `merkle_root` at the same
//!   version, and (merkle) with a `merkle_root` that is one of the trees'.
//! - A verification that succeeds reports what the tree whose root the client trusts holds for
//!   the name (present with those contents, deleted, or absent), or for classic roles, what the
//!   targets.json the client trusts lists; and a name's version never goes down.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tough::schema::{Root, Signed, Timestamp};
use tuf_client::transport::{Fetched, Transport};
use tuf_client::{Client, ClientError, Mode, Status};
use tuf_merkle::{Digest, LeafContents, Tree, key_of};

const ROLE: &str = "crates.io";
const NAMES: [&str; 6] = [
    "se/rd/serde",
    "3/s/syn",
    "1/a",
    "to/ki/tokio",
    "config.json",
    "ab/se/absent",
];
/// Seeds of the keys: root keys 0 and 1, online keys 2 and 3.
const KEYS: usize = 4;
/// The client's clock; "expired" metadata expires a year before, the rest a year after.
const NOW: i64 = 1_900_000_000;

// ---------------------------------------------------------------------------------------------
// The input. Each file is valid (right version, signed by the right keys, not expired) unless
// its `bad` says how it is not, so that valid metadata is the common case and the fuzzer gets
// deep into the client quickly.

#[derive(Debug, Arbitrary)]
struct Input {
    classic: bool,
    /// Up to three small trees over `NAMES`: (name, contents: present version/byte or deleted).
    trees: Vec<Vec<(u8, Option<(u8, u8)>)>>,
    /// Roots 2, 3, 4.
    roots: Vec<RootSpec>,
    /// Up to three rounds: publish, refresh, verify.
    rounds: Vec<Round>,
}

#[derive(Debug, Arbitrary)]
struct RootSpec {
    /// Bits 0 and 1: which of the two root keys are root keys (neither: key 0).
    root_keys: u8,
    /// 1 or 2 (odd or even).
    root_threshold: u8,
    /// The online key (2 or 3, or both), or a root key.
    online: u8,
    online_threshold: u8,
    bad: Option<RootBad>,
}

#[derive(Debug, Arbitrary)]
enum RootBad {
    /// Signed by these keys (bit i: key i) instead of every root key of both roots.
    Signers(u8),
    /// Version one above what it should be.
    Version,
    Expired,
    Flip(Flip),
}

#[derive(Debug, Arbitrary)]
struct Flip {
    at: u16,
    bit: u8,
}

#[derive(Debug, Arbitrary)]
struct Round {
    /// How many of the new roots are published.
    roots_published: u8,
    timestamp: TimestampSpec,
    classic: ClassicSpec,
    /// Raw bytes served instead of a file: 0 timestamp, 1 snapshot, 2 targets, 3 the next root.
    raw: Option<(u8, Vec<u8>)>,
    /// How the answers to proof requests are wrong, in order (then honest ones).
    answers: Vec<Option<AnswerBad>>,
    /// Verifications after the refresh.
    verify: Vec<Verify>,
}

#[derive(Debug, Arbitrary)]
struct TimestampSpec {
    /// 1 to 8.
    version: u8,
    /// 1 to 4.
    snapshot_version: u8,
    /// The tree whose root it signs.
    tree: u8,
    bad: Option<TimestampBad>,
}

#[derive(Debug, Arbitrary)]
enum TimestampBad {
    Signers(u8),
    Expired,
    NoMerkleRoot,
    MerkleRootNumber,
    MerkleRootUpper,
    MerkleRootShort,
    NoSnapshotEntry,
    /// The snapshot's length or hash listed wrong (true: length).
    SnapshotMeta(bool),
    Flip(Flip),
}

#[derive(Debug, Arbitrary)]
struct ClassicSpec {
    /// 1 to 4.
    targets_version: u8,
    /// The tree whose present leaves targets.json lists.
    tree: u8,
    /// Whether the timestamp lists the snapshot's length and hash, and the snapshot the
    /// targets' (both right).
    lengths_and_hashes: bool,
    bad: Option<ClassicBad>,
}

#[derive(Debug, Arbitrary)]
enum ClassicBad {
    SnapshotVersion,
    SnapshotSigners(u8),
    SnapshotExpired,
    TargetsVersion,
    TargetsSigners(u8),
    TargetsExpired,
    /// The targets' length or hash listed wrong in the snapshot (true: length).
    TargetsMeta(bool),
    SnapshotFlip(Flip),
    TargetsFlip(Flip),
}

#[derive(Debug, Arbitrary)]
enum AnswerBad {
    /// The proof from this tree instead of the one the version signs.
    OtherTree(u8),
    /// Claims this tree's root.
    ClaimedRoot(u8),
    /// Claims another timestamp version (and proves from its tree, if it has one).
    OtherVersion(i8),
    NotFound,
    Gone,
    Raw(Vec<u8>),
    Flip(Flip),
}

#[derive(Debug, Arbitrary)]
enum Verify {
    One { name: u8, file: Option<u8> },
    Many { names: u8 },
}

// ---------------------------------------------------------------------------------------------
// Keys and signing

struct Keys {
    pairs: Vec<Ed25519KeyPair>,
    /// TUF key objects and IDs.
    json: Vec<Value>,
    ids: Vec<String>,
}

fn keys() -> &'static Keys {
    static KEYS_CELL: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS_CELL.get_or_init(|| {
        let mut pairs = Vec::new();
        let mut json_keys = Vec::new();
        let mut ids = Vec::new();
        for i in 0..KEYS {
            let seed = [i as u8 + 1; 32];
            let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("key from seed");
            let key = json!({
                "keytype": "ed25519",
                "keyval": {"public": hex::encode(pair.public_key().as_ref())},
                "scheme": "ed25519",
            });
            let tough_key: tough::schema::key::Key =
                serde_json::from_value(key.clone()).expect("a tough key");
            ids.push(hex::encode(
                tough_key.key_id().expect("key id").as_ref() as &[u8]
            ));
            json_keys.push(key);
            pairs.push(pair);
        }
        Keys {
            pairs,
            json: json_keys,
            ids,
        }
    })
}

/// The canonical JSON TUF signs. For the values built here (sorted maps, as `serde_json`
/// keeps them without `preserve_order`; integers; ASCII strings without control characters)
/// that is exactly compact JSON, which is much cheaper to write than through `olpc_cjson`'s
/// formatter (it normalises every string to NFC, character by character). The client checks
/// every signature through tough's own canonical form, so a difference would only make
/// signatures fail, never pass.
fn canonical(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON")
}

/// `{"signed": signed, "signatures": …}` signed by the keys whose bits are set in `signers`.
fn sign(signed: Value, signers: u8) -> Vec<u8> {
    let k = keys();
    let bytes = canonical(&signed);
    let signatures: Vec<Value> = (0..KEYS)
        .filter(|i| signers & (1 << i) != 0)
        .map(|i| {
            json!({
                "keyid": k.ids[i],
                "sig": hex::encode(k.pairs[i].sign(&bytes).as_ref()),
            })
        })
        .collect();
    serde_json::to_vec_pretty(&json!({"signed": signed, "signatures": signatures})).expect("JSON")
}

fn expires(expired: bool) -> String {
    let t = if expired {
        NOW - 31_536_000
    } else {
        NOW + 31_536_000
    };
    jiff::Timestamp::from_second(t)
        .expect("time")
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn flip(bytes: &mut [u8], f: &Flip) {
    if !bytes.is_empty() {
        let i = usize::from(f.at) % bytes.len();
        bytes[i] ^= 1 << (f.bit % 8);
    }
}

/// What a trusted root says (version, expiry, keys, and each role's keys and threshold), as
/// the verifier core holds it.
fn root_meaning(root: &tuf_verify_core::TrustedRoot) -> Value {
    let r = root.root();
    let roles: serde_json::Map<String, Value> = tuf_verify_core::RoleType::ALL
        .iter()
        .map(|role| {
            let keys = r.role(*role);
            let ids: Vec<String> = keys.key_ids().iter().map(ToString::to_string).collect();
            (
                role.name().to_owned(),
                json!({"keyids": ids, "threshold": keys.threshold()}),
            )
        })
        .collect();
    let keys: Vec<String> = r.keys().keys().map(ToString::to_string).collect();
    json!({"version": r.version(), "expires": r.expires().as_str(), "keys": keys, "roles": roles})
}

/// The same of a root's `signed` as it was signed.
fn signed_root_meaning(signed: &Value) -> Value {
    let keys: Vec<String> = signed["keys"]
        .as_object()
        .map(|k| k.keys().cloned().collect())
        .unwrap_or_default();
    let roles: serde_json::Map<String, Value> = ["root", "timestamp", "snapshot", "targets"]
        .iter()
        .map(|role| {
            let r = &signed["roles"][*role];
            (
                (*role).to_owned(),
                json!({"keyids": r["keyids"], "threshold": r["threshold"]}),
            )
        })
        .collect();
    json!({"version": signed["version"], "expires": signed["expires"], "keys": keys,
           "roles": roles})
}

/// The meaning of a metadata file: its `signed` part as tough reads it, in canonical JSON.
fn meaning<T: serde::de::DeserializeOwned + serde::Serialize>(bytes: &[u8]) -> Option<Vec<u8>> {
    let s: Signed<T> = serde_json::from_slice(bytes).ok()?;
    let v = serde_json::to_value(&s.signed).ok()?;
    serde_json::to_vec(&v).ok()
}

// ---------------------------------------------------------------------------------------------
// The repository

#[derive(Clone, Copy)]
struct RoleKeys {
    /// Bit i: key i.
    keys: u8,
    threshold: usize,
}

struct RootModel {
    root: RoleKeys,
    /// Timestamp, snapshot and targets.
    online: RoleKeys,
}

fn root_model(spec: Option<&RootSpec>) -> RootModel {
    match spec {
        // Root 1: key 0 signs roots, key 2 everything else.
        None => RootModel {
            root: RoleKeys {
                keys: 1,
                threshold: 1,
            },
            online: RoleKeys {
                keys: 4,
                threshold: 1,
            },
        },
        Some(s) => RootModel {
            root: RoleKeys {
                keys: match s.root_keys & 3 {
                    0 => 1,
                    k => k,
                },
                threshold: usize::from(s.root_threshold % 2) + 1,
            },
            online: RoleKeys {
                keys: match s.online % 4 {
                    0 => 4,
                    1 => 8,
                    2 => 12,
                    _ => 1,
                },
                threshold: usize::from(s.online_threshold % 2) + 1,
            },
        },
    }
}

fn root_json(version: i64, model: &RootModel, expired: bool) -> Value {
    let k = keys();
    let ids = |bits: u8| -> Vec<&str> {
        (0..KEYS)
            .filter(|i| bits & (1 << i) != 0)
            .map(|i| k.ids[i].as_str())
            .collect()
    };
    let all = model.root.keys | model.online.keys;
    let key_map: serde_json::Map<String, Value> = (0..KEYS)
        .filter(|i| all & (1 << i) != 0)
        .map(|i| (k.ids[i].clone(), k.json[i].clone()))
        .collect();
    let role = |r: RoleKeys| json!({"keyids": ids(r.keys), "threshold": r.threshold});
    json!({
        "_type": "root",
        "spec_version": "1.0.0",
        "consistent_snapshot": true,
        "version": version,
        "expires": expires(expired),
        "keys": key_map,
        "roles": {
            "root": role(model.root),
            "timestamp": role(model.online),
            "snapshot": role(model.online),
            "targets": role(model.online),
        },
    })
}

/// Whether the keys in `signers` meet the role's threshold.
fn signed_by(signers: u8, role: RoleKeys) -> bool {
    (signers & role.keys).count_ones() as usize >= role.threshold
}

struct Repo {
    trees: Vec<Tree>,
    /// Roots 2, 3, … as served, and what they mean (`None`: not a root at all).
    roots: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Whether root i+2 is a valid next root after root i+1: its meaning is what was signed,
    /// with the right version, signed by the threshold of both.
    roots_valid: Vec<bool>,
    /// The key model of root i+1.
    models: Vec<RootModel>,
    root_expired: Vec<bool>,
}

fn contents(c: Option<(u8, u8)>) -> LeafContents {
    match c {
        // One byte long, so that a file the input gives can match.
        Some((v, b)) => LeafContents::Present {
            version: u64::from(v) + 1,
            length: 1,
            sha256: tuf_merkle::hash::sha256(&[b]),
        },
        None => LeafContents::Deleted { version: 1 },
    }
}

fn build_repo(input: &Input) -> Repo {
    let mut trees: Vec<Tree> = input
        .trees
        .iter()
        .take(3)
        .map(|leaves| {
            let mut t = Tree::new();
            for (name, c) in leaves.iter().take(8) {
                t.set(
                    key_of(NAMES[usize::from(*name) % NAMES.len()]),
                    contents(*c),
                );
            }
            t
        })
        .collect();
    if trees.is_empty() {
        trees.push(Tree::new());
    }
    let mut roots = Vec::new();
    let mut roots_valid = Vec::new();
    let mut models = vec![root_model(None)];
    let mut root_expired = vec![false];
    for (i, spec) in input.roots.iter().take(3).enumerate() {
        let model = root_model(Some(spec));
        let bad = spec.bad.as_ref();
        let version = i as i64 + 2 + i64::from(matches!(bad, Some(RootBad::Version)));
        let expired = matches!(bad, Some(RootBad::Expired));
        let signed = root_json(version, &model, expired);
        let signers = match bad {
            Some(RootBad::Signers(s)) => *s,
            _ => models[i].root.keys | model.root.keys,
        };
        let mut bytes = sign(signed.clone(), signers);
        if let Some(RootBad::Flip(f)) = bad {
            flip(&mut bytes, f);
        }
        let meaning = meaning::<Root>(&bytes);
        let valid = meaning.as_deref() == Some(canonical(&signed).as_slice())
            && !matches!(bad, Some(RootBad::Version))
            && signed_by(signers, models[i].root)
            && signed_by(signers, model.root);
        roots.push((bytes, meaning));
        roots_valid.push(valid);
        models.push(model);
        root_expired.push(expired);
    }
    Repo {
        trees,
        roots,
        roots_valid,
        models,
        root_expired,
    }
}

// ---------------------------------------------------------------------------------------------
// The server

#[derive(Default)]
struct Served {
    files: HashMap<String, Vec<u8>>,
    /// How the proof answers are wrong, in order; honest after these.
    answers: Vec<Option<AnswerBad>>,
    next_answer: usize,
    trees: Vec<Tree>,
    /// The tree of each timestamp version signed so far.
    versions: BTreeMap<u64, usize>,
}

struct Server(Mutex<Served>);

fn limit(what: &str, body: Vec<u8>, limit: u64) -> Result<Fetched, ClientError> {
    if body.len() as u64 > limit {
        return Err(ClientError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(Fetched::Found(body))
}

fn answer_json(version: u64, claimed: Digest, proof: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "role": ROLE,
        "timestamp_version": version,
        "merkle_root": claimed.to_hex(),
        "proof": serde_json::from_slice::<Value>(proof).expect("JSON"),
    }))
    .expect("JSON")
}

impl Served {
    /// The answer to `api/v1/ROLE/proof/NAME?version=V`.
    fn proof(&mut self, path: &str) -> Result<Fetched, ClientError> {
        let Some(rest) = path.strip_prefix(&format!("api/v1/{ROLE}/proof/")) else {
            return Ok(Fetched::NotFound);
        };
        let (name, version) = match rest.split_once("?version=") {
            Some((n, v)) => (n, v.parse::<u64>().unwrap_or(0)),
            None => (rest, 0),
        };
        let bad = self.answers.get(self.next_answer).and_then(Option::as_ref);
        self.next_answer += 1;
        let Some(&right) = self.versions.get(&version) else {
            return Err(ClientError::Status {
                what: path.to_owned(),
                status: 410,
            });
        };
        let n = self.trees.len();
        let (mut tree, mut claimed, mut claimed_version) = (right, right, version);
        match bad {
            None | Some(AnswerBad::Raw(_)) | Some(AnswerBad::Flip(_)) => {}
            Some(AnswerBad::OtherTree(t)) => tree = usize::from(*t) % n,
            Some(AnswerBad::ClaimedRoot(t)) => claimed = usize::from(*t) % n,
            Some(AnswerBad::OtherVersion(off)) => {
                claimed_version = version.saturating_add_signed(i64::from(*off));
                if let Some(&t) = self.versions.get(&claimed_version) {
                    tree = t;
                    claimed = t;
                }
            }
            Some(AnswerBad::NotFound) => return Ok(Fetched::NotFound),
            Some(AnswerBad::Gone) => {
                return Err(ClientError::Status {
                    what: path.to_owned(),
                    status: 410,
                });
            }
        }
        let proof = self.trees[tree].prove(name).to_json();
        let mut body = answer_json(claimed_version, self.trees[claimed].root(), &proof);
        match bad {
            Some(AnswerBad::Raw(raw)) => body = raw.clone(),
            Some(AnswerBad::Flip(f)) => flip(&mut body, f),
            _ => {}
        }
        Ok(Fetched::Found(body))
    }
}

impl Transport for Server {
    fn get(&self, path: &str, lim: u64) -> Result<Fetched, ClientError> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = s.files.get(path) {
            return limit(path, b.clone(), lim);
        }
        match s.proof(path)? {
            Fetched::Found(b) => limit(path, b, lim),
            other => Ok(other),
        }
    }

    fn post_json(&self, path: &str, body: &[u8], lim: u64) -> Result<Fetched, ClientError> {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let request: Value = serde_json::from_slice(body).expect("the client's own request");
        let names: Vec<String> = request["names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let version = request["version"].as_u64().unwrap_or(0);
        // Multi-proofs are honest: the tree of the version asked for (the single-proof answers
        // are where the input lies; the client fetches a multi-proof to tell which lie it was).
        let Some(&tree) = s.versions.get(&version) else {
            return Err(ClientError::Status {
                what: path.to_owned(),
                status: 410,
            });
        };
        let Ok(proof) = s.trees[tree].prove_many(&names) else {
            return Ok(Fetched::NotFound);
        };
        let body = answer_json(version, s.trees[tree].root(), &proof.to_json());
        limit(path, body, lim)
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

/// The client's transport: the server, shared with the run, which changes what it serves.
struct Shared(std::sync::Arc<Server>);

impl Transport for Shared {
    fn get(&self, p: &str, l: u64) -> Result<Fetched, ClientError> {
        self.0.get(p, l)
    }
    fn post_json(&self, p: &str, b: &[u8], l: u64) -> Result<Fetched, ClientError> {
        self.0.post_json(p, b, l)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

// ---------------------------------------------------------------------------------------------
// One round's files

/// The files of one round and the facts the checks need.
struct Published {
    files: HashMap<String, Vec<u8>>,
    timestamp_version: u64,
    /// What the signed timestamp means, its signers and whether it expired.
    timestamp_meaning: Vec<u8>,
    timestamp_signers: u8,
    timestamp_expired: bool,
    /// What the signed `merkle_root` is, if it is a hash at all.
    merkle_root: Option<Digest>,
    /// The tree targets.json lists, if the served targets.json means what was signed.
    targets_tree: Option<usize>,
}

/// `{"version": V}` with the length and hash of `bytes` when `listed`, one of them wrong when
/// `wrong` says so (true: the length).
fn meta(bytes: &[u8], version: u64, listed: bool, wrong: Option<bool>) -> Value {
    let mut m = json!({"version": version});
    if listed || wrong.is_some() {
        let mut h = tuf_merkle::hash::sha256(bytes);
        let mut len = bytes.len() as u64;
        match wrong {
            Some(true) => len += 1,
            Some(false) => h.0[0] ^= 1,
            None => {}
        }
        m["length"] = json!(len);
        m["hashes"] = json!({"sha256": h.to_hex()});
    }
    m
}

fn publish(repo: &Repo, round: &Round, published: usize) -> Published {
    let mut files = HashMap::new();
    for (i, (bytes, _)) in repo.roots.iter().take(published).enumerate() {
        files.insert(format!("{ROLE}/{}.root.json", i + 2), bytes.clone());
    }
    let n = repo.trees.len();
    let ts = &round.timestamp;
    let ts_bad = ts.bad.as_ref();
    let ts_version = u64::from(ts.version % 8) + 1;
    let snapshot_version = u64::from(ts.snapshot_version % 4) + 1;

    // Classic: targets, then the snapshot that lists it, then the timestamp.
    let c = &round.classic;
    let c_bad = c.bad.as_ref();
    let targets_tree = usize::from(c.tree) % n;
    let targets_version = u64::from(c.targets_version % 4) + 1;
    let mut listed = serde_json::Map::new();
    repo.trees[targets_tree].for_each_leaf(|key, contents| {
        if let LeafContents::Present { length, sha256, .. } = contents
            && let Some(name) = NAMES.iter().find(|n| key_of(n) == *key)
        {
            listed.insert(
                (*name).to_owned(),
                json!({"length": length, "hashes": {"sha256": sha256.to_hex()}}),
            );
        }
    });
    let targets_signed = json!({
        "_type": "targets",
        "spec_version": "1.0.0",
        "version": targets_version + u64::from(matches!(c_bad, Some(ClassicBad::TargetsVersion))),
        "expires": expires(matches!(c_bad, Some(ClassicBad::TargetsExpired))),
        "targets": listed,
    });
    let signers = |bad: Option<u8>| bad.unwrap_or(0b1111);
    let mut targets = sign(
        targets_signed.clone(),
        signers(match c_bad {
            Some(ClassicBad::TargetsSigners(s)) => Some(*s),
            _ => None,
        }),
    );
    if let Some(ClassicBad::TargetsFlip(f)) = c_bad {
        flip(&mut targets, f);
    }
    let targets_meta = meta(
        &targets,
        targets_version,
        c.lengths_and_hashes,
        match c_bad {
            Some(ClassicBad::TargetsMeta(w)) => Some(*w),
            _ => None,
        },
    );
    let snapshot_signed = json!({
        "_type": "snapshot",
        "spec_version": "1.0.0",
        "version": snapshot_version
            + u64::from(matches!(c_bad, Some(ClassicBad::SnapshotVersion))),
        "expires": expires(matches!(c_bad, Some(ClassicBad::SnapshotExpired))),
        "meta": {"targets.json": targets_meta},
    });
    let mut snapshot = sign(
        snapshot_signed,
        signers(match c_bad {
            Some(ClassicBad::SnapshotSigners(s)) => Some(*s),
            _ => None,
        }),
    );
    if let Some(ClassicBad::SnapshotFlip(f)) = c_bad {
        flip(&mut snapshot, f);
    }

    let mut ts_signed = json!({
        "_type": "timestamp",
        "spec_version": "1.0.0",
        "version": ts_version,
        "expires": expires(matches!(ts_bad, Some(TimestampBad::Expired))),
        "meta": {},
    });
    if !matches!(ts_bad, Some(TimestampBad::NoSnapshotEntry)) {
        ts_signed["meta"]["snapshot.json"] = meta(
            &snapshot,
            snapshot_version,
            c.lengths_and_hashes,
            match ts_bad {
                Some(TimestampBad::SnapshotMeta(w)) => Some(*w),
                _ => None,
            },
        );
    }
    let root_hex = repo.trees[usize::from(ts.tree) % n].root().to_hex();
    match ts_bad {
        Some(TimestampBad::NoMerkleRoot) => {}
        Some(TimestampBad::MerkleRootNumber) => ts_signed["merkle_root"] = json!(7),
        Some(TimestampBad::MerkleRootUpper) => {
            ts_signed["merkle_root"] = json!(root_hex.to_uppercase())
        }
        Some(TimestampBad::MerkleRootShort) => ts_signed["merkle_root"] = json!(root_hex[..62]),
        _ => ts_signed["merkle_root"] = json!(root_hex),
    }
    let ts_signers = match ts_bad {
        Some(TimestampBad::Signers(s)) => *s,
        _ => 0b1111,
    };
    let mut timestamp = sign(ts_signed.clone(), ts_signers);
    if let Some(TimestampBad::Flip(f)) = ts_bad {
        flip(&mut timestamp, f);
    }

    files.insert(format!("{ROLE}/timestamp.json"), timestamp);
    files.insert(format!("{ROLE}/{snapshot_version}.snapshot.json"), snapshot);
    files.insert(format!("{ROLE}/{targets_version}.targets.json"), targets);
    if let Some((which, raw)) = &round.raw {
        let path = match which % 4 {
            0 => format!("{ROLE}/timestamp.json"),
            1 => format!("{ROLE}/{snapshot_version}.snapshot.json"),
            2 => format!("{ROLE}/{targets_version}.targets.json"),
            _ => format!("{ROLE}/{}.root.json", published + 2),
        };
        files.insert(path, raw.clone());
    }
    let served_targets = &files[&format!("{ROLE}/{targets_version}.targets.json")];
    let targets_tree = (meaning::<tough::schema::Targets>(served_targets).as_deref()
        == Some(canonical(&targets_signed).as_slice()))
    .then_some(targets_tree);
    Published {
        timestamp_version: ts_version,
        timestamp_meaning: canonical(&ts_signed),
        timestamp_signers: ts_signers,
        timestamp_expired: matches!(ts_bad, Some(TimestampBad::Expired)),
        merkle_root: ts_signed
            .get("merkle_root")
            .and_then(Value::as_str)
            .and_then(|h| tuf_merkle::hash::parse_hex(h).ok()),
        targets_tree,
        files,
    }
}

// ---------------------------------------------------------------------------------------------
// The run

fn scratch() -> &'static PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tuf_fuzz::scratch_dir("client_refresh"))
}

/// A client with a fresh state trusting root 1: `init` once per mode, then copies of its
/// files (parsing and checking root 1 once more for every input would double a run's cost).
fn fresh_client(classic: bool, server: &std::sync::Arc<Server>) -> Client {
    static FIRST_ROOT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let first_root = FIRST_ROOT.get_or_init(|| sign(root_json(1, &root_model(None), false), 1));
    let mode = if classic { Mode::Classic } else { Mode::Merkle };
    let template = scratch().join(if classic { "classic" } else { "merkle" });
    if !template.join("state.json").exists() {
        std::fs::create_dir_all(&template).expect("template dir");
        Client::init(&template, ROLE, mode, first_root).expect("init with a valid root");
    }
    let dir = scratch().join("state");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("state dir");
    for file in ["root.json", "state.json"] {
        std::fs::copy(template.join(file), dir.join(file)).expect("copy the initial state");
    }
    Client::open(&dir, Box::new(Shared(server.clone())))
        .expect("open")
        .with_time(jiff::Timestamp::from_second(NOW).expect("time"))
}

/// What the client has been seen to trust, across rounds.
#[derive(Default)]
struct Trusted {
    /// The timestamp version and `merkle_root` after the last successful refresh; forgotten
    /// when a new root rotates the timestamp keys, as TUF 5.3.11 has the client do.
    timestamp: Option<(u64, Option<Digest>)>,
    /// Classic: the tree whose leaves the trusted targets.json lists.
    targets_tree: Option<usize>,
    /// The version each name was last verified at (0: absent).
    versions: BTreeMap<String, u64>,
}

fn run(input: &Input) {
    let repo = build_repo(input);
    let server = std::sync::Arc::new(Server(Mutex::new(Served::default())));
    let mut client = fresh_client(input.classic, &server);
    let mut trusted = Trusted::default();
    let mut versions: BTreeMap<u64, usize> = BTreeMap::new();

    for round in input.rounds.iter().take(3) {
        let published = usize::from(round.roots_published).min(repo.roots.len());
        let p = publish(&repo, round, published);
        if let Some(t) = p
            .merkle_root
            .and_then(|r| repo.trees.iter().position(|t| t.root() == r))
        {
            versions.insert(p.timestamp_version, t);
        }
        {
            let mut s = server.0.lock().unwrap_or_else(|e| e.into_inner());
            *s = Served {
                files: p.files.clone(),
                answers: Vec::new(),
                next_answer: 0,
                trees: repo.trees.clone(),
                versions: versions.clone(),
            };
        }
        // `answers` holds references into the input; the server owns copies of the lies.
        {
            let mut s = server.0.lock().unwrap_or_else(|e| e.into_inner());
            s.answers = round
                .answers
                .iter()
                .take(8)
                .map(|a| a.as_ref().map(clone_bad))
                .collect();
        }
        check_refresh(&repo, &mut client, &p, published, &mut trusted);
        // Without verifications in the input, one name and then all of them.
        let default = [
            Verify::One {
                name: round.timestamp.version,
                file: None,
            },
            Verify::Many { names: 0x3f },
        ];
        let verify = if round.verify.is_empty() {
            &default[..]
        } else {
            &round.verify[..round.verify.len().min(4)]
        };
        for v in verify {
            check_verify(&repo, &mut client, v, &mut trusted);
        }
    }
}

fn clone_bad(b: &AnswerBad) -> AnswerBad {
    match b {
        AnswerBad::OtherTree(t) => AnswerBad::OtherTree(*t),
        AnswerBad::ClaimedRoot(t) => AnswerBad::ClaimedRoot(*t),
        AnswerBad::OtherVersion(o) => AnswerBad::OtherVersion(*o),
        AnswerBad::NotFound => AnswerBad::NotFound,
        AnswerBad::Gone => AnswerBad::Gone,
        AnswerBad::Raw(r) => AnswerBad::Raw(r.clone()),
        AnswerBad::Flip(f) => AnswerBad::Flip(Flip {
            at: f.at,
            bit: f.bit,
        }),
    }
}

fn check_refresh(
    repo: &Repo,
    client: &mut Client,
    p: &Published,
    published: usize,
    trusted: &mut Trusted,
) {
    // The last root a refresh can reach (index 0 is root 1): from the trusted one, through the
    // valid roots published after it.
    let start = client.root().version() as usize - 1;
    let mut reachable = start;
    while reachable < published && repo.roots_valid[reachable] {
        reachable += 1;
    }
    let refreshed = client.refresh();

    // Whatever happened, the root the client trusts was reached legitimately.
    let end = client.root().version() as usize - 1;
    assert!(
        (start..=reachable).contains(&end),
        "trusts root {}, only {}..={} reachable",
        end + 1,
        start + 1,
        reachable + 1
    );
    if end > 0 {
        let signed: Option<Value> = repo.roots[end - 1]
            .1
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok());
        assert_eq!(
            Some(root_meaning(client.root())),
            signed.as_ref().map(signed_root_meaning),
            "the trusted root means something else than what was signed"
        );
    }
    if (start..end).any(|i| repo.models[i].online.keys != repo.models[i + 1].online.keys) {
        trusted.timestamp = None;
    }
    let Ok(r) = refreshed else {
        return;
    };
    assert_eq!(
        end, reachable,
        "a refresh succeeded short of the last valid root"
    );
    assert!(!repo.root_expired[end], "an expired root is trusted");
    // The timestamp is the one signed here, by the trusted timestamp keys.
    let served = &p.files[&format!("{ROLE}/timestamp.json")];
    assert_eq!(
        meaning::<Timestamp>(served).as_deref(),
        Some(p.timestamp_meaning.as_slice()),
        "a timestamp other than the signed one is trusted"
    );
    assert!(
        signed_by(p.timestamp_signers, repo.models[end].online),
        "a timestamp below the threshold is trusted"
    );
    assert!(!p.timestamp_expired, "an expired timestamp is trusted");
    assert_eq!(r.timestamp_version, p.timestamp_version);
    assert_eq!(r.root_version as usize, end + 1);
    if let Some((v, root)) = trusted.timestamp {
        assert!(r.timestamp_version >= v, "timestamp rollback accepted");
        if r.timestamp_version == v {
            assert_eq!(
                r.merkle_root, root,
                "two timestamps with one version accepted"
            );
        }
    }
    if client.state().mode == Mode::Merkle {
        assert!(
            r.merkle_root.is_some(),
            "a merkle timestamp without merkle_root"
        );
        assert_eq!(r.merkle_root, p.merkle_root, "a malformed merkle_root");
        assert_eq!(r.proof_version, r.timestamp_version);
    } else {
        trusted.targets_tree = Some(
            p.targets_tree
                .expect("a classic refresh trusted a targets.json that was not signed"),
        );
    }
    trusted.timestamp = Some((r.timestamp_version, r.merkle_root));
}

fn check_verify(repo: &Repo, client: &mut Client, v: &Verify, trusted: &mut Trusted) {
    match v {
        Verify::One { name, file } => {
            let name = NAMES[usize::from(*name) % NAMES.len()];
            let file = file.map(|b| vec![b]);
            if let Ok(verified) = client.verify(name, file.as_deref()) {
                assert_eq!(verified.name, name);
                check_verified(repo, client, &verified, trusted, file.as_deref());
            }
        }
        Verify::Many { names } => {
            // Sorted, as `verify_many` answers.
            let mut list: Vec<String> = NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| names & (1 << i) != 0)
                .map(|(_, n)| (*n).to_owned())
                .collect();
            list.sort();
            if list.is_empty() {
                return;
            }
            let before = client.state().leaves.clone();
            match client.verify_many(&list, &BTreeMap::new()) {
                Ok(all) => {
                    assert_eq!(
                        all.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
                        list.iter().map(String::as_str).collect::<Vec<_>>()
                    );
                    for verified in &all {
                        check_verified(repo, client, verified, trusted, None);
                    }
                }
                Err(_) => assert_eq!(
                    client.state().leaves,
                    before,
                    "a refused verify_many changed the versions seen"
                ),
            }
        }
    }
}

fn check_verified(
    repo: &Repo,
    client: &Client,
    verified: &tuf_client::Verified,
    trusted: &mut Trusted,
    file: Option<&[u8]>,
) {
    let name = verified.name.as_str();
    if client.state().mode == Mode::Classic {
        let t = trusted
            .targets_tree
            .expect("a classic verification without a trusted targets.json");
        let Status::Listed { length, sha256 } = verified.status else {
            panic!("classic status {:?}", verified.status);
        };
        match repo.trees[t].get(name) {
            Some(LeafContents::Present {
                length: l,
                sha256: s,
                ..
            }) => assert_eq!(
                (length, sha256),
                (l, s),
                "{name}: not what targets.json lists"
            ),
            other => panic!("{name} verified as listed, but targets.json has {other:?}"),
        }
        if let Some(bytes) = file {
            assert_eq!(bytes.len() as u64, length);
            assert_eq!(tuf_merkle::hash::sha256(bytes), sha256);
        }
        return;
    }
    let state = client.state();
    assert_eq!(verified.timestamp_version, state.proof_version);
    let root = state
        .proof_root
        .as_deref()
        .and_then(|h| tuf_merkle::hash::parse_hex(h).ok())
        .expect("a verification without a trusted root");
    let tree = repo
        .trees
        .iter()
        .find(|t| t.root() == root)
        .expect("the trusted root is no tree's");
    let truth = tree.get(name);
    let got = match verified.status {
        Status::Present(c) => {
            assert!(matches!(c, LeafContents::Present { .. }));
            if let (Some(bytes), LeafContents::Present { length, sha256, .. }) = (file, c) {
                assert_eq!(bytes.len() as u64, length);
                assert_eq!(tuf_merkle::hash::sha256(bytes), sha256);
            }
            Some(c)
        }
        Status::Deleted(v) => {
            assert!(
                matches!(truth, Some(LeafContents::Deleted { version }) if version == v),
                "{name}: verified deleted at {v}, the tree has {truth:?}"
            );
            truth
        }
        Status::Absent => None,
        ref other => panic!("a merkle role answered {other:?}"),
    };
    assert_eq!(got, truth, "{name}: the client accepted a lie");
    let version = got.map_or(0, |c| c.version());
    let before = trusted
        .versions
        .insert(name.to_owned(), version)
        .unwrap_or(0);
    assert!(
        version >= before,
        "{name}: version went down from {before} to {version}"
    );
}

fuzz_target!(|input: Input| {
    tuf_fuzz::begin(1 << 16);
    run(&input);
});
