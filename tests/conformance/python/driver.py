#!/usr/bin/env python3
"""Conformance driver for the Python package (`import monitoring`).

    driver.py SCENARIO.json OUT_DIR RESULTS.jsonl

Replays a scenario's steps through the public Python API and records one JSON line per call. It
judges nothing: tests/conformance/check.py does. See ../README.md. `event` steps are passed as
dicts (so the package's own dict-to-JSON conversion is tested), `event_json` as str, `event_hex`
as bytes. Exceptions map back to status names through their `status` attribute; `emit` and the
job calls return False for an event dropped at a full queue (status `queue_full`).
"""

import json
import math
import os
import sys
import time

import monitoring

NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def num(step, key):
    v = step[key]
    return NUMBERS[v] if isinstance(v, str) else v


class Recorder:
    def __init__(self, path):
        self.f = open(path, "w", encoding="utf-8")

    def record(self, step, op, status, error="", **value):
        line = {"step": step, "op": op, "status": status, "error": error}
        line.update(value)
        self.f.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.f.flush()

    def call(self, step, op, fn, value=None):
        """Runs fn(); records ok (with value(result) if given), queue_full for a False result,
        or the status the exception carries."""
        try:
            result = fn()
        except monitoring.MonitoringError as e:
            self.record(step, op, e.status, str(e))
            return None
        except Exception as e:  # noqa: BLE001 - not a binding status: a conformance failure
            self.record(step, op, "driver_error", f"{type(e).__name__}: {e}")
            return None
        if result is False:
            self.record(step, op, "queue_full", "queue full: event dropped")
        elif value is not None:
            self.record(step, op, "ok", "", value=value(result))
        else:
            self.record(step, op, "ok", "")
        return result


def run_step(i, step, client, jobs, rec):
    op = step.get("op", "?")
    timeout = step.get("timeout_ms", 5000) / 1000.0
    if op == "emit":
        if "event" in step:
            event = step["event"]
        elif "event_hex" in step:
            event = bytes.fromhex(step["event_hex"])
        else:
            event = step["event_json"]
        rec.call(i, op, lambda: client.emit(event))
    elif op == "flush":
        rec.call(i, op, lambda: client.flush(timeout=timeout))
    elif op == "shutdown":
        rec.call(i, op, lambda: client.shutdown(timeout=timeout))
    elif op == "stats":
        rec.call(i, op, client.stats, value=lambda stats: stats)
    elif op == "sleep":
        time.sleep(step["ms"] / 1000.0)
        rec.record(i, op, "ok")
    elif op == "job_start":
        label = step["job"]
        parent_id = step.get("parent_id")
        if step.get("parent") is not None:
            parent = jobs.get(step["parent"])
            if parent is None:
                return rec.record(i, op, "driver_error", "unknown parent job")
            parent_id = parent.id
        if label in jobs:
            return rec.record(i, op, "driver_error", "job label already open")
        job = rec.call(
            i,
            op,
            lambda: client.job(step["name"], entity_type=step.get("entity_type"), parent_id=parent_id),
            value=lambda j: j.id,
        )
        if job is not None:
            jobs[label] = job
    else:
        label = step.get("job")
        job = jobs.get(label)
        if job is None:
            return rec.record(i, op, "driver_error", "unknown job label (start failed?)")
        if op == "job_progress":
            rec.call(i, op, lambda: job.progress(num(step, "percent"), step.get("message")))
        elif op == "job_metric":
            rec.call(i, op, lambda: job.metric(step["name"], num(step, "value")))
        elif op == "job_metadata":
            rec.call(i, op, lambda: job.metadata(step["key"], step["value"]))
        elif op == "job_finish":
            # Forget the label whatever the result, as the C driver does. The object is kept
            # (abandoned) until exit, so it is not garbage-collected into a `canceled` event.
            abandoned.append(jobs.pop(label))
            rec.call(i, op, lambda: job.finish(step["status"], step.get("message")))
        else:
            rec.record(i, op, "driver_error", "unknown op")


abandoned = []


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: driver.py SCENARIO.json OUT_DIR RESULTS.jsonl")
    scenario_path, out_dir, results_path = sys.argv[1:]
    with open(scenario_path, encoding="utf-8") as f:
        scenario = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    if os.listdir(out_dir):
        sys.exit(f"driver: OUT_DIR is not empty: {out_dir}")
    rec = Recorder(results_path)

    # The config object as compact JSON text (inline JSON: it starts with '{'), ${OUT_DIR} replaced.
    text = json.dumps(scenario["config"], separators=(",", ":"), ensure_ascii=False)
    text = text.replace("${OUT_DIR}", out_dir)
    client = rec.call("configure", "configure", lambda: monitoring.Client(text))
    if client is None:
        return
    jobs = {}
    for i, step in enumerate(scenario.get("steps", [])):
        run_step(i, step, client, jobs, rec)
    rec.call("final_flush", "flush", lambda: client.flush(timeout=10.0))
    rec.call("final_shutdown", "shutdown", lambda: client.shutdown(timeout=10.0))
    # Unfinished jobs are abandoned: the client is shut down, so collecting them emits nothing.
    abandoned.extend(jobs.values())


if __name__ == "__main__":
    main()
