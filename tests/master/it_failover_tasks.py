#!/usr/bin/env python3
# Integration: failover with tasks: 3 masters on a 3-server ZooKeeper, emulated agents, 3 schedulers running tasks; SIGKILL the leader mid-run.
#
# Usage: it_failover_tasks.py BUILD_DIR [AGENTS] [TASKS_PER_FRAMEWORK]
# Each scheduler (a thread speaking the v1 scheduler API in JSON) launches its tasks, acknowledges
# every update except the RUNNING updates of its even-numbered tasks (held back), then the leader
# is SIGKILLed. The schedulers find the new leader, re-subscribe with their framework IDs,
# reconcile (implicitly) and acknowledge everything. Checked: every framework keeps its ID; each
# task is launched once (the emulator's run_task count) and ends TASK_FINISHED, as the emulator
# (the truth) says; the held-back RUNNING updates are delivered again after the failover; no
# update names an unknown task.
import base64
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import v1stream  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
AGENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
PER_FW = int(sys.argv[3]) if len(sys.argv) > 3 else 40
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLUSTER = os.path.join(ROOT, "scripts", "cluster.sh")
WORK = tempfile.mkdtemp(prefix="it_failover_tasks.", dir=BUILD)
ENV = dict(os.environ, KEEL_BUILD=BUILD, KEEL_SESSION_TIMEOUT="2secs")
emu = None
EMU_PORT = None


def log(msg):
    print("it_failover_tasks: " + msg, flush=True)


def cluster(*args, check=True):
    r = subprocess.run([CLUSTER] + list(args), env=ENV, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("cluster.sh %s: %s%s" % (args, r.stdout, r.stderr))
    return r.stdout.strip()


def cleanup():
    if emu is not None:
        emu.terminate()
        emu.wait()
    cluster("down", WORK, check=False)
    subprocess.run(["rm", "-rf", WORK])


def fail(msg):
    log("FAIL: " + msg)
    if EMU_PORT is not None:
        try:
            log("emulator: %s" % emu_status())
        except (OSError, ValueError):
            pass
    for i in (1, 2, 3):
        path = os.path.join(WORK, "masters", "m%d" % i, "log")
        if os.path.exists(path):
            print("--- %s (tail)" % path)
            print("".join(open(path).readlines()[-20:]))
    cleanup()
    os._exit(1)


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while not cond():
        if time.time() > end:
            fail("timed out waiting for " + what)
        time.sleep(0.1)


def hostport(url):
    m = re.match(r"http://([^:/]+):(\d+)", url)
    return m.group(1), int(m.group(2))


def leader_url():
    """The leading master's URL, or None."""
    r = subprocess.run([CLUSTER, "leader", WORK], env=ENV, capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip().isdigit():
        return None
    masters = cluster("masters", WORK).split()
    return masters[int(r.stdout.strip()) - 1]


def emu_status():
    c = http.client.HTTPConnection("127.0.0.1", EMU_PORT, timeout=5)
    c.request("GET", "/emu/status")
    return json.loads(c.getresponse().read())


class Scheduler(threading.Thread):
    """One framework: launches PER_FW tasks, holds back some acks until the failover."""

    def __init__(self, index):
        super().__init__(daemon=True)
        self.index = index
        self.fid = None
        self.ids_seen = set()    # framework IDs SUBSCRIBED carried
        self.states = {}         # task ID -> latest state
        self.launched = 0
        self.held = {}           # (task, uuid) held back -> deliveries after the failover
        self.hold = True         # hold back RUNNING acks of even tasks
        self.subscriptions = 0
        self.unknown = []        # updates for tasks it never launched
        self.reconciled = set()  # tasks answered by the RECONCILE after the failover
        self.error = None
        self.lock = threading.Lock()
        self.stream_id = None
        self.url = None

    def call(self, body):
        host, port = hostport(self.url)
        c = http.client.HTTPConnection(host, port, timeout=10)
        c.request("POST", "/api/v1/scheduler", json.dumps(body),
                  {"Content-Type": "application/json", "Accept": "application/json",
                   "Mesos-Stream-Id": self.stream_id or ""})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    def ack(self, st):
        self.call({"type": "ACKNOWLEDGE", "framework_id": {"value": self.fid},
                   "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"],
                                   "uuid": st["uuid"]}})

    def on_offers(self, offers):
        for o in offers:
            if self.launched >= PER_FW:
                self.call({"type": "DECLINE", "framework_id": {"value": self.fid},
                           "decline": {"offer_ids": [o["id"]],
                                       "filters": {"refuse_seconds": 3600}}})
                continue
            tid = "f%d-t%d" % (self.index, self.launched)
            self.launched += 1
            with self.lock:
                self.states[tid] = "LAUNCHED"
            task = {"name": tid, "task_id": {"value": tid}, "agent_id": o["agent_id"],
                    "command": {"value": "true"},
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}},
                                  {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}]}
            st = self.call({"type": "ACCEPT", "framework_id": {"value": self.fid},
                            "accept": {"offer_ids": [o["id"]],
                                       "operations": [{"type": "LAUNCH",
                                                       "launch": {"task_infos": [task]}}],
                                       "filters": {"refuse_seconds": 3600}}})
            if st != 202:
                self.error = "ACCEPT answered %d" % st

    def on_update(self, st):
        tid = st["task_id"]["value"]
        with self.lock:
            if tid not in self.states:
                self.unknown.append(tid)
                return
            self.states[tid] = st["state"]
        if "uuid" not in st:
            with self.lock:
                self.reconciled.add(tid)
            return  # reconciliation answers carry none
        key = (tid, st["uuid"])
        with self.lock:
            if key in self.held:
                if self.hold:
                    return  # resent by the old leader: still held back
                self.held[key] += 1  # delivered again after the failover
            elif (self.hold and st["state"] == "TASK_RUNNING" and
                  int(tid.split("-t")[1]) % 2 == 0):
                self.held[key] = 0
                return
        self.ack(st)

    def stream(self):
        """One subscription: runs until the stream ends."""
        host, port = hostport(self.url)
        info = {"user": "it", "name": "fw%d" % self.index, "failover_timeout": 3600}
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if self.fid:
            info["id"] = {"value": self.fid}
            body["framework_id"] = {"value": self.fid}
        c = http.client.HTTPConnection(host, port, timeout=30)
        c.request("POST", "/api/v1/scheduler", json.dumps(body),
                  {"Content-Type": "application/json", "Accept": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            r.read()
            return
        self.stream_id = r.getheader("Mesos-Stream-Id")
        for ev in v1stream.events(r):
            if ev["type"] == "SUBSCRIBED":
                self.fid = ev["subscribed"]["framework_id"]["value"]
                self.ids_seen.add(self.fid)
                self.subscriptions += 1
                if self.subscriptions > 1:
                    self.call({"type": "RECONCILE", "framework_id": {"value": self.fid},
                               "reconcile": {}})
            elif ev["type"] == "OFFERS":
                self.on_offers(ev["offers"]["offers"])
            elif ev["type"] == "UPDATE":
                self.on_update(ev["update"]["status"])

    def run(self):
        while True:
            self.url = leader_url()
            if self.url is None:
                time.sleep(0.2)
                continue
            try:
                self.stream()
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.2)


try:
    out = cluster("up", WORK, "zk", "3")
except RuntimeError as e:
    print(e)
    fail("cluster did not come up")
URL = cluster("url", WORK)
log("cluster up: " + URL)
emu_log = open(os.path.join(WORK, "emu.out"), "w")
emu = subprocess.Popen([os.path.join(BUILD, "tests", "tools", "keel-emu-agents"),
                        "--master=" + URL, "--agents=%d" % AGENTS, "--task_ms=8secs",
                        "--status_retry=1secs"], stdout=emu_log, stderr=subprocess.STDOUT)


def emu_port():
    global EMU_PORT
    m = re.search(r"listening on [0-9.]+:(\d+)", open(os.path.join(WORK, "emu.out")).read())
    if m:
        EMU_PORT = int(m.group(1))
    return EMU_PORT is not None


wait_for(emu_port, 10, "the emulator")
wait_for(lambda: emu_status().get("wave_done") and emu_status().get("current") == AGENTS, 120,
         "every agent to register")
log("%d agents registered" % AGENTS)
scheds = [Scheduler(i) for i in range(3)]
for s in scheds:
    s.start()
total = 3 * PER_FW


def all_running():
    return all(s.launched == PER_FW and all(v == "TASK_RUNNING" for v in s.states.values())
               for s in scheds)


wait_for(all_running, 60, "every task RUNNING")
held_before = sum(len(s.held) for s in scheds)
ids_before = [s.fid for s in scheds]
old = cluster("leader", WORK)
log("%d tasks RUNNING, %d RUNNING updates held back; SIGKILL master %s" %
    (total, held_before, old))
cluster("kill", WORK, old, "KILL")
for s in scheds:
    with s.lock:
        s.hold = False
wait_for(lambda: all(s.subscriptions >= 2 for s in scheds), 60, "re-subscription")
log("frameworks re-subscribed to master %s" % cluster("leader", WORK))
wait_for(lambda: all(all(v == "TASK_FINISHED" for v in s.states.values()) for s in scheds), 90,
         "every task TASK_FINISHED")
# The emulator forgets a task once it ended and every update of it was acknowledged.
wait_for(lambda: emu_status()["tasks"]["TASK_FINISHED"] == total and
         emu_status()["tasks"]["live"] == 0, 30,
         "the emulator to agree (every update acknowledged)")
tasks = emu_status()["tasks"]
errors = []
for s in scheds:
    if s.error:
        errors.append("fw%d: %s" % (s.index, s.error))
    if s.ids_seen != {s.fid} or s.fid != ids_before[s.index]:
        errors.append("fw%d: framework IDs %s" % (s.index, s.ids_seen))
    if len(s.states) != PER_FW:
        errors.append("fw%d: %d tasks" % (s.index, len(s.states)))
    if s.unknown:
        errors.append("fw%d: updates for unknown tasks %s" % (s.index, s.unknown[:5]))
    if len(s.reconciled) != PER_FW:
        errors.append("fw%d: reconciliation answered %d tasks" % (s.index, len(s.reconciled)))
    missing = [k for k, n in s.held.items() if n < 1]
    if missing:
        errors.append("fw%d: held-back updates not redelivered: %s" % (s.index, missing[:5]))
if tasks["run_task"] != total:
    errors.append("emulator ran %d tasks, %d launched" % (tasks["run_task"], total))
if held_before == 0:
    errors.append("no update was held back")
if errors:
    fail("; ".join(errors))
log("PASS: %d tasks on %d agents, 3 frameworks kept their IDs, every task TASK_FINISHED once, "
    "%d held-back updates redelivered after the failover, reconciled" % (total, AGENTS, held_before))
cleanup()
