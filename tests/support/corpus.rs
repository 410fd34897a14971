//! The recorded scrape corpus (tests/fixtures/corpus/README.md): real `/metrics`
//! bodies of a 3-member etcd 3.4 cluster under load, read by the store's and the
//! dashboard's benchmarks and by the golden test of the API's answers.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;

/// The corpus in the repository.
pub const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/corpus/etcd-3.4-3member-5s.corpus.zst"
);

/// One scrape: which member answered, when it was asked, and the body it sent.
#[derive(Debug, Clone)]
pub struct CorpusScrape {
    /// `m0`, `m1`, `m2`.
    pub member: String,
    pub unix_ms: i64,
    pub body: String,
}

impl CorpusScrape {
    /// The member's index: `m1` is 1.
    pub fn member_index(&self) -> Option<usize> {
        self.member.strip_prefix('m')?.parse().ok()
    }
}

/// Every scrape of the corpus at `path`, in recorded order.
pub fn load(path: &Path) -> Result<Vec<CorpusScrape>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("opening the recorded corpus {}: {e}", path.display()))?;
    let mut dec = zstd::stream::read::Decoder::new(file).map_err(|e| e.to_string())?;
    // The corpus was compressed with --long=27 (its README).
    dec.window_log_max(27).map_err(|e| e.to_string())?;
    let mut text = String::new();
    dec.read_to_string(&mut text)
        .map_err(|e| format!("decompressing {}: {e}", path.display()))?;
    let mut out: Vec<CorpusScrape> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("# corpus-scrape ") {
            let mut member = None;
            let mut unix_ms = None;
            for kv in rest.split_whitespace() {
                match kv.split_once('=') {
                    Some(("member", m)) => member = Some(m.to_string()),
                    Some(("unix_ms", t)) => unix_ms = t.parse().ok(),
                    _ => {}
                }
            }
            match (member, unix_ms) {
                (Some(member), Some(unix_ms)) => out.push(CorpusScrape {
                    member,
                    unix_ms,
                    body: String::new(),
                }),
                _ => return Err(format!("corpus: unexpected header {line:?}")),
            }
        } else if let Some(last) = out.last_mut() {
            last.body.push_str(line);
        }
    }
    Ok(out)
}
