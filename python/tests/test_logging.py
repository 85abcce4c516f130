"""The logging handler."""

import logging

import monitoring


def test_records_become_log_events(client, events):
    logger = logging.getLogger("tests.etch")
    logger.propagate = False
    handler = monitoring.LoggingHandler(client=client)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("loaded %d wafers", 25, extra={"monitoring_metadata": {"lot": "LOT-42"}})
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("etch failed")
        with client.job("etch") as job:
            logger.warning("inside the job")
    finally:
        logger.removeHandler(handler)
    evs = [e for e in events() if e["event"]["kind"] == "log"]
    assert [e["event"]["message"] for e in evs] == ["loaded 25 wafers", "etch failed", "inside the job"]
    first = evs[0]["event"]
    assert first["metadata"]["level"] == "INFO"
    assert first["metadata"]["logger"] == "tests.etch"
    assert first["metadata"]["function"] == "test_records_become_log_events"
    assert first["metadata"]["lot"] == "LOT-42"
    assert first["at"].endswith("Z")
    err = evs[1]["event"]["metadata"]
    assert err["level"] == "ERROR" and err["error_type"] == "ZeroDivisionError"
    assert "Traceback" in err["exception"] and "ZeroDivisionError" in err["exception"]
    assert evs[0]["entity"]["type"] == "app"
    assert evs[2]["entity"]["id"] == job.id and evs[2]["entity"]["type"] == "job"


def test_handler_never_raises(client, capsys):
    logger = logging.getLogger("tests.never")
    logger.propagate = False
    handler = monitoring.LoggingHandler(client=client)
    logger.addHandler(handler)
    try:
        client.shutdown(5)
        logger.error("after shutdown")  # dropped silently
        assert capsys.readouterr().err == ""
    finally:
        logger.removeHandler(handler)


def test_formatter_and_default_client(tmp_path):
    from conftest import config_for, read_events

    monitoring.configure(config_for(tmp_path))
    logger = logging.getLogger("tests.fmt")
    logger.propagate = False
    handler = monitoring.LoggingHandler()
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger.addHandler(handler)
    try:
        logger.error("formatted")
    finally:
        logger.removeHandler(handler)
    monitoring.shutdown(10)
    [event] = read_events(tmp_path / "events")
    assert event["event"]["message"] == "[ERROR] formatted"
