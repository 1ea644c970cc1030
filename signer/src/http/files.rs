//! The published repository, `GET /{role}/{path}`: streamed from the role's publisher.
//!
//! Property kept: the path is checked before anything is opened, the publisher opens it
//! without following symlinks (nothing outside the repository is ever served), and the bytes
//! are streamed in chunks, so a client that reads slowly holds one buffer, not the file.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use super::error::{ApiError, ApiResult};
use super::state::{AppState, path_params, role};
use crate::publish::ReadError;
use crate::target;

pub(super) async fn static_file(
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
    // Streamed in chunks: a client that reads slowly holds one buffer, not the file.
    let stream = tokio_util::io::ReaderStream::with_capacity(file.body, 64 * 1024);
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(file.length));
    Ok(resp)
}
