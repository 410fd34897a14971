//! The HTML dashboard, end to end: headless chromium against a monitor watching real
//! etcd clusters (live updates after a member is killed, screenshots of every page,
//! no CSP violation or script error), error pages over plain HTTP, and escaping of
//! hostile cluster names, tags, series names and member labels.
//!
//! One 3-member cluster for the module; the test that kills a member has its own,
//! and so has the test of the error pages (which name the one member).
//! Screenshots: see [`crate::pages`].

use std::time::{Duration, Instant};

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use etcd_monitor::store::MemberSamples;
use serde_json::Value;

use crate::browser::{Browser, Page};
use crate::harness::*;
use crate::pages::{assert_clean, assert_escaped, expect_page, fetch, js, urlencode, Shots};

static CLUSTER: SharedCluster = SharedCluster::new(3, LocalClusterOptions::default);

const INTERVAL: Duration = Duration::from_secs(1);
/// What a page may take to show a change: a probe, its deadline, the event, the fetch.
const LIVE_DEADLINE: Duration = Duration::from_secs(15);

/// Keeps a trickle of writes going so that the charts have proposals and fsyncs to
/// show; stops when dropped.
struct Writer(tokio::task::JoinHandle<()>);

impl Writer {
    fn start(endpoints: Vec<String>) -> Writer {
        Writer(tokio::spawn(async move {
            let options = etcd_client::ConnectOptions::new()
                .with_timeout(Duration::from_millis(500))
                .with_connect_timeout(Duration::from_millis(500));
            let mut client = match etcd_client::Client::connect(endpoints, Some(options)).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("no writes for the charts: cannot connect to etcd: {e}");
                    return;
                }
            };
            for i in 0u64.. {
                let _ = client
                    .put(format!("dashboard/{}", i % 50), format!("v{i}"), None)
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A monitor of `endpoints` as cluster `c3`, once healthy; and that snapshot.
async fn start_c3(endpoints: &[String]) -> (Monitor, Value) {
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("c3", endpoints.to_vec())],
        INTERVAL,
    ))
    .await;
    let healthy = monitor
        .wait_status("c3", "healthy", Duration::from_secs(20))
        .await;
    (monitor, healthy)
}

/// A tab with the desktop viewport.
async fn desktop(browser: &Browser) -> Page<'_> {
    let page = browser.new_page().await;
    page.set_viewport(1280, 900, false).await;
    page
}

/// The overview: healthy, all members up, and the leader etcdctl reports (the page
/// updates itself, so a re-election in between only delays agreement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_the_health_and_the_leader_etcdctl_reports() {
    let (cluster, browser) = tokio::join!(CLUSTER.get(), Browser::shared());
    let endpoints = cluster.client_urls();
    let _writes = Writer::start(endpoints.clone());
    let (monitor, _) = start_c3(&endpoints).await;
    let base = monitor.base.clone();
    let page = desktop(browser).await;
    let mut shots = Shots::default();

    page.goto(&format!("{base}/")).await;
    wait_for(
        "the overview, the API and etcdctl to agree on a healthy c3 and its leader",
        Duration::from_secs(15),
        || async {
            let row = page
                .eval(
                    r#"(() => {
                      const r = document.querySelector('tr[data-cluster="c3"]');
                      if (!r) return null;
                      return {status: r.dataset.status,
                              badge: r.querySelector('.badge').textContent.trim(),
                              leader: r.querySelector('td.leader').firstChild.textContent.trim(),
                              up: r.querySelector('td.num').textContent.trim()};
                    })()"#,
                )
                .await;
            let snap = monitor.cluster("c3").await;
            let etcdctl = tokio::task::block_in_place(|| etcdctl_endpoint_status(&endpoints));
            let etcdctl_leader = format!("{:x}", etcdctl[0]["Status"]["leader"].as_u64().unwrap());
            let leader_name = snap["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == etcdctl_leader.as_str())
                .and_then(|m| m["name"].as_str())
                .unwrap_or("?")
                .to_string();
            let agreed = row["status"] == "ok"
                && row["badge"] == "healthy"
                && row["up"] == "3 / 3"
                && row["leader"] == leader_name.as_str()
                && snap["leader"]["id"] == etcdctl_leader.as_str();
            if agreed {
                Ok(())
            } else {
                Err(format!(
                    "page row {row}; API leader {}; etcdctl leader {etcdctl_leader} ({leader_name})",
                    snap["leader"]
                ))
            }
        },
    )
    .await;
    shots.take(&page, "overview").await;
    shots.take_phone(&page, "overview").await;

    assert_clean(&page, &[]);
    page.close().await;
    monitor.stop().await;
}

/// The cluster page, then a follower killed: the page shows it down by itself (no
/// reload), the heading degraded, every member still listed; the down member's page
/// says so. This test kills a member: a cluster of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_follower_shows_down_on_the_cluster_page_without_a_reload() {
    let started = Instant::now();
    let (mut cluster, browser) = tokio::join!(
        start_cluster(3, LocalClusterOptions::default()),
        Browser::shared()
    );
    let endpoints = cluster.client_urls();
    let _writes = Writer::start(endpoints.clone());
    let (monitor, healthy) = start_c3(&endpoints).await;
    let leader = healthy["leader"]["name"].as_str().unwrap().to_string();
    let base = monitor.base.clone();
    let page = desktop(browser).await;
    let mut shots = Shots::default();

    page.goto(&format!("{base}/clusters/c3")).await;
    page.wait_until(
        "three healthy member rows",
        r#"document.querySelectorAll('tr[data-member][data-health="healthy"]').length === 3"#,
        LIVE_DEADLINE,
    )
    .await;
    page.wait_until(
        "the live-update stream to connect",
        "document.getElementById('live').classList.contains('on')",
        LIVE_DEADLINE,
    )
    .await;
    shots.take(&page, "cluster").await;
    let refreshed_before = page
        .eval("window.__notReloaded = true; document.body.dataset.refreshed || ''")
        .await;
    let follower = cluster
        .members
        .iter()
        .position(|m| m.name != leader)
        .unwrap();
    let follower_name = cluster.members[follower].name.clone();
    let killed_at = Instant::now();
    cluster.kill(follower).unwrap();
    page.wait_until(
        &format!("row {follower_name} to show down without a reload"),
        &format!(
            r#"(() => {{
              const r = document.querySelector('tr[data-member={name}]');
              return window.__notReloaded === true && r !== null && r.dataset.health === 'down'
                && (document.body.dataset.refreshed || '') !== {before};
            }})()"#,
            name = js(&follower_name),
            before = refreshed_before
        ),
        LIVE_DEADLINE,
    )
    .await;
    eprintln!(
        "the cluster page showed {follower_name} down {:?} after it was killed (probe interval {INTERVAL:?})",
        killed_at.elapsed()
    );
    page.wait_until(
        "the heading's badge to say degraded",
        "document.querySelector('h1 .badge').textContent.trim() === 'degraded'",
        LIVE_DEADLINE,
    )
    .await;
    assert_eq!(
        page.eval("document.querySelectorAll('tr[data-member]').length")
            .await,
        3,
        "{}",
        page.failure("every member, the killed one too, should stay listed")
            .await
    );
    shots.take(&page, "cluster-degraded").await;
    page.set_color_scheme("dark").await;
    shots.take(&page, "cluster-dark").await;
    page.set_color_scheme("light").await;

    page.goto(&format!("{base}/clusters/c3/members/{follower_name}"))
        .await;
    page.wait_until(
        "the down member's page to say so",
        "document.querySelector('h1 .badge').textContent.trim() === 'down'",
        LIVE_DEADLINE,
    )
    .await;
    shots.take(&page, "member-down").await;
    assert_clean(&page, &[]);
    eprintln!("the killed-follower test took {:?}", started.elapsed());
    page.close().await;
    monitor.stop().await;
}

/// Every other page, each with what it must show: a member with its indicators, the
/// explorer's chart of the last 3 minutes, about, and the 404 and 400 pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_explorer_about_and_error_pages_show_what_they_must() {
    let (cluster, browser) = tokio::join!(CLUSTER.get(), Browser::shared());
    let endpoints = cluster.client_urls();
    let _writes = Writer::start(endpoints.clone());
    let (monitor, healthy) = start_c3(&endpoints).await;
    let leader = healthy["leader"]["name"].as_str().unwrap().to_string();
    let base = monitor.base.clone();
    let page = desktop(browser).await;
    let mut shots = Shots::default();

    page.goto(&format!("{base}/clusters/c3/members/{leader}"))
        .await;
    page.wait_until(
        "the member page with its indicators",
        "document.querySelector('h1').textContent.includes('healthy') && document.querySelectorAll('dl.indicators div').length > 5",
        LIVE_DEADLINE,
    )
    .await;
    shots.take(&page, "member").await;
    // The explorer over the last 3 minutes (at the default hour, a fresh monitor's
    // minute of history is a sliver), once the API has a few points to draw.
    let metric = "etcd_monitor:wal_fsync_p99_seconds";
    wait_for("some WAL fsync history", LIVE_DEADLINE, || async {
        let (code, body) = monitor
            .get(&format!(
                "/api/v1/clusters/c3/metrics/history?metric={}&from=-3m&step=1s",
                urlencode(metric)
            ))
            .await;
        let most = body["series"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["points"].as_array().map_or(0, Vec::len))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if code == 200 && most >= 3 {
            Ok(())
        } else {
            Err(body.to_string())
        }
    })
    .await;
    page.goto(&format!(
        "{base}/explore?cluster=c3&metric={}&from=-3m",
        urlencode(metric)
    ))
    .await;
    page.wait_until(
        "the explorer's chart to draw the points",
        "document.querySelector('figure.chart svg path.line, figure.chart svg circle.dot') !== null",
        Duration::from_secs(2),
    )
    .await;
    shots.take(&page, "explore").await;
    page.goto(&format!("{base}/about")).await;
    shots.take(&page, "about").await;
    let error_pages = [
        ("/clusters/no-such-cluster", "404"),
        ("/clusters/c3?range=2y", "400"),
    ];
    for (path, code) in error_pages {
        page.goto(&format!("{base}{path}")).await;
        assert!(
            page.eval("document.querySelector('h1').textContent")
                .await
                .as_str()
                .unwrap_or("")
                .starts_with(code),
            "{}",
            page.failure(&format!("the {code} page's heading")).await
        );
        shots.take(&page, code).await;
    }

    // Their 404 and 400 answers are the expected failures.
    let error_urls = error_pages.map(|(path, _)| format!("{base}{path}"));
    assert_clean(&page, &error_urls);
    page.close().await;
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_pages_are_html_and_name_what_is_wrong() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let monitor = Monitor::start(test_settings(
        vec![ClusterConfig::plain("c1", cluster.client_urls())],
        INTERVAL,
    ))
    .await;
    monitor
        .wait_status("c1", "healthy", Duration::from_secs(15))
        .await;

    // Pages that exist, with the headers every page has.
    for path in [
        "/",
        "/clusters/c1",
        "/clusters/c1/members/m0",
        "/explore",
        "/about",
    ] {
        expect_page(&monitor, path, 200, &[]).await;
    }

    // Unknown names: 404 pages that name what was asked for and what exists.
    expect_page(&monitor, "/clusters/nope", 404, &["nope", "Not found"]).await;
    expect_page(&monitor, "/clusters/nope/members/m0", 404, &["nope"]).await;
    expect_page(
        &monitor,
        "/clusters/c1/members/zz",
        404,
        &["zz", "members: m0"],
    )
    .await;
    expect_page(&monitor, "/no/such/page", 404, &["/no/such/page"]).await;
    expect_page(&monitor, "/events?cluster=nope", 404, &["nope"]).await;

    // Bad parameters: 400 pages that name the parameter and the value.
    expect_page(
        &monitor,
        "/clusters/c1?range=2y",
        400,
        &["range", "2y", "Bad request"],
    )
    .await;
    expect_page(
        &monitor,
        "/clusters/c1?from=garbage",
        400,
        &["from", "garbage"],
    )
    .await;
    expect_page(
        &monitor,
        "/clusters/c1?from=now&to=-1h",
        400,
        &["from", "before"],
    )
    .await;
    expect_page(
        &monitor,
        "/clusters/c1/members/m0?range=2y",
        400,
        &["range", "2y"],
    )
    .await;
    expect_page(
        &monitor,
        "/explore?cluster=c1&range=2y",
        400,
        &["range", "2y"],
    )
    .await;
    expect_page(
        &monitor,
        "/explore?cluster=c1&metric=x&agg=median",
        400,
        &["agg", "median"],
    )
    .await;
    expect_page(
        &monitor,
        "/explore?cluster=c1&member=zz",
        400,
        &["member", "zz"],
    )
    .await;
    expect_page(&monitor, "/?tag=nope", 400, &["tag", "nope"]).await;

    // Under /api/ an unknown path stays a JSON error.
    for path in ["/api/v1/nothing-here", "/api/v2/clusters"] {
        let page = fetch(&monitor, path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(
            page.content_type.starts_with("application/json"),
            "{path}: {}",
            page.content_type
        );
        let body: Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(path),
            "{body}"
        );
    }
    let (code, body) = monitor.get("/api/v1/clusters/nope").await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_tags_series_and_members_are_escaped() {
    const NAME: &str = "<script>alert(1)</script>";
    const TAG: &str = "<script>alert(2)</script>";
    const METRIC: &str = "evil<script>alert(3)</script>";
    const MEMBER: &str = "<img src=x onerror=alert(4)>";
    let series = format!("{METRIC}{{l=\"<script>alert(5)</script>\"}}");
    let raw = ["<script>alert(", "<img src=x"];

    let (cluster, browser) = tokio::join!(CLUSTER.get(), Browser::shared());
    let mut config = ClusterConfig::plain("placeholder", cluster.client_urls());
    config.tags = vec![TAG.to_string(), "prod".to_string()];
    let mut settings = test_settings(vec![config], INTERVAL);
    // The config refuses such a name (it appears in URLs); the pages must escape it
    // all the same, should a name ever arrive another way.
    let mut refused = settings.clone();
    refused.clusters[0].name = NAME.to_string();
    let err = refused.validate().unwrap_err().to_string();
    assert!(err.contains("clusters[0].name"), "{err}");
    settings.clusters[0].name = NAME.to_string();
    let monitor = Monitor::start(settings).await;
    wait_for(
        "the hostile cluster healthy",
        Duration::from_secs(15),
        || async {
            let (_, list) = monitor.get("/api/v1/clusters").await;
            if list["clusters"][0]["status"] == "healthy" {
                Ok(())
            } else {
                Err(list.to_string())
            }
        },
    )
    .await;

    // A stored series with a hostile name and labels, from a hostile member: the
    // explorer lists the name, and chart legends show the member.
    let now = etcd_monitor::unix_ms_now() / 1000 * 1000;
    for i in 0..20 {
        monitor
            .store
            .ingest(&MemberSamples {
                cluster: NAME.to_string(),
                member: MEMBER.to_string(),
                at_ms: now - (20 - i) * 1000,
                samples: vec![
                    (series.clone(), i as f64),
                    ("etcd_monitor:wal_fsync_p99_seconds".to_string(), 0.002),
                ],
            })
            .unwrap();
    }

    let name = urlencode(NAME);
    let pages = [
        "/".to_string(),
        format!("/?tag={}", urlencode(TAG)),
        format!("/clusters/{name}"),
        format!("/explore?cluster={name}"),
        format!("/explore?cluster={name}&metric={}", urlencode(METRIC)),
        format!("/explore?cluster={name}&metric={}", urlencode(&series)),
    ];
    for path in &pages {
        let html = expect_page(&monitor, path, 200, &[]).await;
        assert_escaped(path, &html, &raw);
    }
    // Error pages echo what was asked for.
    for (path, status) in [
        (format!("/clusters/{name}x"), 404),
        (
            format!("/clusters/{name}/members/{}", urlencode(MEMBER)),
            404,
        ),
        (
            format!("/?tag={}", urlencode("<script>alert(6)</script>")),
            400,
        ),
        (
            format!(
                "/clusters/{name}?range={}",
                urlencode("<script>alert(7)</script>")
            ),
            400,
        ),
    ] {
        let page = fetch(&monitor, &path).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert_escaped(&path, &page.body, &raw);
    }

    // In the browser: no dialog, the text shows literally, no element was injected.
    let page = browser.new_page().await;
    page.set_viewport(1280, 900, false).await;
    let checks = [
        ("escaping-overview", "/".to_string(), vec![NAME, TAG]),
        (
            "escaping-cluster",
            format!("/clusters/{name}"),
            vec![NAME, MEMBER],
        ),
        (
            "escaping-explore",
            format!("/explore?cluster={name}&metric={}", urlencode(METRIC)),
            vec![MEMBER, METRIC],
        ),
    ];
    let mut shots = Shots::default();
    for (shot, path, texts) in &checks {
        page.goto(&format!("{}{path}", monitor.base)).await;
        for text in texts {
            page.wait_until(
                &format!("{path} to show {text:?} as text"),
                &format!(
                    "document.body.innerText.includes({t}) || Array.from(document.querySelectorAll('svg')).some(s => s.textContent.includes({t}))",
                    t = js(text)
                ),
                Duration::from_secs(5),
            )
            .await;
        }
        let injected = page
            .eval(
                "Array.from(document.scripts).map(s => s.src).filter(s => !s.includes('/assets/app.js')).length + document.images.length + document.querySelectorAll('[onerror]').length",
            )
            .await;
        assert_eq!(
            injected,
            0,
            "{}",
            page.failure(&format!("{path}: injected elements")).await
        );
        shots.take(&page, shot).await;
    }
    assert_clean(&page, &[]);
    page.close().await;
    monitor.stop().await;
}

/// The overview of a fleet: 30 clusters over the module's real cluster and 2 whose
/// only endpoint refuses connections. The summary counts the whole fleet; the
/// unavailable ones come first whatever their names; paging, search, the filters
/// and the orders keep what they must; bad choices are 400s naming the parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_of_a_fleet_puts_problems_first_and_pages_the_rest() {
    let cluster = CLUSTER.get().await;
    let endpoints = cluster.client_urls();
    let dead = format!(
        "http://127.0.0.1:{}",
        etcd_monitor::localetcd::free_port().unwrap()
    );
    let mut clusters: Vec<ClusterConfig> = (0..30)
        .map(|i| {
            let mut c = ClusterConfig::plain(&format!("f{i:02}"), endpoints.clone());
            c.tags = vec![if i % 2 == 0 { "blue" } else { "green" }.to_string()];
            c
        })
        .collect();
    for name in ["zz-dead-a", "zz-dead-b"] {
        clusters.push(ClusterConfig::plain(name, vec![dead.clone()]));
    }
    let monitor = Monitor::start(test_settings(clusters, INTERVAL)).await;
    for name in ["zz-dead-a", "zz-dead-b"] {
        monitor
            .wait_status(name, "unavailable", Duration::from_secs(20))
            .await;
    }
    for i in 0..30 {
        monitor
            .wait_status(&format!("f{i:02}"), "healthy", Duration::from_secs(20))
            .await;
    }
    // The probes are spread over the interval, not all on one tick: the clusters'
    // last probes fall in many tenths of the second.
    let (_, list) = monitor.get("/api/v1/clusters").await;
    let mut tenths: Vec<i64> = list["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["last_probe"].as_str())
        .map(|t| {
            let t = humantime::parse_rfc3339(t).unwrap();
            let ms = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
            ms % 1000 / 100
        })
        .collect();
    tenths.sort();
    tenths.dedup();
    assert!(
        tenths.len() >= 6,
        "probes in tenths {tenths:?} of the second"
    );
    let rows = |html: &str| -> Vec<String> {
        html.split("<tr data-cluster=\"")
            .skip(1)
            .map(|r| r[..r.find('"').unwrap()].to_string())
            .collect()
    };

    // The default page: 25 rows, the unavailable ones first, small.
    let page = expect_page(&monitor, "/", 200, &[]).await;
    let shown = rows(&page);
    assert_eq!(shown.len(), 25, "{shown:?}");
    assert_eq!(shown[..2], ["zz-dead-a", "zz-dead-b"], "{shown:?}");
    assert!(page.len() < 50_000, "{} bytes", page.len());
    let summary = &page[page.find("id=\"fleet-summary\"").unwrap()..];
    let summary = &summary[..summary.find("</p>").unwrap()];
    for want in ["32 clusters", "2 unavailable", "0 degraded", "30 healthy"] {
        assert!(summary.contains(want), "{want:?} in {summary}");
    }
    assert!(!summary.contains("pending"), "{summary}");
    assert!(page.contains("of 32, page 1 of 2"), "{page}");

    // Paging: 10 a page, 4 pages; the links keep the choices.
    let page = expect_page(&monitor, "/?per_page=10", 200, &[]).await;
    assert_eq!(rows(&page)[..2], ["zz-dead-a", "zz-dead-b"]);
    assert!(
        page.replace("&#38;", "&")
            .contains("href=\"/?per_page=10&page=2\" rel=\"next\""),
        "{page}"
    );
    let page = expect_page(&monitor, "/?per_page=10&page=4", 200, &[]).await;
    assert_eq!(rows(&page).len(), 2);
    assert!(page.contains("rel=\"prev\"") && !page.contains("rel=\"next\""));
    let mut seen: Vec<String> = Vec::new();
    for n in 1..=4 {
        seen.extend(rows(
            &expect_page(&monitor, &format!("/?per_page=10&page={n}"), 200, &[]).await,
        ));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 32, "every cluster on exactly one page");

    // Filters, search (any case) and orders.
    assert_eq!(
        rows(&expect_page(&monitor, "/?status=unavailable", 200, &[]).await),
        ["zz-dead-a", "zz-dead-b"]
    );
    let found = rows(&expect_page(&monitor, "/?q=F0&per_page=100", 200, &[]).await);
    assert_eq!(found.len(), 10, "{found:?}");
    assert!(found.iter().all(|n| n.starts_with("f0")));
    let blue = rows(&expect_page(&monitor, "/?tag=blue&per_page=100", 200, &[]).await);
    assert_eq!(blue.len(), 15, "{blue:?}");
    assert_eq!(
        rows(&expect_page(&monitor, "/?sort=name", 200, &[]).await)[0],
        "f00"
    );
    let none = expect_page(&monitor, "/?version=9.9.9", 200, &[]).await;
    assert!(rows(&none).is_empty() && none.contains("No cluster matches"));

    // Bad choices name the parameter.
    for (path, field) in [
        ("/?status=sick", "status"),
        ("/?page=0", "page"),
        ("/?page=99", "page"),
        ("/?per_page=0", "per_page"),
        ("/?per_page=100000", "per_page"),
        ("/?sort=size", "sort"),
        ("/?tag=nosuch", "tag"),
    ] {
        let page = expect_page(&monitor, path, 400, &[]).await;
        assert!(page.contains(&format!("{field}:")), "{path}: {page}");
    }
    monitor.stop().await;
}

/// Three real clusters side by side: the busy one (the module's 3 members, written
/// to) stands out from two idle single members in proposals and members; every
/// chart draws one line per cluster; bad choices get a 400 naming `cluster`; the
/// overview's check boxes lead there; chromium shows it clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clusters_side_by_side_mark_the_one_that_stands_out() {
    let (cluster, browser) = tokio::join!(CLUSTER.get(), Browser::shared());
    let quiet_a = start_cluster(1, LocalClusterOptions::default()).await;
    // The third cluster is one member started outside the harness' two cluster
    // slots (which this test already fills): one more etcd process is light.
    let quiet_b = etcd_monitor::localetcd::LocalCluster::start(1, LocalClusterOptions::default())
        .await
        .expect("a single-member etcd");
    let _writes = Writer::start(cluster.client_urls());
    let monitor = Monitor::start(test_settings(
        vec![
            ClusterConfig::plain("busy", cluster.client_urls()),
            ClusterConfig::plain("quiet-a", quiet_a.client_urls()),
            ClusterConfig::plain("quiet-b", quiet_b.client_urls()),
        ],
        INTERVAL,
    ))
    .await;
    for name in ["busy", "quiet-a", "quiet-b"] {
        monitor
            .wait_status(name, "healthy", Duration::from_secs(20))
            .await;
    }
    let path = "/compare?cluster=busy&cluster=quiet-a&cluster=quiet-b&range=1h";
    // A row's cells, by the row's title.
    let row = |html: &str, title: &str| -> Vec<String> {
        let start = html
            .find(&format!("<th scope=\"row\">{title}</th>"))
            .unwrap_or_else(|| panic!("no row {title:?} in {html}"));
        let rest = &html[start..];
        rest[..rest.find("</tr>").unwrap()]
            .split("<td ")
            .skip(1)
            .map(|c| c[..c.find("</td>").unwrap()].to_string())
            .collect()
    };
    // Rates need two scrapes of every member: wait for the figures.
    let page = wait_for(
        "proposals committed for all three clusters",
        Duration::from_secs(20),
        || async {
            let page = expect_page(&monitor, path, 200, &["Clusters side by side"]).await;
            let cells = row(&page, "Proposals committed");
            if cells.len() == 3 && cells.iter().all(|c| !c.ends_with(">–")) {
                Ok(page)
            } else {
                Err(format!("{cells:?}"))
            }
        },
    )
    .await;
    let heads: Vec<&str> = page
        .split("<th scope=\"col\" data-cluster=\"")
        .skip(1)
        .map(|h| &h[..h.find('"').unwrap()])
        .collect();
    assert_eq!(heads, ["busy", "quiet-a", "quiet-b"]);
    let marked = |cells: &[String]| -> Vec<usize> {
        (0..cells.len())
            .filter(|&i| cells[i].contains("outlier"))
            .collect()
    };
    // Writes every 100 ms against none: the busy cluster stands out.
    let proposals = row(&page, "Proposals committed");
    assert_eq!(marked(&proposals), [0], "{proposals:?}");
    let members = row(&page, "Members");
    assert!(members[0].ends_with(">3 of 3 up"), "{members:?}");
    assert!(members[1].ends_with(">1 of 1 up"), "{members:?}");
    assert_eq!(marked(&members), [0], "{members:?}");
    // Alike where they are alike: no alarm, one leader each.
    assert!(marked(&row(&page, "Alarms")).is_empty());
    assert!(marked(&row(&page, "Leader")).is_empty());
    // Each chart: one line per cluster, in the legend.
    let charts: Vec<&str> = page.split("<figure class=\"chart\">").skip(1).collect();
    assert_eq!(charts.len(), 10);
    for c in &charts {
        for name in ["busy", "quiet-a", "quiet-b"] {
            assert!(c.contains(&format!(">{name}<")), "{name} in {c}");
        }
    }
    // The range links keep the clusters.
    assert!(
        page.replace("&#38;", "&")
            .contains("href=\"/compare?cluster=busy&cluster=quiet-a&cluster=quiet-b&range=6h\""),
        "{page}"
    );

    // Bad choices: 400s naming what is wrong.
    let seven: String = (0..7).map(|i| format!("cluster=c{i}&")).collect();
    for (bad, says) in [
        (format!("/compare?{seven}"), "at most 6 clusters"),
        (
            "/compare?cluster=nope".to_string(),
            "nope&#34; is not monitored",
        ),
        ("/compare?cluster=busy&range=2y".to_string(), "range="),
    ] {
        let page = expect_page(&monitor, &bad, 400, &[says]).await;
        if bad.contains("nope") || bad.contains("c6") {
            assert!(page.contains("cluster:"), "{page}");
        }
    }
    // None chosen: the form to choose, open; the overview's boxes lead here.
    let empty = expect_page(&monitor, "/compare", 200, &["Pick up to 6 clusters"]).await;
    assert!(empty.contains("<details class=\"choose\" open>"), "{empty}");
    assert_eq!(empty.matches("name=\"cluster\"").count(), 3);
    let overview = expect_page(&monitor, "/", 200, &["action=\"/compare\""]).await;
    assert_eq!(
        overview
            .matches("type=\"checkbox\" name=\"cluster\"")
            .count(),
        3
    );

    // In chromium: tick two on the overview, submit, then the three.
    let tab = desktop(browser).await;
    let mut shots = Shots::default();
    tab.goto(&format!("{}/", monitor.base)).await;
    tab.eval(
        r#"(() => {
          for (const n of ['busy', 'quiet-b'])
            document.querySelector(`input[name=cluster][value="${n}"]`).checked = true;
          document.getElementById('compare-form').submit();
        })()"#,
    )
    .await;
    tab.wait_until(
        "the comparison of the two ticked clusters",
        r#"location.pathname === '/compare' && location.search === '?cluster=busy&cluster=quiet-b'
           && document.querySelectorAll('th[data-cluster]').length === 2"#,
        Duration::from_secs(10),
    )
    .await;
    tab.goto(&format!("{}{path}", monitor.base)).await;
    tab.wait_until(
        "three columns and ten charts",
        "document.querySelectorAll('th[data-cluster]').length === 3 \
         && document.querySelectorAll('figure.chart svg').length === 10",
        Duration::from_secs(10),
    )
    .await;
    shots.take(&tab, "compare-clusters").await;
    shots.take_phone(&tab, "compare-clusters").await;
    assert_clean(&tab, &[]);
    tab.close().await;
    monitor.stop().await;
}
