//! A comparison of stored runs (`GET /benchmarks/compare`): throughput and latency
//! against the first, regressions past the threshold.

use actix_web::web;
use askama::Template;

use super::benchmarks::{change, rate, run_link, secs, CHART_WIDTH};
use super::display::{ms_time, TimeView};
use super::layout::{layout, Badge, Layout, Link, Nav};
use super::{ok, urlencode, PageResult};
use crate::bench::history::ComparedRun;
use crate::web::api::bench::CompareParams;
use crate::web::chart::{bars, Bar};
use crate::web::AppState;

/// One run of a comparison.
pub struct ComparedRow {
    pub link: Link,
    pub started: TimeView,
    pub workload: String,
    pub rps: String,
    pub rps_change: String,
    pub p50: String,
    pub p50_change: String,
    pub p99: String,
    pub p99_change: String,
    pub fsync_p99: String,
    pub commit_p99: String,
    pub leader_changes: String,
    pub regressions: Vec<Badge>,
    pub differences: Vec<String>,
    pub baseline: bool,
}

impl ComparedRow {
    fn new(c: &ComparedRun, baseline: bool) -> Self {
        let s = &c.summary;
        ComparedRow {
            link: run_link(&s.id),
            started: ms_time(s.started_unix_ms),
            workload: s.workload.clone(),
            rps: rate(s.requests_per_sec),
            rps_change: change(c.requests_per_sec_change),
            p50: secs(s.p50_secs),
            p50_change: change(c.p50_change),
            p99: secs(s.p99_secs),
            p99_change: change(c.p99_change),
            fsync_p99: secs(c.indicators.wal_fsync_p99_seconds),
            commit_p99: secs(c.indicators.backend_commit_p99_seconds),
            leader_changes: c
                .indicators
                .leader_changes
                .map_or("–".into(), |v| v.to_string()),
            regressions: c
                .regressions
                .iter()
                .map(|r| Badge {
                    label: r.clone(),
                    class: "bad",
                })
                .collect(),
            differences: c.differences.clone(),
            baseline,
        }
    }
}

#[derive(Template)]
#[template(path = "benchmark_compare.html")]
pub struct ComparePage {
    pub layout: Layout,
    pub rows: Vec<ComparedRow>,
    pub regressions: usize,
    pub threshold_percent: String,
    pub throughput_svg: String,
    pub p99_svg: String,
    pub json_href: String,
}

pub async fn benchmark_comparison(
    state: web::Data<AppState>,
    q: web::Query<Vec<(String, String)>>,
) -> PageResult {
    let params = CompareParams::parse(&q)?;
    let json_href = format!(
        "/api/v1/benchmarks/compare?ids={}{}",
        params
            .ids
            .iter()
            .map(|i| urlencode(i))
            .collect::<Vec<_>>()
            .join(","),
        params
            .threshold
            .map_or(String::new(), |t| format!("&threshold={t}"))
    );
    let store = state.store.clone();
    let threshold = state.regression_threshold;
    let comparison = web::block(move || params.compare(&store, threshold)).await??;
    let class = |c: &ComparedRun, i: usize| {
        if !c.regressions.is_empty() {
            "bad"
        } else if i == 0 {
            "s1"
        } else {
            "s0"
        }
    };
    let throughput: Vec<Bar> = comparison
        .runs
        .iter()
        .enumerate()
        .map(|(i, c)| Bar {
            label: c.summary.id.clone(),
            value: c.summary.requests_per_sec,
            text: format!(
                "{}/s {}",
                rate(c.summary.requests_per_sec),
                change(c.requests_per_sec_change)
            ),
            class: class(c, i),
        })
        .collect();
    let p99: Vec<Bar> = comparison
        .runs
        .iter()
        .enumerate()
        .map(|(i, c)| Bar {
            label: c.summary.id.clone(),
            value: c.summary.p99_secs.unwrap_or(0.0),
            text: format!("{} {}", secs(c.summary.p99_secs), change(c.p99_change)),
            class: class(c, i),
        })
        .collect();
    ok(ComparePage {
        layout: layout(&state, "Benchmark comparison", Nav::Benchmarks, None),
        rows: comparison
            .runs
            .iter()
            .enumerate()
            .map(|(i, c)| ComparedRow::new(c, i == 0))
            .collect(),
        regressions: comparison.regressions,
        threshold_percent: format!("{:.0}%", comparison.threshold * 100.0),
        throughput_svg: bars("Requests per second", &throughput, CHART_WIDTH),
        p99_svg: bars("p99 latency", &p99, CHART_WIDTH),
        json_href,
    })
}
