package dev.monitoring;

import static dev.monitoring.TestSupport.config;
import static dev.monitoring.TestSupport.event;
import static dev.monitoring.TestSupport.events;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** 16 threads emitting at once: every event in the JSONL exactly once, in each thread's order. */
class ConcurrencyTest {
    static final int THREADS = 16;
    static final int PER_THREAD = 5_000;

    @TempDir
    Path tmp;

    @Test
    void sixteenThreadsEveryEventExactlyOnce() throws Exception {
        Path out = tmp.resolve("events");
        // room for everything: nothing may be dropped in this test
        try (Client c = Monitoring.configure(config(out, "\"queue\":{\"capacity\":200000}"))) {
            CountDownLatch start = new CountDownLatch(1);
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            AtomicLong dropped = new AtomicLong();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int thread = t;
                Thread th = new Thread(() -> {
                    try {
                        start.await();
                        for (int i = 0; i < PER_THREAD; i++) {
                            boolean queued;
                            // alternate the three ways in, so all of them run concurrently
                            switch (i % 3) {
                                case 0: {
                                    Map<String, Object> ev = new LinkedHashMap<>();
                                    ev.put("kind", "metric");
                                    ev.put("message", thread + ":" + i);
                                    ev.put("metrics", Map.of("seq", i, "thread", thread));
                                    queued = c.emit(Map.of("event", ev));
                                    break;
                                }
                                case 1:
                                    queued = c.emit("{\"event\":{\"kind\":\"metric\",\"message\":\"" + thread + ":" + i
                                            + "\",\"metrics\":{\"seq\":" + i + ",\"thread\":" + thread + "}}}");
                                    break;
                                default:
                                    queued = c.emit(("{\"event\":{\"kind\":\"metric\",\"message\":\"" + thread + ":" + i
                                            + "\",\"metrics\":{\"seq\":" + i + ",\"thread\":" + thread + "}}}")
                                            .getBytes(java.nio.charset.StandardCharsets.UTF_8));
                            }
                            if (!queued) {
                                dropped.incrementAndGet();
                            }
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }, "emitter-" + t);
                threads.add(th);
                th.start();
            }
            start.countDown();
            for (Thread th : threads) {
                th.join();
            }
            assertTrue(errors.isEmpty(), () -> "errors: " + errors);
            assertEquals(0, dropped.get());
            c.flush(Duration.ofSeconds(60));
            Map<String, Object> stats = c.stats();
            assertEquals((long) THREADS * PER_THREAD, stats.get("emitted"));
            assertEquals((long) THREADS * PER_THREAD, stats.get("delivered"));
        }

        List<Map<String, Object>> events = events(out);
        assertEquals(THREADS * PER_THREAD, events.size());
        Set<String> seen = new HashSet<>();
        Set<Object> keys = new HashSet<>();
        Map<Integer, Integer> lastSeq = new HashMap<>();
        for (Map<String, Object> e : events) {
            String message = (String) event(e).get("message");
            assertTrue(seen.add(message), "duplicate event " + message);
            assertTrue(keys.add(e.get("idempotency_key")), "duplicate idempotency_key");
            String[] parts = message.split(":");
            int thread = Integer.parseInt(parts[0]);
            int seq = Integer.parseInt(parts[1]);
            // one thread's events stay in the order it emitted them
            assertTrue(seq > lastSeq.getOrDefault(thread, -1), "out of order: " + message);
            lastSeq.put(thread, seq);
        }
        assertEquals(THREADS * PER_THREAD, seen.size());
    }

    @Test
    void emittingWhileAnotherThreadShutsDown() throws Exception {
        Client c = Monitoring.configure(config(tmp.resolve("racing")));
        CountDownLatch started = new CountDownLatch(THREADS);
        ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
        AtomicLong queued = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            Thread th = new Thread(() -> {
                started.countDown();
                for (int i = 0; i < 100_000; i++) {
                    try {
                        if (c.emit("{\"event\":{\"kind\":\"log\"}}")) {
                            queued.incrementAndGet();
                        }
                    } catch (MonitoringException e) {
                        if (e.status() != StatusCode.SHUTDOWN) {
                            unexpected.add(e);
                        }
                        return;
                    } catch (Throwable e) {
                        unexpected.add(e);
                        return;
                    }
                }
            });
            threads.add(th);
            th.start();
        }
        started.await();
        Thread.sleep(20);
        c.shutdown(Duration.ofSeconds(30));
        for (Thread th : threads) {
            th.join();
        }
        assertTrue(unexpected.isEmpty(), () -> "unexpected: " + unexpected);
        Map<String, Object> stats = c.stats();
        long emitted = (Long) stats.get("emitted");
        // events the shutdown deadline left in the durable spool (for the next start), if the
        // engine has one, are neither delivered nor lost
        long spooled = ((Number) stats.getOrDefault("spool_pending", 0L)).longValue();
        long accounted = (Long) stats.get("delivered") + (Long) stats.get("failed") + (Long) stats.get("dropped")
                + (Long) stats.get("unrouted") + spooled;
        assertEquals(emitted, accounted, stats.toString());
        assertEquals(queued.get(), (Long) stats.get("delivered") + (Long) stats.get("failed") + spooled,
                stats.toString());
        assertEquals((long) (Long) stats.get("delivered"), events(tmp.resolve("racing")).size());
    }
}
