//! Clusters changed at run time against a real etcd: added through the API
//! (probed within one interval, registered so that they survive a restart),
//! refused where they clash, tested before saving, removed keeping or deleting
//! their history; and the config file's clusters applied on SIGHUP by the real
//! binary, without a restart.

use std::time::{Duration, Instant};

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use etcd_monitor::store::{Aggregate, HistoryQuery};
use serde_json::{json, Value};

use crate::harness::*;
use crate::process::{signal, sigterm, wait_exit, BIN};

const INTERVAL: Duration = Duration::from_secs(1);

async fn send(
    monitor: &Monitor,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = monitor
        .http
        .request(method.clone(), format!("{}{path}", monitor.base));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The start of a test's window for [`stored_points`]: a minute before now, on a
/// whole second. Each test takes one and keeps it, so that bucket times (which
/// follow the window's start) compare across its reads.
fn window_start() -> i64 {
    etcd_monitor::unix_ms_now() / 1000 * 1000 - 60_000
}

/// The times of `cluster`'s stored `etcd_server_has_leader` samples, straight
/// from the store, over the hour from `from`.
fn stored_points(store: &etcd_monitor::store::Store, cluster: &str, from: i64) -> Vec<i64> {
    let now = etcd_monitor::unix_ms_now();
    let q = HistoryQuery {
        cluster: cluster.into(),
        metric: "etcd_server_has_leader".into(),
        member: None,
        from_ms: from,
        to_ms: from + 3_600_000,
        step_ms: 1000,
        aggregate: Aggregate::Last,
    };
    etcd_monitor::store::query::history(store, &q, now)
        .unwrap()
        .into_iter()
        .flat_map(|s| s.points.into_iter().map(|(t, _)| t))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_added_through_the_api_are_probed_kept_and_removed_as_chosen() {
    let from = window_start();
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let data = tempfile::tempdir().unwrap();
    let settings = || {
        let mut s = test_settings(vec![ClusterConfig::plain("base", urls.clone())], INTERVAL);
        s.store.data_dir = data.path().to_path_buf();
        s
    };
    let monitor = Monitor::start(settings()).await;
    monitor
        .wait_status("base", "healthy", Duration::from_secs(20))
        .await;

    // Tested first: a good address and a refused one.
    let added = json!({"name": "added", "endpoints": urls, "tags": ["api"]});
    let (status, test) = send(
        &monitor,
        reqwest::Method::POST,
        "/api/v1/connection-test",
        Some(added.clone()),
    )
    .await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(
        (test["ok"].as_bool(), test["status"].as_str()),
        (Some(true), Some("healthy")),
        "{test}"
    );
    assert_eq!(test["members"], 1, "{test}");
    assert!(test["leader"].is_string(), "{test}");
    let dead = format!(
        "http://127.0.0.1:{}",
        etcd_monitor::localetcd::free_port().unwrap()
    );
    let (status, test) = send(
        &monitor,
        reqwest::Method::POST,
        "/api/v1/connection-test",
        Some(json!({"name": "nowhere", "endpoints": [dead]})),
    )
    .await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["ok"], false, "{test}");
    assert!(!test["problems"].as_array().unwrap().is_empty(), "{test}");
    assert_eq!(
        monitor.get("/api/v1/clusters").await.1["clusters"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "a test monitors nothing"
    );

    // Added: probed within one interval.
    let posted = Instant::now();
    let posted_ms = etcd_monitor::unix_ms_now();
    let (status, body) = send(
        &monitor,
        reqwest::Method::POST,
        "/api/v1/clusters",
        Some(added.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source"], "registry");
    let snap = monitor.wait_status("added", "healthy", INTERVAL * 3).await;
    let probed = chrono_ms(snap["probed_at"].as_str().unwrap());
    assert!(
        probed - posted_ms <= INTERVAL.as_millis() as i64,
        "first probe {} ms after the POST",
        probed - posted_ms
    );
    eprintln!("added, healthy after {:?}", posted.elapsed());
    assert_eq!(snap["tags"], json!(["api"]));
    let (_, s) = monitor.get("/api/v1/clusters/added/settings").await;
    assert_eq!(s["source"], "registry", "{s}");
    let (_, s) = monitor.get("/api/v1/clusters/base/settings").await;
    assert_eq!(s["source"], "config", "{s}");

    // Clashes and bad settings, each named.
    for (body, want, says) in [
        (added.clone(), 409, "monitored already"),
        (
            json!({"name": "base", "endpoints": ["http://127.0.0.1:1"]}),
            409,
            "monitored already",
        ),
        (
            json!({"name": "bad", "endpoints": ["ftp://x"]}),
            400,
            "cluster.endpoints[0]",
        ),
        (
            json!({"name": "bad name", "endpoints": ["http://127.0.0.1:1"]}),
            400,
            "cluster.name",
        ),
        (
            json!({"name": "x", "endpoints": ["http://127.0.0.1:1"], "auth": {"user": "u", "password_file": "/no/such/file"}}),
            400,
            "password_file",
        ),
        (
            json!({"name": "x", "endpoints": ["http://127.0.0.1:1"], "password": "inline"}),
            400,
            "password",
        ),
    ] {
        let (status, answer) = send(
            &monitor,
            reqwest::Method::POST,
            "/api/v1/clusters",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, want, "{body} → {answer}");
        assert!(answer.to_string().contains(says), "{says:?} in {answer}");
    }
    let (status, answer) = send(
        &monitor,
        reqwest::Method::DELETE,
        "/api/v1/clusters/base",
        None,
    )
    .await;
    assert_eq!(
        status, 409,
        "the config's cluster is changed in the file: {answer}"
    );
    let (status, answer) = send(
        &monitor,
        reqwest::Method::DELETE,
        "/api/v1/clusters/added?history=maybe",
        None,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    // Edited: the tags change, the cluster goes on.
    let (status, answer) = send(
        &monitor,
        reqwest::Method::PUT,
        "/api/v1/clusters/added",
        Some(json!({"name": "added", "endpoints": urls, "tags": ["api", "edited"]})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    monitor
        .wait_status("added", "healthy", Duration::from_secs(10))
        .await;
    assert_eq!(
        monitor.cluster("added").await["tags"],
        json!(["api", "edited"])
    );
    // Audited.
    let (_, audit) = monitor.get("/api/v1/audit?limit=50").await;
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for want in [
        "cluster add",
        "cluster change",
        "cluster test",
        "cluster remove",
    ] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    wait_for(
        "stored samples of the added cluster",
        Duration::from_secs(10),
        || async {
            let n = stored_points(&monitor.store, "added", from).len();
            if n >= 2 {
                Ok(())
            } else {
                Err(format!("{n} points"))
            }
        },
    )
    .await;

    // A restart: the registered cluster is monitored again, with its history.
    monitor.stop().await;
    let monitor = Monitor::start(settings()).await;
    let before_restart = stored_points(&monitor.store, "added", from).len();
    assert!(before_restart >= 2, "{before_restart}");
    let snap = monitor
        .wait_status("added", "healthy", Duration::from_secs(20))
        .await;
    assert_eq!(snap["tags"], json!(["api", "edited"]));
    assert_eq!(monitor.cluster("base").await["name"], "base");

    // Removed keeping its history: probes stop, the points stay.
    let (status, answer) = send(
        &monitor,
        reqwest::Method::DELETE,
        "/api/v1/clusters/added",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (
            answer["history"].as_str(),
            answer["deleted_series"].as_u64()
        ),
        (Some("keep"), Some(0)),
        "{answer}"
    );
    let (status, _) = monitor.get("/api/v1/clusters/added").await;
    assert_eq!(status, 404);
    let kept = stored_points(&monitor.store, "added", from);
    let base_before = stored_points(&monitor.store, "base", from).len();
    tokio::time::sleep(INTERVAL * 4).await;
    assert_eq!(
        stored_points(&monitor.store, "added", from),
        kept,
        "no probe after the removal"
    );
    let base_after = stored_points(&monitor.store, "base", from).len();
    assert!(
        base_after >= base_before + 2,
        "the cluster still monitored gained points meanwhile: {base_before} → {base_after}"
    );
    assert!(kept.len() >= before_restart);

    // Added again and removed deleting its history: every point gone, for good.
    let (status, body) = send(
        &monitor,
        reqwest::Method::POST,
        "/api/v1/clusters",
        Some(added),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    monitor
        .wait_status("added", "healthy", Duration::from_secs(10))
        .await;
    let (status, answer) = send(
        &monitor,
        reqwest::Method::DELETE,
        "/api/v1/clusters/added?history=delete",
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["deleted_series"].as_u64().unwrap() > 10, "{answer}");
    assert!(stored_points(&monitor.store, "added", from).is_empty());
    assert!(
        !stored_points(&monitor.store, "base", from).is_empty(),
        "the other cluster's history stays"
    );
    monitor.stop().await;
    let monitor = Monitor::start(settings()).await;
    monitor
        .wait_status("base", "healthy", Duration::from_secs(20))
        .await;
    assert!(
        stored_points(&monitor.store, "added", from).is_empty(),
        "still gone after a restart"
    );
    let (status, _) = monitor.get("/api/v1/clusters/added").await;
    assert_eq!(status, 404, "not registered any more");
    monitor.stop().await;
}

/// RFC 3339 with milliseconds, as snapshots give times, to unix ms.
fn chrono_ms(text: &str) -> i64 {
    let t = humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_applies_the_files_clusters_without_a_restart() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let url = cluster.client_urls()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("etcd-monitor.toml");
    let port = etcd_monitor::localetcd::free_port().unwrap();
    let config = |clusters: &[&str]| {
        let mut text = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[collect]\ninterval = \"1s\"\n[store]\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        );
        for name in clusters {
            text.push_str(&format!(
                "[[clusters]]\nname = \"{name}\"\nendpoints = [\"{url}\"]\n"
            ));
        }
        text
    };
    std::fs::write(&file, config(&["one", "two"])).unwrap();
    let mut serve = std::process::Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&file)
        .env_remove("ETCD_MONITOR_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let names = || async {
        let v = get_json(&http, &format!("{base}/api/v1/clusters")).await?;
        let mut n: Vec<String> = v["clusters"]
            .as_array()
            .ok_or("no clusters")?
            .iter()
            .filter(|c| c["status"] == "healthy")
            .map(|c| c["name"].as_str().unwrap_or("").to_string())
            .collect();
        n.sort();
        Ok::<_, String>(n)
    };
    let wait_names = |want: Vec<&'static str>| {
        let names = &names;
        async move {
            wait_for(
                &format!("healthy clusters {want:?}"),
                Duration::from_secs(20),
                || async {
                    let n = names().await?;
                    if n == want {
                        Ok(())
                    } else {
                        Err(format!("{n:?}"))
                    }
                },
            )
            .await
        }
    };
    wait_names(vec!["one", "two"]).await;

    // One goes, three comes, two stays: applied without a restart.
    std::fs::write(&file, config(&["two", "three"])).unwrap();
    signal(&serve, libc::SIGHUP);
    wait_names(vec!["three", "two"]).await;
    // A broken file changes nothing, and the monitor goes on.
    std::fs::write(&file, "[[clusters]]\nname = \"bad name\"\n").unwrap();
    signal(&serve, libc::SIGHUP);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(names().await.unwrap(), ["three", "two"]);
    assert!(serve.try_wait().unwrap().is_none(), "still running");
    sigterm(&serve);
    let status = wait_exit(&mut serve, "serve", Duration::from_secs(30)).await;
    let mut log = String::new();
    use std::io::Read;
    serve
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("config reloaded"), "{log}");
    assert!(
        log.contains("config not reloaded, nothing changed"),
        "{log}"
    );
}

/// The admin page in chromium: a cluster tested, added and removed through the
/// form; the config's cluster shown as such, without a remove button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_are_tested_added_and_removed_from_the_admin_page() {
    let from = window_start();
    use crate::pages::{assert_clean, js, Shots};
    let (cluster, browser) = tokio::join!(
        start_cluster(1, LocalClusterOptions::default()),
        crate::browser::Browser::shared()
    );
    let urls = cluster.client_urls();
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("base", urls.clone())],
        INTERVAL,
    ))
    .await;
    monitor
        .wait_status("base", "healthy", Duration::from_secs(20))
        .await;
    let page = browser.new_page().await;
    page.set_viewport(1280, 900, false).await;
    let mut shots = Shots::default();
    page.goto(&format!("{}/admin/clusters", monitor.base)).await;
    page.wait_until(
        "the config's cluster listed, without a remove button",
        r#"(() => { const r = document.querySelector('tr[data-cluster="base"]');
                   return r && r.dataset.source === 'config' && !r.querySelector('button'); })()"#,
        Duration::from_secs(10),
    )
    .await;
    let fill = format!(
        r#"(() => {{ const f = document.querySelector('form.cluster-form');
              f.name.value = 'from-page'; f.endpoints.value = {}; f.tags.value = 'web, added';
              return true; }})()"#,
        js(&urls.join(", "))
    );
    page.eval(&fill).await;
    page.eval("document.querySelector('button[formaction=\"/admin/clusters/test\"]').click()")
        .await;
    page.wait_until(
        "the connection test's findings",
        "(() => { const t = document.getElementById('test-result'); return t && t.textContent.includes('Reached') && t.textContent.includes('healthy'); })()",
        Duration::from_secs(15),
    )
    .await;
    // The form kept what was typed.
    let kept = page
        .eval("document.querySelector('form.cluster-form').name.value")
        .await;
    assert_eq!(kept, "from-page");
    shots.take(&page, "admin-clusters-tested").await;
    assert_eq!(
        monitor.get("/api/v1/clusters").await.1["clusters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    page.eval("document.querySelector('form.cluster-form').submit()")
        .await;
    page.wait_until(
        "the added cluster's page",
        "location.pathname === '/clusters/from-page'",
        Duration::from_secs(15),
    )
    .await;
    monitor
        .wait_status("from-page", "healthy", Duration::from_secs(10))
        .await;
    assert_eq!(
        monitor.cluster("from-page").await["tags"],
        json!(["web", "added"])
    );
    page.goto(&format!("{}/admin/clusters", monitor.base)).await;
    shots.take(&page, "admin-clusters").await;
    page.eval(
        r#"(() => { const r = document.querySelector('tr[data-cluster="from-page"]');
                   r.querySelector('select[name=history]').value = 'delete';
                   r.querySelector('form').submit(); })()"#,
    )
    .await;
    page.wait_until(
        "the removed cluster gone from the list",
        "location.pathname === '/admin/clusters' && document.querySelector('table.registry') && !document.querySelector('tr[data-cluster=\"from-page\"]')",
        Duration::from_secs(15),
    )
    .await;
    let (status, _) = monitor.get("/api/v1/clusters/from-page").await;
    assert_eq!(status, 404);
    assert!(
        stored_points(&monitor.store, "from-page", from).is_empty(),
        "its history deleted"
    );
    // A refused form says why and keeps what was typed.
    page.eval(
        r#"(() => { const f = document.querySelector('form.cluster-form');
              f.name.value = 'base'; f.endpoints.value = 'http://127.0.0.1:1'; f.submit(); })()"#,
    )
    .await;
    page.wait_until(
        "the clash explained",
        "(() => { const e = document.getElementById('form-error'); return e && e.textContent.includes('monitored already'); })()",
        Duration::from_secs(10),
    )
    .await;
    let url = format!("{}/admin/clusters", monitor.base);
    assert_clean(&page, &[url]);
    page.close().await;
    monitor.stop().await;
}

/// Two monitors share six clusters by `collect.shard`: each monitors its own,
/// none is monitored twice or left out, and a cluster of the other shard is
/// refused with where it belongs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_share_a_fleet_without_overlap() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let names: Vec<String> = (0..6).map(|i| format!("fleet-{i}")).collect();
    let mut seen: Vec<String> = Vec::new();
    for k in 1..=2 {
        let mut s = test_settings(
            names
                .iter()
                .map(|n| ClusterConfig::plain(n, urls.clone()))
                .collect(),
            INTERVAL,
        );
        s.collect.shard = Some(format!("{k}/2").try_into().unwrap());
        let monitor = Monitor::start(s).await;
        let (_, list) = monitor.get("/api/v1/clusters").await;
        let mine: Vec<String> = list["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        assert!(
            !mine.is_empty() && mine.len() < names.len(),
            "shard {k}/2: {mine:?}"
        );
        for m in &mine {
            assert_eq!(
                etcd_monitor::collect::shard::shard_of(m, 2),
                k,
                "{m} on shard {k}"
            );
            monitor
                .wait_status(m, "healthy", Duration::from_secs(20))
                .await;
        }
        // A name of the other shard is refused, saying whose it is.
        let other = (0..100)
            .map(|i| format!("new-{i}"))
            .find(|n| etcd_monitor::collect::shard::shard_of(n, 2) != k)
            .unwrap();
        let (status, answer) = send(
            &monitor,
            reqwest::Method::POST,
            "/api/v1/clusters",
            Some(json!({"name": other, "endpoints": urls})),
        )
        .await;
        assert_eq!(status, 409, "{answer}");
        let says = answer.to_string();
        assert!(says.contains(&format!("shard {}/2", 3 - k)), "{says}");
        seen.extend(mine);
        monitor.stop().await;
    }
    seen.sort();
    assert_eq!(seen, names, "every cluster on exactly one shard");
}
