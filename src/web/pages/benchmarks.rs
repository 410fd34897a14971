//! The stored benchmark runs (`GET /benchmarks`), newest first, with the formatting
//! the run and comparison pages share.

use actix_web::web;
use askama::Template;

use super::display::{ms_time, TimeView};
use super::layout::{layout, Layout, Link, Nav};
use super::{ok, urlencode, PageResult};
use crate::bench::history::{self, RunSummary};
use crate::units::{human, Unit};
use crate::web::api::bench::ListParams;
use crate::web::AppState;

/// Width of the bar charts of the run and comparison pages.
pub const CHART_WIDTH: u32 = 720;

pub(super) fn secs(v: Option<f64>) -> String {
    v.map_or("–".into(), |s| human(s, Unit::Seconds))
}

pub(super) fn rate(v: f64) -> String {
    format!("{v:.1}")
}

pub(super) fn change(v: Option<f64>) -> String {
    v.map_or(String::new(), |c| format!("{:+.1}%", c * 100.0))
}

pub(super) fn run_link(id: &str) -> Link {
    Link {
        label: id.to_string(),
        href: format!("/benchmarks/{}", urlencode(id)),
        current: false,
    }
}

/// One row of the list.
pub struct RunRow {
    pub link: Link,
    pub id: String,
    pub started: TimeView,
    pub cluster: String,
    pub source: String,
    pub workload: String,
    pub shape: String,
    pub requests: u64,
    pub errors: u64,
    pub rps: String,
    pub p50: String,
    pub p99: String,
    pub interrupted: bool,
}

impl RunRow {
    fn new(s: &RunSummary) -> Self {
        RunRow {
            link: run_link(&s.id),
            id: s.id.clone(),
            started: ms_time(s.started_unix_ms),
            cluster: s.cluster.clone(),
            source: s.source.clone(),
            workload: s.workload.clone(),
            shape: format!(
                "{} × {}{}",
                s.conns,
                s.clients,
                s.rate.map_or(String::new(), |r| format!(" at {r}/s"))
            ),
            requests: s.requests,
            errors: s.errors,
            rps: rate(s.requests_per_sec),
            p50: secs(s.p50_secs),
            p99: secs(s.p99_secs),
            interrupted: s.interrupted,
        }
    }
}

#[derive(Template)]
#[template(path = "benchmarks.html")]
pub struct BenchmarksPage {
    pub layout: Layout,
    pub rows: Vec<RunRow>,
    pub unreadable: Vec<String>,
    pub cluster: String,
    pub workload: String,
    pub next: Option<String>,
    pub threshold_percent: String,
}

pub async fn benchmarks(state: web::Data<AppState>, q: web::Query<ListParams>) -> PageResult {
    let params = q.into_inner();
    let filter = params.filter()?;
    let (cluster, workload) = (
        filter.cluster.clone().unwrap_or_default(),
        filter.workload.clone().unwrap_or_default(),
    );
    let store = state.store.clone();
    let list_filter = filter.clone();
    let list = web::block(move || history::list(&store, &list_filter)).await??;
    let next = list.next_before.as_ref().map(|b| {
        let mut href = format!("/benchmarks?before={}", urlencode(b));
        if !cluster.is_empty() {
            href.push_str(&format!("&cluster={}", urlencode(&cluster)));
        }
        if !workload.is_empty() {
            href.push_str(&format!("&workload={}", urlencode(&workload)));
        }
        href
    });
    ok(BenchmarksPage {
        layout: layout(&state, "Benchmarks", Nav::Benchmarks, None),
        rows: list.runs.iter().map(RunRow::new).collect(),
        unreadable: list.unreadable,
        cluster,
        workload,
        next,
        threshold_percent: format!("{:.0}%", state.regression_threshold * 100.0),
    })
}
