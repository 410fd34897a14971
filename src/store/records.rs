//! How the store's own records are laid out in redb values: the series registry,
//! the head's state and the write-ahead log. Blocks of points are in [`super::codec`].
//!
//! Every layout here is made of varints and raw bytes rather than postcard structs:
//! these records are written for every series and every scrape, and their size is
//! most of what a young store file holds.

use super::{Result, StoreError};

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The bytes [`put_varint`] writes for `v`.
pub fn varint_len(v: u64) -> usize {
    // 7 bits a byte; 0 takes one.
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

pub fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*pos)
            .ok_or_else(|| StoreError::Corrupt("record ends early".into()))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(StoreError::Corrupt("record: varint too long".into()))
}

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn get_bytes<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<&'a [u8]> {
    let len = get_varint(bytes, pos)? as usize;
    let end = pos
        .checked_add(len)
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| StoreError::Corrupt("record ends early".into()))?;
    let out = &bytes[*pos..end];
    *pos = end;
    Ok(out)
}

fn get_str<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<&'a str> {
    std::str::from_utf8(get_bytes(bytes, pos)?)
        .map_err(|_| StoreError::Corrupt("record: text is not UTF-8".into()))
}

/// Series registered together, all of one member, with consecutive ids (the key is
/// the first), in table `series_runs`. Layout: cluster, member, count, base, then ops
/// until `count` texts are out. `base` is 0, or 1 + the key of an earlier run of
/// the same cluster that copies take texts from: members of one cluster expose
/// mostly the same series in the same order, so a second member's run is a few
/// copies. An op is a varint tag: `(n << 1) | 1` copies n texts of the base from
/// the position that follows; `shared << 1` is one text given as the length it
/// shares with the previous text and the rest (a scrape lists `name{le="0.1"}`,
/// `name{le="0.2"}`, ... one after another, so most texts cost a few bytes).
/// Schemas 2 and 3 wrote only the latter, without tags or base (table `series`).
#[derive(Debug, PartialEq)]
pub struct SeriesRun {
    pub cluster: String,
    pub member: String,
    pub texts: Vec<String>,
}

/// An earlier run's texts that a run copies from: its key and texts.
pub type BaseRun<'a> = (u64, &'a [&'a str]);

impl SeriesRun {
    pub fn encode(
        cluster: &str,
        member: &str,
        texts: &[&str],
        base: Option<BaseRun<'_>>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, cluster.as_bytes());
        put_bytes(&mut out, member.as_bytes());
        put_varint(&mut out, texts.len() as u64);
        put_varint(&mut out, base.map_or(0, |(key, _)| key + 1));
        let base_texts = base.map_or(&[][..], |(_, t)| t);
        let position: std::collections::HashMap<&str, usize> = base_texts
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, i))
            .rev()
            .collect();
        let mut prev: &[u8] = &[];
        let mut i = 0;
        while i < texts.len() {
            if let Some(&p) = position.get(texts[i]) {
                let n = texts[i..]
                    .iter()
                    .zip(&base_texts[p..])
                    .take_while(|(a, b)| a == b)
                    .count();
                put_varint(&mut out, ((n as u64) << 1) | 1);
                put_varint(&mut out, p as u64);
                i += n;
                prev = texts[i - 1].as_bytes();
                continue;
            }
            let text = texts[i].as_bytes();
            let shared = prev.iter().zip(text).take_while(|(a, b)| a == b).count();
            put_varint(&mut out, (shared as u64) << 1);
            put_bytes(&mut out, &text[shared..]);
            prev = text;
            i += 1;
        }
        out
    }

    /// `base` gives the texts of the run with a key (None: no such run).
    pub fn decode(bytes: &[u8], base: &dyn Fn(u64) -> Option<Vec<String>>) -> Result<SeriesRun> {
        Self::decode_as(bytes, Some(base))
    }

    /// Decodes a run of schemas 2 and 3 (table `series`).
    pub fn decode_front_coded(bytes: &[u8]) -> Result<SeriesRun> {
        Self::decode_as(bytes, None)
    }

    fn decode_as(
        bytes: &[u8],
        base: Option<&dyn Fn(u64) -> Option<Vec<String>>>,
    ) -> Result<SeriesRun> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("series registry: {what}"));
        let mut pos = 0;
        let cluster = get_str(bytes, &mut pos)?.to_string();
        let member = get_str(bytes, &mut pos)?.to_string();
        let count = get_varint(bytes, &mut pos)? as usize;
        let base_texts = match base {
            None => Vec::new(),
            Some(lookup) => match get_varint(bytes, &mut pos)? {
                0 => Vec::new(),
                key => lookup(key - 1)
                    .ok_or_else(|| corrupt(&format!("base run {} is unknown", key - 1)))?,
            },
        };
        let mut texts: Vec<String> = Vec::new();
        while texts.len() < count {
            let tag = if base.is_some() {
                get_varint(bytes, &mut pos)?
            } else {
                get_varint(bytes, &mut pos)? << 1
            };
            if tag & 1 == 1 {
                let n = (tag >> 1) as usize;
                let p = get_varint(bytes, &mut pos)? as usize;
                let copied = p
                    .checked_add(n)
                    .and_then(|end| base_texts.get(p..end))
                    .filter(|c| n > 0 && texts.len() + c.len() <= count)
                    .ok_or_else(|| corrupt("a copy outside its base run"))?;
                texts.extend_from_slice(copied);
                continue;
            }
            let shared = (tag >> 1) as usize;
            let rest = get_bytes(bytes, &mut pos)?;
            let prev = texts.last().map_or(&[][..], |t| t.as_bytes());
            if shared > prev.len() {
                return Err(corrupt("shared prefix longer than the previous text"));
            }
            let mut text = prev[..shared].to_vec();
            text.extend_from_slice(rest);
            texts.push(String::from_utf8(text).map_err(|_| corrupt("text is not UTF-8"))?);
        }
        if pos != bytes.len() {
            return Err(corrupt("bytes after the last series"));
        }
        Ok(SeriesRun {
            cluster,
            member,
            texts,
        })
    }
}

/// The head's state is written in values of about this size, many series each:
/// with redb's 4 KiB pages, a value this big fills one page by itself (a value per
/// series left half of every page empty after splits).
pub const HEAD_VALUE_BYTES: usize = 3800;

/// The open block of each tier of one series: what a head needs to go on after a
/// restart (its rollup points in progress are rebuilt from the raw block).
pub struct HeadRecord<'a> {
    pub id: u64,
    /// (window start, encoded block) per tier, raw first.
    pub blocks: [(i64, &'a [u8]); 3],
}

pub fn put_head(out: &mut Vec<u8>, id: u64, blocks: [(i64, &[u8]); 3]) {
    put_varint(out, id);
    for (start, bytes) in blocks {
        put_varint(out, zigzag(start));
        put_bytes(out, bytes);
    }
}

pub fn decode_heads(bytes: &[u8]) -> Result<Vec<HeadRecord<'_>>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let id = get_varint(bytes, &mut pos)?;
        let mut blocks = [(0, &[][..]); 3];
        for slot in &mut blocks {
            let start = unzigzag(get_varint(bytes, &mut pos)?);
            *slot = (start, get_bytes(bytes, &mut pos)?);
        }
        out.push(HeadRecord { id, blocks });
    }
    Ok(out)
}

/// What one open block gained since the head was last written: its stream from
/// `offset` on (the bytes before are as written before, unless the block is new),
/// and its point count. Checkpoints write these instead of the whole head, which
/// grows with every block's age; the whole head is written again only when the
/// deltas since add up to more than it.
pub struct HeadDelta<'a> {
    pub id: u64,
    /// 0 raw, 1 minute, 2 hour.
    pub tier: u8,
    /// Window start; a block of another window than the one held starts over.
    pub start: i64,
    pub count: u32,
    pub offset: usize,
    pub tail: &'a [u8],
}

pub fn put_head_delta(out: &mut Vec<u8>, d: &HeadDelta<'_>) {
    put_varint(out, d.id);
    out.push(d.tier);
    put_varint(out, zigzag(d.start));
    put_varint(out, u64::from(d.count));
    put_varint(out, d.offset as u64);
    put_bytes(out, d.tail);
}

/// The bytes [`put_head_delta`] writes for `d`.
pub fn head_delta_len(d: &HeadDelta<'_>) -> usize {
    varint_len(d.id)
        + 1
        + varint_len(zigzag(d.start))
        + varint_len(u64::from(d.count))
        + varint_len(d.offset as u64)
        + varint_len(d.tail.len() as u64)
        + d.tail.len()
}

pub fn decode_head_deltas(bytes: &[u8]) -> Result<Vec<HeadDelta<'_>>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let id = get_varint(bytes, &mut pos)?;
        let tier = *bytes
            .get(pos)
            .ok_or_else(|| StoreError::Corrupt("head delta ends early".into()))?;
        pos += 1;
        if tier > 2 {
            return Err(StoreError::Corrupt(format!("head delta of tier {tier}")));
        }
        let start = unzigzag(get_varint(bytes, &mut pos)?);
        let count = u32::try_from(get_varint(bytes, &mut pos)?)
            .map_err(|_| StoreError::Corrupt("head delta: count out of range".into()))?;
        let offset = get_varint(bytes, &mut pos)? as usize;
        let tail = get_bytes(bytes, &mut pos)?;
        out.push(HeadDelta {
            id,
            tier,
            start,
            count,
            offset,
            tail,
        });
    }
    Ok(out)
}

/// One ingested batch in the write-ahead log (table `wal_runs`): `at_ms` as a zig-zag
/// varint, then the batch's series as runs of consecutive ids (a member's series are
/// registered together, so a scrape is one run or a few): per run a zig-zag varint of
/// its first id minus the id after the previous run, a varint of its length, a bitmap
/// with one bit per sample (set: the value changed), then the changed values, each as
/// its XOR with the series' previous value: one byte of (leading zero bytes << 4 |
/// trailing zero bytes), then the bytes between. An unchanged sample costs one bit; a
/// counter that moved, typically 3 or 4 bytes.
pub struct WalRecord {
    pub at_ms: i64,
    pub samples: Vec<(u64, f64)>,
}

/// A sample to log: series id, value, and the series' value before it.
pub type LoggedSample = (u64, f64, Option<f64>);

impl WalRecord {
    pub fn encode(at_ms: i64, samples: &[LoggedSample]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + samples.len() / 2);
        put_varint(&mut out, zigzag(at_ms));
        let mut after_previous = 0u64;
        let mut rest = samples;
        while let Some(&(first, ..)) = rest.first() {
            let len = 1 + rest
                .windows(2)
                .take_while(|w| w[1].0 == w[0].0.wrapping_add(1))
                .count();
            let (run, tail) = rest.split_at(len);
            put_varint(&mut out, zigzag(first.wrapping_sub(after_previous) as i64));
            put_varint(&mut out, len as u64);
            let changed =
                |&(_, v, before): &LoggedSample| before.map(f64::to_bits) != Some(f64::to_bits(v));
            for chunk in run.chunks(8) {
                let bits = (0..)
                    .zip(chunk)
                    .fold(0u8, |bits, (i, s)| bits | (u8::from(changed(s)) << i));
                out.push(bits);
            }
            for s in run.iter().filter(|s| changed(s)) {
                put_xor(&mut out, s.1.to_bits() ^ s.2.map_or(0, f64::to_bits));
            }
            after_previous = run[len - 1].0.wrapping_add(1);
            rest = tail;
        }
        out
    }

    pub fn decode(bytes: &[u8], previous: &dyn Fn(u64) -> Option<f64>) -> Result<WalRecord> {
        let mut pos = 0;
        let at_ms = unzigzag(get_varint(bytes, &mut pos)?);
        let mut samples = Vec::new();
        let mut after_previous = 0u64;
        while pos < bytes.len() {
            let first = after_previous.wrapping_add(unzigzag(get_varint(bytes, &mut pos)?) as u64);
            let len = get_varint(bytes, &mut pos)? as usize;
            let bitmap_len = len.div_ceil(8);
            if len == 0 || bitmap_len > bytes.len() - pos {
                return Err(StoreError::Corrupt(format!(
                    "log record: a run of {len} samples does not fit"
                )));
            }
            let bitmap = &bytes[pos..pos + bitmap_len];
            pos += bitmap_len;
            for i in 0..len {
                let id = first.wrapping_add(i as u64);
                let before = previous(id);
                let v = if bitmap[i / 8] >> (i % 8) & 1 == 1 {
                    f64::from_bits(get_xor(bytes, &mut pos)? ^ before.map_or(0, f64::to_bits))
                } else {
                    before.ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "log record repeats series {id} without a value"
                        ))
                    })?
                };
                samples.push((id, v));
            }
            after_previous = first.wrapping_add(len as u64);
        }
        Ok(WalRecord { at_ms, samples })
    }

    /// Decodes a record of schema 3's log (table `wal`): per sample a varint of
    /// (zig-zag id delta << 1 | value changed), then a changed value as in `decode`.
    /// Read once, after an upgrade, and never written.
    pub fn decode_per_sample(
        bytes: &[u8],
        previous: &dyn Fn(u64) -> Option<f64>,
    ) -> Result<WalRecord> {
        let mut pos = 0;
        let at_ms = unzigzag(get_varint(bytes, &mut pos)?);
        let mut samples = Vec::new();
        let mut prev_id = 0u64;
        while pos < bytes.len() {
            let tag = get_varint(bytes, &mut pos)?;
            let id = prev_id.wrapping_add(unzigzag(tag >> 1) as u64);
            let before = previous(id);
            let v = if tag & 1 == 1 {
                f64::from_bits(get_xor(bytes, &mut pos)? ^ before.map_or(0, f64::to_bits))
            } else {
                before.ok_or_else(|| {
                    StoreError::Corrupt(format!("log record repeats series {id} without a value"))
                })?
            };
            samples.push((id, v));
            prev_id = id;
        }
        Ok(WalRecord { at_ms, samples })
    }
}

/// An XOR of two values' bits: one byte of (leading zero bytes << 4 | trailing zero
/// bytes), then the bytes between.
fn put_xor(out: &mut Vec<u8>, xor: u64) {
    let leading = (xor.leading_zeros() / 8).min(8);
    let trailing = if xor == 0 {
        0
    } else {
        xor.trailing_zeros() / 8
    };
    out.push(((leading << 4) | trailing) as u8);
    let kept = (8 - leading - trailing) as usize;
    let be = (xor >> (trailing * 8)).to_be_bytes();
    out.extend_from_slice(&be[8 - kept..]);
}

fn get_xor(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    let head = *bytes
        .get(*pos)
        .ok_or_else(|| StoreError::Corrupt("log record ends early".into()))?;
    *pos += 1;
    let (leading, trailing) = (u32::from(head >> 4), u32::from(head & 0xf));
    if leading + trailing > 8 {
        return Err(StoreError::Corrupt("log record: bad value header".into()));
    }
    let kept = (8 - leading - trailing) as usize;
    let middle = bytes
        .get(*pos..*pos + kept)
        .ok_or_else(|| StoreError::Corrupt("log record ends early".into()))?;
    *pos += kept;
    let mut be = [0u8; 8];
    be[8 - kept..].copy_from_slice(middle);
    Ok(u64::from_be_bytes(be)
        .checked_shl(trailing * 8)
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn head_delta_len_is_what_put_writes() {
        let tail = vec![7u8; 300];
        for id in [0, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            for start in [0, -1, 1, i64::MIN, i64::MAX, 1_764_000_000_000] {
                for (count, offset, tail) in [
                    (0, 0, &tail[..0]),
                    (1, 127, &tail[..1]),
                    (u32::MAX, 1 << 40, &tail[..]),
                ] {
                    let d = HeadDelta {
                        id,
                        tier: 2,
                        start,
                        count,
                        offset,
                        tail,
                    };
                    let mut out = Vec::new();
                    put_head_delta(&mut out, &d);
                    assert_eq!(
                        head_delta_len(&d),
                        out.len(),
                        "{id} {start} {count} {offset}"
                    );
                }
            }
        }
        for v in [0, 1, 127, 128, 1 << 56, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(varint_len(v), out.len(), "{v}");
        }
    }

    #[test]
    fn series_runs_round_trip_and_share_prefixes() {
        let texts = [
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"}",
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"}",
            "etcd_disk_wal_fsync_duration_seconds_sum",
            "up",
            "",
            "ünïcode{a=\"<script>\"}",
        ];
        let no_base = |_: u64| -> Option<Vec<String>> { None };
        let bytes = SeriesRun::encode("prod", "m0", &texts, None);
        let run = SeriesRun::decode(&bytes, &no_base).unwrap();
        assert_eq!(run.cluster, "prod");
        assert_eq!(run.member, "m0");
        assert_eq!(run.texts, texts);
        let plain: usize = texts.iter().map(|t| t.len()).sum();
        assert!(bytes.len() < plain, "{} >= {plain}", bytes.len());
        // Every truncation is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(
                SeriesRun::decode(&bytes[..cut], &no_base).is_err(),
                "cut at {cut}"
            );
        }

        // A second member with mostly the same series: copies from the first run.
        let mine = [
            texts[0],
            texts[1],
            "peer{To=\"a\"}",
            texts[3],
            texts[4],
            texts[5],
            texts[2],
        ];
        let with_base = SeriesRun::encode("prod", "m1", &mine, Some((7, &texts)));
        let base = |key: u64| (key == 7).then(|| texts.iter().map(|t| t.to_string()).collect());
        let run = SeriesRun::decode(&with_base, &base).unwrap();
        assert_eq!(run.texts, mine);
        let alone = SeriesRun::encode("prod", "m1", &mine, None);
        assert!(
            with_base.len() * 2 < alone.len(),
            "{} vs {}",
            with_base.len(),
            alone.len()
        );
        // The base must be there, and copies must stay inside it.
        assert!(SeriesRun::decode(&with_base, &no_base).is_err());
        let short = |_: u64| Some(vec!["x".to_string()]);
        assert!(SeriesRun::decode(&with_base, &short).is_err());
        for cut in 0..with_base.len() {
            assert!(
                SeriesRun::decode(&with_base[..cut], &base).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn schema_3_series_runs_still_read() {
        // As schema 3 wrote them: cluster, member, count, (shared, rest) per text.
        let mut bytes = Vec::new();
        put_bytes(&mut bytes, b"c1");
        put_bytes(&mut bytes, b"m0");
        put_varint(&mut bytes, 3);
        for (shared, rest) in [(0, "abc{x=\"1\"}"), (7, "2\"}"), (0, "up")] {
            put_varint(&mut bytes, shared);
            put_bytes(&mut bytes, rest.as_bytes());
        }
        let run = SeriesRun::decode_front_coded(&bytes).unwrap();
        assert_eq!(run.texts, ["abc{x=\"1\"}", "abc{x=\"2\"}", "up"]);
    }

    const VALUES: [f64; 10] = [
        0.0,
        -0.0,
        1.0,
        1234.0,
        1234.5,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::INFINITY,
        f64::NAN,
        1e-300,
    ];

    fn bits(samples: &[(u64, f64)]) -> Vec<(u64, u64)> {
        samples.iter().map(|(i, v)| (*i, v.to_bits())).collect()
    }

    #[test]
    fn wal_records_round_trip_every_kind_of_value() {
        let mut last: HashMap<u64, f64> = HashMap::new();
        for round in 0..4u64 {
            let at = 1_700_000_000_000 + round as i64;
            let batch: Vec<(u64, f64)> = match round {
                // Two runs (ids 10..15, 3..8: backwards), a gap of one id
                // inside, then one series far off.
                0 | 1 => (10..15)
                    .chain(3..8)
                    .chain([1 << 40])
                    .zip(VALUES.iter().copied().cycle())
                    .collect(),
                // The same series with values moved by one.
                2 => (10..15)
                    .chain(3..8)
                    .chain([1 << 40])
                    .zip(VALUES.iter().copied().cycle().skip(1))
                    .collect(),
                // Series never seen before, one after the other.
                _ => (100..110).zip(VALUES).collect(),
            };
            let logged: Vec<LoggedSample> = batch
                .iter()
                .map(|(id, v)| (*id, *v, last.get(id).copied()))
                .collect();
            let bytes = WalRecord::encode(at, &logged);
            let rec = WalRecord::decode(&bytes, &|id| last.get(&id).copied()).unwrap();
            assert_eq!(rec.at_ms, at);
            assert_eq!(bits(&rec.samples), bits(&batch), "round {round}");
            if round == 1 {
                // Nothing changed: per run two varints and a bitmap, no values.
                assert_eq!(bytes.len(), 6 + (1 + 1 + 1) + (1 + 1 + 1) + (6 + 1 + 1));
            }
            // Every truncation is an error or a shorter record, never a panic.
            for cut in 0..bytes.len() {
                let _ = WalRecord::decode(&bytes[..cut], &|id| last.get(&id).copied());
            }
            for (id, v) in batch {
                last.insert(id, v);
            }
        }
        // A run longer than the record is refused before anything is allocated.
        let mut bad = Vec::new();
        put_varint(&mut bad, 0);
        put_varint(&mut bad, 0);
        put_varint(&mut bad, u64::MAX >> 1);
        assert!(WalRecord::decode(&bad, &|_| Some(1.0)).is_err());
    }

    /// Schema 3's per-sample log, as that version wrote it.
    fn encode_per_sample(at_ms: i64, samples: &[LoggedSample]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, zigzag(at_ms));
        let mut prev_id = 0u64;
        for &(id, v, before) in samples {
            let before = before.map(f64::to_bits);
            let changed = before != Some(v.to_bits());
            let delta = zigzag(id.wrapping_sub(prev_id) as i64);
            put_varint(&mut out, (delta << 1) | u64::from(changed));
            if changed {
                put_xor(&mut out, v.to_bits() ^ before.unwrap_or(0));
            }
            prev_id = id;
        }
        out
    }

    #[test]
    fn schema_3_log_records_still_read() {
        let mut last: HashMap<u64, f64> = HashMap::new();
        for round in 0..3u64 {
            let batch: Vec<(u64, f64)> = VALUES
                .iter()
                .enumerate()
                .map(|(i, v)| ((i as u64 + u64::from(round == 2)) * 3, *v))
                .collect();
            let logged: Vec<LoggedSample> = batch
                .iter()
                .map(|(id, v)| (*id, *v, last.get(id).copied()))
                .collect();
            let bytes = encode_per_sample(7, &logged);
            let rec = WalRecord::decode_per_sample(&bytes, &|id| last.get(&id).copied()).unwrap();
            assert_eq!(rec.at_ms, 7);
            assert_eq!(bits(&rec.samples), bits(&batch), "round {round}");
            for (id, v) in batch {
                last.insert(id, v);
            }
        }
    }

    #[test]
    fn head_records_round_trip() {
        let mut out = Vec::new();
        put_head(&mut out, 7, [(-5, b"abc"), (0, b""), (i64::MAX, b"xyz")]);
        put_head(&mut out, 300, [(1, b"1"), (2, b"22"), (3, b"333")]);
        let heads = decode_heads(&out).unwrap();
        assert_eq!(heads.len(), 2);
        assert_eq!(heads[0].id, 7);
        assert_eq!(heads[0].blocks[0], (-5, &b"abc"[..]));
        assert_eq!(heads[0].blocks[2], (i64::MAX, &b"xyz"[..]));
        assert_eq!(heads[1].blocks[1], (2, &b"22"[..]));
        assert!(decode_heads(&out[..out.len() - 1]).is_err());
    }
}
