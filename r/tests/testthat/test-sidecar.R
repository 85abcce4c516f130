# Sidecar mode against a real agent: target/release/monitoring-sidecar of the repository (built
# with cargo when missing). Skipped outside the repository checkout, or when the sidecar crate
# does not exist there.
sidecar_binary <- function(root) {
  bin <- file.path(root, "target", "release", "monitoring-sidecar")
  if (file.exists(bin)) return(bin)
  if (!file.exists(file.path(root, "sidecar", "Cargo.toml"))) return(NULL)
  cargo <- Sys.which("cargo")
  if (!nzchar(cargo)) cargo <- file.path(Sys.getenv("HOME"), ".cargo", "bin", "cargo")
  status <- system2(cargo, c("build", "--release", "-p", "monitoring-sidecar", "--manifest-path",
                             shQuote(file.path(root, "Cargo.toml"))),
                    env = paste0("CARGO_TARGET_DIR=", file.path(root, "target")))
  if (status != 0L || !file.exists(bin)) stop("cargo build --release -p monitoring-sidecar failed")
  bin
}

# Starts the agent; returns list(pid, url, events).
start_agent <- function(bin) {
  dir <- tempfile("agent-")
  dir.create(dir)
  events <- file.path(dir, "events")
  config <- file.path(dir, "sidecar.yaml")
  writeLines(c(
    "ingest: {listen: \"127.0.0.1:0\", flush_interval: 50}",
    "backends:",
    sprintf("  - {type: filesystem, name: local, path: '%s'}", events),
    sprintf("spool: {path: '%s'}", file.path(dir, "spool"))
  ), config)
  log <- file.path(dir, "agent.log")
  pid <- system2("sh", c("-c", shQuote(sprintf("exec '%s' --config '%s' >'%s' 2>&1 & echo $!", bin, config, log))),
                 stdout = TRUE)
  pid <- as.integer(pid[[1]])
  listen <- NULL
  for (i in 1:100) {
    text <- if (file.exists(log)) readLines(log, warn = FALSE) else character()
    hit <- regmatches(text, regexpr("\"listen\":\"[0-9.:]+\"", text))
    if (length(hit)) {
      listen <- sub("\"listen\":\"([0-9.:]+)\"", "\\1", hit[[1]])
      break
    }
    Sys.sleep(0.05)
  }
  if (is.null(listen)) {
    tools::pskill(pid)
    stop("the agent did not start: ", paste(text, collapse = "\n"))
  }
  list(pid = pid, url = paste0("http://", listen), events = events, log = log)
}

test_that("sidecar mode delivers events and jobs through a real agent", {
  skip_on_cran()
  skip_on_os("windows")
  skip_if_not_installed("jsonlite")
  root <- repo_root()
  if (is.null(root)) skip("not inside the repository checkout (set MONITORING_REPO to test against the agent)")
  bin <- sidecar_binary(root)
  if (is.null(bin)) skip("the repository has no sidecar crate (sidecar/Cargo.toml) to build the agent from")
  agent <- start_agent(bin)
  on.exit(tools::pskill(agent$pid), add = TRUE)

  dir <- tempfile("client-")
  client <- monitoring_configure(mode = "sidecar", sidecar_url = agent$url, app = standard_app,
                                 spool = list(path = file.path(dir, "spool")))
  expect_output(print(client), paste("sidecar mode, agent", agent$url), fixed = TRUE)
  expect_true(monitoring_emit(client, list(event = list(kind = "log", message = "via the agent"))))
  try(with_job(client, "etch", entity_type = "lot", {
    job_progress(current_job(), 50, "half")
    stop("chamber pressure out of range")
  }), silent = TRUE)
  monitoring_flush(client, timeout = 10)
  stats <- monitoring_stats(client)
  expect_equal(stats$delivered, 4)
  expect_equal(stats$backends[[1]]$type, "sidecar")
  monitoring_shutdown(client, timeout = 10)

  # The agent writes what it accepted to its own backend (after its flush interval).
  events <- list()
  for (i in 1:100) {
    events <- read_events(agent$events)
    if (length(events) >= 4L) break
    Sys.sleep(0.05)
  }
  expect_equal(kinds(events), c("log", "started", "progress", "error"))
  expect_equal(events[[1]]$event$message, "via the agent")
  expect_equal(events[[1]]$app$name, "wafer-etch")
  expect_equal(events[[4]]$event$message, "chamber pressure out of range")
  expect_equal(events[[4]]$entity$type, "lot")
})

test_that("an agent that is down: events wait (flush times out), nothing is lost silently", {
  skip_on_cran()
  dir <- tempfile("client-")
  client <- monitoring_configure(mode = "sidecar", sidecar_url = "http://127.0.0.1:9", app = standard_app,
                                 retry = list(initial_ms = 50L, max_ms = 100L, max_attempts = 2L),
                                 spool = list(path = file.path(dir, "spool")))
  expect_true(monitoring_emit(client, list(event = list(kind = "log", message = "nobody home"))))
  try(monitoring_flush(client, timeout = 5), silent = TRUE)
  stats <- monitoring_stats(client)
  expect_equal(stats$emitted, 1)
  expect_equal(stats$delivered, 0)
  try(monitoring_shutdown(client, timeout = 2), silent = TRUE)
})
