package dev.monitoring;

/**
 * The body of {@link Client#run}: the work a job does. It may throw; the job then ends as
 * {@code failed} and the exception propagates.
 *
 * @param <E> what the body may throw (inferred; a body that throws no checked exception makes
 *     {@code run} throw none)
 */
@FunctionalInterface
public interface JobBody<E extends Exception> {
    void run(Job job) throws E;
}
