//! The attack suite: a real `tuf-signer` (in-process, real HTTP on 127.0.0.1) behind a tampering
//! proxy, or with forged files signed by the role's own key files. Every attack must be refused
//! with its own `ClientError` variant (or, for the auditor, its own `Breach`).

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{
    Action, Proxy, ROLE, Signer, edit_json, forge_timestamp, parse_root, parse_timestamp, sign,
};
use tuf_client::attest::{
    ATTESTATION_SPEC, ATTESTATION_TYPE, Attestation, AttestationPolicy, Statement,
};
use tuf_client::audit::{Breach, audit};
use tuf_client::transport::FileTransport;
use tuf_client::{Client, ClientError, Limits, Mode, Status};
use tuf_merkle::{LeafContents, Tree, key_of};

const SERDE: &str = "se/rd/serde";
const SYN: &str = "3/s/syn";
const TOKIO: &str = "to/ki/tokio";
const RAND: &str = "ra/nd/rand";

/// A signer with a few crates (serde at version 2, a deleted rand), a proxy, and a client
/// through the proxy that has verified serde once.
struct Setup {
    signer: Signer,
    proxy: Proxy,
    client: Client,
    state: tempfile::TempDir,
}

fn setup() -> Setup {
    let signer = Signer::start();
    signer.publish(ROLE, SERDE, b"serde 1.0.0\n");
    signer.publish(ROLE, SYN, b"syn 2.0.0\n");
    signer.publish(ROLE, TOKIO, b"tokio 1.0.0\n");
    signer.publish(ROLE, RAND, b"rand 0.9.0\n");
    signer.delete(ROLE, RAND);
    signer.publish(ROLE, SERDE, b"serde 1.0.0\nserde 1.0.1\n");
    let proxy = Proxy::start(signer.addr);
    let state = tempfile::tempdir().expect("state");
    let mut client = signer.client(ROLE, Mode::Merkle, &proxy.url(), state.path());
    client.refresh().expect("honest refresh");
    let v = client
        .verify(SERDE, Some(b"serde 1.0.0\nserde 1.0.1\n"))
        .expect("honest verify");
    assert!(matches!(v.status, Status::Present(c) if c.version() == 2));
    Setup {
        signer,
        proxy,
        client,
        state,
    }
}

#[test]
fn honest_repository_verifies_present_deleted_absent_and_many() {
    let mut s = setup();
    let v = s.client.verify(RAND, None).expect("tombstone");
    assert_eq!(v.status, Status::Deleted(2));
    let v = s.client.verify("no/th/nothere", None).expect("absent");
    assert_eq!(v.status, Status::Absent);
    let err = s.client.verify(SYN, Some(b"syn 6.6.6\n")).unwrap_err();
    assert!(matches!(err, ClientError::FileMismatch { .. }), "{err}");
    let names: Vec<String> = [SERDE, SYN, TOKIO, RAND, "no/th/nothere"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut files = BTreeMap::new();
    files.insert(TOKIO.to_string(), b"tokio 1.0.0\n".to_vec());
    let all = s.client.verify_many(&names, &files).expect("verify many");
    assert_eq!(all.len(), 5);
    assert!(all.iter().filter(|v| v.status.is_present()).count() == 3);
    // A new publish, then a refresh moves the client forward.
    s.signer.publish(ROLE, TOKIO, b"tokio 1.0.0\ntokio 1.0.1\n");
    let r = s.client.refresh().expect("refresh");
    let v = s
        .client
        .verify(TOKIO, Some(b"tokio 1.0.0\ntokio 1.0.1\n"))
        .expect("v2");
    assert_eq!(v.timestamp_version, r.timestamp_version);
    // The state persisted the versions seen.
    let state = tuf_client::State::load(s.state.path()).expect("state");
    assert_eq!(state.leaves.get(TOKIO), Some(&2));
    assert_eq!(state.leaves.get(RAND), Some(&2));

    // More names than one request may carry: asked in chunks against one version, same answer.
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    s.proxy.set(move |m, p| {
        if m == "POST" && p.contains("/proofs") {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Action::Forward
    });
    files.insert(TOKIO.to_string(), b"tokio 1.0.0\ntokio 1.0.1\n".to_vec());
    let one_request = s.client.verify_many(&names, &files).expect("one request");
    assert_eq!(asked.swap(0, std::sync::atomic::Ordering::SeqCst), 1);
    let mut client = s.client.with_limits(Limits {
        names_per_request: 2,
        ..Limits::default()
    });
    let chunked = client.verify_many(&names, &files).expect("chunked");
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(chunked, one_request);
}

#[test]
fn classic_role_goes_through_snapshot_and_targets() {
    let signer = Signer::start();
    signer.publish(common::CLASSIC, "rustup/dist/x.tar", b"rustup binary");
    let state = tempfile::tempdir().expect("state");
    let mut client = signer.client(common::CLASSIC, Mode::Classic, &signer.url(), state.path());
    client.refresh().expect("refresh");
    let v = client
        .verify("rustup/dist/x.tar", Some(b"rustup binary"))
        .expect("listed");
    assert!(matches!(v.status, Status::Listed { length: 13, .. }));
    let err = client
        .verify("rustup/dist/x.tar", Some(b"evil"))
        .unwrap_err();
    assert!(matches!(err, ClientError::FileMismatch { .. }), "{err}");
    let err = client.verify("rustup/dist/other", None).unwrap_err();
    assert!(matches!(err, ClientError::NotListed(_)), "{err}");
}

#[test]
fn changed_leaf_is_refused() {
    let mut s = setup();
    s.proxy.set(|m, p| {
        if m == "GET" && p.contains("/proof/") {
            Action::Mutate(Box::new(|b| {
                edit_json(b, |v| {
                    let leaf = &mut v["proof"]["leaf_contents"][SYN];
                    leaf["hashes"]["sha256"] =
                        tuf_merkle::hash::sha256(b"evil syn").to_hex().into();
                    leaf["length"] = 8.into();
                })
            }))
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SYN, Some(b"evil syn")).unwrap_err();
    assert!(matches!(err, ClientError::ChangedLeaf { .. }), "{err}");
}

#[test]
fn wrong_sibling_is_refused() {
    let mut s = setup();
    s.proxy.set(|m, p| {
        if m == "GET" && p.contains("/proof/") {
            Action::Mutate(Box::new(|b| {
                edit_json(b, |v| {
                    let path = v["proof"]["merkle_path"].as_object_mut().expect("path");
                    let last = (path.len() - 1).to_string();
                    path.insert(last, tuf_merkle::hash::sha256(b"x").to_hex().into());
                })
            }))
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SYN, None).unwrap_err();
    assert!(matches!(err, ClientError::WrongSibling { .. }), "{err}");
}

#[test]
fn proof_for_another_root_is_refused() {
    let mut s = setup();
    // Mix-and-match: the proof answered is the (valid) one of an older timestamp.
    let trusted = s.client.state().proof_version;
    s.proxy.set(move |m, p| {
        if p.contains("/proof/") && m == "GET" {
            let older = p.replace(
                &format!("version={trusted}"),
                &format!("version={}", trusted - 2),
            );
            Action::Rewrite(older)
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SYN, None).unwrap_err();
    assert!(
        matches!(err, ClientError::ProofForOtherRoot { .. }),
        "{err}"
    );
    // And for a multi-proof.
    s.proxy.set(move |m, p| {
        if m == "POST" && p.contains("/proofs") {
            Action::Mutate(Box::new(move |b| {
                // Replace the proof with one for an older root, built from a different tree.
                let mut tree = Tree::new();
                tree.set(
                    key_of(SYN),
                    LeafContents::for_bytes(1, b"syn 2.0.0\n").unwrap(),
                );
                let proof = tree.prove_many(&[SYN]).unwrap();
                let root = tree.root();
                edit_json(b, |v| {
                    v["proof"] = serde_json::from_slice(&proof.to_json()).unwrap();
                    v["merkle_root"] = root.to_hex().into();
                })
            }))
        } else {
            Action::Forward
        }
    });
    let err = s
        .client
        .verify_many(&[SYN.to_string()], &BTreeMap::new())
        .unwrap_err();
    assert!(
        matches!(err, ClientError::ProofForOtherRoot { .. }),
        "{err}"
    );
}

#[test]
fn replayed_old_timestamp_is_rollback() {
    let mut s = setup();
    let old = s.signer.get(&format!("{ROLE}/timestamp.json"));
    s.signer.publish(ROLE, TOKIO, b"tokio 2\n");
    s.client.refresh().expect("refresh to the newer timestamp");
    s.proxy.set(move |_, p| {
        if p.ends_with("/timestamp.json") {
            Action::Respond(200, old.clone())
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Rollback {
                role: "timestamp",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn frozen_timestamp_expires() {
    let s = setup();
    let frozen = s.signer.get(&format!("{ROLE}/timestamp.json"));
    let expires = parse_timestamp(&frozen).signed.expires;
    s.proxy.set(move |_, p| {
        if p.ends_with("/timestamp.json") {
            Action::Respond(200, frozen.clone())
        } else {
            Action::Forward
        }
    });
    // A day later the mirror still serves the same timestamp.
    let later = expires + jiff::SignedDuration::from_secs(60);
    // One client per state directory at a time: a second `open` in this process is refused
    // (it would wait for its own lock), so the setup's client goes first.
    let err = Client::open(s.state.path(), tuf_client::transport::open(&s.proxy.url()))
        .err()
        .expect("a second open of an open state directory is refused");
    assert!(matches!(err, ClientError::StateInUse(_)), "{err}");
    let Setup {
        signer: _signer,
        proxy,
        client,
        state,
    } = s;
    drop(client);
    let mut client = Client::open(state.path(), tuf_client::transport::open(&proxy.url()))
        .expect("open")
        .with_time(later);
    let err = client.refresh().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Expired {
                role: "timestamp",
                ..
            }
        ),
        "{err}"
    );
    // Verifying without a refresh is refused too once the trusted timestamp has expired.
    let err = client.verify(SERDE, None).unwrap_err();
    assert!(matches!(err, ClientError::Expired { .. }), "{err}");
}

#[test]
fn leaf_version_lower_than_seen_is_refused() {
    // The holder of the online key signs a new timestamp over a tree in which serde went back
    // to version 1; the proof verifies, but this client saw version 2.
    let mut s = setup();
    let key = s.signer.online_key(ROLE);
    let real = parse_timestamp(&s.signer.get(&format!("{ROLE}/timestamp.json")));
    let mut tree = Tree::new();
    tree.set(
        key_of(SERDE),
        LeafContents::for_bytes(1, b"serde 1.0.0\n").unwrap(),
    );
    tree.set(
        key_of(SYN),
        LeafContents::for_bytes(1, b"syn 2.0.0\n").unwrap(),
    );
    let root = tree.root();
    let version = real.signed.version.get() + 1;
    let forged = forge_timestamp(
        &real,
        &key,
        version,
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        root,
    );
    let proof = tree.prove(SERDE).to_json();
    s.proxy.set(move |_, p| {
        if p.ends_with("/timestamp.json") {
            Action::Respond(200, forged.clone())
        } else if p.contains("/proof/") {
            let body = serde_json::json!({
                "role": ROLE, "timestamp_version": version, "merkle_root": root.to_hex(),
                "proof": serde_json::from_slice::<serde_json::Value>(&proof).unwrap(),
            });
            Action::Respond(200, serde_json::to_vec(&body).unwrap())
        } else {
            Action::Forward
        }
    });
    s.client
        .refresh()
        .expect("the forged timestamp is validly signed");
    let err = s.client.verify(SERDE, Some(b"serde 1.0.0\n")).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::LeafVersionDecreased {
                seen: 2,
                got: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn root_rotation_below_threshold_is_refused() {
    let mut s = setup();
    let root1 = parse_root(&s.signer.get(&format!("{ROLE}/1.root.json")));
    let old_key = s.signer.root_key();
    let tmp = tempfile::tempdir().expect("tmp");
    let new_key =
        tuf_keys::FileSigner::generate(tmp.path().join("new.pem"), tuf_keys::KeyAlgorithm::Ed25519)
            .expect("key");
    // Root 2 needs 2 of {old, new} but carries only the old key's signature.
    let mut r = root1.signed.clone();
    r.version = std::num::NonZeroU64::new(2).unwrap();
    r.keys.insert(
        new_key.public_key().key_id().clone(),
        new_key.public_key().key().clone(),
    );
    let roles = r.roles.get_mut(&tough::schema::RoleType::Root).unwrap();
    roles.keyids.push(new_key.public_key().key_id().clone());
    roles.threshold = std::num::NonZeroU64::new(2).unwrap();
    let below_own = serde_json::to_vec(&sign(r.clone(), &[&old_key])).unwrap();
    s.proxy.set(move |_, p| {
        if p.ends_with("/2.root.json") {
            Action::Respond(200, below_own.clone())
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(
        matches!(&err, ClientError::RootBelowThreshold { version: 2, by, .. } if by == "itself"),
        "{err}"
    );
    // Signed only by the new key: below the trusted root's threshold.
    let below_old = serde_json::to_vec(&sign(r, &[&new_key])).unwrap();
    s.proxy.set(move |_, p| {
        if p.ends_with("/2.root.json") {
            Action::Respond(200, below_old.clone())
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(
        matches!(&err, ClientError::RootBelowThreshold { version: 2, by, .. } if by == "root 1"),
        "{err}"
    );
    assert_eq!(s.client.state().root_version, 1);
    // The rotation signed by both keys is accepted and kept, even when the next step fails.
    let mut good = root1.signed.clone();
    good.version = std::num::NonZeroU64::new(2).unwrap();
    good.keys.insert(
        new_key.public_key().key_id().clone(),
        new_key.public_key().key().clone(),
    );
    good.roles
        .get_mut(&tough::schema::RoleType::Root)
        .unwrap()
        .keyids
        .push(new_key.public_key().key_id().clone());
    let good = serde_json::to_vec(&sign(good, &[&old_key, &new_key])).unwrap();
    // Root 3 claims to be version 4: refused as a wrong version.
    let mut wrong = parse_root(&good).signed;
    wrong.version = std::num::NonZeroU64::new(4).unwrap();
    let wrong = serde_json::to_vec(&sign(wrong, &[&old_key, &new_key])).unwrap();
    s.proxy.set(move |_, p| {
        if p.ends_with("/2.root.json") {
            Action::Respond(200, good.clone())
        } else if p.ends_with("/3.root.json") {
            Action::Respond(200, wrong.clone())
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(
        matches!(err, ClientError::RootVersion { found: 4, .. }),
        "{err}"
    );
    assert_eq!(s.client.state().root_version, 2, "root 2 was kept");
    s.proxy.set(move |_, p| {
        if p.ends_with("/3.root.json") {
            Action::Respond(404, Vec::new())
        } else {
            Action::Forward
        }
    });
    // The repository itself has no root 2; the client keeps its trusted root 2.
    let r = s.client.refresh().expect("refresh on root 2");
    assert_eq!(r.root_version, 2);
}

/// A proof asked against a timestamp version the signer no longer keeps is 410 Gone, not a
/// withheld crate: the client refreshes and asks again against the current timestamp; a server
/// that keeps answering 410 gets a status error, never `Withheld`.
#[test]
fn a_timestamp_version_no_longer_kept_refreshes_and_retries() {
    let mut s = setup();
    let trusted = s.client.state().proof_version;
    // The signer keeps 64 versions by default: move past them.
    let mut latest = 0;
    for i in 0..65 {
        latest = s
            .signer
            .publish(ROLE, TOKIO, format!("tokio 2.0.{i}\n").as_bytes());
    }
    assert!(latest > trusted + 64, "{trusted} {latest}");
    let v = s.client.verify(SERDE, None).expect("refreshed and retried");
    assert_eq!(v.timestamp_version, latest);
    assert_eq!(s.client.state().proof_version, latest);
    assert!(matches!(v.status, Status::Present(c) if c.version() == 2));

    // The same for a multi-proof.
    for i in 0..65 {
        latest = s
            .signer
            .publish(ROLE, TOKIO, format!("tokio 2.1.{i}\n").as_bytes());
    }
    let many = s
        .client
        .verify_many(&[SERDE.to_owned(), TOKIO.to_owned()], &BTreeMap::new())
        .expect("refreshed and retried");
    assert!(many.iter().all(|v| v.timestamp_version == latest));

    // A server that answers 410 whatever the version: a distinct error, not Withheld.
    s.proxy.set(|_, p| {
        if p.contains("/proof") {
            Action::Respond(
                410,
                br#"{"error":{"code":"version_not_kept","message":"gone"}}"#.to_vec(),
            )
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SYN, None).unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 410, .. }),
        "{err}"
    );
    let err = s
        .client
        .verify_many(&[SYN.to_owned()], &BTreeMap::new())
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 410, .. }),
        "{err}"
    );
}

#[test]
fn withheld_crate_is_detected() {
    let mut s = setup();
    s.proxy.set(|_, p| {
        if p.contains("/proof/") {
            Action::Respond(
                404,
                br#"{"error":{"code":"not_found","message":"no"}}"#.to_vec(),
            )
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SYN, None).unwrap_err();
    assert!(matches!(err, ClientError::Withheld { .. }), "{err}");
    // A forged "never published" proof for a crate the tree holds.
    s.proxy.set(|m, p| {
        if m == "GET" && p.contains("/proof/") {
            Action::Mutate(Box::new(|b| {
                let empty = Tree::new().prove(SYN).to_json();
                edit_json(b, |v| {
                    v["proof"] = serde_json::from_slice(&empty).unwrap();
                })
            }))
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SYN, None).unwrap_err();
    assert!(matches!(err, ClientError::Withheld { .. }), "{err}");
}

#[test]
fn withheld_or_swapped_target_bytes_are_refused() {
    let mut s = setup();
    let (v, bytes) = s.client.download(SERDE).expect("honest download");
    assert!(v.status.is_present());
    assert_eq!(bytes.as_deref(), Some(&b"serde 1.0.0\nserde 1.0.1\n"[..]));
    let (v, bytes) = s.client.download(RAND).expect("deleted");
    assert_eq!((v.status, bytes), (Status::Deleted(2), None));
    s.proxy.set(|_, p| {
        if p.contains("/targets/") {
            Action::Respond(404, Vec::new())
        } else {
            Action::Forward
        }
    });
    let err = s.client.download(SERDE).unwrap_err();
    assert!(matches!(err, ClientError::Withheld { .. }), "{err}");
    // The old bytes served for the new version: same length is not enough.
    s.proxy.set(|_, p| {
        if p.contains("/targets/") {
            Action::Respond(200, b"serde 1.0.0\nserde 1.0.0\n".to_vec())
        } else {
            Action::Forward
        }
    });
    let err = s.client.download(SERDE).unwrap_err();
    assert!(matches!(err, ClientError::FileMismatch { .. }), "{err}");
    // Endless data: never read past the signed length.
    s.proxy.set(|_, p| {
        if p.contains("/targets/") {
            Action::Respond(200, vec![b'x'; 10_000])
        } else {
            Action::Forward
        }
    });
    let err = s.client.download(SERDE).unwrap_err();
    assert!(matches!(err, ClientError::TooLarge { .. }), "{err}");
}

#[test]
fn oversized_responses_are_refused() {
    let mut s = setup();
    s.proxy.set(|_, p| {
        if p.ends_with("/timestamp.json") {
            Action::Respond(200, vec![b' '; 2 * 1024 * 1024])
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(matches!(err, ClientError::TooLarge { .. }), "{err}");
    // Without a Content-Length: the body is cut at the limit.
    s.proxy.set(|_, p| {
        if p.ends_with("/timestamp.json") {
            let mut raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            raw.extend(vec![b' '; 1024 * 1024]);
            Action::Raw(raw)
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(matches!(err, ClientError::TooLarge { .. }), "{err}");
    // An oversized proof answer.
    s.proxy.honest();
    s.client.refresh().expect("refresh");
    s.proxy.set(|_, p| {
        if p.contains("/proof/") {
            Action::Respond(200, vec![b' '; 1024 * 1024])
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SERDE, None).unwrap_err();
    assert!(matches!(err, ClientError::TooLarge { .. }), "{err}");
}

#[test]
fn truncated_responses_are_refused() {
    let mut s = setup();
    let ts = s.signer.get(&format!("{ROLE}/timestamp.json"));
    s.proxy.set(move |_, p| {
        if p.ends_with("/timestamp.json") {
            let mut raw = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                ts.len()
            )
            .into_bytes();
            raw.extend_from_slice(&ts[..ts.len() / 2]);
            Action::Raw(raw)
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(matches!(err, ClientError::Truncated { .. }), "{err}");
}

#[test]
fn malformed_json_is_refused() {
    let mut s = setup();
    s.proxy.set(|_, p| {
        if p.ends_with("/timestamp.json") {
            Action::Respond(200, br#"{"signed": {"_type": "timestamp", "#.to_vec())
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(matches!(err, ClientError::MalformedJson { .. }), "{err}");
    s.proxy.set(|_, p| {
        if p.contains("/proof/") {
            Action::Respond(200, b"[1, 2,".to_vec())
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SERDE, None).unwrap_err();
    assert!(matches!(err, ClientError::MalformedJson { .. }), "{err}");
    // A well-formed answer whose proof breaks the POUF's rules (an uppercase hash).
    s.proxy.set(|m, p| {
        if m == "GET" && p.contains("/proof/") {
            Action::Mutate(Box::new(|b| {
                edit_json(b, |v| {
                    let h = v["proof"]["merkle_path"]["0"]
                        .as_str()
                        .unwrap()
                        .to_uppercase();
                    v["proof"]["merkle_path"]["0"] = h.into();
                })
            }))
        } else {
            Action::Forward
        }
    });
    let err = s.client.verify(SERDE, None).unwrap_err();
    assert!(matches!(err, ClientError::MalformedProof { .. }), "{err}");
}

#[test]
fn tampered_timestamp_signature_is_refused() {
    let mut s = setup();
    s.proxy.set(|_, p| {
        if p.ends_with("/timestamp.json") {
            Action::Mutate(Box::new(|b| {
                edit_json(b, |v| {
                    v["signed"]["merkle_root"] = tuf_merkle::hash::sha256(b"other").to_hex().into();
                })
            }))
        } else {
            Action::Forward
        }
    });
    let err = s.client.refresh().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::BadSignature {
                role: "timestamp",
                ..
            }
        ),
        "{err}"
    );
}

/// The auditor: an honest history passes over HTTP and gets an attestation a client accepts;
/// a history in which the online key's holder lowers a leaf's version is caught.
/// The auditor checks the exact bytes each change record names: a timestamp file that still
/// verifies (same `signed`, re-serialized) but is not the bytes that were signed and served, or a
/// missing one, is a breach at its version; so is a `timestamp.json` that is not byte for byte
/// the latest record's.
#[test]
fn audit_checks_the_exact_signed_timestamp_bytes() {
    let s = setup();
    let root1 = s.signer.get(&format!("{ROLE}/1.root.json"));
    let limits = Limits::default();
    let copy = tempfile::tempdir().expect("copy");
    let repo = copy.path().join(ROLE);
    copy_dir(&s.signer.repo(ROLE), &repo);
    let files = FileTransport::new(copy.path());
    let report = audit(&files, ROLE, &root1, &limits).expect("audit");
    assert_eq!(report.breach, None, "{report:?}");
    let latest = report.latest_version;
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.join("changes/2.json")).unwrap()).unwrap();
    assert!(record.get("timestamp").is_none());
    assert_eq!(record["timestamp_file"], "timestamps/2.timestamp.json");

    // Version 2's timestamp re-serialized: the signature still holds, the bytes are not the
    // signed ones.
    let path = repo.join("timestamps/2.timestamp.json");
    let original = std::fs::read(&path).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&original).unwrap();
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let report = audit(&files, ROLE, &root1, &limits).expect("audit");
    assert!(
        matches!(
            report.breach,
            Some(Breach::BadTimestamp {
                timestamp_version: 2,
                ..
            })
        ),
        "{:?}",
        report.breach
    );
    assert_eq!(report.last_good_version, Some(1));
    // Missing.
    std::fs::remove_file(&path).unwrap();
    let report = audit(&files, ROLE, &root1, &limits).expect("audit");
    assert!(
        matches!(
            report.breach,
            Some(Breach::BadTimestamp {
                timestamp_version: 2,
                ..
            })
        ),
        "{:?}",
        report.breach
    );
    std::fs::write(&path, &original).unwrap();

    // timestamp.json re-serialized: verifies, same root, but not the bytes that were signed.
    let ts_path = repo.join("timestamp.json");
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ts_path).unwrap()).unwrap();
    std::fs::write(&ts_path, serde_json::to_vec(&value).unwrap()).unwrap();
    let report = audit(&files, ROLE, &root1, &limits).expect("audit");
    assert!(
        matches!(report.breach, Some(Breach::BadTimestamp { timestamp_version, .. }) if timestamp_version == latest),
        "{:?}",
        report.breach
    );
}

#[test]
fn audit_catches_a_lowered_version_and_attests_honest_history() {
    let s = setup();
    s.signer.publish(ROLE, TOKIO, b"tokio 1.0.0\ntokio 1.0.1\n");
    let root1 = s.signer.get(&format!("{ROLE}/1.root.json"));
    let limits = Limits::default();
    let http = tuf_client::transport::open(&s.signer.url());
    let report = audit(http.as_ref(), ROLE, &root1, &limits).expect("audit");
    assert_eq!(report.breach, None, "{report:?}");
    assert_eq!(report.last_good_version, Some(report.latest_version));
    assert!(report.records >= 7);

    // Attest it, and have a client require the attestation.
    let tmp = tempfile::tempdir().expect("tmp");
    let auditor = tuf_keys::FileSigner::generate(
        tmp.path().join("auditor.pem"),
        tuf_keys::KeyAlgorithm::Ed25519,
    )
    .expect("auditor key");
    let statement = Statement {
        typ: ATTESTATION_TYPE.into(),
        spec_version: ATTESTATION_SPEC.into(),
        role: ROLE.into(),
        timestamp_version: report.last_good_version.unwrap(),
        merkle_root: report.last_good_root.unwrap().to_hex(),
        root_version: report.last_root_version,
        first_timestamp_version: 1,
        leaves: report.leaves,
        audited_at: jiff::Timestamp::now().to_string(),
    };
    let signed = Attestation::sign(statement.clone(), &auditor).expect("sign");
    std::fs::write(
        tmp.path().join("attestation.json"),
        serde_json::to_vec(&signed).unwrap(),
    )
    .unwrap();
    let policy = |path: &str| AttestationPolicy {
        keys: vec![
            tuf_verify_core::PublicKey::from_key_json(
                &serde_json::to_value(auditor.public_key().key()).unwrap(),
            )
            .unwrap(),
        ],
        threshold: 1,
        source: Box::new(FileTransport::new(tmp.path())),
        path: path.into(),
        max_lag: 8,
    };
    let state = tempfile::tempdir().expect("state");
    let mut client = s
        .signer
        .client(ROLE, Mode::Merkle, &s.signer.url(), state.path())
        .require_attestation(policy("attestation.json"));
    let r = client.refresh().expect("attested refresh");
    assert_eq!(r.proof_version, statement.timestamp_version);
    client
        .verify(TOKIO, Some(b"tokio 1.0.0\ntokio 1.0.1\n"))
        .expect("verify at the attested root");
    // An attestation of another root for the same version: a split view.
    let mut forged = statement.clone();
    forged.merkle_root = tuf_merkle::hash::sha256(b"fork").to_hex();
    let forged = Attestation::sign(forged, &auditor).expect("sign");
    std::fs::write(
        tmp.path().join("fork.json"),
        serde_json::to_vec(&forged).unwrap(),
    )
    .unwrap();
    let state2 = tempfile::tempdir().expect("state");
    let mut client = s
        .signer
        .client(ROLE, Mode::Merkle, &s.signer.url(), state2.path())
        .require_attestation(policy("fork.json"));
    let err = client.refresh().unwrap_err();
    assert!(matches!(err, ClientError::Equivocation { .. }), "{err}");
    // An attestation signed by an unknown key.
    let other = tuf_keys::FileSigner::generate(
        tmp.path().join("other.pem"),
        tuf_keys::KeyAlgorithm::Ed25519,
    )
    .expect("key");
    let unknown = Attestation::sign(statement, &other).expect("sign");
    std::fs::write(
        tmp.path().join("unknown.json"),
        serde_json::to_vec(&unknown).unwrap(),
    )
    .unwrap();
    let state3 = tempfile::tempdir().expect("state");
    let mut client = s
        .signer
        .client(ROLE, Mode::Merkle, &s.signer.url(), state3.path())
        .require_attestation(policy("unknown.json"));
    let err = client.refresh().unwrap_err();
    assert!(matches!(err, ClientError::Attestation(_)), "{err}");

    // Now the attack: a copy of the repository, extended with a timestamp signed with the
    // role's key file whose tree has serde back at version 1, and an honest-looking record.
    let copy = tempfile::tempdir().expect("copy");
    let repo = copy.path().join(ROLE);
    copy_dir(&s.signer.repo(ROLE), &repo);
    let key = s.signer.online_key(ROLE);
    let latest = report.latest_version;
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo.join(format!("changes/{latest}.json"))).unwrap(),
    )
    .unwrap();
    // Rebuild the tree as the history has it, then lower serde.
    let mut tree = Tree::new();
    for v in 1..=latest {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(repo.join(format!("changes/{v}.json"))).unwrap())
                .unwrap();
        for c in r["changes"].as_array().unwrap() {
            let key = tuf_merkle::hash::parse_hex(c["key"].as_str().unwrap()).unwrap();
            let new: LeafContents = serde_json::from_value(c["new"].clone()).unwrap();
            tree.set(key, new);
        }
    }
    let old = tree.get(SERDE).unwrap();
    assert_eq!(old.version(), 2);
    let lowered = LeafContents::for_bytes(1, b"serde 1.0.0\n").unwrap();
    tree.set(key_of(SERDE), lowered);
    let real_ts = parse_timestamp(&std::fs::read(repo.join("timestamp.json")).unwrap());
    let next = latest + 1;
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let forged_ts = forge_timestamp(&real_ts, &key, next, expires, tree.root());
    let mut forged_record = record.clone();
    forged_record["timestamp_version"] = next.into();
    forged_record["previous_timestamp_version"] = latest.into();
    forged_record["merkle_root"] = tree.root().to_hex().into();
    forged_record["tree_root"] = tree.root().to_hex().into();
    // The forged timestamp's exact bytes beside the record, which names them.
    let forged_file = format!("timestamps/{next}.timestamp.json");
    std::fs::write(repo.join(&forged_file), &forged_ts).unwrap();
    forged_record["timestamp_file"] = forged_file.into();
    forged_record["timestamp_length"] = forged_ts.len().into();
    forged_record["timestamp_sha256"] = tuf_merkle::hash::sha256(&forged_ts).to_hex().into();
    forged_record["changes"] = serde_json::json!([{
        "name": SERDE, "key": key_of(SERDE).to_hex(),
        "old": serde_json::to_value(old).unwrap(), "new": serde_json::to_value(lowered).unwrap(),
    }]);
    std::fs::write(
        repo.join(format!("changes/{next}.json")),
        serde_json::to_vec_pretty(&forged_record).unwrap(),
    )
    .unwrap();
    std::fs::write(repo.join("timestamp.json"), &forged_ts).unwrap();
    let files = FileTransport::new(copy.path());
    let report = audit(&files, ROLE, &root1, &limits).expect("audit");
    match report.breach {
        Some(Breach::VersionDecreased {
            timestamp_version,
            ref name,
            from: 2,
            to: 1,
            ..
        }) => {
            assert_eq!(timestamp_version, next);
            assert_eq!(name, SERDE);
        }
        ref other => panic!("expected VersionDecreased, got {other:?}"),
    }
    assert_eq!(report.last_good_version, Some(latest));

    // The same attack with a record that hides the change: the signed root gives it away.
    forged_record["changes"] = serde_json::json!([]);
    std::fs::write(
        repo.join(format!("changes/{next}.json")),
        serde_json::to_vec_pretty(&forged_record).unwrap(),
    )
    .unwrap();
    let report = audit(&files, ROLE, &root1, &limits).expect("audit");
    assert!(
        matches!(report.breach, Some(Breach::RootMismatch { timestamp_version, .. }) if timestamp_version == next),
        "{:?}",
        report.breach
    );
    // And with the record removed: a missing record.
    std::fs::remove_file(repo.join(format!("changes/{next}.json"))).unwrap();
    let report = audit(&files, ROLE, &root1, &limits).expect("audit");
    assert!(
        matches!(report.breach, Some(Breach::MissingRecord { .. })),
        "{:?}",
        report.breach
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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
