//! Verifying mirrors (`tuf-signer mirror`, design D9) as real processes on loopback: the
//! signer's binary under continuous writes, mirrors following it, clients spread over the
//! mirrors verifying every answer against the root; mirrors killed and restarted; a tampering
//! proxy between the signer and one mirror, which must catch it while the others go on.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use common::{MERKLE, SIGNER_BINARY, TestConfig, dev_token, start_binary};
use serde_json::Value;
use tuf_client::{Client, Mode, Status, transport};
use tuf_testkit::config::ProductionKeys;
use tuf_testkit::http::{Resp, try_request_blocking};
use tuf_testkit::mirror::{Mirror, MirrorSpec};
use tuf_testkit::s3::{BUCKET, MotoS3};
use tuf_testkit::sha256_hex;
use tuf_testkit::tamper::{Action, Proxy, edit_json};

const WAIT: Duration = Duration::from_secs(60);

/// The signer's binary on a fresh data directory (development mode: a generated root).
struct Upstream {
    child: Child,
    addr: std::net::SocketAddr,
    token: String,
    trusted_root: PathBuf,
}

impl Upstream {
    fn start(dir: &Path, config: TestConfig) -> Upstream {
        let data = dir.join("signer");
        let path = config.write(dir, &data);
        let (child, addr) = start_binary(&path, &[]);
        let token = dev_token(&data, MERKLE);
        Upstream {
            child,
            addr,
            token,
            trusted_root: data.join("roots").join(MERKLE).join("1.root.json"),
        }
    }

    /// A production signer whose repository and state live in moto's bucket.
    fn start_s3(dir: &Path, moto: &MotoS3) -> Upstream {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let keys = runtime.block_on(ProductionKeys::create(&dir.join("keys")));
        let path = signer_config()
            .production(&keys)
            .s3_storage(&moto.endpoint_url(), BUCKET, "prod")
            .write(dir, &dir.join("signer"));
        let (child, addr) = start_binary(&path, &MotoS3::env());
        let up = Upstream {
            child,
            addr,
            token: keys.token(MERKLE),
            trusted_root: keys.root_dir(MERKLE).join("1.root.json"),
        };
        // A node on a bucket leads once it takes the role's lease.
        let deadline = std::time::Instant::now() + WAIT;
        while up.get(&format!("/api/v1/{MERKLE}/status")).json()["leading"] != true {
            assert!(
                std::time::Instant::now() < deadline,
                "the signer does not lead"
            );
            thread::sleep(Duration::from_millis(100));
        }
        up
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn trusted_root(&self) -> PathBuf {
        self.trusted_root.clone()
    }

    fn req(&self, method: &str, path: &str, body: &[u8]) -> Resp {
        let auth = format!("Bearer {}", self.token);
        try_request_blocking(
            self.addr,
            method,
            path,
            &[("Authorization", &auth)],
            body,
            Duration::from_secs(30),
        )
        .unwrap()
    }

    /// Publishes `name` and waits until it is signed; the timestamp version.
    fn publish(&self, name: &str, bytes: &[u8]) -> u64 {
        let r = self.req(
            "PUT",
            &format!("/api/v1/{MERKLE}/targets/{name}?wait=signed"),
            bytes,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["timestamp_version"].as_u64().unwrap()
    }

    /// Publishes `name(i)` for `i` in `range` in one batch (one round) and waits until it is
    /// signed; the timestamp version.
    fn publish_batch(&self, range: std::ops::Range<u64>) -> u64 {
        let changes: Vec<Value> = range
            .map(|i| {
                serde_json::json!({
                    "op": "upsert",
                    "path": name(i),
                    "sha256": sha256_hex(&bytes(i)),
                    "length": bytes(i).len(),
                })
            })
            .collect();
        let body = serde_json::json!({ "changes": changes }).to_string();
        let r = self.req(
            "POST",
            &format!("/api/v1/{MERKLE}/batch?wait=signed"),
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["timestamp_version"].as_u64().unwrap()
    }

    fn get(&self, path: &str) -> Resp {
        try_request_blocking(self.addr, "GET", path, &[], b"", Duration::from_secs(30)).unwrap()
    }

    fn version(&self) -> u64 {
        self.get(&format!("/api/v1/{MERKLE}/status")).json()["timestamp_version"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn name(i: u64) -> String {
    let n = format!("mi{i}x");
    format!("{}/{}/{n}", &n[..2], &n[2..4])
}

fn bytes(i: u64) -> Vec<u8> {
    format!("{{\"name\":\"mi{i}x\",\"vers\":\"1.0.{i}\"}}\n").into_bytes()
}

fn signer_config() -> TestConfig {
    TestConfig::new()
        .merkle_role("leaf_snapshot_every = 25")
        .batch(16, 5)
}

fn mirror(dir: &Path, up: &Upstream, upstream_url: &str, lines: &[&str]) -> Mirror {
    let mut spec = MirrorSpec::url(upstream_url, MERKLE, &up.trusted_root());
    for l in lines {
        spec = spec.role_line(l);
    }
    Mirror::start(SIGNER_BINARY, dir, &spec)
}

/// The version of the checkpoint on the mirror's disk (`position.json`).
fn checkpoint_on_disk(m: &Mirror) -> u64 {
    let position: Value = serde_json::from_slice(
        &std::fs::read(m.data.join("mirror").join(MERKLE).join("position.json")).unwrap(),
    )
    .unwrap();
    position["timestamp_version"].as_u64().unwrap()
}

/// A client of the role with its trusted state in `state`, fetching from `urls`.
fn client(up: &Upstream, state: &Path, urls: &[String]) -> Client {
    if !state.join("state.json").exists() {
        let root = std::fs::read(up.trusted_root()).unwrap();
        Client::init(state, MERKLE, Mode::Merkle, &root).unwrap();
    }
    let transports = urls.iter().map(|u| transport::open(u)).collect();
    Client::open_repositories(state, transports).unwrap()
}

/// The same bytes from the signer and the mirror for everything a client may ask of version
/// `v`.
fn assert_same_bytes(up: &Upstream, m: &Mirror, v: u64, names: &[String]) {
    // The snapshot and targets metadata the timestamp names (merkle rounds re-sign them only
    // when they expire, so their versions are not the timestamp's).
    let ts = up
        .get(&format!("/{MERKLE}/timestamps/{v}.timestamp.json"))
        .json();
    let snapshot = ts["signed"]["meta"]["snapshot.json"]["version"]
        .as_u64()
        .unwrap();
    let sn = up
        .get(&format!("/{MERKLE}/{snapshot}.snapshot.json"))
        .json();
    let targets = sn["signed"]["meta"]["targets.json"]["version"]
        .as_u64()
        .unwrap();
    let mut paths = vec![
        format!("/{MERKLE}/timestamp.json"),
        format!("/{MERKLE}/root.json"),
        format!("/{MERKLE}/1.root.json"),
        format!("/{MERKLE}/timestamps/{v}.timestamp.json"),
        format!("/{MERKLE}/changes/{v}.json"),
        format!("/{MERKLE}/{snapshot}.snapshot.json"),
        format!("/{MERKLE}/{targets}.targets.json"),
        format!("/api/v1/{MERKLE}/proof/ab/se/absent?version={v}"),
    ];
    for n in names {
        paths.push(format!("/api/v1/{MERKLE}/proof/{n}?version={v}"));
    }
    for p in &paths {
        let (a, b) = (up.get(p), m.get(p));
        assert_eq!(a.status, 200, "signer {p}: {}", a.text());
        assert_eq!(b.status, 200, "mirror {p}: {}", b.text());
        assert!(a.body == b.body, "{p} differs:\n{}\n{}", a.text(), b.text());
        assert_eq!(a.header("cache-control"), b.header("cache-control"), "{p}");
    }
    // Proofs in the binary encoding (POUF §10) too: the same bytes and headers.
    let binary = ("accept", tuf_merkle::binary::MEDIA_TYPE);
    let get = |addr, p: &str| {
        try_request_blocking(addr, "GET", p, &[binary], b"", Duration::from_secs(30)).unwrap()
    };
    for p in paths.iter().filter(|p| p.contains("/proof/")) {
        let (a, b) = (get(up.addr, p), get(m.addr, p));
        assert_eq!((a.status, b.status), (200, 200), "{p}: {}", b.text());
        assert_eq!(a.header("content-type"), Some(binary.1), "{p}");
        assert!(a.body == b.body, "{p} differs in binary");
        for h in ["content-type", "cache-control", "vary"] {
            assert_eq!(a.header(h), b.header(h), "{p}: {h}");
        }
    }
    let body = serde_json::json!({ "names": names, "version": v }).to_string();
    let post = |addr, accept: &str| {
        try_request_blocking(
            addr,
            "POST",
            &format!("/api/v1/{MERKLE}/proofs"),
            &[("content-type", "application/json"), ("accept", accept)],
            body.as_bytes(),
            Duration::from_secs(30),
        )
        .unwrap()
    };
    for accept in ["application/json", binary.1] {
        let (a, b) = (post(up.addr, accept), post(m.addr, accept));
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.header("content-type"), Some(accept));
        assert!(a.body == b.body, "multi-proof differs ({accept})");
    }
}

#[test]
fn three_mirrors_follow_a_signer_under_writes_survive_restarts_and_serve_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start(dir.path(), signer_config());
    up.publish(&name(0), &bytes(0));
    let mut mirrors: Vec<Mirror> = (0..3)
        .map(|i| {
            mirror(
                &dir.path().join(format!("m{i}")),
                &up,
                &up.url(),
                &["checkpoint_every = 10", "kept_versions = 400"],
            )
        })
        .collect();

    // Continuous writes; each acknowledged name is remembered with the version that signed it.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        let (addr, token) = (up.addr, up.token.clone());
        thread::spawn(move || {
            let mut i = 1;
            while !stop.load(Ordering::SeqCst) {
                let auth = format!("Bearer {token}");
                let r = try_request_blocking(
                    addr,
                    "PUT",
                    &format!("/api/v1/{MERKLE}/targets/{}?wait=signed", name(i)),
                    &[("Authorization", &auth)],
                    &bytes(i),
                    Duration::from_secs(30),
                )
                .unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                acked.store(i, Ordering::SeqCst);
                i += 1;
            }
        })
    };

    // Clients pinned to each mirror verify what was acknowledged: present with the acknowledged
    // bytes, or absent only while the mirror is behind the write.
    let clients: Vec<_> = mirrors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (stop, acked) = (stop.clone(), acked.clone());
            let url = m.url();
            let state = dir.path().join(format!("client{i}"));
            let root = std::fs::read(up.trusted_root()).unwrap();
            thread::spawn(move || {
                Client::init(&state, MERKLE, Mode::Merkle, &root).unwrap();
                let mut verified = 0;
                while !stop.load(Ordering::SeqCst) {
                    let mut c =
                        Client::open_repositories(&state, vec![transport::open(&url)]).unwrap();
                    // The mirror may be restarting: a failed refresh is retried, never wrong.
                    if c.refresh().is_err() {
                        thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    let n = acked.load(Ordering::SeqCst);
                    for k in [0, n / 2, n] {
                        let Ok(v) = c.verify(&name(k), None) else {
                            continue;
                        };
                        match v.status {
                            Status::Present(contents) => {
                                assert_eq!(
                                    contents,
                                    tuf_merkle::LeafContents::for_bytes(1, &bytes(k)).unwrap()
                                );
                                verified += 1;
                            }
                            Status::Absent => {}
                            other => panic!("{}: {other:?}", name(k)),
                        }
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                verified
            })
        })
        .collect();

    thread::sleep(Duration::from_secs(2));
    // kill -9 one mirror: it resumes from the checkpoint on its disk (written in the background
    // every 10 versions), re-applying the rounds copied since, fetching nothing old again.
    let before = mirrors[0].status(MERKLE)["timestamp_version"]
        .as_u64()
        .unwrap();
    mirrors[0].kill9();
    let checkpoint = checkpoint_on_disk(&mirrors[0]);
    thread::sleep(Duration::from_millis(500));
    mirrors[0].restart();
    let s = mirrors[0].status(MERKLE);
    assert_eq!(
        s["mirror"]["started_from"],
        format!("checkpoint at version {checkpoint}"),
        "{s}"
    );
    // Everything it served before is served again, from its own copy.
    let replayed = s["mirror"]["replayed_on_start"].as_u64().unwrap();
    assert!(checkpoint + replayed >= before, "{s}");
    assert!(s["timestamp_version"].as_u64().unwrap() >= before, "{s}");
    // A clean stop writes a checkpoint at the served version: nothing to re-apply.
    mirrors[1].stop();
    thread::sleep(Duration::from_millis(300));
    mirrors[1].restart();
    let s = mirrors[1].status(MERKLE);
    assert_eq!(s["mirror"]["replayed_on_start"], 0, "{s}");
    thread::sleep(Duration::from_secs(2));

    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    for c in clients {
        let verified = c.join().unwrap();
        assert!(verified > 0, "a client verified nothing present");
    }

    let v = up.version();
    let names: Vec<String> = (0..=acked.load(Ordering::SeqCst))
        .step_by(7)
        .map(name)
        .collect();
    for m in &mirrors {
        let s = m.wait_for_version(MERKLE, v, WAIT);
        assert_eq!(
            s["merkle_root"],
            up.get(&format!("/api/v1/{MERKLE}/status")).json()["merkle_root"]
        );
        assert_eq!(m.get("/healthz").status, 200);
        assert_same_bytes(&up, m, v, &names);
    }
    // A client pinned to mirror A gets what a client pinned to mirror B gets.
    let (sa, sb) = (dir.path().join("pin-a"), dir.path().join("pin-b"));
    let mut a = client(&up, &sa, &[mirrors[0].url()]);
    let mut b = client(&up, &sb, &[mirrors[2].url()]);
    assert_eq!(a.refresh().unwrap(), b.refresh().unwrap());
    for n in &names {
        assert_eq!(a.verify(n, None).unwrap(), b.verify(n, None).unwrap());
    }
    // Mirrors are read-only.
    let r = try_request_blocking(
        mirrors[2].addr,
        "PUT",
        &format!("/api/v1/{MERKLE}/targets/{}", name(1)),
        &[("Authorization", &format!("Bearer {}", up.token))],
        b"x",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "read_only_mirror");
}

/// The checkpoint is written on a thread of its own. At 20,000 leaves it takes a while (seconds
/// in a debug build): the mirror serves versions after the one it is writing
/// meanwhile, a kill -9 in the middle of one leaves the previous checkpoint to resume from, a
/// restart from a checkpoint written in the background resumes exactly where it says, and a
/// clean stop waits for the one being written, then writes the last.
#[test]
fn a_mirror_follows_while_it_writes_its_checkpoint_and_resumes_from_one_written_so() {
    const LEAVES: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let config = signer_config()
        .limit("max_json_bytes", "4194304")
        .limit("max_batch_changes", "10000");
    let up = Upstream::start(dir.path(), config);
    for from in (0..LEAVES).step_by(10_000) {
        up.publish_batch(from..from + 10_000);
    }
    let mut m = mirror(
        &dir.path().join("m"),
        &up,
        &up.url(),
        &["checkpoint_every = 5"],
    );
    m.wait_for_version(MERKLE, up.version(), WAIT);

    // Single writes, one round each, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let (addr, token) = (up.addr, up.token.clone());
        thread::spawn(move || {
            let mut i = LEAVES;
            while !stop.load(Ordering::SeqCst) {
                let r = try_request_blocking(
                    addr,
                    "PUT",
                    &format!("/api/v1/{MERKLE}/targets/{}?wait=signed", name(i)),
                    &[("Authorization", &format!("Bearer {token}"))],
                    &bytes(i),
                    Duration::from_secs(30),
                )
                .unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                i += 1;
            }
        })
    };

    // A checkpoint being written (`checkpoint_writing`, cleared by the thread that writes it
    // once it is on disk) while the mirror already serves a later version: following went on.
    // A follower that wrote its checkpoint itself could not serve past it before it was done.
    let deadline = std::time::Instant::now() + WAIT;
    let (writing, previous) = loop {
        let s = m.status(MERKLE);
        let served = s["timestamp_version"].as_u64().unwrap();
        if let (Some(c), Some(previous)) = (
            s["mirror"]["checkpoint_writing"].as_u64(),
            s["mirror"]["checkpoint_version"].as_u64(),
        ) && served > c
        {
            break (c, previous);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mirror was never seen serving past the checkpoint it writes: {s}"
        );
        thread::sleep(Duration::from_millis(2));
    };
    // kill -9 in the middle of it: the restart resumes from the previous checkpoint (or from
    // this one, if it was done just before the kill), re-verified.
    m.kill9();
    let resumed = checkpoint_on_disk(&m);
    assert!(resumed == previous || resumed == writing, "{resumed}");
    m.restart();
    let s = m.status(MERKLE);
    assert_eq!(
        s["mirror"]["started_from"],
        format!("checkpoint at version {resumed}"),
        "{s}"
    );
    assert_eq!(s["mirror"]["checkpoint_version"], resumed, "{s}");

    // Writes go on until the restarted mirror wrote a checkpoint of its own (in the background:
    // it writes none at start); then they stop and it catches up.
    let deadline = std::time::Instant::now() + WAIT;
    while m.status(MERKLE)["mirror"]["checkpoint_version"]
        .as_u64()
        .unwrap()
        <= resumed
    {
        assert!(std::time::Instant::now() < deadline, "no new checkpoint");
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let v = up.version();
    m.wait_for_version(MERKLE, v, WAIT);
    // kill -9 again: it resumes from what is on disk, a checkpoint written in the background,
    // and re-applies exactly the rounds copied after it.
    m.kill9();
    let background = checkpoint_on_disk(&m);
    assert!(background > resumed, "{background} {resumed}");
    m.restart();
    let s = m.status(MERKLE);
    assert_eq!(
        s["mirror"]["started_from"],
        format!("checkpoint at version {background}"),
        "{s}"
    );
    assert_eq!(s["mirror"]["replayed_on_start"], v - background, "{s}");
    assert_eq!(s["timestamp_version"], v, "{s}");
    assert_eq!(
        s["merkle_root"],
        up.get(&format!("/api/v1/{MERKLE}/status")).json()["merkle_root"]
    );
    let names: Vec<String> = (0..LEAVES).step_by(2_003).map(name).collect();
    assert_same_bytes(&up, &m, v, &names);

    // A clean stop writes the last checkpoint, at the served version, and keeps only it.
    m.stop();
    assert_eq!(checkpoint_on_disk(&m), v);
    let mut files: Vec<String> = std::fs::read_dir(m.data.join("mirror").join(MERKLE))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, [format!("{v}.leaves.gz"), "position.json".into()]);
    m.restart();
    let s = m.status(MERKLE);
    assert_eq!(s["mirror"]["replayed_on_start"], 0, "{s}");
    assert_eq!(s["mirror"]["checkpoint_version"], v, "{s}");
}

#[test]
fn a_cold_mirror_starts_from_the_newest_leaf_snapshot_and_serves_with_the_signer_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = Upstream::start(dir.path(), signer_config());
    let mut last = 0;
    for i in 0..60 {
        last = up.publish(&name(i), &bytes(i));
    }
    // The snapshot of version 50 is written in the background: wait for its pointer.
    let deadline = std::time::Instant::now() + WAIT;
    let from = loop {
        let r = up.get(&format!("/{MERKLE}/leaf-snapshots/latest.json"));
        let v = if r.status == 200 {
            r.json()["timestamp_version"].as_u64().unwrap()
        } else {
            0
        };
        if v >= 50 {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "no snapshot at 50");
        thread::sleep(Duration::from_millis(50));
    };
    let m = mirror(&dir.path().join("m"), &up, &up.url(), &[]);
    let s = m.wait_for_version(MERKLE, last, WAIT);
    assert_eq!(
        s["mirror"]["started_from"],
        format!("leaf snapshot at version {from}"),
        "{s}"
    );
    // Nothing before the snapshot was fetched: its history is not the mirror's to serve.
    assert_eq!(m.get(&format!("/{MERKLE}/changes/1.json")).status, 404);
    assert_eq!(m.get(&format!("/{MERKLE}/changes/{last}.json")).status, 200);
    let names: Vec<String> = (0..60).step_by(9).map(name).collect();
    assert_same_bytes(&up, &m, last, &names);

    // The signer stops: clients verify against the mirror alone.
    let _ = up.child.kill();
    let _ = up.child.wait();
    let state = dir.path().join("client");
    let mut c = client(&up, &state, &[m.url()]);
    assert_eq!(c.refresh().unwrap().timestamp_version, last);
    let v = c.verify(&name(3), Some(&bytes(3))).unwrap();
    assert!(v.status.is_present());
    assert_eq!(
        c.verify("ab/se/absent", None).unwrap().status,
        Status::Absent
    );
    // The mirror reports its upstream unreachable, but stays healthy: it serves what it has.
    let s = m.wait_until(MERKLE, WAIT, |s| !s["mirror"]["upstream_error"].is_null());
    assert!(s["error"].is_null(), "{s}");
    assert_eq!(m.get("/healthz").status, 200);
}

#[test]
fn a_mirror_refuses_a_copy_changed_on_its_disk() {
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start(dir.path(), signer_config());
    let mut last = 0;
    for i in 0..8 {
        last = up.publish(&name(i), &bytes(i));
    }
    let mut m = mirror(
        &dir.path().join("m"),
        &up,
        &up.url(),
        &["checkpoint_every = 4"],
    );
    m.wait_for_version(MERKLE, last, WAIT);
    // A clean stop checkpoints at `last`; two rounds after it (too few for another checkpoint).
    m.stop();
    m.restart();
    for i in 8..10 {
        last = up.publish(&name(i), &bytes(i));
    }
    m.wait_for_version(MERKLE, last, WAIT);
    m.kill9();
    // A change record after the checkpoint, altered on disk: the restart refuses it and says
    // what to do.
    let at = checkpoint_on_disk(&m);
    assert_eq!(at, last - 2);
    let record = m
        .data
        .join("repo")
        .join(MERKLE)
        .join(format!("changes/{}.json", at + 1));
    let forged = edit_json(std::fs::read(&record).unwrap(), |v| {
        v["changes"][0]["new"]["length"] = 1.into();
    });
    std::fs::write(&record, forged).unwrap();
    let e = m.start_expecting_error();
    assert!(e.contains("does not verify"), "{e}");
    assert!(e.contains(&format!("changes/{}.json", at + 1)), "{e}");
    assert!(e.contains("remove"), "{e}");
}

/// A tampering proxy between the signer and one mirror: each attack is caught by that mirror,
/// which stops advancing, keeps serving its last good version, says so on `/healthz`, in its
/// status and metrics, and keeps the refused bytes; an honest mirror beside it goes on.
#[test]
fn a_tampering_upstream_is_caught_by_its_mirror_while_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start(dir.path(), signer_config());
    let mut counter = 0;
    let mut publish = |up: &Upstream| {
        counter += 1;
        up.publish(&name(counter), &bytes(counter))
    };
    let honest = mirror(&dir.path().join("honest"), &up, &up.url(), &[]);
    let old_timestamp = up.get(&format!("/{MERKLE}/timestamp.json")).body;
    let (attacker, _) = tuf_keys::FileSigner::load_or_generate(
        dir.path().join("attacker.pem"),
        tuf_keys::KeyAlgorithm::Ed25519,
    )
    .unwrap();
    let attacker = Arc::new(attacker);

    type Attack = Box<dyn Fn(u64) -> Box<dyn Fn(&str, &str) -> Action + Send + Sync>>;
    let attacks: Vec<(&str, Attack, &str)> = vec![
        (
            "forged change record",
            Box::new(|next| {
                Box::new(move |_, p| {
                    if p.ends_with(&format!("/changes/{next}.json")) {
                        Action::Mutate(Box::new(|b| {
                            edit_json(b, |v| {
                                v["changes"][0]["new"]["hashes"]["sha256"] =
                                    tuf_merkle::hash::sha256(b"evil").to_hex().into();
                            })
                        }))
                    } else {
                        Action::Forward
                    }
                })
            }),
            "is not the replayed root",
        ),
        (
            "reordered rounds",
            Box::new(|next| {
                Box::new(move |_, p| {
                    if p.ends_with(&format!("/changes/{next}.json")) {
                        Action::Rewrite(format!("/{MERKLE}/changes/{}.json", next + 1))
                    } else {
                        Action::Forward
                    }
                })
            }),
            "out of order",
        ),
        (
            "a timestamp signed by a key the root does not list",
            Box::new({
                let key = attacker.clone();
                let upstream = up.addr;
                move |next| {
                    let key = key.clone();
                    Box::new(move |_, p| {
                        let key = key.clone();
                        if p.ends_with(&format!("/timestamps/{next}.timestamp.json")) {
                            Action::Mutate(Box::new(move |b| resign(&b, &key)))
                        } else if p.ends_with(&format!("/changes/{next}.json")) {
                            // The record names the forged file, so only the signature is wrong.
                            let real = try_request_blocking(
                                upstream,
                                "GET",
                                &format!("/{MERKLE}/timestamps/{next}.timestamp.json"),
                                &[],
                                b"",
                                Duration::from_secs(10),
                            )
                            .unwrap()
                            .body;
                            let forged = resign(&real, &key);
                            Action::Mutate(Box::new(move |b| {
                                edit_json(b, |v| {
                                    v["timestamp_length"] = forged.len().into();
                                    v["timestamp_sha256"] =
                                        tuf_merkle::hash::sha256(&forged).to_hex().into();
                                })
                            }))
                        } else {
                            Action::Forward
                        }
                    })
                }
            }),
            "signature",
        ),
        (
            "replayed old timestamp",
            Box::new({
                let old = old_timestamp.clone();
                move |_| {
                    let old = old.clone();
                    Box::new(move |_, p| {
                        if p.ends_with("/timestamp.json") && !p.contains("timestamps/") {
                            Action::Respond(200, old.clone())
                        } else {
                            Action::Forward
                        }
                    })
                }
            }),
            "went back",
        ),
    ];

    for (i, (what, attack, expected)) in attacks.into_iter().enumerate() {
        let proxy = Proxy::start(up.addr);
        let m = mirror(
            &dir.path().join(format!("attacked{i}")),
            &up,
            &proxy.url(),
            &[],
        );
        publish(&up);
        let good = publish(&up);
        m.wait_for_version(MERKLE, good, WAIT);
        let next = good + 1;
        proxy.set(attack(next));
        publish(&up);
        let latest = publish(&up);
        let s = m.wait_until(MERKLE, WAIT, |s| !s["mirror"]["inconsistency"].is_null());
        let why = s["mirror"]["inconsistency"].as_str().unwrap();
        assert!(why.contains(expected), "{what}: {why}");
        assert_eq!(s["error_code"], "upstream_inconsistent", "{what}: {s}");
        assert_eq!(
            s["timestamp_version"].as_u64().unwrap(),
            good,
            "{what}: {s}"
        );
        let h = m.get("/healthz");
        assert_eq!(h.status, 503, "{what}");
        assert_eq!(h.json()["roles"][MERKLE]["code"], "upstream_inconsistent");
        let metrics = m.get("/metrics").text();
        assert!(
            metrics.contains(&format!("tuf_mirror_inconsistent{{role=\"{MERKLE}\"}} 1")),
            "{what}"
        );
        // The evidence: the reason and the refused bytes, on disk.
        let evidence = m.data.join(s["mirror"]["evidence"].as_str().unwrap());
        let reason = std::fs::read_to_string(evidence.join("reason.txt")).unwrap();
        assert!(reason.contains(expected), "{what}: {reason}");
        assert!(
            std::fs::read_dir(&evidence).unwrap().count() >= 2,
            "{what}: only the reason kept"
        );
        // It keeps serving its last good version, which clients verify.
        let r = m.get(&format!(
            "/api/v1/{MERKLE}/proof/{}?version={good}",
            name(1)
        ));
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        // Healing the proxy does not un-stop it: a person looks at the evidence first.
        proxy.honest();
        publish(&up);
        thread::sleep(Duration::from_millis(500));
        assert_eq!(
            m.status(MERKLE)["timestamp_version"].as_u64().unwrap(),
            good,
            "{what}"
        );
        // The honest mirror went on.
        honest.wait_for_version(MERKLE, latest, WAIT);
    }
    assert_eq!(honest.get("/healthz").status, 200);
}

/// A withheld round (the upstream's timestamp is ahead, the record is missing) is waited for,
/// reported, and caught up once served; nothing is stopped for good.
#[test]
fn a_withheld_round_is_reported_and_caught_up_when_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start(dir.path(), signer_config());
    let proxy = Proxy::start(up.addr);
    let first = up.publish(&name(1), &bytes(1));
    let m = mirror(&dir.path().join("m"), &up, &proxy.url(), &[]);
    m.wait_for_version(MERKLE, first, WAIT);
    let withheld = first + 1;
    proxy.set(move |_, p| {
        if p.ends_with(&format!("/changes/{withheld}.json")) {
            Action::Respond(404, b"{}".to_vec())
        } else {
            Action::Forward
        }
    });
    up.publish(&name(2), &bytes(2));
    let latest = up.publish(&name(3), &bytes(3));
    let s = m.wait_until(MERKLE, WAIT, |s| s["error_code"] == "upstream_incomplete");
    assert_eq!(s["timestamp_version"].as_u64().unwrap(), first, "{s}");
    assert_eq!(m.get("/healthz").status, 503);
    assert!(
        m.get("/metrics")
            .text()
            .contains(&format!("tuf_mirror_incomplete{{role=\"{MERKLE}\"}} 1"))
    );
    proxy.honest();
    let s = m.wait_for_version(MERKLE, latest, WAIT);
    assert!(s["error_code"].is_null(), "{s}");
    assert_eq!(m.get("/healthz").status, 200);
}

/// A mirror can follow the signer's bucket directly (no HTTP hop through the signer): the same
/// verification, the same bytes.
#[test]
fn a_mirror_follows_the_signers_bucket() {
    let Some(moto) = MotoS3::start_or_skip("a_mirror_follows_the_signers_bucket") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start_s3(dir.path(), &moto);
    let mut last = 0;
    for i in 0..5 {
        last = up.publish(&name(i), &bytes(i));
    }
    let mut spec = MirrorSpec::url("unused", MERKLE, &up.trusted_root());
    spec.upstream = vec![
        format!("bucket = {BUCKET:?}"),
        "prefix = \"prod\"".into(),
        format!("endpoint = {:?}", moto.endpoint_url()),
        "path_style = true".into(),
    ];
    let m = Mirror::start_with_env(SIGNER_BINARY, &dir.path().join("m"), &spec, &MotoS3::env());
    let s = m.wait_for_version(MERKLE, last, WAIT);
    assert!(
        s["mirror"]["upstream"]
            .as_str()
            .unwrap()
            .starts_with("s3://"),
        "{s}"
    );
    let names: Vec<String> = (0..5).map(name).collect();
    assert_same_bytes(&up, &m, last, &names);
    let latest = up.publish(&name(9), &bytes(9));
    m.wait_for_version(MERKLE, latest, WAIT);
    assert_same_bytes(&up, &m, latest, &names);
}

/// `bytes` (a signed timestamp) with its signatures replaced by `key`'s.
fn resign(bytes: &[u8], key: &tuf_keys::FileSigner) -> Vec<u8> {
    let ts: tough::schema::Signed<tough::schema::Timestamp> =
        serde_json::from_slice(bytes).unwrap();
    serde_json::to_vec(&tuf_client::tuf::sign_metadata(ts.signed, &[key]).unwrap()).unwrap()
}
