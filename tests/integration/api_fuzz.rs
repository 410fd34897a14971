//! The API and pages fuzzed from the router's own list of routes (issue 13): every
//! route, with every path parameter and many query parameters set to edge values
//! (empty, huge, the edges of i64 and u64, negative, NaN, inf, unicode, invalid UTF-8
//! and invalid percent-escapes, repeated), and every state-changing route with
//! hostile bodies, against `etcd-monitor serve` monitoring a real cluster.
//!
//! Nothing may answer 5xx or take longer than its deadline, no panic may reach the
//! log, and the monitor must still stop on SIGTERM within 5 s at the end.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etcd_monitor::localetcd::{free_port, LocalClusterOptions};
use etcd_monitor::web::{routes, RouteInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;
use crate::process::{sigterm, try_wait_exit, BIN};

/// Each request must be answered within this.
const DEADLINE: Duration = Duration::from_secs(10);

/// Values as they go into a URL: already escaped, or deliberately badly escaped.
const EDGE_VALUES: &[&str] = &[
    "",
    "0",
    "-1",
    "1.5",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "NaN",
    "inf",
    "-inf",
    "now",
    "-1h",
    "-300000000years",
    "253402300800",
    "%00",
    "%FF%FE",
    "%C3%28",
    "%E2%82%AC%F0%9F%92%A9",
    "%",
    "%G1",
    "%2F..%2F..%2Fetc%2Fpasswd",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "a%20b%2Cc%7Bd%3D%22e%22%7D",
];

/// Every query parameter name a handler reads, and a few none does.
const PARAM_NAMES: &[&str] = &[
    "range",
    "from",
    "to",
    "step",
    "metric",
    "member",
    "agg",
    "tag",
    "cluster",
    "workload",
    "before",
    "limit",
    "prefix",
    "after",
    "key",
    "ids",
    "a",
    "b",
    "threshold",
    "event",
    "alertname",
    "filter",
    "hex",
    "source",
    "id",
    "unknown",
];

/// A path parameter's valid value (so the handler goes on to the query), or an edge.
fn path_values(name: &str) -> Vec<String> {
    let mut values: Vec<String> = match name {
        "name" => vec!["c".into()],
        "member" => vec!["m0".into()],
        "file" => vec!["app.css".into(), "..%2F..%2FCargo.toml".into()],
        _ => Vec::new(),
    };
    values.extend(
        [
            "x",
            "0",
            "-1",
            "18446744073709551616",
            "%FF",
            "%",
            "%E2%82%AC",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    values.push("a".repeat(5000));
    values
}

/// Every concrete path for `pattern`, one parameter varied at a time.
fn paths(pattern: &str) -> Vec<String> {
    let params: Vec<(&str, &str)> = pattern
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| (p, p.split(':').next().unwrap_or(p)))
        .collect();
    let fill = |chosen: &BTreeMap<&str, String>| {
        let mut path = pattern.to_string();
        for (raw, name) in &params {
            path = path.replace(&format!("{{{raw}}}"), &chosen[name]);
        }
        path
    };
    let valid: BTreeMap<&str, String> = params
        .iter()
        .map(|(_, n)| (*n, path_values(n)[0].clone()))
        .collect();
    let mut out = vec![fill(&valid)];
    for (_, name) in &params {
        for v in path_values(name).into_iter().skip(1) {
            let mut chosen = valid.clone();
            chosen.insert(name, v);
            out.push(fill(&chosen));
        }
    }
    out
}

/// JSON bodies for a state-changing route: broken documents, and each known field
/// with each edge value beside otherwise valid fields.
fn bodies() -> Vec<String> {
    let mut out: Vec<String> = [
        "",
        "{",
        "null",
        "[]",
        "\"x\"",
        "{}",
        "{\"matchers\":[]}",
        &"[".repeat(10_000),
        &format!("{{\"comment\":\"{}\"}}", "x".repeat(100_000)),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let edges = [
        "null",
        "true",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551616",
        "1e308",
        "\"\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"100000000000years\"",
        "\"-1h\"",
        "[]",
        "{}",
        "[\"alertname=~(\"]",
    ];
    let fields = [
        "matchers",
        "starts_at_ms",
        "ends_at_ms",
        "duration",
        "created_by",
        "comment",
        "by",
        "id",
        "started_unix_ms",
        "report",
    ];
    for field in fields {
        for edge in edges {
            out.push(format!(
                r#"{{"matchers":["alertname=etcdNoLeader"],"created_by":"fuzz","comment":"fuzz","by":"fuzz","duration":"1m","{field}":{edge}}}"#
            ));
        }
    }
    out
}

struct Answer {
    status: u16,
    took: Duration,
}

/// One request over a fresh connection, with a deadline; `Err` when the connection
/// was dropped without an answer or the deadline passed.
async fn send(port: u16, method: &str, target: &str, body: Option<&str>) -> Result<Answer, String> {
    let started = Instant::now();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        );
        if let Some(b) = body {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        if let Some(b) = body {
            // The server may answer (413) and close before reading a big body.
            let _ = stream.write_all(b.as_bytes()).await;
        }
        // The head first; then the body to its end, except for an event stream
        // (live updates), which never ends.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 8192];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
        if !String::from_utf8_lossy(&answer).contains("text/event-stream") {
            let _ = stream.read_to_end(&mut answer).await;
        }
        let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).to_string();
        head.strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| format!("no HTTP answer (connection dropped?): {head:?}"))
    };
    match tokio::time::timeout(DEADLINE, exchange).await {
        Ok(Ok(status)) => Ok(Answer {
            status,
            took: started.elapsed(),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {DEADLINE:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_survives_hostile_parameters_and_bodies() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let port = free_port().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--name", "c", "--interval", "1"])
        .arg(format!("--endpoints={}", cluster.client_urls().join(",")))
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path().join("store"))
        .env("ETCD_MONITOR_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    wait_for("serve answers", Duration::from_secs(20), || async {
        match send(port, "GET", "/api/v1/clusters/c", None).await {
            Ok(a) if a.status == 200 => Ok(()),
            Ok(a) => Err(format!("status {}", a.status)),
            Err(e) => Err(e),
        }
    })
    .await;
    // A few probes, so that history queries and charts have points to work on.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let routes = routes();
    let mut requests: Vec<(String, String, Option<String>)> = Vec::new();
    for RouteInfo { method, path, .. } in &routes {
        let method = method.as_str();
        let all = paths(path);
        for p in &all[1..] {
            requests.push((method.into(), p.clone(), None));
        }
        // Parameters and bodies go to the valid path, so that the handler reads them.
        for p in &all[..1] {
            requests.push((method.into(), p.clone(), None));
            if method == "GET" {
                for name in PARAM_NAMES {
                    for v in EDGE_VALUES {
                        requests.push((method.into(), format!("{p}?{name}={v}"), None));
                    }
                    // Repeated, and with a long value.
                    requests.push((method.into(), format!("{p}?{name}=1&{name}=2"), None));
                    requests.push((
                        method.into(),
                        format!("{p}?{name}={}", "9".repeat(4000)),
                        None,
                    ));
                }
            } else {
                for b in bodies() {
                    requests.push((method.into(), p.clone(), Some(b)));
                }
            }
        }
    }
    let started = Instant::now();
    let total = requests.len();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    // Four at a time: the monitor serves one connection per task on one thread.
    let mut queue = requests.into_iter();
    loop {
        let batch: Vec<_> = queue.by_ref().take(4).collect();
        if batch.is_empty() {
            break;
        }
        let answers =
            futures::future::join_all(batch.iter().map(|(m, p, b)| send(port, m, p, b.as_deref())))
                .await;
        for ((method, path, body), answer) in batch.iter().zip(answers) {
            let what = format!(
                "{method} {}{}",
                &path[..path.len().min(160)],
                body.as_ref()
                    .map(|b| format!(" body {}", &b[..b.len().min(120)]))
                    .unwrap_or_default()
            );
            match answer {
                Ok(a) => {
                    *statuses.entry(a.status).or_default() += 1;
                    if a.status >= 500 {
                        failures.push(format!("{what}: status {}", a.status));
                    }
                    if a.took > slowest.0 {
                        slowest = (a.took, what);
                    }
                }
                Err(e) => failures.push(format!("{what}: {e}")),
            }
        }
    }
    eprintln!(
        "api fuzz: {total} requests over {} routes in {:.1} s; statuses {statuses:?}; slowest {:?} ({})",
        routes.len(),
        started.elapsed().as_secs_f64(),
        slowest.0,
        slowest.1
    );

    sigterm(&child);
    let status = try_wait_exit(&mut child, Duration::from_secs(5)).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    assert!(!log.contains("panicked"), "a panic reached the log:\n{log}");
    let status = status.unwrap_or_else(|| panic!("serve did not stop within 5 s of SIGTERM"));
    assert!(status.success(), "serve exits 0 on SIGTERM, got {status}");
}
