//! A cluster's timeline: events derived from successive probes (a new leader, a
//! member gone or back, an upgrade, an alarm, a defragmentation...), kept in the
//! store's `cluster_events` table with a retention and a bound.
//!
//! The first probe after a start sets what is known and records nothing: an alarm
//! already raised then was not seen being raised.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::snapshot::ClusterSnapshot;
use crate::store::{Result, Store};
use crate::units::{human, Unit};

pub const TABLE: &str = "cluster_events";

/// The table keeps at most this many events, the newest, whatever the retention:
/// a fleet of 100 clusters with a dozen events a day each fills it in about 80 days.
pub const MAX_EVENTS: u64 = 100_000;

/// A DB that shrank by at least this share between two probes was defragmented
/// (only a defragmentation, or a restore, gives file space back).
const SHRINK_RATIO: f64 = 0.9;
/// ... and by at least this much, so that a small DB's page moves are not one.
const SHRINK_BYTES: i64 = 64 * 1024;
/// DB size over quota at which "quota approached" is recorded (as the built-in
/// alert's warning); it is recorded again only after going back under.
const QUOTA_NEAR: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    LeaderChanged,
    MemberAdded,
    MemberRemoved,
    MemberUnreachable,
    MemberBack,
    VersionChanged,
    AlarmRaised,
    AlarmCleared,
    HashMismatch,
    HashMismatchGone,
    Compacted,
    Defragmented,
    QuotaApproached,
    AlertFiring,
    AlertResolved,
    BenchmarkRun,
}

impl EventKind {
    pub const ALL: [EventKind; 16] = [
        EventKind::LeaderChanged,
        EventKind::MemberAdded,
        EventKind::MemberRemoved,
        EventKind::MemberUnreachable,
        EventKind::MemberBack,
        EventKind::VersionChanged,
        EventKind::AlarmRaised,
        EventKind::AlarmCleared,
        EventKind::HashMismatch,
        EventKind::HashMismatchGone,
        EventKind::Compacted,
        EventKind::Defragmented,
        EventKind::QuotaApproached,
        EventKind::AlertFiring,
        EventKind::AlertResolved,
        EventKind::BenchmarkRun,
    ];

    /// As serialized: `leader_changed`, `member_unreachable`...
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::LeaderChanged => "leader_changed",
            EventKind::MemberAdded => "member_added",
            EventKind::MemberRemoved => "member_removed",
            EventKind::MemberUnreachable => "member_unreachable",
            EventKind::MemberBack => "member_back",
            EventKind::VersionChanged => "version_changed",
            EventKind::AlarmRaised => "alarm_raised",
            EventKind::AlarmCleared => "alarm_cleared",
            EventKind::HashMismatch => "hash_mismatch",
            EventKind::HashMismatchGone => "hash_mismatch_gone",
            EventKind::Compacted => "compacted",
            EventKind::Defragmented => "defragmented",
            EventKind::QuotaApproached => "quota_approached",
            EventKind::AlertFiring => "alert_firing",
            EventKind::AlertResolved => "alert_resolved",
            EventKind::BenchmarkRun => "benchmark_run",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether it calls for attention (shown as such on the pages).
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            EventKind::MemberUnreachable
                | EventKind::MemberRemoved
                | EventKind::AlarmRaised
                | EventKind::HashMismatch
                | EventKind::QuotaApproached
                | EventKind::AlertFiring
        )
    }
}

/// One thing that happened to a cluster, as the probes saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// When the probe that saw it ended.
    pub at_unix_ms: i64,
    pub cluster: String,
    pub kind: EventKind,
    /// The member concerned, by name (by hex ID when it has no name).
    pub member: Option<String>,
    /// What changed, where there is a before and an after: leaders, versions.
    pub from: Option<String>,
    pub to: Option<String>,
    /// The raft term of a new leader; the alarm's name; the mismatched members.
    pub detail: Option<String>,
    /// One sentence.
    pub message: String,
}

/// What the last probes showed of one member.
#[derive(Debug, Clone)]
struct MemberMemory {
    name: String,
    reachable: bool,
    version: Option<String>,
    db_size: Option<i64>,
    db_in_use: Option<i64>,
}

/// Derives events from successive snapshots of one cluster.
#[derive(Debug, Default)]
pub struct EventDetector {
    seen: bool,
    /// The last leader seen (by ID, with its name): a probe without a leader keeps it,
    /// so that a leader killed and replaced is one change from the old to the new.
    leader: Option<(String, String)>,
    members: BTreeMap<String, MemberMemory>,
    alarms: BTreeSet<(String, String)>,
    consistent: Option<bool>,
    quota_near: bool,
}

impl EventDetector {
    /// The events `snap` shows against what the probes before it showed, stamped
    /// `seen_at_ms`: when the probe that saw them ended (a probe's own time is when
    /// it began, which may be before what its later calls saw).
    pub fn observe(&mut self, snap: &ClusterSnapshot, seen_at_ms: i64) -> Vec<ClusterEvent> {
        let at = seen_at_ms;
        let mut out = Vec::new();
        let event = |kind: EventKind, member: Option<&str>, message: String| ClusterEvent {
            at_unix_ms: at,
            cluster: snap.name.clone(),
            kind,
            member: member.map(str::to_string),
            from: None,
            to: None,
            detail: None,
            message,
        };
        let report = self.seen;

        // Members: by ID; members never reached have none (ID 0) and are left out.
        let listed: Vec<_> = snap
            .members
            .iter()
            .filter(|m| !m.id.is_empty() && m.id != "0")
            .collect();
        if !listed.is_empty() {
            for m in &listed {
                let name = if m.name.is_empty() { &m.id } else { &m.name };
                let status = m.status.as_ref();
                let now = MemberMemory {
                    name: name.clone(),
                    reachable: m.reachable,
                    version: status.map(|s| s.version.clone()),
                    db_size: status.map(|s| s.db_size),
                    db_in_use: status.map(|s| s.db_size_in_use),
                };
                match self.members.get(&m.id) {
                    None if report => {
                        out.push(event(
                            EventKind::MemberAdded,
                            Some(name),
                            format!("member {name} ({}) joined the cluster", m.id),
                        ));
                    }
                    None => {}
                    Some(before) if report => {
                        if before.reachable && !now.reachable {
                            let why = m.error.as_deref().unwrap_or("no answer");
                            out.push(event(
                                EventKind::MemberUnreachable,
                                Some(name),
                                format!(
                                    "member {name} became unreachable: {}",
                                    crate::text::truncate(why, 200)
                                ),
                            ));
                        } else if !before.reachable && now.reachable {
                            out.push(event(
                                EventKind::MemberBack,
                                Some(name),
                                format!("member {name} answers again"),
                            ));
                        }
                        if let (Some(a), Some(b)) = (&before.version, &now.version) {
                            if a != b {
                                let mut e = event(
                                    EventKind::VersionChanged,
                                    Some(name),
                                    format!("member {name} now runs etcd {b} (was {a})"),
                                );
                                e.from = Some(a.clone());
                                e.to = Some(b.clone());
                                out.push(e);
                            }
                        }
                        // A DB that shrank was defragmented; one whose in-use
                        // part shrank (and not its size) was compacted.
                        let shrink = |kind: EventKind, what: &str, verb: &str, a: i64, b: i64| {
                            let mut e = event(
                                kind,
                                Some(name),
                                format!(
                                    "member {name}'s {what} from {} to {}: {verb}",
                                    human(a as f64, Unit::Bytes),
                                    human(b as f64, Unit::Bytes)
                                ),
                            );
                            e.from = Some(a.to_string());
                            e.to = Some(b.to_string());
                            e
                        };
                        if let (Some(a), Some(b)) = (before.db_size, now.db_size) {
                            if shrank(a, b) {
                                out.push(shrink(
                                    EventKind::Defragmented,
                                    "DB shrank",
                                    "defragmented",
                                    a,
                                    b,
                                ));
                            } else if let (Some(x), Some(y)) = (before.db_in_use, now.db_in_use) {
                                if shrank(x, y) {
                                    out.push(shrink(
                                        EventKind::Compacted,
                                        "DB in use fell",
                                        "compacted",
                                        x,
                                        y,
                                    ));
                                }
                            }
                        }
                    }
                    Some(_) => {}
                }
                // What an unreachable member last reported is kept: it comes back
                // with its version and sizes compared to those.
                let kept = self.members.entry(m.id.clone()).or_insert(now.clone());
                kept.name = now.name;
                kept.reachable = now.reachable;
                if now.version.is_some() {
                    kept.version = now.version;
                    kept.db_size = now.db_size;
                    kept.db_in_use = now.db_in_use;
                }
            }
            let gone: Vec<String> = self
                .members
                .keys()
                .filter(|id| !listed.iter().any(|m| &&m.id == id))
                .cloned()
                .collect();
            for id in gone {
                if let Some(m) = self.members.remove(&id) {
                    if report {
                        out.push(event(
                            EventKind::MemberRemoved,
                            Some(&m.name),
                            format!("member {} ({id}) left the cluster", m.name),
                        ));
                    }
                }
            }
        }

        // The leader: a change from the last one seen.
        if let Some(l) = &snap.leader {
            let changed = self.leader.as_ref().is_none_or(|(id, _)| *id != l.id);
            if changed && report {
                let from = self.leader.as_ref().map(|(_, n)| n.clone());
                let term = snap.raft_term.map(|t| t.to_string());
                let mut e = event(
                    EventKind::LeaderChanged,
                    Some(&l.name),
                    format!(
                        "{} became leader{}{}",
                        l.name,
                        from.as_ref()
                            .map_or(String::new(), |f| format!(" after {f}")),
                        term.as_ref()
                            .map_or(String::new(), |t| format!(" at term {t}"))
                    ),
                );
                e.from = from;
                e.to = Some(l.name.clone());
                e.detail = term;
                out.push(e);
            }
            self.leader = Some((l.id.clone(), l.name.clone()));
        }

        // Alarms, unless the list could not be read this time.
        let alarms_known = !snap.errors.iter().any(|e| e.contains("alarm list"));
        if alarms_known {
            let now: BTreeSet<(String, String)> = snap
                .alarms
                .iter()
                .map(|a| {
                    (
                        a.member_name.clone().unwrap_or_else(|| a.member_id.clone()),
                        a.alarm.clone(),
                    )
                })
                .collect();
            if report {
                for (member, alarm) in now.difference(&self.alarms) {
                    let mut e = event(
                        EventKind::AlarmRaised,
                        Some(member),
                        format!("alarm {alarm} raised by member {member}"),
                    );
                    e.detail = Some(alarm.clone());
                    out.push(e);
                }
                for (member, alarm) in self.alarms.difference(&now) {
                    let mut e = event(
                        EventKind::AlarmCleared,
                        Some(member),
                        format!("alarm {alarm} of member {member} cleared"),
                    );
                    e.detail = Some(alarm.clone());
                    out.push(e);
                }
            }
            self.alarms = now;
        }

        // The consistency check, when one ran and could compare.
        if let Some(k) = snap.consistency.as_ref().filter(|k| k.error.is_none()) {
            match (self.consistent, k.consistent) {
                (Some(true) | None, false) => {
                    let mut e = event(
                        EventKind::HashMismatch,
                        None,
                        format!(
                            "members' data differ at revision {}: {}",
                            k.revision,
                            k.mismatched.join(", ")
                        ),
                    );
                    e.detail = Some(k.mismatched.join(","));
                    out.push(e);
                }
                (Some(false), true) => {
                    out.push(event(
                        EventKind::HashMismatchGone,
                        None,
                        format!("members agree again at revision {}", k.revision),
                    ));
                }
                _ => {}
            }
            self.consistent = Some(k.consistent);
        }

        // The quota, from the fullest member that says.
        let usage = snap
            .members
            .iter()
            .filter_map(|m| m.indicators.as_ref().and_then(|i| i.quota_usage_ratio))
            .filter(|r| r.is_finite())
            .reduce(f64::max);
        if let Some(u) = usage {
            let near = u >= QUOTA_NEAR;
            if near && !self.quota_near && report {
                out.push(event(
                    EventKind::QuotaApproached,
                    None,
                    format!("the DB reached {} of its quota", human(u, Unit::Ratio)),
                ));
            }
            self.quota_near = near;
        }
        // Only a probe that reached the cluster sets what is known.
        self.seen |= snap.members.iter().any(|m| m.reachable);
        out
    }
}

fn shrank(before: i64, after: i64) -> bool {
    after >= 0
        && (after as f64) < before as f64 * SHRINK_RATIO
        && before.saturating_sub(after) >= SHRINK_BYTES
}

/// Where a collector records its cluster's events.
#[derive(Clone)]
pub struct EventLog {
    pub store: std::sync::Arc<Store>,
    /// `[store] events_retention`.
    pub retention: std::time::Duration,
}

impl EventLog {
    /// Logs `events` and records them off the async threads (a commit syncs the
    /// file), without waiting: the next probe is not delayed by the disk. A
    /// failure is logged; the timeline is not worth stopping monitoring for.
    pub fn submit(&self, events: Vec<ClusterEvent>) {
        if events.is_empty() {
            return;
        }
        for e in &events {
            tracing::info!(cluster = %e.cluster, kind = e.kind.as_str(), "{}", e.message);
        }
        let log = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = record(&log.store, &events, log.retention) {
                tracing::warn!("{} cluster events not recorded: {e}", events.len());
            }
        });
    }
}

/// Big-endian time, then a sequence within the batch and a random part: events
/// scan in time order, and those of one probe keep theirs.
fn key(at_unix_ms: i64, seq: u16) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(at_unix_ms.max(0) as u64).to_be_bytes());
    k[8..10].copy_from_slice(&seq.to_be_bytes());
    k[10..].copy_from_slice(&fastrand::u64(..).to_be_bytes()[..6]);
    k
}

/// Records `events` in one commit, then drops those older than `retention` and
/// the oldest beyond [`MAX_EVENTS`].
pub fn record(
    store: &Store,
    events: &[ClusterEvent],
    retention: std::time::Duration,
) -> Result<()> {
    record_bounded(store, events, retention, MAX_EVENTS)
}

/// Records events of other modules (an alert firing, a benchmark run) in one
/// commit; the table is bounded at the collectors' next record and at every
/// maintenance ([`trim`]).
pub fn append(store: &Store, events: &[ClusterEvent]) -> Result<()> {
    let rows: Vec<([u8; 16], Vec<u8>)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                key(e.at_unix_ms, u16::try_from(i).unwrap_or(u16::MAX)),
                postcard::to_allocvec(e).expect("postcard encodes plain structs"),
            )
        })
        .collect();
    let ops: Vec<_> = rows
        .iter()
        .map(|(k, v)| (TABLE, &k[..], Some(v.as_slice())))
        .collect();
    store.write_records(&ops)
}

/// Drops events older than `retention` and the oldest beyond [`MAX_EVENTS`];
/// returns how many.
pub fn trim(store: &Store, retention: std::time::Duration, now_ms: i64) -> Result<u64> {
    trim_to(store, retention, now_ms, MAX_EVENTS)
}

fn trim_to(
    store: &Store,
    retention: std::time::Duration,
    now_ms: i64,
    keep_at_most: u64,
) -> Result<u64> {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let oldest_kept = (now_ms.saturating_sub(retention_ms).max(0) as u64).to_be_bytes();
    store.trim_records(TABLE, &oldest_kept, keep_at_most)
}

fn record_bounded(
    store: &Store,
    events: &[ClusterEvent],
    retention: std::time::Duration,
    keep_at_most: u64,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    append(store, events)?;
    // Also here, not only at maintenance: a flapping fleet can log more than
    // MAX_EVENTS in the hour between two maintenances.
    trim_to(store, retention, crate::unix_ms_now(), keep_at_most)?;
    Ok(())
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub cluster: Option<String>,
    pub kinds: Vec<EventKind>,
    pub member: Option<String>,
    pub from_ms: Option<i64>,
    /// Exclusive.
    pub to_ms: Option<i64>,
    pub limit: usize,
}

/// Most events one query scans: a filter that matches little cannot make a read
/// walk the whole table.
const MAX_SCANNED: usize = 20_000;

/// Events matching `q`, newest first. Records this version cannot read (written
/// by a newer one, or damaged) are skipped.
pub fn query(store: &Store, q: &EventQuery) -> Result<Vec<ClusterEvent>> {
    let from = (q.from_ms.unwrap_or(0).max(0) as u64).to_be_bytes();
    let to = q.to_ms.map(|t| (t.max(0) as u64).to_be_bytes());
    let rows = store.scan_records(TABLE, &from, to.as_ref().map(|t| &t[..]), MAX_SCANNED, true)?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, v)| postcard::from_bytes::<ClusterEvent>(&v).ok())
        .filter(|e| q.cluster.as_ref().is_none_or(|c| *c == e.cluster))
        .filter(|e| q.kinds.is_empty() || q.kinds.contains(&e.kind))
        .filter(|e| {
            q.member
                .as_ref()
                .is_none_or(|m| e.member.as_ref() == Some(m))
        })
        .take(q.limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::snapshot::{Alarm, LeaderInfo, MemberSnapshot, MemberStatus, Timestamp};

    fn member(id: &str, version: &str, db: i64, reachable: bool) -> MemberSnapshot {
        MemberSnapshot {
            id: id.into(),
            name: format!("m{id}"),
            peer_urls: vec![],
            client_urls: vec![],
            is_learner: false,
            is_leader: false,
            reachable,
            healthy: reachable,
            error: (!reachable).then(|| "connection refused".to_string()),
            status: reachable.then(|| MemberStatus {
                version: version.into(),
                db_size: db,
                db_size_in_use: db,
                leader: String::new(),
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

    fn snap(at: i64, members: Vec<MemberSnapshot>, leader: Option<&str>) -> ClusterSnapshot {
        let mut s = ClusterSnapshot::pending("c", &[]);
        s.probed_at = Some(Timestamp(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(at as u64),
        ));
        s.leader = leader.map(|id| LeaderInfo {
            id: id.into(),
            name: format!("m{id}"),
        });
        s.raft_term = Some(at as u64 / 1000);
        s.members = members;
        s
    }

    fn at(s: &ClusterSnapshot) -> i64 {
        s.probed_at.unwrap().unix_ms()
    }

    impl EventDetector {
        fn observe_at(&mut self, s: &ClusterSnapshot) -> Vec<ClusterEvent> {
            self.observe(s, at(s))
        }
    }

    fn kinds(events: &[ClusterEvent]) -> Vec<(EventKind, Option<&str>)> {
        events
            .iter()
            .map(|e| (e.kind, e.member.as_deref()))
            .collect()
    }

    const MB: i64 = 1 << 20;

    #[test]
    fn a_leader_killed_then_restarted_is_one_change_one_loss_one_return() {
        let mut d = EventDetector::default();
        let up = |id: &str| member(id, "3.4.23", 4 * MB, true);
        let down = |id: &str| member(id, "3.4.23", 0, false);
        // The first probe only sets what is known, alarms included.
        let mut first = snap(1000, vec![up("1"), up("2"), up("3")], Some("1"));
        first.alarms.push(Alarm {
            member_id: "1".into(),
            member_name: Some("m1".into()),
            alarm: "NOSPACE".into(),
        });
        assert!(d.observe(&first, at(&first)).is_empty());
        // Killed: no leader for one probe, then m2.
        let e = d.observe_at(&snap(2000, vec![down("1"), up("2"), up("3")], None));
        assert_eq!(
            kinds(&e),
            [
                (EventKind::MemberUnreachable, Some("m1")),
                (EventKind::AlarmCleared, Some("m1"))
            ]
        );
        assert!(e[0].message.contains("connection refused"), "{e:?}");
        let e = d.observe_at(&snap(3000, vec![down("1"), up("2"), up("3")], Some("2")));
        assert_eq!(kinds(&e), [(EventKind::LeaderChanged, Some("m2"))]);
        assert_eq!(
            (
                e[0].from.as_deref(),
                e[0].to.as_deref(),
                e[0].detail.as_deref()
            ),
            (Some("m1"), Some("m2"), Some("3"))
        );
        assert_eq!(e[0].at_unix_ms, 3000);
        // Nothing new: nothing recorded.
        assert!(d
            .observe_at(&snap(4000, vec![down("1"), up("2"), up("3")], Some("2")))
            .is_empty());
        // Back, upgraded.
        let e = d.observe_at(&snap(
            5000,
            vec![member("1", "3.5.1", 4 * MB, true), up("2"), up("3")],
            Some("2"),
        ));
        assert_eq!(
            kinds(&e),
            [
                (EventKind::MemberBack, Some("m1")),
                (EventKind::VersionChanged, Some("m1"))
            ]
        );
        assert_eq!(
            (e[1].from.as_deref(), e[1].to.as_deref()),
            (Some("3.4.23"), Some("3.5.1"))
        );
    }

    #[test]
    fn members_joining_leaving_shrinking_and_alarms_are_seen_once() {
        let mut d = EventDetector::default();
        let m = |id: &str, db: i64| member(id, "3.5.1", db, true);
        assert!(d
            .observe_at(&snap(1000, vec![m("1", 8 * MB), m("2", 8 * MB)], Some("1")))
            .is_empty());
        let e = d.observe_at(&snap(
            2000,
            vec![m("1", 8 * MB), m("2", MB), m("3", MB)],
            Some("1"),
        ));
        assert_eq!(
            kinds(&e),
            [
                (EventKind::Defragmented, Some("m2")),
                (EventKind::MemberAdded, Some("m3"))
            ]
        );
        // A small change of size is no defragmentation.
        let e = d.observe_at(&snap(
            3000,
            vec![m("1", 8 * MB - 4096), m("3", MB)],
            Some("1"),
        ));
        assert_eq!(kinds(&e), [(EventKind::MemberRemoved, Some("m2"))]);
        let mut raised = snap(4000, vec![m("1", 8 * MB), m("3", MB)], Some("1"));
        raised.alarms.push(Alarm {
            member_id: "3".into(),
            member_name: Some("m3".into()),
            alarm: "NOSPACE".into(),
        });
        let e = d.observe(&raised, at(&raised));
        assert_eq!(kinds(&e), [(EventKind::AlarmRaised, Some("m3"))]);
        assert_eq!(e[0].detail.as_deref(), Some("NOSPACE"));
        assert!(d.observe(&raised, at(&raised)).is_empty());
        // A failed alarm list says nothing about alarms.
        let mut failed = snap(5000, vec![m("1", 8 * MB), m("3", MB)], Some("1"));
        failed.errors.push("alarm list: no answer within 1s".into());
        assert!(d.observe(&failed, at(&failed)).is_empty());
        let e = d.observe_at(&snap(6000, vec![m("1", 8 * MB), m("3", MB)], Some("1")));
        assert_eq!(kinds(&e), [(EventKind::AlarmCleared, Some("m3"))]);
    }

    #[test]
    fn a_cluster_never_reached_sets_nothing_until_it_answers() {
        let mut d = EventDetector::default();
        let mut dead = member("0", "", 0, false);
        dead.name = "http://127.0.0.1:1".into();
        assert!(d.observe_at(&snap(1000, vec![dead], None)).is_empty());
        let up = vec![member("1", "3.4.23", MB, true)];
        assert!(d.observe_at(&snap(2000, up.clone(), Some("1"))).is_empty());
        assert!(d.observe_at(&snap(3000, up, Some("1"))).is_empty());
    }

    #[test]
    fn events_are_stored_in_order_bounded_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path(), crate::store::Retention::default()).unwrap();
        let now = crate::unix_ms_now();
        let ev = |at: i64, kind: EventKind, cluster: &str| ClusterEvent {
            at_unix_ms: at,
            cluster: cluster.into(),
            kind,
            member: Some("m1".into()),
            from: None,
            to: None,
            detail: None,
            message: format!("{kind:?}"),
        };
        let day = std::time::Duration::from_secs(86_400);
        // Too old for the retention: dropped at once.
        record(
            &store,
            &[ev(now - 3 * 86_400_000, EventKind::MemberBack, "a")],
            day,
        )
        .unwrap();
        record(
            &store,
            &[
                ev(now - 2000, EventKind::MemberUnreachable, "a"),
                ev(now - 2000, EventKind::LeaderChanged, "a"),
                ev(now - 1000, EventKind::MemberBack, "b"),
            ],
            day,
        )
        .unwrap();
        let all = query(
            &store,
            &EventQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            all.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [
                EventKind::MemberBack,
                EventKind::LeaderChanged,
                EventKind::MemberUnreachable
            ],
            "newest first; one probe's in the order seen, reversed"
        );
        let a = query(
            &store,
            &EventQuery {
                cluster: Some("a".into()),
                kinds: vec![EventKind::LeaderChanged],
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(a.len(), 1);
        let before = query(
            &store,
            &EventQuery {
                to_ms: Some(now - 1500),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(before.len(), 2);
        // Damaged bytes are skipped; the bound keeps the newest.
        store
            .write_records(&[(TABLE, &key(now - 500, 0)[..], Some(&[0xff, 0xff][..]))])
            .unwrap();
        assert_eq!(
            query(
                &store,
                &EventQuery {
                    limit: 10,
                    ..Default::default()
                }
            )
            .unwrap()
            .len(),
            3
        );
        record_bounded(&store, &[ev(now, EventKind::MemberAdded, "c")], day, 2).unwrap();
        let kept = query(
            &store,
            &EventQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            kept.len(),
            1,
            "the damaged record is one of the two kept: {kept:?}"
        );
        assert_eq!(kept[0].kind, EventKind::MemberAdded);
    }
}
