//! The HTTP notifiers: Slack incoming webhooks, PagerDuty Events API v2 and the generic
//! webhook (Alertmanager's JSON), and an Alertmanager's own API. Each builds its request body from a
//! [`Notification`] and POSTs it; any status but 2xx is an error.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::config::{
    read_secret, AlertmanagerConfig, PagerDutyConfig, PagerDutySeverity, Secret, SlackConfig,
    WebhookConfig,
};
use super::{text, AlertStatus, Notification, NotifyError, Result, USER_AGENT};

/// How much of an error response's body an error message quotes.
const ERROR_BODY_BYTES: usize = 200;

fn client(receiver: &str, timeout: std::time::Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeout)
        // A redirect is reported as the error it most likely is (a moved or wrong
        // URL) rather than followed: following would turn the POST into a GET.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotifyError::Config {
            receiver: receiver.to_string(),
            field: "type".to_string(),
            message: format!("cannot set up an HTTP client: {}", error_text(e)),
        })
}

/// A reqwest error without the URL it names (a Slack webhook URL is a secret), with
/// its causes.
fn error_text(e: reqwest::Error) -> String {
    crate::etcd::error_chain(&e.without_url())
}

/// POSTs `body` as JSON; Ok on 2xx.
async fn post_json(
    client: &reqwest::Client,
    receiver: &str,
    url: &str,
    body: &impl serde::Serialize,
    bearer: Option<&Secret>,
) -> Result<()> {
    let mut request = client.post(url).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token.expose());
    }
    let mut response = request.send().await.map_err(|e| NotifyError::Transport {
        receiver: receiver.to_string(),
        transient: !super::is_tls_failure(&e),
        message: error_text(e),
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // Only the start of the body: enough for "invalid_payload" or PagerDuty's list of
    // errors, without reading a large error page.
    let mut head = Vec::new();
    while head.len() < ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            _ => break,
        }
    }
    head.truncate(ERROR_BODY_BYTES);
    let body = String::from_utf8_lossy(&head)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Err(NotifyError::Status {
        receiver: receiver.to_string(),
        status: status.as_u16(),
        body,
    })
}

/// The bearer token of a receiver that may have one, from its env var or file.
fn optional_token(
    receiver: &str,
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<Secret>> {
    if env.is_none() && file.is_none() {
        return Ok(None);
    }
    read_secret(receiver, "token", env, file).map(Some)
}

/// A Slack incoming webhook.
pub(super) struct SlackTarget {
    client: reqwest::Client,
    url: Secret,
    channel: Option<String>,
}

/// Slack allows 50 blocks per message; a message listing more alerts than this is too
/// long to read anyway.
const SLACK_MAX_ALERTS: usize = 20;
/// Slack's limits: header text 150 characters, section text 3000.
const SLACK_HEADER_CHARS: usize = 150;
const SLACK_SECTION_CHARS: usize = 3000;

impl SlackTarget {
    pub(super) fn new(config: &SlackConfig) -> Result<SlackTarget> {
        let url = match &config.url {
            Some(url) => url.clone(),
            None => read_secret(
                &config.name,
                "url",
                config.url_env.as_deref(),
                config.url_file.as_deref(),
            )?,
        };
        if reqwest::Url::parse(url.expose()).is_err() {
            // Not quoted: the URL is the secret.
            return Err(NotifyError::Config {
                receiver: config.name.clone(),
                field: "url".to_string(),
                message: "the webhook URL read is not a URL".to_string(),
            });
        }
        Ok(SlackTarget {
            client: client(&config.name, config.timeout)?,
            url,
            channel: config.channel.clone(),
        })
    }

    pub(super) async fn send(&self, receiver: &str, notification: &Notification) -> Result<()> {
        let body = slack_message(notification, self.channel.as_deref());
        post_json(&self.client, receiver, self.url.expose(), &body, None).await
    }
}

/// `&`, `<` and `>` are the characters Slack's mrkdwn wants escaped in text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body Slack documents for incoming webhooks (api.slack.com/messaging/webhooks):
/// `text` (shown in notifications, and where blocks cannot be) and Block Kit `blocks`:
/// a header with the subject, a section per alert (up to [`SLACK_MAX_ALERTS`]) and a
/// context line linking to the dashboard. `channel` only when configured.
pub(super) fn slack_message(notification: &Notification, channel: Option<&str>) -> Value {
    let subject = text::subject(notification);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": text::truncate(&subject, SLACK_HEADER_CHARS)},
    })];
    let ordered = notification.firing().chain(notification.resolved());
    for alert in ordered.clone().take(SLACK_MAX_ALERTS) {
        let state = match alert.status {
            AlertStatus::Firing => "Firing",
            AlertStatus::Resolved => "Resolved",
        };
        let mut section = format!("*{state}:* {}", slack_escape(&text::alert_title(alert)));
        for key in ["summary", "description"] {
            if let Some(value) = alert.annotations.get(key) {
                section.push('\n');
                section.push_str(&slack_escape(value));
            }
        }
        section.push_str(&format!("\nStarted {}", text::time(alert.starts_at)));
        if let Some(ends_at) = alert.ends_at {
            section.push_str(&format!(", ended {}", text::time(ends_at)));
        }
        if !alert.generator_url.is_empty() {
            section.push_str(&format!(" · <{}|source>", alert.generator_url));
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": text::truncate(&section, SLACK_SECTION_CHARS)},
        }));
    }
    let left_out =
        ordered.count().saturating_sub(SLACK_MAX_ALERTS) as u64 + notification.truncated_alerts;
    let mut context = Vec::new();
    if left_out > 0 {
        context.push(format!("{left_out} more alert(s) not shown"));
    }
    if !notification.external_url.is_empty() {
        context.push(format!("<{}|Open etcd-monitor>", notification.external_url));
    }
    if !context.is_empty() {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": context.join(" · ")}],
        }));
    }
    let mut message = json!({"text": subject, "blocks": blocks});
    if let Some(channel) = channel {
        message["channel"] = Value::String(channel.to_string());
    }
    message
}

/// PagerDuty Events API v2.
pub(super) struct PagerDutyTarget {
    client: reqwest::Client,
    url: String,
    routing_key: Secret,
    severities: BTreeMap<String, PagerDutySeverity>,
    default_severity: PagerDutySeverity,
}

/// PagerDuty's limit on `payload.summary`.
const PAGERDUTY_SUMMARY_CHARS: usize = 1024;

impl PagerDutyTarget {
    pub(super) fn new(config: &PagerDutyConfig) -> Result<PagerDutyTarget> {
        let routing_key = read_secret(
            &config.name,
            "routing_key",
            config.routing_key_env.as_deref(),
            config.routing_key_file.as_deref(),
        )?;
        Ok(PagerDutyTarget {
            client: client(&config.name, config.timeout)?,
            url: config.url.clone(),
            routing_key,
            severities: config.severities.clone(),
            default_severity: config.default_severity,
        })
    }

    pub(super) async fn send(&self, receiver: &str, notification: &Notification) -> Result<()> {
        let event = pagerduty_event(
            notification,
            self.routing_key.expose(),
            &self.severities,
            self.default_severity,
        );
        post_json(&self.client, receiver, &self.url, &event, None).await
    }
}

/// `dedup_key` of a group: the SHA-256 of its group key in hex, as Alertmanager's
/// `notify.Key.Hash` makes it, so a resolve finds the alert its trigger opened.
pub fn pagerduty_dedup_key(group_key: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The event PagerDuty documents for "Send an Alert Event"
/// (developer.pagerduty.com, Events API v2): a firing notification triggers, a
/// resolved one resolves, both with the group's dedup key. A resolve carries only
/// `routing_key`, `dedup_key` and `event_action`, as the documented example does.
pub(super) fn pagerduty_event(
    notification: &Notification,
    routing_key: &str,
    severities: &BTreeMap<String, PagerDutySeverity>,
    default_severity: PagerDutySeverity,
) -> Value {
    let dedup_key = pagerduty_dedup_key(&notification.group_key);
    if notification.status == AlertStatus::Resolved {
        return json!({
            "routing_key": routing_key,
            "dedup_key": dedup_key,
            "event_action": "resolve",
        });
    }
    let severity = notification
        .firing()
        .map(|a| {
            a.labels
                .get("severity")
                .and_then(|s| severities.get(s))
                .copied()
                .unwrap_or(default_severity)
        })
        .max()
        .unwrap_or(default_severity);
    let timestamp = notification.firing().map(|a| a.starts_at).min();
    let common = &notification.common_labels;
    // "The unique location of the affected system": the member when all alerts are
    // about one, else the cluster.
    let source = common
        .get("member")
        .or_else(|| common.get("cluster"))
        .map_or("etcd-monitor", String::as_str);
    let mut payload = Map::new();
    payload.insert(
        "summary".into(),
        text::truncate(&text::subject(notification), PAGERDUTY_SUMMARY_CHARS).into(),
    );
    payload.insert("source".into(), source.into());
    payload.insert("severity".into(), severity.as_str().into());
    if let Some(t) = timestamp {
        payload.insert(
            "timestamp".into(),
            crate::time::system_rfc3339_millis(t).into(),
        );
    }
    payload.insert("component".into(), "etcd".into());
    if let Some(cluster) = common.get("cluster") {
        payload.insert("group".into(), cluster.as_str().into());
    }
    if let Some(alertname) = common.get("alertname") {
        payload.insert("class".into(), alertname.as_str().into());
    }
    // What Alertmanager's default `details` carry: the alert lists and their sizes.
    payload.insert(
        "custom_details".into(),
        json!({
            "firing": text::alert_list(notification.firing()),
            "resolved": text::alert_list(notification.resolved()),
            "num_firing": notification.firing().count(),
            "num_resolved": notification.resolved().count(),
        }),
    );
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "client": "etcd-monitor",
    });
    if !notification.external_url.is_empty() {
        event["client_url"] = Value::String(notification.external_url.clone());
    }
    event
}

/// A generic webhook: the [`Notification`] itself, as Alertmanager sends it.
pub(super) struct WebhookTarget {
    client: reqwest::Client,
    url: String,
    max_alerts: usize,
    token: Option<Secret>,
}

impl WebhookTarget {
    pub(super) fn new(config: &WebhookConfig) -> Result<WebhookTarget> {
        let token = optional_token(
            &config.name,
            config.token_env.as_deref(),
            config.token_file.as_deref(),
        )?;
        Ok(WebhookTarget {
            client: client(&config.name, config.timeout)?,
            url: config.url.clone(),
            max_alerts: config.max_alerts,
            token,
        })
    }

    pub(super) fn max_alerts(&self) -> usize {
        self.max_alerts
    }

    /// `notification` has been cut to `max_alerts` by `deliver` already.
    pub(super) async fn send(&self, receiver: &str, notification: &Notification) -> Result<()> {
        post_json(
            &self.client,
            receiver,
            &self.url,
            notification,
            self.token.as_ref(),
        )
        .await
    }
}

/// An existing Alertmanager, fed as Prometheus feeds it: `POST /api/v2/alerts`
/// with each alert's labels, annotations, `startsAt`, `endsAt` and
/// `generatorURL`. A firing alert's `endsAt` lies four resend intervals ahead, so
/// that Alertmanager resolves it by itself if the monitor stops posting; a
/// resolved one's is when it resolved.
pub(super) struct AlertmanagerTarget {
    client: reqwest::Client,
    url: String,
    valid_for: std::time::Duration,
    token: Option<Secret>,
}

impl AlertmanagerTarget {
    pub(super) fn new(config: &AlertmanagerConfig) -> Result<AlertmanagerTarget> {
        let token = optional_token(
            &config.name,
            config.token_env.as_deref(),
            config.token_file.as_deref(),
        )?;
        Ok(AlertmanagerTarget {
            client: client(&config.name, config.timeout)?,
            url: format!("{}/api/v2/alerts", config.url.trim_end_matches('/')),
            valid_for: config.resend_interval.saturating_mul(4),
            token,
        })
    }

    pub(super) async fn send(&self, receiver: &str, notification: &Notification) -> Result<()> {
        let valid_until = std::time::SystemTime::now() + self.valid_for;
        let alerts: Vec<Value> = notification
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": crate::time::system_rfc3339_millis(a.starts_at),
                    "endsAt": crate::time::system_rfc3339_millis(a.ends_at.unwrap_or(valid_until)),
                    "generatorURL": a.generator_url,
                })
            })
            .collect();
        post_json(
            &self.client,
            receiver,
            &self.url,
            &alerts,
            self.token.as_ref(),
        )
        .await
    }
}
