//! Alerting: rules (the built-in etcd pack and users' own), their evaluation over
//! cluster snapshots, and the pending -> firing -> resolved state machine.
//!
//! - [`rules`]: config types (`[alerting]`), the built-in pack, validation, [`Rule`].
//! - [`eval`]: [`Evaluator`], which turns snapshots into [`Transition`]s and keeps a
//!   serialisable [`EvaluatorState`] for persistence across restarts.
//! - [`template`]: summary/description templates (minijinja).
//! - [`prometheus`]: the built-in pack as Prometheus rule-group YAML.
//!
//! Routing, grouping, silences and notifying live elsewhere: this module only says
//! which alerts exist and when they change state.

pub mod builtin;
pub mod cert;
pub mod eval;
pub mod limits;
pub mod manager;
pub mod prometheus;
pub mod routing;
pub mod rules;
pub mod template;
mod window;

pub use crate::labels::Fingerprint;

pub use eval::{Alert, AlertPhase, Evaluator, EvaluatorState, Transition, TransitionKind};
pub use prometheus::export_prometheus_rules;
pub use rules::{AlertingSettings, Rule, RuleError, Severity};

/// Errors of the alert module other than config validation ([`RuleError`]).
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("alert state cannot be encoded or decoded: {0}")]
    State(#[from] postcard::Error),
    /// Reading history for windows, or the alert tables of the store.
    #[error("alert store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A request (silence, acknowledgement) that cannot be done as asked.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// A route that cannot be set up (its matchers do not parse).
    #[error("alerting config: {0}")]
    Config(String),
    /// A receiver that cannot be set up.
    #[error("alerting config: {0}")]
    Receiver(#[source] crate::notify::NotifyError),
}

pub type Result<T> = std::result::Result<T, AlertError>;

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    pub(crate) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
