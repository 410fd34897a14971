//! Benchmark API handlers (`/api/v1/benchmarks`): stored runs, one run, a comparison,
//! and storing a run made by `etcd-monitor bench` while this monitor holds the store.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::bench::history::{self, HistoryError, RunFilter, StoredRun};
use crate::web::{ApiError, AppState};

use super::ApiResult;

/// A run is a few KB; its hdr histogram can make it some tens.
pub const MAX_RUN_BODY: usize = 4 << 20;
pub const MAX_LIST: usize = 1000;
/// Runs one comparison may hold.
pub const MAX_COMPARED: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    cluster: Option<String>,
    workload: Option<String>,
    /// A run id: runs older than it (the next page).
    before: Option<String>,
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
pub async fn list(state: web::Data<AppState>, q: web::Query<ListParams>) -> ApiResult {
    let filter = q.into_inner().filter()?;
    let store = state.store.clone();
    let runs = web::block(move || history::list(&store, &filter)).await??;
    Ok(HttpResponse::Ok().json(runs))
}

pub async fn one(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let store = state.store.clone();
    let run = web::block(move || history::get(&store, &id)).await??;
    Ok(HttpResponse::Ok().json(run))
}

/// Stores a run made elsewhere (the CLI, while this monitor holds the store file).
pub async fn create(state: web::Data<AppState>, body: web::Json<StoredRun>) -> ApiResult {
    let store = state.store.clone();
    let run = body.into_inner();
    let id = run.id.clone();
    web::block(move || history::save(&store, &run)).await??;
    tracing::info!(run = %id, "benchmark run stored (sent by the command line)");
    Ok(HttpResponse::Created().json(json!({ "id": id })))
}

/// Deletes a stored run (an operator action: see `operator_routes`).
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
