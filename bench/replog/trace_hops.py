#!/usr/bin/env python3
"""bench/replog/trace_hops.py: per-hop latency of appends from KEEL_REPLOG_TRACE files.

Usage: trace_hops.py [--after=NS] PREFIX
  PREFIX: the KEEL_REPLOG_TRACE value of the replicas (files PREFIX.<node>.<loop|store>.<pid>).
  --after: ignore appends whose `api` is before this CLOCK_MONOTONIC time (a warm-up).

Meant for one append in flight (keel-log bench --inflight=1): append k is the k-th `api` on the
writer's loop (the node whose loop traced `api`) and the k-th `done` after it. Every hop is
found as the first matching event after the previous one (docs/replog.md, "Step 6" and "Step 7").
Prints median, p10 and p90 in microseconds per hop, over the appends where the hop was found.
"""
import bisect
import glob
import os
import sys

WRITE_REQ, WRITE_RESP, LEARNED = 3, 4, 5  # msg.h
EV_APPEND = 4  # core.h


def load(prefix):
    """Returns {(node, thread): {event: ([times], [(a, b, c)])}}."""
    out = {}
    for path in glob.glob(glob.escape(prefix) + ".*"):
        parts = os.path.basename(path)[len(os.path.basename(prefix)) + 1:].split(".")
        if len(parts) != 3:
            continue
        key = (int(parts[0]), parts[1])
        evs = out.setdefault(key, {})
        with open(path) as f:
            for line in f:
                fs = line.split()
                if len(fs) != 5:
                    continue
                t, ev = int(fs[0]), fs[1]
                lst = evs.setdefault(ev, ([], []))
                lst[0].append(t)
                lst[1].append((int(fs[2]), int(fs[3]), int(fs[4])))
    for evs in out.values():
        for ev, (ts, args) in list(evs.items()):
            order = sorted(range(len(ts)), key=ts.__getitem__)
            evs[ev] = ([ts[i] for i in order], [args[i] for i in order])
    return out


class Trace:
    def __init__(self, prefix):
        self.ev = load(prefix)
        if not self.ev:
            sys.exit("trace_hops: no trace files %s.*" % prefix)

    def first(self, node, thread, ev, after, pred=None, before=None):
        """(time, args) of the first `ev` at or after `after` (and before `before`) matching pred."""
        ts, args = self.ev.get((node, thread), {}).get(ev, ([], []))
        i = bisect.bisect_left(ts, after)
        while i < len(ts) and (before is None or ts[i] < before):
            if pred is None or pred(args[i]):
                return ts[i], args[i]
            i += 1
        return None

    def last(self, node, thread, ev, before, after=None, pred=None):
        ts, args = self.ev.get((node, thread), {}).get(ev, ([], []))
        i = bisect.bisect_left(ts, before) - 1
        while i >= 0 and (after is None or ts[i] >= after):
            if pred is None or pred(args[i]):
                return ts[i], args[i]
            i -= 1
        return None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    after = 0
    args = sys.argv[1:]
    if args and args[0].startswith("--after="):
        after = int(args.pop(0).split("=", 1)[1])
    if len(args) != 1:
        sys.exit(__doc__)
    tr = Trace(args[0])
    writers = [n for (n, th), evs in tr.ev.items()
               if th == "loop" and any(x[0] == EV_APPEND for x in evs.get("api", ([], []))[1])]
    if len(writers) != 1:
        sys.exit("trace_hops: need exactly one node with `api` events, found %s" % writers)
    w = writers[0]
    nodes = sorted({n for (n, _) in tr.ev})
    apis = [t for t, x in zip(*tr.ev[(w, "loop")]["api"]) if t >= after and x[0] == EV_APPEND]
    hops = {}  # name -> [us]
    order = []

    def add(name, t0, t1):
        if t0 is None or t1 is None:
            return
        if name not in hops:
            hops[name] = []
            order.append(name)
        hops[name].append((t1 - t0) / 1e3)

    def T(x):
        return x[0] if x else None

    for k, a in enumerate(apis):
        nxt = apis[k + 1] if k + 1 < len(apis) else None
        done = tr.first(w, "loop", "done", a, before=nxt)
        if done is None:
            continue
        pos = done[1][1]
        out = tr.first(w, "loop", "out", a, lambda x: x[0] == WRITE_REQ and x[1] == pos)
        add("writer: api -> WRITE out", a, T(out))
        for n in nodes:
            if out is None:
                break
            who = "writer's own replica" if n == w else "follower %d" % n
            if n != w:
                post = tr.first(w, "loop", "post", out[0], lambda x, n=n: x[0] == n)
                add("writer: WRITE out -> POST to %d" % n, out[0], T(post))
                recv = tr.first(n, "loop", "recv", T(post) or out[0])
                add("%s: writer's POST -> recv (wire + wake-up)" % who, T(post), T(recv))
            inn = tr.first(n, "loop", "in", out[0], lambda x: x[0] == WRITE_REQ and x[1] == pos)
            if inn is None:
                continue
            if n != w:
                add("%s: recv -> WRITE stepped" % who, T(recv), inn[0])
            else:
                add("%s: WRITE out -> stepped" % who, out[0], inn[0])
            sub = tr.first(n, "loop", "submit", inn[0])
            if sub is None:
                continue
            seq = sub[1][0]
            # `submit` is traced after the thread was signalled, which may run first: the
            # wake-up is measured from the step.
            take = tr.first(n, "store", "st_take", inn[0], lambda x: x[0] <= seq <= x[1])
            if take is None:
                continue
            add("%s: stepped -> store takes it (submit, loop -> thread wake-up)" % who, inn[0],
                take[0])
            logged = tr.first(n, "store", "st_logged", take[0])
            sdone = tr.first(n, "store", "st_done", take[0])
            add("%s: take -> logged (puts + log write)" % who, take[0], T(logged))
            add("%s: logged -> st_done (fdatasync)" % who, T(logged), T(sdone))
            if sdone is None:
                continue
            dur = tr.first(n, "loop", "durable", sdone[0], lambda x: x[0] >= seq)
            add("%s: st_done -> loop durable (thread -> loop wake-up)" % who, sdone[0], T(dur))
            add("%s: api -> durable" % who, a, T(dur))
            if dur is None or n == w:
                continue
            rpost = tr.first(n, "loop", "post", dur[0], lambda x: x[0] == w)
            add("%s: durable -> reply POST" % who, dur[0], T(rpost))
            rin = tr.first(w, "loop", "in", T(rpost) or dur[0],
                           lambda x, n=n: x[0] == WRITE_RESP and x[1] == pos and x[2] == n)
            rrecv = tr.last(w, "loop", "recv", T(rin) or 0, after=T(rpost)) if rin else None
            add("%s: reply POST -> writer recv (wire + wake-up)" % who, T(rpost), T(rrecv))
            add("%s: reply POST -> stepped at the writer" % who, T(rpost), T(rin))
        add("writer: api -> done", a, done[0])
        add("client hop: done -> next api (response, client, request)", done[0], nxt)
    if not hops:
        sys.exit("trace_hops: no append found")
    print("appends traced: %d (writer: node %d)" % (len(apis), w))
    print("%-68s %8s %8s %8s %6s" % ("hop (us)", "p50", "p10", "p90", "n"))
    for name in order:
        xs = hops[name]
        print("%-68s %8.1f %8.1f %8.1f %6d" % (name, pct(xs, 0.5), pct(xs, 0.1), pct(xs, 0.9),
                                               len(xs)))


if __name__ == "__main__":
    main()
