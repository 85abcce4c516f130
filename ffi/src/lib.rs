//! The C ABI of the monitoring engine (`include/monitoring.h` is generated from this file by
//! cbindgen). Every export goes through [`guard`]: a panic becomes `MONITORING_ERR_INTERNAL`,
//! never an unwind across the boundary, and every status sets this thread's last error.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use monitoring_core::{parse_final_status, Client, Error, Job, JobOptions};

/// A configured client. Create with `monitoring_configure`, free with `monitoring_client_free`.
pub struct monitoring_client {
    client: Client,
}

/// A running job. Freed by `monitoring_job_finish`.
pub struct monitoring_job {
    job: Job,
    id: CString,
}

/// The result of every call that can fail.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum monitoring_status {
    MONITORING_OK = 0,
    /// A NULL or malformed argument, or an event that fails validation.
    MONITORING_ERR_INVALID_ARGUMENT = 1,
    /// The configuration is invalid (the message names the key path).
    MONITORING_ERR_CONFIG = 2,
    /// The queue is full (`queue.on_full: drop`): the event was dropped and counted.
    MONITORING_ERR_QUEUE_FULL = 3,
    /// The deadline passed first.
    MONITORING_ERR_TIMEOUT = 4,
    /// The client is shut down.
    MONITORING_ERR_SHUTDOWN = 5,
    MONITORING_ERR_IO = 6,
    /// A bug in the library (a caught panic). The process is unharmed.
    MONITORING_ERR_INTERNAL = 7,
}

use monitoring_status::*;

thread_local! {
    /// This thread's last error, NUL-terminated. Kept as a buffer that a successful call
    /// truncates in place: `emit` is called millions of times, and a new string per call (even
    /// an empty one) was two allocations on its hot path.
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError(vec![0]));
}

/// How many threads have a last error other than "". While none has, a successful call has
/// nothing to clear and skips the thread-local: in a shared library every access to it is a
/// `__tls_get_addr` call and a check of its lazy initialisation, some 25 instructions on each
/// `emit`. A thread that has an error counted it itself, so its own load never reads 0 until
/// it cleared it (relaxed suffices: only this thread's own increment matters to its load).
static THREADS_WITH_ERROR: AtomicUsize = AtomicUsize::new(0);

struct LastError(Vec<u8>);

impl LastError {
    fn is_empty(&self) -> bool {
        self.0.len() == 1
    }
}

impl Drop for LastError {
    /// A thread that exits with an error stops counting.
    fn drop(&mut self) {
        if !self.is_empty() {
            THREADS_WITH_ERROR.fetch_sub(1, Relaxed);
        }
    }
}

fn set_last_error(message: &str) {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        if e.is_empty() {
            THREADS_WITH_ERROR.fetch_add(1, Relaxed);
        }
        let text = &mut e.0;
        text.clear();
        text.extend(message.bytes().map(|b| if b == 0 { b' ' } else { b }));
        text.push(0);
    });
}

/// After a successful call: "" unless it already is (no write, no allocation).
fn clear_last_error() {
    if THREADS_WITH_ERROR.load(Relaxed) == 0 {
        return;
    }
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        if !e.is_empty() {
            e.0.clear();
            e.0.push(0);
            THREADS_WITH_ERROR.fetch_sub(1, Relaxed);
        }
    });
}

fn status_of(e: &Error) -> monitoring_status {
    match e {
        Error::InvalidArgument { .. } => MONITORING_ERR_INVALID_ARGUMENT,
        Error::Config { .. } => MONITORING_ERR_CONFIG,
        Error::QueueFull => MONITORING_ERR_QUEUE_FULL,
        Error::Timeout => MONITORING_ERR_TIMEOUT,
        Error::Shutdown => MONITORING_ERR_SHUTDOWN,
        Error::Io(_) => MONITORING_ERR_IO,
        Error::Internal(_) => MONITORING_ERR_INTERNAL,
    }
}

/// Runs `f`, turning errors and panics into a status and this thread's last error.
fn guard(f: impl FnOnce() -> Result<(), Error>) -> monitoring_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            clear_last_error();
            MONITORING_OK
        }
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            status_of(&e)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (please report): {what}"));
            MONITORING_ERR_INTERNAL
        }
    }
}

fn null(name: &str) -> Error {
    Error::InvalidArgument { field: None, message: format!("`{name}` must not be NULL") }
}

/// A required C string argument, as UTF-8.
unsafe fn arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: the caller passes a NUL-terminated string that outlives the call.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::InvalidArgument { field: None, message: format!("`{name}` is not valid UTF-8") })
}

/// An optional C string argument (NULL = none).
unsafe fn opt_arg<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        Ok(None)
    } else {
        unsafe { arg(p, name) }.map(Some)
    }
}

unsafe fn client<'a>(c: *mut monitoring_client) -> Result<&'a Client, Error> {
    // SAFETY: a non-NULL client comes from monitoring_configure and is not yet freed.
    unsafe { c.as_ref() }.map(|c| &c.client).ok_or_else(|| null("client"))
}

unsafe fn job<'a>(j: *mut monitoring_job) -> Result<&'a mut monitoring_job, Error> {
    // SAFETY: a non-NULL job comes from monitoring_job_start and is not yet finished.
    unsafe { j.as_mut() }.ok_or_else(|| null("job"))
}

/// The library version, e.g. "0.1.0" (static storage).
#[no_mangle]
pub extern "C" fn monitoring_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version: 1. It changes only when a signature in this header does.
#[no_mangle]
pub extern "C" fn monitoring_abi_version() -> u32 {
    1
}

/// This thread's last error message, "" after a successful call. Valid until this thread's
/// next call into the library.
#[no_mangle]
pub extern "C" fn monitoring_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().0.as_ptr().cast())
}

/// Creates a client. `config`: NULL (environment and defaults), a path to a .yaml/.yml/.json
/// file, or inline YAML/JSON (text that starts with '{' or contains a newline).
#[no_mangle]
pub unsafe extern "C" fn monitoring_configure(
    config: *const c_char,
    out: *mut *mut monitoring_client,
) -> monitoring_status {
    guard(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: out is non-NULL and points to writable storage for a pointer.
        unsafe { *out = std::ptr::null_mut() };
        let source = unsafe { opt_arg(config, "config") }?;
        let client = Client::configure(source, None)?;
        unsafe { *out = Box::into_raw(Box::new(monitoring_client { client })) };
        Ok(())
    })
}

/// Validates and queues one event (NUL-terminated JSON). Never blocks on I/O; with a full
/// queue (`on_full: drop`) returns MONITORING_ERR_QUEUE_FULL and counts the drop.
#[no_mangle]
pub unsafe extern "C" fn monitoring_emit(
    c: *mut monitoring_client,
    event_json: *const c_char,
) -> monitoring_status {
    guard(|| {
        let client = unsafe { client(c) }?;
        if event_json.is_null() {
            return Err(null("event_json"));
        }
        // SAFETY: non-NULL, NUL-terminated by contract.
        client.emit(unsafe { CStr::from_ptr(event_json) }.to_bytes())
    })
}

/// As `monitoring_emit`, for `len` bytes of JSON that need not be NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn monitoring_emit_n(
    c: *mut monitoring_client,
    event_json: *const c_char,
    len: usize,
) -> monitoring_status {
    guard(|| {
        let client = unsafe { client(c) }?;
        if event_json.is_null() {
            return Err(null("event_json"));
        }
        // SAFETY: the caller guarantees `len` readable bytes at event_json.
        client.emit(unsafe { std::slice::from_raw_parts(event_json.cast::<u8>(), len) })
    })
}

/// Starts a job named `name` and emits `started`. `entity_type` NULL = "job"; `parent_id`
/// NULL = none. Finish it with `monitoring_job_finish`, which frees it.
#[no_mangle]
pub unsafe extern "C" fn monitoring_job_start(
    c: *mut monitoring_client,
    name: *const c_char,
    entity_type: *const c_char,
    parent_id: *const c_char,
    out: *mut *mut monitoring_job,
) -> monitoring_status {
    // SAFETY: the caller's guarantees are the same; NULL keys mean none.
    unsafe { monitoring_job_start_keyed(c, name, entity_type, parent_id, ptr::null(), ptr::null(), out) }
}

/// `monitoring_job_start` with the job's `entity.business_key` (a lot, a wafer: the id the
/// factory knows it by) and `entity.sub_key`; NULL = none. Every event of the job carries them.
#[no_mangle]
pub unsafe extern "C" fn monitoring_job_start_keyed(
    c: *mut monitoring_client,
    name: *const c_char,
    entity_type: *const c_char,
    parent_id: *const c_char,
    business_key: *const c_char,
    sub_key: *const c_char,
    out: *mut *mut monitoring_job,
) -> monitoring_status {
    guard(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: out is non-NULL and writable.
        unsafe { *out = ptr::null_mut() };
        let client = unsafe { client(c) }?;
        let name = unsafe { arg(name, "name") }?;
        let text = |p: *const c_char, what: &str| unsafe { opt_arg(p, what) }.map(|o| o.map(str::to_owned));
        let options = JobOptions {
            entity_type: text(entity_type, "entity_type")?,
            parent_id: text(parent_id, "parent_id")?,
            business_key: text(business_key, "business_key")?,
            sub_key: text(sub_key, "sub_key")?,
        };
        let job = client.job_with(name, options)?;
        let id = CString::new(job.id()).map_err(|e| Error::Internal(e.to_string()))?;
        unsafe { *out = Box::into_raw(Box::new(monitoring_job { job, id })) };
        Ok(())
    })
}

/// The job's id (a UUIDv7, its `entity.id`), valid until the job is finished. NULL if `j` is.
#[no_mangle]
pub unsafe extern "C" fn monitoring_job_id(j: *const monitoring_job) -> *const c_char {
    // SAFETY: a non-NULL job is live by contract.
    match unsafe { j.as_ref() } {
        Some(j) => j.id.as_ptr(),
        None => std::ptr::null(),
    }
}

/// Emits `progress` (0..100) with an optional message (NULL = none).
#[no_mangle]
pub unsafe extern "C" fn monitoring_job_progress(
    j: *mut monitoring_job,
    percent: f64,
    message: *const c_char,
) -> monitoring_status {
    guard(|| {
        let j = unsafe { job(j) }?;
        let message = unsafe { opt_arg(message, "message") }?;
        j.job.progress(percent, message)
    })
}

/// Emits a `metric` event; the value is also reported in the job's final event.
#[no_mangle]
pub unsafe extern "C" fn monitoring_job_metric(
    j: *mut monitoring_job,
    name: *const c_char,
    value: f64,
) -> monitoring_status {
    guard(|| {
        let j = unsafe { job(j) }?;
        let name = unsafe { arg(name, "name") }?;
        j.job.metric(name, value)
    })
}

/// Adds `key: value` to the metadata of every later event of the job. Emits nothing.
#[no_mangle]
pub unsafe extern "C" fn monitoring_job_metadata(
    j: *mut monitoring_job,
    key: *const c_char,
    value: *const c_char,
) -> monitoring_status {
    guard(|| {
        let j = unsafe { job(j) }?;
        let key = unsafe { arg(key, "key") }?;
        let value = unsafe { arg(value, "value") }?;
        j.job.metadata(key, value.into());
        Ok(())
    })
}

/// Ends the job: `status` "succeeded" | "failed" | "canceled" emits `finished` | `error` |
/// `canceled` with duration, CPU and memory metrics. Frees `j` whatever the result.
#[no_mangle]
pub unsafe extern "C" fn monitoring_job_finish(
    j: *mut monitoring_job,
    status: *const c_char,
    message: *const c_char,
) -> monitoring_status {
    guard(|| {
        if j.is_null() {
            return Err(null("job"));
        }
        // SAFETY: j came from monitoring_job_start and is finished (freed) only here.
        let j = unsafe { Box::from_raw(j) };
        let status = parse_final_status(unsafe { arg(status, "status") }?)?;
        let message = unsafe { opt_arg(message, "message") }?;
        j.job.finish(status, message)
    })
}

/// Waits until every event emitted before the call is delivered (or given up on and written
/// to the dead-letter file); MONITORING_ERR_TIMEOUT at the deadline.
#[no_mangle]
pub unsafe extern "C" fn monitoring_flush(c: *mut monitoring_client, timeout_ms: u32) -> monitoring_status {
    guard(|| unsafe { client(c) }?.flush(Duration::from_millis(timeout_ms.into())))
}

/// The counters as a JSON object, in `*out_json`; free it with `monitoring_string_free`.
#[no_mangle]
pub unsafe extern "C" fn monitoring_stats_json(
    c: *mut monitoring_client,
    out_json: *mut *mut c_char,
) -> monitoring_status {
    guard(|| {
        if out_json.is_null() {
            return Err(null("out_json"));
        }
        // SAFETY: out_json is non-NULL and writable.
        unsafe { *out_json = std::ptr::null_mut() };
        let stats = unsafe { client(c) }?.stats();
        let text = serde_json::to_string(&stats).map_err(|e| Error::Internal(e.to_string()))?;
        let text = CString::new(text).map_err(|e| Error::Internal(e.to_string()))?;
        unsafe { *out_json = text.into_raw() };
        Ok(())
    })
}

/// Frees a string returned by the library. NULL-safe.
#[no_mangle]
pub unsafe extern "C" fn monitoring_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: s came from CString::into_raw in this library.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { CString::from_raw(s) })));
    }
}

/// Stops accepting events, flushes within `timeout_ms`, stops the threads. Idempotent; later
/// calls on the client return MONITORING_ERR_SHUTDOWN (this one returns the first result).
#[no_mangle]
pub unsafe extern "C" fn monitoring_shutdown(
    c: *mut monitoring_client,
    timeout_ms: u32,
) -> monitoring_status {
    guard(|| unsafe { client(c) }?.shutdown(Duration::from_millis(timeout_ms.into())))
}

/// Frees the client, shutting it down first (deadline 2 s) if that was not done. NULL-safe.
#[no_mangle]
pub unsafe extern "C" fn monitoring_client_free(c: *mut monitoring_client) {
    if c.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: c came from monitoring_configure and is freed only here.
        let c = unsafe { Box::from_raw(c) };
        if !c.client.is_shut_down() {
            let _ = c.client.shutdown(Duration::from_secs(2));
        }
    }));
}

/// Call in the parent just before fork() (or register the three hooks with pthread_atfork).
#[no_mangle]
pub extern "C" fn monitoring_before_fork() {
    let _ = catch_unwind(monitoring_core::before_fork);
}

/// Call in the parent just after fork().
#[no_mangle]
pub extern "C" fn monitoring_after_fork_parent() {
    let _ = catch_unwind(monitoring_core::after_fork_parent);
}

/// Call in the child just after fork(): every client gets fresh threads and its own files.
#[no_mangle]
pub extern "C" fn monitoring_after_fork_child() {
    let _ = catch_unwind(monitoring_core::after_fork_child);
}

#[cfg(test)]
mod tests;
