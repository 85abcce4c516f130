"""Threads, asyncio, fork and spawn."""

import asyncio
import json
import multiprocessing
import os
import threading

import pytest

import monitoring
from _mp_helpers import emit_from_child
from conftest import config_for, read_events


def test_threads(client, events):
    n_threads, per_thread = 8, 500
    errors = []

    def work(t):
        try:
            with client.job(f"thread-{t}") as job:
                for i in range(per_thread):
                    assert client.emit({"event": {"kind": "log", "message": f"{t}-{i}"}})
                assert monitoring.current_job() is job
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    evs = events()
    assert len(evs) == n_threads * (per_thread + 2)
    assert len({e["idempotency_key"] for e in evs}) == len(evs)
    for t in range(n_threads):
        mine = [e["event"]["message"] for e in evs if (e["event"]["message"] or "").startswith(f"{t}-")]
        assert mine == [f"{t}-{i}" for i in range(per_thread)]  # per-thread order kept


def test_threads_share_one_job(client, events):
    job = client.job("shared")

    def work(t):
        for i in range(200):
            job.metric(f"m{t}", i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    job.finish()
    final = events()[-1]["event"]
    assert {final["metrics"][f"m{t}"] for t in range(4)} == {199}


def test_on_full_block_releases_the_gil(make_client, tmp_path):
    # A tiny queue in block mode: emitting threads wait for room without holding the GIL, so
    # other Python threads (this one's counter) keep running.
    client = make_client(config_for(tmp_path, queue={"capacity": 2, "batch_max": 1, "on_full": "block"}))
    stop = threading.Event()
    ticks = [0]

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        for i in range(3000):
            assert client.emit({"event": {"kind": "log", "message": str(i)}}) is True
    finally:
        stop.set()
        spinner.join()
    client.flush(30)
    assert client.stats()["delivered"] == 3000 and client.stats()["dropped"] == 0
    assert ticks[0] > 0


def test_asyncio_tasks_have_their_own_current_job(client, events):
    async def task(i):
        with client.job(f"task-{i}") as job:
            await asyncio.sleep(0.01 * (5 - i))
            assert monitoring.current_job() is job
            with client.job(f"sub-{i}") as sub:
                await asyncio.sleep(0.001)
                assert sub.parent_id == job.id
            return job.id

    async def main():
        return await asyncio.gather(*(task(i) for i in range(5)))

    ids = asyncio.run(main())
    evs = events()
    subs = {e["event"]["metadata"]["job_name"]: e["entity"]["parent_id"] for e in evs if e["event"]["kind"] == "started"}
    for i in range(5):
        assert subs[f"sub-{i}"] == ids[i]


def _child_events(events, tag):
    return [e for e in events if e["entity"]["business_key"] == tag or tag in (e["event"]["message"] or "")]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_children_deliver(tmp_path, monkeypatch, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    cfg = config_for(tmp_path)
    del cfg["app"]["instance_id"]  # so each process gets host:pid
    path = tmp_path / "monitoring.json"
    path.write_text(json.dumps(cfg))
    monkeypatch.setenv("MONITORING_CONFIG", str(path))  # for spawned interpreters
    parent = monitoring.configure(str(path))
    parent.emit({"event": {"kind": "log", "message": "parent before"}})
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        pids = pool.map(emit_from_child, [f"{method}-{i}" for i in range(4)])
        # close + join (not terminate, which is what leaving the `with` does): the workers exit
        # normally and deliver what they emitted.
        pool.close()
        pool.join()
    procs = [ctx.Process(target=emit_from_child, args=(f"{method}-proc",)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    parent.emit({"event": {"kind": "log", "message": "parent after"}})
    parent.shutdown(10)
    evs = read_events(tmp_path / "events")
    for i in range(4):
        mine = _child_events(evs, f"{method}-{i}")
        assert [e["event"]["kind"] for e in mine] == ["started", "log", "finished"], (i, mine)
        assert mine[0]["app"]["instance_id"].endswith(f":{pids[i]}")
    assert len(_child_events(evs, f"{method}-proc")) == 6
    assert os.getpid() not in pids
    messages = [e["event"]["message"] for e in evs]
    assert "parent before" in messages and "parent after" in messages
    assert len({e["idempotency_key"] for e in evs}) == len(evs)


def test_raw_fork(client, events_dir):
    client.emit({"event": {"kind": "log", "message": "parent"}})
    pid = os.fork()
    if pid == 0:  # child: its own engine threads
        code = 1
        try:
            client.emit({"event": {"kind": "log", "message": f"child {os.getpid()}"}})
            client.shutdown(10)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.emit({"event": {"kind": "log", "message": "parent again"}})
    client.flush(10)
    messages = sorted(e["event"]["message"] for e in read_events(events_dir))
    assert messages == sorted(["parent", "parent again", f"child {pid}"])
