//! The request layer: counts every answer by method, route template and status, and times it.
//!
//! Properties kept:
//! - The `route` label is the template the router matched (`/api/v1/{role}/proof/{*path}`),
//!   or `unmatched` for the 404 fallback, never the path asked for: a client cannot grow the
//!   label set by asking for new paths.
//! - Every answer the router gives is counted, errors and refusals included, once.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::state::AppState;
use crate::metrics::UNMATCHED_ROUTE;

/// Runs the request and records it ([`crate::metrics::RequestMetrics`]); the latency runs
/// until the response head (a streamed file's body is sent after it).
pub(super) async fn record(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // Set by the router when a route matched, before its layers run.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    s.metrics.requests.observe(
        method.as_str(),
        route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
