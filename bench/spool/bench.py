#!/usr/bin/env python3
"""The spool benchmark behind bench/run_spool.sh (which builds what it needs and passes --app,
the C program tests/faults/faults_app.c, and --bin, the agent). Writes one Markdown section."""

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))
import test_faults as tf  # noqa: E402  (Loader, metrics, the agent helpers through tf.ts)

ARGS = None


def log(msg):
    print("[run_spool] " + msg, file=sys.stderr, flush=True)


def refused_url():
    """A URL where nothing listens: connections are refused, the backend is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d/events" % s.getsockname()[1]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def app(*args):
    r = subprocess.run([ARGS.app, *map(str, args)], capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise SystemExit("faults_app %s failed: %s" % (args[0], r.stderr[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def write_runs(url):
    """Spool write throughput per fsync mode: a client whose only backend is down (its breaker
    opens at the first refused connection) spools everything; timed until the flush returns,
    which is when every event is in the spool and, unless `never`, fsynced."""
    rows = {}
    for mode in ("never", "interval", "always"):
        runs = []
        for r in range(ARGS.repeats):
            d = os.path.join(ARGS.work, "write-%s-%d" % (mode, r))
            os.makedirs(d)
            cfg = write(os.path.join(d, "c.yaml"),
                        "app: {name: bench}\nqueue: {capacity: 65536, on_full: block, batch_max: 512}\n"
                        "retry: {initial_ms: 10, max_ms: 50, max_attempts: 1}\n"
                        "circuit_breaker: {failure_threshold: 1, open_ms: 600000}\n"
                        "spool: {path: '%s/spool', fsync: %s, max_mb: 8192, segment_mb: 64}\n"
                        "direct_backends:\n  - {type: webhook, name: b, url: '%s', timeout_ms: 1000}\n"
                        % (d, mode, url))
            out = app("spool", cfg, ARGS.events)
            b = out["stats"]["backends"]["b"]
            assert out["flush"] == "OK" and b["spooled"] == ARGS.events, out
            runs.append((out["spooled_ms"] / 1e3, b["spool_bytes"]))
            log("write fsync=%s run %d: %.2f s, %.1f MB" % (mode, r, runs[-1][0], b["spool_bytes"] / 1e6))
            if mode == "interval" and r == 0:
                rows["replay_source"] = d  # replayed below
            else:
                shutil.rmtree(d)
        secs = statistics.median(s for s, _ in runs)
        rows[mode] = {"secs": secs, "bytes": runs[0][1], "runs": [round(s, 2) for s, _ in runs]}
    return rows


def replay_run(source):
    """The spool of one `interval` run, replayed by a new client into a filesystem backend of the
    same name (the spool is per backend name): open + recovery time, then events/s until empty."""
    cfg = write(os.path.join(source, "replay.yaml"),
                "app: {name: bench}\nqueue: {capacity: 65536, batch_max: 512}\n"
                "spool: {path: '%s/spool', max_mb: 8192, segment_mb: 64}\n"
                "direct_backends:\n  - {type: filesystem, name: b, path: '%s/events', fsync: never}\n"
                % (source, source))
    out = app("drain", cfg, 600000)
    b = out["stats"]["backends"]["b"]
    assert out["flush"] == "OK" and b["delivered"] == ARGS.events and b["spool_pending"] == 0, out
    shutil.rmtree(source)
    return {"open_ms": out["configure_ms"], "secs": out["drain_ms"] / 1e3, "events": b["delivered"]}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def outage_run(url):
    """The agent, its only backend down, under sustained load for --outage seconds; its RSS,
    what it accepted and its spool, sampled. `spool.max_mb: 256` is reached during the run, so
    the spool's bound (drop_oldest) is part of what is measured."""
    tf.ts.ARGS = argparse.Namespace(bin=ARGS.bin)
    tf.ts.WORK = ARGS.work
    port = tf.free_port()
    cfg = ("queue: {capacity: 65536, batch_max: 512}\n"
           "retry: {initial_ms: 10, max_ms: 50, max_attempts: 1}\n"
           "circuit_breaker: {failure_threshold: 1, open_ms: 10000}\n"
           "spool: {path: '%s/outage-spool', max_mb: 256, segment_mb: 16}\n"
           "backends:\n  - {type: webhook, name: down, url: '%s', timeout_ms: 1000}\n" % (ARGS.work, url))
    agent = tf.ts.Agent("outage", cfg, args=("--listen", "127.0.0.1:%d" % port))
    samples = []
    loader = tf.Loader(port, threads=2, batch=200, track=False)
    t0 = time.time()
    step = max(1.0, ARGS.outage / 30)
    try:
        while time.time() - t0 < ARGS.outage:
            time.sleep(step)
            m = tf.metrics(agent)
            samples.append({
                "t": time.time() - t0,
                "rss_mib": rss_kib(agent.proc.pid) / 1024,
                "accepted": m.get("monitoring_sidecar_events_accepted_total", 0),
                "spool_mib": m.get('monitoring_sidecar_backend_spool_bytes{backend="down"}', 0) / 2**20,
                "pending": m.get('monitoring_sidecar_backend_spool_pending{backend="down"}', 0),
                "dropped": m.get('monitoring_sidecar_backend_dropped_total{backend="down"}', 0),
            })
    finally:
        loader.finish()
        agent.kill()
    return samples


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fs = subprocess.run(["df", "-T", ARGS.work], capture_output=True, text=True).stdout.splitlines()[-1].split()
    return {"cpu": "%s, %d CPUs" % (cpu, os.cpu_count()), "kernel": platform.release(),
            "fs": "%s on %s" % (fs[1], fs[0]), "load": " ".join("%.2f" % x for x in os.getloadavg())}


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--app", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--events", type=int, default=500000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--outage", type=float, default=60)
    ARGS = p.parse_args()
    started = time.time()
    mach = machine()
    url = refused_url()
    writes = write_runs(url)
    log("replaying")
    replay = replay_run(writes.pop("replay_source"))
    log("outage for %.0f s" % ARGS.outage)
    samples = outage_run(url)
    rss = [s["rss_mib"] for s in samples]
    half = len(rss) // 2
    out = []
    w = out.append
    w("## Spool: write throughput, replay, memory during an outage")
    w("")
    w("Generated by `bench/run_spool.sh` on %s (whole run: %.0f s; EVENTS=%d, REPEATS=%d, OUTAGE_S=%.0f)."
      % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), time.time() - started,
         ARGS.events, ARGS.repeats, ARGS.outage))
    w("")
    w("| | |\n|---|---|")
    w("| CPU | %s |" % mach["cpu"])
    w("| kernel | %s |" % mach["kernel"])
    w("| spool filesystem | %s |" % mach["fs"])
    w("| load average before the runs | %s |" % mach["load"])
    w("")
    w("### Write throughput by `spool.fsync`")
    w("")
    w("A C client (`tests/faults/faults_app.c spool`) whose only backend, a webhook, refuses connections: "
      "its breaker opens at the first failure and every batch goes to the spool. %d events of the "
      "benchmark event (a metric, stored as %d bytes of spool per event with its record header), "
      "`queue: {on_full: block, batch_max: 512}`, so the figure is the whole pipeline "
      "(emit, batcher, encoding, the delivery worker's append) running at the spool's pace. Timed from "
      "the first emit until `monitoring_flush` returns, which is when every event is in the spool and, "
      "unless `never`, fsynced. Median of %d runs."
      % (ARGS.events, writes["never"]["bytes"] / ARGS.events, ARGS.repeats))
    w("")
    w("| `fsync` | what is durable when | MB/s | events/s | seconds (runs) |")
    w("|---|---|---:|---:|---|")
    durable = {"never": "when the OS writes it back (survives a process crash, not a power loss)",
               "interval": "within `fsync_interval_ms` (1 s), and at every flush",
               "always": "before each append returns (one fsync per batch of up to 512)"}
    for mode in ("never", "interval", "always"):
        r = writes[mode]
        w("| `%s` | %s | %.0f | %.0f | %.2f (%s) |" % (mode, durable[mode], r["bytes"] / 1e6 / r["secs"],
                                                      ARGS.events / r["secs"], r["secs"],
                                                      ", ".join(map(str, r["runs"]))))
    w("")
    w("### Replay")
    w("")
    w("The spool of one `interval` run (%d events, %.0f MB) opened by a new client whose backend of the "
      "same name is a filesystem backend (`fsync: never`): opening it (scanning the last segment for a torn "
      "tail) took %.0f ms; replaying all of it, %.2f s: **%.0f events/s**, in batches of `batch_max` (512), "
      "each acknowledged in the ledger after its delivery."
      % (replay["events"], writes["interval"]["bytes"] / 1e6, replay["open_ms"], replay["secs"],
         replay["events"] / replay["secs"]))
    w("")
    w("### Memory during a long outage")
    w("")
    w("`monitoring-sidecar`, its only backend a webhook that refuses connections, `spool: {max_mb: 256, "
      "on_full: drop_oldest}`, default queue (65536 events), under load from 2 client threads posting "
      "batches of 200 events to `/v1/ingest/batch` for %.0f s. Sampled every %.0f s: the agent's RSS "
      "(`VmRSS`), events accepted, the spool's size and pending events (`/metrics`), events dropped by the "
      "spool's bound. RSS: min %.1f MiB, max %.1f MiB; max of the first half %.1f MiB, of the second half "
      "%.1f MiB, %s."
      % (ARGS.outage, samples[1]["t"] - samples[0]["t"] if len(samples) > 1 else ARGS.outage,
         min(rss), max(rss), max(rss[:half] or rss), max(rss[half:] or rss),
         "while the spool grew to its bound and then dropped its oldest events to stay there"
         if samples[-1]["dropped"] > 0 else "while the spool grew (it did not reach its bound)"))
    w("The spool is on disk, not in memory: what the agent holds is bounded by its configuration "
      "(about 10 MiB, plus `ingest.max_buffered_mb` (64) of request bodies, plus `queue.capacity` "
      "queued events), whatever the outage's length; the variation above is request bodies in flight.")
    w("")
    w("| t (s) | RSS (MiB) | accepted | spool (MiB) | spool pending | dropped (spool full) |")
    w("|---:|---:|---:|---:|---:|---:|")
    every = max(1, len(samples) // 12)
    for s in samples[::every] + ([samples[-1]] if (len(samples) - 1) % every else []):
        w("| %.0f | %.1f | %d | %.0f | %d | %d |" % (s["t"], s["rss_mib"], s["accepted"], s["spool_mib"],
                                                     s["pending"], s["dropped"]))
    with open(ARGS.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
