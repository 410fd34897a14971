//! Transactions: from etcdctl's interactive lines or from etcd's JSON (the gRPC
//! gateway's `/v3/kv/txn` body), run in one request.
//!
//! Lines, as `etcdctl txn` reads them: compares, a blank line, operations on
//! success, a blank line, operations on failure:
//!
//! ```text
//! mod("key1") > "0"
//! value("key2") = "v"
//!
//! put key1 "new value"
//! get key2
//!
//! del key1 --prefix
//! ```

use base64::Engine;
use etcd_client::{Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp};
use serde::Deserialize;

use super::json::{DeleteResult, GetResult, Header, Kv, OpResult, PutResult, Response, TxnResult};
use super::session::Session;
use super::{OpsError, Result};

/// A parsed transaction (kept as data so it can be shown, tested and audited).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TxnSpec {
    pub compares: Vec<Cmp>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cmp {
    pub key: Vec<u8>,
    pub range_end: Option<Vec<u8>>,
    pub target: Target,
    pub op: CmpOp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Version(i64),
    Create(i64),
    Mod(i64),
    Value(Vec<u8>),
    Lease(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Get {
        key: Vec<u8>,
        end: Option<Vec<u8>>,
        prefix: bool,
    },
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: i64,
    },
    Del {
        key: Vec<u8>,
        end: Option<Vec<u8>>,
        prefix: bool,
    },
}

fn bad(m: impl Into<String>) -> OpsError {
    OpsError::BadInput(m.into())
}

/// Parses etcdctl's interactive txn format.
pub fn parse_lines(text: &str) -> Result<TxnSpec> {
    let mut sections: [Vec<(usize, &str)>; 3] = Default::default();
    let mut section = 0;
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            section += 1;
            if section == 3 {
                break;
            }
            continue;
        }
        sections[section].push((no + 1, line));
    }
    let mut spec = TxnSpec::default();
    for (no, line) in &sections[0] {
        spec.compares
            .push(parse_compare(line).map_err(|m| bad(format!("txn line {no}: {m}")))?);
    }
    for (i, target) in [&mut spec.success, &mut spec.failure]
        .into_iter()
        .enumerate()
    {
        for (no, line) in &sections[i + 1] {
            target.push(parse_op(line).map_err(|m| bad(format!("txn line {no}: {m}")))?);
        }
    }
    Ok(spec)
}

fn parse_compare(line: &str) -> std::result::Result<Cmp, String> {
    let (target, rest) = line
        .split_once('(')
        .ok_or_else(|| format!("{line:?} is not a compare like mod(\"key\") > \"0\""))?;
    let words = split_words(rest)?;
    // `"key")`, op, `"value"`: the key's closing parenthesis is its own character.
    let (key, op, value) = match words.as_slice() {
        [k, op, v] if k.ends_with(b")") => (k[..k.len() - 1].to_vec(), op.clone(), v.clone()),
        _ => {
            return Err(format!(
                "{line:?} is not a compare like mod(\"key\") > \"0\""
            ))
        }
    };
    let op = match op.as_slice() {
        b"=" | b"==" => CmpOp::Equal,
        b"!=" => CmpOp::NotEqual,
        b">" => CmpOp::Greater,
        b"<" => CmpOp::Less,
        other => {
            return Err(format!(
                "unknown operator {:?} (=, !=, >, <)",
                String::from_utf8_lossy(other)
            ))
        }
    };
    let num = |v: &[u8]| {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| format!("{:?} is not a number", String::from_utf8_lossy(v)))
    };
    let target = match target.trim() {
        "ver" | "version" => Target::Version(num(&value)?),
        "c" | "create" => Target::Create(num(&value)?),
        "m" | "mod" => Target::Mod(num(&value)?),
        "val" | "value" => Target::Value(value),
        "lease" => Target::Lease(parse_lease(&value)?),
        other => {
            return Err(format!(
                "unknown compare target {other:?} (version, create, mod, value, lease)"
            ))
        }
    };
    Ok(Cmp {
        key,
        range_end: None,
        target,
        op,
    })
}

fn parse_lease(v: &[u8]) -> std::result::Result<i64, String> {
    let s = String::from_utf8_lossy(v);
    i64::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|_| format!("lease {s:?} is not a hexadecimal lease id"))
}

fn parse_op(line: &str) -> std::result::Result<Op, String> {
    let words = split_words(line)?;
    let (cmd, args) = words.split_first().ok_or("empty operation")?;
    let mut positional = Vec::new();
    let mut prefix = false;
    let mut lease = 0;
    for a in args {
        match a.as_slice() {
            b"--prefix" => prefix = true,
            f if f.starts_with(b"--lease=") => lease = parse_lease(&f[8..])?,
            f if f.starts_with(b"--") => {
                return Err(format!(
                    "unknown flag {:?} in a txn operation (--prefix, --lease=ID)",
                    String::from_utf8_lossy(f)
                ))
            }
            _ => positional.push(a.clone()),
        }
    }
    let mut positional = positional.into_iter();
    let key = positional.next().ok_or("operation without a key")?;
    let second = positional.next();
    if positional.next().is_some() {
        return Err(format!("too many arguments in {line:?}"));
    }
    match cmd.as_slice() {
        b"get" => Ok(Op::Get {
            key,
            end: second,
            prefix,
        }),
        b"put" => Ok(Op::Put {
            key,
            value: second.ok_or("put without a value")?,
            lease,
        }),
        b"del" | b"delete" => Ok(Op::Del {
            key,
            end: second,
            prefix,
        }),
        other => Err(format!(
            "unknown operation {:?} (get, put, del)",
            String::from_utf8_lossy(other)
        )),
    }
}

/// Splits on spaces; double quotes group and take Go-style escapes (`\"`, `\\`,
/// `\n`, `\t`, `\xNN`), so binary keys can be written.
pub fn split_words(s: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = cur.take() {
                    out.push(w);
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(Vec::new);
                loop {
                    match chars.next() {
                        None => return Err(format!("unclosed quote in {s:?}")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => w.push(b'\n'),
                            Some('t') => w.push(b'\t'),
                            Some('r') => w.push(b'\r'),
                            Some('0') => w.push(0),
                            Some('x') => {
                                let hex: String = chars.by_ref().take(2).collect();
                                let b = u8::from_str_radix(&hex, 16)
                                    .map_err(|_| format!("bad escape \\x{hex} in {s:?}"))?;
                                w.push(b);
                            }
                            Some(other) => {
                                let mut buf = [0; 4];
                                w.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                            }
                            None => return Err(format!("unclosed quote in {s:?}")),
                        },
                        Some(other) => {
                            let mut buf = [0; 4];
                            w.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                }
            }
            other => {
                let mut buf = [0; 4];
                cur.get_or_insert_with(Vec::new)
                    .extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    if let Some(w) = cur {
        out.push(w);
    }
    Ok(out)
}

// etcd's JSON (grpc-gateway, proto3 JSON): bytes in base64, enums by name, both
// snake_case and lowerCamelCase field names accepted.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonTxn {
    #[serde(default)]
    compare: Vec<JsonCompare>,
    #[serde(default)]
    success: Vec<JsonOp>,
    #[serde(default)]
    failure: Vec<JsonOp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCompare {
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    target: Option<String>,
    key: String,
    #[serde(default, alias = "rangeEnd")]
    range_end: Option<String>,
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(default, alias = "createRevision")]
    create_revision: Option<serde_json::Value>,
    #[serde(default, alias = "modRevision")]
    mod_revision: Option<serde_json::Value>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    lease: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOp {
    #[serde(default, alias = "requestRange")]
    request_range: Option<JsonRange>,
    #[serde(default, alias = "requestPut")]
    request_put: Option<JsonPut>,
    #[serde(default, alias = "requestDeleteRange")]
    request_delete_range: Option<JsonRange>,
}

#[derive(Deserialize)]
struct JsonRange {
    key: String,
    #[serde(default, alias = "rangeEnd")]
    range_end: Option<String>,
}

#[derive(Deserialize)]
struct JsonPut {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    lease: Option<serde_json::Value>,
}

fn unb64(what: &str, s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| bad(format!("txn JSON: {what} {s:?} is not base64: {e}")))
}

/// proto3 JSON writes int64 as a string; accept numbers too.
fn int(what: &str, v: &Option<serde_json::Value>) -> Result<i64> {
    match v {
        None => Ok(0),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| bad(format!("txn JSON: {what} {n} is not an integer"))),
        Some(serde_json::Value::String(s)) => s
            .parse()
            .map_err(|_| bad(format!("txn JSON: {what} {s:?} is not an integer"))),
        Some(other) => Err(bad(format!("txn JSON: {what} {other} is not an integer"))),
    }
}

/// Parses etcd's JSON txn request (`{"compare":[...],"success":[...],"failure":[...]}`).
pub fn parse_json(text: &str) -> Result<TxnSpec> {
    let t: JsonTxn = serde_json::from_str(text).map_err(|e| bad(format!("txn JSON: {e}")))?;
    let mut spec = TxnSpec::default();
    for c in &t.compare {
        let op = match c.result.as_deref().unwrap_or("EQUAL") {
            "EQUAL" => CmpOp::Equal,
            "NOT_EQUAL" => CmpOp::NotEqual,
            "GREATER" => CmpOp::Greater,
            "LESS" => CmpOp::Less,
            other => return Err(bad(format!("txn JSON: unknown compare result {other:?}"))),
        };
        let target = match c.target.as_deref().unwrap_or("VERSION") {
            "VERSION" => Target::Version(int("version", &c.version)?),
            "CREATE" => Target::Create(int("create_revision", &c.create_revision)?),
            "MOD" => Target::Mod(int("mod_revision", &c.mod_revision)?),
            "VALUE" => Target::Value(unb64("value", c.value.as_deref().unwrap_or(""))?),
            "LEASE" => Target::Lease(int("lease", &c.lease)?),
            other => return Err(bad(format!("txn JSON: unknown compare target {other:?}"))),
        };
        spec.compares.push(Cmp {
            key: unb64("key", &c.key)?,
            range_end: c
                .range_end
                .as_deref()
                .map(|e| unb64("range_end", e))
                .transpose()?,
            target,
            op,
        });
    }
    for (ops, into) in [
        (&t.success, &mut spec.success),
        (&t.failure, &mut spec.failure),
    ] {
        for o in ops {
            let op = match (&o.request_range, &o.request_put, &o.request_delete_range) {
                (Some(r), None, None) => Op::Get {
                    key: unb64("key", &r.key)?,
                    end: r.range_end.as_deref().map(|e| unb64("range_end", e)).transpose()?,
                    prefix: false,
                },
                (None, Some(p), None) => Op::Put {
                    key: unb64("key", &p.key)?,
                    value: unb64("value", p.value.as_deref().unwrap_or(""))?,
                    lease: int("lease", &p.lease)?,
                },
                (None, None, Some(r)) => Op::Del {
                    key: unb64("key", &r.key)?,
                    end: r.range_end.as_deref().map(|e| unb64("range_end", e)).transpose()?,
                    prefix: false,
                },
                _ => {
                    return Err(bad(
                        "txn JSON: each operation is one of request_range, request_put, request_delete_range",
                    ))
                }
            };
            into.push(op);
        }
    }
    Ok(spec)
}

fn to_compare(c: &Cmp) -> Compare {
    let op = match c.op {
        CmpOp::Equal => CompareOp::Equal,
        CmpOp::NotEqual => CompareOp::NotEqual,
        CmpOp::Greater => CompareOp::Greater,
        CmpOp::Less => CompareOp::Less,
    };
    let key = c.key.clone();
    let cmp = match &c.target {
        Target::Version(v) => Compare::version(key, op, *v),
        Target::Create(v) => Compare::create_revision(key, op, *v),
        Target::Mod(v) => Compare::mod_revision(key, op, *v),
        Target::Value(v) => Compare::value(key, op, v.clone()),
        Target::Lease(v) => Compare::lease(key, op, *v),
    };
    match &c.range_end {
        Some(end) => cmp.with_range(end.clone()),
        None => cmp,
    }
}

fn to_op(o: &Op) -> TxnOp {
    match o {
        Op::Get { key, end, prefix } => {
            let mut g = GetOptions::new();
            if *prefix {
                g = g.with_prefix();
            } else if let Some(end) = end {
                g = g.with_range(end.clone());
            }
            TxnOp::get(key.clone(), Some(g))
        }
        Op::Put { key, value, lease } => TxnOp::put(
            key.clone(),
            value.clone(),
            (*lease != 0).then(|| PutOptions::new().with_lease(*lease)),
        ),
        Op::Del { key, end, prefix } => {
            let mut d = DeleteOptions::new();
            if *prefix {
                d = d.with_prefix();
            } else if let Some(end) = end {
                d = d.with_range(end.clone());
            }
            TxnOp::delete(key.clone(), Some(d))
        }
    }
}

impl TxnSpec {
    /// Bytes of keys and values: what counts against the request size limit.
    pub fn size(&self) -> usize {
        let ops = self.success.iter().chain(&self.failure).map(|o| match o {
            Op::Get { key, .. } | Op::Del { key, .. } => key.len(),
            Op::Put { key, value, .. } => key.len() + value.len(),
        });
        ops.sum::<usize>() + self.compares.iter().map(|c| c.key.len()).sum::<usize>()
    }
}

pub async fn run(s: &Session, spec: &TxnSpec) -> Result<TxnResult> {
    let txn = Txn::new()
        .when(spec.compares.iter().map(to_compare).collect::<Vec<_>>())
        .and_then(spec.success.iter().map(to_op).collect::<Vec<_>>())
        .or_else(spec.failure.iter().map(to_op).collect::<Vec<_>>());
    let mut kv = s.client.kv_client();
    let resp = s
        .call("txn", kv.txn(txn))
        .await
        .map_err(|e| super::kv::with_size(e, spec.size()))?;
    let responses = resp
        .op_responses()
        .into_iter()
        .map(|r| Response {
            response: match r {
                etcd_client::TxnOpResponse::Get(g) => OpResult::Get(GetResult {
                    header: Header::of(g.header()),
                    kvs: g.kvs().iter().map(Kv::of).collect(),
                    more: g.more(),
                    count: g.count(),
                }),
                etcd_client::TxnOpResponse::Put(p) => OpResult::Put(PutResult {
                    header: Header::of(p.header()),
                    prev_kv: p.prev_key().map(Kv::of),
                }),
                etcd_client::TxnOpResponse::Delete(d) => OpResult::Delete(DeleteResult {
                    header: Header::of(d.header()),
                    deleted: d.deleted(),
                    prev_kvs: d.prev_kvs().iter().map(Kv::of).collect(),
                }),
                // Nested txns cannot be written in either input format.
                etcd_client::TxnOpResponse::Txn(_) => OpResult::Delete(DeleteResult {
                    header: Header::default(),
                    deleted: 0,
                    prev_kvs: Vec::new(),
                }),
            },
        })
        .collect();
    Ok(TxnResult {
        header: Header::of(resp.header()),
        succeeded: resp.succeeded(),
        responses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcdctl_lines_parse() {
        let spec = parse_lines(
            "mod(\"key1\") > \"0\"\nval(\"k\\x00\") != \"a b\"\n\nput key1 \"new value\"\nget key2 --prefix\n\ndel key1\n",
        )
        .unwrap();
        assert_eq!(spec.compares.len(), 2);
        assert_eq!(spec.compares[0].target, Target::Mod(0));
        assert_eq!(spec.compares[0].op, CmpOp::Greater);
        assert_eq!(spec.compares[1].key, b"k\x00");
        assert_eq!(spec.compares[1].target, Target::Value(b"a b".to_vec()));
        assert_eq!(
            spec.success,
            vec![
                Op::Put {
                    key: b"key1".to_vec(),
                    value: b"new value".to_vec(),
                    lease: 0
                },
                Op::Get {
                    key: b"key2".to_vec(),
                    end: None,
                    prefix: true
                }
            ]
        );
        assert_eq!(spec.failure.len(), 1);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let e = parse_lines("mod(\"k\") ~ \"0\"\n\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("operator"), "{e}");
        let e = parse_lines("\n\nfrob k\n").unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("unknown operation"),
            "{e}"
        );
        let e = parse_lines("\n\nput \"k\n").unwrap_err().to_string();
        assert!(e.contains("unclosed quote"), "{e}");
    }

    #[test]
    fn gateway_json_parses() {
        let spec = parse_json(
            r#"{"compare":[{"result":"EQUAL","target":"VALUE","key":"Zm9v","value":"YmFy"}],
                "success":[{"requestPut":{"key":"Zm9v","value":"YmF6"}}],
                "failure":[{"request_range":{"key":"Zm9v"}}]}"#,
        )
        .unwrap();
        assert_eq!(spec.compares[0].target, Target::Value(b"bar".to_vec()));
        assert_eq!(
            spec.success[0],
            Op::Put {
                key: b"foo".to_vec(),
                value: b"baz".to_vec(),
                lease: 0
            }
        );
        assert!(parse_json(r#"{"compare":[{"key":"!!"}]}"#).is_err());
    }
}
