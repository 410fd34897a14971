//! History queries: pick the tier from range and step, then aggregate its points
//! into step-wide buckets. Beneath them, [`Store::read`]: the points of one series
//! in one tier, from the stored blocks, the blocks sealed since the last
//! checkpoint, and the head.

use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use super::{closed, codec, floor, lock, Point, Result, Store, StoreError, Tier};

/// Most points one series may return (Prometheus' limit too).
pub const MAX_POINTS: i64 = 11_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    Avg,
    Min,
    Max,
    Last,
    /// Per-second increase of a counter; a decrease counts as a reset.
    Rate,
}

impl std::str::FromStr for Aggregate {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "avg" => Ok(Aggregate::Avg),
            "min" => Ok(Aggregate::Min),
            "max" => Ok(Aggregate::Max),
            "last" => Ok(Aggregate::Last),
            "rate" => Ok(Aggregate::Rate),
            other => Err(format!(
                "unknown aggregate {other:?}: use avg, min, max, last or rate"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub cluster: String,
    /// A metric name (every label set) or one series' full text `name{...}`.
    pub metric: String,
    pub member: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub step_ms: i64,
    pub aggregate: Aggregate,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoints {
    pub member: String,
    pub series: String,
    pub tier: &'static str,
    /// `[unix ms, value]`; buckets without data are left out (a gap).
    pub points: Vec<(i64, f64)>,
}

/// The coarsest tier no coarser than `step`, moved coarser until its retention
/// still holds `from`.
pub fn choose_tier(store: &Store, now_ms: i64, from_ms: i64, step_ms: i64) -> Tier {
    let retention = store.retention();
    let mut chosen = Tier::Raw;
    for tier in Tier::ALL {
        if tier.step_ms() <= step_ms {
            chosen = tier;
        }
    }
    for tier in Tier::ALL.into_iter().skip(chosen as usize) {
        chosen = tier;
        let kept = i64::try_from(retention.of(tier).as_millis()).unwrap_or(i64::MAX);
        if from_ms >= now_ms.saturating_sub(kept) {
            break;
        }
    }
    chosen
}

pub fn history(store: &Store, q: &HistoryQuery, now_ms: i64) -> Result<Vec<SeriesPoints>> {
    for (field, ms) in [("from", q.from_ms), ("to", q.to_ms)] {
        crate::time::check(field, ms).map_err(StoreError::BadQuery)?;
    }
    if q.step_ms <= 0 || q.step_ms > crate::time::LATEST_MS {
        return Err(StoreError::BadQuery(format!(
            "step: {} ms is not between 1 ms and 9999 years",
            q.step_ms
        )));
    }
    if q.to_ms <= q.from_ms {
        return Err(StoreError::BadQuery("from must be before to".into()));
    }
    // A last, partial bucket counts: it is returned too. Times and step are in range
    // (checked above), so none of this overflows.
    let buckets = (q.to_ms - q.from_ms - 1) / q.step_ms + 1;
    if buckets > MAX_POINTS {
        return Err(StoreError::BadQuery(format!(
            "{buckets} points per series for this range and step; at most {MAX_POINTS}: raise step"
        )));
    }
    let tier = choose_tier(store, now_ms, q.from_ms, q.step_ms);
    let series = store.find_series(&q.cluster, q.member.as_deref(), &q.metric);
    let mut out = Vec::new();
    for (id, meta) in series {
        // One point before `from`, so the first bucket's rate has a base.
        let lookback = q.step_ms.max(tier.step_ms()).saturating_mul(2);
        let points = store.read(id, tier, q.from_ms.saturating_sub(lookback), q.to_ms)?;
        out.push(SeriesPoints {
            member: meta.member.clone(),
            series: meta.series.clone(),
            tier: tier.name(),
            points: bucketize(&points, q.from_ms, q.to_ms, q.step_ms, q.aggregate),
        });
    }
    Ok(out)
}

/// Aggregates time-ordered points into buckets `[from + k*step, from + (k+1)*step)`.
/// Total for any input: a step below 1 ms is taken as 1 ms, and the last bucket ends
/// where i64 does (a bucket end that would overflow ends the walk).
pub fn bucketize(
    points: &[Point],
    from: i64,
    to: i64,
    step: i64,
    agg: Aggregate,
) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let mut i = points.partition_point(|p| p.ts < from);
    let mut prev = i.checked_sub(1).map(|j| points[j].last);
    let step = step.max(1);
    let mut start = from;
    while start < to {
        let end = start.saturating_add(step);
        let mut acc: Option<Point> = None;
        let mut increase = 0.0;
        while i < points.len() && points[i].ts < end {
            let p = &points[i];
            if let Some(before) = prev {
                increase += if p.last >= before {
                    p.last - before
                } else {
                    p.last
                };
            }
            prev = Some(p.last);
            match &mut acc {
                Some(a) => a.merge(p),
                None => acc = Some(*p),
            }
            i += 1;
        }
        if let Some(a) = acc {
            let v = match agg {
                Aggregate::Avg => a.sum / a.count,
                Aggregate::Min => a.min,
                Aggregate::Max => a.max,
                Aggregate::Last => a.last,
                Aggregate::Rate => increase / (step as f64 / 1000.0),
            };
            out.push((start, v));
        }
        if end == i64::MAX {
            break;
        }
        start = end;
    }
    out
}

impl Store {
    /// Points of series `id` in `tier` with `from <= ts < to`, in time order:
    /// stored blocks, blocks sealed since the last checkpoint, then the head.
    pub fn read(&self, id: u64, tier: Tier, from: i64, to: i64) -> Result<Vec<Point>> {
        let mut points = Vec::new();
        if from >= to {
            return Ok(points);
        }
        let push_block = |bytes: &[u8], points: &mut Vec<Point>| -> Result<()> {
            let b = codec::decode(bytes)?;
            for (i, ts) in b.timestamps.iter().enumerate() {
                if *ts < from || *ts >= to {
                    continue;
                }
                points.push(if b.columns == 1 {
                    Point::sample(*ts, b.values[0][i])
                } else {
                    Point {
                        ts: *ts,
                        min: b.values[0][i],
                        max: b.values[1][i],
                        sum: b.values[2][i],
                        count: b.values[3][i],
                        last: b.values[4][i],
                    }
                });
            }
            Ok(())
        };
        {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_read()?;
            let table = tx.open_table(tier.table())?;
            let first = floor(from, tier.block_ms()).saturating_sub(tier.block_ms());
            for row in table.range((id, first)..(id, to))? {
                let (_, bytes) = row?;
                push_block(bytes.value(), &mut points)?;
            }
        }
        let inner = lock(&self.inner);
        for s in inner
            .sealed
            .iter()
            .filter(|s| s.series == id && s.tier == tier)
        {
            push_block(&s.bytes, &mut points)?;
        }
        if let Some(h) = inner.heads.get(id as usize) {
            let open = &h.blocks[tier as usize];
            if !open.enc.is_empty() {
                push_block(&open.enc.to_bytes(), &mut points)?;
            }
            // Rollup points still accumulating.
            let mut partial = Vec::new();
            match tier {
                Tier::Raw => {}
                Tier::Minute => partial.extend(h.minute),
                Tier::Hour => {
                    let minute_hour = h.minute.map(|m| Point {
                        ts: floor(m.ts, Tier::Hour.step_ms()),
                        ..m
                    });
                    match (h.hour, minute_hour) {
                        (Some(mut hour), Some(m)) if m.ts == hour.ts => {
                            hour.merge(&m);
                            partial.push(hour);
                        }
                        (hour, m) => partial.extend(hour.into_iter().chain(m)),
                    }
                }
            }
            points.extend(partial.into_iter().filter(|p| p.ts >= from && p.ts < to));
        }
        drop(inner);
        points.sort_by_key(|p| p.ts);
        points.dedup_by_key(|p| p.ts);
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ts: i64, v: f64) -> Point {
        Point::sample(ts, v)
    }

    #[test]
    fn buckets_aggregate_and_leave_gaps() {
        let pts: Vec<Point> = [(0, 1.0), (5, 3.0), (10, 2.0), (30, 7.0)]
            .iter()
            .map(|(t, v)| sample(*t * 1000, *v))
            .collect();
        let avg = bucketize(&pts, 0, 40_000, 10_000, Aggregate::Avg);
        assert_eq!(avg, vec![(0, 2.0), (10_000, 2.0), (30_000, 7.0)]);
        let max = bucketize(&pts, 0, 40_000, 10_000, Aggregate::Max);
        assert_eq!(max[0], (0, 3.0));
        let last = bucketize(&pts, 0, 40_000, 20_000, Aggregate::Last);
        assert_eq!(last, vec![(0, 2.0), (20_000, 7.0)]);
    }

    #[test]
    fn buckets_at_the_edges_of_i64_end() {
        let pts = [sample(i64::MAX - 5, 1.0), sample(i64::MAX - 1, 2.0)];
        let last = bucketize(&pts, i64::MAX - 10, i64::MAX, i64::MAX, Aggregate::Last);
        assert_eq!(last, vec![(i64::MAX - 10, 2.0)]);
        let few = bucketize(&pts, i64::MAX - 10, i64::MAX, 4, Aggregate::Max);
        assert_eq!(few, vec![(i64::MAX - 6, 1.0), (i64::MAX - 2, 2.0)]);
        assert!(bucketize(&pts, 0, 10, 0, Aggregate::Avg).is_empty());
    }

    #[test]
    fn rate_survives_a_counter_reset() {
        // 100 -> 150 -> (restart) 20 -> 50: increase 50 + 20 + 30 = 100 over 30 s.
        let pts: Vec<Point> = [(0, 100.0), (10, 150.0), (20, 20.0), (30, 50.0)]
            .iter()
            .map(|(t, v)| sample(*t * 1000, *v))
            .collect();
        let r = bucketize(&pts, 1000, 31_000, 30_000, Aggregate::Rate);
        assert_eq!(r, vec![(1000, 100.0 / 30.0)]);
    }
}
