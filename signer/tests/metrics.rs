//! `/metrics` scraped over real HTTP after real writes: the values make sense against what the
//! signer published and the requests the test made, and the exposition is valid OpenMetrics
//! that Prometheus's own parser accepts and whose names pass its linter.
//!
//! The promtool checks need `promtool`: skipped with a message when it is missing, except
//! under `CI=true`, where the test fails. The value checks always run.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{CLASSIC, MERKLE, Signer};
use serde_json::Value;

/// One sample: its name and labels, and its value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// Parses the samples of an OpenMetrics exposition (comments skipped). Label values here never
/// hold `,`, `"` or `}` (routes, roles and codes), which keeps the parsing short.
fn samples(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("closing brace");
                let labels = inner
                    .split(',')
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("label=value");
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        let value: f64 = value.parse().expect("sample value");
        assert!(
            out.insert((name.to_owned(), labels), value).is_none(),
            "duplicate series: {line}"
        );
    }
    out
}

/// The value of `name{labels}`, if that series is present.
fn value(s: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    s.get(&(name.to_owned(), labels)).copied()
}

async fn scrape(s: &Signer) -> (String, String) {
    let r = s.req("GET", "/metrics", &[], b"").await;
    assert_eq!(r.status, 200);
    (
        r.header("content-type").unwrap_or_default().to_owned(),
        r.text(),
    )
}

async fn json(s: &Signer, path: &str) -> Value {
    let r = s.req("GET", path, &[], b"").await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

fn unix(expires: &Value) -> f64 {
    let t: jiff::Timestamp = expires.as_str().unwrap().parse().unwrap();
    t.as_second() as f64
}

/// The `expires` of each of `role`'s published metadata files, as Unix seconds, read the way
/// a client does (timestamp → snapshot → targets).
async fn published_expiry(s: &Signer, role: &str) -> BTreeMap<&'static str, f64> {
    let root = json(s, &format!("/{role}/root.json")).await;
    let ts = json(s, &format!("/{role}/timestamp.json")).await;
    let snapshot_version = ts["signed"]["meta"]["snapshot.json"]["version"]
        .as_u64()
        .unwrap();
    let snapshot = json(s, &format!("/{role}/{snapshot_version}.snapshot.json")).await;
    let targets_version = snapshot["signed"]["meta"]["targets.json"]["version"]
        .as_u64()
        .unwrap();
    let targets = json(s, &format!("/{role}/{targets_version}.targets.json")).await;
    BTreeMap::from([
        ("root", unix(&root["signed"]["expires"])),
        ("timestamp", unix(&ts["signed"]["expires"])),
        ("snapshot", unix(&snapshot["signed"]["expires"])),
        ("targets", unix(&targets["signed"]["expires"])),
    ])
}

const TARGET_ROUTE: &str = "/api/v1/{role}/targets/{*path}";
const PROOF_ROUTE: &str = "/api/v1/{role}/proof/{*path}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_metrics_match_what_was_published_and_asked() {
    let dir = tempfile::tempdir().unwrap();
    let started = jiff::Timestamp::now().as_second() as f64;
    let s = Signer::start(dir.path()).await;

    // Three signed writes, a refused one, two proofs, a path no route matches, a method no
    // route allows and one outside the counted set.
    for (name, body) in [("se/rd/serde", "a"), ("3/s/syn", "b"), ("se/rd/serde", "c")] {
        let r = s
            .write(
                MERKLE,
                "PUT",
                &format!("/api/v1/{MERKLE}/targets/{name}?wait=signed"),
                None,
                body.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = s
        .write(
            CLASSIC,
            "PUT",
            &format!("/api/v1/{CLASSIC}/targets/dist/x.toml?wait=signed"),
            None,
            b"x",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s
        .req("PUT", "/api/v1/crates.io/targets/se/rd/serde", &[], b"x")
        .await;
    assert_eq!(r.status, 401);
    for name in ["se/rd/serde", "3/s/syn"] {
        let r = s
            .req("GET", &format!("/api/v1/{MERKLE}/proof/{name}"), &[], b"")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(s.req("GET", "/nowhere", &[], b"").await.status, 404);
    assert_eq!(s.req("DELETE", "/healthz", &[], b"").await.status, 405);
    assert_eq!(s.req("BREW", "/healthz", &[], b"").await.status, 405);

    let (content_type, first) = scrape(&s).await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(first.ends_with("# EOF\n"), "{first}");
    let (_, text) = scrape(&s).await;
    let m = samples(&text);
    let now = jiff::Timestamp::now().as_second() as f64;

    // Build information.
    assert_eq!(
        value(
            &m,
            "tuf_signer_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{text}"
    );

    // Each role's expiry gauges are its published files' `expires`; the last signing times
    // are this run's.
    for role in [MERKLE, CLASSIC] {
        for (file, expires) in published_expiry(&s, role).await {
            let labels = [("role", role), ("metadata", file)];
            assert_eq!(
                value(&m, "tuf_signer_metadata_expiry_timestamp_seconds", &labels),
                Some(expires),
                "{role} {file}"
            );
            let signed = value(
                &m,
                "tuf_signer_metadata_last_signed_timestamp_seconds",
                &labels,
            );
            if file == "root" {
                assert_eq!(signed, None, "root is signed offline");
            } else {
                let signed = signed.unwrap_or_else(|| panic!("{role} {file} last signed"));
                assert!(
                    (started - 1.0..=now + 1.0).contains(&signed),
                    "{role} {file}: last signed {signed}, test ran {started}..{now}"
                );
                assert!(expires > signed, "{role} {file}");
            }
        }
        assert_eq!(
            value(
                &m,
                "tuf_signer_signing_errors_total",
                &[("role", role), ("code", "signing_failed")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(&m, "tuf_signer_unsigned_changes", &[("role", role)]),
            Some(0.0)
        );
        assert_eq!(
            value(&m, "tuf_signer_leading", &[("role", role)]),
            Some(1.0)
        );
    }
    assert_eq!(
        value(&m, "tuf_signer_changes_total", &[("role", MERKLE)]),
        Some(3.0)
    );

    // Requests, by route template (never the path) and status.
    let requests = |method: &str, route: &str, status: &str| {
        value(
            &m,
            "tuf_signer_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("PUT", TARGET_ROUTE, "200"), Some(4.0), "{text}");
    assert_eq!(requests("PUT", TARGET_ROUTE, "401"), Some(1.0));
    assert_eq!(requests("GET", PROOF_ROUTE, "200"), Some(2.0));
    assert_eq!(requests("GET", "unmatched", "404"), Some(1.0), "{text}");
    assert_eq!(requests("DELETE", "/healthz", "405"), Some(1.0), "{text}");
    assert_eq!(requests("other", "/healthz", "405"), Some(1.0), "{text}");
    // The first scrape is counted once its answer is made: the second sees it.
    assert_eq!(requests("GET", "/metrics", "200"), Some(1.0));
    // The published files read above came after this scrape; the first `/{role}/{*path}`
    // series appear in the next one.
    assert_eq!(requests("GET", "/{role}/{*path}", "200"), None);
    assert!(
        !text.contains("se/rd/serde") && !text.contains("/nowhere"),
        "a requested path in the labels: {text}"
    );

    // The latency histogram counts the same requests, and the signed writes took some time.
    let duration = |suffix: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![("method", "PUT"), ("route", TARGET_ROUTE)];
        labels.extend_from_slice(extra);
        value(
            &m,
            &format!("tuf_signer_http_request_duration_seconds_{suffix}"),
            &labels,
        )
    };
    assert_eq!(duration("count", &[]), Some(5.0));
    assert_eq!(duration("bucket", &[("le", "+Inf")]), Some(5.0));
    let sum = duration("sum", &[]).unwrap();
    assert!(sum > 0.0 && sum < 60.0, "{sum}");

    // After the reads, a third scrape counts them.
    let (_, text) = scrape(&s).await;
    let m = samples(&text);
    assert_eq!(
        value(
            &m,
            "tuf_signer_http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/{role}/{*path}"),
                ("status", "200")
            ]
        ),
        Some(8.0),
        "{text}"
    );
    s.stop().await;

    promtool_accepts(&text);
}

/// Prometheus's own OpenMetrics parser accepts the exposition (`promtool tsdb
/// create-blocks-from openmetrics`, the backfill, which wants a timestamp on every sample),
/// and its linter finds nothing in the names, types and help texts (`promtool check
/// metrics`, which reads the 0.0.4 text format: the exposition is given to it as Prometheus
/// stores OpenMetrics, counters named with their `_total` and info metrics as gauges).
fn promtool_accepts(text: &str) {
    let Some(tool) = common::promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stamped: String = text
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                format!("{l}\n")
            } else {
                format!("{l} 1764547200\n")
            }
        })
        .collect();
    let om = dir.path().join("metrics.om");
    std::fs::write(&om, stamped).unwrap();
    let out = Command::new(&tool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(dir.path().join("blocks"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool parses the exposition: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut kinds = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            kinds.insert(name.to_owned(), kind.to_owned());
        }
    }
    let renamed = |name: &str| match kinds.get(name).map(String::as_str) {
        Some("counter") => format!("{name}_total"),
        Some("info") => format!("{name}_info"),
        _ => name.to_owned(),
    };
    let classic: String = text
        .lines()
        .filter(|l| !l.starts_with("# UNIT ") && *l != "# EOF")
        .map(|l| {
            if let Some(rest) = l.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                format!("# HELP {} {help}\n", renamed(name))
            } else if let Some(rest) = l.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                let kind = if kind == "info" { "gauge" } else { kind };
                format!("# TYPE {} {kind}\n", renamed(name))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let mut child = Command::new(&tool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), classic.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{classic}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `timestamp` expiry and last-signed gauges of `role`.
async fn timestamp_gauges(s: &Signer, role: &str) -> (Samples, Option<f64>, Option<f64>) {
    let (_, text) = scrape(s).await;
    let m = samples(&text);
    let labels = [("role", role), ("metadata", "timestamp")];
    let expiry = value(&m, "tuf_signer_metadata_expiry_timestamp_seconds", &labels);
    let signed = value(
        &m,
        "tuf_signer_metadata_last_signed_timestamp_seconds",
        &labels,
    );
    (m, expiry, signed)
}

/// While publishing fails, the signing errors count it, the last-signed time moves (the round
/// is signed and logged) but the expiry gauges stay those of what clients can fetch; once
/// publishing works again they move to the new round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_publish_counts_errors_and_keeps_the_published_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    let put = |body: &'static [u8]| {
        let s = &s;
        async move {
            s.write(
                MERKLE,
                "PUT",
                "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
                None,
                body,
            )
            .await
        }
    };
    assert_eq!(put(b"v1").await.status, 200);
    let published = published_expiry(&s, MERKLE).await["timestamp"];
    let (m, expiry, signed) = timestamp_gauges(&s, MERKLE).await;
    assert_eq!(expiry, Some(published));
    let signed = signed.unwrap();
    let errors = |m: &Samples| {
        value(
            m,
            "tuf_signer_signing_errors_total",
            &[("role", MERKLE), ("code", "publish_failed")],
        )
        .unwrap()
    };
    assert_eq!(errors(&m), 0.0);

    // Break publishing (the change-record directory becomes a file), a second later so that
    // the next round's times differ from the first's.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let changes = dir.path().join("repo").join(MERKLE).join("changes");
    let kept = dir.path().join("changes-kept");
    std::fs::rename(&changes, &kept).unwrap();
    std::fs::write(&changes, b"not a directory").unwrap();
    let r = put(b"v2").await;
    assert_eq!((r.status, r.error_code()), (503, "not_signed".into()));
    let (m, expiry, signed_now) = timestamp_gauges(&s, MERKLE).await;
    assert!(errors(&m) >= 1.0, "publish failures counted");
    assert_eq!(
        expiry,
        Some(published),
        "the expiry is what clients can fetch"
    );
    assert_eq!(published_expiry(&s, MERKLE).await["timestamp"], published);
    assert!(signed_now.unwrap() > signed, "the round was signed");

    // Mend it: the retry (every second) publishes the round, and the gauges follow.
    std::fs::remove_file(&changes).unwrap();
    std::fs::rename(&kept, &changes).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, expiry, _) = timestamp_gauges(&s, MERKLE).await;
        let now_published = published_expiry(&s, MERKLE).await["timestamp"];
        if now_published > published {
            // Published first, gauge after: it catches up within a scrape or two.
            if expiry == Some(now_published) {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the retry did not publish: {expiry:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    s.stop().await;
}
