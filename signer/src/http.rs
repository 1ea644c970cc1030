//! The HTTP API (`docs/api.md`, `docs/openapi.yaml`).
//!
//! Properties kept:
//! - Every write is authenticated ([`crate::auth`]) before any of its body is read.
//! - Bodies are read within a size limit chosen before reading (the JSON limit for JSON, the
//!   upload limit for bytes, a tighter one for the unauthenticated proof requests) and a
//!   deadline: a `Content-Length` over the limit is refused unread, a body that trickles is cut
//!   off with 408, so no client holds memory or a worker for long.
//! - Every input is checked (role, path, JSON shape, hash length, sizes) before anything reaches
//!   the sequencer, so a bad request changes no state.
//! - Every error is a 4xx or 5xx with a JSON body `{"error": {"code", "message"}}`; messages
//!   never carry an internal path, a pid or an OS error: those are logged instead.
//! - Multi-proof work is bounded (`limits.max_concurrent_proofs`); over the bound a request
//!   gets 503 with `Retry-After` at once, so a proof flood cannot starve writes or `/healthz`.
//! - Static files are served only from the role's published repository, through validated
//!   paths, without following any symlink, streamed (memory per download is one buffer).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tuf_merkle::Digest;
use tuf_merkle::contents::MAX_INTEGER;
use tuf_merkle::hash::{HexError, parse_hex, sha256};

use crate::auth::AuthOutcome;
use crate::config::Limits;
use crate::config::SnapshotMode;
use crate::publisher::PublishError;
use crate::sequencer::{RETRY_AFTER_SECS, Reply, Submission, SubmitError, Wait};
use crate::service::{RoleHandle, Service};
use crate::target::{self, Layout, PathError};
use crate::tree::Op;

type AppState = Arc<Service>;

/// An API error: status, stable code, message, and optionally the index of the bad item.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    index: Option<usize>,
    log_sequence: Option<u64>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            index: None,
            log_sequence: None,
            retry_after: None,
        }
    }
    /// A server-side failure: `detail` (which may name paths and OS errors) goes to the log,
    /// the client gets the code and `message` only.
    fn internal(
        status: StatusCode,
        code: &'static str,
        message: &str,
        detail: &dyn std::fmt::Display,
    ) -> Self {
        tracing::error!(code, error = %detail, "{message}");
        Self::new(status, code, message)
    }
    fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    /// The stable error code (`error.code` in the body).
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
    fn path(e: PathError) -> Self {
        Self::bad(e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(i) = self.index {
            error["index"] = json!(i);
        }
        if let Some(seq) = self.log_sequence {
            error["log_sequence"] = json!(seq);
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        let message = e.to_string();
        match e {
            SubmitError::Rule { index, error } => {
                let status = match error {
                    crate::tree::RuleError::NotFound(_) => StatusCode::NOT_FOUND,
                    crate::tree::RuleError::AlreadyDeleted(_) => StatusCode::CONFLICT,
                    crate::tree::RuleError::Range(..) => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, error.code(), message).at(index)
            }
            SubmitError::Refused(fault) => {
                let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, fault.code(), message);
                match fault {
                    crate::state::Fault::StorageFull => e.retry_after(RETRY_AFTER_SECS),
                    _ => e,
                }
            }
            SubmitError::Backlog { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "backlog_full", message)
                    .retry_after(RETRY_AFTER_SECS)
            }
            SubmitError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "round_too_large", message)
            }
            SubmitError::ClassicFull { .. } => {
                ApiError::new(StatusCode::CONFLICT, "role_full", message)
            }
            SubmitError::NotSigned { seq, .. } => {
                let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_signed", message);
                err.log_sequence = Some(seq);
                err
            }
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match &e {
            PublishError::Conflict { .. } => ApiError::internal(
                StatusCode::CONFLICT,
                "target_path_conflict",
                "the repository already holds other contents where this target's bytes would go \
                 (a name that is also a directory of another name with the same bytes); nothing \
                 was stored",
                &e,
            ),
            PublishError::Fs(fs) if fs.is_storage_full() => ApiError::internal(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                "the signer's disk is full; nothing was stored; retry later",
                &e,
            )
            .retry_after(RETRY_AFTER_SECS),
            _ => ApiError::internal(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_failed",
                "storing the target's bytes failed; nothing was stored; see the signer's log",
                &e,
            ),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// The router over `service`.
pub fn router(service: Arc<Service>) -> Router {
    let json_limit = service.limits.max_json_bytes;
    let errors = service.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/{role}/targets/{*path}",
            put(put_target).delete(delete_target),
        )
        .route(
            "/api/v1/{role}/targets/",
            put(empty_path).delete(empty_path),
        )
        .route("/api/v1/{role}/targets", put(empty_path).delete(empty_path))
        .route("/api/v1/{role}/batch", post(batch))
        .route("/api/v1/{role}/proof/{*path}", get(proof))
        .route("/api/v1/{role}/proofs", post(proofs))
        .route("/api/v1/{role}/status", get(status))
        .route("/{role}/{*path}", get(static_file))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(axum::middleware::map_response(move |r: Response| {
            let errors = errors.clone();
            async move {
                if r.status().is_client_error() {
                    errors.http_errors.inc();
                }
                r
            }
        }))
        .with_state(service)
}

async fn healthz(State(s): State<AppState>) -> Response {
    let broken: Vec<_> = s
        .roles
        .iter()
        .filter_map(|(n, r)| {
            let status = r.state.status();
            status.error.map(|message| {
                (
                    n.clone(),
                    json!({ "code": status.error_code, "message": message }),
                )
            })
        })
        .collect();
    if broken.is_empty() {
        (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
    } else {
        let roles: serde_json::Map<String, Value> = broken.into_iter().collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "degraded", "roles": roles })),
        )
            .into_response()
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    let body = crate::metrics::render(
        s.roles.iter().map(|(n, r)| (n.as_str(), &*r.metrics)),
        &s.http_errors,
        &s.proofs_refused,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see docs/api.md",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

async fn empty_path(
    Path(role): Path<String>,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> ApiResult {
    writer(&s, &role, &headers)?;
    Err(ApiError::path(PathError::Empty))
}

fn role<'a>(s: &'a Service, name: &str) -> Result<&'a RoleHandle, ApiError> {
    s.roles.get(name).ok_or_else(|| {
        let known: Vec<_> = s.roles.keys().cloned().collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_role",
            format!("no role {name:?}; roles: {known:?}"),
        )
    })
}

/// The role, if the request carries a token allowed to write it.
fn writer<'a>(s: &'a Service, name: &str, headers: &HeaderMap) -> Result<&'a RoleHandle, ApiError> {
    let handle = role(s, name)?;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match s.tokens.check(auth, name) {
        AuthOutcome::Allowed => Ok(handle),
        AuthOutcome::Unauthenticated => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer TOKEN` with a writer token for this role",
        )),
        AuthOutcome::Forbidden => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token may not write role {name:?}; each token writes one role"),
        )),
    }
}

fn path_params(
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    p.map(|Path(x)| x)
        .map_err(|e| ApiError::bad("path_not_utf8", format!("bad path: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteQuery {
    #[serde(default)]
    wait: Wait,
}

fn wait_param(q: Result<Query<WriteQuery>, QueryRejection>) -> Result<Wait, ApiError> {
    q.map(|Query(q)| q.wait).map_err(|e| {
        ApiError::bad(
            "bad_query",
            format!("{e}; expected ?wait=durable or ?wait=signed"),
        )
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is over the limit of {limit} bytes"),
    )
}

/// Reads a body, at most `limit` bytes, within `deadline`. Called only once the writer is
/// authenticated (or, for proof requests, with the tight unauthenticated limit), so that a
/// client cannot make the server read or wait for much: a body whose announced length is over
/// the limit is refused without reading any of it, and one that has not arrived whole by the
/// deadline is cut off (a trickle of one byte every few seconds holds nothing for long).
async fn read_body(body: Body, limit: usize, deadline: ReadDeadline) -> Result<Bytes, ApiError> {
    use axum::body::HttpBody as _;
    if usize::try_from(body.size_hint().lower()).map_or(true, |n| n > limit) {
        return Err(too_large(limit));
    }
    let read = async move {
        let mut body = body;
        let mut out = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|_| {
                ApiError::bad("bad_body", "the request body could not be read whole")
            })?;
            if let Ok(data) = frame.into_data() {
                if out.len().saturating_add(data.len()) > limit {
                    return Err(too_large(limit));
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(out))
    };
    tokio::time::timeout_at(deadline.at, read)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    deadline.timeout.as_secs()
                ),
            )
        })?
}

/// When a handler stops waiting for a body: a little before the server's own deadline for it
/// ([`crate::server::BodyDeadline`]), so that the client gets a 408 rather than a closed
/// connection.
#[derive(Debug, Clone, Copy)]
struct ReadDeadline {
    at: tokio::time::Instant,
    timeout: Duration,
}

/// How much earlier than the server a handler gives up on a body.
const ANSWER_MARGIN: Duration = Duration::from_millis(250);

impl ReadDeadline {
    fn of(s: &Service, server: Option<Extension<crate::server::BodyDeadline>>) -> Self {
        let timeout = s.body_timeout;
        let own = tokio::time::Instant::now() + timeout;
        let at = match server {
            Some(Extension(d)) => own.min(d.0.checked_sub(ANSWER_MARGIN).unwrap_or(own)),
            None => own,
        };
        ReadDeadline { at, timeout }
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, ApiError> {
    if bytes.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the JSON body is over the limit of {limit} bytes"),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad("malformed_json", e.to_string()))
}

fn parse_sha256(s: &str) -> Result<Digest, ApiError> {
    parse_hex(s).map_err(|e| match e {
        HexError::Length(n) => ApiError::bad(
            "bad_hash_length",
            format!("sha256 must be 64 hex digits, got {n}"),
        ),
        HexError::Character(c) => ApiError::bad(
            "bad_hash",
            format!("sha256: {c:?} is not a lowercase hex digit"),
        ),
    })
}

fn check_length(length: u64) -> Result<(), ApiError> {
    if length > MAX_INTEGER {
        return Err(ApiError::bad(
            "value_out_of_range",
            "length is over 2^63 - 1",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HashBody {
    sha256: String,
    length: u64,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

async fn put_target(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
    deadline: Option<Extension<crate::server::BodyDeadline>>,
    body: Body,
) -> ApiResult {
    let (role_name, path) = path_params(p)?;
    let handle = writer(&s, &role_name, &headers)?;
    let wait = wait_param(q)?;
    target::validate(&path, handle.cfg.layout).map_err(ApiError::path)?;
    let json = is_json(&headers);
    // The limit depends on what the body is: decided before reading any of it.
    let limit = if json {
        s.limits.max_json_bytes
    } else {
        s.limits.max_upload_bytes
    };
    let body = read_body(body, limit, ReadDeadline::of(&s, deadline)).await?;
    let op = if json {
        let h: HashBody = parse_json(&body, s.limits.max_json_bytes)?;
        check_length(h.length)?;
        Op::Upsert {
            name: path,
            length: h.length,
            sha256: parse_sha256(&h.sha256)?,
        }
    } else {
        let length = body.len() as u64;
        let publisher = handle.publisher.clone();
        let name = path.clone();
        // Hashing up to the upload limit and writing the file both block: off the async workers.
        let digest = tokio::task::spawn_blocking(move || {
            let digest = sha256(&body);
            publisher
                .store_target(&name, &digest, &body)
                .map(|_| digest)
        })
        .await
        .map_err(|e| {
            ApiError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "storing the upload failed",
                &e,
            )
        })??;
        Op::Upsert {
            name: path,
            length,
            sha256: digest,
        }
    };
    submit(&role_name, handle, vec![op], wait).await
}

async fn delete_target(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let (role_name, path) = path_params(p)?;
    let handle = writer(&s, &role_name, &headers)?;
    let wait = wait_param(q)?;
    target::validate(&path, handle.cfg.layout).map_err(ApiError::path)?;
    submit(&role_name, handle, vec![Op::Delete { name: path }], wait).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    changes: Vec<BatchChange>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum BatchChange {
    Upsert {
        path: String,
        sha256: String,
        length: u64,
    },
    Delete {
        path: String,
    },
}

async fn batch(
    State(s): State<AppState>,
    Path(role_name): Path<String>,
    q: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
    deadline: Option<Extension<crate::server::BodyDeadline>>,
    body: Body,
) -> ApiResult {
    let handle = writer(&s, &role_name, &headers)?;
    let wait = wait_param(q)?;
    let body = read_body(
        body,
        s.limits.max_json_bytes,
        ReadDeadline::of(&s, deadline),
    )
    .await?;
    let (limits, layout) = (s.limits.clone(), handle.cfg.layout);
    // Parsing and checking up to the JSON limit of changes is CPU work: off the async workers.
    let ops = tokio::task::spawn_blocking(move || parse_batch(&body, &limits, layout))
        .await
        .map_err(|e| {
            ApiError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the batch could not be parsed",
                &e,
            )
        })??;
    submit(&role_name, handle, ops, wait).await
}

/// Parses and checks a `POST .../batch` body: the JSON shape, the list size, every path
/// (against the role's `layout`), hash and length. Nothing is applied; the first bad change
/// is the error, with its index.
pub fn parse_batch(body: &[u8], limits: &Limits, layout: Layout) -> Result<Vec<Op>, ApiError> {
    let b: BatchBody = parse_json(body, limits.max_json_bytes)?;
    if b.changes.is_empty() {
        return Err(ApiError::bad("empty_batch", "the batch has no changes"));
    }
    if b.changes.len() > limits.max_batch_changes {
        return Err(ApiError::bad(
            "batch_too_large",
            format!(
                "{} changes; at most {} per batch",
                b.changes.len(),
                limits.max_batch_changes
            ),
        ));
    }
    let mut ops = Vec::with_capacity(b.changes.len());
    for (i, c) in b.changes.into_iter().enumerate() {
        let op = match c {
            BatchChange::Upsert {
                path,
                sha256,
                length,
            } => {
                target::validate(&path, layout).map_err(|e| ApiError::path(e).at(i))?;
                check_length(length).map_err(|e| e.at(i))?;
                Op::Upsert {
                    name: path,
                    length,
                    sha256: parse_sha256(&sha256).map_err(|e| e.at(i))?,
                }
            }
            BatchChange::Delete { path } => {
                target::validate(&path, layout).map_err(|e| ApiError::path(e).at(i))?;
                Op::Delete { name: path }
            }
        };
        ops.push(op);
    }
    Ok(ops)
}

async fn submit(role_name: &str, handle: &RoleHandle, ops: Vec<Op>, wait: Wait) -> ApiResult {
    let (reply, rx) = oneshot::channel();
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the role's sequencer is not running (shutting down?)",
        )
    };
    handle
        .tx
        .send(Submission { ops, wait, reply })
        .await
        .map_err(|_| unavailable())?;
    let result = rx.await.map_err(|_| unavailable())?;
    let r = result?;
    Ok((StatusCode::OK, axum::Json(reply_json(role_name, wait, r))).into_response())
}

fn reply_json(role: &str, wait: Wait, r: Reply) -> Value {
    let results: Vec<Value> = r
        .applied
        .iter()
        .map(|a| json!({ "path": a.name, "contents": a.new, "changed": a.changed }))
        .collect();
    let mut out = json!({
        "role": role,
        "status": if wait == Wait::Signed { "signed" } else { "durable" },
        "log_sequence": r.seq,
        "results": results,
    });
    if let Some(sig) = r.signed {
        out["timestamp_version"] = json!(sig.timestamp_version);
        if let Some(root) = sig.merkle_root {
            out["merkle_root"] = json!(root.to_hex());
        }
        if let Some(p) = sig.proof {
            out["proof"] = p;
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofQuery {
    version: Option<u64>,
}

fn merkle_role<'a>(s: &'a Service, name: &str) -> Result<&'a RoleHandle, ApiError> {
    let handle = role(s, name)?;
    if handle.cfg.snapshot != SnapshotMode::Merkle {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_merkle_role",
            format!("role {name:?} is in classic mode: its targets are listed in targets.json"),
        ));
    }
    Ok(handle)
}

fn signed_version(
    state: &crate::state::RoleState,
    version: Option<u64>,
) -> Result<crate::state::SignedVersion, ApiError> {
    state.version(version).ok_or_else(|| match version {
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_signed_yet",
            "the role has no signed timestamp yet",
        ),
        // Older than the latest: signed once, but no longer kept. 410, not 404, so that a
        // client can tell "refresh and ask against the current timestamp" from a withheld
        // target.
        Some(v) if state.version(None).is_some_and(|latest| v < latest.version) => ApiError::new(
            StatusCode::GONE,
            "version_not_kept",
            format!(
                "timestamp version {v} is no longer kept; refresh timestamp.json and ask \
                     against the current version (kept: {:?})",
                state.status().proof_versions
            ),
        ),
        Some(v) => ApiError::new(
            StatusCode::NOT_FOUND,
            "version_not_signed",
            format!(
                "timestamp version {v} is not signed (yet); kept: {:?}",
                state.status().proof_versions
            ),
        ),
    })
}

async fn proof(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<ProofQuery>, QueryRejection>,
) -> ApiResult {
    let (role_name, path) = path_params(p)?;
    let handle = merkle_role(&s, &role_name)?;
    let q = q
        .map_err(|e| ApiError::bad("bad_query", format!("{e}; expected ?version=N")))?
        .0;
    target::validate(&path, handle.cfg.layout).map_err(ApiError::path)?;
    let v = signed_version(&handle.state, q.version)?;
    let proof = v.tree.prove(&path);
    Ok(axum::Json(json!({
        "role": role_name,
        "timestamp_version": v.version,
        "merkle_root": v.root.to_hex(),
        "proof": proof,
    }))
    .into_response())
}

/// A `POST .../proofs` request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofsBody {
    /// The names to prove, distinct, each a valid target name of the role.
    pub names: Vec<String>,
    /// The timestamp version to prove against (the latest when absent).
    #[serde(default)]
    pub version: Option<u64>,
}

/// Parses and checks a `POST .../proofs` body: the JSON shape, the number of names, each name
/// against the role's `layout`, no name twice.
pub fn parse_proof_request(
    body: &[u8],
    limits: &Limits,
    layout: Layout,
) -> Result<ProofsBody, ApiError> {
    let b: ProofsBody = parse_json(body, limits.max_proof_request_bytes)?;
    if b.names.is_empty() {
        return Err(ApiError::bad("no_names", "give at least one name"));
    }
    if b.names.len() > limits.max_proof_names {
        return Err(ApiError::bad(
            "too_many_names",
            format!("at most {} names per request", limits.max_proof_names),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, n) in b.names.iter().enumerate() {
        target::validate(n, layout).map_err(|e| ApiError::path(e).at(i))?;
        if !seen.insert(n.as_str()) {
            return Err(ApiError::bad("duplicate_name", format!("{n:?} appears twice")).at(i));
        }
    }
    Ok(b)
}

async fn proofs(
    State(s): State<AppState>,
    Path(role_name): Path<String>,
    deadline: Option<Extension<crate::server::BodyDeadline>>,
    body: Body,
) -> ApiResult {
    let handle = merkle_role(&s, &role_name)?;
    let limit = s.limits.max_proof_request_bytes;
    let body = read_body(body, limit, ReadDeadline::of(&s, deadline)).await?;
    // Parsing, proving and encoding the answer are the costly part: done off the async
    // workers, at most `max_concurrent_proofs` at a time. A request that cannot get a turn
    // soon is told to come back rather than queued without bound.
    let permit =
        match tokio::time::timeout(PROOF_QUEUE_WAIT, s.proof_permits.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                s.proofs_refused.inc();
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many proof requests are being served; retry shortly",
                )
                .retry_after(1));
            }
        };
    let limits = s.limits.clone();
    let layout = handle.cfg.layout;
    let state = handle.state.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let b = parse_proof_request(&body, &limits, layout)?;
        let v = signed_version(&state, b.version)?;
        let proof = v
            .tree
            .prove_many(&b.names)
            .map_err(|e| ApiError::bad("bad_names", e.to_string()))?;
        serde_json::to_vec(&json!({
            "role": role_name,
            "timestamp_version": v.version,
            "merkle_root": v.root.to_hex(),
            "proof": proof,
        }))
        .map_err(|e| {
            ApiError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "encoding the proof failed",
                &e,
            )
        })
    })
    .await
    .map_err(|e| {
        ApiError::internal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the proof task failed",
            &e,
        )
    })??;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        answer,
    )
        .into_response())
}

/// How long a proof request waits for a turn before it is told to retry.
const PROOF_QUEUE_WAIT: Duration = Duration::from_millis(250);

async fn status(State(s): State<AppState>, Path(role_name): Path<String>) -> ApiResult {
    let handle = role(&s, &role_name)?;
    Ok(axum::Json(handle.state.status()).into_response())
}

async fn static_file(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let (role_name, path) = path_params(p)?;
    let handle = role(&s, &role_name)?;
    target::validate_repository_path(&path).map_err(ApiError::path)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "file_not_found",
            format!("{role_name}/{path} is not published"),
        )
    };
    let dir = handle.publisher.dir().to_owned();
    let rel = path.clone();
    // Opened component by component without following symlinks: whatever the repository
    // directory holds, nothing outside it is ever served.
    let opened = tokio::task::spawn_blocking(move || tuf_files::beneath::open_file(&dir, &rel))
        .await
        .map_err(|e| {
            ApiError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "opening the file failed",
                &e,
            )
        })?;
    let (file, length) = match opened {
        Ok(f) => f,
        Err(tuf_files::beneath::BeneathError::Io(e)) => {
            return Err(ApiError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "read_failed",
                "reading the file failed; see the signer's log",
                &e,
            ));
        }
        Err(_) => return Err(not_found()),
    };
    let ct = if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    // Streamed in chunks: a client that reads slowly holds one buffer, not the file.
    let stream =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 64 * 1024);
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    Ok(resp)
}
