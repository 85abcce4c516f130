test_that("a job's lifecycle: started, progress, metric, finished with measured metrics", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  job <- job_start(client, "etch", entity_type = "lot", business_key = "LOT-42", sub_key = "W-01")
  expect_s3_class(job, "monitoring_job")
  id <- job_id(job)
  expect_match(id, "^[0-9a-f]{8}-[0-9a-f]{4}-7")
  expect_output(print(job), "etch.*lot.*running")
  expect_invisible(job_metadata(job, "tool", "ETCH-07"))
  expect_true(job_progress(job, 50, "half way"))
  expect_true(job_metric(job, "wafers", 25))
  job_metadata(job, "recipe", list(name = "R-7", steps = I(3L)))
  expect_true(job_finish(job, "succeeded"))
  expect_output(print(job), "finished")
  events <- finish_and_read(client, dir)
  expect_equal(kinds(events), c("started", "progress", "metric", "finished"))
  for (ev in events) {
    expect_equal(ev$entity, list(type = "lot", id = id, parent_id = NULL, business_key = "LOT-42", sub_key = "W-01"))
    expect_equal(ev$event$metadata$job_name, "etch")
  }
  expect_equal(events[[1]]$event$status, "running")
  expect_null(events[[1]]$event$metadata$tool)
  expect_equal(events[[2]]$event$progress, 50)
  expect_equal(events[[2]]$event$message, "half way")
  expect_equal(events[[2]]$event$metadata$tool, "ETCH-07")
  expect_equal(events[[3]]$event$metrics, list(wafers = 25))
  fin <- events[[4]]$event
  expect_equal(fin$status, "succeeded")
  expect_equal(fin$metadata$recipe, list(name = "R-7", steps = list(3L)))
  expect_setequal(names(fin$metrics), c("wafers", "duration_s", "cpu_user_s", "cpu_system_s", "mem_max_mb"))
  expect_true(fin$metrics$mem_max_mb > 1 && fin$metrics$mem_max_mb < 4096)
})

test_that("failed and canceled jobs emit error and canceled events with the message", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  job_finish(job_start(client, "a"), "failed", "chamber pressure fault")
  job_finish(job_start(client, "b"), "canceled")
  events <- finish_and_read(client, dir)
  expect_equal(kinds(events), c("started", "error", "started", "canceled"))
  expect_equal(events[[2]]$event$status, "failed")
  expect_equal(events[[2]]$event$message, "chamber pressure fault")
  expect_null(events[[4]]$event$message)
})

test_that("job errors: bad percent, bad metric, bad status, finished twice", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  job <- job_start(client, "etch")
  e <- tryCatch(job_progress(job, 150, "too far"), error = function(e) e)
  expect_s3_class(e, "monitoring_invalid_argument")
  expect_equal(e$field, "event.progress")
  expect_equal(tryCatch(job_metric(job, "temp", NaN), error = function(e) e$field), "event.metrics.temp")
  expect_error(job_metric(job, "temp", NA), class = "monitoring_invalid_argument")
  expect_error(job_metric(job, "temp", "hot"), "must be a single number", class = "monitoring_invalid_argument")
  expect_error(job_progress(job, c(1, 2)), class = "monitoring_invalid_argument")
  expect_error(job_metadata(job, "", 1), class = "monitoring_invalid_argument")
  expect_error(job_metadata(job, "bad", list(x = Inf)), "event.metadata.bad.x", fixed = TRUE)
  e <- tryCatch(job_finish(job, "done"), error = function(e) e)
  expect_s3_class(e, "monitoring_invalid_argument")
  expect_match(conditionMessage(e), "`done` is not one of succeeded, failed, canceled")
  expect_true(job_finish(job, "succeeded")) # an unknown status left it open
  expect_error(job_finish(job, "succeeded"), "already finished", class = "monitoring_invalid_argument")
  expect_error(job_progress(job, 10), "already finished", class = "monitoring_invalid_argument")
  expect_error(job_start(client, ""), class = "monitoring_invalid_argument")
  expect_error(job_start(client, NULL), "`name`", class = "monitoring_invalid_argument")
  expect_error(job_progress("job", 1), "must be a job", class = "monitoring_invalid_argument")
  expect_equal(kinds(finish_and_read(client, dir)), c("started", "finished"))
})

test_that("parents: a job, an id, or the enclosing with_job()", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  lot <- job_start(client, "lot", entity_type = "lot")
  w1 <- job_start(client, "w1", parent_id = lot)
  w2 <- job_start(client, "w2", parent_id = "LOT-42-ext")
  job_finish(w1)
  job_finish(w2)
  job_finish(lot)
  inner_parent <- NULL
  with_job(client, "outer", {
    outer <- job_id(current_job())
    with_job(client, "inner", inner_parent <- current_job())
    orphan <- job_start(client, "explicitly none", parent_id = NULL)
    job_finish(orphan)
  })
  events <- finish_and_read(client, dir)
  parent_of <- function(name) {
    ev <- Filter(function(e) e$event$metadata$job_name == name, events)[[1]]
    ev$entity$parent_id
  }
  expect_equal(parent_of("w1"), job_id(lot))
  expect_equal(parent_of("w2"), "LOT-42-ext")
  expect_null(parent_of("lot"))
  expect_equal(parent_of("inner"), outer)
  expect_null(parent_of("outer"))
  expect_null(parent_of("explicitly none"))
  expect_null(current_job())
})

test_that("with_job() finishes as succeeded and returns the value", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  value <- with_job(client, "etch", entity_type = "lot", business_key = "LOT-42", {
    job_progress(current_job(), 50, "half")
    job_metric(current_job(), "wafers", 25)
    "done"
  })
  expect_equal(value, "done")
  expect_invisible(with_job(client, "quiet", invisible(1)))
  events <- finish_and_read(client, dir)
  expect_equal(kinds(events), c("started", "progress", "metric", "finished", "started", "finished"))
  expect_equal(events[[1]]$entity$type, "lot")
  expect_equal(events[[1]]$entity$business_key, "LOT-42")
  expect_equal(events[[4]]$event$status, "succeeded")
  expect_equal(events[[4]]$event$metrics$wafers, 25)
})

test_that("with_job() finishes as failed with the message and lets the same condition through", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  original <- structure(class = c("pressure_error", "error", "condition"),
                        list(message = "chamber pressure out of range", call = quote(check_pressure(7))))
  seen_calls <- NULL
  caught <- tryCatch(
    withCallingHandlers(
      with_job(client, "etch", {
        job_progress(current_job(), 10)
        stop(original)
      }),
      # A handler outside sees the condition where it was signalled, with the full stack.
      error = function(e) seen_calls <<- sys.calls()
    ),
    error = function(e) e
  )
  expect_identical(caught, original)
  expect_true(any(vapply(seen_calls, function(cl) identical(cl[[1]], as.name("with_job")), logical(1))))
  # A plain stop() from a function keeps its own call.
  check_pressure <- function(p) stop("pressure ", p, " out of range")
  e <- tryCatch(with_job(client, "etch2", check_pressure(7)), error = function(e) e)
  expect_equal(conditionMessage(e), "pressure 7 out of range")
  expect_equal(deparse(conditionCall(e)), "check_pressure(7)")
  # Errors handled inside the block do not fail the job.
  with_job(client, "recovers", try(stop("transient"), silent = TRUE))
  events <- finish_and_read(client, dir)
  expect_equal(kinds(events), c("started", "progress", "error", "started", "error", "started", "finished"))
  expect_equal(events[[3]]$event$status, "failed")
  expect_equal(events[[3]]$event$message, "chamber pressure out of range")
  expect_equal(events[[5]]$event$message, "pressure 7 out of range")
  expect_true(all(c("duration_s", "cpu_user_s", "cpu_system_s", "mem_max_mb") %in% names(events[[3]]$event$metrics)))
})

test_that("with_job() cancels on an interrupt or a non-local exit, and warns if it cannot finish", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  interrupt <- structure(class = c("interrupt", "condition"), list())
  tryCatch(with_job(client, "interrupted", signalCondition(interrupt)), interrupt = function(i) NULL)
  early <- function() {
    with_job(client, "left early", return("early"))
    "not reached"
  }
  expect_equal(early(), "early")
  expect_warning(
    value <- with_job(client, "outlived", {
      monitoring_shutdown(client)
      "still the value"
    }),
    class = "monitoring_warning"
  )
  expect_equal(value, "still the value")
  events <- read_events(dir)
  expect_equal(kinds(events), c("started", "canceled", "started", "canceled", "started"))
  expect_equal(events[[2]]$event$message, "interrupted")
  expect_match(events[[4]]$event$message, "did not complete")
})

test_that("a job garbage-collected while open is finished as canceled", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  client <- fs_client(dir)
  local(job_start(client, "forgotten"))
  invisible(gc())
  events <- finish_and_read(client, dir)
  expect_equal(kinds(events), c("started", "canceled"))
  expect_match(events[[2]]$event$message, "garbage-collected")
})
