//! Label names and label sets' identity, shared by alerting (an alert is its labels),
//! notifying (a notification names its alerts' fingerprints), the exporter and
//! remote write.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An alert's identity: a hash of its sorted labels, computed as Alertmanager does
/// (FNV-1a 64 over each name and value, each followed by the byte 255), so the same
/// label set gets the same fingerprint here and in Alertmanager. Shown as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub u64);

/// Whether `name` is a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
/// Prometheus' `model.SeparatorByte`: never valid UTF-8, so "a"+"bc" != "ab"+"c".
const SEPARATOR: u8 = 255;

impl Fingerprint {
    /// The fingerprint of a label set. A `BTreeMap` iterates in name order, the order
    /// Alertmanager sorts by.
    pub fn of(labels: &std::collections::BTreeMap<String, String>) -> Fingerprint {
        let mut hash = FNV_OFFSET;
        let mut add = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(FNV_PRIME);
            }
        };
        for (name, value) in labels {
            add(name.as_bytes());
            add(&[SEPARATOR]);
            add(value.as_bytes());
            add(&[SEPARATOR]);
        }
        Fingerprint(hash)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() != 16 {
            return Err(format!("fingerprint {s:?} is not 16 hex digits"));
        }
        u64::from_str_radix(s, 16)
            .map(Fingerprint)
            .map_err(|_| format!("fingerprint {s:?} is not 16 hex digits"))
    }
}

// Hex text in JSON (as Alertmanager shows it); a plain u64 in postcard.
impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            u64::deserialize(d).map(Fingerprint)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprint_is_stable_and_ignores_insertion_order() {
        let a = labels(&[("alertname", "etcdNoLeader"), ("cluster", "prod")]);
        let b = labels(&[("cluster", "prod"), ("alertname", "etcdNoLeader")]);
        assert_eq!(Fingerprint::of(&a), Fingerprint::of(&b));
        // Pinned: a change here changes every stored alert's identity.
        assert_eq!(Fingerprint::of(&a).to_string(), "6c463c86c2c4a4a7");
        // The empty set hashes to the FNV offset, as in Prometheus' model package.
        assert_eq!(
            Fingerprint::of(&BTreeMap::new()).to_string(),
            "cbf29ce484222325"
        );
        // The separator keeps label boundaries apart.
        assert_ne!(
            Fingerprint::of(&labels(&[("a", "bc")])),
            Fingerprint::of(&labels(&[("ab", "c")]))
        );
        assert_ne!(
            Fingerprint::of(&a),
            Fingerprint::of(&labels(&[
                ("alertname", "etcdNoLeader"),
                ("cluster", "dev")
            ]))
        );
    }

    #[test]
    fn fingerprint_text_round_trips() {
        let fp = Fingerprint(0x00ab_cdef_0123_4567);
        assert_eq!(fp.to_string(), "00abcdef01234567");
        assert_eq!("00abcdef01234567".parse::<Fingerprint>(), Ok(fp));
        assert!("xyz".parse::<Fingerprint>().is_err());
        assert_eq!(serde_json::to_string(&fp).unwrap(), "\"00abcdef01234567\"");
        let bytes = postcard::to_allocvec(&fp).unwrap();
        assert_eq!(postcard::from_bytes::<Fingerprint>(&bytes).unwrap(), fp);
    }
}
