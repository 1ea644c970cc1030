//! One log event per request, and the request's id (`docs/operations.md`, "Logging";
//! `docs/api.md`, "Request ids").
//!
//! Properties kept:
//! - Every request that reaches the router is logged exactly once, after its answer's status
//!   is known, under the target `tuf_signer::access`: its id, method, route (the router's
//!   pattern, e.g. `/api/v1/{role}/targets/{*path}`, never the query string), role, status
//!   and latency (to the answer's headers; a streamed file's body may take longer). 5xx
//!   answers are logged at WARN, the rest at INFO.
//! - Nothing secret is logged: no header (`Authorization` included), no body, no query.
//! - The id is the client's `X-Request-Id` when it is well-formed (1 to 128 ASCII letters,
//!   digits, `-`, `_`, `.`, `:`), else 128 random bits in hex; it is returned in the answer's
//!   `X-Request-Id`, so a client can quote it and an operator find the line. Handlers' own
//!   events carry it too (the `request` span).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// The request and answer header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest client-given id accepted.
const MAX_ID_LEN: usize = 128;

/// Whether a client-given id may be used as is: short, and only characters that need no
/// escaping in a log line or a header.
fn well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh id: 128 random bits in hex.
fn generate() -> String {
    let mut bytes = [0u8; 16];
    // The system's randomness failing leaves a zero id, which is still logged and returned:
    // better than refusing the request over a log correlation id.
    let _ = aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut bytes);
    hex::encode(bytes)
}

/// The role the request names, from the segment of its path where the route has `{role}`;
/// `None` when the route has none or the segment is not a possible role name (so that nothing
/// a client sends reaches the log unescaped).
fn role_of(route: Option<&str>, path: &str) -> Option<String> {
    let route = route?;
    let index = route.split('/').position(|s| s == "{role}")?;
    let segment = path.split('/').nth(index)?;
    let possible = !segment.is_empty()
        && segment.len() <= 64
        && segment.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        });
    possible.then(|| segment.to_owned())
}

/// The middleware: gives the request its id, runs it inside a `request` span, logs it once and
/// returns the id.
pub(super) async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(generate, str::to_owned);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let role = role_of(route.as_deref(), request.uri().path());
    let span = tracing::info_span!("request", id = %id);
    let mut response = next.run(request).instrument(span).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    let route = route.as_deref().unwrap_or("-");
    let role = role.as_deref().unwrap_or("-");
    if response.status().is_server_error() {
        tracing::warn!(target: "tuf_signer::access", request_id = %id, %method, route, role, status, latency_ms, "request");
    } else {
        tracing::info!(target: "tuf_signer::access", request_id = %id, %method, route, role, status, latency_ms, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_used_only_when_well_formed() {
        assert!(well_formed("req-1:a.b_c"));
        assert!(well_formed(&"a".repeat(128)));
        assert!(!well_formed(&"a".repeat(129)));
        assert!(!well_formed(""));
        assert!(!well_formed("a b"));
        assert!(!well_formed("a\"b"));
        assert!(!well_formed("ä"));
        let g = generate();
        assert_eq!(g.len(), 32);
        assert!(well_formed(&g));
        assert_ne!(g, generate());
    }

    #[test]
    fn the_role_comes_from_the_routes_role_segment() {
        let api = Some("/api/v1/{role}/targets/{*path}");
        assert_eq!(
            role_of(api, "/api/v1/crates.io/targets/se/rd/serde").as_deref(),
            Some("crates.io")
        );
        assert_eq!(
            role_of(Some("/{role}/{*path}"), "/rustup/timestamp.json").as_deref(),
            Some("rustup")
        );
        assert_eq!(role_of(Some("/healthz"), "/healthz"), None);
        assert_eq!(role_of(None, "/api/v1/x/status"), None);
        assert_eq!(role_of(api, "/api/v1/Evil%0A/targets/a"), None);
    }
}
