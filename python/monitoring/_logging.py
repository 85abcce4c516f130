"""A logging.Handler that turns log records into `log` events."""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional

from . import Client, current_job, get_client
from ._errors import ShutdownError

__all__ = ["LoggingHandler"]

# Longest message and exception text a record contributes (the whole event must stay under
# limits.max_event_bytes, 64 KiB by default).
_MAX_TEXT = 16384


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _rfc3339(created: float) -> str:
    seconds = int(created)
    micros = int((created - seconds) * 1e6)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%06dZ" % micros


class LoggingHandler(logging.Handler):
    """Sends each log record as an event of kind ``log``::

        logging.getLogger().addHandler(monitoring.LoggingHandler())

    The event: ``event.message`` is the record's message (``record.getMessage()``, or the
    handler's formatter output if one is set), ``event.at`` the record's time, and
    ``event.metadata`` holds ``level`` (``"WARNING"``), ``logger``, ``module``, ``function``,
    ``line``, ``thread``, ``process``, and for records with ``exc_info`` the formatted
    ``exception`` and its ``error_type``. A dict passed as ``extra={"monitoring_metadata": {...}}``
    is added to the metadata. Inside a ``with job`` block the event's entity is that job.

    ``client``: the client to use (default: the module's default client, looked up per record).
    Like every logging handler it never raises: errors go to ``handleError`` (records logged
    after the client was shut down are dropped silently).
    """

    def __init__(self, level: int = logging.NOTSET, client: Optional[Client] = None) -> None:
        super().__init__(level)
        self.client = client

    def to_event(self, record: logging.LogRecord) -> Dict[str, Any]:
        """The event for a record (override to change it)."""
        metadata: Dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
            "thread": record.threadName,
            "process": record.process,
        }
        if record.exc_info and record.exc_info[1] is not None:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            exc_type = record.exc_info[0]
            if exc_type is not None:
                metadata["error_type"] = exc_type.__qualname__
        if record.exc_text:
            metadata["exception"] = _clip(record.exc_text)
        if record.stack_info:
            metadata["stack"] = _clip(record.stack_info)
        extra = getattr(record, "monitoring_metadata", None)
        if isinstance(extra, dict):
            metadata.update(extra)
        message = self.format(record) if self.formatter else record.getMessage()
        event: Dict[str, Any] = {
            "event": {
                "kind": "log",
                "at": _rfc3339(record.created),
                "message": _clip(message),
                "metadata": metadata,
            }
        }
        job = current_job()
        if job is not None:
            event["entity"] = {
                "type": job.entity_type,
                "id": job.id,
                "parent_id": job.parent_id,
                "business_key": job.business_key,
                "sub_key": job.sub_key,
            }
        return event

    def emit(self, record: logging.LogRecord) -> None:
        try:
            client = self.client if self.client is not None else get_client()
            client.emit(self.to_event(record))
        except ShutdownError:
            pass
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - a handler never raises
            self.handleError(record)

    def flush(self) -> None:
        """Does not wait for delivery (logging calls flush often); see ``Client.flush``."""
