//! `cargo bench --bench promtext`: our Prometheus text parser vs the
//! `prometheus-parse` crate on real etcd scrapes (tests/fixtures/metrics).
//!
//! Both sides parse the whole text and then walk every sample summing the
//! values, so nothing is optimized away. prometheus-parse takes an iterator of
//! owned `String` lines, so splitting into lines is part of its time (that is
//! how its API has to be fed). Each figure is the best of several timed
//! rounds after a warm-up.

use std::hint::black_box;
use std::time::{Duration, Instant};

use etcd_monitor::promtext;

const FIXTURES: &[(&str, &str)] = &[
    (
        "etcd-3.4.23.prom",
        include_str!("../tests/fixtures/metrics/etcd-3.4.23.prom"),
    ),
    (
        "etcd-3.4.23-3member.prom",
        include_str!("../tests/fixtures/metrics/etcd-3.4.23-3member.prom"),
    ),
    (
        "etcd-3.5.1.prom",
        include_str!("../tests/fixtures/metrics/etcd-3.5.1.prom"),
    ),
];

const WARMUP: Duration = Duration::from_millis(300);
const ROUND: Duration = Duration::from_millis(400);
const ROUNDS: usize = 5;

fn ours(text: &str) -> f64 {
    let scrape = promtext::parse(text).expect("fixture parses");
    let mut sum = 0.0;
    for s in scrape.samples() {
        sum += s.value();
        for (k, v) in s.labels() {
            sum += (k.len() + v.len()) as f64;
        }
    }
    sum
}

fn theirs(text: &str) -> f64 {
    use prometheus_parse::Value;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("fixture parses");
    let mut sum = 0.0;
    for s in &scrape.samples {
        sum += match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|c| c.count).sum(),
            Value::Summary(q) => q.iter().map(|c| c.count).sum(),
        };
        for (k, v) in s.labels.iter() {
            sum += (k.len() + v.len()) as f64;
        }
    }
    sum
}

/// Best time per call, in nanoseconds.
fn time(text: &str, f: fn(&str) -> f64) -> f64 {
    let start = Instant::now();
    while start.elapsed() < WARMUP {
        black_box(f(black_box(text)));
    }
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut iters = 0u64;
        while start.elapsed() < ROUND {
            black_box(f(black_box(text)));
            iters += 1;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / iters as f64);
    }
    best
}

fn main() {
    // `cargo bench` passes "--bench"; a further argument filters fixtures.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    println!(
        "{:<26} {:>8} {:>9} {:>13} {:>13} {:>13} {:>7}",
        "fixture", "samples", "bytes", "ours ns/smp", "p-parse ns/smp", "ours MB/s", "ratio"
    );
    for (name, text) in FIXTURES {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let samples = promtext::parse(text).unwrap().len() as f64;
        let ours_ns = time(text, ours);
        let theirs_ns = time(text, theirs);
        println!(
            "{:<26} {:>8} {:>9} {:>13.1} {:>13.1} {:>13.0} {:>6.1}x",
            name,
            samples,
            text.len(),
            ours_ns / samples,
            theirs_ns / samples,
            text.len() as f64 / ours_ns * 1e3,
            theirs_ns / ours_ns
        );
    }
}
