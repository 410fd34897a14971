//! The human-readable text of a notification: subject line and plain-text alert
//! lists, shared by email, Slack and PagerDuty.

use std::fmt::Write;

use super::{AlertStatus, Notification, NotifiedAlert};

/// `[FIRING:2] etcdMembersDown cluster=prod`, `[RESOLVED] etcdNoLeader cluster=prod`:
/// Alertmanager's default subject (`__subject` in its `template/default.tmpl`: status,
/// number firing, group labels), with the group labels other than `alertname` written
/// `name=value` so that a reader sees what `prod` is.
pub fn subject(notification: &Notification) -> String {
    let mut out = match notification.status {
        AlertStatus::Firing => format!("[FIRING:{}]", notification.firing().count()),
        AlertStatus::Resolved => "[RESOLVED]".to_string(),
    };
    // Without group labels (grouping by nothing), say at least which alert it is.
    let labels = if notification.group_labels.is_empty() {
        &notification.common_labels
    } else {
        &notification.group_labels
    };
    if let Some(name) = labels.get("alertname") {
        out.push(' ');
        out.push_str(name);
    }
    for (name, value) in labels {
        if name != "alertname" {
            let _ = write!(out, " {name}={value}");
        }
    }
    out
}

/// `etcdMembersDown cluster=prod member=m1`: a one-line name for an alert.
pub fn alert_title(alert: &NotifiedAlert) -> String {
    let mut out = alert.labels.get("alertname").cloned().unwrap_or_default();
    for (name, value) in &alert.labels {
        if name != "alertname" {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{name}={value}");
        }
    }
    out
}

/// An RFC 3339 time to the second, as people read it in a message.
pub fn time(t: std::time::SystemTime) -> String {
    crate::time::system_rfc3339_seconds(t)
}

/// One alert as plain text: summary, description, labels, other annotations, times
/// and source, one item a line.
pub fn alert_text(alert: &NotifiedAlert) -> String {
    let mut out = String::new();
    if let Some(summary) = alert.annotations.get("summary") {
        let _ = writeln!(out, "Summary: {summary}");
    }
    if let Some(description) = alert.annotations.get("description") {
        let _ = writeln!(out, "Description: {description}");
    }
    out.push_str("Labels:\n");
    for (name, value) in &alert.labels {
        let _ = writeln!(out, " - {name} = {value}");
    }
    let others: Vec<_> = alert
        .annotations
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "summary" | "description"))
        .collect();
    if !others.is_empty() {
        out.push_str("Annotations:\n");
        for (name, value) in others {
            let _ = writeln!(out, " - {name} = {value}");
        }
    }
    let _ = writeln!(out, "Started: {}", time(alert.starts_at));
    if let Some(ends_at) = alert.ends_at {
        let _ = writeln!(out, "Ended: {}", time(ends_at));
    }
    if !alert.generator_url.is_empty() {
        let _ = writeln!(out, "Source: {}", alert.generator_url);
    }
    out
}

/// The alerts of one status as a numbered plain-text list (empty if there are none).
pub fn alert_list<'a>(alerts: impl Iterator<Item = &'a NotifiedAlert>) -> String {
    let mut out = String::new();
    for (i, alert) in alerts.enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}. {}", i + 1, alert_title(alert));
        out.push_str(&alert_text(alert));
    }
    out
}

/// The body of an email: what the subject says, then the firing alerts, then the
/// resolved ones, then the link to the dashboard.
pub fn plain_body(notification: &Notification) -> String {
    let mut out = String::new();
    let count = notification.alerts.len();
    let _ = write!(out, "{count} alert{}", if count == 1 { "" } else { "s" });
    if !notification.group_labels.is_empty() {
        out.push_str(" for");
        for (name, value) in &notification.group_labels {
            let _ = write!(out, " {name}={value}");
        }
    }
    out.push('\n');
    for (heading, count, list) in [
        (
            "Firing",
            notification.firing().count(),
            alert_list(notification.firing()),
        ),
        (
            "Resolved",
            notification.resolved().count(),
            alert_list(notification.resolved()),
        ),
    ] {
        if count > 0 {
            let _ = write!(out, "\n[{count}] {heading}\n\n{list}");
        }
    }
    if notification.truncated_alerts > 0 {
        let _ = write!(
            out,
            "\n{} more alert(s) not shown.\n",
            notification.truncated_alerts
        );
    }
    if !notification.external_url.is_empty() {
        let _ = write!(out, "\nDashboard: {}\n", notification.external_url);
    }
    out
}

pub use crate::text::truncate;
