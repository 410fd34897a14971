//! Benchmark API handlers (`/api/v1/benchmarks`): stored runs, one run, a comparison,
//! and storing a run made by `etcd-monitor bench` while this monitor holds the store.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::bench::history::{self, HistoryError, RunFilter, StoredRun};
use crate::web::error::ErrorBody;
use crate::web::{ApiError, AppState};

use super::ApiResult;

/// The benchmark history's own types, as the answers serialise them, described
/// for the OpenAPI document here rather than in the domain (which does not know
/// the web); the benchmark API's integration tests check the answers.
pub mod answers {
    #![allow(dead_code)]
    use utoipa::ToSchema;

    /// What a list of runs shows of each.
    #[derive(ToSchema)]
    pub struct RunSummary {
        /// The run id (time-ordered).
        pub id: String,
        pub cluster: String,
        /// Who started it: `cli`, or `schedule NAME`.
        pub source: String,
        pub workload: String,
        pub started_unix_ms: i64,
        pub conns: u64,
        pub clients: u64,
        /// Requests per second asked for; none: as fast as possible.
        pub rate: Option<f64>,
        pub requests: u64,
        pub errors: u64,
        pub total_secs: f64,
        pub requests_per_sec: f64,
        pub p50_secs: Option<f64>,
        pub p95_secs: Option<f64>,
        pub p99_secs: Option<f64>,
        pub interrupted: bool,
        /// The etcd version benchmarked.
        pub version: Option<String>,
    }

    /// The answer of `GET /api/v1/benchmarks`.
    #[derive(ToSchema)]
    pub struct RunList {
        /// Newest first.
        pub runs: Vec<RunSummary>,
        /// Runs that could not be read, each message naming its id.
        pub unreadable: Vec<String>,
        /// When the limit cut the list: pass it as `before` for the next page.
        pub next_before: Option<String>,
    }

    /// A stored run: `etcd-monitor bench --json`'s report plus its context
    /// (`id`, `cluster`, `source`, `report`, `facts`, `host`, `indicators`).
    #[derive(ToSchema)]
    pub struct StoredRun {
        /// The report's run id (time-ordered).
        pub id: String,
        /// The configured cluster's name, or the endpoints given on the command line.
        pub cluster: String,
        /// Who started it: `{"kind": "cli"}` or `{"kind": "schedule", "name": ..}`.
        pub source: serde_json::Value,
        /// The benchmark's spec, summary, percentiles and histogram.
        pub report: serde_json::Value,
        /// What the cluster was (version, members, database size).
        pub facts: Option<serde_json::Value>,
        /// What ran the benchmark.
        pub host: Option<serde_json::Value>,
        /// The cluster's indicators during the run.
        pub indicators: Option<serde_json::Value>,
    }

    /// The answer of `GET /api/v1/benchmarks/compare`: each run against the
    /// baseline, metric by metric, with regressions marked.
    #[derive(ToSchema)]
    pub struct Comparison {
        /// The baseline run's id.
        pub baseline: String,
        /// A change worse than this share (0.1 = 10%) is a regression.
        pub threshold: f64,
        /// The runs compared, the baseline first, each with its metrics and changes.
        pub runs: Vec<serde_json::Value>,
    }

    /// The answer of `POST /api/v1/benchmarks`.
    #[derive(ToSchema)]
    pub struct Created {
        /// The stored run's id.
        pub id: String,
    }

    /// The answer of `DELETE /api/v1/benchmarks/{id}`.
    #[derive(ToSchema)]
    pub struct Deleted {
        /// The deleted run's id.
        pub deleted: String,
    }
}

/// A run is a few KB; its hdr histogram can make it some tens.
pub const MAX_RUN_BODY: usize = 4 << 20;
pub const MAX_LIST: usize = 1000;
/// Runs one comparison may hold.
pub const MAX_COMPARED: usize = 20;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only runs of this cluster.
    cluster: Option<String>,
    /// Only runs of this workload (`put`, `range`, `mixed`, ...).
    workload: Option<String>,
    /// A run id: runs older than it (the next page).
    before: Option<String>,
    /// Runs; default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

impl ListParams {
    pub fn filter(self) -> Result<RunFilter, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_LIST {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1..={MAX_LIST}"
            )));
        }
        Ok(RunFilter {
            cluster: self.cluster.filter(|c| !c.is_empty()),
            workload: self.workload.filter(|w| !w.is_empty()),
            before: self.before.filter(|b| !b.is_empty()),
            limit,
        })
    }
}

/// Stored runs, newest first.
#[utoipa::path(get, path = "/api/v1/benchmarks", operation_id = "list_benchmarks", tag = "benchmarks",
    params(ListParams),
    responses(
        (status = 200, description = "The runs, newest first", body = answers::RunList),
        (status = 400, description = "An unknown parameter or a limit out of range", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    ))]
pub async fn list(state: web::Data<AppState>, q: web::Query<ListParams>) -> ApiResult {
    let filter = q.into_inner().filter()?;
    let store = state.store.clone();
    let runs = web::block(move || history::list(&store, &filter)).await??;
    Ok(HttpResponse::Ok().json(runs))
}

/// One stored run, whole.
#[utoipa::path(get, path = "/api/v1/benchmarks/{id}", operation_id = "benchmark", tag = "benchmarks",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = answers::StoredRun),
        (status = 404, description = "No run of that id", body = ErrorBody),
        (status = 500, description = "The store could not be read, or the run is corrupt", body = ErrorBody),
    ))]
pub async fn one(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let store = state.store.clone();
    let run = web::block(move || history::get(&store, &id)).await??;
    Ok(HttpResponse::Ok().json(run))
}

/// Stores a run made elsewhere (the CLI, while this monitor holds the store file).
#[utoipa::path(post, path = "/api/v1/benchmarks", operation_id = "store_benchmark", tag = "benchmarks",
    request_body(content = answers::StoredRun, description = "The run, at most 4 MiB of JSON"),
    responses(
        (status = 201, description = "Stored", body = answers::Created),
        (status = 400, description = "A bad body, or a run that is not valid", body = ErrorBody),
        (status = 409, description = "A run of that id is stored already", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
pub async fn create(state: web::Data<AppState>, body: web::Json<StoredRun>) -> ApiResult {
    let store = state.store.clone();
    let run = body.into_inner();
    let id = run.id.clone();
    web::block(move || history::save(&store, &run)).await??;
    tracing::info!(run = %id, "benchmark run stored (sent by the command line)");
    Ok(HttpResponse::Created().json(json!({ "id": id })))
}

/// Deletes a stored run (an operator action: see `operator_routes`).
#[utoipa::path(delete, path = "/api/v1/benchmarks/{id}", operation_id = "delete_benchmark", tag = "benchmarks",
    summary = "Deletes a stored run",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "Deleted", body = answers::Deleted),
        (status = 404, description = "No run of that id", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
pub async fn delete(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let store = state.store.clone();
    let id = id.into_inner();
    let deleted = id.clone();
    web::block(move || history::delete(&store, &deleted)).await??;
    tracing::info!(run = %id, "benchmark run deleted");
    Ok(HttpResponse::Ok().json(json!({ "deleted": id })))
}

/// `a`, `b` and more `ids` (repeated or comma-separated), and a `threshold`, as the
/// API and the page take them. `a` is the baseline, then `b`; runs given as `ids`
/// follow oldest first (run ids sort by time), so ticking runs in a list compares
/// the newer ones with the oldest.
pub struct CompareParams {
    pub ids: Vec<String>,
    pub threshold: Option<f64>,
}

impl CompareParams {
    pub fn parse(pairs: &[(String, String)]) -> Result<CompareParams, ApiError> {
        let (mut a, mut b, mut listed) = (None, None, Vec::new());
        let mut threshold = None;
        for (k, v) in pairs {
            match k.as_str() {
                "a" => a = Some(v.trim().to_string()).filter(|s| !s.is_empty()),
                "b" => b = Some(v.trim().to_string()).filter(|s| !s.is_empty()),
                "ids" => listed.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                ),
                "threshold" => {
                    threshold = Some(v.parse::<f64>().map_err(|_| {
                        ApiError::BadRequest(format!(
                            "threshold {v:?} is not a number (a share: 0.1 = 10%)"
                        ))
                    })?)
                }
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown parameter {other:?} (expected a, b, ids, threshold)"
                    )))
                }
            }
        }
        listed.sort();
        let mut ids: Vec<String> = a.into_iter().chain(b).collect();
        ids.extend(listed);
        if ids.len() < 2 {
            return Err(ApiError::BadRequest(
                "give two runs or more to compare: a=ID&b=ID (or ids=ID,ID,...)".into(),
            ));
        }
        if ids.len() > MAX_COMPARED {
            return Err(ApiError::BadRequest(format!(
                "at most {MAX_COMPARED} runs compare at once"
            )));
        }
        Ok(CompareParams { ids, threshold })
    }

    /// Reads the runs and compares them (blocking: store reads).
    pub fn compare(
        self,
        store: &crate::store::Store,
        default_threshold: f64,
    ) -> Result<history::Comparison, HistoryError> {
        history::compare_stored(
            store,
            &self.ids,
            self.threshold.unwrap_or(default_threshold),
        )
    }
}

/// Compares stored runs with the first (the baseline), metric by metric.
#[utoipa::path(get, path = "/api/v1/benchmarks/compare", operation_id = "compare_benchmarks", tag = "benchmarks",
    params(
        ("a" = Option<String>, Query, description = "The baseline run's id"),
        ("b" = Option<String>, Query, description = "The run compared with it"),
        ("ids" = Option<Vec<String>>, Query, explode = true, description = "More runs (repeated or comma-separated), oldest first; 2 to 20 runs in all"),
        ("threshold" = Option<f64>, Query, description = "A change worse than this share is a regression (0.1 = 10%); default: `[bench] regression_threshold`"),
    ),
    responses(
        (status = 200, description = "The comparison", body = answers::Comparison),
        (status = 400, description = "Fewer than 2 or more than 20 runs, a bad threshold or an unknown parameter", body = ErrorBody),
        (status = 404, description = "No run of one of the ids", body = ErrorBody),
        (status = 500, description = "The store could not be read, or a run is corrupt", body = ErrorBody),
    ))]
pub async fn compare(
    state: web::Data<AppState>,
    q: web::Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = CompareParams::parse(&q)?;
    let store = state.store.clone();
    let threshold = state.regression_threshold;
    let comparison = web::block(move || params.compare(&store, threshold)).await??;
    Ok(HttpResponse::Ok().json(comparison))
}
