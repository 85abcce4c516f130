package dev.monitoring;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.TemporalAccessor;
import java.util.Arrays;
import java.util.Date;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Java values to compact JSON, written straight to UTF-8 bytes in a reusable buffer. No
 * dependencies, no reflection: the types below and nothing else (anything else is an error naming
 * the field, never a guess).
 *
 * <ul>
 *   <li>{@code null}: {@code null}; {@link Boolean}: {@code true}/{@code false};
 *   <li>{@link Integer}, {@link Long}, {@link Short}, {@link Byte}, {@link AtomicInteger},
 *       {@link AtomicLong}, {@link LongAdder}, {@link BigInteger}: exact integers;
 *   <li>{@link Double}: {@link Double#toString} (which round-trips), integral values below
 *       10<sup>15</sup> as {@code 3.0}; {@link Float}: {@link Float#toString} (the float's shortest
 *       decimal, so {@code 0.1f} is written {@code 0.1}); {@link BigDecimal}: its
 *       {@code toString}; other {@link Number}s: their {@code doubleValue()}. NaN and infinities
 *       are errors (JSON has no such numbers);
 *   <li>{@link CharSequence}, {@link Character}, {@link Enum} (its name), {@link UUID}:
 *       strings, escaped as JSON requires; a lone surrogate is an error (not Unicode);
 *   <li>{@link Instant} and {@link Date}: RFC 3339 UTC ({@code 2026-11-22T10:00:00.123456Z});
 *       {@link OffsetDateTime}, {@link ZonedDateTime}: RFC 3339 with their offset; other
 *       {@code java.time} values: their {@code toString};
 *   <li>{@link Map} (keys: {@link CharSequence}, {@link Character}, {@link Enum} or
 *       {@link Number}): an object in the map's iteration order; {@link Iterable}, arrays
 *       (object and primitive; {@code char[]} is a string): arrays; {@link Optional}: its value
 *       or {@code null}.
 * </ul>
 *
 * Nesting is limited to 128 levels (so a map that contains itself is an error, not a
 * {@link StackOverflowError}).
 */
final class JsonWriter {
    static final int MAX_DEPTH = 128;
    private static final int KEEP_BYTES = 1 << 20;
    private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** For ASCII: 0 = as is, else the escape letter ('u' for \\u00XX). */
    private static final byte[] ESCAPE = new byte[128];

    static {
        for (int c = 0; c < 0x20; c++) {
            ESCAPE[c] = 'u';
        }
        ESCAPE['"'] = '"';
        ESCAPE['\\'] = '\\';
        ESCAPE['\n'] = 'n';
        ESCAPE['\r'] = 'r';
        ESCAPE['\t'] = 't';
        ESCAPE['\b'] = 'b';
        ESCAPE['\f'] = 'f';
    }

    private static final ThreadLocal<JsonWriter> LOCAL = ThreadLocal.withInitial(JsonWriter::new);

    byte[] buf = new byte[512];
    int len;
    private char[] chars = new char[256];
    private boolean inUse;

    /**
     * This thread's writer, emptied; a fresh one if it is in use (a {@code Map} whose iteration
     * emits an event itself). Give it back with {@link #release}.
     */
    static JsonWriter acquire() {
        JsonWriter w = LOCAL.get();
        if (w.inUse) {
            w = new JsonWriter();
        }
        w.inUse = true;
        w.len = 0;
        return w;
    }

    void release() {
        inUse = false;
        if (buf.length > KEEP_BYTES) {
            buf = new byte[512];
        }
        if (chars.length > KEEP_BYTES / 2) {
            chars = new char[256];
        }
    }

    /** The written bytes as a new array. */
    byte[] toByteArray() {
        return Arrays.copyOf(buf, len);
    }

    /** Writes {@code value}; an unwritable value throws {@link InvalidEventException} naming it. */
    static void write(JsonWriter w, Object value, String what) {
        try {
            w.value(value, 0);
        } catch (PathError e) {
            String path = e.path(what);
            throw new InvalidEventException("invalid event: " + (path.isEmpty() ? "" : path + ": ") + e.reason,
                    path.isEmpty() ? null : path);
        }
    }

    /** One value as JSON text (for tests and small values). */
    static String toJson(Object value) {
        JsonWriter w = new JsonWriter();
        write(w, value, "");
        return new String(w.buf, 0, w.len, java.nio.charset.StandardCharsets.UTF_8);
    }

    // ---- the error path: a field path collected while unwinding ----

    /** Why a value cannot be written; each level on the way out adds its key or index. */
    static final class PathError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final String reason;
        private final StringBuilder reversed = new StringBuilder(); // segments, innermost first

        PathError(String reason) {
            super(reason, null, false, false);
            this.reason = reason;
        }

        PathError key(String key) {
            reversed.insert(0, "." + key);
            return this;
        }

        PathError index(int i) {
            reversed.insert(0, "[" + i + "]");
            return this;
        }

        /** {@code prefix} + the collected segments, without a leading dot. */
        String path(String prefix) {
            String p = prefix + reversed;
            return p.startsWith(".") ? p.substring(1) : p;
        }
    }

    // ---- values ----

    private void value(Object v, int depth) {
        if (v == null) {
            raw4('n', 'u', 'l', 'l');
        } else if (v instanceof String) {
            string((String) v);
        } else if (v instanceof Map) {
            map((Map<?, ?>) v, depth);
        } else if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            longValue(((Number) v).longValue());
        } else if (v instanceof Double) {
            doubleValue((Double) v);
        } else if (v instanceof Boolean) {
            if ((Boolean) v) {
                raw4('t', 'r', 'u', 'e');
            } else {
                ascii("false");
            }
        } else if (v instanceof Iterable) {
            iterable((Iterable<?>) v, depth);
        } else if (v instanceof Float) {
            float f = (Float) v;
            if (!Float.isFinite(f)) {
                throw new PathError(f + " is not a JSON number (values must be finite)");
            }
            ascii(Float.toString(f));
        } else if (v instanceof BigDecimal) {
            ascii(v.toString());
        } else if (v instanceof BigInteger || v instanceof AtomicInteger || v instanceof AtomicLong
                || v instanceof LongAdder) {
            ascii(v.toString());
        } else if (v instanceof Number) {
            doubleValue(((Number) v).doubleValue());
        } else if (v instanceof CharSequence || v instanceof Character || v instanceof UUID) {
            string(v.toString());
        } else if (v instanceof Enum) {
            string(((Enum<?>) v).name());
        } else if (v instanceof Instant) {
            string(v.toString());
        } else if (v instanceof OffsetDateTime || v instanceof ZonedDateTime) {
            string(DateTimeFormatter.ISO_OFFSET_DATE_TIME.format((TemporalAccessor) v));
        } else if (v instanceof Date) {
            string(((Date) v).toInstant().toString());
        } else if (v instanceof TemporalAccessor) {
            string(v.toString());
        } else if (v instanceof Optional) {
            value(((Optional<?>) v).orElse(null), depth);
        } else if (v.getClass().isArray()) {
            array(v, depth);
        } else {
            throw new PathError("cannot write a " + v.getClass().getName()
                    + " as JSON (use a Map, List, String, Number, Boolean or null)");
        }
    }

    private void map(Map<?, ?> m, int depth) {
        if (depth >= MAX_DEPTH) {
            throw new PathError("nested deeper than " + MAX_DEPTH + " levels (does a map contain itself?)");
        }
        byte1('{');
        boolean first = true;
        for (Map.Entry<?, ?> e : m.entrySet()) {
            Object k = e.getKey();
            String key;
            if (k instanceof String) {
                key = (String) k;
            } else if (k instanceof CharSequence || k instanceof Character || k instanceof Number) {
                key = k.toString();
            } else if (k instanceof Enum) {
                key = ((Enum<?>) k).name();
            } else {
                throw new PathError("map keys must be strings, not "
                        + (k == null ? "null" : k.getClass().getName()));
            }
            if (!first) {
                byte1(',');
            }
            first = false;
            try {
                string(key);
                byte1(':');
                value(e.getValue(), depth + 1);
            } catch (PathError err) {
                throw err.key(key);
            }
        }
        byte1('}');
    }

    private void iterable(Iterable<?> items, int depth) {
        if (depth >= MAX_DEPTH) {
            throw new PathError("nested deeper than " + MAX_DEPTH + " levels (does a list contain itself?)");
        }
        byte1('[');
        int i = 0;
        for (Iterator<?> it = items.iterator(); it.hasNext(); i++) {
            if (i > 0) {
                byte1(',');
            }
            try {
                value(it.next(), depth + 1);
            } catch (PathError err) {
                throw err.index(i);
            }
        }
        byte1(']');
    }

    private void array(Object a, int depth) {
        if (a instanceof char[]) {
            string(new String((char[]) a));
            return;
        }
        if (depth >= MAX_DEPTH) {
            throw new PathError("nested deeper than " + MAX_DEPTH + " levels (does an array contain itself?)");
        }
        int n = java.lang.reflect.Array.getLength(a);
        byte1('[');
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                byte1(',');
            }
            try {
                if (a instanceof Object[]) {
                    value(((Object[]) a)[i], depth + 1);
                } else if (a instanceof int[]) {
                    longValue(((int[]) a)[i]);
                } else if (a instanceof long[]) {
                    longValue(((long[]) a)[i]);
                } else if (a instanceof double[]) {
                    doubleValue(((double[]) a)[i]);
                } else {
                    value(java.lang.reflect.Array.get(a, i), depth + 1);
                }
            } catch (PathError err) {
                throw err.index(i);
            }
        }
        byte1(']');
    }

    // ---- scalars ----

    void longValue(long v) {
        ensure(20);
        byte[] b = buf;
        int p = len;
        if (v < 0) {
            if (v == Long.MIN_VALUE) {
                ascii("-9223372036854775808");
                return;
            }
            b[p++] = '-';
            v = -v;
        }
        if (v < 10) {
            b[p++] = (byte) ('0' + v);
            len = p;
            return;
        }
        int digits = 1;
        for (long t = v; t >= 10; t /= 10) {
            digits++;
        }
        int end = p + digits;
        for (int i = end - 1; i >= p; i--) {
            b[i] = (byte) ('0' + (v % 10));
            v /= 10;
        }
        len = end;
    }

    void doubleValue(double d) {
        if (!Double.isFinite(d)) {
            throw new PathError(d + " is not a JSON number (values must be finite)");
        }
        if (d == Math.rint(d) && Math.abs(d) < 1e15) {
            if (d == 0 && 1 / d < 0) {
                ascii("-0.0");
                return;
            }
            longValue((long) d);
            ensure(2);
            buf[len++] = '.';
            buf[len++] = '0';
            return;
        }
        // Few decimals (21.5, 812.25, 0.001): m / 10^k for the smallest k that gives d back
        // exactly. Both m (< 2^53) and 10^k are exact doubles, so the division is the correctly
        // rounded m/10^k, which is what parsing the decimal text gives: the text round-trips.
        // Saves Double.toString's allocation and its slower digit generation.
        for (int k = 1; k < POW10.length; k++) {
            double scaled = d * POW10[k];
            if (Math.abs(scaled) >= 0x1p53) {
                break;
            }
            long m = Math.round(scaled);
            if (m / POW10[k] == d) {
                fixedPoint(m, k);
                return;
            }
        }
        ascii(Double.toString(d));
    }

    private static final double[] POW10 = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

    /** {@code m / 10^k} in decimal: {@code 215, 1} is {@code 21.5}, {@code -5, 3} is {@code -0.005}. */
    private void fixedPoint(long m, int k) {
        if (m < 0) {
            byte1('-');
            m = -m;
        }
        long pow = 1;
        for (int i = 0; i < k; i++) {
            pow *= 10;
        }
        longValue(m / pow);
        long frac = m % pow;
        ensure(k + 1);
        buf[len++] = '.';
        for (int i = k - 1; i >= 0; i--) {
            buf[len + i] = (byte) ('0' + frac % 10);
            frac /= 10;
        }
        len += k;
    }

    /**
     * Short strings seen twice (map keys, kinds, names: the same String objects event after
     * event) are kept encoded, by identity, in a small direct-mapped cache per writer (so per
     * thread): the next time they are one array copy. A string seen once only takes a slot.
     */
    private static final int CACHE_SLOTS = 256;
    private static final int CACHE_MAX_CHARS = 48;
    private final String[] cacheKeys = new String[CACHE_SLOTS];
    private final byte[][] cacheBytes = new byte[CACHE_SLOTS][];

    /** A JSON string: quotes, escapes, UTF-8. */
    void string(String s) {
        if (s.length() > CACHE_MAX_CHARS) {
            encode(s);
            return;
        }
        int slot = System.identityHashCode(s) & (CACHE_SLOTS - 1);
        if (cacheKeys[slot] == s) {
            byte[] enc = cacheBytes[slot];
            if (enc != null) {
                ensure(enc.length);
                System.arraycopy(enc, 0, buf, len, enc.length);
                len += enc.length;
                return;
            }
            int start = len;
            encode(s);
            cacheBytes[slot] = Arrays.copyOfRange(buf, start, len); // second sighting: keep it
            return;
        }
        encode(s);
        cacheKeys[slot] = s; // first sighting: remember the string only
        cacheBytes[slot] = null;
    }

    private void encode(String s) {
        int n = s.length();
        ensure(n * 6L + 2); // worst case: every char a \\u00XX escape
        // The chars into a reusable array first: String.getChars is an intrinsic (a vectorized
        // inflate for Latin-1 strings), and the loop below then runs over a plain char[].
        char[] cs = chars;
        if (cs.length < n) {
            cs = new char[Math.max(n, cs.length * 2)];
            if (cs.length <= KEEP_BYTES) {
                chars = cs;
            }
        }
        s.getChars(0, n, cs, 0);
        byte[] b = buf;
        int p = len;
        b[p++] = '"';
        // The common case first: a run of ASCII that needs no escape, copied in a tight loop.
        int i = 0;
        for (; i < n; i++) {
            char c = cs[i];
            if (c >= 0x80 || ESCAPE[c] != 0) {
                break;
            }
            b[p + i] = (byte) c;
        }
        p += i;
        for (; i < n; i++) {
            char c = cs[i];
            if (c < 0x80) {
                byte esc = ESCAPE[c];
                if (esc == 0) {
                    b[p++] = (byte) c;
                } else {
                    b[p++] = '\\';
                    b[p++] = esc;
                    if (esc == 'u') {
                        b[p++] = '0';
                        b[p++] = '0';
                        b[p++] = HEX[c >> 4];
                        b[p++] = HEX[c & 0xF];
                    }
                }
            } else if (c < 0x800) {
                b[p++] = (byte) (0xC0 | (c >> 6));
                b[p++] = (byte) (0x80 | (c & 0x3F));
            } else if (Character.isSurrogate(c)) {
                char d;
                if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(d = cs[i + 1])) {
                    int cp = Character.toCodePoint(c, d);
                    i++;
                    b[p++] = (byte) (0xF0 | (cp >> 18));
                    b[p++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
                    b[p++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                    b[p++] = (byte) (0x80 | (cp & 0x3F));
                } else {
                    len = p;
                    throw new PathError(String.format("the string has a lone surrogate U+%04X at index %d (not valid"
                            + " Unicode, so not UTF-8)", (int) c, i));
                }
            } else {
                b[p++] = (byte) (0xE0 | (c >> 12));
                b[p++] = (byte) (0x80 | ((c >> 6) & 0x3F));
                b[p++] = (byte) (0x80 | (c & 0x3F));
            }
        }
        b[p++] = '"';
        len = p;
    }

    /** ASCII text as it is (numbers, literals). */
    private void ascii(String s) {
        int n = s.length();
        ensure(n);
        for (int i = 0; i < n; i++) {
            buf[len + i] = (byte) s.charAt(i);
        }
        len += n;
    }

    private void raw4(char a, char b, char c, char d) {
        ensure(4);
        buf[len] = (byte) a;
        buf[len + 1] = (byte) b;
        buf[len + 2] = (byte) c;
        buf[len + 3] = (byte) d;
        len += 4;
    }

    private void byte1(char c) {
        ensure(1);
        buf[len++] = (byte) c;
    }

    private void ensure(long more) {
        long need = len + more;
        if (need > buf.length) {
            if (need > Integer.MAX_VALUE - 16) {
                throw new PathError("the event is too large to serialize");
            }
            buf = Arrays.copyOf(buf, (int) Math.min(Integer.MAX_VALUE - 16, Math.max(need, buf.length * 2L)));
        }
    }
}
