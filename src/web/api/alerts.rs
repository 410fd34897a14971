//! Alert API handlers (`/api/v1/alerts`, `/api/v1/silences`): translate between HTTP
//! and the alert manager.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::alert::manager::{HistoryFilter, NewSilence};
use crate::alert::Fingerprint;
use crate::auth::Identity;
use crate::web::access::signed_in_name;
use crate::web::error::ErrorBody;
use crate::web::{ApiError, AppState};

use super::ApiResult;

/// The alert manager's own types, as its answers and requests serialise them,
/// described for the OpenAPI document here rather than in the domain (which does
/// not know the web); the alert API's integration tests check the answers.
pub mod answers {
    #![allow(dead_code)]
    use std::collections::BTreeMap;

    use utoipa::ToSchema;

    /// A request to create a silence.
    #[derive(ToSchema)]
    pub struct NewSilence {
        /// Alertmanager-style matchers, all of which an alert must match:
        /// `cluster=prod`, `severity=~"critical|warning"`, `member!=`.
        #[schema(min_items = 1)]
        pub matchers: Vec<String>,
        /// Unix milliseconds; default: now.
        pub starts_at_ms: Option<i64>,
        /// Unix milliseconds. Give this or `duration`.
        pub ends_at_ms: Option<i64>,
        /// `2h`, `30m`, `1d`. Give this or `ends_at_ms`.
        pub duration: Option<String>,
        /// Who makes it: needed when nobody is signed in (`mode = "none"`);
        /// with a login, the signed-in name replaces it.
        pub created_by: Option<String>,
        pub comment: String,
    }

    /// A silence: alerts matching all its matchers between `starts_at_ms` and
    /// `ends_at_ms` are not notified.
    #[derive(ToSchema)]
    pub struct Silence {
        pub id: String,
        pub matchers: Vec<String>,
        pub starts_at_ms: i64,
        pub ends_at_ms: i64,
        pub created_by: String,
        pub comment: String,
        pub created_at_ms: i64,
        /// Who ended it early, if anyone.
        pub expired_by: Option<String>,
    }

    /// The answer of `GET /api/v1/silences`.
    #[derive(ToSchema)]
    pub struct Silences {
        pub silences: Vec<Silence>,
    }

    /// An acknowledgement: someone is on it. Stops escalation of that alert.
    #[derive(ToSchema)]
    pub struct Acknowledgement {
        /// The alert's fingerprint (hex).
        pub fingerprint: String,
        pub by: String,
        pub comment: String,
        pub at_ms: i64,
    }

    /// One entry of the alert history: a change of an alert or of what mutes it.
    #[derive(ToSchema)]
    pub struct HistoryEntry {
        pub at_ms: i64,
        /// `pending`, `firing`, `resolved`, `cancelled`, `acknowledged`,
        /// `silence_created`, `silence_expired`, `notified` or `notify_failed`.
        pub event: String,
        pub fingerprint: Option<String>,
        pub alertname: String,
        pub cluster: String,
        pub member: Option<String>,
        pub severity: String,
        pub labels: BTreeMap<String, String>,
        pub value: Option<f64>,
        /// Who did it (acknowledgements and silences).
        pub by: Option<String>,
        pub detail: String,
    }

    /// The answer of `GET /api/v1/alerts/history`.
    #[derive(ToSchema)]
    pub struct AlertHistory {
        /// Newest first.
        pub entries: Vec<HistoryEntry>,
    }

    /// A pending or firing alert, with what mutes it and where it goes.
    #[derive(ToSchema)]
    pub struct ActiveAlert {
        /// Hex.
        pub fingerprint: String,
        /// The rule's key (a built-in's config key or a user rule's name).
        pub rule: String,
        /// alertname, severity, cluster, member (member-level rules), the rule's labels.
        pub labels: BTreeMap<String, String>,
        /// summary, description and runbook.
        pub annotations: BTreeMap<String, String>,
        /// `pending` or `firing`.
        #[schema(pattern = "^(pending|firing|resolved)$")]
        pub phase: String,
        /// The rule's value at the last evaluation where the condition held.
        pub value: f64,
        /// When the condition started to hold (unix ms; Prometheus' `activeAt`).
        pub active_since_ms: i64,
        pub fired_at_ms: Option<i64>,
        pub resolved_at_ms: Option<i64>,
        /// When the condition stopped holding while `keep_firing_for` keeps it firing.
        pub keep_firing_since_ms: Option<i64>,
        /// The last evaluation where the condition held (unix ms).
        pub last_held_ms: i64,
        /// Silences muting it (ids).
        pub silenced_by: Vec<String>,
        /// The fingerprint of the alert that inhibits it, if any.
        pub inhibited_by: Option<String>,
        pub acknowledged: Option<Acknowledgement>,
        /// Where its notifications go.
        pub receivers: Vec<String>,
    }

    /// The answer of `GET /api/v1/alerts`: what the alert manager published after
    /// its last pass.
    #[derive(ToSchema)]
    pub struct Alerts {
        /// Unix milliseconds; none before the first pass.
        pub evaluated_at_ms: Option<i64>,
        /// Pending and firing alerts, firing first, then by severity and name.
        pub alerts: Vec<ActiveAlert>,
        /// Notifications that failed and gave up, latest last (a few).
        pub delivery_errors: Vec<String>,
    }
}

/// Pending and firing alerts, with what mutes them and where they go.
#[utoipa::path(get, path = "/api/v1/alerts", operation_id = "alerts", tag = "alerts",
    responses((status = 200, description = "The active alerts", body = answers::Alerts)))]
pub async fn active(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&*state.alerts.view())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only this cluster's alerts.
    cluster: Option<String>,
    /// Only alerts of this name.
    alertname: Option<String>,
    /// Only this kind of change.
    #[param(
        pattern = "^(pending|firing|resolved|cancelled|acknowledged|silence_created|silence_expired|notified|notify_failed)$"
    )]
    event: Option<String>,
    /// Unix milliseconds: entries before it (the next page).
    before: Option<i64>,
    /// Entries; default 100.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// The largest `limit` of `GET /api/v1/alerts/history`.
pub const MAX_HISTORY_LIMIT: usize = 10_000;

/// Every change of every alert, newest first.
#[utoipa::path(get, path = "/api/v1/alerts/history", operation_id = "alert_history", tag = "alerts",
    params(HistoryParams),
    responses(
        (status = 200, description = "The entries, newest first", body = answers::AlertHistory),
        (status = 400, description = "An unknown parameter, event or a limit out of range", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    ))]
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
    if filter.limit == 0 || filter.limit > MAX_HISTORY_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1..={MAX_HISTORY_LIMIT}"
        )));
    }
    let alerts = state.alerts.clone();
    let entries = web::block(move || alerts.history(&filter)).await??;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries })))
}

/// Every silence: active, pending and recently ended.
#[utoipa::path(get, path = "/api/v1/silences", tag = "alerts",
    responses((status = 200, description = "The silences", body = answers::Silences)))]
pub async fn silences(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "silences": state.alerts.silences() }))
}

/// Who made a change: the signed-in identity, or (auth off) what the body says.
fn actor(identity: &Option<web::ReqData<Identity>>, given: String) -> String {
    signed_in_name(identity.as_deref()).unwrap_or(given)
}

/// Creates a silence.
#[utoipa::path(post, path = "/api/v1/silences", tag = "alerts",
    request_body = answers::NewSilence,
    responses(
        (status = 201, description = "The silence made", body = answers::Silence),
        (status = 400, description = "A bad body: bad matchers, times or duration", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
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

/// Who ends a silence or acknowledges an alert, and why.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct By {
    /// Ignored with a login: the signed-in identity is who did it.
    #[serde(default)]
    by: String,
    #[serde(default)]
    comment: String,
}

/// Ends a silence now: `DELETE /api/v1/silences/{id}` with `{"by": ".."}`.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "alerts",
    summary = "Ends a silence now",
    params(("id" = String, Path, description = "The silence's id")),
    request_body = By,
    responses(
        (status = 200, description = "The silence, ended", body = answers::Silence),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 404, description = "No silence of that id", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
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

/// Acknowledges an alert: someone is on it; its escalation stops.
#[utoipa::path(post, path = "/api/v1/alerts/{fingerprint}/ack", tag = "alerts",
    params(("fingerprint" = String, Path, description = "The alert's fingerprint (hex)")),
    request_body = By,
    responses(
        (status = 200, description = "The acknowledgement", body = answers::Acknowledgement),
        (status = 400, description = "A bad fingerprint or body", body = ErrorBody),
        (status = 404, description = "No active alert of that fingerprint", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ))]
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
