//! Notifications: what an alert group looks like when it leaves the monitor, and the
//! receivers that carry it (email over SMTP, Slack incoming webhooks, PagerDuty Events
//! API v2 and a generic webhook in Alertmanager's format), with retries.
//!
//! This module knows nothing of rules, grouping or silences: the caller hands it one
//! [`Notification`] for one [`Receiver`] and [`deliver`] sends it, retrying with
//! backoff under a deadline. Each call is independent and holds no lock, so the
//! caller spawns one per receiver and a dead receiver never stalls the others.

mod config;
mod email;
mod http;
mod text;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

pub use config::{
    validate_receivers, EmailConfig, PagerDutyConfig, PagerDutySeverity, ReceiverConfig, Secret,
    SlackConfig, SmtpTls, WebhookConfig, DEFAULT_PAGERDUTY_URL,
};
pub use http::pagerduty_dedup_key;
pub use text::subject;

/// Sent as `User-Agent` by every HTTP notifier.
pub const USER_AGENT: &str = concat!("etcd-monitor/", env!("CARGO_PKG_VERSION"));

/// The webhook payload version Alertmanager sends and receivers check.
pub const WEBHOOK_VERSION: &str = "4";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A receiver's configuration is wrong, or a secret it names cannot be read.
    /// Never carries the secret itself.
    #[error("receiver {receiver}: {field}: {message}")]
    Config {
        receiver: String,
        field: String,
        message: String,
    },
    /// The service answered with a status other than 2xx.
    #[error("receiver {receiver}: HTTP {status}: {body}")]
    Status {
        receiver: String,
        status: u16,
        /// The start of the response body, on one line: services say there what was wrong.
        body: String,
    },
    /// No answer: connection refused or reset, TLS or protocol failure.
    #[error("receiver {receiver}: {message}")]
    Transport {
        receiver: String,
        message: String,
        /// Worth trying again (refused, reset), as opposed to a failed TLS handshake.
        transient: bool,
    },
    /// The attempt did not finish within the receiver's `timeout`.
    #[error("receiver {receiver}: no answer within {}", to_ms(*after))]
    Timeout { receiver: String, after: Duration },
    /// The SMTP server refused the message, or the conversation failed.
    #[error("receiver {receiver}: SMTP: {message}")]
    Smtp {
        receiver: String,
        message: String,
        /// Worth trying again (a 4xx reply, a lost connection), as opposed to a 5xx
        /// reply or a local problem that will fail the same way next time.
        transient: bool,
    },
    /// [`deliver`] stopped: the last error was not worth retrying, or the deadline came.
    #[error("gave up after {attempts} attempt(s) in {}: {last}", to_ms(*elapsed))]
    GaveUp {
        attempts: u32,
        elapsed: Duration,
        last: Box<NotifyError>,
    },
}

pub type Result<T> = std::result::Result<T, NotifyError>;

/// `4s 958ms`, not `4s 957ms 914us 664ns`: durations in messages, to the millisecond.
fn to_ms(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64))
}

impl NotifyError {
    /// Whether another attempt may succeed: connection failures, timeouts, 5xx and 429
    /// answers and transient SMTP replies; not a 4xx (the request itself is wrong) nor a
    /// configuration problem.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Config { .. } | NotifyError::GaveUp { .. } => false,
            NotifyError::Status { status, .. } => *status == 429 || *status >= 500,
            NotifyError::Timeout { .. } => true,
            NotifyError::Transport { transient, .. } | NotifyError::Smtp { transient, .. } => {
                *transient
            }
        }
    }

    /// The error that ended the attempts (`self` unless it is [`NotifyError::GaveUp`]).
    pub fn last(&self) -> &NotifyError {
        match self {
            NotifyError::GaveUp { last, .. } => last.last(),
            other => other,
        }
    }
}

/// Whether `e` comes from a failed TLS handshake (an untrusted certificate, a server
/// that does not speak TLS), which fails the same way next time: rustls' errors reach
/// us wrapped in an io::Error of kind InvalidData, under lettre's or reqwest's own.
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        cause = match c.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::InvalidData => return true,
            // An io::Error's `source` skips the error it wraps (hyper-rustls wraps
            // rustls' InvalidData error in one of kind Other): look inside it.
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    false
}

/// Firing or resolved: the state of one alert, and of a notification as a whole
/// (firing while any of its alerts fires).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert group as sent to one receiver. Serialized, it is exactly the JSON body
/// Alertmanager POSTs to a `webhook_config` receiver (version "4"), so receivers
/// written for Alertmanager accept it.
///
/// Field names and order follow Alertmanager's `notify/webhook/webhook.go` (`Message`:
/// the embedded `template.Data`, then `version`, `groupKey`, `truncatedAlerts`) and
/// `template/template.go` (`Data`, `Alert`); documented at
/// <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The receiver's name; [`deliver`] sets it to the receiver it sends to.
    pub receiver: String,
    pub status: AlertStatus,
    pub alerts: Vec<NotifiedAlert>,
    /// The labels the group was formed by (`group_by`).
    pub group_labels: BTreeMap<String, String>,
    /// Labels every alert of the notification has with the same value.
    pub common_labels: BTreeMap<String, String>,
    /// Annotations every alert of the notification has with the same value.
    pub common_annotations: BTreeMap<String, String>,
    /// Link back to the monitor's dashboard.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// Always [`WEBHOOK_VERSION`].
    pub version: String,
    /// Identifies the group across notifications (receivers deduplicate by it).
    pub group_key: String,
    /// How many alerts a receiver's `max_alerts` left out.
    pub truncated_alerts: u64,
}

/// One alert inside a [`Notification`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifiedAlert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing; RFC 3339 on the wire.
    #[serde(with = "rfc3339")]
    pub starts_at: SystemTime,
    /// When it resolved; `None` while firing, sent as Go's zero time
    /// `0001-01-01T00:00:00Z` as Alertmanager does for alerts without an end.
    #[serde(with = "rfc3339_or_zero")]
    pub ends_at: Option<SystemTime>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// [`fingerprint`] of the labels: 16 hex digits.
    pub fingerprint: String,
}

impl NotifiedAlert {
    /// An alert with its status taken from `ends_at` and its fingerprint from `labels`.
    pub fn new(
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
        starts_at: SystemTime,
        ends_at: Option<SystemTime>,
        generator_url: impl Into<String>,
    ) -> NotifiedAlert {
        NotifiedAlert {
            status: if ends_at.is_some() {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            },
            fingerprint: fingerprint(&labels),
            labels,
            annotations,
            starts_at,
            ends_at,
            generator_url: generator_url.into(),
        }
    }
}

impl Notification {
    /// A notification for `alerts`, with status, common labels and common annotations
    /// derived from them as Alertmanager's `template.Data` does.
    pub fn new(
        receiver: impl Into<String>,
        group_key: impl Into<String>,
        group_labels: BTreeMap<String, String>,
        alerts: Vec<NotifiedAlert>,
        external_url: impl Into<String>,
    ) -> Notification {
        let mut notification = Notification {
            receiver: receiver.into(),
            status: AlertStatus::Resolved,
            alerts,
            group_labels,
            common_labels: BTreeMap::new(),
            common_annotations: BTreeMap::new(),
            external_url: external_url.into(),
            version: WEBHOOK_VERSION.to_string(),
            group_key: group_key.into(),
            truncated_alerts: 0,
        };
        notification.derive_summary();
        notification
    }

    /// Recomputes `status`, `common_labels` and `common_annotations` from `alerts`.
    fn derive_summary(&mut self) {
        self.status = if self.alerts.iter().any(|a| a.status == AlertStatus::Firing) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        };
        let common = |field: fn(&NotifiedAlert) -> &BTreeMap<String, String>| {
            let mut alerts = self.alerts.iter();
            let mut common = alerts.next().map(field).cloned().unwrap_or_default();
            for alert in alerts {
                common.retain(|k, v| field(alert).get(k) == Some(v));
            }
            common
        };
        self.common_labels = common(|a| &a.labels);
        self.common_annotations = common(|a| &a.annotations);
    }

    /// The alerts that fire.
    pub fn firing(&self) -> impl Iterator<Item = &NotifiedAlert> + Clone {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing)
    }

    /// The alerts that have resolved.
    pub fn resolved(&self) -> impl Iterator<Item = &NotifiedAlert> + Clone {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Resolved)
    }

    /// This notification as `receiver` gets it: named for it, without resolved alerts
    /// when it does not want them (as Alertmanager filters for `send_resolved: false`),
    /// and cut to `max_alerts`. `None` when nothing is left to send.
    fn for_receiver(
        &self,
        receiver: &str,
        send_resolved: bool,
        max_alerts: usize,
    ) -> Option<Notification> {
        let mut out = self.clone();
        out.receiver = receiver.to_string();
        if !send_resolved && out.alerts.iter().any(|a| a.status == AlertStatus::Resolved) {
            out.alerts.retain(|a| a.status == AlertStatus::Firing);
            if out.alerts.is_empty() {
                return None;
            }
            out.derive_summary();
        }
        if max_alerts > 0 && out.alerts.len() > max_alerts {
            // Alertmanager computes the template data after cutting, so the common
            // labels are those of the alerts sent.
            out.truncated_alerts += (out.alerts.len() - max_alerts) as u64;
            out.alerts.truncate(max_alerts);
            out.derive_summary();
        }
        Some(out)
    }
}

/// Prometheus's fingerprint of a label set (`model.LabelSet.Fingerprint`): FNV-1a 64
/// over the names in order, each name and value followed by the byte 0xff, printed
/// as 16 hex digits. Alertmanager sends this as an alert's `fingerprint`.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    // One implementation: the alert module identifies alerts by the same hash.
    crate::labels::Fingerprint::of(labels).to_string()
}

/// Go's zero `time.Time` as JSON encodes it; Alertmanager sends it as `endsAt` of an
/// alert with no end.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&crate::time::system_rfc3339_millis(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

mod rfc3339_or_zero {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::rfc3339::serialize(t, s),
            None => s.serialize_str(super::ZERO_TIME),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        let text = String::deserialize(d)?;
        if text == super::ZERO_TIME {
            return Ok(None);
        }
        humantime::parse_rfc3339_weak(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// The shortest wait between attempts, whatever the policy says.
const MIN_BACKOFF: Duration = Duration::from_millis(10);

/// How [`deliver`] retries: exponential backoff with jitter, under an overall deadline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt (before jitter).
    pub initial_backoff: Duration,
    /// Each wait is this many times the one before...
    pub factor: u32,
    /// ...up to this.
    pub max_backoff: Duration,
    /// No retry starts, and none runs, past this much time from the first attempt
    /// (which always gets the receiver's whole `timeout`).
    pub deadline: Duration,
    /// At most this many attempts, if set.
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            factor: 2,
            max_backoff: Duration::from_secs(60),
            deadline: Duration::from_secs(300),
            max_attempts: None,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): the exponential step
    /// with "equal jitter" (half fixed, half random), so that many notifications failing
    /// together do not retry in lockstep, while each wait stays at least half the step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(32);
        let step = self
            .initial_backoff
            .saturating_mul(self.factor.max(1).saturating_pow(exponent))
            .min(self.max_backoff)
            // A zero policy must not retry in a busy loop until the deadline.
            .max(MIN_BACKOFF);
        let half = step / 2;
        half + half.mul_f64(random_fraction())
    }
}

/// A number in [0, 1) that differs between calls; randomness for jitter only.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    // Each RandomState is seeded from the OS once per thread and then incremented,
    // so hashing nothing with a fresh one gives a new unpredictable value per call.
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What [`deliver`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver accepted the notification after `attempts` tries.
    Sent { attempts: u32, elapsed: Duration },
    /// Nothing to send: a resolved notification to a receiver with `send_resolved = false`.
    Skipped,
}

/// A receiver ready to send: its configuration checked and its secrets read.
pub struct Receiver {
    name: String,
    send_resolved: bool,
    timeout: Duration,
    resend_interval: Option<Duration>,
    target: Target,
}

/// Where a receiver sends, with what it needs to do so.
enum Target {
    Email(email::EmailSender),
    Slack(http::SlackTarget),
    PagerDuty(http::PagerDutyTarget),
    Webhook(http::WebhookTarget),
    Alertmanager(http::AlertmanagerTarget),
}

impl std::fmt::Debug for Receiver {
    // By hand: the targets hold secrets, and an SMTP transport has nothing worth showing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.target {
            Target::Email(_) => "email",
            Target::Slack(_) => "slack",
            Target::PagerDuty(_) => "pagerduty",
            Target::Webhook(_) => "webhook",
            Target::Alertmanager(_) => "alertmanager",
        };
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .field("type", &kind)
            .field("send_resolved", &self.send_resolved)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Checks `config`, reads the secrets it names and prepares the sender, so that a
    /// missing password or a bad address fails at start and not when an alert fires.
    pub fn new(config: &ReceiverConfig) -> Result<Receiver> {
        config.validate()?;
        let name = config.name().to_string();
        let target = match config {
            ReceiverConfig::Email(c) => Target::Email(email::EmailSender::new(c)?),
            ReceiverConfig::Slack(c) => Target::Slack(http::SlackTarget::new(c)?),
            ReceiverConfig::Pagerduty(c) => Target::PagerDuty(http::PagerDutyTarget::new(c)?),
            ReceiverConfig::Webhook(c) => Target::Webhook(http::WebhookTarget::new(c)?),
            ReceiverConfig::Alertmanager(c) => {
                Target::Alertmanager(http::AlertmanagerTarget::new(c)?)
            }
        };
        Ok(Receiver {
            name,
            send_resolved: config.send_resolved(),
            timeout: config.timeout(),
            resend_interval: config.resend_interval(),
            target,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    /// The deadline of one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How often a still-firing group must go to this receiver again, when it
    /// needs that (see [`ReceiverConfig::resend_interval`]).
    pub fn resend_interval(&self) -> Option<Duration> {
        self.resend_interval
    }

    /// One attempt, without deadline or retry.
    async fn send_once(&self, notification: &Notification) -> Result<()> {
        match &self.target {
            Target::Email(sender) => sender.send(&self.name, notification).await,
            Target::Slack(target) => target.send(&self.name, notification).await,
            Target::PagerDuty(target) => target.send(&self.name, notification).await,
            Target::Webhook(target) => target.send(&self.name, notification).await,
            Target::Alertmanager(target) => target.send(&self.name, notification).await,
        }
    }

    fn max_alerts(&self) -> usize {
        match &self.target {
            Target::Webhook(target) => target.max_alerts(),
            _ => 0,
        }
    }
}

/// Sends `notification` to `receiver`: each attempt under the receiver's `timeout`,
/// failed attempts retried after [`RetryPolicy::backoff`] while the error is retryable
/// and the policy's deadline allows. The payload is named for the receiver and, for
/// `send_resolved = false`, stripped of resolved alerts (skipped when none is left).
///
/// Holds no lock and shares no state with other calls: spawn one per receiver.
pub async fn deliver(
    receiver: &Receiver,
    notification: &Notification,
    policy: RetryPolicy,
) -> Result<Delivery> {
    let Some(payload) = notification.for_receiver(
        &receiver.name,
        receiver.send_resolved,
        receiver.max_alerts(),
    ) else {
        return Ok(Delivery::Skipped);
    };
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let after = if attempts == 1 {
            receiver.timeout
        } else {
            // Retries start only with time left (checked below), and end with it.
            receiver
                .timeout
                .min(policy.deadline.saturating_sub(start.elapsed()))
        };
        let result = match tokio::time::timeout(after, receiver.send_once(&payload)).await {
            Ok(result) => result,
            Err(_) => Err(NotifyError::Timeout {
                receiver: receiver.name.clone(),
                after,
            }),
        };
        let error = match result {
            Ok(()) => {
                return Ok(Delivery::Sent {
                    attempts,
                    elapsed: start.elapsed(),
                })
            }
            Err(e) => e,
        };
        let wait = policy.backoff(attempts);
        let out_of_attempts = policy.max_attempts.is_some_and(|max| attempts >= max);
        if !error.is_retryable() || out_of_attempts || start.elapsed() + wait >= policy.deadline {
            return Err(NotifyError::GaveUp {
                attempts,
                elapsed: start.elapsed(),
                last: Box::new(error),
            });
        }
        tracing::warn!(
            receiver = %receiver.name,
            attempt = attempts,
            retry_in = %to_ms(wait),
            "notification not delivered: {error}"
        );
        tokio::time::sleep(wait).await;
    }
}

/// Sends a made-up firing alert to `receiver` once, without retries, to check that it
/// is reachable and configured (`etcd-monitor alerts test RECEIVER`).
pub async fn send_test(receiver: &Receiver) -> Result<Delivery> {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), "EtcdMonitorTest".to_string());
    labels.insert("severity".to_string(), "info".to_string());
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".to_string(),
        "Test notification from etcd-monitor".to_string(),
    );
    annotations.insert(
        "description".to_string(),
        format!(
            "Receiver {} works: this message was sent by `etcd-monitor alerts test`.",
            receiver.name
        ),
    );
    let group_labels: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() == "alertname")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let alert = NotifiedAlert::new(labels, annotations, SystemTime::now(), None, "");
    let notification = Notification::new(
        receiver.name.clone(),
        format!(
            "{{}}:{{alertname=\"EtcdMonitorTest\",test=\"{}\"}}",
            receiver.name
        ),
        group_labels,
        vec![alert],
        "",
    );
    let once = RetryPolicy {
        max_attempts: Some(1),
        ..RetryPolicy::default()
    };
    deliver(receiver, &notification, once).await
}

#[cfg(test)]
mod tests;
