package dev.monitoring;

import java.lang.ref.Reference;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A running job, started by {@link Client#job(String)}: {@code started} when it starts,
 * {@code progress} and {@code metric} events while it runs, and one final event whose metrics the
 * engine measures ({@code duration_s}, {@code cpu_user_s}, {@code cpu_system_s},
 * {@code mem_max_mb}) with the last value of each metric reported.
 *
 * <pre>{@code
 * try (Job job = client.job("etch")) {
 *     job.metadata("tool", "ETCH-07");
 *     job.progress(50, "half way");
 *     job.metric("wafers", 25);
 *     job.succeed();
 * }
 * }</pre>
 *
 * <p><b>Ending a job.</b> {@link #succeed()} emits {@code finished}/{@code succeeded},
 * {@link #fail(String)} {@code error}/{@code failed}, {@link #cancel()}
 * {@code canceled}/{@code canceled}. A job ends once: later calls throw
 * {@link IllegalStateException}.
 *
 * <p><b>The close rule.</b> Java's try-with-resources does not tell {@code close()} whether the
 * block ended normally or by an exception, so {@code close()} cannot tell success from failure.
 * The rule is therefore: <em>a job closed without {@code succeed()}, {@code fail()} or
 * {@code cancel()} is finished as failed</em> (kind {@code error}, status {@code failed}) with
 * the message {@value #CLOSED_WITHOUT_OUTCOME}. So end every successful job with
 * {@code job.succeed()} as the last statement of the block; an exception that skips it then
 * reports the job as failed. To get the exception's own message and class in the event, use
 * {@link Client#run(String, JobBody)} (or catch and call {@link #fail(Throwable)}).
 * {@code close()} never throws. A job that becomes unreachable without being ended is finished as
 * {@code canceled} by a cleaner thread.
 *
 * <p><b>Results.</b> The event calls return {@code true} when the event was queued, {@code false}
 * when it was dropped because the queue was full. An invalid value (a progress outside 0..100, a
 * metric that is not finite) throws {@link InvalidEventException} and emits nothing; after the
 * client's shutdown the calls throw {@link MonitoringException} ({@link StatusCode#SHUTDOWN}).
 * Thread-safe.
 */
public final class Job implements AutoCloseable {
    /** The message of a job finished by {@link #close()} without an explicit outcome. */
    public static final String CLOSED_WITHOUT_OUTCOME = "job closed without succeed(), fail() or cancel()";
    /** The message of a job finished by the cleaner because it became unreachable while open. */
    public static final String COLLECTED_WHILE_OPEN = "job was garbage-collected without being finished";
    /** Longest message a failed job reports (the event must stay under limits.max_event_bytes). */
    static final int MAX_MESSAGE = 8192;

    private final Client client;
    private final String name;
    private final String id;
    private final long handle;
    private final State state;

    private Job(Client client, String name, long handle, String id) {
        this.client = client;
        this.name = name;
        this.handle = handle;
        this.id = id;
        this.state = new State(handle);
        Client.CLEANER.register(this, state);
    }

    static Job start(Client client, String name, String entityType, String parentId, String businessKey,
            String subKey) {
        Objects.requireNonNull(name, "name");
        long h;
        try {
            h = Native.jobStart(client.handle(), name, entityType, parentId, businessKey, subKey);
        } finally {
            Reference.reachabilityFence(client);
        }
        String id;
        try {
            id = Native.jobId(h);
        } catch (RuntimeException | Error e) {
            Native.jobFree(h);
            throw e;
        }
        return new Job(client, name, h, id);
    }

    /** The job's id: a UUIDv7, its {@code entity.id} (pass it as another job's parent id). */
    public String id() {
        return id;
    }

    /** The name given to {@link Client#job(String)} (in every event as {@code metadata.job_name}). */
    public String name() {
        return name;
    }

    public Client client() {
        return client;
    }

    /** True once the job has ended (by {@code succeed}, {@code fail}, {@code cancel}, {@code close}). */
    public boolean isFinished() {
        return state.finished.get();
    }

    /** A {@code progress} event, 0..100. */
    public boolean progress(double percent) {
        return progress(percent, null);
    }

    /** A {@code progress} event, 0..100, with a message (null: none). */
    public boolean progress(double percent, String message) {
        checkOpen();
        try {
            return Native.jobProgress(handle, percent, message) == Native.QUEUED;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A {@code metric} event {@code {name: value}}; the last value of each metric is also in the final event. */
    public boolean metric(String name, double value) {
        Objects.requireNonNull(name, "name");
        checkOpen();
        try {
            return Native.jobMetric(handle, name, value) == Native.QUEUED;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Adds {@code key: value} to the metadata of every later event of this job (emits nothing).
     * The value is any JSON-writable value (String, Number, Boolean, null, Map, List, ...).
     *
     * @return this job
     */
    public Job metadata(String key, Object value) {
        Objects.requireNonNull(key, "key");
        checkOpen();
        byte[] json = Client.json(value, "event.metadata." + key);
        try {
            Native.jobMetadata(handle, key, json, json.length);
        } finally {
            Reference.reachabilityFence(this);
        }
        return this;
    }

    /** Ends the job as {@code succeeded} (a {@code finished} event). */
    public boolean succeed() {
        return finish("succeeded", null);
    }

    /** Ends the job as {@code succeeded} with a message. */
    public boolean succeed(String message) {
        return finish("succeeded", message);
    }

    /** Ends the job as {@code failed} (an {@code error} event) with a message (null: none). */
    public boolean fail(String message) {
        return finish("failed", message);
    }

    /**
     * Ends the job as {@code failed} with the exception's message (its class name when it has
     * none) and {@code metadata.error_type} = its class name.
     */
    public boolean fail(Throwable error) {
        Objects.requireNonNull(error, "error");
        checkOpen();
        metadata("error_type", error.getClass().getName());
        return finish("failed", messageOf(error));
    }

    /** Ends the job as {@code canceled}. */
    public boolean cancel() {
        return finish("canceled", null);
    }

    /** Ends the job as {@code canceled} with a message. */
    public boolean cancel(String message) {
        return finish("canceled", message);
    }

    /**
     * Ends the job with {@code status}: {@code "succeeded"}, {@code "failed"} or
     * {@code "canceled"}. Any other status throws {@link InvalidEventException}, emits nothing and
     * still ends the job (as the C ABI does).
     */
    public boolean finish(String status, String message) {
        Objects.requireNonNull(status, "status");
        if (!state.finished.compareAndSet(false, true)) {
            throw new IllegalStateException("job " + name + " (" + id + ") is already finished");
        }
        try {
            return Native.jobFinish(handle, status, message) == Native.QUEUED;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Ends a job that was not ended explicitly as failed with {@link #CLOSED_WITHOUT_OUTCOME} (see
     * the class documentation); does nothing to an ended job. Never throws.
     */
    @Override
    public void close() {
        endQuietly("failed", CLOSED_WITHOUT_OUTCOME);
    }

    @Override
    public String toString() {
        return "monitoring.Job(" + name + ", " + id + (isFinished() ? ", finished)" : ", running)");
    }

    // ---- internals ----

    /** Ends an open job with the outcome of {@code t} (used by {@link Client#call}); never throws. */
    void endFor(Throwable t) {
        if (isFinished()) {
            return;
        }
        boolean interrupted = t instanceof InterruptedException;
        try {
            metadata("error_type", t.getClass().getName());
        } catch (RuntimeException e) {
            // the job's client is shut down: the finish below fails quietly as well
        }
        endQuietly(interrupted ? "canceled" : "failed", messageOf(t));
    }

    /** Ends an open job; errors (client shut down, event too large) are swallowed. */
    void endQuietly(String status, String message) {
        if (isFinished()) {
            return;
        }
        try {
            finish(status, message);
        } catch (RuntimeException e) {
            // monitoring never masks the application's own outcome
        }
    }

    static String messageOf(Throwable t) {
        String m = t.getMessage();
        if (m == null || m.isEmpty()) {
            m = t.getClass().getName();
        }
        if (m.length() > MAX_MESSAGE) {
            int end = MAX_MESSAGE - 3;
            if (Character.isHighSurrogate(m.charAt(end - 1))) {
                end--;
            }
            m = m.substring(0, end) + "...";
        }
        return m;
    }

    private void checkOpen() {
        if (state.finished.get()) {
            throw new IllegalStateException("job " + name + " (" + id + ") is already finished");
        }
    }

    /** The native handle, for the cleaner (refers to nothing else). */
    private static final class State implements Runnable {
        final AtomicBoolean finished = new AtomicBoolean();
        private final long handle;

        State(long handle) {
            this.handle = handle;
        }

        @Override
        public void run() {
            if (finished.compareAndSet(false, true)) {
                try {
                    Native.jobFinish(handle, "canceled", COLLECTED_WHILE_OPEN);
                } catch (RuntimeException e) {
                    // shut down: nothing to report to
                }
            }
            Native.jobFree(handle);
        }
    }
}
