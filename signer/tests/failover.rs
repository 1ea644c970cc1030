//! Several signers on one S3 bucket (moto on 127.0.0.1, through the real aws-sdk-s3 client),
//! tested from the outside for the two ways such a deployment breaks: a **fork** (two nodes
//! signing the same timestamp version, or a change record that does not follow the one before)
//! and a **lost write** (a change answered `durable` that is not in the repository afterwards).
//!
//! - `kill_9_of_the_leader_*`: three nodes under continuous writes, the leader killed again and
//!   again (`TUF_FAILOVER_KILLS`, 3 by default; `TUF_FAILOVER_KILLS=20` for the long run in
//!   `docs/operations.md`);
//! - `a_zombie_leader_*`: the leader frozen with SIGSTOP, a standby takes over and signs, writes
//!   queued to the frozen one, SIGCONT;
//! - `s3_faults_*`: PUTs failing (503), timing out, and answered-but-lost, while writes go on.
//!
//! Every node reaches S3 through its own front of a fault proxy (`tuf_testkit::proxy`), which
//! records who stored what (and makes moto's conditional writes atomic, as S3's are). Each test
//! ends with the same checks on the bucket, read as a client reads it:
//!
//! - every acknowledged change is in the latest signed tree (a verified multi-proof);
//! - `timestamp.json` points at objects that exist (also checked throughout the fault test);
//! - `timestamps/V.timestamp.json` and `changes/V.json` exist for V = 1..N, each record naming
//!   the one before, each `timestamps/V` stored by exactly one PUT (the proxy's log), and no
//!   timestamp bytes seen during the run changed;
//! - no log object was stored twice;
//! - `tuf_client::audit` (what `tuf-verify audit` runs) replays the role from version 1 over
//!   moto's HTTP endpoint.
//!
//! Needs moto: fails under `CI=true` when it is missing, elsewhere skips saying why.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tuf_testkit::MERKLE;
use tuf_testkit::cluster::{Cluster, ClusterClient, ClusterSpec, Outcome, WRITER_TOKEN};
use tuf_testkit::data::{index_name, upserts};
use tuf_testkit::proxy::{Exchange, Fault, FaultProxy, Scope};
use tuf_testkit::s3::MotoS3;

const PREFIX: &str = "test";

fn binary() -> &'static str {
    tuf_testkit::signer_binary!()
}

/// `PREFIX/repo/crates.io/` + `rel`.
fn repo_key(rel: &str) -> String {
    format!("{PREFIX}/repo/{MERKLE}/{rel}")
}

/// moto, a proxy with one front per node, and a cluster of `spec` behind it.
fn setup(
    test: &str,
    spec: ClusterSpec,
) -> Option<(MotoS3, FaultProxy, Cluster, tempfile::TempDir)> {
    let s3 = MotoS3::start_or_skip(test)?;
    s3.allow_public_read(PREFIX);
    let proxy = FaultProxy::start(s3.addr(), spec.nodes);
    let endpoints: Vec<String> = (0..spec.nodes).map(|i| proxy.endpoint_url(i)).collect();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(binary(), dir.path(), spec, &endpoints);
    Some((s3, proxy, cluster, dir))
}

fn spec(nodes: usize) -> ClusterSpec {
    ClusterSpec {
        nodes,
        // Recovery lists and reads the log objects since the newest checkpoint: keep that short.
        role: vec!["checkpoint_every = 2000".to_owned()],
        ..ClusterSpec::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Writers

/// One acknowledged write: its names, when it was sent and when it was answered.
#[derive(Debug, Clone)]
struct Ack {
    names: Vec<String>,
    sent: Instant,
    answered: Instant,
}

/// What the writers saw.
#[derive(Debug, Default)]
struct Tally {
    acked: Vec<Ack>,
    /// Answers other than 200 (status, error code), and requests no leader answered.
    refused: BTreeMap<String, u64>,
}

/// Writers in a loop, each `POST .../batch?wait=durable` of 5 new names through a
/// [`ClusterClient`], until stopped.
struct Writers {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    fn start(cluster: &Cluster, count: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let threads = (0..count)
            .map(|w| {
                let (stop, tally) = (stop.clone(), tally.clone());
                let mut client = cluster.client();
                client.prefer(w % cluster.nodes.len());
                std::thread::spawn(move || {
                    let mut k = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let first = (w + 1) * 1_000_000 + k * 5;
                        k += 1;
                        let range = first..first + 5;
                        let sent = Instant::now();
                        let outcome = client.send(
                            "POST",
                            "/api/v1/crates.io/batch?wait=durable",
                            &upserts(range.clone()),
                            Duration::from_secs(20),
                            sent + Duration::from_secs(60),
                        );
                        let answered = Instant::now();
                        let mut t = tally.lock().unwrap();
                        match outcome {
                            Outcome::Answered(r) if r.status == 200 => {
                                assert_eq!(r.json()["status"], "durable", "{}", r.text());
                                t.acked.push(Ack {
                                    names: range.map(index_name).collect(),
                                    sent,
                                    answered,
                                });
                            }
                            Outcome::Answered(r) => {
                                let code = serde_json::from_slice::<Value>(&r.body)
                                    .ok()
                                    .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                                    .unwrap_or_default();
                                *t.refused.entry(format!("{} {code}", r.status)).or_default() += 1;
                            }
                            Outcome::GaveUp(_) => {
                                *t.refused.entry("gave up".into()).or_default() += 1
                            }
                        }
                    }
                })
            })
            .collect();
        Writers {
            stop,
            tally,
            threads,
        }
    }

    fn acked_count(&self) -> usize {
        self.tally.lock().unwrap().acked.len()
    }

    /// Polls until `n` more writes than now were acknowledged, at most `timeout`.
    fn wait_for_more(&self, n: usize, timeout: Duration, cluster: &Cluster) {
        let target = self.acked_count() + n;
        let deadline = Instant::now() + timeout;
        while self.acked_count() < target {
            assert!(
                Instant::now() < deadline,
                "writes stalled: {} acknowledged, {:?}\n{}",
                self.acked_count(),
                self.tally.lock().unwrap().refused,
                cluster.log_tails(30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().expect("writer thread");
        }
        Arc::try_unwrap(self.tally).unwrap().into_inner().unwrap()
    }
}

/// A write with `wait=signed` straight to `addr`; returns its timestamp version.
fn write_signed(addr: SocketAddr, i: usize) -> u64 {
    let r = tuf_testkit::http::try_request_blocking(
        addr,
        "POST",
        "/api/v1/crates.io/batch?wait=signed",
        &[
            ("Authorization", &format!("Bearer {WRITER_TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        &upserts(i..i + 1),
        Duration::from_secs(30),
    )
    .expect("the leader answers");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["timestamp_version"]
        .as_u64()
        .expect("timestamp_version")
}

// ---------------------------------------------------------------------------------------------
// Checks on the bucket

/// The published `timestamp.json` points at objects that exist: `timestamps/V.timestamp.json`
/// with the same bytes, `changes/V.json`, and the snapshot and targets versions it (and the
/// snapshot) name. Returns V (0 when nothing is published yet).
fn assert_heads_consistent(s3: &MotoS3) -> u64 {
    let Some(ts_bytes) = s3.get(&repo_key("timestamp.json")) else {
        return 0;
    };
    let ts: Value = serde_json::from_slice(&ts_bytes).expect("timestamp.json is JSON");
    let v = ts["signed"]["version"].as_u64().expect("version");
    assert_eq!(
        s3.get(&repo_key(&format!("timestamps/{v}.timestamp.json")))
            .as_deref(),
        Some(ts_bytes.as_slice()),
        "timestamp.json (version {v}) is published but timestamps/{v}.timestamp.json is missing or other bytes"
    );
    assert!(
        s3.get(&repo_key(&format!("changes/{v}.json"))).is_some(),
        "timestamp.json (version {v}) is published but changes/{v}.json is missing"
    );
    let snap_v = ts["signed"]["meta"]["snapshot.json"]["version"]
        .as_u64()
        .expect("snapshot version in timestamp.json");
    let snap = s3
        .get(&repo_key(&format!("{snap_v}.snapshot.json")))
        .unwrap_or_else(|| {
            panic!(
                "timestamp.json (version {v}) points at {snap_v}.snapshot.json, which is missing"
            )
        });
    let snap: Value = serde_json::from_slice(&snap).unwrap();
    let targets_v = snap["signed"]["meta"]["targets.json"]["version"]
        .as_u64()
        .expect("targets version in snapshot");
    assert!(
        s3.get(&repo_key(&format!("{targets_v}.targets.json")))
            .is_some(),
        "{snap_v}.snapshot.json points at {targets_v}.targets.json, which is missing"
    );
    v
}

/// Every `timestamps/V.timestamp.json` in the bucket, by version.
fn published_timestamps(s3: &MotoS3) -> BTreeMap<u64, Vec<u8>> {
    let dir = repo_key("timestamps/");
    s3.list(&dir)
        .into_iter()
        .filter_map(|key| {
            let v = key[dir.len()..]
                .strip_suffix(".timestamp.json")?
                .parse()
                .ok()?;
            Some((v, s3.get(&key)?))
        })
        .collect()
}

/// Every acknowledged name is in the latest signed tree: verified multi-proofs from the leader.
fn assert_present(client: &mut ClusterClient, acked: &[Ack]) {
    let names: Vec<&String> = acked.iter().flat_map(|a| &a.names).collect();
    for chunk in names.chunks(2_000) {
        let body = serde_json::to_vec(&json!({ "names": chunk })).unwrap();
        let Outcome::Answered(r) = client.send(
            "POST",
            "/api/v1/crates.io/proofs",
            &body,
            Duration::from_secs(30),
            Instant::now() + Duration::from_secs(60),
        ) else {
            panic!("no leader answered a proof request");
        };
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let root = tuf_merkle::hash::parse_hex(v["merkle_root"].as_str().unwrap()).unwrap();
        let proof = tuf_merkle::multiproof::MultiProof::from_json(
            &serde_json::to_vec(&v["proof"]).unwrap(),
        )
        .unwrap();
        proof.verify(&root).expect("the multi-proof verifies");
        let missing: Vec<_> = proof
            .targets()
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(n, _)| n.to_owned())
            .collect();
        assert!(
            missing.is_empty(),
            "{} acknowledged (durable) changes are missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
}

/// Each key in `under` was stored by at most one PUT (conditional creates): nothing immutable was
/// overwritten, no log sequence number taken twice.
fn assert_stored_once(exchanges: &[Exchange], under: &str) -> usize {
    let mut stored: HashMap<String, usize> = HashMap::new();
    for e in exchanges.iter().filter(|e| e.is_stored_put()) {
        let key = e.key_path().to_owned();
        if key.contains(under) {
            *stored.entry(key).or_default() += 1;
        }
    }
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    stored.len()
}

/// The end of every test: all signed, every acknowledged change present, the history linear
/// and complete in the bucket, each version stored once, the audit over HTTP clean.
fn final_checks(
    s3: &MotoS3,
    proxy: &FaultProxy,
    cluster: &Cluster,
    acked: &[Ack],
    seen: &BTreeMap<u64, Vec<u8>>,
) {
    let (leader, _) = cluster.wait_leader(MERKLE, 6 * cluster.lease());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = cluster.nodes[leader].status(MERKLE).unwrap_or_default();
        if status["unsigned_changes"] == 0 && status["error"].is_null() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the leader does not sign everything: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut client = cluster.client();
    client.prefer(leader);
    assert_present(&mut client, acked);

    let latest = assert_heads_consistent(s3);
    let published = published_timestamps(s3);
    assert_eq!(
        published.keys().copied().collect::<Vec<_>>(),
        (1..=latest).collect::<Vec<_>>(),
        "timestamps/V.timestamp.json for every V from 1 to {latest}"
    );
    tuf_testkit::repo::assert_history_kept(seen, &published);

    let exchanges = proxy.exchanges();
    let versions = assert_stored_once(&exchanges, &format!("/repo/{MERKLE}/timestamps/")) as u64;
    // Every PUT the proxy saw stored is in the bucket (read again after the exchanges: the
    // leader may sign once more while this looks). The converse does not hold under kill -9: a
    // node killed while its PUT was in flight can have it stored with no answer for the proxy
    // to see (the new leader then finds the same bytes there). That no version was stored with
    // two contents is what `assert_stored_once` and `assert_history_kept` check.
    let now_published = published_timestamps(s3).len() as u64;
    assert!(
        versions <= now_published && now_published >= latest,
        "{versions} timestamp versions stored through the proxy, {latest} published before, \
         {now_published} after"
    );
    assert_stored_once(&exchanges, &format!("/repo/{MERKLE}/changes/"));
    assert_stored_once(&exchanges, &format!("/state/{MERKLE}/log/"));

    // The bucket's repository as a directory: versions 1..=latest with linked change records,
    // every merkle_root reproduced by the auditor's replay.
    let local = tempfile::tempdir().unwrap();
    s3.download(&format!("{PREFIX}/repo"), &local.path().join("repo"));
    tuf_testkit::repo::check_history(local.path());

    // And `tuf-verify audit`'s replay over moto's HTTP endpoint, without credentials.
    let http = tuf_client::transport::HttpTransport::new(&s3.repo_url(PREFIX));
    let report = tuf_client::audit::audit(
        &http,
        MERKLE,
        &cluster.root1,
        &tuf_client::Limits::default(),
    )
    .expect("audit over HTTP");
    assert_eq!(report.breach, None, "{report:?}");
    assert_eq!(report.first_version, Some(1));
    assert_eq!(report.last_good_version, Some(latest), "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// The tests

/// Issue 10, item 6: three signers on one bucket under continuous writes; the leader killed
/// with SIGKILL again and again (3 times, `TUF_FAILOVER_KILLS` for more). After each kill a
/// standby leads within 3× the lease and signs; at the end nothing acknowledged is lost and the
/// history has every version once.
#[test]
fn kill_9_of_the_leader_fails_over_without_a_fork_or_a_lost_write() {
    let kills: usize = std::env::var("TUF_FAILOVER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // Checkpoints every 40 changes: each new leader recovers from a chain of bucket checkpoints
    // (a base and deltas, some written by the leader just killed) and the log after it.
    let checkpointing = ClusterSpec {
        role: vec!["checkpoint_every = 40".to_owned()],
        ..spec(3)
    };
    let Some((s3, proxy, mut cluster, _dir)) = setup("kill_9_of_the_leader", checkpointing) else {
        return;
    };
    let lease = cluster.lease();
    let (mut leader, took) = cluster.wait_leader(MERKLE, Duration::from_secs(60));
    eprintln!("node-{leader} leads after {took:?}");
    let writers = Writers::start(&cluster, 2);
    writers.wait_for_more(20, Duration::from_secs(60), &cluster);
    let mut seen = published_timestamps(&s3);
    let mut times = Vec::new();

    for kill in 0..kills {
        writers.wait_for_more(10, Duration::from_secs(60), &cluster);
        assert_heads_consistent(&s3);
        cluster.nodes[leader].kill9();
        let killed_at = Instant::now();
        let (next, lead_after) = cluster.wait_leader_excluding(MERKLE, Some(leader), 6 * lease);
        assert_ne!(next, leader);
        assert!(
            lead_after <= 3 * lease,
            "kill {kill}: node-{next} leads {lead_after:?} after the kill, more than 3 × the lease ({lease:?})"
        );
        // The first timestamp.json the new leader stores (the proxy knows who stored what).
        let deadline = killed_at + 6 * lease;
        let signed_after = loop {
            let first = proxy.exchanges().into_iter().find(|e| {
                e.front == next
                    && e.at >= killed_at
                    && e.is_stored_put()
                    && e.key_path()
                        .ends_with(&format!("/repo/{MERKLE}/timestamp.json"))
            });
            if let Some(e) = first {
                break e.done - killed_at;
            }
            assert!(
                Instant::now() < deadline,
                "kill {kill}: node-{next} leads but published no timestamp within {:?}\n{}",
                6 * lease,
                cluster.log_tails(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            signed_after <= 3 * lease,
            "kill {kill}: the first timestamp of node-{next} came {signed_after:?} after the kill"
        );
        eprintln!(
            "kill {kill}: node-{leader} killed; node-{next} leads after {lead_after:?}, publishes after {signed_after:?}"
        );
        times.push((lead_after, signed_after));
        assert_heads_consistent(&s3);
        for (v, bytes) in published_timestamps(&s3) {
            seen.entry(v).or_insert(bytes);
        }
        // The killed node comes back as a standby.
        cluster.nodes[leader].start();
        leader = next;
    }
    writers.wait_for_more(10, Duration::from_secs(60), &cluster);
    let tally = writers.stop();
    eprintln!(
        "{} writes acknowledged, others: {:?}; failovers (lead, publish): {times:?}",
        tally.acked.len(),
        tally.refused
    );
    final_checks(&s3, &proxy, &cluster, &tally.acked, &seen);
    let checkpoints = s3.list(&format!("{PREFIX}/state/{MERKLE}/checkpoints/"));
    let count = |suffix: &str| checkpoints.iter().filter(|k| k.ends_with(suffix)).count();
    eprintln!(
        "bucket checkpoints: {} bases, {} deltas",
        count(".bin"),
        count(".delta")
    );
    assert!(
        count(".bin") >= 1 && count(".delta") >= 1,
        "the failovers did not run over checkpoints in the bucket: {checkpoints:?}"
    );
}

/// A request written to a socket before the server reads it; the answer comes when it does.
struct Queued {
    names: Vec<String>,
    answer: std::thread::JoinHandle<std::io::Result<Vec<u8>>>,
}

/// Sends `POST .../batch?wait=WAIT` for `range` to `addr` (a stopped process: the kernel accepts
/// the connection and buffers the request) and returns once it is written.
fn queue_write(addr: SocketAddr, range: std::ops::Range<usize>, wait: &str) -> Queued {
    let body = upserts(range.clone());
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/v1/crates.io/batch?wait={wait} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {WRITER_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let answer = std::thread::spawn(move || {
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map(|_| raw)
    });
    Queued {
        names: range.map(index_name).collect(),
        answer,
    }
}

/// Issue 10, item 6: a zombie leader. The leader is frozen (SIGSTOP); a standby takes over and
/// signs; writes are queued to the frozen one; it is thawed (SIGCONT). It must store nothing
/// after it wakes (no log object, no published file, no lease), its queued writers get errors,
/// never `durable`, and the new leader goes on leading a linear history.
#[test]
fn a_zombie_leader_commits_and_publishes_nothing_after_it_wakes() {
    let Some((s3, proxy, mut cluster, _dir)) = setup("a_zombie_leader", spec(3)) else {
        return;
    };
    let lease = cluster.lease();
    let (old, _) = cluster.wait_leader(MERKLE, Duration::from_secs(60));
    let old_addr = cluster.nodes[old].addr;
    let mut acked = Vec::new();
    for i in 0..5 {
        let sent = Instant::now();
        write_signed(old_addr, i);
        acked.push(Ack {
            names: vec![index_name(i)],
            sent,
            answered: Instant::now(),
        });
    }

    cluster.nodes[old].sigstop();
    let frozen_at = Instant::now();
    let (new, took) = cluster.wait_leader_excluding(MERKLE, Some(old), 6 * lease);
    eprintln!("node-{old} frozen; node-{new} leads after {took:?}");
    let new_addr = cluster.nodes[new].addr;
    let mut takeover_version = 0;
    for i in 100..105 {
        let sent = Instant::now();
        takeover_version = write_signed(new_addr, i);
        acked.push(Ack {
            names: vec![index_name(i)],
            sent,
            answered: Instant::now(),
        });
    }
    assert!(takeover_version > 0);
    let seen = published_timestamps(&s3);

    // Writes queued to the frozen leader, of every kind, then it wakes.
    let queued = vec![
        queue_write(old_addr, 1_000..1_005, "durable"),
        queue_write(old_addr, 1_005..1_010, "signed"),
        queue_write(old_addr, 1_010..1_011, "durable"),
        queue_write(old_addr, 1_011..1_012, "none"),
    ];
    let woke_at = Instant::now();
    cluster.nodes[old].sigcont();
    eprintln!("node-{old} thawed after {:?}", woke_at - frozen_at);

    let mut answers = Vec::new();
    for q in queued {
        let raw = q.answer.join().unwrap();
        answers.push((q.names, raw));
    }
    // It steps down: its status says it does not lead, and names the new leader.
    let deadline = Instant::now() + 6 * lease;
    loop {
        if let Some(status) = cluster.nodes[old].status(MERKLE)
            && !tuf_testkit::cluster::is_leader(&status)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node-{old} still says it leads after waking\n{}",
            cluster.nodes[old].log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        cluster.leaders(MERKLE),
        vec![new],
        "the new leader still leads"
    );
    // The new leader goes on signing.
    let after = write_signed(new_addr, 200);
    assert!(after > takeover_version);
    acked.push(Ack {
        names: vec![index_name(200)],
        sent: Instant::now(),
        answered: Instant::now(),
    });

    // Nothing the zombie sent after waking was stored.
    let stored: Vec<Exchange> = proxy
        .exchanges()
        .into_iter()
        .filter(|e| e.front == old && e.at >= woke_at && e.is_stored_put())
        .collect();
    assert!(
        stored.is_empty(),
        "node-{old} stored objects after waking: {:#?}\n{}",
        stored.iter().map(|e| &e.path).collect::<Vec<_>>(),
        cluster.nodes[old].log_tail(40)
    );

    // Its queued writers got errors, never an acknowledgement of a change that is then missing.
    let mut client = cluster.client();
    client.prefer(new);
    for (names, raw) in answers {
        let Ok(raw) = raw else { continue }; // the connection was closed: an error
        let Some(r) = parse(&raw) else { continue };
        if r.0 == 200 {
            // Present or not, an acknowledgement from a node that no longer leads is wrong; say
            // which it is.
            let present = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                assert_present(
                    &mut client,
                    &[Ack {
                        names: names.clone(),
                        sent: woke_at,
                        answered: woke_at,
                    }],
                );
            }))
            .is_ok();
            panic!(
                "the zombie acknowledged {names:?} ({}); present in the repository: {present}",
                r.1
            );
        }
        eprintln!("queued write to the zombie: {} {}", r.0, r.1);
    }
    final_checks(&s3, &proxy, &cluster, &acked, &seen);
}

/// Status and body text of a raw answer.
fn parse(raw: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Issue 10, item 6: S3 faults while writes go on. PUTs fail with 503, then hang past the
/// client's timeout, then land with their answers lost, each for a few seconds. No write is
/// acknowledged before its log object can have been stored; `timestamp.json` never points at a
/// missing object; the role recovers by itself when the faults stop; nothing acknowledged is lost.
#[test]
fn s3_faults_delay_acknowledgements_and_never_break_the_repository() {
    let Some((s3, proxy, cluster, _dir)) = setup("s3_faults", spec(2)) else {
        return;
    };
    let (_, _) = cluster.wait_leader(MERKLE, Duration::from_secs(60));
    let writers = Writers::start(&cluster, 2);
    writers.wait_for_more(20, Duration::from_secs(60), &cluster);
    let mut seen = published_timestamps(&s3);

    // (fault, how long, whether a PUT sent meanwhile cannot reach S3 before the window ends)
    let phases = [
        (Fault::Status(503), Duration::from_secs(5), true),
        // Held longer than the client's timeout per attempt and than the window.
        (
            Fault::Delay(Duration::from_secs(15)),
            Duration::from_secs(6),
            true,
        ),
        // Stored, the answer lost: the writer must find out whether its PUT landed.
        (Fault::ForwardThenDrop, Duration::from_secs(3), false),
        (Fault::Status(500), Duration::from_secs(3), true),
    ];
    let mut windows = Vec::new();
    for (fault, duration, blocks) in phases {
        // Each fault hits a leader that is writing (after the one before, the role may have
        // been standing by until a node took the lease again).
        writers.wait_for_more(5, Duration::from_secs(60), &cluster);
        let start = Instant::now();
        proxy.inject(fault, Scope::Puts, duration);
        let mut checks = 0;
        while start.elapsed() < duration {
            assert_heads_consistent(&s3);
            checks += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            proxy.injected(fault) > 0,
            "{fault:?}: no PUT was sent during the fault, so it tested nothing"
        );
        eprintln!(
            "{fault:?} for {duration:?}: {} PUTs hit, {checks} consistency checks",
            proxy.injected(fault)
        );
        windows.push((fault, start, start + duration, blocks));
        proxy.heal();
    }
    proxy.heal();

    // Recovery by itself: a leader takes writes again and signs them.
    let (leader, took) = cluster.wait_leader(MERKLE, 6 * cluster.lease());
    eprintln!("after the faults node-{leader} leads ({took:?})");
    writers.wait_for_more(20, Duration::from_secs(60), &cluster);
    // Through a leader-following client: PUTs held during the delay window land up to 15 s
    // after it, so leadership may still move once.
    let mut client = cluster.client();
    client.prefer(leader);
    let Outcome::Answered(r) = client.send(
        "POST",
        "/api/v1/crates.io/batch?wait=signed",
        &upserts(5_000_000..5_000_001),
        Duration::from_secs(30),
        Instant::now() + Duration::from_secs(60),
    ) else {
        panic!(
            "no leader signed a write after the faults\n{}",
            cluster.log_tails(40)
        );
    };
    assert_eq!(r.status, 200, "{}", r.text());
    assert_heads_consistent(&s3);
    for (v, bytes) in published_timestamps(&s3) {
        seen.entry(v).or_insert(bytes);
    }
    let tally = writers.stop();
    eprintln!(
        "{} writes acknowledged, others: {:?}",
        tally.acked.len(),
        tally.refused
    );

    // No acknowledgement came before its log object was stored: a write sent during a window in
    // which no PUT can reach S3 before the window ends cannot be answered within it.
    for (fault, start, end, blocks) in windows {
        let early: Vec<&Ack> = tally
            .acked
            .iter()
            .filter(|a| blocks && a.sent >= start && a.answered <= end)
            .collect();
        assert!(
            early.is_empty(),
            "{fault:?}: {} writes were acknowledged durable while no log object could be stored, e.g. {:?}",
            early.len(),
            early.first()
        );
    }
    final_checks(&s3, &proxy, &cluster, &tally.acked, &seen);
}
