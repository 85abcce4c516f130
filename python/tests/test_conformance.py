"""The cross-language conformance scenarios, replayed through tests/conformance/python/driver.py
and judged by tests/conformance/check.py (the same as `tests/conformance/run.sh python`)."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

CONFORMANCE = ROOT / "tests" / "conformance"
SCENARIOS = sorted((CONFORMANCE / "scenarios").glob("*.json"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_scenario(scenario, tmp_path):
    out, results = tmp_path / "out", tmp_path / "results.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITORING_")}
    env["TZ"] = "Asia/Kolkata"
    driver = subprocess.run(
        [sys.executable, str(CONFORMANCE / "python" / "driver.py"), str(scenario), str(out), str(results)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert driver.returncode == 0, driver.stderr
    check = subprocess.run(
        [sys.executable, str(CONFORMANCE / "check.py"), str(scenario), str(results), str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
