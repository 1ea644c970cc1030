//! What the handlers share: the roles (each with its sequencer's queue, its signed versions and
//! its published repository), the writer tokens, the limits and the metrics.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;

use super::auth::{AuthOutcome, LiveTokens};
use super::error::ApiError;
use crate::config::{Limits, SnapshotMode};
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::sequencer::Submission;
use crate::state::RoleState;
use crate::target::Layout;

/// The state every handler gets.
pub type AppState = Arc<Service>;

/// What the HTTP handlers share.
pub struct Service {
    /// The roles, by name.
    pub roles: BTreeMap<String, RoleHandle>,
    /// Writer tokens (replaced by a reload).
    pub tokens: LiveTokens,
    /// Request limits.
    pub limits: Limits,
    /// Every metric.
    pub metrics: Arc<Metrics>,
    /// Turns for multi-proof work ([`Limits::concurrent_proofs`]).
    pub proof_permits: Arc<tokio::sync::Semaphore>,
    /// How long a request body may take (`server.body_timeout_secs`).
    pub body_timeout: std::time::Duration,
}

/// One role as the HTTP handlers see it.
pub struct RoleHandle {
    /// Merkle or classic.
    pub snapshot: SnapshotMode,
    /// Which target names the role accepts.
    pub layout: Layout,
    /// The sequencer's queue: every write goes there. `None` on a read-only mirror
    /// (`tuf-signer mirror`), which answers writes with 405 `read_only_mirror`.
    pub tx: Option<mpsc::Sender<Submission>>,
    /// Signed versions and status.
    pub state: Arc<RoleState>,
    /// The published repository, read by [`super::files`] only (writes go through the
    /// sequencer).
    pub published: Arc<dyn Publisher>,
}

/// The role `name`.
pub(super) fn role<'a>(s: &'a Service, name: &str) -> Result<&'a RoleHandle, ApiError> {
    s.roles.get(name).ok_or_else(|| {
        let known: Vec<_> = s.roles.keys().cloned().collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_role",
            format!("no role {name:?}; roles: {known:?}"),
        )
    })
}

/// The role, if the request carries a token allowed to write it.
pub(super) fn writer<'a>(
    s: &'a Service,
    name: &str,
    headers: &HeaderMap,
) -> Result<&'a RoleHandle, ApiError> {
    let handle = role(s, name)?;
    if handle.tx.is_none() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "read_only_mirror",
            "this is a read-only mirror: send writes to the signer",
        ));
    }
    match s.tokens.check(headers, name) {
        AuthOutcome::Allowed => match handle.state.leadership() {
            (true, _) => Ok(handle),
            (false, leader) => Err(ApiError::not_leader(leader)),
        },
        AuthOutcome::Unauthenticated => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer TOKEN` with a writer token for this role",
        )),
        AuthOutcome::Forbidden => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token may not write role {name:?}; each token writes one role"),
        )),
    }
}

/// `(role, path)` from a `/…/{role}/…/{*path}` route.
pub(super) fn path_params(
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    p.map(|Path(x)| x)
        .map_err(|e| ApiError::bad("path_not_utf8", format!("bad path: {e}")))
}
