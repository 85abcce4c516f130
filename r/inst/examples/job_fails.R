# job_fails.R - a job that fails, reported from R, and the events it produced.
#
# The same story as examples/c/job_demo.c: a lot (the parent job) with one etch step that fails
# on a chamber fault. with_job() turns the step into events:
#
#   start                   -> kind "started",  status "running"
#   job_progress()          -> kind "progress", status "running", with a percentage
#   job_metric()            -> kind "metric",   and the value is remembered for the end
#   job_metadata()          -> no event; the key/value is attached to every later event
#   an error inside         -> kind "error", status "failed", with the error's message, the
#                              remembered metrics plus duration_s, cpu_user_s, cpu_system_s,
#                              mem_max_mb; then the error goes on, unchanged, to the caller
#
# Run:   Rscript job_fails.R [DIR]      (events go to DIR, default ./monitoring-events)
#  or:   source(system.file("examples", "job_fails.R", package = "monitoring"))
# With no configuration the client writes JSON lines under ./monitoring-events; set
# MONITORING_CONFIG to a YAML/JSON file (or MONITORING_APP_NAME and friends) to change that.

library(monitoring)

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[[1]] else "monitoring-events"

# 1. One client per process. A directory given on the command line replaces the default one.
client <- if (length(args)) {
  monitoring_configure(direct_backends = list(list(type = "filesystem", name = "local", path = dir)))
} else {
  monitoring_configure()
}

# 2. The parent job: a lot. Metadata goes on every later event of the job.
lot <- job_start(client, "LOT-42", entity_type = "lot")
job_metadata(lot, "recipe", "ETCH-STD-7")
cat("lot  job id: ", job_id(lot), "\n", sep = "")

# 3. The step, run by with_job(): its parent is the lot, and an error inside fails it.
etch <- function() {
  step <- current_job()
  job_metadata(step, "tool", "ETCH-07")
  cat("step job id: ", job_id(step), "\n", sep = "")
  for (wafer in 1:4) {
    Sys.sleep(0.05) # ... etch one wafer ...
    job_progress(step, wafer * 100 / 8, sprintf("wafer %d of 8 etched", wafer))
  }
  job_metric(step, "wafers_etched", 4)
  job_metric(step, "chamber_pressure_mtorr", 812.5)
  # Invalid input is refused with a clear message, and nothing is sent:
  tryCatch(job_progress(step, 150, "too far"),
           monitoring_error = function(e) cat("rejected as expected: ", conditionMessage(e), "\n", sep = ""))
  stop("chamber pressure out of range")
}
outcome <- tryCatch(
  with_job(client, "etch", entity_type = "step", parent_id = lot, etch()),
  error = function(e) e
)
cat("the step failed: ", conditionMessage(outcome), "\n", sep = "")

# 4. The lot cannot go on without the step.
job_finish(lot, "canceled", "step etch failed")

# 5. Wait for delivery, stop the client, and show what was written.
monitoring_flush(client, timeout = 5)
monitoring_shutdown(client)

files <- sort(list.files(dir, pattern = "\\.jsonl$", full.names = TRUE))
lines <- unlist(lapply(files, readLines, encoding = "UTF-8"))
cat("\n", length(lines), " events written to ", dir, ":\n", sep = "")
if (requireNamespace("jsonlite", quietly = TRUE)) {
  for (line in lines) {
    e <- jsonlite::fromJSON(line, simplifyVector = FALSE)
    ev <- e$event
    extra <- ""
    if (!is.null(ev$progress)) extra <- paste0(extra, " progress=", ev$progress)
    if (!is.null(ev$message)) extra <- paste0(extra, " message=", encodeString(ev$message, quote = "'"))
    if (length(ev$metrics)) {
      extra <- paste0(extra, " metrics=", jsonlite::toJSON(ev$metrics, auto_unbox = TRUE, digits = NA))
    }
    cat(sprintf("%s  %-9s %-10s %s:%s...%s\n", ev$at, ev$kind, format(if (is.null(ev$status)) "null" else ev$status),
                e$entity$type, substr(e$entity$id, 1, 13), extra))
  }
  cat("\nThe step's error event in full:\n")
  error_line <- lines[vapply(lines, function(l) jsonlite::fromJSON(l)$event$kind == "error", logical(1))]
  cat(jsonlite::prettify(error_line[[1]], indent = 2))
} else {
  writeLines(lines)
}
