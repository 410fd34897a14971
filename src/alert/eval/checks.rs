//! The built-in pack's checks (src/alert/builtin.rs) over one cluster's snapshot.
//!
//! [`ClusterContext::builtin`] hands each [`BuiltinCheck`] to a method of its own,
//! grouped here by family: membership and quorum, leadership, requests and disk
//! latency, database space, consistency and alarms, and the client certificate
//! (which reads the file the evaluator keeps, not the snapshot).

use std::collections::HashSet;

use serde_json::Value as Json;

use super::{CertificateFile, ClusterContext, Hit, Outcome};
use crate::alert::rules::{Aggregation, BuiltinCheck, Rule};
use crate::alert::window::LONGEST_MS;
use crate::collect::derive::Indicators;
use crate::collect::snapshot::ClusterStatus;
use crate::collect::view::member_label;

const FIVE_MINUTES_MS: i64 = 5 * 60 * 1000;
const FIFTEEN_MINUTES_MS: i64 = 15 * 60 * 1000;
/// The mixin's fragmentation rule ignores databases with less than 100 MiB in use.
const FRAGMENTATION_MIN_IN_USE_BYTES: f64 = 104_857_600.0;
/// Least history before the DB size is extrapolated: two points a few seconds apart
/// would project their noise four hours ahead.
const GROWTH_MIN_SPAN_SECONDS: f64 = 600.0;

impl ClusterContext<'_> {
    pub(super) fn builtin(&self, check: BuiltinCheck, rule: &Rule) -> Outcome {
        use BuiltinCheck::*;
        match check {
            MembersDown => self.members_down(rule),
            InsufficientMembers => self.insufficient_members(),
            MemberUnreachable => self.members_unreachable(),
            ClusterUnavailable => self.cluster_unavailable(),
            NoLeader => self.no_leader(),
            LeaderChanges => self.leader_changes(rule),
            LeaderDisagreement => self.leader_disagreement(),
            FailedGrpc => self.failed_grpc(rule),
            GrpcSlow => self.instant(rule, |i| i.grpc_unary_p99_seconds),
            PeerRttSlow => self.instant(rule, |i| i.peer_rtt_p99_seconds),
            FsyncSlow => self.instant(rule, |i| i.wal_fsync_p99_seconds),
            CommitSlow => self.instant(rule, |i| i.backend_commit_p99_seconds),
            FailedProposals => self.failed_proposals(rule),
            QuotaLowSpace => self.quota_low_space(rule),
            ExcessiveGrowth => self.excessive_growth(rule),
            Fragmentation => self.fragmentation(rule),
            HashMismatch => self.hash_mismatch(),
            AlarmActive => self.alarms_active(),
            // Needs the evaluator's certificate files; see `certificate_outcome`.
            CertificateExpiring => Outcome {
                hold_all: true,
                ..Outcome::default()
            },
        }
    }

    // Membership and quorum.

    /// One alert for the cluster listing members unreachable or failing to send to
    /// their peers.
    fn members_down(&self, rule: &Rule) -> Outcome {
        let mut outcome = Outcome::default();
        let down: Vec<String> = self
            .snap
            .members
            .iter()
            .filter_map(|m| {
                let failures = m
                    .indicators
                    .as_ref()
                    .and_then(|i| i.peer_sent_failures_per_second);
                if !m.reachable {
                    Some(format!("{} (unreachable)", member_label(m)))
                } else {
                    failures
                        .filter(|f| rule.op.holds(*f, rule.threshold))
                        .map(|f| format!("{} (peer send failures {f:.3}/s)", member_label(m)))
                }
            })
            .collect();
        if !down.is_empty() {
            outcome
                .hits
                .push(Hit::new(None, down.len() as f64).with("members", down.join(", ")));
        }
        outcome
    }

    /// Fewer voting members reachable than a quorum needs.
    fn insufficient_members(&self) -> Outcome {
        let mut outcome = Outcome::default();
        let q = &self.snap.quorum;
        let up = q.reachable_voting_members as f64;
        if q.voting_members > 0 && up < (q.voting_members as f64 + 1.0) / 2.0 {
            outcome.hits.push(
                Hit::new(None, up)
                    .with("voting_members", q.voting_members)
                    .with("needed", q.needed),
            );
        }
        outcome
    }

    fn members_unreachable(&self) -> Outcome {
        let mut outcome = Outcome::default();
        for m in self.snap.members.iter().filter(|m| !m.reachable) {
            let error = m.error.clone().unwrap_or_else(|| "no answer".into());
            outcome
                .hits
                .push(Hit::new(Some(member_label(m)), 0.0).with("error", error));
        }
        outcome
    }

    fn cluster_unavailable(&self) -> Outcome {
        let mut outcome = Outcome::default();
        let snap = self.snap;
        if snap.status == ClusterStatus::Unavailable {
            outcome.hits.push(
                Hit::new(None, snap.quorum.reachable_voting_members as f64)
                    .with("reasons", snap.reasons.join("; ")),
            );
        }
        outcome
    }

    // Leadership.

    /// Reachable members that see no leader, by their metrics or their status.
    fn no_leader(&self) -> Outcome {
        let mut outcome = Outcome::default();
        for m in &self.snap.members {
            let by_metrics = m
                .indicators
                .as_ref()
                .and_then(|i| i.has_leader)
                .is_some_and(|l| !l);
            let by_status = m.status.as_ref().is_some_and(|s| s.leader == "0");
            if m.reachable && (by_metrics || by_status) {
                outcome.hits.push(Hit::new(Some(member_label(m)), 0.0));
            }
        }
        outcome
    }

    /// Leader changes over 15 minutes.
    fn leader_changes(&self, rule: &Rule) -> Outcome {
        let mut outcome = Outcome::default();
        // The mixin takes the highest member's count, as one election is seen by
        // every member.
        let counts: Vec<f64> = self
            .snap
            .members
            .iter()
            .filter_map(|m| {
                self.window(&member_label(m))?
                    .sum(self.now_ms, FIFTEEN_MINUTES_MS, |p| p.leader_changes)
            })
            .collect();
        match Aggregation::Max.fold(&counts) {
            Some(v) if rule.op.holds(v, rule.threshold) => {
                outcome.hits.push(Hit::new(None, v));
            }
            Some(_) => {}
            None => outcome.hold_all = self.warming_up(FIFTEEN_MINUTES_MS),
        }
        outcome
    }

    /// Reachable members that name different leaders or terms.
    fn leader_disagreement(&self) -> Outcome {
        let mut outcome = Outcome::default();
        let reports: Vec<(String, &str, u64)> = self
            .snap
            .members
            .iter()
            .filter(|m| m.reachable)
            .filter_map(|m| {
                let s = m.status.as_ref()?;
                Some((member_label(m), s.leader.as_str(), s.raft_term))
            })
            .collect();
        // A member without a leader is etcdNoLeader's business.
        let leaders: HashSet<&str> = reports.iter().map(|r| r.1).filter(|l| *l != "0").collect();
        let terms: HashSet<u64> = reports.iter().map(|r| r.2).collect();
        if leaders.len() > 1 || terms.len() > 1 {
            let detail: Vec<String> = reports
                .iter()
                .map(|(m, l, t)| format!("{m}: leader {l}, term {t}"))
                .collect();
            outcome.hits.push(
                Hit::new(None, leaders.len().max(terms.len()) as f64)
                    .with("leaders", leaders.len())
                    .with("terms", terms.len())
                    .with("detail", detail.join("; ")),
            );
        }
        outcome
    }

    // Requests and disk latency (the slow-request checks are instant indicators,
    // dispatched in `builtin`).

    /// The percentage of failed unary gRPC requests over 5 minutes.
    fn failed_grpc(&self, rule: &Rule) -> Outcome {
        let now = self.now_ms;
        self.windowed(rule, FIVE_MINUTES_MS, |w| {
            let total = w.sum(now, FIVE_MINUTES_MS, |p| p.grpc_requests)?;
            let failed = w.sum(now, FIVE_MINUTES_MS, |p| p.grpc_failed)?;
            Some(if total > 0.0 {
                100.0 * failed / total
            } else {
                0.0
            })
        })
    }

    /// Failed proposals per second over 15 minutes.
    fn failed_proposals(&self, rule: &Rule) -> Outcome {
        let now = self.now_ms;
        self.windowed(rule, FIFTEEN_MINUTES_MS, |w| {
            w.rate(now, FIFTEEN_MINUTES_MS, |p| p.proposals_failed)
        })
    }

    // Database space.

    /// The database's size as a percentage of its quota.
    fn quota_low_space(&self, rule: &Rule) -> Outcome {
        let mut outcome = self.instant(rule, |i| Some(i.quota_usage_ratio? * 100.0));
        self.add_member_values(&mut outcome, |i| {
            vec![
                ("db_size_bytes", i.db_size_bytes),
                ("quota_backend_bytes", i.quota_backend_bytes),
            ]
        });
        outcome
    }

    /// The database's size `threshold` hours ahead, by a linear fit of the window,
    /// against the quota.
    fn excessive_growth(&self, rule: &Rule) -> Outcome {
        let mut outcome = Outcome::default();
        let now = self.now_ms;
        let ahead = rule.threshold * 3600.0;
        for m in &self.snap.members {
            let label = member_label(m);
            let predicted = self.window(&label).and_then(|w| {
                if w.span_seconds(now, LONGEST_MS, |p| p.db_size_bytes) < GROWTH_MIN_SPAN_SECONDS {
                    return None;
                }
                let quota = w.last(|p| p.quota_backend_bytes)?;
                let predicted = w.predict_linear(now, LONGEST_MS, ahead, |p| p.db_size_bytes)?;
                Some((predicted, quota))
            });
            match predicted {
                Some((p, quota)) if p > quota => outcome
                    .hits
                    .push(Hit::new(Some(label), p).with("quota_backend_bytes", quota)),
                Some(_) => {}
                None if self.warming_up(LONGEST_MS) => {
                    outcome.hold_members.insert(label);
                }
                None => {}
            }
        }
        outcome
    }

    /// The share of the database file in use, for databases big enough to matter.
    fn fragmentation(&self, rule: &Rule) -> Outcome {
        let mut outcome = self.instant(rule, |i| {
            let in_use = i.db_size_in_use_bytes?;
            if in_use <= FRAGMENTATION_MIN_IN_USE_BYTES {
                return None;
            }
            Some(in_use / i.db_size_bytes.filter(|t| *t > 0.0)?)
        });
        self.add_member_values(&mut outcome, |i| {
            vec![
                ("db_size_bytes", i.db_size_bytes),
                ("db_size_in_use_bytes", i.db_size_in_use_bytes),
            ]
        });
        outcome
    }

    // Consistency and alarms.

    /// Members whose HashKV differs from the others' at the same revision.
    fn hash_mismatch(&self) -> Outcome {
        let mut outcome = Outcome::default();
        if let Some(c) = &self.snap.consistency {
            for id in &c.mismatched {
                outcome
                    .hits
                    .push(Hit::new(Some(self.member_by_id(id)), 1.0).with("revision", c.revision));
            }
        }
        outcome
    }

    /// One alert per member and alarm raised.
    fn alarms_active(&self) -> Outcome {
        let mut outcome = Outcome::default();
        let snap = self.snap;
        for a in &snap.alarms {
            let member = snap
                .members
                .iter()
                .find(|m| m.id == a.member_id)
                .map(member_label)
                .or_else(|| a.member_name.clone())
                .unwrap_or_else(|| a.member_id.clone());
            let mut hit = Hit::new(Some(member), 1.0);
            hit.labels.push(("alarm".into(), a.alarm.clone()));
            outcome.hits.push(hit);
        }
        outcome
    }

    fn member_by_id(&self, id: &str) -> String {
        self.snap
            .members
            .iter()
            .find(|m| m.id == id)
            .map_or_else(|| id.to_string(), member_label)
    }

    /// Adds figures of each hit's member to its template values.
    fn add_member_values(
        &self,
        outcome: &mut Outcome,
        f: impl Fn(&Indicators) -> Vec<(&'static str, Option<f64>)>,
    ) {
        for hit in &mut outcome.hits {
            let Some(ind) = self
                .snap
                .members
                .iter()
                .find(|m| Some(member_label(m)) == hit.member)
                .and_then(|m| m.indicators.as_ref())
            else {
                continue;
            };
            for (name, v) in f(ind) {
                hit.values
                    .insert(name.to_string(), v.map_or(Json::Null, Json::from));
            }
        }
    }
}

// The client certificate.

/// Days until the client certificate expires, against the threshold in days. An
/// unreadable file holds the alerts (a warning says why).
pub(super) fn certificate_outcome(
    file: Option<&CertificateFile>,
    rule: &Rule,
    now_ms: i64,
) -> Outcome {
    let mut outcome = Outcome::default();
    let Some(file) = file else {
        return outcome;
    };
    let Ok(expiry) = file.expiry else {
        outcome.hold_all = true;
        return outcome;
    };
    let days = (expiry - now_ms) as f64 / 86_400_000.0;
    if rule.op.holds(days, rule.threshold) {
        let not_after = crate::time::rfc3339_seconds(expiry);
        outcome.hits.push(
            Hit::new(None, days)
                .with("path", file.path.display().to_string())
                .with("not_after", not_after.to_string()),
        );
    }
    outcome
}

#[cfg(test)]
mod tests;
