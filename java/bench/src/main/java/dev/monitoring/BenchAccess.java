package dev.monitoring;

import java.util.Map;

/** Package-private entry points for the benchmarks (same package as the library, another jar). */
public final class BenchAccess {
    private BenchAccess() {}

    /** {@code emit(String)} always through the native String read (no ASCII fast path). */
    public static boolean emitStringNativeRead(Client client, String json) {
        try {
            return Native.emitString(client.handle(), json) == Native.QUEUED;
        } finally {
            java.lang.ref.Reference.reachabilityFence(client);
        }
    }

    /** A native call that does nothing but cross JNI and back (the floor of every call). */
    public static boolean jniRoundTrip(Client client) {
        try {
            return Native.isShutDown(client.handle());
        } finally {
            java.lang.ref.Reference.reachabilityFence(client);
        }
    }

    /** The Java side of {@code emit(Map)} alone: the map written as JSON bytes; returns the length. */
    public static int mapToJson(Map<String, ?> event) {
        JsonWriter w = JsonWriter.acquire();
        try {
            JsonWriter.write(w, event, "");
            return w.len;
        } finally {
            w.release();
        }
    }

    /** {@code emit(Map)} by the measured alternative: the map walked through JNI from Rust. */
    public static boolean emitMapViaJni(Client client, Map<String, ?> event) {
        try {
            return Native.emitMapViaJni(client.handle(), event) == Native.QUEUED;
        } finally {
            java.lang.ref.Reference.reachabilityFence(client);
        }
    }
}
