//! The monitor's own API (`/api/v1/health`, `/api/v1/store`) and its findings
//! for Prometheus (`/metrics`).

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

/// `GET /metrics`: the monitor's findings and its own health in the Prometheus
/// text format (see [`crate::exporter`]).
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let clusters = state.board.all();
    let alerts = state.alerts.view();
    let store = state.store.health();
    let started = std::time::SystemTime::now()
        .checked_sub(state.started.elapsed())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let text = crate::exporter::render(&crate::exporter::Inputs {
        clusters: &clusters,
        alerts: &alerts,
        store: &store,
        store_file_bytes: std::fs::metadata(state.store.path()).ok().map(|m| m.len()),
        store_samples: state.store.sample_counts(),
        start_time_unix_s: started,
        resident_memory_bytes: crate::resident_memory_bytes(),
        remote_write: &state
            .remote_write
            .iter()
            .map(|t| t.status(&state.store))
            .collect::<Vec<_>>(),
    });
    HttpResponse::Ok()
        .content_type(crate::exporter::CONTENT_TYPE)
        .body(text)
}
