//! Summary and description templates (minijinja, Jinja2 syntax).
//!
//! A template sees `labels` (the alert's labels), `value` (the value that crossed the
//! threshold), `threshold`, and `values` (more figures the rule gives, e.g. the
//! database size beside its quota). Filters `seconds`, `bytes` and `percent` write
//! numbers the way the dashboard does. Undefined names are errors, so a typo is
//! caught when the config is loaded, not when a notification goes out.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::rules::{Condition, Rule, Scope};
use crate::units::{human, Unit};

/// What a template is rendered with.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateContext<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub value: f64,
    pub threshold: f64,
    pub values: &'a BTreeMap<String, serde_json::Value>,
}

/// The compiled templates of a set of rules.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

fn name(rule_key: &str, part: &str) -> String {
    format!("{rule_key}/{part}")
}

impl Templates {
    /// An empty set, with strict undefined names and the monitor's filters.
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Plain text: notifications and the dashboard escape for their own medium.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("seconds", |v: f64| human(v, Unit::Seconds));
        env.add_filter("bytes", |v: f64| human(v, Unit::Bytes));
        env.add_filter("percent", |v: f64| human(v, Unit::Ratio));
        Templates { env }
    }

    /// Compiles `source` as `part` ("summary", "description") of `rule`, then renders
    /// it once with every label and value the rule's alerts can carry, so undefined
    /// names and bad filter arguments show now. The error is the user-facing message.
    pub fn add_checked(&mut self, rule: &Rule, part: &str, source: &str) -> Result<(), String> {
        let key = name(&rule.key, part);
        self.env
            .add_template_owned(key.clone(), source.to_string())
            .map_err(|e| describe(&e))?;
        let mut labels: BTreeMap<String, String> = rule.labels.clone();
        for l in ["alertname", "severity", "cluster"] {
            labels.insert(l.into(), format!("<{l}>"));
        }
        if rule.scope == Scope::Member {
            labels.insert("member".into(), "<member>".into());
        }
        let mut values = BTreeMap::new();
        match &rule.condition {
            Condition::Builtin(check) => {
                for l in check.extra_labels() {
                    labels.insert(l.to_string(), format!("<{l}>"));
                }
                for v in check.value_names() {
                    values.insert(v.to_string(), serde_json::Value::from(0));
                }
            }
            Condition::Metric { .. } => {
                labels.insert("series".into(), "<series>".into());
            }
            Condition::Indicator { .. } => {}
        }
        let ctx = TemplateContext {
            labels: &labels,
            value: 1.0,
            threshold: rule.threshold,
            values: &values,
        };
        self.render_named(&key, &ctx).map(|_| ())
    }

    /// Compiles every rule's summary and description.
    pub fn for_rules(rules: &[Rule]) -> Result<Templates, String> {
        let mut t = Templates::new();
        for rule in rules {
            t.add_checked(rule, "summary", &rule.summary)?;
            t.add_checked(rule, "description", &rule.description)?;
        }
        Ok(t)
    }

    /// Renders `part` of the rule `rule_key`. A template that fails at run time (a
    /// label a user rule counted on is missing) renders as its error, so the alert
    /// still goes out and says what is wrong.
    pub fn render(&self, rule_key: &str, part: &str, ctx: &TemplateContext<'_>) -> String {
        self.render_named(&name(rule_key, part), ctx)
            .unwrap_or_else(|e| format!("({part} template failed: {e})"))
    }

    fn render_named(&self, key: &str, ctx: &TemplateContext<'_>) -> Result<String, String> {
        let template = self.env.get_template(key).map_err(|e| describe(&e))?;
        template.render(ctx).map_err(|e| describe(&e))
    }
}

/// One line: the error, where it is, and its cause.
fn describe(e: &minijinja::Error) -> String {
    let mut text = match e.line() {
        Some(line) => format!("template error on line {line}: {}", e.kind()),
        None => format!("template error: {}", e.kind()),
    };
    if let Some(detail) = e.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rules::{Aggregation, AlertingSettings, BuiltinCheck, Comparison, Severity};
    use serde_json::Value as Json;
    use std::time::Duration;

    fn user_rule(summary: &str) -> Rule {
        Rule {
            key: "Mine".into(),
            alertname: "Mine".into(),
            condition: Condition::Indicator {
                name: "wal_fsync_p99_seconds".into(),
                aggregate: Aggregation::Member,
            },
            scope: Scope::Member,
            op: Comparison::Gt,
            threshold: 0.1,
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            severity: Severity::Warning,
            labels: [("team".to_string(), "db".to_string())].into(),
            summary: summary.into(),
            description: String::new(),
            runbook: String::new(),
            config_path: "alerting.rules[0]".into(),
        }
    }

    fn render(
        t: &Templates,
        key: &str,
        labels: &[(&str, &str)],
        values: &[(&str, Json)],
    ) -> String {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let values: BTreeMap<String, Json> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        t.render(
            key,
            "summary",
            &TemplateContext {
                labels: &labels,
                value: 0.25,
                threshold: 0.1,
                values: &values,
            },
        )
    }

    #[test]
    fn renders_labels_values_and_filters() {
        let mut t = Templates::new();
        let rule = user_rule("{{ labels.member }} of {{ labels.cluster }} ({{ labels.team }}): fsync {{ value | seconds }} > {{ threshold | seconds }}");
        t.add_checked(&rule, "summary", &rule.summary).unwrap();
        let text = render(
            &t,
            "Mine",
            &[("cluster", "prod"), ("member", "m1"), ("team", "db")],
            &[],
        );
        assert_eq!(text, "m1 of prod (db): fsync 250 ms > 100 ms");

        // Built-in rules give figures under `values`.
        let mut quota = user_rule("{{ value | percent }} used: {{ values.db_size_bytes | bytes }} of {{ values.quota_backend_bytes | bytes }}");
        quota.key = "Quota".into();
        quota.condition = Condition::Builtin(BuiltinCheck::QuotaLowSpace);
        t.add_checked(&quota, "summary", &quota.summary).unwrap();
        let text = render(
            &t,
            "Quota",
            &[],
            &[
                ("db_size_bytes", Json::from(1_073_741_824u64)),
                ("quota_backend_bytes", Json::from(2_147_483_648u64)),
            ],
        );
        assert_eq!(text, "25.0 % used: 1.00 GiB of 2.00 GiB");
    }

    #[test]
    fn syntax_and_undefined_names_are_errors() {
        let mut t = Templates::new();
        let bad = user_rule("{{ labels.member ");
        let e = t.add_checked(&bad, "summary", &bad.summary).unwrap_err();
        assert!(e.contains("syntax error"), "{e}");
        let typo = user_rule("{{ labels.membr }}");
        let e = t.add_checked(&typo, "summary", &typo.summary).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        let unknown_filter = user_rule("{{ value | nosuch }}");
        let e = t
            .add_checked(&unknown_filter, "summary", &unknown_filter.summary)
            .unwrap_err();
        assert!(e.contains("nosuch") || e.contains("filter"), "{e}");
    }

    #[test]
    fn a_failure_at_run_time_renders_as_its_error() {
        let rule = user_rule("{{ values.extra }}");
        let mut t = Templates::new();
        // `values` is empty for indicator rules: the check at start catches it...
        assert!(t.add_checked(&rule, "summary", &rule.summary).is_err());
        // ...and had it slipped through, the alert would say so instead of failing.
        let labels = BTreeMap::new();
        let values = BTreeMap::new();
        let text = t.render(
            "Mine",
            "summary",
            &TemplateContext {
                labels: &labels,
                value: 1.0,
                threshold: 0.0,
                values: &values,
            },
        );
        assert!(text.starts_with("(summary template failed:"), "{text}");
    }

    #[test]
    fn every_builtin_template_compiles() {
        let rules = AlertingSettings::default().rules().unwrap();
        Templates::for_rules(&rules).unwrap();
    }
}
