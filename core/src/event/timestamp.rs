//! UTC microsecond timestamps: the one textual form every stored event uses
//! (`2026-11-22T10:00:00.123456Z`).

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Microseconds since the Unix epoch, now.
///
/// Every emitted event is stamped with it, on the caller's thread. The system clock
/// (clock_gettime through the vDSO) costs some 40 ns a call on the bench machine, a fifth of
/// `emit`'s budget, where the CPU's counter (rdtsc) costs 11 ns. Once a client has set the
/// counter up (`init_fast_clock`), each thread reads the system clock at most once a
/// millisecond, as an anchor, and adds the counter's progress since then, converted by quanta's
/// calibration against the OS clock. The counter keeps within a few ppm of the system clock
/// (-3 to -5 ppm measured over a second here), so the time is off by a few ns at the end of a
/// millisecond, and a step of the system clock shows within a millisecond. On one thread the
/// time never goes back by less than `MAX_HELD_BACK_NS`, which a new anchor could otherwise do
/// at a microsecond boundary; a real step back of the system clock is followed.
pub fn now_micros() -> i64 {
    match FAST_CLOCK.get() {
        Some(Some(clock)) => fast_now_micros(clock),
        _ => system_nanos().div_euclid(1000),
    }
}

/// The system clock in nanoseconds since the Unix epoch (negative before it).
fn system_nanos() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

/// The counter `now_micros` extrapolates with, once a client has set it up; `None` where the
/// kernel does not keep time with it (`counter_is_the_clock`).
static FAST_CLOCK: OnceLock<Option<quanta::Clock>> = OnceLock::new();

/// How long a thread extrapolates from one reading of the system clock.
const ANCHOR_NS: u64 = 1_000_000;

/// The longest a reading of the system clock may take to make an anchor (it takes ~40 ns): the
/// anchor is off by at most half of it.
const MAX_PAIRING_NS: u64 = 2_000;

/// How far back a new anchor may take the time without being followed (the time then holds
/// still on that thread instead): far more than the counter's drift over `ANCHOR_NS`, far less
/// than a step an administrator or NTP makes.
const MAX_HELD_BACK_NS: i64 = 100_000;

thread_local! {
    /// This thread's anchor (a counter reading and the system time then, in ns) and the last
    /// time `now_micros` returned on it (ns). `i64::MIN`: none yet.
    static ANCHOR: Cell<(u64, i64, i64)> = const { Cell::new((0, i64::MIN, i64::MIN)) };
}

/// Sets up the counter for `now_micros` once per process (quanta calibrates it against the OS
/// clock: about a millisecond). Every client calls it as it starts, so no `emit` pays for it.
pub(crate) fn init_fast_clock() {
    FAST_CLOCK.get_or_init(|| counter_is_the_clock().then(quanta::Clock::new));
}

/// Whether the kernel keeps time with the CPU's counter, which it does only once it has
/// checked that the counter is invariant and in step across CPUs (otherwise it switches to
/// another clock source, and `now_micros` reads the system clock every time).
fn counter_is_the_clock() -> bool {
    let path = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
    match std::fs::read_to_string(path).unwrap_or_default().trim() {
        "tsc" => cfg!(target_arch = "x86_64"),
        "arch_sys_counter" => cfg!(target_arch = "aarch64"),
        _ => false,
    }
}

fn fast_now_micros(clock: &quanta::Clock) -> i64 {
    let raw = clock.raw();
    ANCHOR.with(|anchor| {
        let (mut at_raw, mut at_ns, last) = anchor.get();
        let since =
            if at_ns != i64::MIN && raw >= at_raw { clock.delta_as_nanos(at_raw, raw) } else { u64::MAX };
        let mut now = if since < ANCHOR_NS {
            at_ns + since as i64
        } else {
            // A new anchor: the system time, paired with the midpoint of the counter readings
            // around it, unless the thread was preempted (or moved) between them: then there is
            // no anchor and the next call tries again.
            let ns = system_nanos();
            let after = clock.raw();
            if after >= raw && clock.delta_as_nanos(raw, after) < MAX_PAIRING_NS {
                at_raw = raw + (after - raw) / 2;
                at_ns = ns;
            } else {
                at_ns = i64::MIN;
            }
            ns
        };
        if now < last && last - now < MAX_HELD_BACK_NS {
            now = last;
        }
        anchor.set((at_raw, at_ns, now));
        now.div_euclid(1000)
    })
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

    /// The counter's time stays between two readings of the system clock around it (give or
    /// take 50 us, far more than its error: what a loaded machine may add), and never goes back
    /// on one thread, across many anchors; `now_micros`, whichever clock it reads, likewise.
    #[test]
    fn the_counter_time_follows_the_system_clock() {
        init_fast_clock();
        let clock = quanta::Clock::new();
        let started = std::time::Instant::now();
        let mut last = i64::MIN;
        let mut calls = 0u64;
        let system = || system_nanos().div_euclid(1000);
        // Whether `now_micros` extrapolates from the same per-thread anchors.
        let shared = matches!(FAST_CLOCK.get(), Some(Some(_)));
        while started.elapsed() < std::time::Duration::from_millis(30) {
            let before = system();
            let counter = fast_now_micros(&clock);
            let between = system();
            let public = now_micros();
            let after = system();
            assert!(before - 50 <= counter && counter <= between + 50, "{before} <= {counter} <= {between}");
            assert!(between - 50 <= public && public <= after + 50, "{between} <= {public} <= {after}");
            // Where `now_micros` reads the system clock instead, the two clocks may disagree by
            // a few ns, so across a microsecond boundary.
            let slack = if shared { 0 } else { 1 };
            assert!(
                last <= counter + slack && counter <= public + slack,
                "went back: {last}, {counter}, {public}"
            );
            last = public;
            calls += 1;
        }
        assert!(calls > 1000);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_rfc3339_micros("yesterday"), None);
        assert_eq!(parse_rfc3339_micros("2026-13-01T00:00:00Z"), None);
    }
}
