//! The JSON API (`/api/v1`): one file per domain, each translating between HTTP and
//! that domain's calls. Errors are [`ApiError`]s, mapped from the domains' own in
//! `web/error.rs`.

pub mod access;
pub mod alerts;
pub mod bench;
pub mod clusters;
pub mod events;
pub mod history;
pub mod keys;
pub mod monitor;
pub mod registry;

use std::sync::Arc;

use actix_web::HttpResponse;

use super::{ApiError, AppState};
use crate::collect::snapshot::ClusterSnapshot;
pub(crate) use history::parse_time;

type ApiResult = Result<HttpResponse, ApiError>;

/// 200 with `answer` as JSON, its keys in alphabetical order at every level: the
/// order these answers had when they were built with `json!` (serde_json's maps
/// are sorted), which tests/api_golden.rs holds byte for byte. Their types are
/// there to describe them in the OpenAPI document, not to change the bytes.
fn ok_sorted<T: serde::Serialize>(answer: &T) -> ApiResult {
    let value = serde_json::to_value(answer).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(value))
}

/// The snapshot of the cluster a path names, or a 404 naming it.
fn find(state: &AppState, name: &str) -> Result<Arc<ClusterSnapshot>, ApiError> {
    state
        .board
        .get(name)
        .ok_or_else(|| ApiError::NotFound(format!("unknown cluster {name:?}")))
}
