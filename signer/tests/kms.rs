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
