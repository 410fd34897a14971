//! What the monitor writes into an EtcdCluster's status and an
//! EtcdInspection's: made from a cluster's latest snapshot and an inspection's
//! outcome, as plain functions so that the operator only moves them.
//!
//! Conditions follow Kubernetes' conventions: `Ready` (the monitor probes the
//! cluster), `Healthy` and `Degraded`, each with a CamelCase reason and a
//! message; a condition's `lastTransitionTime` changes only when its status
//! does.

use super::resources::{
    Condition, EtcdClusterStatus, EtcdInspectionStatus, InspectionResult, MemberStatus,
};
use crate::check::inspect::Outcome;
use crate::collect::snapshot::{ClusterSnapshot, ClusterStatus};
use crate::units::{self, Unit};

/// Members, results and messages are cut to these bounds (the CRD's schema
/// says the same), so a status never grows without bound.
pub const MAX_MEMBERS: usize = 64;
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// The status of an EtcdCluster from its latest snapshot. `previous` is the
/// status written before (for the conditions' transition times), `now` the
/// time to stamp (RFC 3339).
pub fn cluster_status(
    snap: &ClusterSnapshot,
    previous: Option<&EtcdClusterStatus>,
    now: &str,
    generation: Option<i64>,
    dashboard_url: Option<String>,
) -> EtcdClusterStatus {
    let probed = snap.status != ClusterStatus::Pending;
    let reason = problem_reason(snap);
    let message = bounded(&snap.reasons.join("; "));
    let mut conditions = vec![
        if probed {
            condition("Ready", true, "Probed", "the monitor probes the cluster")
        } else {
            condition("Ready", false, "NotProbedYet", "no probe has ended yet")
        },
        match snap.status {
            ClusterStatus::Healthy => condition(
                "Healthy",
                true,
                "AllMembersHealthy",
                "every member is up, there is a leader and no alarm",
            ),
            ClusterStatus::Pending => condition("Healthy", false, "NotProbedYet", ""),
            _ => condition("Healthy", false, reason, &message),
        },
        match snap.status {
            ClusterStatus::Degraded | ClusterStatus::Unavailable => {
                condition("Degraded", true, reason, &message)
            }
            _ => condition("Degraded", false, "AsExpected", ""),
        },
    ];
    stamp(&mut conditions, previous, now, generation);

    let members: Vec<MemberStatus> = snap
        .members
        .iter()
        .take(MAX_MEMBERS)
        .map(|m| MemberStatus {
            name: m.name.clone(),
            id: m.id.clone(),
            endpoint: m.client_urls.first().cloned().unwrap_or_default(),
            state: if m.healthy {
                "up"
            } else if m.reachable {
                "unhealthy"
            } else {
                "down"
            }
            .to_string(),
            leader: m.is_leader,
            version: m.status.as_ref().map(|s| s.version.clone()),
            db_size_bytes: m.status.as_ref().map(|s| s.db_size),
            error: m.error.as_deref().map(bounded),
        })
        .collect();
    let db_size_bytes = snap
        .members
        .iter()
        .filter_map(|m| m.status.as_ref().map(|s| s.db_size))
        .max();
    let quota_bytes = snap
        .members
        .iter()
        .filter_map(|m| m.indicators.as_ref()?.quota_backend_bytes)
        .filter(|q| q.is_finite() && *q > 0.0)
        .map(|q| q.min(i64::MAX as f64) as i64)
        .max();
    let db_size = db_size_bytes.map(|db| {
        let db_text = units::human(db as f64, Unit::Bytes);
        match quota_bytes {
            Some(q) => format!("{db_text} / {}", units::human(q as f64, Unit::Bytes)),
            None => db_text,
        }
    });
    let healthy = snap.members.iter().filter(|m| m.healthy).count();
    EtcdClusterStatus {
        phase: probed.then(|| phase(snap.status).to_string()),
        conditions,
        leader: snap.leader.as_ref().map(|l| l.name.clone()),
        members_ready: probed.then(|| format!("{healthy}/{}", snap.members.len())),
        members,
        version: snap.versions().into_iter().next(),
        db_size,
        db_size_bytes,
        quota_bytes,
        last_probe_time: snap
            .probed_at
            .as_ref()
            .map(|t| crate::time::rfc3339_seconds(t.unix_ms())),
        dashboard_url,
        observed_generation: generation,
    }
}

/// Sets each condition's generation, and its transition time: kept from
/// `previous` while the status is the same, else `now`.
fn stamp(
    conditions: &mut [Condition],
    previous: Option<&EtcdClusterStatus>,
    now: &str,
    generation: Option<i64>,
) {
    for c in conditions {
        c.observed_generation = generation;
        let before = previous
            .and_then(|p| p.conditions.iter().find(|old| old.type_ == c.type_))
            .filter(|old| old.status == c.status);
        c.last_transition_time = match before {
            Some(old) => old.last_transition_time.clone(),
            None => now.to_string(),
        };
    }
}

/// The status of an EtcdCluster the monitor does not probe: its spec is
/// refused, its Secret or members cannot be found, or its name is taken.
/// `reason` is CamelCase (`InvalidSpec`, `SecretNotFound`, `NoMembers`).
pub fn refused_status(
    reason: &str,
    message: &str,
    previous: Option<&EtcdClusterStatus>,
    now: &str,
    generation: Option<i64>,
) -> EtcdClusterStatus {
    let message = bounded(message);
    let mut conditions = vec![
        condition("Ready", false, reason, &message),
        Condition {
            status: "Unknown".into(),
            ..condition(
                "Healthy",
                false,
                "NotProbed",
                "the monitor does not probe the cluster",
            )
        },
        Condition {
            status: "Unknown".into(),
            ..condition(
                "Degraded",
                false,
                "NotProbed",
                "the monitor does not probe the cluster",
            )
        },
    ];
    stamp(&mut conditions, previous, now, generation);
    EtcdClusterStatus {
        phase: Some("NotMonitored".into()),
        conditions,
        observed_generation: generation,
        ..EtcdClusterStatus::default()
    }
}

/// The printer column: `Healthy`, `Degraded` or `Unavailable`.
fn phase(status: ClusterStatus) -> &'static str {
    match status {
        ClusterStatus::Pending => "Pending",
        ClusterStatus::Healthy => "Healthy",
        ClusterStatus::Degraded => "Degraded",
        ClusterStatus::Unavailable => "Unavailable",
    }
}

/// A CamelCase reason for the first problem the snapshot names (the reasons
/// are ordered worst first).
fn problem_reason(snap: &ClusterSnapshot) -> &'static str {
    let Some(first) = snap.reasons.first() else {
        return "Unknown";
    };
    let words: Vec<&str> = first.split_whitespace().collect();
    match words.as_slice() {
        ["no", "member", "reachable", ..] => "NoMemberReachable",
        ["no", "quorum:", ..] => "NoQuorum",
        ["no", "leader:", ..] => "NoLeader",
        ["member", _, "unreachable:", ..] => "MemberUnreachable",
        ["member", _, "unhealthy:", ..] => "MemberUnhealthy",
        ["member", ..] => "MemberDisagrees",
        ["alarm", ..] => "AlarmRaised",
        ["consistency", "check", ..] => "HashMismatch",
        _ => "ProbeErrors",
    }
}

fn condition(type_: &str, status: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        last_transition_time: String::new(),
        observed_generation: None,
    }
}

/// At most [`MAX_MESSAGE_CHARS`] characters, cut on a character boundary.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The status of an EtcdInspection from a run's outcome.
pub fn inspection_status(outcome: &Outcome, generation: Option<i64>) -> EtcdInspectionStatus {
    EtcdInspectionStatus {
        passed: Some(outcome.passed),
        summary: Some(bounded(&outcome.summary)),
        last_run_time: Some(crate::time::rfc3339_seconds(outcome.checked_at_ms)),
        results: outcome
            .results
            .iter()
            .take(MAX_MEMBERS)
            .map(|r| InspectionResult {
                subject: bounded(&r.subject),
                passed: r.passed,
                message: bounded(&r.message),
                values: r.values.clone(),
            })
            .collect(),
        observed_generation: generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::snapshot::{MemberSnapshot, MemberStatus as EtcdStatus, Timestamp};

    fn member(name: &str, up: bool) -> MemberSnapshot {
        MemberSnapshot {
            id: name.into(),
            name: name.into(),
            peer_urls: vec![],
            client_urls: vec![format!("http://{name}:2379")],
            is_learner: false,
            is_leader: false,
            reachable: up,
            healthy: up,
            error: (!up).then(|| "connection refused".to_string()),
            status: up.then(|| EtcdStatus {
                version: "3.4.23".into(),
                db_size: 1 << 20,
                db_size_in_use: 1 << 20,
                leader: "m0".into(),
                raft_term: 2,
                raft_index: 10,
                raft_applied_index: 10,
                revision: 5,
                is_learner: false,
                errors: vec![],
            }),
            flags: vec![],
            indicators: None,
            metrics_url: None,
            scrape_error: None,
        }
    }

    fn snapshot(up: [bool; 3]) -> ClusterSnapshot {
        let mut snap = ClusterSnapshot::pending("c", &[]);
        snap.members = ["m0", "m1", "m2"]
            .iter()
            .zip(up)
            .map(|(n, u)| member(n, u))
            .collect();
        snap.probed_at = Some(Timestamp::now());
        let settings = crate::config::Settings::load_with_env(None, &Default::default(), |_| None)
            .unwrap()
            .collect;
        crate::collect::view::derive_cluster_view(&mut snap, &settings);
        crate::collect::view::set_status(&mut snap);
        snap
    }

    fn cond<'a>(s: &'a EtcdClusterStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn a_member_down_turns_healthy_false_and_degraded_true_with_the_reason() {
        let up = cluster_status(
            &snapshot([true; 3]),
            None,
            "2026-12-04T10:00:00Z",
            Some(1),
            None,
        );
        assert_eq!(up.phase.as_deref(), Some("Healthy"));
        assert_eq!(up.members_ready.as_deref(), Some("3/3"));
        assert_eq!(up.leader.as_deref(), Some("m0"));
        assert_eq!(cond(&up, "Ready").status, "True");
        assert_eq!(cond(&up, "Healthy").status, "True");
        assert_eq!(cond(&up, "Degraded").status, "False");

        let down = cluster_status(
            &snapshot([true, true, false]),
            Some(&up),
            "2026-12-04T10:01:00Z",
            Some(1),
            None,
        );
        assert_eq!(down.phase.as_deref(), Some("Degraded"));
        assert_eq!(down.members_ready.as_deref(), Some("2/3"));
        let degraded = cond(&down, "Degraded");
        assert_eq!(degraded.status, "True");
        assert_eq!(degraded.reason, "MemberUnreachable");
        assert!(
            degraded.message.contains("connection refused"),
            "{degraded:?}"
        );
        assert_eq!(degraded.last_transition_time, "2026-12-04T10:01:00Z");
        // Ready did not change: its time is the first one.
        assert_eq!(
            cond(&down, "Ready").last_transition_time,
            "2026-12-04T10:00:00Z"
        );
        assert_eq!(down.members[2].state, "down");

        let back = cluster_status(
            &snapshot([true; 3]),
            Some(&down),
            "2026-12-04T10:02:00Z",
            Some(1),
            None,
        );
        assert_eq!(cond(&back, "Degraded").status, "False");
        assert_eq!(
            cond(&back, "Degraded").last_transition_time,
            "2026-12-04T10:02:00Z"
        );
    }

    #[test]
    fn no_quorum_is_unavailable_and_messages_are_bounded() {
        let mut snap = snapshot([true, false, false]);
        snap.members[1].error = Some("x".repeat(5000));
        crate::collect::view::set_status(&mut snap);
        let s = cluster_status(&snap, None, "2026-12-04T10:00:00Z", None, None);
        assert_eq!(s.phase.as_deref(), Some("Unavailable"));
        assert_eq!(cond(&s, "Degraded").reason, "NoQuorum");
        let message = &cond(&s, "Degraded").message;
        assert_eq!(
            message.chars().count(),
            MAX_MESSAGE_CHARS + 1,
            "cut, with an ellipsis"
        );
        assert!(s.members[1].error.as_ref().unwrap().chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn before_the_first_probe_it_is_not_ready() {
        let snap = ClusterSnapshot::pending("c", &[]);
        let s = cluster_status(&snap, None, "2026-12-04T10:00:00Z", None, None);
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(cond(&s, "Ready").reason, "NotProbedYet");
        assert!(s.phase.is_none() && s.members_ready.is_none());
    }

    #[test]
    fn a_refused_cluster_is_not_ready_with_the_reason_and_keeps_its_transition_time() {
        let first = refused_status(
            "SecretNotFound",
            "Secret \"etcd-client\" not found",
            None,
            "2026-12-04T10:00:00Z",
            Some(2),
        );
        assert_eq!(first.phase.as_deref(), Some("NotMonitored"));
        assert_eq!(cond(&first, "Ready").status, "False");
        assert_eq!(cond(&first, "Ready").reason, "SecretNotFound");
        assert_eq!(cond(&first, "Healthy").status, "Unknown");
        assert_eq!(cond(&first, "Ready").observed_generation, Some(2));
        let later = refused_status(
            "NoMembers",
            "no member found",
            Some(&first),
            "2026-12-04T10:05:00Z",
            Some(2),
        );
        assert_eq!(cond(&later, "Ready").reason, "NoMembers");
        assert_eq!(
            cond(&later, "Ready").last_transition_time,
            "2026-12-04T10:00:00Z",
            "still not ready: no transition"
        );
        assert!(later.leader.is_none() && later.members.is_empty());
    }
}
