#!/usr/bin/env Rscript
# Conformance driver for the R package (`library(monitoring)`).
#
#     Rscript driver.R SCENARIO.json OUT_DIR RESULTS.jsonl
#
# Replays a scenario's steps through the package's public API and records one JSON line per call.
# It judges nothing: tests/conformance/check.py does. See ../README.md. `event` steps are passed as
# named lists (so the package's own list-to-JSON conversion is tested), `event_json` as a string,
# `event_hex` as a raw vector. Errors are `monitoring_error` conditions whose `status` is the
# status name; emit and the job calls return FALSE for an event dropped at a full queue.
#
# The package is loaded from R_LIBS / the default library; run.sh installs it into a temporary
# library first. jsonlite (Debian: r-cran-jsonlite) reads the scenario and writes the results.

suppressPackageStartupMessages({
  library(monitoring)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 3L) {
  message("usage: driver.R SCENARIO.json OUT_DIR RESULTS.jsonl")
  quit(status = 2L)
}
scenario_path <- args[[1L]]
out_dir <- args[[2L]]
results_path <- args[[3L]]

scenario <- fromJSON(scenario_path, simplifyVector = FALSE)

# JSON as R values the way the package maps them back: objects are named lists (`{}` is a named
# empty list), arrays unnamed lists; an empty array must be I(list()), since the package writes
# a bare empty list() as {}.
as_event <- function(x) {
  if (!is.list(x)) return(x)
  if (is.null(names(x))) {
    if (!length(x)) return(I(list()))
    return(lapply(x, as_event))
  }
  out <- lapply(x, as_event)
  names(out) <- names(x)
  out
}

numbers <- c("NaN" = NaN, "Infinity" = Inf, "-Infinity" = -Inf)
num <- function(v) if (is.character(v)) numbers[[v]] else v

hex_to_raw <- function(hex) {
  if (!nzchar(hex)) return(raw(0))
  starts <- seq(1L, nchar(hex), by = 2L)
  as.raw(strtoi(substring(hex, starts, starts + 1L), 16L))
}

dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
if (length(list.files(out_dir, all.files = TRUE, no.. = TRUE))) {
  message("driver: OUT_DIR is not empty: ", out_dir)
  quit(status = 2L)
}
results <- file(results_path, open = "wb")

record <- function(step, op, status, error = "", value = NULL) {
  line <- list(step = step, op = op, status = status, error = error)
  if (!is.null(value)) line$value <- value
  text <- toJSON(line, auto_unbox = TRUE, digits = NA, null = "null")
  writeBin(c(charToRaw(enc2utf8(as.character(text))), as.raw(10L)), results)
  flush(results)
}

# Runs fn(); records ok (with value(result) when given), queue_full for a FALSE result, the
# status a monitoring_error carries, or driver_error for anything else.
call_api <- function(step, op, fn, value = NULL) {
  result <- tryCatch(fn(), monitoring_error = function(e) e, error = function(e) e)
  if (inherits(result, "monitoring_error")) {
    record(step, op, result$status, conditionMessage(result))
    return(NULL)
  }
  if (inherits(result, "error")) {
    record(step, op, "driver_error", paste("R error:", conditionMessage(result)))
    return(NULL)
  }
  if (isFALSE(result)) {
    record(step, op, "queue_full", "queue full: event dropped")
  } else if (!is.null(value)) {
    record(step, op, "ok", "", value(result))
  } else {
    record(step, op, "ok", "")
  }
  result
}

# The config object as compact JSON text (inline JSON: it starts with '{'), ${OUT_DIR} replaced.
config_text <- as.character(toJSON(scenario[["config"]], auto_unbox = TRUE, digits = NA, null = "null"))
config_text <- gsub("${OUT_DIR}", out_dir, config_text, fixed = TRUE)
client <- call_api("configure", "configure", function() monitoring_configure(config_text))
if (is.null(client)) {
  close(results)
  quit(status = 0L)
}

jobs <- list()
abandoned <- list() # finished or left-open jobs stay referenced: no garbage-collection `canceled`

# [[ ]] everywhere: `$` matches names partially (`step$parent` would find `parent_id`).
steps <- scenario[["steps"]]
for (i in seq_along(steps)) {
  step <- steps[[i]]
  index <- i - 1L
  op <- if (is.null(step[["op"]])) "?" else step[["op"]]
  timeout <- (if (is.null(step[["timeout_ms"]])) 5000 else step[["timeout_ms"]]) / 1000
  if (op == "emit") {
    event <- if (!is.null(step[["event"]])) {
      as_event(step[["event"]])
    } else if (!is.null(step[["event_hex"]])) {
      hex_to_raw(step[["event_hex"]])
    } else {
      step[["event_json"]]
    }
    call_api(index, op, function() monitoring_emit(client, event))
  } else if (op == "flush") {
    call_api(index, op, function() monitoring_flush(client, timeout = timeout))
  } else if (op == "shutdown") {
    call_api(index, op, function() monitoring_shutdown(client, timeout = timeout))
  } else if (op == "stats") {
    call_api(index, op, function() monitoring_stats(client), value = identity)
  } else if (op == "sleep") {
    Sys.sleep(step[["ms"]] / 1000)
    record(index, op, "ok")
  } else if (op == "job_start") {
    label <- step[["job"]]
    parent_id <- step[["parent_id"]]
    if (!is.null(step[["parent"]])) {
      parent <- jobs[[step[["parent"]]]]
      if (is.null(parent)) {
        record(index, op, "driver_error", "unknown parent job")
        next
      }
      parent_id <- job_id(parent)
    }
    if (!is.null(jobs[[label]])) {
      record(index, op, "driver_error", "job label already open")
      next
    }
    job <- call_api(index, op, function() {
      job_start(client, step[["name"]], entity_type = step[["entity_type"]], parent_id = parent_id)
    }, value = job_id)
    if (!is.null(job)) jobs[[label]] <- job
  } else {
    label <- step[["job"]]
    job <- if (is.null(label)) NULL else jobs[[label]]
    if (is.null(job)) {
      record(index, op, "driver_error", "unknown job label (start failed?)")
      next
    }
    if (op == "job_progress") {
      call_api(index, op, function() job_progress(job, num(step[["percent"]]), step[["message"]]))
    } else if (op == "job_metric") {
      call_api(index, op, function() job_metric(job, step[["name"]], num(step[["value"]])))
    } else if (op == "job_metadata") {
      call_api(index, op, function() job_metadata(job, step[["key"]], step[["value"]]))
    } else if (op == "job_finish") {
      # Forget the label whatever the result, as the C driver does; keep the object referenced.
      abandoned[[length(abandoned) + 1L]] <- job
      jobs[[label]] <- NULL
      call_api(index, op, function() job_finish(job, step[["status"]], step[["message"]]))
    } else {
      record(index, op, "driver_error", "unknown op")
    }
  }
}

call_api("final_flush", "flush", function() monitoring_flush(client, timeout = 10))
call_api("final_shutdown", "shutdown", function() monitoring_shutdown(client, timeout = 10))
close(results)
invisible(abandoned)
