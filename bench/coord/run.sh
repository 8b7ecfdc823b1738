#!/usr/bin/env bash
# bench/coord: leader failover time (SIGKILL of the leader -> new leader seen by every detector) for ZooKeeper and etcd at one session timeout.
#
# Environment: ROUNDS (default 5), TIMEOUT_MS (default 3000; etcd grants whole seconds, at least 2).
# Each round: two contender processes and two detector processes (coord-helper) on a fresh
# path/prefix; the leader is SIGKILLed; the time until both detectors name the new leader is the
# failover. "timeout share" is the session timeout divided by the failover: the part that is
# waiting for the server to expire the dead leader's session or lease (the rest is the server's
# expiry granularity, the successor's election and the detectors' watches).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
rounds=${ROUNDS:-5}
timeout_ms=${TIMEOUT_MS:-3000}

bash scripts/deps.sh
[ -f build/release/build.ninja ] || meson setup build/release --buildtype=release >/dev/null
ninja -C build/release coord/coord-helper >/dev/null

work=$(mktemp -d "$top/build/bench-coord.XXXXXX")
export KEEL_SERVICE_OWNER=$$
cleanup() {
	bash scripts/services/zookeeper.sh stop "$work/zk" >/dev/null 2>&1 || true
	bash scripts/services/etcd.sh stop "$work/etcd" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

zk=$(bash scripts/services/zookeeper.sh start "$work/zk" 1)
etcd=$(bash scripts/services/etcd.sh start "$work/etcd" 1)
echo "bench/coord: ZooKeeper at $zk (tick 200 ms), etcd at $etcd; timeout ${timeout_ms} ms, $rounds rounds"

python3 - "$top/build/release/coord/coord-helper" "$zk" "$etcd" "$timeout_ms" "$rounds" "$work" <<'EOF'
import os, select, signal, statistics, subprocess, sys, time

helper, zk, etcd, timeout_ms, rounds, work = sys.argv[1:7]
timeout_ms, rounds = int(timeout_ms), int(rounds)

class Helper:
    """One coord-helper; its output lines as (monotonic ns, kind, rest)."""
    def __init__(self, name, url, *flags):
        self.name, self.events = name, []
        self.p = subprocess.Popen([helper, "--url=" + url, "--session_timeout=%dms" % timeout_ms,
                                   "--log_level=error", *flags],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(os.path.join(work, name + ".log"), "a"))
        self.buf = b""
    def pump(self):
        while select.select([self.p.stdout], [], [], 0)[0]:
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                return
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                t, kind, *rest = line.decode(errors="replace").split(" ", 2) + [""]
                self.events.append((int(t), kind, rest[0] if rest else ""))
    def cmd(self, c):
        try:
            self.p.stdin.write((c + "\n").encode()); self.p.stdin.flush()
        except BrokenPipeError:
            pass
    def last(self, kind):
        for e in reversed(self.events):
            if e[1] == kind:
                return e
        return None
    def close(self):
        if self.p.poll() is None:
            self.cmd("close")
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill(); self.p.wait()

def wait(helpers, cond, secs, what):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for h in helpers:
            h.pump()
        if cond():
            return
        time.sleep(0.005)
    raise SystemExit("bench/coord: timed out waiting for " + what)

def round_once(backend, hosts, i):
    url = "%s://%s/bench-coord/r%d" % (backend, hosts, i)
    dets = [Helper("%s-d%d-%d" % (backend, k, i), url, "--detect") for k in (1, 2)]
    a = Helper("%s-a-%d" % (backend, i), url, "--contend", "--master_info=a@127.0.0.1:5051")
    allh = dets + [a]
    wait(allh, lambda: a.last("elected") is not None, 30, "the first leader")
    b = Helper("%s-b-%d" % (backend, i), url, "--contend", "--master_info=b@127.0.0.1:5052")
    allh.append(b)
    # b's candidacy is in place once its requests are answered (create, list/watch, ...).
    need = 3 if backend == "zk" else 4
    def placed():
        s = b.last("stats")
        return s is not None and int(s[2].split()[3]) >= need
    for _ in range(500):
        b.events = [e for e in b.events if e[1] != "stats"]
        b.cmd("stats")
        wait(allh, lambda: b.last("stats") is not None, 10, "stats")
        if placed():
            break
        time.sleep(0.02)
    epoch_a = int(a.last("elected")[2].split()[0])
    t_kill = time.monotonic_ns()
    a.p.kill(); a.p.wait()
    def seen():
        ls = [d.last("leader") for d in dets]
        return all(l is not None and int(l[2].split()[0]) > epoch_a for l in ls)
    wait(allh, seen, 10 + 4 * timeout_ms / 1000, "the new leader")
    t_seen = max(d.last("leader")[0] for d in dets)
    t_elected = b.last("elected")[0]
    for h in allh:
        h.close()
    return (t_seen - t_kill) / 1e6, (t_elected - t_kill) / 1e6, (t_seen - t_elected) / 1e6

print("%-10s %8s %24s %14s %14s" % ("backend", "timeout", "failover median (range)",
                                      "timeout share", "elected->seen"))
for backend, hosts, label in (("zk", zk, "zookeeper"), ("etcd", etcd, "etcd")):
    res = [round_once(backend, hosts, i) for i in range(rounds)]
    fo = [r[0] for r in res]
    med = statistics.median(fo)
    print("%-10s %6d ms %10.0f ms (%.0f..%.0f) %13.1f%% %11.1f ms" % (
        label, timeout_ms, med, min(fo), max(fo), 100.0 * timeout_ms / med,
        statistics.median(r[2] for r in res)))
EOF
