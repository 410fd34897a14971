//! Receiver configuration: the `[[alerting.receivers]]` entries, their defaults and
//! validation, and reading the secrets they point to.
//!
//! Passwords, routing keys and tokens never sit in the configuration: an entry names
//! an environment variable (`*_env`) or a file (`*_file`) and the secret is read when
//! the receiver is built, as `config::AuthConfig` does for etcd's password. The one
//! exception is a Slack webhook URL, which may be given inline as `url`; like every
//! secret it is a [`Secret`], which prints as `***`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::{NotifyError, Result};

/// PagerDuty's Events API v2 endpoint.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A secret (password, routing key, token, webhook URL). Debug, Display and Serialize
/// print `***`, so it cannot leak through logs, error messages or `config show`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// One `[[alerting.receivers]]` entry, by its `type`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ReceiverConfig {
    Email(EmailConfig),
    Slack(SlackConfig),
    Pagerduty(PagerDutyConfig),
    Webhook(WebhookConfig),
    Alertmanager(AlertmanagerConfig),
}

fn default_true() -> bool {
    true
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// TLS from the first byte, "SMTPS" (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a trusted network (port 25).
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

/// `type = "email"`: a plain-text message over SMTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    #[serde(with = "crate::time::duration", default = "default_timeout")]
    pub timeout: Duration,
    pub smtp_host: String,
    /// Defaults by `tls`: 587, 465 or 25.
    pub smtp_port: Option<u16>,
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
    /// Extra CA certificate (PEM) to trust, for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Log in with this user (PLAIN or LOGIN); the password comes from one of the two below.
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
}

/// `type = "slack"`: a Slack incoming webhook. The URL is itself the credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    #[serde(with = "crate::time::duration", default = "default_timeout")]
    pub timeout: Duration,
    pub url: Option<Secret>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    /// Channel override. Only legacy incoming webhooks honour it; a Slack app's webhook
    /// always posts to the channel it was created for.
    pub channel: Option<String>,
}

/// PagerDuty's event severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PagerDutySeverity {
    // In increasing order, so that `max` picks the most severe.
    Info,
    Warning,
    Error,
    Critical,
}

impl PagerDutySeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            PagerDutySeverity::Info => "info",
            PagerDutySeverity::Warning => "warning",
            PagerDutySeverity::Error => "error",
            PagerDutySeverity::Critical => "critical",
        }
    }
}

fn default_pagerduty_url() -> String {
    DEFAULT_PAGERDUTY_URL.to_string()
}

fn default_severities() -> BTreeMap<String, PagerDutySeverity> {
    [
        ("critical", PagerDutySeverity::Critical),
        ("error", PagerDutySeverity::Error),
        ("warning", PagerDutySeverity::Warning),
        ("info", PagerDutySeverity::Info),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn default_pagerduty_severity() -> PagerDutySeverity {
    // Alertmanager's default for `pagerduty_config.severity`.
    PagerDutySeverity::Error
}

/// `type = "pagerduty"`: PagerDuty Events API v2, one alert per group (dedup key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    #[serde(with = "crate::time::duration", default = "default_timeout")]
    pub timeout: Duration,
    /// The integration's 32-character routing key comes from one of these two.
    pub routing_key_env: Option<String>,
    pub routing_key_file: Option<PathBuf>,
    #[serde(default = "default_pagerduty_url")]
    pub url: String,
    /// Value of the alerts' `severity` label -> PagerDuty severity. The event gets the
    /// most severe among the firing alerts.
    #[serde(default = "default_severities")]
    pub severities: BTreeMap<String, PagerDutySeverity>,
    /// For alerts whose `severity` label is missing or not in `severities`.
    #[serde(default = "default_pagerduty_severity")]
    pub default_severity: PagerDutySeverity,
}

/// `type = "webhook"`: POSTs the [`super::Notification`] (Alertmanager's webhook JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    #[serde(with = "crate::time::duration", default = "default_timeout")]
    pub timeout: Duration,
    pub url: String,
    /// Send at most this many alerts per notification (0: all), counting the rest in
    /// `truncatedAlerts`, as Alertmanager's `max_alerts`.
    #[serde(default)]
    pub max_alerts: usize,
    /// Optional bearer token (`Authorization: Bearer ...`) from one of these two.
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

/// An existing Alertmanager: alerts are posted to its `/api/v2/alerts` as
/// Prometheus posts them, so that its routing, inhibition and silences apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    pub name: String,
    #[serde(with = "crate::time::duration", default = "default_timeout")]
    pub timeout: Duration,
    /// Alertmanager's base URL (`http://alertmanager:9093`).
    pub url: String,
    /// A firing alert is posted again this often, and is valid for four times as
    /// long (its `endsAt`): Alertmanager resolves it by itself if the monitor stops
    /// posting, as it does for Prometheus (whose default is 1m).
    #[serde(with = "crate::time::duration", default = "default_resend_interval")]
    pub resend_interval: Duration,
    /// Optional bearer token (`Authorization: Bearer ...`) from one of these two.
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

fn default_resend_interval() -> Duration {
    Duration::from_secs(60)
}

/// A bearer token comes from an env var or a file, not both.
fn at_most_one_token(name: &str, env: &Option<String>, file: &Option<PathBuf>) -> Result<()> {
    if env.is_some() && file.is_some() {
        return Err(invalid(
            name,
            "token_env",
            "set at most one of token_env and token_file",
        ));
    }
    Ok(())
}

fn invalid(receiver: &str, field: &str, message: impl Into<String>) -> NotifyError {
    NotifyError::Config {
        receiver: receiver.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

impl ReceiverConfig {
    pub fn name(&self) -> &str {
        match self {
            ReceiverConfig::Email(c) => &c.name,
            ReceiverConfig::Slack(c) => &c.name,
            ReceiverConfig::Pagerduty(c) => &c.name,
            ReceiverConfig::Webhook(c) => &c.name,
            ReceiverConfig::Alertmanager(c) => &c.name,
        }
    }

    pub fn send_resolved(&self) -> bool {
        match self {
            ReceiverConfig::Email(c) => c.send_resolved,
            ReceiverConfig::Slack(c) => c.send_resolved,
            ReceiverConfig::Pagerduty(c) => c.send_resolved,
            ReceiverConfig::Webhook(c) => c.send_resolved,
            // Alertmanager learns of a resolution only from the post that says so.
            ReceiverConfig::Alertmanager(_) => true,
        }
    }

    /// The deadline of one attempt.
    pub fn timeout(&self) -> Duration {
        match self {
            ReceiverConfig::Email(c) => c.timeout,
            ReceiverConfig::Slack(c) => c.timeout,
            ReceiverConfig::Pagerduty(c) => c.timeout,
            ReceiverConfig::Webhook(c) => c.timeout,
            ReceiverConfig::Alertmanager(c) => c.timeout,
        }
    }

    /// The files this receiver reads (a CA, a secret), by field; the config checks that
    /// they are there.
    pub fn files(&self) -> Vec<(&'static str, &Path)> {
        let fields: [(&'static str, Option<&PathBuf>); 2] = match self {
            ReceiverConfig::Email(c) => [
                ("ca_file", c.ca_file.as_ref()),
                ("password_file", c.password_file.as_ref()),
            ],
            ReceiverConfig::Slack(c) => [("url_file", c.url_file.as_ref()), ("", None)],
            ReceiverConfig::Pagerduty(c) => [
                ("routing_key_file", c.routing_key_file.as_ref()),
                ("", None),
            ],
            ReceiverConfig::Webhook(c) => [("token_file", c.token_file.as_ref()), ("", None)],
            ReceiverConfig::Alertmanager(c) => [("token_file", c.token_file.as_ref()), ("", None)],
        };
        fields
            .into_iter()
            .filter_map(|(field, path)| Some((field, path?.as_path())))
            .collect()
    }

    /// Checks what types alone cannot, without reading files or the environment; every
    /// error names the receiver and the field.
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        if !crate::text::is_plain_name(name) {
            return Err(invalid(
                name,
                "name",
                format!(
                    "{name:?} must be non-empty and use only letters, digits, '-', '_' and '.' \
                     (it is typed on the command line)"
                ),
            ));
        }
        if self.timeout().is_zero() {
            return Err(invalid(name, "timeout", "must be greater than 0"));
        }
        match self {
            ReceiverConfig::Email(c) => c.validate(),
            ReceiverConfig::Slack(c) => {
                one_source(name, "url", c.url.is_some(), &c.url_env, &c.url_file)?;
                if let Some(url) = &c.url {
                    // The message must not repeat the URL: it is the secret.
                    check_http_url(url.expose()).map_err(|m| invalid(name, "url", m))?;
                }
                if c.channel.as_deref() == Some("") {
                    return Err(invalid(name, "channel", "must not be empty when given"));
                }
                Ok(())
            }
            ReceiverConfig::Pagerduty(c) => {
                one_source(
                    name,
                    "routing_key",
                    false,
                    &c.routing_key_env,
                    &c.routing_key_file,
                )?;
                check_http_url(&c.url).map_err(|m| invalid(name, "url", m))
            }
            ReceiverConfig::Webhook(c) => {
                check_http_url(&c.url).map_err(|m| invalid(name, "url", m))?;
                at_most_one_token(name, &c.token_env, &c.token_file)
            }
            ReceiverConfig::Alertmanager(c) => {
                check_http_url(&c.url).map_err(|m| invalid(name, "url", m))?;
                if c.resend_interval < Duration::from_secs(1)
                    || c.resend_interval > Duration::from_secs(24 * 3600)
                {
                    return Err(invalid(
                        name,
                        "resend_interval",
                        "must be between 1s and 24h",
                    ));
                }
                at_most_one_token(name, &c.token_env, &c.token_file)
            }
        }
    }

    /// How often a still-firing alert must be sent again, when the receiver needs
    /// that to keep it alive (Alertmanager); `None`: the route's repeat_interval.
    pub fn resend_interval(&self) -> Option<Duration> {
        match self {
            ReceiverConfig::Alertmanager(c) => Some(c.resend_interval),
            _ => None,
        }
    }
}

impl EmailConfig {
    fn validate(&self) -> Result<()> {
        let name = self.name.as_str();
        if self.smtp_host.trim().is_empty() {
            return Err(invalid(name, "smtp_host", "must not be empty"));
        }
        if self.smtp_port == Some(0) {
            return Err(invalid(name, "smtp_port", "must not be 0"));
        }
        if self.ca_file.is_some() && self.tls == SmtpTls::None {
            return Err(invalid(
                name,
                "ca_file",
                "only applies with tls = \"starttls\" or \"tls\"",
            ));
        }
        match &self.username {
            Some(user) => {
                if user.is_empty() {
                    return Err(invalid(name, "username", "must not be empty when given"));
                }
                one_source(
                    name,
                    "password",
                    false,
                    &self.password_env,
                    &self.password_file,
                )?;
            }
            None => {
                if self.password_env.is_some() || self.password_file.is_some() {
                    return Err(invalid(
                        name,
                        "username",
                        "a password is given without a username",
                    ));
                }
            }
        }
        self.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            invalid(
                name,
                "from",
                format!("{:?} is not an address: {e}", self.from),
            )
        })?;
        if self.to.is_empty() {
            return Err(invalid(name, "to", "must list at least one address"));
        }
        for (i, to) in self.to.iter().enumerate() {
            to.parse::<lettre::message::Mailbox>().map_err(|e| {
                invalid(
                    name,
                    &format!("to[{i}]"),
                    format!("{to:?} is not an address: {e}"),
                )
            })?;
        }
        Ok(())
    }

    /// The port: `smtp_port`, or the usual one for `tls`.
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(self.tls.default_port())
    }
}

/// Exactly one of inline value, `{what}_env` and `{what}_file`, where `inline` says
/// whether an inline value is given (receivers without one pass `false`).
fn one_source(
    receiver: &str,
    what: &str,
    inline: bool,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<()> {
    let given = usize::from(inline) + usize::from(env.is_some()) + usize::from(file.is_some());
    if given == 1 {
        if env.as_deref() == Some("") {
            return Err(invalid(
                receiver,
                &format!("{what}_env"),
                "must not be empty",
            ));
        }
        return Ok(());
    }
    let choices = if what == "url" {
        "url, url_env and url_file".to_string()
    } else {
        format!("{what}_env and {what}_file")
    };
    Err(invalid(
        receiver,
        what,
        format!("set exactly one of {choices}"),
    ))
}

fn check_http_url(url: &str) -> std::result::Result<(), String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Err("is not a URL".into());
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(())
}

/// Reads a secret from the environment variable or file the configuration names; the
/// error says where it looked, never what it found.
pub(super) fn read_secret(
    receiver: &str,
    field: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<Secret> {
    let value = if let Some(var) = env {
        std::env::var(var).map_err(|_| {
            invalid(
                receiver,
                &format!("{field}_env"),
                format!("environment variable {var} is not set"),
            )
        })?
    } else if let Some(path) = file {
        std::fs::read_to_string(path)
            .map_err(|e| {
                invalid(
                    receiver,
                    &format!("{field}_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?
            .trim_end_matches(['\r', '\n'])
            .to_string()
    } else {
        return Err(invalid(receiver, field, "no source given"));
    };
    if value.trim().is_empty() {
        let source = match (env, file) {
            (Some(var), _) => format!("environment variable {var}"),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => String::new(),
        };
        return Err(invalid(receiver, field, format!("{source} is empty")));
    }
    Ok(Secret(value))
}

/// Checks every entry and that no two share a name (the name picks a receiver in
/// routes and on the command line).
pub fn validate_receivers(receivers: &[ReceiverConfig]) -> Result<()> {
    let mut names = HashSet::new();
    for receiver in receivers {
        receiver.validate()?;
        if !names.insert(receiver.name()) {
            return Err(invalid(
                receiver.name(),
                "name",
                "is used by more than one receiver",
            ));
        }
    }
    Ok(())
}
