#!/usr/bin/env python3
"""A v1 JSON scheduler for tests/ha/it_reconcile_failover.sh: reconciliation across a failover.

Usage: sched_reconcile.py MASTER_HOST:PORT WORK_DIR STOP_CMD FAILOVER_CMD CONT_CMD

A PARTITION_AWARE framework launches one task ("long": runs until WORK_DIR/stop exists) and
waits for TASK_RUNNING. Then STOP_CMD (SIGSTOP the agent) and FAILOVER_CMD (a new leading
master); the framework re-subscribes with its ID and reconciles, in one call, "long" on its
agent, "nowhere" without an agent and "probe" on an agent no registry knows. Only "probe" may be
answered (TASK_UNKNOWN); its answer comes after any for the two before it in the same call, so
none came for them (Mesos: no answer while the agent has not re-registered). Then CONT_CMD: once
the agent is back, reconciliation says "long" is TASK_RUNNING and "nowhere" TASK_UNKNOWN. Then
WORK_DIR/stop: "long" finishes. Exit 0 when all of that held, 1 with the reasons otherwise.
"""
import http.client
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import v1stream  # noqa: E402


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    print("timed out waiting for " + what)
    return False


class Framework:
    def __init__(self, host, port, work):
        self.host, self.port, self.work = host, port, work
        self.fid = self.stream_id = self.agent = None
        self.subscriptions = 0
        self.launched = False
        self.done = False         # tearing down: errors after this do not count
        self.states = []          # "long"'s states from status updates, in order
        self.answers = []         # (task, state, message) of reconciliation answers, in order
        self.errors = []
        self.lock = threading.Lock()

    def call(self, body):
        body["framework_id"] = {"value": self.fid}
        try:
            status = v1stream.call(self.host, self.port, body, self.stream_id, 30)
        except (OSError, http.client.HTTPException) as e:
            return "%s failed: %s" % (body["type"], e)
        return None if status == 202 else "%s answered %d" % (body["type"], status)

    def on_offers(self, offers):
        for o in offers:
            ops = []
            if not self.launched:
                self.launched = True
                self.agent = o["agent_id"]["value"]
                cmd = "while [ ! -e %s/stop ]; do sleep 0.2; done" % self.work
                ops = [{"type": "LAUNCH", "launch": {"task_infos": [{
                    "name": "long", "task_id": {"value": "long"}, "agent_id": o["agent_id"],
                    "command": {"value": cmd},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}]}}]
            self.call({"type": "ACCEPT", "accept": {"offer_ids": [o["id"]], "operations": ops,
                                                    "filters": {"refuse_seconds": 3600}}})

    def on_update(self, st):
        tid = st["task_id"]["value"]
        with self.lock:
            if st.get("reason") == "REASON_RECONCILIATION":
                self.answers.append((tid, st["state"], st.get("message", "")))
            elif tid == "long":
                self.states.append(st["state"])
        if "uuid" in st:
            self.call({"type": "ACKNOWLEDGE",
                       "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"],
                                       "uuid": st["uuid"]}})

    def run(self):
        """Subscribes, and subscribes again with the same ID whenever the stream ends."""
        while not self.done:
            info = {"user": "root", "name": "ha-reconcile", "failover_timeout": 3600,
                    "capabilities": [{"type": "PARTITION_AWARE"}]}
            if self.fid is not None:
                info["id"] = {"value": self.fid}
            body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
            if self.fid is not None:
                body["framework_id"] = {"value": self.fid}
            try:
                r = v1stream.subscribe(self.host, self.port, body, 600)
                if r.status != 200:
                    print("SUBSCRIBE answered %d %r" % (r.status, r.read()[:200]), flush=True)
                    r.close()
                    time.sleep(0.5)
                    continue
                self.stream_id = r.getheader("Mesos-Stream-Id")
                for ev in v1stream.events(r):
                    if ev["type"] == "SUBSCRIBED":
                        fid = ev["subscribed"]["framework_id"]["value"]
                        if self.fid is not None and fid != self.fid:
                            self.errors.append("re-subscribed as %s, not %s" % (fid, self.fid))
                        self.fid = fid
                        self.subscriptions += 1
                    elif ev["type"] == "OFFERS":
                        self.on_offers(ev["offers"]["offers"])
                    elif ev["type"] == "UPDATE":
                        self.on_update(ev["update"]["status"])
            except (OSError, http.client.HTTPException, ValueError) as e:
                print("stream: %r (subscribing again)" % e, flush=True)
                time.sleep(0.5)  # the master went away: find it again

    def answer(self, tid):
        with self.lock:
            for t, state, msg in reversed(self.answers):
                if t == tid:
                    return state, msg
        return None

    def reconcile(self, tasks):
        err = self.call({"type": "RECONCILE", "reconcile": {"tasks": tasks}})
        if err is not None:
            print("reconcile: " + err)  # retried by the caller's loop
        return err is None


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    work, stop, failover, cont = sys.argv[2:6]
    f = Framework(host, int(port), work)
    threading.Thread(target=f.run, daemon=True).start()
    ok = wait_for(lambda: f.states and f.states[-1] == "TASK_RUNNING", 120, "long RUNNING")
    if ok:
        print("long RUNNING on %s; stopping the agent, failing the master over" % f.agent)
        ok = subprocess.call(stop, shell=True) == 0 and subprocess.call(failover, shell=True) == 0
    ok = ok and wait_for(lambda: f.subscriptions >= 2, 120, "the framework re-subscribed")
    tasks = [{"task_id": {"value": "long"}, "agent_id": {"value": f.agent}},
             {"task_id": {"value": "nowhere"}},
             {"task_id": {"value": "probe"}, "agent_id": {"value": "no-such-agent"}}]

    def probed():
        if f.answer("probe") is None:
            f.reconcile(tasks)
            return wait_for(lambda: f.answer("probe") is not None, 5, "the probe's answer")
        return True
    ok = ok and wait_for(probed, 120, "an answer for the probe")
    if ok:
        early = list(f.answers)
        print("before the agent re-registered: %s" % early)
        if f.answer("probe")[0] != "TASK_UNKNOWN":
            f.errors.append("probe: %s, not TASK_UNKNOWN" % (f.answer("probe"),))
        for t in ("long", "nowhere"):
            if f.answer(t) is not None:
                f.errors.append("%s answered %s before its agent re-registered" %
                                (t, f.answer(t)))
        print("continuing the agent")
        ok = subprocess.call(cont, shell=True) == 0

    def truthful():
        if f.answer("long") != ("TASK_RUNNING", "Reconciliation: Latest task state") or \
                f.answer("nowhere") is None:
            f.reconcile(tasks[:2])
            return False
        return True
    ok = ok and wait_for(truthful, 180, "long reconciled TASK_RUNNING once the agent was back")
    if ok:
        print("after the agent re-registered: long %s, nowhere %s" %
              (f.answer("long"), f.answer("nowhere")))
        if f.answer("nowhere")[0] != "TASK_UNKNOWN":
            f.errors.append("nowhere: %s, not TASK_UNKNOWN" % (f.answer("nowhere"),))
    open(os.path.join(work, "stop"), "w").close()
    ok = ok and wait_for(lambda: f.states[-1] == "TASK_FINISHED", 120, "long FINISHED")
    print("long's updates: %s" % f.states)
    f.done = True
    f.call({"type": "TEARDOWN"})
    for e in f.errors[:20]:
        print("error: " + e)
    return 0 if ok and not f.errors else 1


if __name__ == "__main__":
    sys.exit(main())
