"""The wheel installs with pip into a fresh virtualenv and imports outside the source tree."""

import glob
import os
import subprocess
import sys
import venv

import pytest

from conftest import ROOT


def wheel_path():
    wheel = os.environ.get("MONITORING_WHEEL")
    if wheel:
        return wheel
    found = sorted(glob.glob(str(ROOT / "target" / "wheels" / "monitoring-*-abi3-*.whl")))
    if not found:
        pytest.skip("no built wheel (python/run-tests.sh builds it)")
    return found[-1]


def test_wheel_in_a_fresh_venv(tmp_path):
    wheel = wheel_path()
    assert "-cp39-abi3-" in os.path.basename(wheel)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check", wheel], check=True
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = r"""
import glob, json, monitoring
assert "site-packages" in monitoring.__file__, monitoring.__file__
client = monitoring.configure(app_name="wheel-test")
try:
    with client.job("etch") as job:
        raise RuntimeError("boom")
except RuntimeError:
    pass
monitoring.shutdown(10)
[path] = glob.glob("monitoring-events/*.jsonl")
print(json.dumps([json.loads(l)["event"]["kind"] for l in open(path)]))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITORING_", "PYTHON"))}
    done = subprocess.run([str(python), "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '["started", "error"]'
    assert sys.prefix != str(env_dir)
