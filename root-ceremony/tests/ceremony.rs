//! Full ceremonies with the real binary: three of five members on SoftHSM2 tokens and key files
//! mixed, for the first root and for a rotation that replaces two members and one role's online
//! key. The roots must verify in tough (`Root::verify_role`, `RepositoryLoader` through the
//! chain), in python-tuf (`verify_delegate`, ngclient walking the rotation) and pass the
//! signer's production trust checks (`RootChain::load` + `check_online_key`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use tough::schema::{Root, Signed};
use tough::{FilesystemTransport, RepositoryLoader};
use tuf_keys::FileSigner;
use tuf_signer::metadata::{MetadataSigner, RootChain, SharedSigner};
use url::Url;

fn init_args(dir: &Path, online: &[(String, std::path::PathBuf)]) -> Vec<String> {
    let mut a = vec![
        "init".to_owned(),
        "--dir".to_owned(),
        dir.display().to_string(),
    ];
    for (role, p) in online {
        a.push("--online-key".into());
        a.push(format!("{role}={}", p.display()));
    }
    a
}

fn sign_token(hsm: &SoftHsm, dir: &Path, label: &str) {
    let out = hsm
        .tool()
        .env("TUF_CEREMONY_PIN", PIN)
        .args(["sign", "--operator", label, "--dir"])
        .arg(dir)
        .args(["--expect-digest", &digest(dir)])
        .args(hsm.key_args(label))
        .output()
        .unwrap();
    assert_ok(&out, &format!("sign with token {label}"));
}

/// Builds a role's repository (roots, and targets/snapshot/timestamp signed by `online` with
/// the signer's own code) in `repo`.
async fn build_repo(roots: &Path, role: &str, online: &Path, repo: &Path) {
    std::fs::create_dir_all(repo).unwrap();
    let chain = RootChain::load(&roots.join(role)).unwrap();
    for (v, bytes) in &chain.files {
        std::fs::write(repo.join(format!("{v}.root.json")), bytes).unwrap();
    }
    let key: SharedSigner = Arc::new(FileSigner::load(online).unwrap());
    chain.check_online_key(key.public_key()).unwrap();
    let signer = MetadataSigner::new(chain.current.signed.clone(), key);
    let targets = signer.targets(1, 3600, Vec::new()).await.unwrap();
    let snapshot = signer.snapshot(1, 3600, &targets.meta).await.unwrap();
    let timestamp = signer
        .timestamp(1, 3600, &snapshot.meta, None)
        .await
        .unwrap();
    for f in [targets, snapshot, timestamp] {
        std::fs::write(repo.join(&f.name), f.bytes).unwrap();
    }
}

async fn tough_loads(repo: &Path, expected_root: u64) {
    let root = std::fs::read(repo.join("1.root.json")).unwrap();
    let loaded = RepositoryLoader::new(
        &root,
        Url::from_directory_path(repo).unwrap(),
        Url::from_directory_path(repo.join("targets")).unwrap(),
    )
    .transport(FilesystemTransport)
    .load()
    .await
    .unwrap_or_else(|e| panic!("tough refused {}: {e}", repo.display()));
    assert_eq!(loaded.root().signed.version.get(), expected_root);
}

fn python_checks(repo: &Path, work: &Path, expected_root: u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_roots.py");
    let out = std::process::Command::new(test_python())
        .arg(script)
        .arg(repo)
        .arg(work)
        .output()
        .unwrap();
    assert_ok(&out, "python-tuf check");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trusted_root_version"], expected_root);
}

fn read_root(path: &Path) -> Signed<Root> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_root_and_rotation_with_tokens_and_files() {
    if require(
        "softhsm2",
        softhsm_present(),
        "install the Debian package softhsm2",
    )
    .is_err()
    {
        return;
    }
    let python = python_tuf_present();
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    let hsm = SoftHsm::new(w);
    // Members: alice (P-256), bob (Ed25519), carol (P-256) on tokens; dave and erin in files.
    hsm.token_with_key("alice", "p256", &w.join("alice.pub"));
    hsm.token_with_key("bob", "ed25519", &w.join("bob.pub"));
    hsm.token_with_key("carol", "p256", &w.join("carol.pub"));
    let (dave, _) = file_key(w, "dave", "ed25519");
    let (erin, _) = file_key(w, "erin", "p256");
    let mut online = Vec::new();
    for (i, role) in ROLES.iter().enumerate() {
        let alg = if i % 2 == 0 { "ed25519" } else { "p256" };
        let (_, public) = file_key(w, &format!("online-{role}"), alg);
        online.push((role.to_string(), public));
    }

    // First ceremony: alice's key read from her token, the others from PEM files.
    let c1 = w.join("ceremony-1");
    let mut args = init_args(&c1, &online);
    args.extend(
        [
            "--member",
            "pkcs11:token=alice;object=root",
            "--pkcs11-module",
            SOFTHSM_MODULE,
            "--threshold",
            "3",
        ]
        .map(String::from),
    );
    for m in ["bob", "carol", "dave", "erin"] {
        args.push("--member".into());
        args.push(w.join(format!("{m}.pub")).display().to_string());
    }
    let out = hsm.tool().args(&args).output().unwrap();
    assert_ok(&out, "init");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Digest to read aloud"));

    sign_token(&hsm, &c1, "alice");
    assert_ok(&sign_file(&c1, &dave), "sign dave");
    // Not yet: two of three.
    let roots = w.join("roots");
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c1)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "not finalized, nothing written");
    assert!(snapshot(&roots).is_empty());
    sign_token(&hsm, &c1, "carol");
    // Signing twice changes nothing.
    let before = std::fs::read(c1.join("ceremony.json")).unwrap();
    sign_token(&hsm, &c1, "carol");
    assert_eq!(before, std::fs::read(c1.join("ceremony.json")).unwrap());
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c1)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_ok(&out, "finalize 1");

    // Rotation: bob and erin leave, frank (token) and gina (file) join, crates.io's online key
    // is replaced.
    hsm.token_with_key("frank", "p256", &w.join("frank.pub"));
    let (gina, gina_pub) = file_key(w, "gina", "ed25519");
    let (new_online, new_online_pub) = file_key(w, "online-crates.io-2", "p256");
    let c2 = w.join("ceremony-2");
    let out = tool()
        .args(["init", "--operator", "coordinator", "--dir"])
        .arg(&c2)
        .arg("--previous-roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_ok(&out, "init rotation");
    let root1 = read_root(&roots.join("crates.io/1.root.json"));
    let ids = root_ceremony::model::root_keyids(&root1.signed);
    let key_id = |pub_file: &Path| {
        root_ceremony::keys::read_public_key_file(pub_file)
            .unwrap()
            .key_id_hex()
    };
    let bob_id = key_id(&w.join("bob.pub"));
    let erin_id = key_id(&w.join("erin.pub"));
    assert!(ids.contains(&bob_id) && ids.contains(&erin_id));
    for id in [&bob_id, &erin_id] {
        let out = tool()
            .args(["remove-member", "--dir"])
            .arg(&c2)
            .args(["--key-id", id])
            .output()
            .unwrap();
        assert_ok(&out, "remove-member");
    }
    let out = tool()
        .args(["add-member", "--dir"])
        .arg(&c2)
        .arg("--member")
        .arg(w.join("frank.pub"))
        .output()
        .unwrap();
    assert_ok(&out, "add-member frank");
    let out = tool()
        .args(["add-member", "--dir"])
        .arg(&c2)
        .arg("--member")
        .arg(&gina_pub)
        .output()
        .unwrap();
    assert_ok(&out, "add-member gina");
    let out = tool()
        .args(["set-online-key", "--dir"])
        .arg(&c2)
        .args(["--role", "crates.io", "--key"])
        .arg(&new_online_pub)
        .output()
        .unwrap();
    assert_ok(&out, "set-online-key");
    let status = tool().args(["status", "--dir"]).arg(&c2).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        text.contains(&format!("root member removed: {bob_id}")),
        "{text}"
    );
    assert!(text.contains("online key:"), "{text}");

    // New root: alice, carol, dave, frank, gina (3). Previous: alice, bob, carol, dave, erin (3).
    // bob (removed) signs for the previous root only; frank and gina for the new one only.
    sign_token(&hsm, &c2, "bob");
    sign_token(&hsm, &c2, "alice");
    sign_token(&hsm, &c2, "frank");
    assert_ok(&sign_file(&c2, &gina), "sign gina");
    // New threshold met (alice, frank, gina) but the previous one is not (bob, alice).
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c2)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "2 of 3 previous-root signatures");
    assert!(!roots.join("crates.io/2.root.json").exists());
    // erin (removed) cannot be refused: she is a member of the previous root.
    assert_ok(&sign_file(&c2, &erin), "sign erin");
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c2)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_ok(&out, "finalize 2");

    // The tool's own client-style check, with both transcripts.
    let out = tool()
        .arg("verify")
        .arg("--roots")
        .arg(&roots)
        .arg("--transcript")
        .arg(c1.join("transcript.jsonl"))
        .arg("--transcript")
        .arg(c2.join("transcript.jsonl"))
        .output()
        .unwrap();
    assert_ok(&out, "verify");

    for role in ROLES {
        // tough's signature checks, step by step.
        let r1 = read_root(&roots.join(role).join("1.root.json"));
        let r2 = read_root(&roots.join(role).join("2.root.json"));
        r1.signed.verify_role(&r1).unwrap();
        r1.signed.verify_role(&r2).unwrap();
        r2.signed.verify_role(&r2).unwrap();
        assert_eq!(r2.signed.spec_version, "1.0.0");
        assert!(r2.signed.consistent_snapshot);
        // The signer's production trust checks, and a repository loaded through the chain.
        let key = if role == "crates.io" {
            new_online.clone()
        } else {
            w.join(format!("online-{role}.pem"))
        };
        let repo = w.join("repo").join(role);
        build_repo(&roots, role, &key, &repo).await;
        tough_loads(&repo, 2).await;
        if python {
            python_checks(&repo, &w.join("py").join(role), 2);
        }
    }
    // The old crates.io online key is no longer accepted by the signer.
    let chain = RootChain::load(&roots.join("crates.io")).unwrap();
    let old = FileSigner::load(w.join("online-crates.io.pem")).unwrap();
    assert!(chain.check_online_key(old.public_key()).is_err());
    require(
        "python-tuf",
        python,
        "run `bash scripts/test-env.sh` (tuf in .venv) or set TUF_TEST_PYTHON",
    )
    .ok();
}
