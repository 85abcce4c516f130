package dev.monitoring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class JsonWriterTest {
    enum Colour { RED }

    private static String json(Object v) {
        return JsonWriter.toJson(v);
    }

    @Test
    void scalars() {
        assertEquals("null", json(null));
        assertEquals("true", json(true));
        assertEquals("false", json(false));
        assertEquals("0", json(0));
        assertEquals("-7", json(-7));
        assertEquals("9223372036854775807", json(Long.MAX_VALUE));
        assertEquals("-9223372036854775808", json(Long.MIN_VALUE));
        assertEquals("12", json((short) 12));
        assertEquals("-3", json((byte) -3));
        assertEquals("123456789012345678901234567890", json(new BigInteger("123456789012345678901234567890")));
        assertEquals("1.50", json(new BigDecimal("1.50")));
        assertEquals("5", json(new AtomicLong(5)));
        assertEquals("3.0", json(3.0));
        assertEquals("-0.0", json(-0.0));
        assertEquals("0.0", json(0.0));
        assertEquals("0.1", json(0.1));
        assertEquals("0.30000000000000004", json(0.30000000000000004));
        assertEquals("-25000000000.0", json(-2.5e10));
        assertEquals("1.0E15", json(1e15));
        assertEquals("0.0000001", json(1e-7));
        assertEquals("21.5", json(21.5));
        assertEquals("-0.005", json(-0.005));
        assertEquals("123456789.125", json(123456789.125));
        assertEquals("1.7976931348623157E308", json(Double.MAX_VALUE));
        assertEquals("4.9E-324", json(Double.MIN_VALUE));
        assertEquals("0.1", json(0.1f));
        assertEquals("\"x\"", json('x'));
        assertEquals("\"RED\"", json(Colour.RED));
        assertEquals("\"abc\"", json(new StringBuilder("abc")));
        UUID u = UUID.randomUUID();
        assertEquals("\"" + u + "\"", json(u));
    }

    @Test
    void doublesRoundTrip() {
        Random r = new Random(42);
        for (int i = 0; i < 100_000; i++) {
            double d = Double.longBitsToDouble(r.nextLong());
            if (!Double.isFinite(d)) {
                continue;
            }
            assertEquals(d, Double.parseDouble(json(d)), "for " + d);
            double e = r.nextDouble() * Math.pow(10, r.nextInt(40) - 20);
            assertEquals(e, Double.parseDouble(json(e)));
            long l = r.nextLong() >> r.nextInt(63);
            assertEquals(Long.toString(l), json(l));
            assertEquals((double) l, Double.parseDouble(json((double) l)));
        }
    }

    @Test
    void strings() {
        assertEquals("\"\"", json(""));
        assertEquals("\"a\\\"b\\\\c\"", json("a\"b\\c"));
        assertEquals("\"\\n\\r\\t\\b\\f\\u0000\\u001f\"", json("\n\r\t\b\f\u0000\u001f"));
        assertEquals("\"/\u007f\"", json("/\u007f"));
        assertEquals("\"é€😀\"", json("é€😀"));
        // every BMP char (outside surrogates) and some supplementary ones survive a round trip
        StringBuilder all = new StringBuilder();
        for (int c = 0; c < 0x10000; c++) {
            if (!Character.isSurrogate((char) c)) {
                all.append((char) c);
            }
        }
        all.appendCodePoint(0x10000).appendCodePoint(0x1F600).appendCodePoint(0x10FFFF);
        assertEquals(all.toString(), JsonReader.parse(json(all.toString())));
    }

    @Test
    void loneSurrogatesAreErrorsNamingTheField() {
        InvalidEventException e = assertThrows(InvalidEventException.class,
                () -> json(Map.of("event", Map.of("message", "ab\uD83D"))));
        assertEquals("event.message", e.field());
        assertTrue(e.getMessage().contains("lone surrogate U+D83D"), e.getMessage());
        assertThrows(InvalidEventException.class, () -> json("\uDE00x"));
        assertThrows(InvalidEventException.class, () -> json(List.of("ok", "\uD800\uD800")));
    }

    @Test
    void containers() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("b", 1);
        m.put("a", List.of(1, 2.5, "x", Map.of()));
        m.put("n", null);
        m.put("e", new ArrayList<>());
        assertEquals("{\"b\":1,\"a\":[1,2.5,\"x\",{}],\"n\":null,\"e\":[]}", json(m));
        assertEquals("[1,2,3]", json(new int[] {1, 2, 3}));
        assertEquals("[1,2]", json(new long[] {1, 2}));
        assertEquals("[0.5,1.0]", json(new double[] {0.5, 1}));
        assertEquals("[true,false]", json(new boolean[] {true, false}));
        assertEquals("[1.5]", json(new float[] {1.5f}));
        assertEquals("[1,2]", json(new short[] {1, 2}));
        assertEquals("[1,-1]", json(new byte[] {1, -1}));
        assertEquals("\"hi\"", json(new char[] {'h', 'i'}));
        assertEquals("[\"a\",null]", json(new Object[] {"a", null}));
        assertEquals("[\"only\"]", json(Set.of("only")));
        assertEquals("\"v\"", json(Optional.of("v")));
        assertEquals("null", json(Optional.empty()));
        Map<Object, Object> keys = new LinkedHashMap<>();
        keys.put(1, "int key");
        keys.put(Colour.RED, "enum key");
        keys.put('c', "char key");
        assertEquals("{\"1\":\"int key\",\"RED\":\"enum key\",\"c\":\"char key\"}", json(keys));
    }

    @Test
    void times() {
        assertEquals("\"2026-11-22T10:00:00.123456Z\"", json(Instant.parse("2026-11-22T10:00:00.123456Z")));
        assertEquals("\"2026-11-22T10:00:00Z\"", json(Instant.parse("2026-11-22T10:00:00Z")));
        assertEquals("\"2026-11-22T10:00:00+05:30\"",
                json(OffsetDateTime.of(2026, 11, 22, 10, 0, 0, 0, ZoneOffset.ofHoursMinutes(5, 30))));
        assertEquals("\"2026-11-22T10:00:00Z\"",
                json(ZonedDateTime.of(2026, 11, 22, 10, 0, 0, 0, ZoneOffset.UTC)));
        assertEquals("\"1970-01-01T00:00:01Z\"", json(new Date(1000)));
        assertEquals("\"2026-11-22\"", json(LocalDate.of(2026, 11, 22)));
    }

    @Test
    void errorsNameThePath() {
        Map<String, Object> inner = new HashMap<>();
        inner.put("t", Double.NaN);
        InvalidEventException e = assertThrows(InvalidEventException.class,
                () -> json(Map.of("event", Map.of("metrics", inner))));
        assertEquals("event.metrics.t", e.field());
        e = assertThrows(InvalidEventException.class, () -> json(Map.of("a", List.of(1, List.of(2, new Object())))));
        assertEquals("a[1][1]", e.field());
        assertTrue(e.getMessage().contains("java.lang.Object"), e.getMessage());
        e = assertThrows(InvalidEventException.class, () -> json(Map.of("f", Float.POSITIVE_INFINITY)));
        assertEquals("f", e.field());
        e = assertThrows(InvalidEventException.class, () -> json(new double[] {1, Double.NEGATIVE_INFINITY}));
        assertEquals("[1]", e.field());
    }

    @Test
    void cyclesHitTheDepthLimit() {
        Map<String, Object> self = new HashMap<>();
        self.put("me", self);
        InvalidEventException e = assertThrows(InvalidEventException.class, () -> json(self));
        assertTrue(e.getMessage().contains("deeper than 128"), e.getMessage());
        List<Object> list = new ArrayList<>();
        list.add(list);
        assertThrows(InvalidEventException.class, () -> json(list));
        // 128 levels are fine
        Object deep = "leaf";
        for (int i = 0; i < 127; i++) {
            deep = List.of(deep);
        }
        assertTrue(json(deep).startsWith("[[["));
    }

    @Test
    void bufferIsReusedAndReentrancySafe() {
        JsonWriter a = JsonWriter.acquire();
        JsonWriter b = JsonWriter.acquire(); // in use: a fresh one
        assertTrue(a != b);
        JsonWriter.write(a, Map.of("x", "y".repeat(3_000_000)), "");
        a.release();
        b.release();
        JsonWriter c = JsonWriter.acquire();
        assertTrue(c.buf.length <= 1 << 20, "a huge buffer is not kept");
        JsonWriter.write(c, List.of(1), "");
        assertEquals("[1]", new String(Arrays.copyOf(c.buf, c.len), java.nio.charset.StandardCharsets.UTF_8));
        c.release();
    }

    @Test
    void readerParsesWhatTheEngineReturns() {
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) JsonReader.parse(
                " {\"a\": [1, -2.5e3, true, false, null, \"\\u00e9\\n\\\"\"], \"big\": 123456789012345678901234567890,"
                        + " \"o\": {}} ");
        List<?> a = (List<?>) m.get("a");
        assertEquals(List.of(1L, -2500.0, true, false), a.subList(0, 4));
        assertNull(a.get(4));
        assertEquals("é\n\"", a.get(5));
        assertEquals(new BigInteger("123456789012345678901234567890"), m.get("big"));
        assertEquals(Map.of(), m.get("o"));
        assertThrows(IllegalArgumentException.class, () -> JsonReader.parse("{\"a\":1"));
        assertThrows(IllegalArgumentException.class, () -> JsonReader.parse("[1,]"));
        assertThrows(IllegalArgumentException.class, () -> JsonReader.parse("1 2"));
    }
}
