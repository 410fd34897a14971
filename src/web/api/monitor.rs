//! The monitor's own API (`/api/v1/health`, `/api/v1/store`).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::ApiResult;
use crate::web::AppState;

/// The monitor's own health.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "etcd-monitor",
        "status": "ok",
        "version": crate::build_info::VERSION,
        "commit": crate::build_info::COMMIT,
        "build_date": crate::build_info::BUILD_DATE,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "clusters": state.board.names().count(),
        "resident_memory_bytes": crate::resident_memory_bytes(),
        "store": state.store.health(),
    }))
}

/// `GET /api/v1/store`: file size, series, samples and bytes per sample per tier.
pub async fn store(state: web::Data<AppState>) -> ApiResult {
    let store = state.store.clone();
    let stats = web::block(move || store.stats()).await??;
    Ok(HttpResponse::Ok().json(stats))
}
