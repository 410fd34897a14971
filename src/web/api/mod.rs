//! The JSON API (`/api/v1`): one file per domain, each translating between HTTP and
//! that domain's calls. Errors are [`ApiError`]s, mapped from the domains' own in
//! `web/error.rs`.

pub mod access;
pub mod alerts;
pub mod bench;
pub mod clusters;
pub mod history;
pub mod keys;
pub mod monitor;

use std::sync::Arc;

use actix_web::HttpResponse;

use super::{ApiError, AppState};
use crate::collect::snapshot::ClusterSnapshot;
pub(crate) use history::parse_time;

type ApiResult = Result<HttpResponse, ApiError>;

/// The snapshot of the cluster a path names, or a 404 naming it.
fn find(state: &AppState, name: &str) -> Result<Arc<ClusterSnapshot>, ApiError> {
    state
        .board
        .get(name)
        .ok_or_else(|| ApiError::NotFound(format!("unknown cluster {name:?}")))
}
