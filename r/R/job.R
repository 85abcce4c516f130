#' Start a job
#'
#' Emits the job's `started` event (status `running`) and returns the job, whose progress,
#' metrics and end you then report with [job_progress()], [job_metric()], [job_metadata()] and
#' [job_finish()]. [with_job()] does the starting and finishing for you around an expression.
#'
#' Every event of a job has `entity = {type: entity_type, id: the job's id, parent_id,
#' business_key, sub_key}` and carries `metadata.job_name` plus all metadata added so far.
#'
#' @param client A client from [monitoring_configure()].
#' @param name The job's name (`metadata.job_name` of its events).
#' @param entity_type `entity.type` of the job's events; `NULL` is `"job"`.
#' @param parent_id The parent job: a `monitoring_job` or a job id. When not given, the job of
#'   the innermost enclosing [with_job()] of the same client, if any; `NULL` for none.
#' @param business_key,sub_key `entity.business_key` and `entity.sub_key` (e.g. a lot and a
#'   wafer number), or `NULL`.
#' @return A `monitoring_job`. A job that is garbage-collected while still open is finished as
#'   `canceled`. If the queue is full, the `started` event cannot be queued and no job is
#'   started: an error of class `monitoring_queue_full`.
#' @seealso [with_job()], [job_finish()].
#' @export
#' @examples
#' client <- monitoring_configure(direct_backends = list(
#'   list(type = "filesystem", name = "local", path = tempfile("events"))
#' ))
#' job <- job_start(client, "etch", entity_type = "lot", business_key = "LOT-42")
#' job_metadata(job, "tool", "ETCH-07")
#' job_progress(job, 50, "half way")
#' job_metric(job, "wafers", 25)
#' job_finish(job, "succeeded")
#' monitoring_shutdown(client)
job_start <- function(client, name, entity_type = NULL, parent_id, business_key = NULL, sub_key = NULL) {
  parent_id <- if (missing(parent_id)) enclosing_job_id(client) else parent_arg(parent_id)
  check(rs_job_start(client, name, entity_type, parent_id, business_key, sub_key))
}

parent_arg <- function(parent_id) {
  if (inherits(parent_id, "monitoring_job")) job_id(parent_id) else parent_id
}

#' Report a job's progress
#'
#' Emits a `progress` event (status `running`) with `event.progress = percent`.
#'
#' @param job A job from [job_start()] (or [current_job()] inside [with_job()]).
#' @param percent A number from 0 to 100.
#' @param message An optional message (`event.message`), or `NULL`.
#' @return `TRUE` (invisibly) when queued, `FALSE` when dropped at a full queue. A percent
#'   outside 0..100 is an error of class `monitoring_invalid_argument` naming `event.progress`;
#'   so is a call on a finished job.
#' @export
#' @inherit job_start examples
job_progress <- function(job, percent, message = NULL) {
  invisible(check(rs_job_progress(job, percent, message)))
}

#' Report a job's metric
#'
#' Emits a `metric` event (status `running`) with `event.metrics = {name: value}`. The last value
#' of each metric is also in the job's final event, beside the metrics the engine measures.
#'
#' @inheritParams job_progress
#' @param name The metric's name.
#' @param value A finite number (`NA`, `NaN` and infinities are errors of class
#'   `monitoring_invalid_argument` naming `event.metrics.<name>`).
#' @return `TRUE` (invisibly) when queued, `FALSE` when dropped at a full queue.
#' @export
#' @inherit job_start examples
job_metric <- function(job, name, value) {
  invisible(check(rs_job_metric(job, name, value)))
}

#' Add metadata to a job's events
#'
#' Adds `key: value` to `event.metadata` of every later event of the job (the final one
#' included). Emits nothing itself.
#'
#' @inheritParams job_progress
#' @param key The metadata key.
#' @param value Any value [monitoring_emit()] can write as JSON: a string, number, logical,
#'   `NULL`, or a list.
#' @return `TRUE`, invisibly.
#' @export
#' @inherit job_start examples
job_metadata <- function(job, key, value) {
  invisible(check(rs_job_metadata(job, key, value)))
}

#' Finish a job
#'
#' Emits the job's final event: status `succeeded` emits kind `finished`, `failed` emits kind
#' `error`, `canceled` emits kind `canceled`. Its metrics are the last value of each metric the
#' job reported, plus `duration_s`, `cpu_user_s`, `cpu_system_s` (the process's CPU time during
#' the job) and `mem_max_mb` (the process's peak memory), measured by the engine the same way in
#' every language.
#'
#' @inheritParams job_progress
#' @param status `"succeeded"`, `"failed"` or `"canceled"`.
#' @param message An optional message (`event.message`), e.g. why the job failed; or `NULL`.
#' @return `TRUE` (invisibly) when queued, `FALSE` when dropped at a full queue. The job is
#'   finished either way. An unknown status is an error of class `monitoring_invalid_argument`
#'   that leaves the job open; finishing a finished job is an error too.
#' @export
#' @inherit job_start examples
job_finish <- function(job, status = "succeeded", message = NULL) {
  invisible(check(rs_job_finish(job, status, message, FALSE)))
}

#' A job's id
#'
#' @param job A job from [job_start()].
#' @return The job's id (a UUIDv7 string): the `entity.id` of its events, and the `parent_id` to
#'   give its children.
#' @export
#' @examples
#' client <- monitoring_configure(direct_backends = list(
#'   list(type = "filesystem", name = "local", path = tempfile("events"))
#' ))
#' lot <- job_start(client, "lot", entity_type = "lot")
#' wafer <- job_start(client, "wafer", parent_id = job_id(lot))
#' job_finish(wafer)
#' job_finish(lot)
#' monitoring_shutdown(client)
job_id <- function(job) {
  check(rs_job_id(job))
}

#' @export
format.monitoring_job <- function(x, ...) {
  info <- rs_job_info(x)
  if (inherits(info, "monitoring_failure")) return(paste0("<monitoring_job: ", info$message, ">"))
  sprintf("<monitoring_job %s (%s) %s, %s>", encodeString(info$name, quote = "\""), info$entity_type, info$id,
          if (isTRUE(info$finished)) "finished" else "running")
}

#' @export
print.monitoring_job <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  invisible(x)
}

# The with_job() blocks being evaluated, innermost last: list(job =, client =).
.jobs <- new.env(parent = emptyenv())
.jobs$stack <- list()

enclosing_job_id <- function(client) {
  stack <- .jobs$stack
  for (i in rev(seq_along(stack))) {
    if (identical(stack[[i]]$client, client)) return(job_id(stack[[i]]$job))
  }
  NULL
}

#' The job of the enclosing with_job() block
#'
#' @return The job of the innermost [with_job()] being evaluated, or `NULL` outside any.
#' @export
#' @inherit with_job examples
current_job <- function() {
  stack <- .jobs$stack
  if (length(stack)) stack[[length(stack)]]$job else NULL
}

#' Run an expression as a job
#'
#' Starts a job, evaluates `expr`, and finishes the job: as `succeeded` when `expr` completes,
#' or as `failed` (an event of kind `error`) with the condition's message when `expr` signals an
#' error. The error itself is not caught: it goes on to your handlers (or to the top level)
#' unchanged, the same condition object with the same call stack, so [traceback()],
#' `tryCatch()` and `withCallingHandlers()` see it exactly as without `with_job()`.
#'
#' Inside `expr`, [current_job()] is the job (for [job_progress()], [job_metric()] and
#' [job_metadata()]), and jobs started in it (with [job_start()] or a nested `with_job()`) have
#' it as their parent unless given another `parent_id`.
#'
#' @details The job is finished as `failed` when the error is signalled, before any handler
#'   unwinds the stack, so the `error` event is emitted even when the error ends an `Rscript`
#'   (which exits without unwinding). An interrupt (Ctrl-C) finishes it as `canceled` with the
#'   message `"interrupted"`. If `expr` is left in another way, without an error (`return()`
#'   from the enclosing function, `break`, or a non-error condition caught outside
#'   `with_job()`), the job is finished as `canceled`.
#'
#'   Monitoring never turns a successful computation into a failure: if finishing the job fails
#'   (for example because the client was shut down meanwhile), `with_job()` signals a warning of
#'   class `monitoring_warning` and still returns the value of `expr`.
#'
#' @inheritParams job_start
#' @param expr The expression to evaluate, in the calling environment.
#' @return The value of `expr` (invisible when `expr`'s value is).
#' @seealso [job_start()] to manage a job yourself.
#' @export
#' @examples
#' dir <- tempfile("events")
#' client <- monitoring_configure(direct_backends = list(
#'   list(type = "filesystem", name = "local", path = dir)
#' ))
#' wafers <- with_job(client, "etch", entity_type = "lot", {
#'   job_metadata(current_job(), "tool", "ETCH-07")
#'   job_progress(current_job(), 50, "half way")
#'   job_metric(current_job(), "wafers", 25)
#'   25
#' })
#' result <- try(with_job(client, "etch", {
#'   stop("chamber pressure out of range")
#' }), silent = TRUE)
#' monitoring_flush(client)
#' # Each line is one event: started, progress, metric, finished, started, error.
#' readLines(list.files(dir, full.names = TRUE)[1])
#' monitoring_shutdown(client)
with_job <- function(client, name, expr, entity_type = NULL, parent_id, business_key = NULL, sub_key = NULL) {
  call <- sys.call()
  parent_id <- if (missing(parent_id)) enclosing_job_id(client) else parent_arg(parent_id)
  job <- check(rs_job_start(client, name, entity_type, parent_id, business_key, sub_key), call)
  depth <- length(.jobs$stack) + 1L
  .jobs$stack[[depth]] <- list(job = job, client = client)
  completed <- FALSE
  on.exit({
    .jobs$stack <- .jobs$stack[seq_len(depth - 1L)]
    if (!completed) {
      finish_open_job(job, "canceled", paste(
        "with_job(): the expression did not complete (left by return(), break, a restart",
        "or a condition caught outside with_job())"
      ), warn = FALSE)
    }
  }, add = TRUE)
  result <- withVisible(withCallingHandlers(
    expr,
    # Calling handlers run where the condition is signalled, before anything unwinds: the
    # condition then continues on its way untouched.
    error = function(e) {
      message <- tryCatch(conditionMessage(e), error = function(x) "error (its message could not be read)")
      finish_open_job(job, "failed", message, warn = FALSE)
    },
    interrupt = function(i) finish_open_job(job, "canceled", "interrupted", warn = FALSE)
  ))
  completed <- TRUE
  finish_open_job(job, "succeeded", NULL, warn = TRUE)
  if (result$visible) result$value else invisible(result$value)
}

# Finishes `job` unless it is already finished; never signals an error (monitoring must not
# replace the user's condition or turn success into failure). With `warn`, a failure to finish
# becomes a `monitoring_warning`.
finish_open_job <- function(job, status, message, warn) {
  res <- rs_job_finish(job, status, message, TRUE)
  if (inherits(res, "monitoring_failure")) {
    if (warn) warning(monitoring_warning(monitoring_condition(res, sys.call(-1L))))
    return(invisible(FALSE))
  }
  invisible(res)
}
