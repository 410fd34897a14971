//! Where alerts go and what keeps them quiet: label matchers, routes to receivers
//! (with escalation), grouping settings and silences. Plain data and checks; the
//! [`super::manager`] applies them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `name=value`, `name!=value`, `name=~regex` or `name!~regex`, as in Alertmanager.
/// A regex matches the whole value. A label an alert lacks matches as "".
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<regex::Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

impl Matcher {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

impl FromStr for Matcher {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (at, op) = ["!=", "=~", "!~", "="]
            .iter()
            .filter_map(|op| s.find(op).map(|i| (i, *op)))
            // The first operator in the text; at one place "!=" wins over "=".
            .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))
            .ok_or_else(|| format!("{s:?} is not a matcher: write name=value, name!=value, name=~regex or name!~regex"))?;
        let name = s[..at].trim();
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!("{s:?}: {name:?} is not a label name"));
        }
        let mut value = s[at + op.len()..].trim();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        }
        let op = match op {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::Regex,
            _ => MatchOp::NotRegex,
        };
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("{s:?}: bad regex: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// Parses every matcher; the error names the one at fault.
pub fn parse_matchers(texts: &[String]) -> Result<Vec<Matcher>, String> {
    texts.iter().map(|t| t.parse()).collect()
}

/// `[[alerting.routes]]`: alerts whose labels match every matcher go to `receivers`.
/// Routes are tried in order; the first that matches ends the search unless it says
/// `continue = true`. An alert no route takes goes to `alerting.default_receivers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub matchers: Vec<String>,
    pub receivers: Vec<String>,
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// An alert firing this long without being acknowledged also goes to `escalate_to`.
    #[serde(default, with = "crate::time::duration")]
    pub escalate_after: Option<Duration>,
    #[serde(default)]
    pub escalate_to: Vec<String>,
}

/// `[alerting.grouping]`: alerts with the same values of `group_by` (per receiver)
/// go out together, as Alertmanager groups them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupingSettings {
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first notification.
    #[serde(default = "default_group_wait", with = "crate::time::duration")]
    pub group_wait: Duration,
    /// How long a group waits before telling about changes (new or resolved alerts).
    #[serde(default = "default_group_interval", with = "crate::time::duration")]
    pub group_interval: Duration,
    /// How long before an unchanged, still firing group is notified again.
    #[serde(default = "default_repeat_interval", with = "crate::time::duration")]
    pub repeat_interval: Duration,
}

fn default_group_by() -> Vec<String> {
    vec!["cluster".into(), "alertname".into()]
}
fn default_group_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_group_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_repeat_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}

impl Default for GroupingSettings {
    fn default() -> Self {
        GroupingSettings {
            group_by: default_group_by(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat_interval(),
        }
    }
}

/// `[alerting.retry]`: how a failed notification is retried (exponential backoff
/// with jitter, each attempt under the receiver's own timeout).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    #[serde(default = "default_initial_backoff", with = "crate::time::duration")]
    pub initial_backoff: Duration,
    #[serde(default = "default_max_backoff", with = "crate::time::duration")]
    pub max_backoff: Duration,
    /// A notification not delivered within this is given up (and logged, and shown).
    #[serde(default = "default_retry_deadline", with = "crate::time::duration")]
    pub deadline: Duration,
}

fn default_initial_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}
fn default_retry_deadline() -> Duration {
    Duration::from_secs(300)
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
            deadline: default_retry_deadline(),
        }
    }
}

impl RetrySettings {
    pub fn policy(&self) -> crate::notify::RetryPolicy {
        crate::notify::RetryPolicy {
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
            deadline: self.deadline,
            ..Default::default()
        }
    }
}

/// A silence: alerts matching all its matchers between `starts_at_ms` and
/// `ends_at_ms` are not notified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<String>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub comment: String,
    pub created_at_ms: i64,
    /// Who ended it early, if anyone.
    pub expired_by: Option<String>,
}

impl Silence {
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }

    /// Whether it silences `labels` (matchers were checked when it was made).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        parse_matchers(&self.matchers).is_ok_and(|ms| ms.iter().all(|m| m.matches(labels)))
    }
}

/// An acknowledgement: someone is on it. Stops escalation of that alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub fingerprint: super::Fingerprint,
    pub by: String,
    pub comment: String,
    pub at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::labels;

    #[test]
    fn matchers_parse_and_match_like_alertmanager() {
        let l = labels(&[("cluster", "prod-eu"), ("severity", "critical")]);
        for (text, want) in [
            ("cluster=prod-eu", true),
            ("cluster = \"prod-eu\"", true),
            ("cluster!=prod-eu", false),
            ("cluster=~prod-.*", true),
            ("cluster=~prod", false), // anchored: the whole value
            ("cluster!~dev-.*", true),
            ("member=", true), // a missing label is ""
            ("member!=", false),
            ("severity=~\"critical|warning\"", true),
        ] {
            let m: Matcher = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(m.matches(&l), want, "{text}");
        }
        for bad in ["cluster", "=x", "1a=b", "a=~(", "clu ster=x"] {
            let e = bad.parse::<Matcher>().unwrap_err();
            assert!(
                e.contains(&format!("{bad:?}")) || e.contains("bad regex"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn silences_are_active_in_their_window_only() {
        let s = Silence {
            id: "a".into(),
            matchers: vec!["cluster=c1".into(), "alertname=~etcd.*".into()],
            starts_at_ms: 100,
            ends_at_ms: 200,
            created_by: "ops".into(),
            comment: "maintenance".into(),
            created_at_ms: 90,
            expired_by: None,
        };
        assert!(!s.is_active(99) && s.is_active(100) && s.is_active(199) && !s.is_active(200));
        assert!(s.matches(&labels(&[("cluster", "c1"), ("alertname", "etcdNoLeader")])));
        assert!(!s.matches(&labels(&[("cluster", "c2"), ("alertname", "etcdNoLeader")])));
    }
}
