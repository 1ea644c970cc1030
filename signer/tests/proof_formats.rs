//! Proof answers in both formats over real HTTP on 127.0.0.1 (`docs/api.md`, "Formats"): JSON
//! by default, the POUF's binary encoding (§10) for `Accept: application/vnd.tuf-merkle-proof`,
//! the same proof either way, with the same caching headers and `Vary: Accept`; 406 when
//! `Accept` rules both out.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{MERKLE, Resp, Signer};
use serde_json::{Value, json};
use tuf_merkle::binary::{Answer, MEDIA_TYPE};
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{Digest, Proof};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The JSON answer's members and its proof, re-encoded in binary, must be the binary answer.
fn same_answer(json: &Resp, binary: &Resp, multi: bool) -> Value {
    let j = json.json();
    let a = Answer::decode(&binary.body).expect("a binary answer");
    assert_eq!(a.role, j["role"].as_str().unwrap());
    assert_eq!(
        a.timestamp_version,
        j["timestamp_version"].as_u64().unwrap()
    );
    assert_eq!(a.merkle_root.to_hex(), j["merkle_root"].as_str().unwrap());
    let proof_json = serde_json::to_vec(&j["proof"]).unwrap();
    if multi {
        let from_json = MultiProof::from_json(&proof_json).unwrap();
        assert_eq!(MultiProof::from_binary(a.proof).unwrap(), from_json);
        assert_eq!(from_json.to_binary().unwrap(), a.proof);
    } else {
        let from_json = Proof::from_json(&proof_json).unwrap();
        assert_eq!(Proof::from_binary(a.proof).unwrap(), from_json);
        assert_eq!(from_json.to_binary().unwrap(), a.proof);
    }
    assert!(binary.body.len() < json.body.len());
    j
}

fn headers(r: &Resp) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        r.header("content-type"),
        r.header("cache-control"),
        r.header("vary"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_come_as_json_or_binary_as_accept_asks() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    for (name, bytes) in [
        ("se/rd/serde", &b"serde"[..]),
        ("3/s/syn", b"syn"),
        ("1/a", b"a"),
    ] {
        let r = s
            .write(
                MERKLE,
                "PUT",
                &format!("/api/v1/{MERKLE}/targets/{name}?wait=signed"),
                None,
                bytes,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = s
        .write(
            MERKLE,
            "DELETE",
            &format!("/api/v1/{MERKLE}/targets/1/a?wait=signed"),
            None,
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (version, root) = s.verified_timestamp(MERKLE).await;
    let root: Digest = root.unwrap();
    let binary = [("accept", MEDIA_TYPE)];

    // Present, a tombstone, absent; by version (immutable) and latest (short-lived).
    for name in ["se/rd/serde", "1/a", "ab/se/absent"] {
        for (query, cache) in [
            (format!("?version={version}"), IMMUTABLE),
            (String::new(), "public, max-age=5"),
        ] {
            let path = format!("/api/v1/{MERKLE}/proof/{name}{query}");
            let j = s.req("GET", &path, &[], b"").await;
            let b = s.req("GET", &path, &binary, b"").await;
            assert_eq!((j.status, b.status), (200, 200), "{path}: {}", b.text());
            assert_eq!(
                headers(&j),
                (Some("application/json"), Some(cache), Some("accept")),
                "{path}"
            );
            assert_eq!(
                headers(&b),
                (Some(MEDIA_TYPE), Some(cache), Some("accept")),
                "{path}"
            );
            same_answer(&j, &b, false);
            let a = Answer::decode(&b.body).unwrap();
            Proof::from_binary(a.proof)
                .unwrap()
                .verify_for(&root, name)
                .unwrap();
            // The same bytes every time: a binary proof has one encoding.
            assert_eq!(s.req("GET", &path, &binary, b"").await.body, b.body);
            // HEAD has the same headers and no body.
            let h = s.req("HEAD", &path, &binary, b"").await;
            assert_eq!(headers(&h), headers(&b), "{path}");
            assert!(h.body.is_empty());
        }
    }

    // Accept values: the default for wildcards and ties, binary when preferred, 406 when
    // neither is acceptable (a JSON error, never stored).
    let path = format!("/api/v1/{MERKLE}/proof/se/rd/serde?version={version}");
    for (accept, expected) in [
        ("*/*", Some("application/json")),
        ("application/json", Some("application/json")),
        (
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            Some("application/json"),
        ),
        (
            "application/vnd.tuf-merkle-proof, application/json;q=0.5",
            Some(MEDIA_TYPE),
        ),
        ("application/vnd.tuf-merkle-proof, */*", Some(MEDIA_TYPE)),
        ("text/html", None),
        ("application/json;q=0", None),
    ] {
        let r = s.req("GET", &path, &[("accept", accept)], b"").await;
        match expected {
            Some(ct) => {
                assert_eq!(r.status, 200, "{accept}");
                assert_eq!(r.header("content-type"), Some(ct), "{accept}");
            }
            None => {
                assert_eq!(r.status, 406, "{accept}");
                assert_eq!(r.error_code(), "not_acceptable");
                assert_eq!(r.header("content-type"), Some("application/json"));
                assert_eq!(r.header("cache-control"), Some("no-store"));
            }
        }
    }
    // Errors stay JSON when binary was asked.
    let r = s
        .req(
            "GET",
            &format!("/api/v1/{MERKLE}/proof/se/rd/serde?version={}", version + 1),
            &binary,
            b"",
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "version_not_signed");

    // A multi-proof: present, deleted, absent, in both formats.
    let names = ["se/rd/serde", "3/s/syn", "1/a", "ab/se/absent"];
    let body = json!({"names": names, "version": version}).to_string();
    let url = format!("/api/v1/{MERKLE}/proofs");
    let ct = [("content-type", "application/json")];
    let j = s.req("POST", &url, &ct, body.as_bytes()).await;
    let b = s
        .req("POST", &url, &[ct[0], binary[0]], body.as_bytes())
        .await;
    assert_eq!((j.status, b.status), (200, 200), "{}", b.text());
    assert_eq!(
        headers(&b),
        (Some(MEDIA_TYPE), Some("no-store"), Some("accept"))
    );
    assert_eq!(
        headers(&j),
        (Some("application/json"), Some("no-store"), Some("accept"))
    );
    same_answer(&j, &b, true);
    let a = Answer::decode(&b.body).unwrap();
    MultiProof::from_binary(a.proof)
        .unwrap()
        .verify_for(&root, &names)
        .unwrap();
    let r = s
        .req(
            "POST",
            &url,
            &[ct[0], ("accept", "image/png")],
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 406);
    s.stop().await;
}
