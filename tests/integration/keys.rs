//! The key browser against a real cluster: 10,000 keys listed page by page, the
//! folder tree, binary and large values, escaping of hostile keys, bad parameters,
//! unknown clusters and a dead cluster; then the pages in headless chromium
//! (screenshots in `target/dashboard-screenshots/keys*.png`). One cluster for the
//! module, each test with its own monitor and its own prefix.

use std::time::{Duration, Instant};

use etcd_client::{Client, Txn, TxnOp};
use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::{free_port, LocalClusterOptions};
use futures::StreamExt;
use serde_json::Value;

use crate::browser::Browser;
use crate::harness::*;
use crate::pages::{assert_clean, js, urlencode, Shots};

static CLUSTER: SharedCluster = SharedCluster::new(1, LocalClusterOptions::default);

/// A hostile key under `esc/` and its hostile value.
const HOSTILE: (&str, &str) = ("esc/<script>alert(1)</script>", "<b>bold</b>");

/// A monitor over the shared cluster (`live`) and over an address where nothing
/// answers (`gone`), and a client of the cluster.
async fn start(cluster: &TestCluster) -> (Monitor, Client) {
    let client = Client::connect(cluster.client_urls(), None).await.unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port().unwrap());
    let monitor = Monitor::start(test_settings(
        vec![
            ClusterConfig::plain("live", cluster.client_urls()),
            ClusterConfig::plain("gone", vec![dead]),
        ],
        Duration::from_secs(1),
    ))
    .await;
    (monitor, client)
}

/// The tree under `{prefix}tree/`: folders `a/` (3 keys, one in `a/b/`) and `b/`
/// beside a key `b`, and the keys `c-d` and `z`.
async fn put_tree(client: &mut Client, prefix: &str) {
    for key in ["a/1", "a/2", "a/b/c", "b", "b/x", "c-d", "z"] {
        client
            .put(format!("{prefix}tree/{key}"), "x", None)
            .await
            .unwrap();
    }
}

/// `{prefix}bin/blob`, a binary value; returns its key.
async fn put_binary(client: &mut Client, prefix: &str) -> String {
    let key = format!("{prefix}bin/blob");
    client
        .put(key.as_str(), vec![0u8, 1, 2, 0xff], None)
        .await
        .unwrap();
    key
}

/// `{prefix}large/value`, 200 KiB under a lease; returns its key and the lease.
async fn put_large(client: &mut Client, prefix: &str) -> (String, i64) {
    let key = format!("{prefix}large/value");
    let lease = client.lease_grant(600, None).await.unwrap().id();
    client
        .put(
            key.as_str(),
            "x".repeat(200 * 1024),
            Some(etcd_client::PutOptions::new().with_lease(lease)),
        )
        .await
        .unwrap();
    (key, lease)
}

const KEYS: usize = 10_000;

/// Puts `big/00000`..`big/09999` in transactions of 100 puts, 8 at a time (etcd
/// allows 128 operations a transaction by default).
async fn put_many(client: &Client) {
    let batches: Vec<Vec<TxnOp>> = (0..KEYS)
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|chunk| {
            chunk
                .iter()
                .map(|i| TxnOp::put(format!("big/{i:05}"), format!("v{i}"), None))
                .collect()
        })
        .collect();
    let results: Vec<_> = futures::stream::iter(batches)
        .map(|ops| {
            let mut c = client.clone();
            async move { c.txn(Txn::new().and_then(ops)).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for r in results {
        r.expect("batch of puts");
    }
}

async fn get_html(monitor: &Monitor, path: &str) -> (u16, String) {
    let resp = monitor
        .http
        .get(format!("{}{path}", monitor.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("text/html"), "GET {path}: content-type {ct}");
    (status, resp.text().await.unwrap())
}

/// Every key under `prefix`, page by page with `limit`; returns the keys and the
/// number of pages.
async fn list_all(monitor: &Monitor, prefix: &str, limit: usize) -> (Vec<String>, usize) {
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!(
            "/api/v1/clusters/live/keys?prefix={}&limit={limit}",
            urlencode(prefix)
        );
        if let Some(a) = &after {
            path.push_str(&format!("&after={}", urlencode(a)));
        }
        let (code, body) = monitor.get(&path).await;
        assert_eq!(code, 200, "{path}: {body}");
        pages += 1;
        let page: Vec<String> = body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["key"].as_str().unwrap().to_string())
            .collect();
        assert!(page.len() <= limit, "page {pages} has {} keys", page.len());
        keys.extend(page);
        match body["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    Some(next),
                    keys.last().map(String::as_str),
                    "next = last key"
                );
                after = Some(next.to_string());
            }
            None => return (keys, pages),
        }
        assert!(pages <= KEYS, "paging does not end");
    }
}

fn entries(body: &Value) -> Vec<(String, String)> {
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn js_value(s: &str) -> Value {
    Value::from(s)
}

fn error_message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// 10,000 keys under one prefix, every one exactly once and in order, whatever the
/// page size (one that divides the count, one that does not); the root shows them
/// as one folder with its count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keys_are_listed_once_and_in_order_at_any_page_size() {
    let cluster = CLUSTER.get().await;
    let (monitor, client) = start(&cluster).await;
    let started = Instant::now();
    put_many(&client).await;
    eprintln!("put {KEYS} keys in {:?}", started.elapsed());
    let expected: Vec<String> = (0..KEYS).map(|i| format!("big/{i:05}")).collect();
    for (limit, pages) in [(1000, 10), (777, 13)] {
        let started = Instant::now();
        let (keys, seen_pages) = list_all(&monitor, "big/", limit).await;
        eprintln!("listed with limit {limit} in {:?}", started.elapsed());
        assert_eq!(keys.len(), KEYS, "limit {limit}");
        assert!(
            keys == expected,
            "limit {limit}: keys out of order or repeated"
        );
        assert_eq!(seen_pages, pages, "limit {limit}");
    }

    // The root: one folder per top-level segment.
    let (_, body) = monitor.get("/api/v1/clusters/live/keys").await;
    let big = body["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["prefix"] == "big/")
        .unwrap_or_else(|| panic!("no big/ at the root: {body}"));
    assert_eq!(big["keys"], KEYS);
    monitor.stop().await;
}

/// The tree by `/`: a folder per next segment, with its key count; a key and a
/// folder of the same name are two entries; paging walks past whole folders. The
/// page links the folders, the keys and the next page; the cluster page links the
/// browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_shows_a_folder_per_segment_in_the_api_and_on_the_page() {
    let cluster = CLUSTER.get().await;
    let (monitor, mut client) = start(&cluster).await;
    put_tree(&mut client, "").await;
    let (code, body) = monitor
        .get("/api/v1/clusters/live/keys?prefix=tree%2F")
        .await;
    assert_eq!(code, 200, "{body}");
    let level = [
        ("folder", "tree/a/"),
        ("key", "tree/b"),
        ("folder", "tree/b/"),
        ("key", "tree/c-d"),
        ("key", "tree/z"),
    ]
    .map(|(k, p)| (k.to_string(), p.to_string()));
    assert_eq!(entries(&body), level);
    assert_eq!(body["folders"][0]["name"], "a");
    assert_eq!(body["folders"][0]["keys"], 3);
    assert_eq!(body["folders"][0]["has_children"], true);
    assert_eq!(body["folders"][1]["keys"], 1);
    assert_eq!(body["keys"][0]["name"], "b");
    assert_eq!(body["keys"][0]["version"], 1);
    assert!(body["keys"][0]["mod_revision"].as_i64().unwrap() > 0);
    assert_eq!(body["next"], Value::Null);
    let mut paged = Vec::new();
    let mut path = "/api/v1/clusters/live/keys?prefix=tree%2F&limit=2".to_string();
    loop {
        let (code, body) = monitor.get(&path).await;
        assert_eq!(code, 200, "{body}");
        paged.extend(entries(&body));
        match body["next"].as_str() {
            Some(n) => {
                path = format!(
                    "/api/v1/clusters/live/keys?prefix=tree%2F&limit=2&after={}",
                    urlencode(n)
                )
            }
            None => break,
        }
    }
    assert_eq!(paged, level, "pages of two");
    let (_, body) = monitor
        .get("/api/v1/clusters/live/keys?prefix=tree%2Fa%2F")
        .await;
    assert_eq!(
        entries(&body),
        [
            ("key", "tree/a/1"),
            ("key", "tree/a/2"),
            ("folder", "tree/a/b/")
        ]
        .map(|(k, p)| (k.to_string(), p.to_string()))
    );

    // The page: folders to click into, keys to open, a next link.
    let (code, html) = get_html(&monitor, "/clusters/live/keys?prefix=tree%2F&limit=2").await;
    assert_eq!(code, 200, "{html}");
    assert!(
        html.contains(r#"href="/clusters/live/keys?prefix=tree%2Fa%2F""#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="/clusters/live/keys/value?key=tree%2Fb""#),
        "{html}"
    );
    assert!(html.contains("3 keys"), "{html}");
    // askama writes `&` in attributes as `&#38;`.
    assert!(
        html.contains(
            r#"href="/clusters/live/keys?prefix=tree%2F&#38;limit=2&#38;after=tree%2Fb""#
        ),
        "{html}"
    );
    let (code, html) = get_html(&monitor, "/clusters/live").await;
    assert_eq!(code, 200);
    assert!(
        html.contains(r#"href="/clusters/live/keys""#),
        "cluster page links the browser"
    );
    monitor.stop().await;
}

/// Many big folders between keys, paged by 25: the same entries as the level
/// worked out from every key (folders are read a few keys at a time there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_big_folders_are_paged_as_the_level_worked_out_from_every_key() {
    let cluster = CLUSTER.get().await;
    let (monitor, mut client) = start(&cluster).await;
    let mut dense: Vec<String> = Vec::new();
    for i in 0..30 {
        let ops: Vec<TxnOp> = (0..20)
            .map(|j| format!("dense/f{i:02}/k{j:02}"))
            .chain((i % 2 == 0).then(|| format!("dense/f{i:02}")))
            .chain((i % 3 == 0).then(|| format!("dense/f{i:02}-x")))
            .map(|k| {
                dense.push(k.clone());
                TxnOp::put(k, "x", None)
            })
            .collect();
        client.txn(Txn::new().and_then(ops)).await.unwrap();
    }
    dense.sort();
    let mut expected_level: Vec<(String, String)> = Vec::new();
    for key in &dense {
        let entry = match key["dense/".len()..].find('/') {
            Some(i) => ("folder".to_string(), key[..="dense/".len() + i].to_string()),
            None => ("key".to_string(), key.clone()),
        };
        if expected_level.last() != Some(&entry) {
            expected_level.push(entry);
        }
    }
    let mut paged = Vec::new();
    let mut path = "/api/v1/clusters/live/keys?prefix=dense%2F&limit=25".to_string();
    loop {
        let (code, body) = monitor.get(&path).await;
        assert_eq!(code, 200, "{body}");
        assert!(body["folders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["keys"] == 20));
        paged.extend(entries(&body));
        match body["next"].as_str() {
            Some(n) => {
                path = format!(
                    "/api/v1/clusters/live/keys?prefix=dense%2F&limit=25&after={}",
                    urlencode(n)
                )
            }
            None => break,
        }
    }
    assert_eq!(paged.len(), 30 + 15 + 10);
    assert_eq!(paged, expected_level);
    monitor.stop().await;
}

/// Binary values as hex; a binary key listed with its hex and readable by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_values_show_as_hex_and_binary_keys_are_read_by_their_hex() {
    let cluster = CLUSTER.get().await;
    let (monitor, mut client) = start(&cluster).await;
    put_binary(&mut client, "").await;
    client
        .put(b"bin/\xff\xfe".to_vec(), "k", None)
        .await
        .unwrap();
    let (code, body) = monitor
        .get("/api/v1/clusters/live/keys/value?key=bin%2Fblob")
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["binary"], true);
    assert_eq!(body["value_hex"], "000102ff");
    assert_eq!(body["size"], 4);
    assert_eq!(body["truncated"], false);
    assert_eq!(body["version"], 1);
    let (code, html) = get_html(&monitor, "/clusters/live/keys/value?key=bin%2Fblob").await;
    assert_eq!(code, 200);
    assert!(html.contains("00000000  00 01 02 ff"), "{html}");
    let (_, body) = monitor
        .get("/api/v1/clusters/live/keys?prefix=bin%2F")
        .await;
    let binary_key = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k.get("key_hex").is_some())
        .unwrap_or_else(|| panic!("no binary key listed: {body}"));
    assert_eq!(binary_key["key_hex"], "62696e2ffffe");
    let (code, body) = monitor
        .get("/api/v1/clusters/live/keys/value?key_hex=62696e2ffffe")
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["value"], "k");
    let (code, html) = get_html(&monitor, "/clusters/live/keys?prefix=bin%2F").await;
    assert_eq!(code, 200);
    assert!(
        html.contains("/clusters/live/keys/value?key_hex=62696e2ffffe"),
        "{html}"
    );
    monitor.stop().await;
}

/// A value over 64 KiB: cut, with its full size and its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_64_kib_is_cut_and_shows_its_full_size() {
    let cluster = CLUSTER.get().await;
    let (monitor, mut client) = start(&cluster).await;
    let (_, lease) = put_large(&mut client, "").await;
    let (code, body) = monitor
        .get("/api/v1/clusters/live/keys/value?key=large%2Fvalue")
        .await;
    assert_eq!(code, 200);
    assert_eq!(body["size"], 200 * 1024);
    assert_eq!(body["truncated"], true);
    assert_eq!(body["value"].as_str().unwrap().len(), 64 * 1024);
    assert_eq!(body["lease"], lease);
    let (_, html) = get_html(&monitor, "/clusters/live/keys/value?key=large%2Fvalue").await;
    assert!(html.contains("200 KiB (204800 bytes)"), "{html}");
    assert!(
        html.contains("Only the first 64 KiB (65536 bytes) of 200 KiB"),
        "{html}"
    );
    assert!(html.contains(&format!("{lease:x}")), "lease in hex");
    monitor.stop().await;
}

/// A hostile key and value are text, never markup. Its `/` makes the listing show
/// `<script>alert(1)</` as a folder; the key's own page shows all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_keys_and_values_are_text_never_markup() {
    let cluster = CLUSTER.get().await;
    let (monitor, mut client) = start(&cluster).await;
    let (hostile, value) = HOSTILE;
    client.put(hostile, value, None).await.unwrap();
    // askama escapes `<` and `>` as `&#60;` and `&#62;` (`&lt;`, `&gt;` would do too).
    let escaped = |text: &str| {
        let numeric = text.replace('<', "&#60;").replace('>', "&#62;");
        let named = text.replace('<', "&lt;").replace('>', "&gt;");
        move |html: &str| html.contains(&numeric) || html.contains(&named)
    };
    for (path, shown) in [
        (
            "/clusters/live/keys?prefix=esc%2F".to_string(),
            "<script>alert(1)</",
        ),
        (
            format!("/clusters/live/keys/value?key={}", urlencode(hostile)),
            "<script>alert(1)</script>",
        ),
    ] {
        let (code, html) = get_html(&monitor, &path).await;
        assert_eq!(code, 200, "{path}");
        assert!(
            !html.contains("<script>"),
            "{path}: raw <script> in\n{html}"
        );
        assert!(!html.contains("<b>bold"), "{path}");
        assert!(escaped(shown)(&html), "{path}: escaped key missing\n{html}");
    }
    monitor.stop().await;
}

/// Bad parameters name themselves; unknown clusters and keys are 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_name_themselves_and_unknown_names_are_404() {
    let cluster = CLUSTER.get().await;
    let (monitor, _) = start(&cluster).await;
    for (query, named) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("prefix=a%2F&after=b%2Fx", "after"),
        ("prefix=a&prefix_hex=61", "prefix_hex"),
        ("prefix_hex=zz", "prefix_hex"),
    ] {
        let (code, body) = monitor
            .get(&format!("/api/v1/clusters/live/keys?{query}"))
            .await;
        assert_eq!(code, 400, "{query}: {body}");
        assert!(error_message(&body).contains(named), "{query}: {body}");
        let (code, html) = get_html(&monitor, &format!("/clusters/live/keys?{query}")).await;
        assert_eq!(code, 400, "page {query}");
        assert!(html.contains(named), "page {query}");
    }
    let (code, body) = monitor.get("/api/v1/clusters/live/keys/value").await;
    assert_eq!(code, 400);
    assert!(error_message(&body).starts_with("key"), "{body}");
    let (code, _) = monitor
        .get("/api/v1/clusters/live/keys/value?key=no%2Fsuch")
        .await;
    assert_eq!(code, 404);
    for path in [
        "/api/v1/clusters/nope/keys",
        "/api/v1/clusters/nope/keys/value?key=a",
    ] {
        let (code, body) = monitor.get(path).await;
        assert_eq!(code, 404, "{path}");
        assert_eq!(error_message(&body), "unknown cluster \"nope\"");
    }
    let (code, _) = get_html(&monitor, "/clusters/nope/keys").await;
    assert_eq!(code, 404);
    monitor.stop().await;
}

/// A dead cluster: a clear 503 within the deadlines, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_cluster_is_a_clear_503_within_the_deadlines() {
    let cluster = CLUSTER.get().await;
    let (monitor, _) = start(&cluster).await;
    let started = Instant::now();
    let (code, body) = monitor.get("/api/v1/clusters/gone/keys").await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(error_message(&body).starts_with("cluster gone: "), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let (code, html) = get_html(&monitor, "/clusters/gone/keys").await;
    assert_eq!(code, 503);
    assert!(html.contains("Cluster unavailable"), "{html}");
    monitor.stop().await;
}

/// In chromium: a folder's link opens its level, the pages fit a phone's width,
/// the hostile key stays text (no script of its own, no dialog), and no page
/// reports a problem (a CSP violation would be one). Its keys are under `ui/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_folders_open_pages_fit_a_phone_and_hostile_keys_stay_text() {
    let (cluster, browser) = tokio::join!(CLUSTER.get(), Browser::shared());
    let (monitor, mut client) = start(&cluster).await;
    put_tree(&mut client, "ui/").await;
    let binary = put_binary(&mut client, "ui/").await;
    let (large, _) = put_large(&mut client, "ui/").await;
    let hostile = format!("ui/{}", HOSTILE.0);
    client.put(hostile.as_str(), HOSTILE.1, None).await.unwrap();

    let page = browser.new_page().await;
    page.set_viewport(1280, 900, false).await;
    let mut shots = Shots::default();
    let base = monitor.base.clone();
    page.goto(&format!("{base}/clusters/live/keys?prefix=ui%2Ftree%2F"))
        .await;
    shots.take(&page, "keys").await;
    let folder = page
        .eval("document.querySelector('table.keys tr.folder a').href")
        .await;
    page.goto(folder.as_str().unwrap()).await;
    page.wait_until(
        "the folder ui/tree/a/ to list 1, 2 and b/",
        "Array.from(document.querySelectorAll('table.keys td:first-child')).map(td => td.innerText.trim()).join(' ') === '1 2 b/'",
        Duration::from_secs(5),
    )
    .await;
    shots.take_phone(&page, "keys-folder").await;
    page.goto(&format!(
        "{base}/clusters/live/keys/value?key={}",
        urlencode(&binary)
    ))
    .await;
    shots.take(&page, "key-binary").await;
    page.goto(&format!(
        "{base}/clusters/live/keys/value?key={}",
        urlencode(&large)
    ))
    .await;
    shots.take_phone(&page, "key-large").await;
    page.goto(&format!(
        "{base}/clusters/live/keys/value?key={}",
        urlencode(&hostile)
    ))
    .await;
    shots.take(&page, "key-hostile").await;
    let shown = page
        .eval("document.querySelector('dl.facts dd code').textContent")
        .await;
    assert_eq!(shown, js_value(&hostile), "the key is shown as its text");
    let injected = page
        .eval(&format!(
            "Array.from(document.scripts).filter(s => !s.src.includes('/assets/app.js')).length + document.querySelectorAll('b').length + (document.title.includes({}) ? 0 : 1)",
            js("alert(1)")
        ))
        .await;
    assert_eq!(injected, 0, "{}", page.failure("injected elements").await);
    assert_clean(&page, &[]);
    page.close().await;
    monitor.stop().await;
}
