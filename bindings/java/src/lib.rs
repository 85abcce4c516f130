//! `libmonitoring_jni`: the native methods of `dev.monitoring.Native` (the `java/` Maven project)
//! over the monitoring core.
//!
//! Thin on purpose: handles are `Box` pointers passed to Java as `long`, arguments are converted,
//! and core errors become Java exceptions built by `Native.error(code, message, field)` on the
//! Java side (so the Java code chooses the class: `InvalidEventException`, an
//! `IllegalArgumentException`, for a bad event, `MonitoringException` for the rest).
//!
//! Rules every native method follows:
//! - it runs under `EnvUnowned::with_env` and our own `catch_unwind`: a panic becomes a
//!   `MonitoringException` (status `INTERNAL`), never an unwind into the JVM;
//! - it makes no JNI call while an exception is pending, and returns as soon as one is (the
//!   `jni` crate checks before each call; the raw calls below check by hand);
//! - it creates at most a few local references (error path only) and loops over no Java objects,
//!   so the JVM frees them all when it returns;
//! - a handle is used only while the Java object that owns it is reachable (the Java side frees
//!   it from a `Cleaner` and keeps its owner reachable across each call), so a `long` handle is
//!   never dangling; a zero handle is an error, not a crash.
//!
//! Returned `int`s: 0 when the event was queued, 3 (`QUEUE_FULL`) when it was dropped at a full
//! queue. Every other outcome is an exception.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteArray, JClass, JObject, JString, JThrowable};
use jni::sys::{jbyte, jdouble, jint, jlong, jsize, jstring};
use jni::{jni_sig, jni_str, Env, EnvUnowned, JValue};
use monitoring_core::json_out::with_buffer;
use monitoring_core::{parse_final_status, Client, Error, Job, JobOptions};

mod jni_map;
use serde_json::Value;

/// The status codes shared with `dev.monitoring.StatusCode` (the C ABI's numbering).
fn code_of(e: &Error) -> jint {
    match e {
        Error::InvalidArgument { .. } => 1,
        Error::Config { .. } => 2,
        Error::QueueFull => 3,
        Error::Timeout => 4,
        Error::Shutdown => 5,
        Error::Io(_) => 6,
        Error::Internal(_) => 7,
    }
}
const QUEUED: jint = 0;
const QUEUE_FULL: jint = 3;

/// Longest wait accepted: 30 days, far from `Instant` overflow.
const FOREVER_MS: jlong = 30 * 24 * 3600 * 1000;

/// Longest Java string converted for an argument that is not an event (names, messages, config
/// text): 64 Mi chars. Events are bounded by `limits.max_event_bytes` instead.
const MAX_ARG_CHARS: jsize = 64 << 20;

/// Why a native method failed.
enum Failure {
    /// An error of the engine (or of an argument), thrown as the matching Java exception.
    Core(Error),
    /// A JNI call failed; usually a Java exception (an `OutOfMemoryError`) is pending already.
    Jni(jni::errors::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        Failure::Jni(e)
    }
}

type Res<T> = Result<T, Failure>;

fn invalid(message: impl Into<String>) -> Failure {
    Failure::Core(Error::InvalidArgument { field: None, message: message.into() })
}

fn null_arg(name: &str) -> Failure {
    invalid(format!("`{name}` must not be null"))
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("a panic in the native library (please report): {what}")
}

/// Runs the body of a native method: a value, or an exception thrown and `T::default()`
/// returned. Nothing unwinds into the JVM: the body runs under `catch_unwind`, and so does the
/// throwing (inside `with_env`, whose policy throws a `RuntimeException` if even that fails).
fn run<'local, T: Default>(
    unowned: &mut EnvUnowned<'local>,
    class: &JClass<'local>,
    body: impl FnOnce(&mut Env<'local>) -> Res<T>,
) -> T {
    unowned
        .with_env(|env| -> jni::errors::Result<T> {
            let outcome = catch_unwind(AssertUnwindSafe(|| body(&mut *env)));
            let error = match outcome {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(Failure::Core(e))) => e,
                Ok(Err(Failure::Jni(e))) => {
                    if env.exception_check() {
                        return Ok(T::default()); // propagates to the caller as it is
                    }
                    Error::Internal(format!("JNI call failed: {e}"))
                }
                Err(panic) => Error::Internal(panic_text(&*panic)),
            };
            if !env.exception_check() {
                throw(env, class, &error);
            }
            Ok(T::default())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// Throws the Java exception for `e`, built by `Native.error(int, String, String)`. If that
/// fails, whatever exception the failure left pending (an `OutOfMemoryError`) is thrown instead;
/// if none, a `RuntimeException` with the message.
fn throw<'local>(env: &mut Env<'local>, class: &JClass<'local>, e: &Error) {
    let message = e.to_string();
    let built = (|| -> jni::errors::Result<()> {
        let text = env.new_string(&message)?;
        let field = match e.field() {
            Some(f) => JObject::from(env.new_string(f)?),
            None => JObject::null(),
        };
        let exception = env
            .call_static_method(
                class,
                jni_str!("error"),
                jni_sig!("(ILjava/lang/String;Ljava/lang/String;)Ljava/lang/RuntimeException;"),
                &[JValue::Int(code_of(e)), JValue::Object(&text), JValue::Object(&field)],
            )?
            .l()?;
        let exception = env.cast_local::<JThrowable>(exception)?;
        env.throw(exception)
    })();
    if !env.exception_check() {
        // `built` failed without leaving an exception: fall back to a plain one.
        let _ = built;
        let _ = env.throw_new(jni_str!("java/lang/RuntimeException"), jni::strings::JNIString::from(message));
    }
}

// ---------------------------------------------------------------------------------------------
// The hot path: raw JNI, no `Env`.
//
// `EnvUnowned::with_env` costs about 70 ns a call (the jni crate's attachment bookkeeping, done
// twice when the outcome is resolved), ten times the JNI transition itself: measured with
// java/bench and bench/results/java.md. So the calls that queue events run their body on the raw
// `JNIEnv` under our own `catch_unwind`, and build an `Env` (with_env) only to throw.

/// Runs the body of a hot native method on the raw env: a value, or an exception thrown and
/// `T::default()` returned. The body must make no JNI call through the `jni` crate (it has no
/// `Env`); [`Jni`] is what it uses.
fn run_raw<'local, T: Default>(
    unowned: &mut EnvUnowned<'local>,
    class: &JClass<'local>,
    body: impl FnOnce(Jni) -> Res<T>,
) -> T {
    // SAFETY: the env passed to this native method, valid on this thread for the call.
    let jni = unsafe { Jni::new(unowned.as_raw()) };
    let error = match catch_unwind(AssertUnwindSafe(|| body(jni))) {
        Ok(Ok(value)) => return value,
        Ok(Err(Failure::Core(e))) => e,
        Ok(Err(Failure::Jni(e))) => {
            if jni.exception_pending() {
                return T::default(); // propagates to the caller as it is
            }
            Error::Internal(format!("JNI call failed: {e}"))
        }
        Err(panic) => Error::Internal(panic_text(&*panic)),
    };
    unowned
        .with_env(|env| -> jni::errors::Result<()> {
            if !env.exception_check() {
                throw(env, class, &error);
            }
            Ok(())
        })
        .resolve::<ThrowRuntimeExAndDefault>();
    T::default()
}

/// The current thread's raw `JNIEnv`, for the few calls the hot path makes: string and byte
/// array reads. Every method checks for a pending exception before calling into the JVM and
/// reports one left by the call as `Failure::Jni`.
#[derive(Clone, Copy)]
pub(crate) struct Jni {
    p: *mut jni::sys::JNIEnv,
    f: *const jni::sys::JNINativeInterface_,
}

impl Jni {
    /// # Safety
    /// `p` is the current thread's valid JNIEnv, and the value is used only during the native
    /// call that received it.
    pub(crate) unsafe fn new(p: *mut jni::sys::JNIEnv) -> Jni {
        // SAFETY: as documented.
        Jni { p, f: unsafe { *p } }
    }

    pub(crate) fn exception_pending(self) -> bool {
        // SAFETY: a valid env (see `new`); ExceptionCheck may be called with one pending.
        unsafe { ((*self.f).v1_2.ExceptionCheck)(self.p) }
    }

    fn check(self) -> Res<()> {
        if self.exception_pending() {
            Err(Failure::Jni(jni::errors::Error::JavaException))
        } else {
            Ok(())
        }
    }

    /// The length in chars of a non-null Java string.
    fn string_length(self, s: jstring) -> Res<usize> {
        self.check()?;
        // SAFETY: `s` is a live, non-null String reference; no exception pending.
        let n = unsafe { ((*self.f).v1_1.GetStringLength)(self.p, s) };
        Ok(n.max(0) as usize)
    }

    /// Appends the text of a non-null Java string to `buf` as UTF-8 (see [`append_utf8_raw`]).
    fn append_utf8(self, s: jstring, buf: &mut Vec<u8>, max_chars: jsize, what: &str) -> Res<()> {
        self.check()?;
        // SAFETY: valid env, no exception pending, `s` a live non-null String.
        unsafe { append_utf8_raw(self.p, s, buf, max_chars) }.map_err(|why| {
            if self.exception_pending() {
                Failure::Jni(jni::errors::Error::JavaException)
            } else {
                invalid(format!("{what} {why}"))
            }
        })
    }

    /// A Java string argument as a Rust `String`; `None` for null. A lone surrogate is an
    /// error (it has no UTF-8 form).
    fn opt_string(self, s: jstring, what: &str) -> Res<Option<String>> {
        if s.is_null() {
            return Ok(None);
        }
        let mut buf = Vec::new();
        self.append_utf8(s, &mut buf, MAX_ARG_CHARS, &format!("`{what}`"))?;
        String::from_utf8(buf)
            .map(Some)
            .map_err(|_| invalid(format!("`{what}` is not valid Unicode (it has a lone surrogate)")))
    }

    fn string(self, s: jstring, what: &str) -> Res<String> {
        self.opt_string(s, what)?.ok_or_else(|| null_arg(what))
    }

    /// Copies `len` bytes of `array` from `offset` into `buf` (the bounds checked first).
    fn copy_bytes(
        self,
        array: jni::sys::jbyteArray,
        offset: jint,
        len: jint,
        buf: &mut Vec<u8>,
        what: &str,
    ) -> Res<()> {
        if array.is_null() {
            return Err(null_arg(what));
        }
        self.check()?;
        // SAFETY: `array` is a live, non-null byte[] reference; no exception pending.
        let total = unsafe { ((*self.f).v1_1.GetArrayLength)(self.p, array) };
        if offset < 0 || len < 0 || offset as i64 + len as i64 > total as i64 {
            return Err(invalid(format!(
                "offset {offset} and length {len} are outside the array (length {total})"
            )));
        }
        buf.clear();
        buf.reserve(len as usize);
        // SAFETY: the region [offset, offset + len) is inside the array (checked above), and
        // `buf` has room for `len` bytes, all written by the call before `set_len`.
        unsafe {
            ((*self.f).v1_1.GetByteArrayRegion)(self.p, array, offset, len, buf.as_mut_ptr().cast::<jbyte>());
            self.check()?;
            buf.set_len(len as usize);
        }
        Ok(())
    }
}

/// Appends the text of a non-null Java string to `buf` as UTF-8 (not modified UTF-8): surrogate
/// pairs become 4-byte sequences and U+0000 one zero byte. A lone surrogate stays as its 3-byte
/// encoding, which is not UTF-8, so that the engine or `from_utf8` rejects it. Strings over
/// `max_chars` chars are refused before anything is copied. `Err` says why, or that an
/// exception is pending.
///
/// # Safety
/// `p` is the current thread's JNIEnv with no exception pending; `s` a live, non-null reference
/// to a `java.lang.String`.
pub(crate) unsafe fn append_utf8_raw(
    p: *mut jni::sys::JNIEnv,
    s: jstring,
    buf: &mut Vec<u8>,
    max_chars: jsize,
) -> Result<(), String> {
    // SAFETY: as documented; the region written (`utf_len` bytes plus the NUL HotSpot appends)
    // fits in the capacity reserved below.
    unsafe {
        let f = *p;
        let chars = ((*f).v1_1.GetStringLength)(p, s);
        if chars > max_chars {
            return Err(format!("is {chars} characters long, over the limit of {max_chars}"));
        }
        let utf_len = ((*f).v1_1.GetStringUTFLength)(p, s);
        if utf_len < 0 {
            return Err("is too long".into());
        }
        let start = buf.len();
        let utf_len = utf_len as usize;
        buf.reserve(utf_len + 1);
        let dst = buf.as_mut_ptr().add(start).cast::<c_char>();
        ((*f).v1_2.GetStringUTFRegion)(p, s, 0, chars, dst);
        if ((*f).v1_2.ExceptionCheck)(p) {
            return Err("could not be read (a Java exception)".into());
        }
        buf.set_len(start + utf_len);
        if utf_len != chars as usize {
            fix_modified_utf8(buf, start);
        }
    }
    Ok(())
}

/// Rewrites JNI's modified UTF-8 from `start` on into standard UTF-8, in place: `C0 80` (U+0000)
/// becomes `00` and a surrogate pair (`ED A0-AF xx ED B0-BF xx`) its 4-byte form. Lone surrogates
/// are left as they are (invalid UTF-8).
fn fix_modified_utf8(buf: &mut Vec<u8>, start: usize) {
    let Some(first) = buf[start..].iter().position(|&b| b == 0xC0 || b == 0xED) else {
        return;
    };
    let mut r = start + first;
    let mut w = r;
    let n = buf.len();
    while r < n {
        let b = buf[r];
        if b == 0xC0 && r + 1 < n && buf[r + 1] == 0x80 {
            buf[w] = 0;
            w += 1;
            r += 2;
        } else if b == 0xED
            && r + 5 < n
            && (0xA0..=0xAF).contains(&buf[r + 1])
            && buf[r + 3] == 0xED
            && (0xB0..=0xBF).contains(&buf[r + 4])
        {
            let hi = 0xD800 + (((buf[r + 1] as u32) & 0x0F) << 6 | (buf[r + 2] as u32) & 0x3F);
            let lo = 0xDC00 + (((buf[r + 4] as u32) & 0x0F) << 6 | (buf[r + 5] as u32) & 0x3F);
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            buf[w] = 0xF0 | (c >> 18) as u8;
            buf[w + 1] = 0x80 | ((c >> 12) & 0x3F) as u8;
            buf[w + 2] = 0x80 | ((c >> 6) & 0x3F) as u8;
            buf[w + 3] = 0x80 | (c & 0x3F) as u8;
            w += 4;
            r += 6;
        } else {
            buf[w] = b;
            w += 1;
            r += 1;
        }
    }
    buf.truncate(w);
}

// ---------------------------------------------------------------------------------------------
// Handles.

/// A job: the core's `Job` behind a lock (Java may call from several threads), `None` once
/// finished.
struct JobHandle {
    job: Mutex<Option<Job>>,
}

fn client<'a>(handle: jlong) -> Res<&'a Client> {
    if handle == 0 {
        return Err(Failure::Core(Error::Shutdown));
    }
    // SAFETY: a non-zero handle comes from `configure` and is freed only by `clientFree`, which
    // the Java side calls once no Java code can use the handle any more.
    Ok(unsafe { &*(handle as *const Client) })
}

fn job_handle<'a>(handle: jlong) -> Res<&'a JobHandle> {
    if handle == 0 {
        return Err(invalid("the job is already finished"));
    }
    // SAFETY: as for `client`: from `jobStart`, freed only by `jobFree`.
    Ok(unsafe { &*(handle as *const JobHandle) })
}

fn with_job<T>(handle: jlong, f: impl FnOnce(&mut Job) -> Result<T, Error>) -> Res<T> {
    let h = job_handle(handle)?;
    let mut guard = h.job.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let job = guard.as_mut().ok_or_else(|| invalid("the job is already finished"))?;
    Ok(f(job)?)
}

/// An event call's result: queued (0) or dropped at a full queue (3); other errors throw.
fn queued(r: Result<(), Error>) -> Res<jint> {
    match r {
        Ok(()) => Ok(QUEUED),
        Err(Error::QueueFull) => Ok(QUEUE_FULL),
        Err(e) => Err(Failure::Core(e)),
    }
}

fn timeout(ms: jlong) -> Res<Duration> {
    if ms < 0 {
        return Err(invalid(format!("timeout must be >= 0 ms, got {ms}")));
    }
    Ok(Duration::from_millis(ms.min(FOREVER_MS) as u64))
}

// ---------------------------------------------------------------------------------------------
// The native methods of dev.monitoring.Native (all static). Those that queue events, and the
// cheap ones, use `run_raw`; the rare ones that build Java strings use `run` and the jni crate.

/// `String version()`: the engine's version.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_version<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
) -> JString<'l> {
    run(&mut e, &c, |env| Ok(env.new_string(monitoring_core::VERSION)?))
}

/// `long configure(String config, byte[] overridesJson, int len)`: a client handle.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_configure<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    config: JString<'l>,
    overrides: JByteArray<'l>,
    len: jint,
) -> jlong {
    run_raw(&mut e, &c, |jni| {
        let config = jni.opt_string(config.as_raw(), "config")?;
        let overrides = if overrides.is_null() {
            None
        } else {
            let mut buf = Vec::new();
            jni.copy_bytes(overrides.as_raw(), 0, len, &mut buf, "overrides")?;
            Some(serde_json::from_slice::<Value>(&buf).map_err(|e| {
                Failure::Core(Error::Config { path: None, message: format!("overrides are not JSON: {e}") })
            })?)
        };
        let client = Client::configure(config.as_deref(), overrides)?;
        Ok(Box::into_raw(Box::new(client)) as jlong)
    })
}

/// `void clientFree(long client)`: frees the handle (the engine stops once shut down).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_clientFree<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
) {
    run_raw(&mut e, &c, |_| {
        if h != 0 {
            // SAFETY: from `configure`; the Java side calls this once, when nothing uses it.
            drop(unsafe { Box::from_raw(h as *mut Client) });
        }
        Ok(())
    })
}

/// `int emitString(long client, String json)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_emitString<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
    json: JString<'l>,
) -> jint {
    run_raw(&mut e, &c, |jni| {
        let client = client(h)?;
        let json = json.as_raw();
        if json.is_null() {
            return Err(null_arg("event"));
        }
        // Every char is at least one byte: a longer string is over the limit whatever it holds,
        // and is refused without being copied.
        let max = client.config().limits.max_event_bytes;
        let chars = jni.string_length(json)?;
        if chars > max {
            return Err(invalid(format!(
                "event is at least {chars} bytes, over limits.max_event_bytes ({max})"
            )));
        }
        with_buffer(|buf| {
            jni.append_utf8(json, buf, MAX_ARG_CHARS, "the event")?;
            queued(client.emit(buf))
        })
    })
}

/// `int emitBytes(long client, byte[] json, int offset, int len)`: UTF-8 JSON text.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_emitBytes<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
    json: JByteArray<'l>,
    offset: jint,
    len: jint,
) -> jint {
    run_raw(&mut e, &c, |jni| {
        let client = client(h)?;
        with_buffer(|buf| {
            jni.copy_bytes(json.as_raw(), offset, len, buf, "event")?;
            queued(client.emit(buf))
        })
    })
}

/// `void flush(long client, long timeoutMs)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_flush<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
    ms: jlong,
) {
    run_raw(&mut e, &c, |_| Ok(client(h)?.flush(timeout(ms)?)?))
}

/// `void shutdown(long client, long timeoutMs)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_shutdown<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
    ms: jlong,
) {
    run_raw(&mut e, &c, |_| Ok(client(h)?.shutdown(timeout(ms)?)?))
}

/// `boolean isShutDown(long client)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_isShutDown<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
) -> bool {
    run_raw(&mut e, &c, |_| Ok(client(h)?.is_shut_down()))
}

/// `String stats(long client)`: the counters as JSON text.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_stats<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
) -> JString<'l> {
    run(&mut e, &c, |env| {
        let stats = client(h)?.stats();
        let text = serde_json::to_string(&stats).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(env.new_string(text)?)
    })
}

/// `String mode(long client)`: `direct` or `sidecar`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_mode<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
) -> JString<'l> {
    run(&mut e, &c, |env| {
        let mode = match client(h)?.config().mode {
            monitoring_core::config::Mode::Direct => "direct",
            monitoring_core::config::Mode::Sidecar => "sidecar",
        };
        Ok(env.new_string(mode)?)
    })
}

/// `long jobStart(long client, String name, String entityType, String parentId,
/// String businessKey, String subKey)`: a job handle (`started` emitted).
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_jobStart<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
    name: JString<'l>,
    entity_type: JString<'l>,
    parent_id: JString<'l>,
    business_key: JString<'l>,
    sub_key: JString<'l>,
) -> jlong {
    run_raw(&mut e, &c, |jni| {
        let client = client(h)?;
        let name = jni.string(name.as_raw(), "name")?;
        let options = JobOptions {
            entity_type: jni.opt_string(entity_type.as_raw(), "entityType")?,
            parent_id: jni.opt_string(parent_id.as_raw(), "parentId")?,
            business_key: jni.opt_string(business_key.as_raw(), "businessKey")?,
            sub_key: jni.opt_string(sub_key.as_raw(), "subKey")?,
        };
        let job = client.job_with(&name, options)?;
        Ok(Box::into_raw(Box::new(JobHandle { job: Mutex::new(Some(job)) })) as jlong)
    })
}

/// `String jobId(long job)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_jobId<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    j: jlong,
) -> JString<'l> {
    run(&mut e, &c, |env| {
        let id = with_job(j, |job| Ok(job.id().to_owned()))?;
        Ok(env.new_string(id)?)
    })
}

/// `int jobProgress(long job, double percent, String message)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_jobProgress<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    j: jlong,
    percent: jdouble,
    message: JString<'l>,
) -> jint {
    run_raw(&mut e, &c, |jni| {
        let message = jni.opt_string(message.as_raw(), "message")?;
        queued(with_job(j, |job| Ok(job.progress(percent, message.as_deref())))?)
    })
}

/// `int jobMetric(long job, String name, double value)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_jobMetric<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    j: jlong,
    name: JString<'l>,
    value: jdouble,
) -> jint {
    run_raw(&mut e, &c, |jni| {
        let name = jni.string(name.as_raw(), "name")?;
        queued(with_job(j, |job| Ok(job.metric(&name, value)))?)
    })
}

/// `void jobMetadata(long job, String key, byte[] valueJson, int len)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_jobMetadata<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    j: jlong,
    key: JString<'l>,
    value: JByteArray<'l>,
    len: jint,
) {
    run_raw(&mut e, &c, |jni| {
        let key = jni.string(key.as_raw(), "key")?;
        let mut buf = Vec::new();
        jni.copy_bytes(value.as_raw(), 0, len, &mut buf, "value")?;
        let value: Value = serde_json::from_slice(&buf)
            .map_err(|e| invalid(format!("metadata value for `{key}` is not JSON: {e}")))?;
        with_job(j, |job| {
            job.metadata(&key, value);
            Ok(())
        })
    })
}

/// `int jobFinish(long job, String status, String message)`: ends the job whatever the result
/// (an invalid status emits nothing, as in the C ABI).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_jobFinish<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    j: jlong,
    status: JString<'l>,
    message: JString<'l>,
) -> jint {
    run_raw(&mut e, &c, |jni| {
        let h = job_handle(j)?;
        let job = h
            .job
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .ok_or_else(|| invalid("the job is already finished"))?;
        let status = jni.string(status.as_raw(), "status")?;
        let message = jni.opt_string(message.as_raw(), "message")?;
        let status = parse_final_status(&status)?;
        queued(job.finish(status, message.as_deref()))
    })
}

/// `void jobFree(long job)`: frees the handle (an unfinished job is dropped without an event).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_jobFree<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    j: jlong,
) {
    run_raw(&mut e, &c, |_| {
        if j != 0 {
            // SAFETY: from `jobStart`; the Java side calls this once, when nothing uses it.
            drop(unsafe { Box::from_raw(j as *mut JobHandle) });
        }
        Ok(())
    })
}

/// `int emitMapViaJni(long client, Map map)`: the measured alternative to `emit(Map)` (see
/// `jni_map`): the map walked through JNI and written as JSON here. Benchmarks only.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_emitMapViaJni<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    h: jlong,
    map: JObject<'l>,
) -> jint {
    run_raw(&mut e, &c, |jni| {
        let client = client(h)?;
        if map.is_null() {
            return Err(null_arg("event"));
        }
        // SAFETY: the current thread's env; `run_raw` calls us with no exception pending.
        let walker = unsafe { jni_map::Walker::new(jni.p) }
            .ok_or_else(|| Failure::Core(Error::Internal("JNI class lookups failed".into())))?;
        with_buffer(|buf| {
            if let Err(why) = walker.value(map.as_raw(), buf, 0) {
                if jni.exception_pending() {
                    return Err(Failure::Jni(jni::errors::Error::JavaException));
                }
                return Err(invalid(why));
            }
            queued(client.emit(buf))
        })
    })
}

/// `void panicForTest(boolean raw)`: panics inside a native method (on the raw path, or inside
/// `with_env`), so the tests can check that a panic becomes a `MonitoringException` (status
/// INTERNAL) and the JVM carries on.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_monitoring_Native_panicForTest<'l>(
    mut e: EnvUnowned<'l>,
    c: JClass<'l>,
    raw: jni::sys::jboolean,
) {
    if raw {
        run_raw(&mut e, &c, |_| -> Res<()> { panic!("deliberate panic (test, raw path)") })
    } else {
        run(&mut e, &c, |_| -> Res<()> { panic!("deliberate panic (test, Env path)") })
    }
}

#[cfg(test)]
mod tests {
    use super::fix_modified_utf8;

    fn fixed(bytes: &[u8]) -> Vec<u8> {
        let mut v = bytes.to_vec();
        fix_modified_utf8(&mut v, 0);
        v
    }

    #[test]
    fn modified_utf8_becomes_utf8() {
        // U+1F600 as a CESU-8 surrogate pair
        assert_eq!(fixed(b"a\xED\xA0\xBD\xED\xB8\x80b"), "a\u{1F600}b".as_bytes());
        assert_eq!(fixed(b"x\xC0\x80y"), b"x\0y");
        assert_eq!(fixed("é€".as_bytes()), "é€".as_bytes());
        // a lone surrogate stays invalid
        assert!(std::str::from_utf8(&fixed(b"\xED\xA0\xBDz")).is_err());
    }
}
