//! etcdctl's output formats: `-w simple` (its text), `-w json` (its field names, one
//! line per result) and `-w table` (its tablewriter boxes), and the escaping that keeps
//! binary keys from garbling a terminal. Commands say what to print; how it looks is
//! decided here.

use anyhow::bail;
use clap::ValueEnum;

use crate::cli::output::{self, outln, OutputError};
use crate::ops::json::{self, Kv};
use crate::ops::kv;

/// `-w`: etcdctl's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WriteOut {
    Simple,
    Json,
    Table,
}

/// etcd's humanize.Bytes: SI units ("20 kB", "1.2 MB").
pub(super) fn humanize_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let e = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let e = e.min(UNITS.len() - 1);
    let val = ((n as f64) / 1000f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[e])
    } else {
        format!("{val:.0} {}", UNITS[e])
    }
}

/// Renders results as etcdctl does.
#[derive(Clone, Copy)]
pub(super) struct Printer {
    pub(super) mode: WriteOut,
    pub(super) hex: bool,
    /// stdout is not a terminal: bytes go out as they are (as etcdctl prints them);
    /// on a terminal, control and non-UTF-8 bytes are escaped so they cannot garble it.
    pub(super) raw: bool,
}

impl Printer {
    pub(super) fn json<T: serde::Serialize + ?Sized>(&self, v: &T) -> anyhow::Result<()> {
        outln!("{}", serde_json::to_string(v)?)?;
        Ok(())
    }

    /// JSON in json mode; `simple` otherwise (table: etcdctl's refusal).
    pub(super) fn json_or<T: serde::Serialize>(
        &self,
        v: &T,
        simple: impl FnOnce() -> Result<(), OutputError>,
    ) -> anyhow::Result<()> {
        match self.mode {
            WriteOut::Json => self.json(v),
            WriteOut::Simple => Ok(simple()?),
            WriteOut::Table => bail!("table is not supported as output format for this command (etcdctl's rule); use -w simple or -w json"),
        }
    }

    fn bytes(&self, b: &[u8]) -> Vec<u8> {
        if self.hex {
            return b
                .iter()
                .flat_map(|c| format!("\\x{c:02x}").into_bytes())
                .collect();
        }
        if self.raw {
            return b.to_vec();
        }
        escape(b).into_bytes()
    }

    /// A key as text for messages and audit records: escaped when not printable.
    pub(super) fn key_text(&self, b: &[u8]) -> String {
        escape(b)
    }

    pub(super) fn kv(&self, kv: &Kv, value_only: bool) -> Result<(), OutputError> {
        let mut line = Vec::new();
        if !value_only {
            line.extend(self.bytes(&kv.key));
            line.push(b'\n');
        }
        line.extend(self.bytes(&kv.value));
        line.push(b'\n');
        output::write_bytes(&line)
    }

    pub(super) fn get(&self, r: &json::GetResult, value_only: bool) -> anyhow::Result<()> {
        self.json_or(r, || {
            for kv in &r.kvs {
                self.kv(kv, value_only)?;
            }
            if r.kvs.is_empty() && r.count > 0 {
                // --count-only
                outln!("{}", r.count)?;
            }
            Ok(())
        })
    }

    pub(super) fn event(&self, ev: &kv::WatchEvent) -> Result<(), OutputError> {
        if self.mode == WriteOut::Json {
            // One etcdctl-shaped watch response per event.
            if let Ok(line) = serde_json::to_string(ev) {
                outln!("{line}")?;
            }
        } else {
            outln!("{}", if ev.put { "PUT" } else { "DELETE" })?;
            if let Some(prev) = &ev.prev {
                self.kv(prev, false)?;
            }
            self.kv(&ev.kv, false)?;
        }
        output::flush()
    }

    pub(super) fn txn(&self, r: &json::TxnResult) -> Result<(), OutputError> {
        outln!("{}", if r.succeeded { "SUCCESS" } else { "FAILURE" })?;
        for resp in &r.responses {
            outln!()?;
            match &resp.response {
                json::OpResult::Get(g) => {
                    for kv in &g.kvs {
                        self.kv(kv, false)?;
                    }
                }
                json::OpResult::Put(_) => outln!("OK")?,
                json::OpResult::Delete(d) => outln!("{}", d.deleted)?,
            }
        }
        Ok(())
    }

    /// Comma-separated lines, or a table like etcdctl's (tablewriter).
    pub(super) fn rows(
        &self,
        mode: WriteOut,
        header: &[&str],
        rows: &[Vec<String>],
    ) -> Result<(), OutputError> {
        if mode != WriteOut::Table {
            for r in rows {
                outln!("{}", r.join(", "))?;
            }
            return Ok(());
        }
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line: String = widths
            .iter()
            .map(|w| format!("+{}", "-".repeat(w + 2)))
            .collect::<String>()
            + "+";
        outln!("{line}")?;
        let head: Vec<String> = header
            .iter()
            .zip(&widths)
            .map(|(h, w)| format!(" {h:^w$} "))
            .collect();
        outln!("|{}|", head.join("|"))?;
        outln!("{line}")?;
        for r in rows {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                // etcdctl sets tablewriter to right-align every cell.
                .map(|(c, w)| format!(" {c:>w$} "))
                .collect();
            outln!("|{}|", cells.join("|"))?;
        }
        outln!("{line}")
    }
}

/// Printable UTF-8 as it is; anything else as \xNN (and \n, \t, \\ as such).
fn escape(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_etcdctl_does() {
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(1_234_567), "1.2 MB");
        assert_eq!(humanize_bytes(5), "5 B");
    }

    #[test]
    fn binary_keys_are_escaped_for_terminals() {
        assert_eq!(escape(b"a\x00b\xff/\xc3\xa9"), "a\\x00b\\xff/é");
        assert_eq!(escape(b"<script>"), "<script>");
    }
}
