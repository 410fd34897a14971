#!/usr/bin/env bash
# Server time of the dashboard's pages: `cargo bench --bench dashboard` with its
# prerequisites checked first (see benches/dashboard.rs for what it measures).
#
# usage: scripts/bench-dashboard.sh [--perf]
#
# --perf: also record the monitor with `perf record` during each 8-connection wrk
# run and print its hottest functions (data kept in target/bench-dashboard/).
#
# Environment: ETCD_BIN (default /usr/bin/etcd: the `etcd` on PATH may be a
# wrapper script), WRK_BIN (default wrk), DASHBOARD_BENCH_SECONDS (wrk duration
# per run, default 20), DASHBOARD_BENCH_DATA=DIR (keep the filled store in DIR: a
# later run with the same DIR only tops the history up to now).
# Takes about 12 minutes on 2 cores, 8 to 11 of them filling a day of history (3
# with DASHBOARD_BENCH_DATA and a recent fill); every process it starts is stopped
# and its temp dir removed when it ends.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
export ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
export WRK_BIN=${WRK_BIN:-wrk}

if [ ! -x "$ETCD_BIN" ]; then
    echo "no etcd at $ETCD_BIN: install Debian's etcd-server (apt-get install etcd-server) or set ETCD_BIN" >&2
    exit 1
fi
if ! command -v "$WRK_BIN" >/dev/null; then
    echo "no wrk: install it (apt-get install wrk) or set WRK_BIN" >&2
    exit 1
fi
if [ "${1:-}" = "--perf" ]; then
    command -v perf >/dev/null || { echo "--perf needs perf (apt-get install linux-perf)" >&2; exit 1; }
    export DASHBOARD_BENCH_PERF=1
fi

echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures; the bench prints its CPU share)"
cd "$repo"
exec cargo bench --bench dashboard
