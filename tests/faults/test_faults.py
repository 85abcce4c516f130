#!/usr/bin/env python3
"""Fault-injection tests: real processes on 127.0.0.1, real faults (Python stdlib only).

    test_faults.py --bin target/release/monitoring-sidecar --app faults_app [--only NAME] [--keep]

Each test fails if an acknowledged event is lost, a count is off, a deadline is missed or a
process crashes. Each prints "ok - name" or "not ok - name" (with the reason), and "# " lines with
what it measured; the last line is "N passed, M failed". SOAK=1 runs the long variants.
The agent helpers (`Agent`, `stored`) are those of tests/sidecar/test_sidecar.py.
"""

import argparse
import glob
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "sidecar"))
import test_sidecar as ts  # noqa: E402  (the agent helpers)

ARGS = None
WORK = None
SOAK = os.environ.get("SOAK") == "1"
TESTS = []
eq = ts.eq


def test(fn):
    TESTS.append(fn)
    return fn


def note(msg):
    print("# " + msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------- backends

class Sink:
    """A webhook backend: 503 while `down`, else 200; records the entity id of every event it
    answered 200 for (a list: duplicates show)."""

    def __init__(self, down=True):
        self.down = down
        self.lock = threading.Lock()
        self.ids = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if sink.down:
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    events = json.loads(body)
                except ValueError:
                    # A body cut short by a killed agent: a retryable answer, to nobody.
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with sink.lock:
                    sink.ids.extend(e["entity"]["id"] for e in events)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # Connections reset by a killed agent are expected here, not worth a traceback.
        self.server.handle_error = lambda *a: None
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/events" % self.port

    def received(self):
        with self.lock:
            return list(self.ids)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HangingServer:
    """Accepts connections and never answers (nor closes them)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def metrics(agent):
    """The agent's /metrics as {"name{labels}": value}."""
    status, _, text = agent.request("GET", "/metrics")
    eq(status, 200, "/metrics")
    out = {}
    for line in text.splitlines() if isinstance(text, str) else []:
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def no_panic(agent):
    text = agent.log_text()
    assert "panicked" not in text and "internal error" not in text, "agent log: " + text[-3000:]


def run_app(*args, timeout=60):
    r = subprocess.run([ARGS.app, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "faults_app %s: exit %s: %s" % (args[0], r.returncode, r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


# -------------------------------------------------------------------------------- a. kill -9

class Loader:
    """Threads posting batches of uniquely identified events to the agent on a fixed port;
    the ids answered 202 (with `durable_ack`: fsynced to the spool) are `acked`."""

    def __init__(self, port, threads, batch, track=True):
        self.port, self.batch, self.track = port, batch, track
        self.acked_count = 0
        self.acked = set()
        self.answers = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self, t):
        seq = 0
        conn = None
        while not self.stop.is_set():
            ids = ["L%d-%d" % (t, seq + i) for i in range(self.batch)]
            seq += self.batch
            body = json.dumps({"events": [{"entity": {"type": "fault", "id": i}, "event": {"kind": "log"}}
                                          for i in ids]})
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", "/v1/ingest/batch", body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                doc = json.loads(r.read() or b"null")
                status = r.status
            except (OSError, http.client.HTTPException, ValueError):
                # Killed mid-request, or not up yet: these ids were never acknowledged.
                status = "error"
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.005)
            with self.lock:
                self.answers[status] = self.answers.get(status, 0) + 1
                if status == 202 and doc.get("accepted") == len(ids) and not doc.get("rejected"):
                    self.acked_count += len(ids)
                    if self.track:
                        self.acked.update(ids)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)


@test
def kill9_under_load_loses_no_durably_acknowledged_event():
    kills = 300 if SOAK else 50
    drain_kills = 20 if SOAK else 5
    batch_max = 100
    sink = Sink(down=True)
    port = free_port()
    d = os.path.join(WORK, "kill9")
    config = ("queue: {flush_interval_ms: 20, batch_max: %d}\n"
              "retry: {initial_ms: 10, max_ms: 50, max_attempts: 2}\n"
              "circuit_breaker: {failure_threshold: 1, open_ms: 200}\n"
              "spool: {path: '%s/spool', durable_ack: true, segment_mb: 1}\n"
              "backends:\n  - {type: webhook, name: hook, url: '%s', timeout_ms: 2000}\n"
              % (batch_max, d, sink.url))
    rng = random.Random(int(os.environ.get("FAULTS_SEED", time.time())))
    starts = []
    agent = None

    def start(k):
        t0 = time.time()
        a = ts.Agent("kill9/agent-%03d" % k, config, args=("--listen", "127.0.0.1:%d" % port))
        starts.append(time.time() - t0)
        return a

    loader = Loader(port, threads=4 if SOAK else 2, batch=20)
    try:
        # The backend is down: every acknowledged event is in the spool when the agent dies.
        for k in range(kills):
            agent = start(k)
            time.sleep(rng.uniform(0.02, 0.4))
            agent.kill()
            no_panic(agent)
        loader.finish()
        acked = set(loader.acked)
        # The backend comes back; a few more kills while the spool is being replayed (each can
        # repeat at most the batch in flight: the bound on duplicates below).
        sink.down = False
        for k in range(drain_kills):
            agent = start(kills + k)
            time.sleep(rng.uniform(0.05, 0.4))
            agent.kill()
            no_panic(agent)
        agent = start(kills + drain_kills)
        deadline = time.time() + (300 if SOAK else 60)
        while time.time() < deadline and not acked <= set(sink.received()):
            time.sleep(0.2)
        eq(agent.stop(), 0, "last agent's exit status")
        no_panic(agent)
        got = sink.received()
        missing = acked - set(got)
        duplicates = len(got) - len(set(got))
        note("kills %d (+%d during replay), requests %s, acknowledged events %d, delivered %d "
             "(unique %d), duplicates %d, slowest start %.0f ms"
             % (kills, drain_kills, dict(sorted(loader.answers.items(), key=str)), len(acked), len(got),
                len(set(got)), duplicates, max(starts) * 1000))
        assert len(acked) >= 1000, "too little load to mean anything: %d events acknowledged" % len(acked)
        assert not missing, "%d acknowledged events never delivered, e.g. %s" % (len(missing), sorted(missing)[:5])
        bound = drain_kills * batch_max
        assert duplicates <= bound, "%d duplicates, more than %d (one batch per kill)" % (duplicates, bound)
        assert max(starts) < 5, "an agent took %.1f s to start (crash loop?)" % max(starts)
        leftovers = [p for p in glob.glob(os.path.join(d, "spool", "*")) if os.path.basename(p) != "hook"]
        eq([os.path.basename(p) for p in leftovers if "dead-letter" not in p], [], "stray spool folders")
    finally:
        loader.finish()
        if agent:
            agent.kill()
        sink.close()


# ------------------------------------------------------------------------------ b. disk full

@test
def disk_full_counts_what_it_loses_exactly_and_recovers():
    if os.geteuid() != 0:
        note("SKIP disk full: not root (mounting a tmpfs needs root)")
        return
    d = os.path.join(WORK, "diskfull")
    mnt = os.path.join(d, "mnt")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], capture_output=True, text=True)
    assert r.returncode == 0, "mount tmpfs: " + r.stderr
    sink = Sink(down=True)
    agent = None
    try:
        # Fill the filesystem but for 200 KiB.
        st = os.statvfs(mnt)
        with open(os.path.join(mnt, "filler"), "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize - 200 * 1024))
        config = ("queue: {flush_interval_ms: 20, batch_max: 100}\n"
                  "retry: {initial_ms: 10, max_ms: 50, max_attempts: 1}\n"
                  "circuit_breaker: {failure_threshold: 1, open_ms: 300}\n"
                  "spool: {path: '%s/spool', max_mb: 64, segment_mb: 1, fsync: always}\n"
                  "backends:\n  - {type: webhook, name: hook, url: '%s', timeout_ms: 2000}\n" % (mnt, sink.url))
        agent = ts.Agent("diskfull/agent", config)
        sent = 0

        def post(n, tag):
            nonlocal sent
            for b in range(n):
                evs = [{"entity": {"type": "fault", "id": "%s-%d-%d" % (tag, b, i)},
                        "event": {"kind": "log", "message": "x" * 200}} for i in range(100)]
                s, doc = agent.post("/v1/ingest/batch", {"events": evs})
                eq((s, doc["accepted"]), (202, 100), "ingest")
                sent += 100

        def settled(what):
            """Waits until the agent has accounted for every event sent; returns /metrics."""
            deadline = time.time() + 30
            while True:
                m = metrics(agent)
                done = sum(m.get("monitoring_sidecar_events_%s_total" % k, 0)
                           for k in ("spooled", "failed", "dropped", "delivered"))
                if done >= sent or time.time() > deadline:
                    eq(done, sent, what + ": events accounted for (spooled + failed + dropped + delivered)")
                    return m
                time.sleep(0.05)

        post(40, "full")  # ~1.2 MB of spool for 200 KiB of room
        m = settled("disk full")
        spooled = m['monitoring_sidecar_backend_spooled_total{backend="hook"}']
        # Spool not writable: dead-lettered (failed) if the dead-letter file can be written,
        # else dropped; here it is on the same full filesystem.
        failed = m['monitoring_sidecar_backend_failed_total{backend="hook"}']
        dropped = m['monitoring_sidecar_backend_dropped_total{backend="hook"}']
        lost = failed + dropped
        note("disk full: sent %d, spooled %d, dead-lettered %d, dropped %d" % (sent, spooled, failed, dropped))
        assert lost > 0, "the filesystem never filled up"
        assert spooled > 0, "nothing was spooled before the filesystem filled up"
        eq(spooled + lost, sent, "every event spooled, dead-lettered or dropped")
        eq(m["monitoring_sidecar_events_failed_total"] + m["monitoring_sidecar_events_dropped_total"], lost,
           "/metrics events_failed + events_dropped")
        eq(m['monitoring_sidecar_backend_dead_lettered_total{backend="hook"}'], failed, "dead_lettered")
        assert agent.proc.poll() is None, "agent died"
        s, _, health = agent.request("GET", "/health")
        assert s in (200, 503), "health %s" % s
        # Space returns: spooling works again, nothing more is lost.
        os.remove(os.path.join(mnt, "filler"))
        post(20, "after")
        m = settled("space back")
        eq(m['monitoring_sidecar_backend_failed_total{backend="hook"}'] +
           m['monitoring_sidecar_backend_dropped_total{backend="hook"}'], lost, "no loss once space returned")
        spooled = m['monitoring_sidecar_backend_spooled_total{backend="hook"}']
        eq(spooled + lost, sent, "every event spooled, dead-lettered or dropped")
        # The backend comes back: exactly what was spooled arrives, once.
        sink.down = False
        deadline = time.time() + 30
        while time.time() < deadline and len(sink.received()) < spooled:
            time.sleep(0.1)
        got = sink.received()
        eq(len(got), spooled, "events delivered from the spool")
        eq(len(set(got)), len(got), "no duplicates")
        after = {"after-%d-%d" % (b, i) for b in range(20) for i in range(100)}
        assert after <= set(got), "%d events sent after space returned not delivered" % len(after - set(got))
        m = metrics(agent)
        eq(m['monitoring_sidecar_backend_spool_pending{backend="hook"}'], 0, "spool drained")
        eq(agent.stop(), 0, "agent exit")
        no_panic(agent)
        note("after space returned: 2000 more spooled; all %d spooled delivered, once" % len(got))
    finally:
        if agent:
            agent.kill()
        sink.close()
        subprocess.run(["umount", "-l", mnt])


# --------------------------------------------------------------------------- c. hung backend

@test
def hung_backend_deadlines_met_and_held_batch_spooled_for_the_next_process():
    overshoots = []
    for run in range(3):
        d = os.path.join(WORK, "hung-%d" % run)
        hang = HangingServer()
        sink = Sink(down=False)
        try:
            cfg = ("app: {name: faults}\nqueue: {flush_interval_ms: 20, batch_max: 100}\n"
                   "spool: {path: '%s/spool'}\n"
                   "direct_backends:\n  - {type: webhook, name: hook, url: '%%s', timeout_ms: 10000}\n" % d)
            hung = write(os.path.join(d, "hung.yaml"), cfg % ("http://127.0.0.1:%d/events" % hang.port))
            n, deadline_ms = 200, 500
            t0 = time.time()
            out, err = run_app("deadline", hung, n, deadline_ms, timeout=30)
            wall = time.time() - t0
            st = out["stats"]
            eq((out["emitted_ok"], out["flush"]), (2 * n, "TIMEOUT"), "emits, and flush against a hung backend")
            assert out["shutdown"] in ("OK", "TIMEOUT"), out
            for what in ("flush", "shutdown"):
                over = out[what + "_ms"] - deadline_ms
                overshoots.append(over)
                assert over <= 100, "%s(%d ms) took %.0f ms" % (what, deadline_ms, out[what + "_ms"])
            assert wall < 10, "the process took %.1f s to exit" % wall
            eq(st["emitted"], 2 * n, "emitted")
            eq((st["dropped"], st["failed"], st["delivered"]), (0, 0, 0), "dropped, failed, delivered")
            eq(st["spooled"], 2 * n, "every event spooled by the shutdown deadline")
            # The next process, with the backend answering, delivers all of them.
            up = write(os.path.join(d, "up.yaml"), cfg % sink.url)
            out, _ = run_app("drain", up, 20000, timeout=60)
            got = sink.received()
            eq(sorted(set(got)), sorted("d-%d" % k for k in range(2 * n)), "delivered by the next process")
            eq(out["stats"]["backends"]["hook"]["spool_pending"], 0, "spool drained")
        finally:
            hang.close()
            sink.close()
    note("flush/shutdown past a %d ms deadline with a hung backend: max %.0f ms over, median %.0f ms"
         % (500, max(overshoots), statistics.median(overshoots)))


# ------------------------------------------------------------------ d. failing backend costs

@test
def failing_backend_costs_the_healthy_one_at_most_5_percent():
    d = os.path.join(WORK, "throughput")
    refused = free_port()  # nothing listens there: connections are refused
    n = 500_000 if SOAK else 100_000
    pairs = 21 if SOAK else 11
    base = ("app: {name: faults}\nqueue: {capacity: 65536, on_full: block, batch_max: 512}\n"
            "retry: {initial_ms: 10, max_ms: 50, max_attempts: 1}\n"
            "circuit_breaker: {failure_threshold: 1, open_ms: 60000}\n"
            "spool: {path: '%s/spool-%%s', max_mb: 4096}\n"
            "direct_backends:\n  - {type: filesystem, name: local, path: '%s/events-%%s', fsync: never}\n" % (d, d))
    alone = base
    with_failing = base + "  - {type: webhook, name: down, url: 'http://127.0.0.1:%d/e', timeout_ms: 1000}\n" % refused
    rates = {"alone": [], "with_failing": []}
    ratios = []
    rng = random.Random(7)
    for r in range(pairs):
        # Pairs of runs close in time, in random order, so that whatever else the machine does
        # (it has 2 cores, shared with builds) hits both alike; the verdict is the median of
        # the pairs' ratios.
        pair = [("alone", alone), ("with_failing", with_failing)]
        rng.shuffle(pair)
        got = {}
        for name, cfg in pair:
            tag = "%s-%d" % (name, r)
            path = write(os.path.join(d, tag + ".yaml"), cfg % (tag, tag))
            out, _ = run_app("throughput", path, n, "local", timeout=300)
            st = out["stats"]
            eq(st["backends"]["local"]["delivered"], n, tag + ": delivered to the healthy backend")
            if name == "with_failing":
                b = st["backends"]["down"]
                eq((b["spooled"], b["dropped"]), (n, 0), tag + ": the failing backend spooled everything")
            got[name] = out["events_per_s"]
            rates[name].append(out["events_per_s"])
            shutil.rmtree(os.path.join(d, "events-" + tag), ignore_errors=True)
            shutil.rmtree(os.path.join(d, "spool-" + tag), ignore_errors=True)
        ratios.append(got["with_failing"] / got["alone"])
    ratio = statistics.median(ratios)
    a, b = statistics.median(rates["alone"]), statistics.median(rates["with_failing"])
    note("healthy filesystem backend, %d events per run, %d pairs: median events/s alone %.0f, with a "
         "refusing webhook (breaker open, spooling everything) %.0f; median of pair ratios %.3f "
         "(pairs %s)" % (n, pairs, a, b, ratio, [round(x, 2) for x in ratios]))
    assert ratio >= 0.95, "the failing backend cost the healthy one %.1f%% of its throughput" % ((1 - ratio) * 100)


# ------------------------------------------------------------------------------- e. fork

@test
def fork_20_children_each_event_delivered_exactly_once():
    d = os.path.join(WORK, "fork")
    n, children = (2000, 20) if SOAK else (300, 20)
    cfg = write(os.path.join(d, "fork.yaml"),
                "app: {name: faults}\nqueue: {flush_interval_ms: 20}\nspool: {path: '%s/spool'}\n"
                "direct_backends:\n  - {type: filesystem, name: local, path: '%s/events', fsync: never}\n" % (d, d))
    t0 = time.time()
    try:
        out, err = run_app("fork", cfg, n, children, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("fork test did not finish within 60 s: deadlock")
    eq((out["failed_children"], out["flush"], out["shutdown"]), (0, "OK", "OK"), "children, flush, shutdown: " + err)
    eq(out["parent_ok"], n + children, "parent emits")
    ids = [e["entity"]["id"] for e in ts.stored(os.path.join(d, "events")) if e["entity"]["type"] == "fault"]
    want = (["p-%d" % k for k in range(n + children)] + ["t-%d" % k for k in range(out["thread_ok"])]
            + ["c%d-%d" % (c, k) for c in range(children) for k in range(n)])
    dup = len(ids) - len(set(ids))
    eq(dup, 0, "duplicates")
    missing = set(want) - set(ids)
    assert not missing, "%d events lost, e.g. %s" % (len(missing), sorted(missing)[:5])
    eq(len(ids), len(want), "events stored")
    files = glob.glob(os.path.join(d, "events", "*.jsonl"))
    note("fork: parent + %d children, %d events (parent %d, its emitting thread %d), %d files, %.1f s"
         % (children, len(ids), n + children, out["thread_ok"], len(files), time.time() - t0))


# ------------------------------------------------------------------------------------ main

def main():
    global ARGS, WORK
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--only", default="")
    p.add_argument("--keep", action="store_true")
    ARGS = p.parse_args()
    ARGS.bin = os.path.abspath(ARGS.bin)
    ARGS.app = os.path.abspath(ARGS.app)
    WORK = tempfile.mkdtemp(prefix="mon-faults.")
    ts.ARGS, ts.WORK = ARGS, WORK
    return ts.run_suite(TESTS, ARGS, WORK)

if __name__ == "__main__":
    sys.exit(main())
