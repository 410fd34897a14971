use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn members_down(member: &str, ends_at: Option<SystemTime>) -> NotifiedAlert {
    NotifiedAlert::new(
        labels(&[
            ("alertname", "etcdMembersDown"),
            ("cluster", "prod"),
            ("member", member),
            ("severity", "critical"),
        ]),
        labels(&[
            ("summary", "etcd cluster members are down."),
            ("description", &format!("member {member} is down")),
        ]),
        at(1_700_000_000),
        ends_at,
        "http://monitor:8080/clusters/prod",
    )
}

fn group(alerts: Vec<NotifiedAlert>) -> Notification {
    Notification::new(
        "ops",
        "{}:{alertname=\"etcdMembersDown\", cluster=\"prod\"}",
        labels(&[("alertname", "etcdMembersDown"), ("cluster", "prod")]),
        alerts,
        "http://monitor:8080",
    )
}

#[test]
fn fingerprint_is_prometheus_label_set_fingerprint() {
    // Test vectors of prometheus/common model (TestMetricToFingerprint): the empty set
    // hashes to the FNV offset, and this pair to 5799056148416392346.
    assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
    let pair = labels(&[("name", "garland, briggs"), ("fear", "love is not enough")]);
    assert_eq!(
        fingerprint(&pair),
        format!("{:016x}", 5_799_056_148_416_392_346u64)
    );
}

#[test]
fn notification_serializes_as_alertmanager_webhook_v4() {
    let mut resolved = members_down("m2", Some(at(1_700_000_600)));
    resolved.annotations.insert("runbook".into(), "x".into());
    let n = group(vec![members_down("m1", None), resolved]);
    let value = serde_json::to_value(&n).unwrap();
    let fp1 = fingerprint(&n.alerts[0].labels);
    let fp2 = fingerprint(&n.alerts[1].labels);
    assert_eq!(
        value,
        json!({
            "receiver": "ops",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "etcdMembersDown", "cluster": "prod", "member": "m1", "severity": "critical"},
                    "annotations": {"summary": "etcd cluster members are down.", "description": "member m1 is down"},
                    "startsAt": "2023-11-14T22:13:20.000Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://monitor:8080/clusters/prod",
                    "fingerprint": fp1,
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "etcdMembersDown", "cluster": "prod", "member": "m2", "severity": "critical"},
                    "annotations": {"summary": "etcd cluster members are down.", "description": "member m2 is down", "runbook": "x"},
                    "startsAt": "2023-11-14T22:13:20.000Z",
                    "endsAt": "2023-11-14T22:23:20.000Z",
                    "generatorURL": "http://monitor:8080/clusters/prod",
                    "fingerprint": fp2,
                },
            ],
            "groupLabels": {"alertname": "etcdMembersDown", "cluster": "prod"},
            "commonLabels": {"alertname": "etcdMembersDown", "cluster": "prod", "severity": "critical"},
            "commonAnnotations": {"summary": "etcd cluster members are down."},
            "externalURL": "http://monitor:8080",
            "version": "4",
            "groupKey": "{}:{alertname=\"etcdMembersDown\", cluster=\"prod\"}",
            "truncatedAlerts": 0,
        })
    );
    assert_ne!(fp1, fp2);
    assert_eq!(fp1.len(), 16);
    let back: Notification = serde_json::from_value(value).unwrap();
    assert_eq!(back, n);
}

#[test]
fn reads_an_alertmanager_payload() {
    // Alertmanager's own example body (as published with the webhook docs' receivers).
    let body = r#"{
      "receiver": "sms", "status": "firing",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "ProbeFailure", "severity": "critical"},
        "annotations": {"summary": "BlackBox Probe Failure"},
        "startsAt": "2023-02-06T13:08:45.828Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.org:9090/graph",
        "fingerprint": "1a30ba71cca2921f"
      }],
      "groupLabels": {"alertname": "ProbeFailure"},
      "commonLabels": {"alertname": "ProbeFailure", "severity": "critical"},
      "commonAnnotations": {"summary": "BlackBox Probe Failure"},
      "externalURL": "http://prometheus.example.org:9093",
      "version": "4",
      "groupKey": "{}/{severity=\"critical\"}:{alertname=\"ProbeFailure\"}",
      "truncatedAlerts": 0
    }"#;
    let n: Notification = serde_json::from_str(body).unwrap();
    assert_eq!(n.status, AlertStatus::Firing);
    assert_eq!(n.alerts[0].ends_at, None);
    assert_eq!(
        humantime::format_rfc3339_millis(n.alerts[0].starts_at).to_string(),
        "2023-02-06T13:08:45.828Z"
    );
}

#[test]
fn status_and_common_labels_follow_the_alerts() {
    let all_resolved = group(vec![
        members_down("m1", Some(at(1_700_000_100))),
        members_down("m2", Some(at(1_700_000_200))),
    ]);
    assert_eq!(all_resolved.status, AlertStatus::Resolved);
    assert!(!all_resolved.common_labels.contains_key("member"));
    assert_eq!(all_resolved.common_labels["severity"], "critical");
    assert!(!all_resolved.common_annotations.contains_key("description"));

    let empty = group(vec![]);
    assert_eq!(empty.status, AlertStatus::Resolved);
    assert!(empty.common_labels.is_empty());
}

#[test]
fn send_resolved_false_drops_resolved_alerts() {
    let mixed = group(vec![
        members_down("m1", None),
        members_down("m2", Some(at(1_700_000_600))),
    ]);
    let out = mixed.for_receiver("pager", false, 0).unwrap();
    assert_eq!(out.receiver, "pager");
    assert_eq!(out.alerts.len(), 1);
    // Common labels are those of the alerts sent.
    assert_eq!(out.common_labels["member"], "m1");

    let resolved = group(vec![members_down("m2", Some(at(1_700_000_600)))]);
    assert!(resolved.for_receiver("pager", false, 0).is_none());
    assert!(resolved.for_receiver("pager", true, 0).is_some());
}

#[test]
fn max_alerts_truncates_and_counts() {
    let n = group(
        (1..=5)
            .map(|i| members_down(&format!("m{i}"), None))
            .collect(),
    );
    let out = n.for_receiver("hook", true, 2).unwrap();
    assert_eq!(out.alerts.len(), 2);
    assert_eq!(out.truncated_alerts, 3);
    assert_eq!(n.for_receiver("hook", true, 0).unwrap().alerts.len(), 5);
    assert_eq!(n.for_receiver("hook", true, 5).unwrap().truncated_alerts, 0);
}

#[test]
fn subject_is_status_count_and_group() {
    let n = group(vec![
        members_down("m1", None),
        members_down("m2", None),
        members_down("m3", Some(at(1_700_000_600))),
    ]);
    assert_eq!(subject(&n), "[FIRING:2] etcdMembersDown cluster=prod");
    let r = group(vec![members_down("m3", Some(at(1_700_000_600)))]);
    assert_eq!(subject(&r), "[RESOLVED] etcdMembersDown cluster=prod");
}

#[test]
fn plain_body_lists_each_alert() {
    let n = group(vec![
        members_down("m1", None),
        members_down("m3", Some(at(1_700_000_600))),
    ]);
    let body = text::plain_body(&n);
    for expected in [
        "2 alerts for alertname=etcdMembersDown cluster=prod",
        "[1] Firing",
        "1. etcdMembersDown cluster=prod member=m1 severity=critical",
        "Summary: etcd cluster members are down.",
        "Description: member m1 is down",
        " - member = m1",
        "Started: 2023-11-14T22:13:20Z",
        "[1] Resolved",
        "Ended: 2023-11-14T22:23:20Z",
        "Source: http://monitor:8080/clusters/prod",
        "Dashboard: http://monitor:8080",
    ] {
        assert!(body.contains(expected), "{expected:?} not in:\n{body}");
    }
    assert!(body.find("[1] Firing") < body.find("[1] Resolved"));
}

#[test]
fn backoff_grows_with_jitter_up_to_the_cap() {
    let policy = RetryPolicy::default();
    for attempt in 1..=12 {
        let step = Duration::from_secs(1 << (attempt - 1)).min(Duration::from_secs(60));
        for _ in 0..20 {
            let wait = policy.backoff(attempt);
            assert!(
                wait >= step / 2 && wait <= step,
                "attempt {attempt}: {wait:?}"
            );
        }
    }
    // Jitter: not every wait is the same.
    let waits: std::collections::HashSet<_> = (0..20).map(|_| policy.backoff(3)).collect();
    assert!(waits.len() > 1);
    assert!(policy.backoff(u32::MAX) <= Duration::from_secs(60));
    // A zero policy still waits a little rather than spin until the deadline.
    let zero = RetryPolicy {
        initial_backoff: Duration::ZERO,
        factor: 0,
        ..policy
    };
    assert!(zero.backoff(1) >= Duration::from_millis(5));
}

#[test]
fn pagerduty_dedup_key_is_sha256_of_group_key() {
    assert_eq!(
        pagerduty_dedup_key(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(pagerduty_dedup_key("a").len(), 64);
}

fn parse(toml_text: &str) -> std::result::Result<ReceiverConfig, toml::de::Error> {
    toml::from_str(toml_text)
}

#[test]
fn receiver_config_reads_each_type_with_defaults() {
    let email = parse(
        r#"
        name = "mail"
        type = "email"
        smtp_host = "smtp.example.com"
        username = "alerts"
        password_env = "SMTP_PASSWORD"
        from = "etcd-monitor <alerts@example.com>"
        to = ["oncall@example.com"]
        "#,
    )
    .unwrap();
    let ReceiverConfig::Email(c) = &email else {
        panic!("{email:?}")
    };
    assert_eq!(c.tls, SmtpTls::Starttls);
    assert_eq!(c.port(), 587);
    assert!(email.send_resolved());
    assert_eq!(email.timeout(), Duration::from_secs(10));
    email.validate().unwrap();

    let slack = parse(
        r##"
        name = "chat"
        type = "slack"
        url_file = "/etc/etcd-monitor/slack-url"
        channel = "#etcd"
        send_resolved = false
        timeout = "3s"
        "##,
    )
    .unwrap();
    assert!(!slack.send_resolved());
    assert_eq!(slack.timeout(), Duration::from_secs(3));
    slack.validate().unwrap();

    let pd = parse(
        r#"
        name = "pager"
        type = "pagerduty"
        routing_key_env = "PD_KEY"
        severities = { critical = "critical", warning = "warning", page = "critical" }
        "#,
    )
    .unwrap();
    let ReceiverConfig::Pagerduty(c) = &pd else {
        panic!("{pd:?}")
    };
    assert_eq!(c.url, DEFAULT_PAGERDUTY_URL);
    assert_eq!(c.severities["page"], PagerDutySeverity::Critical);
    assert_eq!(c.default_severity, PagerDutySeverity::Error);
    pd.validate().unwrap();

    let hook = parse(
        r#"
        name = "hook"
        type = "webhook"
        url = "http://127.0.0.1:9000/alerts"
        max_alerts = 10
        token_file = "/run/secrets/hook-token"
        "#,
    )
    .unwrap();
    let ReceiverConfig::Webhook(c) = &hook else {
        panic!("{hook:?}")
    };
    assert_eq!(c.max_alerts, 10);
    hook.validate().unwrap();
}

#[test]
fn receiver_config_loads_through_the_config_crate() {
    // Settings are loaded with the `config` crate, not toml directly: the tagged enum and
    // the durations must come through it too.
    let text = r#"
        [[receivers]]
        name = "hook"
        type = "webhook"
        url = "http://127.0.0.1:9000/"
        timeout = "2s"

        [[receivers]]
        name = "pager"
        type = "pagerduty"
        routing_key_file = "/run/pd"
    "#;
    #[derive(serde::Deserialize)]
    struct Alerting {
        receivers: Vec<ReceiverConfig>,
    }
    let alerting: Alerting = ::config::Config::builder()
        .add_source(::config::File::from_str(text, ::config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap();
    assert_eq!(alerting.receivers.len(), 2);
    assert_eq!(alerting.receivers[0].timeout(), Duration::from_secs(2));
    validate_receivers(&alerting.receivers).unwrap();
}

#[test]
fn unknown_fields_and_types_are_rejected() {
    let e = parse("name = \"h\"\ntype = \"webhook\"\nurl = \"http://x/\"\nurll = 1\n").unwrap_err();
    assert!(e.to_string().contains("urll"), "{e}");
    let e = parse("name = \"h\"\ntype = \"sms\"\n").unwrap_err();
    assert!(e.to_string().contains("sms"), "{e}");
    // A plain password is not a field: it must come from the environment or a file.
    let e = parse(
        "name = \"m\"\ntype = \"email\"\nsmtp_host = \"h\"\nusername = \"u\"\npassword = \"p\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("password"), "{e}");
}

fn validation_error(toml_text: &str) -> String {
    let config = parse(toml_text).unwrap();
    config.validate().unwrap_err().to_string()
}

#[test]
fn validation_names_receiver_and_field() {
    for (toml_text, expected) in [
        (
            "name = \"m\"\ntype = \"email\"\nsmtp_host = \"h\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]",
            "receiver m: from:",
        ),
        (
            "name = \"m\"\ntype = \"email\"\nsmtp_host = \"h\"\nfrom = \"a@b.c\"\nto = []",
            "receiver m: to: must list",
        ),
        (
            "name = \"m\"\ntype = \"email\"\nsmtp_host = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\", \"bad\"]",
            "receiver m: to[1]:",
        ),
        (
            "name = \"m\"\ntype = \"email\"\nsmtp_host = \"h\"\nusername = \"u\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]",
            "receiver m: password: set exactly one of password_env and password_file",
        ),
        (
            "name = \"m\"\ntype = \"email\"\nsmtp_host = \"h\"\npassword_env = \"P\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]",
            "receiver m: username:",
        ),
        (
            "name = \"s\"\ntype = \"slack\"\nurl = \"https://hooks.slack.com/x\"\nurl_env = \"U\"",
            "receiver s: url: set exactly one of url, url_env and url_file",
        ),
        (
            "name = \"p\"\ntype = \"pagerduty\"",
            "receiver p: routing_key: set exactly one of routing_key_env and routing_key_file",
        ),
        (
            "name = \"p\"\ntype = \"pagerduty\"\nrouting_key_env = \"K\"\nurl = \"ftp://x\"",
            "receiver p: url:",
        ),
        (
            "name = \"w\"\ntype = \"webhook\"\nurl = \"http://x/\"\ntimeout = \"0s\"",
            "receiver w: timeout:",
        ),
        (
            "name = \"a\"\ntype = \"alertmanager\"\nurl = \"am:9093\"",
            "receiver a: url:",
        ),
        (
            "name = \"a\"\ntype = \"alertmanager\"\nurl = \"http://am:9093\"\nresend_interval = \"100ms\"",
            "receiver a: resend_interval: must be between 1s and 24h",
        ),
        (
            "name = \"a\"\ntype = \"alertmanager\"\nurl = \"http://am:9093\"\ntoken_env = \"T\"\ntoken_file = \"/t\"",
            "receiver a: token_env:",
        ),
        (
            "name = \"has space\"\ntype = \"webhook\"\nurl = \"http://x/\"",
            "receiver has space: name:",
        ),
    ] {
        let message = validation_error(toml_text);
        assert!(message.starts_with(expected), "{message:?} for\n{toml_text}");
    }
    let two = vec![
        parse("name = \"w\"\ntype = \"webhook\"\nurl = \"http://x/\"").unwrap(),
        parse("name = \"w\"\ntype = \"webhook\"\nurl = \"http://y/\"").unwrap(),
    ];
    let e = validate_receivers(&two).unwrap_err().to_string();
    assert!(
        e.contains("receiver w: name: is used by more than one"),
        "{e}"
    );
}

#[test]
fn secrets_never_print() {
    const SECRET: &str = "https://hooks.slack.com/services/T000/B000/sEcReTtOkEn";
    let config = parse(&format!(
        "name = \"s\"\ntype = \"slack\"\nurl = \"{SECRET}\""
    ))
    .unwrap();
    let receiver = Receiver::new(&config).unwrap();
    let printed = [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{receiver:?}"),
        toml::to_string(&config).unwrap(),
        format!("{}", Secret::new(SECRET)),
        format!("{:?}", Secret::new(SECRET)),
    ];
    for text in printed {
        assert!(!text.contains("sEcReTtOkEn"), "secret in {text}");
    }

    // Read from a file and from the environment: neither Debug nor errors show it.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("pd-key");
    std::fs::write(&key_file, "r0ut1ngk3y\n").unwrap();
    let config = parse(&format!(
        "name = \"p\"\ntype = \"pagerduty\"\nrouting_key_file = \"{}\"",
        key_file.display()
    ))
    .unwrap();
    let receiver = Receiver::new(&config).unwrap();
    assert!(!format!("{receiver:?}").contains("r0ut1ngk3y"));

    // An invalid URL read from a file: the error must not quote it.
    let url_file = dir.path().join("slack-url");
    std::fs::write(&url_file, "not a url but s3cr3t\n").unwrap();
    let config = parse(&format!(
        "name = \"s\"\ntype = \"slack\"\nurl_file = \"{}\"",
        url_file.display()
    ))
    .unwrap();
    let e = Receiver::new(&config).unwrap_err();
    assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e}");

    // Email: the password file's content stays out of Debug of the receiver.
    let password_file = dir.path().join("smtp-password");
    std::fs::write(&password_file, "pa55w0rd").unwrap();
    let config = parse(&format!(
        "name = \"m\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nusername = \"u\"\npassword_file = \"{}\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]",
        password_file.display()
    ))
    .unwrap();
    let receiver = Receiver::new(&config).unwrap();
    assert!(!format!("{receiver:?}").contains("pa55w0rd"));
}

#[test]
fn missing_secrets_fail_at_build_naming_the_source() {
    let config = parse(
        "name = \"p\"\ntype = \"pagerduty\"\nrouting_key_env = \"ETCD_MONITOR_TEST_SURELY_UNSET_KEY\"",
    )
    .unwrap();
    let e = Receiver::new(&config).unwrap_err().to_string();
    assert_eq!(
        e,
        "receiver p: routing_key_env: environment variable ETCD_MONITOR_TEST_SURELY_UNSET_KEY is not set"
    );
    let config = parse(
        "name = \"w\"\ntype = \"webhook\"\nurl = \"http://x/\"\ntoken_file = \"/nonexistent/token\"",
    )
    .unwrap();
    let e = Receiver::new(&config).unwrap_err().to_string();
    assert!(
        e.starts_with("receiver w: token_file: cannot read /nonexistent/token"),
        "{e}"
    );
}

#[test]
fn retryable_errors() {
    let status = |status| NotifyError::Status {
        receiver: "r".into(),
        status,
        body: String::new(),
    };
    assert!(status(500).is_retryable());
    assert!(status(503).is_retryable());
    assert!(status(429).is_retryable());
    assert!(!status(400).is_retryable());
    assert!(!status(404).is_retryable());
    assert!(!status(302).is_retryable());
    assert!(NotifyError::Timeout {
        receiver: "r".into(),
        after: Duration::from_secs(1)
    }
    .is_retryable());
}

#[test]
fn receivers_can_be_shared_across_tasks() {
    // The caller spawns one delivery per receiver, possibly holding receivers in an Arc.
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Receiver>();
    shareable::<Notification>();
    shareable::<NotifyError>();
}
