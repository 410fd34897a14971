//! Durations shown back to people (`config check`, settings in JSON) in the form they
//! are written in a config: one number in the largest unit that holds it whole, `400d`,
//! `30d`, `90m`, `15s`, `250ms`. Not humantime's `1year 1month 4days 7h 26m 24s`:
//! nobody writes a retention so, and humantime's year (365.25 days) and month (30.44)
//! are not what a reader takes them for. Days are the largest unit for that reason.
//!
//! As a serde `with` module: serializes so; deserializes as humantime does
//! (`"1h 30m"`, `"400days"`, `"2d"`), so every value written reads back the same.

use std::time::Duration;

use serde::{Deserializer, Serializer};

/// Units from the largest, in nanoseconds.
const UNITS: [(u128, &str); 7] = [
    (86_400_000_000_000, "d"),
    (3_600_000_000_000, "h"),
    (60_000_000_000, "m"),
    (1_000_000_000, "s"),
    (1_000_000, "ms"),
    (1_000, "us"),
    (1, "ns"),
];

/// `d` in the largest unit that holds it whole (`0s` for zero).
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let (size, unit) = UNITS
        .into_iter()
        .find(|(size, _)| nanos.is_multiple_of(*size))
        .unwrap_or((1, "ns"));
    format!("{}{unit}", nanos / size)
}

/// What the `with` functions take: a duration, or an optional one.
pub trait AsText: Sized {
    fn to_text(&self) -> Option<String>;
}

impl AsText for Duration {
    fn to_text(&self) -> Option<String> {
        Some(format(*self))
    }
}

impl AsText for Option<Duration> {
    fn to_text(&self) -> Option<String> {
        self.map(format)
    }
}

pub fn serialize<T: AsText, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    match value.to_text() {
        Some(text) => s.serialize_str(&text),
        None => s.serialize_none(),
    }
}

pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
where
    humantime_serde::Serde<T>: serde::Deserialize<'de>,
    D: Deserializer<'de>,
{
    humantime_serde::deserialize(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_whole_unit() {
        let cases = [
            (Duration::from_secs(400 * 86_400), "400d"),
            (Duration::from_secs(30 * 86_400), "30d"),
            (Duration::from_secs(2 * 86_400), "2d"),
            (Duration::from_secs(365 * 86_400), "365d"),
            (Duration::from_secs(4 * 3600), "4h"),
            (Duration::from_secs(36 * 3600), "36h"),
            (Duration::from_secs(90 * 60), "90m"),
            (Duration::from_secs(15), "15s"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_micros(2), "2us"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::ZERO, "0s"),
            (Duration::MAX, "18446744073709551615999999999ns"),
        ];
        for (d, want) in cases {
            assert_eq!(format(d), want, "{d:?}");
        }
    }

    #[test]
    fn what_is_shown_reads_back_the_same() {
        for d in [
            Duration::from_secs(400 * 86_400),
            Duration::from_secs(5400),
            Duration::from_millis(1500),
            Duration::from_nanos(1_000_000_007),
            Duration::ZERO,
        ] {
            assert_eq!(humantime::parse_duration(&format(d)).unwrap(), d);
        }
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super")]
        a: Duration,
        #[serde(default, with = "super")]
        b: Option<Duration>,
    }

    #[test]
    fn serde_writes_one_unit_and_reads_humantime() {
        let t: T = serde_json::from_str(r#"{"a":"1year 1month 4days 7h 26m 24s"}"#).unwrap();
        assert_eq!(t.a, Duration::from_secs(400 * 86_400));
        assert_eq!(t.b, None);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"a":"400d","b":null}"#
        );
        let t: T = serde_json::from_str(r#"{"a":"1h 30m","b":"2d"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"a":"90m","b":"2d"}"#
        );
        assert!(serde_json::from_str::<T>(r#"{"a":"soon"}"#).is_err());
    }
}
