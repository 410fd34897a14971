//! A cluster's key figures, one number each, for putting clusters side by side:
//! the members' indicators combined (the worst member where one member can be
//! worst, the sum where members add up), and which cluster stands out.

use super::derive::Indicators;
use super::snapshot::ClusterSnapshot;
use crate::store::query::Aggregate;
use crate::units::Unit;

/// How the members' values of one indicator make the cluster's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The worst member: latencies, sizes, and figures every member reports alike
    /// (proposals committed).
    Max,
    /// Members add up: requests served, failures.
    Sum,
}

impl Combine {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Combine::Max => a.max(b),
            Combine::Sum => a + b,
        }
    }
}

/// One key figure of a cluster.
pub struct Figure {
    pub title: &'static str,
    /// The indicator's field, stored as `etcd_monitor:<field>`.
    pub indicator: &'static str,
    /// The indicator drawn over time, when it is not `indicator` itself (a
    /// counter's total says little on a chart; its increase per interval does).
    pub charted: &'static str,
    pub unit: Unit,
    pub combine: Combine,
    /// How a chart combines the points within one step.
    pub aggregate: Aggregate,
    get: fn(&Indicators) -> Option<f64>,
}

/// The figures compared, in the order shown.
pub const FIGURES: [Figure; 10] = [
    Figure {
        title: "WAL fsync p99",
        indicator: "wal_fsync_p99_seconds",
        charted: "wal_fsync_p99_seconds",
        unit: Unit::Seconds,
        combine: Combine::Max,
        aggregate: Aggregate::Max,
        get: |i| i.wal_fsync_p99_seconds,
    },
    Figure {
        title: "Backend commit p99",
        indicator: "backend_commit_p99_seconds",
        charted: "backend_commit_p99_seconds",
        unit: Unit::Seconds,
        combine: Combine::Max,
        aggregate: Aggregate::Max,
        get: |i| i.backend_commit_p99_seconds,
    },
    Figure {
        title: "Peer round trip p99",
        indicator: "peer_rtt_p99_seconds",
        charted: "peer_rtt_p99_seconds",
        unit: Unit::Seconds,
        combine: Combine::Max,
        aggregate: Aggregate::Max,
        get: |i| i.peer_rtt_p99_seconds,
    },
    Figure {
        title: "Proposals committed",
        indicator: "proposals_committed_per_second",
        charted: "proposals_committed_per_second",
        unit: Unit::PerSecond,
        combine: Combine::Max,
        aggregate: Aggregate::Avg,
        get: |i| i.proposals_committed_per_second,
    },
    Figure {
        title: "Leader changes seen",
        indicator: "leader_changes_total",
        charted: "leader_changes_in_interval",
        unit: Unit::Count,
        combine: Combine::Max,
        aggregate: Aggregate::Max,
        get: |i| i.leader_changes_total,
    },
    Figure {
        title: "gRPC requests",
        indicator: "grpc_requests_per_second",
        charted: "grpc_requests_per_second",
        unit: Unit::PerSecond,
        combine: Combine::Sum,
        aggregate: Aggregate::Avg,
        get: |i| i.grpc_requests_per_second,
    },
    Figure {
        title: "gRPC failed requests",
        indicator: "grpc_failed_per_second",
        charted: "grpc_failed_per_second",
        unit: Unit::PerSecond,
        combine: Combine::Sum,
        aggregate: Aggregate::Avg,
        get: |i| i.grpc_failed_per_second,
    },
    Figure {
        title: "DB size",
        indicator: "db_size_bytes",
        charted: "db_size_bytes",
        unit: Unit::Bytes,
        combine: Combine::Max,
        aggregate: Aggregate::Max,
        get: |i| i.db_size_bytes,
    },
    Figure {
        title: "DB size / quota",
        indicator: "quota_usage_ratio",
        charted: "quota_usage_ratio",
        unit: Unit::Ratio,
        combine: Combine::Max,
        aggregate: Aggregate::Max,
        get: |i| i.quota_usage_ratio,
    },
    Figure {
        title: "Resident memory",
        indicator: "resident_memory_bytes",
        charted: "resident_memory_bytes",
        unit: Unit::Bytes,
        combine: Combine::Max,
        aggregate: Aggregate::Max,
        get: |i| i.resident_memory_bytes,
    },
];

impl Figure {
    /// The cluster's value from its members' last indicators; None when no member
    /// had one (unreachable, or `/metrics` not read).
    pub fn of(&self, c: &ClusterSnapshot) -> Option<f64> {
        c.members
            .iter()
            .filter_map(|m| m.indicators.as_ref().and_then(self.get))
            .filter(|v| v.is_finite())
            .reduce(|a, b| self.combine.apply(a, b))
    }
}

/// Several members' points of one series on the same step grid, made into the
/// cluster's: per time, the members' values combined. Non-finite values are
/// missing; a time no member has is a gap.
pub fn combine_points(members: &[Vec<(i64, f64)>], how: Combine) -> Vec<(i64, f64)> {
    let mut at: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
    for points in members {
        for &(t, v) in points.iter().filter(|(_, v)| v.is_finite()) {
            at.entry(t)
                .and_modify(|x| *x = how.apply(*x, v))
                .or_insert(v);
        }
    }
    at.into_iter().collect()
}

/// Which value stands out: the one furthest from the median of the others, when
/// it is at least twice that median or at most half of it (any value above a
/// median of 0). None with fewer than three known values, where there is no
/// "the others" to stand against.
pub fn outlier(values: &[Option<f64>]) -> Option<usize> {
    let known: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
        .collect();
    if known.len() < 3 {
        return None;
    }
    let mut best: Option<(usize, f64)> = None;
    for &(i, v) in &known {
        let mut others: Vec<f64> = known
            .iter()
            .filter(|(j, _)| *j != i)
            .map(|(_, x)| *x)
            .collect();
        others.sort_by(f64::total_cmp);
        let mid = others.len() / 2;
        let median = if others.len().is_multiple_of(2) {
            (others[mid - 1] + others[mid]) / 2.0
        } else {
            others[mid]
        };
        let stands_out = if median == 0.0 {
            v != 0.0
        } else {
            let ratio = v / median;
            !(0.5..2.0).contains(&ratio)
        };
        let distance = (v - median).abs();
        if stands_out && best.is_none_or(|(_, d)| distance > d) {
            best = Some((i, distance));
        }
    }
    best.map(|(i, _)| i)
}

/// The value most clusters share, and the indices of those that differ from it
/// (an etcd version left behind by an upgrade). None of them when all agree or
/// no value is more common than another.
pub fn odd_ones<T: PartialEq>(values: &[T]) -> Vec<usize> {
    let count = |x: &T| values.iter().filter(|y| *y == x).count();
    let Some(most) = values.iter().map(count).max() else {
        return Vec::new();
    };
    let common: Vec<&T> = values.iter().filter(|v| count(v) == most).collect();
    // Ties (1 and 1 of 2 clusters) name no odd one.
    if common.iter().any(|c| *c != common[0]) || most == values.len() {
        return Vec::new();
    }
    (0..values.len())
        .filter(|&i| values[i] != *common[0])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outlier_is_the_one_far_from_the_others() {
        let ms = |v: &[f64]| v.iter().map(|x| Some(*x)).collect::<Vec<_>>();
        // Three disks alike and one slow: the slow one.
        assert_eq!(outlier(&ms(&[0.004, 0.005, 0.045, 0.004])), Some(2));
        // Within a factor of two of the others: none.
        assert_eq!(outlier(&ms(&[0.004, 0.005, 0.007])), None);
        // Much lower counts too (a cluster that stopped taking writes).
        assert_eq!(outlier(&ms(&[120.0, 0.5, 130.0])), Some(1));
        // Failures where the others have none.
        assert_eq!(outlier(&ms(&[0.0, 0.0, 3.0])), Some(2));
        assert_eq!(outlier(&ms(&[0.0, 0.0, 0.0])), None);
        // Two values have no "others" to stand against; unknowns do not count.
        assert_eq!(outlier(&ms(&[1.0, 100.0])), None);
        assert_eq!(outlier(&[Some(1.0), None, Some(100.0), None]), None);
        assert_eq!(
            outlier(&[Some(1.0), None, Some(1.1), Some(f64::NAN), Some(9.0)]),
            Some(4)
        );
    }

    #[test]
    fn the_odd_ones_differ_from_what_most_share() {
        assert_eq!(odd_ones(&["3.5.1", "3.5.1", "3.4.23"]), vec![2]);
        assert!(odd_ones(&["3.5.1", "3.5.1"]).is_empty());
        assert!(odd_ones(&["3.5.1", "3.4.23"]).is_empty(), "a tie");
        assert!(odd_ones::<&str>(&[]).is_empty());
        assert_eq!(odd_ones(&["a", "b", "b", "c", "b"]), vec![0, 3]);
    }

    #[test]
    fn members_combine_by_time_skipping_what_is_missing() {
        let a = vec![(0, 1.0), (10, 2.0), (20, f64::NAN)];
        let b = vec![(10, 5.0), (20, 4.0), (30, 1.0)];
        assert_eq!(
            combine_points(&[a.clone(), b.clone()], Combine::Max),
            vec![(0, 1.0), (10, 5.0), (20, 4.0), (30, 1.0)]
        );
        assert_eq!(
            combine_points(&[a, b], Combine::Sum),
            vec![(0, 1.0), (10, 7.0), (20, 4.0), (30, 1.0)]
        );
        assert!(combine_points(&[], Combine::Sum).is_empty());
    }
}
