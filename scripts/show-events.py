#!/usr/bin/env python3
"""Prints the events of every *.jsonl in DIR, one line each, then the last one in full.

    show-events.py DIR [SUFFIX]     SUFFIX is appended to the "N events in M file(s)" line.
Used by scripts/demo.sh and scripts/demo-sidecar.sh.
"""
import glob
import json
import sys

files = sorted(glob.glob(sys.argv[1] + "/*.jsonl"))
suffix = sys.argv[2] if len(sys.argv) > 2 else ""
events = [json.loads(line) for f in files for line in open(f)]
for e in events:
    ev, ent = e["event"], e["entity"]
    extra = ""
    if ev["progress"] is not None:
        extra += f" progress={ev['progress']}"
    if ev["message"]:
        extra += f" message={ev['message']!r}"
    if ev["metrics"]:
        extra += " metrics=" + json.dumps(ev["metrics"])
    print(f"{ev['at']}  {ev['kind']:<9} {str(ev['status']):<10} {ent['type']}:{ent['id'][:13]}…{extra}")
print(f"\n{len(events)} events in {len(files)} file(s){suffix}. The last one in full:")
if events:
    print(json.dumps(events[-1], indent=2))
