test_that("emit takes a named list, JSON text and raw JSON bytes", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  expect_true(monitoring_emit(client, list(
    entity = list(type = "tool", id = "ETCH-07"),
    event = list(kind = "metric", metrics = list(temp_c = 21.5))
  )))
  expect_invisible(monitoring_emit(client, '{"event": {"kind": "log", "message": "text"}}'))
  expect_true(monitoring_emit(client, charToRaw('{"event": {"kind": "log", "message": "raw"}}')))
  events <- finish_and_read(client, dir)
  expect_equal(kinds(events), c("metric", "log", "log"))
  ev <- events[[1]]
  expect_equal(ev$entity, list(type = "tool", id = "ETCH-07", parent_id = NULL, business_key = NULL, sub_key = NULL))
  expect_equal(ev$event$metrics, list(temp_c = 21.5))
  expect_equal(ev$site_id, "fab1")
  expect_match(ev$idempotency_key, "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
  expect_match(ev$event$at, "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z$")
  expect_equal(events[[2]]$event$message, "text")
  expect_equal(events[[3]]$event$message, "raw")
})

test_that("lists are written as JSON exactly (numbers, nulls, {}, arrays, UTF-8)", {
  to_json <- monitoring:::rs_to_json
  expect_equal(to_json(list(a = 0.1, b = 1e-7, c = 0.1 + 0.2, d = 1.7976931348623157e308, e = 25, f = -0)),
               '{"a":0.1,"b":1e-7,"c":0.30000000000000004,"d":1.7976931348623157e+308,"e":25,"f":-0}')
  expect_equal(to_json(list(i = 3L, big = 2^53, neg = -25000000000)), '{"i":3,"big":9007199254740992.0,"neg":-25000000000}')
  expect_equal(to_json(list(n = NULL, na = NA, na_real = NA_real_, na_chr = NA_character_)),
               '{"n":null,"na":null,"na_real":null,"na_chr":null}')
  expect_equal(to_json(list(empty = list(), named_empty = structure(list(), names = character()), arr = I(list()))),
               '{"empty":{},"named_empty":{},"arr":[]}')
  expect_equal(to_json(list(one = I("a"), vec = c(1, 2), chr0 = character(), nested = list(1L, "x", TRUE))),
               '{"one":["a"],"vec":[1,2],"chr0":[],"nested":[1,"x",true]}')
  expect_equal(to_json(list(s = "caf\u00e9 \u6e29\u5ea6 \"q\" \\ \n\t\u0001")),
               '{"s":"caf\u00e9 \u6e29\u5ea6 \\"q\\" \\\\ \\n\\t\\u0001"}')
  latin1 <- iconv("caf\u00e9", "UTF-8", "latin1")
  Encoding(latin1) <- "latin1"
  expect_equal(to_json(list(s = latin1)), '{"s":"caf\u00e9"}')
  expect_equal(to_json(list(f = factor(c("b", "a", NA)), one = factor("z"))), '{"f":["b","a",null],"one":"z"}')
  expect_equal(to_json(list(at = as.POSIXct(1795348800.123456, origin = "1970-01-01", tz = "Asia/Kolkata"))),
               '{"at":"2026-11-22T12:00:00.123456Z"}')
  expect_equal(to_json(list(d = as.Date("2026-11-22"))), '{"d":"2026-11-22"}')
})

test_that("values JSON cannot hold are errors naming the field", {
  client <- fs_client()
  bad <- function(event) tryCatch(monitoring_emit(client, event), error = function(e) e)

  e <- bad(list(event = list(kind = "metric", metrics = list(x = NaN))))
  expect_s3_class(e, "monitoring_invalid_argument")
  expect_equal(e$field, "event.metrics.x")
  expect_match(conditionMessage(e), "^invalid event: event\\.metrics\\.x: NaN is not a finite number")
  expect_equal(bad(list(event = list(kind = "metric", metrics = list(y = -Inf))))$field, "event.metrics.y")
  expect_equal(bad(list(event = list(kind = "log", metadata = list(tags = list("a", sum)))))$field, "event.metadata.tags[1]")
  expect_match(conditionMessage(bad(list(event = list(kind = "log", metadata = list(e = globalenv()))))), "an environment")
  expect_match(conditionMessage(bad(list(event = list(kind = "log"), list(1)))), "has no name")
  invalid <- "caf\xe9"
  Encoding(invalid) <- "unknown"
  expect_match(conditionMessage(bad(list(event = list(kind = "log", message = invalid)))), "UTF-8")
  bytes <- "abc\xff"
  Encoding(bytes) <- "bytes"
  expect_match(conditionMessage(bad(list(event = list(kind = "log", message = bytes)))), "bytes")
  deep <- list()
  for (i in 1:70) deep <- list(x = deep)
  expect_match(conditionMessage(bad(list(event = list(kind = "log", metadata = deep)))), "deeper than 64")
  expect_error(monitoring_emit(client, 42), "must be a named list, a JSON string or a raw vector", class = "monitoring_invalid_argument")
  expect_error(monitoring_emit(client, c("a", "b")), class = "monitoring_invalid_argument")
  expect_error(monitoring_emit(client, NA_character_), class = "monitoring_invalid_argument")
  expect_error(monitoring_emit("not a client", list()), "must be a client", class = "monitoring_invalid_argument")
  expect_equal(monitoring_stats(client)$emitted, 0)
  monitoring_shutdown(client)
})

test_that("the engine's validation errors keep its message and field", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  e <- tryCatch(monitoring_emit(client, list(event = list(kind = "metric", colour = "red"))), error = function(e) e)
  expect_s3_class(e, c("monitoring_invalid_argument", "monitoring_error", "error", "condition"), exact = TRUE)
  expect_equal(e$status, "invalid_argument")
  expect_equal(e$field, "event.colour")
  expect_match(conditionMessage(e), "^invalid event: event.colour: unknown field")
  expect_equal(deparse(conditionCall(e)[[1]]), "monitoring_emit")
  expect_error(monitoring_emit(client, list(event = list(kind = "exploded"))), class = "monitoring_invalid_argument")
  expect_error(monitoring_emit(client, list(event = list(kind = "log", at = "yesterday"))), "event.at")
  expect_error(monitoring_emit(client, "not json"), class = "monitoring_invalid_argument")
  expect_error(monitoring_emit(client, as.raw(c(0x7b, 0xff, 0x7d))), "(?i)utf-?8", perl = TRUE)
  expect_true(monitoring_emit(client, list(event = list(kind = "log", message = "control"))))
  events <- finish_and_read(client, dir)
  expect_equal(length(events), 1L)
})

test_that("a full queue drops the event: emit returns FALSE and counts it", {
  dir <- tempfile("events-")
  # A webhook nobody answers, retried rarely: its worker holds the first batch, the backend's
  # queue and then the client's (capacity 1) fill up.
  client <- monitoring_configure(
    app = standard_app,
    direct_backends = list(list(type = "webhook", name = "nobody", url = "http://127.0.0.1:9/events", timeout_ms = 200)),
    queue = list(capacity = 1L, batch_max = 1L, flush_interval_ms = 1L, on_full = "drop"),
    retry = list(initial_ms = 60000L, max_ms = 60000L),
    circuit_breaker = list(failure_threshold = 100000L),
    spool = list(path = paste0(dir, "-spool"))
  )
  results <- vapply(1:200, function(i) monitoring_emit(client, list(event = list(kind = "heartbeat"))), logical(1))
  expect_false(all(results))
  expect_true(results[[1]])
  stats <- monitoring_stats(client)
  expect_equal(stats$dropped, sum(!results))
  expect_equal(stats$emitted, 200)
  try(monitoring_shutdown(client, timeout = 1), silent = TRUE)
})

test_that("after shutdown every call is a monitoring_shutdown error, and shutdown is idempotent", {
  client <- fs_client()
  job <- job_start(client, "late")
  expect_invisible(monitoring_shutdown(client))
  expect_true(monitoring_shutdown(client))
  expect_output(print(client), "shut down")
  e <- tryCatch(monitoring_emit(client, list(event = list(kind = "log"))), error = function(e) e)
  expect_s3_class(e, "monitoring_shutdown")
  expect_equal(conditionMessage(e), "client is shut down")
  expect_null(e$field)
  expect_error(monitoring_flush(client), class = "monitoring_shutdown")
  expect_error(job_progress(job, 10), class = "monitoring_shutdown")
  expect_error(job_start(client, "later"), class = "monitoring_shutdown")
  expect_type(monitoring_stats(client), "list")
})
