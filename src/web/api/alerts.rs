//! Alert API handlers (`/api/v1/alerts`, `/api/v1/silences`): translate between HTTP
//! and the alert manager.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::alert::manager::{HistoryFilter, NewSilence};
use crate::alert::Fingerprint;
use crate::auth::Identity;
use crate::web::access::signed_in_name;
use crate::web::{ApiError, AppState};

use super::ApiResult;

/// Pending and firing alerts, with what mutes them and where they go.
pub async fn active(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&*state.alerts.view())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    cluster: Option<String>,
    alertname: Option<String>,
    event: Option<String>,
    /// Unix milliseconds: entries before it.
    before: Option<i64>,
    limit: Option<usize>,
}

/// Every change of every alert, newest first.
pub async fn history(state: web::Data<AppState>, q: web::Query<HistoryParams>) -> ApiResult {
    let q = q.into_inner();
    let filter = HistoryFilter {
        cluster: q.cluster,
        alertname: q.alertname,
        event: q.event,
        before_ms: q.before,
        limit: q.limit.unwrap_or(100),
    };
    if let Some(e) = &filter.event {
        if !crate::alert::manager::HISTORY_EVENTS.contains(&e.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "event {e:?} is not one of {}",
                crate::alert::manager::HISTORY_EVENTS.join(", ")
            )));
        }
    }
    if filter.limit == 0 || filter.limit > 10_000 {
        return Err(ApiError::BadRequest("limit must be 1..=10000".into()));
    }
    let alerts = state.alerts.clone();
    let entries = web::block(move || alerts.history(&filter)).await??;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries })))
}

pub async fn silences(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "silences": state.alerts.silences() }))
}

/// Who made a change: the signed-in identity, or (auth off) what the body says.
fn actor(identity: &Option<web::ReqData<Identity>>, given: String) -> String {
    signed_in_name(identity.as_deref()).unwrap_or(given)
}

pub async fn create_silence(
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    body: web::Json<NewSilence>,
) -> ApiResult {
    let alerts = state.alerts.clone();
    let mut request = body.into_inner();
    request.created_by = actor(&identity, std::mem::take(&mut request.created_by));
    let silence = web::block(move || alerts.create_silence(request)).await??;
    Ok(HttpResponse::Created().json(silence))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct By {
    /// Ignored with a login: the signed-in identity is who did it.
    #[serde(default)]
    by: String,
    #[serde(default)]
    comment: String,
}

/// Ends a silence now: `DELETE /api/v1/silences/{id}` with `{"by": ".."}`.
pub async fn expire_silence(
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    id: web::Path<String>,
    body: web::Json<By>,
) -> ApiResult {
    let alerts = state.alerts.clone();
    let by = actor(&identity, body.into_inner().by);
    let silence = web::block(move || alerts.expire_silence(&id, &by)).await??;
    Ok(HttpResponse::Ok().json(silence))
}

pub async fn acknowledge(
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    fingerprint: web::Path<String>,
    body: web::Json<By>,
) -> ApiResult {
    let fp: Fingerprint = fingerprint.parse().map_err(ApiError::BadRequest)?;
    let alerts = state.alerts.clone();
    let By { by, comment } = body.into_inner();
    let by = actor(&identity, by);
    let ack = web::block(move || alerts.acknowledge(fp, &by, &comment)).await??;
    Ok(HttpResponse::Ok().json(ack))
}
