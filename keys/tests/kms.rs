//! The KMS signers against a real KMS endpoint: the real aws-sdk-kms client talking to moto's
//! server on 127.0.0.1 (with moto's gaps mended by `tests/kms/moto_kms.py`), for both key specs.
//!
//! Needs the test virtualenv (`bash scripts/test-env.sh`); without it this test is skipped with
//! a message, except under `CI=true`, where it fails.

use tough::sign::Sign;
use tuf_keys::aws_sdk_kms::config::Credentials;
use tuf_keys::test_support::{KeySpec, MotoKms, REGION, sign_timestamp_with_tough};
use tuf_keys::{
    KMS_RAW_MESSAGE_MAX, KeyAlgorithm, KeyError, KeyOpenOptions, KmsError, KmsKeySource,
    KmsOptions, KmsSigner, TufPublicKey, TufSigner,
};

/// Message sizes to sign: tiny, around the RAW limit, and (P-256 only) far beyond it.
const SIZES: [usize; 5] = [
    1,
    1000,
    KMS_RAW_MESSAGE_MAX,
    KMS_RAW_MESSAGE_MAX + 1,
    200_000,
];

#[tokio::test]
async fn kms_keys_of_both_specs_sign_what_tough_verifies() {
    let Some(kms) = MotoKms::start_or_skip("kms_keys_of_both_specs_sign_what_tough_verifies")
    else {
        return;
    };
    let client = kms.client().await;
    for (key_spec, algorithm) in [
        (KeySpec::EccNistP256, KeyAlgorithm::EcdsaP256),
        (KeySpec::EccNistEdwards25519, KeyAlgorithm::Ed25519),
    ] {
        let key_id = kms.create_key(key_spec.clone()).await.unwrap();
        let signer = KmsSigner::connect(&key_id, &kms.options()).await.unwrap();
        assert_eq!(signer.algorithm(), algorithm);

        // The TUF key, built independently from GetPublicKey's DER.
        let out = client
            .get_public_key()
            .key_id(&key_id)
            .send()
            .await
            .unwrap();
        assert_eq!(out.key_spec(), Some(&key_spec), "the harness adds KeySpec");
        let from_kms = TufPublicKey::from_spki_der(out.public_key().unwrap().as_ref()).unwrap();
        assert_eq!(&from_kms, signer.public_key());
        assert_eq!(&from_kms, TufSigner::public_key(&signer));

        for size in SIZES {
            let message: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let result = signer.sign_message(&message).await;
            if algorithm == KeyAlgorithm::Ed25519 && size > KMS_RAW_MESSAGE_MAX {
                let err = result.unwrap_err();
                assert!(
                    matches!(err, KmsError::MessageTooLarge { len, max: 4096 } if len == size),
                    "{err}"
                );
                assert!(err.to_string().contains("at most 4096 bytes"), "{err}");
                continue;
            }
            let signature = result.unwrap_or_else(|e| panic!("{key_spec:?}, {size} bytes: {e}"));
            assert!(
                from_kms.verify(&message, &signature),
                "{key_spec:?}, {size} bytes"
            );
            match algorithm {
                KeyAlgorithm::Ed25519 => assert_eq!(signature.len(), 64),
                KeyAlgorithm::EcdsaP256 => assert_eq!(signature[0], 0x30, "DER signature"),
            }
            let mut tampered = message.clone();
            tampered[0] ^= 1;
            assert!(!from_kms.verify(&tampered, &signature));
        }

        // Through tough: tough signs a timestamp with the KMS key source and verifies it.
        let source = KmsKeySource {
            key_id: key_id.clone(),
            options: kms.options(),
        };
        let (signed, len) = sign_timestamp_with_tough(Box::new(source.clone()), &from_kms, 500)
            .await
            .unwrap();
        assert!(len < KMS_RAW_MESSAGE_MAX);
        assert_eq!(signed.signatures.len(), 1);

        // A timestamp whose canonical JSON exceeds 4,096 bytes: fine for P-256, a clear error
        // for Ed25519.
        let result = sign_timestamp_with_tough(Box::new(source), &from_kms, 5000).await;
        match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                let (_, len) = result.unwrap();
                assert!(len > KMS_RAW_MESSAGE_MAX);
            }
            KeyAlgorithm::Ed25519 => {
                let err = result.unwrap_err().to_string();
                assert!(err.contains("too large for KMS Ed25519 signing"), "{err}");
            }
        }
    }
}

#[tokio::test]
async fn ed25519_message_over_4096_bytes_is_refused_before_any_call() {
    let Some(kms) = MotoKms::start_or_skip("ed25519_message_over_4096_bytes_is_refused") else {
        return;
    };
    let key_id = kms.create_key(KeySpec::EccNistEdwards25519).await.unwrap();
    let signer = KmsSigner::connect(&key_id, &kms.options()).await.unwrap();
    // Stop the emulator: a call would now fail with an API error, so getting MessageTooLarge
    // shows the check happens before any call.
    drop(kms);
    let err = signer.sign_message(&[b'x'; 4097]).await.unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::MessageTooLarge {
                len: 4097,
                max: 4096
            }
        ),
        "{err}"
    );
    let err = signer.sign_message(&[b'x'; 4096]).await.unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::Api {
                operation: "Sign",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn unsuitable_kms_keys_are_refused_with_clear_errors() {
    let Some(kms) = MotoKms::start_or_skip("unsuitable_kms_keys_are_refused") else {
        return;
    };
    let options = kms.options();

    let rsa = kms.create_key(KeySpec::Rsa2048).await.unwrap();
    let err = KmsSigner::connect(&rsa, &options).await.unwrap_err();
    assert!(
        matches!(&err, KmsError::UnsupportedKeySpec { key_spec, .. } if key_spec == "RSA_2048"),
        "{err}"
    );
    let p384 = kms.create_key(KeySpec::EccNistP384).await.unwrap();
    let err = KmsSigner::connect(&p384, &options).await.unwrap_err();
    assert!(matches!(err, KmsError::UnsupportedKeySpec { .. }), "{err}");

    let err = KmsSigner::connect("alias/does-not-exist", &options)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::Api {
                operation: "GetPublicKey",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("NotFoundException"), "{err}");
}

#[tokio::test]
async fn aliases_resolve_to_the_key_at_connect_time() {
    let Some(kms) = MotoKms::start_or_skip("aliases_resolve_to_the_key_at_connect_time") else {
        return;
    };
    let key_id = kms.create_key(KeySpec::EccNistP256).await.unwrap();
    let client = kms.client().await;
    client
        .create_alias()
        .alias_name("alias/tuf-timestamp")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let signer = KmsSigner::connect("alias/tuf-timestamp", &kms.options())
        .await
        .unwrap();
    assert!(
        signer.kms_key_id().contains(&key_id),
        "{}",
        signer.kms_key_id()
    );
    let signature = signer.sign_message(b"timestamp").await.unwrap();
    assert!(signer.public_key().verify(b"timestamp", &signature));
}

#[tokio::test]
async fn kms_key_specs_open_as_the_signers_config_names_them() {
    let Some(kms) = MotoKms::start_or_skip("kms_key_specs_open_as_the_signers_config_names_them")
    else {
        return;
    };
    // Region and endpoint come from the spec; credentials from the options (in production, from
    // the usual AWS configuration), never from the spec.
    let options = KeyOpenOptions::default().with_kms(KmsOptions::default().with_credentials(
        Credentials::new(
            "moto-access-key",
            "moto-secret-key",
            None,
            None,
            "kms-spec-test",
        ),
    ));
    #[derive(serde::Deserialize)]
    struct Role {
        online_key: tuf_keys::KeySpec,
    }
    // As the signer's tests write the config.
    let spec_for = |key_id: &str, endpoint: &str| {
        toml::from_str::<Role>(&format!(
            r#"online_key = {{ type = "kms", key_id = "{key_id}", region = "{REGION}", endpoint = "{endpoint}" }}"#
        ))
        .unwrap()
        .online_key
    };
    for key_spec in [KeySpec::EccNistP256, KeySpec::EccNistEdwards25519] {
        let key_id = kms.create_key(key_spec.clone()).await.unwrap();
        let spec = spec_for(&key_id, kms.endpoint_url());
        assert_eq!(spec.to_string(), format!("KMS key {key_id}"));
        let signer = spec.open(&options).await.unwrap();
        let expected = KmsSigner::connect(&key_id, &kms.options()).await.unwrap();
        assert_eq!(signer.public_key(), expected.public_key());
        let sign: &dyn Sign = &*signer;
        let signature = sign
            .sign(b"timestamp", &aws_lc_rs::rand::SystemRandom::new())
            .await
            .unwrap();
        assert!(expected.public_key().verify(b"timestamp", &signature));
    }

    let err = spec_for("alias/does-not-exist", kms.endpoint_url())
        .open(&options)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::Kms(KmsError::Api {
                operation: "GetPublicKey",
                ..
            })
        ),
        "{err}"
    );
}

/// A time limit too short for any call makes connecting and signing fail with
/// `KmsError::Timeout`, whose message names the key and the limits; the same signer's calls
/// succeed with the limits a spec gives when they are long enough.
#[tokio::test]
async fn too_short_time_limits_give_timeout_errors_naming_the_key() {
    let Some(kms) =
        MotoKms::start_or_skip("too_short_time_limits_give_timeout_errors_naming_the_key")
    else {
        return;
    };
    let key_id = kms.create_key(KeySpec::EccNistP256).await.unwrap();
    let short = kms
        .options()
        .with_operation_timeout(std::time::Duration::from_millis(1))
        .with_max_attempts(1);
    let err = KmsSigner::connect(&key_id, &short).await.unwrap_err();
    assert!(matches!(err, KmsError::Timeout { .. }), "{err:?}");
    let text = err.to_string();
    for needle in [
        "KMS GetPublicKey on key",
        key_id.as_str(),
        "timed out",
        "operation 1 ms, 1 attempts",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }

    // A spec's own settings override the options given to `open`: here the endpoint and
    // region come from the options, and the spec's limits are generous.
    let spec: tuf_keys::KeySpec = serde_json::from_value(serde_json::json!({
        "type": "kms", "key_id": key_id, "operation_timeout_ms": 20_000,
        "attempt_timeout_ms": 10_000, "connect_timeout_ms": 2_000, "max_attempts": 2,
    }))
    .unwrap();
    let signer = spec
        .open(&KeyOpenOptions::default().with_kms(short.clone()))
        .await
        .unwrap();
    let sign: &dyn Sign = &*signer;
    let signature = sign
        .sign(b"timestamp", &aws_lc_rs::rand::SystemRandom::new())
        .await
        .unwrap();
    assert!(signer.public_key().verify(b"timestamp", &signature));
}
