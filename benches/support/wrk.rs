//! wrk for the benches: finding it, running it, reading its figures.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

/// `WRK_BIN`, else `wrk` on PATH, checked to be wrk.
pub fn wrk_binary() -> Result<PathBuf> {
    let bin = PathBuf::from(std::env::var("WRK_BIN").unwrap_or_else(|_| "wrk".into()));
    // `wrk -v` prints its version and usage.
    let out = Command::new(&bin).arg("-v").output().map_err(|e| {
        anyhow!(
            "cannot run {} ({e}): install wrk (Debian: apt-get install wrk) or set WRK_BIN",
            bin.display()
        )
    })?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let first = text.lines().next().unwrap_or("");
    if !first.starts_with("wrk ") {
        bail!("{} -v does not look like wrk: {first:?}", bin.display());
    }
    println!("wrk: {first}");
    Ok(bin)
}

/// wrk's figures; latencies in ms.
#[derive(Debug, Default)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p99: f64,
    /// Non-2xx/3xx responses plus socket errors.
    pub errors: u64,
}

/// `wrk -tTHREADS -cCONNECTIONS -dSECONDS --latency [-H HEADER]... URL`.
pub async fn wrk_run(
    wrk: &Path,
    url: &str,
    threads: u32,
    connections: u32,
    seconds: u64,
    headers: &[String],
) -> Result<WrkResult> {
    let mut cmd = tokio::process::Command::new(wrk);
    cmd.args([
        format!("-t{threads}"),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--latency".into(),
    ]);
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = cmd
        .arg(url)
        .output()
        .await
        .with_context(|| format!("running {}", wrk.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&text).with_context(|| format!("parsing wrk's output:\n{text}"))
}

fn parse_wrk(text: &str) -> Result<WrkResult> {
    let mut r = WrkResult::default();
    let mut found = 0;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let (Some(first), second) = (words.next(), words.next()) else {
            continue;
        };
        match (first, second) {
            ("Requests/sec:", Some(v)) => {
                r.requests_per_sec = v.parse()?;
                found += 1;
            }
            ("50%" | "75%" | "90%" | "99%", Some(v)) => {
                let ms = parse_duration_ms(v)?;
                match first {
                    "50%" => r.p50 = ms,
                    "75%" => r.p75 = ms,
                    "90%" => r.p90 = ms,
                    _ => r.p99 = ms,
                }
                found += 1;
            }
            ("Non-2xx", _) => {
                r.errors += line.rsplit(' ').next().unwrap_or("0").parse::<u64>()?;
            }
            ("Socket", Some("errors:")) => {
                // Socket errors: connect 0, read 0, write 0, timeout 0
                r.errors += line
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    if found != 5 {
        bail!("expected Requests/sec and the 50/75/90/99 % latencies");
    }
    Ok(r)
}

/// `123.45us`, `1.23ms`, `2.00s`, `1.00m` as ms.
fn parse_duration_ms(v: &str) -> Result<f64> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| anyhow!("no unit in {v:?}"))?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse()?;
    Ok(match unit {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        "m" => n * 60e3,
        "h" => n * 3600e3,
        _ => bail!("unknown unit in {v:?}"),
    })
}
