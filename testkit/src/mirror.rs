//! `tuf-signer mirror` processes for tests: one per data directory, on a port it keeps across
//! restarts, its stderr in `mirror.log` beside its data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{free_port, spawn_logged, try_spawn_logged};
use crate::http::{Resp, try_request_blocking};

/// How a mirror is configured: the `[upstream]` table's lines and the role's.
#[derive(Debug, Clone)]
pub struct MirrorSpec {
    /// `url = "…"` or the bucket's lines.
    pub upstream: Vec<String>,
    /// The role followed.
    pub role: String,
    /// Its trusted root file.
    pub trusted_root: PathBuf,
    /// Extra lines of the role's table (`checkpoint_every = 10`, …).
    pub role_lines: Vec<String>,
    /// Polling interval, ms.
    pub poll_ms: u64,
}

impl MirrorSpec {
    /// Following `role` from the base URL `url`, trusting `trusted_root`, polling every 100 ms.
    pub fn url(url: &str, role: &str, trusted_root: &Path) -> MirrorSpec {
        MirrorSpec {
            upstream: vec![format!("url = {url:?}")],
            role: role.to_owned(),
            trusted_root: trusted_root.to_owned(),
            role_lines: vec!["layout = \"crates-index\"".into()],
            poll_ms: 100,
        }
    }

    /// Adds a line to the role's table.
    pub fn role_line(mut self, line: &str) -> Self {
        self.role_lines.push(line.to_owned());
        self
    }

    fn toml(&self, data: &Path, port: u16) -> String {
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\n[upstream]\n{}\npoll_interval_ms = {}\ntimeout_secs = 5\n[roles.{:?}]\ntrusted_root = {:?}\n{}\n",
            data.display().to_string(),
            self.upstream.join("\n"),
            self.poll_ms,
            self.role,
            self.trusted_root.display().to_string(),
            self.role_lines.join("\n"),
        )
    }
}

/// One mirror process.
pub struct Mirror {
    /// Where it listens (the same across restarts).
    pub addr: SocketAddr,
    /// Its data directory.
    pub data: PathBuf,
    binary: String,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

impl Mirror {
    /// Writes the config in `dir` (data in `dir/data`) and starts the mirror.
    pub fn start(binary: &str, dir: &Path, spec: &MirrorSpec) -> Mirror {
        Self::start_with_env(binary, dir, spec, &[])
    }

    /// [`Mirror::start`] with extra environment variables (S3 credentials).
    pub fn start_with_env(
        binary: &str,
        dir: &Path,
        spec: &MirrorSpec,
        env: &[(&str, &str)],
    ) -> Mirror {
        let mut m = Self::configured(binary, dir, spec, env);
        m.restart();
        m
    }

    /// Writes the config without starting.
    pub fn configured(binary: &str, dir: &Path, spec: &MirrorSpec, env: &[(&str, &str)]) -> Mirror {
        std::fs::create_dir_all(dir).expect("mirror dir");
        let port = free_port();
        let data = dir.join("data");
        let config = dir.join("mirror.toml");
        std::fs::write(&config, spec.toml(&data, port)).expect("write mirror config");
        Mirror {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            data,
            binary: binary.to_owned(),
            config,
            log: dir.join("mirror.log"),
            child: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("mirror")
            .arg("--config")
            .arg(&self.config)
            .env("TUF_SIGNER_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// Starts it again (after [`Mirror::stop`] or [`Mirror::kill9`]) and waits until it listens.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the mirror runs");
        self.child = Some(spawn_logged(self.command(), &self.log, "mirror"));
    }

    /// Starts it, expecting it to refuse: its error line.
    pub fn start_expecting_error(&mut self) -> String {
        assert!(self.child.is_none(), "the mirror runs");
        match try_spawn_logged(self.command(), &self.log) {
            Ok(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the mirror started");
            }
            Err(line) => line,
        }
    }

    /// SIGTERM (a clean stop: it writes its checkpoint), and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let _ = child.wait();
        }
    }

    /// `kill -9`, and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A GET, within 10 s.
    pub fn get(&self, path: &str) -> Resp {
        try_request_blocking(self.addr, "GET", path, &[], b"", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET {path} from the mirror: {e}"))
    }

    /// Its status of `role`.
    pub fn status(&self, role: &str) -> Value {
        let r = self.get(&format!("/api/v1/{role}/status"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Waits until it serves timestamp version `version` (or later) of `role`; its status then.
    pub fn wait_for_version(&self, role: &str, version: u64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(role);
            if s["timestamp_version"].as_u64().unwrap_or(0) >= version {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the mirror did not reach version {version} in {timeout:?}: {s}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `check` holds for its status of `role`.
    pub fn wait_until(
        &self,
        role: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(role);
            if check(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the mirror's status did not get there in {timeout:?}: {s}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.kill9();
    }
}
