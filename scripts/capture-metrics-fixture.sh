#!/usr/bin/env bash
# Capture a /metrics scrape from a throw-away local etcd cluster, for use as a
# parser fixture (tests/fixtures/metrics/*.prom).
#
# usage: scripts/capture-metrics-fixture.sh ETCD_BINARY OUTPUT_FILE [MEMBERS]
#
#   ETCD_BINARY  path to the etcd server binary; etcdctl is taken from the same
#                directory if present, else from PATH
#   OUTPUT_FILE  where to write the scrape
#   MEMBERS      cluster size (default 1); with more than one member the scrape
#                is taken from a follower, so it includes peer metrics
#
# Everything listens on 127.0.0.1 only, lives in a temp dir, and is stopped
# when the script exits.
set -euo pipefail

etcd_bin=${1:?usage: $0 ETCD_BINARY OUTPUT_FILE [MEMBERS]}
out=${2:?usage: $0 ETCD_BINARY OUTPUT_FILE [MEMBERS]}
members=${3:-1}
keys=${KEYS:-300}

etcdctl_bin="$(dirname "$etcd_bin")/etcdctl"
[ -x "$etcdctl_bin" ] || etcdctl_bin=$(command -v etcdctl)

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Free loopback ports: two per member (client, peer).
mapfile -t ports < <(python3 - "$((members * 2))" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
)

cluster=""
for ((i = 0; i < members; i++)); do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[2 * i + 1]}"
done
endpoints=""
for ((i = 0; i < members; i++)); do
    client=${ports[2 * i]}
    peer=${ports[2 * i + 1]}
    endpoints+="${endpoints:+,}http://127.0.0.1:$client"
    "$etcd_bin" --name "m$i" --data-dir "$work/m$i" \
        --listen-client-urls "http://127.0.0.1:$client" \
        --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "$cluster" --initial-cluster-state new \
        --initial-cluster-token fixture >"$work/m$i.log" 2>&1 &
    pids+=("$!")
done

ctl() { ETCDCTL_API=3 "$etcdctl_bin" --endpoints "$endpoints" "$@"; }

for _ in $(seq 100); do
    ctl endpoint health >/dev/null 2>&1 && break
    sleep 0.2
done
ctl endpoint health >/dev/null 2>&1

# Some traffic so counters and histograms have data.
ctl watch --prefix /fixture/ >/dev/null 2>&1 &
pids+=("$!")
sleep 0.5
for ((k = 0; k < keys; k++)); do
    ctl put "/fixture/key-$k" "value-$k-$RANDOM" >/dev/null
done
for ((k = 0; k < keys; k += 5)); do
    ctl get "/fixture/key-$k" >/dev/null
done
ctl get --prefix /fixture/ --keys-only >/dev/null
ctl del /fixture/key-0 >/dev/null
printf '%s\n' 'value("/fixture/key-1") = "nope"' '' 'put /fixture/txn yes' '' 'put /fixture/txn no' '' |
    ctl txn >/dev/null
rev=$(ctl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
ctl compact "$rev" >/dev/null
sleep 1

# Scrape a follower when there is more than one member.
target=${ports[0]}
if ((members > 1)); then
    target=$(ctl endpoint status -w json | python3 -c '
import json, sys
for st in json.load(sys.stdin):
    s = st["Status"]
    if s["header"]["member_id"] != s["leader"]:
        print(st["Endpoint"].rsplit(":", 1)[1]); break')
fi
curl -fsS "http://127.0.0.1:$target/metrics" >"$out"
echo "wrote $out ($(wc -l <"$out") lines) from $("$etcd_bin" --version | head -1), $members member(s), port $target" >&2
