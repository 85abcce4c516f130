#' Errors raised by the monitoring package
#'
#' Every error the engine reports is signalled with [stop()] as a condition of class
#' `monitoring_error` (and `error`, `condition`), with a more specific first class naming the
#' engine's status: `monitoring_invalid_argument`, `monitoring_config`, `monitoring_queue_full`,
#' `monitoring_timeout`, `monitoring_shutdown`, `monitoring_io` or `monitoring_internal`. These
#' are the status names of the C library's `monitoring_status` values, the same in every
#' language.
#'
#' The condition's message is the engine's message, unchanged, and names the offending field or
#' configuration key when there is one (`invalid event: event.colour: unknown field ...`,
#' `configuration error at direct_backends[1].bukcet: unknown field ...`). Besides `message` and
#' `call`, the condition carries:
#'
#' * `status`: the status name (`"invalid_argument"`, ...);
#' * `field`: the JSON path of the offending field (`"event.kind"`) or the configuration key
#'   (`"direct_backends[1].bukcet"`), or `NULL` when the engine named none.
#'
#' An event dropped because the queue is full is not an error: [monitoring_emit()] and the job
#' functions return `FALSE` for it (the drop is counted in [monitoring_stats()]). Only
#' [job_start()] signals `monitoring_queue_full`, since it cannot return a job.
#'
#' @name monitoring_error
#' @aliases monitoring_error
#' @examples
#' client <- monitoring_configure(direct_backends = list(
#'   list(type = "filesystem", name = "local", path = tempfile("events"))
#' ))
#' result <- tryCatch(
#'   monitoring_emit(client, list(event = list(kind = "metric", colour = "red"))),
#'   monitoring_invalid_argument = function(e) e
#' )
#' conditionMessage(result)
#' result$field
#' monitoring_shutdown(client)
NULL

# The condition for a `monitoring_failure` returned by the Rust library.
monitoring_condition <- function(failure, call = NULL) {
  structure(
    class = c(paste0("monitoring_", failure$status), "monitoring_error", "error", "condition"),
    list(message = failure$message, call = call, status = failure$status, field = failure$field)
  )
}

# Signals the failure as an error attributed to `call` (the user's call of the API function).
fail <- function(failure, call) {
  if (!is.list(failure) || !is.character(failure$status) || !is.character(failure$message)) {
    failure <- list(status = "internal", message = "internal error: unexpected result from the engine", field = NULL)
  }
  stop(monitoring_condition(failure, call))
}

# The result of a .Call, or the failure signalled from the caller's frame.
check <- function(result, call = sys.call(-1L)) {
  if (inherits(result, "monitoring_failure")) fail(result, call)
  result
}

# The same condition as a warning (with_job(): monitoring must not turn a finished computation
# into an error).
monitoring_warning <- function(error) {
  structure(
    class = c(paste0("monitoring_", error$status, "_warning"), "monitoring_warning", "warning", "condition"),
    list(message = conditionMessage(error), call = conditionCall(error), status = error$status, field = error$field)
  )
}
