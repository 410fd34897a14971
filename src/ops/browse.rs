//! Browsing a cluster's keys as a tree by `/`: one level under a prefix at a time,
//! page by page, and one key's value.
//!
//! A level is never read whole: etcd is asked for ranges with a limit, keys only,
//! and a folder (a run of keys sharing the next path segment) is skipped by starting
//! the next range at the folder's end, so a page costs about its own size however
//! many keys lie below it.

use etcd_client::GetOptions;
use futures::StreamExt;

use crate::etcd::{EtcdError, Members};

/// The most entries one page may ask for.
pub const MAX_LIMIT: usize = 1000;
/// Values longer than this are cut for display; their full size is reported.
pub const DEFAULT_MAX_VALUE: usize = 64 * 1024;
/// The smallest range read after one that was mostly the inside of folders.
const FOLDER_BATCH: usize = 8;
/// How many folder counts are asked of etcd at once: enough to hide round trips,
/// few enough not to flood a cluster that serves real clients.
const COUNT_CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    /// Bad input; `param` names the parameter at fault.
    #[error("{param}: {message}")]
    Invalid {
        param: &'static str,
        message: String,
    },
    #[error(transparent)]
    Etcd(#[from] EtcdError),
}

pub type Result<T> = std::result::Result<T, BrowseError>;

fn invalid(param: &'static str, message: impl Into<String>) -> BrowseError {
    BrowseError::Invalid {
        param,
        message: message.into(),
    }
}

/// What to list: the level under `prefix`, `limit` entries after `after`.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub prefix: Vec<u8>,
    /// 1..=[`MAX_LIMIT`] entries (folders and keys together).
    pub limit: usize,
    /// The `next` of the previous page: the last key or folder it returned.
    pub after: Option<Vec<u8>>,
    /// Count the keys below each folder (one count-only request per folder).
    pub counts: bool,
}

/// The metadata of a key (what a keys-only range returns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMeta {
    pub key: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
}

/// A folder: every key starting with `path` (which ends with `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub path: Vec<u8>,
    /// Keys below it, at any depth; `None` when not counted.
    pub keys: Option<i64>,
}

/// One entry of a level, in key order (a folder sorts as its path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Folder(Folder),
    Key(KeyMeta),
}

impl Entry {
    /// The key, or the folder's path: what `after` takes to continue past it.
    pub fn path(&self) -> &[u8] {
        match self {
            Entry::Folder(f) => &f.path,
            Entry::Key(k) => &k.key,
        }
    }

    /// The entry's name below `prefix` (a folder's keeps its trailing `/`).
    pub fn name<'a>(&'a self, prefix: &[u8]) -> &'a [u8] {
        &self.path()[prefix.len()..]
    }
}

/// One page of a level.
#[derive(Debug, Clone)]
pub struct Level {
    pub prefix: Vec<u8>,
    pub entries: Vec<Entry>,
    /// Where the next page starts (pass as `after`); `None` on the last page.
    pub next: Option<Vec<u8>>,
    /// The revision the first range was served at.
    pub revision: i64,
}

impl Level {
    pub fn folders(&self) -> impl Iterator<Item = &Folder> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Folder(f) => Some(f),
            Entry::Key(_) => None,
        })
    }

    pub fn keys(&self) -> impl Iterator<Item = &KeyMeta> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Key(k) => Some(k),
            Entry::Folder(_) => None,
        })
    }
}

/// The end of the range of keys starting with `prefix` (etcd's convention: the
/// prefix with its last byte below 0xff incremented; `\0` means "to the last key").
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    past(prefix).unwrap_or_else(|| vec![0])
}

/// The first key after every key starting with `prefix`; `None` if no key can
/// follow them (an empty prefix, or one of 0xff bytes only).
fn past(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The first key to read after `after` (the last entry of a previous page);
/// `None` if nothing can follow it.
fn resume_at(prefix: &[u8], after: &[u8]) -> Result<Option<Vec<u8>>> {
    let rest = after
        .strip_prefix(prefix)
        .ok_or_else(|| invalid("after", "must start with the prefix"))?;
    match rest.iter().position(|&b| b == b'/') {
        // Inside a folder: the whole folder was shown as one entry, skip it.
        Some(i) => Ok(past(&after[..prefix.len() + i + 1])),
        None => Ok(Some(successor(after))),
    }
}

/// The first key after `key`.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

fn meta(kv: &etcd_client::KeyValue) -> KeyMeta {
    KeyMeta {
        key: kv.key().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    }
}

/// Lists the level under `req.prefix`: the keys directly under it and one folder
/// per distinct next path segment, in key order, at most `req.limit` of them.
/// Every call to etcd is a read under the request deadline, on the next member
/// when one does not answer ([`Members::read`]).
pub async fn list(members: &Members, req: &ListRequest) -> Result<Level> {
    if req.limit == 0 || req.limit > MAX_LIMIT {
        return Err(invalid(
            "limit",
            format!("{} is not between 1 and {MAX_LIMIT}", req.limit),
        ));
    }
    let prefix = &req.prefix;
    let end = prefix_end(prefix);
    let mut start = match &req.after {
        Some(after) => resume_at(prefix, after)?,
        // etcd takes no empty key: the whole key space starts at "\0".
        None if prefix.is_empty() => Some(vec![0]),
        None => Some(prefix.clone()),
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut revision = 0;
    // Keys a range may return: what the page still needs, unless the last range
    // was mostly the inside of folders; then about what it yielded, so that a
    // level of big folders costs a few keys a folder, not `limit` of each.
    let mut cap = usize::MAX;
    // One entry more than asked for tells whether there is a next page.
    while entries.len() <= req.limit {
        let Some(from) = start.take().filter(|s| end == [0] || *s < end) else {
            break;
        };
        let want = (req.limit + 1 - entries.len()).min(cap);
        let before = entries.len();
        let options = GetOptions::new()
            .with_range(end.clone())
            .with_keys_only()
            .with_limit(want as i64);
        let what = format!("listing keys under {:?}", String::from_utf8_lossy(prefix));
        let resp = members
            .read(&what, |c| {
                let (from, options) = (from.clone(), options.clone());
                async move { c.kv_client().get(from, Some(options)).await }
            })
            .await?;
        if revision == 0 {
            revision = resp.header().map_or(0, |h| h.revision());
        }
        let mut skip_folder: Option<Vec<u8>> = None;
        for kv in resp.kvs() {
            let key = kv.key();
            if skip_folder.as_ref().is_some_and(|f| key.starts_with(f)) {
                continue;
            }
            skip_folder = None;
            let rest = &key[prefix.len()..];
            match rest.iter().position(|&b| b == b'/') {
                Some(i) => {
                    let path = key[..prefix.len() + i + 1].to_vec();
                    // The rest of the folder is skipped, here and in etcd.
                    start = past(&path);
                    skip_folder = Some(path.clone());
                    entries.push(Entry::Folder(Folder { path, keys: None }));
                }
                None => {
                    start = Some(successor(key));
                    entries.push(Entry::Key(meta(kv)));
                }
            }
            if entries.len() > req.limit {
                break;
            }
        }
        if !resp.more() {
            break;
        }
        let (gained, read) = (entries.len() - before, resp.kvs().len());
        cap = if gained * 2 < read {
            (gained * 2).max(FOLDER_BATCH)
        } else {
            usize::MAX
        };
    }
    let next = if entries.len() > req.limit {
        entries.truncate(req.limit);
        entries.last().map(|e| e.path().to_vec())
    } else {
        None
    };
    if req.counts {
        count_folders(members, &mut entries).await?;
    }
    Ok(Level {
        prefix: prefix.clone(),
        entries,
        next,
        revision,
    })
}

/// Fills in how many keys lie below each folder (count-only ranges, a few at once).
async fn count_folders(members: &Members, entries: &mut [Entry]) -> Result<()> {
    let paths: Vec<(usize, Vec<u8>)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Entry::Folder(f) => Some((i, f.path.clone())),
            Entry::Key(_) => None,
        })
        .collect();
    let counted: Vec<(usize, std::result::Result<i64, EtcdError>)> = futures::stream::iter(paths)
        .map(|(i, path)| async move {
            let what = format!("counting keys under {:?}", String::from_utf8_lossy(&path));
            let options = GetOptions::new()
                .with_range(prefix_end(&path))
                .with_count_only();
            let n = members
                .read(&what, |c| {
                    let (path, options) = (path.clone(), options.clone());
                    async move { c.kv_client().get(path, Some(options)).await }
                })
                .await
                .map(|r| r.count());
            (i, n)
        })
        .buffer_unordered(COUNT_CONCURRENCY)
        .collect()
        .await;
    for (i, n) in counted {
        if let Entry::Folder(f) = &mut entries[i] {
            f.keys = Some(n?);
        }
    }
    Ok(())
}

/// One key as read for display: the value cut at the reader's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub meta: KeyMeta,
    /// The value, or its first `max_value` bytes.
    pub value: Vec<u8>,
    /// The full value's size in bytes.
    pub size: usize,
}

impl KeyValue {
    pub fn truncated(&self) -> bool {
        self.value.len() < self.size
    }

    /// The value as text, when it is text: UTF-8 (a character cut by truncation
    /// aside) without control characters other than whitespace.
    pub fn text(&self) -> Option<&str> {
        text_of(&self.value, self.truncated())
    }
}

/// `bytes` as text, if they are text (see [`KeyValue::text`]). `cut`: the bytes
/// may end inside a character.
pub fn text_of(bytes: &[u8], cut: bool) -> Option<&str> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        // Only an incomplete character at the very end, where the value was cut.
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let binary = text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    (!binary).then_some(text)
}

/// Lowercase hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Parses [`hex`]'s output (either case); `param` names the parameter for errors.
pub fn unhex(param: &'static str, text: &str) -> Result<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(invalid(param, "hex needs two digits a byte"));
    }
    bytes
        .chunks(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => Ok((h << 4) | l),
            _ => Err(invalid(param, format!("{text:?} is not hex"))),
        })
        .collect()
}

/// Reads `key`; `None` if it does not exist. Values longer than `max_value` bytes
/// are cut (etcd has no partial reads, so the value is fetched whole: at most its
/// request size limit, 1.5 MiB by default).
pub async fn read(members: &Members, key: &[u8], max_value: usize) -> Result<Option<KeyValue>> {
    if key.is_empty() {
        return Err(invalid("key", "must not be empty"));
    }
    let what = format!("reading key {:?}", String::from_utf8_lossy(key));
    let mut resp = members
        .read(&what, |c| async move { c.kv_client().get(key, None).await })
        .await?;
    Ok(resp.take_kvs().into_iter().next().map(|kv| {
        let meta = meta(&kv);
        let (_, mut value) = kv.into_key_value();
        let size = value.len();
        value.truncate(max_value);
        KeyValue { meta, value, size }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_follow_etcd() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn paging_resumes_after_a_key_or_past_a_whole_folder() {
        let at = |p: &[u8], a: &[u8]| resume_at(p, a).unwrap().unwrap();
        assert_eq!(at(b"app/", b"app/x"), b"app/x\0");
        // A folder's path, or any key in it: the next page starts past the folder.
        assert_eq!(at(b"app/", b"app/conf/"), b"app/conf0");
        assert_eq!(at(b"app/", b"app/conf/a/b"), b"app/conf0");
        assert_eq!(at(b"", b"/registry/"), b"0");
        assert_eq!(resume_at(b"", b"\xff/").unwrap(), Some(b"\xff0".to_vec()));
        assert_eq!(
            resume_at(b"\xff", b"\xff\xff/").unwrap(),
            Some(b"\xff\xff0".to_vec())
        );
        match resume_at(b"app/", b"other") {
            Err(BrowseError::Invalid { param, .. }) => assert_eq!(param, "after"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_or_binary() {
        assert_eq!(
            text_of(b"line 1\nline 2\t", false),
            Some("line 1\nline 2\t")
        );
        assert_eq!(text_of(b"\x00\x01", false), None);
        assert_eq!(text_of(b"\xff\xfe", false), None);
        // "é" is two bytes; cut after the first, the text is kept up to it.
        assert_eq!(text_of("abé".as_bytes()[..3].as_ref(), true), Some("ab"));
        assert_eq!(text_of("abé".as_bytes()[..3].as_ref(), false), None);
        assert_eq!(hex(b"\x00\xffA"), "00ff41");
        assert_eq!(unhex("key_hex", "00FF41").unwrap(), b"\x00\xffA");
        assert!(unhex("key_hex", "0").is_err());
        assert!(unhex("key_hex", "zz").is_err());
    }
}
