//! Remote write: ships the samples the store keeps to Prometheus-compatible
//! receivers (Prometheus, Mimir, Cortex, Thanos receive, VictoriaMetrics) with the
//! remote-write 1.0 protocol (snappy-compressed protobuf over HTTP POST).
//!
//! - Each `[[remote_write]]` target is a reader of the store's outbox (see
//!   `store/outbox.rs`): every sample the store accepts is there, written in the
//!   same commit, so what is stored is shipped and a restart resumes where the
//!   receiver's last acknowledgement left off (one batch may be sent twice).
//! - One request at a time per target, in the order the samples were stored, so
//!   a receiver that refuses out-of-order samples (Prometheus) takes them all.
//! - A receiver that is down or answers 5xx or 429 gets the same request again,
//!   after a backoff that doubles up to `max_backoff`; meanwhile samples queue in
//!   the outbox on disk, up to `queue_max_bytes`, past which the oldest are
//!   dropped and counted. Other 4xx answers mean the receiver will never take the
//!   batch (as Prometheus does, it is dropped and counted as failed).

mod proto;
mod sender;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use proto::{
    encode_request, encode_series, series_labels, Label, Sample, TimeSeries, WriteRequest,
};
pub use sender::{RemoteWriteStats, RemoteWriteStatus, Shipper, ShipperView};

#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("remote_write {target}: {field}: {message}")]
    Config {
        target: String,
        field: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn invalid(target: &str, field: &str, message: impl Into<String>) -> RemoteWriteError {
    RemoteWriteError::Config {
        target: target.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// One `[[remote_write]]` target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// Names the target in logs and `/metrics`, and its place in the outbox:
    /// renaming a target starts it afresh.
    pub name: String,
    /// The receiver's write endpoint, e.g. `http://prometheus:9090/api/v1/write`.
    pub url: String,
    /// Deadline of one request, connecting included.
    #[serde(default = "default_timeout", with = "crate::time::duration")]
    pub timeout: Duration,
    /// Metric names to ship, exact or with `*` wildcards; empty ships every one.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Labels added to every series, unless it has one of that name already (as
    /// Prometheus' `external_labels`).
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Extra request headers, e.g. `X-Scope-OrgID` for a multi-tenant Mimir.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A bearer token, from an environment variable or a file.
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Basic auth: the user, and the password from an environment variable or a file.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// CA certificates (PEM) to trust besides the system's, for an HTTPS receiver.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Samples in one request at most.
    #[serde(default = "default_max_samples_per_send")]
    pub max_samples_per_send: usize,
    /// The first wait before sending a refused request again, doubled each time.
    #[serde(default = "default_min_backoff", with = "crate::time::duration")]
    pub min_backoff: Duration,
    #[serde(default = "default_max_backoff", with = "crate::time::duration")]
    pub max_backoff: Duration,
    /// Bytes of samples kept on disk for this target while its receiver is down;
    /// past it the oldest are dropped and counted.
    #[serde(default = "default_queue_max_bytes", with = "crate::byte_size")]
    pub queue_max_bytes: u64,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_samples_per_send() -> usize {
    2000
}
fn default_min_backoff() -> Duration {
    Duration::from_millis(100)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_queue_max_bytes() -> u64 {
    1 << 30
}

/// Bounds of `max_samples_per_send`: Prometheus' receivers take 10k-sample
/// requests; more only makes a retry costlier.
pub const MAX_SAMPLES_PER_SEND: std::ops::RangeInclusive<usize> = 1..=50_000;

/// Headers the protocol sets itself: a config may not replace them.
const RESERVED_HEADERS: [&str; 6] = [
    "authorization",
    "content-encoding",
    "content-type",
    "content-length",
    "user-agent",
    "x-prometheus-remote-write-version",
];

impl RemoteWriteConfig {
    /// Checks what types cannot; each error names the target and the field.
    pub fn validate(&self) -> Result<(), RemoteWriteError> {
        let name = &self.name;
        if !crate::text::is_plain_name(name) || name.len() > 64 {
            return Err(invalid(
                name,
                "name",
                "1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        match reqwest::Url::parse(&self.url) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => return Err(invalid(
                name,
                "url",
                "has credentials in it: give them as username and password_env or password_file",
            )),
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(invalid(
                    name,
                    "url",
                    format!("{:?} is not an http(s) URL", self.url),
                ))
            }
        }
        if self.timeout < Duration::from_millis(100) || self.timeout > Duration::from_secs(600) {
            return Err(invalid(name, "timeout", "must be between 100ms and 10m"));
        }
        if !MAX_SAMPLES_PER_SEND.contains(&self.max_samples_per_send) {
            return Err(invalid(
                name,
                "max_samples_per_send",
                format!(
                    "must be between {} and {}",
                    MAX_SAMPLES_PER_SEND.start(),
                    MAX_SAMPLES_PER_SEND.end()
                ),
            ));
        }
        if self.min_backoff < Duration::from_millis(10) || self.min_backoff > self.max_backoff {
            return Err(invalid(
                name,
                "min_backoff",
                "must be at least 10ms and at most max_backoff",
            ));
        }
        if self.max_backoff > Duration::from_secs(600) {
            return Err(invalid(name, "max_backoff", "must be at most 10m"));
        }
        if self.queue_max_bytes < (1 << 20) {
            return Err(invalid(name, "queue_max_bytes", "must be at least 1MiB"));
        }
        for (i, pattern) in self.metrics.iter().enumerate() {
            if pattern.is_empty()
                || !pattern
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_:*".contains(c))
            {
                return Err(invalid(
                    name,
                    &format!("metrics[{i}]"),
                    format!("{pattern:?}: a metric name, with '*' for any characters"),
                ));
            }
        }
        for label in self.external_labels.keys() {
            if !crate::labels::is_valid_name(label) || label.starts_with("__") {
                return Err(invalid(
                    name,
                    "external_labels",
                    format!("{label:?} is not a label name (letters, digits, '_'; not starting with a digit or '__')"),
                ));
            }
        }
        for (header, value) in &self.headers {
            let lower = header.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(invalid(
                    name,
                    "headers",
                    format!("{header} is set by the protocol or by token/username"),
                ));
            }
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(invalid(
                    name,
                    "headers",
                    format!("{header:?} is not a valid header name, or its value is not valid"),
                ));
            }
        }
        let token = self.token_env.is_some() || self.token_file.is_some();
        let password = self.password_env.is_some() || self.password_file.is_some();
        if token && (self.username.is_some() || password) {
            return Err(invalid(
                name,
                "token_env",
                "a bearer token and basic auth (username) exclude each other",
            ));
        }
        if password != self.username.is_some() {
            return Err(invalid(
                name,
                "username",
                "basic auth needs both username and password_env or password_file",
            ));
        }
        if let Some(path) = &self.ca_file {
            if let Err(e) = std::fs::metadata(path) {
                return Err(invalid(name, "ca_file", format!("{}: {e}", path.display())));
            }
        }
        Ok(())
    }

    /// Whether samples of the metric `name` are shipped.
    pub fn ships(&self, name: &str) -> bool {
        self.metrics.is_empty() || self.metrics.iter().any(|p| wildcard_match(p, name))
    }
}

/// Checks every target and that no two share a name.
pub fn validate_all(targets: &[RemoteWriteConfig]) -> Result<(), RemoteWriteError> {
    let mut names = std::collections::HashSet::new();
    for t in targets {
        t.validate()?;
        if !names.insert(t.name.as_str()) {
            return Err(invalid(&t.name, "name", "two targets have this name"));
        }
    }
    Ok(())
}

/// `pattern` with `*` matching any run of characters, against all of `text`.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Starts a shipper per target over `store` (whose outbox must have been opened
/// with these targets, see [`outbox_readers`]); they run until `stop`.
pub fn start(
    targets: &[RemoteWriteConfig],
    store: Arc<crate::store::Store>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<Shipper>, RemoteWriteError> {
    targets
        .iter()
        .map(|t| Shipper::start(t.clone(), store.clone(), stop.clone()))
        .collect()
}

/// The outbox readers these targets need: their names and queue bounds.
pub fn outbox_readers(targets: &[RemoteWriteConfig]) -> Vec<(&str, u64)> {
    targets
        .iter()
        .map(|t| (t.name.as_str(), t.queue_max_bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> RemoteWriteConfig {
        toml::from_str(
            r#"
            name = "mimir"
            url = "http://127.0.0.1:9009/api/v1/push"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn defaults_are_prometheus_like_and_every_bad_field_is_named() {
        let t = target();
        t.validate().unwrap();
        assert_eq!(t.max_samples_per_send, 2000);
        assert_eq!(t.queue_max_bytes, 1 << 30);
        type Change = Box<dyn Fn(&mut RemoteWriteConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("name", Box::new(|t| t.name = "a b".into())),
            ("url", Box::new(|t| t.url = "ftp://x/".into())),
            ("url", Box::new(|t| t.url = "not a url".into())),
            ("timeout", Box::new(|t| t.timeout = Duration::ZERO)),
            (
                "max_samples_per_send",
                Box::new(|t| t.max_samples_per_send = 0),
            ),
            (
                "min_backoff",
                Box::new(|t| t.min_backoff = Duration::from_secs(60)),
            ),
            ("queue_max_bytes", Box::new(|t| t.queue_max_bytes = 10)),
            (
                "metrics[1]",
                Box::new(|t| t.metrics = vec!["etcd_*".into(), "a{b}".into()]),
            ),
            (
                "external_labels",
                Box::new(|t| {
                    t.external_labels.insert("__x".into(), "y".into());
                }),
            ),
            (
                "headers",
                Box::new(|t| {
                    t.headers.insert("Authorization".into(), "y".into());
                }),
            ),
            (
                "token_env",
                Box::new(|t| {
                    t.token_env = Some("T".into());
                    t.username = Some("u".into());
                    t.password_env = Some("P".into());
                }),
            ),
            ("username", Box::new(|t| t.username = Some("u".into()))),
            (
                "ca_file",
                Box::new(|t| t.ca_file = Some("/nonexistent/ca.pem".into())),
            ),
        ];
        for (field, change) in cases {
            let mut t = target();
            change(&mut t);
            let e = t.validate().unwrap_err().to_string();
            let target = if field == "name" { "a b" } else { "mimir" };
            assert!(
                e.starts_with(&format!("remote_write {target}: {field}: ")),
                "{field}: {e}"
            );
        }
        let twice = validate_all(&[target(), target()]).unwrap_err().to_string();
        assert!(twice.contains("two targets"), "{twice}");
    }

    #[test]
    fn metric_patterns_match_whole_names() {
        let mut t = target();
        assert!(t.ships("anything"));
        t.metrics = vec![
            "etcd_disk_*_seconds_bucket".into(),
            "up".into(),
            "etcd_monitor:*".into(),
        ];
        assert!(t.ships("etcd_disk_wal_fsync_duration_seconds_bucket"));
        assert!(t.ships("up"));
        assert!(t.ships("etcd_monitor:wal_fsync_p99_seconds"));
        assert!(!t.ships("upx"));
        assert!(!t.ships("etcd_disk_wal_fsync_duration_seconds_sum"));
        assert!(wildcard_match("a*b*c", "abc"));
        assert!(wildcard_match("a*b*c", "a-b-b-c"));
        assert!(!wildcard_match("a*b*c", "ac"));
        assert!(!wildcard_match("ab*ba", "aba"));
    }
}
