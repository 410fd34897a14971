//! Clusters side by side (`GET /compare?cluster=a&cluster=b`): their key figures
//! in one table, the one that stands out marked, and their history overlaid, one
//! line per cluster, over a chosen range.

use actix_web::{web, HttpRequest};
use askama::Template;

use super::charts::{chart_step, indicator, CHART_WIDTH};
use super::display::{dash, db_usage, StatusView};
use super::layout::{layout, Layout, Nav};
use super::range::{RangeParams, RangePicker, TimeRange};
use super::{bad_request, ok, urlencode, PageError, PageResult};
use crate::collect::figures::{combine_points, odd_ones, outlier, Figure, FIGURES};
use crate::collect::snapshot::ClusterSnapshot;
use crate::store::query::{self, HistoryQuery};
use crate::units::human;
use crate::web::chart::{self, ChartSeries, ChartSpec};
use crate::web::AppState;

/// Most clusters shown side by side: the charts have this many colours, and more
/// lines than colours could not be told apart.
pub const MAX_COMPARED: usize = 6;
const CHART_HEIGHT: u32 = 200;

/// `GET /compare`: the clusters named by `cluster` (repeated), with `range` or
/// `from` and `to` for the charts.
pub async fn compare_clusters(
    state: web::Data<AppState>,
    req: HttpRequest,
    range: web::Query<RangeParams>,
) -> PageResult {
    let now = crate::unix_ms_now();
    let range = range.resolve(now)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| bad_request(format!("the query: {e}")))?;
    let mut names: Vec<String> = Vec::new();
    for (k, v) in pairs {
        if k == "cluster" && !v.trim().is_empty() && !names.contains(&v) {
            names.push(v);
        }
    }
    if names.len() > MAX_COMPARED {
        return Err(bad_request(format!(
            "cluster: at most {MAX_COMPARED} clusters side by side, {} asked for",
            names.len()
        )));
    }
    let mut chosen = Vec::new();
    for n in &names {
        match state.board.get(n) {
            Some(c) => chosen.push(c),
            None => {
                return Err(bad_request(format!(
                    "cluster: {:?} is not monitored",
                    crate::text::truncate(n, 100)
                )))
            }
        }
    }
    let query: Vec<String> = names
        .iter()
        .map(|n| format!("cluster={}", urlencode(n)))
        .collect();
    let base = format!("/compare?{}", query.join("&"));
    let picker = RangePicker::new(&base, &range).keeping(
        &names
            .iter()
            .map(|n| ("cluster", n.clone()))
            .collect::<Vec<_>>(),
    );
    let state2 = state.clone();
    let names2 = names.clone();
    let range2 = range.clone();
    let charts = if names.is_empty() {
        Vec::new()
    } else {
        web::block(move || -> Result<Vec<String>, PageError> {
            FIGURES
                .iter()
                .map(|f| overlaid_chart(&state2, f, &names2, &range2, now))
                .collect()
        })
        .await??
    };
    let all_names: Vec<String> = state.board.names();
    ok(CompareClustersPage {
        layout: layout(&state, "Clusters side by side", Nav::Overview, None),
        columns: chosen
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                href: format!("/clusters/{}", urlencode(&c.name)),
                status: StatusView::of(c.status),
            })
            .collect(),
        rows: figure_rows(&chosen),
        charts,
        choices: all_names
            .iter()
            .map(|n| (n.clone(), names.contains(n)))
            .collect(),
        range_hidden: range_query(&range),
        picker,
        max: MAX_COMPARED,
    })
}

/// The range as query parameters, for the form that changes the clusters.
fn range_query(r: &TimeRange) -> Vec<(String, String)> {
    match r.preset {
        Some(p) => vec![("range".into(), p.into())],
        None => vec![
            ("from".into(), crate::time::rfc3339_seconds(r.from_ms)),
            ("to".into(), crate::time::rfc3339_seconds(r.to_ms)),
        ],
    }
}

/// One chart: `figure` over `range`, one line per cluster, its members combined.
fn overlaid_chart(
    state: &AppState,
    figure: &Figure,
    clusters: &[String],
    range: &TimeRange,
    now: i64,
) -> Result<String, PageError> {
    let step = chart_step(range, CHART_WIDTH, state.interval_ms);
    let mut series = Vec::new();
    for name in clusters {
        let q = HistoryQuery {
            cluster: name.clone(),
            metric: indicator(figure.charted),
            member: None,
            from_ms: range.from_ms,
            to_ms: range.to_ms,
            step_ms: step,
            aggregate: figure.aggregate,
        };
        let members: Vec<Vec<(i64, f64)>> = query::history(&state.store, &q, now)?
            .into_iter()
            .map(|s| s.points)
            .collect();
        series.push(ChartSeries {
            label: name.clone(),
            points: combine_points(&members, figure.combine),
        });
    }
    let title = if figure.charted == figure.indicator {
        figure.title.to_string()
    } else {
        format!("{} (per interval)", figure.title)
    };
    let spec = ChartSpec {
        title: &title,
        unit: figure.unit,
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        step_ms: step,
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
    };
    Ok(chart::render(&spec, &series))
}

/// The table's rows: what each cluster is, then its key figures, with the cell
/// that stands out marked.
fn figure_rows(clusters: &[std::sync::Arc<ClusterSnapshot>]) -> Vec<FigureRow> {
    let plain = |title: &str, texts: Vec<String>, odd: Vec<usize>| FigureRow {
        title: title.to_string(),
        cells: texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| Cell {
                text,
                class: if odd.contains(&i) { "outlier" } else { "" },
            })
            .collect(),
    };
    let versions: Vec<String> = clusters
        .iter()
        .map(|c| {
            let v = c.versions();
            if v.is_empty() {
                dash()
            } else {
                v.join(", ")
            }
        })
        .collect();
    let members: Vec<String> = clusters
        .iter()
        .map(|c| format!("{} of {} up", c.members_reachable(), c.members.len()))
        .collect();
    let mut rows = vec![
        plain("etcd version", versions.clone(), odd_ones(&versions)),
        plain("Members", members.clone(), odd_ones(&members)),
        plain(
            "Leader",
            clusters
                .iter()
                .map(|c| {
                    c.leader.as_ref().map_or_else(
                        || "no leader".into(),
                        |l| format!("{} (term {})", l.name, c.raft_term.unwrap_or(0)),
                    )
                })
                .collect(),
            clusters
                .iter()
                .enumerate()
                .filter(|(_, c)| c.leader.is_none())
                .map(|(i, _)| i)
                .collect(),
        ),
        plain(
            "DB size vs quota",
            clusters.iter().map(|c| db_usage(c).0).collect(),
            Vec::new(),
        ),
        plain(
            "Alarms",
            clusters
                .iter()
                .map(|c| {
                    if c.alarms.is_empty() {
                        "none".to_string()
                    } else {
                        c.alarms
                            .iter()
                            .map(|a| a.alarm.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                })
                .collect(),
            clusters
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.alarms.is_empty())
                .map(|(i, _)| i)
                .collect(),
        ),
    ];
    for f in &FIGURES {
        let values: Vec<Option<f64>> = clusters.iter().map(|c| f.of(c)).collect();
        let odd: Vec<usize> = outlier(&values).into_iter().collect();
        rows.push(plain(
            f.title,
            values
                .iter()
                .map(|v| v.map_or_else(dash, |v| human(v, f.unit)))
                .collect(),
            odd,
        ));
    }
    rows
}

/// A cluster's column head.
pub struct Column {
    pub name: String,
    pub href: String,
    pub status: StatusView,
}

pub struct FigureRow {
    pub title: String,
    pub cells: Vec<Cell>,
}

pub struct Cell {
    pub text: String,
    /// `outlier` for the one that stands out.
    pub class: &'static str,
}

#[derive(Template)]
#[template(path = "compare_clusters.html")]
pub struct CompareClustersPage {
    pub layout: Layout,
    pub columns: Vec<Column>,
    pub rows: Vec<FigureRow>,
    /// SVG, escaped by the chart module.
    pub charts: Vec<String>,
    /// Every monitored cluster, and whether it is chosen: the form's check boxes.
    pub choices: Vec<(String, bool)>,
    /// The range, sent again by the choice form.
    pub range_hidden: Vec<(String, String)>,
    pub picker: RangePicker,
    pub max: usize,
}
