package dev.monitoring;

import java.util.Map;

/**
 * The entry point: {@code Client client = Monitoring.configure("monitoring.yaml");}
 *
 * <p>Configuration sources, highest precedence first: the overrides given here, the environment
 * ({@code MONITORING_CONFIG}, {@code MONITORING_MODE}, {@code MONITORING_SIDECAR_URL},
 * {@code MONITORING_APP_NAME}, ...), the file or text given here, the defaults. With no
 * configuration at all the client writes JSONL under {@code ./monitoring-events}.
 */
public final class Monitoring {
    private Monitoring() {}

    /**
     * A client configured from {@code configOrPath}: a path to a {@code .yaml}/{@code .yml}/
     * {@code .json} file, or inline YAML/JSON (text that starts with <code>{</code> or contains
     * a newline); {@code null} for the environment and the defaults.
     *
     * @throws MonitoringException {@link StatusCode#CONFIG} for an invalid configuration (the
     *     message names the key path, e.g. {@code direct_backends[1].bukcet}),
     *     {@link StatusCode#IO} for an unreadable file
     */
    public static Client configure(String configOrPath) {
        return configure(configOrPath, null);
    }

    /** A client from the environment ({@code MONITORING_CONFIG}, ...) and the defaults. */
    public static Client configure() {
        return configure(null, null);
    }

    /**
     * As {@link #configure(String)}, with {@code overrides}: explicit keys, the highest
     * precedence (nested maps, e.g. {@code Map.of("app", Map.of("name", "etch"))}).
     */
    public static Client configure(String configOrPath, Map<String, ?> overrides) {
        Native.ensureLoaded();
        byte[] o = null;
        if (overrides != null) {
            try {
                o = Client.json(overrides, "");
            } catch (InvalidEventException e) {
                throw new MonitoringException(StatusCode.CONFIG,
                        "configuration error" + (e.field() == null ? "" : " at " + e.field()) + ": overrides: "
                                + e.getMessage(), e.field(), e);
            }
        }
        long handle = Native.configure(configOrPath, o, o == null ? 0 : o.length);
        return new Client(handle);
    }

    /** The engine's version (the native library's), e.g. {@code 0.1.0}. */
    public static String version() {
        Native.ensureLoaded();
        return Native.version();
    }
}
