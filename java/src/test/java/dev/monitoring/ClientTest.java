package dev.monitoring;

import static dev.monitoring.TestSupport.config;
import static dev.monitoring.TestSupport.event;
import static dev.monitoring.TestSupport.events;
import static dev.monitoring.TestSupport.kind;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClientTest {
    @TempDir
    Path tmp;

    private Path out() {
        return tmp.resolve("events");
    }

    private static Map<String, Object> log(String message) {
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("kind", "log");
        event.put("message", message);
        return Map.of("event", event);
    }

    @Test
    void versionAndMode() {
        assertEquals(System.getProperty("monitoring.project.version", "0.1.0"), Monitoring.version());
        try (Client c = Monitoring.configure(config(out()))) {
            assertEquals("direct", c.mode());
            assertFalse(c.isShutDown());
            assertTrue(c.toString().contains("open"));
        }
    }

    @Test
    void emitMapStringAndBytesAllArrive() {
        try (Client c = Monitoring.configure(config(out()))) {
            assertTrue(c.emit(log("as a map")));
            assertTrue(c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"as text\"}}"));
            assertTrue(c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"as bytes\"}}".getBytes(StandardCharsets.UTF_8)));
            byte[] padded = "xx{\"event\":{\"kind\":\"log\",\"message\":\"a slice\"}}yy".getBytes(StandardCharsets.UTF_8);
            assertTrue(c.emit(padded, 2, padded.length - 4));
            // not ASCII: read exactly by the native side (the ASCII text above takes getBytes)
            assertTrue(c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"caf\u00e9 \u20ac \uD83D\uDE00 ?\"}}"));
            assertTrue(c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"what? \u00ff\"}}"));
            c.flush(Duration.ofSeconds(10));
        }
        List<Map<String, Object>> events = events(out());
        assertEquals(6, events.size());
        List<Object> messages = new ArrayList<>();
        for (Map<String, Object> e : events) {
            messages.add(event(e).get("message"));
            assertEquals("fab1", e.get("site_id"));
            assertEquals("host-t:1", TestSupport.entity(e).get("id"));
            assertTrue(((String) e.get("idempotency_key")).matches("[0-9a-f-]{36}"));
        }
        assertEquals(List.of("as a map", "as text", "as bytes", "a slice", "café € 😀 ?", "what? ÿ"), messages);
    }

    @Test
    void mapValuesAreWrittenExactly() {
        Map<String, Object> metrics = new LinkedHashMap<>();
        metrics.put("tenth", 0.1);
        metrics.put("int", 3);
        metrics.put("long", 9007199254740993L);
        metrics.put("float", 0.25f);
        metrics.put("big", 1.7976931348623157e308);
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("unicode", "é € 😀 \"quoted\" \\ \n\t\u0001");
        metadata.put("null", null);
        metadata.put("empty", Map.of());
        metadata.put("list", List.of(1, "two", List.of()));
        metadata.put("flag", true);
        Map<String, Object> ev = new LinkedHashMap<>();
        ev.put("kind", "metric");
        ev.put("at", Instant.parse("2026-01-02T03:04:05.123456Z"));
        ev.put("metrics", metrics);
        ev.put("metadata", metadata);
        try (Client c = Monitoring.configure(config(out()))) {
            assertTrue(c.emit(Map.of("event", ev)));
            c.flush(Duration.ofSeconds(10));
        }
        Map<String, Object> e = event(events(out()).get(0));
        assertEquals("2026-01-02T03:04:05.123456Z", e.get("at"));
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) e.get("metrics");
        assertEquals(0.1, ((Number) m.get("tenth")).doubleValue());
        assertEquals(3.0, ((Number) m.get("int")).doubleValue());
        assertEquals(0.25, ((Number) m.get("float")).doubleValue());
        assertEquals(1.7976931348623157e308, ((Number) m.get("big")).doubleValue());
        @SuppressWarnings("unchecked")
        Map<String, Object> md = (Map<String, Object>) e.get("metadata");
        assertEquals("é € 😀 \"quoted\" \\ \n\t\u0001", md.get("unicode"));
        assertTrue(md.containsKey("null"));
        assertNull(md.get("null"));
        assertEquals(Map.of(), md.get("empty"));
        assertEquals(List.of(1L, "two", List.of()), md.get("list"));
        assertEquals(Boolean.TRUE, md.get("flag"));
    }

    @Test
    void invalidEventsNameTheFieldAndQueueNothing() {
        try (Client c = Monitoring.configure(config(out()))) {
            InvalidEventException e = assertThrows(InvalidEventException.class,
                    () -> c.emit(Map.of("event", Map.of("kind", "log", "colour", "red"))));
            assertEquals("event.colour", e.field());
            assertTrue(e.getMessage().contains("event.colour"), e.getMessage());
            assertEquals(StatusCode.INVALID_ARGUMENT, e.status());

            e = assertThrows(InvalidEventException.class, () -> c.emit("{\"event\":{\"kind\":\"exploded\"}}"));
            assertEquals("event.kind", e.field());

            e = assertThrows(InvalidEventException.class,
                    () -> c.emit(Map.of("event", Map.of("kind", "metric", "metrics", Map.of("t", Double.NaN)))));
            assertEquals("event.metrics.t", e.field());

            e = assertThrows(InvalidEventException.class, () -> c.emit("not json"));
            assertTrue(e.getMessage().contains("JSON object"), e.getMessage());
            assertThrows(InvalidEventException.class, () -> c.emit("[1,2]"));
            assertThrows(InvalidEventException.class, () -> c.emit(""));
            // a lone surrogate is not Unicode: rejected (as invalid UTF-8), never replaced by '?'
            e = assertThrows(InvalidEventException.class,
                    () -> c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"\uD800\"}}"));
            assertTrue(e.getMessage().contains("UTF-8"), e.getMessage());
            e = assertThrows(InvalidEventException.class,
                    () -> c.emit(Map.of("event", Map.of("kind", "log", "message", "x\uDC00"))));
            assertEquals("event.message", e.field());
            // invalid UTF-8 bytes
            assertThrows(InvalidEventException.class,
                    () -> c.emit(new byte[] {'{', '"', 'a', '"', ':', '"', (byte) 0xE9, '"', '}'}));
            // a raw U+0000 in JSON text is a JSON error
            assertThrows(InvalidEventException.class,
                    () -> c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"a\u0000b\"}}"));
            // an IllegalArgumentException, as promised
            assertThrows(IllegalArgumentException.class, () -> c.emit(Map.of("bogus", 1)));

            assertTrue(c.emit(log("control")));
            c.flush(Duration.ofSeconds(10));
            Map<String, Object> stats = c.stats();
            assertEquals(1L, stats.get("emitted"));
            assertTrue((Long) stats.get("invalid") >= 8, stats.toString());
        }
        List<Map<String, Object>> events = events(out());
        assertEquals(1, events.size());
        assertEquals("control", event(events.get(0)).get("message"));
    }

    @Test
    void oversizedEventsAreRejected() {
        try (Client c = Monitoring.configure(config(out(), "\"limits\":{\"max_event_bytes\":1024}"))) {
            String big = "x".repeat(2000);
            InvalidEventException e = assertThrows(InvalidEventException.class,
                    () -> c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"" + big + "\"}}"));
            assertTrue(e.getMessage().contains("max_event_bytes"), e.getMessage());
            assertThrows(InvalidEventException.class, () -> c.emit(log(big)));
            // a huge string is refused before it is copied
            String huge = "y".repeat(50_000_000);
            assertThrows(InvalidEventException.class, () -> c.emit(huge));
            assertTrue(c.emit(log("small")));
        }
    }

    @Test
    void nullArgumentsThrowNullPointerException() {
        try (Client c = Monitoring.configure(config(out()))) {
            assertThrows(NullPointerException.class, () -> c.emit((String) null));
            assertThrows(NullPointerException.class, () -> c.emit((Map<String, Object>) null));
            assertThrows(NullPointerException.class, () -> c.emit((byte[]) null));
            assertThrows(NullPointerException.class, () -> c.emit(null, 0, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> c.emit(new byte[4], 2, 5));
            assertThrows(IndexOutOfBoundsException.class, () -> c.emit(new byte[4], -1, 1));
            assertThrows(NullPointerException.class, () -> c.flush(null));
            assertThrows(NullPointerException.class, () -> c.shutdown(null));
            assertThrows(IllegalArgumentException.class, () -> c.flush(Duration.ofMillis(-1)));
            assertThrows(NullPointerException.class, () -> c.job(null));
            assertThrows(NullPointerException.class, () -> c.jobBuilder(null));
            assertThrows(NullPointerException.class, () -> c.run("x", null));
            // null map values are JSON null, null keys an error naming the problem
            Map<String, Object> withNullKey = new java.util.HashMap<>();
            withNullKey.put(null, 1);
            InvalidEventException e = assertThrows(InvalidEventException.class, () -> c.emit(Map.of("event", withNullKey)));
            assertTrue(e.getMessage().contains("keys must be strings"), e.getMessage());
        }
        // configure(null) is the environment and defaults: valid (it is not run here, to keep
        // ./monitoring-events out of the working directory); a null path inside overrides is fine too
    }

    @Test
    void configurationErrorsNameTheKey() {
        MonitoringException e = assertThrows(MonitoringException.class, () -> Monitoring.configure(
                "{\"direct_backends\":[{\"type\":\"filesystem\",\"name\":\"l\",\"path\":\"x\"},"
                        + "{\"type\":\"filesystem\",\"name\":\"m\",\"bukcet\":1}]}"));
        assertEquals(StatusCode.CONFIG, e.status());
        assertEquals("direct_backends[1].bukcet", e.field());
        assertTrue(e.getMessage().contains("direct_backends[1].bukcet"), e.getMessage());

        e = assertThrows(MonitoringException.class, () -> Monitoring.configure(tmp.resolve("missing.yaml").toString()));
        assertEquals(StatusCode.CONFIG, e.status());
        assertTrue(e.getMessage().contains("missing.yaml"), e.getMessage());

        e = assertThrows(MonitoringException.class, () -> Monitoring.configure("{\"mode\":\"telepathy\"}"));
        assertEquals(StatusCode.CONFIG, e.status());

        e = assertThrows(MonitoringException.class,
                () -> Monitoring.configure(config(out()), Map.of("queue", Map.of("capacity", Double.NaN))));
        assertEquals(StatusCode.CONFIG, e.status());
    }

    @Test
    void yamlFileAndOverrides() throws IOException {
        Path file = tmp.resolve("monitoring.yaml");
        Files.writeString(file, "app: {name: from-file, version: \"2.0\", site_id: fab9, instance_id: h:2}\n"
                + "direct_backends:\n  - {type: filesystem, name: local, path: " + out().toAbsolutePath() + "}\n"
                + "spool: {path: " + tmp.resolve("spool").toAbsolutePath() + "}\n");
        try (Client c = Monitoring.configure(file.toString(), Map.of("app", Map.of("name", "overridden")))) {
            assertTrue(c.emit(log("hi")));
            c.flush(Duration.ofSeconds(10));
        }
        Map<String, Object> e = events(out()).get(0);
        assertEquals("fab9", e.get("site_id"));
        @SuppressWarnings("unchecked")
        Map<String, Object> app = (Map<String, Object>) e.get("app");
        assertEquals("overridden", app.get("name"));
        assertEquals("2.0", app.get("version"));
    }

    @Test
    void shutdownIsIdempotentAndLaterCallsThrowShutdown() {
        Client c = Monitoring.configure(config(out()));
        Job open = c.job("left-open");
        assertTrue(c.emit(log("before")));
        c.shutdown(Duration.ofSeconds(10));
        c.shutdown(Duration.ofSeconds(10));
        c.close();
        assertTrue(c.isShutDown());
        MonitoringException e = assertThrows(MonitoringException.class, () -> c.emit(log("after")));
        assertEquals(StatusCode.SHUTDOWN, e.status());
        assertEquals(StatusCode.SHUTDOWN,
                assertThrows(MonitoringException.class, () -> c.emit("{\"event\":{\"kind\":\"log\"}}")).status());
        assertEquals(StatusCode.SHUTDOWN, assertThrows(MonitoringException.class, () -> c.flush()).status());
        assertEquals(StatusCode.SHUTDOWN, assertThrows(MonitoringException.class, () -> c.job("late")).status());
        assertEquals(StatusCode.SHUTDOWN, assertThrows(MonitoringException.class, () -> open.progress(5)).status());
        open.close(); // never throws
        assertTrue(open.isFinished());
        // stats still work after shutdown
        assertEquals(1L + 1L, c.stats().get("emitted"));
        List<Map<String, Object>> events = events(out());
        assertEquals(2, events.size()); // started + before
        assertEquals("started", kind(events.get(0)));
    }

    @Test
    void statsHaveTheDocumentedCounters() {
        try (Client c = Monitoring.configure(config(out()))) {
            c.emit(log("one"));
            c.emit(log("two"));
            c.flush(Duration.ofSeconds(10));
            Map<String, Object> s = c.stats();
            for (String k : List.of("emitted", "dropped", "delivered", "failed", "retried", "spooled", "queue_depth",
                    "invalid", "unrouted")) {
                assertTrue(s.get(k) instanceof Long, k + " in " + s);
            }
            assertEquals(2L, s.get("emitted"));
            assertEquals(2L, s.get("delivered"));
            assertEquals(0L, s.get("queue_depth"));
            @SuppressWarnings("unchecked")
            Map<String, Object> local = (Map<String, Object>) ((Map<String, Object>) s.get("backends")).get("local");
            assertEquals("filesystem", local.get("type"));
            assertEquals("closed", local.get("breaker"));
            assertThrows(UnsupportedOperationException.class, () -> s.put("x", 1));
        }
    }

    /** A TCP server that accepts and never answers: a webhook backend stuck until its timeout. */
    private static ServerSocket blackhole(List<Socket> accepted) throws IOException {
        ServerSocket server = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> {
            try {
                while (true) {
                    accepted.add(server.accept());
                }
            } catch (IOException e) {
                // closed
            }
        }, "blackhole");
        t.setDaemon(true);
        t.start();
        return server;
    }

    @Test
    void fullQueueDropsAndReturnsFalseAndFlushTimesOut() throws IOException {
        List<Socket> accepted = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (ServerSocket server = blackhole(accepted)) {
            String cfg = "{\"app\":{\"name\":\"q\"},\"direct_backends\":[{\"type\":\"webhook\",\"name\":\"hole\","
                    + "\"url\":\"http://127.0.0.1:" + server.getLocalPort() + "/\",\"timeout_ms\":30000}],"
                    + "\"queue\":{\"capacity\":4,\"batch_max\":1,\"flush_interval_ms\":10},"
                    + "\"spool\":{\"enabled\":false,\"path\":\"" + tmp.resolve("spool") + "\"}}";
            Client c = Monitoring.configure(cfg);
            int dropped = 0;
            for (int i = 0; i < 500; i++) {
                if (!c.emit(log("e" + i))) {
                    dropped++;
                }
            }
            assertTrue(dropped > 0, "some events must be dropped at a full queue");
            assertTrue((Long) c.stats().get("dropped") >= dropped, c.stats().toString());
            MonitoringException e = assertThrows(MonitoringException.class, () -> c.flush(Duration.ofMillis(200)));
            assertEquals(StatusCode.TIMEOUT, e.status());
            e = assertThrows(MonitoringException.class, () -> c.shutdown(Duration.ofMillis(300)));
            assertEquals(StatusCode.TIMEOUT, e.status());
            c.close(); // a timeout is not thrown by close()
            for (Socket s : accepted) {
                s.close();
            }
        }
    }

    @Test
    void manyClientsAreCreatedAndCollected() throws InterruptedException {
        for (int i = 0; i < 20; i++) {
            Client c = Monitoring.configure(config(tmp.resolve("many-" + i)));
            c.emit(log("n" + i));
            if (i % 2 == 0) {
                c.close();
            }
            // odd ones are left to the cleaner (shut down and freed when collected)
        }
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(100);
        }
        try (Client c = Monitoring.configure(config(out()))) {
            assertTrue(c.emit(log("still fine")));
        }
    }
}
