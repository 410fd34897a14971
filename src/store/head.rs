//! The head: the open block of every tier of every series, the rollup points in
//! progress, and the blocks sealed since the last checkpoint, all in memory; and
//! how they persist. Each ingested batch is logged (the write-ahead log) and
//! committed; a checkpoint writes the head's state whole or as deltas
//! (`write_whole_head`, `write_head_deltas`, see [`super::maintenance`]); an open reads that
//! state back and replays the log on top (`read_head`, `replay_log`). As in
//! Prometheus' TSDB head, recent data is served from memory and the file holds
//! only what a restart needs to rebuild it.

use std::collections::HashMap;

use redb::ReadableTable;

use super::codec::{self, BlockEncoder};
use super::records::{self, WalRecord};
use super::tables::{open_opt, HEAD, HEAD_LOG, RAW, SERIES, WAL, WAL_PER_SAMPLE};
use super::{closed, floor, lock, Inner, Point, Result, Store, StoreError, Tier};

/// The samples of one member's scrape (and its derived indicators) at one instant.
#[derive(Debug, Clone, Default)]
pub struct MemberSamples {
    pub cluster: String,
    pub member: String,
    pub at_ms: i64,
    /// (series text, value)
    pub samples: Vec<(String, f64)>,
}

#[derive(Debug, Clone)]
pub(super) struct OpenBlock {
    pub(super) start: i64,
    pub(super) enc: BlockEncoder,
    /// What of it the file holds (as of the last checkpoint).
    written: Written,
}

/// u32s: the head holds three of these a series. A block's points and stream
/// bytes are far below 2^32 (its stream is cut at `store.head_bytes`' share).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Written {
    start: i64,
    count: u32,
    /// Stream bytes that are final (see [`BlockEncoder::settled_len`]).
    settled: u32,
}

impl OpenBlock {
    fn new(tier: Tier) -> Self {
        OpenBlock {
            start: 0,
            enc: BlockEncoder::new(tier.columns()),
            written: Written::default(),
        }
    }

    pub(super) fn now_written(&mut self) {
        self.written = Written {
            start: self.start,
            count: u32::try_from(self.enc.len()).unwrap_or(u32::MAX),
            settled: u32::try_from(self.enc.settled_len()).unwrap_or(u32::MAX),
        };
    }

    /// What changed since the last checkpoint, if anything.
    fn delta(&self, id: u64, tier: u8) -> Option<records::HeadDelta<'_>> {
        let w = self.written;
        if w.start == self.start && w.count as usize == self.enc.len() {
            return None;
        }
        let offset = if w.start == self.start {
            (w.settled as usize).min(self.enc.stream().len())
        } else {
            0
        };
        Some(records::HeadDelta {
            id,
            tier,
            start: self.start,
            count: self.enc.len() as u32,
            offset,
            tail: &self.enc.stream()[offset..],
        })
    }
}

/// The in-memory head of one series: the open block of every tier and the
/// rollup points still being accumulated.
#[derive(Debug, Clone)]
pub(super) struct SeriesHead {
    pub(super) blocks: [OpenBlock; 3],
    pub(super) minute: Option<Point>,
    pub(super) hour: Option<Point>,
    pub(super) dirty: bool,
}

impl SeriesHead {
    pub(super) fn new() -> Self {
        SeriesHead {
            blocks: [
                OpenBlock::new(Tier::Raw),
                OpenBlock::new(Tier::Minute),
                OpenBlock::new(Tier::Hour),
            ],
            minute: None,
            hour: None,
            dirty: false,
        }
    }

    /// Appends this head's state (its open blocks) to a head value.
    fn put_state(&self, id: u64, out: &mut Vec<u8>) {
        let [raw, minute, hour] = &self.blocks;
        let bytes = [
            raw.enc.to_bytes(),
            minute.enc.to_bytes(),
            hour.enc.to_bytes(),
        ];
        records::put_head(
            out,
            id,
            [
                (raw.start, &bytes[0]),
                (minute.start, &bytes[1]),
                (hour.start, &bytes[2]),
            ],
        );
    }

    /// A head from its stored open blocks. The rollup points in progress are not
    /// stored: they hold only samples of the current hour, which are folded again
    /// from the raw open block and, when that block is a part that began after the
    /// hour did (see [`push`]), from the raw samples `earlier(hour, start)` reads
    /// from the parts before it.
    fn from_record(
        rec: &records::HeadRecord,
        earlier: &dyn Fn(i64, i64) -> Result<Vec<(i64, f64)>>,
    ) -> Result<Self> {
        let mut head = SeriesHead::new();
        for (slot, (start, bytes)) in head.blocks.iter_mut().zip(rec.blocks) {
            slot.start = start;
            if !bytes.is_empty() {
                slot.enc = BlockEncoder::from_bytes(bytes)?;
            }
            slot.now_written();
        }
        if !head.blocks[0].enc.is_empty() {
            let raw = codec::decode(rec.blocks[0].1)?;
            let last_ts = *raw.timestamps.last().expect("a non-empty block");
            let hour = floor(last_ts, Tier::Hour.step_ms());
            let start = head.blocks[0].start;
            let before = if start > hour {
                earlier(hour, start)?
            } else {
                Vec::new()
            };
            for (ts, v) in before
                .iter()
                .map(|(t, v)| (t, v))
                .chain(raw.timestamps.iter().zip(&raw.values[0]))
            {
                if *ts >= hour {
                    // Completed minutes are in the open 1m block already.
                    let _ = head.roll(*ts, *v);
                }
            }
        }
        Ok(head)
    }

    /// The latest raw value (the log writes only values that differ from it): the
    /// raw open block's last, which a sample is always appended to (a block sealed
    /// by a sample is replaced by one that starts with it).
    pub(super) fn last(&self) -> Option<f64> {
        self.blocks[0].enc.last_value(0)
    }

    /// Folds a sample into the rollup points in progress; returns the minute and the
    /// hour point it completed. A point is completed by the first sample past it, so
    /// the points in progress only ever hold samples of the current hour.
    fn roll(&mut self, ts: i64, v: f64) -> (Option<Point>, Option<Point>) {
        let sample = Point::sample(floor(ts, Tier::Minute.step_ms()), v);
        let minute_done = match &mut self.minute {
            Some(m) if m.ts == sample.ts => {
                m.merge(&sample);
                None
            }
            slot => slot.replace(sample),
        };
        let mut hour_done = None;
        if let Some(done) = minute_done {
            let hour_ts = floor(done.ts, Tier::Hour.step_ms());
            match &mut self.hour {
                Some(h) if h.ts == hour_ts => h.merge(&done),
                slot => {
                    hour_done = slot.replace(Point {
                        ts: hour_ts,
                        ..done
                    })
                }
            }
        }
        let now_hour = floor(ts, Tier::Hour.step_ms());
        if self.hour.is_some_and(|h| h.ts != now_hour) {
            // A new hour began: the hour in progress is complete (at most one of the
            // two is set: an hour completed above was replaced by a newer one).
            debug_assert!(hour_done.is_none());
            hour_done = self.hour.take();
        }
        (minute_done, hour_done)
    }
}

/// The smallest part an open block is cut into (see [`push`]).
pub(super) const MIN_PART_BYTES: usize = 256;

/// The stream bytes of the blocks sealed since the last checkpoint past which an
/// ingest checkpoints at once instead of waiting for the next one. Every series'
/// raw block ends with its 2-hour window at the same instant: at 100 clusters of
/// 3 members that sealed 16.5 MiB of blocks at once, held until the checkpoint,
/// which then needed as much again in redb's transaction (`cargo bench --bench
/// fleet`, the day part: the RSS rose by 9 MiB over those checkpoints).
pub(super) const SEALED_CHECKPOINT_BYTES: usize = 2 << 20;

/// A block sealed in memory, written at the next checkpoint.
pub(super) struct Sealed {
    pub(super) tier: Tier,
    pub(super) series: u64,
    pub(super) start: i64,
    pub(super) bytes: Vec<u8>,
}

/// Appends to a tier's open block, sealing it first when `ts` is past its window,
/// or early when the block's stream has reached `part_bytes` (its share of
/// `store.head_bytes`). A block sealed early is a *part* of its window: the next
/// part is keyed by the time of its first point instead of the window's start, so
/// a window may be stored as several blocks (queries read every block in range;
/// after a restart the rollups in progress are folded again from the raw parts
/// of the current hour, see [`SeriesHead::from_record`]).
fn push(
    sealed: &mut Vec<Sealed>,
    id: u64,
    tier: Tier,
    open: &mut OpenBlock,
    ts: i64,
    values: &[f64],
    part_bytes: usize,
) {
    let window = floor(ts, tier.block_ms());
    let mut next_start = window;
    if !open.enc.is_empty() {
        let new_window = floor(open.start, tier.block_ms()) != window;
        let full = open.enc.stream().len() >= part_bytes;
        if new_window || full {
            let done = std::mem::replace(&mut open.enc, BlockEncoder::new(tier.columns()));
            sealed.push(Sealed {
                tier,
                series: id,
                start: open.start,
                bytes: done.to_bytes(),
            });
            if !new_window {
                next_start = ts;
            }
        }
    }
    if open.enc.is_empty() {
        open.start = next_start;
    }
    open.enc.push(ts, values);
}

/// Packs records into values of about [`records::HEAD_VALUE_BYTES`]: each value fits
/// one redb page (redb gives a value over a page a power-of-two run of pages, wasting
/// up to half of it).
struct PagePacker {
    values: Vec<Vec<u8>>,
    value: Vec<u8>,
}

impl PagePacker {
    fn new() -> Self {
        PagePacker {
            values: Vec::new(),
            value: Vec::with_capacity(2 * records::HEAD_VALUE_BYTES),
        }
    }

    /// Adds a record with `put`; a value that grew past the size is cut before it.
    fn add(&mut self, put: impl FnOnce(&mut Vec<u8>)) {
        let before = self.value.len();
        put(&mut self.value);
        if self.value.len() > records::HEAD_VALUE_BYTES && before > 0 {
            self.values.push(self.value[..before].to_vec());
            self.value.drain(..before);
        }
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.value.is_empty() {
            self.values.push(self.value);
        }
        self.values
    }
}

/// Of each series being read, the (window start, point count, bit stream) of each
/// tier's open block.
type OpenStreams = HashMap<u64, [(i64, usize, Vec<u8>); 3]>;

impl Inner {
    /// Every head's open blocks, in page-sized values handed to `put` as each is
    /// full (a copy of the whole head at once cost tens of MB at every whole write).
    /// Returns the bytes written.
    pub(super) fn write_whole_head(&self, mut put: impl FnMut(&[u8]) -> Result<()>) -> Result<u64> {
        let mut packer = PagePacker::new();
        let mut written = 0;
        for (id, h) in (0..).zip(&self.heads) {
            if h.blocks.iter().all(|b| b.enc.is_empty()) {
                continue;
            }
            packer.add(|out| h.put_state(id, out));
            for value in packer.values.drain(..) {
                written += value.len() as u64;
                put(&value)?;
            }
        }
        for value in packer.finish() {
            written += value.len() as u64;
            put(&value)?;
        }
        Ok(written)
    }

    /// What the open blocks gained since the last checkpoint.
    fn deltas(&self) -> impl Iterator<Item = records::HeadDelta<'_>> {
        (0..)
            .zip(&self.heads)
            .filter(|(_, h)| h.dirty)
            .flat_map(|(id, h)| {
                (0..)
                    .zip(&h.blocks)
                    .filter_map(move |(tier, b)| b.delta(id, tier))
            })
    }

    /// The bytes [`Inner::write_head_deltas`] would write, without building them:
    /// a checkpoint that writes the whole head instead needs none of them.
    pub(super) fn head_delta_bytes(&self) -> u64 {
        self.deltas()
            .map(|d| records::head_delta_len(&d) as u64)
            .sum()
    }

    /// What the open blocks gained since the last checkpoint, in page-sized values
    /// handed to `put` as each is full (as [`Inner::write_whole_head`]). Returns
    /// the values written.
    pub(super) fn write_head_deltas(
        &self,
        mut put: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let mut packer = PagePacker::new();
        let mut values = 0;
        for d in self.deltas() {
            packer.add(|out| records::put_head_delta(out, &d));
            for value in packer.values.drain(..) {
                values += 1;
                put(&value)?;
            }
        }
        for value in packer.finish() {
            values += 1;
            put(&value)?;
        }
        Ok(values)
    }

    /// The stream bytes an open block may reach before it is sealed early: an equal
    /// share of `store.head_bytes` for each tier of each series, at least
    /// [`MIN_PART_BYTES`] (a part much smaller would cost more in its header and
    /// first point than it saves).
    fn part_bytes(&self) -> usize {
        let blocks = (self.series.len() as u64).saturating_mul(3).max(1);
        let bound = match self.head_bytes {
            0 => super::DEFAULT_HEAD_BYTES,
            set => set,
        };
        usize::try_from(bound / blocks)
            .unwrap_or(usize::MAX)
            .max(MIN_PART_BYTES)
    }

    /// Adds a sample to the head; false if it is not newer than the last one.
    fn append(&mut self, id: u64, ts: i64, v: f64) -> bool {
        let part_bytes = self.part_bytes();
        let head = &mut self.heads[id as usize];
        if head.blocks[0]
            .enc
            .last_timestamp()
            .is_some_and(|last| ts <= last)
        {
            self.samples_dropped_total += 1;
            return false;
        }
        head.dirty = true;
        let sealed = &mut self.sealed;
        push(
            sealed,
            id,
            Tier::Raw,
            &mut head.blocks[0],
            ts,
            &[v],
            part_bytes,
        );
        let (minute, hour) = head.roll(ts, v);
        if let Some(m) = minute {
            push(
                sealed,
                id,
                Tier::Minute,
                &mut head.blocks[1],
                m.ts,
                &m.columns(),
                part_bytes,
            );
        }
        if let Some(h) = hour {
            push(
                sealed,
                id,
                Tier::Hour,
                &mut head.blocks[2],
                h.ts,
                &h.columns(),
                part_bytes,
            );
        }
        true
    }

    /// Reads the head's state into `self.heads`: its open blocks as last written whole,
    /// with the deltas written since applied in order; `older`: the file is of an older
    /// schema (the streams in the first block format).
    pub(super) fn read_head(&mut self, tx: &redb::ReadTransaction, older: bool) -> Result<()> {
        // Before schema 4 the head's streams are in the first block format.
        let head_format = if older {
            codec::FORMAT_PLAIN
        } else {
            codec::FORMAT
        };
        // The head as last written whole, then the deltas written since, in order.
        let mut open = self.read_whole_head(tx)?;
        self.apply_head_deltas(tx, &mut open)?;
        for (id, blocks) in open {
            let named = |e: StoreError| StoreError::Corrupt(format!("head of series {id}: {e}"));
            let bytes = [Tier::Raw, Tier::Minute, Tier::Hour].map(|t| {
                let (_, count, stream) = &blocks[t as usize];
                codec::assemble(head_format, t.columns(), *count as u32, stream)
            });
            let rec = records::HeadRecord {
                id,
                blocks: [0, 1, 2].map(|i| (blocks[i].0, bytes[i].as_slice())),
            };
            let earlier = |hour: i64, start: i64| raw_points(tx, id, hour, start);
            let head = SeriesHead::from_record(&rec, &earlier).map_err(named)?;
            let slot = self
                .heads
                .get_mut(id as usize)
                .ok_or_else(|| StoreError::Corrupt(format!("head of unknown series {id}")))?;
            *slot = head;
        }
        Ok(())
    }

    /// The open blocks of the head as last written whole (the `head` table).
    fn read_whole_head(&mut self, tx: &redb::ReadTransaction) -> Result<OpenStreams> {
        let mut open = OpenStreams::new();
        if let Some(table) = open_opt(tx, HEAD)? {
            for row in table.iter()? {
                let (key, value) = row?;
                self.head_whole_bytes += value.value().len() as u64;
                let named = |e: StoreError| {
                    StoreError::Corrupt(format!("head record {}: {e}", key.value()))
                };
                for rec in records::decode_heads(value.value()).map_err(named)? {
                    let mut blocks: [(i64, usize, Vec<u8>); 3] = Default::default();
                    for (slot, (start, bytes)) in blocks.iter_mut().zip(rec.blocks) {
                        if !bytes.is_empty() {
                            let (_, count) = codec::header(bytes).map_err(named)?;
                            *slot = (start, count, codec::stream_of(bytes)?.to_vec());
                        }
                    }
                    open.insert(rec.id, blocks);
                }
            }
        }
        Ok(open)
    }

    /// Applies the head deltas written since the head was last written whole (the
    /// `head_log` table), in order.
    fn apply_head_deltas(
        &mut self,
        tx: &redb::ReadTransaction,
        open: &mut OpenStreams,
    ) -> Result<()> {
        if let Some(table) = open_opt(tx, HEAD_LOG)? {
            for row in table.iter()? {
                let (key, value) = row?;
                self.head_log_bytes += value.value().len() as u64;
                self.next_head_log = key.value() + 1;
                let named = |e: String| {
                    StoreError::Corrupt(format!("head delta record {}: {e}", key.value()))
                };
                for d in
                    records::decode_head_deltas(value.value()).map_err(|e| named(e.to_string()))?
                {
                    let slot = &mut open.entry(d.id).or_default()[usize::from(d.tier)];
                    if slot.0 != d.start {
                        if d.offset != 0 {
                            return Err(named(format!(
                                "series {} starts a block at byte {}",
                                d.id, d.offset
                            )));
                        }
                        *slot = (d.start, 0, Vec::new());
                    }
                    if d.offset > slot.2.len() {
                        return Err(named(format!(
                            "series {}: delta at byte {} of a {}-byte block",
                            d.id,
                            d.offset,
                            slot.2.len()
                        )));
                    }
                    slot.2.truncate(d.offset);
                    slot.2.extend_from_slice(d.tail);
                    slot.1 = d.count as usize;
                }
            }
        }
        Ok(())
    }

    /// Replays the write-ahead log into the head: the last step of reading the state.
    pub(super) fn replay_log(&mut self, tx: &redb::ReadTransaction) -> Result<()> {
        // Replay what was ingested after the last checkpoint: an older version's log
        // first (its records precede any of this version's), then this version's.
        let mut replayed = 0;
        for (table, decode) in [
            (WAL_PER_SAMPLE, WalRecord::decode_per_sample as WalDecoder),
            (WAL, WalRecord::decode as WalDecoder),
        ] {
            let Some(table) = open_opt(tx, table)? else {
                continue;
            };
            for row in table.iter()? {
                let (seq, rec) = row?;
                // Decoded against the head as replayed so far: the state it was written against.
                let rec = {
                    let heads = &self.heads;
                    decode(rec.value(), &|id| {
                        heads.get(id as usize).and_then(SeriesHead::last)
                    })?
                };
                for (id, v) in &rec.samples {
                    if *id >= self.series.len() as u64 {
                        return Err(StoreError::Corrupt(format!(
                            "log record {} names unknown series {id}",
                            seq.value()
                        )));
                    }
                    self.append(*id, rec.at_ms, *v);
                }
                self.samples_ingested_total += rec.samples.len() as u64;
                self.next_wal = seq.value() + 1;
                replayed += 1;
            }
        }
        self.wal_records = replayed;
        Ok(())
    }
}

/// The raw samples of series `id` from `from` (inclusive) to `to` (exclusive) in
/// the stored blocks: the parts of the current hour before the open one.
fn raw_points(tx: &redb::ReadTransaction, id: u64, from: i64, to: i64) -> Result<Vec<(i64, f64)>> {
    let mut out = Vec::new();
    if let Some(table) = open_opt(tx, RAW)? {
        let first = floor(from, Tier::Raw.block_ms());
        for row in table.range((id, first)..(id, to))? {
            let (_, bytes) = row?;
            let block = codec::decode(bytes.value())?;
            out.extend(
                block
                    .timestamps
                    .iter()
                    .zip(&block.values[0])
                    .filter(|(t, _)| **t >= from && **t < to)
                    .map(|(t, v)| (*t, *v)),
            );
        }
    }
    out.sort_by_key(|(t, _)| *t);
    Ok(out)
}

/// Decodes one log record against the series' values before it.
type WalDecoder = fn(&[u8], &dyn Fn(u64) -> Option<f64>) -> Result<WalRecord>;

impl Store {
    /// Adds one member's samples and commits them to the write-ahead log.
    /// On a failed write the samples stay in memory and are written with the next
    /// batch; monitoring goes on either way.
    pub fn ingest(&self, batch: &MemberSamples) -> Result<()> {
        self.ingest_all(std::slice::from_ref(batch))
    }

    /// Adds several batches (e.g. every member of a probe) with one commit.
    pub fn ingest_all(&self, batches: &[MemberSamples]) -> Result<()> {
        let mut inner = lock(&self.inner);
        let result = self.ingest_locked(&mut inner, batches);
        drop(inner);
        match &result {
            Ok(()) => self.record_success(),
            Err(e) => self.record_error("writing samples", e),
        }
        result
    }

    fn ingest_locked(&self, inner: &mut Inner, batches: &[MemberSamples]) -> Result<()> {
        let mut early_checkpoint_failed = false;
        for batch in batches {
            let sealed_before = inner.sealed.len();
            let ids = inner.ids_for(&batch.cluster, &batch.member, &batch.samples);
            let mut logged = Vec::with_capacity(batch.samples.len());
            for (id, (_, value)) in ids.into_iter().zip(&batch.samples) {
                let before = inner.heads[id as usize].last();
                if inner.append(id, batch.at_ms, *value) {
                    logged.push((id, *value, before));
                }
            }
            let accepted = logged.len() as u64;
            inner.outbox_add(batch.at_ms, &logged);
            let bytes = WalRecord::encode(batch.at_ms, &logged);
            inner.samples_ingested_total += accepted;
            let seq = inner.next_wal;
            inner.next_wal += 1;
            inner.pending_wal.push((seq, bytes));
            if !early_checkpoint_failed
                && inner.sealed.len() > sealed_before
                && inner.sealed.iter().map(|s| s.bytes.len()).sum::<usize>()
                    > SEALED_CHECKPOINT_BYTES
            {
                // The log first: the checkpoint's head state covers it. A failure
                // keeps both in memory for the next commit, as any failed write
                // does, and the batches left are ingested all the same.
                let early = self
                    .commit_pending(inner)
                    .and_then(|()| self.checkpoint_locked(inner, false));
                if let Err(e) = early {
                    self.record_error("checkpoint", &e);
                    early_checkpoint_failed = true;
                }
            }
        }
        self.commit_pending(inner)
    }

    fn commit_pending(&self, inner: &mut Inner) -> Result<()> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let runs = inner.pending_series_runs();
        let tx = db.begin_write()?;
        {
            let mut series = tx.open_table(SERIES)?;
            for (first, _, run) in &runs {
                series.insert(first, run.as_slice())?;
            }
            let mut wal = tx.open_table(WAL)?;
            for (seq, rec) in &inner.pending_wal {
                wal.insert(*seq, rec.as_slice())?;
            }
        }
        let outbox = inner.outbox_write(&tx)?;
        tx.commit()?;
        inner.outbox_committed(&outbox);
        inner.wal_records += inner.pending_wal.len() as u64;
        inner
            .runs
            .extend(runs.iter().map(|(first, count, _)| (*first, *count)));
        inner.pending_series.clear();
        inner.pending_wal.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of these per series stays in memory (51,900 at 100 clusters of 3
    /// members): each byte here is 51 KB there.
    #[test]
    fn a_series_head_is_small() {
        assert!(
            size_of::<SeriesHead>() <= 528,
            "{} bytes",
            size_of::<SeriesHead>()
        );
    }

    /// The latest raw value survives the raw block being cut into a new part.
    #[test]
    fn the_last_value_is_the_raw_blocks_last() {
        let mut head = SeriesHead::new();
        assert_eq!(head.last(), None);
        let mut sealed = Vec::new();
        for (i, v) in [1.5, 2.5, -3.0].into_iter().enumerate() {
            push(
                &mut sealed,
                0,
                Tier::Raw,
                &mut head.blocks[0],
                i as i64 * 15_000,
                &[v],
                MIN_PART_BYTES,
            );
            assert_eq!(head.last(), Some(v));
        }
        // A part cut early starts with the sample that cut it.
        push(
            &mut sealed,
            0,
            Tier::Raw,
            &mut head.blocks[0],
            45_000,
            &[7.0],
            1,
        );
        assert_eq!(sealed.len(), 1);
        assert_eq!(head.last(), Some(7.0));
    }
}
