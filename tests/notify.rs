//! Integration tests of the notifiers (`etcd_monitor::notify`) against real servers on
//! loopback: Debian's aiosmtpd for email (plain, STARTTLS and implicit TLS, with AUTH,
//! certificates made by openssl here), and small HTTP servers that record each request
//! for Slack, PagerDuty and the Alertmanager-format webhook, whose bodies are compared
//! whole with the formats the services document. The retry tests script the server's
//! answers (503, 429, closed connection, hang) and count what it accepted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_monitor::notify::{
    deliver, send_test, Delivery, Notification, NotifiedAlert, NotifyError, Receiver,
    ReceiverConfig, RetryPolicy,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const USER_AGENT: &str = concat!("etcd-monitor/", env!("CARGO_PKG_VERSION"));
const GROUP_KEY: &str = "{}:{alertname=\"etcdMembersDown\", cluster=\"prod\"}";
/// sha256(GROUP_KEY), computed outside Rust (Python's hashlib).
const GROUP_KEY_SHA256: &str = "77b66bcd0ad7dbf4da9ab3d2abcb745f56b58c7c047b8aa3bd463fdd089b907c";

/// Short waits so that retry tests take a fraction of a second.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(50),
        factor: 2,
        max_backoff: Duration::from_millis(200),
        deadline: Duration::from_secs(10),
        max_attempts: None,
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2023-11-14T22:13:20Z
const STARTS: u64 = 1_700_000_000;
/// 2023-11-14T22:23:20Z
const ENDS: u64 = 1_700_000_600;

fn members_down(member: &str, severity: &str, ends_at: Option<SystemTime>) -> NotifiedAlert {
    NotifiedAlert::new(
        labels(&[
            ("alertname", "etcdMembersDown"),
            ("cluster", "prod"),
            ("member", member),
            ("severity", severity),
        ]),
        labels(&[
            ("summary", "etcd cluster members are down."),
            ("description", &format!("member {member} is down")),
        ]),
        at(STARTS),
        ends_at,
        "http://monitor:8080/clusters/prod",
    )
}

fn group(alerts: Vec<NotifiedAlert>) -> Notification {
    Notification::new(
        "set-by-deliver",
        GROUP_KEY,
        labels(&[("alertname", "etcdMembersDown"), ("cluster", "prod")]),
        alerts,
        "http://monitor:8080",
    )
}

fn two_firing() -> Notification {
    group(vec![
        members_down("m1", "critical", None),
        members_down("m2", "critical", None),
    ])
}

fn receiver(toml_text: &str) -> Receiver {
    let config: ReceiverConfig = toml::from_str(toml_text).expect("receiver config parses");
    Receiver::new(&config).expect("receiver builds")
}

/// Polls `check` until it returns Some, failing after `deadline`.
async fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[path = "support/http_sink.rs"]
mod http_sink;
use http_sink::{HttpSink, Reply, Request};

/// A loopback port nobody listens on: bound, then let go.
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path
}

fn webhook(url: &str, extra: &str) -> Receiver {
    receiver(&format!(
        "name = \"hook\"\ntype = \"webhook\"\nurl = \"{url}\"\ntimeout = \"2s\"\n{extra}"
    ))
}

fn gave_up(result: etcd_monitor::notify::Result<Delivery>) -> (u32, Duration, NotifyError) {
    match result {
        Err(NotifyError::GaveUp {
            attempts,
            elapsed,
            last,
        }) => (attempts, elapsed, *last),
        other => panic!("expected GaveUp, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// The HTTP notifiers' bodies.

#[tokio::test]
async fn webhook_posts_alertmanager_v4_payload() {
    let sink = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let dir = tempfile::tempdir().unwrap();
    let token = secret_file(dir.path(), "token", "t0ken-for-hook");
    let hook = webhook(
        &sink.url,
        &format!("token_file = \"{}\"\nmax_alerts = 1", token.display()),
    );
    let notification = group(vec![
        members_down("m1", "critical", None),
        members_down("m2", "warning", Some(at(ENDS))),
    ]);
    let delivery = deliver(&hook, &notification, fast_retries()).await.unwrap();
    assert!(
        matches!(delivery, Delivery::Sent { attempts: 1, .. }),
        "{delivery:?}"
    );

    let requests = sink.take();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["user-agent"], USER_AGENT);
    assert_eq!(request.headers["authorization"], "Bearer t0ken-for-hook");
    // Alertmanager's webhook_config body, version 4, cut to max_alerts = 1.
    let m1 = labels(&[
        ("alertname", "etcdMembersDown"),
        ("cluster", "prod"),
        ("member", "m1"),
        ("severity", "critical"),
    ]);
    assert_eq!(
        request.json(),
        json!({
            "receiver": "hook",
            "status": "firing",
            "alerts": [{
                "status": "firing",
                "labels": m1,
                "annotations": {
                    "summary": "etcd cluster members are down.",
                    "description": "member m1 is down",
                },
                "startsAt": "2023-11-14T22:13:20.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://monitor:8080/clusters/prod",
                "fingerprint": etcd_monitor::notify::fingerprint(&m1),
            }],
            "groupLabels": {"alertname": "etcdMembersDown", "cluster": "prod"},
            "commonLabels": m1,
            "commonAnnotations": {
                "summary": "etcd cluster members are down.",
                "description": "member m1 is down",
            },
            "externalURL": "http://monitor:8080",
            "version": "4",
            "groupKey": GROUP_KEY,
            "truncatedAlerts": 1,
        })
    );
    // And it reads back as the same payload.
    let back: Notification = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(back.alerts[0], notification.alerts[0]);
}

#[tokio::test]
async fn slack_body_is_an_incoming_webhook_message() {
    let sink = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = secret_file(dir.path(), "slack-url", &sink.url);
    let slack = receiver(&format!(
        "name = \"chat\"\ntype = \"slack\"\nurl_file = \"{}\"\nchannel = \"#etcd\"",
        url_file.display()
    ));
    let mut m1 = members_down("m1", "critical", None);
    // Slack's mrkdwn needs &, < and > escaped.
    m1.annotations.insert(
        "description".into(),
        "1 of 3 members <down> & no leader change".into(),
    );
    let notification = group(vec![m1, members_down("m2", "critical", Some(at(ENDS)))]);
    deliver(&slack, &notification, fast_retries())
        .await
        .unwrap();

    let requests = sink.take();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].headers["content-type"], "application/json");
    assert_eq!(requests[0].headers["user-agent"], USER_AGENT);
    // The documented incoming-webhook body: `text` as the notification fallback and
    // Block Kit blocks (header, sections, context); `channel` for legacy webhooks.
    assert_eq!(
        requests[0].json(),
        json!({
            "text": "[FIRING:1] etcdMembersDown cluster=prod",
            "channel": "#etcd",
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": "[FIRING:1] etcdMembersDown cluster=prod"},
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "*Firing:* etcdMembersDown cluster=prod member=m1 severity=critical\n\
                                 etcd cluster members are down.\n\
                                 1 of 3 members &lt;down&gt; &amp; no leader change\n\
                                 Started 2023-11-14T22:13:20Z · <http://monitor:8080/clusters/prod|source>",
                    },
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "*Resolved:* etcdMembersDown cluster=prod member=m2 severity=critical\n\
                                 etcd cluster members are down.\n\
                                 member m2 is down\n\
                                 Started 2023-11-14T22:13:20Z, ended 2023-11-14T22:23:20Z · <http://monitor:8080/clusters/prod|source>",
                    },
                },
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": "<http://monitor:8080|Open etcd-monitor>"}],
                },
            ],
        })
    );
}

#[tokio::test]
async fn slack_errors_do_not_show_the_webhook_url() {
    // The URL is the credential: neither a refused connection nor an error status may
    // print it.
    let dir = tempfile::tempdir().unwrap();
    let refused = format!("http://127.0.0.1:{}/services/T0/B0/sEcReT", unused_port());
    let sink = HttpSink::start(vec![], Reply::Status(404, "no_service")).await;
    let answering = format!("{}/services/T0/B0/sEcReT", sink.url);
    for url in [refused, answering] {
        let url_file = secret_file(dir.path(), "slack-url", &url);
        let slack = receiver(&format!(
            "name = \"chat\"\ntype = \"slack\"\nurl_file = \"{}\"",
            url_file.display()
        ));
        let policy = RetryPolicy {
            max_attempts: Some(2),
            ..fast_retries()
        };
        let e = deliver(&slack, &two_firing(), policy).await.unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.starts_with("gave up after"), "{text}");
        assert!(!text.contains("sEcReT"), "{text}");
    }
    assert_eq!(sink.count(), 1);
}

fn pagerduty(url: &str, dir: &Path) -> Receiver {
    let key = secret_file(dir, "pd-key", "R0UT1NGKEY0123456789abcdef012345");
    receiver(&format!(
        "name = \"pager\"\ntype = \"pagerduty\"\nurl = \"{url}\"\nrouting_key_file = \"{}\"",
        key.display()
    ))
}

#[tokio::test]
async fn pagerduty_trigger_then_resolve_with_one_dedup_key() {
    // PagerDuty answers 202 Accepted.
    let sink = HttpSink::start(vec![], Reply::Status(202, "{\"status\":\"success\"}")).await;
    let dir = tempfile::tempdir().unwrap();
    let pager = pagerduty(&sink.url, dir.path());

    let firing = group(vec![
        members_down("m1", "critical", None),
        members_down("m2", "warning", None),
    ]);
    deliver(&pager, &firing, fast_retries()).await.unwrap();
    let resolved = group(vec![
        members_down("m1", "critical", Some(at(ENDS))),
        members_down("m2", "warning", Some(at(ENDS))),
    ]);
    deliver(&pager, &resolved, fast_retries()).await.unwrap();

    let requests = sink.take();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["user-agent"], USER_AGENT);
    }
    let alert_text = |member: &str, severity: &str| {
        format!(
            "etcdMembersDown cluster=prod member={member} severity={severity}\n\
             Summary: etcd cluster members are down.\n\
             Description: member {member} is down\n\
             Labels:\n - alertname = etcdMembersDown\n - cluster = prod\n - member = {member}\n - severity = {severity}\n\
             Started: 2023-11-14T22:13:20Z\n\
             Source: http://monitor:8080/clusters/prod\n"
        )
    };
    // Events API v2 "Send an Alert Event": routing_key, event_action, dedup_key and the
    // payload's summary, source, severity (the worst of the alerts), timestamp,
    // component, group, class and custom_details.
    assert_eq!(
        requests[0].json(),
        json!({
            "routing_key": "R0UT1NGKEY0123456789abcdef012345",
            "event_action": "trigger",
            "dedup_key": GROUP_KEY_SHA256,
            "payload": {
                "summary": "[FIRING:2] etcdMembersDown cluster=prod",
                "source": "prod",
                "severity": "critical",
                "timestamp": "2023-11-14T22:13:20.000Z",
                "component": "etcd",
                "group": "prod",
                "class": "etcdMembersDown",
                "custom_details": {
                    "firing": format!("1. {}\n2. {}", alert_text("m1", "critical"), alert_text("m2", "warning")),
                    "resolved": "",
                    "num_firing": 2,
                    "num_resolved": 0,
                },
            },
            "client": "etcd-monitor",
            "client_url": "http://monitor:8080",
        })
    );
    // The documented resolve: the same routing and dedup keys, nothing else.
    assert_eq!(
        requests[1].json(),
        json!({
            "routing_key": "R0UT1NGKEY0123456789abcdef012345",
            "dedup_key": GROUP_KEY_SHA256,
            "event_action": "resolve",
        })
    );
}

#[tokio::test]
async fn pagerduty_severity_follows_the_mapping() {
    let sink = HttpSink::start(vec![], Reply::Status(202, "")).await;
    let dir = tempfile::tempdir().unwrap();
    let key = secret_file(dir.path(), "pd-key", "k");
    let pager = receiver(&format!(
        "name = \"pager\"\ntype = \"pagerduty\"\nurl = \"{}\"\nrouting_key_file = \"{}\"\n\
         default_severity = \"info\"\nseverities = {{ page = \"critical\", ticket = \"warning\" }}",
        sink.url,
        key.display()
    ));
    for (severity, expected) in [
        ("ticket", "warning"),
        ("page", "critical"),
        ("other", "info"),
    ] {
        let n = group(vec![members_down("m1", severity, None)]);
        deliver(&pager, &n, fast_retries()).await.unwrap();
        let body = sink.take().pop().unwrap().json();
        assert_eq!(body["payload"]["severity"], expected, "label {severity}");
        // All alerts share one member here, so it is the source.
        assert_eq!(body["payload"]["source"], "m1");
    }
}

// ---------------------------------------------------------------------------------
// Retries, deadlines, errors.

#[tokio::test]
async fn retries_5xx_and_429_then_delivers_exactly_once() {
    let sink = HttpSink::start(
        vec![
            Reply::Status(503, "down for maintenance"),
            Reply::Status(429, "slow down"),
        ],
        Reply::Status(200, "ok"),
    )
    .await;
    let hook = webhook(&sink.url, "");
    let delivery = deliver(&hook, &two_firing(), fast_retries()).await.unwrap();
    let Delivery::Sent { attempts, elapsed } = delivery else {
        panic!("{delivery:?}")
    };
    assert_eq!(attempts, 3);
    assert_eq!(sink.count(), 3);
    assert_eq!(sink.accepted(), 1);
    // Two waits: 25..50 ms, then 50..100 ms.
    assert!(elapsed >= Duration::from_millis(75), "{elapsed:?}");
    // Every attempt carried the same body.
    let bodies: Vec<Value> = sink.take().iter().map(Request::json).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn receiver_down_for_a_while_gets_one_delivery() {
    // The first connections are dropped without an answer (a receiver restarting
    // behind a proxy), then it works.
    let sink = HttpSink::start(vec![Reply::Close, Reply::Close], Reply::Status(200, "ok")).await;
    let hook = webhook(&sink.url, "");
    let delivery = deliver(&hook, &two_firing(), fast_retries()).await.unwrap();
    assert!(
        matches!(delivery, Delivery::Sent { attempts: 3, .. }),
        "{delivery:?}"
    );
    assert_eq!(sink.accepted(), 1);
}

#[tokio::test]
async fn refused_connections_are_retried_until_the_deadline() {
    let port = unused_port();
    let hook = webhook(&format!("http://127.0.0.1:{port}/hook"), "");
    let policy = RetryPolicy {
        deadline: Duration::from_millis(600),
        ..fast_retries()
    };
    let start = Instant::now();
    let (attempts, _, last) = gave_up(deliver(&hook, &two_firing(), policy).await);
    assert!(attempts >= 3, "{attempts} attempts");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(last, NotifyError::Transport { .. }), "{last:?}");
    let message = last.to_string();
    assert!(message.starts_with("receiver hook: "), "{message}");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let sink = HttpSink::start(
        vec![],
        Reply::Status(
            400,
            "invalid_payload: the body of this answer goes on for quite a while, more than \
             the two hundred bytes that an error message quotes, so that the test can see \
             it cut; it goes on and on and on and on and on and on and on and on. END",
        ),
    )
    .await;
    let hook = webhook(&sink.url, "");
    let (attempts, _, last) = gave_up(deliver(&hook, &two_firing(), fast_retries()).await);
    assert_eq!(attempts, 1);
    assert_eq!(sink.count(), 1);
    let NotifyError::Status {
        receiver,
        status,
        body,
    } = &last
    else {
        panic!("{last:?}")
    };
    assert_eq!(receiver, "hook");
    assert_eq!(*status, 400);
    assert!(body.starts_with("invalid_payload: the body"), "{body}");
    assert!(body.len() <= 200 && !body.contains("END"), "{body}");
    assert!(last
        .to_string()
        .starts_with("receiver hook: HTTP 400: invalid_payload"));
}

#[tokio::test]
async fn failed_tls_handshake_is_not_retried() {
    // https:// to a server that answers in plain HTTP, as one on the wrong port does:
    // the handshake fails the same way every time.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let server = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let hook = webhook(&url, "");
    let (attempts, _, last) = gave_up(deliver(&hook, &two_firing(), fast_retries()).await);
    server.abort();
    assert_eq!(attempts, 1, "{last}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert!(
        matches!(
            last,
            NotifyError::Transport {
                transient: false,
                ..
            }
        ),
        "{last:?}"
    );
}

#[tokio::test]
async fn hung_receiver_times_out_per_attempt() {
    let sink = HttpSink::start(vec![], Reply::Hang).await;
    let hook = receiver(&format!(
        "name = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\ntimeout = \"300ms\"",
        sink.url
    ));
    let policy = RetryPolicy {
        deadline: Duration::from_secs(1),
        ..fast_retries()
    };
    let start = Instant::now();
    let (attempts, _, last) = gave_up(deliver(&hook, &two_firing(), policy).await);
    let elapsed = start.elapsed();
    assert!(matches!(last, NotifyError::Timeout { .. }), "{last:?}");
    assert!(attempts >= 2, "{attempts} attempts");
    assert_eq!(sink.count() as u32, attempts);
    // The deadline (1 s) bounds the whole; an attempt never outlives it.
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(sink.accepted(), 0);
}

#[tokio::test]
async fn a_hung_receiver_does_not_hold_up_another() {
    let hung = HttpSink::start(vec![], Reply::Hang).await;
    let good = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let slow = Arc::new(receiver(&format!(
        "name = \"slow\"\ntype = \"webhook\"\nurl = \"{}\"\ntimeout = \"60s\"",
        hung.url
    )));
    let fine = webhook(&good.url, "");
    let notification = two_firing();
    let stuck = tokio::spawn({
        let notification = notification.clone();
        async move { deliver(&slow, &notification, fast_retries()).await }
    });
    wait_for(
        "the hung receiver to get its request",
        Duration::from_secs(10),
        || (hung.count() == 1).then_some(()),
    )
    .await;
    let start = Instant::now();
    deliver(&fine, &notification, fast_retries()).await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(good.accepted(), 1);
    assert!(!stuck.is_finished());
    stuck.abort();
}

#[tokio::test]
async fn send_resolved_false_skips_resolved_notifications() {
    let sink = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let hook = webhook(&sink.url, "send_resolved = false");
    let resolved = group(vec![members_down("m1", "critical", Some(at(ENDS)))]);
    assert_eq!(
        deliver(&hook, &resolved, fast_retries()).await.unwrap(),
        Delivery::Skipped
    );
    assert_eq!(sink.count(), 0);
    // A group with both: only the firing alert goes out.
    let mixed = group(vec![
        members_down("m1", "critical", None),
        members_down("m2", "critical", Some(at(ENDS))),
    ]);
    deliver(&hook, &mixed, fast_retries()).await.unwrap();
    let body = sink.take().pop().unwrap().json();
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(body["alerts"][0]["labels"]["member"], "m1");
    assert_eq!(body["status"], "firing");
}

#[tokio::test]
async fn send_test_sends_one_test_alert() {
    let sink = HttpSink::start(vec![], Reply::Status(200, "ok")).await;
    let hook = webhook(&sink.url, "");
    let delivery = send_test(&hook).await.unwrap();
    assert!(matches!(delivery, Delivery::Sent { attempts: 1, .. }));
    let body = sink.take().pop().unwrap().json();
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "EtcdMonitorTest");

    // And only once: a failing receiver is reported, not retried.
    let failing = HttpSink::start(vec![], Reply::Status(503, "")).await;
    let (attempts, _, _) = gave_up(send_test(&webhook(&failing.url, "")).await);
    assert_eq!(attempts, 1);
}

// ---------------------------------------------------------------------------------
// Email against aiosmtpd.

const SMTP_SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_sink.py");

/// aiosmtpd (Debian's python3-aiosmtpd, under Debian's python3) on a free port.
struct SmtpSink {
    port: u16,
    dir: tempfile::TempDir,
    _server: tokio::process::Child,
}

impl SmtpSink {
    async fn start(args: &[&str]) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        // aiosmtpd's warnings and tracebacks (a client that rejects the certificate
        // makes one) go to a file, shown if the server does not start.
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut server = tokio::process::Command::new("/usr/bin/python3")
            .arg(SMTP_SINK)
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("/usr/bin/python3 runs");
        let stdout = server.stdout.take().unwrap();
        let line = tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).lines().next_line(),
        )
        .await
        .expect("aiosmtpd prints its port within 30s");
        let Some(port) = line.ok().flatten().and_then(|l| l.trim().parse().ok()) else {
            panic!(
                "aiosmtpd did not start (is python3-aiosmtpd installed? scripts/test installs it):\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        };
        SmtpSink {
            port,
            dir,
            _server: server,
        }
    }

    /// The messages received so far, in order.
    fn messages(&self) -> Vec<Value> {
        let mut paths: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    async fn wait_messages(&self, n: usize) -> Vec<Value> {
        wait_for(
            "messages at the SMTP server",
            Duration::from_secs(10),
            || {
                let messages = self.messages();
                (messages.len() >= n).then_some(messages)
            },
        )
        .await
    }
}

fn email(port: u16, extra: &str) -> Receiver {
    receiver(&format!(
        "name = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\n\
         from = \"etcd-monitor <alerts@example.com>\"\nto = [\"oncall@example.com\", \"dba@example.com\"]\n\
         timeout = \"5s\"\n{extra}"
    ))
}

/// A received message's body with the line breaks SMTP turned into CRLF made LF again
/// and the final one (added by the end-of-data marker) dropped.
fn body_text(message: &Value) -> String {
    let body = message["body"].as_str().expect("a text/plain body");
    body.replace("\r\n", "\n").trim_end().to_string()
}

/// The plain-text body for [`two_firing`].
const TWO_FIRING_BODY: &str = "\
2 alerts for alertname=etcdMembersDown cluster=prod

[2] Firing

1. etcdMembersDown cluster=prod member=m1 severity=critical
Summary: etcd cluster members are down.
Description: member m1 is down
Labels:
 - alertname = etcdMembersDown
 - cluster = prod
 - member = m1
 - severity = critical
Started: 2023-11-14T22:13:20Z
Source: http://monitor:8080/clusters/prod

2. etcdMembersDown cluster=prod member=m2 severity=critical
Summary: etcd cluster members are down.
Description: member m2 is down
Labels:
 - alertname = etcdMembersDown
 - cluster = prod
 - member = m2
 - severity = critical
Started: 2023-11-14T22:13:20Z
Source: http://monitor:8080/clusters/prod

Dashboard: http://monitor:8080
";

#[tokio::test]
async fn email_reaches_an_smtp_server() {
    let sink = SmtpSink::start(&[]).await;
    let mail = email(sink.port, "tls = \"none\"");
    let delivery = deliver(&mail, &two_firing(), fast_retries()).await.unwrap();
    assert!(
        matches!(delivery, Delivery::Sent { attempts: 1, .. }),
        "{delivery:?}"
    );
    let messages = sink.wait_messages(1).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m["subject"], "[FIRING:2] etcdMembersDown cluster=prod");
    assert_eq!(m["mail_from"], "alerts@example.com");
    assert_eq!(
        m["rcpt_tos"],
        json!(["oncall@example.com", "dba@example.com"])
    );
    assert_eq!(m["from"], "etcd-monitor <alerts@example.com>");
    assert_eq!(m["to"], "oncall@example.com, dba@example.com");
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(m["user_agent"], USER_AGENT);
    assert_eq!(m["tls"], false);
    assert_eq!(body_text(m), TWO_FIRING_BODY.trim_end());

    // The resolve of the same group.
    let resolved = group(vec![members_down("m1", "critical", Some(at(ENDS)))]);
    deliver(&mail, &resolved, fast_retries()).await.unwrap();
    let messages = sink.wait_messages(2).await;
    assert_eq!(
        messages[1]["subject"],
        "[RESOLVED] etcdMembersDown cluster=prod"
    );
    let body = messages[1]["body"].as_str().unwrap();
    assert!(body.contains("[1] Resolved"), "{body}");
    assert!(body.contains("Ended: 2023-11-14T22:23:20Z"), "{body}");
}

#[tokio::test]
async fn email_logs_in_without_tls() {
    let sink = SmtpSink::start(&["--auth", "alerts", "pa55-w0rd"]).await;
    let dir = tempfile::tempdir().unwrap();
    let password = secret_file(dir.path(), "smtp-password", "pa55-w0rd");
    let mail = email(
        sink.port,
        &format!(
            "tls = \"none\"\nusername = \"alerts\"\npassword_file = \"{}\"",
            password.display()
        ),
    );
    deliver(&mail, &two_firing(), fast_retries()).await.unwrap();
    let messages = sink.wait_messages(1).await;
    assert_eq!(messages[0]["login"], "alerts");

    // A wrong password is refused (535) and not retried.
    let wrong = secret_file(dir.path(), "wrong-password", "nope");
    let mail = email(
        sink.port,
        &format!(
            "tls = \"none\"\nusername = \"alerts\"\npassword_file = \"{}\"",
            wrong.display()
        ),
    );
    let (attempts, _, last) = gave_up(deliver(&mail, &two_firing(), fast_retries()).await);
    assert_eq!(attempts, 1, "{last:?}");
    let message = last.to_string();
    assert!(message.starts_with("receiver mail: SMTP: "), "{message}");
    assert!(!message.contains("nope"), "{message}");
    assert_eq!(sink.messages().len(), 1);
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

#[path = "support/certs.rs"]
mod certs;
use certs::make_certs;

#[tokio::test]
async fn email_over_starttls_with_auth() {
    let certs = tempfile::tempdir().unwrap();
    let tls = make_certs(certs.path());
    let (ca, cert, key) = (
        &tls.ca_file,
        path_str(&tls.cert_file),
        path_str(&tls.key_file),
    );
    let sink = SmtpSink::start(&["--starttls", cert, key, "--auth", "alerts", "s3cret"]).await;
    let password = secret_file(certs.path(), "smtp-password", "s3cret");
    let auth = format!(
        "username = \"alerts\"\npassword_file = \"{}\"",
        password.display()
    );
    let mail = email(
        sink.port,
        &format!("tls = \"starttls\"\nca_file = \"{}\"\n{auth}", ca.display()),
    );
    deliver(&mail, &two_firing(), fast_retries()).await.unwrap();
    let messages = sink.wait_messages(1).await;
    assert_eq!(messages[0]["tls"], true);
    assert_eq!(messages[0]["login"], "alerts");
    assert_eq!(
        messages[0]["subject"],
        "[FIRING:2] etcdMembersDown cluster=prod"
    );

    // Without the CA the certificate is not trusted: no message, and no retry.
    let untrusted = email(sink.port, &format!("tls = \"starttls\"\n{auth}"));
    let (attempts, _, last) = gave_up(deliver(&untrusted, &two_firing(), fast_retries()).await);
    assert_eq!(attempts, 1, "{last}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn email_over_implicit_tls() {
    let certs = tempfile::tempdir().unwrap();
    let tls = make_certs(certs.path());
    let (ca, cert, key) = (
        &tls.ca_file,
        path_str(&tls.cert_file),
        path_str(&tls.key_file),
    );
    let sink = SmtpSink::start(&["--tls", cert, key]).await;
    let mail = email(
        sink.port,
        &format!("tls = \"tls\"\nca_file = \"{}\"", ca.display()),
    );
    deliver(&mail, &two_firing(), fast_retries()).await.unwrap();
    let messages = sink.wait_messages(1).await;
    assert_eq!(messages[0]["tls"], true);
    assert_eq!(body_text(&messages[0]), TWO_FIRING_BODY.trim_end());
}

#[tokio::test]
async fn email_refused_connection_is_retried() {
    // Nothing listens: the connection is refused, which is worth retrying.
    let port = unused_port();
    let mail = email(port, "tls = \"none\"");
    let policy = RetryPolicy {
        deadline: Duration::from_millis(400),
        ..fast_retries()
    };
    let (attempts, _, last) = gave_up(deliver(&mail, &two_firing(), policy).await);
    assert!(attempts >= 2, "{attempts}: {last}");
    assert!(last.is_retryable(), "{last:?}");
}
