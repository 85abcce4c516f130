//! The road not taken, kept to be measured: `emit(Map)` by walking the Java `Map` from native
//! code through JNI (entrySet, iterator, getKey, getValue, instanceof, ...) and writing the JSON
//! in Rust, instead of serializing on the Java side (`JsonWriter`) and passing bytes.
//!
//! Only `Native.emitMapViaJni` (package-private, used by the JMH benchmark in java/bench) calls
//! it; `Client.emit(Map)` does not. It handles what the benchmark's event holds (maps, lists,
//! strings, booleans, null, integer and floating-point boxes) and is as lean as JNI allows: raw
//! calls, method ids looked up once, one local frame per entry. See bench/results/java.md for the
//! numbers that decided it.

use std::ffi::c_char;
use std::sync::OnceLock;

use jni::sys::{jboolean, jclass, jmethodID, jobject, JNIEnv, JNINativeInterface_};

/// Classes (global references) and method ids, looked up once.
struct Ids {
    string: jclass,
    map: jclass,
    iterable: jclass,
    boolean: jclass,
    number: jclass,
    double: jclass,
    float: jclass,
    map_entry_set: jmethodID,
    iterable_iterator: jmethodID,
    iterator_has_next: jmethodID,
    iterator_next: jmethodID,
    entry_key: jmethodID,
    entry_value: jmethodID,
    boolean_value: jmethodID,
    number_long_value: jmethodID,
    number_double_value: jmethodID,
}

// SAFETY: global references and method ids are valid on every thread for the JVM's lifetime.
unsafe impl Send for Ids {}
unsafe impl Sync for Ids {}

static IDS: OnceLock<Option<Ids>> = OnceLock::new();

pub(crate) struct Walker {
    env: *mut JNIEnv,
    f: *const JNINativeInterface_,
    ids: &'static Ids,
}

/// `Err(why)`: the value cannot be written, or a Java exception is pending (the caller checks).
pub(crate) type WalkResult = Result<(), String>;

impl Walker {
    /// # Safety
    /// `env` is the current thread's JNIEnv and no exception is pending.
    pub(crate) unsafe fn new(env: *mut JNIEnv) -> Option<Walker> {
        // SAFETY: as documented for the caller.
        let f = unsafe { *env };
        let ids = IDS.get_or_init(|| unsafe { lookup(env, f) }).as_ref()?;
        Some(Walker { env, f, ids })
    }

    fn pending(&self) -> bool {
        // SAFETY: valid env (see `new`).
        unsafe { ((*self.f).v1_2.ExceptionCheck)(self.env) }
    }

    fn call_object(&self, obj: jobject, m: jmethodID) -> Result<jobject, String> {
        // SAFETY: `obj` is a live reference of a class that has method `m` (checked by the
        // caller with IsInstanceOf), taking no arguments.
        let r = unsafe { ((*self.f).v1_1.CallObjectMethodA)(self.env, obj, m, std::ptr::null()) };
        if self.pending() {
            return Err("a Java exception".into());
        }
        Ok(r)
    }

    fn is(&self, obj: jobject, class: jclass) -> bool {
        // SAFETY: live references.
        unsafe { ((*self.f).v1_1.IsInstanceOf)(self.env, obj, class) }
    }

    fn delete(&self, obj: jobject) {
        if !obj.is_null() {
            // SAFETY: a local reference we own.
            unsafe { ((*self.f).v1_1.DeleteLocalRef)(self.env, obj) }
        }
    }

    /// Appends `obj` as JSON.
    pub(crate) fn value(&self, obj: jobject, out: &mut Vec<u8>, depth: usize) -> WalkResult {
        if depth > 128 {
            return Err("nested deeper than 128 levels".into());
        }
        if obj.is_null() {
            out.extend_from_slice(b"null");
        } else if self.is(obj, self.ids.string) {
            self.string(obj, out)?;
        } else if self.is(obj, self.ids.map) {
            self.map(obj, out, depth)?;
        } else if self.is(obj, self.ids.number) {
            // SAFETY: a java.lang.Number; no arguments.
            if self.is(obj, self.ids.double) || self.is(obj, self.ids.float) {
                let d = unsafe {
                    ((*self.f).v1_1.CallDoubleMethodA)(
                        self.env,
                        obj,
                        self.ids.number_double_value,
                        std::ptr::null(),
                    )
                };
                if !d.is_finite() {
                    return Err("not a finite number".into());
                }
                let mut s = format!("{d:?}");
                if s.ends_with(".0") && d.abs() >= 1e16 {
                    s.truncate(s.len() - 2);
                }
                out.extend_from_slice(s.as_bytes());
            } else {
                let l = unsafe {
                    ((*self.f).v1_1.CallLongMethodA)(
                        self.env,
                        obj,
                        self.ids.number_long_value,
                        std::ptr::null(),
                    )
                };
                out.extend_from_slice(l.to_string().as_bytes());
            }
        } else if self.is(obj, self.ids.boolean) {
            // SAFETY: a java.lang.Boolean; no arguments.
            let b: jboolean = unsafe {
                ((*self.f).v1_1.CallBooleanMethodA)(self.env, obj, self.ids.boolean_value, std::ptr::null())
            };
            out.extend_from_slice(if b { b"true" } else { b"false" });
        } else if self.is(obj, self.ids.iterable) {
            out.push(b'[');
            let it = self.call_object(obj, self.ids.iterable_iterator)?;
            let mut first = true;
            let r = self.each(it, |elem| {
                if !first {
                    out.push(b',');
                }
                first = false;
                self.value(elem, out, depth + 1)
            });
            self.delete(it);
            r?;
            out.push(b']');
        } else {
            return Err("unsupported value type".into());
        }
        if self.pending() {
            return Err("a Java exception".into());
        }
        Ok(())
    }

    fn map(&self, obj: jobject, out: &mut Vec<u8>, depth: usize) -> WalkResult {
        out.push(b'{');
        let set = self.call_object(obj, self.ids.map_entry_set)?;
        let it = self.call_object(set, self.ids.iterable_iterator);
        self.delete(set);
        let it = it?;
        let mut first = true;
        let r = self.each(it, |entry| {
            if !first {
                out.push(b',');
            }
            first = false;
            let key = self.call_object(entry, self.ids.entry_key)?;
            if key.is_null() || !self.is(key, self.ids.string) {
                return Err("map keys must be strings".into());
            }
            self.string(key, out)?;
            out.push(b':');
            let value = self.call_object(entry, self.ids.entry_value)?;
            self.value(value, out, depth + 1)
        });
        self.delete(it);
        r?;
        out.push(b'}');
        Ok(())
    }

    /// Calls `f` for each element of the iterator, each in its own local frame (so a long list
    /// does not pile up local references).
    fn each(&self, it: jobject, mut f: impl FnMut(jobject) -> WalkResult) -> WalkResult {
        loop {
            // SAFETY: `it` is a live java.util.Iterator; no arguments.
            let more = unsafe {
                ((*self.f).v1_1.CallBooleanMethodA)(
                    self.env,
                    it,
                    self.ids.iterator_has_next,
                    std::ptr::null(),
                )
            };
            if self.pending() {
                return Err("a Java exception".into());
            }
            if !more {
                return Ok(());
            }
            // SAFETY: valid env; frees every local created inside.
            if unsafe { ((*self.f).v1_2.PushLocalFrame)(self.env, 8) } != 0 {
                return Err("out of local references".into());
            }
            let r = self.call_object(it, self.ids.iterator_next).and_then(&mut f);
            // SAFETY: pops the frame pushed above.
            unsafe { ((*self.f).v1_2.PopLocalFrame)(self.env, std::ptr::null_mut()) };
            r?;
        }
    }

    fn string(&self, s: jobject, out: &mut Vec<u8>) -> WalkResult {
        let mut raw = Vec::new();
        // SAFETY: valid env, `s` a live java.lang.String.
        unsafe { crate::append_utf8_raw(self.env, s, &mut raw, jni::sys::jsize::MAX) }?;
        let text = std::str::from_utf8(&raw).map_err(|_| "a lone surrogate".to_string())?;
        // serde_json writes a JSON string with every escape JSON needs.
        serde_json::to_writer(&mut *out, text).map_err(|e| e.to_string())
    }
}

/// Looks the classes and methods up; `None` if any is missing (never, on a real JVM).
unsafe fn lookup(env: *mut JNIEnv, f: *const JNINativeInterface_) -> Option<Ids> {
    let class = |name: &[u8]| -> Option<jclass> {
        // SAFETY: `name` is NUL-terminated; a found class is made global, its local freed.
        unsafe {
            let local = ((*f).v1_1.FindClass)(env, name.as_ptr().cast::<c_char>());
            if local.is_null() {
                ((*f).v1_1.ExceptionClear)(env);
                return None;
            }
            let global = ((*f).v1_1.NewGlobalRef)(env, local);
            ((*f).v1_1.DeleteLocalRef)(env, local);
            (!global.is_null()).then_some(global)
        }
    };
    let method = |c: jclass, name: &[u8], sig: &[u8]| -> Option<jmethodID> {
        // SAFETY: NUL-terminated name and signature.
        unsafe {
            let m = ((*f).v1_1.GetMethodID)(env, c, name.as_ptr().cast(), sig.as_ptr().cast());
            if m.is_null() {
                ((*f).v1_1.ExceptionClear)(env);
                return None;
            }
            Some(m)
        }
    };
    let map = class(b"java/util/Map\0")?;
    let iterable = class(b"java/lang/Iterable\0")?;
    let iterator = class(b"java/util/Iterator\0")?;
    let entry = class(b"java/util/Map$Entry\0")?;
    let boolean = class(b"java/lang/Boolean\0")?;
    let number = class(b"java/lang/Number\0")?;
    Some(Ids {
        string: class(b"java/lang/String\0")?,
        double: class(b"java/lang/Double\0")?,
        float: class(b"java/lang/Float\0")?,
        map_entry_set: method(map, b"entrySet\0", b"()Ljava/util/Set;\0")?,
        iterable_iterator: method(iterable, b"iterator\0", b"()Ljava/util/Iterator;\0")?,
        iterator_has_next: method(iterator, b"hasNext\0", b"()Z\0")?,
        iterator_next: method(iterator, b"next\0", b"()Ljava/lang/Object;\0")?,
        entry_key: method(entry, b"getKey\0", b"()Ljava/lang/Object;\0")?,
        entry_value: method(entry, b"getValue\0", b"()Ljava/lang/Object;\0")?,
        boolean_value: method(boolean, b"booleanValue\0", b"()Z\0")?,
        number_long_value: method(number, b"longValue\0", b"()J\0")?,
        number_double_value: method(number, b"doubleValue\0", b"()D\0")?,
        map,
        iterable,
        boolean,
        number,
    })
}
