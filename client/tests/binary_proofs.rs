//! Binary proof answers (`docs/pouf.md` §10) end to end: a real `tuf-signer` on 127.0.0.1, the
//! client asking in either format, and a tampering proxy that serves the signer's own binary
//! answers, altered. Each alteration is refused with the error its JSON twin gets in
//! `attacks.rs`.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::{Action, Proxy, ROLE, Signer};
use tuf_client::{Client, ClientError, Mode, ProofFormat, Status};
use tuf_merkle::binary::{Answer, MEDIA_TYPE};
use tuf_testkit::http::request_blocking;

const SERDE: &str = "se/rd/serde";
const SYN: &str = "3/s/syn";
const RAND: &str = "ra/nd/rand";
const ABSENT: &str = "ab/se/absent";

fn setup() -> (Signer, Proxy, tempfile::TempDir, Client) {
    let signer = Signer::start();
    signer.publish(ROLE, SERDE, b"serde 1.0.0\n");
    signer.publish(ROLE, SYN, b"syn 2.0.0\n");
    signer.publish(ROLE, RAND, b"rand 0.9.0\n");
    signer.delete(ROLE, RAND);
    signer.publish(ROLE, SERDE, b"serde 1.0.0\nserde 1.0.1\n");
    let proxy = Proxy::start(signer.addr);
    let state = tempfile::tempdir().unwrap();
    let mut client = signer.client(ROLE, Mode::Merkle, &proxy.url(), state.path());
    client.refresh().unwrap();
    (signer, proxy, state, client)
}

/// The signer's binary answer to `GET path` (which the proxy itself would forward as JSON).
fn binary_get(signer: SocketAddr, path: &str) -> Vec<u8> {
    let r = request_blocking(signer, "GET", path, &[("accept", MEDIA_TYPE)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some(MEDIA_TYPE));
    r.body
}

/// The signer's binary multi-proof answer for `names` at `version`.
fn binary_post(signer: SocketAddr, names: &[&str], version: u64) -> Vec<u8> {
    let body = serde_json::json!({"names": names, "version": version}).to_string();
    let r = request_blocking(
        signer,
        "POST",
        &format!("/api/v1/{ROLE}/proofs"),
        &[("content-type", "application/json"), ("accept", MEDIA_TYPE)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.body
}

/// Where the proof starts in a binary answer, and the proof's own layout (POUF §10.1) for a
/// membership proof of `name`: (contents tag, depth field, end).
fn layout(answer: &[u8], name: &str) -> (usize, usize, usize) {
    let a = Answer::decode(answer).unwrap();
    let start = answer.len() - a.proof.len();
    let tag = start + 5 + 2 + name.len();
    (tag, tag + 49, answer.len())
}

#[test]
fn binary_answers_verify_like_json_ones() {
    let (signer, proxy, _state, mut client) = setup();
    let version = client.state().proof_version;
    let s = signer.addr;
    proxy.set(move |m, p| {
        if m == "GET" && p.contains("/proof/") {
            Action::Respond(200, binary_get(s, p))
        } else if m == "POST" {
            Action::Respond(200, binary_post(s, &[ABSENT, RAND, SYN, SERDE], version))
        } else {
            Action::Forward
        }
    });
    let v = client
        .verify(SERDE, Some(b"serde 1.0.0\nserde 1.0.1\n"))
        .unwrap();
    assert!(matches!(v.status, Status::Present(c) if c.version() == 2));
    assert_eq!(
        client.verify(RAND, None).unwrap().status,
        Status::Deleted(2)
    );
    assert_eq!(client.verify(ABSENT, None).unwrap().status, Status::Absent);
    let names: Vec<String> = [SERDE, SYN, RAND, ABSENT].map(String::from).to_vec();
    let many = client.verify_many(&names, &BTreeMap::new()).unwrap();
    assert_eq!(many.len(), 4);

    // Asked for JSON only, straight from the signer: the same answers.
    proxy.honest();
    let mut json = client.with_proof_format(ProofFormat::Json);
    assert_eq!(json.verify(RAND, None).unwrap().status, Status::Deleted(2));
    assert_eq!(json.verify_many(&names, &BTreeMap::new()).unwrap(), many);
}

#[test]
fn altered_binary_answers_are_refused() {
    let (signer, proxy, _state, mut client) = setup();
    let version = client.state().proof_version;
    let s = signer.addr;
    let serve = |edit: fn(Vec<u8>) -> Vec<u8>| {
        move |m: &str, p: &str| {
            if m == "GET" && p.contains("/proof/") {
                Action::Respond(200, edit(binary_get(s, p)))
            } else {
                Action::Forward
            }
        }
    };

    // The leaf's sha256 changed: a changed leaf (named with the honest multi-proof, which the
    // proxy forwards).
    proxy.set(serve(|mut b| {
        let (tag, _, _) = layout(&b, SYN);
        b[tag + 17] ^= 1;
        b
    }));
    let err = client.verify(SYN, None).unwrap_err();
    assert!(matches!(err, ClientError::ChangedLeaf { .. }), "{err}");

    // The last sibling changed: a wrong sibling.
    proxy.set(serve(|mut b| {
        let last = b.len() - 1;
        b[last] ^= 1;
        b
    }));
    let err = client.verify(SYN, None).unwrap_err();
    assert!(matches!(err, ClientError::WrongSibling { .. }), "{err}");

    // Cut short, a byte more, a bitmap bit past the depth, another format: malformed.
    for edit in [
        (|mut b: Vec<u8>| {
            b.pop();
            b
        }) as fn(Vec<u8>) -> Vec<u8>,
        |mut b| {
            b.push(0);
            b
        },
        |mut b| {
            let (_, depth, _) = layout(&b, SYN);
            let d = u16::from_le_bytes([b[depth], b[depth + 1]]);
            assert!(d % 8 != 0, "a spare bitmap bit");
            b[depth + 2 + usize::from(d / 8)] |= 1;
            b
        },
        |mut b| {
            b[3] = 2;
            b
        },
    ] {
        proxy.set(serve(edit));
        let err = client.verify(SYN, None).unwrap_err();
        assert!(matches!(err, ClientError::MalformedProof { .. }), "{err}");
    }

    // The proof of an older timestamp (mix-and-match), whose answer says so.
    proxy.set(move |m, p| {
        if m == "GET" && p.contains("/proof/") {
            let older = p.replace(
                &format!("version={version}"),
                &format!("version={}", version - 2),
            );
            Action::Respond(200, binary_get(s, &older))
        } else {
            Action::Forward
        }
    });
    let err = client.verify(SYN, None).unwrap_err();
    assert!(
        matches!(err, ClientError::ProofForOtherRoot { .. }),
        "{err}"
    );
    // And a multi-proof for another name set than asked.
    proxy.set(move |m, _| {
        if m == "POST" {
            Action::Respond(200, binary_post(s, &[SYN], version))
        } else {
            Action::Forward
        }
    });
    let err = client
        .verify_many(&[SYN.to_owned(), SERDE.to_owned()], &BTreeMap::new())
        .unwrap_err();
    assert!(matches!(err, ClientError::WrongNames { .. }), "{err}");
}
