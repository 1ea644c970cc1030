//! `tuf-ceremony status --json` and `verify --json` (issue 12, item 3): one JSON object on
//! stdout with stable field names, failures included; an error that stops the command is
//! `{"error": {"kind", "message"}}`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn status(dir: &Path) -> (Value, std::process::Output) {
    let out = tool()
        .args(["status", "--json", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    (json_of(&out), out)
}

#[test]
fn status_and_verify_print_json() {
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let members: Vec<_> = (0..3)
        .map(|i| file_key(w, &format!("m{i}"), "ed25519"))
        .collect();
    let c = w.join("ceremony");
    let mut init = tool();
    init.args(["init", "--threshold", "2", "--dir"]).arg(&c);
    for (_, public) in &members {
        init.arg("--member").arg(public);
    }
    for role in ROLES {
        let (_, online) = file_key(w, &format!("online-{role}"), "ed25519");
        init.arg("--online-key")
            .arg(format!("{role}={}", online.display()));
    }
    assert_ok(&init.output().unwrap(), "init");

    let (v, out) = status(&c);
    assert_ok(&out, "status --json");
    assert_eq!(v["ready"], false);
    assert_eq!(v["digest"]["sha256"], digest(&c));
    assert!(v["digest"]["spoken"].is_string());
    assert_eq!(v["root_members"].as_array().unwrap().len(), 3);
    assert_eq!(v["transcript"]["consistent"], true);
    let roles = v["roles"].as_array().unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r["role"].as_str().unwrap()).collect();
    assert_eq!(names, ROLES);
    for r in roles {
        assert_eq!(r["version"], 1);
        assert_eq!(r["complete"], false);
        assert_eq!(r["new_root"]["threshold"], 2);
        assert_eq!(r["new_root"]["signers"].as_array().unwrap().len(), 0);
        assert_eq!(r["previous_root"], Value::Null);
        assert!(r["expires"].as_str().unwrap().ends_with('Z'));
    }

    for (key, _) in &members[..2] {
        assert_ok(&sign_file(&c, key), "sign");
    }
    let (v, _) = status(&c);
    assert_eq!(v["ready"], true);
    assert_eq!(
        v["roles"][0]["new_root"]["signers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(v["transcript"]["steps"], 3);

    let roots = w.join("roots");
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_ok(&out, "finalize");
    let out = tool()
        .args(["verify", "--json", "--roots"])
        .arg(&roots)
        .arg("--transcript")
        .arg(c.join("transcript.jsonl"))
        .output()
        .unwrap();
    assert_ok(&out, "verify --json");
    let v = json_of(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["failures"], serde_json::json!([]));
    let roles = v["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 4);
    assert!(
        roles
            .iter()
            .all(|r| r["status"] == "verified" && r["version"] == 1)
    );
    assert_eq!(v["transcripts"][0]["status"], "verified");

    // A broken chain: the report says which, with exit 1 and no second object.
    let gap = w.join("gap");
    std::fs::create_dir_all(gap.join("rustup")).unwrap();
    for n in [1, 3] {
        std::fs::copy(
            roots.join("rustup/1.root.json"),
            gap.join(format!("rustup/{n}.root.json")),
        )
        .unwrap();
    }
    let out = tool()
        .args(["verify", "--json", "--roots"])
        .arg(&gap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    assert_eq!(v["ok"], false);
    assert_eq!(v["roles"][0]["role"], "rustup");
    assert_eq!(v["roles"][0]["status"], "broken");
    assert!(!v["failures"].as_array().unwrap().is_empty());

    // An error that stops the command.
    let out = tool()
        .args(["status", "--json", "--dir"])
        .arg(w.join("nothing-here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    let kind = v["error"]["kind"].as_str().unwrap();
    assert!(
        !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing-here"),
        "{v}"
    );
    // Without --json, as before.
    let out = tool()
        .args(["status", "--dir"])
        .arg(w.join("nothing-here"))
        .output()
        .unwrap();
    assert_fails(&out, "nothing-here");
    assert!(out.stdout.is_empty());
}
