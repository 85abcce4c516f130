//! Core errors as Python exceptions. The classes live in `monitoring/_errors.py` (pure Python, so
//! they can inherit from both `MonitoringError` and the built-in they resemble: `ValueError`,
//! `TimeoutError`, `RuntimeError`, `OSError`); this module raises them with the core's message and
//! sets `.field` to the field or key path the core named.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use monitoring_core::Error;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The Python class for a core error, by name in `monitoring._errors`.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::InvalidArgument { .. } => "InvalidArgumentError",
        Error::Config { .. } => "ConfigError",
        Error::QueueFull => "QueueFullError",
        Error::Timeout => "FlushTimeoutError",
        Error::Shutdown => "ShutdownError",
        Error::Io(_) => "IoError",
        Error::Internal(_) => "InternalError",
    }
}

/// The Python exception for a core error: the core's message, `.field` set.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    raise(py, class_name(e), &e.to_string(), e.field())
}

/// An exception of `monitoring._errors.<class>` with `message` and `.field`. If that module cannot
/// be imported (the extension used on its own), a built-in exception with the same message.
pub fn raise(py: Python<'_>, class: &str, message: &str, field: Option<&str>) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = ERRORS_MODULE
            .get_or_try_init(py, || PyModule::import(py, "monitoring._errors").map(|m| m.unbind()))?;
        let cls = module.bind(py).getattr(class)?;
        let exc = cls.call1((message,))?;
        exc.setattr("field", field)?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|_| match class {
        "InvalidArgumentError" | "ConfigError" => PyValueError::new_err(message.to_owned()),
        _ => PyRuntimeError::new_err(message.to_owned()),
    })
}

/// Runs a core call, turning a panic into `Error::Internal` so that no `PanicException` ever
/// reaches the application.
pub fn guard<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(Error::Internal(panic_text(&panic))))
}

pub fn panic_text(panic: &Box<dyn Any + Send>) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error (please report): {what}")
}

/// A core `Result` as a `PyResult`.
pub trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}
