//! The time range of the chart pages: presets (`range=1h`..`30d`) or `from` and `to`,
//! and the picker that links to them.

use super::layout::Link;
use super::PageError;
use crate::web::ApiError;

/// The time range of a page: `range=1h|6h|24h|7d|30d`, or `from` and `to`.
#[derive(Debug, Clone, serde::Deserialize, Default)]
pub struct RangeParams {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub const RANGES: [(&str, i64); 5] = [
    ("1h", 3_600_000),
    ("6h", 6 * 3_600_000),
    ("24h", 24 * 3_600_000),
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
];

/// A resolved time range.
#[derive(Debug, Clone)]
pub struct TimeRange {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `1h`..`30d`, or None for a custom range.
    pub preset: Option<&'static str>,
}

impl RangeParams {
    pub fn resolve(&self, now: i64) -> Result<TimeRange, PageError> {
        let custom = self.from.as_deref().is_some_and(|s| !s.is_empty())
            || self.to.as_deref().is_some_and(|s| !s.is_empty());
        if custom {
            let to = match self.to.as_deref().filter(|s| !s.is_empty()) {
                Some(t) => crate::web::api::parse_time("to", t, now)?,
                None => now,
            };
            let from = match self.from.as_deref().filter(|s| !s.is_empty()) {
                Some(t) => crate::web::api::parse_time("from", t, now)?,
                None => to.saturating_sub(3_600_000).max(crate::time::EARLIEST_MS),
            };
            if from >= to {
                return Err(PageError(ApiError::BadRequest(format!(
                    "from ({}) must be before to ({})",
                    self.from.as_deref().unwrap_or(""),
                    self.to.as_deref().unwrap_or("now")
                ))));
            }
            return Ok(TimeRange {
                from_ms: from,
                to_ms: to,
                preset: None,
            });
        }
        let name = self
            .range
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("1h");
        let (preset, width) = RANGES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            PageError(ApiError::BadRequest(format!(
                "range={name:?} is not one of 1h, 6h, 24h, 7d, 30d (or give from and to)"
            )))
        })?;
        Ok(TimeRange {
            from_ms: now.saturating_sub(*width),
            to_ms: now,
            preset: Some(preset),
        })
    }
}

/// Links to the preset ranges and a form for a custom one.
pub struct RangePicker {
    /// The form's action without its query: a GET form replaces the query.
    pub action: String,
    /// The page's other parameters, sent again by the form.
    pub hidden: Vec<(String, String)>,
    pub presets: Vec<Link>,
    pub from: String,
    pub to: String,
}

impl RangePicker {
    pub fn new(base: &str, range: &TimeRange) -> Self {
        let sep = if base.contains('?') { '&' } else { '?' };
        let rfc = crate::time::rfc3339_seconds;
        RangePicker {
            action: base.split('?').next().unwrap_or(base).to_string(),
            hidden: Vec::new(),
            presets: RANGES
                .iter()
                .map(|(name, _)| Link {
                    label: name.to_string(),
                    href: format!("{base}{sep}range={name}"),
                    current: range.preset == Some(name),
                })
                .collect(),
            from: rfc(range.from_ms),
            to: rfc(range.to_ms),
        }
    }
}

impl RangePicker {
    pub fn keeping(mut self, params: &[(&str, String)]) -> Self {
        self.hidden = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(range: Option<&str>, from: Option<&str>, to: Option<&str>) -> RangeParams {
        RangeParams {
            range: range.map(str::to_string),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        }
    }

    fn bad_request(r: Result<TimeRange, PageError>) -> String {
        match r {
            Err(PageError(ApiError::BadRequest(m))) => m,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn ranges_resolve_presets_custom_and_name_what_is_wrong() {
        let now = 1_800_000_000_000;
        let r = params(None, None, None).resolve(now).unwrap();
        assert_eq!(
            (r.from_ms, r.to_ms, r.preset),
            (now - 3_600_000, now, Some("1h"))
        );
        let r = params(Some("7d"), None, None).resolve(now).unwrap();
        assert_eq!(r.from_ms, now - 7 * 86_400_000);
        let r = params(None, Some("-6h"), Some("now")).resolve(now).unwrap();
        assert_eq!(
            (r.from_ms, r.to_ms, r.preset),
            (now - 6 * 3_600_000, now, None)
        );
        let r = params(Some("30d"), Some("2026-11-27T10:00:00Z"), None)
            .resolve(now)
            .unwrap();
        assert_eq!(r.preset, None, "from/to win over range");
        // An empty field (a form sent as it was) is the default.
        let r = params(Some(""), Some(""), Some("")).resolve(now).unwrap();
        assert_eq!(r.preset, Some("1h"));
        // The explorer's range links and form keep what was being explored.
        let picker = RangePicker::new("/explore?cluster=a&metric=x%7B%7D", &r)
            .keeping(&[("cluster", "a".into()), ("metric", "x{}".into())]);
        assert_eq!(picker.action, "/explore");
        assert_eq!(
            picker.presets[1].href,
            "/explore?cluster=a&metric=x%7B%7D&range=6h"
        );
        assert_eq!(picker.hidden[1], ("metric".to_string(), "x{}".to_string()));
        assert!(bad_request(params(Some("2y"), None, None).resolve(now)).contains("range="));
        assert!(bad_request(params(None, Some("garbage"), None).resolve(now)).contains("from="));
        assert!(bad_request(params(None, None, Some("x")).resolve(now)).contains("to="));
        assert!(
            bad_request(params(None, Some("-1h"), Some("-2h")).resolve(now)).contains("before")
        );
    }
}
