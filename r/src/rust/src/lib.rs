//! The native side of the R package `monitoring` (extendr): thin wrappers over the core's
//! `Client` and `Job`. The R functions in `r/R/` are the API; these are called from them with
//! `.Call` (see `r/R/extendr-wrappers.R`).
//!
//! Errors never unwind into R and never `longjmp` out of Rust frames: every function catches
//! panics and returns either its value or a *failure* object, a list `(status, message, field)` of
//! class `monitoring_failure`, which the R side turns into a classed condition
//! (`monitoring_error`) with `stop()`. Arguments are plain `Robj`s read by hand, so no extendr
//! conversion error (an R error raised from inside the wrapper) can happen either.
//!
//! Handles are external pointers with a class attribute: `monitoring_client` holds an
//! `Arc<ClientShared>`, `monitoring_job` a `JobHandle` (which keeps its client alive). R is
//! single-threaded and only its main thread calls in here; the core's own threads never touch R.
//!
//! Lifetimes: a client that R garbage-collects without `monitoring_shutdown()` is shut down on a
//! background thread (nothing blocks R's garbage collector); at the end of the R session
//! `rs_shutdown_all` (registered by `.onLoad` as an exit finalizer) shuts down every client still
//! running, within one deadline. A job collected while open is finished as `canceled`.

mod rdata;
mod tojson;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant};

use extendr_api::prelude::*;
use extendr_ffi::{RAW, SEXPTYPE, STRING_ELT};
use monitoring_core::config::{Mode, OnFull};
use monitoring_core::json_out::with_buffer;
use monitoring_core::{parse_final_status, Client, Error as CoreError, Job, JobOptions, Status};
use serde_json::Value;

use crate::rdata::{charsxp_raw, describe, opt_scalar_str, scalar_number, sexptype, xlength, TextError};

/// The longest wait accepted (`timeout = Inf`): 30 days, far from `Instant` overflow.
const FOREVER: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a client collected without `shutdown` gets to deliver what it holds.
const ORPHAN_SHUTDOWN: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Failures: what the R side turns into conditions.

/// A failure to report to R: the core's error, or an argument error found here.
struct Failure {
    status: &'static str,
    message: String,
    field: Option<String>,
}

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Self {
        let status = match e {
            CoreError::InvalidArgument { .. } => "invalid_argument",
            CoreError::Config { .. } => "config",
            CoreError::QueueFull => "queue_full",
            CoreError::Timeout => "timeout",
            CoreError::Shutdown => "shutdown",
            CoreError::Io(_) => "io",
            CoreError::Internal(_) => "internal",
        };
        Failure { status, message: e.to_string(), field: e.field().map(str::to_owned) }
    }
}

impl Failure {
    /// An invalid argument of the R call (`what` names it: `name`, `timeout`).
    fn argument(what: &str, problem: impl std::fmt::Display) -> Self {
        Failure {
            status: "invalid_argument",
            message: format!("invalid argument: `{what}` {problem}"),
            field: None,
        }
    }

    /// An invalid value in an event or metadata, naming its JSON path like the core does.
    fn invalid_field(field: String, problem: &str) -> Self {
        let message = if field.is_empty() {
            format!("invalid event: {problem}")
        } else {
            format!("invalid event: {field}: {problem}")
        };
        Failure { status: "invalid_argument", message, field: (!field.is_empty()).then_some(field) }
    }

    fn into_robj(self) -> Robj {
        let field: Robj = match self.field {
            Some(f) => r_string(&f),
            None => Robj::from(()),
        };
        let values = [r_string(self.status), r_string(&self.message), field];
        let built = List::from_names_and_values(["status", "message", "field"], values).and_then(|list| {
            let mut robj: Robj = list.into();
            robj.set_class(["monitoring_failure"])?;
            Ok(robj)
        });
        // Building a 3-element list cannot fail short of memory exhaustion; if it did, a plain
        // string still tells the R side that something went wrong.
        built.unwrap_or_else(|_| r_string("internal error: cannot build the failure object"))
    }
}

type Outcome<T> = std::result::Result<T, Failure>;

/// Runs `f`, turning a panic into an `internal` failure, and the result into what R gets.
fn guard(f: impl FnOnce() -> Outcome<Robj>) -> Robj {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(failure)) => failure.into_robj(),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Failure {
                status: "internal",
                message: format!("internal error (please report): {what}"),
                field: None,
            }
            .into_robj()
        }
    }
}

/// An R character scalar. R strings cannot hold NUL, so any is shown as `\0`.
fn r_string(s: &str) -> Robj {
    if s.contains('\0') {
        Robj::from(s.replace('\0', "\\0"))
    } else {
        Robj::from(s)
    }
}

/// `TRUE` when the event was queued, `FALSE` when it was dropped at a full queue.
fn queued(r: std::result::Result<(), CoreError>) -> Outcome<Robj> {
    match r {
        Ok(()) => Ok(Robj::from(true)),
        Err(CoreError::QueueFull) => Ok(Robj::from(false)),
        Err(e) => Err(e.into()),
    }
}

fn timeout_arg(x: &Robj) -> Outcome<Duration> {
    // SAFETY: reading an R value's type and contents.
    let t = scalar_number(unsafe { x.get() }).map_err(|e| Failure::argument("timeout", e))?;
    if t.is_nan() || t < 0.0 {
        return Err(Failure::argument(
            "timeout",
            format!("must be a number of seconds >= 0 (Inf: no limit), got {t}"),
        ));
    }
    Ok(if t.is_finite() { Duration::from_secs_f64(t.min(FOREVER.as_secs_f64())) } else { FOREVER })
}

fn opt_str_arg(x: &Robj, what: &str) -> Outcome<Option<String>> {
    // SAFETY: reading an R value.
    opt_scalar_str(unsafe { x.get() }).map(|s| s.map(str::to_owned)).map_err(|e| Failure::argument(what, e))
}

fn str_arg(x: &Robj, what: &str) -> Outcome<String> {
    opt_str_arg(x, what)?.ok_or_else(|| Failure::argument(what, "must be a single string, not NULL or NA"))
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// A client and what the R session knows of it. Shared by its R handle and its jobs' handles.
struct ClientShared {
    client: Client,
}

impl Drop for ClientShared {
    /// Collected by R without `monitoring_shutdown()`: shut down in the background, so that what
    /// it holds is still delivered and R's garbage collector never waits on I/O.
    fn drop(&mut self) {
        if self.client.is_shut_down() {
            return;
        }
        let client = self.client.clone();
        if let Ok(mut orphans) = ORPHANS.lock() {
            orphans.retain(|c| !c.is_shut_down());
            orphans.push(client.clone());
        }
        let spawned = std::thread::Builder::new().name("mon-r-release".into()).spawn(move || {
            let _ = catch_unwind(AssertUnwindSafe(|| client.shutdown(ORPHAN_SHUTDOWN)));
        });
        // No thread to be had: the exit finalizer (`rs_shutdown_all`) will shut it down.
        drop(spawned);
    }
}

/// The clients of this session, for the shutdown at exit.
static CLIENTS: Mutex<Vec<Weak<ClientShared>>> = Mutex::new(Vec::new());
/// Clients R collected that are shutting down in the background.
static ORPHANS: Mutex<Vec<Client>> = Mutex::new(Vec::new());

/// What an R `monitoring_client` object points to.
struct ClientHandle(Arc<ClientShared>);

fn client_arg(x: &Robj) -> Outcome<Arc<ClientShared>> {
    let what = || {
        Failure::argument(
            "client",
            format!("must be a client from monitoring_configure(), not {}", describe(unsafe { x.get() })),
        )
    };
    if !x.inherits("monitoring_client") {
        return Err(what());
    }
    let ptr = <ExternalPtr<ClientHandle>>::try_from(x).map_err(|e| match e {
        extendr_api::Error::ExpectedExternalNonNullPtr(_) => Failure::argument(
            "client",
            "is no longer valid: a client does not survive saveRDS()/load() or a new R session",
        ),
        _ => what(),
    })?;
    let handle = ptr.try_addr().map_err(|_| what())?;
    Ok(handle.0.clone())
}

/// `config`: NULL, a path, or inline YAML/JSON. `overrides`: NULL or a JSON object as text.
#[extendr]
fn rs_configure(config: Robj, overrides: Robj) -> Robj {
    guard(|| {
        let config = opt_str_arg(&config, "config")?;
        let overrides = match opt_str_arg(&overrides, "overrides")? {
            None => None,
            Some(text) => Some(serde_json::from_str::<Value>(&text).map_err(|e| Failure {
                status: "config",
                message: format!("configuration error: the overrides are not a JSON object: {e}"),
                field: None,
            })?),
        };
        let client = Client::configure(config.as_deref(), overrides)?;
        let shared = Arc::new(ClientShared { client });
        if let Ok(mut list) = CLIENTS.lock() {
            list.retain(|w| w.strong_count() > 0);
            list.push(Arc::downgrade(&shared));
        }
        let mut ptr = ExternalPtr::new(ClientHandle(shared));
        ptr.set_class(["monitoring_client"])
            .map_err(|e| Failure::from(CoreError::Internal(e.to_string())))?;
        Ok(ptr.into())
    })
}

/// `event`: a list (written as JSON here), a JSON string, or a raw vector of JSON bytes.
/// TRUE: queued; FALSE: dropped at a full queue.
#[extendr]
fn rs_emit(client: Robj, event: Robj) -> Robj {
    guard(|| {
        let shared = client_arg(&client)?;
        // SAFETY: `event` is a live R value for the whole call; its bytes are read in place.
        let x = unsafe { event.get() };
        match sexptype(x) {
            SEXPTYPE::VECSXP => with_buffer(|buf| {
                tojson::write(buf, x).map_err(|e| Failure::invalid_field(e.path.clone(), &e.message))?;
                queued(shared.client.emit(buf))
            }),
            SEXPTYPE::STRSXP if xlength(x) == 1 => {
                // SAFETY: a STRSXP of length 1.
                let bytes = unsafe { charsxp_raw(STRING_ELT(x, 0)) }.map_err(|e| match e {
                    TextError::Na => Failure::argument("event", "is NA"),
                    e => Failure::invalid_field(String::new(), e.message()),
                })?;
                queued(shared.client.emit(bytes))
            }
            SEXPTYPE::RAWSXP => {
                let n = xlength(x) as usize;
                // SAFETY: RAW points at `n` bytes of a raw vector (any pointer when n == 0).
                let bytes: &[u8] =
                    if n == 0 { &[] } else { unsafe { std::slice::from_raw_parts(RAW(x), n) } };
                queued(shared.client.emit(bytes))
            }
            _ => Err(Failure::argument(
                "event",
                format!("must be a named list, a JSON string or a raw vector of JSON, not {}", describe(x)),
            )),
        }
    })
}

/// Writes an R value as JSON text (the conversion `rs_emit` applies to lists).
#[extendr]
fn rs_to_json(x: Robj) -> Robj {
    guard(|| {
        // SAFETY: a live R value.
        let sexp = unsafe { x.get() };
        with_buffer(|buf| {
            tojson::write(buf, sexp).map_err(|e| Failure::invalid_field(e.path.clone(), &e.message))?;
            // The writer only writes valid UTF-8.
            let text =
                std::str::from_utf8(buf).map_err(|e| Failure::from(CoreError::Internal(e.to_string())))?;
            Ok(r_string(text))
        })
    })
}

#[extendr]
fn rs_flush(client: Robj, timeout: Robj) -> Robj {
    guard(|| {
        let shared = client_arg(&client)?;
        let timeout = timeout_arg(&timeout)?;
        shared.client.flush(timeout)?;
        Ok(Robj::from(true))
    })
}

#[extendr]
fn rs_shutdown(client: Robj, timeout: Robj) -> Robj {
    guard(|| {
        let shared = client_arg(&client)?;
        let timeout = timeout_arg(&timeout)?;
        shared.client.shutdown(timeout)?;
        Ok(Robj::from(true))
    })
}

/// Shuts down every client of the session still running (the exit finalizer), within one
/// deadline. Never fails.
#[extendr]
fn rs_shutdown_all(timeout: Robj) -> Robj {
    guard(|| {
        let timeout = timeout_arg(&timeout).unwrap_or(Duration::from_secs(5));
        let deadline = Instant::now() + timeout;
        let mut clients: Vec<Client> = Vec::new();
        if let Ok(list) = CLIENTS.lock() {
            clients.extend(list.iter().filter_map(Weak::upgrade).map(|s| s.client.clone()));
        }
        if let Ok(orphans) = ORPHANS.lock() {
            clients.extend(orphans.iter().cloned());
        }
        let mut unfinished = 0;
        for c in clients.iter().filter(|c| !c.is_shut_down()) {
            let left = deadline.saturating_duration_since(Instant::now());
            if c.shutdown(left).is_err() {
                unfinished += 1;
            }
        }
        Ok(Robj::from(unfinished))
    })
}

/// The counters, as a named list (numbers as doubles; `backends` a list of named lists).
#[extendr]
fn rs_stats(client: Robj) -> Robj {
    guard(|| {
        let shared = client_arg(&client)?;
        let stats =
            serde_json::to_value(shared.client.stats()).map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(value_to_robj(&stats))
    })
}

/// `list(mode, on_full, shut_down, sidecar_url, backends)`, for `print()`.
#[extendr]
fn rs_client_info(client: Robj) -> Robj {
    guard(|| {
        let shared = client_arg(&client)?;
        let cfg = shared.client.config();
        let mode = match cfg.mode {
            Mode::Direct => "direct",
            Mode::Sidecar => "sidecar",
        };
        let on_full = match cfg.queue.on_full {
            OnFull::Drop => "drop",
            OnFull::Block => "block",
        };
        let backends: Vec<String> =
            cfg.direct_backends.iter().map(|b| format!("{}:{}", b.name, b.kind.type_name())).collect();
        let values: [Robj; 5] = [
            mode.into(),
            on_full.into(),
            shared.client.is_shut_down().into(),
            r_string(&cfg.sidecar.url),
            backends.into(),
        ];
        let list =
            List::from_names_and_values(["mode", "on_full", "shut_down", "sidecar_url", "backends"], values)
                .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(list.into())
    })
}

/// JSON values as R values: objects are named lists, arrays lists, numbers doubles, null NULL.
fn value_to_robj(v: &Value) -> Robj {
    match v {
        Value::Null => Robj::from(()),
        Value::Bool(b) => Robj::from(*b),
        Value::Number(n) => Robj::from(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => r_string(s),
        Value::Array(items) => List::from_values(items.iter().map(value_to_robj)).into(),
        Value::Object(map) => {
            let names: Vec<&str> = map.keys().map(String::as_str).collect();
            let values: Vec<Robj> = map.values().map(value_to_robj).collect();
            match List::from_names_and_values(names, values) {
                Ok(list) => list.into(),
                Err(_) => Robj::from(()),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs.

/// What an R `monitoring_job` object points to.
struct JobHandle {
    /// None once finished.
    job: Option<Job>,
    /// Keeps the client alive as long as one of its jobs is.
    client: Arc<ClientShared>,
    id: String,
    name: String,
    options: JobOptions,
}

impl Drop for JobHandle {
    /// Collected while open: finished as `canceled` (nothing once the client is shut down).
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            if !self.client.client.is_shut_down() {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    job.finish(Status::Canceled, Some("job was garbage-collected without being finished"))
                }));
            }
        }
    }
}

fn job_arg(x: &Robj) -> Outcome<ExternalPtr<JobHandle>> {
    let what = || {
        Failure::argument(
            "job",
            format!("must be a job from job_start(), not {}", describe(unsafe { x.get() })),
        )
    };
    if !x.inherits("monitoring_job") {
        return Err(what());
    }
    <ExternalPtr<JobHandle>>::try_from(x).map_err(|e| match e {
        extendr_api::Error::ExpectedExternalNonNullPtr(_) => Failure::argument(
            "job",
            "is no longer valid: a job does not survive saveRDS()/load() or a new R session",
        ),
        _ => what(),
    })
}

/// Runs `f` on the open job.
fn with_open_job<T>(ptr: &mut ExternalPtr<JobHandle>, f: impl FnOnce(&mut Job) -> T) -> Outcome<T> {
    let handle = ptr.try_addr_mut().map_err(|e| Failure::from(CoreError::Internal(e.to_string())))?;
    match handle.job.as_mut() {
        Some(job) => Ok(f(job)),
        None => Err(finished_failure(handle)),
    }
}

fn finished_failure(handle: &JobHandle) -> Failure {
    Failure {
        status: "invalid_argument",
        message: format!("invalid argument: job `{}` ({}) is already finished", handle.name, handle.id),
        field: None,
    }
}

#[extendr]
fn rs_job_start(
    client: Robj,
    name: Robj,
    entity_type: Robj,
    parent_id: Robj,
    business_key: Robj,
    sub_key: Robj,
) -> Robj {
    guard(|| {
        let shared = client_arg(&client)?;
        let name = str_arg(&name, "name")?;
        let options = JobOptions {
            entity_type: opt_str_arg(&entity_type, "entity_type")?,
            parent_id: opt_str_arg(&parent_id, "parent_id")?,
            business_key: opt_str_arg(&business_key, "business_key")?,
            sub_key: opt_str_arg(&sub_key, "sub_key")?,
        };
        let job = shared.client.job_with(&name, options.clone())?;
        let handle = JobHandle { id: job.id().to_owned(), job: Some(job), client: shared, name, options };
        let mut ptr = ExternalPtr::new(handle);
        ptr.set_class(["monitoring_job"]).map_err(|e| Failure::from(CoreError::Internal(e.to_string())))?;
        Ok(ptr.into())
    })
}

#[extendr]
fn rs_job_progress(job: Robj, percent: Robj, message: Robj) -> Robj {
    guard(|| {
        let mut ptr = job_arg(&job)?;
        // SAFETY: reading an R value.
        let percent = scalar_number(unsafe { percent.get() }).map_err(|e| Failure::argument("percent", e))?;
        let message = opt_str_arg(&message, "message")?;
        queued(with_open_job(&mut ptr, |j| j.progress(percent, message.as_deref()))?)
    })
}

#[extendr]
fn rs_job_metric(job: Robj, name: Robj, value: Robj) -> Robj {
    guard(|| {
        let mut ptr = job_arg(&job)?;
        let name = str_arg(&name, "name")?;
        // SAFETY: reading an R value.
        let value = scalar_number(unsafe { value.get() }).map_err(|e| Failure::argument("value", e))?;
        queued(with_open_job(&mut ptr, |j| j.metric(&name, value))?)
    })
}

/// `value`: any R value the JSON writer takes (a string, number, logical, list, NULL, ...).
#[extendr]
fn rs_job_metadata(job: Robj, key: Robj, value: Robj) -> Robj {
    guard(|| {
        let mut ptr = job_arg(&job)?;
        let key = str_arg(&key, "key")?;
        if key.is_empty() {
            return Err(Failure::argument("key", "must not be empty"));
        }
        // SAFETY: a live R value.
        let sexp = unsafe { value.get() };
        let json = with_buffer(|buf| {
            tojson::write(buf, sexp).map_err(|e| {
                Failure::invalid_field(e.field_under(&format!("event.metadata.{key}")), &e.message)
            })?;
            serde_json::from_slice::<Value>(buf)
                .map_err(|e| Failure::from(CoreError::Internal(e.to_string())))
        })?;
        with_open_job(&mut ptr, |j| j.metadata(&key, json))?;
        Ok(Robj::from(true))
    })
}

/// An unknown status is an error and leaves the job open (so it can still be finished); any
/// other outcome closes it. With `if_open = TRUE`, a job already finished is no error: the
/// result is NULL (`with_job()` finishes only what its expression left open).
#[extendr]
fn rs_job_finish(job: Robj, status: Robj, message: Robj, if_open: Robj) -> Robj {
    guard(|| {
        let mut ptr = job_arg(&job)?;
        let status = str_arg(&status, "status")?;
        let message = opt_str_arg(&message, "message")?;
        let if_open = if_open.as_bool().unwrap_or(false);
        let status = parse_final_status(&status)?;
        let handle = ptr.try_addr_mut().map_err(|e| Failure::from(CoreError::Internal(e.to_string())))?;
        let Some(job) = handle.job.take() else {
            return if if_open { Ok(Robj::from(())) } else { Err(finished_failure(handle)) };
        };
        queued(job.finish(status, message.as_deref()))
    })
}

/// The job's id (cheaper than `rs_job_info` when that is all that is needed).
#[extendr]
fn rs_job_id(job: Robj) -> Robj {
    guard(|| {
        let ptr = job_arg(&job)?;
        let h = ptr.try_addr().map_err(|e| Failure::from(CoreError::Internal(e.to_string())))?;
        Ok(r_string(&h.id))
    })
}

/// `list(id, name, entity_type, parent_id, business_key, sub_key, finished)`.
#[extendr]
fn rs_job_info(job: Robj) -> Robj {
    guard(|| {
        let ptr = job_arg(&job)?;
        let h = ptr.try_addr().map_err(|e| Failure::from(CoreError::Internal(e.to_string())))?;
        let opt = |s: &Option<String>| -> Robj { s.as_deref().map_or_else(|| Robj::from(()), r_string) };
        let values: [Robj; 7] = [
            r_string(&h.id),
            r_string(&h.name),
            r_string(h.options.entity_type.as_deref().unwrap_or("job")),
            opt(&h.options.parent_id),
            opt(&h.options.business_key),
            opt(&h.options.sub_key),
            h.job.is_none().into(),
        ];
        let names = ["id", "name", "entity_type", "parent_id", "business_key", "sub_key", "finished"];
        let list =
            List::from_names_and_values(names, values).map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(list.into())
    })
}

// ---------------------------------------------------------------------------------------------
// Session.

#[extendr]
fn rs_version() -> Robj {
    r_string(monitoring_core::VERSION)
}

extern "C" fn at_fork_prepare() {
    let _ = catch_unwind(monitoring_core::before_fork);
}

extern "C" fn at_fork_parent() {
    let _ = catch_unwind(monitoring_core::after_fork_parent);
}

extern "C" fn at_fork_child() {
    let _ = catch_unwind(monitoring_core::after_fork_child);
}

/// Called by `.onLoad`: registers the core's fork hooks with `pthread_atfork`, once per process,
/// so that a child of `parallel::mcparallel()`/`mclapply()` gets its own engine threads. Returns
/// TRUE when the hooks are registered.
#[extendr]
fn rs_init() -> Robj {
    static ONCE: Once = Once::new();
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    ONCE.call_once(|| {
        // SAFETY: the three functions are `extern "C"`, never unwind, and live as long as the
        // process: the package's shared object is never unloaded (see R/zzz.R).
        let rc =
            unsafe { libc::pthread_atfork(Some(at_fork_prepare), Some(at_fork_parent), Some(at_fork_child)) };
        REGISTERED.store(rc == 0, Relaxed);
    });
    Robj::from(REGISTERED.load(Relaxed))
}

extendr_module! {
    mod monitoring;
    fn rs_init;
    fn rs_version;
    fn rs_configure;
    fn rs_emit;
    fn rs_to_json;
    fn rs_flush;
    fn rs_shutdown;
    fn rs_shutdown_all;
    fn rs_stats;
    fn rs_client_info;
    fn rs_job_start;
    fn rs_job_progress;
    fn rs_job_metric;
    fn rs_job_metadata;
    fn rs_job_finish;
    fn rs_job_id;
    fn rs_job_info;
}
