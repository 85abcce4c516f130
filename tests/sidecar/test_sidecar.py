#!/usr/bin/env python3
"""End-to-end tests of monitoring-sidecar: real processes on 127.0.0.1 (Python stdlib only).

    test_sidecar.py --bin target/release/monitoring-sidecar --c-app BIN [--only NAME]

Every agent listens on 127.0.0.1 port 0 and the port is read from its first log line, so tests
never collide. Each test prints "ok - name" or "not ok - name" (with the reason); the last line
is "N passed, M failed". Exit status 1 if anything failed.
"""

import argparse
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARGS = None
WORK = None

EVENT = {"entity": {"type": "tool", "id": "ETCH-07"},
         "event": {"kind": "metric", "metrics": {"temp_c": 21.5}}}


# ------------------------------------------------------------------------------------ helpers

class Agent:
    """One monitoring-sidecar process."""

    def __init__(self, name, config, env=None, args=()):
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "sidecar.yaml")
        self.write_config(config)
        self.log_path = os.path.join(self.dir, "agent.log")
        e = {k: v for k, v in os.environ.items() if not k.startswith("MONITORING_")}
        e.update(env or {})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ARGS.bin, "--config", self.config_path, "--listen", "127.0.0.1:0", *args],
            cwd=self.dir, env=e, stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = self._wait_port()

    def write_config(self, text):
        text = text.replace("@DIR@", getattr(self, "dir", ""))
        with open(self.config_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.config_path + ".tmp", self.config_path)

    def _wait_port(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            for rec in self.logs():
                if rec.get("message") == "monitoring-sidecar listening":
                    return int(rec["listen"].rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                raise AssertionError("agent exited %s: %s" % (self.proc.returncode, self.log_text()))
            time.sleep(0.02)
        raise AssertionError("agent did not start: " + self.log_text())

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def logs(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            try:
                doc = json.loads(data) if data else None
            except ValueError:
                doc = data.decode("utf-8", "replace")
            return r.status, {k.lower(): v for k, v in r.getheaders()}, doc
        finally:
            conn.close()

    def post(self, path, body, headers=None):
        s, _, doc = self.request("POST", path, body, headers)
        return s, doc

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("agent did not stop within %ss" % timeout)
        self.log.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


def stored(directory):
    """Every event in the JSONL files under `directory`."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "**", "*.jsonl"), recursive=True)):
        if "dead-letter" in path:
            continue
        with open(path) as f:
            out.extend(json.loads(line) for line in f if line.strip())
    return out


def check_schema(directory, *extra):
    """tests/tools/check_jsonl.py against the v1 schema, when jsonschema is installed."""
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests/tools/check_jsonl.py"), directory,
                        "--recursive", *extra], capture_output=True, text=True)
    assert r.returncode == 0, "check_jsonl.py: %s %s" % (r.stdout[-2000:], r.stderr[-2000:])


def fs_config(extra="", events="events"):
    return ("backends:\n  - {type: filesystem, name: local, path: '@DIR@/%s', fsync: never}\n"
            "spool: {path: '@DIR@/spool'}\n%s" % (events, extra))


def short(x, n=600):
    t = repr(x)
    return t if len(t) <= n else t[:n] + "... (%d chars)" % len(t)


def eq(a, b, what=""):
    assert a == b, "%s: %s != %s" % (what, short(a), short(b))


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# -------------------------------------------------------------------------------------- tests

@test
def check_config_validates_and_exits_0_or_2():
    d = os.path.join(WORK, "check")
    os.makedirs(d)
    good = os.path.join(d, "good.yaml")
    with open(good, "w") as f:
        f.write(open(os.path.join(ROOT, "examples/sidecar/sidecar.yaml")).read())
    r = subprocess.run([ARGS.bin, "--check-config", "--config", good], capture_output=True, text=True)
    eq((r.returncode, r.stdout.strip()), (0, "OK"), "example config: " + r.stderr)
    r = subprocess.run([ARGS.bin, "--check-config"], capture_output=True, text=True, cwd=d)
    eq((r.returncode, r.stdout.strip()), (0, "OK"), "embedded default: " + r.stderr)
    cases = [
        ("backends:\n  - {type: filesystem}\n  - {type: webhook, url: 'http://x', bukcet: b}\n", "backends[1].bukcet"),
        ("ingest: {listen: 'nowhere'}\n", "ingest.listen"),
        ("direct_backends: []\n", "direct_backends"),
        ("queue: {capacity: 100}\ningest: {max_batch_size: 1000}\n", "ingest.max_batch_size"),
        ("backends:\n  - {type: sidecar, url: 'tcp://x'}\n", "backends[0].url"),
        ("ingest: [\n", "not valid YAML"),
    ]
    for text, needle in cases:
        bad = os.path.join(d, "bad.yaml")
        with open(bad, "w") as f:
            f.write(text)
        r = subprocess.run([ARGS.bin, "--check-config", "--config", bad], capture_output=True, text=True)
        eq(r.returncode, 2, text)
        assert needle in r.stderr, "%r not in %r" % (needle, r.stderr)
    r = subprocess.run([ARGS.bin, "--check-config", "--config", os.path.join(d, "missing.yaml")],
                       capture_output=True, text=True)
    eq(r.returncode, 2, "missing file")


@test
def c_app_in_sidecar_mode_reaches_the_agents_jsonl():
    a = Agent("c-app", fs_config("ingest: {token: tok-123}\n"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITORING_")}
        env.update(MONITORING_MODE="sidecar", MONITORING_SIDECAR_URL=a.url,
                   MONITORING_SIDECAR_TOKEN="tok-123", MONITORING_APP_NAME="c-app",
                   MONITORING_SITE_ID="fab1")
        r = subprocess.run([ARGS.c_app, "50"], capture_output=True, text=True, env=env, cwd=a.dir, timeout=60)
        eq(r.returncode, 0, "c_app: " + r.stderr)
        stats = json.loads(r.stdout.strip().splitlines()[-1])
        # 50 events, and the job's started, metric and finished
        eq((stats["delivered"], stats["failed"]), (53, 0), "client stats")
        eq(a.stop(), 0, "exit code")
        events = stored(os.path.join(a.dir, "events"))
        eq(len(events), 53, "events in the agent's JSONL")
        ids = {e["entity"]["id"] for e in events if e["entity"]["type"] == "tool"}
        eq(ids, {"c-app-%d" % i for i in range(50)}, "entity ids")
        kinds = sorted(e["event"]["kind"] for e in events if e["entity"]["type"] == "lot")
        eq(kinds, ["finished", "metric", "started"], "job events")
        assert all(e["app"]["name"] == "c-app" and e["site_id"] == "fab1" for e in events), events[0]
        check_schema(os.path.join(a.dir, "events"), "--expect-lines", "53", "--no-duplicates")
        # Without the token the same app is refused (401), which it dead-letters, never crashes.
        b = Agent("c-app-wrong-token", fs_config("ingest: {token: other}\n"))
        env["MONITORING_SIDECAR_URL"] = b.url
        r = subprocess.run([ARGS.c_app, "3"], capture_output=True, text=True, env=env, cwd=b.dir, timeout=60)
        stats = json.loads(r.stdout.strip().splitlines()[-1])
        eq((stats["delivered"], stats["failed"]), (0, 6), "refused batches are dead-lettered")
        eq(b.stop(), 0)
        eq(stored(os.path.join(b.dir, "events")), [], "nothing stored without the token")
    finally:
        a.kill()


@test
def host_agent_forwards_to_an_aggregator():
    agg = Agent("aggregator", fs_config("app: {site_id: site-agg}\n"))
    host = None
    try:
        host = Agent("host", "app: {site_id: fab3, instance_id: host-a}\n"
                     "queue: {flush_interval_ms: 50}\nspool: {path: '@DIR@/spool'}\n"
                     "backends:\n  - {type: sidecar, name: aggregator, url: '%s', managed: true}\n" % agg.url)
        for i in range(20):
            ev = {"entity": {"type": "tool", "id": "t-%d" % i}, "event": {"kind": "log", "message": "m%d" % i}}
            eq(host.post("/v1/ingest/events", ev)[0], 202)
        s, doc = host.post("/v1/ingest/batch", {"events": [EVENT] * 30})
        eq((s, doc["accepted"]), (202, 30))
        eq(host.stop(), 0, "host exit")
        eq(agg.stop(), 0, "aggregator exit")
        events = stored(os.path.join(agg.dir, "events"))
        eq(len(events), 50, "events at the aggregator")
        eq({e["site_id"] for e in events}, {"fab3"}, "the host's site")
        eq(len({e["idempotency_key"] for e in events}), 50, "distinct keys")
        check_schema(os.path.join(agg.dir, "events"), "--expect-lines", "50")
    finally:
        agg.kill()
        if host:
            host.kill()


@test
def earlier_python_sdk_payloads_are_accepted_unchanged():
    a = Agent("legacy", fs_config())
    try:
        # What the earlier Python SDK sent: the nested event, app.app_id, `at` with an offset,
        # one per request, and arrays to /v1/ingest/events:batch.
        nested = {
            "idempotency_key": "0193a1b2-0000-7000-8000-000000000001",
            "site_id": "fab1",
            "app": {"app_id": "legacy-etl", "name": "etl", "version": "0.9"},
            "entity": {"type": "job", "id": "J-1", "parent_id": None, "business_key": "LOT-42", "sub_key": "W3"},
            "event": {"kind": "finished", "at": "2026-11-22T11:00:00.123456+01:00", "status": "succeeded",
                      "progress": None, "message": None, "metrics": {"duration_s": 12.5},
                      "metadata": {"tool": "ETCH-07", "nested": {"z": 1, "a": [1, 2, 3]}}},
        }
        headers = {"User-Agent": "python-requests/2.31.0", "Content-Type": "application/json"}
        s, doc = a.post("/v1/ingest/events", nested, headers)
        eq((s, doc), (202, {"accepted": 1}), "nested event")
        batch = []
        for i in range(5):
            e = json.loads(json.dumps(nested))
            e["idempotency_key"] = "0193a1b2-0000-7000-8000-00000000010%d" % i
            e["event"]["kind"] = "progress"
            e["event"]["status"] = "running"
            e["event"]["progress"] = i * 20
            batch.append(e)
        s, doc = a.post("/v1/ingest/events:batch", batch, headers)
        eq((s, doc), (202, {"accepted": 5, "rejected": []}), "array batch")
        eq(a.stop(), 0)
        events = {e["idempotency_key"]: e for e in stored(os.path.join(a.dir, "events"))}
        eq(len(events), 6)
        got = events[nested["idempotency_key"]]
        eq(got["app"], {"name": "etl", "version": "0.9", "instance_id": got["app"]["instance_id"], "app_id": "legacy-etl"})
        eq(got["entity"], nested["entity"])
        eq(got["event"]["at"], "2026-11-22T10:00:00.123456Z")
        eq(got["event"]["metadata"], nested["event"]["metadata"])
        eq(got["event"]["metrics"], {"duration_s": 12.5})
        check_schema(os.path.join(a.dir, "events"), "--expect-lines", "6")
    finally:
        a.kill()


@test
def every_error_answer():
    a = Agent("errors", fs_config("ingest: {token: s3cret, max_body_mb: 0.01, max_batch_size: 5}\n"))
    auth = {"Authorization": "Bearer s3cret"}
    try:
        # 400 naming the field
        s, doc = a.post("/v1/ingest/events", {"event": {"kind": "log", "colour": "red"}}, auth)
        eq((s, doc["field"]), (400, "event.colour"), str(doc))
        s, doc = a.post("/v1/ingest/events", {"event": {"kind": "metric", "metrics": {"t": "hot"}}}, auth)
        eq((s, doc["field"]), (400, "event.metrics.t"), str(doc))
        s, doc = a.post("/v1/ingest/events", "{not json", auth)
        eq(s, 400, str(doc))
        s, doc = a.post("/v1/ingest/batch", {"evnts": []}, auth)
        eq((s, doc["field"]), (400, "evnts"), str(doc))
        # a batch: valid ones accepted, every rejected index named
        bad1 = {"event": {"kind": "progress", "progress": 101}}
        bad3 = {"event": {"kind": "nope"}}
        s, doc = a.post("/v1/ingest/batch", {"events": [EVENT, bad1, EVENT, bad3, 7]}, auth)
        eq((s, doc["accepted"]), (202, 2), str(doc))
        eq([(r["index"], r["field"]) for r in doc["rejected"]],
           [(1, "event.progress"), (3, "event.kind"), (4, None)], str(doc))
        # 401
        s, h, doc = a.request("POST", "/v1/ingest/events", EVENT)
        eq((s, h.get("www-authenticate", "")[:6]), (401, "Bearer"))
        eq(a.post("/v1/ingest/events", EVENT, {"Authorization": "Bearer s3cre7"})[0], 401)
        eq(a.post("/v1/ingest/batch", {"events": []}, {"Authorization": "Basic czNjcmV0"})[0], 401)
        # 413: declared length, streamed (chunked) body, and too many events
        big = {"event": {"kind": "log", "message": "x" * 20000}}
        eq(a.post("/v1/ingest/events", big, auth)[0], 413)
        s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        chunk = b"1000\r\n" + b" " * 4096 + b"\r\n"
        s.sendall(b"POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 3)
        answer = s.recv(4096)
        s.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer
        s, doc = a.post("/v1/ingest/events:batch", [EVENT] * 6, auth)
        eq((s, doc["field"]), (413, "events"), str(doc))
        # 404 / 405
        eq(a.request("GET", "/v2/nothing")[0], 404)
        s, h, _ = a.request("GET", "/v1/ingest/events")
        eq((s, h.get("allow")), (405, "POST"))
        s, h, _ = a.request("DELETE", "/metrics")
        eq((s, h.get("allow")), (405, "GET, HEAD"))
        # 415
        eq(a.post("/v1/ingest/events", EVENT, dict(auth, **{"Content-Encoding": "gzip"}))[0], 415)
        # health and metrics stay open
        s, _, doc = a.request("GET", "/health")
        eq((s, doc["status"]), (200, "healthy"))
        s, h, text = a.request("GET", "/metrics")
        eq(s, 200)
        assert "monitoring_sidecar_events_rejected_total 6" in text, text[:3000]
        assert 'monitoring_sidecar_http_requests_total{endpoint="events",code="401"} 2' in text
        eq(a.stop(), 0)
        eq(len(stored(os.path.join(a.dir, "events"))), 2)
    finally:
        a.kill()


@test
def full_queue_is_429_with_retry_after_and_breakers_show_in_health():
    # A backend that accepts connections and never answers: deliveries hang until their
    # timeout, the per-backend queue and then the agent's queue fill up.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    a = Agent("full", "queue: {capacity: 8, batch_max: 1, flush_interval_ms: 10}\n"
              "ingest: {max_batch_size: 8, shutdown_timeout_ms: 1500}\n"
              "spool: {path: '@DIR@/spool'}\n"
              "backends:\n  - {type: webhook, name: slow, url: 'http://127.0.0.1:%d/x', timeout_ms: 30000}\n"
              % hole.getsockname()[1])
    try:
        codes = []
        for _ in range(200):
            s, h, doc = a.request("POST", "/v1/ingest/events", EVENT)
            codes.append(s)
            if s == 429:
                eq(h.get("retry-after"), "1", "Retry-After")
                break
        assert codes[-1] == 429 and set(codes[:-1]) == {202}, codes
        s, h, doc = a.request("POST", "/v1/ingest/batch", {"events": [EVENT] * 8})
        eq((s, h.get("retry-after")), (429, "1"), str(doc))
        s, _, doc = a.request("GET", "/metrics")
        assert 'monitoring_sidecar_http_requests_total{endpoint="events",code="429"} 1' in doc, doc[:1500]
        assert 'monitoring_sidecar_http_requests_total{endpoint="batch",code="429"} 1' in doc, doc[:1500]
        t0 = time.time()
        eq(a.stop(), 0, "stops at its deadline even with a hung backend")
        assert time.time() - t0 < 5, "stopped in %.1fs" % (time.time() - t0)
        msgs = [r.get("message", "") for r in a.logs()]
        assert any(m.startswith("stopped at the deadline") for m in msgs), short(msgs)
    finally:
        a.kill()
        hole.close()
    # A backend that refuses: its breaker opens and /health says unhealthy (503).
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    b = Agent("unhealthy", "queue: {flush_interval_ms: 10}\ncircuit_breaker: {failure_threshold: 1, open_ms: 60000}\n"
              "spool: {path: '@DIR@/spool'}\nretry: {initial_ms: 10, max_ms: 20}\n"
              "ingest: {shutdown_timeout_ms: 1000}\n"
              "backends:\n  - {type: webhook, name: down, url: 'http://127.0.0.1:%d/x', timeout_ms: 500}\n" % port)
    try:
        eq(b.request("GET", "/v1/healthz")[0], 200)
        eq(b.post("/v1/ingest/events", EVENT)[0], 202)
        deadline = time.time() + 10
        while time.time() < deadline:
            s, _, doc = b.request("GET", "/v1/healthz")
            if s == 503:
                break
            time.sleep(0.05)
        eq((s, doc["status"], doc["backends"]["down"]["breaker"]), (503, "unhealthy", "open"), str(doc))
        eq(b.stop(), 0)
        # The engine's own messages are part of the agent's log: JSON lines like the rest.
        text = b.log_text()
        stray = [l for l in text.splitlines() if l.strip() and not l.startswith("{")]
        eq(stray, [], "log lines that are not JSON")
        failing = [r for r in b.logs() if "backend `down` failing" in r.get("message", "")]
        assert failing and failing[0].get("level") == "WARN", text
    finally:
        b.kill()


def load(agent, threads, batches, per_batch, tag, results, until=None):
    """Posts batches of unique events, retrying 429/503 and connection errors, and records the
    keys of every event answered 202 (accepted). With `until` (a threading.Event), each thread
    goes on past `batches` until it is set."""
    def worker(t):
        conn = None
        n = -1
        while True:
            n += 1
            if n >= batches and (until is None or until.is_set()):
                break
            events = []
            for i in range(per_batch):
                key = "%s-%d-%d-%d" % (tag, t, n, i)
                events.append({"idempotency_key": key, "entity": {"type": "load", "id": key},
                               "event": {"kind": "log", "message": key}})
            body = json.dumps({"events": events})
            for attempt in range(200):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
                    conn.request("POST", "/v1/ingest/batch", body=body, headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    doc = json.loads(r.read())
                    if r.status == 202:
                        eq(doc["rejected"], [], "rejected")
                        with results["lock"]:
                            results["keys"].update(e["idempotency_key"] for e in events)
                        break
                    if r.status not in (429, 503):
                        raise AssertionError("status %d: %s" % (r.status, doc))
                    time.sleep(0.01)
                except (OSError, http.client.HTTPException):
                    if conn:
                        conn.close()
                    conn = None
                    time.sleep(0.01)
            else:
                results["errors"].append("batch %d of thread %d never accepted" % (n, t))
        if conn:
            conn.close()
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    return ts


@test
def sighup_under_load_loses_nothing():
    a = Agent("reload", fs_config("queue: {flush_interval_ms: 50}\n"))
    try:
        results = {"lock": threading.Lock(), "keys": set(), "errors": []}
        until = threading.Event()
        ts = load(a, threads=4, batches=50, per_batch=20, tag="hup", results=results, until=until)
        reloads = 0
        for reloads in range(1, 6):
            time.sleep(0.15)
            a.write_config(fs_config("queue: {flush_interval_ms: %d}\n" % (40 + reloads)))
            a.send(signal.SIGHUP)
            # wait for this reload to be done before the next
            deadline = time.time() + 15
            while time.time() < deadline and sum(
                    r.get("message", "").startswith("configuration reloaded") for r in a.logs()) < reloads:
                time.sleep(0.02)
        time.sleep(0.15)
        alive = sum(t.is_alive() for t in ts)
        until.set()
        for t in ts:
            t.join(60)
        eq(alive, 4, "load threads running through every reload")
        eq(results["errors"], [], "load errors")
        eq(a.stop(), 0)
        done = [r for r in a.logs() if r.get("message", "").startswith("configuration reloaded")]
        eq(len(done), 5, "reloads logged")
        keys = [e["idempotency_key"] for e in stored(os.path.join(a.dir, "events"))]
        missing = results["keys"] - set(keys)
        assert len(results["keys"]) >= 4 * 50 * 20, len(results["keys"])
        eq(len(missing), 0, "accepted events missing from the JSONL")
        eq(len(keys), len(set(keys)), "no duplicates")
    finally:
        a.kill()


@test
def a_bad_reload_keeps_the_running_configuration():
    a = Agent("bad-reload", fs_config())
    try:
        a.write_config("backends:\n  - {type: filesystem, pth: x}\n")
        a.send(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and not any("reload failed" in r.get("message", "") for r in a.logs()):
            time.sleep(0.05)
        failed = [r for r in a.logs() if "reload failed" in r.get("message", "")]
        assert failed and "backends[0].pth" in failed[0]["error"], a.log_text()
        eq(a.post("/v1/ingest/events", EVENT)[0], 202)
        eq(a.stop(), 0)
        eq(len(stored(os.path.join(a.dir, "events"))), 1)
    finally:
        a.kill()


@test
def sigterm_flushes_everything_accepted():
    # A long flush interval: events sit in the agent's batch until the stop flushes them.
    a = Agent("term", fs_config("queue: {flush_interval_ms: 600000, batch_max: 5000}\n"))
    try:
        results = {"lock": threading.Lock(), "keys": set(), "errors": []}
        for t in load(a, threads=2, batches=50, per_batch=20, tag="term", results=results):
            t.join(60)
        single = []
        for i in range(30):
            ev = {"idempotency_key": "term-single-%d" % i, "event": {"kind": "heartbeat"}}
            eq(a.post("/v1/ingest/events", ev)[0], 202)
            single.append(ev["idempotency_key"])
        eq(len(stored(os.path.join(a.dir, "events"))), 0, "events written before the stop")
        t0 = time.time()
        eq(a.stop(signal.SIGTERM), 0, "exit code")
        keys = {e["idempotency_key"] for e in stored(os.path.join(a.dir, "events"))}
        eq(len(keys), 2030, "events in the JSONL after SIGTERM")
        eq(keys, results["keys"] | set(single))
        assert time.time() - t0 < 10
        stop = [r for r in a.logs() if r.get("message") == "stopped: queue flushed"]
        assert stop, a.log_text()
        # The stop line counts each event once (the stopping generation is not also "retired").
        eq((stop[0].get("accepted"), stop[0].get("delivered")), (2030, 2030), "counts in the stop log")
    finally:
        a.kill()
    b = Agent("int", fs_config("queue: {flush_interval_ms: 600000}\n"))
    try:
        eq(b.post("/v1/ingest/events", EVENT)[0], 202)
        eq(b.stop(signal.SIGINT), 0, "SIGINT exit code")
        eq(len(stored(os.path.join(b.dir, "events"))), 1)
    finally:
        b.kill()


@test
def slow_and_broken_clients_are_cut_off():
    a = Agent("slow", fs_config("ingest: {header_timeout_ms: 300, body_timeout_ms: 300}\n"))
    try:
        # Headers that never end: the connection is closed after header_timeout_ms.
        s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        s.sendall(b"POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        data = s.recv(4096)
        waited = time.time() - t0
        assert waited < 3, waited
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
        s.close()
        # A body that never arrives: 408.
        s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        s.sendall(b"POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ev")
        data = s.recv(4096)
        assert data.startswith(b"HTTP/1.1 408"), data
        s.close()
        # An idle keep-alive connection is closed too.
        s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first
        eq(s.recv(4096), b"", "idle connection closed")
        s.close()
        # Garbage, huge headers, bad chunking: an answer or a close, never a crash.
        for junk in [b"\x00\xff" * 500 + b"\r\n\r\n", b"GET / HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n",
                     b"POST /v1/ingest/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                     b"POST /v1/ingest/batch HTTP/1.1\r\nContent-Length: -5\r\n\r\n"]:
            s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
            try:
                s.sendall(junk)
                s.recv(4096)
            except OSError:
                pass
            s.close()
        eq(a.request("GET", "/health")[0], 200, "still serving")
        eq(a.stop(), 0)
    finally:
        a.kill()


@test
def max_connections_bounds_open_connections():
    a = Agent("conns", fs_config("ingest: {max_connections: 4}\n"))
    socks = []
    try:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            socks.append(s)
        extra = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        try:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            eq(extra.recv(4096), b"", "the fifth connection is closed")
        except ConnectionResetError:
            pass
        extra.close()
        for s in socks:
            s.close()
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                if a.request("GET", "/health", timeout=2)[0] == 200:
                    break
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
        eq(a.request("GET", "/health")[0], 200, "room again once they closed")
        eq(a.stop(), 0)
    finally:
        for s in socks:
            s.close()
        a.kill()


# --------------------------------------------------------------------------------------- main

def main():
    global ARGS, WORK
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--c-app", required=True)
    p.add_argument("--only", default="")
    p.add_argument("--keep", action="store_true")
    ARGS = p.parse_args()
    ARGS.bin = os.path.abspath(ARGS.bin)
    ARGS.c_app = os.path.abspath(ARGS.c_app)
    WORK = tempfile.mkdtemp(prefix="mon-sidecar-tests.")
    return run_suite(TESTS, ARGS, WORK)


def run_suite(tests, args, work):
    """Runs `tests` (those whose name contains args.only), prints one line each and the
    summary; removes `work` unless something failed or args.keep. Returns the exit status."""
    passed = failed = 0
    for fn in tests:
        if args.only and args.only not in fn.__name__:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok - %s (%.1fs)" % (fn.__name__, time.time() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, the suite goes on
            failed += 1
            print("not ok - %s: %s" % (fn.__name__, e), flush=True)
            for line in traceback.format_exc().splitlines():
                print("#   " + line)
    if args.keep or failed:
        print("# work directory kept: %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
