//! The signer over real HTTP on 127.0.0.1: publish, proofs, delete, batch, auth, bad input,
//! restart recovery, and the data-directory lock.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::type_complexity)]

mod common;

use common::{CLASSIC, MERKLE, Signer, sha256_hex};
use serde_json::{Value, json};
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{LeafContents, Proof};

fn proof_of(v: &Value) -> Proof {
    Proof::from_json(&serde_json::to_vec(&v["proof"]).unwrap()).expect("proof parses strictly")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_proof_delete_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;

    // Publish bytes and wait for the signed timestamp.
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
            None,
            b"serde v1",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "signed");
    assert_eq!(v["results"][0]["contents"]["version"], 1);
    let (ts_version, root) = s.verified_timestamp(MERKLE).await;
    let root = root.expect("merkle_root in timestamp.json");
    assert_eq!(v["timestamp_version"], ts_version);
    assert_eq!(v["merkle_root"], root.to_hex());
    let p = proof_of(&v);
    p.verify(&root)
        .expect("proof in the reply verifies against the signed root");
    assert_eq!(
        p.contents(),
        Some(&LeafContents::for_bytes(1, b"serde v1").unwrap())
    );

    // The same proof through the proof endpoint.
    let r = s
        .req("GET", "/api/v1/crates.io/proof/se/rd/serde", &[], b"")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    proof_of(&r.json()).verify(&root).unwrap();
    // A name never published: a verified non-membership proof.
    let r = s
        .req("GET", "/api/v1/crates.io/proof/3/s/syn", &[], b"")
        .await;
    let absent = proof_of(&r.json());
    absent.verify(&root).unwrap();
    assert_eq!(absent.contents(), None);

    // Publish by hash, durable only.
    let body = json!({ "sha256": sha256_hex(b"syn"), "length": 3 }).to_string();
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/3/s/syn",
            Some("application/json"),
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "durable");
    // Identical contents change nothing.
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/3/s/syn",
            Some("application/json"),
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.json()["results"][0]["changed"], false);
    assert_eq!(r.json()["results"][0]["contents"]["version"], 1);

    // Delete: a tombstone at version 2, proved.
    let r = s
        .write(
            MERKLE,
            "DELETE",
            "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
            None,
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        v["results"][0]["contents"],
        json!({ "deleted": true, "version": 2 })
    );
    let (ts2, root2) = s.verified_timestamp(MERKLE).await;
    assert!(ts2 > ts_version);
    let p = proof_of(&v);
    p.verify(&root2.unwrap()).unwrap();
    assert_eq!(p.contents(), Some(&LeafContents::Deleted { version: 2 }));
    // Deleting again (a retrying pipeline) succeeds and changes nothing; deleting what never
    // existed is refused.
    let r = s
        .write(
            MERKLE,
            "DELETE",
            "/api/v1/crates.io/targets/se/rd/serde",
            None,
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let again = r.json();
    assert_eq!(again["results"][0]["changed"], json!(false));
    assert_eq!(
        again["results"][0]["contents"],
        json!({ "deleted": true, "version": 2 })
    );
    assert_eq!(
        s.verified_timestamp(MERKLE).await.1,
        root2,
        "a retried delete leaves the tree as it was"
    );
    let r = s
        .write(MERKLE, "DELETE", "/api/v1/crates.io/targets/1/a", None, b"")
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "target_not_found")
    );

    // The old version's proof is still served.
    let r = s
        .req(
            "GET",
            &format!("/api/v1/crates.io/proof/se/rd/serde?version={ts_version}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    proof_of(&r.json()).verify(&root).unwrap();
    let r = s
        .req(
            "GET",
            "/api/v1/crates.io/proof/se/rd/serde?version=999999",
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "version_not_signed")
    );

    // A batch: re-publish (version 3 after the tombstone), two new, one delete.
    let batch = json!({ "changes": [
        { "op": "upsert", "path": "se/rd/serde", "sha256": sha256_hex(b"serde v3"), "length": 8 },
        { "op": "upsert", "path": "to/ki/tokio", "sha256": sha256_hex(b"tokio"), "length": 5 },
        { "op": "upsert", "path": "2/cc", "sha256": sha256_hex(b"cc"), "length": 2 },
        { "op": "delete", "path": "3/s/syn" },
    ]});
    let r = s
        .write(
            MERKLE,
            "POST",
            "/api/v1/crates.io/batch?wait=signed",
            Some("application/json"),
            batch.to_string().as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["results"][0]["contents"]["version"], 3);
    assert_eq!(
        v["results"][3]["contents"],
        json!({ "deleted": true, "version": 2 })
    );
    let (_, root3) = s.verified_timestamp(MERKLE).await;
    let root3 = root3.unwrap();
    let multi = MultiProof::from_json(&serde_json::to_vec(&v["proof"]).unwrap()).unwrap();
    multi.verify(&root3).unwrap();
    assert_eq!(multi.targets().len(), 4);

    // Many proofs at once.
    let body = json!({ "names": ["se/rd/serde", "to/ki/tokio", "1/z"] }).to_string();
    let r = s
        .req(
            "POST",
            "/api/v1/crates.io/proofs",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let multi = MultiProof::from_json(&serde_json::to_vec(&r.json()["proof"]).unwrap()).unwrap();
    multi.verify(&root3).unwrap();
    assert_eq!(multi.get("1/z"), Some(None));

    // The change records list what each version changed.
    let r = s
        .req("GET", &format!("/crates.io/changes/{ts2}.json"), &[], b"")
        .await;
    assert_eq!(r.status, 200);
    assert!(
        !r.body.contains(&b'\n'),
        "change records are compact JSON: {}",
        r.text()
    );
    let record = r.json();
    assert_eq!(record["timestamp_version"], ts2);
    // The record refers to the exact bytes of its timestamp, published beside it.
    assert!(record.get("timestamp").is_none());
    let file = format!("timestamps/{ts2}.timestamp.json");
    assert_eq!(record["timestamp_file"], file.as_str());
    let exact = s.req("GET", &format!("/crates.io/{file}"), &[], b"").await;
    assert_eq!(exact.status, 200);
    assert_eq!(record["timestamp_length"], exact.body.len());
    assert_eq!(record["timestamp_sha256"], sha256_hex(&exact.body));
    let signed: tough::schema::Signed<tough::schema::Timestamp> =
        serde_json::from_slice(&exact.body).unwrap();
    assert_eq!(signed.signed.version.get(), ts2);
    // The latest one is byte for byte timestamp.json.
    let (latest, _) = s.verified_timestamp(MERKLE).await;
    let current = s.req("GET", "/crates.io/timestamp.json", &[], b"").await;
    let copy = s
        .req(
            "GET",
            &format!("/crates.io/timestamps/{latest}.timestamp.json"),
            &[],
            b"",
        )
        .await;
    assert_eq!(copy.body, current.body);
    assert!(
        record["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "se/rd/serde" && c["new"]["deleted"] == true)
    );

    // A classic role: the target lands in targets.json and its bytes under a hash-prefixed name.
    let r = s
        .write(
            CLASSIC,
            "PUT",
            "/api/v1/releases/targets/dist/channel-rust-stable.toml?wait=signed",
            None,
            b"[pkg]",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().get("proof").is_none());
    let (cv, none) = s.verified_timestamp(CLASSIC).await;
    assert!(none.is_none());
    let r = s
        .req("GET", &format!("/releases/{cv}.targets.json"), &[], b"")
        .await;
    assert_eq!(r.status, 200);
    let targets = r.json();
    assert_eq!(
        targets["signed"]["targets"]["dist/channel-rust-stable.toml"]["length"],
        5
    );
    let r = s
        .req(
            "GET",
            &format!(
                "/releases/targets/dist/{}.channel-rust-stable.toml",
                sha256_hex(b"[pkg]")
            ),
            &[],
            b"",
        )
        .await;
    assert_eq!((r.status, r.body.as_slice()), (200, b"[pkg]".as_slice()));
    let r = s
        .req(
            "GET",
            "/api/v1/releases/proof/dist/channel-rust-stable.toml",
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "not_merkle_role")
    );

    // Health and metrics.
    let r = s.req("GET", "/healthz", &[], b"").await;
    assert_eq!(r.status, 200);
    let r = s.req("GET", "/metrics", &[], b"").await;
    assert!(
        r.text()
            .contains("tuf_signer_changes_total{role=\"crates.io\"}")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_per_role() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let before = s.status(MERKLE).await;
    let path = "/api/v1/crates.io/targets/se/rd/serde";
    let r = s.req("PUT", path, &[], b"x").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "unauthenticated")
    );
    let r = s
        .req(
            "PUT",
            path,
            &[("Authorization", "Bearer not-a-token")],
            b"x",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "unauthenticated")
    );
    let r = s
        .req(
            "PUT",
            path,
            &[("Authorization", &format!("Basic {}", s.token(MERKLE)))],
            b"x",
        )
        .await;
    assert_eq!(r.status, 401);
    let other = format!("Bearer {}", s.token(CLASSIC));
    for (method, p) in [
        ("PUT", path),
        ("DELETE", path),
        ("POST", "/api/v1/crates.io/batch"),
    ] {
        let r = s.req(method, p, &[("Authorization", &other)], b"{}").await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (403, "forbidden"),
            "{method} {p}"
        );
    }
    assert_eq!(s.status(MERKLE).await, before);
    s.stop().await;
}

/// A proof asked against a timestamp version the signer signed but no longer keeps is 410
/// Gone (`version_not_kept`), not the 404 of a missing target, so clients can tell them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_no_longer_kept_is_gone_not_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.roles.get_mut(MERKLE).unwrap().kept_versions = 2;
    let running = tuf_signer::start(config).await.unwrap();
    let s = Signer {
        addr: running.local_addr(),
        running: Some(running),
        data: dir.path().to_owned(),
    };
    let mut versions = Vec::new();
    for i in 0..3 {
        let r = s
            .write(
                MERKLE,
                "PUT",
                "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
                None,
                format!("serde v{i}").as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        versions.push(r.json()["timestamp_version"].as_u64().unwrap());
    }
    let kept = s.status(MERKLE).await["proof_versions"].clone();
    assert_eq!(kept, json!(versions[1..]));
    let old = versions[0];
    let r = s
        .req(
            "GET",
            &format!("/api/v1/crates.io/proof/se/rd/serde?version={old}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (410, "version_not_kept"),
        "{}",
        r.text()
    );
    let body = json!({ "names": ["se/rd/serde"], "version": old }).to_string();
    let r = s
        .req(
            "POST",
            "/api/v1/crates.io/proofs",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (410, "version_not_kept")
    );
    // A kept version still answers; a name the tree lacks is a proof, not an error.
    let r = s
        .req(
            "GET",
            &format!("/api/v1/crates.io/proof/no/ne/none?version={}", versions[1]),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.stop().await;
}

/// Sends a request head announcing `content_length` body bytes, then only `sent` of them, and
/// returns the status line the server answers with while the rest of the body is still owed
/// (or `None` after a few seconds without an answer).
async fn answer_before_body(
    s: &Signer,
    method: &str,
    path: &str,
    auth: Option<&str>,
    content_length: usize,
    sent: usize,
) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {content_length}\r\n",
        s.addr
    );
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'x'; sent]).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
            if raw.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(3), read)
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.lines().next().map(str::to_owned)
}

/// Credentials are checked before the body is read: an unauthenticated (or wrong-role) write
/// is answered at once, whatever body it announces, so nobody without a token can make the
/// server read (or wait for) up to the body limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_authenticated_before_the_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let before = s.status(MERKLE).await;
    let put = "/api/v1/crates.io/targets/se/rd/serde";
    let batch = "/api/v1/crates.io/batch";
    let other = format!("Bearer {}", s.token(CLASSIC));
    // The test config's limits: 4096 bytes per upload, 2048 per JSON body.
    for (method, path, auth, length, code) in [
        ("PUT", put, None, 1_000_000, "401"),
        ("PUT", put, None, 3000, "401"),
        ("PUT", put, Some(other.as_str()), 1_000_000, "403"),
        ("POST", batch, None, 1_000_000, "401"),
        ("POST", batch, None, 1500, "401"),
        ("POST", batch, Some(other.as_str()), 1500, "403"),
    ] {
        let line = answer_before_body(&s, method, path, auth, length, 10).await;
        let line = line.unwrap_or_else(|| {
            panic!("{method} {path} ({length} bytes announced): no answer before the body")
        });
        assert!(
            line.starts_with(&format!("HTTP/1.1 {code}")),
            "{method} {path} ({length} bytes announced): {line}"
        );
    }
    // An authenticated oversized upload is still refused by its announced length, unread.
    let mine = format!("Bearer {}", s.token(MERKLE));
    let line = answer_before_body(&s, "PUT", put, Some(&mine), 1_000_000, 10).await;
    assert!(
        line.as_deref()
            .is_some_and(|l| l.starts_with("HTTP/1.1 413")),
        "{line:?}"
    );
    assert_eq!(s.status(MERKLE).await, before);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let before = s.status(MERKLE).await;
    let before_classic = s.status(CLASSIC).await;
    let long = format!("/api/v1/releases/targets/{}", "a".repeat(256));
    let cases: Vec<(&str, String, Option<&str>, Vec<u8>, u16, &str)> = vec![
        ("PUT", "/api/v1/crates.io/targets/".into(), None, b"x".to_vec(), 400, "path_empty"),
        ("PUT", "/api/v1/releases/targets//abs".into(), None, b"x".to_vec(), 400, "path_leading_slash"),
        ("PUT", "/api/v1/releases/targets/a/../b".into(), None, b"x".to_vec(), 400, "path_dot_segment"),
        ("PUT", "/api/v1/releases/targets/a/%2e%2e/b".into(), None, b"x".to_vec(), 400, "path_dot_segment"),
        ("PUT", "/api/v1/releases/targets/a/./b".into(), None, b"x".to_vec(), 400, "path_dot_segment"),
        ("PUT", "/api/v1/releases/targets/a%5Cb".into(), None, b"x".to_vec(), 400, "path_backslash"),
        ("PUT", "/api/v1/releases/targets/a%0Ab".into(), None, b"x".to_vec(), 400, "path_control_character"),
        ("PUT", "/api/v1/releases/targets/a//b".into(), None, b"x".to_vec(), 400, "path_empty_segment"),
        ("PUT", "/api/v1/releases/targets/a%FFb".into(), None, b"x".to_vec(), 400, "path_not_utf8"),
        ("PUT", long, None, b"x".to_vec(), 400, "path_too_long"),
        ("PUT", "/api/v1/crates.io/targets/serde".into(), None, b"x".to_vec(), 400, "path_not_index_layout"),
        ("PUT", "/api/v1/crates.io/targets/se/re/serde".into(), None, b"x".to_vec(), 400, "path_wrong_index_directory"),
        ("PUT", "/api/v1/crates.io/targets/se/rd/Serde".into(), None, b"x".to_vec(), 400, "path_bad_crate_name"),
        ("PUT", "/api/v1/releases/targets/big".into(), None, vec![b'x'; 5000], 413, "body_too_large"),
        ("PUT", "/api/v1/releases/targets/j".into(), Some("application/json"), b"{\"sha256\":".to_vec(), 400, "malformed_json"),
        (
            "PUT",
            "/api/v1/releases/targets/j".into(),
            Some("application/json"),
            format!("{{\"sha256\":\"{}\",\"length\":1}}", "ab".repeat(31)).into_bytes(),
            400,
            "bad_hash_length",
        ),
        (
            "PUT",
            "/api/v1/releases/targets/j".into(),
            Some("application/json"),
            format!("{{\"sha256\":\"{}\",\"length\":1}}", "AB".repeat(32)).into_bytes(),
            400,
            "bad_hash",
        ),
        (
            "PUT",
            "/api/v1/releases/targets/j".into(),
            Some("application/json"),
            format!("{{\"sha256\":\"{}\",\"length\":1,\"x\":1}}", "ab".repeat(32)).into_bytes(),
            400,
            "malformed_json",
        ),
        (
            "PUT",
            "/api/v1/releases/targets/j".into(),
            Some("application/json"),
            format!("{{\"sha256\":\"{}\",\"length\":-1}}", "ab".repeat(32)).into_bytes(),
            400,
            "malformed_json",
        ),
        (
            "PUT",
            "/api/v1/releases/targets/j".into(),
            Some("application/json"),
            format!("{{\"sha256\":\"{}\",\"length\":9223372036854775808}}", "ab".repeat(32)).into_bytes(),
            400,
            "value_out_of_range",
        ),
        ("PUT", "/api/v1/releases/targets/j?wait=forever".into(), None, b"x".to_vec(), 400, "bad_query"),
        ("PUT", "/api/v1/nope/targets/a".into(), None, b"x".to_vec(), 404, "unknown_role"),
        ("POST", "/api/v1/releases/batch".into(), None, b"{\"changes\":[]}".to_vec(), 400, "empty_batch"),
        ("POST", "/api/v1/releases/batch".into(), None, b"[1,2".to_vec(), 400, "malformed_json"),
        ("POST", "/api/v1/releases/batch".into(), None, vec![b' '; 3000], 413, "body_too_large"),
        (
            "POST",
            "/api/v1/releases/batch".into(),
            None,
            json!({"changes": [{"op": "delete", "path": "ok"}, {"op": "delete", "path": "../x"}]}).to_string().into_bytes(),
            400,
            "path_dot_segment",
        ),
        (
            "POST",
            "/api/v1/releases/batch".into(),
            None,
            json!({"changes": [{"op": "rename", "path": "a"}]}).to_string().into_bytes(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/api/v1/releases/batch".into(),
            None,
            json!({"changes": (0..21).map(|i| json!({"op": "delete", "path": format!("f{i}")})).collect::<Vec<_>>()})
                .to_string()
                .into_bytes(),
            400,
            "batch_too_large",
        ),
        // A batch whose second change breaks the version rules: none of it is applied.
        (
            "POST",
            "/api/v1/releases/batch".into(),
            None,
            json!({"changes": [
                {"op": "upsert", "path": "new-file", "sha256": "ab".repeat(32), "length": 1},
                {"op": "delete", "path": "never-existed"}
            ]})
            .to_string()
            .into_bytes(),
            404,
            "target_not_found",
        ),
    ];
    for (method, path, ct, body, status, code) in cases {
        let role = if path.contains("/crates.io/") {
            MERKLE
        } else {
            CLASSIC
        };
        let r = s.write(role, method, &path, ct, &body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        assert_eq!(r.error_code(), code, "{method} {path}");
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("application/json"))
        );
    }
    // Reads with bad input.
    let r = s
        .req(
            "GET",
            "/api/v1/crates.io/proof/se/rd/serde?version=x",
            &[],
            b"",
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "bad_query"));
    let r = s.req("GET", "/api/v1/nope/status", &[], b"").await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "unknown_role"));
    let body = json!({ "names": ["1/a", "1/a"] }).to_string();
    let r = s
        .req("POST", "/api/v1/crates.io/proofs", &[], body.as_bytes())
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "duplicate_name"));
    let r = s
        .req("POST", "/api/v1/crates.io/proofs", &[], b"{\"names\":[]}")
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "no_names"));
    let r = s
        .req("GET", "/crates.io/../state/crates.io/round.json", &[], b"")
        .await;
    assert!(r.status == 400 || r.status == 404, "{}", r.status);
    let r = s
        .req("GET", "/crates.io/%2e%2e/keys/crates.io.pem", &[], b"")
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "path_dot_segment")
    );
    let r = s.req("GET", "/nope/timestamp.json", &[], b"").await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "unknown_role"));
    let r = s.req("GET", "/api/v2/whatever", &[], b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(s.status(MERKLE).await, before);
    assert_eq!(s.status(CLASSIC).await, before_classic);
    // The refused batch left no trace: the file it would have created is absent.
    let r = s.req("GET", "/api/v1/releases/status", &[], b"").await;
    assert_eq!(r.json()["leaves"], 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let mut names = Vec::new();
    for i in 0..30 {
        let name = format!("ab/cd/abcd{i}");
        let body = json!({ "sha256": sha256_hex(name.as_bytes()), "length": i }).to_string();
        let r = s
            .write(
                MERKLE,
                "PUT",
                &format!("/api/v1/crates.io/targets/{name}"),
                Some("application/json"),
                body.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        names.push(name);
    }
    let (v1, _) = s.verified_timestamp(MERKLE).await;
    s.stop().await;

    // Simulate a crash after a log append was acknowledged but before it was signed: append a
    // record to the log by hand, as the sequencer would have.
    let wal_path = dir.path().join("state/crates.io/wal.log");
    let checkpoint = tuf_signer::internals::checkpoint::Checkpoint::load(
        &dir.path().join("state/crates.io/checkpoint.bin"),
    )
    .unwrap();
    let mut opened = tuf_signer::internals::wal::Wal::open(&wal_path, checkpoint.seq).unwrap();
    let crashed = tuf_signer::change::Change {
        name: "cr/as/crash".into(),
        key: tuf_merkle::key_of("cr/as/crash"),
        old: None,
        new: LeafContents::for_bytes(1, b"crash").unwrap(),
    };
    opened.wal.append(&[crashed]).unwrap();
    drop(opened);
    // And a timestamp.json lost from the published repository: republished from the round.
    std::fs::remove_file(dir.path().join("repo/crates.io/timestamp.json")).unwrap();

    let s = Signer::start(dir.path()).await;
    let (v2, root) = s.verified_timestamp(MERKLE).await;
    assert!(v2 > v1, "timestamp version went from {v1} to {v2}");
    let root = root.unwrap();
    names.push("cr/as/crash".into());
    let body = json!({ "names": names }).to_string();
    let r = s
        .req("POST", "/api/v1/crates.io/proofs", &[], body.as_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let multi = MultiProof::from_json(&serde_json::to_vec(&r.json()["proof"]).unwrap()).unwrap();
    multi.verify(&root).unwrap();
    for n in &names {
        assert!(matches!(multi.get(n), Some(Some(_))), "{n} lost");
    }
    // Versions keep counting after the restart.
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/cr/as/crash?wait=signed",
            None,
            b"crash 2",
        )
        .await;
    assert_eq!(r.json()["results"][0]["contents"]["version"], 2);
    assert!(r.json()["timestamp_version"].as_u64().unwrap() > v2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    // In-process.
    let err = match tuf_signer::start(common::config(dir.path())).await {
        Ok(_) => panic!("second start succeeded"),
        Err(e) => e,
    };
    assert!(
        err.to_string().contains("in use by another tuf-signer"),
        "{err}"
    );
    // The real binary.
    let data = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tuf-signer"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another tuf-signer"), "{stderr}");
    s.stop().await;
    // Once stopped, it starts again.
    Signer::start(dir.path()).await.stop().await;
}

/// The `Bearer` scheme name is case-insensitive (RFC 9110 §11.1), so pipelines that send
/// `bearer` or `BEARER` are let in; anything that is not the bearer scheme, or no token, is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let token = s.token(MERKLE);
    // Signed before the next is sent, so the status compared below is settled.
    let path = "/api/v1/crates.io/targets/se/rd/serde?wait=signed";
    for (i, scheme) in ["Bearer", "bearer", "BEARER", "bEaReR"].iter().enumerate() {
        let auth = format!("{scheme} {token}");
        let body = format!("scheme {i}");
        let r = s
            .req(
                "PUT",
                path,
                &[("Authorization", auth.as_str())],
                body.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{scheme}: {}", r.text());
        assert_eq!(r.json()["results"][0]["changed"], json!(true), "{scheme}");
    }
    let before = s.status(MERKLE).await;
    for auth in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer ".to_owned(),
        token.clone(),
    ] {
        let r = s
            .req("PUT", path, &[("Authorization", auth.as_str())], b"refused")
            .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "unauthenticated"),
            "{auth:?}"
        );
    }
    assert_eq!(s.status(MERKLE).await, before);
    s.stop().await;
}
