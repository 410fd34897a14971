//! `cargo bench --bench remote_write`: what remote write costs, on the scrapes of
//! three real etcd members (the fixtures in `tests/fixtures/metrics/`, values
//! moving each scrape as counters and gauges do).
//!
//! Figures:
//! a) ingest with and without the outbox: the store's time per sample, and the
//!    outbox's bytes per sample on disk;
//! b) shipping the outbox to Debian's Prometheus (`--web.enable-remote-write-receiver`,
//!    on loopback) with the monitor's own shipper: this process's CPU time per
//!    sample shipped (reading the outbox, labelling, protobuf, snappy, HTTP,
//!    acknowledging), compressed bytes sent per sample, and samples per second.
//!
//! Needs /usr/bin/prometheus (Debian's `prometheus`; scripts/test installs it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_monitor::promtext;
use etcd_monitor::remote_write::{RemoteWriteConfig, Shipper};
use etcd_monitor::store::{MemberSamples, Retention, Store};

const FIXTURES: [&str; 3] = [
    include_str!("../tests/fixtures/metrics/etcd-3.4.23.prom"),
    include_str!("../tests/fixtures/metrics/etcd-3.4.23-3member.prom"),
    include_str!("../tests/fixtures/metrics/etcd-3.5.1.prom"),
];
/// Scrapes per member: ten minutes at one a second.
const SCRAPES: i64 = 600;

/// Every member's scrapes, 1 s apart, ending now (Prometheus takes samples up to
/// about an hour old).
fn batches() -> Vec<Vec<MemberSamples>> {
    let members: Vec<Vec<(String, f64)>> = FIXTURES
        .iter()
        .map(|text| {
            promtext::parse(text)
                .expect("fixture parses")
                .samples()
                .map(|s| (s.series_text(), s.value()))
                .collect()
        })
        .collect();
    let start = etcd_monitor::unix_ms_now() - SCRAPES * 1000;
    (0..SCRAPES)
        .map(|i| {
            members
                .iter()
                .enumerate()
                .map(|(m, series)| MemberSamples {
                    cluster: "bench".into(),
                    member: format!("m{m}"),
                    at_ms: start + i * 1000,
                    samples: series
                        .iter()
                        .enumerate()
                        .map(|(k, (text, v))| {
                            // Counters grow, some series stay put, as in a real scrape.
                            let step = (k % 5) as f64;
                            (text.clone(), v + step * i as f64)
                        })
                        .collect(),
                })
                .collect()
        })
        .collect()
}

/// This process's CPU time (user + system).
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a whole rusage into the pointer we give it.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn ingest(store: &Store, batches: &[Vec<MemberSamples>]) -> Duration {
    let started = Instant::now();
    for probe in batches {
        store.ingest_all(probe).unwrap();
    }
    started.elapsed()
}

fn main() {
    let batches = batches();
    let samples: usize = batches.iter().flatten().map(|b| b.samples.len()).sum();
    println!(
        "input: {} members x {SCRAPES} scrapes, {samples} samples ({} series)",
        FIXTURES.len(),
        batches[0].iter().map(|b| b.samples.len()).sum::<usize>()
    );

    // a) Ingest without and with the outbox: three rounds each, alternating, each
    // into a new store; the median of each. (Each probe is a commit with an fsync,
    // whose time varies from one to the next.)
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut store = None;
    for _ in 0..3 {
        let plain_dir = tempfile::tempdir().unwrap();
        let plain = Store::open_dir(plain_dir.path(), Retention::default()).unwrap();
        without.push(ingest(&plain, &batches));
        drop(plain);
        let dir = tempfile::tempdir().unwrap();
        let outboxed = Store::open_dir(dir.path(), Retention::default()).unwrap();
        outboxed.open_outbox(&[("bench", 1 << 30)]).unwrap();
        with.push(ingest(&outboxed, &batches));
        store = Some((outboxed, dir));
    }
    let (store, _dir) = store.expect("three rounds");
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (without, with) = (median(&mut without), median(&mut with));
    let (records, outbox_bytes) = store.outbox_size();
    drop(store);
    let per = |d: Duration| d.as_secs_f64() * 1e9 / samples as f64;
    println!(
        "a) ingest (median of 3): {:.0} ns/sample without the outbox, {:.0} ns/sample with it ({:+.0} ns); outbox {records} records, {:.2} bytes/sample",
        per(without),
        per(with),
        per(with) - per(without),
        outbox_bytes as f64 / samples as f64
    );

    // b) Ship it all to Prometheus.
    let receiver_dir = tempfile::tempdir().unwrap();
    let port = etcd_monitor::localetcd::free_port().unwrap();
    let config = receiver_dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
    let mut prometheus = std::process::Command::new("/usr/bin/prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            receiver_dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("/usr/bin/prometheus (apt-get install prometheus)");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "Prometheus did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for max_samples in [500, 2000, 10_000] {
            // Each round ships the same scrapes, from a store of its own, a little
            // later than the last round's (Prometheus refuses a sample twice).
            let reader = format!("bench{max_samples}");
            let again: Vec<Vec<MemberSamples>> = batches
                .iter()
                .map(|probe| {
                    probe
                        .iter()
                        .map(|b| MemberSamples {
                            at_ms: b.at_ms + max_samples as i64,
                            ..b.clone()
                        })
                        .collect()
                })
                .collect();
            let fresh_dir = tempfile::tempdir().unwrap();
            let fresh = Arc::new(Store::open_dir(fresh_dir.path(), Retention::default()).unwrap());
            fresh.open_outbox(&[(&reader, 1 << 30)]).unwrap();
            ingest(&fresh, &again);
            let target: RemoteWriteConfig = toml::from_str(&format!(
                "name = \"{reader}\"\nurl = \"http://127.0.0.1:{port}/api/v1/write\"\nmax_samples_per_send = {max_samples}\nexternal_labels = {{ round = \"{max_samples}\" }}\n"
            ))
            .unwrap();
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let cpu = cpu_time();
            let started = Instant::now();
            let shipper = Shipper::start(target, fresh.clone(), stopped).unwrap();
            loop {
                let status = shipper.view.status(&fresh);
                if status.samples_pending == 0 && status.samples_sent_total > 0 {
                    break;
                }
                assert_eq!(status.samples_failed_total, 0, "{status:?}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let (wall, cpu) = (started.elapsed(), cpu_time() - cpu);
            let status = shipper.view.status(&fresh);
            let _ = stop.send(true);
            shipper.stopped().await;
            let sent = status.samples_sent_total as f64;
            println!(
                "b) max_samples_per_send = {max_samples}: {} samples in {:.2} s ({:.0}k samples/s), CPU {:.2} us/sample, {:.3} bytes/sample sent, {} retries",
                status.samples_sent_total,
                wall.as_secs_f64(),
                sent / wall.as_secs_f64() / 1e3,
                cpu.as_secs_f64() * 1e6 / sent,
                status.bytes_sent_total as f64 / sent,
                status.retries_total
            );
        }
    });
    let _ = prometheus.kill();
    let _ = prometheus.wait();
}
