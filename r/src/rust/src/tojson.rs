//! R values to JSON text, written straight into a byte buffer by walking the list (no jsonlite,
//! no intermediate tree). The mapping is jsonlite's `toJSON(x, auto_unbox = TRUE, digits = NA,
//! null = "null", na = "null")`, except where noted:
//!
//! | R | JSON |
//! |---|---|
//! | `NULL` | `null` |
//! | a list with names | object (every name must be non-empty and not NA) |
//! | a list without names | array; but an empty `list()` is `{}` (jsonlite: `[]`): in an event, empty lists are the `metrics` and `metadata` objects. `I(list())` is `[]` |
//! | an atomic vector of length 1 | its value (unboxed); `I(x)` keeps it an array |
//! | other atomic vectors (length 0 or > 1) | array |
//! | logical | `true` / `false`, NA `null` |
//! | integer | number, NA `null` |
//! | double | shortest text that reads back as the same double (jsonlite `digits = NA` gives 15 significant digits); integral values below 2^53 without `.0`; NA `null`; `NaN` and `Inf` are an error naming the field (jsonlite writes strings or null) |
//! | character | string (translated to UTF-8 from latin1 or the native encoding; invalid UTF-8 or the `bytes` encoding is an error), NA `null` |
//! | factor | its labels, as strings |
//! | `POSIXct` | `"2026-11-22T10:00:00.123456Z"` (UTC, microseconds: the event's `at` format; jsonlite writes local time without an offset) |
//! | `Date` | `"2026-11-22"` |
//! | anything else (functions, environments, raw, complex, ...) | an error naming the field |
//!
//! Nesting deeper than 64 levels is an error. Errors carry the JSON path of the offending value
//! (`event.metrics.temp`, `event.metadata.tags[2]`), as the core's validation errors do.

use std::os::raw::c_int;

use extendr_ffi::{
    R_LevelsSymbol, Rf_getAttrib, INTEGER_ELT, LOGICAL_ELT, REAL_ELT, SEXP, SEXPTYPE, STRING_ELT, VECTOR_ELT,
};
use monitoring_core::json_out::{self, write_str};

use crate::rdata::{charsxp_raw, describe, has_class, is_null, names, sexptype, xlength, TextError};

const MAX_DEPTH: usize = 64;
/// Below this, integral doubles are written as integers (`25`, not `25.0`); both read back as the
/// same double.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53

/// A value JSON cannot hold, and where it is.
#[derive(Debug)]
pub struct JsonError {
    /// JSON path from the value passed to [`write`] down to the offending one.
    pub path: String,
    pub message: String,
}

impl JsonError {
    fn new(message: impl Into<String>) -> Self {
        JsonError { path: String::new(), message: message.into() }
    }

    /// Puts an object key in front of the path.
    fn under_key(mut self, key: &str) -> Self {
        self.path = if self.path.is_empty() {
            key.to_owned()
        } else if self.path.starts_with('[') {
            format!("{key}{}", self.path)
        } else {
            format!("{key}.{}", self.path)
        };
        self
    }

    /// Puts an array index in front of the path.
    fn under_index(mut self, i: isize) -> Self {
        let mut buf = itoa::Buffer::new();
        let idx = buf.format(i);
        self.path = if self.path.is_empty() || self.path.starts_with('[') {
            format!("[{idx}]{}", self.path)
        } else {
            format!("[{idx}].{}", self.path)
        };
        self
    }

    /// The path under `prefix` (`event.metadata.lot` for a metadata value), for error messages.
    pub fn field_under(&self, prefix: &str) -> String {
        match (prefix.is_empty(), self.path.is_empty()) {
            (true, _) => self.path.clone(),
            (false, true) => prefix.to_owned(),
            (false, false) if self.path.starts_with('[') => format!("{prefix}{}", self.path),
            (false, false) => format!("{prefix}.{}", self.path),
        }
    }
}

/// Writes `x` as JSON into `out`.
pub fn write(out: &mut Vec<u8>, x: SEXP) -> Result<(), JsonError> {
    write_value(out, x, 0)
}

fn write_value(out: &mut Vec<u8>, x: SEXP, depth: usize) -> Result<(), JsonError> {
    if depth > MAX_DEPTH {
        return Err(JsonError::new(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    match sexptype(x) {
        SEXPTYPE::NILSXP => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        SEXPTYPE::VECSXP => write_list(out, x, depth),
        SEXPTYPE::LGLSXP | SEXPTYPE::INTSXP | SEXPTYPE::REALSXP | SEXPTYPE::STRSXP => write_atomic(out, x),
        _ => Err(JsonError::new(format!("cannot be written as JSON: {}", describe(x)))),
    }
}

fn write_list(out: &mut Vec<u8>, x: SEXP, depth: usize) -> Result<(), JsonError> {
    let n = xlength(x);
    let keys = names(x);
    if keys.is_none() && (n > 0 || has_class(x, "AsIs")) {
        out.push(b'[');
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            // SAFETY: i < length of a VECSXP.
            let item = unsafe { VECTOR_ELT(x, i) };
            write_value(out, item, depth + 1).map_err(|e| e.under_index(i))?;
        }
        out.push(b']');
        return Ok(());
    }
    out.push(b'{');
    if let Some(keys) = keys {
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            // SAFETY: `names` of a list has the list's length; i is in range.
            let key = unsafe { charsxp_raw(STRING_ELT(keys, i)) };
            let key = match key {
                Ok(k) if !k.is_empty() => k,
                Ok(_) | Err(TextError::Na) => {
                    return Err(JsonError::new(format!(
                        "element {} of a named list has no name (every element of an object needs one)",
                        i + 1
                    )))
                }
                Err(e) => {
                    return Err(JsonError::new(format!("the name of element {}: {}", i + 1, e.message())))
                }
            };
            let Ok(key_str) = std::str::from_utf8(key) else {
                return Err(JsonError::new(format!("the name of element {} is not valid UTF-8", i + 1)));
            };
            write_str(out, key);
            out.push(b':');
            // SAFETY: i < length of a VECSXP.
            let item = unsafe { VECTOR_ELT(x, i) };
            write_value(out, item, depth + 1).map_err(|e| e.under_key(key_str))?;
        }
    }
    out.push(b'}');
    Ok(())
}

/// How the elements of an atomic vector are written.
enum Atomic {
    Logical,
    Integer,
    Double,
    String,
    /// Integer codes into these labels (a STRSXP).
    Factor(SEXP),
    /// Seconds since the epoch.
    PosixCt,
    /// Days since the epoch.
    Date,
}

fn write_atomic(out: &mut Vec<u8>, x: SEXP) -> Result<(), JsonError> {
    let kind = match sexptype(x) {
        SEXPTYPE::LGLSXP => Atomic::Logical,
        SEXPTYPE::INTSXP if has_class(x, "factor") => {
            // SAFETY: an attribute lookup.
            let levels = unsafe { Rf_getAttrib(x, R_LevelsSymbol) };
            if is_null(levels) || sexptype(levels) != SEXPTYPE::STRSXP {
                return Err(JsonError::new("a factor without levels"));
            }
            Atomic::Factor(levels)
        }
        SEXPTYPE::INTSXP if has_class(x, "Date") => Atomic::Date,
        SEXPTYPE::INTSXP => Atomic::Integer,
        SEXPTYPE::REALSXP if has_class(x, "POSIXct") => Atomic::PosixCt,
        SEXPTYPE::REALSXP if has_class(x, "Date") => Atomic::Date,
        SEXPTYPE::REALSXP => Atomic::Double,
        _ => Atomic::String,
    };
    let n = xlength(x);
    if n == 1 && !has_class(x, "AsIs") {
        return write_element(out, x, &kind, 0);
    }
    out.push(b'[');
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        write_element(out, x, &kind, i).map_err(|e| e.under_index(i))?;
    }
    out.push(b']');
    Ok(())
}

fn write_element(out: &mut Vec<u8>, x: SEXP, kind: &Atomic, i: isize) -> Result<(), JsonError> {
    // SAFETY (every arm): `i` is within the vector, whose type matches the accessor.
    match kind {
        Atomic::Logical => match unsafe { LOGICAL_ELT(x, i) } {
            c_int::MIN => out.extend_from_slice(b"null"),
            0 => out.extend_from_slice(b"false"),
            _ => out.extend_from_slice(b"true"),
        },
        Atomic::Integer => match unsafe { INTEGER_ELT(x, i) } {
            c_int::MIN => out.extend_from_slice(b"null"),
            v => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
        },
        Atomic::Double => write_double(out, unsafe { REAL_ELT(x, i) })?,
        Atomic::String => match unsafe { charsxp_raw(STRING_ELT(x, i)) } {
            Ok(s) if std::str::from_utf8(s).is_ok() => write_str(out, s),
            Ok(_) => return Err(JsonError::new(TextError::NotUtf8.message())),
            Err(TextError::Na) => out.extend_from_slice(b"null"),
            Err(e) => return Err(JsonError::new(e.message())),
        },
        Atomic::Factor(levels) => {
            let code = unsafe { INTEGER_ELT(x, i) };
            if code == c_int::MIN {
                out.extend_from_slice(b"null");
            } else if code < 1 || code as isize > xlength(*levels) {
                return Err(JsonError::new(format!("factor code {code} has no level")));
            } else {
                match unsafe { charsxp_raw(STRING_ELT(*levels, code as isize - 1)) } {
                    Ok(s) if std::str::from_utf8(s).is_ok() => write_str(out, s),
                    Ok(_) => return Err(JsonError::new(TextError::NotUtf8.message())),
                    Err(TextError::Na) => out.extend_from_slice(b"null"),
                    Err(e) => return Err(JsonError::new(e.message())),
                }
            }
        }
        Atomic::PosixCt | Atomic::Date => {
            let v = match sexptype(x) {
                SEXPTYPE::INTSXP => match unsafe { INTEGER_ELT(x, i) } {
                    c_int::MIN => f64::NAN,
                    v => f64::from(v),
                },
                _ => unsafe { REAL_ELT(x, i) },
            };
            if v.is_nan() {
                out.extend_from_slice(b"null");
            } else if !v.is_finite() {
                return Err(JsonError::new("an infinite date or time cannot be written as JSON"));
            } else if matches!(kind, Atomic::Date) {
                write_date(out, v.floor() as i64);
            } else {
                write_timestamp(out, v)?;
            }
        }
    }
    Ok(())
}

fn write_double(out: &mut Vec<u8>, v: f64) -> Result<(), JsonError> {
    if v.is_finite() {
        if v == v.trunc() && v.abs() < MAX_EXACT_INT {
            // -0.0 as well: `-0` reads back as -0.0.
            if v == 0.0 && v.is_sign_negative() {
                out.extend_from_slice(b"-0");
            } else {
                out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
            }
        } else {
            let written = json_out::write_f64(out, v);
            debug_assert!(written, "finite here");
        }
        return Ok(());
    }
    // SAFETY: R_IsNA only reads its argument's bits.
    if unsafe { extendr_ffi::R_IsNA(v) } != 0 {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    let what = if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Inf"
    } else {
        "-Inf"
    };
    Err(JsonError::new(format!("{what} is not a finite number: JSON has no literal for it")))
}

/// The days-since-epoch civil date (proleptic Gregorian), from Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn write_date(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    out.extend_from_slice(format!("\"{y:04}-{m:02}-{d:02}\"").as_bytes());
}

/// `"YYYY-MM-DDTHH:MM:SS.ffffffZ"`: the format the core stores `at` in.
fn write_timestamp(out: &mut Vec<u8>, secs: f64) -> Result<(), JsonError> {
    let micros = (secs * 1e6).round();
    // Years 0001..9999 only: what RFC 3339 can write.
    if !(-62_135_596_800e6..=253_402_300_799e6).contains(&micros) {
        return Err(JsonError::new("a time outside the years 1..9999 cannot be written as RFC 3339"));
    }
    let micros = micros as i64;
    let days = micros.div_euclid(86_400_000_000);
    let of_day = micros.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(days);
    let (s, us) = (of_day / 1_000_000, of_day % 1_000_000);
    let text = format!("\"{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}Z\"", s / 3600, s / 60 % 60, s % 60);
    out.extend_from_slice(text.as_bytes());
    Ok(())
}
