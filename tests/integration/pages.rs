//! What the tests of the HTML pages share: a page fetched over plain HTTP with its
//! headers, the checks every page passes (status, content type, CSP, escaping), URL
//! and JS encoding, screenshots, and the check that a page open in chromium stayed
//! clean (no CSP violation, script or console error, dialog).
//!
//! Screenshots go to `$DASHBOARD_SCREENSHOTS` (default `target/dashboard-screenshots`);
//! their paths are printed (`cargo test --test integration dashboard -- --nocapture`).

use std::path::PathBuf;

use serde_json::Value;

use crate::browser::{Page, Problem};
use crate::harness::Monitor;

/// Percent-encodes everything but unreserved characters (as the dashboard's links do).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A JS string literal for `s`.
pub fn js(s: &str) -> String {
    Value::from(s).to_string()
}

/// A page fetched over plain HTTP.
pub struct Fetched {
    pub status: u16,
    pub content_type: String,
    pub csp: String,
    pub body: String,
}

pub async fn fetch(monitor: &Monitor, path: &str) -> Fetched {
    let resp = monitor
        .http
        .get(format!("{}{path}", monitor.base))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (content_type, csp) = (header("Content-Type"), header("Content-Security-Policy"));
    Fetched {
        status: resp.status().as_u16(),
        content_type,
        csp,
        body: resp.text().await.unwrap(),
    }
}

/// An HTML page with `status`, served with the dashboard's CSP, whose text names
/// everything in `names`.
pub async fn expect_page(monitor: &Monitor, path: &str, status: u16, names: &[&str]) -> String {
    let page = fetch(monitor, path).await;
    let context = format!(
        "GET {path}: {} {}\n{}",
        page.status, page.content_type, page.body
    );
    assert_eq!(page.status, status, "{context}");
    assert_eq!(page.content_type, "text/html; charset=utf-8", "{context}");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
    ] {
        assert!(
            page.csp.contains(directive),
            "CSP {:?} lacks {directive}; {context}",
            page.csp
        );
    }
    assert!(page.body.starts_with("<!doctype html>"), "{context}");
    if status != 200 {
        assert!(
            page.body.contains(&format!("<h1>{status} ")),
            "the heading names the status; {context}"
        );
    }
    for name in names {
        assert!(
            page.body.contains(name),
            "the page names {name:?}; {context}"
        );
    }
    page.body
}

/// Asserts `html` has `<script>` escaped (askama writes `&#60;script&#62;`; `&lt;`
/// would do as well) and none of `raw` as markup.
pub fn assert_escaped(what: &str, html: &str, raw: &[&str]) {
    assert!(
        html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
        "{what}: no escaped <script> in\n{html}"
    );
    for r in raw {
        assert!(!html.contains(r), "{what}: raw {r:?} in\n{html}");
    }
}

pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("DASHBOARD_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots")
        })
}

/// The screenshots a test took; their paths are printed when it ends.
#[derive(Default)]
pub struct Shots(Vec<PathBuf>);

impl Shots {
    /// The whole page, as `{name}.png`.
    pub async fn take(&mut self, page: &Page<'_>, name: &str) {
        let path = screenshot_dir().join(format!("{name}.png"));
        page.screenshot(&path).await;
        self.0.push(path);
    }

    /// The page on a 390 px phone screen, shot as `{name}-phone`; then the desktop
    /// viewport again. Wide tables scroll inside their box; the page itself never
    /// scrolls sideways.
    pub async fn take_phone(&mut self, page: &Page<'_>, name: &str) {
        page.set_viewport(390, 844, true).await;
        let width = page.eval("document.documentElement.scrollWidth").await;
        assert!(
            width.as_u64().is_some_and(|w| w <= 390),
            "{}",
            page.failure(&format!("{name} is {width} px wide on a 390 px screen"))
                .await
        );
        self.take(page, &format!("{name}-phone")).await;
        page.set_viewport(1280, 900, false).await;
    }
}

impl Drop for Shots {
    fn drop(&mut self) {
        for s in &self.0 {
            eprintln!("screenshot: {}", s.display());
        }
    }
}

/// Asserts that every page `page` showed stayed clean: no dialog opened, and no
/// problem reported (CSP violations, script errors, console errors) but the failed
/// loads of `expected_failures`, error pages opened on purpose.
pub fn assert_clean(page: &Page<'_>, expected_failures: &[String]) {
    let dialogs = page.dialogs();
    assert!(dialogs.is_empty(), "dialogs opened: {dialogs:?}");
    let problems = unexpected(page.problems(), expected_failures);
    assert!(
        problems.is_empty(),
        "the pages reported errors (CSP violations, script errors, console errors):\n{}",
        problems.join("\n")
    );
}

/// Problems the page reported, less the failed loads of the error pages the test
/// opened on purpose (chromium logs every 4xx document as a network error) and of
/// `/favicon.ico`, which chromium asks for by itself (printed, not failed: the
/// dashboard has no icon yet).
fn unexpected(problems: Vec<Problem>, expected_failures: &[String]) -> Vec<String> {
    problems
        .into_iter()
        .filter(|p| {
            if p.kind != "log:network" {
                return true;
            }
            if p.url.ends_with("/favicon.ico") {
                eprintln!("note: {p}");
                return false;
            }
            !expected_failures.contains(&p.url)
        })
        .map(|p| p.to_string())
        .collect()
}
