//! Writes: `PUT`/`DELETE .../targets/{path}` and `POST .../batch`, checked and handed to the
//! role's sequencer.
//!
//! Property kept: every write is authenticated before any of its body is read, and every input
//! is checked (path, JSON shape, hash, sizes) before anything reaches the sequencer, so a bad
//! request changes no state.

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tuf_merkle::Digest;
use tuf_merkle::contents::MAX_INTEGER;
use tuf_merkle::hash::{HexError, parse_hex, sha256};

use super::body::{ReadDeadline, parse_json, read_body};
use super::error::{ApiError, ApiResult};
use super::state::{AppState, RoleHandle, path_params, writer};
use crate::change::{Op, Upload};
use crate::config::Limits;
use crate::sequencer::{Reply, Submission, Wait};
use crate::target::{self, Layout, PathError};

pub(super) async fn empty_path(
    Path(role): Path<String>,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> ApiResult {
    writer(&s, &role, &headers)?;
    Err(ApiError::path(PathError::Empty))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WriteQuery {
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

pub(super) async fn put_target(
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
    target::validate(&path, handle.layout).map_err(ApiError::path)?;
    let json = is_json(&headers);
    // The limit depends on what the body is: decided before reading any of it.
    let limit = if json {
        s.limits.max_json_bytes
    } else {
        s.limits.max_upload_bytes
    };
    let body = read_body(body, limit, ReadDeadline::of(&s, deadline)).await?;
    let (op, uploads) = if json {
        let h: HashBody = parse_json(&body, s.limits.max_json_bytes)?;
        check_length(h.length)?;
        let op = Op::Upsert {
            name: path,
            length: h.length,
            sha256: parse_sha256(&h.sha256)?,
        };
        (op, Vec::new())
    } else {
        let length = body.len() as u64;
        // Hashing up to the upload limit blocks: off the async workers. The bytes go to the
        // sequencer with the change, which stores them once the change is accepted.
        let hashed = body.clone();
        let digest = tokio::task::spawn_blocking(move || sha256(&hashed))
            .await
            .map_err(|e| {
                ApiError::internal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "hashing the upload failed",
                    &e,
                )
            })?;
        let upload = Upload {
            name: path.clone(),
            sha256: digest,
            bytes: body,
        };
        let op = Op::Upsert {
            name: path,
            length,
            sha256: digest,
        };
        (op, vec![upload])
    };
    submit(&role_name, handle, vec![op], uploads, wait).await
}

pub(super) async fn delete_target(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<WriteQuery>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let (role_name, path) = path_params(p)?;
    let handle = writer(&s, &role_name, &headers)?;
    let wait = wait_param(q)?;
    target::validate(&path, handle.layout).map_err(ApiError::path)?;
    submit(
        &role_name,
        handle,
        vec![Op::Delete { name: path }],
        Vec::new(),
        wait,
    )
    .await
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

pub(super) async fn batch(
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
    let (limits, layout) = (s.limits.clone(), handle.layout);
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
    submit(&role_name, handle, ops, Vec::new(), wait).await
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

async fn submit(
    role_name: &str,
    handle: &RoleHandle,
    ops: Vec<Op>,
    uploads: Vec<Upload>,
    wait: Wait,
) -> ApiResult {
    let (reply, rx) = oneshot::channel();
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the role's sequencer is not running (shutting down?)",
        )
    };
    let tx = handle.tx.as_ref().ok_or_else(unavailable)?;
    tx.send(Submission {
        ops,
        uploads,
        wait,
        reply,
    })
    .await
    .map_err(|_| unavailable())?;
    let result = rx.await.map_err(|_| unavailable())?;
    let r = result.map_err(|e| ApiError::from(e).with_leader(|| handle.state.leadership().1))?;
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
