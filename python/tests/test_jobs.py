"""Jobs: the context manager, explicit calls, the decorator, nesting, errors."""

import asyncio
import gc

import pytest

import monitoring


def kinds(events):
    return [e["event"]["kind"] for e in events]


def test_job_success(client, events):
    with client.job("etch", entity_type="lot", business_key="LOT-42", sub_key="W01") as job:
        assert monitoring.current_job() is job
        assert job.progress(50, "half way") is True
        assert job.metric("wafers", 25) is True
        job.metadata("tool", "ETCH-07")
        job.metadata("recipe", {"name": "R1", "steps": [1, 2]})
    assert monitoring.current_job() is None
    assert job.finished
    evs = events()
    assert kinds(evs) == ["started", "progress", "metric", "finished"]
    entity = evs[0]["entity"]
    assert entity == {"type": "lot", "id": job.id, "parent_id": None, "business_key": "LOT-42", "sub_key": "W01"}
    final = evs[-1]["event"]
    assert final["status"] == "succeeded"
    assert final["metrics"]["wafers"] == 25
    for key in ("duration_s", "cpu_user_s", "cpu_system_s", "mem_max_mb"):
        assert final["metrics"][key] >= 0, key
    assert final["metrics"]["mem_max_mb"] > 1
    assert final["metadata"] == {"job_name": "etch", "tool": "ETCH-07", "recipe": {"name": "R1", "steps": [1, 2]}}
    assert evs[0]["event"]["metadata"] == {"job_name": "etch"}


class ChamberFault(Exception):
    pass


def test_exception_inside_with_fails_the_job_and_propagates(client, events):
    with pytest.raises(ChamberFault, match="pressure"):
        with client.job("etch") as job:
            job.progress(10)
            raise ChamberFault("chamber pressure out of range")
    evs = events()
    assert kinds(evs) == ["started", "progress", "error"]
    final = evs[-1]["event"]
    assert final["status"] == "failed"
    assert final["message"] == "chamber pressure out of range"
    assert final["metadata"]["error_type"] == "test_jobs.ChamberFault"
    assert "duration_s" in final["metrics"]
    with pytest.raises(ValueError):
        with client.job("builtin"):
            raise ValueError()
    last = events()[-1]["event"]
    assert last["message"] == "ValueError" and last["metadata"]["error_type"] == "ValueError"


def test_base_exceptions(client, events):
    with pytest.raises(KeyboardInterrupt):
        with client.job("interrupted"):
            raise KeyboardInterrupt
    with pytest.raises(SystemExit):
        with client.job("exits-ok"):
            raise SystemExit(0)
    with pytest.raises(SystemExit):
        with client.job("exits-bad"):
            raise SystemExit(3)
    finals = [(e["event"]["metadata"]["job_name"], e["event"]["status"]) for e in events() if e["event"]["kind"] != "started"]
    assert finals == [("interrupted", "canceled"), ("exits-ok", "succeeded"), ("exits-bad", "failed")]


def test_explicit_finish_inside_with_is_kept(client, events):
    with client.job("etch") as job:
        assert job.finish("canceled", "operator abort") is True
    with pytest.raises(monitoring.InvalidArgumentError, match="already finished"):
        job.finish()
    with pytest.raises(monitoring.InvalidArgumentError, match="already finished"):
        job.progress(1)
    assert kinds(events()) == ["started", "canceled"]


def test_invalid_job_arguments(client, events):
    job = client.job("etch")
    with pytest.raises(monitoring.InvalidArgumentError) as info:
        job.progress(150)
    assert info.value.field == "event.progress"
    with pytest.raises(monitoring.InvalidArgumentError) as info:
        job.metric("temp_c", float("inf"))
    assert info.value.field == "event.metrics.temp_c"
    with pytest.raises(TypeError):
        job.metric("temp_c", "hot")
    with pytest.raises(monitoring.InvalidArgumentError) as info:
        job.metadata("bad", {"x": float("nan")})
    assert info.value.field == "event.metadata.bad.x"
    with pytest.raises(monitoring.InvalidArgumentError, match="done"):
        job.finish("done")
    assert not job.finished  # a bad status leaves the job open
    job.finish("failed", None)
    evs = events()
    assert kinds(evs) == ["started", "error"]
    assert evs[-1]["event"]["message"] is None


def test_nesting_inherits_the_parent(client, events):
    with client.job("lot", entity_type="lot") as lot:
        with client.job("wafer") as wafer:
            assert wafer.parent_id == lot.id
            assert monitoring.current_job() is wafer
        assert monitoring.current_job() is lot
        orphan = client.job("orphan", parent_id=None)
        assert orphan.parent_id is None
        orphan.finish()
        explicit = client.job("explicit", parent_id=wafer)
        assert explicit.parent_id == wafer.id
        explicit.finish()
        by_id = client.job("by-id", parent_id="some-id")
        assert by_id.parent_id == "some-id"
        by_id.finish()
    parents = {e["event"]["metadata"]["job_name"]: e["entity"]["parent_id"] for e in events()}
    assert parents == {"lot": None, "wafer": lot.id, "orphan": None, "explicit": wafer.id, "by-id": "some-id"}


def test_garbage_collected_job_is_canceled(client, events):
    job = client.job("forgotten")
    del job
    gc.collect()
    evs = events()
    assert kinds(evs) == ["started", "canceled"]
    assert "garbage-collected" in evs[-1]["event"]["message"]


def test_monitored_decorator(client, events):
    @client.monitored
    def plain(x):
        return x * 2

    @client.monitored("etch", entity_type="lot", business_key=lambda lot, **kw: lot)
    def etch(lot, fail=False):
        assert monitoring.current_job().business_key == lot
        if fail:
            raise RuntimeError(f"{lot} failed")
        return "ok"

    assert plain(21) == 42
    assert plain.__name__ == "plain"
    assert etch("LOT-1") == "ok"
    with pytest.raises(RuntimeError):
        etch("LOT-2", fail=True)
    evs = events()
    finals = [e for e in evs if e["event"]["kind"] != "started"]
    assert [e["event"]["metadata"]["job_name"] for e in finals] == [
        "test_monitored_decorator.<locals>.plain",
        "etch",
        "etch",
    ]
    assert [e["event"]["kind"] for e in finals] == ["finished", "finished", "error"]
    assert finals[2]["entity"]["business_key"] == "LOT-2" and finals[2]["entity"]["type"] == "lot"


def test_monitored_async(client, events):
    @client.monitored("step")
    async def step(i):
        await asyncio.sleep(0.01)
        if i == 3:
            raise ValueError("bad step")
        return monitoring.current_job().id

    async def main():
        return await asyncio.gather(*(step(i) for i in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[3], ValueError)
    ids = [r for r in results if isinstance(r, str)]
    assert len(set(ids)) == 4  # each task saw its own job
    evs = events()
    assert kinds(evs).count("started") == 5
    assert kinds(evs).count("finished") == 4 and kinds(evs).count("error") == 1


def test_module_level_job_and_monitored(tmp_path):
    from conftest import config_for, read_events

    @monitoring.monitored("late-bound")
    def work():
        return 1

    monitoring.configure(config_for(tmp_path))
    with monitoring.job("scripted", business_key="K") as job:
        job.progress(100)
    assert work() == 1
    monitoring.shutdown(10)
    names = [e["event"]["metadata"]["job_name"] for e in read_events(tmp_path / "events")]
    assert names == ["scripted", "scripted", "scripted", "late-bound", "late-bound"]


def test_exit_after_shutdown_never_masks_the_exception(client):
    with pytest.raises(KeyError):
        with client.job("etch"):
            client.shutdown(5)
            raise KeyError("original")


def test_exit_after_shutdown_does_not_raise(client):
    with client.job("etch") as job:
        client.shutdown(5)
    assert job.finished
