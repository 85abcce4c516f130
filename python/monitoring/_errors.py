"""The exceptions of the monitoring package.

Every exception the SDK raises for an engine error is a :class:`MonitoringError`, and also an
instance of the built-in exception it resembles, so ``except ValueError`` and ``except
TimeoutError`` work as a Python user expects. Each carries:

- ``status``: the engine's status name (``"invalid_argument"``, ``"config"``, ``"queue_full"``,
  ``"timeout"``, ``"shutdown"``, ``"io"``, ``"internal"``), the same names as the C ABI's
  ``monitoring_status`` values;
- ``field``: the JSON path of the offending field (``"event.kind"``) or the configuration key
  (``"direct_backends[1].bukcet"``) when the engine named one, else ``None``;
- ``str(exc)``: the engine's message, unchanged.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "MonitoringError",
    "InvalidArgumentError",
    "ConfigError",
    "QueueFullError",
    "FlushTimeoutError",
    "ShutdownError",
    "IoError",
    "InternalError",
]


class MonitoringError(Exception):
    """Base class of every error the monitoring engine reports."""

    #: The engine's status name for this error.
    status: str = "internal"
    #: The field path or configuration key the error is about, if the engine named one.
    field: Optional[str] = None


class InvalidArgumentError(MonitoringError, ValueError):
    """An invalid event or argument (``status == "invalid_argument"``): an unknown field, an
    unknown kind or status, progress outside 0..100, a non-finite metric, an event too large,
    a value JSON cannot hold. Nothing was queued. ``field`` names the offending field."""

    status = "invalid_argument"


class ConfigError(MonitoringError, ValueError):
    """An invalid configuration (``status == "config"``); ``field`` names the key path, e.g.
    ``direct_backends[1].bukcet``. A ValueError: the configuration is a bad value."""

    status = "config"


class QueueFullError(MonitoringError):
    """The queue was full (``queue.on_full: drop``) when a job tried to emit its ``started``
    event, so no job could be started (``status == "queue_full"``). ``emit()`` and the job
    methods do not raise this: they return ``False`` for a dropped event."""

    status = "queue_full"


class FlushTimeoutError(MonitoringError, TimeoutError):
    """``flush()`` or ``shutdown()`` reached its deadline before every event was delivered
    (``status == "timeout"``). Events still queued keep being delivered in the background."""

    status = "timeout"


class ShutdownError(MonitoringError, RuntimeError):
    """The client is shut down (``status == "shutdown"``): like a closed executor, it accepts
    no more events."""

    status = "shutdown"


class IoError(MonitoringError, OSError):
    """An I/O error the engine could not handle itself (``status == "io"``)."""

    status = "io"


class InternalError(MonitoringError):
    """A bug in the engine (``status == "internal"``); the process is unharmed. Please report."""

    status = "internal"
