//! Reading request bodies: within a size limit chosen before reading and a deadline.
//!
//! Property kept: a body announced over the limit is refused without reading any of it; a body
//! that grows past the limit is cut off at the limit; one that has not arrived whole by the
//! deadline is answered 408 just before the server would close the connection. Memory and
//! time per request are bounded whatever the client sends.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Extension;
use axum::http::StatusCode;

use super::error::{ApiError, too_large};
use super::state::Service;

/// Reads a body, at most `limit` bytes, within `deadline`. Called only once the writer is
/// authenticated (or, for proof requests, with the tight unauthenticated limit), so that a
/// client cannot make the server read or wait for much: a body whose announced length is over
/// the limit is refused without reading any of it, and one that has not arrived whole by the
/// deadline is cut off (a trickle of one byte every few seconds holds nothing for long).
pub(super) async fn read_body(
    body: Body,
    limit: usize,
    deadline: ReadDeadline,
) -> Result<Bytes, ApiError> {
    use axum::body::HttpBody as _;
    use http_body_util::{BodyExt as _, LengthLimitError, Limited};
    // An announced length over the limit is refused before a byte is read.
    if usize::try_from(body.size_hint().lower()).map_or(true, |n| n > limit) {
        return Err(too_large(limit));
    }
    let read = async move {
        match Limited::new(body, limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<LengthLimitError>() => Err(too_large(limit)),
            Err(_) => Err(ApiError::bad(
                "bad_body",
                "the request body could not be read whole",
            )),
        }
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
pub(super) struct ReadDeadline {
    at: tokio::time::Instant,
    timeout: Duration,
}

/// How much earlier than the server a handler gives up on a body.
const ANSWER_MARGIN: Duration = Duration::from_millis(250);

impl ReadDeadline {
    pub(super) fn of(s: &Service, server: Option<Extension<crate::server::BodyDeadline>>) -> Self {
        let timeout = s.body_timeout;
        let own = tokio::time::Instant::now() + timeout;
        let at = match server {
            Some(Extension(d)) => own.min(d.0.checked_sub(ANSWER_MARGIN).unwrap_or(own)),
            None => own,
        };
        ReadDeadline { at, timeout }
    }
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, ApiError> {
    if bytes.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the JSON body is over the limit of {limit} bytes"),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad("malformed_json", e.to_string()))
}
