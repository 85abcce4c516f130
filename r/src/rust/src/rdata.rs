//! Reading R values without going through R's evaluator: strings as UTF-8, and the few attributes
//! (names, class, levels) the JSON writer looks at. Nothing here can signal an R error (a
//! `longjmp` through Rust frames): every R API used is one that does not allocate or fail for the
//! inputs it is given here (`Rf_translateCharUTF8` is only called on strings that are not in the
//! `bytes` encoding, the one case where it errors).

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

use extendr_ffi::{
    cetype_t, R_ClassSymbol, R_NaString, R_NamesSymbol, R_NilValue, Rf_getAttrib, LENGTH, R_CHAR, SEXP,
    SEXPTYPE, STRING_ELT, TYPEOF, XLENGTH,
};

// SEXPREC is an opaque R type; extendr-ffi declares its own functions the same way.
#[allow(improper_ctypes)]
extern "C" {
    // Part of R's API (R_ext/Riconv.h, Rinternals.h); not declared by extendr-ffi.
    fn Rf_getCharCE(x: SEXP) -> cetype_t;
    fn Rf_translateCharUTF8(x: SEXP) -> *const c_char;
}

/// Why a string could not be read as UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// `NA_character_`.
    Na,
    /// Marked `bytes` (`Encoding(x) == "bytes"`): R itself will not translate it.
    Bytes,
    /// Not valid UTF-8 (e.g. `"\xff"` in a UTF-8 session).
    NotUtf8,
}

impl TextError {
    pub fn message(self) -> &'static str {
        match self {
            TextError::Na => "is NA",
            TextError::Bytes => "string has the \"bytes\" encoding and cannot be read as UTF-8",
            TextError::NotUtf8 => "string is not valid UTF-8",
        }
    }
}

/// The bytes of a CHARSXP in UTF-8 (translated from latin1 or a native non-UTF-8 locale),
/// not validated. Valid until the end of the current `.Call` (translations live on R's
/// transient stack).
///
/// # Safety
/// `c` must be a CHARSXP.
pub unsafe fn charsxp_raw<'a>(c: SEXP) -> Result<&'a [u8], TextError> {
    if c == R_NaString {
        return Err(TextError::Na);
    }
    let bytes = || std::slice::from_raw_parts(R_CHAR(c).cast::<u8>(), LENGTH(c) as usize);
    match Rf_getCharCE(c) {
        cetype_t::CE_UTF8 => Ok(bytes()),
        cetype_t::CE_BYTES => Err(TextError::Bytes),
        // The native encoding: ASCII, or a UTF-8 session, need no translation (and R's would turn
        // invalid bytes into `<e9>` escapes instead of letting the caller reject them).
        cetype_t::CE_NATIVE if bytes().is_ascii() || native_is_utf8() => Ok(bytes()),
        // latin1, or a native non-UTF-8 encoding: R translates.
        _ => Ok(CStr::from_ptr(Rf_translateCharUTF8(c)).to_bytes()),
    }
}

/// True when the session's character encoding (LC_CTYPE, as R set it) is UTF-8.
fn native_is_utf8() -> bool {
    // SAFETY: nl_langinfo returns a pointer to a static string (never NULL on glibc/musl/macOS).
    let codeset = unsafe { libc::nl_langinfo(libc::CODESET) };
    if codeset.is_null() {
        return false;
    }
    // SAFETY: a NUL-terminated string owned by the C library.
    let name = unsafe { CStr::from_ptr(codeset) }.to_bytes();
    name.eq_ignore_ascii_case(b"UTF-8") || name.eq_ignore_ascii_case(b"utf8")
}

/// A CHARSXP as a UTF-8 `&str`.
///
/// # Safety
/// `c` must be a CHARSXP.
pub unsafe fn charsxp_str<'a>(c: SEXP) -> Result<&'a str, TextError> {
    std::str::from_utf8(charsxp_raw(c)?).map_err(|_| TextError::NotUtf8)
}

/// Element `i` of a character vector as `&str`.
///
/// # Safety
/// `x` must be a STRSXP longer than `i`.
pub unsafe fn string_elt<'a>(x: SEXP, i: isize) -> Result<&'a str, TextError> {
    charsxp_str(STRING_ELT(x, i))
}

pub fn sexptype(x: SEXP) -> SEXPTYPE {
    // SAFETY: TYPEOF reads the header of any SEXP.
    unsafe { TYPEOF(x) }
}

pub fn xlength(x: SEXP) -> isize {
    // SAFETY: XLENGTH is defined for every vector type; callers only pass vectors.
    unsafe { XLENGTH(x) }
}

pub fn is_null(x: SEXP) -> bool {
    // SAFETY: comparing with R's NULL singleton.
    unsafe { x == R_NilValue }
}

/// The `names` attribute (a STRSXP), if any.
pub fn names(x: SEXP) -> Option<SEXP> {
    // SAFETY: for vectors, `names` is a plain attribute lookup (no allocation).
    let n = unsafe { Rf_getAttrib(x, R_NamesSymbol) };
    (!is_null(n) && sexptype(n) == SEXPTYPE::STRSXP).then_some(n)
}

/// True when `class(x)` (the attribute, not the implicit class) contains `name`.
pub fn has_class(x: SEXP, name: &str) -> bool {
    // SAFETY: an attribute lookup; the class attribute is a STRSXP when set.
    unsafe {
        let class = Rf_getAttrib(x, R_ClassSymbol);
        if is_null(class) || sexptype(class) != SEXPTYPE::STRSXP {
            return false;
        }
        (0..xlength(class)).any(|i| string_elt(class, i).is_ok_and(|c| c == name))
    }
}

/// A length-one character vector's string; `Ok(None)` for NULL and `NA`.
pub fn opt_scalar_str<'a>(x: SEXP) -> Result<Option<&'a str>, String> {
    if is_null(x) {
        return Ok(None);
    }
    match sexptype(x) {
        SEXPTYPE::STRSXP if xlength(x) == 1 => {
            // SAFETY: a STRSXP of length 1.
            match unsafe { string_elt(x, 0) } {
                Ok(s) => Ok(Some(s)),
                Err(TextError::Na) => Ok(None),
                Err(e) => Err(e.message().to_owned()),
            }
        }
        // A lone logical NA (`NA`) means "not given" too.
        SEXPTYPE::LGLSXP if xlength(x) == 1 && unsafe { *extendr_ffi::LOGICAL(x) } == c_int::MIN => Ok(None),
        _ => Err(format!("must be a single string or NULL, not {}", describe(x))),
    }
}

/// A length-one numeric (double or integer) as f64; NA is NaN.
pub fn scalar_number(x: SEXP) -> Result<f64, String> {
    match sexptype(x) {
        // SAFETY: length checked; REAL_ELT/INTEGER_ELT work on ALTREP vectors as well.
        SEXPTYPE::REALSXP if xlength(x) == 1 => Ok(unsafe { extendr_ffi::REAL_ELT(x, 0) }),
        SEXPTYPE::INTSXP if xlength(x) == 1 && !has_class(x, "factor") => {
            let v = unsafe { extendr_ffi::INTEGER_ELT(x, 0) };
            Ok(if v == c_int::MIN { f64::NAN } else { f64::from(v) })
        }
        _ => Err(format!("must be a single number, not {}", describe(x))),
    }
}

/// What an R value is, for error messages: `a character vector of length 2`, `NULL`, `a function`.
pub fn describe(x: SEXP) -> String {
    let t = sexptype(x);
    let kind = match t {
        SEXPTYPE::NILSXP => return "NULL".to_owned(),
        SEXPTYPE::LGLSXP => "logical vector",
        SEXPTYPE::INTSXP if has_class(x, "factor") => "factor",
        SEXPTYPE::INTSXP => "integer vector",
        SEXPTYPE::REALSXP => "double vector",
        SEXPTYPE::CPLXSXP => "complex vector",
        SEXPTYPE::STRSXP => "character vector",
        SEXPTYPE::VECSXP => "list",
        SEXPTYPE::RAWSXP => "raw vector",
        SEXPTYPE::CLOSXP | SEXPTYPE::BUILTINSXP | SEXPTYPE::SPECIALSXP => return "a function".to_owned(),
        SEXPTYPE::ENVSXP => return "an environment".to_owned(),
        SEXPTYPE::EXTPTRSXP => return "an external pointer".to_owned(),
        SEXPTYPE::SYMSXP => return "a symbol".to_owned(),
        SEXPTYPE::LANGSXP => return "a call".to_owned(),
        SEXPTYPE::LISTSXP => return "a pairlist".to_owned(),
        _ => return format!("an R object of SEXP type {}", t as u32),
    };
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {kind} of length {}", xlength(x))
}
