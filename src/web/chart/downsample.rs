//! Fewer points than the data has, chosen so the drawing looks the same: LTTB, and the
//! share of a chart's point budget each segment of a series gets. The budget is the
//! plot's width in pixels, so this belongs to drawing rather than to the store's
//! queries, which bucket by time.

use super::series::Prepared;

/// Largest-Triangle-Three-Buckets (Steinarsson, 2013): `threshold` of the points,
/// keeping the first and the last, and from each bucket between them the point that
/// spans the largest triangle with its neighbours, so spikes survive where averaging
/// or striding would drop them. Returns the points unchanged when `threshold` is 0 or
/// not below their number. Expects finite values ([`render`](fn@super::render) and
/// [`sparkline`](super::sparkline) drop the others first): with a NaN the picks near
/// it are arbitrary, though the count and the ends still hold.
pub fn lttb(points: &[(i64, f64)], threshold: usize) -> Vec<(i64, f64)> {
    let n = points.len();
    if threshold == 0 || threshold >= n {
        return points.to_vec();
    }
    match threshold {
        1 => return vec![points[0]],
        2 => return vec![points[0], points[n - 1]],
        _ => {}
    }
    // Relative to the first point: unix ms as f64 are exact, but products of them lose
    // the small differences that decide between neighbours.
    let t0 = points[0].0 as f64;
    let x = |t: i64| t as f64 - t0;
    let buckets = threshold - 2;
    // Bucket b holds points[start(b)..start(b + 1)], splitting 1..n-1 evenly; integer
    // arithmetic, so the last bucket ends exactly before the last point.
    let start = |b: usize| 1 + (b as u128 * (n as u128 - 2) / buckets as u128) as usize;
    let mut out = Vec::with_capacity(threshold);
    out.push(points[0]);
    let mut a = 0;
    for b in 0..buckets {
        let (next_lo, next_hi) = if b + 1 < buckets {
            (start(b + 1), start(b + 2))
        } else {
            (n - 1, n)
        };
        let len = (next_hi - next_lo) as f64;
        let (mut avg_x, mut avg_y) = (0.0, 0.0);
        for &(t, v) in &points[next_lo..next_hi] {
            avg_x += x(t);
            avg_y += v;
        }
        avg_x /= len;
        avg_y /= len;

        let (ax, ay) = (x(points[a].0), points[a].1);
        let (lo, hi) = (start(b), start(b + 1));
        let mut chosen = lo;
        let mut max_area = -1.0;
        for (j, &(t, v)) in (lo..hi).zip(&points[lo..hi]) {
            // Twice the triangle's area; the factor does not change the choice.
            let area = ((ax - avg_x) * (v - ay) - (ax - x(t)) * (avg_y - ay)).abs();
            if area > max_area {
                max_area = area;
                chosen = j;
            }
        }
        out.push(points[chosen]);
        a = chosen;
    }
    out.push(points[n - 1]);
    out
}

impl Prepared<'_> {
    /// Each segment reduced with LTTB, the `budget` of points shared out by size.
    /// Done per segment: reduced across a gap, points picked far apart would look like
    /// gaps themselves, and the real gap could lose its edges.
    pub(super) fn downsample(&self, budget: usize) -> Vec<Vec<(i64, f64)>> {
        let total = self.points.len().max(1) as f64;
        self.segments
            .iter()
            .map(|r| {
                let share = (budget as f64 * r.len() as f64 / total).ceil() as usize;
                lttb(&self.points[r.clone()], share.max(2))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const STEP: i64 = 15_000;

    fn regular(n: usize, f: impl Fn(usize) -> f64) -> Vec<(i64, f64)> {
        (0..n).map(|i| (T0 + i as i64 * STEP, f(i))).collect()
    }

    #[test]
    fn lttb_keeps_ends_count_and_spikes() {
        let mut pts = regular(1000, |i| (i % 3) as f64);
        pts[237].1 = 1000.0;
        pts[711].1 = -1000.0;
        for threshold in [3, 4, 10, 50, 999] {
            let out = lttb(&pts, threshold);
            assert_eq!(out.len(), threshold);
            assert_eq!(out[0], pts[0]);
            assert_eq!(out[threshold - 1], pts[999]);
            assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
            // Each spike needs a bucket of its own.
            if threshold >= 10 {
                assert!(out.contains(&pts[237]), "{threshold}");
                assert!(out.contains(&pts[711]), "{threshold}");
            }
        }
        assert_eq!(lttb(&pts, 0), pts);
        assert_eq!(lttb(&pts, 1000), pts);
        assert_eq!(lttb(&pts, 5000), pts);
        assert_eq!(lttb(&pts, 1), vec![pts[0]]);
        assert_eq!(lttb(&pts, 2), vec![pts[0], pts[999]]);
        assert!(lttb(&[], 10).is_empty());
        assert_eq!(lttb(&pts[..1], 10), vec![pts[0]]);
        // Extreme timestamps do not overflow.
        let wide = vec![(i64::MIN, 1.0), (0, 5.0), (1, 2.0), (i64::MAX, 3.0)];
        assert_eq!(lttb(&wide, 3), vec![wide[0], wide[1], wide[3]]);
    }
}
