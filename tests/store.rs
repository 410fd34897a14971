//! Integration tests of the embedded time-series store (`etcd_monitor::store`) on
//! real redb files in temp dirs: exact rollups, persistence through the WAL and
//! checkpoints, retention with an injected clock, schema and corruption refusal,
//! `check()`, and history queries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_monitor::store::query::{self, choose_tier, MAX_POINTS};
use etcd_monitor::store::{
    Aggregate, HistoryQuery, MemberSamples, Point, Retention, Store, StoreError, Tier,
};

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// 2023-11-14 00:00:00 UTC: a whole day, so a whole hour and a raw (2 h) block start.
const T0: i64 = 1_699_920_000_000;
const CLUSTER: &str = "c1";

fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("store.redb")
}

fn open(path: &Path) -> Store {
    Store::open(path, Retention::default()).expect("store opens")
}

fn batch(member: &str, at_ms: i64, samples: &[(&str, f64)]) -> MemberSamples {
    MemberSamples {
        cluster: CLUSTER.into(),
        member: member.into(),
        at_ms,
        samples: samples.iter().map(|(s, v)| (s.to_string(), *v)).collect(),
    }
}

fn id_of(store: &Store, member: &str, series: &str) -> u64 {
    store
        .list_series(CLUSTER, Some(member), None)
        .into_iter()
        .find(|(_, m)| m.series == series)
        .unwrap_or_else(|| panic!("series {member}/{series} is known"))
        .0
}

fn all(store: &Store, id: u64, tier: Tier) -> Vec<Point> {
    store
        .read(id, tier, i64::MIN / 4, i64::MAX / 4)
        .expect("read")
}

fn raw_pairs(points: &[Point]) -> Vec<(i64, f64)> {
    points.iter().map(|p| (p.ts, p.last)).collect()
}

fn assert_ordered_unique(points: &[Point], what: &str) {
    if let Some(w) = points.windows(2).find(|w| w[0].ts >= w[1].ts) {
        panic!(
            "{what}: points out of order or duplicated: {} then {}",
            w[0].ts, w[1].ts
        );
    }
}

/// Rollup points of `samples` (time-ordered) into `step`-wide buckets, computed
/// directly from the samples.
fn expected_rollup(samples: &[(i64, f64)], step: i64) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::new();
    for &(ts, v) in samples {
        let bucket = ts - ts.rem_euclid(step);
        match out.last_mut() {
            Some(p) if p.ts == bucket => {
                p.min = p.min.min(v);
                p.max = p.max.max(v);
                p.sum += v;
                p.count += 1.0;
                p.last = v;
            }
            _ => out.push(Point {
                ts: bucket,
                min: v,
                max: v,
                sum: v,
                count: 1.0,
                last: v,
            }),
        }
    }
    out
}

/// Irregular but increasing timestamps over `[start, end)`: 1..=15 s apart, with
/// the odd 70..=190 s gap (whole minutes without a sample).
fn irregular_times(rng: &mut Rng, start: i64, end: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut ts = start;
    while ts < end {
        out.push(ts);
        ts += if rng.below(40) == 0 {
            70_000 + rng.below(121) as i64 * 1000
        } else {
            1000 + rng.below(15) as i64 * 1000 + rng.below(2) as i64 * 500
        };
    }
    out
}

/// A counter (integers and halves, a reset in the middle) and a gauge (halves,
/// negative too) at the given times. Every value and every sum is exact in f64.
/// (ts, value) samples of one series.
type Samples = Vec<(i64, f64)>;

fn synthetic(rng: &mut Rng, times: &[i64]) -> (Samples, Samples) {
    let mut counter = 1000.0;
    let mut c = Vec::new();
    let mut g = Vec::new();
    for (i, ts) in times.iter().enumerate() {
        if i == times.len() / 2 {
            counter = 3.0; // the process restarted
        } else {
            counter += rng.below(20) as f64 + if rng.below(2) == 0 { 0.5 } else { 0.0 };
        }
        c.push((*ts, counter));
        g.push((*ts, rng.below(401) as f64 / 2.0 - 100.0));
    }
    (c, g)
}

const COUNTER: &str = r#"etcd_mvcc_put_total{kind="x"}"#;
const GAUGE: &str = "etcd_server_has_leader";

fn ingest_pairs(store: &Store, member: &str, c: &[(i64, f64)], g: &[(i64, f64)]) {
    for (cs, gs) in c.iter().zip(g) {
        assert_eq!(cs.0, gs.0);
        store
            .ingest(&batch(member, cs.0, &[(COUNTER, cs.1), (GAUGE, gs.1)]))
            .expect("ingest");
    }
}

fn assert_tiers(store: &Store, member: &str, c: &[(i64, f64)], g: &[(i64, f64)], when: &str) {
    for (series, samples) in [(COUNTER, c), (GAUGE, g)] {
        let id = id_of(store, member, series);
        let raw = all(store, id, Tier::Raw);
        assert_eq!(raw_pairs(&raw), samples, "{when}: raw {series}");
        assert!(raw
            .iter()
            .all(|p| p.count == 1.0 && p.min == p.last && p.max == p.last));
        for (tier, step) in [(Tier::Minute, MIN), (Tier::Hour, HOUR)] {
            let got = all(store, id, tier);
            let want = expected_rollup(samples, step);
            assert_eq!(
                got.len(),
                want.len(),
                "{when}: {series} {tier:?} point count"
            );
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{when}: {series} {tier:?} point at {}", w.ts);
            }
        }
    }
}

#[test]
fn rollups_are_exact_through_reopen_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // 3 h starting at an odd offset: partial first minute and hour, a raw block
    // boundary (T0 + 2 h), hours and minutes without samples.
    let times = irregular_times(&mut rng, T0 + 30 * MIN + 7_300, T0 + 3 * HOUR + 30 * MIN);
    let (c, g) = synthetic(&mut rng, &times);
    assert!(c.len() > 500, "{} samples", c.len());
    // The counter resets (and the expected rollups see it as a drop).
    assert!(c.windows(2).any(|w| w[1].1 < w[0].1));

    let store = open(&path);
    ingest_pairs(&store, "m0", &c, &g);
    assert_tiers(&store, "m0", &c, &g, "live");
    // Spot-check the arithmetic of one minute directly.
    let minute = c[0].0 - c[0].0.rem_euclid(MIN);
    let in_minute: Vec<f64> = c
        .iter()
        .filter(|(t, _)| *t >= minute && *t < minute + MIN)
        .map(|p| p.1)
        .collect();
    let id = id_of(&store, "m0", COUNTER);
    let p = store.read(id, Tier::Minute, minute, minute + MIN).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].sum, in_minute.iter().sum::<f64>());
    assert_eq!(p[0].count, in_minute.len() as f64);
    assert_eq!(p[0].last, *in_minute.last().unwrap());
    drop(store);

    let store = open(&path);
    assert_tiers(&store, "m0", &c, &g, "after WAL replay");
    store.checkpoint().unwrap();
    drop(store);
    let store = open(&path);
    assert_tiers(&store, "m0", &c, &g, "after checkpoint and reopen");
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}

/// The head's state on disk holds only open blocks; the rollup points in progress
/// are rebuilt from the raw block at open. Stopping at any moment (mid-minute, just
/// past an hour, just past a raw block boundary, in a gap) and going on must give
/// the same rollups as never stopping.
#[test]
fn rollups_are_exact_when_the_store_stops_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let times = irregular_times(&mut rng, T0 + 50 * MIN + 1_300, T0 + 2 * HOUR + 20 * MIN);
    let (c, g) = synthetic(&mut rng, &times);
    let first_at_or_after = |t: i64| c.iter().position(|p| p.0 >= t).unwrap();
    let widest_gap = (1..c.len()).max_by_key(|i| c[*i].0 - c[*i - 1].0).unwrap();
    let cuts = [
        first_at_or_after(T0 + HOUR) + 1,
        first_at_or_after(T0 + 2 * HOUR),
        first_at_or_after(T0 + 2 * HOUR) + 1,
        first_at_or_after(T0 + HOUR + 17 * MIN + 31_000),
        widest_gap,
    ];
    for (n, cut) in cuts.into_iter().enumerate() {
        let path = dir.path().join(format!("cut-{n}.redb"));
        let store = open(&path);
        ingest_pairs(&store, "m0", &c[..cut], &g[..cut]);
        store.checkpoint().unwrap();
        drop(store);
        let store = open(&path);
        ingest_pairs(&store, "m0", &c[cut..], &g[cut..]);
        assert_tiers(
            &store,
            "m0",
            &c,
            &g,
            &format!("stopped before sample {cut}"),
        );
    }
}

/// Checkpoints write what the open blocks gained since the last one (head deltas)
/// and the whole head only when the deltas would outgrow it. Checkpoints every few
/// samples and reopens between some of them, across block boundaries of every
/// tier: the store must read back exactly what went in, and must have written
/// both deltas and the whole head on the way.
#[test]
fn head_deltas_between_checkpoints_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let times = irregular_times(&mut rng, T0 + 55 * MIN + 3_100, T0 + 5 * HOUR + 10 * MIN);
    let (c, g) = synthetic(&mut rng, &times);
    let mut store = open(&path);
    let (mut deltas_seen, mut whole_writes) = (false, 0);
    let mut done = 0;
    let mut round = 0u64;
    while done < c.len() {
        let step = (1 + rng.below(40) as usize).min(c.len() - done);
        ingest_pairs(&store, "m0", &c[done..done + step], &g[done..done + step]);
        done += step;
        let log_before = table_bytes(&store, "head_log");
        store.checkpoint().unwrap();
        let log_after = table_bytes(&store, "head_log");
        if log_after > log_before {
            deltas_seen = true;
        } else if log_before > 0 && log_after == 0 {
            whole_writes += 1;
        }
        round += 1;
        if round.is_multiple_of(3) {
            drop(store);
            store = open(&path);
            assert_tiers(
                &store,
                "m0",
                &c[..done],
                &g[..done],
                &format!("reopened after checkpoint {round}"),
            );
        }
    }
    assert!(deltas_seen, "no checkpoint wrote head deltas");
    assert!(
        whole_writes > 0,
        "the head was never written whole again after deltas"
    );
    drop(store);
    let store = open(&path);
    assert_tiers(&store, "m0", &c, &g, "at the end");
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}

fn table_bytes(store: &Store, table: &str) -> u64 {
    let stats = store.stats().unwrap();
    stats
        .tables
        .iter()
        .find(|t| t.table == table)
        .map_or_else(|| panic!("no table {table} in stats"), |t| t.stored_bytes)
}

#[test]
fn stale_samples_are_dropped_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&store_path(&dir));
    store
        .ingest(&batch("m0", T0 + 10_000, &[("a", 1.0)]))
        .unwrap();
    store
        .ingest(&batch("m0", T0 + 10_000, &[("a", 2.0)]))
        .unwrap();
    store
        .ingest(&batch("m0", T0 + 5_000, &[("a", 3.0)]))
        .unwrap();
    store
        .ingest(&batch("m0", T0 + 15_000, &[("a", 4.0)]))
        .unwrap();
    let id = id_of(&store, "m0", "a");
    assert_eq!(
        raw_pairs(&all(&store, id, Tier::Raw)),
        vec![(T0 + 10_000, 1.0), (T0 + 15_000, 4.0)]
    );
    let stats = store.stats().unwrap();
    assert_eq!(stats.samples_ingested_total, 2);
    assert_eq!(stats.samples_dropped_total, 2);
}

/// Samples of three series of two members every `every_ms` over `[from, to)`.
fn steady(from: i64, to: i64, every_ms: i64) -> Vec<MemberSamples> {
    let mut out = Vec::new();
    let mut ts = from;
    while ts < to {
        let k = ((ts - T0) / every_ms) as f64;
        out.push(batch("m0", ts, &[("up", 1.0), ("ops_total", k * 3.0)]));
        out.push(batch(
            "m1",
            ts + 17,
            &[("up", 1.0), ("temp", (k % 17.0) / 2.0)],
        ));
        ts += every_ms;
    }
    out
}

fn expected_raw(batches: &[MemberSamples]) -> HashMap<(String, String), Vec<(i64, f64)>> {
    let mut out: HashMap<(String, String), Vec<(i64, f64)>> = HashMap::new();
    for b in batches {
        for (s, v) in &b.samples {
            out.entry((b.member.clone(), s.clone()))
                .or_default()
                .push((b.at_ms, *v));
        }
    }
    out
}

fn assert_raw(store: &Store, batches: &[MemberSamples], when: &str) {
    let want = expected_raw(batches);
    assert_eq!(
        store.list_series(CLUSTER, None, None).len(),
        want.len(),
        "{when}"
    );
    for ((member, series), samples) in &want {
        let id = id_of(store, member, series);
        let raw = all(store, id, Tier::Raw);
        assert_ordered_unique(&raw, when);
        assert_eq!(&raw_pairs(&raw), samples, "{when}: {member}/{series}");
        for tier in [Tier::Minute, Tier::Hour] {
            assert_ordered_unique(&all(store, id, tier), when);
        }
        // A window read returns exactly the samples inside it.
        let (from, to) = (T0 + HOUR + 12_345, T0 + 2 * HOUR + 12_345);
        let window: Vec<(i64, f64)> = samples
            .iter()
            .copied()
            .filter(|(t, _)| *t >= from && *t < to)
            .collect();
        assert_eq!(
            raw_pairs(&store.read(id, Tier::Raw, from, to).unwrap()),
            window
        );
    }
}

#[test]
fn raw_points_survive_reopen_with_and_without_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    // Phase 1: 1.5 h inside the first raw block.
    let mut batches = steady(T0, T0 + 90 * MIN, 15_000);
    let store = open(&path);
    for b in &batches {
        store.ingest(b).unwrap();
    }
    assert_raw(&store, &batches, "live");
    drop(store); // no checkpoint: everything is in the WAL

    let store = open(&path);
    assert_eq!(store.stats().unwrap().wal_records, batches.len() as u64);
    assert_raw(&store, &batches, "WAL replay");
    store.checkpoint().unwrap();
    assert_eq!(store.stats().unwrap().wal_records, 0);
    drop(store);

    let store = open(&path);
    assert_eq!(store.stats().unwrap().wal_records, 0);
    assert_raw(&store, &batches, "after checkpoint");

    // Phase 2: past the raw block boundary at T0 + 2 h (and the next at 4 h), so
    // blocks are sealed; checkpoint, reopen.
    let more = steady(T0 + 90 * MIN, T0 + 4 * HOUR + 30 * MIN, 15_000);
    for b in &more {
        store.ingest(b).unwrap();
    }
    batches.extend(more);
    assert_raw(&store, &batches, "sealed in memory");
    store.checkpoint().unwrap();
    drop(store);
    let store = open(&path);
    let stats = store.stats().unwrap();
    let raw = &stats.tiers[0];
    assert_eq!(raw.tier, "raw");
    // 4 series with 2 sealed blocks each (0-2 h, 2-4 h) + 1 head block each.
    assert_eq!(raw.blocks, 8, "{stats:?}");
    assert_eq!(raw.samples, 2 * batches.len() as u64, "{stats:?}");
    assert_raw(&store, &batches, "sealed blocks and head after reopen");

    // Phase 3: more without a checkpoint, past another boundary; drop; reopen:
    // stored blocks + head state + WAL.
    let more = steady(T0 + 4 * HOUR + 30 * MIN, T0 + 6 * HOUR + 5 * MIN, 15_000);
    for b in &more {
        store.ingest(b).unwrap();
    }
    batches.extend(more);
    drop(store);
    let store = open(&path);
    assert_raw(&store, &batches, "blocks + head + WAL replay");
    // Replaying twice (reopen again without a checkpoint) adds nothing.
    drop(store);
    let store = open(&path);
    assert_raw(&store, &batches, "second replay");
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
    store.checkpoint().unwrap();
    drop(store);
    let store = open(&path);
    assert_raw(&store, &batches, "final checkpoint");
    assert_eq!(
        store.stats().unwrap().samples_ingested_total,
        2 * batches.len() as u64
    );
}

#[test]
fn check_finds_no_problem_in_a_sound_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let store = open(&path);
    assert_eq!(store.check().unwrap(), Vec::<String>::new(), "empty store");
    for b in steady(T0, T0 + 5 * HOUR, 60_000) {
        store.ingest(&b).unwrap();
    }
    assert_eq!(
        store.check().unwrap(),
        Vec::<String>::new(),
        "before checkpoint"
    );
    store.checkpoint().unwrap();
    assert_eq!(
        store.check().unwrap(),
        Vec::<String>::new(),
        "after checkpoint"
    );
    store.maintain(T0 + 5 * HOUR).unwrap();
    drop(store);
    let store = open(&path);
    assert_eq!(store.check().unwrap(), Vec::<String>::new(), "after reopen");
}

/// Steady load with an injected clock: `SERIES` series every `EVERY` for 6 days,
/// `maintain(now)` every simulated hour.
///
/// Scaled down from 50 series at 10 s to 50 series at 120 s: each `ingest` is a
/// durable redb commit (about 2.5 ms in a debug build here), and 6 days at 10 s
/// would be 51,840 commits (over 2 minutes); at 120 s they are 4,320. Retention
/// works on whole blocks and does not depend on the interval.
///
/// Retention scaled down (raw 1 day, 1m 2 days; 1h as by default, 400 days) so
/// that within 8 simulated days every tier but 1h is at its steady size: from day 4
/// on the file may only grow by the 1h points.
#[test]
fn retention_drops_old_raw_blocks_and_the_file_stops_growing() {
    const SERIES: usize = 50;
    const EVERY: i64 = 120_000;
    const DAYS: i64 = 8;
    let retention = Retention {
        raw: Duration::from_secs(86_400),
        minute: Duration::from_secs(2 * 86_400),
        ..Retention::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let store = Store::open(&path, retention).unwrap();
    let names: Vec<String> = (0..SERIES)
        .map(|i| format!("etcd_metric_{i}{{instance=\"m0\"}}"))
        .collect();
    // (file bytes as maintenance left it, after an explicit compact(), raw tier
    // bytes, 1m tier bytes, 1h tier bytes), at the end of each day
    let mut days: Vec<(u64, u64, u64, u64, u64)> = Vec::new();
    let mut ts = T0;
    let end = T0 + DAYS * DAY;
    let mut next_maintain = T0 + HOUR;
    let mut k = 0u64;
    while ts < end {
        let samples = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                // counters, gauges and constants
                let v = match i % 3 {
                    0 => (k * (i as u64 + 1)) as f64,
                    1 => ((k * 7 + i as u64) % 50) as f64 / 2.0,
                    _ => i as f64,
                };
                (n.clone(), v)
            })
            .collect();
        store
            .ingest(&MemberSamples {
                cluster: CLUSTER.into(),
                member: "m0".into(),
                at_ms: ts,
                samples,
            })
            .unwrap();
        k += 1;
        ts += EVERY;
        if ts >= next_maintain {
            store.maintain(next_maintain).unwrap();
            if (next_maintain - T0) % DAY == 0 {
                let as_left = std::fs::metadata(&path).unwrap().len();
                store.compact().unwrap();
                let compacted = std::fs::metadata(&path).unwrap().len();
                let t = store.stats().unwrap().tiers;
                println!(
                    "day {}: file {as_left} bytes, {compacted} compacted; tier bytes: raw {}, 1m {}, 1h {}",
                    (next_maintain - T0) / DAY,
                    t[0].bytes,
                    t[1].bytes,
                    t[2].bytes
                );
                days.push((as_left, compacted, t[0].bytes, t[1].bytes, t[2].bytes));
            }
            next_maintain += HOUR;
        }
    }
    let now = end;
    // Raw points older than the retention, to the raw block (2 h) that holds the
    // cutoff, are gone; the rollups of those times remain.
    let cutoff = now - DAY;
    let old_end = cutoff - cutoff.rem_euclid(2 * HOUR);
    let minute_cutoff = now - 2 * DAY;
    let minute_old_end = minute_cutoff - minute_cutoff.rem_euclid(6 * HOUR);
    for n in [&names[0], &names[1], &names[SERIES - 1]] {
        let id = id_of(&store, "m0", n);
        assert!(
            store.read(id, Tier::Raw, 0, old_end).unwrap().is_empty(),
            "raw points before {old_end} remain"
        );
        let kept = store.read(id, Tier::Raw, cutoff, now).unwrap();
        assert_eq!(kept.len() as i64, DAY / EVERY, "raw points of the last day");
        assert!(
            store
                .read(id, Tier::Minute, 0, minute_old_end)
                .unwrap()
                .is_empty(),
            "1m points before {minute_old_end} remain"
        );
        let minutes = store
            .read(id, Tier::Minute, minute_old_end, old_end)
            .unwrap();
        assert_eq!(minutes.len() as i64, (old_end - minute_old_end) / EVERY);
        assert!(minutes.iter().all(|p| p.count == 1.0));
        let hours = store.read(id, Tier::Hour, T0, old_end).unwrap();
        assert_eq!(hours.len() as i64, (old_end - T0) / HOUR);
        assert!(hours.iter().all(|p| p.count == (HOUR / EVERY) as f64));
    }
    assert_eq!(days.len(), DAYS as usize);
    // Raw holds a steady day from day 2 on and 1m two days from day 3 on: within 1 %
    // (the open blocks' fill varies with the hour).
    for (tier, from, bytes) in [
        ("raw", 2, days.iter().map(|d| d.2).collect::<Vec<_>>()),
        ("1m", 3, days.iter().map(|d| d.3).collect()),
    ] {
        let steady = bytes[from - 1];
        for b in &bytes[from..] {
            assert!(
                b.abs_diff(steady) * 100 <= steady,
                "{tier} tier still growing: {bytes:?}"
            );
        }
    }
    // The file (compacted, so redb's growth steps do not blur it) grew on day 2 by a
    // day of every tier; over days 6 to 8 it may grow only by the 1h points, a
    // small fraction of that.
    let sizes: Vec<u64> = days.iter().map(|d| d.1).collect();
    let growth = |day: usize| sizes[day - 1] as i64 - sizes[day - 2] as i64;
    let late = sizes[7] as i64 - sizes[4] as i64;
    let hourly = days[7].4 - days[4].4;
    println!("compacted file size per day: {sizes:?}");
    println!(
        "growth: day 2 {} bytes; days 6 to 8 {late} bytes, of which 1h points {hourly}",
        growth(2)
    );
    assert!(
        late * 4 < growth(2),
        "the file grew {late} bytes over days 6 to 8, day 2 alone {}: {sizes:?}",
        growth(2)
    );
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}

#[test]
fn other_schemas_are_refused_and_the_file_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    {
        let store = open(&path);
        for b in steady(T0, T0 + HOUR, 60_000) {
            store.ingest(&b).unwrap();
        }
        store.checkpoint().unwrap();
    }
    let set_version = |v: u32| {
        const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
        let db = redb::Database::open(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut meta = tx.open_table(META).unwrap();
            let v = postcard::to_allocvec(&v).unwrap();
            meta.insert("schema_version", v.as_slice()).unwrap();
        }
        tx.commit().unwrap();
    };
    set_version(99);
    let before = file_bytes(&path);
    match Store::open(&path, Retention::default()) {
        Err(StoreError::NewerSchema { path: p, found }) => {
            assert_eq!(found, 99);
            assert_eq!(p, path);
        }
        Err(e) => panic!("expected NewerSchema, got {e}"),
        Ok(_) => panic!("a file of schema 99 was opened"),
    }
    assert!(before == file_bytes(&path), "the refused file was modified");
    // Version 1 came from development builds before the first release.
    set_version(1);
    let before = file_bytes(&path);
    match Store::open(&path, Retention::default()) {
        Err(e @ StoreError::OlderSchema { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("schema version 1") && msg.contains("Move the file aside"),
                "{msg}"
            );
        }
        Err(e) => panic!("expected OlderSchema, got {e}"),
        Ok(_) => panic!("a file of schema 1 was opened"),
    }
    assert!(before == file_bytes(&path), "the refused file was modified");
}

fn schema_version(path: &Path) -> u32 {
    const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    let db = redb::Database::open(path).unwrap();
    let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
    let meta = tx.open_table(META).unwrap();
    let version = redb::ReadableTable::get(&meta, "schema_version")
        .unwrap()
        .unwrap();
    postcard::from_bytes(version.value()).unwrap()
}

/// The values the fixture `store-schema3.redb.zst` holds: written by the build of
/// schema 3 (commit 8f3e7b8) for members m0 and m1 every 5 s from T0 for 2 h 45 min,
/// with checkpoints at 1 h (the head written whole), 2 h and 2 h 30 min (head
/// deltas), the last 15 minutes only in its per-sample log.
fn schema3_values(i: i64) -> [(&'static str, f64); 4] {
    [
        ("up", 1.0),
        ("counter_total", (i * 3) as f64),
        ("gauge", (i % 17) as f64 * 0.5),
        ("ratio", (i as f64 * 0.37).sin()),
    ]
}

#[test]
fn a_schema_3_file_is_upgraded_with_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let packed = include_bytes!("fixtures/store-schema3.redb.zst");
    std::fs::write(&path, zstd::decode_all(&packed[..]).unwrap()).unwrap();
    assert_eq!(schema_version(&path), 3);
    let n = 33 * 60;
    let want = |name: &str| -> Vec<(i64, f64)> {
        (0..n)
            .map(|i| {
                let v = schema3_values(i)
                    .iter()
                    .find(|(s, _)| *s == name)
                    .unwrap()
                    .1;
                (T0 + i * 5000, v)
            })
            .collect()
    };
    let check = |store: &Store| {
        for m in ["m0", "m1"] {
            for (name, _) in schema3_values(0) {
                let id = id_of(store, m, name);
                let raw = raw_pairs(&all(store, id, Tier::Raw));
                let expected = want(name);
                assert_eq!(raw.len(), expected.len(), "{m}/{name}");
                for (got, want) in raw.iter().zip(&expected) {
                    assert_eq!(got.0, want.0, "{m}/{name}");
                    assert_eq!(got.1.to_bits(), want.1.to_bits(), "{m}/{name} at {}", got.0);
                }
                let minutes = all(store, id, Tier::Minute);
                let rollup = expected_rollup(&expected, MIN);
                assert_eq!(minutes.len(), rollup.len(), "{m}/{name} 1m points");
                if let Some((got, want)) = minutes.iter().zip(&rollup).find(|(g, w)| g != w) {
                    panic!("{m}/{name} 1m: {got:?} instead of {want:?}");
                }
            }
        }
        assert_eq!(store.check().unwrap(), Vec::<String>::new());
    };
    {
        let store = Store::open(&path, Retention::default()).expect("a schema 3 file opens");
        check(&store);
    }
    assert_eq!(
        schema_version(&path),
        etcd_monitor::store::SCHEMA_VERSION,
        "marked upgraded"
    );
    // Read again as this version's file, then written to and read again.
    let store = Store::open(&path, Retention::default()).expect("the upgraded file opens");
    check(&store);
    let later = |i: i64| batch("m0", T0 + i * 5000, &schema3_values(i));
    for i in n..n + 100 {
        store.ingest(&later(i)).unwrap();
    }
    store.checkpoint().unwrap();
    drop(store);
    let store = open(&path);
    let id = id_of(&store, "m0", "counter_total");
    let raw = all(&store, id, Tier::Raw);
    assert_eq!(raw.len() as i64, n + 100);
    assert_eq!(raw.last().unwrap().last, ((n + 99) * 3) as f64);
}

/// Opens `path` expecting an error (not a panic, not success) that names the
/// file or says it is corrupt; the file must be unchanged.
fn assert_refused_untouched(path: &Path, what: &str) -> String {
    let before = file_bytes(path);
    let p = path.to_path_buf();
    let result = std::panic::catch_unwind(move || Store::open(&p, Retention::default()).map(drop));
    let after = file_bytes(path);
    let msg = match result {
        Err(_) => panic!("{what}: Store::open panicked"),
        Ok(Ok(())) => panic!("{what}: Store::open succeeded"),
        Ok(Err(e)) => e.to_string(),
    };
    println!("{what}: {msg}");
    assert!(
        msg.contains(&path.display().to_string()) || msg.to_lowercase().contains("corrupt"),
        "{what}: the error names neither the file nor corruption: {msg}"
    );
    if before != after {
        let first = before.iter().zip(&after).position(|(a, b)| a != b);
        panic!(
            "{what}: Store::open modified the file ({} -> {} bytes, first difference at {first:?})",
            before.len(),
            after.len()
        );
    }
    msg
}

#[test]
fn a_file_of_random_bytes_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let bytes: Vec<u8> = (0..256 * 1024).map(|_| rng.next() as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    assert_refused_untouched(&path, "random bytes");
}

#[test]
fn a_store_with_garbage_in_the_middle_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    {
        let store = open(&path);
        for b in steady(T0, T0 + 5 * HOUR, 10_000) {
            store.ingest(&b).unwrap();
        }
        store.checkpoint().unwrap();
    }
    let mut bytes = file_bytes(&path);
    let len = bytes.len();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for b in &mut bytes[len / 4..len * 3 / 4] {
        *b = rng.next() as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_refused_untouched(&path, "garbage in the middle");
}

#[test]
fn a_store_with_200_bytes_flipped_in_the_middle_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    {
        let store = open(&path);
        let mut rng = Rng(0x5eed_0000_0000_0001);
        let names: Vec<String> = (0..60).map(|i| format!("m_{i}")).collect();
        for hour in 0..6 {
            let batches: Vec<MemberSamples> = (0..360)
                .flat_map(|step| {
                    let at = T0 + hour * HOUR + step * 10_000;
                    ["m0", "m1"].map(|m| MemberSamples {
                        cluster: CLUSTER.into(),
                        member: m.into(),
                        at_ms: at,
                        samples: names
                            .iter()
                            .map(|n| (n.clone(), rng.below(1_000_000) as f64))
                            .collect(),
                    })
                })
                .collect();
            store.ingest_all(&batches).unwrap();
            store.checkpoint().unwrap();
        }
    }
    let mut bytes = file_bytes(&path);
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 200] {
        *b ^= 0xff;
    }
    std::fs::write(&path, &bytes).unwrap();
    let msg = assert_refused_untouched(&path, "200 bytes flipped in the middle");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    let p = path.clone();
    let checked = std::panic::catch_unwind(move || Store::check_file(&p));
    assert!(
        !matches!(checked, Ok(Ok(ref problems)) if problems.is_empty()),
        "check_file found nothing in a damaged file"
    );
    assert!(bytes == file_bytes(&path), "check_file modified the file");
}

#[test]
fn an_empty_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    std::fs::write(&path, b"").unwrap();
    let msg = assert_refused_untouched(&path, "an empty file");
    assert!(msg.contains("empty"), "{msg}");
}

fn hq(metric: &str, from: i64, to: i64, step: i64, aggregate: Aggregate) -> HistoryQuery {
    HistoryQuery {
        cluster: CLUSTER.into(),
        metric: metric.into(),
        member: Some("m0".into()),
        from_ms: from,
        to_ms: to,
        step_ms: step,
        aggregate,
    }
}

#[test]
fn history_picks_the_tier_and_rejects_bad_queries() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    // Short retentions so every tier's choice can be seen on a small store.
    let retention = Retention {
        raw: Duration::from_secs(6 * 3600),
        minute: Duration::from_secs(2 * 86_400),
        hour: Duration::from_secs(400 * 86_400),
    };
    let store = Store::open(&path, retention).unwrap();
    // 3 days, one sample every 30 s: value = minutes since T0 (so averages are exact).
    let mut samples = Vec::new();
    let mut ts = T0;
    while ts < T0 + 3 * DAY {
        let v = ((ts - T0) / MIN) as f64;
        samples.push((ts, v));
        store.ingest(&batch("m0", ts, &[(GAUGE, v)])).unwrap();
        ts += 30_000;
    }
    let now = T0 + 3 * DAY;

    let cases = [
        // (from, step, tier)
        (now - HOUR, 5_000, Tier::Raw),
        (now - 6 * HOUR, 30_000, Tier::Raw),
        (now - 7 * HOUR, 30_000, Tier::Minute), // raw no longer holds from
        (now - HOUR, MIN, Tier::Minute),
        (now - DAY, 5 * MIN, Tier::Minute),
        (now - 2 * DAY, 59 * MIN, Tier::Minute),
        (now - 2 * DAY - HOUR, MIN, Tier::Hour), // 1m no longer holds from
        (now - DAY, HOUR, Tier::Hour),
        (now - 3 * DAY, 6 * HOUR, Tier::Hour),
    ];
    for (from, step, tier) in cases {
        assert_eq!(
            choose_tier(&store, now, from, step),
            tier,
            "from now-{}ms step {step}",
            now - from
        );
        let out = query::history(&store, &hq(GAUGE, from, now, step, Aggregate::Avg), now)
            .unwrap_or_else(|e| panic!("from now-{} step {step}: {e}", now - from));
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].tier,
            tier.name(),
            "from now-{}ms step {step}",
            now - from
        );
        assert_eq!(out[0].series, GAUGE);
        // Each bucket's average, min, max, last computed from the samples.
        let want: Vec<(i64, f64)> = (0..(now - from + step - 1) / step)
            .map(|k| from + k * step)
            .filter_map(|b| {
                let vs: Vec<f64> = samples
                    .iter()
                    .filter(|(t, _)| *t >= b && *t < b + step)
                    .map(|s| s.1)
                    .collect();
                (!vs.is_empty()).then(|| (b, vs.iter().sum::<f64>() / vs.len() as f64))
            })
            .collect();
        if step % tier.step_ms().max(1) == 0 && from % tier.step_ms().max(1) == 0 {
            // Buckets aligned to the tier's points: the answer is exact.
            assert_eq!(out[0].points, want, "from now-{} step {step}", now - from);
        } else {
            assert!(!out[0].points.is_empty());
        }
    }
    // Max and last over an hour tier.
    let out = query::history(&store, &hq(GAUGE, T0, now, DAY, Aggregate::Max), now).unwrap();
    assert_eq!(out[0].tier, "1h");
    assert_eq!(
        out[0].points,
        vec![(T0, 1439.0), (T0 + DAY, 2879.0), (T0 + 2 * DAY, 4319.0)]
    );
    let out = query::history(&store, &hq(GAUGE, T0, now, DAY, Aggregate::Min), now).unwrap();
    assert_eq!(out[0].points[1], (T0 + DAY, 1440.0));

    // Bad queries.
    let bad = |q: HistoryQuery| match query::history(&store, &q, now) {
        Err(StoreError::BadQuery(m)) => m,
        Err(e) => panic!("expected BadQuery, got {e}"),
        Ok(_) => panic!("expected BadQuery, got points"),
    };
    bad(hq(GAUGE, now - HOUR, now, 0, Aggregate::Avg));
    bad(hq(GAUGE, now - HOUR, now, -5, Aggregate::Avg));
    bad(hq(GAUGE, now, now, MIN, Aggregate::Avg));
    bad(hq(GAUGE, now, now - HOUR, MIN, Aggregate::Avg));
    let step = 1000;
    let msg = bad(hq(
        GAUGE,
        now - (MAX_POINTS + 1) * step,
        now,
        step,
        Aggregate::Avg,
    ));
    assert!(msg.contains("at most"), "{msg}");
    // One millisecond more than MAX_POINTS steps makes a last, partial bucket.
    bad(hq(
        GAUGE,
        now - MAX_POINTS * step - 1,
        now,
        step,
        Aggregate::Avg,
    ));
    // Exactly MAX_POINTS buckets is allowed.
    query::history(
        &store,
        &hq(GAUGE, now - MAX_POINTS * step, now, step, Aggregate::Avg),
        now,
    )
    .unwrap();
    // An unknown metric gives no series, not an error.
    assert!(query::history(
        &store,
        &hq("nope", now - HOUR, now, MIN, Aggregate::Avg),
        now
    )
    .unwrap()
    .is_empty());
}

/// The child half of `a_killed_writer_loses_nothing_committed`: ingests into the
/// store named by `STORE_CRASH_PATH` and exits without closing it (no destructor
/// runs, as after kill -9).
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("STORE_CRASH_PATH") else {
        return;
    };
    let store = open(Path::new(&path));
    for b in steady(T0 + 3 * HOUR, T0 + 5 * HOUR, 15_000) {
        store.ingest(&b).unwrap();
    }
    std::process::exit(0);
}

#[test]
fn a_killed_writer_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut batches = steady(T0, T0 + 3 * HOUR, 15_000);
    {
        let store = open(&path);
        for b in &batches {
            store.ingest(b).unwrap();
        }
        store.checkpoint().unwrap();
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("STORE_CRASH_PATH", &path)
        .status()
        .unwrap();
    assert!(status.success(), "child: {status}");
    batches.extend(steady(T0 + 3 * HOUR, T0 + 5 * HOUR, 15_000));
    // redb repairs the uncleanly closed file; the WAL gives back every batch.
    let store = open(&path);
    assert_raw(&store, &batches, "after the writer died");
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}
