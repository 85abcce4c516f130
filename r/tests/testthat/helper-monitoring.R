# Shared by the tests: clients writing to a fresh temporary directory, and the events they wrote.

standard_app <- list(name = "wafer-etch", version = "1.4.2", site_id = "fab1", instance_id = "host-a:4242")

# A client with one filesystem backend writing to `dir` (and its spool beside it, so nothing is
# written to the working directory).
fs_client <- function(dir = tempfile("events-"), ...) {
  monitoring_configure(
    app = standard_app,
    direct_backends = list(list(type = "filesystem", name = "local", path = dir)),
    spool = list(path = paste0(dir, "-spool")),
    ...
  )
}

# The events under `dir` (every *.jsonl file, in name order), each a list as jsonlite reads it.
read_events <- function(dir) {
  files <- sort(list.files(dir, pattern = "\\.jsonl$", full.names = TRUE))
  lines <- unlist(lapply(files, readLines, encoding = "UTF-8"))
  lapply(lines, jsonlite::fromJSON, simplifyVector = FALSE)
}

kinds <- function(events) vapply(events, function(e) e$event$kind, character(1))

# Flushes and shuts down `client`, then returns the events under `dir`.
finish_and_read <- function(client, dir) {
  monitoring_flush(client, timeout = 10)
  monitoring_shutdown(client, timeout = 10)
  read_events(dir)
}

# The repository checkout this package is tested from, or NULL: $MONITORING_REPO, else a parent
# of the working directory that holds tests/conformance/run.sh (tests run from r/tests/testthat).
repo_root <- function() {
  env <- Sys.getenv("MONITORING_REPO")
  if (nzchar(env) && file.exists(file.path(env, "tests", "conformance", "run.sh"))) {
    return(normalizePath(env))
  }
  dir <- normalizePath(getwd())
  repeat {
    if (file.exists(file.path(dir, "tests", "conformance", "run.sh")) && file.exists(file.path(dir, "core"))) {
      return(dir)
    }
    parent <- dirname(dir)
    if (parent == dir) return(NULL)
    dir <- parent
  }
}

# The library monitoring was loaded from (for child R processes).
monitoring_lib <- function() dirname(system.file(package = "monitoring"))

# Sets environment variables; returns a function that puts back what was there.
set_env <- function(...) {
  vars <- c(...)
  old <- Sys.getenv(names(vars), unset = NA, names = TRUE)
  do.call(Sys.setenv, as.list(vars))
  function() {
    for (v in names(old)) {
      if (is.na(old[[v]])) Sys.unsetenv(v) else do.call(Sys.setenv, structure(list(old[[v]]), names = v))
    }
  }
}
