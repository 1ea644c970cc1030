//! Several repository URLs (issue 11, item 5): a client fails over between the signer and its
//! mirrors over real loopback HTTP, and failover adds availability, not trust. The "mirrors"
//! here are HTTP proxies in front of one in-process signer (so they serve the same repository
//! byte for byte), each of which can be made to answer 503, serve an old timestamp, or alter
//! proofs; a stopped server is a loopback port nobody listens on.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Action, Proxy, ROLE, Signer, edit_json};
use tuf_client::{Client, ClientError, FailedAttempt, Mode, ServerFault, Status, transport};

const SERDE: &str = "se/rd/serde";
const SYN: &str = "3/s/syn";
const RAND: &str = "ra/nd/rand";
const ABSENT: &str = "no/th/nothere";

fn signer() -> Signer {
    let signer = Signer::start();
    signer.publish(ROLE, SERDE, b"serde 1.0.0\n");
    signer.publish(ROLE, SYN, b"syn 2.0.0\n");
    signer.publish(ROLE, RAND, b"rand 0.9.0\n");
    signer.delete(ROLE, RAND);
    signer
}

/// A URL on which nothing listens (a stopped server): connecting is refused.
fn stopped() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A client of the signer's role with its state in `state` (initialised on first use),
/// fetching from `urls` in this order.
fn client(signer: &Signer, state: &Path, urls: &[String]) -> Client {
    if !state.join("state.json").exists() {
        let root = std::fs::read(signer.repo(ROLE).join("1.root.json")).unwrap();
        Client::init(state, ROLE, Mode::Merkle, &root).unwrap();
    }
    let transports = urls.iter().map(|u| transport::open(u)).collect();
    Client::open_repositories(state, transports).unwrap()
}

fn unavailable(body: &'static str) -> impl Fn(&str, &str) -> Action + Send + Sync + 'static {
    move |_, _| Action::Respond(503, body.as_bytes().to_vec())
}

const NOT_LEADER: &str = r#"{"error":"not_leader","leader":null}"#;

/// A rule that alters every single proof's leaf for `SYN` (a changed leaf) and forwards
/// everything else.
fn changed_leaf(method: &str, path: &str) -> Action {
    if method == "GET" && path.contains("/proof/") {
        Action::Mutate(Box::new(|b| {
            edit_json(b, |v| {
                let leaf = &mut v["proof"]["leaf_contents"][SYN];
                leaf["hashes"]["sha256"] = tuf_merkle::hash::sha256(b"evil syn").to_hex().into();
                leaf["length"] = 8.into();
            })
        }))
    } else {
        Action::Forward
    }
}

/// A proxy that counts the requests it forwards.
fn counting(signer: &Signer) -> (Proxy, Arc<AtomicUsize>) {
    let proxy = Proxy::start(signer.addr);
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    proxy.set(move |_, _| {
        h.fetch_add(1, Ordering::SeqCst);
        Action::Forward
    });
    (proxy, hits)
}

fn summary(attempts: &[FailedAttempt]) -> Vec<(String, ServerFault)> {
    attempts
        .iter()
        .map(|a| (a.repository.clone(), a.fault))
        .collect()
}

#[test]
fn a_client_pinned_to_one_mirror_gets_the_same_results_from_another() {
    let signer = signer();
    let (a, b) = (Proxy::start(signer.addr), Proxy::start(signer.addr));
    let (sa, sb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut on_a = client(&signer, sa.path(), &[a.url()]);
    let mut on_b = client(&signer, sb.path(), &[b.url()]);
    assert_eq!(on_a.refresh().unwrap(), on_b.refresh().unwrap());
    for name in [SERDE, SYN, RAND, ABSENT] {
        let (va, vb) = (
            on_a.verify(name, None).unwrap(),
            on_b.verify(name, None).unwrap(),
        );
        assert_eq!(va, vb, "{name}");
    }
    let names: Vec<String> = [SERDE, SYN, RAND, ABSENT].map(String::from).to_vec();
    let (ma, mb) = (
        on_a.verify_many(&names, &BTreeMap::new()).unwrap(),
        on_b.verify_many(&names, &BTreeMap::new()).unwrap(),
    );
    assert_eq!(ma, mb);
    assert_eq!(ma[2].status, Status::Deleted(2));
    assert_eq!(on_a.download(SYN).unwrap(), on_b.download(SYN).unwrap());
    assert_eq!(on_a.state().leaves, on_b.state().leaves);
}

#[test]
fn a_stopped_or_unavailable_server_fails_over_to_the_next_and_the_answering_one_is_kept() {
    let signer = signer();
    let dead = stopped();
    let (a, c) = (Proxy::start(signer.addr), Proxy::start(signer.addr));
    a.set(unavailable(NOT_LEADER));
    let state = tempfile::tempdir().unwrap();
    let mut client = client(&signer, state.path(), &[dead.clone(), a.url(), c.url()]);

    client.refresh().unwrap();
    assert_eq!(client.repository(), c.url());
    let failed = client.take_failed_attempts();
    assert_eq!(
        summary(&failed),
        vec![
            (dead.clone(), ServerFault::Unavailable),
            (a.url(), ServerFault::Unavailable)
        ]
    );
    assert!(
        matches!(failed[0].error, ClientError::Transport { .. }),
        "{}",
        failed[0].error
    );
    assert!(
        matches!(failed[1].error, ClientError::Status { status: 503, .. }),
        "{}",
        failed[1].error
    );

    // The server that answered is asked first from now on: no failover while it answers.
    let v = client.verify(SERDE, Some(b"serde 1.0.0\n")).unwrap();
    assert!(v.status.is_present());
    assert!(client.take_failed_attempts().is_empty());

    // It stops answering (503) and the first one comes back: the step moves on, in the order
    // given after the current one (the stopped server, then the one that came back).
    c.set(unavailable(r#"{"error":"unavailable"}"#));
    a.honest();
    let v = client.verify(SYN, None).unwrap();
    assert!(v.status.is_present());
    assert_eq!(client.repository(), a.url());
    assert_eq!(
        summary(&client.take_failed_attempts()),
        vec![
            (c.url(), ServerFault::Unavailable),
            (dead, ServerFault::Unavailable)
        ]
    );
}

#[test]
fn a_server_behind_the_trusted_timestamp_is_refused_as_a_rollback_and_the_next_is_used() {
    let signer = signer();
    let old = signer.get(&format!("{ROLE}/timestamp.json"));
    let old_version = common::parse_timestamp(&old).signed.version.get();
    let latest = signer.publish(ROLE, SERDE, b"serde 1.0.0\nserde 1.0.1\n");
    let state = tempfile::tempdir().unwrap();
    // The trusted state (one per role, whatever the server) reaches `latest` from the signer.
    client(&signer, state.path(), &[signer.url()])
        .refresh()
        .unwrap();

    // A mirror stuck one version behind: the old timestamp, and 404 (`version_not_signed`)
    // for proofs of the version it has not reached.
    let behind = Proxy::start(signer.addr);
    behind.set(move |_, p| {
        if p.ends_with("/timestamp.json") {
            Action::Respond(200, old.clone())
        } else if p.contains(&format!("version={latest}")) {
            Action::Respond(404, br#"{"error":"version_not_signed"}"#.to_vec())
        } else {
            Action::Forward
        }
    });
    let urls = [behind.url(), signer.url()];
    let mut c = client(&signer, state.path(), &urls);
    let r = c.refresh().unwrap();
    assert_eq!(r.timestamp_version, latest);
    assert_eq!(c.repository(), signer.url());
    let failed = c.take_failed_attempts();
    assert_eq!(summary(&failed), vec![(behind.url(), ServerFault::BadData)]);
    assert!(
        matches!(
            failed[0].error,
            ClientError::Rollback {
                role: "timestamp",
                trusted,
                got,
            } if trusted == latest && got == old_version
        ),
        "{}",
        failed[0].error
    );
    drop(c);

    // Without a refresh, the proof of the trusted version is not on the mirror behind.
    let mut c = client(&signer, state.path(), &urls);
    let v = c.verify(SERDE, None).unwrap();
    assert!(matches!(v.status, Status::Present(l) if l.version() == 2));
    let failed = c.take_failed_attempts();
    assert_eq!(summary(&failed), vec![(behind.url(), ServerFault::BadData)]);
    assert!(
        matches!(failed[0].error, ClientError::Withheld { .. }),
        "{}",
        failed[0].error
    );
}

#[test]
fn when_every_server_fails_the_error_names_each_url_and_why() {
    let signer = signer();
    let dead = stopped();
    let a = Proxy::start(signer.addr);
    a.set(unavailable(NOT_LEADER));
    let state = tempfile::tempdir().unwrap();
    let mut c = client(&signer, state.path(), &[dead.clone(), a.url()]);
    let err = c.refresh().unwrap_err();
    let ClientError::AllRepositoriesFailed { attempts } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        summary(attempts),
        vec![
            (dead.clone(), ServerFault::Unavailable),
            (a.url(), ServerFault::Unavailable)
        ]
    );
    let message = err.to_string();
    assert!(
        message.starts_with("every repository failed: "),
        "{message}"
    );
    assert!(
        message.contains(&format!("{dead}: unavailable: fetching {dead}/")),
        "{message}"
    );
    assert!(message.contains("HTTP status 503"), "{message}");
    assert!(message.contains(&a.url()), "{message}");
    drop(c);

    // One URL alone keeps its own error, as before several were possible.
    let mut c = client(&signer, state.path(), std::slice::from_ref(&dead));
    let err = c.refresh().unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
}

#[test]
fn a_server_that_alters_answers_is_reported_and_the_next_server_verifies() {
    let signer = signer();
    let evil = Proxy::start(signer.addr);
    evil.set(changed_leaf);
    let state = tempfile::tempdir().unwrap();
    let mut c = client(&signer, state.path(), &[evil.url(), signer.url()]);
    c.refresh().unwrap();
    assert!(
        c.take_failed_attempts().is_empty(),
        "its timestamp is honest"
    );

    let v = c.verify(SYN, None).unwrap();
    let Status::Present(leaf) = v.status else {
        panic!("{v}");
    };
    assert_eq!(leaf.version(), 1);
    assert_eq!(c.repository(), signer.url());
    let failed = c.take_failed_attempts();
    assert_eq!(summary(&failed), vec![(evil.url(), ServerFault::BadData)]);
    assert!(
        matches!(failed[0].error, ClientError::ChangedLeaf { .. }),
        "{}",
        failed[0].error
    );
    assert_eq!(c.state().leaves.get(SYN), Some(&1));

    // Every server tampering: refused, with each server's attack.
    let evil2 = Proxy::start(signer.addr);
    evil2.set(changed_leaf);
    let state = tempfile::tempdir().unwrap();
    let mut c = client(&signer, state.path(), &[evil.url(), evil2.url()]);
    c.refresh().unwrap();
    let err = c.verify(SYN, Some(b"evil syn")).unwrap_err();
    let ClientError::AllRepositoriesFailed { attempts } = &err else {
        panic!("{err}");
    };
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts
            .iter()
            .all(|a| matches!(a.error, ClientError::ChangedLeaf { .. })),
        "{err}"
    );
    assert!(!c.state().leaves.contains_key(SYN));

    // A forged timestamp (not signed by the role's key) on refresh is caught the same way.
    let forger = Proxy::start(signer.addr);
    forger.set(|_, p| {
        if p.ends_with("/timestamp.json") {
            Action::Mutate(Box::new(|b| {
                edit_json(b, |v| {
                    v["signed"]["expires"] = "2099-01-01T00:00:00Z".into()
                })
            }))
        } else {
            Action::Forward
        }
    });
    let state = tempfile::tempdir().unwrap();
    let mut c = client(&signer, state.path(), &[forger.url(), signer.url()]);
    c.refresh().unwrap();
    let failed = c.take_failed_attempts();
    assert!(
        matches!(
            failed[..],
            [FailedAttempt {
                fault: ServerFault::BadData,
                error: ClientError::BadSignature { .. },
                ..
            }]
        ),
        "{failed:?}"
    );
}

#[test]
fn verified_answers_are_never_asked_again_elsewhere() {
    let signer = signer();
    let (first, _) = counting(&signer);
    let (second, second_hits) = counting(&signer);
    let state = tempfile::tempdir().unwrap();
    let mut c = client(&signer, state.path(), &[first.url(), second.url()]);
    c.refresh().unwrap();
    assert_eq!(c.verify(ABSENT, None).unwrap().status, Status::Absent);
    assert_eq!(c.verify(RAND, None).unwrap().status, Status::Deleted(2));
    // A file that does not match its verified leaf is the repository's answer, not a server's.
    let err = c.verify(SYN, Some(b"not syn")).unwrap_err();
    assert!(matches!(err, ClientError::FileMismatch { .. }), "{err}");
    assert!(c.take_failed_attempts().is_empty());
    assert_eq!(second_hits.load(Ordering::SeqCst), 0);
}

fn tuf_verify() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tuf-verify"))
}

#[test]
fn tuf_verify_takes_several_repositories_and_reports_the_failovers() {
    let signer = signer();
    let dead = stopped();
    let evil = Proxy::start(signer.addr);
    evil.set(changed_leaf);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = tuf_verify()
        .args(["init", "--role", ROLE, "--state"])
        .arg(&state)
        .arg("--root")
        .arg(signer.repo(ROLE).join("1.root.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = |repos: &[&str], name: &str| {
        let mut cmd = tuf_verify();
        cmd.arg("verify").arg("--state").arg(&state);
        for r in repos {
            cmd.args(["--repo", r]);
        }
        let out = cmd.arg(name).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Repeated --repo: the stopped server is passed over, the tampering one reported.
    let (code, stdout, stderr) = run(&[&dead, &evil.url(), &signer.url()], SYN);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("3/s/syn: present"), "{stdout}");
    assert!(
        stderr.contains(&format!("repository unavailable: {dead}: fetching {dead}/")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("(from {})", evil.url())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "WARNING: repository served data that failed verification: {}: changed leaf",
            evil.url()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("answered and verified by {}", signer.url())),
        "{stderr}"
    );

    // A comma list; a name proved absent exits 2 as with one server.
    let list = format!("{dead},{}", signer.url());
    let (code, stdout, stderr) = run(&[&list], ABSENT);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stdout.contains("never published; proof checked"),
        "{stdout}"
    );

    // The single-URL form is unchanged.
    let (code, _, stderr) = run(&[&signer.url()], SERDE);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("(from "), "{stderr}");

    // Everything down: one error naming each URL and why.
    let other = stopped();
    let (code, _, stderr) = run(&[&dead, &other], SERDE);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("error: every repository failed: ")
            && stderr.contains(&format!("{dead}: unavailable"))
            && stderr.contains(&format!("{other}: unavailable")),
        "{stderr}"
    );

    let help = tuf_verify().args(["verify", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("comma list, for failover"), "{help}");
}

/// Real mirrors (`tuf-signer mirror`, in-process, over loopback) follow the signer; one of them
/// is behind a proxy that alters its proofs (a hostile mirror). `tuf-verify` catches it,
/// reports it, and verifies through the honest mirror; pointed at the hostile one alone, it
/// refuses.
#[test]
fn a_hostile_mirror_is_caught_by_tuf_verify_and_an_honest_one_answers() {
    let signer = signer();
    let version = common::parse_timestamp(&signer.get(&format!("{ROLE}/timestamp.json")))
        .signed
        .version
        .get();
    let tmp = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = signer.repo(ROLE).join("1.root.json");
    let start = |name: &str| {
        let toml = format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n[upstream]\nurl = {:?}\npoll_interval_ms = 50\n[roles.{ROLE:?}]\ntrusted_root = {:?}\nlayout = \"crates-index\"\n",
            tmp.path().join(name).display().to_string(),
            signer.url(),
            root.display().to_string(),
        );
        let config = tuf_signer::mirror::MirrorConfig::parse(&toml, name).unwrap();
        runtime.block_on(tuf_signer::mirror::start(config)).unwrap()
    };
    let (honest, hostile) = (start("honest"), start("hostile"));
    let honest_url = format!("http://{}", honest.local_addr());
    let evil = Proxy::start(hostile.local_addr());
    evil.set(changed_leaf);
    for m in [&honest, &hostile] {
        let status = format!("http://{}/api/v1/{ROLE}/status", m.local_addr());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let text = ureq::get(&status)
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap();
            let body: serde_json::Value = serde_json::from_str(&text).unwrap();
            if body["timestamp_version"].as_u64() == Some(version) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{body}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    let state = tmp.path().join("state");
    let out = tuf_verify()
        .args(["init", "--role", ROLE, "--state"])
        .arg(&state)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success());
    let verify = |repos: &[&str]| {
        let mut cmd = tuf_verify();
        cmd.arg("verify").arg("--state").arg(&state);
        for r in repos {
            cmd.args(["--repo", r]);
        }
        let out = cmd.arg(SYN).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = verify(&[&evil.url(), &honest_url]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("3/s/syn: present"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "WARNING: repository served data that failed verification: {}: changed leaf",
            evil.url()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("answered and verified by {honest_url}")),
        "{stderr}"
    );
    // The hostile mirror alone: refused, never a wrong answer.
    let (code, stdout, stderr) = verify(&[&evil.url()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("changed leaf"), "{stderr}");
    runtime.block_on(async {
        honest.shutdown().await;
        hostile.shutdown().await;
    });
}
