#' Configure a monitoring client
#'
#' Creates a client: the engine's queue and delivery threads, configured from (highest
#' precedence first) the explicit overrides in `...`, the `MONITORING_*` environment variables,
#' the configuration `config` names, and the defaults. With no configuration at all the client
#' works: direct mode, one filesystem backend writing JSON lines under `./monitoring-events`.
#'
#' @param config `NULL` (read the file named by the `MONITORING_CONFIG` environment variable, if
#'   set), the path of a `.yaml`, `.yml` or `.json` file, inline YAML or JSON text (text that
#'   starts with an opening brace or contains a newline), or a named list of configuration keys.
#' @param ... Explicit overrides, the highest precedence. `app_name`, `app_version`, `site_id`,
#'   `instance_id`, `sidecar_url` and `sidecar_token` set `app.name`, `app.version`,
#'   `app.site_id`, `app.instance_id`, `sidecar.url` and `sidecar.token` (as the
#'   `MONITORING_*` variables do). Any other name is a top-level key (`mode = "sidecar"`,
#'   `queue = list(capacity = 1024)`, `direct_backends = list(list(type = "filesystem", ...))`);
#'   a double underscore goes one level down (`queue__on_full = "block"` is
#'   `queue: {on_full: block}`). Lists are merged key by key into what the file and environment
#'   give; anything else replaces. `NULL` values are ignored.
#' @return A `monitoring_client`. It is shut down (its events flushed, within
#'   `getOption("monitoring.exit_timeout", 5)` seconds) at the end of the R session, or in the
#'   background if it is garbage-collected; call [monitoring_shutdown()] to do it yourself.
#' @section Configuration: The keys are those of the engine (see the package vignette and the
#'   project's README): `mode` (`direct` or `sidecar`), `app` (`name`, `version`, `site_id`,
#'   `instance_id`), `sidecar` (`url`, `timeout_ms`, `token`), `direct_backends` (a list of
#'   backends: `filesystem`, `webhook`, `sidecar`), `delivery`, `queue`, `retry`,
#'   `circuit_breaker`, `spool`, `limits`. Unknown keys are errors naming their path.
#' @section Forked processes: The package registers the engine's fork handlers, so a child made
#'   by `parallel::mclapply()` or `parallel::mcparallel()` gets its own delivery threads and its
#'   own output files. Such children end without running R's exit code, so call
#'   [monitoring_flush()] in the child before it returns if it emitted events.
#' @seealso [monitoring_emit()], [with_job()], [monitoring_error] for the errors.
#' @export
#' @examples
#' dir <- tempfile("events")
#' client <- monitoring_configure(
#'   app_name = "wafer-etch", app_version = "1.4.2", site_id = "fab1",
#'   direct_backends = list(list(type = "filesystem", name = "local", path = dir))
#' )
#' client
#' monitoring_shutdown(client)
#'
#' # The same, as inline YAML:
#' client <- monitoring_configure(paste0(
#'   "app: {name: wafer-etch, version: '1.4.2', site_id: fab1}\n",
#'   "direct_backends:\n",
#'   "  - {type: filesystem, name: local, path: '", dir, "'}\n"
#' ))
#' monitoring_shutdown(client)
monitoring_configure <- function(config = NULL, ...) {
  call <- sys.call()
  if (is.list(config)) {
    config <- check(rs_to_json(config), call)
  } else if (!is.null(config) && !(is.character(config) && length(config) == 1L && !is.na(config))) {
    fail(list(status = "invalid_argument",
              message = "invalid argument: `config` must be NULL, a path, YAML/JSON text or a named list"), call)
  }
  overrides <- config_overrides(list(...), call)
  check(rs_configure(config, overrides), call)
}

# Shortcut names of monitoring_configure()'s `...`, as the environment variables have them.
override_shortcuts <- list(
  app_name = c("app", "name"),
  app_version = c("app", "version"),
  site_id = c("app", "site_id"),
  instance_id = c("app", "instance_id"),
  sidecar_url = c("sidecar", "url"),
  sidecar_token = c("sidecar", "token")
)

# The overrides in `...` as a JSON object (text), or NULL when there are none.
config_overrides <- function(dots, call) {
  dots <- dots[!vapply(dots, is.null, logical(1))]
  if (!length(dots)) return(NULL)
  keys <- names(dots)
  if (is.null(keys) || any(is.na(keys) | keys == "")) {
    fail(list(status = "invalid_argument",
              message = "invalid argument: every configuration override in `...` needs a name (e.g. app_name = \"etch\")"),
         call)
  }
  doc <- list()
  for (i in seq_along(dots)) {
    key <- keys[[i]]
    path <- override_shortcuts[[key]]
    if (is.null(path)) path <- strsplit(key, "__", fixed = TRUE)[[1L]]
    doc <- set_path(doc, path, dots[[i]])
  }
  check(rs_to_json(doc), call)
}

# doc with `value` at `path` (a character vector of keys), lists merged key by key.
set_path <- function(doc, path, value) {
  key <- path[[1L]]
  if (length(path) == 1L) {
    old <- doc[[key]]
    doc[[key]] <- if (is.list(old) && is.list(value) && !is.null(names(value))) merge_lists(old, value) else value
    return(doc)
  }
  inner <- doc[[key]]
  if (!is.list(inner)) inner <- list()
  doc[[key]] <- set_path(inner, path[-1L], value)
  doc
}

merge_lists <- function(base, top) {
  for (k in names(top)) {
    base <- set_path(base, k, top[[k]])
  }
  base
}

#' Emit one event
#'
#' Validates an event (schema v1) on the calling thread and queues it for delivery; never waits
#' on I/O. The engine fills in what is missing: `idempotency_key` (a UUIDv7), `event.at` (now,
#' UTC), `site_id` and `app` (from the configuration), `entity` (the application instance).
#'
#' @param client A client from [monitoring_configure()].
#' @param event The event: a named list (written as JSON by the package, see Details), JSON text
#'   (a string), or a raw vector of JSON bytes.
#' @details A list is written as JSON the way `jsonlite::toJSON(event, auto_unbox = TRUE,
#'   digits = NA, null = "null")` would, with these differences: doubles are written with as
#'   many digits as it takes to read back the same number; `NaN` and `Inf` are errors naming
#'   the field (JSON has no literal for them), `NA` is `null`; an empty `list()` is `{}` (use
#'   `I(list())` for `[]`); `POSIXct` times are written in the engine's UTC format
#'   (`"2026-11-22T10:00:00.123456Z"`), `Date`s as `"2026-11-22"`, factors as their labels.
#'   Length-one vectors are scalars; wrap one in [I()] to keep it an array.
#' @return `TRUE` (invisibly) when the event was queued; `FALSE` when the queue was full and the
#'   event was dropped (and counted in `monitoring_stats(client)$dropped`) under
#'   `queue.on_full: drop`. An invalid event is an error of class `monitoring_invalid_argument`
#'   naming the field, and nothing is queued; after [monitoring_shutdown()] the error is
#'   `monitoring_shutdown`.
#' @seealso [monitoring_error] for the errors; [job_start()] and [with_job()] for jobs.
#' @export
#' @examples
#' client <- monitoring_configure(direct_backends = list(
#'   list(type = "filesystem", name = "local", path = tempfile("events"))
#' ))
#' monitoring_emit(client, list(
#'   entity = list(type = "tool", id = "ETCH-07"),
#'   event = list(kind = "metric", metrics = list(temp_c = 21.5, pressure_pa = 101325))
#' ))
#' monitoring_emit(client, '{"event": {"kind": "log", "message": "chamber cleaned"}}')
#' monitoring_shutdown(client)
monitoring_emit <- function(client, event) {
  res <- .Call(wrap__rs_emit, client, event)
  if (is.logical(res)) return(invisible(res))
  fail(res, sys.call())
}

#' Wait until the events emitted so far are delivered
#'
#' Returns once every event emitted before the call has been delivered by every backend, or
#' given up on and written to the dead-letter file.
#'
#' @param client A client from [monitoring_configure()].
#' @param timeout The longest wait, in seconds (`Inf`: no limit).
#' @return `TRUE`, invisibly. At the deadline, an error of class `monitoring_timeout` (the
#'   events keep being delivered in the background).
#' @export
#' @examples
#' client <- monitoring_configure(direct_backends = list(
#'   list(type = "filesystem", name = "local", path = tempfile("events"))
#' ))
#' monitoring_emit(client, list(event = list(kind = "heartbeat")))
#' monitoring_flush(client, timeout = 5)
#' monitoring_shutdown(client)
monitoring_flush <- function(client, timeout = 5) {
  invisible(check(rs_flush(client, timeout)))
}

#' Shut a client down
#'
#' Stops accepting events, flushes what is queued (within `timeout`), and stops the client's
#' threads. Idempotent: later calls return the first call's result at once. Afterwards every
#' other call on the client, or on its jobs, is an error of class `monitoring_shutdown`.
#'
#' @inheritParams monitoring_flush
#' @return `TRUE`, invisibly. If the deadline came before everything was delivered, an error of
#'   class `monitoring_timeout`.
#' @export
#' @examples
#' client <- monitoring_configure(direct_backends = list(
#'   list(type = "filesystem", name = "local", path = tempfile("events"))
#' ))
#' monitoring_shutdown(client)
#' monitoring_shutdown(client) # again: nothing to do
monitoring_shutdown <- function(client, timeout = 5) {
  invisible(check(rs_shutdown(client, timeout)))
}

#' The client's counters
#'
#' @param client A client from [monitoring_configure()].
#' @return A named list of numbers: `emitted` (valid events accepted), `dropped` (at a full
#'   queue), `delivered`, `failed` (given up on, in the dead-letter file), `retried`, `spooled`,
#'   `queue_depth`, `invalid` (rejected by validation), `unrouted` (taken by no backend's
#'   filter), and `backends`, a list with one entry per backend: `type`, `delivered`, `failed`,
#'   `retried`, `spooled`, `dropped`, `dead_lettered` and `breaker` (`"closed"`, `"open"` or
#'   `"half_open"`). Once flushed, `emitted = delivered + failed + dropped + unrouted`.
#' @export
#' @examples
#' client <- monitoring_configure(direct_backends = list(
#'   list(type = "filesystem", name = "local", path = tempfile("events"))
#' ))
#' monitoring_emit(client, list(event = list(kind = "heartbeat")))
#' monitoring_flush(client)
#' str(monitoring_stats(client))
#' monitoring_shutdown(client)
monitoring_stats <- function(client) {
  check(rs_stats(client))
}

#' The engine's version
#'
#' @return The version of the Rust engine the package is built on, a string such as `"0.1.0"`.
#' @export
#' @examples
#' monitoring_version()
monitoring_version <- function() {
  rs_version()
}

#' @export
format.monitoring_client <- function(x, ...) {
  info <- rs_client_info(x)
  if (inherits(info, "monitoring_failure")) return(paste0("<monitoring_client: ", info$message, ">"))
  state <- if (isTRUE(info$shut_down)) "shut down" else "running"
  to <- if (info$mode == "sidecar") {
    paste("agent", info$sidecar_url)
  } else {
    paste0("backends ", paste(info$backends, collapse = ", "))
  }
  sprintf("<monitoring_client: %s mode, %s, on_full = %s, %s>", info$mode, to, info$on_full, state)
}

#' @export
print.monitoring_client <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  invisible(x)
}
