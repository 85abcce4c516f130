package dev.monitoring;

import static dev.monitoring.TestSupport.config;
import static dev.monitoring.TestSupport.entity;
import static dev.monitoring.TestSupport.event;
import static dev.monitoring.TestSupport.events;
import static dev.monitoring.TestSupport.kind;
import static dev.monitoring.TestSupport.ofEntity;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobTest {
    @TempDir
    Path tmp;
    Client client;

    @BeforeEach
    void open() {
        client = Monitoring.configure(config(tmp.resolve("events")));
    }

    @AfterEach
    void close() {
        client.close();
    }

    private List<Map<String, Object>> flushed() {
        client.flush(Duration.ofSeconds(10));
        return events(tmp.resolve("events"));
    }

    private static List<String> kinds(List<Map<String, Object>> events) {
        return events.stream().map(TestSupport::kind).collect(Collectors.toList());
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> metrics(Map<String, Object> e) {
        return (Map<String, Object>) event(e).get("metrics");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> metadata(Map<String, Object> e) {
        return (Map<String, Object>) event(e).get("metadata");
    }

    @Test
    void successfulLifecycle() throws InterruptedException {
        String id;
        try (Job job = client.job("etch")) {
            id = job.id();
            assertEquals("etch", job.name());
            assertSame(client, job.client());
            assertTrue(id.matches("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"), id);
            assertSame(job, job.metadata("tool", "ETCH-07"));
            assertTrue(job.progress(50, "half"));
            assertTrue(job.progress(75));
            assertTrue(job.metric("wafers", 25));
            Thread.sleep(20);
            assertTrue(job.succeed());
            assertTrue(job.isFinished());
            assertTrue(job.toString().contains("finished"));
        }
        List<Map<String, Object>> events = ofEntity(flushed(), id);
        assertEquals(List.of("started", "progress", "progress", "metric", "finished"), kinds(events));
        Map<String, Object> started = events.get(0);
        assertEquals("job", entity(started).get("type"));
        assertEquals("running", event(started).get("status"));
        assertEquals(Map.of("job_name", "etch"), metadata(started));
        assertEquals(50.0, ((Number) event(events.get(1)).get("progress")).doubleValue());
        assertEquals("half", event(events.get(1)).get("message"));
        assertNull(event(events.get(2)).get("message"));
        Map<String, Object> last = events.get(4);
        assertEquals("succeeded", event(last).get("status"));
        assertEquals(Map.of("job_name", "etch", "tool", "ETCH-07"), metadata(last));
        Map<String, Object> m = metrics(last);
        assertEquals(25.0, ((Number) m.get("wafers")).doubleValue());
        assertTrue(((Number) m.get("duration_s")).doubleValue() >= 0.02, m.toString());
        for (String k : List.of("cpu_user_s", "cpu_system_s", "mem_max_mb")) {
            assertTrue(m.get(k) instanceof Number, k);
        }
        assertTrue(((Number) m.get("mem_max_mb")).doubleValue() > 1, m.toString());
    }

    @Test
    void failCancelAndFinishByName() {
        Job a = client.job("a");
        Job b = client.job("b");
        Job c = client.job("c");
        Job d = client.job("d");
        assertTrue(a.fail("chamber pressure out of range"));
        assertTrue(b.cancel("operator stop"));
        assertTrue(c.finish("succeeded", "fine"));
        assertTrue(d.cancel());
        List<Map<String, Object>> events = flushed();
        Map<String, Object> ea = ofEntity(events, a.id()).get(1);
        assertEquals("error", kind(ea));
        assertEquals("failed", event(ea).get("status"));
        assertEquals("chamber pressure out of range", event(ea).get("message"));
        Map<String, Object> eb = ofEntity(events, b.id()).get(1);
        assertEquals("canceled", kind(eb));
        assertEquals("canceled", event(eb).get("status"));
        assertEquals("finished", kind(ofEntity(events, c.id()).get(1)));
        assertNull(event(ofEntity(events, d.id()).get(1)).get("message"));
    }

    @Test
    void closeWithoutOutcomeFinishesAsFailed() {
        String id;
        try (Job job = client.job("forgotten")) {
            id = job.id();
            job.progress(10);
        }
        List<Map<String, Object>> events = ofEntity(flushed(), id);
        assertEquals(List.of("started", "progress", "error"), kinds(events));
        assertEquals(Job.CLOSED_WITHOUT_OUTCOME, event(events.get(2)).get("message"));
        assertEquals("failed", event(events.get(2)).get("status"));
    }

    @Test
    void closeDuringAnExceptionFinishesAsFailed() {
        String[] id = new String[1];
        RuntimeException thrown = assertThrows(RuntimeException.class, () -> {
            try (Job job = client.job("throws")) {
                id[0] = job.id();
                throw new RuntimeException("boom");
            }
        });
        assertEquals("boom", thrown.getMessage());
        List<Map<String, Object>> events = ofEntity(flushed(), id[0]);
        assertEquals(List.of("started", "error"), kinds(events));
    }

    @Test
    void failWithThrowableRecordsMessageAndType() {
        Job job = client.job("x");
        assertTrue(job.fail(new IllegalStateException("valve stuck")));
        Job noMessage = client.job("y");
        noMessage.fail(new NullPointerException());
        List<Map<String, Object>> events = flushed();
        Map<String, Object> e = ofEntity(events, job.id()).get(1);
        assertEquals("valve stuck", event(e).get("message"));
        assertEquals("java.lang.IllegalStateException", metadata(e).get("error_type"));
        assertEquals("java.lang.NullPointerException", event(ofEntity(events, noMessage.id()).get(1)).get("message"));
        String longMessage = "m".repeat(20_000);
        Job big = client.job("z");
        big.fail(new RuntimeException(longMessage));
        Map<String, Object> ez = ofEntity(flushed(), big.id()).get(1);
        assertEquals(Job.MAX_MESSAGE, ((String) event(ez).get("message")).length());
    }

    @Test
    void runAndCallReportTheOutcome() throws IOException {
        String[] ids = new String[3];
        client.run("ok", job -> {
            ids[0] = job.id();
            job.progress(100);
        });
        IOException e = assertThrows(IOException.class, () -> client.run("io", job -> {
            ids[1] = job.id();
            throw new IOException("disk full");
        }));
        assertEquals("disk full", e.getMessage());
        int answer = client.call("compute", job -> {
            ids[2] = job.id();
            job.cancel("nothing to do"); // ended by the body: left as it is
            return 42;
        });
        assertEquals(42, answer);
        List<Map<String, Object>> events = flushed();
        assertEquals(List.of("started", "progress", "finished"), kinds(ofEntity(events, ids[0])));
        Map<String, Object> failed = ofEntity(events, ids[1]).get(1);
        assertEquals("error", kind(failed));
        assertEquals("disk full", event(failed).get("message"));
        assertEquals("java.io.IOException", metadata(failed).get("error_type"));
        assertEquals(List.of("started", "canceled"), kinds(ofEntity(events, ids[2])));
    }

    @Test
    void interruptedJobsAreCanceled() {
        String[] id = new String[1];
        assertThrows(InterruptedException.class, () -> client.run("sleepy", job -> {
            id[0] = job.id();
            throw new InterruptedException("stop");
        }));
        assertEquals("canceled", kind(ofEntity(flushed(), id[0]).get(1)));
    }

    @Test
    void builderIdentity() {
        Job parent = client.jobBuilder("lot-run").entityType("lot").businessKey("LOT-42").start();
        Job child = client.jobBuilder("wafer").entityType("wafer").parent(parent).businessKey("LOT-42")
                .subKey("W-07").start();
        Job explicit = client.job("rework", null, "EXT-1");
        Job typed = client.job("typed", "step");
        child.succeed();
        parent.succeed();
        explicit.succeed();
        typed.succeed();
        List<Map<String, Object>> events = flushed();
        Map<String, Object> ec = entity(ofEntity(events, child.id()).get(0));
        assertEquals("wafer", ec.get("type"));
        assertEquals(parent.id(), ec.get("parent_id"));
        assertEquals("LOT-42", ec.get("business_key"));
        assertEquals("W-07", ec.get("sub_key"));
        Map<String, Object> ep = entity(ofEntity(events, parent.id()).get(0));
        assertEquals("lot", ep.get("type"));
        assertNull(ep.get("parent_id"));
        assertNull(ep.get("sub_key"));
        assertEquals("EXT-1", entity(ofEntity(events, explicit.id()).get(0)).get("parent_id"));
        assertEquals("job", entity(ofEntity(events, explicit.id()).get(0)).get("type"));
        assertEquals("step", entity(ofEntity(events, typed.id()).get(0)).get("type"));
    }

    @Test
    void invalidArgumentsEmitNothing() {
        Job job = client.job("strict");
        InvalidEventException e = assertThrows(InvalidEventException.class, () -> job.progress(150, "too far"));
        assertEquals("event.progress", e.field());
        assertThrows(InvalidEventException.class, () -> job.progress(-1));
        assertThrows(InvalidEventException.class, () -> job.progress(Double.NaN));
        e = assertThrows(InvalidEventException.class, () -> job.metric("temp", Double.POSITIVE_INFINITY));
        assertEquals("event.metrics.temp", e.field());
        assertThrows(InvalidEventException.class, () -> job.metric("", 1));
        assertThrows(NullPointerException.class, () -> job.metric(null, 1));
        assertThrows(NullPointerException.class, () -> job.metadata(null, "v"));
        assertThrows(InvalidEventException.class, () -> job.metadata("bad", Double.NaN));
        assertThrows(InvalidEventException.class, () -> job.metadata("lone", "\uD800"));
        assertThrows(InvalidEventException.class, () -> client.job(""));
        assertThrows(InvalidEventException.class, () -> client.job("x\uDFFF"));
        job.metadata("nullable", null);
        assertTrue(job.progress(0, null));
        assertTrue(job.succeed());
        List<Map<String, Object>> events = ofEntity(flushed(), job.id());
        assertEquals(List.of("started", "progress", "finished"), kinds(events));
        assertTrue(metadata(events.get(2)).containsKey("nullable"));
    }

    @Test
    void anInvalidStatusEndsTheJobWithoutAnEvent() {
        Job job = client.job("odd");
        InvalidEventException e = assertThrows(InvalidEventException.class, () -> job.finish("done", null));
        assertTrue(e.getMessage().contains("done"), e.getMessage());
        assertTrue(job.isFinished());
        assertThrows(IllegalStateException.class, job::succeed);
        job.close(); // nothing more
        assertEquals(List.of("started"), kinds(ofEntity(flushed(), job.id())));
    }

    @Test
    void endedJobsRefuseFurtherCalls() {
        Job job = client.job("once");
        job.succeed();
        assertThrows(IllegalStateException.class, job::succeed);
        assertThrows(IllegalStateException.class, () -> job.fail("x"));
        assertThrows(IllegalStateException.class, () -> job.progress(1));
        assertThrows(IllegalStateException.class, () -> job.metric("m", 1));
        assertThrows(IllegalStateException.class, () -> job.metadata("k", "v"));
        job.close();
        job.close();
        assertEquals(2, ofEntity(flushed(), job.id()).size());
    }

    @Test
    void metadataValuesOfEveryKind() {
        Job job = client.job("meta");
        job.metadata("s", "text").metadata("n", 12).metadata("d", 2.5).metadata("b", false)
                .metadata("list", List.of(1, 2)).metadata("map", Map.of("k", "v"));
        job.succeed();
        Map<String, Object> md = metadata(ofEntity(flushed(), job.id()).get(1));
        assertEquals("text", md.get("s"));
        assertEquals(12L, md.get("n"));
        assertEquals(2.5, md.get("d"));
        assertEquals(Boolean.FALSE, md.get("b"));
        assertEquals(List.of(1L, 2L), md.get("list"));
        assertEquals(Map.of("k", "v"), md.get("map"));
        assertEquals("meta", md.get("job_name"));
    }

    @Test
    void jobsFromManyThreads() throws InterruptedException {
        Job job = client.job("shared");
        Thread[] threads = new Thread[8];
        for (int t = 0; t < threads.length; t++) {
            int n = t;
            threads[t] = new Thread(() -> {
                for (int i = 0; i < 100; i++) {
                    job.metric("m" + n, i);
                    job.progress(i);
                }
            });
            threads[t].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        job.succeed();
        List<Map<String, Object>> events = ofEntity(flushed(), job.id());
        assertEquals(1 + 8 * 200 + 1, events.size());
        Map<String, Object> m = metrics(events.get(events.size() - 1));
        for (int t = 0; t < 8; t++) {
            assertEquals(99.0, ((Number) m.get("m" + t)).doubleValue());
        }
    }

    @Test
    void anUnreachableOpenJobIsCanceled() throws InterruptedException {
        String id = startAndDrop();
        for (int i = 0; i < 50; i++) {
            System.gc();
            Thread.sleep(50);
            List<Map<String, Object>> events = ofEntity(flushed(), id);
            if (events.size() == 2) {
                assertEquals("canceled", kind(events.get(1)));
                assertEquals(Job.COLLECTED_WHILE_OPEN, event(events.get(1)).get("message"));
                return;
            }
        }
        throw new AssertionError("the dropped job was not canceled by the cleaner");
    }

    private String startAndDrop() {
        return client.job("dropped").id();
    }

    @Test
    void isFinishedIsFalseWhileRunning() {
        Job job = client.job("running");
        assertFalse(job.isFinished());
        assertTrue(job.toString().contains("running"));
        job.succeed();
    }
}
