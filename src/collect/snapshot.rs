//! What the collector knows about a cluster after one probe: the value everything
//! else reads. Plain data, serialisable as the JSON API shows it.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

use super::derive::Indicators;

/// A wall-clock time, shown as RFC 3339 UTC with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(SystemTime::now())
    }

    pub fn unix_ms(&self) -> i64 {
        crate::time::unix_ms(self.0)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&crate::time::system_rfc3339_millis(self.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterStatus {
    /// Not probed yet.
    Pending,
    Healthy,
    /// Serving, but something needs attention (a member down, an alarm, a disagreement).
    Degraded,
    /// Cannot serve writes: no quorum, no leader, or no member reachable.
    Unavailable,
}

impl ClusterStatus {
    pub const ALL: [ClusterStatus; 4] = [
        ClusterStatus::Pending,
        ClusterStatus::Healthy,
        ClusterStatus::Degraded,
        ClusterStatus::Unavailable,
    ];

    /// As serialized: `pending`, `healthy`, `degraded`, `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Pending => "pending",
            ClusterStatus::Healthy => "healthy",
            ClusterStatus::Degraded => "degraded",
            ClusterStatus::Unavailable => "unavailable",
        }
    }
}

/// Member IDs are shown in hex, as etcdctl's table output and etcd's logs do.
pub fn member_id_hex(id: u64) -> String {
    format!("{id:x}")
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterSnapshot {
    pub name: String,
    pub tags: Vec<String>,
    pub status: ClusterStatus,
    /// Why the status is not healthy, one sentence each.
    pub reasons: Vec<String>,
    pub probed_at: Option<Timestamp>,
    pub probe_duration_ms: Option<u64>,
    pub cluster_id: Option<String>,
    pub leader: Option<LeaderInfo>,
    pub raft_term: Option<u64>,
    pub members: Vec<MemberSnapshot>,
    pub quorum: Quorum,
    pub spread: Spread,
    pub alarms: Vec<Alarm>,
    pub consistency: Option<ConsistencyCheck>,
    /// Cluster-level failures (member list, alarm list) of the last probe.
    pub errors: Vec<String>,
    /// Counts over every probe since the monitor started, for `/metrics`; not in
    /// the JSON API, where a snapshot describes one probe.
    #[serde(skip)]
    pub counts: ProbeCounts,
}

/// How many probes a cluster had, and how many failed, since the monitor started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeCounts {
    pub probes_total: u64,
    /// Probes in which no member answered.
    pub failed_total: u64,
    /// By member name (members of the last probe only).
    pub members: std::collections::BTreeMap<String, MemberProbeCounts>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberProbeCounts {
    /// Probes the member did not answer.
    pub unreachable_total: u64,
    /// Probes in which its `/metrics` could not be read.
    pub scrape_failures_total: u64,
}

impl ProbeCounts {
    /// Counts one more probe, that `snap` shows.
    pub fn add(&mut self, snap: &ClusterSnapshot) {
        self.probes_total += 1;
        if snap.members_reachable() == 0 {
            self.failed_total += 1;
        }
        self.members
            .retain(|name, _| snap.members.iter().any(|m| m.name == *name));
        for m in &snap.members {
            let counts = self.members.entry(m.name.clone()).or_default();
            counts.unreachable_total += u64::from(!m.reachable);
            counts.scrape_failures_total += u64::from(m.scrape_error.is_some());
        }
    }
}

/// A version's numbers for ordering (`3.10.0` after `3.9.1`); a part that is
/// not a number counts as 0.
pub fn version_key(v: &str) -> Vec<u64> {
    v.split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

impl ClusterSnapshot {
    /// The server versions the members that answered run, lowest first, each once.
    pub fn versions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .members
            .iter()
            .filter_map(|m| m.status.as_ref().map(|s| s.version.clone()))
            .collect();
        v.sort_by_key(|x| version_key(x));
        v.dedup();
        v
    }

    /// The state before the first probe.
    pub fn pending(name: &str, tags: &[String]) -> Self {
        ClusterSnapshot {
            name: name.to_string(),
            tags: tags.to_vec(),
            status: ClusterStatus::Pending,
            reasons: vec!["not probed yet".to_string()],
            probed_at: None,
            probe_duration_ms: None,
            cluster_id: None,
            leader: None,
            raft_term: None,
            members: Vec::new(),
            quorum: Quorum::default(),
            spread: Spread::default(),
            alarms: Vec::new(),
            consistency: None,
            errors: Vec::new(),
            counts: ProbeCounts::default(),
        }
    }

    pub fn members_reachable(&self) -> usize {
        self.members.iter().filter(|m| m.reachable).count()
    }

    pub fn members_healthy(&self) -> usize {
        self.members.iter().filter(|m| m.healthy).count()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeaderInfo {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberSnapshot {
    pub id: String,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
    pub is_leader: bool,
    /// The Status call answered.
    pub reachable: bool,
    /// Reachable and `/health` says true.
    pub healthy: bool,
    /// Why the member is unreachable or unhealthy.
    pub error: Option<String>,
    pub status: Option<MemberStatus>,
    /// Problems found by comparing this member with the others.
    pub flags: Vec<String>,
    pub indicators: Option<Indicators>,
    pub metrics_url: Option<String>,
    pub scrape_error: Option<String>,
}

impl MemberSnapshot {
    /// Why an unreachable member is so, in a small fixed set (for a label): the
    /// messages themselves carry addresses and causes without bound.
    pub fn unreachable_reason(&self) -> &'static str {
        let Some(error) = &self.error else {
            return "error";
        };
        let e = error.to_ascii_lowercase();
        if e.contains("no answer within") || e.contains("timed out") || e.contains("deadline") {
            "timeout"
        } else if e.contains("connection refused") {
            "refused"
        } else if e.contains("connection reset")
            || e.contains("broken pipe")
            || e.contains("connection closed")
        {
            // A member killed while a connection to it was open: the next call
            // on that connection sees it cut before it sees the port refuse.
            "reset"
        } else if e.contains("certificate") || e.contains("tls") || e.contains("handshake") {
            "tls"
        } else if e.contains("authentication")
            || e.contains("permission denied")
            || e.contains("auth token")
            || e.contains("user name")
        {
            "auth"
        } else if e.contains("dns") || e.contains("lookup") || e.contains("resolve") {
            "dns"
        } else if e.contains("not started") {
            "not_started"
        } else {
            "error"
        }
    }
}

/// A member's answer to the Status call (field names as in etcdctl's JSON).
#[derive(Debug, Clone, Serialize)]
pub struct MemberStatus {
    pub version: String,
    pub db_size: i64,
    pub db_size_in_use: i64,
    pub leader: String,
    pub raft_term: u64,
    pub raft_index: u64,
    pub raft_applied_index: u64,
    pub revision: i64,
    pub is_learner: bool,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Quorum {
    pub voting_members: usize,
    pub reachable_voting_members: usize,
    pub needed: usize,
    pub has_quorum: bool,
}

/// How far apart the members are; large spreads mean a member lags.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Spread {
    pub raft_index: Option<u64>,
    pub raft_applied_index: Option<u64>,
    pub revision: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    pub member_id: String,
    pub member_name: Option<String>,
    /// `NOSPACE` or `CORRUPT`, as etcdctl prints them.
    pub alarm: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsistencyCheck {
    pub checked_at: Timestamp,
    pub revision: i64,
    pub compact_revision: Option<i64>,
    pub consistent: bool,
    pub hashes: Vec<MemberHash>,
    /// Members whose hash differs from the leader's (or the majority's).
    pub mismatched: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberHash {
    pub member_id: String,
    pub hash: Option<u32>,
    pub compact_revision: Option<i64>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(error: Option<&str>) -> MemberSnapshot {
        MemberSnapshot {
            id: "1".into(),
            name: "m1".into(),
            peer_urls: vec![],
            client_urls: vec![],
            is_learner: false,
            is_leader: false,
            reachable: false,
            healthy: false,
            error: error.map(str::to_owned),
            status: None,
            flags: vec![],
            indicators: None,
            metrics_url: None,
            scrape_error: None,
        }
    }

    #[test]
    fn unreachable_reasons_come_from_a_small_fixed_set() {
        for (error, reason) in [
            (Some("no answer within 5s"), "timeout"),
            (
                Some("status: transport error: Connection refused (os error 111)"),
                "refused",
            ),
            (Some("status: transport error: connection reset"), "reset"),
            (Some("invalid peer certificate: UnknownIssuer"), "tls"),
            (Some("etcdserver: authentication failed"), "auth"),
            (Some("failed to lookup address information"), "dns"),
            (Some("something else at 10.1.2.3:2379"), "error"),
            (None, "error"),
        ] {
            assert_eq!(unreachable(error).unreachable_reason(), reason, "{error:?}");
        }
    }
}
