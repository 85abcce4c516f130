test_that("stats are a list of counters, per backend too", {
  dir <- tempfile("events-")
  client <- fs_client(dir)
  for (i in 1:3) monitoring_emit(client, list(event = list(kind = "heartbeat")))
  try(monitoring_emit(client, list(event = list(kind = "nope"))), silent = TRUE)
  expect_invisible(monitoring_flush(client, timeout = 10))
  stats <- monitoring_stats(client)
  expect_type(stats, "list")
  expect_true(all(c("emitted", "dropped", "delivered", "failed", "retried", "spooled", "queue_depth",
                    "invalid", "unrouted", "backends") %in% names(stats)))
  expect_equal(stats$emitted, 3)
  expect_equal(stats$delivered, 3)
  expect_equal(stats$invalid, 1)
  expect_equal(stats$dropped, 0)
  expect_equal(stats$queue_depth, 0)
  local <- stats$backends$local
  expect_equal(local$type, "filesystem")
  expect_equal(local$delivered, 3)
  expect_equal(local$breaker, "closed")
  monitoring_shutdown(client)
})

test_that("flush and shutdown time out with monitoring_timeout; bad timeouts are errors", {
  dir <- tempfile("events-")
  client <- monitoring_configure(
    app = standard_app,
    direct_backends = list(list(type = "webhook", name = "nobody", url = "http://127.0.0.1:9/events", timeout_ms = 200)),
    retry = list(initial_ms = 60000L, max_ms = 60000L),
    queue = list(flush_interval_ms = 1L),
    spool = list(path = paste0(dir, "-spool"))
  )
  monitoring_emit(client, list(event = list(kind = "heartbeat")))
  started <- Sys.time()
  e <- tryCatch(monitoring_flush(client, timeout = 0.3), error = function(e) e)
  expect_s3_class(e, "monitoring_timeout")
  expect_equal(e$status, "timeout")
  expect_lt(as.numeric(Sys.time() - started, units = "secs"), 5)
  expect_error(monitoring_flush(client, timeout = -1), "timeout", class = "monitoring_invalid_argument")
  expect_error(monitoring_flush(client, timeout = "soon"), class = "monitoring_invalid_argument")
  expect_error(monitoring_shutdown(client, timeout = 0.5), class = "monitoring_timeout")
  expect_error(monitoring_emit(client, list(event = list(kind = "log"))), class = "monitoring_shutdown")
})

test_that("the version is the engine's", {
  expect_match(monitoring_version(), "^\\d+\\.\\d+\\.\\d+")
})
