//! Test support (feature `test-support`): moto's KMS server as the AWS KMS endpoint for tests
//! (`docs/design.md`, D7), and an end-to-end check of signers through tough.
//!
//! [`MotoKms`] runs `keys/tests/kms/moto_kms.py` (moto 5.2.5 with its KMS gaps mended: see that
//! file) with the test virtualenv's python, on 127.0.0.1 and a free port, and kills it on drop.
//! The python is `$TUF_TEST_PYTHON`, or `<repo>/.venv/bin/python` as `scripts/test-env.sh`
//! creates it.
//!
//! Use it from another crate's tests with
//! `tuf-keys = { workspace = true, features = ["test-support"] }` in `[dev-dependencies]`:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use tuf_keys::test_support::{KeySpec, MotoKms};
//! use tuf_keys::KmsSigner;
//!
//! // Skips (returns None, printing why) when the venv is missing, unless CI=true: then it panics.
//! let Some(kms) = MotoKms::start_or_skip("my_test") else { return Ok(()) };
//! let key_id = kms.create_key(KeySpec::EccNistP256).await?;
//! let signer = KmsSigner::connect(&key_id, &kms.options()).await?;
//! # Ok(())
//! # }
//! ```

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::types::KeyUsageType;

use crate::{KmsOptions, kms_client};

pub use crate::tough_check::sign_timestamp_with_tough;
/// The key specs to pass to [`MotoKms::create_key`]: AWS KMS's key specs (`ECC_NIST_P256`, …),
/// not this crate's [`KeySpec`](crate::KeySpec), which says where a signing key is.
pub use aws_sdk_kms::types::KeySpec;

/// The environment variable naming the python to run moto with.
pub const PYTHON_ENV_VAR: &str = "TUF_TEST_PYTHON";

/// How long moto may take to start (importing moto is slow on a loaded machine).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The region the emulator's keys live in.
pub const REGION: &str = "us-east-1";

/// The line moto_kms.py prints when it accepts connections, followed by the endpoint URL.
const READY_PREFIX: &str = "MOTO_KMS_READY ";

/// Exit code of moto_kms.py when moto cannot be imported.
const EXIT_MOTO_MISSING: i32 = 3;

/// The repository root (the workspace this crate is built in).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_owned()
}

/// The python interpreter of the test environment: `$TUF_TEST_PYTHON`, else `<repo>/.venv/bin/python`.
pub fn test_python() -> PathBuf {
    match std::env::var_os(PYTHON_ENV_VAR) {
        Some(python) if !python.is_empty() => PathBuf::from(python),
        _ => repo_root().join(".venv/bin/python"),
    }
}

/// The moto wrapper script.
pub fn moto_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kms/moto_kms.py")
}

/// Whether this runs under CI (`CI` set to anything but empty, `false` or `0`), where a missing
/// test environment is a failure rather than a reason to skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Why the emulator did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MotoStartError {
    /// The test Python environment (or moto in it) is missing.
    #[error(
        "the KMS emulator's Python environment is missing: {reason}; run `bash scripts/test-env.sh` \
         (or point {PYTHON_ENV_VAR} at a python with moto[server]==5.2.5)"
    )]
    Missing {
        /// What is missing.
        reason: String,
    },
    /// The emulator was there but did not come up.
    #[error("the KMS emulator (moto) failed to start: {reason}")]
    Failed {
        /// What happened, with the end of its log.
        reason: String,
    },
}

/// A running moto KMS server on 127.0.0.1; killed when dropped.
#[derive(Debug)]
pub struct MotoKms {
    child: Child,
    stdin: Option<ChildStdin>,
    endpoint_url: String,
    log_path: PathBuf,
}

impl MotoKms {
    /// Starts the emulator and waits (at most [`READY_TIMEOUT`]) until it accepts connections.
    pub fn start() -> Result<Self, MotoStartError> {
        let python = test_python();
        if !python.exists() {
            let reason = format!("{} does not exist", python.display());
            return Err(if std::env::var_os(PYTHON_ENV_VAR).is_some() {
                MotoStartError::Failed {
                    reason: format!("{PYTHON_ENV_VAR} is set but {reason}"),
                }
            } else {
                MotoStartError::Missing { reason }
            });
        }
        let log_path = unique_log_path();
        let failed = |reason: String| MotoStartError::Failed { reason };
        let log = File::create(&log_path)
            .map_err(|e| failed(format!("cannot create {}: {e}", log_path.display())))?;
        let mut child = Command::new(&python)
            .arg(moto_script())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| failed(format!("cannot run {}: {e}", python.display())))?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed("no stdout pipe".to_owned()));
        };

        // Reads stdout on a thread so that the wait for the ready line is bounded, then keeps
        // draining it so moto never blocks on a full pipe.
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix(READY_PREFIX)
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });

        let mut moto = MotoKms {
            child,
            stdin,
            endpoint_url: String::new(),
            log_path,
        };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(url) if url.starts_with("http://127.0.0.1:") => {
                moto.endpoint_url = url;
                Ok(moto)
            }
            Ok(url) => Err(failed(format!("it listens on {url}, not on 127.0.0.1"))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(failed(format!(
                "not ready after {} s{}",
                READY_TIMEOUT.as_secs(),
                moto.log_tail()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stdout closed: the process exited before it was ready.
                let status = moto.child.wait().ok();
                let log = moto.log_tail();
                if status.as_ref().and_then(ExitStatus::code) == Some(EXIT_MOTO_MISSING) {
                    Err(MotoStartError::Missing {
                        reason: format!("moto cannot be imported by {}{log}", python.display()),
                    })
                } else {
                    Err(failed(format!("it exited with {status:?}{log}")))
                }
            }
        }
    }

    /// Starts the emulator for the test `test_name`, or, if its Python environment is missing,
    /// prints why and returns `None` so the test can return early, except under CI (see
    /// [`in_ci`]), where that panics. A start failure other than a missing environment panics.
    pub fn start_or_skip(test_name: &str) -> Option<Self> {
        match Self::start() {
            Ok(moto) => Some(moto),
            Err(e @ MotoStartError::Missing { .. }) if !in_ci() => {
                eprintln!("SKIPPED {test_name}: {e}");
                None
            }
            Err(e) => panic!("{test_name}: {e}"),
        }
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// The file moto's stderr goes to (removed on drop).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// KMS options for this emulator: its endpoint, region [`REGION`], dummy static credentials.
    pub fn options(&self) -> KmsOptions {
        KmsOptions::default()
            .with_region(REGION)
            .with_endpoint_url(&self.endpoint_url)
            .with_credentials(Credentials::new(
                "moto-access-key",
                "moto-secret-key",
                None,
                None,
                "tuf-keys-test-support",
            ))
            .with_operation_timeout(Duration::from_secs(30))
    }

    /// A KMS client for this emulator.
    pub async fn client(&self) -> Client {
        kms_client(&self.options()).await
    }

    /// Creates a `SIGN_VERIFY` key of `key_spec` and returns its key ID.
    pub async fn create_key(
        &self,
        key_spec: KeySpec,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let out = self
            .client()
            .await
            .create_key()
            .key_spec(key_spec)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .map_err(aws_sdk_kms::Error::from)?;
        out.key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or_else(|| "CreateKey returned no KeyMetadata".into())
    }

    /// The last lines of moto's log, prefixed for appending to a message (empty if none).
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log_path) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its log ends with:\n{tail}")
        }
    }
}

impl Drop for MotoKms {
    fn drop(&mut self) {
        // Closing stdin asks moto to stop; the kill makes sure it does.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log_path);
    }
}

/// A fresh log file path in the temporary directory.
fn unique_log_path() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "tuf-keys-moto-{}-{}.log",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}
