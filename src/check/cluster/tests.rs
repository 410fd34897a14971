use super::*;
use crate::collect::derive::Indicators;
use crate::collect::snapshot::*;

fn member(name: &str, version: &str) -> MemberSnapshot {
    MemberSnapshot {
        id: format!("id-{name}"),
        name: name.into(),
        peer_urls: vec![format!("http://{name}:2380")],
        client_urls: vec![format!("http://{name}:2379")],
        is_learner: false,
        is_leader: name == "m0",
        reachable: true,
        healthy: true,
        error: None,
        status: Some(MemberStatus {
            version: version.into(),
            db_size: 1 << 20,
            db_size_in_use: 1 << 19,
            leader: "id-m0".into(),
            raft_term: 2,
            raft_index: 10,
            raft_applied_index: 10,
            revision: 5,
            is_learner: false,
            errors: vec![],
        }),
        flags: vec![],
        indicators: Some(Indicators {
            wal_fsync_p99_seconds: Some(0.002),
            backend_commit_p99_seconds: Some(0.004),
            peer_rtt_p99_seconds: Some(0.001),
            leader_changes_in_interval: Some(0.0),
            leader_changes_total: Some(1.0),
            quota_usage_ratio: Some(0.01),
            db_size_bytes: Some(MIB * 20.0),
            quota_backend_bytes: Some(MIB * 2048.0),
            fragmentation_ratio: Some(0.2),
            db_size_in_use_bytes: Some(MIB * 16.0),
            ..Default::default()
        }),
        metrics_url: None,
        scrape_error: None,
    }
}

fn healthy(n: usize) -> ClusterSnapshot {
    let mut s = ClusterSnapshot::pending("c", &[]);
    s.members = (0..n).map(|i| member(&format!("m{i}"), "3.5.1")).collect();
    s.leader = Some(LeaderInfo {
        id: "id-m0".into(),
        name: "m0".into(),
    });
    s.raft_term = Some(2);
    s.quorum = Quorum {
        voting_members: n,
        reachable_voting_members: n,
        needed: n / 2 + 1,
        has_quorum: true,
    };
    s.consistency = (n > 1).then(|| ConsistencyCheck {
        checked_at: Timestamp::now(),
        revision: 5,
        compact_revision: None,
        consistent: true,
        hashes: (0..n)
            .map(|i| MemberHash {
                member_id: format!("id-m{i}"),
                hash: Some(7),
                compact_revision: Some(1),
                error: None,
            })
            .collect(),
        mismatched: vec![],
        error: None,
    });
    s
}

fn ctx(auth: Auth) -> Context {
    Context {
        auth,
        lifetime: HashMap::new(),
        window_seconds: 3.0,
    }
}

fn status_of(findings: &[Finding], check: &str) -> Status {
    findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no finding {check}"))
        .status
}

#[test]
fn a_healthy_plaintext_cluster_warns_only_about_tls_and_auth() {
    let f = evaluate(&healthy(3), &ctx(Auth::Off));
    let not_pass: Vec<&str> = f
        .iter()
        .filter(|f| f.status != Status::Pass)
        .map(|f| f.check.as_str())
        .collect();
    assert_eq!(not_pass, vec!["client tls", "peer tls", "auth"], "{f:#?}");
    assert!(f
        .iter()
        .filter(|f| f.status != Status::Pass)
        .all(|f| !f.recommendation.is_empty()));
    assert_eq!(worst(&f), Status::Warn);
}

#[test]
fn tls_everywhere_and_auth_on_is_all_pass() {
    let mut s = healthy(3);
    for m in &mut s.members {
        m.client_urls = vec![m.client_urls[0].replace("http://", "https://")];
        m.peer_urls = vec![m.peer_urls[0].replace("http://", "https://")];
    }
    let f = evaluate(&s, &ctx(Auth::On("configured".into())));
    assert_eq!(worst(&f), Status::Pass, "{f:#?}");
}

/// Each check on its own reports under its own names only, and evaluate is the
/// checks in order.
#[test]
fn each_check_reports_under_its_own_names() {
    let snap = healthy(3);
    let ctx = ctx(Auth::Off);
    let inputs = Inputs {
        snap: &snap,
        ctx: &ctx,
        reachable: snap.members.iter().collect(),
    };
    let expected: [(Check, &[&str]); 12] = [
        (members, &["members"]),
        (leader, &["leader"]),
        (voting_members, &["voting members"]),
        (version_skew, &["version skew"]),
        (alarms, &["alarms"]),
        (quota, &["quota headroom"]),
        (fragmentation, &["fragmentation"]),
        (
            latency,
            &["wal fsync p99", "backend commit p99", "peer rtt p99"],
        ),
        (leader_changes, &["leader changes"]),
        (tls, &["client tls", "peer tls"]),
        (auth, &["auth"]),
        (consistency, &["consistency"]),
    ];
    let mut all = Vec::new();
    for (check, names) in expected {
        let mut out = Vec::new();
        check(&inputs, &mut out);
        let got: Vec<&str> = out.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(got, names);
        all.extend(out);
    }
    let whole = evaluate(&snap, &ctx);
    assert_eq!(
        serde_json::to_string(&whole).unwrap(),
        serde_json::to_string(&all).unwrap()
    );
}

#[test]
fn member_counts() {
    let f = evaluate(&healthy(1), &ctx(Auth::Off));
    assert_eq!(status_of(&f, "voting members"), Status::Warn);
    assert_eq!(status_of(&f, "peer rtt p99"), Status::Pass);
    assert_eq!(status_of(&f, "consistency"), Status::Pass);
    let f = evaluate(&healthy(4), &ctx(Auth::Off));
    assert_eq!(status_of(&f, "voting members"), Status::Warn);
    assert!(f
        .iter()
        .any(|f| f.detail.contains("tolerate 1 failures, as 3")));
    let f = evaluate(&healthy(5), &ctx(Auth::Off));
    assert_eq!(status_of(&f, "voting members"), Status::Pass);
}

#[test]
fn a_down_member_and_lost_quorum_fail() {
    let mut s = healthy(3);
    s.members[2].reachable = false;
    s.members[2].healthy = false;
    s.members[2].error = Some("connection refused".into());
    s.members[2].indicators = None;
    s.quorum.reachable_voting_members = 2;
    let f = evaluate(&s, &ctx(Auth::Off));
    assert_eq!(status_of(&f, "members"), Status::Fail);
    assert!(
        f[0].detail.contains("m2 (connection refused)"),
        "{}",
        f[0].detail
    );
    s.members[1].reachable = false;
    s.quorum.reachable_voting_members = 1;
    s.quorum.has_quorum = false;
    s.leader = None;
    let f = evaluate(&s, &ctx(Auth::Off));
    assert!(f[0].detail.starts_with("no quorum"), "{}", f[0].detail);
    assert_eq!(status_of(&f, "leader"), Status::Fail);
}

#[test]
fn latency_thresholds() {
    let judge = |fsync: f64, commit: f64, rtt: f64| {
        let mut s = healthy(3);
        for m in &mut s.members {
            let i = m.indicators.as_mut().unwrap();
            i.wal_fsync_p99_seconds = Some(fsync);
            i.backend_commit_p99_seconds = Some(commit);
            i.peer_rtt_p99_seconds = Some(rtt);
        }
        let f = evaluate(&s, &ctx(Auth::Off));
        (
            status_of(&f, "wal fsync p99"),
            status_of(&f, "backend commit p99"),
            status_of(&f, "peer rtt p99"),
        )
    };
    use Status::*;
    assert_eq!(judge(0.009, 0.024, 0.049), (Pass, Pass, Pass));
    assert_eq!(judge(0.010, 0.025, 0.050), (Warn, Warn, Warn));
    assert_eq!(judge(0.5, 0.25, 0.15), (Fail, Fail, Fail));
}

#[test]
fn nothing_observed_in_the_window_falls_back_to_the_lifetime() {
    let mut s = healthy(3);
    for m in &mut s.members {
        m.indicators.as_mut().unwrap().wal_fsync_p99_seconds = None;
    }
    let mut c = ctx(Auth::Off);
    c.lifetime.insert(
        "id-m1".into(),
        LifetimeP99 {
            wal_fsync: Some(0.02),
            ..Default::default()
        },
    );
    let f = evaluate(&s, &c);
    let fsync = f.iter().find(|f| f.check == "wal fsync p99").unwrap();
    assert_eq!(fsync.status, Status::Warn);
    assert!(
        fsync
            .detail
            .contains("m1: 20.0 ms since the member started"),
        "{}",
        fsync.detail
    );
    c.lifetime.clear();
    assert_eq!(status_of(&evaluate(&s, &c), "wal fsync p99"), Status::Warn);
}

#[test]
fn alarms_quota_fragmentation_skew_and_consistency() {
    let mut s = healthy(3);
    s.alarms.push(Alarm {
        member_id: "id-m0".into(),
        member_name: Some("m0".into()),
        alarm: "NOSPACE".into(),
    });
    let f = evaluate(&s, &ctx(Auth::Off));
    let alarm = f.iter().find(|f| f.check == "alarms").unwrap();
    assert_eq!(alarm.status, Status::Fail);
    assert!(alarm.recommendation.contains("alarm disarm"));
    assert_eq!(worst(&f), Status::Fail);

    let mut s = healthy(3);
    s.members[1].indicators.as_mut().unwrap().quota_usage_ratio = Some(0.85);
    assert_eq!(
        status_of(&evaluate(&s, &ctx(Auth::Off)), "quota headroom"),
        Status::Warn
    );
    s.members[1].indicators.as_mut().unwrap().quota_usage_ratio = Some(0.96);
    assert_eq!(
        status_of(&evaluate(&s, &ctx(Auth::Off)), "quota headroom"),
        Status::Fail
    );

    let mut s = healthy(3);
    let i = s.members[2].indicators.as_mut().unwrap();
    i.fragmentation_ratio = Some(0.6);
    assert_eq!(
        status_of(&evaluate(&s, &ctx(Auth::Off)), "fragmentation"),
        Status::Pass
    );
    s.members[2]
        .indicators
        .as_mut()
        .unwrap()
        .db_size_in_use_bytes = Some(200.0 * MIB);
    assert_eq!(
        status_of(&evaluate(&s, &ctx(Auth::Off)), "fragmentation"),
        Status::Warn
    );

    let mut s = healthy(3);
    s.members[1].status.as_mut().unwrap().version = "3.5.2".into();
    assert_eq!(
        status_of(&evaluate(&s, &ctx(Auth::Off)), "version skew"),
        Status::Warn
    );
    s.members[1].status.as_mut().unwrap().version = "3.4.23".into();
    assert_eq!(
        status_of(&evaluate(&s, &ctx(Auth::Off)), "version skew"),
        Status::Fail
    );

    let mut s = healthy(3);
    s.consistency.as_mut().unwrap().mismatched = vec!["id-m2".into()];
    s.consistency.as_mut().unwrap().consistent = false;
    assert_eq!(
        status_of(&evaluate(&s, &ctx(Auth::Off)), "consistency"),
        Status::Fail
    );

    let mut s = healthy(3);
    s.members[0]
        .indicators
        .as_mut()
        .unwrap()
        .leader_changes_in_interval = Some(1.0);
    assert_eq!(
        status_of(&evaluate(&s, &ctx(Auth::Off)), "leader changes"),
        Status::Warn
    );
}
