#!/usr/bin/env bash
# Record a corpus of real /metrics scrapes: a 3-member etcd 3.4 cluster on
# loopback under a steady, modest load, every member scraped at the same
# instant every 5 s, for DURATION seconds; then compress it with zstd.
#
# usage: scripts/record-corpus.sh [DURATION_SECONDS] [OUTPUT]
#
#   DURATION_SECONDS  how long to record (default 3900 = 65 min)
#   OUTPUT            the .zst to write (default
#                     tests/fixtures/corpus/etcd-3.4-3member-5s.corpus.zst,
#                     relative to the repository root; any other relative
#                     path is relative to the current directory)
#
# Environment: ETCD_BIN (default /usr/bin/etcd), ETCDCTL_BIN (default
# /usr/bin/etcdctl), WRITE_RATE (puts/s, default 150), READ_RATE (ranges/s,
# default 50), MAINT_INTERVAL (s between compaction+defrag, default 600).
#
# The cluster and load live in scripts/lib/etcd_load.py (shared with
# scripts/compare-prometheus.sh). Record format: see
# tests/fixtures/corpus/README.md. Everything listens on 127.0.0.1 only, in a
# temp dir that is removed at the end.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-3900}
out=${2:-$repo/tests/fixtures/corpus/etcd-3.4-3member-5s.corpus.zst}
case $out in /*) ;; *) out=$PWD/$out ;; esac

etcd_bin=${ETCD_BIN:-/usr/bin/etcd}
etcdctl_bin=${ETCDCTL_BIN:-/usr/bin/etcdctl}

if ! command -v zstd >/dev/null; then
    echo "== installing zstd" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd >/dev/null
fi

work=$(mktemp -d /tmp/record-corpus.XXXXXX)
load_pid=
cleanup() {
    if [ -n "$load_pid" ] && kill -0 "$load_pid" 2>/dev/null; then
        kill "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

raw=$work/corpus
echo "== $(date -Is) recording ${duration}s of scrapes from $("$etcd_bin" --version | head -1) into $out" >&2
python3 "$repo/scripts/lib/etcd_load.py" \
    --duration "$duration" --scrape-out "$raw" --scrape-interval 5 --members 3 \
    --write-rate "${WRITE_RATE:-150}" --read-rate "${READ_RATE:-50}" \
    --maintenance-interval "${MAINT_INTERVAL:-600}" --token corpus \
    --etcd "$etcd_bin" --etcdctl "$etcdctl_bin" &
load_pid=$!
wait "$load_pid"
load_pid=

[ -s "$raw" ] || { echo "no scrapes recorded" >&2; exit 1; }
scrapes=$(grep -c '^# corpus-scrape ' "$raw")
echo "== $(date -Is) compressing $scrapes scrapes (zstd -19 --long=27)" >&2
mkdir -p "$(dirname "$out")"
zstd -q -19 --long=27 -T2 -f "$raw" -o "$out.tmp"
mv -f "$out.tmp" "$out"
raw_bytes=$(stat -c %s "$raw")
zst_bytes=$(stat -c %s "$out")
echo "== $(date -Is) done"
for m in m0 m1 m2; do
    echo "   member $m: $(grep -c "^# corpus-scrape member=$m " "$raw") scrapes"
done
echo "scrapes: $scrapes"
echo "raw bytes: $raw_bytes ($((raw_bytes / 1048576)) MiB)"
echo "compressed bytes: $zst_bytes ($((zst_bytes / 1048576)) MiB, ratio $(python3 -c "print(f'{$raw_bytes/$zst_bytes:.1f}')"))"
echo "output: $out"
