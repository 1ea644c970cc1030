//! Prometheus metrics, written by hand in the text exposition format (no extra dependencies).
//!
//! Metrics carry no secrets and no target names (names are public, but unbounded label sets
//! would let a writer grow the metrics without limit): only per-role counters, gauges and
//! latency histograms.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A counter at zero (usable in a `static`).
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// A gauge at zero (usable in a `static`).
    pub const fn new() -> Self {
        Gauge(AtomicU64::new(0))
    }
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Subtracts one (never below zero).
    pub fn dec(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }
    /// Sets the value.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why an HTTP connection was closed: a fixed set, so the label cannot grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionClose {
    /// The exchange ended normally (the client closed, or `Connection: close`).
    Completed,
    /// A protocol or I/O error (a malformed request, an HTTP/2 preface, a reset).
    Error,
    /// No request started within the idle timeout.
    IdleTimeout,
    /// A request's header block was not complete within the header-read timeout.
    HeaderTimeout,
    /// A request's body was not complete within the body timeout.
    BodyTimeout,
    /// A write of a response made no progress within the write timeout.
    WriteTimeout,
    /// Closed while idle to make room for a new connection at the connection cap.
    Evicted,
    /// Closed by a graceful shutdown.
    Shutdown,
}

impl ConnectionClose {
    /// Every reason, in the order of [`ConnectionClose::label`]'s output in `/metrics`.
    pub const ALL: [ConnectionClose; 8] = [
        ConnectionClose::Completed,
        ConnectionClose::Error,
        ConnectionClose::IdleTimeout,
        ConnectionClose::HeaderTimeout,
        ConnectionClose::BodyTimeout,
        ConnectionClose::WriteTimeout,
        ConnectionClose::Evicted,
        ConnectionClose::Shutdown,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionClose::Completed => "completed",
            ConnectionClose::Error => "error",
            ConnectionClose::IdleTimeout => "idle_timeout",
            ConnectionClose::HeaderTimeout => "header_timeout",
            ConnectionClose::BodyTimeout => "body_timeout",
            ConnectionClose::WriteTimeout => "write_timeout",
            ConnectionClose::Evicted => "evicted",
            ConnectionClose::Shutdown => "shutdown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// HTTP connection metrics ([`crate::server`]).
#[derive(Debug)]
pub struct ConnectionMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// The connection cap in force.
    pub max: Gauge,
    /// Connections accepted.
    pub accepted: Counter,
    /// Times accepting paused because every connection was serving a request (new
    /// connections wait in the listen backlog meanwhile).
    pub accept_paused: Counter,
    /// `accept` failures (e.g. `EMFILE`); the server backs off and goes on.
    pub accept_errors: Counter,
    closed: [Counter; 8],
}

impl ConnectionMetrics {
    const fn new() -> Self {
        ConnectionMetrics {
            open: Gauge::new(),
            max: Gauge::new(),
            accepted: Counter::new(),
            accept_paused: Counter::new(),
            accept_errors: Counter::new(),
            closed: [const { Counter::new() }; 8],
        }
    }

    /// Counts a closed connection.
    pub fn closed(&self, reason: ConnectionClose) {
        self.closed[reason.index()].inc();
    }

    /// Connections closed for `reason` so far.
    pub fn closed_count(&self, reason: ConnectionClose) -> u64 {
        self.closed[reason.index()].get()
    }

    fn render(&self, out: &mut String) {
        let simple: [(&str, &str, &str, u64); 5] = [
            (
                "tuf_signer_http_connections",
                "gauge",
                "HTTP connections open.",
                self.open.get(),
            ),
            (
                "tuf_signer_http_connections_max",
                "gauge",
                "The HTTP connection cap.",
                self.max.get(),
            ),
            (
                "tuf_signer_http_connections_accepted_total",
                "counter",
                "HTTP connections accepted.",
                self.accepted.get(),
            ),
            (
                "tuf_signer_http_accept_paused_total",
                "counter",
                "Times accepting paused because every connection was serving a request.",
                self.accept_paused.get(),
            ),
            (
                "tuf_signer_http_accept_errors_total",
                "counter",
                "Failed accepts (e.g. too many open files).",
                self.accept_errors.get(),
            ),
        ];
        for (name, kind, help, value) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let name = "tuf_signer_http_connections_closed_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP connections closed, by reason.\n# TYPE {name} counter"
        );
        for reason in ConnectionClose::ALL {
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\"}} {}",
                reason.label(),
                self.closed_count(reason)
            );
        }
    }
}

/// The HTTP connection metrics. Process-wide: a process runs one server (tests that start
/// several in one process see their sum).
pub static CONNECTIONS: ConnectionMetrics = ConnectionMetrics::new();

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 12],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// A metric's name, help text and how to read it from a role's metrics.
type Read<T> = (&'static str, &'static str, fn(&RoleMetrics) -> T);

/// How to read a histogram from a role's metrics.
type HistogramOf = fn(&RoleMetrics) -> &Histogram;

/// One role's metrics.
#[derive(Debug, Default)]
pub struct RoleMetrics {
    /// Changes made durable.
    pub changes: Counter,
    /// Requests refused by the version rules.
    pub rejected: Counter,
    /// Rounds published.
    pub rounds: Counter,
    /// Requests refused because the unsigned backlog or a round's size limit was reached.
    pub refused_backlog: Counter,
    /// Leaves in the tree.
    pub leaves: Gauge,
    /// Latest published timestamp version.
    pub timestamp_version: Gauge,
    /// Durable changes waiting to be signed.
    pub unsigned_changes: Gauge,
    /// Write-ahead-log append + fdatasync.
    pub wal_fsync: Histogram,
    /// Signing a round.
    pub sign: Histogram,
    /// From the start of a group commit to the "durable" answers.
    pub durable_latency: Histogram,
    /// From the start of a group commit to the "signed" answers.
    pub signed_latency: Histogram,
}

/// Writes every role's metrics in the Prometheus text format.
pub fn render<'a>(
    roles: impl Iterator<Item = (&'a str, &'a RoleMetrics)> + Clone,
    http_errors: &Counter,
    proofs_refused: &Counter,
) -> String {
    let mut out = String::new();
    let counters: [Read<u64>; 4] = [
        ("tuf_signer_changes_total", "Changes made durable.", |m| {
            m.changes.get()
        }),
        (
            "tuf_signer_rejected_total",
            "Requests refused by the version rules.",
            |m| m.rejected.get(),
        ),
        ("tuf_signer_rounds_total", "Signed rounds published.", |m| {
            m.rounds.get()
        }),
        (
            "tuf_signer_refused_backlog_total",
            "Requests refused because too many changes wait to be signed, or too large for one round.",
            |m| m.refused_backlog.get(),
        ),
    ];
    for (name, help, get) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (role, m) in roles.clone() {
            let _ = writeln!(out, "{name}{{role=\"{role}\"}} {}", get(m));
        }
    }
    let gauges: [Read<u64>; 3] = [
        (
            "tuf_signer_leaves",
            "Leaves in the role's tree, tombstones included.",
            |m| m.leaves.get(),
        ),
        (
            "tuf_signer_timestamp_version",
            "Latest published timestamp version.",
            |m| m.timestamp_version.get(),
        ),
        (
            "tuf_signer_unsigned_changes",
            "Durable changes waiting to be signed (non-zero while signing lags or fails).",
            |m| m.unsigned_changes.get(),
        ),
    ];
    for (name, help, get) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (role, m) in roles.clone() {
            let _ = writeln!(out, "{name}{{role=\"{role}\"}} {}", get(m));
        }
    }
    let histograms: [(&str, &str, HistogramOf); 4] = [
        (
            "tuf_signer_wal_fsync_seconds",
            "Write-ahead-log append and fdatasync.",
            |m| &m.wal_fsync,
        ),
        ("tuf_signer_sign_seconds", "Signing a round.", |m| &m.sign),
        (
            "tuf_signer_durable_seconds",
            "Group commit start to durable answers.",
            |m| &m.durable_latency,
        ),
        (
            "tuf_signer_signed_seconds",
            "Group commit start to signed answers.",
            |m| &m.signed_latency,
        ),
    ];
    for (name, help, get) in histograms {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (role, m) in roles.clone() {
            let h = get(m);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{role=\"{role}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{role=\"{role}\",le=\"+Inf\"}} {count}");
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "{name}_sum{{role=\"{role}\"}} {sum}\n{name}_count{{role=\"{role}\"}} {count}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP tuf_signer_http_client_errors_total Requests answered with a 4xx.\n# TYPE tuf_signer_http_client_errors_total counter\ntuf_signer_http_client_errors_total {}",
        http_errors.get()
    );
    let _ = writeln!(
        out,
        "# HELP tuf_signer_proof_requests_refused_total Multi-proof requests refused (503) because the concurrent proof work was at its bound.\n# TYPE tuf_signer_proof_requests_refused_total counter\ntuf_signer_proof_requests_refused_total {}",
        proofs_refused.get()
    );
    CONNECTIONS.render(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_close_reason_has_its_own_counter_and_line() {
        for (i, reason) in ConnectionClose::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        let m = ConnectionMetrics::new();
        m.closed(ConnectionClose::WriteTimeout);
        m.open.inc();
        m.open.dec();
        m.open.dec();
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("tuf_signer_http_connections_closed_total{reason=\"write_timeout\"} 1\n")
        );
        assert!(out.contains("tuf_signer_http_connections_closed_total{reason=\"evicted\"} 0\n"));
        assert!(out.contains("tuf_signer_http_connections 0\n"));
    }
}
