//! The alerts page and the alert badges, end to end: a monitor over a real 1-member
//! cluster with user rules that hold at once (one for the whole cluster, critical,
//! with a hostile label; one per member, warning). The page, the badges of the
//! overview, the cluster page and the navigation follow the alerts; a silence moves
//! an alert to the muted section and its expiry moves it back; an acknowledgement
//! shows who is on it; the history's filters find the changes; bad filters get the
//! HTML 400 page. Screenshots of the page (desktop and phone) and of the badges.
//! One cluster for the module; each test has a monitor (and alerts) of its own.

use std::time::Duration;

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::LocalClusterOptions;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::harness::*;
use crate::pages::{assert_clean, assert_escaped, expect_page, fetch, urlencode, Shots};

static CLUSTER: SharedCluster = SharedCluster::new(1, LocalClusterOptions::default);

const INTERVAL: Duration = Duration::from_secs(1);
/// A probe, its evaluation and a page fetch, with room for a slow machine.
const ALERT_DEADLINE: Duration = Duration::from_secs(20);
const CLUSTER_RULE: &str = "AlwaysOnTest";
const MEMBER_RULE: &str = "AlwaysOnMember";
const HOSTILE: &str = "<script>alert(1)</script>";

/// Two rules over the DB size, which is never 0: they fire at the first evaluation.
fn rules_toml() -> String {
    format!(
        r#"
[[rules]]
name = "{CLUSTER_RULE}"
indicator = "db_size_bytes"
aggregate = "max"
op = ">"
threshold = 0
for = "0s"
severity = "critical"
labels = {{ note = "{HOSTILE}" }}
summary = "DB of {{{{ labels.cluster }}}} is {{{{ value | bytes }}}}; note {{{{ labels.note }}}}"
description = "Holds whenever the cluster has data: the alerts page test's rule."
runbook = "https://runbooks.example/db?x=1&y=<2>"

[[rules]]
name = "{MEMBER_RULE}"
indicator = "db_size_bytes"
op = ">"
threshold = 0
for = "0s"
severity = "warning"
summary = "Member {{{{ labels.member }}}} has data"
"#
    )
}

/// The part of `html` from the element with `id` to the end of its section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element with id {id:?} in\n{html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// The active alerts of `rule`, from the API.
async fn active(monitor: &Monitor, rule: &str) -> Vec<Value> {
    let (status, body) = monitor.get("/api/v1/alerts").await;
    assert_eq!(status, 200, "{body}");
    body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == rule)
        .cloned()
        .collect()
}

/// Waits until the API shows `rule` firing with `muted` as asked.
async fn wait_firing(monitor: &Monitor, rule: &str, silenced: bool) -> Value {
    wait_for(
        &format!("{rule} firing, silenced: {silenced}"),
        ALERT_DEADLINE,
        || async {
            let found = active(monitor, rule).await;
            match found.first() {
                Some(a)
                    if a["phase"] == "firing"
                        && a["silenced_by"].as_array().is_some_and(|s| !s.is_empty())
                            == silenced =>
                {
                    Ok(a.clone())
                }
                _ => Err(format!("{found:?}")),
            }
        },
    )
    .await
}

/// The overview's row of cluster `name`.
fn overview_row<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("<tr data-cluster=\"{name}\""))
        .unwrap_or_else(|| panic!("no row of {name} in\n{html}"));
    let rest = &html[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

/// A monitor over the shared cluster (`solo`) with the two rules, once both fire;
/// and the two alerts, the cluster's then the member's.
async fn start(cluster: &TestCluster) -> (Monitor, Value, Value) {
    let mut settings = test_settings(
        vec![ClusterConfig::plain("solo", cluster.client_urls())],
        INTERVAL,
    );
    settings.alerting.rules =
        toml::from_str::<etcd_monitor::alert::AlertingSettings>(&rules_toml())
            .unwrap()
            .rules;
    settings.validate().unwrap();
    let monitor = Monitor::start(settings).await;
    let cluster_alert = wait_firing(&monitor, CLUSTER_RULE, false).await;
    let member_alert = wait_firing(&monitor, MEMBER_RULE, false).await;
    (monitor, cluster_alert, member_alert)
}

/// A silence of the cluster rule for an hour; returns its id once the alert shows
/// silenced.
async fn silence(monitor: &Monitor) -> String {
    let resp = monitor
        .http
        .post(format!("{}/api/v1/silences", monitor.base))
        .json(&json!({
            "matchers": [format!("alertname={CLUSTER_RULE}")],
            "duration": "1h",
            "created_by": "alerts-page-test",
            "comment": "maintenance <b>window</b>",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let silence: Value = resp.json().await.unwrap();
    let silence_id = silence["id"].as_str().unwrap().to_string();
    wait_firing(monitor, CLUSTER_RULE, true).await;
    silence_id
}

/// Both rules fire: one alert for the cluster, one for its member, both in "Firing"
/// with links, summary, labels, details; nothing muted; the hostile label is text;
/// the navigation counts them in the most urgent one's colour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_alerts_are_listed_with_links_labels_and_details() {
    let cluster = CLUSTER.get().await;
    let (monitor, cluster_alert, _) = start(&cluster).await;
    assert_eq!(cluster_alert["labels"]["note"], HOSTILE);
    let fingerprint = cluster_alert["fingerprint"].as_str().unwrap().to_string();

    let html = expect_page(&monitor, "/alerts", 200, &["Silences", "History"]).await;
    let firing = section(&html, "firing");
    for want in [
        &format!("id=\"alert-{fingerprint}\""),
        "data-alert=\"AlwaysOnTest\"",
        "data-alert=\"AlwaysOnMember\"",
        "<span class=\"badge bad\">critical</span>",
        "<span class=\"badge warn\">warning</span>",
        "href=\"/clusters/solo\"",
        "href=\"/clusters/solo/members/m0\"",
        "<span class=\"none\">whole cluster</span>",
        "DB of solo is ",
        "<details><summary>Description and runbook</summary>",
        "Holds whenever the cluster has data",
        // The runbook is a link, its address escaped.
        "href=\"https://runbooks.example/db?x=1&#38;y=&#60;2&#62;\"",
    ] {
        assert!(firing.contains(want), "Firing lacks {want:?}:\n{firing}");
    }
    assert!(section(&html, "pending").contains("No alert is pending"));
    assert!(section(&html, "muted").contains("No alert is silenced or inhibited"));
    assert!(section(&html, "silences").contains("No silence is active"));
    assert!(
        html.contains("Rules are evaluated after every probe; last evaluation: <time"),
        "{html}"
    );
    // The label and the summary that repeats it are text, never markup.
    assert_escaped("/alerts", &html, &["<script>alert("]);
    assert!(
        firing.contains("note=&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{firing}"
    );
    // The navigation counts the firing alerts, in the most urgent one's colour.
    assert!(
        html.contains("id=\"nav-firing\" title=\"2 firing, not silenced or inhibited\">2<"),
        "{html}"
    );
    monitor.stop().await;
}

/// Badges: the overview's row and the cluster page's heading, linked to the
/// cluster's alerts; the cluster page's box lists both alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badges_on_the_overview_and_the_cluster_page_count_the_alerts() {
    let cluster = CLUSTER.get().await;
    let (monitor, _, _) = start(&cluster).await;
    let overview = expect_page(&monitor, "/", 200, &[]).await;
    let row = overview_row(&overview, "solo");
    for want in [
        "href=\"/alerts?cluster=solo\"",
        "data-firing=\"2\"",
        "<span class=\"badge bad\">1 critical</span>",
        "<span class=\"badge warn\">1 warning</span>",
    ] {
        assert!(
            row.contains(want),
            "the overview's row lacks {want:?}:\n{row}"
        );
    }
    let page = expect_page(&monitor, "/clusters/solo", 200, &[]).await;
    let heading = &page[page.find("<h1>").unwrap()..page.find("</h1>").unwrap()];
    assert!(
        heading.contains("data-firing=\"2\"") && heading.contains("1 critical"),
        "{heading}"
    );
    let alerts_box = section(&page, "alerts-heading");
    for want in [
        "data-alert=\"AlwaysOnTest\" data-phase=\"firing\"",
        "data-alert=\"AlwaysOnMember\" data-phase=\"firing\"",
        "href=\"/clusters/solo/members/m0\"",
        "firing for ",
    ] {
        assert!(
            alerts_box.contains(want),
            "the alerts box lacks {want:?}:\n{alerts_box}"
        );
    }
    assert!(!page.contains("<script>alert("), "{page}");
    monitor.stop().await;
}

/// ?cluster= filters the active sections too; bad filters are 400 pages that name
/// the parameter, a hostile one escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_filter_applies_and_bad_filters_are_400_pages() {
    let cluster = CLUSTER.get().await;
    let (monitor, _, _) = start(&cluster).await;
    let only = expect_page(&monitor, "/alerts?cluster=solo", 200, &[]).await;
    assert!(section(&only, "firing").contains("data-alert=\"AlwaysOnTest\""));
    assert!(only.contains("Only the alerts and history of cluster solo are shown"));
    for (path, names) in [
        ("/alerts?cluster=nope", &["cluster", "nope"][..]),
        (
            "/alerts?event=exploded",
            &["event", "exploded", "notify_failed"],
        ),
        ("/alerts?limit=0", &["limit", "1 to 1000"]),
        ("/alerts?before=yesterday", &["before", "yesterday"]),
    ] {
        expect_page(&monitor, path, 400, names).await;
    }
    let hostile_filter = format!("/alerts?event={}", urlencode(HOSTILE));
    let page = fetch(&monitor, &hostile_filter).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_escaped(&hostile_filter, &page.body, &["<script>alert("]);
    monitor.stop().await;
}

/// A silence for the cluster rule: it moves to "Silenced or inhibited", says by
/// which silence, and the silence is listed; the badges count only the other one.
/// An acknowledgement of the member's alert: its row says who and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_mutes_an_alert_and_an_acknowledgement_says_who_is_on_it() {
    let cluster = CLUSTER.get().await;
    let (monitor, _, member_alert) = start(&cluster).await;
    let silence_id = silence(&monitor).await;
    let resp = monitor
        .http
        .post(format!(
            "{}/api/v1/alerts/{}/ack",
            monitor.base,
            member_alert["fingerprint"].as_str().unwrap()
        ))
        .json(&json!({ "by": "oncall", "comment": "on it <i>now</i>" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    wait_for(
        "the acknowledgement in the view",
        ALERT_DEADLINE,
        || async {
            let found = active(&monitor, MEMBER_RULE).await;
            if found
                .first()
                .is_some_and(|a| a["acknowledged"]["by"] == "oncall")
            {
                Ok(())
            } else {
                Err(format!("{found:?}"))
            }
        },
    )
    .await;
    let html = expect_page(&monitor, "/alerts", 200, &[]).await;
    let firing = section(&html, "firing");
    assert!(!firing.contains("data-alert=\"AlwaysOnTest\""), "{firing}");
    assert!(firing.contains("data-alert=\"AlwaysOnMember\""), "{firing}");
    assert!(
        firing.contains("oncall: on it &#60;i&#62;now&#60;/i&#62;"),
        "{firing}"
    );
    let muted = section(&html, "muted");
    assert!(muted.contains("data-alert=\"AlwaysOnTest\""), "{muted}");
    assert!(
        muted.contains(&format!(
            "<a href=\"/alerts#silence-{silence_id}\">silence {silence_id}</a>"
        )),
        "{muted}"
    );
    let silences = section(&html, "silences");
    for want in [
        format!("id=\"silence-{silence_id}\""),
        "<span class=\"badge ok\">active</span>".to_string(),
        "<code class=\"matcher\">alertname=AlwaysOnTest</code>".to_string(),
        "alerts-page-test".to_string(),
        "maintenance &#60;b&#62;window&#60;/b&#62;".to_string(),
    ] {
        assert!(
            silences.contains(&want),
            "Silences lack {want:?}:\n{silences}"
        );
    }
    assert!(html.contains(">1</span></a>"), "the nav counts 1:\n{html}");
    let overview = expect_page(&monitor, "/", 200, &[]).await;
    let row = overview_row(&overview, "solo");
    assert!(
        row.contains("data-firing=\"1\"") && !row.contains("critical"),
        "{row}"
    );
    monitor.stop().await;
}

/// The history, filtered by event and name, and paged by `before`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_is_filtered_by_event_and_name_and_paged_by_before() {
    let cluster = CLUSTER.get().await;
    let (monitor, _, _) = start(&cluster).await;
    let silence_id = silence(&monitor).await;
    let html = expect_page(
        &monitor,
        "/alerts?event=firing&alertname=AlwaysOnTest",
        200,
        &[],
    )
    .await;
    let history = section(&html, "history");
    assert!(
        history.contains("<tr data-event=\"firing\" data-alert=\"AlwaysOnTest\">"),
        "{history}"
    );
    assert!(
        !history.contains("data-alert=\"AlwaysOnMember\""),
        "{history}"
    );
    assert!(
        history.contains("<option selected>firing</option>"),
        "{history}"
    );
    let html = expect_page(&monitor, "/alerts?event=silence_created", 200, &[]).await;
    assert!(
        section(&html, "history").contains(&silence_id),
        "{}",
        section(&html, "history")
    );
    let html = expect_page(&monitor, "/alerts?limit=1", 200, &[]).await;
    let history = section(&html, "history");
    assert_eq!(history.matches("<tr data-event=").count(), 1, "{history}");
    let older = history
        .split("<a href=\"")
        .find_map(|s| {
            s.strip_prefix("/alerts?limit=1&amp;before=")
                .or_else(|| s.strip_prefix("/alerts?limit=1&#38;before="))
        })
        .unwrap_or_else(|| panic!("no link to older entries in\n{history}"));
    let before: String = older.chars().take_while(char::is_ascii_digit).collect();
    let html = expect_page(
        &monitor,
        &format!("/alerts?limit=1&before={before}"),
        200,
        &[],
    )
    .await;
    assert_eq!(
        section(&html, "history").matches("<tr data-event=").count(),
        1,
        "the next page has the next entry"
    );
    monitor.stop().await;
}

/// One look in chromium, light theme, with an alert silenced: the page and the
/// badges of the overview and the cluster page, no script or CSP error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_alerts_page_and_the_badges_stay_clean() {
    let (cluster, browser) = tokio::join!(CLUSTER.get(), Browser::shared());
    let (monitor, _, _) = start(&cluster).await;
    silence(&monitor).await;
    let page = browser.new_page().await;
    page.set_viewport(1280, 1100, false).await;
    page.goto(&format!("{}/alerts", monitor.base)).await;
    page.wait_until(
        "the muted alert and the silence on the page",
        "document.querySelector('#muted tr[data-alert=\"AlwaysOnTest\"]') !== null && document.querySelector('#silences tr[data-silence]') !== null",
        Duration::from_secs(5),
    )
    .await;
    let mut shots = Shots::default();
    shots.take(&page, "alerts").await;
    shots.take_phone(&page, "alerts").await;
    for (path, shot) in [
        ("/", "alerts-overview-badge"),
        ("/clusters/solo", "alerts-cluster-box"),
    ] {
        page.goto(&format!("{}{path}", monitor.base)).await;
        page.wait_until(
            &format!("{path} to show the cluster's alert badge"),
            "document.querySelector('a.alert-badges[data-firing=\"1\"]') !== null",
            Duration::from_secs(5),
        )
        .await;
        shots.take(&page, shot).await;
    }
    assert_clean(&page, &[]);
    page.close().await;
    monitor.stop().await;
}

/// Expiring the silence brings the alert back to "Firing"; the silence says it
/// was ended early, and by whom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_a_silence_brings_the_alert_back_to_firing() {
    let cluster = CLUSTER.get().await;
    let (monitor, _, _) = start(&cluster).await;
    let silence_id = silence(&monitor).await;
    let resp = monitor
        .http
        .delete(format!("{}/api/v1/silences/{silence_id}", monitor.base))
        .json(&json!({ "by": "alerts-page-test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    wait_firing(&monitor, CLUSTER_RULE, false).await;
    let html = expect_page(&monitor, "/alerts", 200, &[]).await;
    assert!(section(&html, "firing").contains("data-alert=\"AlwaysOnTest\""));
    assert!(section(&html, "silences").contains("ended early by alerts-page-test"));
    monitor.stop().await;
}
