//! Parser for the Prometheus text exposition format (version 0.0.4), as served
//! by etcd on `/metrics`.
//!
//! The parser is zero-copy: metric names, label names and label values borrow
//! from the input text. Only label values (and `# HELP` texts) that contain
//! escape sequences get an owned, unescaped copy. All labels of a scrape live
//! in one flat vector and each sample refers to a range of it, so parsing does
//! not allocate per sample.
//!
//! ```
//! use etcd_monitor::promtext::{parse, MetricType};
//!
//! let text = "# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n";
//! let scrape = parse(text).unwrap();
//! assert_eq!(scrape.len(), 1);
//! assert_eq!(scrape.family_type("etcd_server_has_leader"), Some(MetricType::Gauge));
//! let sample = scrape.samples().next().unwrap();
//! assert_eq!(sample.name(), "etcd_server_has_leader");
//! assert_eq!(sample.value(), 1.0);
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

mod number;
mod parser;
#[cfg(test)]
mod tests;

/// The type of a metric family, as declared by a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    /// The keyword used for this type in a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }

    fn from_keyword(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Untyped,
            _ => return None,
        })
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A syntax error in the exposition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number of the offending line.
    pub line: usize,
    pub message: String,
}

/// One label of a sample; the value is unescaped.
#[derive(Debug, Clone)]
struct Label<'a> {
    name: &'a str,
    value: Cow<'a, str>,
}

/// One sample line; its labels are `labels[start..end]` of the scrape.
#[derive(Debug, Clone)]
struct RawSample<'a> {
    name: &'a str,
    value: f64,
    timestamp_ms: Option<i64>,
    labels_start: u32,
    labels_end: u32,
    /// `name{a="x",b="y"}` as written in the input, when that already is what
    /// [`SampleRef::series_text`] gives (no blanks, no trailing comma, labels present;
    /// escapes are always written back as read), so the text is copied, not rebuilt:
    /// rebuilding it char by char showed in profiles of the collector.
    series: Option<&'a str>,
}

#[derive(Debug, Clone, Default)]
struct FamilyMeta<'a> {
    ty: Option<MetricType>,
    help: Option<Cow<'a, str>>,
}

/// The result of parsing one exposition text. Borrows from the input.
#[derive(Debug, Clone, Default)]
pub struct Scrape<'a> {
    samples: Vec<RawSample<'a>>,
    labels: Vec<Label<'a>>,
    /// Families with a HELP or TYPE line, in order of first appearance.
    families: Vec<(&'a str, FamilyMeta<'a>)>,
    /// Family name -> index into `families`.
    family_index: HashMap<&'a str, u32>,
}

/// Parses a complete exposition text.
///
/// Accepts LF or CRLF line endings, a missing final newline and empty input.
/// Any syntax error is reported with its 1-based line number.
pub fn parse(text: &str) -> Result<Scrape<'_>, ParseError> {
    parser::parse(text)
}

impl<'a> Scrape<'a> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when the text held no sample (comments only, or nothing).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// All samples, in input order.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = SampleRef<'_>> + DoubleEndedIterator {
        let samples: &[RawSample<'_>] = &self.samples;
        let labels: &[Label<'_>] = &self.labels;
        samples.iter().map(move |raw| SampleRef { raw, labels })
    }

    /// The type declared for `family` by a `# TYPE` line, if any.
    ///
    /// `family` is the family name (`etcd_disk_wal_fsync_duration_seconds`),
    /// not a sample name with a `_bucket`/`_sum`/`_count` suffix.
    pub fn family_type(&self, family: &str) -> Option<MetricType> {
        self.family(family).and_then(|f| f.ty)
    }

    /// The (unescaped) `# HELP` text declared for `family`, if any.
    pub fn help(&self, family: &str) -> Option<&str> {
        self.family(family).and_then(|f| f.help.as_deref())
    }

    fn family(&self, family: &str) -> Option<&FamilyMeta<'a>> {
        let &i = self.family_index.get(family)?;
        Some(&self.families[i as usize].1)
    }
}

/// A view of one sample of a [`Scrape`].
#[derive(Clone, Copy)]
pub struct SampleRef<'s> {
    raw: &'s RawSample<'s>,
    labels: &'s [Label<'s>],
}

impl<'s> SampleRef<'s> {
    /// The sample's metric name, e.g. `etcd_disk_wal_fsync_duration_seconds_bucket`.
    pub fn name(&self) -> &'s str {
        self.raw.name
    }

    pub fn value(&self) -> f64 {
        self.raw.value
    }

    /// The optional timestamp, in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.raw.timestamp_ms
    }

    /// The unescaped value of label `key`, if the sample has it.
    pub fn label(&self, key: &str) -> Option<&'s str> {
        self.label_slice()
            .iter()
            .find(|l| l.name == key)
            .map(|l| l.value.as_ref())
    }

    /// All labels as `(name, unescaped value)`, in input order.
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&'s str, &'s str)> + 's {
        self.label_slice()
            .iter()
            .map(|l| (l.name, l.value.as_ref()))
    }

    /// The series as exposition text, `name{a="x",b="y"}` (labels in input order,
    /// values escaped again), or just `name`: what identifies it in the store.
    pub fn series_text(&self) -> String {
        match self.raw.series {
            Some(written) => written.to_string(),
            None => self.rebuilt_series_text(),
        }
    }

    fn rebuilt_series_text(&self) -> String {
        let labels = self.label_slice();
        if labels.is_empty() {
            return self.name().to_string();
        }
        let mut out = String::with_capacity(self.name().len() + 16 * labels.len());
        out.push_str(self.name());
        out.push('{');
        for (i, l) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(l.name);
            out.push_str("=\"");
            for ch in l.value.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
        out
    }

    fn label_slice(&self) -> &'s [Label<'s>] {
        &self.labels[self.raw.labels_start as usize..self.raw.labels_end as usize]
    }
}

impl fmt::Debug for SampleRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleRef")
            .field("name", &self.name())
            .field("labels", &self.labels().collect::<Vec<_>>())
            .field("value", &self.value())
            .field("timestamp_ms", &self.timestamp_ms())
            .finish()
    }
}
