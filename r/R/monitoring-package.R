#' monitoring: report what your jobs do, without slowing them down
#'
#' The R interface of the monitoring SDK. One Rust engine, shared with the C, Python, Java and
#' Perl interfaces, validates each event on the calling thread, queues it without waiting on
#' I/O, and delivers it in background threads to the configured backends (JSON-lines files, HTTP
#' endpoints, the local `monitoring-sidecar` agent), with batching, retries with backoff, a
#' circuit breaker and a dead-letter file.
#'
#' * [monitoring_configure()] makes a client; [monitoring_flush()], [monitoring_shutdown()] and
#'   [monitoring_stats()] manage it.
#' * [monitoring_emit()] emits any event of schema v1.
#' * [with_job()] runs an expression as a job; [job_start()], [job_progress()],
#'   [job_metric()], [job_metadata()] and [job_finish()] report one step by step.
#' * Errors are conditions of class [monitoring_error].
#'
#' See `vignette("monitoring")` for a worked example.
#'
#' @keywords internal
#' @useDynLib monitoring, .registration = TRUE
"_PACKAGE"
