//! The HTTP API (`docs/api.md`, `docs/openapi.yaml`): the first stage of the flow. Requests
//! are checked here and handed to the role's sequencer ([`writes`]); proofs are made from the
//! signed versions the sequencer keeps ([`proofs`]); published files are read through the
//! role's publisher ([`files`]).
//!
//! Properties kept:
//! - Every write is authenticated ([`auth`]) before any of its body is read.
//! - Bodies are read within a size limit chosen before reading and a deadline ([`body`]).
//! - Every input is checked before anything reaches the sequencer, so a bad request changes no
//!   state.
//! - Every error is a 4xx or 5xx with a JSON body `{"error": {"code", "message"}}`, from one
//!   mapping ([`error`]); messages never carry an internal path, a pid or an OS error.
//! - Multi-proof work is bounded; a proof flood cannot starve writes or `/healthz`.
//! - Static files are served only from the role's published repository, without following any
//!   symlink, streamed.
//! - Every answer is counted by route template and status, and timed ([`request_metrics`]).
//! - Every request is logged once, with an id returned in `X-Request-Id` ([`request_log`]).
//! - Every answer carries `Cache-Control`: immutable files and proofs asked by version for a
//!   year, heads and latest proofs briefly, everything else (errors included) `no-store`.

pub mod auth;
mod body;
mod error;
mod files;
mod negotiate;
mod proofs;
mod request_log;
mod request_metrics;
mod state;
mod status;
mod writes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};

pub use error::ApiError;
#[cfg(feature = "test-support")]
pub use proofs::{ProofsBody, parse_proof_request};
pub use state::{RoleHandle, Service};
#[cfg(feature = "test-support")]
pub use writes::parse_batch;

/// The router over `service`.
pub fn router(service: Arc<Service>) -> Router {
    let json_limit = service.limits.max_json_bytes;
    let recorded = service.clone();
    Router::new()
        .route("/healthz", get(status::healthz))
        .route("/readyz", get(status::readyz))
        .route("/metrics", get(status::metrics))
        .route(
            "/api/v1/{role}/targets/{*path}",
            put(writes::put_target).delete(writes::delete_target),
        )
        .route(
            "/api/v1/{role}/targets/",
            put(writes::empty_path).delete(writes::empty_path),
        )
        .route(
            "/api/v1/{role}/targets",
            put(writes::empty_path).delete(writes::empty_path),
        )
        .route("/api/v1/{role}/batch", post(writes::batch))
        .route("/api/v1/{role}/proof/{*path}", get(proofs::proof))
        .route("/api/v1/{role}/proofs", post(proofs::proofs))
        .route("/api/v1/{role}/status", get(status::status))
        .route("/{role}/{*path}", get(files::static_file))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(axum::middleware::map_response(|mut r: Response| {
            async move {
                // Every answer says how long it may be cached (D8, D9): files and proofs say
                // it themselves; everything else (errors, status, writes, POSTed multi-proofs)
                // must not be stored, so that a cache never keeps a 404 for a round not yet
                // written or a status that has moved on.
                if !r.headers().contains_key(axum::http::header::CACHE_CONTROL)
                    || !r.status().is_success() && r.status() != StatusCode::NOT_MODIFIED
                {
                    r.headers_mut().insert(
                        axum::http::header::CACHE_CONTROL,
                        axum::http::HeaderValue::from_static("no-store"),
                    );
                }
                r
            }
        }))
        // Around every other layer, so that it times them and records the status they settle.
        .layer(axum::middleware::from_fn_with_state(
            recorded,
            request_metrics::record,
        ))
        // Outermost: it sees the answer as the client gets it, and gives it its request id.
        .layer(axum::middleware::from_fn(request_log::log_request))
        .with_state(service)
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
