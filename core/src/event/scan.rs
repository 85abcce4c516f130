//! A strict reader of the JSON that `emit`'s fast path accepts (see `fast.rs`): what serde_json
//! accepts, minus escapes in strings and numbers it might round differently. Every method returns
//! `None` (or a byte that no caller takes) to give up.
//!
//! It reads a copy of the text followed by [`PAD`] zero bytes, so that it loads eight bytes at
//! any position of the text without a tail case. A zero byte is never what it looks for: inside
//! a string it is a control character (the end of the search, and not JSON), outside one it is
//! no token. Keys of the schema are compared whole, with their quotes and colon, in one to three
//! loads ([`Key`]); strings are searched eight bytes at a time; whitespace costs one comparison
//! when there is none.

/// Zero bytes after the text: one load of sixteen (a shape's constant text, `shape.rs`) at the
/// text's last byte stays in the buffer.
pub(crate) const PAD: usize = 16;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Flags the bytes of `x` that are zero. Exact for the lowest flagged byte, which is all that is
/// used: a false flag only ever sits above a true one.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGH
}

/// `start..end` in the event's text; `end == 0` means absent (a present value never ends at 0:
/// the text starts with `{` or whitespace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
}

/// A key of the schema as it appears in compact JSON, `"name":`, in little-endian words with the
/// masks of the bytes it covers (at most 24 bytes: the longest key, `idempotency_key`, takes 18).
pub(crate) struct Key {
    name: &'static [u8],
    words: [u64; 3],
    masks: [u64; 3],
    len: usize,
}

impl Key {
    pub const fn new(name: &'static [u8]) -> Key {
        let len = name.len() + 3;
        assert!(len <= 24, "a key of the schema is at most 21 bytes");
        let (mut words, mut masks, mut k) = ([0u64; 3], [0u64; 3], 0);
        while k < len {
            let c = if k == 0 || k == len - 2 {
                b'"'
            } else if k == len - 1 {
                b':'
            } else {
                name[k - 1]
            };
            words[k / 8] |= (c as u64) << (8 * (k % 8));
            masks[k / 8] |= 0xff << (8 * (k % 8));
            k += 1;
        }
        Key { name, words, masks, len }
    }

    #[cfg(test)]
    pub fn same_first_word(&self, other: &Key) -> bool {
        let mask = self.masks[0] & other.masks[0];
        self.words[0] & mask == other.words[0] & mask
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Scan<'t> {
    /// The text, then [`PAD`] zero bytes.
    b: &'t [u8],
    /// The text's length.
    end: usize,
    pub i: usize,
}

impl<'t> Scan<'t> {
    /// `padded`: the text followed by [`PAD`] zero bytes.
    pub fn new(padded: &'t [u8]) -> Scan<'t> {
        Scan::at(padded, 0)
    }

    fn at(padded: &'t [u8], i: usize) -> Scan<'t> {
        // `load` relies on `b` being `end + PAD` bytes long.
        let b = if padded.len() >= PAD { padded } else { &[0; PAD] };
        Scan { b, end: b.len() - PAD, i }
    }

    /// The `N` bytes at `at` (`N <= PAD`), zeros past the end of the text. A single comparison:
    /// the loads of a shape's text and of strings are much of `emit`'s reading, and a bounded
    /// slice's two checks (its start, then its length) cost as much as the load.
    #[inline(always)]
    fn load<const N: usize>(&self, at: usize) -> [u8; N] {
        const { assert!(N <= PAD) };
        if at > self.end {
            return [0; N];
        }
        // SAFETY: `b` is `end + PAD` bytes long (`Scan::at`), so `at + N <= end + PAD` is in it;
        // the read is unaligned and of plain bytes.
        unsafe { self.b.as_ptr().add(at).cast::<[u8; N]>().read_unaligned() }
    }

    /// Whether the cursor is at the end of the text.
    pub fn at_end(&self) -> bool {
        self.i == self.end
    }

    /// The bytes of a span.
    pub fn slice(&self, s: Span) -> &'t [u8] {
        self.b.get(s.start as usize..s.end as usize).unwrap_or_default()
    }

    #[inline(always)]
    fn byte(&self, at: usize) -> u8 {
        self.b.get(at).copied().unwrap_or(0)
    }

    /// Eight bytes from `at`, little-endian; zero past the text.
    #[inline(always)]
    fn word(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.load(at))
    }

    /// Skips JSON whitespace (serde_json's: no other Unicode spaces) and returns the next byte
    /// (0 at the end).
    #[inline(always)]
    pub fn next(&mut self) -> u8 {
        let c = self.byte(self.i);
        // Compact JSON has none: one comparison for the common case.
        if c > b' ' {
            return c;
        }
        let (i, c) = skip_ws(self.b, self.i);
        self.i = i;
        c
    }

    /// Skips whitespace, then reads `c`.
    #[inline(always)]
    pub fn eat(&mut self, c: u8) -> Option<()> {
        (self.next() == c).then(|| self.i += 1)
    }

    /// Skips whitespace, then reads `null` if it is next.
    #[inline(always)]
    pub fn null(&mut self) -> bool {
        self.next();
        let found = self.word(self.i) & 0xffff_ffff == u64::from(u32::from_le_bytes(*b"null"));
        if found {
            self.i += 4;
        }
        found
    }

    /// The members of an object whose `{` was read, each read by `member` from its key's quote
    /// on, up to the object's `}`.
    #[inline(always)]
    pub fn members(&mut self, member: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.items(b'}', member)
    }

    /// Comma-separated items up to `close` (the opening bracket was read).
    #[inline(always)]
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if self.next() == close {
            self.i += 1;
            return Some(());
        }
        loop {
            self.next();
            item(self)?;
            match self.next() {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string (its content's span) or `null` (`None`).
    #[inline(always)]
    pub fn opt_string(&mut self) -> Option<Option<Span>> {
        if self.next() == b'"' {
            return Some(Some(self.string()?));
        }
        self.null().then_some(None)
    }

    /// The sixteen bytes at the cursor, little-endian (zero past the text).
    #[inline(always)]
    pub fn words_here(&self) -> u128 {
        u128::from_le_bytes(self.load(self.i))
    }

    /// The byte at the cursor (0 at the end).
    #[inline(always)]
    pub fn peek(&self) -> u8 {
        self.byte(self.i)
    }

    /// A string at the cursor (no whitespace before it): see [`Scan::string`].
    #[inline(always)]
    pub fn quoted(&mut self) -> Option<Span> {
        if self.peek() != b'"' {
            return None;
        }
        self.string()
    }

    /// Which of `keys` is at the cursor (the key's opening quote, after whitespace), then moves
    /// past the colon. A key with an escape or one not in `keys` gives up.
    #[inline(always)]
    pub fn key(&mut self, keys: &[Key]) -> Option<usize> {
        // The first eight bytes (the quote and seven letters) tell the schema's keys apart; the
        // rest of a longer key is loaded only for the one that begins so.
        let first = self.word(self.i);
        if let Some(n) = keys.iter().position(|k| first & k.masks[0] == k.words[0]) {
            let k = &keys[n];
            if k.len <= 8
                || (self.word(self.i + 8) & k.masks[1] == k.words[1]
                    && (k.len <= 16 || self.word(self.i + 16) & k.masks[2] == k.words[2]))
            {
                self.i += k.len;
                return Some(n);
            }
        }
        let (key, i) = key_spaced(self.b, self.i, keys)?;
        self.i = i;
        Some(key)
    }

    /// Any key (a metric's name, metadata's keys): its span, then moves past the colon.
    #[inline(always)]
    pub fn any_key(&mut self) -> Option<Span> {
        let name = self.quoted()?;
        self.eat(b':')?;
        Some(name)
    }

    /// The string whose opening quote is at the cursor: its content's span, checked to have no
    /// escape (the complete path decodes them), no control character (not JSON) and to be UTF-8.
    /// Moves past the closing quote.
    #[inline(always)]
    pub fn string(&mut self) -> Option<Span> {
        let start = self.i + 1;
        let (mut j, mut high) = (start, 0u64);
        loop {
            let x = self.word(j);
            let quotes = zero_bytes(x ^ (ONES * u64::from(b'"')));
            let hits = quotes
                | zero_bytes(x ^ (ONES * u64::from(b'\\')))
                | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
            if hits != 0 {
                let first = hits & hits.wrapping_neg();
                // The first of them a quote (`quotes` is exact there: a false flag only sits
                // above a real quote), not a backslash or a control character.
                if quotes & first == 0 {
                    return None;
                }
                // The bytes before the quote only.
                high |= x & (first - 1);
                j += (first.trailing_zeros() / 8) as usize;
                break;
            }
            high |= x;
            j += 8;
        }
        if high & HIGH != 0 {
            std::str::from_utf8(self.b.get(start..j)?).ok()?;
        }
        self.i = j + 1;
        Some(Span { start: start as u32, end: j as u32 })
    }

    /// A number, read as serde_json reads it into an `f64`: only the forms where that is one
    /// correctly rounded operation (at most 15 digits, a power of ten up to 22), which any
    /// correct reader gives bit for bit. Longer or larger numbers give up.
    #[inline(always)]
    pub fn number(&mut self) -> Option<Decimal> {
        self.next();
        self.number_here()
    }

    /// A number at the cursor (no whitespace before it): see [`Scan::number`].
    #[inline(always)]
    pub fn number_here(&mut self) -> Option<Decimal> {
        let mut i = self.i;
        let negative = self.byte(i) == b'-';
        i += usize::from(negative);
        let (mut significand, mut digits, mut exponent) = (0u64, 0u32, 0i32);
        match self.byte(i) {
            b'0' => {
                i += 1;
                if self.byte(i).is_ascii_digit() {
                    // A leading zero followed by digits: not JSON.
                    return None;
                }
            }
            b'1'..=b'9' => digits = self.digits(&mut i, &mut significand),
            _ => return None,
        }
        // 15 digits fit an f64's significand exactly; the wrapping arithmetic of a longer run is
        // never used.
        if digits > 15 {
            return None;
        }
        if self.byte(i) == b'.' {
            i += 1;
            let fraction = self.digits(&mut i, &mut significand);
            digits = digits.saturating_add(fraction);
            if fraction == 0 || digits > 15 {
                return None;
            }
            exponent -= fraction as i32;
        }
        if let b'e' | b'E' = self.byte(i) {
            i += 1;
            let minus = self.byte(i) == b'-';
            if let b'+' | b'-' = self.byte(i) {
                i += 1;
            }
            let (from, mut e) = (i, 0i32);
            while let d @ b'0'..=b'9' = self.byte(i) {
                e = e * 10 + i32::from(d - b'0');
                i += 1;
                if e > 1000 {
                    return None;
                }
            }
            if i == from {
                return None;
            }
            exponent += if minus { -e } else { e };
        }
        let decimal = Decimal::new(negative, significand, exponent)?;
        self.i = i;
        Some(decimal)
    }

    /// A run of digits from `i`, appended to `significand` (wrapping: see `number`); how many.
    #[inline(always)]
    fn digits(&self, i: &mut usize, significand: &mut u64) -> u32 {
        let from = *i;
        loop {
            let d = self.byte(*i).wrapping_sub(b'0');
            if d > 9 {
                return (*i - from) as u32;
            }
            *significand = significand.wrapping_mul(10).wrapping_add(u64::from(d));
            *i += 1;
        }
    }

    /// Checks and skips any JSON value (metadata), nested at most `depth` deep. Numbers are
    /// checked for their grammar only, as serde_json checks a value it keeps raw. A call (the
    /// walk inlined into its caller holds enough registers).
    #[inline(always)]
    pub fn value(&mut self, depth: u32) -> Option<()> {
        self.i = value(self.b, self.i, depth)?;
        Some(())
    }

    /// An object at the cursor, its `{` not read yet (see `value`).
    #[inline(always)]
    fn object(&mut self, depth: u32) -> Option<()> {
        self.i += 1;
        let depth = depth.checked_sub(1)?;
        self.members(|s| {
            s.any_key()?;
            // Most metadata is flat: its strings without a call.
            if s.next() == b'"' {
                return s.string().map(drop);
            }
            s.i = value(s.b, s.i, depth)?;
            Some(())
        })
    }

    fn value_here(&mut self, depth: u32) -> Option<()> {
        match self.next() {
            b'{' => self.object(depth),
            b'[' => {
                self.i += 1;
                let depth = depth.checked_sub(1)?;
                self.items(b']', |s| {
                    s.i = value(s.b, s.i, depth)?;
                    Some(())
                })
            }
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number_grammar(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: a number of metadata, kept as given. One with an exponent
    /// or more than [`MAX_PLAIN_DIGITS`] digits in a row gives up: it may be beyond an f64, which
    /// only decoding finds (see `metadata_needs_decoding`, the complete path's rule).
    #[inline(always)]
    pub fn number_grammar(&mut self) -> Option<()> {
        let mut i = self.i + usize::from(self.byte(self.i) == b'-');
        // The value is not needed here, only the run's length.
        let digits = |i: &mut usize| (1..=MAX_PLAIN_DIGITS as u32).contains(&self.digits(i, &mut 0));
        match self.byte(i) {
            b'0' => i += 1,
            b'1'..=b'9' => digits(&mut i).then_some(())?,
            _ => return None,
        }
        if self.byte(i) == b'.' {
            i += 1;
            digits(&mut i).then_some(())?;
        }
        if let b'e' | b'E' | b'0'..=b'9' = self.byte(i) {
            // An exponent (see above), or a leading zero followed by digits (not JSON).
            return None;
        }
        self.i = i;
        Some(())
    }
}

// The reader's calls that are not inlined take the buffer and the cursor by value, so that the
// cursor of the inlined walk stays in a register instead of a `Scan` in memory.

#[inline(never)]
fn skip_ws(b: &[u8], mut i: usize) -> (usize, u8) {
    loop {
        match b.get(i).copied().unwrap_or(0) {
            b' ' | b'\n' | b'\t' | b'\r' => i += 1,
            c => return (i, c),
        }
    }
}

/// A key followed by whitespace before its colon (`"kind" : ...`, as some pretty printers
/// write): read as a string, then compared. The key's index and the cursor after the colon.
#[cold]
fn key_spaced(b: &[u8], i: usize, keys: &[Key]) -> Option<(usize, usize)> {
    let mut s = Scan::at(b, i);
    let span = s.any_key()?;
    let name = s.slice(span);
    Some((keys.iter().position(|k| k.name == name)?, s.i))
}

/// See `Scan::value`; the cursor after the value.
fn value(b: &[u8], i: usize, depth: u32) -> Option<usize> {
    let mut s = Scan::at(b, i);
    s.value_here(depth)?;
    Some(s.i)
}

/// Runs of digits longer than this in metadata may overflow an f64 (which holds up to about 1.8e308):
/// they are decoded to be checked.
pub(crate) const MAX_PLAIN_DIGITS: usize = 300;

/// A number as the text writes it: sign, significand (at most 15 digits) and power of ten (at
/// most 22 either way), packed in a word. Its `f64` is one correctly rounded multiplication or
/// division ([`Decimal::to_f64`]), left to whoever needs the value: a metric's is needed only
/// by the encoder on the batcher's thread, and on `emit`'s the conversion and the division were
/// a chain of some 30 cycles per number that the rest of the event waited on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal(u64);

const SIGNIFICAND_BITS: u32 = 50;
const _: () = assert!(999_999_999_999_999 < 1u64 << SIGNIFICAND_BITS);

impl Decimal {
    #[inline(always)]
    fn new(negative: bool, significand: u64, exponent: i32) -> Option<Decimal> {
        if exponent.unsigned_abs() as usize >= POW10.len() {
            return None;
        }
        let biased = (exponent + POW10.len() as i32) as u64;
        Some(Decimal(significand | biased << SIGNIFICAND_BITS | u64::from(negative) << 63))
    }

    /// The packed form, for the queue's block.
    pub fn to_bits(self) -> u64 {
        self.0
    }

    pub fn from_bits(bits: u64) -> Decimal {
        Decimal(bits)
    }

    /// The value serde_json reads from the same text.
    pub fn to_f64(self) -> f64 {
        // Below 2^53: the signed conversion (one instruction, where the unsigned one takes
        // several) is exact.
        let significand = (self.0 & ((1 << SIGNIFICAND_BITS) - 1)) as i64 as f64;
        let exponent = ((self.0 >> SIGNIFICAND_BITS) & 0x3f) as i32 - POW10.len() as i32;
        let pow = POW10.get(exponent.unsigned_abs() as usize).copied().unwrap_or(f64::NAN);
        let magnitude = if exponent >= 0 { significand * pow } else { significand / pow };
        if self.0 >> 63 != 0 {
            -magnitude
        } else {
            magnitude
        }
    }
}

/// Powers of ten that an `f64` holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(text: &str) -> Vec<u8> {
        let mut b = text.as_bytes().to_vec();
        b.extend_from_slice(&[0; PAD]);
        b
    }

    #[test]
    fn keys_match_whole_with_their_quotes_and_colon() {
        const KEYS: [Key; 3] = [Key::new(b"at"), Key::new(b"app"), Key::new(b"idempotency_key")];
        for (text, want, after) in [
            (r#""at":1"#, Some(0), 5),
            (r#""app":{}"#, Some(1), 6),
            (r#""idempotency_key":"k""#, Some(2), 18),
            (r#""app" : {}"#, Some(1), 7),
            (r#""a":1"#, None, 0),
            (r#""apps":1"#, None, 0),
            (r#""ap\u0070":1"#, None, 0),
            (r#""at""#, None, 0),
        ] {
            let b = padded(text);
            let mut s = Scan::new(&b);
            assert_eq!(s.key(&KEYS), want, "{text}");
            if want.is_some() {
                assert_eq!(s.i, after, "{text}");
            }
        }
    }

    #[test]
    fn numbers_keep_the_value_serde_json_reads() {
        for text in [
            "0",
            "-0",
            "21.5",
            "101325.0",
            "-3.25",
            "1e22",
            "1e-22",
            "123456789012345",
            "0.000000000000001",
            "9.99999999999999e22",
            "-42E+3",
            "4.35",
            "0.1",
            "1.7976931348623157",
            "5e-324",
        ] {
            let b = padded(text);
            let mut s = Scan::new(&b);
            let want: f64 = serde_json::from_str(text).unwrap();
            match s.number() {
                Some(d) => {
                    assert_eq!(d.to_f64().to_bits(), want.to_bits(), "{text}");
                    assert_eq!(Decimal::from_bits(d.to_bits()), d);
                    assert!(s.at_end(), "{text}");
                }
                // Only the forms beyond one correctly rounded operation give up.
                None => assert!(text.len() > 16 || text.contains("e-324"), "{text}"),
            }
        }
    }

    #[test]
    fn strings_stop_at_escapes_control_characters_and_the_end() {
        for (text, want) in [
            (r#""""#, Some("")),
            (r#""abcdefghijklmnop""#, Some("abcdefghijklmnop")),
            ("\"d\u{e9}j\u{e0}\"", Some("d\u{e9}j\u{e0}")),
            (r#""a\"b""#, None),
            ("\"a\tb\"", None),
            ("\"abcdefgh", None),
            ("\"abc", None),
        ] {
            let b = padded(text);
            let mut s = Scan::new(&b);
            let got = s.string().map(|sp| std::str::from_utf8(s.slice(sp)).unwrap_or("?").to_owned());
            assert_eq!(got.as_deref(), want, "{text}");
        }
        let mut b = b"\"\xc3\x28\"".to_vec();
        b.extend_from_slice(&[0; PAD]);
        assert_eq!(Scan::new(&b).string(), None);
    }
}
