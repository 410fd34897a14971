//! The monitor's own API (`/api/v1/health`, `/api/v1/store`) and its findings
//! for Prometheus (`/metrics`).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ok_sorted, ApiResult};
use crate::store::StoreHealth;
use crate::web::error::ErrorBody;
use crate::web::AppState;

/// The store's own types, as the answers serialise them, described for the
/// OpenAPI document here rather than in the store (which does not know the web);
/// tests/integration/api.rs checks real answers against them.
pub mod answers {
    #![allow(dead_code)]
    use utoipa::ToSchema;

    /// Whether the store writes: its last write error and its upkeep.
    #[derive(ToSchema)]
    pub struct StoreHealth {
        /// The last write that failed (monitoring goes on without history).
        pub last_error: Option<String>,
        pub write_errors_total: u64,
        /// Unix milliseconds.
        pub last_checkpoint_ms: Option<i64>,
        /// Unix milliseconds.
        pub last_compaction_ms: Option<i64>,
    }

    /// One tier of the store: its resolution's points and their bytes.
    #[derive(ToSchema)]
    pub struct TierStats {
        /// `raw`, `1m`, `1h`, ...
        pub tier: String,
        pub retention_seconds: u64,
        pub blocks: u64,
        pub samples: u64,
        pub bytes: u64,
        pub bytes_per_sample: Option<f64>,
    }

    /// Bytes one redb table takes in the file.
    #[derive(ToSchema)]
    pub struct TableBytes {
        pub table: String,
        /// Keys and values as stored.
        pub stored_bytes: u64,
        /// Page headers and B-tree branch pages.
        pub metadata_bytes: u64,
        /// Unused space inside the table's pages.
        pub fragmented_bytes: u64,
    }

    /// The answer of `GET /api/v1/store` (`etcd-monitor store stats --json`).
    #[derive(ToSchema)]
    pub struct StoreStats {
        /// The store file.
        pub path: String,
        pub file_bytes: u64,
        pub series: u64,
        pub samples_ingested_total: u64,
        pub samples_dropped_total: u64,
        pub head_series: u64,
        pub wal_records: u64,
        pub tiers: Vec<TierStats>,
        /// Where the file's bytes are, per redb table.
        pub tables: Vec<TableBytes>,
        pub health: StoreHealth,
        /// What the store holds in memory, estimated from its structures.
        pub memory: StoreMemory,
    }

    /// What the store holds in memory, estimated from its structures' sizes and
    /// allocations (the allocator's own overhead is not counted).
    #[derive(ToSchema)]
    pub struct StoreMemory {
        /// The series registry: each series' cluster, member and text, and the
        /// lookup from text to id.
        pub registry_bytes: u64,
        /// The head: each series' state and its open blocks.
        pub head_bytes: u64,
        /// Of `head_bytes`, the open blocks' streams (bounded by `store.head_bytes`).
        pub head_stream_bytes: u64,
        /// Blocks sealed since the last checkpoint and log records not yet committed.
        pub pending_bytes: u64,
        /// redb's page cache, at most.
        pub cache_max_bytes: u64,
    }
}

/// The answer of `GET /api/v1/health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(examples("etcd-monitor"))]
    name: &'static str,
    /// Always `ok`: a monitor that answers is up.
    #[schema(examples("ok"))]
    status: &'static str,
    version: &'static str,
    commit: &'static str,
    build_date: &'static str,
    uptime_seconds: u64,
    /// Clusters configured.
    clusters: usize,
    /// Unknown off Linux.
    resident_memory_bytes: Option<u64>,
    /// The history store's writes and upkeep.
    #[schema(value_type = answers::StoreHealth)]
    store: StoreHealth,
}

/// The monitor's own health; public, for load balancers and uptime checks.
#[utoipa::path(get, path = "/api/v1/health", tag = "monitor",
    responses((status = 200, description = "The monitor is up", body = Health)))]
pub async fn health(state: web::Data<AppState>) -> ApiResult {
    ok_sorted(&Health {
        name: "etcd-monitor",
        status: "ok",
        version: crate::build_info::VERSION,
        commit: crate::build_info::COMMIT,
        build_date: crate::build_info::BUILD_DATE,
        uptime_seconds: state.started.elapsed().as_secs(),
        clusters: state.board.names().len(),
        resident_memory_bytes: crate::resident_memory_bytes(),
        store: state.store.health(),
    })
}

/// File size, series, samples and bytes per sample per tier of the history store.
#[utoipa::path(get, path = "/api/v1/store", operation_id = "store_stats", tag = "monitor",
    responses(
        (status = 200, description = "The store's statistics", body = answers::StoreStats),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    ))]
pub async fn store(state: web::Data<AppState>) -> ApiResult {
    let store = state.store.clone();
    let stats = web::block(move || store.stats()).await??;
    Ok(HttpResponse::Ok().json(stats))
}

/// `GET /metrics`: the monitor's findings and its own health in the Prometheus
/// text format (see [`crate::exporter`]).
#[utoipa::path(get, path = "/metrics", operation_id = "prometheus_metrics", tag = "monitor",
    summary = "The monitor's findings for Prometheus",
    description = "Every cluster's and member's state, the alerts, and the monitor's own health, in the Prometheus text format 0.0.4 (docs/integration.md lists the series).",
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
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
        store_memory: state.store.memory(),
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
