"""Sidecar mode against a real agent (the monitoring-sidecar binary)."""

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import monitoring
from conftest import ROOT, read_events

TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
AGENT = TARGET / "release" / "monitoring-sidecar"


def agent_binary():
    if AGENT.exists():
        return AGENT
    if not (ROOT / "sidecar" / "Cargo.toml").exists():
        pytest.skip("the sidecar crate (sidecar/) does not exist yet: no agent to test against")
    if shutil.which("cargo") is None:
        pytest.skip("no cargo to build the agent with")
    subprocess.run(["cargo", "build", "--release", "-p", "monitoring-sidecar"], cwd=ROOT, check=True)
    return AGENT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def agent(tmp_path):
    binary = agent_binary()
    port = free_port()
    out = tmp_path / "agent-events"
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        f"ingest: {{listen: '127.0.0.1:{port}', flush_interval: 50ms}}\n"
        f"backends:\n  - {{type: filesystem, name: local, path: '{out}'}}\n"
        f"spool: {{path: '{tmp_path / 'agent-spool'}'}}\n"
    )
    proc = subprocess.Popen(
        [str(binary), "--config", str(config)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the agent did not come up: {proc.stdout.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.05)
    yield url, out, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_sidecar_mode_delivers_through_the_agent(agent, tmp_path):
    url, out, proc = agent
    client = monitoring.Client(
        None, mode="sidecar", sidecar_url=url, app_name="sidecar-test", site_id="fab1", spool__path=tmp_path / "spool"
    )
    assert client.mode == "sidecar"
    client.emit({"event": {"kind": "log", "message": "via agent"}})
    with pytest.raises(ValueError):
        with client.job("etch", business_key="LOT-7") as job:
            job.progress(50)
            raise ValueError("etch failed")
    client.flush(10)
    stats = client.stats()
    assert stats["delivered"] == 4 and stats["backends"]["sidecar"]["type"] == "sidecar"
    client.shutdown(10)
    proc.send_signal(signal.SIGTERM)  # the agent flushes its queue and exits
    proc.wait(15)
    evs = read_events(out)
    assert [e["event"]["kind"] for e in evs] == ["log", "started", "progress", "error"]
    assert evs[0]["app"]["name"] == "sidecar-test" and evs[0]["site_id"] == "fab1"
    final = evs[-1]
    assert final["entity"]["id"] == job.id and final["event"]["message"] == "etch failed"
    assert final["event"]["metadata"]["error_type"] == "ValueError"
    assert final["event"]["metrics"]["duration_s"] >= 0
