//! How values are shown on every page: times for `<time>`, statuses as a word and a
//! class, sizes, the dash of an unknown value, durations.

use crate::collect::snapshot::{ClusterSnapshot, ClusterStatus, Timestamp};
use crate::units::{human, Unit};

/// A time for `<time>`: UTC text that the page's script turns into local time.
pub struct TimeView {
    pub iso: String,
    pub ms: i64,
    pub utc: String,
}

impl TimeView {
    pub fn new(t: Timestamp) -> Self {
        let iso = crate::time::system_rfc3339_seconds(t.0);
        TimeView {
            utc: iso.replace('T', " ").replace('Z', " UTC"),
            iso,
            ms: t.unix_ms(),
        }
    }
}

/// A status as a word and a CSS class.
pub struct StatusView {
    pub label: &'static str,
    pub class: &'static str,
}

impl StatusView {
    pub fn of(s: ClusterStatus) -> Self {
        let (label, class) = match s {
            ClusterStatus::Pending => ("not probed yet", "pending"),
            ClusterStatus::Healthy => ("healthy", "ok"),
            ClusterStatus::Degraded => ("degraded", "warn"),
            ClusterStatus::Unavailable => ("unavailable", "bad"),
        };
        StatusView { label, class }
    }
}

pub fn dash() -> String {
    "–".to_string()
}

pub fn bytes(b: i64) -> String {
    human(b as f64, Unit::Bytes)
}

/// DB size against the quota, from the largest member.
pub fn db_usage(c: &ClusterSnapshot) -> (String, &'static str) {
    let biggest = c
        .members
        .iter()
        .filter_map(|m| m.status.as_ref().map(|s| (m, s.db_size)))
        .max_by_key(|(_, size)| *size);
    let Some((m, size)) = biggest else {
        return (dash(), "");
    };
    let quota = m.indicators.as_ref().and_then(|i| i.quota_backend_bytes);
    match quota {
        Some(q) if q > 0.0 => {
            let ratio = size as f64 / q;
            let class = if ratio >= 0.9 {
                "bad"
            } else if ratio >= 0.8 {
                "warn"
            } else {
                "ok"
            };
            (
                format!(
                    "{} of {} ({})",
                    bytes(size),
                    human(q, Unit::Bytes),
                    human(ratio, Unit::Ratio)
                ),
                class,
            )
        }
        _ => (format!("{} (quota unknown)", bytes(size)), ""),
    }
}

pub fn ms_time(ms: i64) -> TimeView {
    let iso = crate::time::rfc3339_seconds(ms);
    TimeView {
        utc: iso.replace('T', " ").replace('Z', " UTC"),
        iso,
        ms,
    }
}

/// A duration in whole seconds, largest units first ("1h 2m 3s"): how long something
/// has lasted, where milliseconds are noise.
pub fn duration_text(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs((ms.max(0) / 1000) as u64))
        .to_string()
}
