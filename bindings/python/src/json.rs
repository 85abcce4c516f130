//! Python objects to JSON text, written straight into a byte buffer by walking dicts and lists
//! (no `json.dumps`, no intermediate tree), and JSON values back to Python objects (`stats`).
//!
//! Mapping: `dict` (string keys) -> object, `list`/`tuple` -> array, `str` -> string, `int` ->
//! integer (any size), `float` -> shortest round-trip number (NaN and infinities are an error
//! naming the field: JSON has no literal for them), `bool`, `None` -> `true`/`false`/`null`.
//! Beyond JSON's types: `enum.Enum` -> its value, objects with `isoformat()` (`datetime`, `date`,
//! `time`) -> that string, `uuid.UUID` and `os.PathLike` -> their string. Anything else is an
//! error naming the field, as is nesting deeper than 64 levels (which also catches cycles).

use std::os::raw::c_char;

use monitoring_core::json_out::{self, write_str};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde_json::Value;

const MAX_DEPTH: usize = 64;

// `PyUnicode_AsUTF8AndSize` is in the stable ABI from Python 3.10 and exported (as a public, non-
// limited function) by every CPython 3.x, 3.9 included, so an abi3-py39 extension can call it. It
// returns the string's cached UTF-8 form without a copy; pyo3 (for abi3 < 3.10) would encode to
// a new `bytes` object for every string instead.
extern "C" {
    fn PyUnicode_AsUTF8AndSize(unicode: *mut ffi::PyObject, size: *mut ffi::Py_ssize_t) -> *const c_char;
}

/// The UTF-8 bytes of a Python `str`, borrowed from the string object (valid while it lives).
/// Fails (UnicodeEncodeError) for strings holding lone surrogates.
pub fn utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a [u8]> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the returned buffer is owned by it and lives as long as it does.
    let data = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if data.is_null() {
        return Err(PyErr::fetch(s.py()));
    }
    // SAFETY: CPython guarantees `size` readable bytes at `data`.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size as usize) })
}

/// The `str` of a Python `str`, borrowed (see [`utf8`]).
pub fn as_str<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    // SAFETY: CPython's UTF-8 encoding of a str is valid UTF-8.
    utf8(s).map(|b| unsafe { std::str::from_utf8_unchecked(b) })
}

/// One step of the path to a value: `event` . `metrics` . `temp` or `tags` [2].
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Why a value could not be written.
pub enum JsonError {
    /// A Python exception raised while reading the object (e.g. a dict changed size).
    Py(PyErr),
    /// A value JSON cannot hold, at `path` (innermost segment first).
    Invalid { path: Vec<Seg>, message: String },
}

impl JsonError {
    fn invalid(message: impl Into<String>) -> Self {
        JsonError::Invalid { path: Vec::new(), message: message.into() }
    }

    fn at(mut self, seg: impl FnOnce() -> Seg) -> Self {
        if let JsonError::Invalid { path, .. } = &mut self {
            path.push(seg());
        }
        self
    }

    /// The field path under `prefix` (`event.metadata.x`), and the message.
    pub fn field_and_message(self, prefix: &str) -> Result<(String, String), PyErr> {
        match self {
            JsonError::Py(e) => Err(e),
            JsonError::Invalid { path, message } => {
                let mut field = prefix.to_owned();
                for seg in path.iter().rev() {
                    match seg {
                        Seg::Key(k) => {
                            if !field.is_empty() {
                                field.push('.');
                            }
                            field.push_str(k);
                        }
                        Seg::Index(i) => {
                            field.push('[');
                            field.push_str(itoa::Buffer::new().format(*i));
                            field.push(']');
                        }
                    }
                }
                Ok((field, message))
            }
        }
    }
}

impl From<PyErr> for JsonError {
    fn from(e: PyErr) -> Self {
        JsonError::Py(e)
    }
}

/// Writes `v` as JSON text at the end of `out`.
pub fn write_value(out: &mut Vec<u8>, v: &Bound<'_, PyAny>, depth: usize) -> Result<(), JsonError> {
    let p = v.as_ptr();
    // SAFETY (the type tests): `p` is a live object; they only read its type. The exact-type
    // comparisons come first: under the limited API every flag test is a call into libpython.
    unsafe {
        let ty = ffi::Py_TYPE(p);
        if ty == &raw mut ffi::PyFloat_Type {
            return write_f64(out, ffi::PyFloat_AsDouble(p));
        }
        if ty == &raw mut ffi::PyBool_Type {
            out.extend_from_slice(if p == ffi::Py_True() { b"true" } else { b"false" });
            return Ok(());
        }
        if p == ffi::Py_None() {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        let flags = ffi::PyType_GetFlags(ty);
        if flags & ffi::Py_TPFLAGS_UNICODE_SUBCLASS != 0 {
            return write_py_str(out, v.cast_unchecked::<PyString>());
        }
        if flags & ffi::Py_TPFLAGS_DICT_SUBCLASS != 0 {
            return write_dict(out, v.cast_unchecked::<PyDict>(), depth);
        }
        if flags & ffi::Py_TPFLAGS_LONG_SUBCLASS != 0 {
            return write_int(out, v);
        }
        if flags & (ffi::Py_TPFLAGS_LIST_SUBCLASS | ffi::Py_TPFLAGS_TUPLE_SUBCLASS) != 0 {
            return write_sequence(out, v, depth);
        }
        if ffi::PyFloat_Check(p) != 0 {
            return write_f64(out, ffi::PyFloat_AsDouble(p));
        }
    }
    write_other(out, v, depth)
}

/// A dict as a JSON object. Keys must be strings. A dict changed while it is written (by Python
/// code a conversion ran) is an error, never a panic.
pub fn write_dict(out: &mut Vec<u8>, d: &Bound<'_, PyDict>, depth: usize) -> Result<(), JsonError> {
    if depth >= MAX_DEPTH {
        return Err(JsonError::invalid(too_deep()));
    }
    let py = d.py();
    out.push(b'{');
    let dp = d.as_ptr();
    // SAFETY: `dp` is a live dict; PyDict_Next hands out borrowed references, made owned (Bound)
    // at once, since writing a value may run Python code that changes the dict.
    let len = unsafe { ffi::PyDict_Size(dp) };
    let mut pos: ffi::Py_ssize_t = 0;
    let mut first = true;
    loop {
        let mut k: *mut ffi::PyObject = std::ptr::null_mut();
        let mut v: *mut ffi::PyObject = std::ptr::null_mut();
        if unsafe { ffi::PyDict_Next(dp, &mut pos, &mut k, &mut v) } == 0 {
            break;
        }
        let (k, v) = unsafe { (Bound::from_borrowed_ptr(py, k), Bound::from_borrowed_ptr(py, v)) };
        let Ok(key) = k.cast::<PyString>() else {
            let what = type_name(&k);
            return Err(JsonError::invalid(format!("keys must be strings, got a key of type `{what}`")));
        };
        if !first {
            out.push(b',');
        }
        first = false;
        write_py_str(out, key)?;
        out.push(b':');
        write_value(out, &v, depth + 1).map_err(|e| e.at(|| Seg::Key(key.to_string())))?;
        if unsafe { ffi::PyDict_Size(dp) } != len {
            return Err(JsonError::invalid("the dict changed size while it was converted"));
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_sequence(out: &mut Vec<u8>, v: &Bound<'_, PyAny>, depth: usize) -> Result<(), JsonError> {
    if depth >= MAX_DEPTH {
        return Err(JsonError::invalid(too_deep()));
    }
    out.push(b'[');
    let mut write_item = |i: usize, item: &Bound<'_, PyAny>| -> Result<(), JsonError> {
        if i > 0 {
            out.push(b',');
        }
        write_value(out, item, depth + 1).map_err(|e| e.at(|| Seg::Index(i)))
    };
    if let Ok(list) = v.cast::<PyList>() {
        for (i, item) in list.iter().enumerate() {
            write_item(i, &item)?;
        }
    } else if let Ok(tuple) = v.cast::<PyTuple>() {
        for (i, item) in tuple.iter().enumerate() {
            write_item(i, &item)?;
        }
    }
    out.push(b']');
    Ok(())
}

fn too_deep() -> String {
    format!("nested more than {MAX_DEPTH} levels deep (a cycle?)")
}

fn write_py_str(out: &mut Vec<u8>, s: &Bound<'_, PyString>) -> Result<(), JsonError> {
    match utf8(s) {
        Ok(bytes) => {
            write_str(out, bytes);
            Ok(())
        }
        // Lone surrogates: not representable in UTF-8.
        Err(_) => Err(JsonError::invalid("string is not valid UTF-8 (it holds a lone surrogate)")),
    }
}

fn write_f64(out: &mut Vec<u8>, f: f64) -> Result<(), JsonError> {
    if json_out::write_f64(out, f) {
        Ok(())
    } else {
        Err(JsonError::invalid(format!("`{f}` is not a finite number (JSON has no NaN or Infinity)")))
    }
}

fn write_int(out: &mut Vec<u8>, v: &Bound<'_, PyAny>) -> Result<(), JsonError> {
    // SAFETY: `v` is an int (PyLong_Check); on overflow the error is cleared below.
    let n = unsafe { ffi::PyLong_AsLongLong(v.as_ptr()) };
    if n == -1 && PyErr::take(v.py()).is_some() {
        // Beyond 64 bits: its decimal text (JSON numbers have no size limit).
        let text = v.str()?;
        out.extend_from_slice(utf8(&text)?);
    } else {
        json_out::write_i64(out, n);
    }
    Ok(())
}

static ENUM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UUID: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Values beyond JSON's types, the few with an obvious JSON form.
#[cold]
fn write_other(out: &mut Vec<u8>, v: &Bound<'_, PyAny>, depth: usize) -> Result<(), JsonError> {
    let py = v.py();
    if depth >= MAX_DEPTH {
        return Err(JsonError::invalid(too_deep()));
    }
    let enum_type = ENUM.import(py, "enum", "Enum")?;
    if v.is_instance(enum_type)? {
        return write_value(out, &v.getattr("value")?, depth + 1);
    }
    let uuid_type = UUID.import(py, "uuid", "UUID")?;
    if v.is_instance(uuid_type)? {
        return write_py_str(out, &v.str()?);
    }
    for (method, takes) in [("isoformat", "isoformat()"), ("__fspath__", "__fspath__()")] {
        if let Ok(f) = v.getattr(method) {
            if f.is_callable() {
                let text = f.call0()?;
                if let Ok(s) = text.cast::<PyString>() {
                    return write_py_str(out, s);
                }
                return Err(JsonError::invalid(format!(
                    "{takes} of `{}` did not return a str",
                    type_name(v)
                )));
            }
        }
    }
    Err(JsonError::invalid(format!("a value of type `{}` cannot be written as JSON", type_name(v))))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// A JSON value as a Python object (dict, list, str, int, float, bool, None).
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                PyInt::new(py, i).into_any()
            } else if let Some(u) = n.as_u64() {
                PyInt::new(py, u).into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
