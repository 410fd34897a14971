//! The history charts of the cluster, member and explorer pages: which indicators
//! are drawn, at which step, and how a store query becomes an SVG chart.

use super::range::TimeRange;
use super::PageError;
use crate::store::query::{self, Aggregate, HistoryQuery};
use crate::units::Unit;
use crate::web::chart::{self, ChartSeries, ChartSpec};
use crate::web::AppState;

/// Width of a chart in SVG units; history is asked for at about one point per unit.
pub const CHART_WIDTH: u32 = 600;
const CHART_HEIGHT: u32 = 200;
pub const SPARK_WIDTH: u32 = 120;
pub const SPARK_HEIGHT: u32 = 24;

/// What one chart of a cluster or member page shows.
pub struct ChartDef {
    pub title: &'static str,
    /// An indicator, stored as `etcd_monitor:<field>`.
    pub indicator: &'static str,
    pub unit: Unit,
    /// How points within one pixel's width are combined: the worst for latencies.
    pub aggregate: Aggregate,
}

pub const CLUSTER_CHARTS: [ChartDef; 10] = [
    ChartDef {
        title: "WAL fsync p99",
        indicator: "wal_fsync_p99_seconds",
        unit: Unit::Seconds,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "Backend commit p99",
        indicator: "backend_commit_p99_seconds",
        unit: Unit::Seconds,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "Peer round trip p99",
        indicator: "peer_rtt_p99_seconds",
        unit: Unit::Seconds,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "Proposals committed",
        indicator: "proposals_committed_per_second",
        unit: Unit::PerSecond,
        aggregate: Aggregate::Avg,
    },
    ChartDef {
        title: "Leader changes (per interval)",
        indicator: "leader_changes_in_interval",
        unit: Unit::Count,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "gRPC requests",
        indicator: "grpc_requests_per_second",
        unit: Unit::PerSecond,
        aggregate: Aggregate::Avg,
    },
    ChartDef {
        title: "gRPC failed requests",
        indicator: "grpc_failed_per_second",
        unit: Unit::PerSecond,
        aggregate: Aggregate::Avg,
    },
    ChartDef {
        title: "DB size",
        indicator: "db_size_bytes",
        unit: Unit::Bytes,
        aggregate: Aggregate::Max,
    },
    ChartDef {
        title: "CPU (share of one core)",
        indicator: "cpu_cores",
        unit: Unit::Ratio,
        aggregate: Aggregate::Avg,
    },
    ChartDef {
        title: "Resident memory",
        indicator: "resident_memory_bytes",
        unit: Unit::Bytes,
        aggregate: Aggregate::Max,
    },
];

/// The step for a chart: about one point per pixel, never finer than the probe
/// interval (finer would show every sample as a gap).
pub fn chart_step(range: &TimeRange, width: u32, interval_ms: i64) -> i64 {
    ((range.to_ms - range.from_ms) / i64::from(width)).max(interval_ms.max(1000))
}

/// The explorer's one chart is wider; it draws at most this many series.
pub const EXPLORE_WIDTH: u32 = 1000;
pub const MAX_SERIES: usize = 24;

/// One chart: `metric` for every member of `cluster`, or for one member.
pub struct ChartQuery<'a> {
    pub cluster: &'a str,
    pub member: Option<&'a str>,
    pub metric: &'a str,
    pub title: &'a str,
    pub unit: Unit,
    pub aggregate: Aggregate,
    pub width: u32,
    /// Events drawn across the chart.
    pub markers: &'a [chart::Marker],
}

impl<'a> ChartQuery<'a> {
    pub fn of(
        def: &'a ChartDef,
        metric: &'a str,
        cluster: &'a str,
        member: Option<&'a str>,
    ) -> Self {
        ChartQuery {
            cluster,
            member,
            metric,
            title: def.title,
            unit: def.unit,
            aggregate: def.aggregate,
            width: CHART_WIDTH,
            markers: &[],
        }
    }
}

pub fn history_chart(
    state: &AppState,
    c: &ChartQuery,
    range: &TimeRange,
    now: i64,
) -> Result<String, PageError> {
    let step = chart_step(range, c.width, state.interval_ms);
    let q = HistoryQuery {
        cluster: c.cluster.to_string(),
        metric: c.metric.to_string(),
        member: c.member.map(str::to_string),
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        step_ms: step,
        aggregate: c.aggregate,
    };
    let found = query::history(&state.store, &q, now)?;
    let total = found.len();
    let series: Vec<ChartSeries> = found
        .into_iter()
        .take(MAX_SERIES)
        .map(|s| {
            // Members tell lines apart; label sets too when the metric has several.
            let labels = s.series.find('{').map(|i| &s.series[i..]).unwrap_or("");
            let label = match (c.member.is_some(), labels.is_empty()) {
                (true, true) => s.member,
                (true, false) => labels.to_string(),
                (false, true) => s.member,
                (false, false) => format!("{} {labels}", s.member),
            };
            ChartSeries {
                label,
                points: s.points,
            }
        })
        .collect();
    let title = if total > MAX_SERIES {
        format!(
            "{} (first {MAX_SERIES} of {total} series: pick a member or a full series)",
            c.title
        )
    } else {
        c.title.to_string()
    };
    let spec = ChartSpec {
        title: &title,
        unit: c.unit,
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        step_ms: step,
        width: c.width,
        height: CHART_HEIGHT,
    };
    Ok(chart::render_marked(&spec, &series, c.markers))
}

/// The unit a metric's name says it has (Prometheus naming: `_seconds`, `_bytes`).
pub fn unit_for(metric: &str, aggregate: Aggregate) -> Unit {
    let name = metric.split('{').next().unwrap_or(metric);
    let base = name
        .trim_end_matches("_total")
        .trim_end_matches("_sum")
        .trim_end_matches("_bucket")
        .trim_end_matches("_count");
    if aggregate == Aggregate::Rate {
        if base.ends_with("_bytes") {
            return Unit::BytesPerSecond;
        }
        return Unit::PerSecond;
    }
    if base.ends_with("_per_second") {
        Unit::PerSecond
    } else if base.ends_with("_seconds") && !name.ends_with("_count") && !name.ends_with("_bucket")
    {
        Unit::Seconds
    } else if base.ends_with("_bytes") && !name.ends_with("_count") && !name.ends_with("_bucket") {
        Unit::Bytes
    } else if base.ends_with("_ratio") {
        Unit::Ratio
    } else {
        Unit::Count
    }
}

pub fn indicator(name: &str) -> String {
    format!("{}{name}", crate::collect::probe::INDICATOR_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_metric_names() {
        assert!(matches!(
            unit_for("etcd_disk_wal_fsync_duration_seconds_sum", Aggregate::Avg),
            Unit::Seconds
        ));
        assert!(matches!(
            unit_for("etcd_mvcc_db_total_size_in_bytes", Aggregate::Max),
            Unit::Bytes
        ));
        assert!(matches!(
            unit_for("etcd_network_client_grpc_sent_bytes_total", Aggregate::Rate),
            Unit::BytesPerSecond
        ));
        assert!(matches!(
            unit_for(
                "etcd_disk_wal_fsync_duration_seconds_count",
                Aggregate::Last
            ),
            Unit::Count
        ));
        assert!(matches!(
            unit_for("etcd_monitor:grpc_requests_per_second", Aggregate::Avg),
            Unit::PerSecond
        ));
    }
}
