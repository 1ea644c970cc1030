//! Liveness, readiness, metrics and each role's status.
//!
//! Properties kept: `/healthz` and `status` show each fault's code and public message only
//! (details with paths and OS errors are in the log). `/healthz` answers whether the process
//! works (200 unless a role is faulty); `/readyz` whether it takes writes now: 200 only when
//! it leads every role it serves and none of them has a fault, so a load balancer sends
//! writes to no standby and no role that cannot sign. A mirror, which takes no writes, is
//! ready once every role has a verified version and no fault.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiResult;
use super::state::{AppState, role};

pub(super) async fn healthz(State(s): State<AppState>) -> Response {
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

/// Why a role is not ready, as `/readyz` shows it: a stable code and a public message.
fn not_ready(status: &crate::state::Status) -> Option<(&'static str, String)> {
    if let (Some(code), Some(message)) = (status.error_code, &status.error) {
        return Some((code, message.clone()));
    }
    if status.mirror.is_some() {
        return (status.timestamp_version == 0).then(|| {
            (
                "no_verified_version",
                "this mirror has not verified a version of the role yet".to_owned(),
            )
        });
    }
    if !status.leading {
        let message = match &status.leader {
            Some(url) => format!("this node stands by; the role's leader is {url}"),
            None => "this node stands by; no leader is known yet".to_owned(),
        };
        return Some(("not_leader", message));
    }
    None
}

pub(super) async fn readyz(State(s): State<AppState>) -> Response {
    let mut ready = true;
    let roles: serde_json::Map<String, Value> = s
        .roles
        .iter()
        .map(|(n, r)| {
            let entry = match not_ready(&r.state.status()) {
                None => json!({ "ready": true }),
                Some((code, message)) => {
                    ready = false;
                    json!({ "ready": false, "code": code, "message": message })
                }
            };
            (n.clone(), entry)
        })
        .collect();
    let (code, status) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (
        code,
        axum::Json(json!({ "status": status, "roles": roles })),
    )
        .into_response()
}

pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    let body = s.metrics.render();
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
}

pub(super) async fn status(State(s): State<AppState>, Path(role_name): Path<String>) -> ApiResult {
    let handle = role(&s, &role_name)?;
    Ok(axum::Json(handle.state.status()).into_response())
}
