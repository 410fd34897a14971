#!/usr/bin/env python3
"""Throw-away 3-member etcd cluster on loopback, under a steady, modest load.

Shared by scripts/record-corpus.sh (which also has it scrape /metrics into a
corpus) and scripts/compare-prometheus.sh (which points Prometheus and
etcd-monitor at it).

What it does, in order:
  1. picks free 127.0.0.1 ports, starts MEMBERS etcd members in a temp dir and
     waits until every member answers /health;
  2. writes STATE_FILE (shell-sourceable: ETCD_ENDPOINTS=..., ETCD_PIDS=...,
     ETCD_WORKDIR=...) so a caller knows where the cluster is;
  3. runs the load until --duration seconds have passed (0: until SIGTERM or
     SIGINT):
       - writers: --write-rate puts/s through the v3 HTTP/JSON gateway
         (POST /v3/kv/put), spread over all members, mostly 1 KiB values over
         a bounded key space, some small keys, a few deletes;
       - readers: --read-rate ranges/s (single keys, serializable and
         linearizable, plus the odd prefix range with a limit);
       - a lease granted every 15 s with a key attached (the lease expires);
       - --watchers `etcdctl watch --prefix` processes;
       - every --maintenance-interval seconds: `etcdctl compaction` to the
         current revision minus 1000, then `etcdctl defrag` on one member
         (members taken in turn);
     and, with --scrape-out, scrapes /metrics of all members at the same
     instant every --scrape-interval seconds, appending each scrape as
       # corpus-scrape member=m0 unix_ms=1732700000000
       <exact body, ending with a newline>
  4. stops the load, kills the cluster and removes its temp dir.

Only the Python standard library is used. Every address is 127.0.0.1.
"""

import argparse
import base64
import ctypes
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

STOP = threading.Event()


def log(msg):
    print(f"[etcd_load {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def prefix_end(prefix):
    b = bytearray(prefix.encode())
    b[-1] += 1
    return bytes(b)


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _die_with_parent():
    # Children get SIGTERM if this process dies without cleaning up.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Cluster:
    def __init__(self, etcd, etcdctl, members, token):
        self.etcd = etcd
        self.etcdctl = etcdctl
        self.workdir = tempfile.mkdtemp(prefix="etcd-load-")
        ports = free_ports(2 * members)
        self.names = [f"m{i}" for i in range(members)]
        self.client = [ports[2 * i] for i in range(members)]
        self.peer = [ports[2 * i + 1] for i in range(members)]
        self.endpoints = [f"http://127.0.0.1:{p}" for p in self.client]
        self.token = token
        self.procs = []

    def start(self):
        initial = ",".join(
            f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer))
        for i, name in enumerate(self.names):
            logf = open(os.path.join(self.workdir, f"{name}.log"), "wb")
            cmd = [
                self.etcd, "--name", name,
                "--data-dir", os.path.join(self.workdir, name),
                "--listen-client-urls", self.endpoints[i],
                "--advertise-client-urls", self.endpoints[i],
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
                "--initial-cluster", initial,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token,
            ]
            self.procs.append(subprocess.Popen(
                cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent))
            logf.close()
        deadline = time.time() + 60
        while time.time() < deadline:
            if all(self.healthy(ep) for ep in self.endpoints):
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"etcd exited early (rc {p.returncode}); logs in {self.workdir}")
            time.sleep(0.3)
        raise RuntimeError(f"cluster not healthy after 60 s; logs in {self.workdir}")

    @staticmethod
    def healthy(ep):
        try:
            with urllib.request.urlopen(ep + "/health", timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"
        except Exception:
            return False

    def ctl(self, *args, endpoints=None, timeout=120):
        env = dict(os.environ, ETCDCTL_API="3")
        eps = ",".join(endpoints or self.endpoints)
        return subprocess.run(
            [self.etcdctl, "--endpoints", eps, "--command-timeout=60s", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, timeout=timeout, text=True)

    def stop(self, keep_workdir=False):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.time() + 15
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


class Gateway:
    """A persistent HTTP/1.1 connection to one member's JSON gateway."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def post(self, path, body):
        data = json.dumps(body).encode()
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.conn.request("POST", path, data, {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                payload = r.read()
                if r.status != 200:
                    raise RuntimeError(f"{path}: HTTP {r.status}: {payload[:200]!r}")
                return json.loads(payload)
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def snapshot(self):
        with self.lock:
            return dict(self.counts)


def paced(rate, fn, stats, name):
    """Calls fn() rate times per second until STOP (no bursts to catch up)."""
    if rate <= 0:
        return
    step = 1.0 / rate
    nxt = time.monotonic() + random.random() * step
    while not STOP.is_set():
        now = time.monotonic()
        if nxt > now:
            if STOP.wait(nxt - now):
                break
        elif now - nxt > 1.0:
            nxt = now  # fell behind by more than a second: drop the backlog
        nxt += step
        try:
            fn()
            stats.add(name)
        except Exception as e:  # keep the load going through a member's hiccup
            stats.add(name + "_errors")
            if stats.snapshot().get(name + "_errors", 0) <= 5:
                log(f"{name}: {e}")
            STOP.wait(0.5)


def writer(cluster, idx, rate, keys, stats):
    gw = Gateway(cluster.client[idx % len(cluster.client)])
    rnd = random.Random(idx)

    def one():
        x = rnd.random()
        if x < 0.88:
            k = f"/load/data/{rnd.randrange(keys):05d}"
            v = base64.b64encode(os.urandom(768))  # 1024 bytes
            gw.post("/v3/kv/put", {"key": b64(k), "value": v.decode()})
        elif x < 0.99:
            k = f"/load/meta/{rnd.randrange(100):03d}"
            gw.post("/v3/kv/put", {"key": b64(k), "value": b64(f"{time.time():.3f}")})
        else:
            k = f"/load/data/{rnd.randrange(keys):05d}"
            gw.post("/v3/kv/deleterange", {"key": b64(k)})

    paced(rate, one, stats, "puts")


def reader(cluster, idx, rate, keys, stats):
    gw = Gateway(cluster.client[(idx + 1) % len(cluster.client)])
    rnd = random.Random(1000 + idx)

    def one():
        x = rnd.random()
        if x < 0.05:
            p = "/load/meta/"
            gw.post("/v3/kv/range", {"key": b64(p), "range_end": b64(prefix_end(p)), "limit": 100})
        elif x < 0.07:
            p = "/load/data/"
            gw.post("/v3/kv/range", {"key": b64(p), "range_end": b64(prefix_end(p)),
                                     "limit": 50, "keys_only": True})
        else:
            k = f"/load/data/{rnd.randrange(keys):05d}"
            gw.post("/v3/kv/range", {"key": b64(k), "serializable": x < 0.5})

    paced(rate, one, stats, "ranges")


def leases(cluster, stats):
    gw = Gateway(cluster.client[0])
    n = 0
    while not STOP.wait(15):
        try:
            lease = gw.post("/v3/lease/grant", {"TTL": 30})["ID"]
            gw.post("/v3/kv/put", {"key": b64(f"/load/session/{n % 20:02d}"),
                                   "value": b64("alive"), "lease": lease})
            stats.add("leases")
            n += 1
        except Exception as e:
            stats.add("leases_errors")
            log(f"lease: {e}")


def maintenance(cluster, interval, stats):
    gw = Gateway(cluster.client[0])
    turn = 0
    while not STOP.wait(interval):
        try:
            rev = int(gw.post("/v3/kv/range", {"key": b64("/load/meta/000")})["header"]["revision"])
            target = rev - 1000
            if target > 1:
                r = cluster.ctl("compaction", str(target))
                log(f"compaction {target}: {r.stdout.strip()}")
            member = turn % len(cluster.endpoints)
            turn += 1
            t0 = time.time()
            r = cluster.ctl("defrag", endpoints=[cluster.endpoints[member]])
            log(f"defrag {cluster.names[member]} ({time.time() - t0:.1f} s): {r.stdout.strip()}")
            stats.add("maintenance")
        except Exception as e:
            log(f"maintenance: {e}")


def scraper(cluster, out_path, interval, t_end, stats):
    out = open(out_path, "ab")
    tick = time.time()

    def get(i, results):
        t = int(time.time() * 1000)
        try:
            with urllib.request.urlopen(cluster.endpoints[i] + "/metrics", timeout=min(4.0, interval)) as r:
                body = r.read()
            if not body.endswith(b"\n"):
                body += b"\n"
            results[i] = (t, body)
        except Exception as e:
            results[i] = (t, e)

    while not STOP.is_set() and (t_end is None or tick < t_end):
        now = time.time()
        if tick > now and STOP.wait(tick - now):
            break
        results = [None] * len(cluster.endpoints)
        threads = [threading.Thread(target=get, args=(i, results)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, (t, body) in enumerate(results):
            if isinstance(body, Exception):
                stats.add("scrape_errors")
                log(f"scrape {cluster.names[i]} at {t}: {body}")
                continue
            out.write(f"# corpus-scrape member={cluster.names[i]} unix_ms={t}\n".encode())
            out.write(body)
            stats.add("scrapes")
        out.flush()
        tick += interval
        while tick < time.time() - interval / 2:  # a scrape overran: skip the missed ticks
            stats.add("scrape_ticks_skipped")
            tick += interval
    out.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=0, help="seconds of load (0: until SIGTERM)")
    ap.add_argument("--state-file", help="write ETCD_ENDPOINTS=... etc. here once healthy")
    ap.add_argument("--scrape-out", help="append /metrics scrapes of every member to this file")
    ap.add_argument("--scrape-interval", type=float, default=5)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--write-rate", type=float, default=150, help="puts/s over the cluster")
    ap.add_argument("--read-rate", type=float, default=50, help="ranges/s over the cluster")
    ap.add_argument("--writers", type=int, default=6)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--keys", type=int, default=2000, help="size of the 1 KiB key space")
    ap.add_argument("--watchers", type=int, default=3)
    ap.add_argument("--maintenance-interval", type=float, default=600)
    ap.add_argument("--token", default="corpus")
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    ap.add_argument("--etcdctl", default="/usr/bin/etcdctl")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    cluster = Cluster(args.etcd, args.etcdctl, args.members, args.token)
    watchers = []
    threads = []
    stats = Stats()
    try:
        log(f"starting {args.members} members in {cluster.workdir}")
        cluster.start()
        eps = ",".join(cluster.endpoints)
        log(f"healthy: {eps}")
        if args.state_file:
            tmp = args.state_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(f"ETCD_ENDPOINTS={eps}\n")
                f.write(f"ETCD_PIDS=\"{' '.join(str(p.pid) for p in cluster.procs)}\"\n")
                f.write(f"ETCD_WORKDIR={cluster.workdir}\n")
            os.replace(tmp, args.state_file)

        prefixes = ["/load/", "/load/meta/", "/load/session/"]
        env = dict(os.environ, ETCDCTL_API="3")
        for i in range(args.watchers):
            watchers.append(subprocess.Popen(
                [args.etcdctl, "--endpoints", cluster.endpoints[i % len(cluster.endpoints)],
                 "watch", "--prefix", prefixes[i % len(prefixes)]],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent))

        t_start = time.time()
        t_end = t_start + args.duration if args.duration > 0 else None
        for i in range(args.writers):
            threads.append(threading.Thread(target=writer, daemon=True, args=(
                cluster, i, args.write_rate / args.writers, args.keys, stats)))
        for i in range(args.readers):
            threads.append(threading.Thread(target=reader, daemon=True, args=(
                cluster, i, args.read_rate / args.readers, args.keys, stats)))
        threads.append(threading.Thread(target=leases, daemon=True, args=(cluster, stats)))
        if args.maintenance_interval > 0:
            threads.append(threading.Thread(target=maintenance, daemon=True, args=(
                cluster, args.maintenance_interval, stats)))
        for t in threads:
            t.start()
        scrape_thread = None
        if args.scrape_out:
            scrape_thread = threading.Thread(target=scraper, args=(
                cluster, args.scrape_out, args.scrape_interval, t_end, stats))
            scrape_thread.start()

        last_report = t_start
        while not STOP.is_set():
            now = time.time()
            if t_end is not None and now >= t_end:
                break
            STOP.wait(min(5.0, (t_end - now) if t_end else 5.0))
            if time.time() - last_report >= 300:
                last_report = time.time()
                log(f"t+{last_report - t_start:.0f}s {stats.snapshot()}")
        if scrape_thread is not None:
            scrape_thread.join()  # finishes its last tick before t_end
        STOP.set()
        for t in threads:
            t.join(timeout=70)
        elapsed = time.time() - t_start
        s = stats.snapshot()
        log(f"ran {elapsed:.0f} s: {s}; "
            f"{s.get('puts', 0) / max(elapsed, 1):.0f} puts/s, {s.get('ranges', 0) / max(elapsed, 1):.0f} ranges/s")
        return 0
    finally:
        STOP.set()
        for w in watchers:
            if w.poll() is None:
                w.terminate()
        for w in watchers:
            try:
                w.wait(5)
            except subprocess.TimeoutExpired:
                w.kill()
        cluster.stop()
        if args.state_file:
            try:
                os.unlink(args.state_file)
            except FileNotFoundError:
                pass
        log("cluster stopped, temp dir removed")


if __name__ == "__main__":
    sys.exit(main())
