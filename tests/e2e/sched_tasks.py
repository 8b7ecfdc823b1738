#!/usr/bin/env python3
"""A v1 JSON scheduler for tests/e2e/it_tasks.sh: N tasks on the real agent, every update checked.

Usage: sched_tasks.py MASTER_PORTS N SIGNAL_DIR [SIGNAL [MASTERS_MAP]]   (MASTER_PORTS: one port, or p1,p2,p3 of
an HA quorum: it talks to whichever leads and re-subscribes with its framework ID when the stream
ends; SIGNAL: "running" (default) or "launching", see below)

Launches N tasks (`echo <i> >>SIGNAL_DIR/marks/<i>; sleep S; echo out-<i>`), acknowledges every
update, and checks that each task's updates come in order (STARTING, RUNNING, FINISHED; a repeated
uuid is a redelivery and harmless) and that each task ran exactly once (its marker file holds one
line). When all N are RUNNING it writes the port of the master it is subscribed to into SIGNAL_DIR/running and waits for SIGNAL_DIR/restarted
(the shell kills and restarts the agent, or kills the leading master, meanwhile); with SIGNAL
"launching" the tasks go out in two waves (the first N/2 with a short sleep) once some of the
first wave have FINISHED; the moment the second wave's ACCEPT is answered 202 the scheduler
itself SIGKILLs the master it is subscribed to (its PID from MASTERS_MAP, lines "port pid"), so
the failover always falls while those tasks are being launched, then SIGNAL_DIR/running is
created. Then it waits for every task to finish, reads
one task's stdout through the agent's /files/read (Mesos's virtual sandbox path) and tears down.
Exit 0 when everything held, 1 with the reasons otherwise.
"""
import http.client
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import v1stream  # noqa: E402

ORDER = {"TASK_STAGING": 0, "TASK_STARTING": 1, "TASK_RUNNING": 2, "TASK_FINISHED": 3}
SLEEP = 6  # seconds each task runs: long enough for the agent restart in the middle
SHORT = 1  # seconds a first-wave task runs in "launching" mode


class Sched:
    def __init__(self, ports, n, sigdir, waves=False):
        self.ports, self.n, self.sigdir = ports, n, sigdir
        self.marks = os.path.join(sigdir, "marks")
        os.makedirs(self.marks, exist_ok=True)
        # "launching" mode: the first wave (n // 2 short tasks) goes out at once, the second
        # only when release() is called; wave2_sent is set once its ACCEPT is on its way.
        self.limit = n // 2 if waves else n
        self.wave2_sent = False
        self.pids = {}         # master port -> PID, for the "launching" kill
        self.killed = None     # (port, RUNNING, FINISHED) at the "launching" kill
        self.ignored = 0       # error answers to calls that raced our own TEARDOWN
        self.redelivered = 0   # updates seen again (same uuid): resent after a restart/failover
        self.port = ports[0]
        self.subscriptions = 0
        self.done = False      # tearing down: no more subscriptions
        self.fid = self.stream_id = None
        self.launched = 0
        self.states = {}       # task -> latest state
        self.seen = {}         # task -> uuids acknowledged
        self.errors = []
        self.agent = None      # (host, port) of the agent the tasks run on
        self.lock = threading.Lock()

    def call(self, body):
        try:
            status = v1stream.call("127.0.0.1", self.port, body, self.stream_id, 10)
        except (OSError, http.client.HTTPException):
            return None  # the master went away: the next leader gets the redelivery
        if status == 202:
            return 202
        if self.done and status == 403:
            # Answered after we chose to tear down: a call in flight (e.g. the ACCEPT of an
            # offer that arrived just before) raced our own TEARDOWN, the framework is gone.
            self.ignored += 1
        elif len(self.ports) == 1:
            self.errors.append("%s answered %d" % (body["type"], status))
        return status

    def release(self):
        """Launches the second wave with the next offers."""
        self.limit = self.n
        self.call({"type": "REVIVE", "framework_id": {"value": self.fid}})

    def on_offers(self, offers):
        if self.done:
            return  # tearing down: the TEARDOWN recovers every offer
        for o in offers:
            self.agent = (o["hostname"], o.get("url", {}).get("address", {}).get("port"))
            cpus = mem = 0.0
            for r in o["resources"]:
                if r["name"] == "cpus":
                    cpus += r["scalar"]["value"]
                elif r["name"] == "mem":
                    mem += r["scalar"]["value"]
            tasks = []
            limit, first = self.limit, self.launched < self.n // 2
            while self.launched < limit and cpus >= 0.02 and mem >= 16:
                tid = "t%d" % self.launched
                self.launched += 1
                cpus -= 0.02
                mem -= 16
                with self.lock:
                    self.states[tid] = "TASK_STAGING"
                    self.seen[tid] = set()
                tasks.append({"name": tid, "task_id": {"value": tid}, "agent_id": o["agent_id"],
                              "command": {"value": "echo %s >>%s/%s; sleep %d; echo out-%s" % (
                                  tid, self.marks, tid,
                                  SHORT if first and limit < self.n else SLEEP, tid)},
                              "resources": [
                                  {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.02}},
                                  {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}]})
            ops = [{"type": "LAUNCH", "launch": {"task_infos": tasks}}] if tasks else []
            status = self.call({"type": "ACCEPT", "framework_id": {"value": self.fid},
                                "accept": {"offer_ids": [o["id"]], "operations": ops,
                                           "filters": {"refuse_seconds": 0 if tasks else
                                                       (3600 if self.launched == self.n else 1)}}})
            if tasks and self.launched == self.n and limit == self.n:
                if status == 202 and self.pids and self.killed is None:
                    self.kill_master()
                self.wave2_sent = True

    def kill_master(self):
        """SIGKILLs the master we are subscribed to, right after it accepted the second wave."""
        port = self.port
        os.kill(self.pids[port], signal.SIGKILL)
        self.killed = (port, self.count("TASK_RUNNING"), self.count("TASK_FINISHED"))

    def on_update(self, st):
        tid = st["task_id"]["value"]
        state = st["state"]
        with self.lock:
            if tid not in self.states:
                self.errors.append("update for unknown task %s" % tid)
                return
            if "uuid" not in st:
                return  # a reconciliation answer
            if st["uuid"] in self.seen[tid]:
                self.redelivered += 1  # e.g. across the agent restart: harmless
            elif state not in ORDER or ORDER[state] < ORDER[self.states[tid]]:
                self.errors.append("%s: %s after %s (message %r)" % (
                    tid, state, self.states[tid], st.get("message")))
            else:
                self.states[tid] = state
            self.seen[tid].add(st["uuid"])
        self.call({"type": "ACKNOWLEDGE", "framework_id": {"value": self.fid},
                   "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"],
                                   "uuid": st["uuid"]}})

    def stream(self):
        info = {"user": "root", "name": "e2e-tasks", "failover_timeout": 3600}
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if self.fid:
            info["id"] = {"value": self.fid}
            body["framework_id"] = {"value": self.fid}
        r = v1stream.subscribe("127.0.0.1", self.port, body, 60)
        if r.status != 200:
            if len(self.ports) == 1 and not self.done:
                self.errors.append("SUBSCRIBE answered %d" % r.status)
            return
        self.stream_id = r.getheader("Mesos-Stream-Id")
        for ev in v1stream.events(r):
            if ev["type"] == "SUBSCRIBED":
                fid = ev["subscribed"]["framework_id"]["value"]
                if self.fid is not None and fid != self.fid:
                    self.errors.append("re-subscribed as %s, was %s" % (fid, self.fid))
                self.fid = fid
                self.subscriptions += 1
                if self.subscriptions > 1:
                    self.call({"type": "RECONCILE", "framework_id": {"value": self.fid},
                               "reconcile": {}})
            elif ev["type"] == "OFFERS":
                self.on_offers(ev["offers"]["offers"])
            elif ev["type"] == "UPDATE":
                self.on_update(ev["update"]["status"])

    def leader(self):
        for p in self.ports:
            try:
                c = http.client.HTTPConnection("127.0.0.1", p, timeout=2)
                c.request("GET", "/metrics/snapshot")
                m = json.loads(c.getresponse().read())
                c.close()
                if m.get("master/elected") == 1:
                    return p
            except (OSError, http.client.HTTPException, ValueError):
                pass
        return None

    def run(self):
        """Subscribes to the leader, and again to each new one, until the process ends."""
        while not self.done:
            p = self.leader() if len(self.ports) > 1 else self.port
            if p is not None:
                self.port = p
                try:
                    self.stream()
                except (OSError, http.client.HTTPException, ValueError):
                    pass
            time.sleep(0.2)

    def count(self, state):
        with self.lock:
            return sum(1 for s in self.states.values() if s == state)

    def check_marks(self):
        """Every task ran exactly once: its marker file holds one line."""
        for i in range(self.n):
            tid = "t%d" % i
            try:
                lines = open(os.path.join(self.marks, tid)).read().splitlines()
            except OSError:
                lines = []
            if lines != [tid]:
                self.errors.append("%s ran %d times (marker %r)" % (tid, len(lines), lines))


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    print("timed out waiting for " + what)
    return False


def main():
    ports = [int(p) for p in sys.argv[1].split(",")]
    n, sigdir = int(sys.argv[2]), sys.argv[3]
    waves = len(sys.argv) > 4 and sys.argv[4] == "launching"
    s = Sched(ports, n, sigdir, waves)
    if waves and len(sys.argv) > 5:
        for line in open(sys.argv[5]):
            port, pid = line.split()
            s.pids[int(port)] = int(pid)
    threading.Thread(target=s.run, daemon=True).start()
    if waves:
        ok = wait_for(lambda: s.count("TASK_FINISHED") >= 1, 120, "a first-wave task FINISHED")
        s.release()
        ok = ok and wait_for(lambda: s.wave2_sent, 60, "the second wave's ACCEPT")
        if s.killed is not None:
            port, running, finished = s.killed
            print("second wave accepted: master on port %d SIGKILLed with %d RUNNING, "
                  "%d FINISHED of %d" % (port, running, finished, n))
        else:
            running, finished = s.count("TASK_RUNNING"), s.count("TASK_FINISHED")
            print("second wave sent: %d RUNNING, %d FINISHED of %d" % (running, finished, n))
        if ok and running + finished == n:
            s.errors.append("every task was RUNNING or FINISHED before the signal")
    else:
        ok = wait_for(lambda: s.count("TASK_RUNNING") == n, 120, "%d tasks RUNNING" % n)
        print("running: %d of %d" % (s.count("TASK_RUNNING"), n))
    port = s.killed[0] if s.killed is not None else s.port
    print("subscribed to the master on port %d" % port)
    with open(os.path.join(sigdir, "running.tmp"), "w") as f:
        f.write("%d\n" % port)  # the master the shell kills (or checks dead) in the HA test
    os.rename(os.path.join(sigdir, "running.tmp"), os.path.join(sigdir, "running"))
    ok = ok and wait_for(lambda: os.path.exists(os.path.join(sigdir, "restarted")), 60,
                         "the agent restart")
    ok = ok and wait_for(lambda: s.count("TASK_FINISHED") == n, 180, "%d tasks FINISHED" % n)
    print("finished: %d of %d, subscriptions %d, updates redelivered %d" % (
        s.count("TASK_FINISHED"), n, s.subscriptions, s.redelivered))
    if ok and s.agent is not None:
        host, aport = s.agent[0], int(open(os.path.join(sigdir, "agent_port")).read())
        c = http.client.HTTPConnection(host, aport, timeout=10)
        c.request("GET", "/files/read?path=/frameworks/%s/executors/t7/runs/latest/stdout"
                  "&offset=0" % s.fid)
        r = c.getresponse()
        body = r.read().decode()
        if r.status != 200 or json.loads(body).get("data") != "out-t7\n":
            s.errors.append("/files/read of t7's stdout: %d %s" % (r.status, body[:200]))
        else:
            print("t7 stdout through /files/read: %r" % json.loads(body)["data"])
    if ok:
        s.check_marks()
    if ok and len(ports) > 1 and s.subscriptions < 2:
        s.errors.append("the leader was killed but the scheduler never subscribed again")
    s.done = True
    s.call({"type": "TEARDOWN", "framework_id": {"value": s.fid}})
    if s.ignored:
        print("ignored %d answers to calls that raced the TEARDOWN" % s.ignored)
    for e in s.errors[:20]:
        print("error: " + e)
    return 0 if ok and not s.errors else 1


if __name__ == "__main__":
    sys.exit(main())
