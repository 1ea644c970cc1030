//! The PKCS#11 signer against a real token: SoftHSM2 (Debian's `softhsm2`), in a token
//! directory of this test's own. Keys of both types are generated on the token, sign a TUF
//! timestamp through tough's own `SignedRole` (via `Pkcs11KeySource`), and tough verifies it.
//! Also: a wrong PIN, a missing token (by label or slot) and a missing key give their own
//! errors; a signer whose session is lost (the module finalised, re-initialised, the token
//! gone and back, another token under the same labels) re-opens it, or refuses, as it should.
//!
//! SoftHSM2 reads its configuration (`SOFTHSM2_CONF`) when the module is initialised, so the
//! test re-runs itself as a child process with that variable set. Without SoftHSM2 it is
//! skipped with a message, except under `CI=true`, where it fails.

#![cfg(feature = "pkcs11")]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use tough::sign::Sign;
use tuf_keys::pkcs11::{
    Pin, Pkcs11Error, Pkcs11KeySource, Pkcs11KeySpec, Pkcs11Signer, TokenSelector, generate,
    read_public_key_only,
};
use tuf_keys::test_support::{in_ci, sign_timestamp_with_tough};
use tuf_keys::{KeyAlgorithm, KeyError, KeyOpenOptions, KeySpec};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "123456";
const CHILD: &str = "TUF_KEYS_PKCS11_CHILD";
/// Tells the child where SoftHSM2 keeps the tokens, so that it can take them away.
const TOKENS: &str = "TUF_KEYS_PKCS11_TOKENS";
/// ... and where a token with the same labels but another key is.
const OTHER_TOKENS: &str = "TUF_KEYS_PKCS11_OTHER_TOKENS";

fn spec(token: &str, key: &str) -> Pkcs11KeySpec {
    Pkcs11KeySpec {
        module: MODULE.into(),
        token: TokenSelector::Label(token.into()),
        key_label: key.into(),
    }
}

#[test]
fn softhsm_keys_sign_what_tough_verifies() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let present = Path::new(MODULE).exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            !in_ci(),
            "SoftHSM2 is missing under CI: install the Debian package softhsm2"
        );
        eprintln!("SKIPPED softhsm_keys_sign_what_tough_verifies: SoftHSM2 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "t1",
            "--so-pin",
            "999999",
            "--pin",
            PIN,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A stand-in token: the same token and key labels, another key. The child swaps it in to
    // check that a re-opened session refuses a key other than the one it was opened with.
    let other_tokens = dir.path().join("other-tokens");
    std::fs::create_dir(&other_tokens).unwrap();
    let other_conf = dir.path().join("other-softhsm2.conf");
    std::fs::write(
        &other_conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            other_tokens.display()
        ),
    )
    .unwrap();
    let other_pem = dir.path().join("other-ed.pem");
    tuf_keys::FileSigner::generate(&other_pem, KeyAlgorithm::Ed25519).unwrap();
    for args in [
        &[
            "--init-token",
            "--free",
            "--label",
            "t1",
            "--so-pin",
            "999999",
            "--pin",
            PIN,
        ][..],
        &[
            "--import",
            other_pem.to_str().unwrap(),
            "--token",
            "t1",
            "--label",
            "ed",
            "--id",
            "0e",
            "--pin",
            PIN,
        ],
    ] {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &other_conf)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .env(TOKENS, &tokens)
        .env(OTHER_TOKENS, &other_tokens)
        .args([
            "--exact",
            "softhsm_keys_sign_what_tough_verifies",
            "--nocapture",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn child() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pin = Pin::from(PIN);
    for (label, algorithm) in [
        ("p256", KeyAlgorithm::EcdsaP256),
        ("ed", KeyAlgorithm::Ed25519),
    ] {
        let public = generate(&spec("t1", label), algorithm, Some(&pin)).unwrap();
        assert_eq!(public.algorithm(), algorithm);
        assert_eq!(read_public_key_only(&spec("t1", label)).unwrap(), public);
        // A second key with the same label is refused.
        assert!(matches!(
            generate(&spec("t1", label), algorithm, Some(&pin)),
            Err(Pkcs11Error::KeyExists { .. })
        ));
        let signer = Pkcs11Signer::open(&spec("t1", label), Some(&pin)).unwrap();
        assert_eq!(signer.public_key(), &public);
        for len in [0usize, 100, 10_000] {
            let message = vec![b'x'; len];
            let sig = signer.sign_message_blocking(&message).unwrap();
            assert!(public.verify(&message, &sig));
        }
        // Through tough: it signs with the key source and verifies with the root listing it.
        let source = Box::new(Pkcs11KeySource::new(spec("t1", label), pin.clone()));
        runtime
            .block_on(sign_timestamp_with_tough(source, &public, 3000))
            .unwrap();
    }
    assert!(matches!(
        Pkcs11Signer::open(&spec("t1", "p256"), Some(&Pin::from("000000"))),
        Err(Pkcs11Error::WrongPin)
    ));
    assert!(matches!(
        Pkcs11Signer::open(&spec("missing", "p256"), Some(&pin)),
        Err(Pkcs11Error::TokenNotFound { .. })
    ));
    assert!(matches!(
        Pkcs11Signer::open(&spec("t1", "nope"), Some(&pin)),
        Err(Pkcs11Error::KeyNotFound { .. })
    ));
    let no_slot = Pkcs11KeySpec {
        token: TokenSelector::Slot(424_242),
        ..spec("t1", "p256")
    };
    let err = Pkcs11Signer::open(&no_slot, Some(&pin)).unwrap_err();
    assert!(
        matches!(err, Pkcs11Error::TokenNotFound { .. })
            && err.to_string().contains("no token in slot 424242")
            && err.to_string().contains("\"t1\" in slot"),
        "{err}"
    );
    assert!(matches!(
        Pkcs11Signer::open(&spec("t1", "p256"), None),
        Err(Pkcs11Error::PinRequired)
    ));
    runtime.block_on(key_specs_open_tokens(&pin));
    sessions_lost_are_reopened(&pin);
}

/// A signer whose session goes away (the module finalised by another user of it in this
/// process, the module initialised again, the token gone and back) re-opens it and signs on;
/// while the token is away it fails with a specific error, and signs again once it is back.
fn sessions_lost_are_reopened(pin: &Pin) {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};

    let signer = Pkcs11Signer::open(&spec("t1", "ed"), Some(pin)).unwrap();
    let public = signer.public_key().clone();
    let signs = |what: &str| {
        let message = format!("timestamp after {what}");
        let signature = signer
            .sign_message_blocking(message.as_bytes())
            .unwrap_or_else(|e| panic!("after {what}: {e}"));
        assert!(public.verify(message.as_bytes(), &signature), "{what}");
    };
    signs("opening");
    assert_eq!(signer.reopened(), 0);
    // A second handle on the same module, as another part of the process (another role's
    // key) may hold: finalising it ends every session of the process, the signer's too.
    let other = || Pkcs11::new(MODULE).unwrap();

    // 1. Finalised: the signer's next call finds the module uninitialised.
    other().finalize().unwrap();
    signs("the module was finalised");
    assert_eq!(signer.reopened(), 1);

    // 2. Finalised and initialised again by the other user: the signer's session handle is
    //    no longer valid (CKR_SESSION_HANDLE_INVALID), and it is logged out.
    other().finalize().unwrap();
    other()
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    signs("the module was re-initialised");
    assert_eq!(signer.reopened(), 2);

    // 3. The token goes away: SoftHSM2 reads its tokens when it is initialised, so the token
    //    directory is moved aside while the module is finalised.
    let tokens = std::path::PathBuf::from(std::env::var_os(TOKENS).unwrap());
    let aside = tokens.with_file_name("tokens-aside");
    other().finalize().unwrap();
    std::fs::rename(&tokens, &aside).unwrap();
    std::fs::create_dir(&tokens).unwrap();
    for attempt in 0..2 {
        let err = signer.sign_message_blocking(b"no token").unwrap_err();
        let Pkcs11Error::SessionLost { reopen, .. } = &err else {
            panic!("attempt {attempt}: not SessionLost: {err}")
        };
        assert!(
            matches!(**reopen, Pkcs11Error::TokenNotFound { .. }),
            "attempt {attempt}: {err}"
        );
        let text = format!("{err} {err:?}");
        assert!(text.contains("\"ed\"") && text.contains("t1"), "{text}");
        assert!(!text.contains(PIN), "{text}");
    }
    // ... and comes back: the next signature opens a session again.
    other().finalize().unwrap();
    std::fs::remove_dir(&tokens).unwrap();
    std::fs::rename(&aside, &tokens).unwrap();
    signs("the token came back");
    assert_eq!(signer.reopened(), 3);
    // 4. Another token comes back under the same labels, with another key behind the key
    //    label: the signer refuses it rather than sign with a key the root does not list.
    let other_tokens = std::path::PathBuf::from(std::env::var_os(OTHER_TOKENS).unwrap());
    other().finalize().unwrap();
    std::fs::rename(&tokens, &aside).unwrap();
    std::fs::rename(&other_tokens, &tokens).unwrap();
    let err = signer.sign_message_blocking(b"other key").unwrap_err();
    match &err {
        Pkcs11Error::SessionLost { reopen, .. } => match &**reopen {
            Pkcs11Error::KeyChanged { expected, .. } => {
                assert_eq!(*expected, public.key_id_hex());
            }
            other => panic!("not KeyChanged: {other}"),
        },
        other => panic!("not SessionLost: {other}"),
    }
    assert!(
        err.to_string()
            .contains("refusing to sign with another key"),
        "{err}"
    );
    other().finalize().unwrap();
    std::fs::rename(&tokens, &other_tokens).unwrap();
    std::fs::rename(&aside, &tokens).unwrap();
    signs("the right token came back");
    assert_eq!(signer.reopened(), 4);
    // Through the async path, as the signer's rounds sign.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let signature = runtime.block_on(signer.sign_message(b"async")).unwrap();
    assert!(public.verify(b"async", &signature));
}

/// A `KeySpec` in its config form opens the key on the token; the PIN comes from the options.
async fn key_specs_open_tokens(pin: &Pin) {
    #[derive(serde::Deserialize)]
    struct Role {
        online_key: KeySpec,
    }
    let role: Role = toml::from_str(&format!(
        r#"online_key = {{ type = "pkcs11", module = "{MODULE}", token = {{ label = "t1" }}, key_label = "ed" }}"#
    ))
    .unwrap();
    let spec = role.online_key;
    assert_eq!(
        spec.to_string(),
        format!("PKCS#11 key \"ed\" on the token labelled \"t1\" of {MODULE}")
    );
    let public = read_public_key_only(&self::spec("t1", "ed")).unwrap();
    let signer = spec
        .open(&KeyOpenOptions::default().with_pin(pin.clone()))
        .await
        .unwrap();
    assert_eq!(signer.public_key(), &public);
    let sign: &dyn Sign = &*signer;
    let signature = sign
        .sign(b"timestamp", &aws_lc_rs::rand::SystemRandom::new())
        .await
        .unwrap();
    assert!(public.verify(b"timestamp", &signature));
    // PKCS#11 logins belong to the application, not the session: while this signer is open,
    // another login would succeed whatever the PIN.
    drop(signer);

    let err = spec.open(&KeyOpenOptions::default()).await.unwrap_err();
    assert!(
        matches!(err, KeyError::Pkcs11(Pkcs11Error::PinRequired)),
        "{err}"
    );
    let wrong = KeyOpenOptions::default().with_pin(Pin::from("000000"));
    let err = spec.open(&wrong).await.unwrap_err();
    assert!(
        matches!(err, KeyError::Pkcs11(Pkcs11Error::WrongPin)),
        "{err}"
    );
    // The PIN shows nowhere.
    let shown = format!(
        "{err} {err:?} {spec:?} {:?}",
        KeyOpenOptions::default().with_pin(pin.clone())
    );
    assert!(!shown.contains(PIN), "{shown}");
}
