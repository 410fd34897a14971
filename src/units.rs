//! Human-readable numbers, shared vocabulary for every layer (pages, alert templates): one place decides how a latency, a size,
//! a rate, a count or a ratio reads, so tables, charts and tooltips agree.
//!
//! Three significant digits everywhere (`12.3 ms`, `3.34 MiB`, `1.23k/s`, `87.3 %`);
//! counts are whole numbers with thousands separators (`12,345`). Sizes use binary
//! units because etcd's quota and DB size limits are powers of two (2 GiB, 8 GiB).
//! A missing value (NaN, ±inf) reads as an en dash.

/// What a number measures, and so how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Seconds,
    Bytes,
    /// Traffic (client and peer bytes): `Bytes` written with `/s`.
    BytesPerSecond,
    PerSecond,
    Count,
    /// 0..1, written as a percentage.
    Ratio,
}

impl Unit {
    /// A stable name, for `data-unit` attributes the page's script can read.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Bytes => "bytes",
            Unit::BytesPerSecond => "bytes_per_second",
            Unit::PerSecond => "per_second",
            Unit::Count => "count",
            Unit::Ratio => "ratio",
        }
    }
}

/// What a missing value reads as.
pub const MISSING: &str = "–";

/// `value` in `unit`, three significant digits: 0.0123 s is "12.3 ms", 3,500,000 B is
/// "3.34 MiB", 1234.5 /s is "1.23k/s", 12345 is "12,345", a ratio 0.873 is "87.3 %".
pub fn human(value: f64, unit: Unit) -> String {
    format(value, unit, false)
}

/// Like [`human`], without trailing zeros ("5 ms", "1.5 GiB", "20 %"): axis labels sit
/// in a column of round numbers, where "5.00 ms" is noise.
pub fn human_short(value: f64, unit: Unit) -> String {
    format(value, unit, true)
}

const KI: f64 = 1024.0;
const BYTE_UNITS: [(f64, &str); 7] = [
    (KI * KI * KI * KI * KI * KI, "EiB"),
    (KI * KI * KI * KI * KI, "PiB"),
    (KI * KI * KI * KI, "TiB"),
    (KI * KI * KI, "GiB"),
    (KI * KI, "MiB"),
    (KI, "KiB"),
    (1.0, "B"),
];
// Minutes, hours and days rather than "7200 s": long durations (uptime, a defrag) read
// better that way, and latencies stay in ms/µs.
const SECOND_UNITS: [(f64, &str); 7] = [
    (86_400.0, " d"),
    (3_600.0, " h"),
    (60.0, " min"),
    (1.0, " s"),
    (1e-3, " ms"),
    (1e-6, " µs"),
    (1e-9, " ns"),
];
// No milli prefix for rates: "12.3m/s" reads as metres or minutes.
const RATE_UNITS: [(f64, &str); 5] = [
    (1e12, "T/s"),
    (1e9, "G/s"),
    (1e6, "M/s"),
    (1e3, "k/s"),
    (1.0, "/s"),
];

fn format(value: f64, unit: Unit, trim: bool) -> String {
    if !value.is_finite() {
        return MISSING.to_string();
    }
    // -0.0 would print as "-0".
    let v = if value == 0.0 { 0.0 } else { value };
    let num = |x: f64| {
        let s = sig3(x);
        if trim {
            trim_zeros(s)
        } else {
            s
        }
    };
    match unit {
        Unit::Seconds => {
            if v == 0.0 {
                return "0 s".to_string();
            }
            let (x, suffix) = pick(v, &SECOND_UNITS);
            format!("{}{suffix}", num(x))
        }
        Unit::Bytes | Unit::BytesPerSecond => {
            let per = if unit == Unit::BytesPerSecond {
                "/s"
            } else {
                ""
            };
            // Whole bytes below 1 KiB are exact; "1020 B" for 1023 B would be a lie.
            if v.abs() < KI && v.fract() == 0.0 {
                return format!("{v} B{per}");
            }
            let (x, suffix) = pick(v, &BYTE_UNITS);
            format!("{} {suffix}{per}", num(x))
        }
        Unit::PerSecond => {
            if v == 0.0 {
                return "0/s".to_string();
            }
            let (x, suffix) = pick(v, &RATE_UNITS);
            format!("{}{suffix}", num(x))
        }
        Unit::Count => count(v, trim),
        // A sliver of a quota reads better as "< 0.01 %" than as 9.54e-4 %.
        Unit::Ratio if v > 0.0 && v < 0.0001 => "< 0.01 %".to_string(),
        Unit::Ratio if v < 0.0 && v > -0.0001 => "> -0.01 %".to_string(),
        Unit::Ratio => format!("{} %", num(v * 100.0)),
    }
}

/// The largest unit in which `v` is at least 1 once rounded to three digits (so
/// 0.9996 s is "1.00 s", not "1000 ms"); the smallest unit when none is.
fn pick(v: f64, units: &[(f64, &'static str)]) -> (f64, &'static str) {
    let a = v.abs();
    for &(div, suffix) in units {
        if a / div >= 0.9995 {
            return (v / div, suffix);
        }
    }
    let (div, suffix) = units[units.len() - 1];
    (v / div, suffix)
}

fn count(v: f64, trim: bool) -> String {
    let a = v.abs();
    if a >= 1e15 {
        return format!("{v:.2e}");
    }
    // A fraction matters only in small counts (an average of 2.5 watchers); above 100
    // it is noise.
    if v.fract() == 0.0 || a >= 100.0 {
        let n = a.round() as u64;
        let sign = if v < 0.0 && n != 0 { "-" } else { "" };
        return format!("{sign}{}", group_thousands(n));
    }
    let s = sig3(v);
    if trim {
        trim_zeros(s)
    } else {
        s
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `x` with three significant digits, built from an integer mantissa so that the
/// digits are exact (no "0.30000000000000004", no "1000" where "1.00" belongs in the
/// caller's unit choice). Outside 0.001..1e15 scientific notation keeps it short.
fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let a = x.abs();
    if !(1e-3..1e15).contains(&a) {
        return format!("{x:.2e}");
    }
    // log10 can be off by one right at a power of ten; the checks below correct it.
    let mut e = a.log10().floor() as i32;
    let scaled = |e: i32| a * 10f64.powi(2 - e);
    if scaled(e) >= 999.5 {
        e += 1;
    } else if scaled(e) < 99.5 {
        e -= 1;
    }
    let n = (scaled(e).round() as u64).clamp(100, 999);
    let sign = if x < 0.0 { "-" } else { "" };
    let decimals = 2 - e;
    if decimals <= 0 {
        return format!("{sign}{}", n * 10u64.pow(decimals.unsigned_abs()));
    }
    let digits = n.to_string();
    let decimals = decimals as usize;
    if decimals >= 3 {
        format!("{sign}0.{}{digits}", "0".repeat(decimals - 3))
    } else {
        let (int, frac) = digits.split_at(3 - decimals);
        format!("{sign}{int}.{frac}")
    }
}

fn trim_zeros(s: String) -> String {
    if !s.contains('.') || s.contains('e') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Round tick values covering `[min, max]`: a step of 1, 2 or 5 times a power of ten,
/// the first tick at or below `min`, the last at or above `max`, at most
/// `max(max_ticks, 3)` ticks (a range around zero needs three). An empty range is
/// widened around its value; non-finite bounds give no ticks.
pub fn nice_ticks(min: f64, max: f64, max_ticks: usize) -> Vec<f64> {
    if !min.is_finite() || !max.is_finite() {
        return Vec::new();
    }
    let (mut lo, mut hi) = if min <= max { (min, max) } else { (max, min) };
    if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo = (lo - pad).max(f64::MIN);
        hi = (hi + pad).min(f64::MAX);
    }
    let n = max_ticks.max(3);
    // Divided before subtracting: hi - lo overflows for bounds near ±f64::MAX.
    let raw = hi / (n - 1) as f64 - lo / (n - 1) as f64;
    if !raw.is_normal() {
        return vec![lo, hi];
    }
    let mut exp = raw.log10().floor() as i32 - 1;
    // Once the step is at least the range, three ticks cover it, so this ends well
    // within the bound; the bound only guards against float surprises.
    for _ in 0..8 {
        for m in [1i64, 2, 5] {
            let step = m as f64 * 10f64.powi(exp);
            if step < raw || !step.is_finite() {
                continue;
            }
            let Some(ticks) = ticks_for(lo, hi, m, exp, n) else {
                continue;
            };
            return ticks;
        }
        exp += 1;
    }
    vec![lo, hi]
}

/// Ticks at multiples of `m * 10^exp` covering `[lo, hi]`, if at most `n` of them.
fn ticks_for(lo: f64, hi: f64, m: i64, exp: i32, n: usize) -> Option<Vec<f64>> {
    // k * m * 10^exp computed as an integer times or over an exact power of ten gives
    // the double nearest the decimal: 0.3, not 0.30000000000000004.
    let at = |k: i64| {
        let km = (k * m) as f64;
        if exp >= 0 {
            km * 10f64.powi(exp)
        } else {
            km / 10f64.powi(-exp)
        }
    };
    let step = m as f64 * 10f64.powi(exp);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    if !first.is_finite() || !last.is_finite() || last - first + 1.0 > n as f64 + 2.0 {
        return None;
    }
    let (mut first, mut last) = (first as i64, last as i64);
    // Division rounding can put the end ticks one step inside or outside the range.
    while at(first + 1) <= lo {
        first += 1;
    }
    while at(first) > lo {
        first -= 1;
    }
    while at(last - 1) >= hi {
        last -= 1;
    }
    while at(last) < hi {
        last += 1;
    }
    if (last - first + 1) as usize > n {
        return None;
    }
    let ticks: Vec<f64> = (first..=last).map(at).collect();
    ticks.iter().all(|t| t.is_finite()).then_some(ticks)
}

/// [`nice_ticks`] suited to `unit`: sizes step in round binary units (0, 256 MiB,
/// 512 MiB rather than 0, 477 MiB, 954 MiB).
pub fn axis_ticks(min: f64, max: f64, max_ticks: usize, unit: Unit) -> Vec<f64> {
    if matches!(unit, Unit::Bytes | Unit::BytesPerSecond) {
        let a = min.abs().max(max.abs());
        if let Some(&(scale, _)) = BYTE_UNITS.iter().find(|(div, _)| a >= *div) {
            // Powers of two: scaling back is exact.
            return nice_ticks(min / scale, max / scale, max_ticks)
                .into_iter()
                .map(|t| t * scale)
                .collect();
        }
    }
    nice_ticks(min, max, max_ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(human(0.0123, Unit::Seconds), "12.3 ms");
        assert_eq!(human(0.000_45, Unit::Seconds), "450 µs");
        assert_eq!(human(1.5, Unit::Seconds), "1.50 s");
        assert_eq!(human(0.0, Unit::Seconds), "0 s");
        assert_eq!(human(-0.0, Unit::Seconds), "0 s");
        assert_eq!(human(2.5e-8, Unit::Seconds), "25.0 ns");
        assert_eq!(human(90.0, Unit::Seconds), "1.50 min");
        assert_eq!(human(7200.0, Unit::Seconds), "2.00 h");
        assert_eq!(human(3.0 * 86_400.0, Unit::Seconds), "3.00 d");
        assert_eq!(human(-0.0123, Unit::Seconds), "-12.3 ms");
        // Rounding up crosses into the next unit instead of printing "1000 ms".
        assert_eq!(human(0.99996, Unit::Seconds), "1.00 s");
        assert_eq!(human(59.99, Unit::Seconds), "1.00 min");
        assert_eq!(human(0.1, Unit::Seconds), "100 ms");
        assert_eq!(human(1e-13, Unit::Seconds), "1.00e-4 ns");
    }

    #[test]
    fn bytes() {
        assert_eq!(human(3_500_000.0, Unit::Bytes), "3.34 MiB");
        assert_eq!(human(512.0, Unit::Bytes), "512 B");
        assert_eq!(human(1023.0, Unit::Bytes), "1023 B");
        assert_eq!(human(0.0, Unit::Bytes), "0 B");
        assert_eq!(human(1024.0, Unit::Bytes), "1.00 KiB");
        assert_eq!(human(1023.9 * 1024.0, Unit::Bytes), "1.00 MiB");
        assert_eq!(human(2.0 * 1024f64.powi(3), Unit::Bytes), "2.00 GiB");
        assert_eq!(human(1.5 * 1024f64.powi(4), Unit::Bytes), "1.50 TiB");
        assert_eq!(human(0.5, Unit::Bytes), "0.500 B");
        assert_eq!(human(-2048.0, Unit::Bytes), "-2.00 KiB");
        assert_eq!(human(12_345.0, Unit::BytesPerSecond), "12.1 KiB/s");
        assert_eq!(human(100.0, Unit::BytesPerSecond), "100 B/s");
    }

    #[test]
    fn rates_counts_ratios() {
        assert_eq!(human(1234.5, Unit::PerSecond), "1.23k/s");
        assert_eq!(human(12.34, Unit::PerSecond), "12.3/s");
        assert_eq!(human(0.5, Unit::PerSecond), "0.500/s");
        assert_eq!(human(0.0, Unit::PerSecond), "0/s");
        assert_eq!(human(2.5e6, Unit::PerSecond), "2.50M/s");
        assert_eq!(human(12_345.0, Unit::Count), "12,345");
        assert_eq!(human(12_345.6, Unit::Count), "12,346");
        assert_eq!(human(1_234_567_890.0, Unit::Count), "1,234,567,890");
        assert_eq!(human(7.0, Unit::Count), "7");
        assert_eq!(human(2.5, Unit::Count), "2.50");
        assert_eq!(human(-1500.0, Unit::Count), "-1,500");
        assert_eq!(human(-0.2, Unit::Count), "-0.200");
        assert_eq!(human(9.54e-6, Unit::Ratio), "< 0.01 %");
        assert_eq!(human(1e20, Unit::Count), "1.00e20");
        assert_eq!(human(0.873, Unit::Ratio), "87.3 %");
        assert_eq!(human(1.0, Unit::Ratio), "100 %");
        assert_eq!(human(0.05, Unit::Ratio), "5.00 %");
        assert_eq!(human(0.0, Unit::Ratio), "0 %");
    }

    #[test]
    fn missing_values() {
        for unit in [
            Unit::Seconds,
            Unit::Bytes,
            Unit::BytesPerSecond,
            Unit::PerSecond,
            Unit::Count,
            Unit::Ratio,
        ] {
            assert_eq!(human(f64::NAN, unit), "–");
            assert_eq!(human(f64::INFINITY, unit), "–");
            assert_eq!(human(f64::NEG_INFINITY, unit), "–");
            // Extremes stay finite text.
            for v in [f64::MAX, f64::MIN, f64::MIN_POSITIVE, 1e-320] {
                let s = human(v, unit);
                assert!(
                    !s.contains("NaN") && !s.contains("inf"),
                    "{v} {unit:?}: {s}"
                );
            }
        }
    }

    #[test]
    fn short_form_drops_trailing_zeros() {
        assert_eq!(human_short(0.005, Unit::Seconds), "5 ms");
        assert_eq!(human_short(1.5, Unit::Seconds), "1.5 s");
        assert_eq!(human_short(0.2, Unit::Ratio), "20 %");
        assert_eq!(human_short(1500.0, Unit::PerSecond), "1.5k/s");
        assert_eq!(human_short(0.5, Unit::Count), "0.5");
        assert_eq!(human_short(2000.0, Unit::Count), "2,000");
        assert_eq!(human_short(100.0, Unit::Seconds), "1.67 min");
        assert_eq!(human_short(1e-13, Unit::Seconds), "1.00e-4 ns");
    }

    #[test]
    fn sig3_digits() {
        assert_eq!(sig3(0.001), "0.00100");
        assert_eq!(sig3(0.0123456), "0.0123");
        assert_eq!(sig3(999.4), "999");
        assert_eq!(sig3(999.6), "1000");
        assert_eq!(sig3(123_456.0), "123000");
        assert_eq!(sig3(100.0), "100");
        assert_eq!(sig3(10.0), "10.0");
        assert_eq!(sig3(1.0), "1.00");
        assert_eq!(sig3(-4.56), "-4.56");
    }

    /// The step of a tick list, checked to be 1, 2 or 5 times a power of ten.
    fn assert_nice(ticks: &[f64], lo: f64, hi: f64, max_ticks: usize) {
        assert!(ticks.len() >= 2, "{ticks:?}");
        assert!(ticks.len() <= max_ticks.max(3), "{ticks:?}");
        assert!(
            ticks[0] <= lo && *ticks.last().unwrap() >= hi,
            "{ticks:?} {lo} {hi}"
        );
        let step = ticks[1] - ticks[0];
        let mantissa = step / 10f64.powf(step.log10().floor());
        assert!(
            [1.0, 2.0, 5.0, 10.0]
                .iter()
                .any(|m| (mantissa - m).abs() < 1e-6),
            "step {step} in {ticks:?}"
        );
        for w in ticks.windows(2) {
            assert!(((w[1] - w[0]) - step).abs() <= step * 1e-9, "{ticks:?}");
        }
    }

    #[test]
    fn ticks_are_1_2_5_and_cover_the_range() {
        let cases = [
            (0.0, 1.0, 5),
            (0.0, 0.873, 6),
            (0.0, 97.0, 5),
            (3.0, 97.0, 10),
            (-13.0, 42.0, 6),
            (0.0012, 0.0143, 5),
            (1_000_000.0, 1_000_003.0, 5),
            (0.0, 3_500_000.0, 4),
            (-5.0, -1.0, 5),
            (0.0, 1e300, 5),
            (-1e308, 1e308, 5),
            (-f64::MAX, f64::MAX, 5),
            (0.0, 12_345.0, 2),
            (1.7e12, 1.7e12 + 3.6e6, 7),
        ];
        for (lo, hi, n) in cases {
            let ticks = nice_ticks(lo, hi, n);
            if ticks.len() == 2 && ticks[0] == lo && ticks[1] == hi {
                // The fallback for ranges without representable round steps.
                assert!(hi > 1e307, "{lo} {hi}");
                continue;
            }
            assert_nice(&ticks, lo, hi, n);
        }
        assert_eq!(nice_ticks(0.0, 1.0, 6), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(0.0, 97.0, 6),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(0.0, 0.3, 4), vec![0.0, 0.1, 0.2, 0.3]);
        assert_eq!(nice_ticks(1.0, 0.0, 3), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn ticks_edge_cases() {
        assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
        assert!(nice_ticks(0.0, f64::INFINITY, 5).is_empty());
        let t = nice_ticks(0.0, 0.0, 5);
        assert_nice(&t, 0.0, 0.0, 5);
        let t = nice_ticks(5.0, 5.0, 5);
        assert_nice(&t, 5.0, 5.0, 5);
        assert!(t[0] < 5.0 && *t.last().unwrap() > 5.0);
        // Tiny, subnormal and huge ranges never yield non-finite ticks.
        for (lo, hi) in [
            (0.0, 1e-320),
            (0.0, f64::MIN_POSITIVE),
            (f64::MAX, f64::MAX),
            (-f64::MAX, -f64::MAX),
        ] {
            let t = nice_ticks(lo, hi, 5);
            assert!(t.len() >= 2 && t.iter().all(|v| v.is_finite()), "{t:?}");
            assert!(t[0] <= lo && *t.last().unwrap() >= hi, "{t:?}");
        }
        // Fewer than three requested still gives a usable axis.
        assert_nice(&nice_ticks(-1.0, 1.0, 1), -1.0, 1.0, 3);
    }

    #[test]
    fn byte_ticks_step_in_binary_units() {
        let mib = 1024.0 * 1024.0;
        let t = axis_ticks(0.0, 900.0 * mib, 6, Unit::Bytes);
        assert_eq!(t.last().copied(), Some(1000.0 * mib));
        assert!(t.iter().all(|v| (v / mib).fract() == 0.0), "{t:?}");
        let labels: Vec<String> = t.iter().map(|&v| human_short(v, Unit::Bytes)).collect();
        assert_eq!(labels[1], "200 MiB");
        assert_eq!(
            axis_ticks(0.0, 0.9, 3, Unit::Bytes),
            nice_ticks(0.0, 0.9, 3)
        );
    }
}
