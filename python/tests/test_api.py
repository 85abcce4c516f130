"""configure, emit, flush, shutdown, stats and the error mapping."""

import datetime
import enum
import json
import socket
import threading
import uuid
from pathlib import Path

import pytest

import monitoring
from conftest import config_for, read_events


# ---------------------------------------------------------------- configure


def test_configure_sets_the_default_client(tmp_path):
    client = monitoring.configure(config_for(tmp_path))
    try:
        assert monitoring.get_client() is client
        assert monitoring.emit({"event": {"kind": "log", "message": "via module"}}) is True
        monitoring.flush(10)
        assert monitoring.stats()["delivered"] == 1
        [event] = read_events(tmp_path / "events")
        assert event["event"]["message"] == "via module"
        assert event["app"] == {"name": "pytest", "version": "1.0", "instance_id": "test-host"}
    finally:
        monitoring.shutdown()


def test_default_client_is_configured_lazily_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "monitoring.json"
    path.write_text(json.dumps(config_for(tmp_path)))
    monkeypatch.setenv("MONITORING_CONFIG", str(path))
    monkeypatch.setenv("MONITORING_APP_NAME", "from-env")
    monitoring._default = None
    assert monitoring.emit({"event": {"kind": "heartbeat"}}) is True
    client = monitoring.get_client()
    client.shutdown(10)
    [event] = read_events(tmp_path / "events")
    assert event["app"]["name"] == "from-env"


def test_config_sources(tmp_path, events_dir):
    cfg = config_for(tmp_path)
    yaml_file = tmp_path / "m.yaml"
    yaml_file.write_text(
        "app: {name: yaml-app, version: '2.0'}\n"
        f"direct_backends:\n  - {{type: filesystem, name: local, path: '{events_dir}'}}\n"
        f"spool: {{path: '{tmp_path / 'spool'}'}}\n"
    )
    for source in [cfg, json.dumps(cfg), yaml_file, str(yaml_file), yaml_file.read_text()]:
        client = monitoring.Client(source)
        assert client.mode == "direct" and client.on_full == "drop"
        client.shutdown(5)


def test_overrides_mapping(tmp_path, events_dir):
    client = monitoring.Client(
        config_for(tmp_path),
        app_name="kw-app",
        site_id="fab9",
        app={"version": "9.9"},
        queue__on_full="block",
        limits={"max_event_bytes": 4096},
    )
    assert client.on_full == "block"
    client.emit({"event": {"kind": "log"}})
    with pytest.raises(monitoring.InvalidArgumentError):
        client.emit({"event": {"kind": "log", "message": "x" * 5000}})
    client.shutdown(10)
    [event] = read_events(events_dir)
    assert event["app"]["name"] == "kw-app"
    assert event["app"]["version"] == "9.9"
    assert event["app"]["instance_id"] == "test-host"  # merged, not replaced
    assert event["site_id"] == "fab9"


def test_path_values_in_overrides(tmp_path, events_dir):
    client = monitoring.Client(
        None, direct_backends=[{"type": "filesystem", "name": "p", "path": events_dir}], spool__path=tmp_path
    )
    client.emit('{"event":{"kind":"log"}}')
    client.shutdown(10)
    assert len(read_events(events_dir)) == 1


def test_config_error_names_the_key(tmp_path):
    cfg = config_for(tmp_path)
    cfg["direct_backends"].append({"type": "filesystem", "name": "b", "bukcet": "x"})
    with pytest.raises(monitoring.ConfigError) as info:
        monitoring.Client(cfg)
    e = info.value
    assert isinstance(e, ValueError) and isinstance(e, monitoring.MonitoringError)
    assert e.field == "direct_backends[1].bukcet" and e.status == "config"
    assert "direct_backends[1].bukcet" in str(e)
    with pytest.raises(monitoring.ConfigError, match="queue.on_full"):
        monitoring.Client(config_for(tmp_path), queue__on_full="sometimes")
    with pytest.raises(monitoring.ConfigError, match="cannot read"):
        monitoring.Client(str(tmp_path / "missing.yaml"))
    with pytest.raises(monitoring.ConfigError):
        monitoring.Client(config_for(tmp_path), app={"name": object()})
    with pytest.raises(TypeError):
        monitoring.Client(42)


# ---------------------------------------------------------------- emit


def test_emit_dict_str_bytes(client, events):
    assert client.emit({"event": {"kind": "log", "message": "dict"}}) is True
    assert client.emit('{"event":{"kind":"log","message":"str"}}') is True
    assert client.emit(b'{"event":{"kind":"log","message":"bytes"}}') is True
    assert client.emit(bytearray(b'{"event":{"kind":"log","message":"bytearray"}}')) is True
    assert [e["event"]["message"] for e in events()] == ["dict", "str", "bytes", "bytearray"]
    with pytest.raises(TypeError, match="list"):
        client.emit([1, 2])


class Color(enum.Enum):
    RED = "red"


def test_dict_conversion_is_exact(client, events):
    when = datetime.datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    ident = uuid.UUID("01936f4e-8c2a-7b3d-9e4f-0a1b2c3d4e5f")
    metadata = {
        "float": 0.1 + 0.2,
        "tiny": 5e-324,
        "big": 2**63 + 5,
        "neg": -(2**40),
        "ints": (1, 2, 3),
        "nested": {"empty": {}, "list": [], "null": None, "t": True, "f": False},
        "text": 'quote " backslash \\ tab \t nl \n ctl \x01 é 晶圆 🚀',
        "enum": Color.RED,
        "uuid": ident,
        "path": Path("/tmp/x"),
        "date": datetime.date(2026, 1, 2),
    }
    client.emit({"event": {"kind": "log", "at": when, "metrics": {"x": 1.7976931348623157e308}, "metadata": metadata}})
    [event] = events()
    got = event["event"]["metadata"]
    assert event["event"]["at"] == "2026-11-22T10:00:00.123456Z"
    assert event["event"]["metrics"]["x"] == 1.7976931348623157e308
    assert got["float"] == 0.1 + 0.2 and got["tiny"] == 5e-324 and got["neg"] == -(2**40)
    assert got["ints"] == [1, 2, 3]
    assert got["nested"] == {"empty": {}, "list": [], "null": None, "t": True, "f": False}
    assert got["text"] == metadata["text"]
    assert got["enum"] == "red" and got["uuid"] == str(ident) and got["path"] == "/tmp/x"
    assert got["date"] == "2026-01-02"


def test_invalid_events_name_the_field(client, events):
    cases = [
        ({"event": {"kind": "exploded"}}, "event.kind"),
        ({"event": {"kind": "log", "colour": "red"}}, "event.colour"),
        ({"colour": 1, "event": {"kind": "log"}}, "colour"),
        ({"event": {"kind": "progress", "progress": 150}}, "event.progress"),
        ({"event": {"kind": "metric", "metrics": {"temp": "hot"}}}, "event.metrics.temp"),
        ({"event": {"kind": "metric", "metrics": {"temp": float("nan")}}}, "event.metrics.temp"),
        ({"event": {"kind": "log", "metadata": {"tags": [1, object()]}}}, "event.metadata.tags[1]"),
        ({"event": {"kind": "log", "metadata": {"bad": "\ud800"}}}, "event.metadata.bad"),
        ({"event": {"kind": "log", "at": "yesterday"}}, "event.at"),
    ]
    for event, field in cases:
        with pytest.raises(monitoring.InvalidArgumentError) as info:
            client.emit(event)
        assert isinstance(info.value, ValueError)
        assert info.value.status == "invalid_argument"
        assert info.value.field == field, (event, str(info.value))
        assert field in str(info.value)
    with pytest.raises(monitoring.InvalidArgumentError, match="keys must be strings"):
        client.emit({"event": {"kind": "log", "metadata": {1: "x"}}})
    with pytest.raises(monitoring.InvalidArgumentError, match="not valid UTF-8"):
        client.emit(b'{"event":{"kind":"log","message":"\xff"}}')
    with pytest.raises(monitoring.InvalidArgumentError):
        client.emit("not json")
    loop = {"kind": "log"}
    loop["self"] = loop
    with pytest.raises(monitoring.InvalidArgumentError, match="nested"):
        client.emit({"event": {"kind": "log", "metadata": loop}})
    client.emit({"event": {"kind": "log", "message": "control"}})
    assert [e["event"]["message"] for e in events()] == ["control"]
    # `invalid` counts the engine's rejections (8 here); values the package cannot convert to
    # JSON (NaN, objects, lone surrogates, non-string keys, cycles) never reach the engine.
    assert client.stats()["invalid"] == 8


def test_dict_changed_during_conversion_is_an_error_not_a_crash(client):
    metadata = {}

    class Mutating:
        def isoformat(self):
            metadata["added"] = 1
            return "2026-01-01"

    metadata["a"] = Mutating()
    metadata["b"] = 2
    with pytest.raises(monitoring.InvalidArgumentError, match="changed size"):
        client.emit({"event": {"kind": "log", "metadata": metadata}})


def test_private_dumps_matches_json(client):
    from monitoring import _native

    value = {"a": [1, 2.5, None, True, "x\u00e9\n"], "b": {"c": -3}}
    assert json.loads(_native._dumps(value)) == value
    assert _native._dumps("\x00") == b'"\\u0000"'


def test_queue_full_returns_false_and_counts(make_client, tmp_path):
    client = make_client(config_for(tmp_path, queue={"capacity": 1, "batch_max": 1}))
    results = [client.emit({"event": {"kind": "log", "message": str(i)}}) for i in range(20000)]
    client.flush(30)
    stats = client.stats()
    assert False in results, "the queue never filled"
    assert stats["dropped"] == results.count(False)
    assert stats["delivered"] == results.count(True)
    assert stats["emitted"] == len(results)


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/events"
    stop.set()
    t.join()
    for c in held:
        c.close()
    server.close()


def test_flush_timeout_is_a_timeout_error(make_client, tmp_path, silent_server):
    client = make_client(
        config_for(tmp_path, direct_backends=[{"type": "webhook", "name": "slow", "url": silent_server, "timeout_ms": 3000}])
    )
    client.emit({"event": {"kind": "log"}})
    with pytest.raises(monitoring.FlushTimeoutError) as info:
        client.flush(timeout=0.3)
    assert isinstance(info.value, TimeoutError) and info.value.status == "timeout"
    with pytest.raises(TimeoutError):
        client.shutdown(timeout=0.5)


def test_shutdown_is_idempotent_and_final(client, events_dir):
    client.emit({"event": {"kind": "log", "message": "before"}})
    client.shutdown(5)
    client.shutdown(5)
    assert client.is_shut_down
    for call in (
        lambda: client.emit({"event": {"kind": "log"}}),
        lambda: client.flush(1),
        lambda: client.job("late"),
    ):
        with pytest.raises(monitoring.ShutdownError) as info:
            call()
        assert isinstance(info.value, RuntimeError) and info.value.status == "shutdown"
    assert [e["event"]["message"] for e in read_events(events_dir)] == ["before"]


def test_stats_shape(client):
    client.emit({"event": {"kind": "log"}})
    client.flush(10)
    stats = client.stats()
    for key in ("emitted", "dropped", "delivered", "failed", "retried", "spooled", "queue_depth", "invalid", "unrouted"):
        assert isinstance(stats[key], int), key
    assert stats["emitted"] == stats["delivered"] == 1
    assert stats["backends"]["local"]["type"] == "filesystem"
    assert stats["backends"]["local"]["breaker"] == "closed"


def test_timeouts_are_validated(client):
    with pytest.raises(ValueError):
        client.flush(-1)
    with pytest.raises(ValueError):
        client.flush(float("nan"))
    client.flush(None)


def test_client_as_context_manager(tmp_path, events_dir):
    with monitoring.Client(config_for(tmp_path)) as client:
        client.emit({"event": {"kind": "log"}})
    assert client.is_shut_down
    assert len(read_events(events_dir)) == 1
    assert "shut down" in repr(client)


def test_release_gil_on_emit_switch(client, events):
    client._set_release_gil_on_emit(True)
    assert client.emit({"event": {"kind": "log", "message": "detached"}})
    client._set_release_gil_on_emit(False)
    assert [e["event"]["message"] for e in events()] == ["detached"]
