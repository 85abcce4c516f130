//! `monitoring._native`: the Python extension module over the monitoring core (pyo3, abi3).
//!
//! Thin on purpose: `Client` and `Job` hold the core's `Client` and `Job`, convert arguments, and
//! map core errors to the exceptions of `monitoring/_errors.py`. The Python package
//! (`python/monitoring`) subclasses both and adds what is Python's: context managers, the
//! decorator, the default client, `atexit`, the fork hooks, the logging handler.
//!
//! The GIL: `configure`, `flush` and `shutdown` always release it (they wait on the core's
//! threads); `emit` and the job calls release it only under `queue.on_full: block`, where they may
//! wait for room. Under `drop` they never wait, and holding the GIL is cheaper than releasing it
//! (see `python/bench`). No core call can unwind into Python: panics become `InternalError`.

mod errors;
mod json;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use monitoring_core::config::{Mode, OnFull};
use monitoring_core::json_out::with_buffer;
use monitoring_core::{parse_final_status, Client, Error, Job, JobOptions, Status};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};
use serde_json::Value;

use errors::{guard, IntoPy};

/// Longest wait accepted (`timeout=None`): 30 days, far from `Instant` overflow.
const FOREVER: Duration = Duration::from_secs(30 * 24 * 3600);

fn timeout_arg(timeout: Option<f64>) -> PyResult<Duration> {
    match timeout {
        None => Ok(FOREVER),
        Some(t) if t >= 0.0 && t.is_finite() => Ok(Duration::from_secs_f64(t).min(FOREVER)),
        Some(t) => {
            Err(PyValueError::new_err(format!("timeout must be a number of seconds >= 0 or None, got {t}")))
        }
    }
}

/// `True` when queued, `False` when dropped at a full queue; other errors raise.
fn queued(py: Python<'_>, r: Result<(), Error>) -> PyResult<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(Error::QueueFull) => Ok(false),
        Err(e) => Err(errors::to_py(py, &e)),
    }
}

fn invalid(py: Python<'_>, field: Option<&str>, message: String) -> PyErr {
    errors::to_py(py, &Error::InvalidArgument { field: field.map(str::to_owned), message })
}

/// A value-conversion error as `InvalidArgumentError` naming the field under `prefix`.
fn json_error(py: Python<'_>, e: json::JsonError, prefix: &str) -> PyErr {
    match e.field_and_message(prefix) {
        Ok((field, message)) => invalid(py, (!field.is_empty()).then_some(field.as_str()), message),
        Err(py_err) => py_err,
    }
}

/// A configured client (`monitoring.Client` subclasses it; see there).
#[pyclass(module = "monitoring._native", name = "Client", subclass, frozen, weakref)]
pub struct NativeClient {
    client: Client,
    /// Release the GIL around `emit` and job calls: under `on_full: block` (they may wait).
    detach_emit: AtomicBool,
}

impl NativeClient {
    /// Runs a call that queues events: without the GIL when it may wait for room.
    fn queue_call<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce() -> Result<T, Error> + Send,
    ) -> Result<T, Error> {
        if self.detach_emit.load(Relaxed) {
            py.detach(|| guard(f))
        } else {
            guard(f)
        }
    }

    fn emit_bytes(&self, py: Python<'_>, bytes: &[u8]) -> PyResult<bool> {
        queued(py, self.queue_call(py, || self.client.emit(bytes)))
    }
}

#[pymethods]
impl NativeClient {
    /// `config`: None (environment and defaults), a path to a .yaml/.yml/.json file, or inline
    /// YAML/JSON text. `overrides`: a JSON object as text, the explicit keys (highest precedence).
    #[new]
    #[pyo3(signature = (config=None, overrides=None))]
    fn new(py: Python<'_>, config: Option<String>, overrides: Option<String>) -> PyResult<Self> {
        let overrides = match overrides {
            None => None,
            Some(text) => Some(serde_json::from_str::<Value>(&text).map_err(|e| {
                errors::to_py(
                    py,
                    &Error::Config { path: None, message: format!("overrides are not JSON: {e}") },
                )
            })?),
        };
        let client = py.detach(|| guard(|| Client::configure(config.as_deref(), overrides))).py_err(py)?;
        let block = client.config().queue.on_full == OnFull::Block;
        Ok(NativeClient { client, detach_emit: AtomicBool::new(block) })
    }

    /// Validates one event and queues it. `event`: a dict (converted to JSON here), or JSON text as
    /// `str` or `bytes`. Returns True when queued, False when dropped because the queue is full
    /// (`queue.on_full: drop`; counted in `stats()["dropped"]`). Raises `InvalidArgumentError`
    /// (a ValueError) naming the field for an invalid event, `ShutdownError` after `shutdown()`.
    #[pyo3(signature = (event, /))]
    fn emit(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(dict) = event.cast::<PyDict>() {
            return with_buffer(|buf| {
                json::write_dict(buf, dict, 0).map_err(|e| json_error(py, e, ""))?;
                self.emit_bytes(py, buf)
            });
        }
        if let Ok(text) = event.cast::<PyString>() {
            let Ok(bytes) = json::utf8(text) else {
                return Err(invalid(py, None, "the event text is not valid UTF-8 (a lone surrogate)".into()));
            };
            return self.emit_bytes(py, bytes);
        }
        if let Ok(bytes) = event.cast::<PyBytes>() {
            return self.emit_bytes(py, bytes.as_bytes());
        }
        if let Ok(array) = event.cast::<PyByteArray>() {
            return self.emit_bytes(py, &array.to_vec());
        }
        let what = event.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        Err(PyTypeError::new_err(format!("emit() takes a dict, or JSON text as str or bytes, not `{what}`")))
    }

    /// Waits until every event emitted before the call is delivered (or given up on and written to
    /// the dead-letter file). Raises `FlushTimeoutError` (a TimeoutError) at the deadline.
    #[pyo3(signature = (timeout=5.0))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(timeout)?;
        py.detach(|| guard(|| self.client.flush(timeout))).py_err(py)
    }

    /// Stops accepting events, flushes, stops the threads. Idempotent: later calls give the first
    /// call's result. Raises `FlushTimeoutError` if the deadline came first.
    #[pyo3(signature = (timeout=5.0))]
    fn shutdown(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(timeout)?;
        py.detach(|| guard(|| self.client.shutdown(timeout))).py_err(py)
    }

    /// The counters: emitted, dropped, delivered, failed, retried, spooled, queue_depth, invalid,
    /// unrouted, and per backend (`backends`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats =
            guard(|| serde_json::to_value(self.client.stats()).map_err(|e| Error::Internal(e.to_string())))
                .py_err(py)?;
        json::to_py(py, &stats)
    }

    /// True once `shutdown()` was called.
    #[getter]
    fn is_shut_down(&self) -> bool {
        self.client.is_shut_down()
    }

    /// `"direct"` or `"sidecar"`.
    #[getter]
    fn mode(&self) -> &'static str {
        match self.client.config().mode {
            Mode::Direct => "direct",
            Mode::Sidecar => "sidecar",
        }
    }

    /// `queue.on_full`: `"drop"` or `"block"`.
    #[getter]
    fn on_full(&self) -> &'static str {
        match self.client.config().queue.on_full {
            OnFull::Drop => "drop",
            OnFull::Block => "block",
        }
    }

    /// For measurements only: release the GIL around `emit` even under `on_full: drop`.
    fn _set_release_gil_on_emit(&self, release: bool) {
        self.detach_emit.store(release || self.client.config().queue.on_full == OnFull::Block, Relaxed);
    }
}

/// A running job (`monitoring.Job` subclasses it; see there).
#[pyclass(module = "monitoring._native", name = "Job", subclass, frozen, weakref)]
pub struct NativeJob {
    /// None once finished.
    job: Mutex<Option<Job>>,
    client: Py<NativeClient>,
    id: String,
    name: String,
    entity_type: String,
    parent_id: Option<String>,
    business_key: Option<String>,
    sub_key: Option<String>,
}

impl NativeJob {
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Option<Job>> {
        self.job.lock_py_attached(py).unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn finished_error(&self, py: Python<'_>) -> PyErr {
        invalid(py, None, format!("job `{}` ({}) is already finished", self.name, self.id))
    }

    /// Runs a core call on the open job (the lock is taken without holding the GIL when contended).
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Job) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        let mut slot = self.lock(py);
        let Some(job) = slot.as_mut() else {
            return Err(self.finished_error(py));
        };
        self.client.get().queue_call(py, || f(job)).py_err(py)
    }
}

#[pymethods]
impl NativeJob {
    /// Starts a job: emits `started`. Prefer `client.job(...)`.
    #[new]
    #[pyo3(signature = (client, name, entity_type=None, parent_id=None, business_key=None, sub_key=None))]
    fn new(
        py: Python<'_>,
        client: Bound<'_, NativeClient>,
        name: String,
        entity_type: Option<String>,
        parent_id: Option<String>,
        business_key: Option<String>,
        sub_key: Option<String>,
    ) -> PyResult<Self> {
        let options = JobOptions {
            entity_type: entity_type.clone(),
            parent_id: parent_id.clone(),
            business_key: business_key.clone(),
            sub_key: sub_key.clone(),
        };
        let native = client.get();
        let job = native.queue_call(py, || native.client.job_with(&name, options)).py_err(py)?;
        Ok(NativeJob {
            id: job.id().to_owned(),
            job: Mutex::new(Some(job)),
            client: client.unbind(),
            name,
            entity_type: entity_type.unwrap_or_else(|| "job".to_owned()),
            parent_id,
            business_key,
            sub_key,
        })
    }

    /// Emits `progress` (0..100) with an optional message. True when queued, False when dropped
    /// at a full queue.
    #[pyo3(signature = (percent, message=None))]
    fn progress(&self, py: Python<'_>, percent: f64, message: Option<&str>) -> PyResult<bool> {
        queued(py, self.call(py, |job| Ok(job.progress(percent, message)))?)
    }

    /// Emits a `metric` event; the last value of each metric is also in the job's final event.
    fn metric(&self, py: Python<'_>, name: &str, value: f64) -> PyResult<bool> {
        queued(py, self.call(py, |job| Ok(job.metric(name, value)))?)
    }

    /// Adds `key: value` to the metadata of every later event of the job (emits nothing). `value`
    /// is any JSON-able value (str, number, bool, None, list, dict).
    fn metadata(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = if let Ok(s) = value.cast::<PyString>() {
            match json::as_str(s) {
                Ok(text) => Value::String(text.to_owned()),
                Err(_) => {
                    let field = format!("event.metadata.{key}");
                    return Err(invalid(
                        py,
                        Some(&field),
                        "string is not valid UTF-8 (a lone surrogate)".into(),
                    ));
                }
            }
        } else {
            with_buffer(|buf| {
                json::write_value(buf, value, 0)
                    .map_err(|e| json_error(py, e, &format!("event.metadata.{key}")))?;
                serde_json::from_slice::<Value>(buf)
                    .map_err(|e| errors::to_py(py, &Error::Internal(format!("metadata value: {e}"))))
            })?
        };
        self.call(py, |job| {
            job.metadata(key, value);
            Ok(())
        })
    }

    /// Ends the job: status `succeeded` emits `finished`, `failed` emits `error`, `canceled`
    /// emits `canceled`, with duration, CPU and peak memory. An unknown status raises
    /// `InvalidArgumentError` and leaves the job open. True when queued, False when dropped.
    #[pyo3(signature = (status="succeeded", message=None))]
    fn finish(&self, py: Python<'_>, status: &str, message: Option<&str>) -> PyResult<bool> {
        let status = guard(|| parse_final_status(status)).py_err(py)?;
        let Some(job) = self.lock(py).take() else {
            return Err(self.finished_error(py));
        };
        queued(py, self.client.get().queue_call(py, || job.finish(status, message)))
    }

    /// The job's id (a UUIDv7): its `entity.id`, and the `parent_id` to give its children.
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn entity_type(&self) -> &str {
        &self.entity_type
    }

    #[getter]
    fn parent_id(&self) -> Option<&str> {
        self.parent_id.as_deref()
    }

    #[getter]
    fn business_key(&self) -> Option<&str> {
        self.business_key.as_deref()
    }

    #[getter]
    fn sub_key(&self) -> Option<&str> {
        self.sub_key.as_deref()
    }

    /// True once `finish()` succeeded or was attempted with a valid status.
    #[getter]
    fn finished(&self, py: Python<'_>) -> bool {
        self.lock(py).is_none()
    }

    /// The client that started the job.
    #[getter]
    fn client(&self, py: Python<'_>) -> Py<NativeClient> {
        self.client.clone_ref(py)
    }
}

impl Drop for NativeJob {
    /// A job garbage-collected while open is finished as `canceled` (nothing is emitted once the
    /// client is shut down).
    fn drop(&mut self) {
        let job = match self.job.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(job) = job {
            if !job.client().is_shut_down() {
                let _ = guard(|| {
                    job.finish(Status::Canceled, Some("job was garbage-collected without being finished"))
                });
            }
        }
    }
}

/// Call before `fork()` (registered with `os.register_at_fork` by the package).
#[pyfunction]
fn before_fork() {
    let _ = guard(|| {
        monitoring_core::before_fork();
        Ok(())
    });
}

/// Call in the parent after `fork()`.
#[pyfunction]
fn after_fork_parent() {
    let _ = guard(|| {
        monitoring_core::after_fork_parent();
        Ok(())
    });
}

/// Call in the child after `fork()`: every client gets its own threads and files.
#[pyfunction]
fn after_fork_child() {
    let _ = guard(|| {
        monitoring_core::after_fork_child();
        Ok(())
    });
}

/// The JSON text `emit` would send for `value` (a dict, list, str, number, ...), as bytes. For tests
/// and measurements of the conversion; raises `InvalidArgumentError` naming the field.
#[pyfunction]
fn _dumps<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    with_buffer(|buf| {
        json::write_value(buf, value, 0).map_err(|e| json_error(py, e, ""))?;
        Ok(PyBytes::new(py, buf))
    })
}

#[pymodule]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", monitoring_core::VERSION)?;
    m.add_class::<NativeClient>()?;
    m.add_class::<NativeJob>()?;
    m.add_function(wrap_pyfunction!(before_fork, m)?)?;
    m.add_function(wrap_pyfunction!(after_fork_parent, m)?)?;
    m.add_function(wrap_pyfunction!(after_fork_child, m)?)?;
    m.add_function(wrap_pyfunction!(_dumps, m)?)?;
    Ok(())
}
