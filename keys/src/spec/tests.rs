//! Tests of key specs: the config forms (exactly the signer's `online_key` forms for `file` and
//! `kms`), refusal of unknown keys, relative paths, and opening key files. KMS and PKCS#11 keys
//! are opened against moto and SoftHSM2 in `tests/kms.rs` and `tests/pkcs11.rs`.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde::Deserialize;
use tough::sign::Sign;

use super::*;
use crate::{FileSigner, KeyAlgorithm, KeyFileError};

/// A role table as the signer's config holds one: the spec under `online_key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Role {
    online_key: KeySpec,
}

fn parse(toml_value: &str) -> Result<KeySpec, toml::de::Error> {
    toml::from_str::<Role>(&format!("online_key = {toml_value}")).map(|r| r.online_key)
}

#[cfg(feature = "kms")]
#[test]
fn the_signers_online_key_forms_parse_unchanged() {
    // The forms of signer/src/config.rs and of its tests.
    assert_eq!(
        parse(r#"{ type = "file", path = "../keys/r.pem" }"#).unwrap(),
        KeySpec::File {
            path: "../keys/r.pem".into()
        }
    );
    assert_eq!(
        parse(r#"{ type = "kms", key_id = "alias/x", region = "us-east-1" }"#).unwrap(),
        KeySpec::Kms {
            key_id: "alias/x".into(),
            region: Some("us-east-1".into()),
            endpoint: None,
            profile: None,
            connect_timeout_ms: None,
            attempt_timeout_ms: None,
            operation_timeout_ms: None,
            max_attempts: None,
        }
    );
    assert_eq!(
        parse(
            r#"{ type = "kms", key_id = "k", region = "us-east-1", endpoint = "http://127.0.0.1:5000" }"#
        )
        .unwrap(),
        KeySpec::Kms {
            key_id: "k".into(),
            region: Some("us-east-1".into()),
            endpoint: Some("http://127.0.0.1:5000".into()),
            profile: None,
            connect_timeout_ms: None,
            attempt_timeout_ms: None,
            operation_timeout_ms: None,
            max_attempts: None,
        }
    );
    assert_eq!(
        parse(r#"{ type = "kms", key_id = "k" }"#).unwrap(),
        KeySpec::Kms {
            key_id: "k".into(),
            region: None,
            endpoint: None,
            profile: None,
            connect_timeout_ms: None,
            attempt_timeout_ms: None,
            operation_timeout_ms: None,
            max_attempts: None,
        }
    );
    // The same as a TOML table of its own.
    let role: Role = toml::from_str("[online_key]\ntype = \"file\"\npath = \"/k.pem\"\n").unwrap();
    assert_eq!(
        role.online_key,
        KeySpec::File {
            path: "/k.pem".into()
        }
    );
}

#[cfg(feature = "kms")]
#[test]
fn json_forms_are_the_signers_too() {
    let kms = KeySpec::Kms {
        key_id: "k".into(),
        region: Some("eu-west-1".into()),
        endpoint: None,
        profile: None,
        connect_timeout_ms: None,
        attempt_timeout_ms: None,
        operation_timeout_ms: None,
        max_attempts: None,
    };
    // What serde wrote for the signer's `OnlineKey` (an absent option is `null`).
    let json = r#"{"type":"kms","key_id":"k","region":"eu-west-1","endpoint":null}"#;
    assert_eq!(serde_json::to_string(&kms).unwrap(), json);
    assert_eq!(serde_json::from_str::<KeySpec>(json).unwrap(), kms);
    let file = KeySpec::File {
        path: "/k.pem".into(),
    };
    let json = r#"{"type":"file","path":"/k.pem"}"#;
    assert_eq!(serde_json::to_string(&file).unwrap(), json);
    assert_eq!(serde_json::from_str::<KeySpec>(json).unwrap(), file);
}

#[test]
fn unknown_keys_types_and_missing_fields_are_refused() {
    for bad in [
        // A typo, and a key of another source.
        r#"{ type = "file", path = "/k", mode = "0600" }"#,
        r#"{ type = "file", path = "/k", key_id = "k" }"#,
        r#"{ type = "kms", key_id = "k", regoin = "us-east-1" }"#,
        r#"{ type = "kms", key_id = "k", path = "/k" }"#,
        // No PIN in a spec, ever.
        r#"{ type = "kms", key_id = "k", pin = "123456" }"#,
        // Unknown or missing type, missing required fields, wrong case.
        r#"{ type = "yubihsm", path = "/k" }"#,
        r#"{ path = "/k" }"#,
        r#"{ type = "file" }"#,
        r#"{ type = "kms", region = "us-east-1" }"#,
        r#"{ type = "File", path = "/k" }"#,
    ] {
        assert!(parse(bad).is_err(), "{bad} accepted");
    }
    let err = parse(r#"{ type = "kms", key_id = "k", regoin = "x" }"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("regoin"), "{err}");
    assert!(serde_json::from_str::<KeySpec>(r#"{"type":"file","path":"/k","extra":1}"#).is_err());
}

#[cfg(feature = "pkcs11")]
#[test]
fn pkcs11_specs_parse_with_a_token_label_or_slot_and_never_a_pin() {
    use crate::pkcs11::TokenSelector;
    assert_eq!(
        parse(
            r#"{ type = "pkcs11", module = "/usr/lib/softhsm/libsofthsm2.so", token = { label = "t1" }, key_label = "online" }"#
        )
        .unwrap(),
        KeySpec::Pkcs11 {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token: TokenSelector::Label("t1".into()),
            key_label: "online".into(),
            pin: None,
        }
    );
    assert_eq!(
        parse(r#"{ type = "pkcs11", module = "m.so", token = { slot = 3 }, key_label = "k" }"#)
            .unwrap(),
        KeySpec::Pkcs11 {
            module: "m.so".into(),
            token: TokenSelector::Slot(3),
            key_label: "k".into(),
            pin: None,
        }
    );
    for bad in [
        r#"{ type = "pkcs11", module = "m.so", token = { label = "t" }, key_label = "k", pin = "1" }"#,
        r#"{ type = "pkcs11", module = "m.so", token = { label = "t", slot = 1 }, key_label = "k" }"#,
        r#"{ type = "pkcs11", module = "m.so", token = { serial = "1" }, key_label = "k" }"#,
        r#"{ type = "pkcs11", module = "m.so", key_label = "k" }"#,
        r#"{ type = "pkcs11", module = "m.so", token = { label = "t" } }"#,
    ] {
        assert!(parse(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn relative_paths_become_relative_to_the_base() {
    let base = Path::new("/etc/tuf");
    let mut spec = KeySpec::File {
        path: "../keys/r.pem".into(),
    };
    spec.resolve_relative_to(base);
    assert_eq!(
        spec,
        KeySpec::File {
            path: "/etc/tuf/../keys/r.pem".into()
        }
    );
    // Absolute paths are kept; an empty base (a config file in the current directory) changes
    // nothing.
    let mut spec = KeySpec::File {
        path: "/srv/k.pem".into(),
    };
    spec.resolve_relative_to(base);
    assert_eq!(
        spec,
        KeySpec::File {
            path: "/srv/k.pem".into()
        }
    );
    let mut spec = KeySpec::File {
        path: "k.pem".into(),
    };
    spec.resolve_relative_to(Path::new(""));
    assert_eq!(
        spec,
        KeySpec::File {
            path: "k.pem".into()
        }
    );
}

#[cfg(feature = "kms")]
#[test]
fn kms_specs_have_no_paths_to_resolve() {
    let kms = KeySpec::Kms {
        key_id: "alias/relative/looking".into(),
        region: None,
        endpoint: Some("http://localhost".into()),
        profile: None,
        connect_timeout_ms: None,
        attempt_timeout_ms: None,
        operation_timeout_ms: None,
        max_attempts: None,
    };
    let mut resolved = kms.clone();
    resolved.resolve_relative_to(Path::new("/etc/tuf"));
    assert_eq!(resolved, kms);
}

#[cfg(feature = "pkcs11")]
#[test]
fn pkcs11_module_paths_resolve_but_library_names_do_not() {
    use crate::pkcs11::TokenSelector;
    let module = |m: &str| {
        let mut spec = KeySpec::Pkcs11 {
            module: m.into(),
            token: TokenSelector::Slot(0),
            key_label: "k".into(),
            pin: None,
        };
        spec.resolve_relative_to(Path::new("/etc/tuf"));
        match spec {
            KeySpec::Pkcs11 { module, .. } => module,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(module("libsofthsm2.so"), Path::new("libsofthsm2.so"));
    assert_eq!(module("lib/p11.so"), Path::new("/etc/tuf/lib/p11.so"));
    assert_eq!(module("./p11.so"), Path::new("/etc/tuf/./p11.so"));
    assert_eq!(module("/usr/lib/p11.so"), Path::new("/usr/lib/p11.so"));
}

#[tokio::test]
async fn file_specs_open_the_key_and_sign_verified() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256] {
        let path = dir.path().join(format!("{algorithm}.pem"));
        let generated = FileSigner::generate(&path, algorithm).unwrap();
        // Relative to the directory, as a config file next to the key would name it.
        let mut spec = KeySpec::File {
            path: format!("{algorithm}.pem").into(),
        };
        spec.resolve_relative_to(dir.path());
        assert_eq!(spec.to_string(), format!("key file {}", path.display()));
        let signer = spec.open(&KeyOpenOptions::default()).await.unwrap();
        assert_eq!(signer.public_key(), generated.public_key());
        let sign: &dyn Sign = &*signer;
        let signature = sign
            .sign(b"signed", &aws_lc_rs::rand::SystemRandom::new())
            .await
            .unwrap();
        assert!(generated.public_key().verify(b"signed", &signature));
    }
}

#[tokio::test]
async fn file_specs_keep_the_key_file_checks() {
    let dir = tempfile::tempdir().unwrap();
    let options = KeyOpenOptions::default();
    let missing = KeySpec::File {
        path: dir.path().join("absent.pem"),
    };
    let err = missing.open(&options).await.unwrap_err();
    assert!(
        matches!(&err, KeyError::File(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    let path = dir.path().join("open.pem");
    FileSigner::generate(&path, KeyAlgorithm::Ed25519).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = KeySpec::File { path }.open(&options).await.unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::File(KeyFileError::InsecurePermissions { mode: 0o644, .. })
        ),
        "{err}"
    );
}

#[cfg(feature = "pkcs11")]
#[test]
fn pkcs11_specs_name_a_pin_source_never_a_pin() {
    use crate::pkcs11::{PinSource, TokenSelector};
    let spec = |pin: &str| {
        parse(&format!(
            r#"{{ type = "pkcs11", module = "m.so", token = {{ label = "t" }}, key_label = "k", pin = {pin} }}"#
        ))
    };
    let with = |source| KeySpec::Pkcs11 {
        module: "m.so".into(),
        token: TokenSelector::Label("t".into()),
        key_label: "k".into(),
        pin: Some(source),
    };
    assert_eq!(
        spec(r#"{ env = "TUF_SIGNER_PIN" }"#).unwrap(),
        with(PinSource::Env("TUF_SIGNER_PIN".into()))
    );
    assert_eq!(
        spec(r#"{ file = "hsm.pin" }"#).unwrap(),
        with(PinSource::File("hsm.pin".into()))
    );
    for bad in [
        r#""123456""#,
        r#"{ value = "123456" }"#,
        r#"{ env = "A", file = "/p" }"#,
        r#"{ env = "A", extra = 1 }"#,
        "123456",
    ] {
        assert!(spec(bad).is_err(), "{bad} accepted");
    }
    // A PIN file's relative path is relative to the config file's directory.
    let mut relative = spec(r#"{ file = "secrets/hsm.pin" }"#).unwrap();
    relative.resolve_relative_to(Path::new("/etc/tuf"));
    assert_eq!(
        relative,
        with(PinSource::File("/etc/tuf/secrets/hsm.pin".into()))
    );
}

#[cfg(feature = "pkcs11")]
#[test]
fn pin_files_must_be_private_and_hold_a_pin() {
    use crate::pkcs11::{MAX_PIN_LEN, PinSource, Pkcs11Error};
    use secrecy::ExposeSecret;
    let exposed = |pin: &crate::pkcs11::Pin| pin.expose_secret().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hsm.pin");
    let write = |contents: &[u8], mode: u32| {
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    let source = PinSource::File(path.clone());

    write(b"123456\n", 0o600);
    assert_eq!(exposed(&source.read().unwrap()), "123456");
    write(b"123456\r\n", 0o400);
    assert_eq!(exposed(&source.read().unwrap()), "123456");
    // Only one newline is the file's ending; the rest is the PIN's.
    write(b" 12 34\n\n", 0o600);
    assert_eq!(exposed(&source.read().unwrap()), " 12 34\n");

    for mode in [0o640, 0o604, 0o644, 0o660] {
        write(b"123456", mode);
        let err = source.read().unwrap_err();
        assert!(
            matches!(err, Pkcs11Error::PinFileInsecure { mode: m, .. } if m == mode),
            "{mode:o}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("chmod 600") && !text.contains("123456"),
            "{text}"
        );
    }
    for (contents, why) in [
        (&b""[..], "empty"),
        (b"\n", "empty"),
        (&[0xff, 0xfe][..], "UTF-8"),
        (&[b'1'; MAX_PIN_LEN + 1][..], "longer"),
    ] {
        write(contents, 0o600);
        let err = source.read().unwrap_err();
        assert!(
            matches!(&err, Pkcs11Error::PinUnusable { reason, .. } if reason.contains(why)),
            "{why}: {err}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
    }
    write(&[b'7'; MAX_PIN_LEN], 0o600);
    assert_eq!(exposed(&source.read().unwrap()).len(), MAX_PIN_LEN);

    let missing = PinSource::File(dir.path().join("absent.pin"));
    assert!(matches!(missing.read(), Err(Pkcs11Error::PinFile { .. })));
    let unset = PinSource::Env("TUF_KEYS_TEST_PIN_THAT_IS_NEVER_SET".into());
    let err = unset.read().unwrap_err();
    assert!(
        matches!(&err, Pkcs11Error::PinEnvMissing { var } if var == "TUF_KEYS_TEST_PIN_THAT_IS_NEVER_SET"),
        "{err}"
    );
}

#[cfg(feature = "kms")]
#[test]
fn kms_specs_take_client_settings_that_override_the_defaults() {
    let spec = parse(
        r#"{ type = "kms", key_id = "k", profile = "tuf", operation_timeout_ms = 2000, max_attempts = 1 }"#,
    )
    .unwrap();
    let own = spec.kms_settings().unwrap();
    assert_eq!(own.profile.as_deref(), Some("tuf"));
    assert_eq!(own.operation_timeout_ms, Some(2000));
    assert_eq!(own.region, None);
    let global: KmsSettings = toml::from_str(
        "region = \"eu-west-1\"\nendpoint = \"http://127.0.0.1:5000\"\noperation_timeout_ms = 9000\nconnect_timeout_ms = 100\nprofile = \"default\"\n",
    )
    .unwrap();
    let merged = global.overridden_by(&own);
    assert_eq!(
        merged,
        KmsSettings {
            profile: Some("tuf".into()),
            region: Some("eu-west-1".into()),
            endpoint: Some("http://127.0.0.1:5000".into()),
            connect_timeout_ms: Some(100),
            attempt_timeout_ms: None,
            operation_timeout_ms: Some(2000),
            max_attempts: Some(1),
        }
    );
    let mut options = crate::KmsOptions::default().with_region("us-east-1");
    merged.apply_to(&mut options);
    let limits = options.limits();
    assert_eq!(limits.operation, std::time::Duration::from_millis(2000));
    assert_eq!(limits.connect, std::time::Duration::from_millis(100));
    // The attempt's default (10 s) never exceeds the operation's limit.
    assert_eq!(limits.attempt, std::time::Duration::from_millis(2000));
    assert_eq!(limits.max_attempts, 1);
    assert_eq!(options.region.as_deref(), Some("eu-west-1"));
    assert!(toml::from_str::<KmsSettings>("regoin = \"x\"").is_err());
    assert!(parse(r#"{ type = "kms", key_id = "k", timeout_ms = 1 }"#).is_err());
    assert_eq!(KeySpec::File { path: "/k".into() }.kms_settings(), None);
}
