//! Benchmark pages: the stored runs (`/benchmarks`), one run with its histogram
//! (`/benchmarks/{id}`) and a comparison of two or more (`/benchmarks/compare`).

use actix_web::web;
use askama::Template;

use super::alerts::layout;
use super::views::{ms_time, Badge, Layout, Link, Nav, TimeView};
use super::{ok, urlencode, PageResult};
use crate::bench::history::{self, ComparedRun, RunSummary, StoredRun};
use crate::units::{human, Unit};
use crate::web::bench::{CompareParams, ListParams};
use crate::web::chart::{bars, Bar};
use crate::web::AppState;

const CHART_WIDTH: u32 = 720;

fn secs(v: Option<f64>) -> String {
    v.map_or("–".into(), |s| human(s, Unit::Seconds))
}

fn rate(v: f64) -> String {
    format!("{v:.1}")
}

fn change(v: Option<f64>) -> String {
    v.map_or(String::new(), |c| format!("{:+.1}%", c * 100.0))
}

fn run_link(id: &str) -> Link {
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

/// A label and its value, for the definition lists of one run.
pub struct Fact {
    pub name: &'static str,
    pub value: String,
}

fn fact(name: &'static str, value: impl Into<String>) -> Fact {
    Fact {
        name,
        value: value.into(),
    }
}

#[derive(Template)]
#[template(path = "benchmark.html")]
pub struct BenchmarkPage {
    pub layout: Layout,
    pub id: String,
    pub json_href: String,
    pub started: TimeView,
    pub interrupted: bool,
    pub parameters: Vec<Fact>,
    pub results: Vec<Fact>,
    pub percentiles: Vec<Fact>,
    pub histogram_svg: String,
    pub errors: Vec<(String, u64)>,
    pub cluster: Vec<Fact>,
    pub members: Vec<String>,
    pub indicators: Vec<Fact>,
    pub host: Vec<Fact>,
    pub notes: Vec<String>,
    /// The previous run of the same workload on the same cluster, to compare with.
    pub compare_previous: Option<Link>,
}

pub async fn benchmark(state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let id = id.into_inner();
    let store = state.store.clone();
    let lookup = id.clone();
    let (run, previous) = web::block(move || {
        let run = history::get(&store, &lookup)?;
        let previous = history::list(
            &store,
            &history::RunFilter {
                cluster: Some(run.cluster.clone()),
                workload: Some(run.report.spec.workload.name().to_string()),
                before: Some(run.id.clone()),
                limit: 1,
            },
        )?
        .runs
        .into_iter()
        .next();
        Ok::<_, history::HistoryError>((run, previous))
    })
    .await??;
    ok(benchmark_page(&state, run, previous))
}

fn benchmark_page(state: &AppState, run: StoredRun, previous: Option<RunSummary>) -> BenchmarkPage {
    let r = &run.report;
    let spec = &r.spec;
    let mut parameters = vec![
        fact("workload", format!("{:?}", spec.workload)),
        fact("connections", spec.conns.to_string()),
        fact("clients", spec.clients.to_string()),
        fact(
            "requests",
            spec.total_limit()
                .map_or("until the duration ends".into(), |t| t.to_string()),
        ),
    ];
    if let Some(d) = spec.duration {
        parameters.push(fact("duration", humantime::format_duration(d).to_string()));
    }
    if let Some(rt) = spec.rate {
        parameters.push(fact("rate", format!("{rt} requests/s")));
    }
    parameters.extend([
        fact("key size", format!("{} B", spec.key_size)),
        fact("value size", format!("{} B", spec.val_size)),
        fact("key space", spec.key_space_size.to_string()),
        fact(
            "keys",
            if spec.sequential_keys {
                "sequential"
            } else {
                "random"
            },
        ),
        fact(
            "target",
            if spec.target_leader {
                "the leader only"
            } else {
                "all endpoints, round-robin"
            },
        ),
        fact("prefix", r.prefix.clone()),
        fact("source", run.source.to_string()),
    ]);
    let s = &r.summary;
    let results = vec![
        fact("requests/s", rate(s.requests_per_sec)),
        fact("requests", s.requests.to_string()),
        fact("failed", s.errors.to_string()),
        fact("total", human(s.total_secs, Unit::Seconds)),
        fact("average", human(s.average_secs, Unit::Seconds)),
        fact("stddev", human(s.stddev_secs, Unit::Seconds)),
        fact("fastest", human(s.fastest_secs, Unit::Seconds)),
        fact("slowest", human(s.slowest_secs, Unit::Seconds)),
        fact(
            "revision",
            format!(
                "{} -> {}",
                r.cluster.revision_before, r.cluster.revision_after
            ),
        ),
        fact("keys deleted after", r.keys_deleted.to_string()),
    ];
    let percentiles = r
        .percentiles
        .iter()
        .filter(|_| s.requests > 0)
        .map(|p| Fact {
            name: "",
            value: format!("{}%: {}", p.percent, human(p.secs, Unit::Seconds)),
        })
        .collect();
    let histogram: Vec<Bar> = r
        .histogram
        .iter()
        .map(|b| Bar {
            label: format!("≤ {}", human(b.mark_secs, Unit::Seconds)),
            value: b.count as f64,
            text: b.count.to_string(),
            class: "s0",
        })
        .collect();
    let f = &run.facts;
    let cluster = vec![
        fact("name", run.cluster.clone()),
        fact(
            "cluster id",
            f.cluster_id.clone().unwrap_or_else(|| "–".into()),
        ),
        fact(
            "etcd version",
            f.version.clone().unwrap_or_else(|| "–".into()),
        ),
        fact("leader", f.leader.clone().unwrap_or_else(|| "–".into())),
        fact(
            "DB size",
            f.db_size_bytes
                .map_or("–".into(), |b| human(b as f64, Unit::Bytes)),
        ),
    ];
    let members = f
        .members
        .iter()
        .map(|m| {
            format!(
                "{} ({}){}{} {} {}",
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    &m.name
                },
                m.id,
                if m.is_leader { " leader" } else { "" },
                if m.learner { " learner" } else { "" },
                m.version.as_deref().unwrap_or("unreachable"),
                m.endpoint.as_deref().unwrap_or(""),
            )
        })
        .collect();
    let i = &run.indicators;
    let indicators = vec![
        fact("WAL fsync p99", secs(i.wal_fsync_p99_seconds)),
        fact("backend commit p99", secs(i.backend_commit_p99_seconds)),
        fact(
            "leader changes",
            i.leader_changes.map_or("–".into(), |v| v.to_string()),
        ),
        fact(
            "failed proposals",
            i.proposals_failed.map_or("–".into(), |v| v.to_string()),
        ),
        fact("members observed", i.members_observed.to_string()),
    ];
    let h = &run.host;
    let host = vec![
        fact("host", h.hostname.clone()),
        fact("system", format!("{} {}, {} CPUs", h.os, h.arch, h.cpus)),
        fact("etcd-monitor", h.monitor_version.clone()),
    ];
    let mut notes: Vec<String> = f.errors.iter().chain(&i.errors).cloned().collect();
    if r.corrected_for_coordinated_omission {
        notes.insert(
            0,
            "Latencies count from each request's scheduled start (corrected for coordinated omission).".into(),
        );
    }
    BenchmarkPage {
        layout: layout(
            state,
            &format!("Benchmark {}", run.id),
            Nav::Benchmarks,
            None,
        ),
        json_href: format!("/api/v1/benchmarks/{}", urlencode(&run.id)),
        started: ms_time(r.started_unix_ms),
        interrupted: r.interrupted,
        parameters,
        results,
        percentiles,
        histogram_svg: bars(
            "Response time histogram (requests per bucket)",
            &histogram,
            CHART_WIDTH,
        ),
        errors: r.errors.iter().map(|(m, n)| (m.clone(), *n)).collect(),
        cluster,
        members,
        indicators,
        host,
        notes,
        compare_previous: previous.map(|p| Link {
            label: format!(
                "compare with the previous {} run on {} ({})",
                p.workload, p.cluster, p.id
            ),
            href: format!(
                "/benchmarks/compare?a={}&b={}",
                urlencode(&p.id),
                urlencode(&run.id)
            ),
            current: false,
        }),
        id: run.id,
    }
}

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
