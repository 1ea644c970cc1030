//! Errors as the API answers them: one type, [`ApiError`], a status, a stable code and a
//! message, and one mapping from each domain error (`From`).
//!
//! Property kept: a message never carries an internal path, a pid or an OS error;
//! [`ApiError::internal`] logs those and answers with the code alone.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::sequencer::{RETRY_AFTER_SECS, SubmitError, UploadFault};
use crate::state::Fault;
use crate::target::PathError;
use crate::tree::RuleError;

/// An API error: status, stable code, message, and optionally the index of the bad item.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    index: Option<usize>,
    log_sequence: Option<u64>,
    retry_after: Option<u64>,
    leader: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            index: None,
            log_sequence: None,
            retry_after: None,
            leader: None,
        }
    }
    /// `503 not_leader`: another node leads the role (`leader`: its URL, when known).
    pub(super) fn not_leader(leader: Option<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_leader",
            SubmitError::NotLeader.to_string(),
        )
        .retry_after(1);
        e.leader = leader;
        e
    }
    /// Fills in the leader's URL of a `not_leader` error.
    pub(super) fn with_leader(mut self, leader: impl FnOnce() -> Option<String>) -> Self {
        if self.code == "not_leader" {
            self.leader = leader();
        }
        self
    }
    /// A server-side failure: `detail` (which may name paths and OS errors) goes to the log,
    /// the client gets the code and `message` only.
    pub(super) fn internal(
        status: StatusCode,
        code: &'static str,
        message: &str,
        detail: &dyn std::fmt::Display,
    ) -> Self {
        tracing::error!(code, error = %detail, "{message}");
        Self::new(status, code, message)
    }
    pub(super) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    /// The stable error code (`error.code` in the body).
    #[cfg(feature = "test-support")]
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// The HTTP status.
    #[cfg(any(test, feature = "test-support"))]
    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub(super) fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub(super) fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
    pub(super) fn path(e: PathError) -> Self {
        Self::bad(e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(i) = self.index {
            error["index"] = json!(i);
        }
        if let Some(seq) = self.log_sequence {
            error["log_sequence"] = json!(seq);
        }
        if self.code == "not_leader" {
            error["leader"] = json!(self.leader);
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        let message = e.to_string();
        match e {
            SubmitError::Rule { index, error } => {
                let status = match error {
                    RuleError::NotFound(_) => StatusCode::NOT_FOUND,
                    RuleError::Range(..) => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, error.code(), message).at(index)
            }
            SubmitError::Refused(fault) => {
                let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, fault.code(), message);
                match fault {
                    Fault::StorageFull => e.retry_after(RETRY_AFTER_SECS),
                    _ => e,
                }
            }
            SubmitError::Backlog { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "backlog_full", message)
                    .retry_after(RETRY_AFTER_SECS)
            }
            SubmitError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "round_too_large", message)
            }
            SubmitError::ClassicFull { .. } => {
                ApiError::new(StatusCode::CONFLICT, "role_full", message)
            }
            SubmitError::Upload(fault) => {
                let (status, code) = match fault {
                    UploadFault::PathConflict => (StatusCode::CONFLICT, "target_path_conflict"),
                    UploadFault::StorageFull => (StatusCode::SERVICE_UNAVAILABLE, "storage_full"),
                    _ => (StatusCode::SERVICE_UNAVAILABLE, "storage_failed"),
                };
                let e = ApiError::new(status, code, message);
                if fault == UploadFault::StorageFull {
                    e.retry_after(RETRY_AFTER_SECS)
                } else {
                    e
                }
            }
            SubmitError::NotLeader => ApiError::not_leader(None),
            SubmitError::NotSigned { seq, .. } => {
                let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_signed", message);
                err.log_sequence = Some(seq);
                err
            }
        }
    }
}

/// What a handler returns.
pub(super) type ApiResult = Result<Response, ApiError>;

pub(super) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is over the limit of {limit} bytes"),
    )
}
