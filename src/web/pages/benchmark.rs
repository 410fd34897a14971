//! One stored benchmark run (`GET /benchmarks/{id}`): what was asked, etcd
//! benchmark's report and histogram, the cluster and host it ran on.

use actix_web::web;
use askama::Template;

use super::benchmarks::{rate, secs, CHART_WIDTH};
use super::display::{ms_time, TimeView};
use super::layout::{layout, Layout, Link, Nav};
use super::{ok, urlencode, PageResult};
use crate::bench::history::{self, RunSummary, StoredRun};
use crate::bench::report::BenchReport;
use crate::units::{human, Unit};
use crate::web::chart::{bars, Bar};
use crate::web::AppState;

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
    let (cluster, members) = cluster_facts(&run);
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
        parameters: parameters(&run),
        results: results(r),
        percentiles: percentiles(r),
        histogram_svg: histogram_svg(r),
        errors: r.errors.iter().map(|(m, n)| (m.clone(), *n)).collect(),
        cluster,
        members,
        indicators: indicators(&run),
        host: host(&run),
        notes: notes(&run),
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

/// What was asked: the workload and etcd benchmark's flags.
fn parameters(run: &StoredRun) -> Vec<Fact> {
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
    parameters
}

/// etcd benchmark's summary.
fn results(r: &BenchReport) -> Vec<Fact> {
    let s = &r.summary;
    vec![
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
    ]
}

/// The latency distribution, none for a run without requests.
fn percentiles(r: &BenchReport) -> Vec<Fact> {
    r.percentiles
        .iter()
        .filter(|_| r.summary.requests > 0)
        .map(|p| Fact {
            name: "",
            value: format!("{}%: {}", p.percent, human(p.secs, Unit::Seconds)),
        })
        .collect()
}

/// etcd benchmark's response time histogram as bars.
fn histogram_svg(r: &BenchReport) -> String {
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
    bars(
        "Response time histogram (requests per bucket)",
        &histogram,
        CHART_WIDTH,
    )
}

/// The cluster as it was before the run, and one line per member.
fn cluster_facts(run: &StoredRun) -> (Vec<Fact>, Vec<String>) {
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
    (cluster, members)
}

/// What the members' metrics said during the run.
fn indicators(run: &StoredRun) -> Vec<Fact> {
    let i = &run.indicators;
    vec![
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
    ]
}

/// Where the load came from.
fn host(run: &StoredRun) -> Vec<Fact> {
    let h = &run.host;
    vec![
        fact("host", h.hostname.clone()),
        fact("system", format!("{} {}, {} CPUs", h.os, h.arch, h.cpus)),
        fact("etcd-monitor", h.monitor_version.clone()),
    ]
}

/// What could not be observed, and how latencies were counted.
fn notes(run: &StoredRun) -> Vec<String> {
    let mut notes: Vec<String> = run
        .facts
        .errors
        .iter()
        .chain(&run.indicators.errors)
        .cloned()
        .collect();
    if run.report.corrected_for_coordinated_omission {
        notes.insert(
            0,
            "Latencies count from each request's scheduled start (corrected for coordinated omission).".into(),
        );
    }
    notes
}
