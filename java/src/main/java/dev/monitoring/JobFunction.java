package dev.monitoring;

/**
 * The body of {@link Client#call}: a job's work that returns a value.
 *
 * @param <T> the result
 * @param <E> what the body may throw
 */
@FunctionalInterface
public interface JobFunction<T, E extends Exception> {
    T apply(Job job) throws E;
}
