package dev.monitoring;

/**
 * An event or argument the engine rejected: an unknown field, kind or status, a progress outside
 * 0..100, a metric that is not a finite number, an unparseable {@code at}, text that is not one
 * JSON object, invalid UTF-8, an event over {@code limits.max_event_bytes}, a value the Java
 * serializer cannot write (a {@code NaN}, an unsupported type). Nothing was queued.
 *
 * <p>The message is the engine's and names the field ({@code invalid event: event.colour: unknown
 * field `colour`, ...}); {@link #field()} gives the field path alone when known.
 */
public class InvalidEventException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String field;

    public InvalidEventException(String message, String field) {
        super(message);
        this.field = field;
    }

    /** The JSON path of the offending field ({@code event.metrics.temp}), or {@code null}. */
    public String field() {
        return field;
    }

    /** Always {@link StatusCode#INVALID_ARGUMENT}. */
    public StatusCode status() {
        return StatusCode.INVALID_ARGUMENT;
    }
}
