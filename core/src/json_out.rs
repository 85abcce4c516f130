//! Pieces for the bindings that write a host language's values (a Python dict, an R list) as
//! the JSON text of an event before handing it to [`crate::Client::emit`]. Each binding walks
//! its own values; the bytes they turn into are written here, once, so that every language
//! escapes strings and prints numbers the same way.

use std::cell::RefCell;

/// Appends `s` as a JSON string: `"`, `\` and control characters escaped, every other byte as it
/// is. `s` must be UTF-8 (the callers check it where the host language allows anything else).
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// For each byte: 0 = as is; `u` = `\u00XX`; anything else = `\` + that character.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `f` as the shortest JSON number that reads back as the same double. `false` (nothing
/// written) for NaN and the infinities, which JSON cannot carry: the caller names the field.
#[must_use]
pub fn write_f64(out: &mut Vec<u8>, f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes());
    true
}

/// Appends `n` in decimal.
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

thread_local! {
    /// The buffer an event is written into: one per thread, reused from call to call.
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// Runs `f` with this thread's cleared buffer, so that writing an event allocates nothing in the
/// steady state. A re-entrant call (host code run during the conversion emits too) gets a fresh
/// buffer; a buffer grown past 1 MiB by one huge event is not kept.
pub fn with_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let r = f(&mut buf);
            if buf.capacity() > 1 << 20 {
                *buf = Vec::with_capacity(1024);
            }
            r
        }
        Err(_) => f(&mut Vec::with_capacity(1024)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json_and_read_back() {
        let s = "a\"b\\c\n\t\u{1}é€\u{7f}";
        let mut out = Vec::new();
        write_str(&mut out, s.as_bytes());
        assert_eq!(String::from_utf8(out.clone()).unwrap(), "\"a\\\"b\\\\c\\n\\t\\u0001é€\u{7f}\"");
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn numbers_are_shortest_round_trip_and_non_finite_refused() {
        for f in [0.1, 21.5, -0.0, 1e300, 5e-324, 812.5, 25.0] {
            let mut out = Vec::new();
            assert!(write_f64(&mut out, f));
            let back: f64 = serde_json::from_slice(&out).unwrap();
            assert_eq!(back.to_bits(), f.to_bits(), "{}", String::from_utf8_lossy(&out));
        }
        let mut out = Vec::new();
        assert!(!write_f64(&mut out, f64::NAN) && !write_f64(&mut out, f64::INFINITY));
        assert!(out.is_empty());
        write_i64(&mut out, i64::MIN);
        assert_eq!(out, i64::MIN.to_string().as_bytes());
    }

    #[test]
    fn the_buffer_is_reused_and_reentrant_calls_get_their_own() {
        let outer = with_buffer(|a| {
            a.extend_from_slice(b"outer");
            let inner = with_buffer(|b| {
                assert!(b.is_empty());
                b.extend_from_slice(b"inner");
                b.clone()
            });
            assert_eq!(inner, b"inner");
            a.clone()
        });
        assert_eq!(outer, b"outer");
        with_buffer(|a| assert!(a.is_empty(), "cleared for the next call"));
    }
}
