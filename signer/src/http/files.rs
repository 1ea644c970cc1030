//! The published repository, `GET /{role}/{path}`: streamed from the role's publisher.
//!
//! Property kept: the path is checked before anything is opened, the publisher opens it
//! without following symlinks (nothing outside the repository is ever served), and the bytes
//! are streamed in chunks, so a client that reads slowly holds one buffer, not the file.
//! Every file is sent with the `Cache-Control` of D8 (a year and `immutable` for versioned
//! files and targets, 30 s for `timestamp.json` and `root.json`) and its publisher's strong
//! `ETag`; a request whose `If-None-Match` names that ETag (or `*`) gets `304 Not Modified`
//! with no body.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use super::error::{ApiError, ApiResult};
use super::state::{AppState, path_params, role};
use crate::publish::ReadError;
use crate::target;

pub(super) async fn static_file(
    State(s): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    request: HeaderMap,
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
    let file = match handle.published.open(&path).await {
        Ok(f) => f,
        Err(ReadError::Io(e)) => {
            return Err(ApiError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "read_failed",
                "reading the file failed; see the signer's log",
                &e,
            ));
        }
        Err(ReadError::Unavailable(e)) => {
            tracing::warn!(role = role_name, path, error = %e, "reading a published file failed");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the repository's storage is unavailable for now; retry shortly",
            )
            .retry_after(1));
        }
        Err(_) => return Err(not_found()),
    };
    let ct = crate::publish::content_type(&path);
    let cache = HeaderValue::from_static(crate::publish::cache_control(&path));
    // An ETag that is not a valid header value (a store's bug) is left out rather than failing
    // the request: the file is still served, only not revalidated.
    let etag = HeaderValue::from_str(&file.etag).ok();
    if let Some(etag) = &etag
        && none_match(&request, &file.etag)
    {
        // The body is dropped unread (for a bucket, that closes the GET early).
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut().insert(header::ETAG, etag.clone());
        resp.headers_mut().insert(header::CACHE_CONTROL, cache);
        return Ok(resp);
    }
    // Streamed in chunks: a client that reads slowly holds one buffer, not the file.
    let stream = tokio_util::io::ReaderStream::with_capacity(file.body, 64 * 1024);
    let mut resp = Body::from_stream(stream).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.length));
    headers.insert(header::CACHE_CONTROL, cache);
    if let Some(etag) = etag {
        headers.insert(header::ETAG, etag);
    }
    Ok(resp)
}

/// Whether the request's `If-None-Match` matches `etag` (RFC 9110 13.1.2: `*`, or any listed
/// tag equal under the weak comparison, so `W/"x"` matches `"x"`). Without the header, or with
/// one that does not parse, the file is sent.
fn none_match(request: &HeaderMap, etag: &str) -> bool {
    let opaque = |tag: &str| {
        let tag = tag.trim();
        tag.strip_prefix("W/").unwrap_or(tag).to_owned()
    };
    let ours = opaque(etag);
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || opaque(tag) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison() {
        let etag = "\"1a-2b-3c\"";
        assert!(!none_match(&with(&[]), etag));
        assert!(none_match(&with(&["\"1a-2b-3c\""]), etag));
        assert!(none_match(&with(&["W/\"1a-2b-3c\""]), etag));
        assert!(none_match(&with(&["\"x\", \"1a-2b-3c\""]), etag));
        assert!(none_match(&with(&["\"x\"", "\"1a-2b-3c\""]), etag));
        assert!(none_match(&with(&["*"]), etag));
        assert!(!none_match(&with(&["\"1a-2b-3d\""]), etag));
        assert!(!none_match(&with(&["1a-2b-3c"]), etag), "tags are quoted");
    }
}
