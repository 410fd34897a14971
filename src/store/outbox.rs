//! The outbox: every sample the store accepts, once more, for readers that ship
//! samples elsewhere (remote write). A record per ingested batch is written in the
//! same commit as the write-ahead log, so a sample that is in the store is in the
//! outbox, and one that is not, is not.
//!
//! - Records are self-contained (no value refers to an earlier record), so any of
//!   them can be read alone and the oldest can be deleted.
//! - Each reader has a position (the next sample it has not had acknowledged),
//!   kept in `meta` and moved only by [`Store::outbox_ack`]; a reader that stops
//!   before acknowledging reads the same samples again: at most one batch twice.
//! - Records every reader has passed are deleted. Past `max_bytes` the oldest go
//!   anyway, and each reader that had not read them counts their samples dropped.

use std::collections::{BTreeMap, VecDeque};

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::records::WalRecord;
use super::tables::{META, OUTBOX};
use super::{closed, decode, encode, lock, Inner, Result, Store};

/// Where a reader is: the next record and, within it, the next sample to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct OutboxPosition {
    pub record: u64,
    pub sample: u32,
}

/// One sample of the outbox: the series (see [`Store::series_meta`]), when, what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxSample {
    pub series: u64,
    pub at_ms: i64,
    pub value: f64,
}

/// What [`Store::outbox_read`] hands out: samples in the order they were stored,
/// and the position after the last of them (to acknowledge once they arrived).
#[derive(Debug, Default)]
pub struct OutboxBatch {
    pub samples: Vec<OutboxSample>,
    pub end: OutboxPosition,
}

/// A reader's state, as `/metrics` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxReaderStatus {
    /// Samples stored and not yet acknowledged.
    pub pending_samples: u64,
    /// Samples deleted unread to keep the outbox under its bound, since start.
    pub dropped_samples_total: u64,
}

const READER_KEY: &str = "outbox_reader/";

/// The outbox as the store keeps it in memory: an index of the records in the file
/// (their bytes and sample counts), the readers' positions, and what the next
/// commit writes.
#[derive(Default)]
pub(super) struct Outbox {
    /// (sequence, bytes, samples) of each record in the file, oldest first.
    records: VecDeque<(u64, u64, u64)>,
    bytes: u64,
    next_seq: u64,
    readers: BTreeMap<String, Reader>,
    /// Records made since the last commit: (sequence, bytes, samples).
    pending: Vec<(u64, Vec<u8>, u64)>,
}

#[derive(Debug, Clone, Copy)]
struct Reader {
    at: OutboxPosition,
    /// Bytes of records it may have still to read; past them, it skips the oldest.
    max_bytes: u64,
    dropped_total: u64,
}

/// What a commit does to the outbox, worked out before it and applied after it
/// succeeds (a failed commit leaves memory as it was, and is retried).
pub(super) struct OutboxCommit {
    /// Records deleted for the bound: every one below this sequence.
    delete_below: u64,
    /// Readers moved past deleted records: (name, new position, samples dropped).
    moved: Vec<(String, OutboxPosition, u64)>,
}

impl Outbox {
    fn enabled(&self) -> bool {
        !self.readers.is_empty()
    }

    /// What the bounds do once the pending records are added: each reader with
    /// more than its `max_bytes` still to read skips its oldest records (counting
    /// their samples dropped), and records no reader needs any more are deleted.
    fn plan(&self) -> OutboxCommit {
        let pending: u64 = self.pending.iter().map(|(_, b, _)| record_bytes(b)).sum();
        let total = self.bytes + pending;
        let mut moved = Vec::new();
        for (name, r) in &self.readers {
            // The common case, without a walk: nobody is behind by that much.
            if total <= r.max_bytes {
                continue;
            }
            let unread = || {
                self.records
                    .iter()
                    .copied()
                    .chain(
                        self.pending
                            .iter()
                            .map(|(s, b, n)| (*s, record_bytes(b), *n)),
                    )
                    .filter(|(seq, ..)| *seq >= r.at.record)
            };
            let mut behind: u64 = unread().map(|(_, b, _)| b).sum();
            let (mut at, mut dropped) = (r.at, 0u64);
            for (seq, bytes, samples) in unread() {
                if behind <= r.max_bytes {
                    break;
                }
                behind -= bytes;
                dropped += if seq == r.at.record {
                    samples.saturating_sub(u64::from(r.at.sample))
                } else {
                    samples
                };
                at = OutboxPosition {
                    record: seq + 1,
                    sample: 0,
                };
            }
            if at != r.at {
                moved.push((name.clone(), at, dropped));
            }
        }
        let delete_below = self
            .readers
            .iter()
            .map(|(name, r)| {
                moved
                    .iter()
                    .find(|(n, ..)| n == name)
                    .map_or(r.at.record, |(_, at, _)| at.record)
            })
            .min()
            .unwrap_or(self.next_seq);
        OutboxCommit {
            delete_below,
            moved,
        }
    }

    fn apply(&mut self, commit: &OutboxCommit) {
        for (seq, bytes, samples) in self.pending.drain(..) {
            let b = record_bytes(&bytes);
            self.records.push_back((seq, b, samples));
            self.bytes += b;
        }
        self.forget_below(commit.delete_below);
        for (name, at, dropped) in &commit.moved {
            if let Some(r) = self.readers.get_mut(name) {
                r.at = *at;
                r.dropped_total = r.dropped_total.saturating_add(*dropped);
                if *dropped > 0 {
                    tracing::warn!(
                        reader = %name,
                        dropped_samples = dropped,
                        "outbox over its bound: its oldest samples were deleted before they were sent"
                    );
                }
            }
        }
    }

    fn forget_below(&mut self, seq: u64) {
        while self.records.front().is_some_and(|r| r.0 < seq) {
            let (_, b, _) = self.records.pop_front().expect("checked");
            self.bytes -= b;
        }
    }

    /// The oldest record some reader still needs.
    fn needed_from(&self) -> u64 {
        self.readers
            .values()
            .map(|r| r.at.record)
            .min()
            .unwrap_or(self.next_seq)
    }
}

/// What a record costs in the file, near enough: its key and value.
fn record_bytes(value: &[u8]) -> u64 {
    8 + value.len() as u64
}

impl Inner {
    /// Queues a batch's accepted samples for the outbox's readers, if it has any.
    pub(super) fn outbox_add(&mut self, at_ms: i64, samples: &[(u64, f64, Option<f64>)]) {
        if !self.outbox.enabled() || samples.is_empty() {
            return;
        }
        // No value refers to the series' previous one: the record stands alone.
        let alone: Vec<_> = samples.iter().map(|&(id, v, _)| (id, v, None)).collect();
        let bytes = WalRecord::encode(at_ms, &alone);
        let seq = self.outbox.next_seq;
        self.outbox.next_seq += 1;
        self.outbox.pending.push((seq, bytes, samples.len() as u64));
    }

    /// Writes the pending records and applies the bound, in the ingest's commit.
    pub(super) fn outbox_write(&self, tx: &redb::WriteTransaction) -> Result<OutboxCommit> {
        let plan = self.outbox.plan();
        if self.outbox.pending.is_empty() && plan.moved.is_empty() {
            return Ok(plan);
        }
        let mut table = tx.open_table(OUTBOX)?;
        for (seq, bytes, _) in &self.outbox.pending {
            if *seq >= plan.delete_below {
                table.insert(*seq, bytes.as_slice())?;
            }
        }
        table.retain_in(..plan.delete_below, |_, _| false)?;
        let mut meta = tx.open_table(META)?;
        for (name, at, _) in &plan.moved {
            meta.insert(
                format!("{READER_KEY}{name}").as_str(),
                encode(at).as_slice(),
            )?;
        }
        Ok(plan)
    }

    pub(super) fn outbox_committed(&mut self, commit: &OutboxCommit) {
        self.outbox.apply(commit);
    }
}

impl Store {
    /// Sets who reads the outbox, each with the bytes it may have still to read
    /// (past them it loses its oldest records). Readers not named lose their
    /// position; new ones start after what is stored now; with none, the outbox is
    /// emptied and nothing more is written to it. Call once, after opening, before
    /// samples arrive.
    pub fn open_outbox(&self, readers: &[(&str, u64)]) -> Result<()> {
        let mut inner = lock(&self.inner);
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let mut outbox = Outbox::default();
        let named = |name: &str| readers.iter().any(|(n, _)| *n == name);
        let mut kept = BTreeMap::new();
        let mut stale = Vec::new();
        let tx = db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            for row in meta.range(READER_KEY..)? {
                let (k, v) = row?;
                let Some(name) = k.value().strip_prefix(READER_KEY) else {
                    break;
                };
                if named(name) {
                    let at: OutboxPosition = decode("outbox reader position", v.value())?;
                    kept.insert(name.to_string(), at);
                } else {
                    stale.push(k.value().to_string());
                }
            }
            for key in &stale {
                meta.remove(key.as_str())?;
            }
            let mut table = tx.open_table(OUTBOX)?;
            if readers.is_empty() {
                table.retain(|_, _| false)?;
            }
            for row in table.iter()? {
                let (k, v) = row?;
                let samples = WalRecord::decode(v.value(), &|_| None)?.samples.len() as u64;
                let b = record_bytes(v.value());
                outbox.records.push_back((k.value(), b, samples));
                outbox.bytes += b;
            }
            // Sequences continue after the last record and after every position,
            // so that a position never points past records still to come.
            outbox.next_seq = outbox
                .records
                .back()
                .map(|r| r.0 + 1)
                .into_iter()
                .chain(kept.values().map(|at| at.record))
                .max()
                .unwrap_or(0);
            let first = outbox.records.front().map_or(outbox.next_seq, |r| r.0);
            for (name, max_bytes) in readers {
                let at = kept.get(*name).copied().unwrap_or(OutboxPosition {
                    record: outbox.next_seq,
                    sample: 0,
                });
                // A position before the first record (deleted for the bound by a
                // crash-interrupted run) starts at the first one left.
                let at = at.max(OutboxPosition {
                    record: first,
                    sample: 0,
                });
                meta.insert(
                    format!("{READER_KEY}{name}").as_str(),
                    encode(&at).as_slice(),
                )?;
                outbox.readers.insert(
                    name.to_string(),
                    Reader {
                        at,
                        max_bytes: *max_bytes,
                        dropped_total: 0,
                    },
                );
            }
            let needed = outbox.needed_from();
            table.retain_in(..needed, |_, _| false)?;
            outbox.forget_below(needed);
        }
        tx.commit()?;
        inner.outbox = outbox;
        Ok(())
    }

    /// Up to `max_samples` samples for `reader` from its position on, in the order
    /// they were stored; empty when it has read everything.
    pub fn outbox_read(&self, reader: &str, max_samples: usize) -> Result<OutboxBatch> {
        let at = {
            let inner = lock(&self.inner);
            match inner.outbox.readers.get(reader) {
                Some(r) => r.at,
                None => return Err(unknown(reader)),
            }
        };
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_read()?;
        let table = tx.open_table(OUTBOX)?;
        let mut batch = OutboxBatch {
            samples: Vec::new(),
            end: at,
        };
        for row in table.range(at.record..)? {
            let (k, v) = row?;
            let seq = k.value();
            let record = WalRecord::decode(v.value(), &|_| None)?;
            // A record deleted for the bound since the position was read: start at
            // the first one left (its samples were counted dropped).
            let skip = if seq == at.record {
                at.sample as usize
            } else {
                0
            };
            let room = max_samples - batch.samples.len();
            let take = record.samples.len().saturating_sub(skip).min(room);
            batch.samples.extend(
                record.samples[skip.min(record.samples.len())..][..take]
                    .iter()
                    .map(|&(series, value)| OutboxSample {
                        series,
                        at_ms: record.at_ms,
                        value,
                    }),
            );
            batch.end = if skip + take >= record.samples.len() {
                OutboxPosition {
                    record: seq + 1,
                    sample: 0,
                }
            } else {
                OutboxPosition {
                    record: seq,
                    sample: u32::try_from(skip + take).unwrap_or(u32::MAX),
                }
            };
            if batch.samples.len() >= max_samples {
                break;
            }
        }
        Ok(batch)
    }

    /// Moves `reader` to `end` (what [`Store::outbox_read`] returned, now delivered)
    /// and deletes the records no reader needs any more, in one commit.
    pub fn outbox_ack(&self, reader: &str, end: OutboxPosition) -> Result<()> {
        let mut inner = lock(&self.inner);
        let Some(current) = inner.outbox.readers.get(reader).map(|r| r.at) else {
            return Err(unknown(reader));
        };
        // Records deleted for the bound meanwhile moved the reader already.
        if end <= current {
            return Ok(());
        }
        let needed = inner
            .outbox
            .readers
            .iter()
            .map(|(name, r)| {
                if name == reader {
                    end.record
                } else {
                    r.at.record
                }
            })
            .min()
            .unwrap_or(end.record);
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(
                format!("{READER_KEY}{reader}").as_str(),
                encode(&end).as_slice(),
            )?;
            tx.open_table(OUTBOX)?.retain_in(..needed, |_, _| false)?;
        }
        tx.commit()?;
        if let Some(r) = inner.outbox.readers.get_mut(reader) {
            r.at = end;
        }
        inner.outbox.forget_below(needed);
        Ok(())
    }

    /// How far behind `reader` is, and what it lost to the bound.
    pub fn outbox_status(&self, reader: &str) -> Option<OutboxReaderStatus> {
        let inner = lock(&self.inner);
        let r = inner.outbox.readers.get(reader)?;
        // Committed records only: the pending ones are not readable yet.
        let pending = inner
            .outbox
            .records
            .iter()
            .filter(|(seq, ..)| *seq >= r.at.record)
            .map(|(seq, _, n)| {
                if *seq == r.at.record {
                    n.saturating_sub(u64::from(r.at.sample))
                } else {
                    *n
                }
            })
            .sum();
        Some(OutboxReaderStatus {
            pending_samples: pending,
            dropped_samples_total: r.dropped_total,
        })
    }

    /// The outbox's size in the file: records and bytes.
    pub fn outbox_size(&self) -> (u64, u64) {
        let inner = lock(&self.inner);
        (inner.outbox.records.len() as u64, inner.outbox.bytes)
    }
}

fn unknown(reader: &str) -> super::StoreError {
    super::StoreError::BadQuery(format!("the outbox has no reader named {reader:?}"))
}

#[cfg(test)]
mod tests {
    use super::super::{MemberSamples, Retention, FILE_NAME};
    use super::*;

    fn scrape(at_ms: i64, member: &str, n: usize) -> MemberSamples {
        MemberSamples {
            cluster: "c".into(),
            member: member.into(),
            at_ms,
            samples: (0..n)
                .map(|i| (format!("m{{i=\"{i}\"}}"), at_ms as f64 + i as f64))
                .collect(),
        }
    }

    fn read_all(store: &Store, reader: &str, per_read: usize) -> Vec<OutboxSample> {
        let mut out = Vec::new();
        loop {
            let batch = store.outbox_read(reader, per_read).unwrap();
            if batch.samples.is_empty() {
                return out;
            }
            out.extend(batch.samples);
            store.outbox_ack(reader, batch.end).unwrap();
        }
    }

    #[test]
    fn every_accepted_sample_is_read_once_in_order_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let store = Store::open(&path, Retention::default()).unwrap();
        store.open_outbox(&[("rw", 1 << 30)]).unwrap();
        store
            .ingest_all(&[scrape(1000, "a", 5), scrape(1000, "b", 3)])
            .unwrap();
        // Out of order: refused by the store, so not in the outbox either.
        store.ingest(&scrape(500, "a", 5)).unwrap();
        store.ingest(&scrape(2000, "a", 5)).unwrap();
        assert_eq!(store.outbox_status("rw").unwrap().pending_samples, 13);

        // Reads of 4 cut records in the middle; the position says where.
        let first = store.outbox_read("rw", 4).unwrap();
        assert_eq!(first.samples.len(), 4);
        assert_eq!(
            first.end,
            OutboxPosition {
                record: 0,
                sample: 4
            }
        );
        store.outbox_ack("rw", first.end).unwrap();
        // Read but not acknowledged when the monitor stops: read again after.
        let unacked = store.outbox_read("rw", 4).unwrap();
        assert_eq!(unacked.samples[0].value, 1004.0);
        drop(store);

        let store = Store::open(&path, Retention::default()).unwrap();
        store.open_outbox(&[("rw", 1 << 30)]).unwrap();
        let rest = read_all(&store, "rw", 4);
        let meta = store.series_meta(&rest.iter().map(|s| s.series).collect::<Vec<_>>());
        let seen: Vec<(String, i64, f64)> = rest
            .iter()
            .zip(meta)
            .map(|(s, m)| {
                let m = m.unwrap();
                (format!("{}/{}", m.member, m.series), s.at_ms, s.value)
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("a/m{i=\"4\"}".to_string(), 1000, 1004.0),
                ("b/m{i=\"0\"}".to_string(), 1000, 1000.0),
                ("b/m{i=\"1\"}".to_string(), 1000, 1001.0),
                ("b/m{i=\"2\"}".to_string(), 1000, 1002.0),
                ("a/m{i=\"0\"}".to_string(), 2000, 2000.0),
                ("a/m{i=\"1\"}".to_string(), 2000, 2001.0),
                ("a/m{i=\"2\"}".to_string(), 2000, 2002.0),
                ("a/m{i=\"3\"}".to_string(), 2000, 2003.0),
                ("a/m{i=\"4\"}".to_string(), 2000, 2004.0),
            ]
        );
        // Everything read is deleted.
        assert_eq!(store.outbox_size(), (0, 0));
        assert_eq!(store.outbox_status("rw").unwrap().pending_samples, 0);
        // Sequences go on after a restart with an empty outbox.
        drop(store);
        let store = Store::open(&path, Retention::default()).unwrap();
        store.open_outbox(&[("rw", 1 << 30)]).unwrap();
        store.ingest(&scrape(3000, "a", 2)).unwrap();
        assert_eq!(read_all(&store, "rw", 100).len(), 2);
    }

    #[test]
    fn past_its_bound_the_oldest_records_go_and_each_reader_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join(FILE_NAME), Retention::default()).unwrap();
        store
            .open_outbox(&[("slow", 1 << 30), ("fast", 1 << 30)])
            .unwrap();
        store.ingest(&scrape(1000, "a", 10)).unwrap();
        let (_, one_record) = store.outbox_size();
        drop(store);
        // Room for three records of this size.
        let store = Store::open(&dir.path().join(FILE_NAME), Retention::default()).unwrap();
        let bound = 3 * one_record + one_record / 2;
        store
            .open_outbox(&[("slow", bound), ("fast", 1 << 30)])
            .unwrap();
        // `slow` has read 4 samples of the first record.
        let part = store.outbox_read("slow", 4).unwrap();
        store.outbox_ack("slow", part.end).unwrap();
        for i in 2..=5 {
            store.ingest(&scrape(i * 1000, "a", 10)).unwrap();
            read_all(&store, "fast", 7);
        }
        // Five records were made and three fit: the first two went.
        let (records, bytes) = store.outbox_size();
        assert_eq!(records, 3);
        assert!(bytes <= bound, "{bytes}");
        let slow = store.outbox_status("slow").unwrap();
        assert_eq!(
            slow,
            OutboxReaderStatus {
                pending_samples: 30,
                dropped_samples_total: 6 + 10
            }
        );
        assert_eq!(
            store.outbox_status("fast").unwrap(),
            OutboxReaderStatus::default()
        );
        let rest = read_all(&store, "slow", 1000);
        assert_eq!(
            rest.iter().map(|s| s.at_ms).collect::<Vec<_>>(),
            [[3000; 10], [4000; 10], [5000; 10]].concat()
        );
        assert_eq!(store.outbox_size(), (0, 0));
    }

    #[test]
    fn readers_no_longer_named_are_forgotten_and_without_readers_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let store = Store::open(&path, Retention::default()).unwrap();
        store
            .open_outbox(&[("a", 1 << 30), ("b", 1 << 30)])
            .unwrap();
        store.ingest(&scrape(1000, "m", 3)).unwrap();
        read_all(&store, "a", 10);
        // `b` still needs the record.
        assert_eq!(store.outbox_size().0, 1);
        drop(store);

        let store = Store::open(&path, Retention::default()).unwrap();
        store.open_outbox(&[("a", 1 << 30)]).unwrap();
        // Only `a`, which had read it, is left: nobody needs the record.
        assert_eq!(store.outbox_size(), (0, 0));
        assert!(store.outbox_read("b", 10).is_err());
        // A new reader starts with what comes next.
        drop(store);
        let store = Store::open(&path, Retention::default()).unwrap();
        store
            .open_outbox(&[("a", 1 << 30), ("new", 1 << 30)])
            .unwrap();
        store.ingest(&scrape(2000, "m", 3)).unwrap();
        assert_eq!(read_all(&store, "new", 10).len(), 3);
        drop(store);

        let store = Store::open(&path, Retention::default()).unwrap();
        store.open_outbox(&[]).unwrap();
        store.ingest(&scrape(3000, "m", 3)).unwrap();
        assert_eq!(store.outbox_size(), (0, 0));
        drop(store);
        let db = redb::Database::open(&path).unwrap();
        let tx = db.begin_read().unwrap();
        assert_eq!(tx.open_table(OUTBOX).unwrap().iter().unwrap().count(), 0);
        let meta = tx.open_table(META).unwrap();
        assert_eq!(
            meta.range(READER_KEY..)
                .unwrap()
                .filter(|r| r.as_ref().unwrap().0.value().starts_with(READER_KEY))
                .count(),
            0
        );
    }
}
