package dev.monitoring;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Run by {@link NativeSafetyTest} in a child JVM under {@code -Xcheck:jni}: every native method on
 * its success and error paths, then two million calls with a bound on resident memory growth (a
 * leak of local references, handles or buffers would show). Prints "workload ok" at the end.
 */
public final class JniWorkload {
    public static void main(String[] args) throws Exception {
        String dir = args[0];
        // Events of kind `log` only go to a backend that filters for `heartbeat`: unrouted, so
        // millions of calls write nothing to disk.
        String cfg = "{\"app\":{\"name\":\"w\",\"instance_id\":\"w:1\"},\"direct_backends\":[{\"type\":\"filesystem\","
                + "\"name\":\"local\",\"path\":\"" + dir + "\",\"filter\":{\"kinds\":[\"heartbeat\"]}}],"
                + "\"spool\":{\"path\":\"" + dir + "-spool\"}}";
        Client c = Monitoring.configure(cfg);
        everyPath(c);
        long before = 0;
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < 250_000; i++) {
                c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"é😀\"}}");
                c.emit(Map.of("event", Map.of("kind", "log", "message", "m")));
                if (i % 10 == 0) {
                    try {
                        c.emit("{\"event\":{\"kind\":\"nope\"}}");
                    } catch (InvalidEventException expected) {
                        // the error path: exception objects built by native code
                    }
                }
                if (i % 100 == 0) {
                    try (Job j = c.job("j")) {
                        j.progress(50, "half");
                        j.metric("m", i);
                        j.metadata("k", List.of(i));
                        j.succeed();
                    }
                }
            }
            c.flush(Duration.ofSeconds(30));
            System.gc();
            long rss = rssKb();
            System.out.println("round " + round + ": rss " + rss + " kB, stats " + c.stats().get("emitted"));
            if (round == 1) {
                before = rss;
            }
            if (round == 3 && before > 0 && rss - before > 64 * 1024) {
                throw new AssertionError("resident memory grew by " + (rss - before) + " kB over a million calls");
            }
        }
        c.shutdown(Duration.ofSeconds(10));
        everyPathAfterShutdown(c);
        System.out.println("workload ok");
    }

    static void everyPath(Client c) {
        Monitoring.version();
        c.mode();
        c.isShutDown();
        c.stats();
        c.emit("{\"event\":{\"kind\":\"log\"}}");
        c.emit("{\"event\":{\"kind\":\"log\"}}".getBytes(StandardCharsets.UTF_8));
        expect(() -> c.emit("{\"event\":{\"kind\":\"log\",\"message\":\"\uD800\"}}"));
        expect(() -> c.emit(new byte[] {(byte) 0xff}));
        expect(() -> c.emit(Map.of("event", Map.of("x", 1))));
        expect(() -> Native.panicForTest(true));
        expect(() -> Native.panicForTest(false));
        expect(() -> Monitoring.configure("{\"bogus\":1}"));
        Job j = c.jobBuilder("all").entityType("t").parentId("p").businessKey("b").subKey("s").start();
        j.progress(1, null);
        expect(() -> j.progress(101));
        j.metric("x", 1);
        expect(() -> j.metric("x", Double.NaN));
        j.metadata("k", Map.of("a", 1));
        j.fail(new IllegalStateException("x"));
        Job k = c.job("bad-status");
        expect(() -> k.finish("nope", null));
        c.flush(Duration.ofSeconds(5));
    }

    static void everyPathAfterShutdown(Client c) throws IOException {
        expect(() -> c.emit("{}"));
        expect(() -> c.emit(Map.of()));
        expect(() -> c.job("x"));
        expect(() -> c.flush(Duration.ofSeconds(1)));
        c.shutdown(Duration.ofSeconds(1));
        c.stats();
        Files.createDirectories(Paths.get("."));
    }

    static void expect(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException expected) {
            return;
        }
        throw new AssertionError("expected an exception");
    }

    static long rssKb() throws IOException {
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return 0;
    }
}
