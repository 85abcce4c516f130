"""monitoring: report what your jobs do (started, progress, metrics, finished, failed) without
being slowed down or crashed by the reporting.

The engine is Rust (validation, a bounded queue, batching, delivery with retry and circuit
breaker, files, HTTP, the sidecar agent); this package is its Python face::

    import monitoring

    client = monitoring.configure(app_name="wafer-etch", site_id="fab1")
    client.emit({"event": {"kind": "log", "message": "hello"}})

    with client.job("etch", entity_type="lot", business_key="LOT-42") as job:
        job.progress(50, "half way")
        job.metric("wafers", 25)
        raise RuntimeError("chamber pressure out of range")   # -> an `error` event, re-raised

Scripts can use the module-level default client instead (``monitoring.emit``,
``monitoring.job``, ``@monitoring.monitored``), configured lazily from the environment
(``MONITORING_*`` variables, ``MONITORING_CONFIG``) on first use, or by ``monitoring.configure``.

Every client is flushed and shut down at interpreter exit (``atexit``, and at the end of
``multiprocessing`` children), and after ``os.fork()`` the child gets its own engine threads.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import json
import os
import sys
import threading
from typing import (
    Any,
    Callable,
    Dict,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    overload,
)

from . import _native
from ._errors import (
    ConfigError,
    FlushTimeoutError,
    InternalError,
    InvalidArgumentError,
    IoError,
    MonitoringError,
    QueueFullError,
    ShutdownError,
)

__version__: str = _native.__version__

__all__ = [
    "Client",
    "Job",
    "LoggingHandler",
    "configure",
    "get_client",
    "emit",
    "job",
    "monitored",
    "flush",
    "shutdown",
    "stats",
    "current_job",
    "atexit_timeout",
    "MonitoringError",
    "InvalidArgumentError",
    "ConfigError",
    "QueueFullError",
    "FlushTimeoutError",
    "ShutdownError",
    "IoError",
    "InternalError",
    "__version__",
]

F = TypeVar("F", bound=Callable[..., Any])
ConfigSource = Union[None, str, "os.PathLike[str]", Mapping[str, Any]]

#: Seconds each client gets to flush and shut down at interpreter exit.
atexit_timeout: float = 5.0


class _Inherit:
    """Default of ``parent_id``: the job of the enclosing ``with`` block, if any."""

    def __repr__(self) -> str:
        return "<the enclosing job>"


_INHERIT: Any = _Inherit()

# The job of the innermost enclosing `with job` block (per thread and per asyncio task).
_current_job: "contextvars.ContextVar[Optional[Job]]" = contextvars.ContextVar(
    "monitoring_current_job", default=None
)

# Keyword overrides that mirror the MONITORING_* environment variables.
_SHORTCUTS: Dict[str, Tuple[str, ...]] = {
    "app_name": ("app", "name"),
    "app_version": ("app", "version"),
    "site_id": ("app", "site_id"),
    "instance_id": ("app", "instance_id"),
    "sidecar_url": ("sidecar", "url"),
    "sidecar_token": ("sidecar", "token"),
}


def _merge(base: Dict[str, Any], top: Mapping[str, Any]) -> None:
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        elif isinstance(value, Mapping):
            base[key] = {}
            _merge(base[key], value)
        else:
            base[key] = value


def _overrides_document(overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """Keyword arguments of `configure` as one nested document (see `configure`)."""
    doc: Dict[str, Any] = {}
    for key, value in overrides.items():
        path = _SHORTCUTS.get(key) or tuple(key.split("__"))
        if not all(path):
            raise ConfigError(f"configuration error: `{key}` is not a valid keyword (empty key)")
        _merge(doc, _nest(path, value))
    return doc


def _nest(path: Tuple[str, ...], value: Any) -> Dict[str, Any]:
    doc: Dict[str, Any] = {path[-1]: value}
    for key in reversed(path[:-1]):
        doc = {key: doc}
    return doc


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"a value of type `{type(value).__name__}` cannot be written as JSON")


def _to_json(doc: Any, what: str) -> str:
    try:
        return json.dumps(doc, default=_json_default, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        err = ConfigError(f"configuration error: {what}: {e}")
        raise err from None


def _config_args(config: ConfigSource, overrides: Mapping[str, Any]) -> Tuple[Optional[str], Optional[str]]:
    if config is None or isinstance(config, str):
        source = config
    elif isinstance(config, os.PathLike):
        source = os.fspath(config)
    elif isinstance(config, Mapping):
        source = _to_json(config, "config")
    else:
        raise TypeError(
            "config must be None, a path, inline YAML/JSON text or a mapping, "
            f"not `{type(config).__name__}`"
        )
    doc = _overrides_document(overrides)
    return source, (_to_json(doc, "overrides") if doc else None)


# Every client not yet shut down: shut down at exit. (Strong references: a client runs threads
# until it is shut down, so it lives until then.)
_clients: "set[Client]" = set()
_clients_lock = threading.Lock()


class Client(_native.Client):
    """A configured monitoring client. Thread-safe; share one per process.

    ``Client(config=None, **overrides)`` is :func:`configure` without making the client the
    module's default. Inherited from the engine (see ``monitoring/_native.pyi``):
    ``emit(event) -> bool``, ``flush(timeout=5.0)``, ``stats() -> dict``, ``is_shut_down``,
    ``mode``, ``on_full``.
    """

    def __new__(cls, config: ConfigSource = None, **overrides: Any) -> "Client":
        source, override_text = _config_args(config, overrides)
        self = super().__new__(cls, source, override_text)
        with _clients_lock:
            _clients.add(self)
        return self

    def __repr__(self) -> str:
        state = "shut down" if self.is_shut_down else f"mode={self.mode} on_full={self.on_full}"
        return f"<monitoring.Client {state}>"

    def job(
        self,
        name: str,
        *,
        entity_type: Optional[str] = None,
        parent_id: Union[None, str, "Job"] = _INHERIT,
        business_key: Optional[str] = None,
        sub_key: Optional[str] = None,
    ) -> "Job":
        """Starts a job now (emits ``started``) and returns it; use it as a context manager::

            with client.job("etch", entity_type="lot", business_key="LOT-42") as job:
                ...

        ``entity_type`` defaults to ``"job"``. ``parent_id`` is a job id or a :class:`Job`;
        by default the job of the enclosing ``with`` block (none outside one; pass ``None`` for
        none). Raises ``ShutdownError`` after shutdown, ``QueueFullError`` when the queue is
        full (no job is started then).
        """
        if parent_id is _INHERIT:
            enclosing = _current_job.get()
            parent = enclosing.id if enclosing is not None else None
        elif isinstance(parent_id, _native.Job):
            parent = parent_id.id
        else:
            parent = parent_id
        return Job(self, name, entity_type, parent, business_key, sub_key)

    @overload
    def monitored(self, name: F) -> F: ...
    @overload
    def monitored(
        self,
        name: Optional[str] = None,
        *,
        entity_type: Optional[str] = None,
        business_key: Union[None, str, Callable[..., Optional[str]]] = None,
        sub_key: Union[None, str, Callable[..., Optional[str]]] = None,
    ) -> Callable[[F], F]: ...
    def monitored(
        self,
        name: Any = None,
        *,
        entity_type: Optional[str] = None,
        business_key: Any = None,
        sub_key: Any = None,
    ) -> Any:
        """Decorator: each call of the function (sync or ``async``) runs as a job named ``name``
        (default: the function's qualified name). ``business_key`` and ``sub_key`` may be
        callables, called with the function's arguments. Usable bare (``@client.monitored``) or
        with arguments (``@client.monitored("etch", entity_type="lot")``)."""
        return _monitored(lambda: self, name, entity_type, business_key, sub_key)

    def shutdown(self, timeout: Optional[float] = 5.0) -> None:
        """Stops accepting events, flushes within ``timeout`` seconds (None: no limit), stops the
        engine's threads. Idempotent. Raises ``FlushTimeoutError`` if the deadline came first."""
        try:
            super().shutdown(timeout)
        finally:
            with _clients_lock:
                _clients.discard(self)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown()


def _type_name(exc_type: Type[BaseException]) -> str:
    module = getattr(exc_type, "__module__", None)
    name = getattr(exc_type, "__qualname__", exc_type.__name__)
    return name if module in (None, "builtins", "__main__") else f"{module}.{name}"


# Longest message a failed job reports (the whole event must stay under limits.max_event_bytes).
_MAX_MESSAGE = 8192


def _outcome(exc: BaseException) -> Tuple[str, Optional[str]]:
    """The final status and message of a job left by `exc`."""
    if isinstance(exc, SystemExit):
        if exc.code in (None, 0):
            return "succeeded", None
        return "failed", f"SystemExit({exc.code!r})"
    text = str(exc) or type(exc).__name__
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    # KeyboardInterrupt, asyncio.CancelledError, GeneratorExit: the job was stopped, not failed.
    return ("failed" if isinstance(exc, Exception) else "canceled"), text


class Job(_native.Job):
    """A running job, started by :meth:`Client.job`. Inherited from the engine: ``id``,
    ``name``, ``entity_type``, ``parent_id``, ``business_key``, ``sub_key``, ``finished``,
    ``client``, and

    - ``progress(percent, message=None) -> bool``: a ``progress`` event (0..100);
    - ``metric(name, value) -> bool``: a ``metric`` event; the last value of each metric is
      also in the final event;
    - ``metadata(key, value)``: added to every later event of the job (emits nothing);
    - ``finish(status="succeeded", message=None) -> bool``: ``succeeded`` -> ``finished``,
      ``failed`` -> ``error``, ``canceled`` -> ``canceled``, with ``duration_s``,
      ``cpu_user_s``, ``cpu_system_s`` and ``mem_max_mb`` measured by the engine.

    The ``bool`` results are True when the event was queued, False when it was dropped because
    the queue was full. As a context manager the job is finished when the block ends:
    ``succeeded`` normally; ``failed`` (kind ``error``) when an exception leaves the block, with
    the exception's message and ``metadata.error_type`` (its class), and the exception
    propagates; ``canceled`` for ``KeyboardInterrupt`` and ``asyncio.CancelledError``. A job
    finished explicitly inside the block is left as it is. A job garbage-collected while open
    is finished as ``canceled``.
    """

    __slots__ = ("_tokens",)
    _tokens: "list[contextvars.Token[Optional[Job]]]"

    def __enter__(self) -> "Job":
        token = _current_job.set(self)
        try:
            self._tokens.append(token)
        except AttributeError:
            self._tokens = [token]
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Any,
    ) -> None:
        tokens = getattr(self, "_tokens", None)
        if tokens:
            try:
                _current_job.reset(tokens.pop())
            except ValueError:
                pass  # left in another context than it was entered in
        if self.finished:
            return
        try:
            if exc is None:
                self.finish("succeeded")
            else:
                status, message = _outcome(exc)
                if status != "succeeded":
                    self.metadata("error_type", _type_name(type(exc)))
                self.finish(status, message)
        except MonitoringError:
            # The client is shut down, or the event too large: monitoring never masks the
            # block's own outcome.
            pass

    def __repr__(self) -> str:
        state = "finished" if self.finished else "running"
        return f"<monitoring.Job {self.name!r} id={self.id} {state}>"


def _monitored(
    get_client: Callable[[], Client],
    name: Any,
    entity_type: Optional[str],
    business_key: Any,
    sub_key: Any,
) -> Any:
    def decorate(fn: F) -> F:
        job_name = name if isinstance(name, str) else getattr(fn, "__qualname__", repr(fn))

        def start(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Job:
            key = business_key(*args, **kwargs) if callable(business_key) else business_key
            sub = sub_key(*args, **kwargs) if callable(sub_key) else sub_key
            return get_client().job(job_name, entity_type=entity_type, business_key=key, sub_key=sub)

        import inspect

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with start(args, kwargs):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with start(args, kwargs):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if callable(name) and not isinstance(name, str):
        fn, name = name, None
        return decorate(fn)
    return decorate


# ------------------------------------------------------------------ the module's default client

_default: Optional[Client] = None
_default_lock = threading.Lock()


def configure(config: ConfigSource = None, **overrides: Any) -> Client:
    """Creates a client, makes it the module's default client, and returns it.

    ``config``: None (``MONITORING_CONFIG`` if set, else defaults), a path to a ``.yaml``,
    ``.yml`` or ``.json`` file, inline YAML/JSON text, or a dict of configuration keys.

    ``overrides``: explicit keys, the highest precedence (over environment, file and defaults):

    - ``app_name``, ``app_version``, ``site_id``, ``instance_id``, ``sidecar_url``,
      ``sidecar_token`` set ``app.name`` ... ``sidecar.token`` (as the ``MONITORING_*``
      variables do);
    - any other keyword is a top-level key (``mode="sidecar"``, ``queue={"capacity": 1024}``,
      ``direct_backends=[{...}]``); a double underscore goes one level down
      (``queue__on_full="block"`` is ``queue: {on_full: block}``);
    - mappings are merged key by key into what the file and environment give; anything else
      replaces; ``pathlib.Path`` values become strings.

    Raises :class:`ConfigError` (a ValueError) naming the key for an invalid configuration.
    A previous default client keeps running (it is shut down at exit).
    """
    global _default
    client = Client(config, **overrides)
    with _default_lock:
        _default = client
    return client


def get_client() -> Client:
    """The module's default client: the last one :func:`configure` made, else one configured
    from the environment on first use."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            if _default is None:
                _default = Client()
            client = _default
    return client


def emit(event: Union[Dict[str, Any], str, bytes, bytearray]) -> bool:
    """:meth:`Client.emit` on the default client."""
    return get_client().emit(event)


def job(
    name: str,
    *,
    entity_type: Optional[str] = None,
    parent_id: Union[None, str, Job] = _INHERIT,
    business_key: Optional[str] = None,
    sub_key: Optional[str] = None,
) -> Job:
    """:meth:`Client.job` on the default client."""
    return get_client().job(
        name, entity_type=entity_type, parent_id=parent_id, business_key=business_key, sub_key=sub_key
    )


@overload
def monitored(name: F) -> F: ...
@overload
def monitored(
    name: Optional[str] = None,
    *,
    entity_type: Optional[str] = None,
    business_key: Union[None, str, Callable[..., Optional[str]]] = None,
    sub_key: Union[None, str, Callable[..., Optional[str]]] = None,
) -> Callable[[F], F]: ...
def monitored(
    name: Any = None,
    *,
    entity_type: Optional[str] = None,
    business_key: Any = None,
    sub_key: Any = None,
) -> Any:
    """:meth:`Client.monitored` on the default client (looked up at each call, so decorating
    before :func:`configure` is fine)."""
    return _monitored(get_client, name, entity_type, business_key, sub_key)


def flush(timeout: Optional[float] = 5.0) -> None:
    """:meth:`Client.flush` on the default client (nothing to do if there is none yet)."""
    if _default is not None:
        _default.flush(timeout)


def shutdown(timeout: Optional[float] = 5.0) -> None:
    """:meth:`Client.shutdown` on the default client (nothing to do if there is none yet)."""
    if _default is not None:
        _default.shutdown(timeout)


def stats() -> Dict[str, Any]:
    """:meth:`Client.stats` of the default client."""
    return get_client().stats()


def current_job() -> Optional[Job]:
    """The job of the innermost enclosing ``with job`` block (or ``@monitored`` call), if any."""
    return _current_job.get()


# ------------------------------------------------------------------ process lifecycle


def _shutdown_all() -> None:
    """At exit: flush and shut down every client, within `atexit_timeout` each. Never raises."""
    with _clients_lock:
        clients = list(_clients)
    for client in clients:
        try:
            client.shutdown(atexit_timeout)
        except BaseException:  # noqa: BLE001 - nothing may escape at exit
            pass


atexit.register(_shutdown_all)


class _AfterForkKey:
    """A weak-referenceable key for multiprocessing's after-fork registry."""


_MP_KEY = _AfterForkKey()


def _register_mp_finalizer(_key: object) -> None:
    # multiprocessing children started by fork end with os._exit(): atexit handlers do not run
    # there, multiprocessing's own finalizers do.
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(None, _shutdown_all, exitpriority=-100)


def _after_fork_child() -> None:
    global _clients_lock, _default_lock
    _native.after_fork_child()
    # A lock another thread of the parent held at the fork stays held forever in the child.
    _clients_lock = threading.Lock()
    _default_lock = threading.Lock()
    _arrange_multiprocessing_exit()


def _arrange_multiprocessing_exit() -> None:
    """In a multiprocessing child (which ends with os._exit() where atexit handlers do not run),
    shut the clients down from multiprocessing's own exit finalizers: now (for a module first
    imported while the child runs, e.g. by a Pool task) and after the child's bootstrap clears
    the finalizers it inherited (for a module imported before that)."""
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    try:
        util.Finalize(None, _shutdown_all, exitpriority=-100)
        util.register_after_fork(_MP_KEY, _register_mp_finalizer)
    except Exception:  # noqa: BLE001 - never fail an import or a fork hook
        pass


_arrange_multiprocessing_exit()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_native.before_fork,
        after_in_parent=_native.after_fork_parent,
        after_in_child=_after_fork_child,
    )

from ._logging import LoggingHandler  # noqa: E402  (needs the names above)
