//! Helpers for the ceremony tests: running the real `tuf-ceremony` binary, SoftHSM2 tokens in
//! a per-test token directory, and skipping (or, under CI, failing) when a real component is
//! missing.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use tuf_keys::test_support::{in_ci, test_python};

/// The SoftHSM2 PKCS#11 module (Debian's `softhsm2`).
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The four roles.
pub const ROLES: [&str; 4] = ["crates.io", "nightly", "releases", "rustup"];
/// The user PIN of every test token.
pub const PIN: &str = "246810";

/// `Ok` when the component is there; otherwise skips (returns `Err(())` after printing why) or,
/// under CI, panics.
pub fn require(name: &str, present: bool, why: &str) -> Result<(), ()> {
    if present {
        return Ok(());
    }
    assert!(!in_ci(), "{name} is missing under CI: {why}");
    eprintln!("SKIPPED ({name} missing): {why}");
    Err(())
}

/// Whether SoftHSM2 is installed.
pub fn softhsm_present() -> bool {
    Path::new(SOFTHSM_MODULE).exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Whether the test Python has python-tuf.
pub fn python_tuf_present() -> bool {
    Command::new(test_python())
        .args(["-c", "import tuf.ngclient"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A private SoftHSM2 token directory with its own config file.
pub struct SoftHsm {
    pub conf: PathBuf,
}

impl SoftHsm {
    pub fn new(dir: &Path) -> SoftHsm {
        let tokens = dir.join("softhsm-tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            ),
        )
        .unwrap();
        SoftHsm { conf }
    }

    /// Initialises a token labelled `label` with user PIN [`PIN`].
    pub fn init_token(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                "135791",
                "--pin",
                PIN,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Initialises a token and generates a key labelled `root` of `algorithm` on it through
    /// the tool; writes its public key PEM to `pub_path`.
    pub fn token_with_key(&self, label: &str, algorithm: &str, pub_path: &Path) {
        self.init_token(label);
        let out = self
            .tool()
            .env("TUF_CEREMONY_PIN", PIN)
            .args(["keygen", "--algorithm", algorithm])
            .args(self.key_args(label))
            .output()
            .unwrap();
        assert_ok(&out, "keygen on token");
        std::fs::write(pub_path, &out.stdout).unwrap();
    }

    /// The tool with this token directory.
    pub fn tool(&self) -> Command {
        let mut c = tool();
        c.env("SOFTHSM2_CONF", &self.conf);
        c
    }

    /// `--pkcs11-module … --token-label LABEL --key-label root`.
    pub fn key_args(&self, label: &str) -> Vec<String> {
        vec![
            "--pkcs11-module".into(),
            SOFTHSM_MODULE.into(),
            "--token-label".into(),
            label.into(),
            "--key-label".into(),
            "root".into(),
        ]
    }
}

/// The tool, with no PIN in its environment.
pub fn tool() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tuf-ceremony"));
    c.env_remove("TUF_CEREMONY_PIN");
    c
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts failure with `needle` in stderr.
pub fn assert_fails(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure ({needle}), got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// The full digest from `status`/`init` output.
pub fn digest_of(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("(full SHA-256: "))
        .unwrap_or_else(|| panic!("no digest in {text}"));
    line.trim_start_matches("(full SHA-256: ")
        .trim_end_matches(')')
        .to_owned()
}

/// Runs `status` and returns the digest.
pub fn digest(dir: &Path) -> String {
    let out = tool().args(["status", "--dir"]).arg(dir).output().unwrap();
    assert_ok(&out, "status");
    digest_of(&out)
}

/// Generates a PKCS#8 key file and its public PEM (`NAME.pem`, `NAME.pub`) in `dir`.
pub fn file_key(dir: &Path, name: &str, algorithm: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let out = tool()
        .args(["keygen", "--algorithm", algorithm, "--key-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert_ok(&out, "keygen file");
    std::fs::write(&public, &out.stdout).unwrap();
    (key, public)
}

/// Signs with a key file.
pub fn sign_file(dir: &Path, key: &Path) -> Output {
    tool()
        .args(["sign", "--dir"])
        .arg(dir)
        .args(["--expect-digest", &digest(dir), "--key-file"])
        .arg(key)
        .output()
        .unwrap()
}

/// Snapshot of every file under `dir` (path → bytes), to show that a refused step wrote nothing.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
