//! Keys: get, put, del, watch and compare-and-swap.

use etcd_client::{
    Compare, CompareOp, DeleteOptions, EventType, GetOptions, PutOptions, Txn, TxnOp, WatchOptions,
};

use super::json::{DeleteResult, GetResult, Header, Kv, PutResult};
use super::session::Session;
use super::{OpsError, Result};

/// The key range of a get or del, as etcdctl's `KEY [RANGE_END] [--prefix]`.
#[derive(Debug, Clone, Default)]
pub struct Range {
    pub key: Vec<u8>,
    pub end: Option<Vec<u8>>,
    pub prefix: bool,
    /// etcdctl's --from-key: every key >= KEY.
    pub from_key: bool,
}

/// The options of etcd-client's range calls (get, delete, watch), each its own type
/// with the same three ways to say which keys.
trait RangeOptions: Sized {
    fn with_prefix(self) -> Self;
    fn with_from_key(self) -> Self;
    fn with_range(self, end: Vec<u8>) -> Self;
}

macro_rules! range_options {
    ($($t:ty),*) => {$(
        impl RangeOptions for $t {
            fn with_prefix(self) -> Self {
                <$t>::with_prefix(self)
            }
            fn with_from_key(self) -> Self {
                <$t>::with_from_key(self)
            }
            fn with_range(self, end: Vec<u8>) -> Self {
                <$t>::with_range(self, end)
            }
        }
    )*};
}
range_options!(GetOptions, DeleteOptions, WatchOptions);

impl Range {
    /// `options` for this range: `--prefix`, `--from-key`, or KEY to RANGE_END.
    fn apply<O: RangeOptions>(&self, options: O) -> O {
        if self.prefix {
            options.with_prefix()
        } else if self.from_key {
            options.with_from_key()
        } else if let Some(end) = &self.end {
            options.with_range(end.clone())
        } else {
            options
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GetArgs {
    pub range: Range,
    pub keys_only: bool,
    pub count_only: bool,
    pub limit: i64,
    pub rev: i64,
    pub serializable: bool,
}

pub async fn get(s: &Session, args: &GetArgs) -> Result<GetResult> {
    let r = &args.range;
    let mut o = r.apply(GetOptions::new());
    if args.keys_only {
        o = o.with_keys_only();
    }
    if args.count_only {
        o = o.with_count_only();
    }
    if args.limit > 0 {
        o = o.with_limit(args.limit);
    }
    if args.rev > 0 {
        o = o.with_revision(args.rev);
    }
    if args.serializable {
        o = o.with_serializable();
    }
    let resp = s
        .read("get", |c| {
            let (key, o) = (r.key.clone(), o.clone());
            async move { c.kv_client().get(key, Some(o)).await }
        })
        .await?;
    Ok(GetResult {
        header: Header::of(resp.header()),
        kvs: resp.kvs().iter().map(Kv::of).collect(),
        more: resp.more(),
        count: resp.count(),
    })
}

pub async fn put(s: &Session, key: &[u8], value: &[u8], lease: i64) -> Result<PutResult> {
    check_key(key)?;
    let mut o = PutOptions::new();
    if lease != 0 {
        o = o.with_lease(lease);
    }
    let mut kv = s.client.kv_client();
    let resp = s
        .call("put", kv.put(key.to_vec(), value.to_vec(), Some(o)))
        .await
        .map_err(|e| with_size(e, key.len() + value.len()))?;
    Ok(PutResult {
        header: Header::of(resp.header()),
        prev_kv: resp.prev_key().map(Kv::of),
    })
}

/// etcd's own check names no sizes: fill in the request's.
pub fn with_size(e: OpsError, size: usize) -> OpsError {
    match e {
        OpsError::TooLarge { size: 0, limit } => OpsError::TooLarge { size, limit },
        other => other,
    }
}

pub async fn del(s: &Session, range: &Range, prev_kv: bool) -> Result<DeleteResult> {
    // An empty key is a range start only (`del "" --prefix` deletes everything).
    if !range.prefix && !range.from_key {
        check_key(&range.key)?;
    }
    let mut o = range.apply(DeleteOptions::new());
    if prev_kv {
        o = o.with_prev_key();
    }
    let mut kv = s.client.kv_client();
    let resp = s.call("del", kv.delete(range.key.clone(), Some(o))).await?;
    Ok(DeleteResult {
        header: Header::of(resp.header()),
        deleted: resp.deleted(),
        prev_kvs: resp.prev_kvs().iter().map(Kv::of).collect(),
    })
}

/// How many keys a del of `range` would remove (asked before confirming a
/// multi-key delete).
pub async fn count(s: &Session, range: &Range) -> Result<i64> {
    let args = GetArgs {
        range: range.clone(),
        count_only: true,
        ..Default::default()
    };
    Ok(get(s, &args).await?.count)
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(OpsError::BadInput("the key is empty".into()));
    }
    Ok(())
}

/// Outcome of a compare-and-swap.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CasResult {
    pub header: Header,
    pub succeeded: bool,
    /// The key as it is now when the swap did not happen (absent when it does not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Kv>,
}

/// Puts `new` at `key` only if its value is `expected` (`None`: only if the key does
/// not exist), in one txn; on failure returns the current value.
pub async fn compare_and_swap(
    s: &Session,
    key: &[u8],
    expected: Option<&[u8]>,
    new: &[u8],
    lease: i64,
) -> Result<CasResult> {
    check_key(key)?;
    let compare = match expected {
        Some(v) => Compare::value(key.to_vec(), CompareOp::Equal, v.to_vec()),
        None => Compare::create_revision(key.to_vec(), CompareOp::Equal, 0),
    };
    let put_opts = (lease != 0).then(|| PutOptions::new().with_lease(lease));
    let txn = Txn::new()
        .when(vec![compare])
        .and_then(vec![TxnOp::put(key.to_vec(), new.to_vec(), put_opts)])
        .or_else(vec![TxnOp::get(key.to_vec(), None)]);
    let mut kv = s.client.kv_client();
    let resp = s
        .call("compare-and-swap", kv.txn(txn))
        .await
        .map_err(|e| with_size(e, key.len() + new.len()))?;
    let current = resp.op_responses().into_iter().find_map(|r| match r {
        etcd_client::TxnOpResponse::Get(g) => g.kvs().first().map(Kv::of),
        _ => None,
    });
    Ok(CasResult {
        header: Header::of(resp.header()),
        succeeded: resp.succeeded(),
        current,
    })
}

#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// The header of the watch response that carried the event.
    pub header: Header,
    pub put: bool,
    pub kv: Kv,
    pub prev: Option<Kv>,
}

impl serde::Serialize for WatchEvent {
    /// etcdctl's `-w json` of a watch response holding this one event: Go's field
    /// names for the response, protobuf's for the event (PUT is type 0, left out).
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut ev = serde_json::Map::new();
        if !self.put {
            ev.insert("type".into(), 1.into());
        }
        ev.insert(
            "kv".into(),
            serde_json::to_value(&self.kv).map_err(serde::ser::Error::custom)?,
        );
        if let Some(prev) = &self.prev {
            ev.insert(
                "prev_kv".into(),
                serde_json::to_value(prev).map_err(serde::ser::Error::custom)?,
            );
        }
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("Header", &self.header)?;
        m.serialize_entry("Events", &[ev])?;
        m.serialize_entry("CompactRevision", &0)?;
        m.serialize_entry("Canceled", &false)?;
        m.serialize_entry("Created", &false)?;
        m.end()
    }
}

#[derive(Debug, Clone, Default)]
pub struct WatchArgs {
    pub range: Range,
    pub rev: i64,
    pub prev_kv: bool,
}

/// Watches until `on_event` returns false, the stream ends, or `stop` resolves.
/// The watch is a stream, not a request: no deadline once it is created.
pub async fn watch(
    s: &Session,
    args: &WatchArgs,
    mut on_event: impl FnMut(&WatchEvent) -> bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let r = &args.range;
    let mut o = r.apply(WatchOptions::new());
    if args.rev > 0 {
        o = o.with_start_revision(args.rev);
    }
    if args.prev_kv {
        o = o.with_prev_key();
    }
    let mut w = s.client.watch_client();
    let mut stream = s.call("watch", w.watch(r.key.clone(), Some(o))).await?;
    tokio::pin!(stop);
    loop {
        let msg = tokio::select! {
            _ = &mut stop => return Ok(()),
            m = stream.message() => m,
        };
        let resp = match msg {
            Ok(Some(resp)) => resp,
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(OpsError::Etcd {
                    what: "watch".into(),
                    endpoints: s.endpoints().join(","),
                    message: crate::etcd::error_chain(&e),
                })
            }
        };
        if resp.canceled() {
            let reason = if resp.compact_revision() > 0 {
                format!(
                    "revision {} is compacted (oldest available: {})",
                    args.rev,
                    resp.compact_revision()
                )
            } else {
                resp.cancel_reason().to_string()
            };
            return Err(OpsError::Etcd {
                what: "watch canceled".into(),
                endpoints: s.endpoints().join(","),
                message: reason,
            });
        }
        let header = Header::of(resp.header());
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let event = WatchEvent {
                header: header.clone(),
                put: ev.event_type() == EventType::Put,
                kv: Kv::of(kv),
                prev: ev.prev_kv().map(Kv::of),
            };
            if !on_event(&event) {
                return Ok(());
            }
        }
    }
}
