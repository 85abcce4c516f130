//! UTC microsecond timestamps: the one textual form every stored event uses
//! (`2026-11-22T10:00:00.123456Z`).

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// Parses any RFC 3339 timestamp (any offset) into UTC microseconds since the epoch.
pub fn parse_rfc3339_micros(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1000)).ok()
}

/// Formats UTC microseconds as `YYYY-MM-DDTHH:MM:SS.ffffffZ` into `out` (27 bytes).
pub fn format_micros(micros: i64, out: &mut [u8; 27]) -> &str {
    write_micros(micros, out);
    // Every byte written is ASCII.
    std::str::from_utf8(&out[..]).unwrap_or("1970-01-01T00:00:00.000000Z")
}

/// As [`format_micros`], for the encoder, which copies bytes and so skips the UTF-8 check.
pub(crate) fn write_micros(micros: i64, out: &mut [u8; 27]) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000) as u32;
    // The date and time of day change once a second, events arrive by the thousand: the
    // calendar conversion is made once per second per thread, as spdlog's formatter does.
    let (cached_secs, cached_prefix) = LAST_SECOND.get();
    if cached_secs == secs {
        out[..PREFIX].copy_from_slice(&cached_prefix);
    } else {
        let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let (year, month, day) = (t.year().clamp(0, 9999) as u32, t.month() as u32, t.day() as u32);
        let (h, m, s) = (t.hour() as u32, t.minute() as u32, t.second() as u32);
        put_digits(out, 0, year, 4);
        put_digits(out, 5, month, 2);
        put_digits(out, 8, day, 2);
        put_digits(out, 11, h, 2);
        put_digits(out, 14, m, 2);
        put_digits(out, 17, s, 2);
        out[4] = b'-';
        out[7] = b'-';
        out[10] = b'T';
        out[13] = b':';
        out[16] = b':';
        out[19] = b'.';
        let mut prefix = [0u8; PREFIX];
        prefix.copy_from_slice(&out[..PREFIX]);
        LAST_SECOND.set((secs, prefix));
    }
    put_digits(out, 20, frac, 6);
    out[26] = b'Z';
}

/// `YYYY-MM-DDTHH:MM:SS.`
const PREFIX: usize = 20;

thread_local! {
    /// The last second formatted on this thread, and its text.
    static LAST_SECOND: std::cell::Cell<(i64, [u8; PREFIX])> =
        const { std::cell::Cell::new((i64::MIN, [0; PREFIX])) };
}

/// `value` as `width` decimal digits at `out[at..]`.
fn put_digits(out: &mut [u8; 27], at: usize, value: u32, width: usize) {
    let mut v = value;
    for i in (0..width).rev() {
        out[at + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let mut buf = [0u8; 27];
        let text = format_micros(1_795_334_400_123_456, &mut buf).to_string();
        assert_eq!(text, "2026-11-22T08:00:00.123456Z");
        assert_eq!(parse_rfc3339_micros(&text), Some(1_795_334_400_123_456));
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let utc = parse_rfc3339_micros("2026-11-22T10:00:00.5+02:00").unwrap();
        let mut buf = [0u8; 27];
        assert_eq!(format_micros(utc, &mut buf), "2026-11-22T08:00:00.500000Z");
    }

    #[test]
    fn the_cached_second_is_only_reused_within_that_second() {
        let mut buf = [0u8; 27];
        for (micros, text) in [
            (1_795_334_400_123_456, "2026-11-22T08:00:00.123456Z"),
            (1_795_334_400_999_999, "2026-11-22T08:00:00.999999Z"),
            (1_795_334_401_000_000, "2026-11-22T08:00:01.000000Z"),
            (1_795_334_400_000_001, "2026-11-22T08:00:00.000001Z"),
            (-1, "1969-12-31T23:59:59.999999Z"),
            (0, "1970-01-01T00:00:00.000000Z"),
        ] {
            assert_eq!(format_micros(micros, &mut buf), text);
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_rfc3339_micros("yesterday"), None);
        assert_eq!(parse_rfc3339_micros("2026-13-01T00:00:00Z"), None);
    }
}
