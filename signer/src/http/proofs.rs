//! Proofs: `GET .../proof/{path}` (one name) and `POST .../proofs` (a multi-proof), against a
//! kept signed version of the role's tree.
//!
//! Properties kept: a proof is only ever made against a tree version whose root was signed into
//! a published timestamp; multi-proof work (parsing, proving, encoding) runs off the async
//! workers, at most `limits.max_concurrent_proofs` at a time, and a request that cannot get a
//! turn soon gets 503 `busy` with `Retry-After` rather than a place in an unbounded queue;
//! the answer is JSON or the POUF's binary encoding as `Accept` asks ([`super::negotiate`]),
//! the same proof either way, with the same caching headers and `Vary: Accept`.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tuf_merkle::binary::Answer;
use tuf_merkle::{Digest, ProofError};

use super::body::{ReadDeadline, parse_json, read_body};
use super::error::{ApiError, ApiResult};
use super::negotiate::{self, Format};
use super::state::{AppState, RoleHandle, Service, path_params, role};
use crate::config::{Limits, SnapshotMode};
use crate::state::{RoleState, SignedVersion};
use crate::target::{self, Layout};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProofQuery {
    version: Option<u64>,
}

fn merkle_role<'a>(s: &'a Service, name: &str) -> Result<&'a RoleHandle, ApiError> {
    let handle = role(s, name)?;
    if handle.snapshot != SnapshotMode::Merkle {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_merkle_role",
            format!("role {name:?} is in classic mode: its targets are listed in targets.json"),
        ));
    }
    // A standby holds no tree: proofs come from the leader (or a mirror, which has no
    // sequencer and always proves from the versions it verified).
    if handle.tx.is_some()
        && let (false, leader) = handle.state.leadership()
    {
        return Err(ApiError::not_leader(leader));
    }
    Ok(handle)
}

fn signed_version(state: &RoleState, version: Option<u64>) -> Result<SignedVersion, ApiError> {
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

pub(super) async fn proof(
    State(s): State<AppState>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<ProofQuery>, QueryRejection>,
) -> ApiResult {
    let format = negotiate::choose(&headers)?;
    let (role_name, path) = path_params(p)?;
    let handle = merkle_role(&s, &role_name)?;
    let q = q
        .map_err(|e| ApiError::bad("bad_query", format!("{e}; expected ?version=N")))?
        .0;
    target::validate(&path, handle.layout).map_err(ApiError::path)?;
    let v = signed_version(&handle.state, q.version)?;
    let proof = v.tree.prove(&path);
    let body = match format {
        Format::Json => json_answer(&role_name, v.version, &v.root, &proof)?,
        Format::Binary => binary_answer(&role_name, v.version, &v.root, proof.to_binary())?,
    };
    // A proof is a pure function of (role, version, name, format): asked by version it never
    // changes.
    let cache = match q.version {
        Some(_) => crate::publish::CACHE_IMMUTABLE,
        None => CACHE_LATEST_PROOF,
    };
    Ok(answer(format, cache, body))
}

/// A proof answer: its body with its `Content-Type`, `Cache-Control` and `Vary: Accept` (a
/// cache must keep the two formats of one URL apart).
fn answer(format: Format, cache: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.media_type()),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::VARY, HeaderValue::from_static("accept")),
        ],
        body,
    )
        .into_response()
}

/// The JSON answer: `role`, `timestamp_version`, `merkle_root` and `proof` (`docs/api.md`).
fn json_answer(
    role: &str,
    version: u64,
    root: &Digest,
    proof: &impl serde::Serialize,
) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&json!({
        "role": role,
        "timestamp_version": version,
        "merkle_root": root.to_hex(),
        "proof": proof,
    }))
    .map_err(|e| encoding_failed(&e))
}

/// The binary answer of POUF §10.5 around the binary proof.
fn binary_answer(
    role: &str,
    version: u64,
    root: &Digest,
    proof: Result<Vec<u8>, ProofError>,
) -> Result<Vec<u8>, ApiError> {
    // Cannot fail for a configured role and a valid target name (both at most 255 bytes).
    let proof = proof.map_err(|e| encoding_failed(&e))?;
    Answer {
        role,
        timestamp_version: version,
        merkle_root: *root,
        proof: &proof,
    }
    .encode()
    .map_err(|e| encoding_failed(&e))
}

fn encoding_failed(e: &dyn std::fmt::Display) -> ApiError {
    ApiError::internal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "encoding the proof failed",
        e,
    )
}

/// `Cache-Control` of a proof asked without `?version=`: it follows the latest timestamp, so
/// it is short-lived (clients that care ask by version, which is immutable).
pub const CACHE_LATEST_PROOF: &str = "public, max-age=5";

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

pub(super) async fn proofs(
    State(s): State<AppState>,
    Path(role_name): Path<String>,
    headers: HeaderMap,
    deadline: Option<Extension<crate::server::BodyDeadline>>,
    body: Body,
) -> ApiResult {
    let format = negotiate::choose(&headers)?;
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
                s.metrics.proofs_refused.inc();
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many proof requests are being served; retry shortly",
                )
                .retry_after(1));
            }
        };
    let limits = s.limits.clone();
    let layout = handle.layout;
    let state = handle.state.clone();
    let answer_body = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let b = parse_proof_request(&body, &limits, layout)?;
        let v = signed_version(&state, b.version)?;
        let proof = v
            .tree
            .prove_many(&b.names)
            .map_err(|e| ApiError::bad("bad_names", e.to_string()))?;
        match format {
            Format::Json => json_answer(&role_name, v.version, &v.root, &proof),
            Format::Binary => binary_answer(&role_name, v.version, &v.root, proof.to_binary()),
        }
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
    // POSTed answers are not cached: caches key on the URL, not the body.
    Ok(answer(format, "no-store", answer_body))
}

/// How long a proof request waits for a turn before it is told to retry.
const PROOF_QUEUE_WAIT: Duration = Duration::from_millis(250);
