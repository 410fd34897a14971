//! History API handlers (`/api/v1/clusters/{name}/metrics/series` and `/history`):
//! what the store holds, and queries of it; the time and step syntax pages share.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{find, ApiResult};
use crate::web::{ApiError, AppState};

#[derive(Debug, serde::Deserialize)]
pub struct SeriesParams {
    member: Option<String>,
    #[serde(rename = "match")]
    filter: Option<String>,
}

/// `GET /api/v1/clusters/{name}/metrics/series?member=..&match=..`
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
        .map(|(_, m)| json!({"member": m.member, "name": m.name(), "series": m.series}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "cluster": *name, "series": series })))
}

#[derive(Debug, serde::Deserialize)]
pub struct HistoryParams {
    metric: Option<String>,
    member: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    #[serde(rename = "agg")]
    aggregate: Option<String>,
}

/// `GET /api/v1/clusters/{name}/metrics/history?metric=..&member=..&from=..&to=..&step=..&agg=..`
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
    Ok(HttpResponse::Ok().json(json!({
        "cluster": *name,
        "from": from,
        "to": to,
        "step": step,
        "aggregate": aggregate,
        "series": result,
    })))
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
