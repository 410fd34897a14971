//! kstone's four inspections of a running cluster, each a verdict with figures
//! per member (or per key prefix):
//! - `alarm`: the alarms raised, per member; passes when there are none;
//! - `healthy`: each member's health (its Status answers and `/health` says
//!   true); passes when every member is healthy;
//! - `consistency`: each member's revision, raft index, applied index and key
//!   count (a serializable count asked of that member alone, so a member that
//!   fell behind shows its own view); passes when every member answered and
//!   each figure's spread (highest minus lowest) is at most `max_spread`;
//! - `request`: the number of keys under each prefix (a linearizable count);
//!   passes when every count was read.
//!
//! Each run probes the cluster once with the collector's prober (its deadlines,
//! the member list and `/health` asked fresh), then asks what the probe does
//! not: the key counts.

use std::collections::BTreeMap;

use etcd_client::{Client, GetOptions};
use serde::{Deserialize, Serialize};

use super::{CheckError, Result};
use crate::collect::probe::probe_deadline;
use crate::collect::settings::CollectSettings;
use crate::collect::{ClusterProber, ClusterSnapshot};
use crate::etcd::{with_deadline, ClusterConfig, Connector, EtcdError};

/// At most this many prefixes in a `request` inspection.
pub const MAX_PREFIXES: usize = 32;
/// A prefix is at most this long (etcd's keys are at most 1.5 MiB; a prefix
/// worth counting is short).
pub const MAX_PREFIX_BYTES: usize = 1024;

/// Which inspection, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum Inspection {
    Alarm,
    Healthy,
    Consistency { max_spread: u64 },
    Request { key_prefixes: Vec<String> },
}

impl Inspection {
    pub fn name(&self) -> &'static str {
        match self {
            Inspection::Alarm => "alarm",
            Inspection::Healthy => "healthy",
            Inspection::Consistency { .. } => "consistency",
            Inspection::Request { .. } => "request",
        }
    }

    /// Refuses what cannot be run: a `request` without prefixes, too many, an
    /// empty or overlong one.
    pub fn validate(&self) -> Result<()> {
        if let Inspection::Request { key_prefixes } = self {
            if key_prefixes.is_empty() || key_prefixes.len() > MAX_PREFIXES {
                return Err(CheckError::Invalid(format!(
                    "keyPrefixes: 1 to {MAX_PREFIXES} prefixes, not {}",
                    key_prefixes.len()
                )));
            }
            if let Some(p) = key_prefixes
                .iter()
                .find(|p| p.is_empty() || p.len() > MAX_PREFIX_BYTES)
            {
                return Err(CheckError::Invalid(format!(
                    "keyPrefixes: each 1 to {MAX_PREFIX_BYTES} bytes, not {} ({p:?})",
                    p.len()
                )));
            }
        }
        Ok(())
    }
}

/// What one run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub passed: bool,
    /// One line, e.g. `NOSPACE on 1 of 3 members`.
    pub summary: String,
    /// Per member, or per prefix for `request`.
    pub results: Vec<SubjectResult>,
    pub checked_at_ms: i64,
}

/// What one run found about one member or prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectResult {
    pub subject: String,
    pub passed: bool,
    pub message: String,
    pub values: BTreeMap<String, i64>,
}

/// Runs one inspection of the cluster.
pub async fn run(
    cluster: &ClusterConfig,
    collect: &CollectSettings,
    inspection: &Inspection,
) -> Result<Outcome> {
    inspection.validate()?;
    let mut settings = collect.clone();
    settings.health_interval = std::time::Duration::ZERO;
    settings.member_list_interval = std::time::Duration::ZERO;
    let mut prober = ClusterProber::new(cluster.clone(), settings.clone())?;
    let deadline = probe_deadline(&settings);
    let snap = tokio::time::timeout(deadline, prober.probe(crate::unix_ms_now()))
        .await
        .map_err(|_| EtcdError::Timeout {
            what: "probing the cluster".into(),
            after: deadline,
        })?
        .snapshot;
    // The prober's own connector: the TLS files and password are read once.
    let connector = prober.connector();
    let mut outcome = match inspection {
        Inspection::Alarm => alarm(&snap),
        Inspection::Healthy => healthy(&snap),
        Inspection::Consistency { max_spread } => {
            let keys = member_key_counts(connector, &snap).await;
            consistency(&snap, &keys, *max_spread)
        }
        Inspection::Request { key_prefixes } => {
            request(connector, &cluster.endpoints, key_prefixes).await
        }
    };
    outcome.checked_at_ms = crate::unix_ms_now();
    Ok(outcome)
}

fn outcome(passed: bool, summary: String, results: Vec<SubjectResult>) -> Outcome {
    Outcome {
        passed,
        summary,
        results,
        checked_at_ms: 0,
    }
}

/// No member at all is a failure of every inspection that reads members.
fn no_members(snap: &ClusterSnapshot) -> Option<Outcome> {
    snap.members.is_empty().then(|| {
        let why = snap
            .errors
            .first()
            .cloned()
            .unwrap_or_else(|| "no member listed".into());
        outcome(false, format!("no member: {why}"), Vec::new())
    })
}

fn alarm(snap: &ClusterSnapshot) -> Outcome {
    if let Some(o) = no_members(snap) {
        return o;
    }
    if let Some(e) = snap.errors.iter().find(|e| e.contains("alarm list")) {
        return outcome(
            false,
            format!("the alarms could not be read: {e}"),
            Vec::new(),
        );
    }
    let results: Vec<SubjectResult> = snap
        .members
        .iter()
        .map(|m| {
            let raised: Vec<&str> = snap
                .alarms
                .iter()
                .filter(|a| a.member_id == m.id)
                .map(|a| a.alarm.as_str())
                .collect();
            SubjectResult {
                subject: m.name.clone(),
                passed: raised.is_empty(),
                message: raised.join(", "),
                values: BTreeMap::from([("alarms".to_string(), raised.len() as i64)]),
            }
        })
        .collect();
    let raised = results.iter().filter(|r| !r.passed).count();
    let mut kinds: Vec<&str> = snap.alarms.iter().map(|a| a.alarm.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let summary = if snap.alarms.is_empty() {
        "no alarm raised".to_string()
    } else {
        format!(
            "{} on {raised} of {} members",
            kinds.join(", "),
            results.len()
        )
    };
    outcome(snap.alarms.is_empty(), summary, results)
}

fn healthy(snap: &ClusterSnapshot) -> Outcome {
    if let Some(o) = no_members(snap) {
        return o;
    }
    let results: Vec<SubjectResult> = snap
        .members
        .iter()
        .map(|m| SubjectResult {
            subject: m.name.clone(),
            passed: m.healthy,
            message: m.error.clone().unwrap_or_default(),
            values: BTreeMap::from([
                ("reachable".to_string(), i64::from(m.reachable)),
                ("healthy".to_string(), i64::from(m.healthy)),
            ]),
        })
        .collect();
    let up = results.iter().filter(|r| r.passed).count();
    outcome(
        up == results.len(),
        format!("{up} of {} members healthy", results.len()),
        results,
    )
}

/// Each member's key count, asked of it alone (serializable): by member ID.
async fn member_key_counts(
    connector: &Connector,
    snap: &ClusterSnapshot,
) -> BTreeMap<String, std::result::Result<i64, String>> {
    let asks = snap.members.iter().map(|m| async move {
        let count = match m.client_urls.first() {
            None => Err("no client URL".to_string()),
            Some(url) => match connector.connect(std::slice::from_ref(url)).await {
                Ok(client) => count_keys(client, connector.request_timeout(), b"", true)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        (m.id.clone(), count)
    });
    futures::future::join_all(asks).await.into_iter().collect()
}

/// Keys under `prefix` (every key when empty), counted without reading them.
async fn count_keys(
    mut client: Client,
    timeout: std::time::Duration,
    prefix: &[u8],
    serializable: bool,
) -> std::result::Result<i64, EtcdError> {
    let (key, options) = if prefix.is_empty() {
        (vec![0u8], GetOptions::new().with_all_keys())
    } else {
        (prefix.to_vec(), GetOptions::new().with_prefix())
    };
    let mut options = options.with_count_only();
    if serializable {
        options = options.with_serializable();
    }
    let resp = with_deadline("counting keys", timeout, client.get(key, Some(options))).await?;
    Ok(resp.count())
}

fn consistency(
    snap: &ClusterSnapshot,
    keys: &BTreeMap<String, std::result::Result<i64, String>>,
    max_spread: u64,
) -> Outcome {
    if let Some(o) = no_members(snap) {
        return o;
    }
    let mut results = Vec::new();
    let mut figures: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for m in &snap.members {
        let mut values = BTreeMap::new();
        let mut problems = Vec::new();
        match &m.status {
            Some(s) => {
                for (name, v) in [
                    ("revision", s.revision),
                    ("raftIndex", i64::try_from(s.raft_index).unwrap_or(i64::MAX)),
                    (
                        "appliedIndex",
                        i64::try_from(s.raft_applied_index).unwrap_or(i64::MAX),
                    ),
                ] {
                    values.insert(name.to_string(), v);
                    figures.entry(name).or_default().push(v);
                }
            }
            None => problems.push(
                m.error
                    .clone()
                    .unwrap_or_else(|| "its Status did not answer".into()),
            ),
        }
        match keys.get(&m.id) {
            Some(Ok(n)) => {
                values.insert("keys".to_string(), *n);
                figures.entry("keys").or_default().push(*n);
            }
            Some(Err(e)) => problems.push(format!("key count: {e}")),
            None => problems.push("key count: not asked".into()),
        }
        results.push(SubjectResult {
            subject: m.name.clone(),
            passed: problems.is_empty(),
            message: problems.join("; "),
            values,
        });
    }
    let spreads: Vec<(&str, u64)> = ["revision", "raftIndex", "appliedIndex", "keys"]
        .into_iter()
        .filter_map(|name| {
            let v = figures.get(name)?;
            let (lo, hi) = (v.iter().min()?, v.iter().max()?);
            Some((name, hi.abs_diff(*lo)))
        })
        .collect();
    let all_answered = results.iter().all(|r| r.passed);
    let within = spreads.iter().all(|(_, s)| *s <= max_spread);
    let listed: Vec<String> = spreads.iter().map(|(n, s)| format!("{n} {s}")).collect();
    let mut summary = format!(
        "spread {} (at most {max_spread} passes)",
        if listed.is_empty() {
            "unknown".to_string()
        } else {
            listed.join(", ")
        }
    );
    if !all_answered {
        let missing = results.iter().filter(|r| !r.passed).count();
        summary.push_str(&format!("; {missing} member(s) could not be compared"));
    }
    outcome(
        all_answered && within && !spreads.is_empty(),
        summary,
        results,
    )
}

async fn request(connector: &Connector, endpoints: &[String], prefixes: &[String]) -> Outcome {
    // One connection to a member that answers, its channel shared by the counts.
    let client = match connector.answering_client(endpoints).await {
        Ok(c) => c,
        Err(e) => return outcome(false, format!("no member answered: {e}"), Vec::new()),
    };
    let timeout = connector.request_timeout();
    let asks = prefixes.iter().map(|p| {
        let client = client.clone();
        async move {
            (
                p.clone(),
                count_keys(client, timeout, p.as_bytes(), false).await,
            )
        }
    });
    let mut results = Vec::new();
    for (prefix, count) in futures::future::join_all(asks).await {
        results.push(match count {
            Ok(n) => SubjectResult {
                subject: prefix,
                passed: true,
                message: String::new(),
                values: BTreeMap::from([("keys".to_string(), n)]),
            },
            Err(e) => SubjectResult {
                subject: prefix,
                passed: false,
                message: e.to_string(),
                values: BTreeMap::new(),
            },
        });
    }
    let read = results.iter().filter(|r| r.passed).count();
    let total: i64 = results
        .iter()
        .filter_map(|r| r.values.get("keys"))
        .fold(0i64, |a, n| a.saturating_add(*n));
    outcome(
        read == results.len(),
        format!(
            "{total} keys under {} prefixes ({read} read)",
            results.len()
        ),
        results,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_needs_sane_prefixes() {
        let bad = [
            Vec::new(),
            vec![String::new()],
            vec!["p".repeat(MAX_PREFIX_BYTES + 1)],
            vec!["/a/".to_string(); MAX_PREFIXES + 1],
        ];
        for key_prefixes in bad {
            let e = Inspection::Request { key_prefixes }.validate().unwrap_err();
            assert!(e.to_string().starts_with("keyPrefixes: "), "{e}");
        }
        Inspection::Request {
            key_prefixes: vec!["/registry/".into()],
        }
        .validate()
        .unwrap();
    }
}
