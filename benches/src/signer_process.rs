//! The signer in a child process, for the benchmarks that measure it from outside: its start
//! and recovery time, its memory apart from the benchmark's own, a clean stop against a
//! `kill -9`.
//!
//! The child is the benchmark's own executable, run again with an environment variable that
//! names a signer config ([`SignerChild::config_var`]); [`SignerChild::run_if_child`], first
//! thing in `main`, makes that run the signer. Parent and child speak through two pipes: the
//! child prints `LISTENING addr` on stdout once the signer listens (after recovery and its first
//! round), and shuts the signer down cleanly (its final checkpoint written) when its stdin
//! closes.
//!
//! Properties kept:
//! - [`SignerChild::start`] returns only once the signer listens, so
//!   [`SignerProcess::started_in`] is the whole cost of a start: process start, recovery, the
//!   first round.
//! - A child never outlives its [`SignerProcess`]: dropped (a panic in the benchmark too), it
//!   is killed and waited for.
//! - [`SignerProcess::stop`] only closes the child's stdin: the stop it times is the signer's
//!   own shutdown, not a signal's.
//! - What differs between benchmarks (the variable, whether the child logs, how long a start
//!   may take, where its stderr goes, extra environment) is a parameter; the protocol is one.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::report::rss_mib;

/// How often [`SignerProcess::stop`] looks whether the child has exited: the resolution of the
/// stop time it returns.
const STOP_POLL: Duration = Duration::from_millis(20);

/// What the child logs on its stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildLog {
    /// Nothing: no tracing subscriber is installed, the signer's events are dropped.
    Silent,
    /// The signer's tracing events at INFO and above, without colours: a log the benchmark can
    /// read back (checkpoints written, the background hash check).
    Info,
}

/// One benchmark's way of running the signer in a child process of its own executable.
#[derive(Clone, Copy, Debug)]
pub struct SignerChild {
    /// The environment variable that carries the config's path to the child; its presence is
    /// what makes a run the child. One per benchmark, so that a child never takes another
    /// benchmark's variable.
    pub config_var: &'static str,
    /// What the child logs on its stderr.
    pub log: ChildLog,
    /// How long [`SignerChild::start`] waits for `LISTENING` before it gives up: a start at
    /// ten million leaves recovers for minutes.
    pub start_within: Duration,
}

impl SignerChild {
    /// Runs the signer and returns `true` when this process is the child (the config variable
    /// is set), once the signer has shut down; `false` at once otherwise. Call it first in
    /// `main` and return when it says `true`.
    ///
    /// # Panics
    ///
    /// In the child, when the config does not load or the signer does not start: the parent's
    /// [`SignerChild::start`] then reads no `LISTENING` line and panics in turn.
    pub fn run_if_child(&self) -> bool {
        match std::env::var(self.config_var) {
            Ok(config) => {
                child_main(Path::new(&config), self.log);
                true
            }
            Err(_) => false,
        }
    }

    /// Starts the signer on `config` in a child process with `env` added to its environment;
    /// returns once it listens. The child's stderr is appended to `log` when given, and is this
    /// process's stderr otherwise.
    ///
    /// # Panics
    ///
    /// When `log` cannot be opened, the child cannot be spawned, or it does not print
    /// `LISTENING addr` within [`SignerChild::start_within`] (it exited, say, on a bad config:
    /// its stderr says why).
    pub fn start(&self, config: &Path, env: &[(&str, &str)], log: Option<&Path>) -> SignerProcess {
        let t = Instant::now();
        let mut command =
            Command::new(std::env::current_exe().expect("the benchmark's own executable"));
        command
            .env(self.config_var, config)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(log) = log {
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("the signer's log file");
            command.stderr(log);
        }
        let mut child = command.spawn().expect("spawn the signer's process");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        // The line is read on a thread of its own so that a child that never prints one is
        // given up on after `start_within` rather than waited for.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(self.start_within);
        let started_in = t.elapsed();
        // Built before the address is known so that a child that did not start is killed when
        // the panic below drops it.
        let mut process = SignerProcess {
            child,
            stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            started_in,
        };
        match line
            .ok()
            .and_then(|l| l.strip_prefix("LISTENING ").map(|a| a.trim().parse()))
        {
            Some(Ok(addr)) => process.addr = addr,
            other => panic!("the signer did not start: {other:?}"),
        }
        process
    }
}

/// The child's side: starts the signer on `config`, prints `LISTENING addr`, and shuts it down
/// when stdin closes (the parent's [`SignerProcess::stop`], or the parent's exit).
fn child_main(config: &Path, log: ChildLog) {
    if log == ChildLog::Info {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .init();
    }
    let config = tuf_signer::Config::load(config).expect("config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the signer's runtime");
    rt.block_on(async {
        let running = tuf_signer::start(config).await.expect("signer start");
        println!("LISTENING {}", running.local_addr());
        std::io::stdout().flush().expect("stdout");
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await;
        running.shutdown().await;
    });
}

/// A signer running in a child process, started by [`SignerChild::start`].
#[derive(Debug)]
pub struct SignerProcess {
    child: Child,
    /// Closing it is the signal to stop; `None` once closed.
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
    started_in: Duration,
}

impl SignerProcess {
    /// The address the signer listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From spawning the child to its `LISTENING` line: process start, recovery of its state
    /// and its first round.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The child's (VmRSS, VmHWM) in MiB, from /proc.
    pub fn rss_mib(&self) -> (f64, f64) {
        rss_mib(self.child.id())
    }

    /// A clean stop: closes the child's stdin, on which the signer shuts down (writing its
    /// final checkpoint), and waits up to `within` for the process to exit. Returns how long
    /// that took, or `None` when it was still running at `within`; it is then killed (SIGKILL)
    /// as this value is dropped.
    pub fn stop(mut self, within: Duration) -> Option<Duration> {
        let t = Instant::now();
        self.stdin.take();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(t.elapsed());
            }
            std::thread::sleep(STOP_POLL);
        }
        None
    }

    /// `kill -9`: SIGKILL, no shutdown, and waits for the process to be gone; what a crash
    /// leaves for the next start to recover.
    ///
    /// # Panics
    ///
    /// When the signal cannot be sent or the process not waited for.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill the signer");
        self.child.wait().expect("wait for the killed signer");
    }
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
