//! HTTP caching of the published repository by the built-in server, local files (the default),
//! over real HTTP on 127.0.0.1: D8's Cache-Control by kind of file, a strong ETag that changes
//! when a head is replaced, and 304 Not Modified (no body) for a matching If-None-Match. (The
//! same for a bucket is in `s3.rs`.)

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{MERKLE, Signer, sha256_hex};

const HEAD: &str = "public, max-age=30";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_carry_cache_control_and_etags_and_revalidate_with_304() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let put = |bytes: &'static [u8]| {
        s.write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
            None,
            bytes,
        )
    };
    assert_eq!(put(b"v1").await.status, 200);
    let target = format!("/crates.io/targets/se/rd/{}.serde", sha256_hex(b"v1"));
    for (path, cc, ct) in [
        ("/crates.io/timestamp.json", HEAD, "application/json"),
        ("/crates.io/root.json", HEAD, "application/json"),
        ("/crates.io/1.root.json", IMMUTABLE, "application/json"),
        (
            "/crates.io/timestamps/1.timestamp.json",
            IMMUTABLE,
            "application/json",
        ),
        ("/crates.io/changes/1.json", IMMUTABLE, "application/json"),
        ("/crates.io/1.snapshot.json", IMMUTABLE, "application/json"),
        (&*target, IMMUTABLE, "application/octet-stream"),
    ] {
        let r = s.req("GET", path, &[], b"").await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some(cc), "{path}");
        assert_eq!(r.header("content-type"), Some(ct), "{path}");
        let etag = r.header("etag").expect("an ETag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        // Revalidation: the same tag (also weak, or in a list, or `*`) is 304 with no body.
        for inm in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let r = s.req("GET", path, &[("If-None-Match", &inm)], b"").await;
            assert_eq!(r.status, 304, "{path} {inm}");
            assert!(r.body.is_empty());
            assert_eq!(r.header("etag"), Some(etag.as_str()));
            assert_eq!(r.header("cache-control"), Some(cc));
        }
        let r = s
            .req("GET", path, &[("If-None-Match", "\"other\"")], b"")
            .await;
        assert_eq!(r.status, 200, "{path}");
        // HEAD has the same headers.
        let r = s.req("HEAD", path, &[], b"").await;
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{path}");
    }

    // A new timestamp: a new ETag; the old one no longer matches.
    let old = s.req("GET", "/crates.io/timestamp.json", &[], b"").await;
    let old_etag = old.header("etag").unwrap().to_owned();
    assert_eq!(put(b"v2").await.status, 200);
    let r = s
        .req(
            "GET",
            "/crates.io/timestamp.json",
            &[("If-None-Match", &old_etag)],
            b"",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_ne!(r.body, old.body);
    assert_ne!(r.header("etag"), Some(old_etag.as_str()));
    // A file that does not exist is still a 404, whatever the request's tags.
    let r = s
        .req(
            "GET",
            "/crates.io/99.snapshot.json",
            &[("If-None-Match", "*")],
            b"",
        )
        .await;
    assert_eq!(r.status, 404);
    // A 404 must not be cached: the file may be written by the next round.
    assert_eq!(r.header("cache-control"), Some("no-store"));
    s.stop().await;
}

/// D9: a proof asked by version is immutable (a CDN may keep it forever); the latest proof is
/// short-lived; errors, status, health and POSTed multi-proofs are never stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_how_long_it_may_be_cached() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
            None,
            b"v1",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = s.req("GET", "/api/v1/crates.io/status", &[], b"").await;
    assert_eq!(v.header("cache-control"), Some("no-store"));
    let version = v.json()["timestamp_version"].as_u64().unwrap();
    for (path, status, cc) in [
        (
            format!("/api/v1/crates.io/proof/se/rd/serde?version={version}"),
            200,
            IMMUTABLE,
        ),
        (
            "/api/v1/crates.io/proof/se/rd/serde".to_owned(),
            200,
            "public, max-age=5",
        ),
        // Absent names get a (non-membership) proof, cacheable like any.
        (
            format!("/api/v1/crates.io/proof/ab/se/absent?version={version}"),
            200,
            IMMUTABLE,
        ),
        // A version not signed yet: must not be remembered.
        (
            format!(
                "/api/v1/crates.io/proof/se/rd/serde?version={}",
                version + 1
            ),
            404,
            "no-store",
        ),
        (
            "/api/v1/crates.io/proof/se/rd/x?version=abc".to_owned(),
            400,
            "no-store",
        ),
        ("/healthz".to_owned(), 200, "no-store"),
        ("/metrics".to_owned(), 200, "no-store"),
    ] {
        let r = s.req("GET", &path, &[], b"").await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some(cc), "{path}");
    }
    let r = s
        .req(
            "POST",
            "/api/v1/crates.io/proofs",
            &[("content-type", "application/json")],
            format!(r#"{{"names":["se/rd/serde"],"version":{version}}}"#).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    s.stop().await;
}
