/**
 * Job and event monitoring for Java applications, on the monitoring engine (Rust, loaded from
 * this jar).
 *
 * <pre>{@code
 * try (Client client = Monitoring.configure("monitoring.yaml")) {
 *     client.emit(Map.of("entity", Map.of("type", "tool", "id", "ETCH-07"),
 *                        "event", Map.of("kind", "metric", "metrics", Map.of("temp_c", 21.5))));
 *     try (Job job = client.job("etch")) {
 *         job.progress(50, "half way");
 *         job.metric("wafers", 25);
 *         job.succeed();
 *     }
 * }
 * }</pre>
 *
 * <ul>
 *   <li>{@link dev.monitoring.Monitoring#configure(String)} gives a {@link dev.monitoring.Client}
 *       (thread-safe, {@code AutoCloseable}).
 *   <li>{@link dev.monitoring.Client#emit(java.util.Map)} and
 *       {@link dev.monitoring.Client#emit(String)} queue one event (schema v1) and never block on
 *       I/O; they return {@code false} when the queue was full and the event dropped.
 *   <li>{@link dev.monitoring.Job} reports a job; read its close rule.
 *   <li>A bad event throws {@link dev.monitoring.InvalidEventException} (an
 *       {@code IllegalArgumentException}) naming the field; other failures throw
 *       {@link dev.monitoring.MonitoringException} with a {@link dev.monitoring.StatusCode}.
 * </ul>
 *
 * The native library: the jar carries {@code /native/linux-x86_64/libmonitoring_jni.so}, which is
 * extracted to a temporary file and loaded on first use; {@code -Ddev.monitoring.library.path=FILE}
 * loads another one instead.
 */
package dev.monitoring;
