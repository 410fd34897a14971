//! Times as the monitor keeps them (unix milliseconds in an `i64`) and as it shows
//! them. Shared vocabulary: every layer may use it.
//!
//! Every function here is total: a time read from a request, a stored record written
//! by another version, or a corrupted byte never panics a formatter. The range a
//! time may take when it comes in is [`EARLIEST_MS`]..=[`LATEST_MS`]; outside it a
//! formatter still answers, with the raw number.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod duration;

/// 1970-01-01T00:00:00Z.
pub const EARLIEST_MS: i64 = 0;
/// 9999-12-31T23:59:59.999Z: the last time RFC 3339 can write with four digits.
pub const LATEST_MS: i64 = 253_402_300_799_999;

/// Wall-clock time as unix milliseconds (0 before 1970).
pub fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Unix milliseconds of `t`, negative before 1970, saturating at the ends of i64.
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Whether `ms` lies in the range every time the monitor accepts must lie in.
pub fn in_range(ms: i64) -> bool {
    (EARLIEST_MS..=LATEST_MS).contains(&ms)
}

/// `ms` as a `SystemTime`, when it is in range.
pub fn system_time(ms: i64) -> Option<SystemTime> {
    in_range(ms).then(|| UNIX_EPOCH + Duration::from_millis(ms as u64))
}

/// Checks a time that comes in (a request, a file): the error names `field`.
pub fn check(field: &str, ms: i64) -> Result<i64, String> {
    if in_range(ms) {
        Ok(ms)
    } else {
        Err(format!(
            "{field}: {ms} is not a time between 1970 and 9999 (unix milliseconds)"
        ))
    }
}

/// `2026-12-02T10:00:00Z`; out of range, `unix ms N`.
pub fn rfc3339_seconds(ms: i64) -> String {
    match system_time(ms) {
        Some(t) => humantime::format_rfc3339_seconds(t).to_string(),
        None => out_of_range(ms),
    }
}

/// `2026-12-02T10:00:00.123Z`; out of range, `unix ms N`.
pub fn rfc3339_millis(ms: i64) -> String {
    match system_time(ms) {
        Some(t) => humantime::format_rfc3339_millis(t).to_string(),
        None => out_of_range(ms),
    }
}

/// As [`rfc3339_seconds`], of a `SystemTime`.
pub fn system_rfc3339_seconds(t: SystemTime) -> String {
    rfc3339_seconds(unix_ms(t))
}

/// As [`rfc3339_millis`], of a `SystemTime`.
pub fn system_rfc3339_millis(t: SystemTime) -> String {
    rfc3339_millis(unix_ms(t))
}

/// Civil UTC date and time of unix ms (proleptic Gregorian; Hinnant's days-to-civil).
pub fn utc(ms: i64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let sod = sod as u32;
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
}

/// Days since 1970-01-01 of a civil date (Hinnant's days-from-civil).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn out_of_range(ms: i64) -> String {
    format!("unix ms {ms}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatters_are_total() {
        for ms in [i64::MIN, -1, 0, 1, LATEST_MS, LATEST_MS + 1, i64::MAX] {
            let s = rfc3339_seconds(ms);
            let m = rfc3339_millis(ms);
            assert_eq!(in_range(ms), !s.starts_with("unix ms"), "{ms}: {s}");
            assert_eq!(in_range(ms), !m.starts_with("unix ms"), "{ms}: {m}");
        }
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_millis(LATEST_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_seconds(i64::MAX), format!("unix ms {}", i64::MAX));
    }

    #[test]
    fn system_times_saturate() {
        assert_eq!(unix_ms(UNIX_EPOCH), 0);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_millis(5)), -5);
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 2);
        assert_eq!(unix_ms(far), i64::MAX);
        assert_eq!(system_rfc3339_seconds(far), format!("unix ms {}", i64::MAX));
    }

    #[test]
    fn check_names_the_field() {
        assert_eq!(check("ends_at_ms", 5), Ok(5));
        let e = check("ends_at_ms", i64::MAX).unwrap_err();
        assert!(e.starts_with("ends_at_ms: "), "{e}");
    }
}
