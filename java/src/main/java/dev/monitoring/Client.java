package dev.monitoring;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A configured monitoring client: validates events on the caller's thread and queues them for the
 * engine's delivery threads. Create one with {@link Monitoring#configure(String)} and share it:
 * every method is thread-safe, and {@code emit} never blocks on I/O.
 *
 * <pre>{@code
 * try (Client client = Monitoring.configure("monitoring.yaml")) {
 *     client.emit(Map.of("event", Map.of("kind", "log", "message", "hello")));
 *     try (Job job = client.job("etch")) {
 *         job.progress(50, "half way");
 *         job.metric("wafers", 25);
 *         job.succeed();
 *     }
 * }
 * }</pre>
 *
 * <p><b>Results.</b> {@code emit} and the job calls return {@code true} when the event was queued
 * and {@code false} when it was dropped because the queue is full ({@code queue.on_full: drop};
 * counted in {@code stats().get("dropped")}): monitoring never stops the application for a full
 * queue. A bad event throws {@link InvalidEventException} (an {@link IllegalArgumentException})
 * whose message names the field; calls after {@link #shutdown} throw {@link MonitoringException}
 * with {@link StatusCode#SHUTDOWN}; a {@code null} where a value is required throws
 * {@link NullPointerException}.
 *
 * <p><b>Lifetime.</b> {@link #close()} shuts the client down (flushing for up to 5 seconds). A
 * client still open when the JVM exits is shut down by a shutdown hook (budget 5 s, set
 * {@code -Ddev.monitoring.shutdownTimeoutMs}; {@code -Ddev.monitoring.shutdownHook=false} turns it
 * off); one that becomes unreachable without being closed is shut down and freed by a cleaner
 * thread.
 */
public final class Client implements AutoCloseable {
    /** The flush budget of {@link #close()}, {@link #flush()} and {@link #shutdown()}. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);

    static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "monitoring-cleaner");
        t.setDaemon(true);
        return t;
    });

    private final State state;
    private final long handle;

    Client(long handle) {
        this.handle = handle;
        this.state = new State(handle);
        State.register(state);
        CLEANER.register(this, state);
    }

    // ---- events ----

    /**
     * Validates one event (schema v1, given as nested maps and lists) and queues it. The map is
     * written as JSON on this thread (see the package documentation for the value types). The
     * engine fills in what is absent: {@code idempotency_key}, {@code event.at}, {@code site_id},
     * {@code app}, {@code entity}.
     *
     * @return {@code true} if queued, {@code false} if dropped because the queue is full
     * @throws InvalidEventException if the event is invalid (the message names the field)
     * @throws MonitoringException {@link StatusCode#SHUTDOWN} after {@link #shutdown}
     */
    public boolean emit(Map<String, ?> event) {
        Objects.requireNonNull(event, "event");
        JsonWriter w = JsonWriter.acquire();
        try {
            JsonWriter.write(w, event, "");
            return Native.emitBytes(handle, w.buf, 0, w.len) == Native.QUEUED;
        } finally {
            w.release();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Validates one event given as JSON text (one object, schema v1) and queues it. The text is
     * passed to the engine as it is (as UTF-8).
     *
     * @return {@code true} if queued, {@code false} if dropped because the queue is full
     * @throws InvalidEventException if the event is invalid (the message names the field)
     * @throws MonitoringException {@link StatusCode#SHUTDOWN} after {@link #shutdown}
     */
    public boolean emit(String json) {
        Objects.requireNonNull(json, "json");
        try {
            int n = json.length();
            if (n <= ASCII_FAST_PATH_MAX) {
                // Plain ASCII (the usual JSON text) goes through String.getBytes, an intrinsic,
                // which is cheaper than reading the String from native code. It is plain ASCII
                // when every char gave one byte and the String is Latin-1: getBytes replaced
                // nothing (a lone surrogate would have become '?', and a String holding one is
                // never Latin-1, so the equals, which compares coders first, is false).
                byte[] utf8 = json.getBytes(StandardCharsets.UTF_8);
                if (utf8.length == n && new String(utf8, StandardCharsets.ISO_8859_1).equals(json)) {
                    return Native.emitBytes(handle, utf8, 0, n) == Native.QUEUED;
                }
            }
            // Anything else is read exactly by the native side (a lone surrogate is rejected).
            return Native.emitString(handle, json) == Native.QUEUED;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Longer strings skip the ASCII fast path: the native side refuses oversize ones uncopied. */
    private static final int ASCII_FAST_PATH_MAX = 256 * 1024;

    /**
     * As {@link #emit(String)}, for JSON text already encoded as UTF-8 (from a JSON library's
     * {@code writeValueAsBytes}, say). Bytes that are not UTF-8 are rejected.
     */
    public boolean emit(byte[] utf8Json) {
        Objects.requireNonNull(utf8Json, "utf8Json");
        return emit(utf8Json, 0, utf8Json.length);
    }

    /** As {@link #emit(byte[])}, for {@code length} bytes from {@code offset}. */
    public boolean emit(byte[] utf8Json, int offset, int length) {
        Objects.requireNonNull(utf8Json, "utf8Json");
        Objects.checkFromIndexSize(offset, length, utf8Json.length);
        try {
            return Native.emitBytes(handle, utf8Json, offset, length) == Native.QUEUED;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    // ---- jobs ----

    /**
     * Starts a job named {@code name} (entity type {@code job}): emits {@code started} and returns
     * the handle that reports its progress and end. Use it in try-with-resources and end it with
     * {@link Job#succeed()}, {@link Job#fail(String)} or {@link Job#cancel()}; see {@link Job} for
     * what {@code close()} does to a job that was not ended.
     */
    public Job job(String name) {
        return jobBuilder(name).start();
    }

    /** As {@link #job(String)}, with {@code entity.type} (null: {@code job}). */
    public Job job(String name, String entityType) {
        return jobBuilder(name).entityType(entityType).start();
    }

    /** As {@link #job(String)}, with {@code entity.type} and {@code entity.parent_id} (null: none). */
    public Job job(String name, String entityType, String parentId) {
        return jobBuilder(name).entityType(entityType).parentId(parentId).start();
    }

    /** A job with more identity: {@code client.jobBuilder("etch").businessKey("LOT-42").start()}. */
    public JobBuilder jobBuilder(String name) {
        return new JobBuilder(this, Objects.requireNonNull(name, "name"));
    }

    /**
     * Runs {@code body} as a job: {@code succeeded} when it returns, {@code failed} (kind
     * {@code error}) with the exception's message and {@code metadata.error_type} when it throws
     * (the exception is rethrown as it is), {@code canceled} for an {@link InterruptedException}.
     * A job the body ended itself is left as it is.
     */
    public <E extends Exception> void run(String name, JobBody<E> body) throws E {
        Objects.requireNonNull(body, "body");
        call(name, job -> {
            body.run(job);
            return null;
        });
    }

    /** As {@link #run}, for a body that returns a value. */
    public <T, E extends Exception> T call(String name, JobFunction<T, E> body) throws E {
        Objects.requireNonNull(body, "body");
        Job job = job(name);
        T result;
        try {
            result = body.apply(job);
        } catch (Throwable t) {
            job.endFor(t);
            throw t;
        }
        job.endQuietly("succeeded", null);
        return result;
    }

    // ---- flush, shutdown, stats ----

    /**
     * Waits until every event emitted before the call is delivered (or given up on and written to
     * the dead-letter file).
     *
     * @throws MonitoringException {@link StatusCode#TIMEOUT} at the deadline,
     *     {@link StatusCode#SHUTDOWN} after {@link #shutdown}
     */
    public void flush(Duration timeout) {
        long ms = millis(timeout);
        try {
            Native.flush(handle, ms);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** {@link #flush(Duration)} with {@link #DEFAULT_TIMEOUT}. */
    public void flush() {
        flush(DEFAULT_TIMEOUT);
    }

    /**
     * Stops accepting events, flushes within {@code timeout}, stops the engine's threads.
     * Idempotent: later calls return (or throw) the first call's result at once.
     *
     * @throws MonitoringException {@link StatusCode#TIMEOUT} if the deadline came first (events
     *     still held are written to the dead-letter file)
     */
    public void shutdown(Duration timeout) {
        long ms = millis(timeout);
        try {
            Native.shutdown(handle, ms);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** {@link #shutdown(Duration)} with {@link #DEFAULT_TIMEOUT}. */
    public void shutdown() {
        shutdown(DEFAULT_TIMEOUT);
    }

    /**
     * {@link #shutdown()}, without the timeout exception: a close that runs out of time leaves
     * the undelivered events in the dead-letter file (see {@code stats()}). Idempotent.
     */
    @Override
    public void close() {
        try {
            shutdown(DEFAULT_TIMEOUT);
        } catch (MonitoringException e) {
            if (e.status() != StatusCode.TIMEOUT) {
                throw e;
            }
        }
    }

    /** True once {@link #shutdown} or {@link #close} was called. */
    public boolean isShutDown() {
        try {
            return Native.isShutDown(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** {@code "direct"} or {@code "sidecar"}. */
    public String mode() {
        try {
            return Native.mode(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The counters, as an unmodifiable map (numbers are {@link Long}): {@code emitted},
     * {@code dropped}, {@code delivered}, {@code failed}, {@code retried}, {@code spooled},
     * {@code queue_depth}, {@code invalid}, {@code unrouted}, and {@code backends}: per backend
     * name a map of {@code type}, {@code delivered}, {@code failed}, {@code retried},
     * {@code spooled}, {@code dropped}, {@code dead_lettered} and {@code breaker}
     * ({@code closed}, {@code open}, {@code half_open}). Once flushed, {@code emitted = delivered
     * + failed + dropped + unrouted}.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> stats() {
        String text;
        try {
            text = Native.stats(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
        return (Map<String, Object>) JsonReader.parse(text);
    }

    @Override
    public String toString() {
        return "monitoring.Client(" + (isShutDown() ? "shut down" : "open") + ")";
    }

    // ---- internals ----

    long handle() {
        return handle;
    }

    static long millis(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("timeout must not be negative: " + timeout);
        }
        try {
            return timeout.toMillis();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE; // the native side caps it at 30 days
        }
    }

    static byte[] json(Object value, String what) {
        JsonWriter w = new JsonWriter();
        JsonWriter.write(w, value, what);
        return w.toByteArray();
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    /**
     * The native handle's owner for the cleaner and the shutdown hook (it must not refer to the
     * {@link Client}, or the client would never become unreachable).
     */
    static final class State implements Runnable {
        private static final Set<State> OPEN = ConcurrentHashMap.newKeySet();
        private static boolean hookInstalled;

        private final long handle;
        private boolean freed;

        State(long handle) {
            this.handle = handle;
        }

        static void register(State s) {
            OPEN.add(s);
            synchronized (State.class) {
                if (!hookInstalled && !"false".equals(System.getProperty("dev.monitoring.shutdownHook"))) {
                    hookInstalled = true;
                    Thread hook = new Thread(State::shutdownAll, "monitoring-shutdown");
                    try {
                        Runtime.getRuntime().addShutdownHook(hook);
                    } catch (IllegalStateException | SecurityException e) {
                        // the JVM is already shutting down, or hooks are not allowed: nothing to do
                    }
                }
            }
        }

        /** The shutdown hook: every open client shut down within one shared budget. */
        static void shutdownAll() {
            long budget = Long.getLong("dev.monitoring.shutdownTimeoutMs", DEFAULT_TIMEOUT.toMillis());
            long deadline = System.nanoTime() + budget * 1_000_000L;
            for (State s : OPEN.toArray(new State[0])) {
                long left = Math.max(0, (deadline - System.nanoTime()) / 1_000_000L);
                s.shutdownQuietly(left);
            }
        }

        synchronized void shutdownQuietly(long ms) {
            if (freed) {
                return;
            }
            try {
                Native.shutdown(handle, ms);
            } catch (RuntimeException e) {
                // timeout or shut down already: nothing more to do at exit
            }
        }

        /** The cleaner: the client is unreachable. Shut it down (briefly) and free it. */
        @Override
        public void run() {
            OPEN.remove(this);
            shutdownQuietly(2000);
            synchronized (this) {
                if (!freed) {
                    freed = true;
                    Native.clientFree(handle);
                }
            }
        }
    }
}
