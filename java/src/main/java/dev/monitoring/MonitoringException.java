package dev.monitoring;

/**
 * A failure of the monitoring library other than a bad event: an invalid configuration
 * ({@link StatusCode#CONFIG}, the message names the key path), a flush or shutdown deadline
 * ({@link StatusCode#TIMEOUT}), a call after shutdown ({@link StatusCode#SHUTDOWN}), an I/O error,
 * or an internal error. Unchecked. The message is the engine's, unchanged.
 *
 * <p>A bad event or argument is an {@link InvalidEventException} (an
 * {@link IllegalArgumentException}) instead, and a full queue is not an exception at all:
 * {@code emit} returns {@code false}.
 */
public class MonitoringException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final StatusCode status;
    private final String field;

    public MonitoringException(StatusCode status, String message) {
        this(status, message, null, null);
    }

    public MonitoringException(StatusCode status, String message, String field, Throwable cause) {
        super(message, cause);
        this.status = status == null ? StatusCode.INTERNAL : status;
        this.field = field;
    }

    /** Why the call failed. */
    public StatusCode status() {
        return status;
    }

    /**
     * The configuration key path the error is about ({@code direct_backends[1].bukcet}), or
     * {@code null}.
     */
    public String field() {
        return field;
    }
}
