//! Health, metrics and each role's status.
//!
//! Property kept: `/healthz` and `status` show each fault's code and public message only
//! (details with paths and OS errors are in the log).

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

pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    let body = s.metrics.render();
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
}

pub(super) async fn status(State(s): State<AppState>, Path(role_name): Path<String>) -> ApiResult {
    let handle = role(&s, &role_name)?;
    Ok(axum::Json(handle.state.status()).into_response())
}
