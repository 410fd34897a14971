//! etcdctl's JSON shapes (`-w json`): Go's encoding of etcd's protobuf messages, where
//! zero values are left out (`omitempty`), bytes are base64 and uint64 ids are numbers.

use base64::Engine;
use serde::Serialize;

fn zero_i64(v: &i64) -> bool {
    *v == 0
}
fn zero_u64(v: &u64) -> bool {
    *v == 0
}
fn not(v: &bool) -> bool {
    !*v
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Header {
    #[serde(skip_serializing_if = "zero_u64")]
    pub cluster_id: u64,
    #[serde(skip_serializing_if = "zero_u64")]
    pub member_id: u64,
    #[serde(skip_serializing_if = "zero_i64")]
    pub revision: i64,
    #[serde(skip_serializing_if = "zero_u64")]
    pub raft_term: u64,
}

impl Header {
    pub fn of(h: Option<&etcd_client::ResponseHeader>) -> Header {
        h.map(|h| Header {
            cluster_id: h.cluster_id(),
            member_id: h.member_id(),
            revision: h.revision(),
            raft_term: h.raft_term(),
        })
        .unwrap_or_default()
    }
}

/// A key-value pair; raw bytes kept (the JSON has them in base64).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub value: Vec<u8>,
    pub lease: i64,
}

impl Kv {
    pub fn of(kv: &etcd_client::KeyValue) -> Kv {
        Kv {
            key: kv.key().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
            version: kv.version(),
            value: kv.value().to_vec(),
            lease: kv.lease(),
        }
    }
}

impl Serialize for Kv {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if !self.key.is_empty() {
            m.serialize_entry("key", &b64(&self.key))?;
        }
        for (name, v) in [
            ("create_revision", self.create_revision),
            ("mod_revision", self.mod_revision),
            ("version", self.version),
        ] {
            if v != 0 {
                m.serialize_entry(name, &v)?;
            }
        }
        if !self.value.is_empty() {
            m.serialize_entry("value", &b64(&self.value))?;
        }
        if self.lease != 0 {
            m.serialize_entry("lease", &self.lease)?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GetResult {
    pub header: Header,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kvs: Vec<Kv>,
    #[serde(skip_serializing_if = "not")]
    pub more: bool,
    #[serde(skip_serializing_if = "zero_i64")]
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PutResult {
    pub header: Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_kv: Option<Kv>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeleteResult {
    pub header: Header,
    #[serde(skip_serializing_if = "zero_i64")]
    pub deleted: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prev_kvs: Vec<Kv>,
}

/// One operation's result inside a txn; Go prints the oneof wrapper by its field names.
#[derive(Debug, Clone, Serialize)]
pub enum OpResult {
    #[serde(rename = "ResponseRange")]
    Get(GetResult),
    #[serde(rename = "ResponsePut")]
    Put(PutResult),
    #[serde(rename = "ResponseDeleteRange")]
    Delete(DeleteResult),
}

#[derive(Debug, Clone, Serialize)]
pub struct TxnResult {
    pub header: Header,
    #[serde(skip_serializing_if = "not")]
    pub succeeded: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<Response>,
}

/// etcd's ResponseOp: `{"Response": {"ResponsePut": {...}}}` in etcdctl's JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    #[serde(rename = "Response")]
    pub response: OpResult,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    #[serde(rename = "ID")]
    pub id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "peerURLs", skip_serializing_if = "Vec::is_empty")]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", skip_serializing_if = "Vec::is_empty")]
    pub client_urls: Vec<String>,
    #[serde(rename = "isLearner", skip_serializing_if = "not")]
    pub is_learner: bool,
}

impl Member {
    pub fn of(m: &etcd_client::Member) -> Member {
        Member {
            id: m.id(),
            name: m.name().to_string(),
            peer_urls: m.peer_urls().to_vec(),
            client_urls: m.client_urls().to_vec(),
            is_learner: m.is_learner(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberListResult {
    pub header: Header,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
}

/// member add/remove/promote/update: the header, the member concerned (add) and the
/// members after the change.
#[derive(Debug, Clone, Serialize)]
pub struct MemberChangeResult {
    pub header: Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<Member>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub header: Header,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(rename = "dbSize", skip_serializing_if = "zero_i64")]
    pub db_size: i64,
    #[serde(skip_serializing_if = "zero_u64")]
    pub leader: u64,
    #[serde(rename = "raftIndex", skip_serializing_if = "zero_u64")]
    pub raft_index: u64,
    #[serde(rename = "raftTerm", skip_serializing_if = "zero_u64")]
    pub raft_term: u64,
    #[serde(rename = "raftAppliedIndex", skip_serializing_if = "zero_u64")]
    pub raft_applied_index: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(rename = "dbSizeInUse", skip_serializing_if = "zero_i64")]
    pub db_size_in_use: i64,
    #[serde(rename = "isLearner", skip_serializing_if = "not")]
    pub is_learner: bool,
}

impl Status {
    pub fn of(s: &etcd_client::StatusResponse) -> Status {
        Status {
            header: Header::of(s.header()),
            version: s.version().to_string(),
            db_size: s.db_size(),
            leader: s.leader(),
            raft_index: s.raft_index(),
            raft_term: s.raft_term(),
            raft_applied_index: s.raft_applied_index(),
            errors: s.errors().to_vec(),
            db_size_in_use: s.raft_used_db_size(),
            is_learner: s.is_learner(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointStatus {
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
    #[serde(rename = "Status")]
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointHealth {
    pub endpoint: String,
    pub health: bool,
    /// Go's time.Duration text, e.g. "2.019427ms".
    pub took: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    #[serde(rename = "memberID", skip_serializing_if = "zero_u64")]
    pub member_id: u64,
    /// etcd's AlarmType number: 1 NOSPACE, 2 CORRUPT (etcdctl prints the number).
    #[serde(skip_serializing_if = "zero_i32")]
    pub alarm: i32,
}

fn zero_i32(v: &i32) -> bool {
    *v == 0
}

impl Alarm {
    pub fn name(&self) -> &'static str {
        match self.alarm {
            0 => "NONE",
            1 => "NOSPACE",
            2 => "CORRUPT",
            _ => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmResult {
    /// etcd 3.4 answers an alarm list without a header; etcdctl then prints none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Alarm>,
}

/// etcdctl prints lease responses with the header's fields inlined.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseGrantResult {
    #[serde(flatten)]
    pub header: Header,
    #[serde(rename = "ID")]
    pub id: i64,
    #[serde(rename = "TTL")]
    pub ttl: i64,
    #[serde(rename = "Error")]
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeaseId {
    pub id: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeaseListResult {
    #[serde(flatten)]
    pub header: Header,
    pub leases: Vec<LeaseId>,
}

#[derive(Debug, Clone)]
pub struct LeaseTtlResult {
    pub header: Header,
    pub id: i64,
    pub ttl: i64,
    pub granted_ttl: i64,
    /// `None` without `--keys` (etcdctl prints `null`).
    pub keys: Option<Vec<Vec<u8>>>,
}

impl Serialize for LeaseTtlResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        let h = &self.header;
        m.serialize_entry("cluster_id", &h.cluster_id)?;
        m.serialize_entry("member_id", &h.member_id)?;
        m.serialize_entry("revision", &h.revision)?;
        m.serialize_entry("raft_term", &h.raft_term)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("ttl", &self.ttl)?;
        m.serialize_entry("granted-ttl", &self.granted_ttl)?;
        let keys: Option<Vec<String>> = self
            .keys
            .as_ref()
            .filter(|k| !k.is_empty())
            .map(|k| k.iter().map(|k| b64(k)).collect());
        m.serialize_entry("keys", &keys)?;
        m.end()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KeepAliveResult {
    #[serde(flatten)]
    pub header: Header,
    #[serde(rename = "ID")]
    pub id: i64,
    #[serde(rename = "TTL")]
    pub ttl: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeaderOnly {
    pub header: Header,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fields_are_left_out_as_etcdctl_does() {
        let get = GetResult {
            header: Header {
                cluster_id: 1,
                member_id: 2,
                revision: 0,
                raft_term: 3,
            },
            kvs: vec![Kv {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                value: Vec::new(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        assert_eq!(
            serde_json::to_string(&get).unwrap(),
            r#"{"header":{"cluster_id":1,"member_id":2,"raft_term":3},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":2,"version":1}],"count":1}"#
        );
    }
}
