//! systemd's notify protocol (`sd_notify(3)`): `READY=1` once the service listens,
//! `RELOADING=1` … `READY=1` around a reload, `STOPPING=1` at shutdown, `STATUS=` lines, and
//! `WATCHDOG=1` pings when the unit sets `WatchdogSec=` (`docs/operations.md`, "systemd").
//!
//! Properties kept: without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) every call does
//! nothing; a message that cannot be sent is logged at debug and never stops the service. The
//! watchdog is pinged from the async runtime every half interval, and only while the HTTP server
//! task runs, so a wedged runtime or a dead server makes systemd restart the process.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where systemd listens for this process's notifications.
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace) and
    /// `WATCHDOG_USEC` (honoured only when `WATCHDOG_PID` is unset or this process's pid).
    pub fn from_env() -> Self {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let addr = match socket_addr(&path) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "NOTIFY_SOCKET is not a usable socket address; not notifying systemd");
                    return None;
                }
            };
            match UnixDatagram::unbound() {
                Ok(s) => Some((s, addr)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create the notification socket; not notifying systemd");
                    None
                }
            }
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|pid| pid.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_us)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// Whether systemd asked for notifications.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// The watchdog interval systemd set (`WatchdogSec=`), if any.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends `state` (newline-separated `KEY=value` lines).
    pub fn notify(&self, state: &str) {
        if let Some((socket, addr)) = &self.socket
            && let Err(e) = socket.send_to_addr(state.as_bytes(), addr)
        {
            tracing::debug!(error = %e, "cannot notify systemd");
        }
    }

    /// The service is up: it listens and every role has recovered.
    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A reload starts (`Type=notify-reload` waits for the `READY=1` that follows).
    pub fn reloading(&self) {
        self.notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
            monotonic_usec()
        ));
    }

    /// The service is stopping.
    pub fn stopping(&self, status: &str) {
        self.notify(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// Pings the watchdog every half interval for as long as `alive()` says so; returns at once
    /// when no watchdog is set.
    pub async fn run_watchdog(&self, alive: impl Fn() -> bool) {
        let Some(interval) = self.watchdog else {
            return;
        };
        let mut tick = tokio::time::interval(interval / 2);
        loop {
            tick.tick().await;
            if alive() {
                self.notify("WATCHDOG=1");
            }
        }
    }
}

/// A status line without newlines (which would start another `KEY=value`).
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn socket_addr(path: &std::ffi::OsStr) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::unix::ffi::OsStrExt as _;
    let bytes = path.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt as _;
            return std::os::unix::net::SocketAddr::from_abstract_name(name);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(std::io::Error::other(
                "abstract socket names exist on Linux only",
            ));
        }
    }
    std::os::unix::net::SocketAddr::from_pathname(std::path::Path::new(path))
}

/// `CLOCK_MONOTONIC` in microseconds, as `RELOADING=1` wants it.
fn monotonic_usec() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_stay_one_line() {
        assert_eq!(one_line("a\nb\rc"), "a b c");
        assert!(monotonic_usec() > 0);
    }

    #[test]
    fn notifications_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: Some((
                UnixDatagram::unbound().unwrap(),
                socket_addr(path.as_os_str()).unwrap(),
            )),
            watchdog: None,
        };
        notifier.ready("listening on 127.0.0.1:1\nsecond line");
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "READY=1\nSTATUS=listening on 127.0.0.1:1 second line"
        );
    }
}
