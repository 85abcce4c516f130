package dev.monitoring;

/**
 * Why a call failed: the engine's status, one per {@code monitoring_status} of the C ABI (the
 * same numbers), carried by {@link MonitoringException#status()} and
 * {@link InvalidEventException#status()}.
 */
public enum StatusCode {
    /** A bad event or argument ({@link InvalidEventException}, an {@code IllegalArgumentException}). */
    INVALID_ARGUMENT(1, "invalid_argument"),
    /** The configuration is invalid; the message names the key path. */
    CONFIG(2, "config"),
    /**
     * The queue is full. {@code emit} and the job calls do not throw for it: they return
     * {@code false} (the event was dropped and counted in {@code stats().get("dropped")}).
     */
    QUEUE_FULL(3, "queue_full"),
    /** {@code flush} or {@code shutdown} reached its deadline first. */
    TIMEOUT(4, "timeout"),
    /** The client is shut down. */
    SHUTDOWN(5, "shutdown"),
    /** An I/O error (reading a configuration file, starting a backend). */
    IO(6, "io"),
    /** A bug in the library (a caught panic) or a native library that cannot be loaded. */
    INTERNAL(7, "internal");

    private final int code;
    private final String wireName;

    StatusCode(int code, String wireName) {
        this.code = code;
        this.wireName = wireName;
    }

    /** The C ABI's number ({@code MONITORING_ERR_...}). */
    public int code() {
        return code;
    }

    /** The lower-case name used across languages: {@code invalid_argument}, {@code config}, ... */
    public String wireName() {
        return wireName;
    }

    /** The status for a C ABI number; {@link #INTERNAL} for an unknown one. */
    public static StatusCode of(int code) {
        for (StatusCode s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        return INTERNAL;
    }
}
