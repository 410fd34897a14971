#!/usr/bin/env bash
# Side by side: Prometheus and etcd-monitor scraping the same loaded 3-member
# etcd 3.4 cluster every 5 s for DURATION seconds; then their samples, bytes on
# disk, bytes/sample, memory (RSS) and CPU, and the ratio etcd-monitor/Prometheus.
#
# usage: scripts/compare-prometheus.sh [DURATION_SECONDS]     (default 1800)
#
# Environment: ETCD_BIN (default /usr/bin/etcd), ETCDCTL_BIN (default
# /usr/bin/etcdctl), WRITE_RATE / READ_RATE / MAINT_INTERVAL (the load, see
# scripts/lib/etcd_load.py), SKIP_BUILD=1 to use target/release/etcd-monitor
# as it is instead of running `cargo build --release` first, MONITOR_BIN=PATH to
# measure another etcd-monitor binary (implies SKIP_BUILD=1).
#
# Installs Debian's prometheus if /usr/bin/prometheus is missing (without
# starting its service) and runs the binary itself, with its own temp TSDB.
# Everything listens on 127.0.0.1 only; every process started here is stopped
# and every temp dir removed when the script exits.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-1800}
etcd_bin=${ETCD_BIN:-/usr/bin/etcd}
etcdctl_bin=${ETCDCTL_BIN:-/usr/bin/etcdctl}
monitor_bin=${MONITOR_BIN:-$repo/target/release/etcd-monitor}
say() { echo "== $(date +%H:%M:%S) $*" >&2; }

# --- prerequisites -----------------------------------------------------------
if [ ! -x /usr/bin/prometheus ]; then
    say "installing Debian's prometheus"
    apt-get update -qq
    # Keep the package's postinst from starting its own service.
    added_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    [ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d
fi
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

if [ -n "${MONITOR_BIN:-}" ] || [ "${SKIP_BUILD:-}" = 1 ]; then
    say "SKIP_BUILD=1: using $monitor_bin as it is"
else
    say "cargo build --release"
    if ! (cd "$repo" && cargo build --release --quiet); then
        echo "cargo build --release failed: fix the build, or rerun with SKIP_BUILD=1 to measure the binary already in target/release" >&2
        exit 1
    fi
fi
[ -x "$monitor_bin" ] || { echo "$monitor_bin is missing" >&2; exit 1; }

# --- processes and cleanup ---------------------------------------------------
work=$(mktemp -d /tmp/compare-prometheus.XXXXXX)
load_pid='' prom_pid='' mon_pid=''
cleanup() {
    local rc=$?
    for pid in $mon_pid $prom_pid $load_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $mon_pid $prom_pid $load_pid; do
        # up to 30 s each for a clean stop, then SIGKILL
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2; shift 2
    for _ in $(seq $((secs * 2))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "timed out waiting for $what" >&2
    return 1
}

# --- the cluster under load (shared with scripts/record-corpus.sh) ----------
say "starting the 3-member etcd cluster and its load"
python3 "$repo/scripts/lib/etcd_load.py" --duration 0 --state-file "$work/cluster.env" \
    --members 3 --write-rate "${WRITE_RATE:-150}" --read-rate "${READ_RATE:-50}" \
    --maintenance-interval "${MAINT_INTERVAL:-600}" --token compare \
    --etcd "$etcd_bin" --etcdctl "$etcdctl_bin" 2>"$work/load.log" &
load_pid=$!
wait_for 90 "the etcd cluster (see the load log)" test -s "$work/cluster.env" || { cat "$work/load.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/cluster.env"
say "cluster: $ETCD_ENDPOINTS"

# --- Prometheus ---------------------------------------------------------------
prom_port=$(free_port)
mkdir -p "$work/prom-data"
{
    echo "global:"
    echo "  scrape_interval: 5s"
    echo "  scrape_timeout: 4s"
    echo "scrape_configs:"
    echo "  - job_name: etcd"
    echo "    static_configs:"
    echo "      - targets:"
    for ep in ${ETCD_ENDPOINTS//,/ }; do echo "          - ${ep#http://}"; done
} >"$work/prometheus.yml"
/usr/bin/prometheus --config.file="$work/prometheus.yml" \
    --storage.tsdb.path="$work/prom-data" \
    --web.listen-address="127.0.0.1:$prom_port" \
    --storage.tsdb.min-block-duration=5m --storage.tsdb.max-block-duration=5m \
    --storage.tsdb.retention.time=1d \
    --web.enable-admin-api >"$work/prometheus.log" 2>&1 &
prom_pid=$!

# --- etcd-monitor --------------------------------------------------------------
mon_port=$(free_port)
mkdir -p "$work/monitor-data"
"$monitor_bin" serve --endpoints "$ETCD_ENDPOINTS" --name corpus --interval 5 \
    --listen "127.0.0.1:$mon_port" --data-dir "$work/monitor-data" >"$work/etcd-monitor.log" 2>&1 &
mon_pid=$!

wait_for 60 "Prometheus (see its log)" curl -fsS "http://127.0.0.1:$prom_port/-/ready" ||
    { tail -20 "$work/prometheus.log" >&2; exit 1; }
wait_for 60 "etcd-monitor (see its log)" curl -fsS "http://127.0.0.1:$mon_port/api/v1/health" ||
    { tail -20 "$work/etcd-monitor.log" >&2; exit 1; }
say "Prometheus $(/usr/bin/prometheus --version 2>&1 | head -1 | awk '{print $3}') pid $prom_pid on :$prom_port; etcd-monitor pid $mon_pid on :$mon_port"

# --- run, sampling RSS and disk every 10 s -----------------------------------------
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Disk in use swings for both: Prometheus' WAL is cut at each head compaction, the
# store file grows until a checkpoint compacts it. One reading at the end lands
# anywhere in those swings, so the average over the run is reported too: apparent
# bytes (du -sb) and blocks allocated (du -s -B1; the store file can hold holes).
du_b() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }
du_alloc() { if [ -e "$1" ]; then du -s -B1 "$1" | cut -f1; else echo 0; fi; }
cpu_secs() { # utime+stime of a live process, in seconds
    python3 - "$1" <<'PY'
import os, sys
stat = open(f"/proc/{sys.argv[1]}/stat").read()
fields = stat[stat.rindex(")") + 2:].split()
print((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
PY
}
: >"$work/rss.tsv"
say "running both for ${duration}s"
t0=$(date +%s)
t_end=$((t0 + duration))
next=$t0
while :; do
    now=$(date +%s)
    [ "$now" -lt "$t_end" ] || break
    for name in prom mon; do
        pid_var=${name}_pid
        if ! kill -0 "${!pid_var}" 2>/dev/null; then
            echo "$name (pid ${!pid_var}) died; its log:" >&2
            tail -20 "$work/$([ $name = prom ] && echo prometheus || echo etcd-monitor).log" >&2
            exit 1
        fi
    done
    if [ "$now" -ge "$next" ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$((now - t0))" "$(rss_kib "$prom_pid")" "$(rss_kib "$mon_pid")" \
            "$(du_b "$work/prom-data")" "$(du_b "$work/monitor-data")" \
            "$(du_alloc "$work/prom-data")" "$(du_alloc "$work/monitor-data")" >>"$work/rss.tsv"
        next=$((next + 10))
    fi
    sleep 1
done
prom_cpu=$(cpu_secs "$prom_pid")
mon_cpu=$(cpu_secs "$mon_pid")
say "done; collecting figures"

# --- Prometheus' figures ---------------------------------------------------------
prom_url=http://127.0.0.1:$prom_port
curl -fsS "$prom_url/metrics" >"$work/prom-self.txt"
prom_query() {
    curl -fsS "$prom_url/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
# Every scrape also appends 5 synthetic samples (up, scrape_duration_seconds, ...).
prom_scrapes=$(prom_query "sum(count_over_time(up[$((duration + 120))s]))" || echo 0)
prom_series=$(awk '/^prometheus_tsdb_head_series / {print $2}' "$work/prom-self.txt")
pd=$work/prom-data
# Sizes first: a snapshot hard-links the blocks, which du would then count once.
prom_total=$(du_b "$pd")
prom_wal=$(du_b "$pd/wal")
prom_chunks_head=$(du_b "$pd/chunks_head")
# A snapshot writes everything ingested (head included) as compacted blocks:
# what the data costs once it is all in blocks, without WAL.
snap=$(curl -fsS -XPOST "$prom_url/api/v1/admin/tsdb/snapshot" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["name"])' || true)
prom_snapshot=0
[ -n "$snap" ] && prom_snapshot=$(du_b "$pd/snapshots/$snap")

# --- etcd-monitor's figures --------------------------------------------------------
store_json=$work/store.json
store_status=$(curl -sS -o "$store_json" -w '%{http_code}' "http://127.0.0.1:$mon_port/api/v1/store" || echo 000)
if [ "$store_status" != 200 ]; then
    echo >&2
    echo "!! etcd-monitor has no GET /api/v1/store (HTTP $store_status): its samples and file size are" >&2
    echo "!! not available; only the data dir's du, RSS and CPU are reported for it." >&2
    echo >&2
    rm -f "$store_json"
fi
mon_du=$(du_b "$work/monitor-data")

# --- the table ---------------------------------------------------------------------
python3 - "$work" "$duration" "$prom_cpu" "$mon_cpu" "$prom_scrapes" "$prom_series" \
    "$prom_total" "$prom_wal" "$prom_chunks_head" "$pd" "$snap" "$prom_snapshot" "$mon_du" \
    "$ETCD_ENDPOINTS" <<'PY'
import json, os, re, sys

(work, duration, prom_cpu, mon_cpu, prom_scrapes, prom_series, prom_total, prom_wal,
 prom_chunks_head, pd, snap, prom_snapshot, mon_du, endpoints) = sys.argv[1:]
duration = int(duration)
prom_cpu, mon_cpu = float(prom_cpu), float(mon_cpu)
prom_scrapes = int(float(prom_scrapes))
prom_total, prom_wal, prom_chunks_head = int(prom_total), int(prom_wal), int(prom_chunks_head)
prom_snapshot, mon_du = int(prom_snapshot), int(mon_du)

def block_samples(d):
    """Blocks (dirs with a meta.json) directly under d: (count, samples in them)."""
    n = samples = 0
    if d and os.path.isdir(d):
        for e in os.listdir(d):
            m = os.path.join(d, e, "meta.json")
            if os.path.exists(m):
                n += 1
                samples += json.load(open(m))["stats"].get("numSamples", 0)
    return n, samples

prom_blocks, prom_block_samples = block_samples(pd)
snap_blocks, snap_samples = block_samples(os.path.join(pd, "snapshots", snap) if snap else None)

text = open(os.path.join(work, "prom-self.txt")).read()
appended = sum(float(m.group(1)) for m in re.finditer(
    r"^prometheus_tsdb_head_samples_appended_total(?:\{[^}]*\})? (\S+)$", text, re.M))
compactions = sum(float(m.group(1)) for m in re.finditer(
    r"^prometheus_tsdb_compactions_total (\S+)$", text, re.M))
prom_samples = int(appended)
prom_etcd_samples = prom_samples - 5 * prom_scrapes

rss = [l.split("\t") for l in open(os.path.join(work, "rss.tsv")).read().split("\n") if l]
prom_rss = [int(r[1]) / 1024 for r in rss]
mon_rss = [int(r[2]) / 1024 for r in rss]
def avg(col):
    return sum(int(r[col]) for r in rss) / len(rss)

store = None
p = os.path.join(work, "store.json")
if os.path.exists(p):
    try:
        store = json.load(open(p))
    except ValueError as e:
        print(f"!! /api/v1/store did not return JSON: {e}", file=sys.stderr)

def num(x):
    if x is None:
        return "n/a"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.2f}"
    return f"{int(x):,}"

def ratio(a, b):
    return "n/a" if a is None or not b else f"{a / b:.3f}"

def per(b, s):
    return None if b is None or not s else float(b) / s

mon_samples = store.get("samples_ingested_total") if store else None
mon_file = store.get("file_bytes") if store else None
prom_blocks_only = prom_total - prom_wal - prom_chunks_head
if prom_blocks == 0:
    prom_blocks_only = None  # no block cut yet (runs shorter than ~8 min): only dirs and lock files

print()
print(f"Prometheus vs etcd-monitor: {duration} s, 3 etcd 3.4 members scraped every 5 s ({endpoints})")
print(f"Prometheus: {prom_scrapes} scrapes, {int(float(prom_series or 0))} head series, "
      f"{int(compactions)} compactions, {prom_blocks} blocks on disk holding {prom_block_samples:,} samples.")
print(f"  Its samples = sum of prometheus_tsdb_head_samples_appended_total; that includes 5 synthetic")
print(f"  samples per scrape (up, scrape_duration_seconds, ...): {prom_etcd_samples:,} without them.")
if store:
    print(f"etcd-monitor: {store.get('series', 'n/a')} series; tiers: " + ("; ".join(
        f"{t.get('tier')}: {num(t.get('samples'))} samples, {num(t.get('bytes'))} B, "
        f"{num(t.get('bytes_per_sample'))} B/sample" for t in store.get("tiers", [])) or "none"))
else:
    print("etcd-monitor: GET /api/v1/store unavailable: its samples and store-file figures are n/a")
print()
rows = [
    ("samples ingested", prom_samples, mon_samples),
    ("disk, all files (Prom: TSDB dir with wal/ + chunks_head/; mon: du -sb data dir)", prom_total, mon_du),
    ("  bytes/sample", per(prom_total, prom_samples), per(mon_du, mon_samples)),
    ("disk, without WAL (Prom: blocks, no wal/ chunks_head/; mon: store file_bytes)", prom_blocks_only, mon_file),
    ("  bytes/sample (Prom: per sample in those blocks)", per(prom_blocks_only, prom_block_samples),
     per(mon_file, mon_samples)),
    ("all data compacted (Prom: TSDB snapshot incl. head; mon: store file_bytes)", prom_snapshot, mon_file),
    ("  bytes/sample (Prom: per sample in the snapshot)", per(prom_snapshot, snap_samples),
     per(mon_file, mon_samples)),
    ("disk avg over the run, du -sb every 10 s (Prom: TSDB dir; mon: data dir)", avg(3), avg(4)),
    ("disk avg over the run, blocks allocated (du -s -B1)", avg(5), avg(6)),
    ("RSS avg MiB", sum(prom_rss) / len(prom_rss), sum(mon_rss) / len(mon_rss)),
    ("RSS max MiB", max(prom_rss), max(mon_rss)),
    ("CPU seconds (utime+stime)", prom_cpu, mon_cpu),
]
w0 = max(len(r[0]) for r in rows)
print(f"{'':{w0}}  {'Prometheus':>14}  {'etcd-monitor':>14}  {'mon/Prom':>9}")
for label, a, b in rows:
    print(f"{label:{w0}}  {num(a):>14}  {num(b):>14}  {ratio(b, a):>9}")
print()
print(f"Prometheus TSDB: total {prom_total:,} B = wal/ {prom_wal:,} + chunks_head/ {prom_chunks_head:,} "
      f"+ blocks etc. {prom_total - prom_wal - prom_chunks_head:,}; snapshot: {snap_blocks} block(s), {prom_snapshot:,} B, "
      f"{snap_samples:,} samples")
print(f"etcd-monitor data dir (du -sb): {mon_du:,} B; RSS and disk sampled {len(rss)} times (every 10 s)")
PY
