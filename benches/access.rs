//! `cargo bench --bench access`: what access control costs.
//!
//! 1. A login: Argon2id (the parameters of `auth::password`) hashing and verifying
//!    in this process, then `POST /login` over loopback, right password, wrong
//!    password and unknown user (which verifies against a dummy hash, so that it
//!    takes as long as a wrong password).
//! 2. What identifying a request costs in this process: a session (the in-memory
//!    book and the user's record) and a token (its digest and record).
//! 3. The added time per request: `wrk --latency` against the same page and API
//!    route of one monitored single-member etcd, with `server.auth.mode = "none"`,
//!    then `"local"` with a session cookie and with an API token. One connection
//!    (`-t1 -c1`: the server's time plus loopback, no queueing) and eight
//!    (`-t2 -c8`: throughput on this machine's cores).
//!
//! Needs a real etcd (`ETCD_BIN`, else `etcd` on PATH; Debian: `/usr/bin/etcd`) and
//! `wrk` (`WRK_BIN`, else on PATH). `ACCESS_BENCH_SECONDS`: wrk duration per run
//! (default 10). Takes about 7 minutes with the default.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use etcd_monitor::auth::sessions::SessionBook;
use etcd_monitor::auth::{password, tokens, users, AuthMode, Role};
use etcd_monitor::config::{ClusterConfig, Overrides, Settings};
use etcd_monitor::localetcd::{find_etcd_binary, LocalCluster, LocalClusterOptions};
use etcd_monitor::store::{Retention, Store};
use wrk::{wrk_binary, wrk_run, WrkResult};

#[path = "support/env.rs"]
mod env;
#[path = "../tests/support/monitor.rs"]
mod monitor;
#[path = "support/wrk.rs"]
mod wrk;

const PASSWORD: &str = "a bench password 0123";
const LOGINS: usize = 15;
/// The page and the API route measured (both for viewers).
const TARGETS: [&str; 2] = ["/clusters/c1", "/api/v1/clusters"];

fn main() {
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    if let Err(e) = run() {
        eprintln!("access bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let etcd_bin =
        find_etcd_binary().ok_or_else(|| anyhow!("no etcd: set ETCD_BIN=/usr/bin/etcd"))?;
    let wrk = wrk_binary()?;
    let seconds: u64 = match std::env::var("ACCESS_BENCH_SECONDS") {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow!("ACCESS_BENCH_SECONDS={v:?} is not a number"))?,
        Err(_) => 10,
    };
    println!(
        "load average before the run: {} (other work on the machine skews the figures)",
        env::load_average()
    );
    argon2_in_process()?;
    checks_in_process()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            let cluster = LocalCluster::start(
                1,
                LocalClusterOptions {
                    etcd_bin: Some(etcd_bin),
                    ..Default::default()
                },
            )
            .await
            .context("starting etcd")?;
            over_http(&cluster, &wrk, seconds).await
        })
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn argon2_in_process() -> Result<()> {
    println!(
        "\n== Argon2id, m = {} KiB, t = {}, p = {} ({LOGINS} each, this process)",
        password::MEMORY_KIB,
        password::PASSES,
        password::LANES
    );
    let mut hashes = Vec::new();
    let mut verifies = Vec::new();
    for _ in 0..LOGINS {
        let t = Instant::now();
        let phc = password::hash(PASSWORD)?;
        hashes.push(t.elapsed());
        let t = Instant::now();
        if !password::verify(&phc, PASSWORD) {
            bail!("the password does not verify");
        }
        verifies.push(t.elapsed());
    }
    println!(
        "hash   median {:.1} ms\nverify median {:.1} ms",
        median_ms(hashes),
        median_ms(verifies)
    );
    Ok(())
}

/// What the server does per request to know who sends it, without HTTP around
/// it: a session (the in-memory book, then the user's record in the store, which
/// is the truth about their role) and a token (SHA-256 of the secret, the token's
/// record in the store).
fn checks_in_process() -> Result<()> {
    const CALLS: u32 = 100_000;
    let dir = tempfile::tempdir()?;
    let store = Store::open_dir(dir.path(), Retention::default())?;
    users::add(&store, "bench", Role::Viewer, PASSWORD)?;
    let (_, token) = tokens::create(&store, "bench", Role::Viewer, None, "bench")?;
    let book = SessionBook::new(Duration::from_secs(1800), Duration::from_secs(43_200));
    let now = etcd_monitor::unix_ms_now();
    let (id, _) = book.start("bench", Role::Viewer, true, now)?;
    println!("\n== identifying a request ({CALLS} calls each, this process)");
    let t = Instant::now();
    for _ in 0..CALLS {
        let session = book.touch(&id, now).ok_or_else(|| anyhow!("no session"))?;
        users::get(&store, &session.user)?.ok_or_else(|| anyhow!("no user"))?;
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(CALLS);
    println!("session (book + user record) {per:.2} µs");
    let t = Instant::now();
    for _ in 0..CALLS {
        tokens::authenticate(&store, &token, now)?.ok_or_else(|| anyhow!("no token"))?;
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(CALLS);
    println!("token (digest + token record) {per:.2} µs");
    Ok(())
}

fn settings(cluster: &LocalCluster, mode: AuthMode) -> Result<Settings> {
    let mut s = Settings::load_with_env(None, &Overrides::default(), |_| None)?;
    s.server.listen = "127.0.0.1:0".parse()?;
    s.server.auth.mode = mode;
    s.collect.interval = Duration::from_secs(5);
    s.clusters = vec![ClusterConfig::plain("c1", cluster.client_urls())];
    s.validate()?;
    Ok(s)
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// The value of `name` in an answer's `Set-Cookie` headers.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .find_map(|v| {
            let (pair, _) = v.to_str().ok()?.split_once(';')?;
            let (n, value) = pair.split_once('=')?;
            (n == name && !value.is_empty()).then(|| value.to_string())
        })
}

/// One `POST /login` (the form's CSRF cookie fetched first, not timed): its
/// status and how long it took.
async fn timed_login(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
) -> Result<(reqwest::Response, Duration)> {
    let form = http.get(format!("{base}/login")).send().await?;
    let csrf = set_cookie(&form, "em_csrf").ok_or_else(|| anyhow!("no CSRF cookie"))?;
    let t = Instant::now();
    let resp = http
        .post(format!("{base}/login"))
        .header(reqwest::header::COOKIE, format!("em_csrf={csrf}"))
        .form(&[
            ("user", user),
            ("password", password),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await?;
    Ok((resp, t.elapsed()))
}

async fn wait_probed(http: &reqwest::Client, base: &str, headers: &[String]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = http.get(format!("{base}/api/v1/clusters/c1"));
        for h in headers {
            let (name, value) = h.split_once(": ").expect("Name: value");
            req = req.header(name, value);
        }
        let body = req.send().await?.text().await?;
        if body.contains("\"healthy\"") {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the cluster was not probed healthy within 30 s: {body}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs of each variant are interleaved (off, session, token, off, ...) and the
/// median of `ROUNDS` taken, so that drift on the machine (the probes, the store's
/// writer, other work) falls on all three alike.
const ROUNDS: usize = 3;

struct Variant {
    auth: &'static str,
    base: String,
    headers: Vec<String>,
}

/// The median run of a variant, by p50 (one connection) or throughput (eight).
fn median_run(mut runs: Vec<WrkResult>, connections: u32) -> WrkResult {
    if connections == 1 {
        runs.sort_by(|a, b| a.p50.total_cmp(&b.p50));
    } else {
        runs.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    }
    runs.swap_remove(runs.len() / 2)
}

async fn measure(variants: &[Variant], wrk: &std::path::Path, seconds: u64) -> Result<()> {
    let http = http()?;
    for target in TARGETS {
        for v in variants {
            let mut req = http.get(format!("{}{target}", v.base));
            for h in &v.headers {
                let (name, value) = h.split_once(": ").expect("Name: value");
                req = req.header(name, value);
            }
            let body = req.send().await?.bytes().await?;
            println!("{:<8} {target:<18} {} bytes", v.auth, body.len());
        }
        for (threads, connections) in [(1, 1), (2, 8)] {
            let mut results: Vec<Vec<WrkResult>> = variants.iter().map(|_| Vec::new()).collect();
            for round in 0..=ROUNDS {
                for (v, runs) in variants.iter().zip(results.iter_mut()) {
                    let url = format!("{}{target}", v.base);
                    // Round 0 is a short warm-up: connections, caches.
                    let secs = if round == 0 { 2 } else { seconds };
                    let w = wrk_run(wrk, &url, threads, connections, secs, &v.headers).await?;
                    if w.errors > 0 {
                        bail!(
                            "{} {target}: {} non-2xx answers or socket errors",
                            v.auth,
                            w.errors
                        );
                    }
                    if round > 0 {
                        runs.push(w);
                    }
                }
            }
            let medians: Vec<WrkResult> = results
                .into_iter()
                .map(|runs| median_run(runs, connections))
                .collect();
            for (v, w) in variants.iter().zip(&medians) {
                println!(
                    "{:<8} {target:<18} c{connections:<2} {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms",
                    v.auth, w.requests_per_sec, w.p50, w.p99
                );
            }
            let off = &medians[0];
            for (v, on) in variants.iter().zip(&medians).skip(1) {
                if connections == 1 {
                    println!(
                        "  {} adds {:+.1} µs to the median request (p50 ×{:.2})",
                        v.auth,
                        (on.p50 - off.p50) * 1e3,
                        on.p50 / off.p50
                    );
                } else {
                    println!(
                        "  {} adds {:+.1} µs of server time per request (1/throughput; throughput ×{:.3})",
                        v.auth,
                        1e6 / on.requests_per_sec - 1e6 / off.requests_per_sec,
                        on.requests_per_sec / off.requests_per_sec
                    );
                }
            }
        }
    }
    Ok(())
}

async fn over_http(cluster: &LocalCluster, wrk: &std::path::Path, seconds: u64) -> Result<()> {
    let http = http()?;
    // Both monitors run at once, probing the same etcd, so that the runs can
    // alternate between them.
    let off = monitor::Monitor::start(settings(cluster, AuthMode::None)?).await;
    let mut local = settings(cluster, AuthMode::Local)?;
    // The failed logins measured must not lock the user or the address out.
    local.server.auth.max_failed_logins = 1000;
    let on = monitor::Monitor::start(local).await;
    users::add(&on.store, "bench", Role::Viewer, PASSWORD)?;
    let (_, token) = tokens::create(&on.store, "bench", Role::Viewer, None, "bench")?;

    println!("\n== POST /login over loopback ({LOGINS} each, median)");
    let mut session = None;
    for (label, user, pass, status) in [
        ("right password", "bench", PASSWORD, 303),
        ("wrong password", "bench", "a wrong password 987", 401),
        ("unknown user", "nobody", PASSWORD, 401),
    ] {
        let mut times = Vec::new();
        for _ in 0..LOGINS {
            let (resp, took) = timed_login(&http, &on.base, user, pass).await?;
            if resp.status().as_u16() != status {
                bail!("{label}: {} where {status} was expected", resp.status());
            }
            if status == 303 {
                session = set_cookie(&resp, "em_session");
            }
            times.push(took);
        }
        println!("{label:<15} {:.1} ms", median_ms(times));
    }
    let session = session.ok_or_else(|| anyhow!("no session cookie"))?;

    let variants = [
        Variant {
            auth: "off",
            base: off.base.clone(),
            headers: Vec::new(),
        },
        Variant {
            auth: "session",
            base: on.base.clone(),
            headers: vec![format!("Cookie: em_session={session}")],
        },
        Variant {
            auth: "token",
            base: on.base.clone(),
            headers: vec![format!("Authorization: Bearer {token}")],
        },
    ];
    wait_probed(&http, &off.base, &[]).await?;
    wait_probed(&http, &on.base, &variants[2].headers).await?;
    println!(
        "\n== wrk: median of {ROUNDS} interleaved runs of {seconds} s (after a 2 s warm-up each)"
    );
    measure(&variants, wrk, seconds).await?;
    off.stop().await;
    on.stop().await;
    Ok(())
}
