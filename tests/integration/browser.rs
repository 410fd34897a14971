//! A small Chrome DevTools Protocol client for the dashboard tests.
//!
//! [`Browser::launch`] starts Debian's headless `chromium` (`/usr/bin/chromium`, or
//! `$CHROMIUM_BIN`) on a temporary profile in its own process group, reads the
//! browser's websocket address from its stderr, and talks to it over that one
//! websocket: each [`Page`] is a target attached with a flattened session. Every
//! call has a deadline ([`CALL_DEADLINE`]); a failure names the call and shows the
//! page's text and the tail of chromium's stderr. Dropping the browser kills the
//! process group it started (chromium and its helpers), nothing else.
//!
//! [`Browser::shared`] is one chromium for every test of the binary, each in tabs of
//! its own: launched by the first test that asks, on a runtime of its own (its
//! websocket tasks must outlive that test's runtime), killed when the binary exits.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// How long any one DevTools call, navigation or startup may take.
pub const CALL_DEADLINE: Duration = Duration::from_secs(15);
/// Starting chromium reads ~200 MB of binary and libraries: on a loaded 2-core machine
/// (builds beside the tests) that took over 15 s once.
const LAUNCH_DEADLINE: Duration = Duration::from_secs(60);
/// Lines of chromium's stderr kept for failure messages.
const STDERR_LINES: usize = 40;

fn chromium_bin() -> PathBuf {
    std::env::var_os("CHROMIUM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Chromium's process: killed with its whole process group on drop, then reaped.
struct Process {
    child: Child,
    stderr: Arc<Mutex<VecDeque<String>>>,
    profile: tempfile::TempDir,
}

impl Process {
    fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().unwrap();
        if tail.is_empty() {
            "(nothing)".into()
        } else {
            tail.iter().cloned().collect::<Vec<_>>().join("\n")
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The child was started with `process_group(0)`: its group id is its pid, and
        // the group holds only chromium and the helpers it forked.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals that process group; no memory
        // is involved.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Launches the shared browser on a thread and a runtime of its own, which keep its
/// websocket tasks running until the binary exits.
async fn launch_shared() -> Result<&'static Browser, String> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("shared-browser".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                match AssertUnwindSafe(Browser::launch()).catch_unwind().await {
                    Ok(browser) => {
                        let browser: &'static Browser = Box::leak(Box::new(browser));
                        kill_at_exit(browser);
                        let _ = tx.send(Ok(browser));
                        std::future::pending::<()>().await
                    }
                    Err(panic) => {
                        let why = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        let _ = tx.send(Err(why));
                    }
                }
            })
        })
        .unwrap();
    rx.await
        .unwrap_or_else(|_| Err("the browser's thread ended".to_string()))
}

/// Has the exit hook kill `browser`'s process group and remove its profile: the
/// shared browser is never dropped.
fn kill_at_exit(browser: &'static Browser) {
    extern "C" fn kill_shared() {
        let process = SHARED_PROCESS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((group, profile)) = process {
            // SAFETY: kill(2) with a negative pid signals the process group chromium
            // was started in (see `Process`); no memory is involved.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
            let _ = std::fs::remove_dir_all(profile);
        }
    }
    let process = &browser.process;
    *SHARED_PROCESS.lock().unwrap() = Some((
        process.child.id() as libc::pid_t,
        process.profile.path().to_path_buf(),
    ));
    // SAFETY: registers a function that takes no argument and does not unwind.
    assert_eq!(unsafe { libc::atexit(kill_shared) }, 0);
}

/// What the reader task and the callers share.
struct Shared {
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    /// Every event received, in order (with its `sessionId`).
    events: Mutex<Vec<Value>>,
    notify: Notify,
    /// Why the connection ended, once it has.
    closed: Mutex<Option<String>>,
    out: mpsc::UnboundedSender<Message>,
}

impl Shared {
    fn send(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> (u64, oneshot::Receiver<Value>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        // A closed channel drops `tx` with the pending map below; the caller sees it.
        let _ = self.out.send(Message::text(msg.to_string()));
        (id, rx)
    }

    fn closed(&self) -> Option<String> {
        self.closed.lock().unwrap().clone()
    }
}

async fn read_loop<S>(mut stream: S, shared: Arc<Shared>)
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let why = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    if let Some(tx) = shared.pending.lock().unwrap().remove(&id) {
                        let _ = tx.send(v);
                    }
                    continue;
                }
                if v["method"] == "Page.javascriptDialogOpening" {
                    // Dismiss it at once so the page is not left blocked; the event
                    // stays in the log for the test to see.
                    let session = v["sessionId"].as_str();
                    let _ = shared.send(
                        session,
                        "Page.handleJavaScriptDialog",
                        json!({"accept": false}),
                    );
                }
                shared.events.lock().unwrap().push(v);
                shared.notify.notify_waiters();
            }
            Some(Ok(Message::Close(frame))) => {
                break format!("chromium closed the websocket: {frame:?}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => break format!("websocket error: {e}"),
            None => break "the websocket ended".to_string(),
        }
    };
    *shared.closed.lock().unwrap() = Some(why);
    // Dropping the senders wakes every caller still waiting for an answer.
    shared.pending.lock().unwrap().clear();
    shared.notify.notify_waiters();
}

/// The shared browser, or why it could not start.
static SHARED: tokio::sync::OnceCell<Result<&'static Browser, String>> =
    tokio::sync::OnceCell::const_new();
/// The shared browser's process group and profile, for the exit hook.
static SHARED_PROCESS: Mutex<Option<(libc::pid_t, PathBuf)>> = Mutex::new(None);

/// A running headless chromium and the websocket to it.
pub struct Browser {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    // Last, so that the tasks are stopped before the process is killed.
    process: Process,
}

impl Drop for Browser {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Browser {
    /// The browser the tests share: the first call launches it (see the module's doc).
    pub async fn shared() -> &'static Browser {
        match SHARED.get_or_init(launch_shared).await {
            Ok(browser) => browser,
            Err(why) => panic!("the shared browser did not start: {why}"),
        }
    }

    /// Starts chromium and connects to it; panics (with chromium's stderr) if either fails.
    pub async fn launch() -> Browser {
        let bin = chromium_bin();
        assert!(
            bin.exists(),
            "{} does not exist: the dashboard's browser tests need Debian's headless chromium \
             (apt-get install chromium fonts-dejavu-core; scripts/test installs them), \
             or CHROMIUM_BIN set to a chromium binary",
            bin.display()
        );
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(&bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                // Screenshots at the viewport's full width, not less a scrollbar.
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr = child.stderr.take().unwrap();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (url_tx, url_rx) = oneshot::channel::<String>();
        {
            let tail = tail.clone();
            std::thread::spawn(move || {
                let mut url_tx = Some(url_tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(url) = line.strip_prefix("DevTools listening on ") {
                        if let Some(tx) = url_tx.take() {
                            let _ = tx.send(url.trim().to_string());
                        }
                    }
                    // Without a system bus (containers, CI) chromium logs dbus errors
                    // by the dozen; they say nothing about the page.
                    if line.contains(":ERROR:dbus/") {
                        continue;
                    }
                    let mut t = tail.lock().unwrap();
                    if t.len() == STDERR_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        let mut process = Process {
            child,
            stderr: tail,
            profile,
        };
        let url = match tokio::time::timeout(LAUNCH_DEADLINE, url_rx).await {
            Ok(Ok(url)) => url,
            _ => {
                let exit = process.child.try_wait().ok().flatten();
                panic!(
                    "chromium did not print its DevTools address within {LAUNCH_DEADLINE:?} \
                     (exit status: {exit:?})\n---- chromium stderr ----\n{}",
                    process.stderr_tail()
                );
            }
        };
        let config = WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let connected = tokio::time::timeout(
            CALL_DEADLINE,
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true),
        )
        .await;
        let ws = match connected {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => panic!(
                "cannot connect to chromium at {url}: {e}\n---- chromium stderr ----\n{}",
                process.stderr_tail()
            ),
            Err(_) => panic!(
                "connecting to chromium at {url} took over {CALL_DEADLINE:?}\n---- chromium stderr ----\n{}",
                process.stderr_tail()
            ),
        };
        let (mut sink, stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let shared = Arc::new(Shared {
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
            notify: Notify::new(),
            closed: Mutex::new(None),
            out,
        });
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let reader = tokio::spawn(read_loop(stream, shared.clone()));
        Browser {
            shared,
            tasks: vec![writer, reader],
            process,
        }
    }

    /// The last lines chromium wrote to stderr (dbus noise left out).
    pub fn stderr_tail(&self) -> String {
        self.process.stderr_tail()
    }

    /// One DevTools call, answered within [`CALL_DEADLINE`]: its `result`, or what failed.
    pub async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.call_within(session, method, params, CALL_DEADLINE)
            .await
    }

    async fn call_within(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        deadline: Duration,
    ) -> Result<Value, String> {
        if let Some(why) = self.shared.closed() {
            return Err(format!("{method}: no connection to chromium ({why})"));
        }
        let (id, rx) = self.shared.send(session, method, params);
        match tokio::time::timeout(deadline, rx).await {
            Err(_) => {
                self.shared.pending.lock().unwrap().remove(&id);
                Err(format!(
                    "{method}: no answer from chromium within {deadline:?}"
                ))
            }
            Ok(Err(_)) => Err(format!(
                "{method}: the connection to chromium was lost ({})",
                self.shared.closed().unwrap_or_default()
            )),
            Ok(Ok(v)) => match v.get("error") {
                Some(e) => Err(format!("{method}: chromium answered with an error: {e}")),
                None => Ok(v["result"].clone()),
            },
        }
    }

    /// A new tab, attached, with the Page, Runtime, Log and Audits domains enabled
    /// (so that exceptions, console errors, CSP reports and dialogs are recorded).
    pub async fn new_page(&self) -> Page<'_> {
        let fail = |e: String| -> Value {
            panic!(
                "opening a tab: {e}\n---- chromium stderr ----\n{}",
                self.stderr_tail()
            )
        };
        let target = self
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await
            .unwrap_or_else(&fail)["targetId"]
            .as_str()
            .unwrap()
            .to_string();
        let session = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await
            .unwrap_or_else(&fail)["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        for domain in ["Page", "Runtime", "Log", "Audits"] {
            self.call(Some(&session), &format!("{domain}.enable"), json!({}))
                .await
                .unwrap_or_else(&fail);
        }
        Page {
            browser: self,
            target,
            session,
            closed: false,
        }
    }
}

/// Something a page reported that a clean page must not: an uncaught exception, a
/// console or log error (CSP violations arrive as such), a CSP issue, a dialog.
#[derive(Debug, Clone)]
pub struct Problem {
    /// `exception`, `console`, `log:<source>` (e.g. `log:network`), `issue:<code>`, `dialog`.
    pub kind: String,
    pub text: String,
    pub url: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.kind, self.text)?;
        if !self.url.is_empty() {
            write!(f, " ({})", self.url)?;
        }
        Ok(())
    }
}

/// One tab, closed when dropped or by [`Page::close`] (its scripts stop: a shared
/// browser outlives the test).
pub struct Page<'b> {
    browser: &'b Browser,
    target: String,
    session: String,
    closed: bool,
}

impl Drop for Page<'_> {
    fn drop(&mut self) {
        if !self.closed {
            // Not waited for: the answer, if any, finds its receiver gone.
            self.browser
                .shared
                .send(None, "Target.closeTarget", json!({"targetId": self.target}));
        }
    }
}

impl Page<'_> {
    /// Closes the tab and waits until chromium did: its connections (a live-update
    /// stream the monitor would wait for when stopping) are gone.
    pub async fn close(mut self) {
        self.closed = true;
        let closed = self
            .browser
            .call(None, "Target.closeTarget", json!({"targetId": self.target}))
            .await;
        if let Err(e) = closed {
            panic!("{}", self.failure(&format!("closing the tab: {e}")).await);
        }
    }

    /// A DevTools call in this tab's session; panics with the page's text on failure.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        match self.browser.call(Some(&self.session), method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{}", self.failure(&e).await),
        }
    }

    /// `what` failed: that, the page's address and text, and chromium's stderr.
    pub async fn failure(&self, what: &str) -> String {
        let text = self
            .browser
            .call_within(
                Some(&self.session),
                "Runtime.evaluate",
                json!({
                    "expression": "location.href + '\\n' + (document.body ? document.body.innerText : '(no body)')",
                    "returnByValue": true,
                }),
                Duration::from_secs(3),
            )
            .await
            .map(|r| r["result"]["value"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|e| format!("(cannot read the page: {e})"));
        let problems: Vec<String> = self.problems().iter().map(|p| p.to_string()).collect();
        format!(
            "{what}\n---- page (address, then text) ----\n{text}\n---- problems the page reported ----\n{}\n---- chromium stderr (last lines) ----\n{}",
            if problems.is_empty() { "none".to_string() } else { problems.join("\n") },
            self.browser.stderr_tail()
        )
    }

    fn events_since(&self, mark: usize) -> Vec<Value> {
        self.browser.shared.events.lock().unwrap()[mark..]
            .iter()
            .filter(|e| e["sessionId"] == self.session.as_str())
            .cloned()
            .collect()
    }

    fn event_count(&self) -> usize {
        self.browser.shared.events.lock().unwrap().len()
    }

    /// Waits for an event `method` of this tab received after `mark`.
    async fn wait_event(&self, method: &str, mark: usize, deadline: Duration) -> Value {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.browser.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(e) = self
                .events_since(mark)
                .into_iter()
                .find(|e| e["method"] == method)
            {
                return e;
            }
            if let Some(why) = self.browser.shared.closed() {
                panic!(
                    "{}",
                    self.failure(&format!("waiting for {method}: {why}")).await
                );
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                panic!(
                    "{}",
                    self.failure(&format!("no {method} within {deadline:?}"))
                        .await
                );
            }
        }
    }

    /// Loads `url` and waits for its load event.
    pub async fn goto(&self, url: &str) {
        let mark = self.event_count();
        let r = self.call("Page.navigate", json!({"url": url})).await;
        if let Some(e) = r["errorText"].as_str().filter(|e| !e.is_empty()) {
            panic!("{}", self.failure(&format!("loading {url}: {e}")).await);
        }
        self.wait_event("Page.loadEventFired", mark, CALL_DEADLINE)
            .await;
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its value.
    pub async fn eval(&self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or(ex["text"].as_str())
                .unwrap_or("");
            panic!(
                "{}",
                self.failure(&format!("evaluating `{expr}`: {text}")).await
            );
        }
        r["result"]["value"].clone()
    }

    /// Evaluates `expr` every 100 ms until its value is truthy, and returns it; panics
    /// after `deadline` with the last value and the page.
    pub async fn wait_until(&self, what: &str, expr: &str, deadline: Duration) -> Value {
        let started = Instant::now();
        loop {
            let v = self.eval(expr).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if started.elapsed() > deadline {
                panic!(
                    "{}",
                    self.failure(&format!(
                        "timed out after {deadline:?} waiting for {what} (`{expr}` is {v})"
                    ))
                    .await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The layout viewport, in CSS pixels; `mobile` also applies the page's viewport meta.
    pub async fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
    }

    /// `prefers-color-scheme` as the page sees it.
    pub async fn set_color_scheme(&self, scheme: &str) {
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// A PNG of the whole page (not only the viewport: everything below the fold too,
    /// at the viewport's width), written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let m = self.call("Page.getLayoutMetrics", json!({})).await;
        let width = m["cssContentSize"]["width"].as_f64().unwrap_or(0.0);
        let height = m["cssContentSize"]["height"].as_f64().unwrap_or(0.0);
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width.ceil(), "height": height.ceil().min(10_000.0), "scale": 1},
                }),
            )
            .await;
        let png = base64_decode(r["data"].as_str().unwrap_or(""));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{}",
            self.failure("Page.captureScreenshot did not return a PNG")
                .await
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Dialogs (alert, confirm, prompt) the page opened; each was dismissed at once.
    pub fn dialogs(&self) -> Vec<String> {
        self.events_since(0)
            .iter()
            .filter(|e| e["method"] == "Page.javascriptDialogOpening")
            .map(|e| format!("{}: {}", e["params"]["type"], e["params"]["message"]))
            .collect()
    }

    /// Everything the page reported so far that a clean page does not.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for e in self.events_since(0) {
            let p = &e["params"];
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            match e["method"].as_str().unwrap_or("") {
                "Runtime.exceptionThrown" => {
                    let d = &p["exceptionDetails"];
                    out.push(Problem {
                        kind: "exception".into(),
                        text: format!(
                            "{} {}",
                            text(&d["text"]),
                            text(&d["exception"]["description"])
                        ),
                        url: format!(
                            "{}:{}",
                            text(&d["url"]),
                            d["lineNumber"].as_i64().unwrap_or(0) + 1
                        ),
                    });
                }
                "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "assert" => {
                    let args: Vec<String> = p["args"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|v| match v.get("value") {
                                    Some(Value::String(s)) => s.clone(),
                                    Some(v) => v.to_string(),
                                    None => text(&v["description"]),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(Problem {
                        kind: "console".into(),
                        text: args.join(" "),
                        url: text(&p["stackTrace"]["callFrames"][0]["url"]),
                    });
                }
                "Log.entryAdded" if p["entry"]["level"] == "error" => out.push(Problem {
                    kind: format!("log:{}", text(&p["entry"]["source"])),
                    text: text(&p["entry"]["text"]),
                    url: text(&p["entry"]["url"]),
                }),
                "Audits.issueAdded" => {
                    let code = text(&p["issue"]["code"]);
                    if code.contains("ContentSecurityPolicy") {
                        let d = &p["issue"]["details"]["contentSecurityPolicyIssueDetails"];
                        out.push(Problem {
                            kind: format!("issue:{code}"),
                            text: format!(
                                "{} blocked {}",
                                text(&d["violatedDirective"]),
                                text(&d["contentSecurityPolicyViolationType"])
                            ),
                            url: d["blockedURL"]
                                .as_str()
                                .unwrap_or_else(|| {
                                    d["sourceCodeLocation"]["url"].as_str().unwrap_or("")
                                })
                                .to_string(),
                        });
                    }
                }
                "Page.javascriptDialogOpening" => out.push(Problem {
                    kind: "dialog".into(),
                    text: format!("{}: {}", text(&p["type"]), text(&p["message"])),
                    url: text(&p["url"]),
                }),
                _ => {}
            }
        }
        out
    }
}

/// Standard base64 (what DevTools sends screenshots in).
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: byte {c}"),
        }
    };
    let digits: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(digits.len() / 4 * 3 + 3);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("TWFu"), b"Man");
    assert_eq!(base64_decode("TWE="), b"Ma");
    assert_eq!(base64_decode("TQ=="), b"M");
    assert_eq!(base64_decode(""), b"");
    assert_eq!(base64_decode("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
}
