//! The alert rules shipped in `deploy/prometheus/` (docs/operations.md, "Monitoring"): checked
//! by Prometheus's own `promtool`, and each alert's unit tests run (`tuf-signer.rules.test.yml`:
//! every alert fires where it must and stays quiet where it must not).
//!
//! Needs `promtool`: skipped with a message when it is missing, except under `CI=true`, where
//! the test fails.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus")
}

/// Runs `promtool ARGS` in the rules' directory; its output when it fails.
fn promtool(tool: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(tool)
        .args(args)
        .current_dir(rules_dir())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[test]
fn rules_pass_promtool_check_and_their_unit_tests() {
    let Some(tool) = common::promtool() else {
        return;
    };
    let checked = promtool(&tool, &["check", "rules", "tuf-signer.rules.yml"])
        .unwrap_or_else(|e| panic!("promtool check rules: {e}"));
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&tool, &["test", "rules", "tuf-signer.rules.test.yml"])
        .unwrap_or_else(|e| panic!("promtool test rules: {e}"));
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// Every alert in the rules has at least one unit test that expects it to fire, so that a new
/// alert cannot be shipped untested.
#[test]
fn every_alert_has_a_unit_test_that_fires_it() {
    let rules = std::fs::read_to_string(rules_dir().join("tuf-signer.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(rules_dir().join("tuf-signer.rules.test.yml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 8, "{alerts:?}");
    for alert in alerts {
        // An `alertname: X` followed (before the next `alertname:`) by a non-empty `exp_alerts:`.
        let fired = tests.split("alertname: ").skip(1).any(|case| {
            case.starts_with(&format!("{alert}\n"))
                && case.contains("exp_alerts:\n")
                && case.contains("exp_labels:")
        });
        assert!(
            fired,
            "alert {alert} has no unit test that expects it to fire"
        );
    }
}
