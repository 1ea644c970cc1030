//! The real binary signing with online keys on a PKCS#11 token: SoftHSM2 (Debian's `softhsm2`)
//! with a token directory of this test's own. Two merkle roles, one with an ECDSA P-256 key
//! whose PIN comes from a 0600 file, one with an Ed25519 key whose PIN comes from an
//! environment variable, both on one token (so both roles share the module in one process).
//! The signer starts in production mode only because each root lists its HSM key; the
//! timestamps it publishes verify under the root and carry a `merkle_root` that its proofs
//! verify against.
//!
//! Then what an operator gets wrong: no PIN source, a PIN file others can read, a wrong PIN,
//! an unknown token or key label, a key the root does not list; each stops the start with its
//! own message, and the PIN shows in none of them.
//!
//! Without SoftHSM2 the test is skipped with a message, except under `CI=true`, where it fails.
//! (Losing the token's session and re-opening it is tested on the signer type itself, in
//! `keys/tests/pkcs11.rs`, where the test can take the token away.)

#![cfg(feature = "pkcs11")]
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{SIGNER_BINARY, request};
use tough::schema::{Root, Signed, Timestamp};
use tuf_keys::test_support::in_ci;
use tuf_keys::{FileSigner, KeyAlgorithm, TufPublicKey};
use tuf_merkle::Proof;
use tuf_signer::metadata::{SharedSigner, write_dev_root};
use tuf_signer::token_hash;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "tuf-online";
/// Not a PIN anything else would contain: the test looks for it in every message.
const PIN: &str = "pin-4711-secret";
const PIN_ENV: &str = "TUF_SIGNER_TEST_HSM_PIN";

fn softhsm_present() -> bool {
    Path::new(MODULE).exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// A SoftHSM2 configuration with its own token directory under `dir`.
struct SoftHsm {
    conf: PathBuf,
}

impl SoftHsm {
    fn new(dir: &Path) -> Self {
        let tokens = dir.join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let hsm = SoftHsm { conf };
        hsm.util(&[
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            "so-pin-999",
            "--pin",
            PIN,
        ]);
        hsm
    }

    fn util(&self, args: &[&str]) {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "softhsm2-util {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Puts a new key pair of `algorithm` labelled `label` on the token and returns its public
    /// key. The key is made as a PKCS#8 file, imported, and the file removed: from then on the
    /// key is on the token only.
    fn key(&self, dir: &Path, label: &str, id: &str, algorithm: KeyAlgorithm) -> TufPublicKey {
        let path = dir.join(format!("{label}.pem"));
        let public = FileSigner::generate(&path, algorithm)
            .unwrap()
            .public_key()
            .clone();
        self.util(&[
            "--import",
            path.to_str().unwrap(),
            "--token",
            TOKEN,
            "--label",
            label,
            "--id",
            id,
            "--pin",
            PIN,
        ]);
        std::fs::remove_file(&path).unwrap();
        public
    }
}

/// A root in `dir/roots-NAME` listing `online` for the online roles.
async fn root_for(dir: &Path, name: &str, online: &TufPublicKey) -> PathBuf {
    let root_key: SharedSigner = Arc::new(
        FileSigner::generate(dir.join(format!("root-{name}.pem")), KeyAlgorithm::Ed25519).unwrap(),
    );
    let roots = dir.join(format!("roots-{name}"));
    write_dev_root(&roots, &root_key, online, 3600)
        .await
        .unwrap();
    roots
}

/// A production config with the two roles, their keys given as `p256_key` and `ed_key`.
fn config_text(dir: &Path, roots: [&Path; 2], p256_key: &str, ed_key: &str) -> String {
    format!(
        r#"
        mode = "production"
        data_dir = "{data}"
        listen = "127.0.0.1:0"
        [roles."crates.io"]
        snapshot = "merkle"
        layout = "crates-index"
        root_dir = "{r0}"
        online_key = {p256_key}
        writer_token_sha256 = ["{t0}"]
        [roles.mirror-index]
        snapshot = "merkle"
        root_dir = "{r1}"
        online_key = {ed_key}
        writer_token_sha256 = ["{t1}"]
        "#,
        data = dir.join("data").display(),
        r0 = roots[0].display(),
        r1 = roots[1].display(),
        t0 = token_hash("hsm-writer-0"),
        t1 = token_hash("hsm-writer-1"),
    )
}

/// `{ type = "pkcs11", … }` for the key labelled `label` on the token labelled `token`.
fn hsm_key(token: &str, label: &str, pin: &str) -> String {
    format!(
        r#"{{ type = "pkcs11", module = "{MODULE}", token = {{ label = "{token}" }}, key_label = "{label}"{pin} }}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsm_keys_sign_real_timestamps() {
    if !softhsm_present() {
        assert!(
            !in_ci(),
            "SoftHSM2 is missing under CI: install the Debian package softhsm2"
        );
        eprintln!("SKIPPED hsm_keys_sign_real_timestamps: SoftHSM2 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new(dir.path());
    let p256 = hsm.key(
        dir.path(),
        "crates-io-online",
        "01",
        KeyAlgorithm::EcdsaP256,
    );
    let ed = hsm.key(
        dir.path(),
        "mirror-index-online",
        "02",
        KeyAlgorithm::Ed25519,
    );
    let roots = [
        root_for(dir.path(), "crates.io", &p256).await,
        root_for(dir.path(), "mirror-index", &ed).await,
    ];
    // The PIN file is named relative to the config file, as an operator would.
    let pin_file = dir.path().join("hsm.pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let from_file = r#", pin = { file = "hsm.pin" }"#;
    let from_env = format!(r#", pin = {{ env = "{PIN_ENV}" }}"#);
    let config = dir.path().join("signer.toml");
    let write_config = |p256_key: &str, ed_key: &str| {
        std::fs::write(
            &config,
            config_text(dir.path(), [&roots[0], &roots[1]], p256_key, ed_key),
        )
        .unwrap();
    };
    let conf = hsm.conf.to_str().unwrap().to_owned();
    let env = [("SOFTHSM2_CONF", conf.as_str()), (PIN_ENV, PIN)];

    write_config(
        &hsm_key(TOKEN, "crates-io-online", from_file),
        &hsm_key(TOKEN, "mirror-index-online", &from_env),
    );
    let (mut child, addr) = common::start_binary(&config, &env);
    for (role, token, name, public) in [
        ("crates.io", "hsm-writer-0", "se/rd/serde", &p256),
        ("mirror-index", "hsm-writer-1", "a/b/c.json", &ed),
    ] {
        let bearer = format!("Bearer {token}");
        let auth = [("Authorization", bearer.as_str())];
        for i in 0..3 {
            let path = format!("/api/v1/{role}/targets/{name}?wait=signed");
            let r = request(addr, "PUT", &path, &auth, format!("{name} {i}").as_bytes()).await;
            assert_eq!(r.status, 200, "{role}: {}", r.text());
        }
        let get = |path: String| async move { request(addr, "GET", &path, &[], b"").await.body };
        let root: Signed<Root> =
            serde_json::from_slice(&get(format!("/{role}/root.json")).await).unwrap();
        let ts: Signed<Timestamp> =
            serde_json::from_slice(&get(format!("/{role}/timestamp.json")).await).unwrap();
        root.signed
            .verify_role(&ts)
            .unwrap_or_else(|e| panic!("{role}: the HSM-signed timestamp does not verify: {e}"));
        assert_eq!(ts.signatures.len(), 1);
        assert_eq!(ts.signatures[0].keyid, *public.key_id(), "{role}");
        // Every change was its own round: three timestamps after the first.
        assert!(
            ts.signed.version.get() >= 4,
            "{role}: {}",
            ts.signed.version
        );
        let merkle_root =
            tuf_merkle::hash::parse_hex(ts.signed._extra["merkle_root"].as_str().unwrap()).unwrap();
        let r = request(
            addr,
            "GET",
            &format!("/api/v1/{role}/proof/{name}"),
            &[],
            b"",
        )
        .await;
        let v = r.json();
        assert_eq!(v["timestamp_version"], ts.signed.version.get(), "{role}");
        let proof = Proof::from_json(&serde_json::to_vec(&v["proof"]).unwrap()).unwrap();
        proof.verify(&merkle_root).unwrap();
        assert_eq!(proof.contents().map(|c| c.version()), Some(3), "{role}");
    }
    let _ = child.kill();
    let _ = child.wait();

    // What an operator gets wrong stops the start, each with its own message, never the PIN.
    let fails = |env: &[(&str, &str)], needles: &[&str]| {
        let out = Command::new(SIGNER_BINARY)
            .args(["serve", "--config"])
            .arg(&config)
            .envs(env.iter().copied())
            .env("TUF_SIGNER_LOG", "debug")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "started: {stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
        }
        assert!(!stderr.contains(PIN), "the PIN shows: {stderr}");
    };
    let good_ed = hsm_key(TOKEN, "mirror-index-online", &from_env);

    write_config(&hsm_key(TOKEN, "crates-io-online", ""), &good_ed);
    fails(&env, &["roles.crates.io.online_key", "source of its PIN"]);

    write_config(&hsm_key(TOKEN, "crates-io-online", from_file), &good_ed);
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    fails(
        &env,
        &["role crates.io", "hsm.pin", "mode 0644", "chmod 600"],
    );
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The environment variable unset, then holding a wrong PIN.
    write_config(&hsm_key(TOKEN, "crates-io-online", &from_env), &good_ed);
    fails(
        &[("SOFTHSM2_CONF", conf.as_str())],
        &["role crates.io", PIN_ENV, "not set"],
    );
    fails(
        &[
            ("SOFTHSM2_CONF", conf.as_str()),
            (PIN_ENV, "wrong-pin-0000"),
        ],
        &["role crates.io", "refused the PIN"],
    );

    write_config(
        &hsm_key("no-such-token", "crates-io-online", from_file),
        &good_ed,
    );
    fails(
        &env,
        &[
            "role crates.io",
            "no token labelled \"no-such-token\"",
            TOKEN,
        ],
    );

    write_config(&hsm_key(TOKEN, "no-such-key", from_file), &good_ed);
    fails(
        &env,
        &[
            "role crates.io",
            "no private key labelled \"no-such-key\"",
            "crates-io-online",
        ],
    );

    // The start-up checks hold for HSM keys too: a key the role's root does not list (the
    // other role's) is refused.
    write_config(&hsm_key(TOKEN, "mirror-index-online", from_file), &good_ed);
    fails(
        &env,
        &["role crates.io", &ed.key_id_hex(), "is not listed in root"],
    );
}
