//! `cargo bench --bench store`: the embedded store on real etcd scrapes.
//!
//! Input: the recorded corpus `tests/fixtures/corpus/etcd-3.4-3member-5s.corpus.zst`
//! when present; otherwise a corpus synthesized from the three fixture scrapes in
//! `tests/fixtures/metrics/` (one per member), replayed every 5 s for 65 minutes
//! with counters increasing, histogram buckets increasing consistently and gauges
//! jittering. The output says which input was used.
//!
//! Figures:
//! a) bytes per raw sample (the store's own figure from `stats()`, and whole-file
//!    bytes / samples ingested);
//! b) ingest rate of `Store::ingest` on one core over pre-built batches, and an
//!    estimate of how much of it is the per-batch redb commit of the WAL record;
//! c) latency of a 30-day, 1-hour-step history query of one series.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use etcd_monitor::promtext;
use etcd_monitor::store::query::{self, HistoryQuery};
use etcd_monitor::store::{Aggregate, MemberSamples, Retention, Store};

const FIXTURES: [&str; 3] = [
    include_str!("../tests/fixtures/metrics/etcd-3.4.23.prom"),
    include_str!("../tests/fixtures/metrics/etcd-3.4.23-3member.prom"),
    include_str!("../tests/fixtures/metrics/etcd-3.5.1.prom"),
];
const GRID_MS: i64 = 5_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

#[path = "../tests/support/corpus.rs"]
mod corpus;
use corpus::CORPUS;
#[path = "../tests/support/rng.rs"]
mod rng;
use rng::Rng;

fn load_corpus(path: &Path) -> Vec<corpus::CorpusScrape> {
    corpus::load(path).expect("the recorded corpus loads")
}

/// One scrape as the collector will hand it to the store.
fn to_batch(member: &str, unix_ms: i64, body: &str) -> MemberSamples {
    let scrape = promtext::parse(body).expect("scrape parses");
    MemberSamples {
        cluster: "corpus".into(),
        member: member.into(),
        at_ms: (unix_ms + GRID_MS / 2).div_euclid(GRID_MS) * GRID_MS,
        samples: scrape
            .samples()
            .map(|s| (s.series_text(), s.value()))
            .collect(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    /// A histogram's bucket/_count/_sum: evolved per group.
    Hist,
}

/// A fixture scrape turned into an evolving series set.
struct Template {
    member: String,
    /// (series text, kind, value, histogram group, upper bound for a bucket)
    series: Vec<(String, Kind, f64, usize, f64)>,
    groups: usize,
}

fn template(member: &str, text: &str) -> Template {
    let scrape = promtext::parse(text).expect("fixture parses");
    let mut groups: std::collections::HashMap<String, usize> = Default::default();
    let mut series = Vec::new();
    for s in scrape.samples() {
        let name = s.name();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| name.strip_suffix(suf))
            .unwrap_or(name);
        let ty = scrape
            .family_type(base)
            .or_else(|| scrape.family_type(name));
        let kind = match ty {
            Some(promtext::MetricType::Histogram) | Some(promtext::MetricType::Summary)
                if name != base =>
            {
                Kind::Hist
            }
            Some(promtext::MetricType::Counter) => Kind::Counter,
            _ if name.ends_with("_total") => Kind::Counter,
            _ => Kind::Gauge,
        };
        let (group, le) = if kind == Kind::Hist {
            let key: String = std::iter::once(base.to_string())
                .chain(
                    s.labels()
                        .filter(|(k, _)| *k != "le" && *k != "quantile")
                        .map(|(k, v)| format!("{k}={v}")),
                )
                .collect::<Vec<_>>()
                .join(",");
            let n = groups.len();
            let g = *groups.entry(key).or_insert(n);
            let le = match (name.ends_with("_bucket"), s.label("le")) {
                (true, Some(le)) => le.parse::<f64>().unwrap_or(f64::INFINITY),
                _ => f64::NAN,
            };
            (g, le)
        } else {
            (0, f64::NAN)
        };
        series.push((s.series_text(), kind, s.value(), group, le));
    }
    Template {
        member: member.into(),
        series,
        groups: groups.len(),
    }
}

/// 65 minutes of scrapes at 5 s of the three fixtures as members m0..m2.
fn synthesize() -> Vec<MemberSamples> {
    let start = 1_732_700_000_000i64;
    let mut templates: Vec<Template> = FIXTURES
        .iter()
        .enumerate()
        .map(|(i, t)| template(&format!("m{i}"), t))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    for k in 0..780i64 {
        for t in &mut templates {
            // This interval's observations per histogram group, with one value each
            // (a log-uniform latency between 100 µs and 2 s).
            let obs: Vec<(u64, f64)> = (0..t.groups)
                .map(|_| {
                    let n = if rng.unit() < 0.4 { 0 } else { rng.next() % 50 };
                    (n, 1e-4 * (2e4f64).powf(rng.unit()))
                })
                .collect();
            for (_, kind, v, group, le) in &mut t.series {
                match kind {
                    Kind::Counter => {
                        if *v != 0.0 || rng.unit() < 0.01 {
                            if v.fract() == 0.0 {
                                *v += (rng.next() % 40) as f64 * (rng.unit() < 0.7) as u8 as f64;
                            } else {
                                *v += rng.unit() * 0.05;
                            }
                        }
                    }
                    Kind::Gauge => {
                        if v.fract() != 0.0 || *v > 1e6 {
                            // memory sizes, durations: jitter
                            *v = (*v * (1.0 + (rng.unit() - 0.5) * 0.002)).round();
                        } else if rng.unit() < 0.05 {
                            *v += (rng.next() % 3) as f64 - 1.0;
                            *v = v.max(0.0);
                        }
                    }
                    Kind::Hist => {
                        let (n, x) = obs[*group];
                        if le.is_nan() {
                            // _count and _sum (and summary quantiles, loosely)
                            *v += n as f64 * if rng.unit() < 0.5 { 1.0 } else { x };
                        } else if x <= *le {
                            *v += n as f64;
                        }
                    }
                }
            }
            out.push(MemberSamples {
                cluster: "corpus".into(),
                member: t.member.clone(),
                at_ms: start + k * GRID_MS,
                samples: t.series.iter().map(|s| (s.0.clone(), s.2)).collect(),
            });
        }
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn samples_in(batches: &[MemberSamples]) -> u64 {
    batches.iter().map(|b| b.samples.len() as u64).sum()
}

/// a) and b): ingest the corpus into fresh stores.
/// a): what a raw sample costs in the file.
fn bench_bytes_per_sample(batches: &[MemberSamples], dir: &Path) {
    let n = samples_in(batches);
    println!(
        "\n== a) bytes per raw sample ({} batches, {} samples, {} series)",
        batches.len(),
        n,
        {
            let mut s: Vec<(&str, &str)> = batches
                .iter()
                .flat_map(|b| b.samples.iter().map(|x| (b.member.as_str(), x.0.as_str())))
                .collect();
            s.sort_unstable();
            s.dedup();
            s.len()
        }
    );
    let path = dir.join("a.redb");
    let store = Store::open(&path, Retention::default()).unwrap();
    let t = Instant::now();
    for b in batches {
        store.ingest(b).unwrap();
    }
    let ingest = t.elapsed();
    let t = Instant::now();
    store.checkpoint().unwrap();
    let checkpoint = t.elapsed();
    let stats = store.stats().unwrap();
    for tier in &stats.tiers {
        println!(
            "  tier {:>3}: {:>6} blocks (stored), {:>9} points, {:>9} bytes, {} B/point",
            tier.tier,
            tier.blocks,
            tier.samples,
            tier.bytes,
            tier.bytes_per_sample
                .map_or("-".into(), |b| format!("{b:.3}"))
        );
    }
    let file = std::fs::metadata(&path).unwrap().len();
    println!(
        "  store's raw figure (stats): {:.3} B/sample (goal < 1.0)",
        stats.tiers[0].bytes_per_sample.unwrap_or(f64::NAN)
    );
    println!(
        "  whole file after checkpoint: {} bytes / {} samples = {:.3} B/sample (all tiers, series table, redb overhead)",
        file,
        n,
        file as f64 / n as f64
    );
    store.compact().unwrap();
    let compacted = std::fs::metadata(&path).unwrap().len();
    println!(
        "  whole file after compact(): {} bytes = {:.3} B/sample",
        compacted,
        compacted as f64 / n as f64
    );
    println!(
        "  (first run: ingest {}, checkpoint {})",
        ms(ingest),
        ms(checkpoint)
    );
}

/// Ingests every batch into a new store at `path`, each with its WAL commit: the
/// time that took (opening and closing the store not counted).
fn time_ingest(path: &Path, batches: &[MemberSamples]) -> Duration {
    let store = Store::open(path, Retention::default()).unwrap();
    let t = Instant::now();
    for b in batches {
        store.ingest(b).unwrap();
    }
    t.elapsed()
}

/// b): samples ingested per second, and how much of it is the WAL commit.
fn bench_ingest(batches: &[MemberSamples], dir: &Path) {
    let n = samples_in(batches);
    println!(
        "\n== b) ingest rate, one core (batches pre-built; each ingest commits its WAL record)"
    );
    let mut best = Duration::MAX;
    for round in 0..3 {
        let p = dir.join(format!("b{round}.redb"));
        let e = time_ingest(&p, batches);
        println!(
            "  round {round}: {} -> {:.0} samples/s ({:.1} µs per batch)",
            ms(e),
            n as f64 / e.as_secs_f64(),
            e.as_secs_f64() * 1e6 / batches.len() as f64
        );
        best = best.min(e);
        let _ = std::fs::remove_file(&p);
    }
    println!(
        "  best: {:.0} samples/s (goal > 1,000,000)",
        n as f64 / best.as_secs_f64()
    );
    let shm_ingest = if Path::new("/dev/shm").is_dir() {
        let shm = tempfile::tempdir_in("/dev/shm").unwrap();
        let e = time_ingest(&shm.path().join("b.redb"), batches);
        println!(
            "  same on tmpfs (/dev/shm, fsync ~free): {} -> {:.0} samples/s",
            ms(e),
            n as f64 / e.as_secs_f64()
        );
        Some((e, shm))
    } else {
        None
    };
    // The commit's share: write WAL records of the same sizes (postcard of
    // (at_ms, [(u64 id, f64)])) with plain redb, one commit each, as
    // `commit_pending` does. The rest of `ingest` is in-memory work (series ids,
    // Gorilla appends, rollups, encoding the record).
    const WAL: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("wal");
    let records: Vec<Vec<u8>> = batches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let rec: (i64, Vec<(u64, f64)>) = (
                b.at_ms,
                b.samples
                    .iter()
                    .enumerate()
                    .map(|(j, s)| ((i % 3 * 2000 + j) as u64, s.1))
                    .collect(),
            );
            postcard::to_allocvec(&rec).unwrap()
        })
        .collect();
    let commit_all = |path: &Path| -> Duration {
        let db = redb::Database::create(path).unwrap();
        let t = Instant::now();
        for (seq, rec) in records.iter().enumerate() {
            let tx = db.begin_write().unwrap();
            tx.open_table(WAL)
                .unwrap()
                .insert(seq as u64, rec.as_slice())
                .unwrap();
            tx.commit().unwrap();
        }
        t.elapsed()
    };
    let commits = commit_all(&dir.join("wal-only.redb"));
    println!(
        "  plain redb, same WAL records, one durable commit each, same disk: {} ({:.1} µs per commit) = {:.0}% of the best ingest",
        ms(commits),
        commits.as_secs_f64() * 1e6 / records.len() as f64,
        commits.as_secs_f64() / best.as_secs_f64() * 100.0
    );
    if let Some((shm_ingest, shm)) = shm_ingest {
        let commits = commit_all(&shm.path().join("wal-only.redb"));
        let rest = shm_ingest.saturating_sub(commits);
        println!(
            "  plain redb commits on tmpfs: {} ({:.1} µs per commit) = {:.0}% of the tmpfs ingest",
            ms(commits),
            commits.as_secs_f64() * 1e6 / records.len() as f64,
            commits.as_secs_f64() / shm_ingest.as_secs_f64() * 100.0
        );
        println!(
            "  => in-memory part of ingest (tmpfs ingest - tmpfs commits, an estimate): {} -> {:.0} samples/s",
            ms(rest),
            n as f64 / rest.as_secs_f64()
        );
    }
}

/// c): 31 days of history for 50 series, then a 30-day, 1 h step query of one.
fn bench_query(batches: &[MemberSamples], dir: &Path) {
    const SERIES: usize = 50;
    const OLD_EVERY: i64 = 60_000;
    const RECENT_EVERY: i64 = GRID_MS;
    // Value patterns: the first member's first 50 series of the input that change.
    let first = &batches[0].member;
    let mine: Vec<&MemberSamples> = batches.iter().filter(|b| &b.member == first).collect();
    let mut picked: Vec<usize> = (0..mine[0].samples.len())
        .filter(|&i| {
            let v0 = mine[0].samples.get(i).map(|s| s.1);
            mine.iter().any(|b| b.samples.get(i).map(|s| s.1) != v0)
        })
        .take(SERIES)
        .collect();
    picked.extend((0..mine[0].samples.len()).take(SERIES - picked.len()));
    let names: Vec<String> = picked
        .iter()
        .map(|&i| mine[0].samples[i].0.clone())
        .collect();
    let value = |i: usize, k: usize| -> f64 {
        // Replay the input's values over and over (a counter resets at each wrap).
        mine[k % mine.len()]
            .samples
            .get(picked[i])
            .map_or(0.0, |s| s.1)
    };
    let now = 1_735_689_600_000i64; // 2025-01-01 00:00 UTC
    let start = now - 31 * DAY;
    println!(
        "\n== c) 30-day query at 1 h step: building 31 days x {SERIES} series (one sample a minute for days 31..2 ago, every 5 s for the last 2 days)"
    );
    let path = dir.join("c.redb");
    let store = Store::open(&path, Retention::default()).unwrap();
    let t = Instant::now();
    let mut ts = start;
    let mut k = 0usize;
    let mut next_maintain = start + HOUR;
    let mut n = 0u64;
    while ts < now {
        let samples: Vec<(String, f64)> = names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), value(i, k)))
            .collect();
        n += samples.len() as u64;
        store
            .ingest(&MemberSamples {
                cluster: "corpus".into(),
                member: first.clone(),
                at_ms: ts,
                samples,
            })
            .unwrap();
        k += 1;
        ts += if ts < now - 2 * DAY {
            OLD_EVERY
        } else {
            RECENT_EVERY
        };
        if ts >= next_maintain {
            store.maintain(next_maintain).unwrap();
            next_maintain += 6 * HOUR;
        }
    }
    store.maintain(now).unwrap();
    let stats = store.stats().unwrap();
    println!(
        "  built in {:.1} s: {} samples ingested, file {} bytes; points per tier: raw {}, 1m {}, 1h {}",
        t.elapsed().as_secs_f64(),
        n,
        stats.file_bytes,
        stats.tiers[0].samples,
        stats.tiers[1].samples,
        stats.tiers[2].samples
    );
    let q = HistoryQuery {
        cluster: "corpus".into(),
        metric: names[0].clone(),
        member: Some(first.clone()),
        from_ms: now - 30 * DAY,
        to_ms: now,
        step_ms: HOUR,
        aggregate: Aggregate::Avg,
    };
    let out = query::history(&store, &q, now).unwrap();
    assert_eq!(out.len(), 1, "one series");
    println!(
        "  query {:?}: tier {}, {} points",
        names[0],
        out[0].tier,
        out[0].points.len()
    );
    for _ in 0..20 {
        black_box(query::history(&store, &q, now).unwrap());
    }
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            black_box(query::history(&store, &q, now).unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    let avg = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "  200 runs: avg {}, median {}, p99 {}, max {} (goal < 10 ms)",
        ms(avg),
        ms(times[100]),
        ms(times[197]),
        ms(times[199])
    );
    // The same at 1 m step over the last day (minute tier) and 5 s over the last hour (raw).
    for (from, step) in [(now - DAY, MIN), (now - HOUR, GRID_MS)] {
        let q = HistoryQuery {
            from_ms: from,
            step_ms: step,
            ..q.clone()
        };
        let out = query::history(&store, &q, now).unwrap();
        let mut times: Vec<Duration> = (0..100)
            .map(|_| {
                let t = Instant::now();
                black_box(query::history(&store, &q, now).unwrap());
                t.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "  also: range {} h, step {} s: tier {}, {} points, median {}, p99 {}",
            (now - from) / HOUR,
            step / 1000,
            out[0].tier,
            out[0].points.len(),
            ms(times[50]),
            ms(times[98])
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let batches: Vec<MemberSamples> = if Path::new(CORPUS).is_file() {
        let records = load_corpus(Path::new(CORPUS));
        println!(
            "input: recorded corpus {CORPUS}: {} scrapes (decompressed and parsed in {:.1} s)",
            records.len(),
            t.elapsed().as_secs_f64()
        );
        records
            .iter()
            .map(|r| to_batch(&r.member, r.unix_ms, &r.body))
            .collect()
    } else {
        let b = synthesize();
        println!(
            "input: SYNTHESIZED corpus ({CORPUS} not found): the 3 fixture scrapes in tests/fixtures/metrics as members m0..m2, {} scrapes at 5 s (65 min), values evolved (counters up, histogram buckets consistently, gauges jitter); built in {:.1} s",
            b.len(),
            t.elapsed().as_secs_f64()
        );
        b
    };
    bench_bytes_per_sample(&batches, dir.path());
    bench_ingest(&batches, dir.path());
    bench_query(&batches, dir.path());
}
