//! Sizes in the config as people write them: `512MiB`, `1GiB`, `100MB`, or a plain
//! number of bytes. As a serde `with` module; serializes in the largest binary unit
//! that holds the size whole, so every value written reads back the same.

use serde::{Deserialize, Deserializer, Serializer};

const UNITS: [(&str, u64); 9] = [
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("kB", 1_000),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
];

/// `text` as bytes: a whole number, optionally followed by `B` or a unit (KiB, MiB,
/// GiB, TiB; kB, MB, GB, TB).
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let unit = unit.trim();
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512MiB, 1GiB, 1000000)"))?;
    let scale = match unit {
        "" | "B" => 1,
        u => UNITS
            .iter()
            .find(|(name, _)| *name == u)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                format!("{text:?}: unknown unit {u:?} (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)")
            })?,
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// `bytes` in the largest binary unit that holds it whole.
pub fn format(bytes: u64) -> String {
    ["TiB", "GiB", "MiB", "KiB"]
        .iter()
        .map(|u| (*u, UNITS.iter().find(|(n, _)| n == u).expect("listed").1))
        .find(|(_, s)| bytes >= *s && bytes.is_multiple_of(*s))
        .map_or_else(|| bytes.to_string(), |(u, s)| format!("{}{u}", bytes / s))
}

pub fn serialize<S: Serializer>(bytes: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Number(n) => Ok(n),
        Size::Text(t) => parse(&t).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_written_and_write_back_the_same() {
        assert_eq!(parse("512MiB"), Ok(512 << 20));
        assert_eq!(parse("1 GiB"), Ok(1 << 30));
        assert_eq!(parse("100MB"), Ok(100_000_000));
        assert_eq!(parse("4096"), Ok(4096));
        assert!(parse("1.5GiB").unwrap_err().contains("unknown unit"));
        assert!(parse("GiB").is_err());
        assert!(parse("99999999999TiB").unwrap_err().contains("too large"));
        for n in [0, 1000, 1 << 20, 3 << 30, 5 << 40] {
            assert_eq!(parse(&format(n)), Ok(n));
        }
        assert_eq!(format(1 << 30), "1GiB");
    }
}
