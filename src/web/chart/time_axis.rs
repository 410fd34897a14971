//! The time axis: tick instants at steps a reader counts in (seconds to days, then
//! calendar months and years), and how a tick is labelled.

use crate::time::{days_from_civil, utc};

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
pub(super) const DAY: i64 = 24 * HOUR;
/// Steps a reader counts in, up to two weeks; longer ranges step in calendar months.
const TIME_STEPS: [i64; 21] = [
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
];

/// Tick instants for the smallest readable step giving at most `max_ticks` (at least
/// 2) ticks in `from..=to`, and that step (a month counts as 30 days). Fixed steps sit
/// at multiples of the step in UTC, so hour and day ticks fall on whole hours and UTC
/// midnights; month steps on the first of a month (quarters, halves, years).
pub(super) fn time_ticks(from: i64, to: i64, max_ticks: usize) -> (i64, Vec<i64>) {
    let max_ticks = max_ticks.max(2);
    let (lo, hi) = (i128::from(from), i128::from(to));
    for step in TIME_STEPS.map(i128::from) {
        let (first, last) = (ceil_div(lo, step), hi.div_euclid(step));
        if last - first < max_ticks as i128 {
            let ticks = (first..=last).map(|k| (k * step) as i64).collect();
            return (step as i64, ticks);
        }
    }
    let years = (0..16u32).flat_map(|e| [1, 2, 5].map(|m| 12 * m * 10i64.pow(e)));
    for months in [1, 2, 3, 6].into_iter().chain(years) {
        if let Some(ticks) = month_ticks(from, to, months, max_ticks) {
            return (months.saturating_mul(30 * DAY), ticks);
        }
    }
    (i64::MAX, Vec::new())
}

/// Firsts of months at multiples of `months` (counted from year 0) in `from..=to`,
/// unless there are more than `max_ticks`.
fn month_ticks(from: i64, to: i64, months: i64, max_ticks: usize) -> Option<Vec<i64>> {
    let (y, m, ..) = utc(from);
    let mut k = (y * 12 + i64::from(m) - 1).div_euclid(months) * months;
    let mut ticks = Vec::new();
    loop {
        let (y, m) = (k.div_euclid(12), k.rem_euclid(12) as u32 + 1);
        let ms = i128::from(days_from_civil(y, m, 1)) * i128::from(DAY);
        if ms > i128::from(to) {
            return Some(ticks);
        }
        if ms >= i128::from(from) {
            if ticks.len() == max_ticks {
                return None;
            }
            ticks.push(ms as i64);
        }
        k += months;
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    -(-a).div_euclid(b)
}

/// How a time tick is labelled; the name goes to `data-fmt` for the page's script.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum TimeFmt {
    /// 22:13:20
    Hms,
    /// 22:13
    Hm,
    /// 11-14
    Md,
    /// 2023-11-14
    Ymd,
    /// 2023-11
    Ym,
}

impl TimeFmt {
    pub(super) fn for_step(step: i64, span: i128) -> TimeFmt {
        if step >= 28 * DAY {
            TimeFmt::Ym
        } else if step < MINUTE {
            TimeFmt::Hms
        } else if step < DAY {
            TimeFmt::Hm
        } else if span < 360 * i128::from(DAY) {
            TimeFmt::Md
        } else {
            TimeFmt::Ymd
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            TimeFmt::Hms => "hms",
            TimeFmt::Hm => "hm",
            TimeFmt::Md => "md",
            TimeFmt::Ymd => "ymd",
            TimeFmt::Ym => "ym",
        }
    }

    pub(super) fn format(self, ms: i64) -> String {
        let (y, mo, d, h, mi, s) = utc(ms);
        match self {
            TimeFmt::Hms => format!("{h:02}:{mi:02}:{s:02}"),
            TimeFmt::Hm => format!("{h:02}:{mi:02}"),
            TimeFmt::Md => format!("{mo:02}-{d:02}"),
            TimeFmt::Ymd => format!("{y:04}-{mo:02}-{d:02}"),
            TimeFmt::Ym => format!("{y:04}-{mo:02}"),
        }
    }
}

/// "2023-11-14 22:13:20" for 1700000000000.
pub(super) fn full_utc(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = utc(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000; // 2023-11-14 22:13:20 UTC

    #[test]
    fn time_ticks_and_labels() {
        assert_eq!(full_utc(T0), "2023-11-14 22:13:20");
        assert_eq!(full_utc(0), "1970-01-01 00:00:00");
        assert_eq!(full_utc(-1), "1969-12-31 23:59:59");
        assert_eq!(full_utc(951_782_400_000), "2000-02-29 00:00:00");
        let (step, ticks) = time_ticks(T0, T0 + 3_600_000, 6);
        assert_eq!(step, 10 * MINUTE);
        assert_eq!(ticks.len(), 6);
        assert!(ticks
            .iter()
            .all(|t| t % step == 0 && (T0..=T0 + 3_600_000).contains(t)));
        let (step, ticks) = time_ticks(T0, T0 + 400 * DAY, 6);
        assert_eq!(step, 60 * DAY);
        assert_eq!(ticks.len(), 6);
        assert_eq!(
            TimeFmt::for_step(step, i128::from(400 * DAY)).format(ticks[0]),
            "2024-01"
        );
        // Quarters fall on the first of January, April, July and October.
        let (_, ticks) = time_ticks(T0, T0 + 700 * DAY, 8);
        let labels: Vec<String> = ticks.iter().map(|&t| full_utc(t)).collect();
        assert_eq!(labels[0], "2024-01-01 00:00:00");
        assert_eq!(labels[1], "2024-04-01 00:00:00");
        for days in (-1_000_000..1_000_000).step_by(997) {
            let (y, m, d, ..) = utc(days * DAY);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let (step, ticks) = time_ticks(T0, T0 + 20_000, 5);
        assert_eq!(step, 5 * SECOND);
        assert_eq!(TimeFmt::for_step(step, 20_000).format(ticks[0]), "22:13:20");
        let (_, ticks) = time_ticks(i64::MIN, i64::MAX, 6);
        assert!(!ticks.is_empty() && ticks.len() <= 6);
    }
}
