//! The key browser's side of the web layer: query parameters to [`browse`]
//! requests, and the JSON API over them; the clients are [`crate::ops::clients`].
//! Read-only: changes from the web wait for access control.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::ops::browse::{self, Entry, KeyMeta, ListRequest};
use crate::text::urlencode;
use crate::web::error::ErrorBody;
use crate::web::{ApiError, AppState};

/// The answers below are built field by field (a byte string gets a `_hex` twin
/// only when it is not UTF-8), so these types only describe them for the OpenAPI
/// document; the integration tests check the answers themselves.
pub mod answers {
    #![allow(dead_code)]
    use utoipa::ToSchema;

    /// A key's metadata. Byte strings (`key`, `name`) are text, lossy for bytes
    /// that are not UTF-8, which then also come in hex as `key_hex`, `name_hex`.
    #[derive(ToSchema)]
    pub struct KeyEntry {
        pub key: String,
        pub key_hex: Option<String>,
        /// The key after the listed prefix.
        pub name: String,
        pub name_hex: Option<String>,
        pub create_revision: i64,
        pub mod_revision: i64,
        pub version: i64,
        /// The lease id; 0 for none.
        pub lease: i64,
    }

    /// A folder: keys that share the prefix up to the next `/`.
    #[derive(ToSchema)]
    pub struct Folder {
        /// The folder's prefix, with its trailing `/`.
        pub prefix: String,
        pub prefix_hex: Option<String>,
        /// The segment, without the trailing `/`.
        pub name: String,
        pub name_hex: Option<String>,
        pub has_children: bool,
        /// Keys under it.
        pub keys: u64,
    }

    /// One entry in key order.
    #[derive(ToSchema)]
    pub struct LevelEntry {
        /// `folder` or `key`.
        #[schema(pattern = "^(folder|key)$")]
        pub kind: String,
        pub path: String,
    }

    /// The answer of `GET /api/v1/clusters/{name}/keys`.
    #[derive(ToSchema)]
    pub struct KeyLevel {
        pub cluster: String,
        pub prefix: String,
        pub prefix_hex: Option<String>,
        /// The etcd revision read.
        pub revision: i64,
        pub limit: u32,
        pub folders: Vec<Folder>,
        pub keys: Vec<KeyEntry>,
        pub entries: Vec<LevelEntry>,
        /// The `after` of the next page; null on the last.
        pub next: Option<String>,
        pub next_hex: Option<String>,
    }

    /// The answer of `GET /api/v1/clusters/{name}/keys/value`.
    #[derive(ToSchema)]
    pub struct KeyValue {
        pub cluster: String,
        pub key: String,
        pub key_hex: Option<String>,
        pub create_revision: i64,
        pub mod_revision: i64,
        pub version: i64,
        pub lease: i64,
        /// The whole value's size in bytes.
        pub size: u64,
        /// Whether the value was cut at 64 KiB.
        pub truncated: bool,
        /// Whether the value is not UTF-8: then `value_hex` comes instead of `value`.
        pub binary: bool,
        pub value: Option<String>,
        pub value_hex: Option<String>,
    }
}

/// Entries a page shows when the request does not say.
pub const DEFAULT_LIMIT: usize = 100;

/// `prefix`, `after`: as text, or as hex (`prefix_hex`, `after_hex`) for keys that
/// are not UTF-8. `limit`: 1..=1000.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeysParams {
    /// The level to list: keys and folders under this prefix (text). Default: the root.
    pub prefix: Option<String>,
    /// The prefix in hex, for one that is not UTF-8 (not with `prefix`).
    pub prefix_hex: Option<String>,
    /// The page after this key (the `next` of the previous page); must start with
    /// the prefix.
    pub after: Option<String>,
    /// `after` in hex (not with `after`).
    pub after_hex: Option<String>,
    /// Entries per page; default 100.
    // Text, so that a bad value gets a message naming it (not serde's).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// `key`, or `key_hex` for a key that is not UTF-8.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyParams {
    /// The key (text). Give this or `key_hex`.
    pub key: Option<String>,
    /// The key in hex, for one that is not UTF-8.
    pub key_hex: Option<String>,
}

/// A byte string given as `name=text` or `name_hex=hex`; an empty one is absent.
fn bytes_param(
    name: &'static str,
    hex_name: &'static str,
    text: Option<&str>,
    hex: Option<&str>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let text = text.filter(|t| !t.is_empty());
    let hex = hex.filter(|h| !h.is_empty());
    match (text, hex) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(format!(
            "{name} and {hex_name}: give one of them, not both"
        ))),
        (Some(t), None) => Ok(Some(t.as_bytes().to_vec())),
        (None, Some(h)) => browse::unhex(hex_name, h)
            .map(Some)
            .map_err(|e| ApiError::BadRequest(e.to_string())),
        (None, None) => Ok(None),
    }
}

/// `name=..` for a link: text when the bytes are UTF-8, else `name_hex=..`.
pub fn bytes_query(name: &str, bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{name}={}", urlencode(text)),
        Err(_) => format!("{name}_hex={}", browse::hex(bytes)),
    }
}

impl KeysParams {
    pub fn to_request(&self) -> Result<ListRequest, ApiError> {
        let limit = match self.limit.as_deref().filter(|l| !l.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=browse::MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "limit: {text:?} is not a number between 1 and {}",
                        browse::MAX_LIMIT
                    )))
                }
            },
        };
        let prefix = bytes_param(
            "prefix",
            "prefix_hex",
            self.prefix.as_deref(),
            self.prefix_hex.as_deref(),
        )?
        .unwrap_or_default();
        let after = bytes_param(
            "after",
            "after_hex",
            self.after.as_deref(),
            self.after_hex.as_deref(),
        )?;
        if let Some(a) = &after {
            if !a.starts_with(&prefix) {
                return Err(ApiError::BadRequest(format!(
                    "after: {:?} does not start with the prefix {:?}",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(&prefix)
                )));
            }
        }
        Ok(ListRequest {
            prefix,
            limit,
            after,
            counts: true,
        })
    }
}

impl KeyParams {
    pub fn key(&self) -> Result<Vec<u8>, ApiError> {
        bytes_param(
            "key",
            "key_hex",
            self.key.as_deref(),
            self.key_hex.as_deref(),
        )?
        .ok_or_else(|| ApiError::BadRequest("key: missing (give key, or key_hex)".into()))
    }
}

/// A byte string in JSON: `name` as text (lossy for binary), and `name_hex`
/// beside it when the bytes are not UTF-8, so that nothing is lost.
fn put_bytes(obj: &mut serde_json::Map<String, Value>, name: &str, bytes: &[u8]) {
    obj.insert(name.into(), String::from_utf8_lossy(bytes).into());
    if std::str::from_utf8(bytes).is_err() {
        obj.insert(format!("{name}_hex"), browse::hex(bytes).into());
    }
}

fn meta_json(m: &KeyMeta, prefix: &[u8]) -> Value {
    let mut obj = serde_json::Map::new();
    put_bytes(&mut obj, "key", &m.key);
    put_bytes(&mut obj, "name", &m.key[prefix.len()..]);
    obj.insert("create_revision".into(), m.create_revision.into());
    obj.insert("mod_revision".into(), m.mod_revision.into());
    obj.insert("version".into(), m.version.into());
    obj.insert("lease".into(), m.lease.into());
    Value::Object(obj)
}

/// `GET /api/v1/clusters/{name}/keys?prefix=..&limit=..&after=..`: one level of
/// the tree under `prefix`, `folders` and `keys` in key order; `next` (when
/// present) is the `after` of the next page.
#[utoipa::path(get, path = "/api/v1/clusters/{name}/keys", operation_id = "list_keys", tag = "keys",
    summary = "One level of a cluster's key tree",
    params(("name" = String, Path, description = "The cluster's configured name"), KeysParams),
    responses(
        (status = 200, description = "Folders and keys under the prefix, in key order", body = answers::KeyLevel),
        (status = 400, description = "A bad limit, hex or after", body = ErrorBody),
        (status = 404, description = "No cluster of that name", body = ErrorBody),
        (status = 503, description = "The cluster did not answer (in time)", body = ErrorBody),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    name: web::Path<String>,
    params: web::Query<KeysParams>,
) -> Result<HttpResponse, ApiError> {
    let req = params.to_request()?;
    let limit = req.limit;
    let level = state.etcd.list(&name, req).await?;
    let prefix = &level.prefix;
    let folders: Vec<Value> = level
        .folders()
        .map(|f| {
            let mut obj = serde_json::Map::new();
            put_bytes(&mut obj, "prefix", &f.path);
            // The segment, without the trailing `/`.
            put_bytes(&mut obj, "name", &f.path[prefix.len()..f.path.len() - 1]);
            obj.insert("has_children".into(), true.into());
            obj.insert("keys".into(), f.keys.into());
            Value::Object(obj)
        })
        .collect();
    let keys: Vec<Value> = level.keys().map(|k| meta_json(k, prefix)).collect();
    let mut body = serde_json::Map::new();
    body.insert("cluster".into(), name.as_str().into());
    put_bytes(&mut body, "prefix", prefix);
    body.insert("revision".into(), level.revision.into());
    body.insert("limit".into(), limit.into());
    body.insert("folders".into(), folders.into());
    body.insert("keys".into(), keys.into());
    body.insert(
        "entries".into(),
        level
            .entries
            .iter()
            .map(|e| {
                json!({
                    "kind": if matches!(e, Entry::Folder(_)) { "folder" } else { "key" },
                    "path": String::from_utf8_lossy(e.path()),
                })
            })
            .collect::<Vec<_>>()
            .into(),
    );
    match &level.next {
        Some(next) => put_bytes(&mut body, "next", next),
        None => {
            body.insert("next".into(), Value::Null);
        }
    }
    Ok(HttpResponse::Ok().json(Value::Object(body)))
}

/// `GET /api/v1/clusters/{name}/keys/value?key=..`: one key; `value` as text, or
/// `value_hex` for a binary value; cut at 64 KiB (`truncated`, `size` is the whole).
#[utoipa::path(get, path = "/api/v1/clusters/{name}/keys/value", operation_id = "key_value", tag = "keys",
    summary = "One key's value and metadata",
    params(("name" = String, Path, description = "The cluster's configured name"), KeyParams),
    responses(
        (status = 200, description = "The key", body = answers::KeyValue),
        (status = 400, description = "No key, both key and key_hex, or bad hex", body = ErrorBody),
        (status = 403, description = "the cluster's configuration does not let the monitor show values", body = ErrorBody),
        (status = 404, description = "No cluster of that name, or no such key", body = ErrorBody),
        (status = 503, description = "The cluster did not answer (in time)", body = ErrorBody),
    ))]
pub async fn value(
    state: web::Data<AppState>,
    name: web::Path<String>,
    params: web::Query<KeyParams>,
) -> Result<HttpResponse, ApiError> {
    let key = params.key()?;
    let kv = state.etcd.read(&name, key).await?;
    let mut obj = match meta_json(&kv.meta, b"") {
        Value::Object(o) => o,
        _ => unreachable!("meta_json makes an object"),
    };
    obj.remove("name");
    obj.insert("cluster".into(), name.as_str().into());
    obj.insert("size".into(), kv.size.into());
    obj.insert("truncated".into(), kv.truncated().into());
    match kv.text() {
        Some(text) => {
            obj.insert("binary".into(), false.into());
            obj.insert("value".into(), text.into());
        }
        None => {
            obj.insert("binary".into(), true.into());
            obj.insert("value_hex".into(), browse::hex(&kv.value).into());
        }
    }
    Ok(HttpResponse::Ok().json(Value::Object(obj)))
}
