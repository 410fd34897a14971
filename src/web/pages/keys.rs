//! The key browser: one level of a cluster's key tree per page (folders to click
//! into, keys to open, a "next" link per page), and one key's value.
//! Keys are shown as askama escapes them: a key is data, never markup.

use actix_web::web;
use askama::Template;

use super::layout::{layout, Layout, Link, Nav};
use super::{find, ok, urlencode, PageResult};
use crate::ops::browse::{self, Entry, KeyMeta};
use crate::units::{human_short, Unit};
use crate::web::api::keys::{bytes_query, KeyParams, KeysParams};
use crate::web::AppState;

/// A row of the listing: a folder or a key.
pub struct KeyRow {
    /// Its name below the prefix (a folder's ends with `/`).
    pub name: String,
    pub href: String,
    pub folder: bool,
    /// The key is not UTF-8: `name` is lossy, the link uses hex.
    pub binary: bool,
    /// A folder's key count ("" for a key).
    pub keys: String,
    /// A key's version ("" for a folder).
    pub version: String,
    pub create_revision: String,
    pub mod_revision: String,
    pub lease: String,
}

#[derive(Template)]
#[template(path = "keys.html")]
pub struct KeysPage {
    pub layout: Layout,
    pub cluster: String,
    pub cluster_href: String,
    /// The prefix as path links: the root, then one per `/`-ended segment.
    pub path: Vec<Link>,
    /// The prefix for the form (lossy when binary).
    pub prefix: String,
    pub rows: Vec<KeyRow>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub revision: i64,
    pub limit: usize,
}

#[derive(Template)]
#[template(path = "key.html")]
pub struct KeyPage {
    pub layout: Layout,
    pub cluster: String,
    pub cluster_href: String,
    pub path: Vec<Link>,
    pub key: String,
    pub key_hex: Option<String>,
    pub size: String,
    /// "first 64 KiB of 1 MiB" when the value was cut.
    pub truncated: Option<String>,
    pub text: Option<String>,
    /// A hex dump (offset, bytes, printable) when the value is binary.
    pub hex_lines: Vec<String>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: String,
}

fn keys_base(cluster: &str) -> String {
    format!("/clusters/{}/keys", urlencode(cluster))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The root, then one link per `/`-ended segment of `path`, then the rest (if any).
/// The last is the current one.
fn path_links(base: &str, path: &[u8]) -> Vec<Link> {
    let mut links = vec![Link {
        label: "all keys".into(),
        href: base.to_string(),
        current: false,
    }];
    let mut start = 0;
    for (i, b) in path.iter().enumerate() {
        if *b == b'/' {
            links.push(Link {
                label: lossy(&path[start..=i]),
                href: format!("{base}?{}", bytes_query("prefix", &path[..=i])),
                current: false,
            });
            start = i + 1;
        }
    }
    if start < path.len() {
        links.push(Link {
            label: lossy(&path[start..]),
            href: format!("{base}?{}", bytes_query("prefix", path)),
            current: false,
        });
    }
    if let Some(last) = links.last_mut() {
        last.current = true;
    }
    links
}

fn lease_text(lease: i64) -> String {
    if lease == 0 {
        String::new()
    } else {
        // etcdctl shows lease ids in hex.
        format!("{lease:x}")
    }
}

fn key_row(base: &str, prefix: &[u8], k: &KeyMeta) -> KeyRow {
    KeyRow {
        name: lossy(&k.key[prefix.len()..]),
        href: format!("{base}/value?{}", bytes_query("key", &k.key)),
        folder: false,
        binary: std::str::from_utf8(&k.key).is_err(),
        keys: String::new(),
        version: k.version.to_string(),
        create_revision: k.create_revision.to_string(),
        mod_revision: k.mod_revision.to_string(),
        lease: lease_text(k.lease),
    }
}

/// `GET /clusters/{name}/keys?prefix=..&after=..&limit=..`
pub async fn keys(
    state: web::Data<AppState>,
    name: web::Path<String>,
    params: web::Query<KeysParams>,
) -> PageResult {
    let snap = find(&state, &name)?;
    let req = params.to_request()?;
    let (limit, had_after) = (req.limit, req.after.is_some());
    let level = state.etcd.list(&snap.name, req).await?;
    let base = keys_base(&snap.name);
    let prefix = &level.prefix;
    let rows = level
        .entries
        .iter()
        .map(|e| match e {
            Entry::Folder(f) => KeyRow {
                name: lossy(&f.path[prefix.len()..]),
                href: format!("{base}?{}", bytes_query("prefix", &f.path)),
                folder: true,
                binary: std::str::from_utf8(&f.path).is_err(),
                version: String::new(),
                keys: match f.keys {
                    Some(1) => "1 key".into(),
                    Some(n) => format!("{n} keys"),
                    None => String::new(),
                },
                create_revision: String::new(),
                mod_revision: String::new(),
                lease: String::new(),
            },
            Entry::Key(k) => key_row(&base, prefix, k),
        })
        .collect();
    let limit_query = if limit == crate::web::api::keys::DEFAULT_LIMIT {
        String::new()
    } else {
        format!("&limit={limit}")
    };
    let first = format!("{base}?{}{limit_query}", bytes_query("prefix", prefix));
    ok(KeysPage {
        layout: layout(
            &state,
            &format!("Keys · {}", snap.name),
            Nav::Overview,
            None,
        ),
        cluster: snap.name.clone(),
        cluster_href: format!("/clusters/{}", urlencode(&snap.name)),
        path: path_links(&base, prefix),
        prefix: lossy(prefix),
        rows,
        next_href: level
            .next
            .as_ref()
            .map(|n| format!("{first}&{}", bytes_query("after", n))),
        first_href: had_after.then_some(first),
        revision: level.revision,
        limit,
    })
}

/// Lines of 16 bytes: offset, hex, and the printable ASCII (as `hexdump -C`).
fn hex_dump(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:08x}  {:<47}  |{ascii}|", i * 16, hex.join(" "))
        })
        .collect()
}

fn size_text(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{} ({bytes} bytes)", human_short(bytes as f64, Unit::Bytes))
    }
}

/// `GET /clusters/{name}/keys/value?key=..`
pub async fn key(
    state: web::Data<AppState>,
    name: web::Path<String>,
    params: web::Query<KeyParams>,
) -> PageResult {
    let snap = find(&state, &name)?;
    let key = params.key()?;
    let kv = state.etcd.read(&snap.name, key).await?;
    let base = keys_base(&snap.name);
    let binary_key = std::str::from_utf8(&kv.meta.key).is_err();
    let text = kv.text().map(str::to_string);
    ok(KeyPage {
        layout: layout(
            &state,
            &format!("{} · {}", lossy(&kv.meta.key), snap.name),
            Nav::Overview,
            None,
        ),
        cluster: snap.name.clone(),
        cluster_href: format!("/clusters/{}", urlencode(&snap.name)),
        path: path_links(&base, &kv.meta.key),
        key: lossy(&kv.meta.key),
        key_hex: binary_key.then(|| browse::hex(&kv.meta.key)),
        size: size_text(kv.size),
        truncated: kv.truncated().then(|| {
            format!(
                "Only the first {} of {} are shown.",
                size_text(kv.value.len()),
                size_text(kv.size)
            )
        }),
        hex_lines: if text.is_none() {
            hex_dump(&kv.value)
        } else {
            Vec::new()
        },
        text,
        create_revision: kv.meta.create_revision,
        mod_revision: kv.meta.mod_revision,
        version: kv.meta.version,
        lease: lease_text(kv.meta.lease),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_links_follow_slashes() {
        let links = path_links("/clusters/c/keys", b"app/conf/x");
        let labels: Vec<&str> = links.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["all keys", "app/", "conf/", "x"]);
        assert_eq!(links[2].href, "/clusters/c/keys?prefix=app%2Fconf%2F");
        assert!(links[3].current && !links[2].current);
        assert_eq!(path_links("/k", b"").len(), 1);
        assert_eq!(
            path_links("/k", b"\xff/")[1].href,
            "/k?prefix_hex=ff2f",
            "binary prefixes link as hex"
        );
    }

    #[test]
    fn hex_dump_lines() {
        let lines = hex_dump(b"\x00\x01AB");
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("00000000  00 01 41 42 "),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("|..AB|"));
    }
}
