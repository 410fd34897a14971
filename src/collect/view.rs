//! The cluster as one view, derived from its members' answers to one probe: the
//! leader and term most members report, members that disagree or lag, quorum,
//! spreads, a HashKV comparison, and the status with one reason per problem.
//! Pure functions of a [`ClusterSnapshot`], so the golden API test and the alert
//! tests build views exactly as the prober does.

use std::collections::HashMap;

use super::settings::CollectSettings;
use super::snapshot::*;

/// How a member is named in history: its name, or its ID before it has one.
pub fn member_label(m: &MemberSnapshot) -> String {
    if m.name.is_empty() || m.name.contains("://") {
        m.id.clone()
    } else {
        m.name.clone()
    }
}

/// Compares hashes taken at one revision. Members compacted at a different revision
/// hash different ranges, so only those sharing the reference's compaction count.
pub fn compare_hashes(
    revision: i64,
    hashes: Vec<MemberHash>,
    leader: Option<&str>,
) -> ConsistencyCheck {
    let answered: Vec<&MemberHash> = hashes.iter().filter(|h| h.hash.is_some()).collect();
    let reference = leader
        .and_then(|l| answered.iter().find(|h| h.member_id == l))
        .map(|h| (h.hash, h.compact_revision))
        .or_else(|| {
            // No leader answer: the most common (hash, compaction).
            let mut counts: HashMap<(Option<u32>, Option<i64>), usize> = HashMap::new();
            for h in &answered {
                *counts.entry((h.hash, h.compact_revision)).or_default() += 1;
            }
            counts.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k)
        });
    let mismatched: Vec<String> = match reference {
        Some((hash, compact)) => answered
            .iter()
            .filter(|h| h.compact_revision == compact && h.hash != hash)
            .map(|h| h.member_id.clone())
            .collect(),
        None => Vec::new(),
    };
    let failed: Vec<String> = hashes
        .iter()
        .filter_map(|h| h.error.as_ref().map(|e| format!("{}: {e}", h.member_id)))
        .collect();
    ConsistencyCheck {
        checked_at: Timestamp::now(),
        revision,
        compact_revision: reference.and_then(|(_, c)| c),
        consistent: mismatched.is_empty() && answered.len() >= 2,
        hashes,
        mismatched,
        error: (!failed.is_empty()).then(|| failed.join("; ")),
    }
}

/// Leader, agreement, lag, quorum and spreads from the members' answers.
pub fn derive_cluster_view(snap: &mut ClusterSnapshot, settings: &CollectSettings) {
    let statuses: Vec<MemberStatus> = snap
        .members
        .iter()
        .filter_map(|m| m.status.clone())
        .collect();

    // The leader and term most members report (ties: the higher term).
    let mut votes: HashMap<(String, u64), usize> = HashMap::new();
    for s in &statuses {
        if s.leader != "0" {
            *votes.entry((s.leader.clone(), s.raft_term)).or_default() += 1;
        }
    }
    let agreed = votes
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(a.0 .1.cmp(&b.0 .1)))
        .map(|(k, _)| k);
    if let Some((leader_id, term)) = &agreed {
        snap.raft_term = Some(*term);
        let name = snap
            .members
            .iter()
            .find(|m| &m.id == leader_id)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        snap.leader = Some(LeaderInfo {
            id: leader_id.clone(),
            name,
        });
    }
    let max_applied = statuses.iter().map(|s| s.raft_applied_index).max();
    for m in &mut snap.members {
        m.is_leader = agreed.as_ref().is_some_and(|(l, _)| &m.id == l);
        let Some(s) = &m.status else { continue };
        match &agreed {
            Some((leader, term)) => {
                if s.leader == "0" {
                    m.flags.push("has no leader".into());
                } else if &s.leader != leader {
                    m.flags.push(format!(
                        "reports leader {} while the others report {leader}",
                        s.leader
                    ));
                }
                if s.raft_term != *term {
                    m.flags.push(format!(
                        "raft term {} differs from the cluster's {term}",
                        s.raft_term
                    ));
                }
            }
            None => m.flags.push("has no leader".into()),
        }
        if let Some(max) = max_applied {
            let lag = max - s.raft_applied_index;
            if lag > settings.max_raft_index_lag {
                m.flags.push(format!(
                    "applied raft index lags the highest by {lag} entries"
                ));
            }
        }
        for e in &s.errors {
            m.flags.push(format!("reports error: {e}"));
        }
    }

    // A voting member counts toward quorum when it answers. Not `/health`: etcd
    // reports false there while any alarm is raised or while there is no leader,
    // and both are reported on their own.
    let voting: Vec<&MemberSnapshot> = snap.members.iter().filter(|m| !m.is_learner).collect();
    let reachable_voting = voting.iter().filter(|m| m.reachable).count();
    let needed = voting.len() / 2 + 1;
    snap.quorum = Quorum {
        voting_members: voting.len(),
        reachable_voting_members: reachable_voting,
        needed,
        has_quorum: reachable_voting >= needed,
    };
    let spread_u = |f: fn(&MemberStatus) -> u64| {
        let vals: Vec<u64> = statuses.iter().map(f).collect();
        Some(vals.iter().max()? - vals.iter().min()?)
    };
    snap.spread = Spread {
        raft_index: spread_u(|s| s.raft_index),
        raft_applied_index: spread_u(|s| s.raft_applied_index),
        revision: {
            let vals: Vec<i64> = statuses.iter().map(|s| s.revision).collect();
            vals.iter().max().zip(vals.iter().min()).map(|(a, b)| a - b)
        },
    };
}

/// Healthy, degraded or unavailable, with one reason per problem.
pub fn set_status(snap: &mut ClusterSnapshot) {
    let mut unavailable = Vec::new();
    let mut degraded = Vec::new();
    let reachable = snap.members_reachable();
    if reachable == 0 {
        unavailable.push(format!(
            "no member reachable ({} tried)",
            snap.members.len()
        ));
    } else if !snap.quorum.has_quorum {
        unavailable.push(format!(
            "no quorum: {} of {} voting members reachable, {} needed",
            snap.quorum.reachable_voting_members, snap.quorum.voting_members, snap.quorum.needed
        ));
    }
    if reachable > 0 && snap.leader.is_none() {
        unavailable.push("no leader: no reachable member reports one".into());
    }
    for m in &snap.members {
        let who = member_label(m);
        if !m.healthy {
            let why = m.error.as_deref().unwrap_or("unhealthy");
            let what = if m.reachable {
                "unhealthy"
            } else {
                "unreachable"
            };
            let note = if m.reachable && !snap.alarms.is_empty() {
                " (etcd reports members unhealthy while an alarm is raised)"
            } else {
                ""
            };
            degraded.push(format!("member {who} {what}: {why}{note}"));
        }
        for f in &m.flags {
            if m.reachable {
                degraded.push(format!("member {who} {f}"));
            }
        }
    }
    for a in &snap.alarms {
        let who = a.member_name.as_deref().unwrap_or(&a.member_id);
        degraded.push(format!("alarm {} raised by member {who}", a.alarm));
    }
    if let Some(c) = &snap.consistency {
        if !c.mismatched.is_empty() {
            degraded.push(format!(
                "consistency check at revision {}: hash differs on {}",
                c.revision,
                c.mismatched.join(", ")
            ));
        }
    }
    if unavailable.is_empty() && !snap.errors.is_empty() && degraded.is_empty() {
        degraded.extend(snap.errors.iter().cloned());
    }
    snap.status = if !unavailable.is_empty() {
        ClusterStatus::Unavailable
    } else if !degraded.is_empty() {
        ClusterStatus::Degraded
    } else {
        ClusterStatus::Healthy
    };
    unavailable.extend(degraded);
    snap.reasons = unavailable;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(id: &str, hash: u32, compact: i64) -> MemberHash {
        MemberHash {
            member_id: id.into(),
            hash: Some(hash),
            compact_revision: Some(compact),
            error: None,
        }
    }

    #[test]
    fn hash_mismatch_flags_the_member_that_differs_from_the_leader() {
        let c = compare_hashes(
            10,
            vec![hash("a", 1, 5), hash("b", 2, 5), hash("c", 1, 5)],
            Some("a"),
        );
        assert!(!c.consistent);
        assert_eq!(c.mismatched, vec!["b"]);
        // Without the leader's answer the majority is the reference.
        let c = compare_hashes(
            10,
            vec![hash("b", 2, 5), hash("c", 1, 5), hash("d", 1, 5)],
            None,
        );
        assert_eq!(c.mismatched, vec!["b"]);
        // A member compacted elsewhere hashes another range: not a mismatch.
        let c = compare_hashes(10, vec![hash("a", 1, 5), hash("b", 2, 7)], Some("a"));
        assert!(c.consistent && c.mismatched.is_empty());
        let failed = MemberHash {
            member_id: "z".into(),
            hash: None,
            compact_revision: None,
            error: Some("no answer".into()),
        };
        let c = compare_hashes(10, vec![hash("a", 1, 5), failed], Some("a"));
        assert!(!c.consistent, "one answer compares nothing");
        assert_eq!(c.error.as_deref(), Some("z: no answer"));
    }

    fn member(id: &str, leader: &str, term: u64, applied: u64) -> MemberSnapshot {
        MemberSnapshot {
            id: id.into(),
            name: format!("n{id}"),
            peer_urls: vec![],
            client_urls: vec![],
            is_learner: false,
            is_leader: false,
            reachable: true,
            healthy: true,
            error: None,
            status: Some(MemberStatus {
                version: "3.4.23".into(),
                db_size: 1,
                db_size_in_use: 1,
                leader: leader.into(),
                raft_term: term,
                raft_index: applied,
                raft_applied_index: applied,
                revision: 1,
                is_learner: false,
                errors: vec![],
            }),
            flags: vec![],
            indicators: None,
            metrics_url: None,
            scrape_error: None,
        }
    }

    fn settings() -> CollectSettings {
        crate::config::Settings::load_with_env(None, &Default::default(), |_| None)
            .unwrap()
            .collect
    }

    #[test]
    fn disagreeing_and_lagging_members_are_flagged() {
        let mut snap = ClusterSnapshot::pending("c", &[]);
        snap.members = vec![
            member("a", "a", 5, 5000),
            member("b", "a", 5, 4990),
            member("c", "c", 6, 2000),
        ];
        derive_cluster_view(&mut snap, &settings());
        set_status(&mut snap);
        assert_eq!(snap.leader.as_ref().unwrap().id, "a");
        assert_eq!(snap.raft_term, Some(5));
        assert!(snap.members[0].is_leader && !snap.members[2].is_leader);
        assert!(
            snap.members[1].flags.is_empty(),
            "{:?}",
            snap.members[1].flags
        );
        let flags = snap.members[2].flags.join("|");
        assert!(
            flags.contains("reports leader c while the others report a"),
            "{flags}"
        );
        assert!(flags.contains("raft term 6 differs"), "{flags}");
        assert!(
            flags.contains("lags the highest by 3000 entries"),
            "{flags}"
        );
        assert_eq!(snap.spread.raft_applied_index, Some(3000));
        assert_eq!(snap.status, ClusterStatus::Degraded);
        assert!(snap.quorum.has_quorum);
    }

    #[test]
    fn status_is_unavailable_without_quorum_and_healthy_when_all_agree() {
        let mut snap = ClusterSnapshot::pending("c", &[]);
        snap.members = vec![
            member("a", "a", 2, 10),
            member("b", "a", 2, 10),
            member("c", "a", 2, 10),
        ];
        derive_cluster_view(&mut snap, &settings());
        set_status(&mut snap);
        assert_eq!(snap.status, ClusterStatus::Healthy);
        assert!(snap.reasons.is_empty());

        for m in &mut snap.members[1..] {
            m.reachable = false;
            m.healthy = false;
            m.status = None;
            m.error = Some("status: no answer within 5s".into());
        }
        derive_cluster_view(&mut snap, &settings());
        set_status(&mut snap);
        assert_eq!(snap.status, ClusterStatus::Unavailable);
        assert_eq!(
            snap.reasons[0],
            "no quorum: 1 of 3 voting members reachable, 2 needed"
        );
        assert!(snap
            .reasons
            .iter()
            .any(|r| r == "member nb unreachable: status: no answer within 5s"));
    }
}
