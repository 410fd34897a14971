//! The metrics explorer (`GET /explore`): any stored series of any cluster, charted.

use actix_web::web;
use askama::Template;

use super::charts::{history_chart, unit_for, ChartQuery, EXPLORE_WIDTH};
use super::layout::{layout, Layout, Nav, SelectOption};
use super::range::{RangeParams, RangePicker};
use super::{find, ok, urlencode, PageError, PageResult};
use crate::store::query::Aggregate;
use crate::web::{ApiError, AppState};

#[derive(Debug, serde::Deserialize, Default)]
pub struct ExploreParams {
    cluster: Option<String>,
    metric: Option<String>,
    member: Option<String>,
    agg: Option<String>,
    #[serde(flatten)]
    range: RangeParams,
}

/// `GET /explore`: any stored series.
pub async fn explore(state: web::Data<AppState>, params: web::Query<ExploreParams>) -> PageResult {
    let now = crate::unix_ms_now();
    let p = params.into_inner();
    let names: Vec<String> = state.board.names();
    let cluster = p
        .cluster
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| names.first().cloned());
    let range = p.range.resolve(now)?;
    let aggregate: Aggregate = p
        .agg
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("avg")
        .parse()
        .map_err(|m: String| PageError(ApiError::BadRequest(format!("agg: {m}"))))?;
    let member = p.member.clone().filter(|m| !m.is_empty());
    let metric = p.metric.clone().filter(|m| !m.is_empty());
    let mut members = Vec::new();
    let mut metrics = Vec::new();
    if let Some(c) = &cluster {
        let snap = find(&state, c)?;
        members = snap.members.iter().map(|m| m.name.clone()).collect();
        if let Some(m) = &member {
            if !members.contains(m) {
                return Err(PageError(ApiError::BadRequest(format!(
                    "member={m:?}: cluster {c:?} has no such member"
                ))));
            }
        }
        let mut seen: Vec<String> = state
            .store
            .list_series(c, None, None)
            .into_iter()
            .map(|(_, m)| m.name().to_string())
            .collect();
        seen.sort();
        seen.dedup();
        metrics = seen;
    }
    let mut chart = None;
    let mut message = None;
    if let (Some(c), Some(metric)) = (&cluster, &metric) {
        let (state2, c2, metric2, member2, range2) = (
            state.clone(),
            c.clone(),
            metric.clone(),
            member.clone(),
            range.clone(),
        );
        let svg = web::block(move || {
            let q = ChartQuery {
                cluster: &c2,
                member: member2.as_deref(),
                metric: &metric2,
                title: &metric2,
                unit: unit_for(&metric2, aggregate),
                aggregate,
                width: EXPLORE_WIDTH,
                markers: &[],
            };
            history_chart(&state2, &q, &range2, now)
        })
        .await?;
        match svg {
            Ok(svg) => chart = Some(svg),
            Err(PageError(ApiError::BadRequest(m))) => {
                return Err(PageError(ApiError::BadRequest(m)))
            }
            Err(e) => return Err(e),
        }
        if !metrics.iter().any(|m| m == metric) && !metric.contains('{') {
            message = Some(format!(
                "No stored series is named {metric:?} in {c:?}; pick one from the list."
            ));
        }
    }
    let mut keep: Vec<(&str, String)> = Vec::new();
    for (key, value) in [
        ("cluster", cluster.clone()),
        ("metric", metric.clone()),
        ("member", member.clone()),
        ("agg", p.agg.clone()),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            keep.push((key, v));
        }
    }
    let base = format!(
        "/explore?{}",
        keep.iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&")
    );
    let aggregate_name = p.agg.unwrap_or_default();
    ok(ExplorePage {
        layout: layout(&state, "Metrics explorer", Nav::Explore, None),
        clusters: SelectOption::list(
            names.iter().map(String::as_str),
            cluster.as_deref().unwrap_or(""),
        ),
        metric: metric.unwrap_or_default(),
        members: SelectOption::list(
            members.iter().map(String::as_str),
            member.as_deref().unwrap_or(""),
        ),
        metrics,
        aggregates: SelectOption::list(
            ["avg", "min", "max", "last", "rate"],
            if aggregate_name.is_empty() {
                "avg"
            } else {
                &aggregate_name
            },
        ),
        picker: RangePicker::new(&base, &range).keeping(&keep),
        chart,
        message,
    })
}

#[derive(Template)]
#[template(path = "explore.html")]
pub struct ExplorePage {
    pub layout: Layout,
    pub clusters: Vec<SelectOption>,
    pub metric: String,
    pub members: Vec<SelectOption>,
    pub metrics: Vec<String>,
    pub aggregates: Vec<SelectOption>,
    pub picker: RangePicker,
    pub chart: Option<String>,
    pub message: Option<String>,
}
