"""python/examples run as documented."""

import json
import subprocess
import sys

from conftest import ROOT


def test_job_fails_example(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "python" / "examples" / "job_fails.py"), str(tmp_path / "events")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "failed: chamber pressure out of range" in lines[0]
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert [e["event"]["kind"] for e in events] == ["started", "progress", "metric", "error"]
    final = events[-1]["event"]
    assert final["metrics"]["duration_s"] >= 0.2 and final["metrics"]["mem_max_mb"] > 1
    assert final["metadata"]["error_type"] == "RuntimeError"
