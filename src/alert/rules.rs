//! Alert rules: the `[alerting]` config types, and validation that turns the
//! built-in etcd pack ([`super::builtin`]) and the user's rules into [`Rule`]s or
//! names the rule and field at fault.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::builtin::{BuiltinCheck, BuiltinRule, BUILTIN_RULES};
use super::template::Templates;
use crate::collect::derive::Indicators;

/// `[alerting]`: changes to the built-in pack and the user's own rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingSettings {
    /// Per built-in rule, by its key (see [`BUILTIN_RULES`]): disable or re-threshold it.
    #[serde(default)]
    pub builtin: BTreeMap<String, BuiltinOverride>,
    /// The user's own rules, in addition to the built-in pack.
    #[serde(default)]
    pub rules: Vec<UserRuleConfig>,
    /// `[[alerting.receivers]]`: where notifications can go.
    #[serde(default)]
    pub receivers: Vec<crate::notify::ReceiverConfig>,
    /// `[[alerting.routes]]`: which alerts go to which receivers.
    #[serde(default)]
    pub routes: Vec<super::routing::RouteConfig>,
    /// Receivers of alerts no route takes.
    #[serde(default)]
    pub default_receivers: Vec<String>,
    #[serde(default)]
    pub grouping: super::routing::GroupingSettings,
    #[serde(default)]
    pub retry: super::routing::RetrySettings,
    /// Bounds on silences, acknowledgements and the alert history.
    #[serde(default)]
    pub limits: super::limits::AlertLimits,
    /// The dashboard's address as receivers should link to it (default: from
    /// server.listen).
    pub external_url: Option<String>,
}

/// `[alerting.builtin.<key>]`: every field left out keeps the pack's value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinOverride {
    pub enabled: Option<bool>,
    pub threshold: Option<f64>,
    #[serde(default, rename = "for", with = "crate::time::duration")]
    pub for_: Option<Duration>,
    #[serde(default, with = "crate::time::duration")]
    pub keep_firing_for: Option<Duration>,
    pub severity: Option<Severity>,
    /// Added to the alert's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `[[alerting.rules]]`: one user rule over an indicator or a stored metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRuleConfig {
    /// The alert's name (`alertname` label); unique.
    pub name: String,
    /// A field of the derived indicators, e.g. `wal_fsync_p99_seconds`.
    pub indicator: Option<String>,
    /// A stored metric name (every label set) or one series `name{label="v"}`.
    pub metric: Option<String>,
    #[serde(default)]
    pub aggregate: Aggregation,
    pub op: Comparison,
    pub threshold: f64,
    #[serde(default, rename = "for", with = "crate::time::duration")]
    pub for_: Option<Duration>,
    #[serde(default, with = "crate::time::duration")]
    pub keep_firing_for: Option<Duration>,
    #[serde(default = "default_user_severity")]
    pub severity: Severity,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// What to check when it fires.
    pub runbook: Option<String>,
}

fn default_user_severity() -> Severity {
    Severity::Warning
}

/// How urgent an alert is; its `severity` label. Ordered most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    /// The label value: `critical`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// How a value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Comparison {
    /// `value op threshold`; NaN never holds (as in PromQL's filters).
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
            Comparison::Eq => value == threshold,
            Comparison::Ne => !value.is_nan() && value != threshold,
        }
    }

    /// As written in the config: `>`, `>=`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Eq => "==",
            Comparison::Ne => "!=",
        }
    }
}

/// Per member (one alert per member) or one value across the cluster's members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    #[default]
    Member,
    Max,
    Min,
    Avg,
    Sum,
}

impl Aggregation {
    /// Folds the members' values; `None` when no member has one.
    pub fn fold(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        Some(match self {
            Aggregation::Member | Aggregation::Max => {
                values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            }
            Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Aggregation::Sum => values.iter().sum(),
            Aggregation::Avg => values.iter().sum::<f64>() / values.len() as f64,
        })
    }
}

/// Whether a rule's alerts are one per member or one per cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Member,
    Cluster,
}

/// Where a rule's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Builtin(BuiltinCheck),
    /// A field of the members' indicators.
    Indicator {
        name: String,
        aggregate: Aggregation,
    },
    /// A stored series: its latest point within the lookback.
    Metric {
        name: String,
        aggregate: Aggregation,
    },
}

/// A rule ready to evaluate: a built-in with its overrides applied, or a user rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique among rules: a built-in's key or a user rule's name.
    pub key: String,
    pub alertname: String,
    pub condition: Condition,
    pub scope: Scope,
    pub op: Comparison,
    pub threshold: f64,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub severity: Severity,
    /// Added to every alert of the rule.
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    pub description: String,
    pub runbook: String,
    /// Where the rule is configured: `alerting.builtin.<key>` or `alerting.rules[i]`.
    pub config_path: String,
}

/// A rule in the config that cannot be used; says which and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: rule {rule:?}: {message}")]
pub struct RuleError {
    /// The config path, e.g. `alerting.rules[2].op`.
    pub field: String,
    pub rule: String,
    pub message: String,
}

/// Labels every alert sets itself; rules may not set them.
pub const RESERVED_LABELS: &[&str] = &["alertname", "severity", "cluster", "member"];

/// The indicator names a user rule may use: every field of [`Indicators`].
pub fn indicator_names() -> Vec<String> {
    match serde_json::to_value(Indicators::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

pub(crate) use crate::labels::is_valid_name as valid_label_name;

fn valid_metric_name(name: &str) -> bool {
    let base = name.split('{').next().unwrap_or("");
    let mut chars = base.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && (!name.contains('{') || name.ends_with('}'))
}

impl AlertingSettings {
    /// Checks every override and user rule; the first problem names rule and field.
    pub fn validate(&self) -> Result<(), RuleError> {
        self.rules()?;
        let err = |field: String, message: String| RuleError {
            field,
            rule: String::new(),
            message,
        };
        crate::notify::validate_receivers(&self.receivers)
            .map_err(|e| err("alerting.receivers".into(), e.to_string()))?;
        let known = |name: &String| self.receivers.iter().any(|r| r.name() == name);
        for (i, name) in self.default_receivers.iter().enumerate() {
            if !known(name) {
                return Err(err(
                    format!("alerting.default_receivers[{i}]"),
                    format!("no receiver is named {name:?}"),
                ));
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("alerting.routes[{i}]");
            super::routing::parse_matchers(&r.matchers)
                .map_err(|e| err(format!("{at}.matchers"), e))?;
            if r.receivers.is_empty() {
                return Err(err(
                    format!("{at}.receivers"),
                    "name at least one receiver".into(),
                ));
            }
            for (field, names) in [("receivers", &r.receivers), ("escalate_to", &r.escalate_to)] {
                if let Some(name) = names.iter().find(|n| !known(n)) {
                    return Err(err(
                        format!("{at}.{field}"),
                        format!("no receiver is named {name:?}"),
                    ));
                }
            }
            if r.escalate_after.is_some() == r.escalate_to.is_empty() {
                return Err(err(
                    format!("{at}.escalate_after"),
                    "set both escalate_after and escalate_to, or neither".into(),
                ));
            }
        }
        self.limits.validate().map_err(|(field, m)| err(field, m))?;
        let g = &self.grouping;
        if g.group_interval.is_zero() || g.repeat_interval < g.group_interval {
            return Err(err(
                "alerting.grouping".into(),
                "group_interval must be over 0 and repeat_interval at least group_interval".into(),
            ));
        }
        Ok(())
    }

    /// The rules to evaluate: enabled built-ins with overrides applied, then user rules.
    pub fn rules(&self) -> Result<Vec<Rule>, RuleError> {
        self.check_builtin_overrides()?;
        let mut rules = self.builtin_rules();
        let indicators = indicator_names();
        let mut names = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            rules.push(user_rule(i, r, &indicators, &mut names)?);
        }
        check_templates(&rules)?;
        Ok(rules)
    }

    /// Each `[alerting.builtin.<key>]` names a built-in rule and changes only what
    /// that rule has.
    fn check_builtin_overrides(&self) -> Result<(), RuleError> {
        for (key, o) in &self.builtin {
            let field = |f: &str| format!("alerting.builtin.{key}{f}");
            let err = |f: &str, message: String| RuleError {
                field: field(f),
                rule: key.clone(),
                message,
            };
            let Some(def) = BUILTIN_RULES.iter().find(|b| b.key == key) else {
                let known: Vec<&str> = BUILTIN_RULES.iter().map(|b| b.key).collect();
                return Err(err(
                    "",
                    format!(
                        "no built-in rule has this name; known: {}",
                        known.join(", ")
                    ),
                ));
            };
            if let Some(t) = o.threshold {
                if def.threshold.is_none() {
                    return Err(err(
                        ".threshold",
                        "this rule has no threshold (it fires on a fact); use enabled, for, keep_firing_for, severity or labels".into(),
                    ));
                }
                if !t.is_finite() {
                    return Err(err(".threshold", "must be a finite number".into()));
                }
            }
            check_labels(&o.labels).map_err(|m| err(".labels", m))?;
        }
        Ok(())
    }

    /// The enabled built-ins, with their overrides applied.
    fn builtin_rules(&self) -> Vec<Rule> {
        let mut rules = Vec::new();
        for def in BUILTIN_RULES {
            let o = self.builtin.get(def.key).cloned().unwrap_or_default();
            if o.enabled == Some(false) {
                continue;
            }
            rules.push(Rule {
                key: def.key.to_string(),
                alertname: def.alertname.to_string(),
                condition: Condition::Builtin(def.check),
                scope: def.check.scope(),
                op: def.op,
                threshold: o.threshold.or(def.threshold).unwrap_or(0.0),
                for_: o.for_.unwrap_or(Duration::from_secs(def.for_secs)),
                keep_firing_for: o.keep_firing_for.unwrap_or_default(),
                severity: o.severity.unwrap_or(def.severity),
                labels: o.labels,
                summary: def.summary.to_string(),
                description: def.description.to_string(),
                runbook: def.runbook.to_string(),
                config_path: format!("alerting.builtin.{}", def.key),
            });
        }
        rules
    }
}

/// `[[alerting.rules]]` number `i`, checked, as a rule. `names` holds the names of
/// the rules before it (and gets this one's).
fn user_rule<'a>(
    i: usize,
    r: &'a UserRuleConfig,
    indicators: &[String],
    names: &mut HashSet<&'a str>,
) -> Result<Rule, RuleError> {
    let err = |f: &str, message: String| RuleError {
        field: format!("alerting.rules[{i}]{f}"),
        rule: r.name.clone(),
        message,
    };
    if r.name.is_empty()
        || !r
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_:-.".contains(c))
    {
        return Err(err(
            ".name",
            "must be non-empty and use only letters, digits, '_', ':', '-' and '.'".into(),
        ));
    }
    if BUILTIN_RULES.iter().any(|b| b.key == r.name) {
        return Err(err(
            ".name",
            "is the name of a built-in rule; change that one under [alerting.builtin] or pick another name".into(),
        ));
    }
    if !names.insert(r.name.as_str()) {
        return Err(err(".name", "is used by more than one rule".into()));
    }
    let condition = match (&r.indicator, &r.metric) {
        (Some(name), None) => {
            if !indicators.iter().any(|n| n == name) {
                return Err(err(
                    ".indicator",
                    format!(
                        "{name:?} is not an indicator; known: {}",
                        indicators.join(", ")
                    ),
                ));
            }
            Condition::Indicator {
                name: name.clone(),
                aggregate: r.aggregate,
            }
        }
        (None, Some(name)) => {
            if !valid_metric_name(name) {
                return Err(err(
                    ".metric",
                    format!("{name:?} is not a metric name or name{{labels}}"),
                ));
            }
            Condition::Metric {
                name: name.clone(),
                aggregate: r.aggregate,
            }
        }
        _ => return Err(err("", "set exactly one of indicator and metric".into())),
    };
    if !r.threshold.is_finite() {
        return Err(err(".threshold", "must be a finite number".into()));
    }
    check_labels(&r.labels).map_err(|m| err(".labels", m))?;
    let scope = if r.aggregate == Aggregation::Member {
        Scope::Member
    } else {
        Scope::Cluster
    };
    let what = r.indicator.as_deref().or(r.metric.as_deref()).unwrap_or("");
    Ok(Rule {
        key: r.name.clone(),
        alertname: r.name.clone(),
        condition,
        scope,
        op: r.op,
        threshold: r.threshold,
        for_: r.for_.unwrap_or_default(),
        keep_firing_for: r.keep_firing_for.unwrap_or_default(),
        severity: r.severity,
        labels: r.labels.clone(),
        summary: r.summary.clone().unwrap_or_else(|| {
            format!(
                "{{{{ labels.alertname }}}} on etcd cluster {{{{ labels.cluster }}}}{}",
                if scope == Scope::Member {
                    " member {{ labels.member }}"
                } else {
                    ""
                }
            )
        }),
        description: r.description.clone().unwrap_or_else(|| {
            format!(
                "{what} is {{{{ value }}}} ({} {{{{ threshold }}}}).",
                r.op.as_str()
            )
        }),
        runbook: r.runbook.clone().unwrap_or_default(),
        config_path: format!("alerting.rules[{i}]"),
    })
}

/// Compiles the summary and description templates of every rule against every
/// label the rule's alerts carry, so that a typo is reported at start rather than in
/// a notification. Run last, over rules otherwise valid.
fn check_templates(rules: &[Rule]) -> Result<(), RuleError> {
    let mut templates = Templates::new();
    for rule in rules {
        for (part, source) in [
            ("summary", &rule.summary),
            ("description", &rule.description),
        ] {
            templates
                .add_checked(rule, part, source)
                .map_err(|message| RuleError {
                    field: format!("{}.{part}", rule.config_path),
                    rule: rule.key.clone(),
                    message,
                })?;
        }
    }
    Ok(())
}

fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for name in labels.keys() {
        if !valid_label_name(name) {
            return Err(format!(
                "{name:?} is not a label name (letters, digits and '_', not starting with a digit)"
            ));
        }
        if RESERVED_LABELS.contains(&name.as_str()) {
            return Err(format!(
                "{name:?} is set by the monitor itself; reserved: {}",
                RESERVED_LABELS.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
