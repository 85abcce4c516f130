"""A job that fails inside a `with` block, then the events it wrote.

    python job_fails.py [EVENTS_DIR]        (default: ./monitoring-events)

The `with` block finishes the job as `error` with the exception's message and type, and the
exception goes on as usual. The final event carries the job's duration, CPU time and peak memory,
measured by the engine exactly as for the C example.
"""

import glob
import json
import os
import sys
import time

import monitoring

out = sys.argv[1] if len(sys.argv) > 1 else "./monitoring-events"

client = monitoring.configure(
    app_name="wafer-etch",
    app_version="1.4.2",
    site_id="fab1",
    direct_backends=[{"type": "filesystem", "name": "local", "path": out}],
)

try:
    with client.job("etch", entity_type="lot", business_key="LOT-42") as job:
        job.metadata("tool", "ETCH-07")
        job.progress(50, "half way")
        job.metric("wafers", 25)
        time.sleep(0.2)  # the work
        raise RuntimeError("chamber pressure out of range")
except RuntimeError as e:
    print(f"job {job.id} failed: {e}")

client.shutdown(timeout=5.0)  # flushes; also done at exit

print(f"events of this job in {out}/:")
for path in sorted(glob.glob(os.path.join(out, "*.jsonl"))):
    with open(path, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            if event["entity"]["id"] == job.id:
                print(json.dumps(event, separators=(",", ":")))
