//! A short in-memory history per member, for the rules the etcd project writes over a
//! window (leader changes in 15m, failed proposals and gRPC failures as rates over
//! 15m and 5m, DB size predicted from 4h).
//!
//! Why here and not a query of the store at each evaluation: the evaluation stays a
//! pure function of the snapshots it was given (tests build snapshots, nothing else),
//! costs no redb reads per rule and probe, and works without a store. After a restart
//! the windows are refilled from the store's history of the indicator series
//! (`Evaluator::seed_windows`), so the 4h prediction does not start from nothing.

use std::collections::VecDeque;

use crate::collect::derive::Indicators;

/// The longest window a rule uses (etcdExcessiveDatabaseGrowth's 4h).
pub const LONGEST_MS: i64 = 4 * 3600 * 1000;

/// One probe's figures for one member. Counts are increases over the probe's interval
/// (rate x interval), so sums over a window are exact whatever the interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowPoint {
    pub at_ms: i64,
    pub interval_seconds: Option<f64>,
    pub leader_changes: Option<f64>,
    pub proposals_failed: Option<f64>,
    pub grpc_requests: Option<f64>,
    pub grpc_failed: Option<f64>,
    pub db_size_bytes: Option<f64>,
    pub quota_backend_bytes: Option<f64>,
}

impl WindowPoint {
    /// The figures of one member's indicators, stamped `at_ms`.
    pub fn from_indicators(at_ms: i64, ind: &Indicators) -> WindowPoint {
        let secs = ind.interval_seconds;
        let increase = |rate: Option<f64>| Some(rate? * secs?);
        WindowPoint {
            at_ms,
            interval_seconds: secs,
            leader_changes: ind.leader_changes_in_interval,
            proposals_failed: increase(ind.proposals_failed_per_second),
            grpc_requests: increase(ind.grpc_requests_per_second),
            grpc_failed: increase(ind.grpc_failed_per_second),
            db_size_bytes: ind.db_size_bytes,
            quota_backend_bytes: ind.quota_backend_bytes,
        }
    }
}

/// A member's points, oldest first, at most [`LONGEST_MS`] old.
#[derive(Debug, Clone, Default)]
pub struct MemberWindow {
    points: VecDeque<WindowPoint>,
}

impl MemberWindow {
    /// Adds a point; one not newer than the last is ignored (the same probe twice).
    pub fn push(&mut self, p: WindowPoint) {
        if self.points.back().is_some_and(|last| last.at_ms >= p.at_ms) {
            return;
        }
        self.points.push_back(p);
        while self
            .points
            .front()
            .is_some_and(|f| f.at_ms < p.at_ms - LONGEST_MS)
        {
            self.points.pop_front();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// The newest value of `f`.
    pub fn last(&self, f: impl Fn(&WindowPoint) -> Option<f64>) -> Option<f64> {
        self.points.iter().rev().find_map(f)
    }

    /// The time of the newest point.
    pub fn newest_ms(&self) -> Option<i64> {
        self.points.back().map(|p| p.at_ms)
    }

    /// Points newer than `now - window`. Points stamped after `now` count too: the
    /// probe stamps its snapshot when it starts, the caller's clock may lag it.
    fn within(&self, now_ms: i64, window_ms: i64) -> impl Iterator<Item = &WindowPoint> {
        self.points
            .iter()
            .filter(move |p| p.at_ms > now_ms - window_ms)
    }

    /// Sum of `f` over the window; `None` when no point has it.
    pub fn sum(
        &self,
        now_ms: i64,
        window_ms: i64,
        f: impl Fn(&WindowPoint) -> Option<f64>,
    ) -> Option<f64> {
        let mut total = None;
        for p in self.within(now_ms, window_ms) {
            if let Some(v) = f(p) {
                *total.get_or_insert(0.0) += v;
            }
        }
        total
    }

    /// Per-second rate of the increases `f` over the window: their sum over the
    /// seconds the points cover. `None` without data.
    pub fn rate(
        &self,
        now_ms: i64,
        window_ms: i64,
        f: impl Fn(&WindowPoint) -> Option<f64>,
    ) -> Option<f64> {
        let mut increase = 0.0;
        let mut seconds = 0.0;
        for p in self.within(now_ms, window_ms) {
            if let (Some(v), Some(s)) = (f(p), p.interval_seconds) {
                increase += v;
                seconds += s;
            }
        }
        (seconds > 0.0).then(|| increase / seconds)
    }

    /// The seconds between the oldest and newest point in the window with `f`.
    pub fn span_seconds(
        &self,
        now_ms: i64,
        window_ms: i64,
        f: impl Fn(&WindowPoint) -> Option<f64>,
    ) -> f64 {
        let mut with = self.within(now_ms, window_ms).filter(|p| f(p).is_some());
        let Some(first) = with.next() else {
            return 0.0;
        };
        let last = with.last().map_or(first.at_ms, |p| p.at_ms);
        (last - first.at_ms) as f64 / 1000.0
    }

    /// Prometheus' `predict_linear`: the least-squares line through the window's
    /// values of `f`, evaluated `ahead_seconds` after `now`. `None` with fewer than
    /// two points.
    pub fn predict_linear(
        &self,
        now_ms: i64,
        window_ms: i64,
        ahead_seconds: f64,
        f: impl Fn(&WindowPoint) -> Option<f64>,
    ) -> Option<f64> {
        // x is seconds relative to now, which keeps the sums small and exact enough.
        let pts: Vec<(f64, f64)> = self
            .within(now_ms, window_ms)
            .filter_map(|p| Some(((p.at_ms - now_ms) as f64 / 1000.0, f(p)?)))
            .collect();
        if pts.len() < 2 {
            return None;
        }
        let n = pts.len() as f64;
        let (sx, sy) = pts
            .iter()
            .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
        let (mx, my) = (sx / n, sy / n);
        let (mut cov, mut var) = (0.0, 0.0);
        for (x, y) in &pts {
            cov += (x - mx) * (y - my);
            var += (x - mx) * (x - mx);
        }
        if var == 0.0 {
            return None;
        }
        let slope = cov / var;
        let intercept = my - slope * mx;
        Some(intercept + slope * ahead_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at_s: i64, db: f64) -> WindowPoint {
        WindowPoint {
            at_ms: at_s * 1000,
            interval_seconds: Some(15.0),
            leader_changes: Some(1.0),
            proposals_failed: Some(30.0),
            db_size_bytes: Some(db),
            ..Default::default()
        }
    }

    #[test]
    fn sums_rates_and_trims() {
        let mut w = MemberWindow::default();
        for i in 0..10 {
            w.push(point(i * 15, 0.0));
        }
        w.push(point(9 * 15, 0.0)); // the same probe again: ignored
        assert_eq!(w.len(), 10);
        let now = 9 * 15 * 1000;
        // The last 60 s hold 4 points.
        assert_eq!(w.sum(now, 60_000, |p| p.leader_changes), Some(4.0));
        assert_eq!(w.rate(now, 60_000, |p| p.proposals_failed), Some(2.0));
        assert_eq!(w.span_seconds(now, 60_000, |p| p.db_size_bytes), 45.0);
        assert_eq!(w.sum(now, 60_000, |p| p.grpc_failed), None);
        w.push(point(5 * 3600, 0.0));
        assert_eq!(w.len(), 1, "points older than 4h are dropped");
    }

    #[test]
    fn predicts_linearly() {
        let mut w = MemberWindow::default();
        // 1 MB per minute for an hour.
        for i in 0..=60 {
            w.push(point(i * 60, 1e6 * i as f64));
        }
        let now = 3600 * 1000;
        let p = w
            .predict_linear(now, LONGEST_MS, 3600.0, |p| p.db_size_bytes)
            .unwrap();
        assert!((p - 120e6).abs() < 1.0, "{p}");
        let mut one = MemberWindow::default();
        one.push(point(0, 1.0));
        assert_eq!(
            one.predict_linear(0, LONGEST_MS, 60.0, |p| p.db_size_bytes),
            None
        );
    }
}
