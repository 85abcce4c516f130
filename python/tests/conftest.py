"""Shared fixtures: clients writing to a temporary directory, and reading the events back."""

import glob
import json
import os
import sys
from pathlib import Path

import pytest

import monitoring

HERE = Path(__file__).resolve().parent
# Helpers for multiprocessing children (spawn imports them by name).
sys.path.insert(0, str(HERE))

ROOT = Path(os.environ.get("MONITORING_ROOT") or HERE.parents[1])


def read_events(directory):
    """Every event the filesystem backend wrote under `directory`, in file and line order."""
    events = []
    for path in sorted(glob.glob(os.path.join(str(directory), "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            events.extend(json.loads(line) for line in f if line.strip())
    return events


def config_for(directory, **extra):
    cfg = {
        "app": {"name": "pytest", "version": "1.0", "site_id": "fab1", "instance_id": "test-host"},
        "direct_backends": [{"type": "filesystem", "name": "local", "path": str(directory / "events")}],
        "spool": {"path": str(directory / "spool")},
        "queue": {"flush_interval_ms": 50},
    }
    cfg.update(extra)
    return cfg


@pytest.fixture
def events_dir(tmp_path):
    return tmp_path / "events"


@pytest.fixture
def make_client(tmp_path):
    """make_client(**overrides) -> Client writing to tmp_path/events; shut down afterwards."""
    made = []

    def make(config=None, **overrides):
        client = monitoring.Client(config if config is not None else config_for(tmp_path), **overrides)
        made.append(client)
        return client

    yield make
    for client in made:
        try:
            client.shutdown(5)
        except monitoring.MonitoringError:
            pass


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def events(client, events_dir):
    """events() -> flushes the client and returns everything it wrote."""

    def read():
        client.flush(10)
        return read_events(events_dir)

    return read


@pytest.fixture(autouse=True)
def _no_default_client_leak():
    """Tests that set the module's default client get a clean one afterwards."""
    yield
    monitoring._default = None
