package dev.monitoring;

import static dev.monitoring.TestSupport.entity;
import static dev.monitoring.TestSupport.event;
import static dev.monitoring.TestSupport.events;
import static dev.monitoring.TestSupport.kind;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sidecar mode against a real agent: target/release/monitoring-sidecar (built with cargo if it is
 * missing), listening on a free loopback port with a bearer token, writing JSONL; the Java client
 * in {@code mode: sidecar} sends to it over HTTP.
 */
class SidecarTest {
    static final String TOKEN = "s3cret-token";

    @TempDir
    Path tmp;
    Process agent;
    Path agentLog;
    int port;

    static Path agentBinary() throws Exception {
        Path bin = TestSupport.cargoTarget().resolve("release/monitoring-sidecar");
        if (Files.isExecutable(bin)) {
            return bin;
        }
        Path crate = TestSupport.repoRoot().resolve("sidecar/Cargo.toml");
        Assumptions.assumeTrue(Files.exists(crate),
                "skipped: there is no sidecar crate (sidecar/Cargo.toml) to build monitoring-sidecar from");
        TestSupport.run(List.of("cargo", "build", "--release", "-p", "monitoring-sidecar"), TestSupport.repoRoot(),
                Map.of("CARGO_TARGET_DIR", TestSupport.cargoTarget().toString()), 3600);
        assertTrue(Files.isExecutable(bin), "cargo did not produce " + bin);
        return bin;
    }

    @BeforeEach
    void startAgent() throws Exception {
        Path bin = agentBinary();
        Path cfg = tmp.resolve("sidecar.json");
        Files.writeString(cfg, "{\"ingest\":{\"listen\":\"127.0.0.1:0\",\"flush_interval\":\"100ms\",\"token\":\""
                + TOKEN + "\"},\"backends\":[{\"type\":\"filesystem\",\"name\":\"local\",\"path\":\""
                + tmp.resolve("agent-events") + "\"}],\"spool\":{\"path\":\"" + tmp.resolve("agent-spool") + "\"}}");
        agentLog = tmp.resolve("agent.log");
        ProcessBuilder pb = new ProcessBuilder(bin.toString(), "--config", cfg.toString()).directory(tmp.toFile())
                .redirectErrorStream(true).redirectOutput(agentLog.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("MONITORING_"));
        agent = pb.start();
        Pattern listen = Pattern.compile("\"listen\":\"127\\.0\\.0\\.1:(\\d+)\"");
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < deadline) {
            String log = Files.readString(agentLog, StandardCharsets.UTF_8);
            Matcher m = listen.matcher(log);
            if (log.contains("listening") && m.find()) {
                port = Integer.parseInt(m.group(1));
                return;
            }
            if (!agent.isAlive()) {
                throw new AssertionError("the agent exited with " + agent.exitValue() + ":\n" + log);
            }
            Thread.sleep(50);
        }
        throw new AssertionError("the agent did not report its port:\n" + Files.readString(agentLog));
    }

    @AfterEach
    void stopAgent() throws Exception {
        if (agent != null && agent.isAlive()) {
            agent.destroyForcibly();
            agent.waitFor();
        }
    }

    private String clientConfig(String token) {
        return "{\"mode\":\"sidecar\",\"app\":{\"name\":\"java-sidecar\",\"version\":\"3.1\",\"site_id\":\"fab2\","
                + "\"instance_id\":\"jhost:7\"},\"sidecar\":{\"url\":\"http://127.0.0.1:" + port + "\",\"token\":\""
                + token + "\",\"timeout_ms\":5000},\"queue\":{\"flush_interval_ms\":50},"
                + "\"retry\":{\"initial_ms\":10,\"max_ms\":50,\"max_attempts\":2},"
                + "\"spool\":{\"path\":\"" + tmp.resolve("client-spool") + "\"}}";
    }

    /** Stops the agent (SIGTERM: it flushes its queue) and returns what it wrote. */
    private List<Map<String, Object>> agentEvents() throws Exception {
        agent.destroy();
        assertTrue(agent.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "the agent did not stop on SIGTERM");
        assertEquals(0, agent.exitValue(), () -> readLog());
        return events(tmp.resolve("agent-events"));
    }

    private String readLog() {
        try {
            return Files.readString(agentLog);
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Test
    void eventsAndJobsReachTheAgent() throws Exception {
        String jobId;
        try (Client c = Monitoring.configure(clientConfig(TOKEN))) {
            assertEquals("sidecar", c.mode());
            for (int i = 0; i < 200; i++) {
                assertTrue(c.emit(Map.of("event", Map.of("kind", "log", "message", "m" + i))));
            }
            assertTrue(c.emit("{\"event\":{\"kind\":\"metric\",\"metrics\":{\"temp_c\":21.5}}}"));
            try (Job job = c.jobBuilder("etch").entityType("lot").businessKey("LOT-42").start()) {
                jobId = job.id();
                job.progress(50, "half");
                job.metric("wafers", 25);
                job.fail("chamber pressure out of range");
            }
            c.flush(Duration.ofSeconds(20));
            Map<String, Object> stats = c.stats();
            assertEquals(205L, stats.get("emitted"), stats.toString());
            assertEquals(205L, stats.get("delivered"), stats.toString());
        }
        List<Map<String, Object>> events = agentEvents();
        assertEquals(205, events.size(), () -> readLog());
        Set<Object> messages = events.stream().map(e -> event(e).get("message")).collect(Collectors.toSet());
        for (int i = 0; i < 200; i++) {
            assertTrue(messages.contains("m" + i));
        }
        Set<Object> keys = new HashSet<>();
        for (Map<String, Object> e : events) {
            assertTrue(keys.add(e.get("idempotency_key")));
            assertEquals("fab2", e.get("site_id"));
            assertEquals("java-sidecar", ((Map<?, ?>) e.get("app")).get("name"));
        }
        List<Map<String, Object>> job = TestSupport.ofEntity(events, jobId);
        assertEquals(List.of("started", "progress", "metric", "error"),
                job.stream().map(TestSupport::kind).collect(Collectors.toList()));
        assertEquals("LOT-42", entity(job.get(0)).get("business_key"));
        assertEquals("chamber pressure out of range", event(job.get(3)).get("message"));
        assertEquals("error", kind(job.get(3)));
    }

    @Test
    void aWrongTokenIsRefusedAndCounted() throws Exception {
        try (Client c = Monitoring.configure(clientConfig("wrong"))) {
            assertTrue(c.emit(Map.of("event", Map.of("kind", "log", "message", "refused"))));
            c.flush(Duration.ofSeconds(20));
            Map<String, Object> stats = c.stats();
            assertEquals(1L, stats.get("failed"), stats.toString());
            assertEquals(0L, stats.get("delivered"), stats.toString());
        }
        assertEquals(0, agentEvents().size());
    }
}
