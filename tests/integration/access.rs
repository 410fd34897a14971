//! Access control end to end (`server.auth.mode = "local"`): a monitor over a real
//! 1-member cluster with a viewer, an operator and an admin, each by session (a
//! login through the form) and by API token. Every route of the router is walked
//! as each of them and as nobody; then the refusals one by one: another site's
//! form, a missing CSRF token, a session after logout, a revoked token, sessions
//! past their idle time and lifetime, a lockout after failed logins; and no
//! password, token or session id in any answer or audit record.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_monitor::auth::{tokens, users, AuthMode, Role};
use etcd_monitor::config::{ClusterConfig, Settings};
use etcd_monitor::localetcd::LocalClusterOptions;
use etcd_monitor::web::{routes, Access};
use reqwest::header;
use serde_json::Value;

use crate::harness::*;
use crate::monitor::Monitor;

static CLUSTER: SharedCluster = SharedCluster::new(1, LocalClusterOptions::default);

const PASSWORD: &str = "correct horse battery staple";

fn settings(cluster: &TestCluster, tweak: impl FnOnce(&mut Settings)) -> Settings {
    let mut s = test_settings(
        vec![ClusterConfig::plain("c1", cluster.client_urls())],
        Duration::from_secs(1),
    );
    s.server.auth.mode = AuthMode::Local;
    tweak(&mut s);
    s.validate().unwrap();
    s
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A session: its cookie and its CSRF token.
#[derive(Clone)]
struct Login {
    cookie: String,
    csrf: String,
}

/// The value of cookie `name` in an answer's `Set-Cookie` headers.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (n, value) = pair.split_once('=')?;
            (n == name && !value.is_empty()).then(|| value.to_string())
        })
}

/// `value="..."` of the hidden CSRF field in a page.
fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a CSRF field")
        + 25;
    html[at..].split('"').next().unwrap().to_string()
}

/// Fetches the login form; returns its CSRF cookie and field.
async fn login_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let resp = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = set_cookie(&resp, "em_csrf").expect("the form sets its CSRF cookie");
    let field = csrf_in(&resp.text().await.unwrap());
    assert_eq!(cookie, field);
    (cookie, field)
}

/// Posts the login form for `user`; returns the answer.
async fn post_login(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let (cookie, field) = login_form(http, base).await;
    http.post(format!("{base}/login"))
        .header(header::COOKIE, format!("em_csrf={cookie}"))
        .form(&[
            ("user", user),
            ("password", password),
            ("csrf_token", &field),
            ("next", "/alerts"),
        ])
        .send()
        .await
        .unwrap()
}

/// Logs in through the form and reads the session's CSRF token off a page.
async fn login(http: &reqwest::Client, base: &str, user: &str) -> Login {
    let resp = post_login(http, base, user, PASSWORD).await;
    assert_eq!(resp.status(), 303, "login of {user}");
    assert_eq!(resp.headers()[header::LOCATION], "/alerts");
    let raw = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(raw.contains(attribute), "{raw}");
    }
    let cookie = set_cookie(&resp, "em_session").expect("a session cookie");
    let page = http
        .get(format!("{base}/about"))
        .header(header::COOKIE, format!("em_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("{user} · ")),
        "the user bar names {user}"
    );
    Login {
        csrf: csrf_in(&html),
        cookie,
    }
}

/// Who a request is sent as.
#[derive(Clone)]
enum Caller {
    Nobody,
    Session(Login),
    Token(String),
}

impl Caller {
    fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Caller::Nobody => req,
            Caller::Session(l) => req
                .header(header::COOKIE, format!("em_session={}", l.cookie))
                .header("X-CSRF-Token", &l.csrf),
            Caller::Token(t) => req.bearer_auth(t),
        }
    }
}

/// A concrete path for a route's pattern.
fn concrete(pattern: &str, member: &str) -> String {
    let path = pattern
        .replace("{name}", "c1")
        .replace("{member}", member)
        .replace("{id}", "no-such-run")
        .replace("{fingerprint}", "0000000000000000")
        .replace("{file:.*}", "app.css")
        .replace("{user}", "nobody")
        .replace("{token}", "nobody");
    if path.ends_with("/keys/value") {
        format!("{path}?key=/access/k")
    } else {
        path
    }
}

/// What `caller` of `role` (`None`: nobody) should get from a route needing `access`.
fn expected(role: Option<Role>, access: Access, method: &str, path: &str) -> &'static str {
    let needed = match access {
        Access::Public => None,
        Access::Viewer => Some(Role::Viewer),
        Access::Operator => Some(Role::Operator),
        Access::Admin => Some(Role::Admin),
    };
    match (role, needed) {
        // Nobody posting the login form without its CSRF cookie.
        (None, None) if method != "GET" && path == "/login" => "403",
        (_, None) => "in",
        (None, Some(_)) => "401",
        (Some(r), Some(n)) if r >= n => "in",
        (Some(_), Some(_)) => "403",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_role_as_declared() {
    let cluster = CLUSTER.get().await;
    let mut etcd = etcd_client::Client::connect(cluster.client_urls(), None)
        .await
        .unwrap();
    etcd.put("/access/k", "secret value", None).await.unwrap();
    let monitor = Monitor::start(settings(&cluster, |_| {})).await;
    let http = client();
    let mut callers: Vec<(String, Option<Role>, Caller)> =
        vec![("nobody".into(), None, Caller::Nobody)];
    let mut secrets = vec![PASSWORD.to_string()];
    for role in Role::ALL {
        let name = format!("{role}-user");
        users::add(&monitor.store, &name, role, PASSWORD).unwrap();
        let l = login(&http, &monitor.base, &name).await;
        secrets.push(l.cookie.clone());
        callers.push((format!("{role} (session)"), Some(role), Caller::Session(l)));
        let (_, token) =
            tokens::create(&monitor.store, &format!("{role}-token"), role, None, "test").unwrap();
        secrets.push(token.clone());
        callers.push((format!("{role} (token)"), Some(role), Caller::Token(token)));
    }
    let member = wait_for(
        "a member in the snapshot",
        Duration::from_secs(20),
        || async {
            // Read with the admin's token: nobody may read the API without one.
            let resp = callers[6]
                .2
                .apply(http.get(format!("{}/api/v1/clusters/c1/members", monitor.base)))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = resp.json().await.map_err(|e| e.to_string())?;
            v["members"][0]["name"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("no member yet: {v}"))
        },
    )
    .await;

    let mut table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut bodies = String::new();
    for route in routes() {
        if route.path == "/logout" {
            continue; // walked below: it would end the sessions
        }
        let path = concrete(route.path, &member);
        let url = format!("{}{path}", monitor.base);
        let method = route.method.as_str();
        let mut row = Vec::new();
        for (who, role, caller) in &callers {
            let method_of_reqwest = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = caller.apply(http.request(method_of_reqwest, &url));
            if method != "GET" {
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body("{}");
            }
            let resp = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path} as {who}: {e}"));
            let status = resp.status().as_u16();
            let got = match status {
                401 | 403 => status.to_string(),
                // A page asked for without a login goes to the login page.
                303 if role.is_none() && method == "GET" => {
                    let to = resp.headers()[header::LOCATION]
                        .to_str()
                        .unwrap()
                        .to_string();
                    assert!(to.starts_with("/login?next="), "{method} {path}: {to}");
                    "401".to_string()
                }
                _ => "in".to_string(),
            };
            if route.path != "/events" {
                bodies.push_str(&resp.text().await.unwrap_or_default());
            }
            let want = expected(*role, route.access, method, route.path);
            if got != want {
                wrong.push(format!(
                    "{method} {path} as {who}: got {status}, want {want}"
                ));
            }
            row.push(if got == "in" { status.to_string() } else { got });
        }
        table.insert(format!("{method:<6} {}", route.path), row);
    }
    println!(
        "route × caller ({}):",
        callers
            .iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    for (route, row) in &table {
        println!("{route:<48} {}", row.join(" "));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every route was walked: a route added later is in this table by construction.
    assert_eq!(table.len() + 1, routes().len());

    // A viewer sees no value; an operator does.
    let value_url = format!(
        "{}/api/v1/clusters/c1/keys/value?key=/access/k",
        monitor.base
    );
    let operator = &callers[3].2;
    let body: Value = operator
        .apply(http.get(&value_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["value"], "secret value", "{body}");

    // No secret in any answer, nor in the audit trail.
    let audit = etcd_monitor::audit::read(&monitor.store, 100_000).unwrap();
    assert!(audit
        .iter()
        .any(|r| r.action == "login" && r.outcome == "ok"));
    let trail = serde_json::to_string(&audit).unwrap();
    for s in &secrets {
        assert!(!bodies.contains(s.as_str()), "a secret in an answer");
        assert!(!trail.contains(s.as_str()), "a secret in the audit trail");
    }
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_from_elsewhere_or_with_stale_credentials_are_refused() {
    let cluster = CLUSTER.get().await;
    let monitor = Monitor::start(settings(&cluster, |_| {})).await;
    let http = client();
    users::add(&monitor.store, "op", Role::Operator, PASSWORD).unwrap();
    users::add(&monitor.store, "boss", Role::Admin, PASSWORD).unwrap();
    let base = &monitor.base;
    let op = login(&http, base, "op").await;
    let ack = format!("{base}/api/v1/alerts/0000000000000000/ack");
    let body = r#"{"by":"op"}"#;
    let post = |cookie: &str, csrf: Option<&str>| {
        let mut r = http
            .post(&ack)
            .header(header::COOKIE, format!("em_session={cookie}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(c) = csrf {
            r = r.header("X-CSRF-Token", c);
        }
        r
    };
    // With its token the change is let in (404: no such alert).
    assert_eq!(
        post(&op.cookie, Some(&op.csrf))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Without it, or with another, refused.
    let no_token = post(&op.cookie, None).send().await.unwrap();
    assert_eq!(no_token.status(), 403);
    assert!(no_token.text().await.unwrap().contains("CSRF"));
    assert_eq!(
        post(&op.cookie, Some("forged"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Another site's page, even with the token.
    let foreign = post(&op.cookie, Some(&op.csrf))
        .header(header::ORIGIN, "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // A form without the token (the body read for it, then refused).
    let form = http
        .post(format!("{base}/logout"))
        .header(header::COOKIE, format!("em_session={}", op.cookie))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403);

    // Logout ends the session: the stolen cookie is worth nothing afterwards.
    let logout = http
        .post(format!("{base}/logout"))
        .header(header::COOKIE, format!("em_session={}", op.cookie))
        .form(&[("csrf_token", op.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert_eq!(
        post(&op.cookie, Some(&op.csrf))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let whoami = http
        .get(format!("{base}/api/v1/whoami"))
        .header(header::COOKIE, format!("em_session={}", op.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 401);

    // A revoked token: the next request is refused.
    let (_, token) = tokens::create(&monitor.store, "ci", Role::Viewer, None, "test").unwrap();
    let who = || {
        http.get(format!("{base}/api/v1/whoami"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(who().await.unwrap().status(), 200);
    let boss = login(&http, base, "boss").await;
    let revoke = Caller::Session(boss.clone())
        .apply(http.delete(format!("{base}/api/v1/tokens/ci")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(who().await.unwrap().status(), 401);

    // A deleted user's session ends at once.
    users::add(&monitor.store, "temp", Role::Viewer, PASSWORD).unwrap();
    let temp = login(&http, base, "temp").await;
    let del = Caller::Session(boss)
        .apply(http.delete(format!("{base}/api/v1/users/temp")))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let after = Caller::Session(temp)
        .apply(http.get(format!("{base}/api/v1/whoami")))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    // Each change is in the audit trail with who made it, from where, and how.
    let audit = etcd_monitor::audit::read(&monitor.store, 1000).unwrap();
    let find = |action: &str, actor: &str| {
        audit
            .iter()
            .find(|r| r.action == action && r.actor == actor)
            .unwrap_or_else(|| panic!("no {action} by {actor} in {audit:#?}"))
    };
    assert_eq!(find("token revoke", "boss").outcome, "ok");
    assert_eq!(find("user delete", "boss").address, "127.0.0.1");
    assert!(find("alert acknowledge", "op")
        .outcome
        .starts_with("failed: HTTP 404"));
    assert!(find("logout", "op").source == "web");
    assert!(audit
        .iter()
        .any(|r| r.outcome.starts_with("refused") && r.actor == "op"));
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_their_idle_time_and_lifetime() {
    let cluster = CLUSTER.get().await;
    let monitor = Monitor::start(settings(&cluster, |s| {
        s.server.auth.session_idle = Duration::from_secs(2);
        s.server.auth.session_lifetime = Duration::from_secs(4);
    }))
    .await;
    let http = client();
    users::add(&monitor.store, "ann", Role::Viewer, PASSWORD).unwrap();
    let status = |l: &Login| {
        http.get(format!("{}/api/v1/whoami", monitor.base))
            .header(header::COOKIE, format!("em_session={}", l.cookie))
            .send()
    };
    let idle = login(&http, &monitor.base, "ann").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(status(&idle).await.unwrap().status(), 401, "idle 2.5 s");

    let busy = login(&http, &monitor.base, "ann").await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(3_200) {
        assert_eq!(
            status(&busy).await.unwrap().status(),
            200,
            "in use at {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        status(&busy).await.unwrap().status(),
        401,
        "past its 4 s lifetime"
    );
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failed_logins_lock_the_user_out_until_the_lockout_ends() {
    let cluster = CLUSTER.get().await;
    let monitor = Monitor::start(settings(&cluster, |s| {
        s.server.auth.max_failed_logins = 10;
        s.server.auth.lockout = Duration::from_secs(3);
    }))
    .await;
    let http = client();
    users::add(&monitor.store, "ann", Role::Viewer, PASSWORD).unwrap();
    for i in 1..=10 {
        let resp = post_login(&http, &monitor.base, "ann", "wrong password!").await;
        assert_eq!(resp.status(), 401, "failure {i}");
        assert!(set_cookie(&resp, "em_session").is_none());
    }
    // The eleventh, with the right password: refused, the lockout's end said.
    let locked = post_login(&http, &monitor.base, "ann", PASSWORD).await;
    assert_eq!(locked.status(), 429);
    let retry: u64 = locked.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry), "{retry}");
    assert!(set_cookie(&locked, "em_session").is_none());
    assert!(locked
        .text()
        .await
        .unwrap()
        .contains("Too many failed logins"));
    tokio::time::sleep(Duration::from_secs(retry + 1)).await;
    let resp = post_login(&http, &monitor.base, "ann", PASSWORD).await;
    assert_eq!(resp.status(), 303, "after the lockout");
    let audit = etcd_monitor::audit::read(&monitor.store, 1000).unwrap();
    let logins: Vec<&str> = audit
        .iter()
        .filter(|r| r.action == "login")
        .map(|r| r.outcome.as_str())
        .collect();
    assert_eq!(logins.len(), 12, "{logins:?}");
    assert!(logins[9].ends_with("now locked out"), "{logins:?}");
    assert!(logins[10].starts_with("refused: locked out"), "{logins:?}");
    assert_eq!(logins[11], "ok");
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_none_is_refused_beyond_loopback() {
    let mut s = Settings::load_with_env(None, &Default::default(), |_| None).unwrap();
    s.server.listen = "0.0.0.0:9393".parse().unwrap();
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("server.auth.mode"), "{err}");
    s.server.auth.mode = AuthMode::Local;
    s.validate().unwrap();
}

/// `[server.tls]`: pages and API over HTTPS with a test CA's certificate; the
/// certificate replaced on disk (as a renewal does, by rename) is served to the
/// next connection without a restart; session cookies are `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_pages_and_a_renewed_certificate_without_restart() {
    let cluster = CLUSTER.get().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let live = dir.path().join("live");
    for d in [&first, &second, &live] {
        std::fs::create_dir(d).unwrap();
    }
    let a = crate::certs::make_certs(&first);
    let b = crate::certs::make_certs(&second);
    let install = |from: &etcd_monitor::localetcd::LocalTls| {
        for (src, name) in [
            (&from.cert_file, "server.crt"),
            (&from.key_file, "server.key"),
        ] {
            let tmp = live.join(format!("{name}.new"));
            std::fs::copy(src, &tmp).unwrap();
            std::fs::rename(&tmp, live.join(name)).unwrap();
        }
    };
    install(&a);
    let redirect_port = etcd_monitor::localetcd::free_port().unwrap();
    let monitor = Monitor::start(settings(&cluster, |s| {
        s.server.tls.cert_file = Some(live.join("server.crt"));
        s.server.tls.key_file = Some(live.join("server.key"));
        s.server.tls.redirect_http = Some(([127, 0, 0, 1], redirect_port).into());
    }))
    .await;
    assert!(monitor.base.starts_with("https://"));
    users::add(&monitor.store, "ann", Role::Viewer, PASSWORD).unwrap();
    // A fresh client per check: a pooled connection would keep the old certificate.
    let trusting_both = || {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_info(true)
            .timeout(Duration::from_secs(10));
        for ca in [&a.ca_file, &b.ca_file] {
            let pem = std::fs::read(ca).unwrap();
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    };
    let der_of = |path: &std::path::Path| {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_file(path)
            .unwrap()
            .to_vec()
    };
    let served = |resp: &reqwest::Response| {
        resp.extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .expect("the TLS peer certificate")
            .to_vec()
    };
    let health = trusting_both()
        .get(format!("{}/api/v1/health", monitor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(served(&health), der_of(&a.cert_file));
    // A page through a login over HTTPS; the session cookie is Secure.
    let http = trusting_both();
    let resp = post_login(&http, &monitor.base, "ann", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let raw = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(raw.contains("Secure"), "{raw}");
    let cookie = set_cookie(&resp, "em_session").unwrap();
    let page = http
        .get(format!("{}/clusters/c1", monitor.base))
        .header(header::COOKIE, format!("em_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // A plain-HTTP client gets no answer from the TLS port.
    let plain = client()
        .get(monitor.base.replace("https://", "http://") + "/api/v1/health")
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    // server.tls.redirect_http: plain HTTP there is sent to the same path over
    // HTTPS (308 keeps a POST a POST); a host the monitor does not answer to is not.
    let https_port = monitor.base.rsplit(':').next().unwrap().to_string();
    let plain_base = format!("http://127.0.0.1:{redirect_port}");
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let resp = client()
            .request(method, format!("{plain_base}/alerts?state=firing"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 308);
        assert_eq!(
            resp.headers()[header::LOCATION],
            format!("https://127.0.0.1:{https_port}/alerts?state=firing").as_str()
        );
    }
    let elsewhere = client()
        .get(format!("{plain_base}/"))
        .header(header::HOST, "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 421);
    assert!(elsewhere.headers().get(header::LOCATION).is_none());
    let out = std::process::Command::new("curl")
        .args(["-sS", "-L", "--cacert"])
        .arg(&a.ca_file)
        .arg(format!("{plain_base}/api/v1/health"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"status\":\"ok\""),
        "curl -L from plain HTTP: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    install(&b);
    let renewed = wait_for(
        "the renewed certificate served",
        Duration::from_secs(10),
        || async {
            let resp = trusting_both()
                .get(format!("{}/api/v1/health", monitor.base))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let cert = served(&resp);
            if cert == der_of(&b.cert_file) {
                Ok(resp.status().as_u16())
            } else {
                Err("still the first certificate".to_string())
            }
        },
    )
    .await;
    assert_eq!(renewed, 200);
    // A broken renewal leaves the renewed certificate in service.
    std::fs::write(live.join("server.crt.new"), "not a certificate").unwrap();
    std::fs::rename(live.join("server.crt.new"), live.join("server.crt")).unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let resp = trusting_both()
        .get(format!("{}/api/v1/health", monitor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(served(&resp), der_of(&b.cert_file));
    // curl, a client of its own, agrees.
    install(&b);
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&b.ca_file)
        .arg(format!("{}/api/v1/health", monitor.base))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"status\":\"ok\""));
    monitor.stop().await;
}

/// The pages' forms, as a browser posts them: an operator silences from the
/// form (prefilled from the alert's labels), the alerts page shows it with who
/// made it, the operator ends it; an admin adds a user and creates a token from
/// the admin page (shown once), revokes it, and finds all of it on the audit page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_forms_make_changes_recorded_with_who_made_them() {
    let cluster = CLUSTER.get().await;
    let monitor = Monitor::start(settings(&cluster, |_| {})).await;
    let http = client();
    let base = &monitor.base;
    users::add(&monitor.store, "op", Role::Operator, PASSWORD).unwrap();
    users::add(&monitor.store, "boss", Role::Admin, PASSWORD).unwrap();
    let op = login(&http, base, "op").await;
    let page = |l: &Login, path: &str| {
        http.get(format!("{base}{path}"))
            .header(header::COOKIE, format!("em_session={}", l.cookie))
            .send()
    };
    let post = |l: &Login, path: &str, form: Vec<(&str, String)>| {
        let mut form = form;
        form.push(("csrf_token", l.csrf.clone()));
        http.post(format!("{base}{path}"))
            .header(header::COOKIE, format!("em_session={}", l.cookie))
            .form(&form)
            .send()
    };
    let form = page(
        &op,
        "/silences/new?matcher=alertname%3DetcdNoLeader&matcher=cluster%3Dc1",
    )
    .await
    .unwrap();
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(
        html.contains("alertname=etcdNoLeader\ncluster=c1"),
        "{html}"
    );
    assert!(!html.contains("Your name"), "the login says who");
    let created = post(
        &op,
        "/silences",
        vec![
            ("matchers", "alertname=etcdNoLeader\ncluster=c1".into()),
            ("duration", "1h".into()),
            ("comment", "maintenance".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 303);
    let to = created.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let id = to.strip_prefix("/alerts#silence-").expect(&to).to_string();
    let alerts = page(&op, "/alerts").await.unwrap().text().await.unwrap();
    let row = &alerts[alerts.find(&format!("id=\"silence-{id}\"")).unwrap()..];
    assert!(
        row[..row.find("</tr>").unwrap()].contains("<td>op</td>"),
        "{row}"
    );
    assert!(row.contains(&format!("action=\"/silences/{id}/expire\"")));
    // A viewer's page offers no such form.
    users::add(&monitor.store, "ann", Role::Viewer, PASSWORD).unwrap();
    let ann = login(&http, base, "ann").await;
    let seen = page(&ann, "/alerts").await.unwrap().text().await.unwrap();
    assert!(
        !seen.contains("/expire\""),
        "a viewer gets no expire button"
    );
    assert_eq!(
        post(&ann, &format!("/silences/{id}/expire"), vec![])
            .await
            .unwrap()
            .status(),
        403
    );
    let expired = post(&op, &format!("/silences/{id}/expire"), vec![])
        .await
        .unwrap();
    assert_eq!(expired.status(), 303);
    let silences: Value = Caller::Session(op.clone())
        .apply(http.get(format!("{base}/api/v1/silences")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = silences["silences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap();
    assert_eq!(s["created_by"], "op");
    assert_eq!(s["expired_by"], "op");

    let boss = login(&http, base, "boss").await;
    let admin = page(&boss, "/admin").await.unwrap();
    assert_eq!(admin.status(), 200);
    assert_eq!(page(&op, "/admin").await.unwrap().status(), 403);
    let added = post(
        &boss,
        "/admin/users",
        vec![
            ("name", "newbie".into()),
            ("role", "viewer".into()),
            ("password", PASSWORD.into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(added.status(), 303);
    login(&http, base, "newbie").await;
    let made = post(
        &boss,
        "/admin/tokens",
        vec![
            ("name", "grafana".into()),
            ("role", "viewer".into()),
            ("expires_in", "30d".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(made.status(), 200);
    assert_eq!(made.headers()[header::CACHE_CONTROL], "no-store");
    let html = made.text().await.unwrap();
    let at = html.find("<code class=\"token\">").unwrap() + 20;
    let token = html[at..].split('<').next().unwrap().to_string();
    assert!(token.starts_with("emt_"), "{token}");
    let whoami = http
        .get(format!("{base}/api/v1/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        whoami.json::<Value>().await.unwrap()["name"],
        "token:grafana"
    );
    let again = page(&boss, "/admin").await.unwrap().text().await.unwrap();
    assert!(!again.contains(&token), "the token is shown once");
    let id = tokens::list(&monitor.store).unwrap()[0].id.clone();
    let revoked = post(&boss, &format!("/admin/tokens/{id}/revoke"), vec![])
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    let refused = http
        .get(format!("{base}/api/v1/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let audit = page(&boss, "/admin/audit?source=web")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (action, actor) in [
        ("silence create", "op"),
        ("silence expire", "op"),
        ("user add", "boss"),
        ("token create", "boss"),
        ("token revoke", "boss"),
        ("login", "newbie"),
    ] {
        assert!(
            audit.contains(&format!("<td>{actor}</td>"))
                && audit.contains(&format!("<td>{action}</td>")),
            "{action} by {actor} on the audit page"
        );
    }
    assert!(!audit.contains(&token) && !audit.contains(PASSWORD));
    monitor.stop().await;
}

/// PyPI's oidc-provider-mock on a free loopback port, stopped when dropped.
struct Provider {
    child: std::process::Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_provider() -> Provider {
    let port = etcd_monitor::localetcd::free_port().unwrap();
    let child = std::process::Command::new("python3")
        .args(["-m", "oidc_provider_mock", "--require-nonce", "true"])
        .args(["--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 -m oidc_provider_mock (scripts/test installs oidc-provider-mock)");
    // "localhost" where the monitor is "127.0.0.1": another site to the browser,
    // as a real provider is, so that cookies' SameSite rules apply as they will.
    let provider = Provider {
        child,
        issuer: format!("http://localhost:{port}"),
    };
    let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
    let http = client();
    wait_for("the OIDC provider", Duration::from_secs(30), || {
        get_json(&http, &discovery)
    })
    .await;
    provider
}

/// Single sign-on end to end in headless Chromium against a real OpenID Connect
/// provider on loopback: the login page's button, the provider's form, the
/// callback, the group mapped to a role, the user bar, logout; a user whose groups
/// map to no role is refused; and the local break-glass login still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_login_maps_groups_to_roles_in_a_browser() {
    let (cluster, browser) = tokio::join!(CLUSTER.get(), crate::browser::Browser::shared());
    let provider = start_provider().await;
    let http = client();
    for (sub, groups) in [("alice", vec!["etcd-admins"]), ("bob", vec!["marketing"])] {
        let put = http
            .put(format!("{}/users/{sub}", provider.issuer))
            .json(&serde_json::json!({
                "preferred_username": sub,
                "email": format!("{sub}@example.com"),
                "groups": groups,
            }))
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.status());
    }
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("oidc-secret");
    std::fs::write(&secret_file, "a client secret\n").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let monitor = Monitor::start_on(
        settings(&cluster, |s| {
            s.server.auth.mode = AuthMode::Oidc;
            s.server.auth.oidc.issuer = provider.issuer.clone();
            s.server.auth.oidc.client_id = "etcd-monitor".into();
            s.server.auth.oidc.client_secret_file = Some(secret_file.clone());
            s.server.auth.oidc.redirect_url = format!("{base}/oidc/callback");
            s.server.auth.roles.admin = vec!["etcd-admins".into()];
        }),
        listener,
    )
    .await;
    users::add(&monitor.store, "root", Role::Admin, PASSWORD).unwrap();
    let page = browser.new_page().await;
    let user_bar =
        "document.querySelector('.user') ? document.querySelector('.user').textContent : ''";

    // A page asked for without a login: the login page, with the SSO button.
    page.goto(&format!("{base}/alerts")).await;
    let sso = page
        .wait_until(
            "the SSO button",
            "document.querySelector('a.button') && document.querySelector('a.button').href",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        sso.as_str().unwrap().contains("/oidc/login?next=%2Falerts"),
        "{sso}"
    );
    page.goto(sso.as_str().unwrap()).await;
    // The provider's form: who logs in.
    page.wait_until(
        "the provider's form",
        "!!document.querySelector('input[name=sub]')",
        Duration::from_secs(10),
    )
    .await;
    page.eval("(() => { const i = document.querySelector('input[name=sub]'); i.value = 'alice'; i.form.requestSubmit(); return true; })()")
        .await;
    let bar = page
        .wait_until("alice's user bar", user_bar, Duration::from_secs(15))
        .await;
    assert!(bar.as_str().unwrap().contains("alice · admin"), "{bar}");
    assert!(page.eval("location.pathname").await == "/alerts");
    // An admin by group: the admin page is hers.
    page.goto(&format!("{base}/admin")).await;
    assert_eq!(
        page.eval("document.querySelector('h1').textContent").await,
        "Admin"
    );
    // Logout ends the session.
    page.eval("(() => { document.querySelector('form.logout').requestSubmit(); return true; })()")
        .await;
    page.wait_until(
        "the login page",
        "location.pathname === '/login'",
        Duration::from_secs(10),
    )
    .await;
    page.goto(&format!("{base}/admin")).await;
    assert_eq!(page.eval("location.pathname").await, "/login");

    // Bob's group gives no role: refused, and said why.
    page.goto(&format!("{base}/oidc/login?next=/")).await;
    page.wait_until(
        "the provider's form",
        "!!document.querySelector('input[name=sub]')",
        Duration::from_secs(10),
    )
    .await;
    page.eval("(() => { const i = document.querySelector('input[name=sub]'); i.value = 'bob'; i.form.requestSubmit(); return true; })()")
        .await;
    let refusal = page
        .wait_until(
            "the refusal",
            "document.body && document.body.innerText.includes('none of their groups') && document.body.innerText",
            Duration::from_secs(15),
        )
        .await;
    assert!(refusal.as_str().unwrap().contains("bob"), "{refusal}");

    // Break-glass: the local form on the same page. The provider's pages ask a
    // CDN that does not resolve here, so a late load event of theirs can end
    // goto's wait before this page is in: wait for the form itself.
    page.goto(&format!("{base}/login?next=/about")).await;
    page.wait_until(
        "the local login form",
        "!!document.querySelector('#user') && location.pathname === '/login'",
        Duration::from_secs(10),
    )
    .await;
    page.eval(&format!("(() => {{ document.querySelector('#user').value = 'root'; document.querySelector('#password').value = '{PASSWORD}'; document.querySelector('form.login').requestSubmit(); return true; }})()"))
        .await;
    let bar = page
        .wait_until("root's user bar", user_bar, Duration::from_secs(15))
        .await;
    assert!(bar.as_str().unwrap().contains("root · admin"), "{bar}");
    page.eval("(() => { document.querySelector('form.logout').requestSubmit(); return true; })()")
        .await;
    page.wait_until(
        "the login page",
        "location.pathname === '/login'",
        Duration::from_secs(10),
    )
    .await;
    page.close().await;

    let audit = etcd_monitor::audit::read(&monitor.store, 1000).unwrap();
    let outcomes: Vec<(String, String)> = audit
        .iter()
        .filter(|r| r.action == "login")
        .map(|r| (r.actor.clone(), r.outcome.clone()))
        .collect();
    assert!(
        outcomes.contains(&("alice".into(), "ok (single sign-on, admin)".into())),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|(a, o)| a == "bob" && o.starts_with("refused")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("root".into(), "ok".into())),
        "{outcomes:?}"
    );
    monitor.stop().await;
}

/// Runs `etcd-monitor ARGS` logging at trace level, with `stdin` as its input;
/// returns its standard output and error.
fn run_traced(args: &[&str], stdin: &str) -> (String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(crate::process::BIN)
        .args(args)
        .env("ETCD_MONITOR_LOG", TRACE_EVERYTHING)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{args:?}: {stderr}");
    (stdout, stderr)
}

/// Every target at trace level, actix-http's included (which the monitor quiets
/// unless the filter names it).
const TRACE_EVERYTHING: &str = "trace,actix_http=trace";

/// The part of a token that is its secret (`emt_<id>_<secret>`).
fn token_secret(token: &str) -> String {
    // `emt_<id>_<secret>`: the secret is URL-safe base64 and may hold `_` itself,
    // so it is all after the id's `_` (not after the last `_`, which could leave
    // a few characters that any page may contain).
    let (_, secret) = token
        .trim()
        .strip_prefix("emt_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap_or_else(|| panic!("{token} is a token"));
    assert_eq!(secret.len(), 43, "{token}");
    secret.to_string()
}

/// The binary at trace level, with local users and single sign-on: passwords
/// (right, wrong and changed), token secrets, session ids, the OIDC client
/// secret, code and state never reach its log, its API answers, its pages or the
/// audit trail. The run also shows that an SSO callback is refused in a browser
/// that did not start the login, and accepted with the `state` cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_at_trace_level_answers_pages_or_the_audit_trail() {
    let cluster = CLUSTER.get().await;
    let provider = start_provider().await;
    let http = client();
    let put = http
        .put(format!("{}/users/alice", provider.issuer))
        .json(&serde_json::json!({ "preferred_username": "alice", "groups": ["etcd-admins"] }))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let dir = tempfile::tempdir().unwrap();
    let client_secret = "the OIDC client secret 7f3a";
    std::fs::write(dir.path().join("oidc-secret"), client_secret).unwrap();
    let port = etcd_monitor::localetcd::free_port().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
[server.auth]
mode = "oidc"
[server.auth.oidc]
issuer = "{issuer}"
client_id = "etcd-monitor"
client_secret_file = "{secret_file}"
redirect_url = "{base}/oidc/callback"
[server.auth.roles]
admin = ["etcd-admins"]
[store]
data_dir = "{data}"
[collect]
interval = "1s"
[[clusters]]
name = "c1"
endpoints = {endpoints:?}
"#,
            issuer = provider.issuer,
            secret_file = dir.path().join("oidc-secret").display(),
            data = dir.path().join("store").display(),
            endpoints = cluster.client_urls(),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let new_password = "a changed password 91b2";
    let wrong_password = "a wrong password c4d8e";
    let api_password = "a password set over the API 5e6f";
    let mut logs = String::new();
    let mut seen = String::new(); // answers, pages and command output

    // The command line: a user, a new password, a token.
    for (args, stdin) in [
        (
            vec!["user", "add", "root", "--role", "admin", "--password-stdin"],
            format!("{PASSWORD}\n"),
        ),
        (
            vec!["user", "passwd", "root", "--password-stdin"],
            format!("{new_password}\n"),
        ),
    ] {
        let mut args = args;
        args.extend(["-c", config]);
        let (out, err) = run_traced(&args, &stdin);
        seen.push_str(&out);
        logs.push_str(&err);
    }
    let (token, err) = run_traced(
        &["token", "create", "ci", "--role", "admin", "-c", config],
        "",
    );
    logs.push_str(&err);
    let token = token.trim().to_string();
    assert!(token.starts_with("emt_"), "{token}");
    let mut secrets = vec![
        PASSWORD.to_string(),
        new_password.to_string(),
        wrong_password.to_string(),
        api_password.to_string(),
        token_secret(&token),
        client_secret.to_string(),
    ];

    let log_file = dir.path().join("serve.log");
    let mut serve = std::process::Command::new(crate::process::BIN)
        .args(["serve", "-c", config])
        .env("ETCD_MONITOR_LOG", TRACE_EVERYTHING)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .spawn()
        .unwrap();
    let health = format!("{base}/api/v1/health");
    wait_for("the monitor", Duration::from_secs(30), || {
        get_json(&http, &health)
    })
    .await;

    // A wrong password, then the right one.
    let refused = post_login(&http, &base, "root", wrong_password).await;
    assert_eq!(refused.status(), 401);
    seen.push_str(&refused.text().await.unwrap());
    let resp = post_login(&http, &base, "root", new_password).await;
    assert_eq!(resp.status(), 303);
    let session = set_cookie(&resp, "em_session").expect("a session");
    secrets.push(session.clone());
    let as_root =
        |req: reqwest::RequestBuilder| req.header(header::COOKIE, format!("em_session={session}"));
    let page = as_root(http.get(format!("{base}/admin")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let csrf = csrf_in(&page);
    seen.push_str(&page);

    // Users and tokens over the API, as the session and as the token.
    let added = as_root(http.post(format!("{base}/api/v1/users")))
        .header("X-CSRF-Token", &csrf)
        .json(&serde_json::json!({ "name": "ann", "role": "viewer", "password": api_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    seen.push_str(&added.text().await.unwrap());
    let created: Value = http
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "name": "deploy", "role": "viewer" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Shown this once, to its creator: the one answer left out of the check.
    let second = created["token"].as_str().unwrap().to_string();
    secrets.push(token_secret(&second));
    let ann = post_login(&http, &base, "ann", api_password).await;
    assert_eq!(ann.status(), 303);
    secrets.push(set_cookie(&ann, "em_session").unwrap());
    for path in [
        "/api/v1/whoami",
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/audit",
    ] {
        let resp = http
            .get(format!("{base}{path}"))
            .bearer_auth(&second)
            .send()
            .await
            .unwrap();
        assert!(resp.status() == 200 || resp.status() == 403, "{path}");
        seen.push_str(&resp.text().await.unwrap());
    }
    let revoked = http
        .delete(format!("{base}/api/v1/tokens/deploy"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());

    // Single sign-on, as a browser would go through it.
    let start = http
        .get(format!("{base}/oidc/login?next=/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let state_cookie = set_cookie(&start, "em_oidc_state").expect("the login's state cookie");
    let authorize = start.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let back = http
        .post(&authorize)
        .form(&[("sub", "alice")])
        .send()
        .await
        .unwrap();
    assert!(back.status().is_redirection(), "{}", back.status());
    let callback = back.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(callback.starts_with(&format!("{base}/oidc/callback?")));
    let query: BTreeMap<String, String> =
        serde_urlencoded::from_str(callback.split_once('?').unwrap().1).unwrap();
    assert_eq!(query["state"], state_cookie);
    secrets.push(query["code"].clone());
    secrets.push(query["state"].clone());
    // The same callback in a browser that did not start the login: refused.
    let planted = http.get(&callback).send().await.unwrap();
    assert_eq!(planted.status(), 403);
    let planted = planted.text().await.unwrap();
    assert!(planted.contains("not started in this browser"), "{planted}");
    let done = http
        .get(&callback)
        .header(header::COOKIE, format!("em_oidc_state={state_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(done.headers()["refresh"], "0; url=/alerts");
    let sso_session = set_cookie(&done, "em_session").expect("an SSO session");
    secrets.push(sso_session.clone());
    let done = done.text().await.unwrap();
    assert!(
        done.contains("Signed in as <strong>alice</strong> (admin)"),
        "{done}"
    );
    seen.push_str(&done);

    // The pages, then logout of both sessions.
    for cookie in [&session, &sso_session] {
        let mut csrf = String::new();
        for path in ["/", "/alerts", "/admin", "/admin/audit", "/about"] {
            let resp = http
                .get(format!("{base}{path}"))
                .header(header::COOKIE, format!("em_session={cookie}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let page = resp.text().await.unwrap();
            csrf = csrf_in(&page);
            seen.push_str(&page);
        }
        let out = http
            .post(format!("{base}/logout"))
            .header(header::COOKIE, format!("em_session={cookie}"))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 303);
    }
    crate::process::sigterm(&serve);
    let status = crate::process::wait_exit(&mut serve, "serve", Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    logs.push_str(&std::fs::read_to_string(&log_file).unwrap());
    let (trail, err) = run_traced(&["audit", "list", "--json", "-c", config], "");
    logs.push_str(&err);

    // The log is a trace log of this very run: the HTTP server's requests, the
    // refusals, the exchange with the provider.
    let traces = logs.matches("TRACE").count();
    assert!(traces > 500, "only {traces} trace lines");
    let provider_port = provider.issuer.rsplit(':').next().unwrap();
    for expected in [
        "actix_http::h1::dispatcher",
        "token:deploy is a viewer",
        &format!("connecting to 127.0.0.1:{provider_port}"),
    ] {
        assert!(logs.contains(expected), "the log mentions {expected}");
    }
    for action in ["user add", "user passwd", "token create", "login", "logout"] {
        assert!(trail.contains(action), "{action} in the audit trail");
    }
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret in the log: {secret}"
        );
        assert!(
            !seen.contains(secret.as_str()),
            "a secret in an answer or page"
        );
        assert!(
            !trail.contains(secret.as_str()),
            "a secret in the audit trail"
        );
    }
    eprintln!(
        "{} secrets checked against {} log lines ({traces} at trace level), {} bytes of answers and pages, {} bytes of audit trail",
        secrets.len(),
        logs.lines().count(),
        seen.len(),
        trail.len()
    );
}
