//! The series registry: which (cluster, member, series text) each id stands for,
//! how a batch's texts find their ids (new ones registered and queued for the
//! file), the registry's records in the file (runs of consecutive ids of one
//! member, see [`super::records::SeriesRun`]), and the lookups the queries start
//! from. Ids are handed out from 0 and never reused.

use std::collections::HashMap;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::records::SeriesRun;
use super::tables::{open_opt, SERIES, SERIES_FRONT_CODED};
use super::{lock, Inner, Result, SeriesHead, Store, StoreError};

/// What a series is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesMeta {
    pub cluster: String,
    pub member: String,
    /// `name{label="value",...}` as scraped, or an indicator's name.
    pub series: String,
}

impl SeriesMeta {
    /// The metric name: the series text up to its labels.
    pub fn name(&self) -> &str {
        self.series.split('{').next().unwrap_or(&self.series)
    }
}

/// A registered series: its member (an index into `Inner::member_names`) and its
/// text. The text is held here once: the member's lookup table holds only ids.
pub(super) struct SeriesEntry {
    pub(super) member: u32,
    pub(super) text: Box<str>,
}

/// The series of one member.
pub(super) struct MemberSeries {
    /// Its index in `Inner::member_names`.
    index: u32,
    /// Its series' ids, found by their text's hash (`Inner::text_hasher`) and
    /// compared with the registry's text. A map from text to id held every text a
    /// second time: 5.5 MiB of a 100-cluster monitor's 12.6 MiB registry.
    by_text: hashbrown::HashTable<u64>,
    /// The ids of the member's last batch, in order: a scrape lists its series in
    /// the same order every time, so most samples are found by one comparison
    /// instead of hashing their text.
    last_batch: Vec<u64>,
}

/// Makes room for one more by an eighth (at least 64) rather than by doubling: the
/// registry and the head hold an entry per series (about 600 bytes in all), and
/// doubling left up to half of them allocated and unused.
fn grow_by_eighths<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 8).max(64));
    }
}

impl MemberSeries {
    /// Bytes it holds: the lookup table (an id and a control byte a slot) and the
    /// last batch's ids.
    pub(super) fn heap_bytes(&self) -> usize {
        self.by_text.capacity() * (size_of::<u64>() + 1)
            + self.last_batch.capacity() * size_of::<u64>()
    }

    /// The id of the member's series `text`.
    fn id_of(
        &self,
        text: &str,
        series: &[SeriesEntry],
        hasher: &impl std::hash::BuildHasher,
    ) -> Option<u64> {
        self.by_text
            .find(hasher.hash_one(text), |id| {
                &*series[*id as usize].text == text
            })
            .copied()
    }

    /// Adds `id` (of `series`), in place of an earlier series of the same text: a
    /// cluster deleted and added again registers its series anew, and reading the
    /// registry back meets both; the newer is the one samples go to.
    fn add(&mut self, id: u64, series: &[SeriesEntry], hasher: &impl std::hash::BuildHasher) {
        let text = &*series[id as usize].text;
        let hash = hasher.hash_one(text);
        if let Some(earlier) = self
            .by_text
            .find_mut(hash, |other| &*series[*other as usize].text == text)
        {
            *earlier = id;
            return;
        }
        self.by_text
            .insert_unique(hash, id, |id| hasher.hash_one(&*series[*id as usize].text));
    }

    /// The member's series ids.
    fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_text.iter().copied()
    }
}

/// The series of `cluster`'s `member`, registered as a member if new.
fn member_series<'a>(
    members: &'a mut HashMap<String, HashMap<String, MemberSeries>>,
    member_names: &mut Vec<(String, String)>,
    cluster: &str,
    member: &str,
) -> &'a mut MemberSeries {
    if !members.get(cluster).is_some_and(|m| m.contains_key(member)) {
        // Members are the configured clusters' (each bounded by etcd's own
        // limits), so far fewer than 2^32.
        let index = u32::try_from(member_names.len()).unwrap_or(u32::MAX);
        member_names.push((cluster.to_string(), member.to_string()));
        members.entry(cluster.to_string()).or_default().insert(
            member.to_string(),
            MemberSeries {
                index,
                by_text: hashbrown::HashTable::new(),
                last_batch: Vec::new(),
            },
        );
    }
    members
        .get_mut(cluster)
        .and_then(|m| m.get_mut(member))
        .expect("inserted above")
}

/// Registers `text` as the next series of `known`, with an empty head; returns
/// its id.
fn push_series(
    series: &mut Vec<SeriesEntry>,
    heads: &mut Vec<SeriesHead>,
    known: &mut MemberSeries,
    text: Box<str>,
    hasher: &impl std::hash::BuildHasher,
) -> u64 {
    let id = series.len() as u64;
    grow_by_eighths(series);
    grow_by_eighths(heads);
    series.push(SeriesEntry {
        member: known.index,
        text,
    });
    heads.push(SeriesHead::new());
    known.add(id, series, hasher);
    id
}

impl Inner {
    /// At a checkpoint: gives back the spare room of the registry and the head,
    /// which grow by an eighth (up to 9 % of them: 4,780 slots of 552 bytes at
    /// 51,900 series), once no series was added since the last checkpoint, so that
    /// a monitor still adding series does not reallocate them over and over.
    pub(super) fn shrink_registry(&mut self) {
        let settled = self.series.len() == self.series_at_checkpoint;
        self.series_at_checkpoint = self.series.len();
        if !settled {
            return;
        }
        let spare = |len: usize, capacity: usize| capacity - len > len / 64;
        if spare(self.heads.len(), self.heads.capacity()) {
            self.heads.shrink_to_fit();
        }
        if spare(self.series.len(), self.series.capacity()) {
            self.series.shrink_to_fit();
        }
    }

    /// What series `id` is.
    pub(super) fn meta(&self, id: u64) -> Option<SeriesMeta> {
        let entry = self.series.get(usize::try_from(id).ok()?)?;
        let (cluster, member) = self.member_names.get(entry.member as usize)?;
        Some(SeriesMeta {
            cluster: cluster.clone(),
            member: member.clone(),
            series: entry.text.to_string(),
        })
    }

    /// The cluster series `id` belongs to.
    pub(super) fn cluster_of(&self, id: u64) -> Option<&str> {
        let entry = self.series.get(usize::try_from(id).ok()?)?;
        Some(&self.member_names.get(entry.member as usize)?.0)
    }

    /// The ids of a batch's series, registering new ones.
    pub(super) fn ids_for(
        &mut self,
        cluster: &str,
        member: &str,
        samples: &[(String, f64)],
    ) -> Vec<u64> {
        let Inner {
            members,
            member_names,
            text_hasher,
            series,
            heads,
            pending_series,
            ..
        } = self;
        let known = member_series(members, member_names, cluster, member);
        let mut ids = Vec::with_capacity(samples.len());
        for (i, (text, _)) in samples.iter().enumerate() {
            let in_place = known
                .last_batch
                .get(i)
                .copied()
                .filter(|id| *series[*id as usize].text == **text);
            let id = match in_place.or_else(|| known.id_of(text, series, text_hasher)) {
                Some(id) => id,
                None => {
                    let id = push_series(series, heads, known, text.as_str().into(), text_hasher);
                    pending_series.push(id);
                    id
                }
            };
            ids.push(id);
        }
        known.last_batch.clone_from(&ids);
        ids
    }

    /// Registers a series read from the file; its id must be the next one.
    fn register(&mut self, id: u64, cluster: &str, member: &str, text: String) -> Result<()> {
        if id != self.series.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "series registry: series {id} follows series {}",
                self.series.len() as i64 - 1
            )));
        }
        let Inner {
            members,
            member_names,
            text_hasher,
            series,
            heads,
            ..
        } = self;
        let known = member_series(members, member_names, cluster, member);
        push_series(series, heads, known, text.into_boxed_str(), text_hasher);
        Ok(())
    }

    /// The texts of the registry run whose first id is `key`.
    fn run_texts(&self, key: u64) -> Option<Vec<String>> {
        let &(first, count) = self.runs.iter().find(|(first, _)| *first == key)?;
        let texts = self.series.get(first as usize..(first + count) as usize)?;
        Some(texts.iter().map(|e| e.text.to_string()).collect())
    }

    /// The registry records for the series registered since the last commit, one per
    /// run of consecutive ids of one member: (first id, count, encoded run). Each
    /// copies from the largest earlier run of its cluster.
    pub(super) fn pending_series_runs(&self) -> Vec<(u64, u64, Vec<u8>)> {
        let mut runs: Vec<(u64, u64, Vec<u8>)> = Vec::new();
        let mut i = 0;
        while i < self.pending_series.len() {
            let first = self.pending_series[i];
            let member = self.series[first as usize].member;
            let (cluster_name, member_name) = &self.member_names[member as usize];
            let mut j = i + 1;
            while j < self.pending_series.len() {
                let (prev, id) = (self.pending_series[j - 1], self.pending_series[j]);
                if id != prev + 1 || self.series[id as usize].member != member {
                    break;
                }
                j += 1;
            }
            let texts_of = |first: u64, count: u64| -> Vec<&str> {
                self.series[first as usize..(first + count) as usize]
                    .iter()
                    .map(|s| &*s.text)
                    .collect()
            };
            let base = self
                .runs
                .iter()
                .copied()
                .chain(runs.iter().map(|(first, count, _)| (*first, *count)))
                .filter(|(f, _)| self.cluster_of(*f) == Some(cluster_name.as_str()))
                .max_by_key(|(_, count)| *count);
            let base_texts = base.map(|(f, count)| (f, texts_of(f, count)));
            let count = (j - i) as u64;
            let run = SeriesRun::encode(
                cluster_name,
                member_name,
                &texts_of(first, count),
                base_texts.as_ref().map(|(f, t)| (*f, t.as_slice())),
            );
            runs.push((first, count, run));
            i = j;
        }
        runs
    }

    /// Reads the registry into `self`: the first step of reading the state (`read_state`).
    pub(super) fn read_registry(&mut self, tx: &redb::ReadTransaction) -> Result<()> {
        // An older version's registry first: its ids precede any of this version's.
        for (table, front_coded) in [(SERIES_FRONT_CODED, true), (SERIES, false)] {
            let Some(table) = open_opt(tx, table)? else {
                continue;
            };
            for row in table.iter()? {
                let (first, run) = row?;
                let decoded = if front_coded {
                    SeriesRun::decode_front_coded(run.value())
                } else {
                    let texts_of = |key: u64| self.run_texts(key);
                    SeriesRun::decode(run.value(), &texts_of)
                };
                let run = decoded.map_err(|e| {
                    StoreError::Corrupt(format!("series registry at {}: {e}", first.value()))
                })?;
                self.runs.push((first.value(), run.texts.len() as u64));
                for (id, text) in (first.value()..).zip(run.texts) {
                    self.register(id, &run.cluster, &run.member, text)?;
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// What each of `ids` is (`None` for an id the store never gave out).
    pub fn series_meta(&self, ids: &[u64]) -> Vec<Option<SeriesMeta>> {
        let inner = lock(&self.inner);
        ids.iter().map(|id| inner.meta(*id)).collect()
    }

    /// Series of `cluster` (optionally of one member, with names containing `filter`).
    pub fn list_series(
        &self,
        cluster: &str,
        member: Option<&str>,
        filter: Option<&str>,
    ) -> Vec<(u64, SeriesMeta)> {
        self.series_where(cluster, member, |text| {
            filter.is_none_or(|f| text.contains(f))
        })
    }

    /// Series of `cluster` (optionally of one member) that are `metric`: either its
    /// full text `name{labels}` or its name (every label set).
    pub fn find_series(
        &self,
        cluster: &str,
        member: Option<&str>,
        metric: &str,
    ) -> Vec<(u64, SeriesMeta)> {
        if metric.contains('{') {
            // One series per member: found by its text, without a scan.
            let inner = lock(&self.inner);
            let Some(members) = inner.members.get(cluster) else {
                return Vec::new();
            };
            let mut out: Vec<(u64, SeriesMeta)> = members
                .iter()
                .filter(|(name, _)| member.is_none_or(|w| w == name.as_str()))
                .filter_map(|(_, known)| known.id_of(metric, &inner.series, &inner.text_hasher))
                .filter_map(|id| Some((id, inner.meta(id)?)))
                .collect();
            out.sort_by(|a, b| a.1.member.cmp(&b.1.member));
            return out;
        }
        self.series_where(cluster, member, |text| {
            text.split('{').next() == Some(metric)
        })
    }

    /// The series of one cluster's members whose text passes `keep`, by member and text.
    fn series_where(
        &self,
        cluster: &str,
        member: Option<&str>,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<(u64, SeriesMeta)> {
        let inner = lock(&self.inner);
        let Some(members) = inner.members.get(cluster) else {
            return Vec::new();
        };
        let mut out: Vec<(u64, SeriesMeta)> = members
            .iter()
            .filter(|(name, _)| member.is_none_or(|w| w == name.as_str()))
            .flat_map(|(_, known)| known.ids())
            .filter(|id| keep(&inner.series[*id as usize].text))
            .filter_map(|id| Some((id, inner.meta(id)?)))
            .collect();
        out.sort_by(|a, b| (&a.1.member, &a.1.series).cmp(&(&b.1.member, &b.1.series)));
        out
    }
}
