//! The real binary signing with AWS KMS keys through the real aws-sdk-kms client, against moto's
//! KMS server on 127.0.0.1 (with the gaps tuf-keys' harness mends), for both key specs: it starts
//! in production mode only because the root lists the KMS key, and the timestamps it publishes
//! verify with tough and carry a `merkle_root` that the proofs it serves verify against.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::request;
use tough::schema::{Root, Signed, Timestamp};
use tuf_keys::test_support::{KeySpec, MotoKms, REGION};
use tuf_keys::{FileSigner, KeyAlgorithm, KmsSigner};
use tuf_merkle::Proof;
use tuf_signer::metadata::{SharedSigner, write_dev_root};
use tuf_signer::token_hash;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_keys_sign_real_timestamps() {
    let Some(kms) = MotoKms::start_or_skip("kms_keys_sign_real_timestamps") else {
        return;
    };
    for (spec, algorithm) in [
        (KeySpec::EccNistP256, KeyAlgorithm::EcdsaP256),
        (KeySpec::EccNistEdwards25519, KeyAlgorithm::Ed25519),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let key_id = kms.create_key(spec.clone()).await.unwrap();
        let online = KmsSigner::connect(&key_id, &kms.options()).await.unwrap();
        assert_eq!(online.public_key().algorithm(), algorithm);
        let root_key: SharedSigner = Arc::new(
            FileSigner::generate(dir.path().join("root.pem"), KeyAlgorithm::Ed25519).unwrap(),
        );
        let roots = dir.path().join("roots");
        write_dev_root(&roots, &root_key, online.public_key(), 3600)
            .await
            .unwrap();
        let config = dir.path().join("signer.toml");
        std::fs::write(
            &config,
            format!(
                r#"
                mode = "production"
                data_dir = "{}"
                listen = "127.0.0.1:0"
                [roles."crates.io"]
                snapshot = "merkle"
                layout = "crates-index"
                root_dir = "{}"
                online_key = {{ type = "kms", key_id = "{key_id}", region = "{REGION}", endpoint = "{}" }}
                writer_token_sha256 = ["{}"]
                "#,
                dir.path().join("data").display(),
                roots.display(),
                kms.endpoint_url(),
                token_hash("kms-writer"),
            ),
        )
        .unwrap();
        // Credentials come from the usual AWS environment, as in production.
        let env = [
            ("AWS_ACCESS_KEY_ID", "moto-access-key"),
            ("AWS_SECRET_ACCESS_KEY", "moto-secret-key"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let (mut child, addr) = common::start_binary(&config, &env);
        let auth = [("Authorization", "Bearer kms-writer")];
        for i in 0..3 {
            let path = "/api/v1/crates.io/targets/se/rd/serde?wait=signed";
            let r = request(addr, "PUT", path, &auth, format!("serde {i}").as_bytes()).await;
            assert_eq!(r.status, 200, "{spec:?}: {}", r.text());
        }
        let root: Signed<Root> = serde_json::from_slice(
            &request(addr, "GET", "/crates.io/root.json", &[], b"")
                .await
                .body,
        )
        .unwrap();
        let ts: Signed<Timestamp> = serde_json::from_slice(
            &request(addr, "GET", "/crates.io/timestamp.json", &[], b"")
                .await
                .body,
        )
        .unwrap();
        root.signed
            .verify_role(&ts)
            .unwrap_or_else(|e| panic!("{spec:?}: KMS-signed timestamp does not verify: {e}"));
        assert_eq!(ts.signatures[0].keyid, *online.public_key().key_id());
        let merkle_root =
            tuf_merkle::hash::parse_hex(ts.signed._extra["merkle_root"].as_str().unwrap()).unwrap();
        let r = request(addr, "GET", "/api/v1/crates.io/proof/se/rd/serde", &[], b"").await;
        let v = r.json();
        assert_eq!(v["timestamp_version"], ts.signed.version.get());
        let proof = Proof::from_json(&serde_json::to_vec(&v["proof"]).unwrap()).unwrap();
        proof.verify(&merkle_root).unwrap();
        assert_eq!(proof.contents().map(|c| c.version()), Some(3));
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The `[kms]` table reaches KMS for every role (here moto's endpoint and region, with the
/// role's `online_key` naming only its key), and a role may override it: an operation time
/// limit too short for any call stops the start with a timeout error that names the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kms_table_configures_the_client_and_its_limits() {
    let Some(kms) = MotoKms::start_or_skip("the_kms_table_configures_the_client_and_its_limits")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_id = kms.create_key(KeySpec::EccNistP256).await.unwrap();
    let online = KmsSigner::connect(&key_id, &kms.options()).await.unwrap();
    let root_key: SharedSigner =
        Arc::new(FileSigner::generate(dir.path().join("root.pem"), KeyAlgorithm::Ed25519).unwrap());
    let roots = dir.path().join("roots");
    write_dev_root(&roots, &root_key, online.public_key(), 3600)
        .await
        .unwrap();
    let config = dir.path().join("signer.toml");
    let write_config = |online_key: &str| {
        std::fs::write(
            &config,
            format!(
                r#"
                mode = "production"
                data_dir = "{}"
                listen = "127.0.0.1:0"
                [kms]
                region = "{REGION}"
                endpoint = "{}"
                connect_timeout_ms = 2000
                operation_timeout_ms = 20000
                max_attempts = 2
                [roles.releases]
                snapshot = "classic"
                root_dir = "{}"
                online_key = {online_key}
                writer_token_sha256 = ["{}"]
                "#,
                dir.path().join("data").display(),
                kms.endpoint_url(),
                roots.display(),
                token_hash("kms-writer"),
            ),
        )
        .unwrap();
    };
    let env = [
        ("AWS_ACCESS_KEY_ID", "moto-access-key"),
        ("AWS_SECRET_ACCESS_KEY", "moto-secret-key"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // Not where the key is: the [kms] table's region must win over the environment's.
        ("AWS_REGION", "eu-central-1"),
    ];

    write_config(&format!(r#"{{ type = "kms", key_id = "{key_id}" }}"#));
    let (mut child, addr) = common::start_binary(&config, &env);
    let auth = [("Authorization", "Bearer kms-writer")];
    let r = request(
        addr,
        "PUT",
        "/api/v1/releases/targets/v1/tool.tar.gz?wait=signed",
        &auth,
        b"tool",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let root: Signed<Root> = serde_json::from_slice(
        &request(addr, "GET", "/releases/root.json", &[], b"")
            .await
            .body,
    )
    .unwrap();
    let ts: Signed<Timestamp> = serde_json::from_slice(
        &request(addr, "GET", "/releases/timestamp.json", &[], b"")
            .await
            .body,
    )
    .unwrap();
    root.signed.verify_role(&ts).unwrap();
    assert_eq!(ts.signatures[0].keyid, *online.public_key().key_id());
    let _ = child.kill();
    let _ = child.wait();

    // The role's own limit overrides the table's: 1 ms is too short for any KMS call.
    write_config(&format!(
        r#"{{ type = "kms", key_id = "{key_id}", operation_timeout_ms = 1, max_attempts = 1 }}"#
    ));
    let started = std::time::Instant::now();
    let out = std::process::Command::new(common::SIGNER_BINARY)
        .args(["serve", "--config"])
        .arg(&config)
        .envs(env)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a 1 ms limit: {stderr}");
    for needle in [
        "role releases",
        "KMS GetPublicKey on key",
        key_id.as_str(),
        "timed out",
        "operation 1 ms, 1 attempts",
        "operation_timeout_ms",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}
