//! `[alerting.limits]`: bounds on what people and time add to the alert tables
//! (silences, acknowledgements, the history), so that no client and no year of
//! running makes the store, the memory or the alerts page grow without end.
//! Alertmanager's `--silences.max-silences` and `--silences.max-silence-size-bytes`
//! are the model; its defaults are unlimited, ours are not.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertLimits {
    /// Silences not yet ended (active or pending) at once.
    pub max_silences: usize,
    /// Matchers of one silence.
    pub max_matchers: usize,
    /// Bytes of one text field: a matcher, `created_by`, `by`, a comment.
    pub max_text_bytes: usize,
    /// Bytes of one silence's matchers, author and comment together.
    pub max_silence_bytes: usize,
    /// Ended silences are kept this long (shown on the alerts page), then deleted.
    #[serde(with = "crate::time::duration")]
    pub silence_retention: Duration,
    /// Alert history entries older than this are deleted.
    #[serde(with = "crate::time::duration")]
    pub history_retention: Duration,
    /// At most this many history entries are kept; the oldest go first.
    pub max_history_entries: u64,
}

impl Default for AlertLimits {
    fn default() -> Self {
        AlertLimits {
            max_silences: 1000,
            max_matchers: 32,
            max_text_bytes: 2048,
            max_silence_bytes: 8192,
            silence_retention: Duration::from_secs(5 * 86_400),
            history_retention: Duration::from_secs(400 * 86_400),
            max_history_entries: 1_000_000,
        }
    }
}

impl AlertLimits {
    /// Checks the settings; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let field = |f: &str| format!("alerting.limits.{f}");
        let in_range = |f: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err((field(f), format!("{v} is not between {lo} and {hi}")))
            }
        };
        in_range("max_silences", self.max_silences as u64, 1, 100_000)?;
        in_range("max_matchers", self.max_matchers as u64, 1, 1000)?;
        in_range("max_text_bytes", self.max_text_bytes as u64, 64, 1 << 20)?;
        in_range(
            "max_silence_bytes",
            self.max_silence_bytes as u64,
            64,
            1 << 22,
        )?;
        in_range(
            "max_history_entries",
            self.max_history_entries,
            1000,
            100_000_000,
        )?;
        const DAY: u64 = 86_400;
        for (f, d) in [
            ("silence_retention", self.silence_retention),
            ("history_retention", self.history_retention),
        ] {
            if d.as_secs() < 3600 || d.as_secs() > 10 * 366 * DAY {
                return Err((field(f), "must be between 1h and 10 years".into()));
            }
        }
        Ok(())
    }

    /// Checks one text field of a request against `max_text_bytes`.
    pub fn check_text(&self, field: &str, text: &str) -> Result<(), String> {
        if text.len() > self.max_text_bytes {
            return Err(format!(
                "{field}: {} bytes; at most {} (alerting.limits.max_text_bytes)",
                text.len(),
                self.max_text_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        AlertLimits::default().validate().unwrap();
        let l = AlertLimits {
            max_silences: 0,
            ..AlertLimits::default()
        };
        assert_eq!(l.validate().unwrap_err().0, "alerting.limits.max_silences");
        let l = AlertLimits {
            history_retention: Duration::from_secs(1),
            ..AlertLimits::default()
        };
        assert_eq!(
            l.validate().unwrap_err().0,
            "alerting.limits.history_retention"
        );
        let e = AlertLimits::default()
            .check_text("comment", &"x".repeat(5000))
            .unwrap_err();
        assert!(e.starts_with("comment: 5000 bytes; at most 2048"), "{e}");
    }
}
