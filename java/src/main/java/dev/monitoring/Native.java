package dev.monitoring;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Properties;

/**
 * The native methods (bindings/java, {@code libmonitoring_jni.so}) and how the library is found.
 *
 * <p>Loading: the system property {@value #LIBRARY_PATH_PROPERTY} names a library file to load
 * instead; otherwise the library in the jar at {@code /native/<os>-<arch>/libmonitoring_jni.so} is
 * copied to a temporary file ({@code java.io.tmpdir}), loaded with {@link System#load}, and the
 * file deleted (the loaded mapping stays valid). A library whose version differs from the jar's is
 * refused.
 *
 * <p>Handles are {@code long} pointers owned by {@link Client} and {@link Job}; the native side
 * throws the exception built by {@link #error} for every failure, and returns {@code 0} (queued)
 * or {@code 3} (dropped at a full queue) from the calls that queue an event.
 */
final class Native {
    /** System property: the path of a {@code libmonitoring_jni.so} to load instead of the jar's. */
    static final String LIBRARY_PATH_PROPERTY = "dev.monitoring.library.path";

    static final int QUEUED = 0;
    static final int QUEUE_FULL = 3;

    private static final String LIBRARY_FILE = "libmonitoring_jni.so";
    private static volatile boolean loaded;
    private static Throwable loadFailure;

    private Native() {}

    /** Loads the library once; throws {@link MonitoringException} (INTERNAL) if it cannot. */
    static void ensureLoaded() {
        if (loaded) {
            return;
        }
        synchronized (Native.class) {
            if (loaded) {
                return;
            }
            if (loadFailure != null) {
                throw new MonitoringException(StatusCode.INTERNAL, loadFailure.getMessage(), null, loadFailure);
            }
            try {
                load();
                loaded = true;
            } catch (Throwable t) {
                loadFailure = t;
                throw new MonitoringException(StatusCode.INTERNAL, t.getMessage(), null, t);
            }
        }
    }

    /** The platform folder in the jar: {@code linux-x86_64}, {@code linux-aarch64}, ... */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        } else if (os.startsWith("mac") || os.startsWith("darwin")) {
            os = "macos";
        } else if (os.startsWith("windows")) {
            os = "windows";
        }
        if (arch.equals("amd64") || arch.equals("x86-64")) {
            arch = "x86_64";
        } else if (arch.equals("arm64")) {
            arch = "aarch64";
        }
        return os + "-" + arch;
    }

    private static void load() throws IOException {
        String override = System.getProperty(LIBRARY_PATH_PROPERTY);
        if (override != null && !override.isEmpty()) {
            Path path = Paths.get(override).toAbsolutePath();
            if (!Files.isRegularFile(path)) {
                throw new UnsatisfiedLinkError("-D" + LIBRARY_PATH_PROPERTY + "=" + override + ": no such file");
            }
            System.load(path.toString());
        } else {
            String resource = "/native/" + platform() + "/" + LIBRARY_FILE;
            try (InputStream in = Native.class.getResourceAsStream(resource)) {
                if (in == null) {
                    throw new UnsatisfiedLinkError("the monitoring jar has no native library for " + platform()
                            + " (" + resource + "); build one (cargo build --release -p monitoring-java) and"
                            + " point -D" + LIBRARY_PATH_PROPERTY + " at it");
                }
                Path file = Files.createTempFile("monitoring_jni-", ".so");
                try {
                    Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                    System.load(file.toAbsolutePath().toString());
                } catch (UnsatisfiedLinkError e) {
                    throw new UnsatisfiedLinkError(e.getMessage() + " (extracted to " + file
                            + "; if java.io.tmpdir is mounted noexec, set -Djava.io.tmpdir or -D"
                            + LIBRARY_PATH_PROPERTY + ")");
                } finally {
                    // Loaded (mapped) or failed: the file is no longer needed either way.
                    Files.deleteIfExists(file);
                }
            }
        }
        String expected = jarVersion();
        String actual = version();
        if (expected != null && !expected.equals(actual)) {
            throw new UnsatisfiedLinkError("native library version " + actual + " does not match the jar's "
                    + expected);
        }
    }

    /** The jar's version (from monitoring.properties), or null when unknown. */
    static String jarVersion() {
        try (InputStream in = Native.class.getResourceAsStream("monitoring.properties")) {
            if (in == null) {
                return null;
            }
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version");
            return v == null || v.startsWith("${") ? null : v;
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Builds the exception the native side throws: {@link InvalidEventException} for status 1,
     * {@link MonitoringException} for the others. Called from native code only.
     */
    static RuntimeException error(int code, String message, String field) {
        StatusCode status = StatusCode.of(code);
        if (status == StatusCode.INVALID_ARGUMENT) {
            return new InvalidEventException(message, field);
        }
        return new MonitoringException(status, message, field, null);
    }

    // ---- native methods (bindings/java/src/lib.rs) ----

    static native String version();

    static native long configure(String config, byte[] overridesJson, int len);

    static native void clientFree(long client);

    static native int emitString(long client, String json);

    static native int emitBytes(long client, byte[] json, int offset, int len);

    static native void flush(long client, long timeoutMs);

    static native void shutdown(long client, long timeoutMs);

    static native boolean isShutDown(long client);

    static native String stats(long client);

    static native String mode(long client);

    static native long jobStart(long client, String name, String entityType, String parentId,
            String businessKey, String subKey);

    static native String jobId(long job);

    static native int jobProgress(long job, double percent, String message);

    static native int jobMetric(long job, String name, double value);

    static native void jobMetadata(long job, String key, byte[] valueJson, int len);

    static native int jobFinish(long job, String status, String message);

    static native void jobFree(long job);

    /**
     * The measured alternative to {@link Client#emit(java.util.Map)}: the map walked through JNI
     * from native code (bindings/java/src/jni_map.rs). For the benchmark only.
     */
    static native int emitMapViaJni(long client, java.util.Map<String, ?> event);

    /** Panics inside a native method: on the raw hot path, or inside the jni crate's Env. Tests only. */
    static native void panicForTest(boolean raw);
}
