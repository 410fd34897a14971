//! History API handlers (`/api/v1/clusters/{name}/metrics/series` and `/history`):
//! what the store holds, and queries of it; the time and step syntax pages share.

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use super::{find, ok_sorted, ApiResult};
use crate::store::{Aggregate, SeriesPoints};
use crate::web::error::ErrorBody;
use crate::web::{ApiError, AppState};

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// Only this member's series (its name).
    member: Option<String>,
    /// Only series whose text contains this.
    #[serde(rename = "match")]
    filter: Option<String>,
}

/// One stored series.
#[derive(Serialize, ToSchema)]
struct StoredSeries {
    /// The member's name.
    member: String,
    /// The metric's name: the series up to its labels.
    name: String,
    /// `name{label="value",...}` as scraped, or an indicator's name.
    series: String,
}

/// The answer of `GET /api/v1/clusters/{name}/metrics/series`.
#[derive(Serialize, ToSchema)]
struct SeriesList<'a> {
    cluster: &'a str,
    series: Vec<StoredSeries>,
}

/// The series the store holds for a cluster: what `.../metrics/history` can ask for.
#[utoipa::path(get, path = "/api/v1/clusters/{name}/metrics/series", operation_id = "stored_series", tag = "history",
    params(("name" = String, Path, description = "The cluster's configured name"), SeriesParams),
    responses(
        (status = 200, description = "The stored series", body = SeriesList),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 404, description = "No cluster of that name", body = ErrorBody),
    ))]
pub async fn series(
    state: web::Data<AppState>,
    name: web::Path<String>,
    params: web::Query<SeriesParams>,
) -> ApiResult {
    find(&state, &name)?;
    let series: Vec<_> = state
        .store
        .list_series(&name, params.member.as_deref(), params.filter.as_deref())
        .into_iter()
        .map(|(_, m)| StoredSeries {
            name: m.name().to_string(),
            member: m.member,
            series: m.series,
        })
        .collect();
    ok_sorted(&SeriesList {
        cluster: &name,
        series,
    })
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The metric: a series' name or an indicator (see `.../metrics/series`). Required.
    #[param(required = true, min_length = 1)]
    metric: Option<String>,
    /// Only this member (its name); default: every member.
    member: Option<String>,
    /// `now`, `-1h` (before now), unix seconds or RFC 3339, between 1970 and 9999;
    /// default: an hour before `to`.
    #[param(example = "-6h")]
    from: Option<String>,
    /// As `from`; default: now.
    #[param(example = "now")]
    to: Option<String>,
    /// `30s`, `5m`, `500ms` or plain seconds, 1 ms to a year; default: about 300
    /// points, at least a second.
    #[param(example = "1m")]
    step: Option<String>,
    /// How the samples of a step make one point; default `avg`.
    #[serde(rename = "agg")]
    #[param(pattern = "^(avg|min|max|last|rate)$", example = "avg")]
    aggregate: Option<String>,
}

/// The answer of `GET /api/v1/clusters/{name}/metrics/history`.
#[derive(Serialize, ToSchema)]
struct MetricHistory<'a> {
    cluster: &'a str,
    /// Unix milliseconds.
    from: i64,
    /// Unix milliseconds.
    to: i64,
    /// Milliseconds.
    step: i64,
    #[schema(value_type = String, examples("avg"))]
    aggregate: Aggregate,
    /// Per member and series: `[unix ms, value]` points.
    #[schema(value_type = Vec<Object>)]
    series: Vec<SeriesPoints>,
}

/// A metric's stored history, one point per step.
#[utoipa::path(get, path = "/api/v1/clusters/{name}/metrics/history", operation_id = "metric_history", tag = "history",
    params(("name" = String, Path, description = "The cluster's configured name"), HistoryParams),
    responses(
        (status = 200, description = "The points", body = MetricHistory),
        (status = 400, description = "No metric, or a bad time, step or aggregate", body = ErrorBody),
        (status = 404, description = "No cluster of that name, or no stored series of that metric", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    ))]
pub async fn history(
    state: web::Data<AppState>,
    name: web::Path<String>,
    params: web::Query<HistoryParams>,
) -> ApiResult {
    find(&state, &name)?;
    let now = crate::unix_ms_now();
    let p = params.into_inner();
    let metric = p.metric.filter(|m| !m.is_empty()).ok_or_else(|| {
        ApiError::BadRequest("metric is required (see .../metrics/series)".into())
    })?;
    let to =
        p.to.as_deref()
            .map_or(Ok(now), |t| parse_time("to", t, now))?;
    let from = p.from.as_deref().map_or(
        Ok(to.saturating_sub(3_600_000).max(crate::time::EARLIEST_MS)),
        |t| parse_time("from", t, now),
    )?;
    let step = match p.step.as_deref() {
        Some(s) => parse_step(s)?,
        // About 300 points, never finer than a second (both times are in range, so
        // the difference cannot overflow).
        None => (to.saturating_sub(from) / 300).max(1000),
    };
    let aggregate = p
        .aggregate
        .as_deref()
        .unwrap_or("avg")
        .parse()
        .map_err(|m| ApiError::BadRequest(format!("agg: {m}")))?;
    let query = crate::store::HistoryQuery {
        cluster: name.clone(),
        metric: metric.clone(),
        member: p.member,
        from_ms: from,
        to_ms: to,
        step_ms: step,
        aggregate,
    };
    let store = state.store.clone();
    let result = web::block(move || crate::store::query::history(&store, &query, now)).await??;
    if result.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no stored series {metric:?} in cluster {:?} (see .../metrics/series)",
            *name
        )));
    }
    ok_sorted(&MetricHistory {
        cluster: &name,
        from,
        to,
        step,
        aggregate,
        series: result,
    })
}

/// `now`, `-1h` (relative to now), unix seconds (`1700000000`, `1700000000.5`) or
/// RFC 3339 (`2026-11-27T10:00:00Z`); between 1970 and 9999, else a 400 naming `field`.
pub(crate) fn parse_time(field: &str, text: &str, now: i64) -> Result<i64, ApiError> {
    let bad = |why: &str| {
        ApiError::BadRequest(format!(
            "{field}={text:?}: {why}; use now, -1h, unix seconds or RFC 3339"
        ))
    };
    let ms = if text == "now" {
        now
    } else if let Some(ago) = text.strip_prefix('-') {
        let d = humantime::parse_duration(ago).map_err(|e| bad(&e.to_string()))?;
        i64::try_from(d.as_millis())
            .ok()
            .and_then(|d| now.checked_sub(d))
            .ok_or_else(|| bad("too far back"))?
    } else if let Ok(secs) = text.parse::<f64>() {
        // `as` saturates (NaN is 0), so only the range check below decides.
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad("not a time"));
        }
        (secs * 1000.0) as i64
    } else {
        humantime::parse_rfc3339_weak(text)
            .map(crate::time::unix_ms)
            .map_err(|e| bad(&e.to_string()))?
    };
    if !crate::time::in_range(ms) {
        return Err(bad("not between 1970 and 9999"));
    }
    Ok(ms)
}

/// The longest step a query may take: a year (the widest tier is an hour).
const MAX_STEP_MS: i64 = 366 * 86_400_000;

/// `30s`, `5m`, `1h`, `500ms`, or plain seconds; 1 ms to a year.
fn parse_step(text: &str) -> Result<i64, ApiError> {
    let bad = |why: String| ApiError::BadRequest(format!("step={text:?}: {why}"));
    let ms = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() => secs * 1000.0,
        Ok(_) => return Err(bad("not a duration".into())),
        Err(_) => humantime::parse_duration(text)
            .map(|d| d.as_millis() as f64)
            .map_err(|e| bad(e.to_string()))?,
    };
    if ms < 1.0 {
        return Err(bad("must be at least 1ms".into()));
    }
    if ms > MAX_STEP_MS as f64 {
        return Err(bad("must be at most a year".into()));
    }
    Ok(ms as i64)
}
