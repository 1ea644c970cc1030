//! Tests of key files: generation, loading, signing verified by tough, permissions, malformed
//! files.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::tough_check::sign_timestamp_with_tough;

// Throwaway keys made with OpenSSL 3 for these tests only (`openssl genpkey`), to check that keys
// from other tools load and yield the same public keys.
const OPENSSL_ED25519: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKXexTSVhlxDFFYlUwNKmpIzcEMz1lxRP1xoQ4y/VP00
-----END PRIVATE KEY-----
";
const OPENSSL_ED25519_PUBLIC: &str =
    "fc2b28ef31d9615fb793b290822f3c3adc7e3cb72a69eac59ca9f667f547e9e2";
const OPENSSL_P256: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrsdLrT1Rm0U7+S7w
mIgxOHSWDPJeOenJ6YvUnpHaBWyhRANCAAStiUsx/C19mpqRIpuYyhm2rfVEviQB
7tqlEupZ7TF4qR+e633DINOt9i9H4Qv9E7RyHmThyg8bv9qjWB/RFeNz
-----END PRIVATE KEY-----
";
const OPENSSL_P256_PUBLIC: &str = "04ad894b31fc2d7d9a9a91229b98ca19b6adf544be2401eedaa512ea59ed3178a91f9eeb7dc320d3adf62f47e10bfd13b4721e64e1ca0f1bbfdaa3581fd115e373";
const OPENSSL_P384: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBWRg3ILTekrn1rBD/M
QDQ41YedV/jnsOMx4RULOcDh1UK8Z8sHHhgRN5c0kLLwmB2hZANiAASo3ACqOrQi
dF4Se3NM8+aCovRQDek849X+YXacTu04cgDxFqnHM7kegpQ0aFk4qd3rA5FYLS5X
Be9+hrKDuiFJhPMYxlwrxbtL/E2J4eIjZCXGv4MrWwPo49L0zoOSzsk=
-----END PRIVATE KEY-----
";
const OPENSSL_SEC1_P256: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIEQ4pUbw4zKZUIzIhz7xxdFbSsXDgYA9GihIPnZWGIjpoAoGCCqGSM49
AwEHoUQDQgAEk7ankZWwPEZjkOvpVoCJEEL6gbfvbCLLaA58iqhC71wMbTcE7YQ3
OJUpE3O0ErT6ZXjIv3QeqxPGiWo62Z/bMA==
-----END EC PRIVATE KEY-----
";

const ALGORITHMS: [KeyAlgorithm; 2] = [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256];

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Writes `contents` to `dir/name` with `mode`, bypassing this crate.
fn write_with_mode(dir: &Path, name: &str, contents: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[tokio::test]
async fn generate_load_sign_and_tough_verifies() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in ALGORITHMS {
        let path = dir.path().join(format!("{algorithm}.pem"));
        let generated = FileSigner::generate(&path, algorithm).unwrap();
        assert_eq!(generated.algorithm(), algorithm);
        assert_eq!(mode_of(&path), 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{text:.30}"
        );

        let loaded = FileSigner::load(&path).unwrap();
        assert_eq!(loaded.public_key(), generated.public_key());
        assert_eq!(loaded.public_key().key_id_hex().len(), 64);

        let message = b"{\"signed\":\"canonical json\"}";
        let signature = loaded.sign_message_blocking(message).unwrap();
        assert!(loaded.public_key().verify(message, &signature));
        assert!(!loaded.public_key().verify(b"another message", &signature));
        match algorithm {
            KeyAlgorithm::Ed25519 => assert_eq!(signature.len(), 64),
            // DER: SEQUENCE { INTEGER r, INTEGER s }.
            KeyAlgorithm::EcdsaP256 => assert_eq!(signature[0], 0x30),
        }

        // tough signs with the key source and verifies with its own code, against a root whose
        // key ID tough recomputes.
        let source = Box::new(FileKeySource::new(&path));
        let (signed, _) = sign_timestamp_with_tough(source, loaded.public_key(), 10_000)
            .await
            .unwrap();
        assert_eq!(signed.signatures.len(), 1);
        assert_eq!(
            hex::encode(&signed.signatures[0].keyid),
            loaded.public_key().key_id_hex()
        );
    }
}

#[test]
fn tuf_key_json_is_what_tough_and_python_tuf_read() {
    let dir = tempfile::tempdir().unwrap();
    let ecdsa = FileSigner::generate(dir.path().join("p256.pem"), KeyAlgorithm::EcdsaP256).unwrap();
    let json = serde_json::to_value(ecdsa.public_key().key()).unwrap();
    assert_eq!(json["keytype"], "ecdsa");
    assert_eq!(json["scheme"], "ecdsa-sha2-nistp256");
    let public = json["keyval"]["public"].as_str().unwrap();
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{public}"
    );
    assert!(public.ends_with("\n-----END PUBLIC KEY-----"), "{public}");

    let ed = FileSigner::generate(dir.path().join("ed.pem"), KeyAlgorithm::Ed25519).unwrap();
    let json = serde_json::to_value(ed.public_key().key()).unwrap();
    assert_eq!(json["keytype"], "ed25519");
    assert_eq!(json["scheme"], "ed25519");
    assert_eq!(json["keyval"]["public"].as_str().unwrap().len(), 64);
}

#[test]
fn openssl_keys_load_with_the_same_public_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ed = write_with_mode(dir.path(), "ed.pem", OPENSSL_ED25519.as_bytes(), 0o600);
    let ed = FileSigner::load(ed).unwrap();
    assert_eq!(ed.algorithm(), KeyAlgorithm::Ed25519);
    assert_eq!(
        hex::encode(ed.public_key().raw_public_key()),
        OPENSSL_ED25519_PUBLIC
    );
    let signature = ed.sign_message_blocking(b"m").unwrap();
    assert!(ed.public_key().verify(b"m", &signature));

    let p256 = write_with_mode(dir.path(), "p256.pem", OPENSSL_P256.as_bytes(), 0o400);
    let p256 = FileSigner::load(p256).unwrap();
    assert_eq!(p256.algorithm(), KeyAlgorithm::EcdsaP256);
    assert_eq!(
        hex::encode(p256.public_key().raw_public_key()),
        OPENSSL_P256_PUBLIC
    );
    let signature = p256.sign_message_blocking(b"m").unwrap();
    assert!(p256.public_key().verify(b"m", &signature));
}

#[test]
fn generated_ed25519_keys_are_pkcs8_v1_like_openssl_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ed.pem");
    FileSigner::generate(&path, KeyAlgorithm::Ed25519).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    // Same length and prefix as OpenSSL's: version 0, OID 1.3.101.112, 32-byte seed.
    let body = text.lines().nth(1).unwrap();
    assert_eq!(body.len(), 64);
    assert!(body.starts_with("MC4CAQAwBQYDK2VwBCIEI"), "{body:.21}");
}

#[test]
fn generate_never_overwrites_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    FileSigner::generate(&path, KeyAlgorithm::Ed25519).unwrap();
    let before = fs::read(&path).unwrap();
    for algorithm in ALGORITHMS {
        let err = FileSigner::generate(&path, algorithm).unwrap_err();
        assert!(matches!(err, KeyFileError::AlreadyExists { .. }), "{err}");
    }
    assert_eq!(fs::read(&path).unwrap(), before);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["key.pem"]);
}

#[test]
fn generate_refuses_to_write_through_a_planted_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    let path = dir.path().join("key.pem");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let err = FileSigner::generate(&path, KeyAlgorithm::Ed25519).unwrap_err();
    assert!(matches!(err, KeyFileError::AlreadyExists { .. }), "{err}");
    assert!(!target.exists());
}

#[tokio::test]
async fn replacing_a_key_never_writes_through_a_planted_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let path = dir.path().join("keys/online.pem");
    fs::create_dir(dir.path().join("keys")).unwrap();
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    // Also where an older release of this crate and of other tools put temporary files.
    for name in [
        ".online.pem.tmp",
        ".online.pem.tmp-1",
        ".online.pem.1.0.0.tmp",
    ] {
        std::os::unix::fs::symlink(&victim, dir.path().join("keys").join(name)).unwrap();
    }
    FileKeySource::new(&path)
        .write(OPENSSL_P256, "")
        .await
        .unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(fs::symlink_metadata(&path).unwrap().is_file());
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(
        FileSigner::load(&path).unwrap().algorithm(),
        KeyAlgorithm::EcdsaP256
    );
    let mut names: Vec<_> = fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".online.pem.1.0.0.tmp",
            ".online.pem.tmp",
            ".online.pem.tmp-1",
            "online.pem"
        ]
    );
}

#[test]
fn generate_creates_private_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/keys/timestamp.pem");
    FileSigner::generate(&path, KeyAlgorithm::EcdsaP256).unwrap();
    assert_eq!(mode_of(&dir.path().join("data/keys")), 0o700);
    assert_eq!(mode_of(&path), 0o600);
}

#[test]
fn load_or_generate_generates_once_then_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("online.pem");
    let (first, created) = FileSigner::load_or_generate(&path, KeyAlgorithm::EcdsaP256).unwrap();
    assert!(created);
    let (second, created) = FileSigner::load_or_generate(&path, KeyAlgorithm::EcdsaP256).unwrap();
    assert!(!created);
    assert_eq!(first.public_key(), second.public_key());
    let err = FileSigner::load_or_generate(&path, KeyAlgorithm::Ed25519).unwrap_err();
    assert!(
        matches!(err, KeyFileError::AlgorithmMismatch { .. }),
        "{err}"
    );
}

#[test]
fn group_or_world_accessible_key_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660, 0o602, 0o620, 0o777] {
        let path = write_with_mode(dir.path(), "key.pem", OPENSSL_ED25519.as_bytes(), mode);
        let err = FileSigner::load(&path).unwrap_err();
        let KeyFileError::InsecurePermissions { mode: found, .. } = err else {
            panic!("mode {mode:o}: {err}");
        };
        assert_eq!(found, mode);
        let message = err.to_string();
        assert!(message.contains("chmod 600"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        fs::remove_file(&path).unwrap();
    }
    for mode in [0o600, 0o400] {
        let path = write_with_mode(dir.path(), "key.pem", OPENSSL_ED25519.as_bytes(), mode);
        FileSigner::load(&path).unwrap();
        fs::remove_file(&path).unwrap();
    }
}

/// Loads `contents` (mode 0600) and returns the error.
fn load_error(contents: &[u8]) -> KeyFileError {
    let dir = tempfile::tempdir().unwrap();
    let path = write_with_mode(dir.path(), "key.pem", contents, 0o600);
    FileSigner::load(&path).unwrap_err()
}

#[test]
fn malformed_key_files_get_specific_errors() {
    let err = load_error(b"");
    assert!(matches!(err, KeyFileError::NotPem { .. }), "{err}");
    let err = load_error(b"this is not a key\n");
    assert!(matches!(err, KeyFileError::NotPem { .. }), "{err}");
    let err = load_error(b"-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n");
    assert!(matches!(err, KeyFileError::NotPem { .. }), "{err}");
    let err = load_error(b"-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n");
    assert!(matches!(err, KeyFileError::NotPem { .. }), "{err}");

    let err = load_error(OPENSSL_SEC1_P256.as_bytes());
    let KeyFileError::WrongPemLabel { label, hint, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(label, "EC PRIVATE KEY");
    assert!(hint.contains("openssl pkcs8 -topk8"), "{hint}");
    let encrypted = OPENSSL_ED25519.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
    let err = load_error(encrypted.as_bytes());
    assert!(
        err.to_string().contains("encrypted keys are not supported"),
        "{err}"
    );

    let err = load_error(OPENSSL_P384.as_bytes());
    assert!(matches!(err, KeyFileError::UnsupportedKey { .. }), "{err}");
    // Valid base64, valid PEM, but not a PKCS#8 document.
    let err =
        load_error(b"-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n");
    assert!(matches!(err, KeyFileError::UnsupportedKey { .. }), "{err}");

    let two = format!("{OPENSSL_ED25519}{OPENSSL_P256}");
    let err = load_error(two.as_bytes());
    assert!(
        matches!(err, KeyFileError::MultiplePemBlocks { count: 2, .. }),
        "{err}"
    );

    let err = load_error(&vec![b'A'; MAX_KEY_FILE_LEN + 1]);
    assert!(matches!(err, KeyFileError::TooLarge { .. }), "{err}");
}

#[test]
fn errors_and_debug_output_never_contain_key_material() {
    // The base64 body of a key, and of a key in a block with the wrong label.
    let body = OPENSSL_P256.lines().nth(1).unwrap();
    for contents in [
        OPENSSL_P384.to_owned(),
        OPENSSL_P256.replace("PRIVATE KEY", "EC PRIVATE KEY"),
        OPENSSL_P256.replace("AAStiUsx", "AAStiU!x"),
        format!("{OPENSSL_P256}{OPENSSL_P256}"),
    ] {
        let err = load_error(contents.as_bytes());
        let shown = format!("{err} {err:?}");
        for line in contents.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(&line[..16]), "{shown}");
        }
        assert!(!shown.contains(&body[..16]), "{shown}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_with_mode(dir.path(), "key.pem", OPENSSL_P256.as_bytes(), 0o600);
    let signer = FileSigner::load(&path).unwrap();
    let shown = format!("{signer:?}");
    assert!(shown.contains(&signer.public_key().key_id_hex()), "{shown}");
    assert!(!shown.contains(&body[..16]), "{shown}");
}

#[test]
fn missing_files_and_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = FileSigner::load(dir.path().join("absent.pem")).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound),
        "{err}"
    );
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o700)).unwrap();
    let err = FileSigner::load(&sub).unwrap_err();
    assert!(matches!(err, KeyFileError::NotAFile { .. }), "{err}");
}

#[tokio::test]
async fn key_source_writes_valid_keys_only_and_privately() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("written.pem");
    let source = FileKeySource::new(&path);
    let err = source.write("not a key", "").await.unwrap_err();
    assert!(err.to_string().contains("not a PEM document"), "{err}");
    assert!(!path.exists());

    source.write(OPENSSL_P256, "").await.unwrap();
    assert_eq!(mode_of(&path), 0o600);
    let sign = source.as_sign().await.unwrap();
    assert_eq!(
        &sign.tuf_key(),
        FileSigner::load(&path).unwrap().public_key().key()
    );
    // Replacing keeps the mode.
    source.write(OPENSSL_ED25519, "").await.unwrap();
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(
        FileSigner::load(&path).unwrap().algorithm(),
        KeyAlgorithm::Ed25519
    );
}

#[test]
fn signers_work_as_tuf_signer_trait_objects() {
    let dir = tempfile::tempdir().unwrap();
    let signer: Box<dyn crate::TufSigner> =
        Box::new(FileSigner::generate(dir.path().join("k.pem"), KeyAlgorithm::Ed25519).unwrap());
    let sign: &dyn Sign = &*signer;
    assert_eq!(&sign.tuf_key(), signer.public_key().key());
}
