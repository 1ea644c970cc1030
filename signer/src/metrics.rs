//! Prometheus metrics, through `prometheus-client` (OpenMetrics text at `/metrics`; every
//! metric is listed in `docs/operations.md`, "Monitoring").
//!
//! Properties kept:
//! - Metrics carry no secrets and no target names (names are public, but unbounded label sets
//!   would let a writer grow the metrics without limit): labels are the configured role names,
//!   fixed sets (metadata files, fault codes, connection-close reasons, HTTP methods), the
//!   router's route templates and the status codes, never a path or anything else a client
//!   sends.
//! - Names and units follow the Prometheus conventions: base units (seconds), `_total` on
//!   counters, `_timestamp_seconds` on Unix times, `_info` on the build information.
//! - A series that would mislead before its first value (an expiry time of 0) is created only
//!   when it gets one; counters an alert takes `increase()` of exist from the start, at 0.
//! - A leaf of the module graph: callers pass fault codes as strings.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Upper bounds of the HTTP request latency buckets, seconds: from a proof served from memory
/// (well under a millisecond) to a write waiting for its signed round (a batch delay and a
/// KMS signature) and an upload at the 30 s body timeout.
const HTTP_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The `role` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RoleLabel {
    role: String,
}

/// A role's metadata file, the `metadata` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataFile {
    /// `N.root.json`, signed offline at a ceremony.
    Root,
    /// `N.targets.json`.
    Targets,
    /// `N.snapshot.json`.
    Snapshot,
    /// `timestamp.json`.
    Timestamp,
}

impl MetadataFile {
    /// The `metadata` label.
    pub fn label(self) -> &'static str {
        match self {
            MetadataFile::Root => "root",
            MetadataFile::Targets => "targets",
            MetadataFile::Snapshot => "snapshot",
            MetadataFile::Timestamp => "timestamp",
        }
    }
}

impl EncodeLabelValue for MetadataFile {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.label())
    }
}

/// The `role` and `metadata` labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MetadataLabels {
    role: String,
    metadata: MetadataFile,
}

/// The `role` and `code` labels (a fault's code, `crate::state::Fault::code`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FaultLabels {
    role: String,
    code: &'static str,
}

/// The labels of an HTTP request's counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// The labels of an HTTP request's latency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// `tuf_signer_build_info`'s labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Why an HTTP connection was closed: a fixed set, so the label cannot grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
}

impl EncodeLabelValue for ConnectionClose {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.label())
    }
}

/// The `reason` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: ConnectionClose,
}

/// One role's metrics: handles into the registry's families, labelled with the role.
#[derive(Debug, Clone)]
pub struct RoleMetrics {
    role: String,
    expiry: Family<MetadataLabels, Gauge>,
    last_signed: Family<MetadataLabels, Gauge>,
    signing_errors: Family<FaultLabels, Counter>,
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
    /// 1 while this node leads the role (always, with local storage), else 0.
    pub leading: Gauge,
    /// Times this node took the role's lease (with a bucket).
    pub takeovers: Counter,
    /// Write-ahead-log append + fdatasync.
    pub wal_fsync: Latency,
    /// Signing a round.
    pub sign: Latency,
    /// From the start of a group commit to the "durable" answers.
    pub durable_latency: Latency,
    /// From the start of a group commit to the "signed" answers.
    pub signed_latency: Latency,
}

impl RoleMetrics {
    fn metadata(&self, metadata: MetadataFile) -> MetadataLabels {
        MetadataLabels {
            role: self.role.clone(),
            metadata,
        }
    }

    /// The `expires` of the role's `metadata` as published now.
    pub fn set_expiry(&self, metadata: MetadataFile, expires: jiff::Timestamp) {
        self.expiry
            .get_or_create(&self.metadata(metadata))
            .set(expires.as_second());
    }

    /// When the role's `metadata` was last signed.
    pub fn set_last_signed(&self, metadata: MetadataFile, at: jiff::Timestamp) {
        self.last_signed
            .get_or_create(&self.metadata(metadata))
            .set(at.as_second());
    }

    fn fault(&self, code: &'static str) -> FaultLabels {
        FaultLabels {
            role: self.role.clone(),
            code,
        }
    }

    /// Shows the signing error counter of fault `code` at 0, so that `increase()` sees its
    /// first error.
    pub fn expect_signing_errors(&self, code: &'static str) {
        let _ = self.signing_errors.get_or_create(&self.fault(code));
    }

    /// Counts a failed signing round, by the code of the fault it set.
    pub fn signing_error(&self, code: &'static str) {
        self.signing_errors.get_or_create(&self.fault(code)).inc();
    }
}

/// One followed role's metrics on a mirror (`tuf-signer mirror`).
#[derive(Debug, Clone)]
pub struct MirrorMetrics {
    /// The latest timestamp version the mirror verified and serves.
    pub timestamp_version: Gauge,
    /// The latest timestamp version seen upstream.
    pub upstream_version: Gauge,
    /// 1 once the upstream was caught inconsistent (the mirror stopped advancing), else 0.
    pub inconsistent: Gauge,
    /// 1 while the upstream's timestamp names rounds it does not serve (withheld or not yet
    /// written), else 0.
    pub incomplete: Gauge,
    /// Failed upstream requests.
    pub upstream_errors: Counter,
    /// How long the newest upstream version not yet served has been seen (0 when caught up).
    pub lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// The version of the last checkpoint written.
    pub checkpoint_version: Gauge,
    /// Writing one checkpoint (in the background).
    pub checkpoint_seconds: Latency,
}

/// A latency histogram, in seconds.
#[derive(Debug, Clone)]
pub struct Latency(Histogram);

impl Latency {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }
}

/// HTTP connection metrics ([`crate::server`]).
#[derive(Debug, Clone)]
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
    closed: Family<ReasonLabel, Counter>,
}

impl ConnectionMetrics {
    /// Counts a closed connection.
    pub fn closed(&self, reason: ConnectionClose) {
        self.closed.get_or_create(&ReasonLabel { reason }).inc();
    }
}

/// The HTTP methods counted by name; any other is counted as `other`, so that a client cannot
/// grow the label set.
const METHODS: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"];

/// The `route` of a request that matched no route (the router's 404 fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// HTTP request metrics, recorded by [`crate::http`]'s request layer.
#[derive(Debug, Clone)]
pub struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl RequestMetrics {
    /// Records one request: `route` is the router's template (`/api/v1/{role}/proofs`) or
    /// [`UNMATCHED_ROUTE`], never the path asked for; `elapsed` runs until the response head.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = METHODS
            .iter()
            .copied()
            .find(|m| *m == method)
            .unwrap_or("other");
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// Every metric of the service, in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    changes: Family<RoleLabel, Counter>,
    rejected: Family<RoleLabel, Counter>,
    rounds: Family<RoleLabel, Counter>,
    refused_backlog: Family<RoleLabel, Counter>,
    leaves: Family<RoleLabel, Gauge>,
    timestamp_version: Family<RoleLabel, Gauge>,
    unsigned_changes: Family<RoleLabel, Gauge>,
    leading: Family<RoleLabel, Gauge>,
    takeovers: Family<RoleLabel, Counter>,
    wal_fsync: Family<RoleLabel, Histogram, fn() -> Histogram>,
    sign: Family<RoleLabel, Histogram, fn() -> Histogram>,
    durable: Family<RoleLabel, Histogram, fn() -> Histogram>,
    signed: Family<RoleLabel, Histogram, fn() -> Histogram>,
    mirror_version: Family<RoleLabel, Gauge>,
    mirror_upstream_version: Family<RoleLabel, Gauge>,
    mirror_inconsistent: Family<RoleLabel, Gauge>,
    mirror_incomplete: Family<RoleLabel, Gauge>,
    mirror_upstream_errors: Family<RoleLabel, Counter>,
    mirror_lag: Family<RoleLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    expiry: Family<MetadataLabels, Gauge>,
    last_signed: Family<MetadataLabels, Gauge>,
    signing_errors: Family<FaultLabels, Counter>,
    /// HTTP requests by route and status, and their latency.
    pub requests: RequestMetrics,
    mirror_checkpoint_version: Family<RoleLabel, Gauge>,
    mirror_checkpoint: Family<RoleLabel, Histogram, fn() -> Histogram>,
    /// Multi-proof requests refused (503) because the concurrent proof work was at its bound.
    pub proofs_refused: Counter,
    /// HTTP connections.
    pub connections: ConnectionMetrics,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered (no role yet).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let histograms = || {
            Family::<RoleLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            )
        };
        let m = Metrics {
            changes: Family::default(),
            rejected: Family::default(),
            rounds: Family::default(),
            refused_backlog: Family::default(),
            leaves: Family::default(),
            timestamp_version: Family::default(),
            unsigned_changes: Family::default(),
            leading: Family::default(),
            takeovers: Family::default(),
            wal_fsync: histograms(),
            sign: histograms(),
            durable: histograms(),
            signed: histograms(),
            mirror_version: Family::default(),
            mirror_upstream_version: Family::default(),
            mirror_inconsistent: Family::default(),
            mirror_incomplete: Family::default(),
            mirror_upstream_errors: Family::default(),
            mirror_lag: Family::default(),
            expiry: Family::default(),
            last_signed: Family::default(),
            signing_errors: Family::default(),
            requests: RequestMetrics {
                requests: Family::default(),
                duration: Family::new_with_constructor(http_histogram),
            },
            mirror_checkpoint_version: Family::default(),
            mirror_checkpoint: histograms(),
            proofs_refused: Counter::default(),
            connections: ConnectionMetrics {
                open: Gauge::default(),
                max: Gauge::default(),
                accepted: Counter::default(),
                accept_paused: Counter::default(),
                accept_errors: Counter::default(),
                closed: Family::default(),
            },
            registry: Registry::default(),
        };
        let r = &mut registry;
        // Counters get `_total` appended by the encoder, and every HELP text a period.
        r.register(
            "tuf_signer_changes",
            "Changes made durable",
            m.changes.clone(),
        );
        r.register(
            "tuf_signer_rejected",
            "Requests refused by the version rules",
            m.rejected.clone(),
        );
        r.register(
            "tuf_signer_rounds",
            "Signed rounds published",
            m.rounds.clone(),
        );
        r.register(
            "tuf_signer_refused_backlog",
            "Requests refused because too many changes wait to be signed, or too large for one round",
            m.refused_backlog.clone(),
        );
        r.register(
            "tuf_signer_leaves",
            "Leaves in the role's tree, tombstones included",
            m.leaves.clone(),
        );
        r.register(
            "tuf_signer_timestamp_version",
            "Latest published timestamp version",
            m.timestamp_version.clone(),
        );
        r.register(
            "tuf_signer_unsigned_changes",
            "Durable changes waiting to be signed (non-zero while signing lags or fails)",
            m.unsigned_changes.clone(),
        );
        r.register(
            "tuf_signer_leading",
            "1 while this node leads the role (commits and signs it), 0 while it stands by",
            m.leading.clone(),
        );
        r.register(
            "tuf_signer_takeovers",
            "Times this node took the role's lease and recovered the role from the bucket",
            m.takeovers.clone(),
        );
        r.register(
            "tuf_signer_wal_fsync_seconds",
            "Write-ahead-log append and fdatasync",
            m.wal_fsync.clone(),
        );
        r.register("tuf_signer_sign_seconds", "Signing a round", m.sign.clone());
        r.register(
            "tuf_signer_durable_seconds",
            "Group commit start to durable answers",
            m.durable.clone(),
        );
        r.register(
            "tuf_signer_signed_seconds",
            "Group commit start to signed answers",
            m.signed.clone(),
        );
        r.register(
            "tuf_signer_build",
            "The signer's version (the value is always 1)",
            prometheus_client::metrics::info::Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        r.register_with_unit(
            "tuf_signer_metadata_expiry_timestamp",
            "When the role's published metadata file expires, Unix time",
            Unit::Seconds,
            m.expiry.clone(),
        );
        r.register_with_unit(
            "tuf_signer_metadata_last_signed_timestamp",
            "When this node last signed the role's metadata file, Unix time (after a start, until the next signature: the published file's expiry less the configured period)",
            Unit::Seconds,
            m.last_signed.clone(),
        );
        r.register(
            "tuf_signer_signing_errors",
            "Failed signing rounds (signing, logging or publishing one), by the fault code they set; each is retried",
            m.signing_errors.clone(),
        );
        r.register(
            "tuf_signer_http_requests",
            "HTTP requests answered, by method, route template and status code",
            m.requests.requests.clone(),
        );
        r.register_with_unit(
            "tuf_signer_http_request_duration",
            "HTTP request latency until the response head, by method and route template",
            Unit::Seconds,
            m.requests.duration.clone(),
        );
        r.register(
            "tuf_signer_proof_requests_refused",
            "Multi-proof requests refused (503) because the concurrent proof work was at its bound",
            m.proofs_refused.clone(),
        );
        r.register(
            "tuf_mirror_timestamp_version",
            "Mirrors: the latest timestamp version verified and served",
            m.mirror_version.clone(),
        );
        r.register(
            "tuf_mirror_upstream_timestamp_version",
            "Mirrors: the latest timestamp version seen upstream",
            m.mirror_upstream_version.clone(),
        );
        r.register(
            "tuf_mirror_inconsistent",
            "Mirrors: 1 once the upstream was caught inconsistent; the mirror stopped advancing (evidence on disk)",
            m.mirror_inconsistent.clone(),
        );
        r.register(
            "tuf_mirror_incomplete",
            "Mirrors: 1 while the upstream's timestamp names rounds the upstream does not serve",
            m.mirror_incomplete.clone(),
        );
        r.register(
            "tuf_mirror_upstream_errors",
            "Mirrors: failed upstream requests",
            m.mirror_upstream_errors.clone(),
        );
        r.register_with_unit(
            "tuf_mirror_lag",
            "Mirrors: how long the newest upstream version not yet served has been seen (0 when caught up)",
            Unit::Seconds,
            m.mirror_lag.clone(),
        );
        r.register(
            "tuf_mirror_checkpoint_timestamp_version",
            "Mirrors: the version of the last checkpoint written (what a restart resumes from)",
            m.mirror_checkpoint_version.clone(),
        );
        r.register_with_unit(
            "tuf_mirror_checkpoint",
            "Mirrors: writing one checkpoint, in the background",
            prometheus_client::registry::Unit::Seconds,
            m.mirror_checkpoint.clone(),
        );
        let c = &m.connections;
        r.register(
            "tuf_signer_http_connections",
            "HTTP connections open",
            c.open.clone(),
        );
        r.register(
            "tuf_signer_http_connections_max",
            "The HTTP connection cap",
            c.max.clone(),
        );
        r.register(
            "tuf_signer_http_connections_accepted",
            "HTTP connections accepted",
            c.accepted.clone(),
        );
        r.register(
            "tuf_signer_http_accept_paused",
            "Times accepting paused because every connection was serving a request",
            c.accept_paused.clone(),
        );
        r.register(
            "tuf_signer_http_accept_errors",
            "Failed accepts (e.g. too many open files)",
            c.accept_errors.clone(),
        );
        r.register(
            "tuf_signer_http_connections_closed",
            "HTTP connections closed, by reason",
            c.closed.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The metrics of role `role` (created on first use, so each role shows from the start).
    pub fn role(&self, role: &str) -> RoleMetrics {
        let label = RoleLabel {
            role: role.to_owned(),
        };
        RoleMetrics {
            role: role.to_owned(),
            expiry: self.expiry.clone(),
            last_signed: self.last_signed.clone(),
            signing_errors: self.signing_errors.clone(),
            changes: self.changes.get_or_create(&label).clone(),
            rejected: self.rejected.get_or_create(&label).clone(),
            rounds: self.rounds.get_or_create(&label).clone(),
            refused_backlog: self.refused_backlog.get_or_create(&label).clone(),
            leaves: self.leaves.get_or_create(&label).clone(),
            timestamp_version: self.timestamp_version.get_or_create(&label).clone(),
            unsigned_changes: self.unsigned_changes.get_or_create(&label).clone(),
            leading: self.leading.get_or_create(&label).clone(),
            takeovers: self.takeovers.get_or_create(&label).clone(),
            wal_fsync: Latency(self.wal_fsync.get_or_create(&label).clone()),
            sign: Latency(self.sign.get_or_create(&label).clone()),
            durable_latency: Latency(self.durable.get_or_create(&label).clone()),
            signed_latency: Latency(self.signed.get_or_create(&label).clone()),
        }
    }

    /// The mirror metrics of role `role`.
    pub fn mirror(&self, role: &str) -> MirrorMetrics {
        let label = RoleLabel {
            role: role.to_owned(),
        };
        MirrorMetrics {
            timestamp_version: self.mirror_version.get_or_create(&label).clone(),
            upstream_version: self.mirror_upstream_version.get_or_create(&label).clone(),
            inconsistent: self.mirror_inconsistent.get_or_create(&label).clone(),
            incomplete: self.mirror_incomplete.get_or_create(&label).clone(),
            upstream_errors: self.mirror_upstream_errors.get_or_create(&label).clone(),
            lag_seconds: self.mirror_lag.get_or_create(&label).clone(),
            checkpoint_version: self.mirror_checkpoint_version.get_or_create(&label).clone(),
            checkpoint_seconds: Latency(self.mirror_checkpoint.get_or_create(&label).clone()),
        }
    }

    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_and_connection_metrics_render() {
        let m = Metrics::new();
        let r = m.role("crates.io");
        r.changes.inc_by(3);
        r.wal_fsync.observe(Duration::from_millis(2));
        m.connections.closed(ConnectionClose::WriteTimeout);
        m.connections.open.inc();
        m.proofs_refused.inc();
        let out = m.render();
        assert!(
            out.contains("tuf_signer_changes_total{role=\"crates.io\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("tuf_signer_http_connections_closed_total{reason=\"write_timeout\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("tuf_signer_http_connections 1\n"), "{out}");
        assert!(
            out.contains("tuf_signer_proof_requests_refused_total 1\n"),
            "{out}"
        );
        assert!(
            out.contains("tuf_signer_wal_fsync_seconds_bucket{le=\"0.0025\",role=\"crates.io\"} 1"),
            "{out}"
        );
        assert!(out.ends_with("# EOF\n"));
    }

    #[test]
    fn new_families_are_labelled_and_bounded() {
        let m = Metrics::new();
        let r = m.role("crates.io");
        let out = m.render();
        // No expiry before one is known (0 would read as long expired).
        assert!(
            !out.contains("tuf_signer_metadata_expiry_timestamp_seconds{"),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "tuf_signer_build_info{{version=\"{}\"}} 1\n",
                env!("CARGO_PKG_VERSION")
            )),
            "{out}"
        );
        r.set_expiry(
            MetadataFile::Root,
            jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        );
        r.expect_signing_errors("signing_failed");
        r.signing_error("publish_failed");
        m.requests
            .observe("FOO", "/healthz", 405, Duration::from_millis(3));
        m.requests
            .observe("GET", UNMATCHED_ROUTE, 404, Duration::from_millis(1));
        let out = m.render();
        assert!(
            out.contains("tuf_signer_metadata_expiry_timestamp_seconds{role=\"crates.io\",metadata=\"root\"} 1800000000\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "tuf_signer_signing_errors_total{role=\"crates.io\",code=\"publish_failed\"} 1\n"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "tuf_signer_signing_errors_total{role=\"crates.io\",code=\"signing_failed\"} 0\n"
            ),
            "{out}"
        );
        // A method outside the known set is `other`, so a client cannot add label values.
        assert!(
            out.contains("tuf_signer_http_requests_total{method=\"other\",route=\"/healthz\",status=\"405\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("tuf_signer_http_request_duration_seconds_bucket{le=\"0.005\",method=\"other\",route=\"/healthz\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("tuf_signer_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n"),
            "{out}"
        );
    }
}
