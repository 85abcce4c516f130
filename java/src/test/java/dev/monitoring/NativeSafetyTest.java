package dev.monitoring;

import static dev.monitoring.TestSupport.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The native boundary: panics, null and zero handles, bad arguments given straight to the native
 * methods, and a child JVM under {@code -Xcheck:jni} running every path many times (JNI misuse,
 * pending exceptions, local reference overflows are reported there as warnings, which fail the
 * test), with a bound on memory growth over millions of calls.
 */
class NativeSafetyTest {
    @TempDir
    Path tmp;

    @Test
    void aPanicBecomesAnInternalErrorAndTheJvmCarriesOn() {
        Native.ensureLoaded();
        for (int i = 0; i < 3; i++) {
            for (boolean raw : new boolean[] {true, false}) {
                MonitoringException e = assertThrows(MonitoringException.class, () -> Native.panicForTest(raw));
                assertEquals(StatusCode.INTERNAL, e.status());
                assertTrue(e.getMessage().contains("deliberate panic"), e.getMessage());
            }
        }
        try (Client c = Monitoring.configure(config(tmp.resolve("e")))) {
            assertTrue(c.emit("{\"event\":{\"kind\":\"log\"}}"));
        }
    }

    @Test
    void zeroHandlesAndNullArgumentsAreErrorsNotCrashes() {
        Native.ensureLoaded();
        assertEquals(StatusCode.SHUTDOWN,
                assertThrows(MonitoringException.class, () -> Native.emitString(0, "{}")).status());
        assertThrows(MonitoringException.class, () -> Native.emitBytes(0, new byte[2], 0, 2));
        assertThrows(MonitoringException.class, () -> Native.flush(0, 10));
        assertThrows(MonitoringException.class, () -> Native.shutdown(0, 10));
        assertThrows(MonitoringException.class, () -> Native.stats(0));
        assertThrows(MonitoringException.class, () -> Native.jobStart(0, "x", null, null, null, null));
        assertThrows(InvalidEventException.class, () -> Native.jobProgress(0, 1, null));
        assertThrows(InvalidEventException.class, () -> Native.jobFinish(0, "succeeded", null));
        assertThrows(InvalidEventException.class, () -> Native.jobId(0));
        Native.jobFree(0);
        Native.clientFree(0);

        try (Client c = Monitoring.configure(config(tmp.resolve("n")))) {
            long h = c.handle();
            assertThrows(InvalidEventException.class, () -> Native.emitString(h, null));
            assertThrows(InvalidEventException.class, () -> Native.emitBytes(h, null, 0, 0));
            assertThrows(InvalidEventException.class, () -> Native.emitBytes(h, new byte[4], 3, 2));
            assertThrows(InvalidEventException.class, () -> Native.emitBytes(h, new byte[4], -1, 2));
            assertThrows(InvalidEventException.class, () -> Native.emitBytes(h, new byte[4], 0, -2));
            assertThrows(InvalidEventException.class, () -> Native.emitBytes(h, new byte[4], Integer.MAX_VALUE, Integer.MAX_VALUE));
            assertThrows(InvalidEventException.class, () -> Native.flush(h, -5));
            assertThrows(InvalidEventException.class, () -> Native.jobStart(h, null, null, null, null, null));
            long j = Native.jobStart(h, "n", null, null, null, null);
            assertThrows(InvalidEventException.class, () -> Native.jobMetric(j, null, 1));
            assertThrows(InvalidEventException.class, () -> Native.jobMetadata(j, null, new byte[] {'1'}, 1));
            assertThrows(InvalidEventException.class, () -> Native.jobMetadata(j, "k", null, 0));
            assertThrows(InvalidEventException.class, () -> Native.jobMetadata(j, "k", new byte[] {'{'}, 1));
            assertThrows(InvalidEventException.class, () -> Native.jobFinish(j, null, null));
            // the job above was consumed by the failed finish (as in the C ABI)
            assertThrows(InvalidEventException.class, () -> Native.jobProgress(j, 1, null));
            Native.jobFree(j);
            assertThrows(MonitoringException.class, () -> Native.configure("{\"mode\":1}", null, 0));
            assertThrows(MonitoringException.class, () -> Native.configure("{}", new byte[] {'x'}, 1));
            assertThrows(InvalidEventException.class, () -> Native.configure("{}", new byte[] {'x'}, 5));
            // a huge timeout is capped, not an overflow
            Native.flush(h, Long.MAX_VALUE);
            assertFalse(Native.isShutDown(h));
        }
    }

    @Test
    void checkJniChildJvm() throws Exception {
        String javaBin = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("java.class.path");
        List<String> cmd = new ArrayList<>(List.of(javaBin, "-Xcheck:jni", "-Xmx256m", "-cp", cp,
                JniWorkload.class.getName(), tmp.resolve("w").toString()));
        String out = TestSupport.run(cmd, tmp, Map.of(), 600);
        List<String> warnings = new ArrayList<>();
        for (String line : out.split("\n")) {
            if (line.contains("WARNING") || line.contains("FATAL") || line.contains("Exception in thread")) {
                warnings.add(line);
            }
        }
        assertTrue(warnings.isEmpty(), () -> "-Xcheck:jni reported:\n" + String.join("\n", warnings) + "\n---\n" + out);
        assertTrue(out.contains("workload ok"), out);
        System.out.println(out);
        assertTrue(new File(cp.split(File.pathSeparator)[0]).exists());
    }
}
