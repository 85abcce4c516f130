test_that("configure takes overrides, a list, inline JSON or YAML, and a file", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  backends <- list(list(type = "filesystem", name = "local", path = dir))

  client <- monitoring_configure(
    app_name = "etch-a", app_version = "2.0", site_id = "fab9", instance_id = "i-1",
    direct_backends = backends, spool__path = paste0(dir, "-spool")
  )
  expect_s3_class(client, "monitoring_client")
  expect_output(print(client), "direct mode, backends local:filesystem")
  monitoring_emit(client, list(event = list(kind = "heartbeat")))
  ev <- finish_and_read(client, dir)[[1]]
  expect_equal(ev$app, list(name = "etch-a", version = "2.0", instance_id = "i-1"))
  expect_equal(ev$site_id, "fab9")

  dir2 <- tempfile("events-")
  json <- sprintf('{"app": {"name": "json-app"}, "direct_backends": [{"type": "filesystem", "name": "j", "path": "%s"}]}', dir2)
  client <- monitoring_configure(json, spool__path = paste0(dir2, "-spool"))
  monitoring_emit(client, list(event = list(kind = "heartbeat")))
  expect_equal(finish_and_read(client, dir2)[[1]]$app$name, "json-app")

  dir3 <- tempfile("events-")
  yaml <- sprintf("app: {name: yaml-app, version: '1.10'}\ndirect_backends:\n  - {type: filesystem, name: y, path: '%s'}\n", dir3)
  client <- monitoring_configure(yaml, spool__path = paste0(dir3, "-spool"))
  monitoring_emit(client, list(event = list(kind = "heartbeat")))
  ev <- finish_and_read(client, dir3)[[1]]
  expect_equal(ev$app$name, "yaml-app")
  expect_equal(ev$app$version, "1.10")

  file <- tempfile(fileext = ".yaml")
  writeLines(yaml, file)
  dir4 <- tempfile("events-")
  client <- monitoring_configure(file, app_name = "override-wins",
                                 direct_backends = list(list(type = "filesystem", name = "f", path = dir4)),
                                 spool = list(path = paste0(dir4, "-spool")))
  monitoring_emit(client, list(event = list(kind = "heartbeat")))
  ev <- finish_and_read(client, dir4)[[1]]
  expect_equal(ev$app$name, "override-wins") # explicit beats the file ...
  expect_equal(ev$app$version, "1.10")        # ... and the file's other keys stay

  dir5 <- tempfile("events-")
  client <- monitoring_configure(list(app = list(name = "list-app"), direct_backends = list(
    list(type = "filesystem", name = "l", path = dir5)
  ), spool = list(path = paste0(dir5, "-spool"))))
  monitoring_emit(client, list(event = list(kind = "heartbeat")))
  expect_equal(finish_and_read(client, dir5)[[1]]$app$name, "list-app")
})

test_that("the environment configures, and explicit arguments win over it", {
  skip_if_not_installed("jsonlite")
  dir <- tempfile("events-")
  restore <- set_env(MONITORING_APP_NAME = "from-env", MONITORING_SITE_ID = "fab-env")
  on.exit(restore())
  client <- monitoring_configure(site_id = "fab-arg",
                                 direct_backends = list(list(type = "filesystem", name = "l", path = dir)),
                                 spool__path = paste0(dir, "-spool"))
  monitoring_emit(client, list(event = list(kind = "heartbeat")))
  ev <- finish_and_read(client, dir)[[1]]
  expect_equal(ev$app$name, "from-env")
  expect_equal(ev$site_id, "fab-arg")
})

test_that("with no configuration, events go to ./monitoring-events", {
  skip_if_not_installed("jsonlite")
  wd <- tempfile("wd-")
  dir.create(wd)
  old <- setwd(wd)
  on.exit(setwd(old))
  client <- monitoring_configure()
  expect_true(monitoring_emit(client, list(event = list(kind = "log", message = "defaults"))))
  events <- finish_and_read(client, file.path(wd, "monitoring-events"))
  expect_equal(length(events), 1L)
  expect_equal(events[[1]]$event$message, "defaults")
})

test_that("configuration errors are monitoring_config conditions naming the key", {
  err <- tryCatch(
    monitoring_configure(direct_backends = list(list(type = "filesystem", name = "x", path = tempfile()),
                                                list(type = "filesystem", name = "y", bukcet = "b"))),
    error = function(e) e
  )
  expect_s3_class(err, c("monitoring_config", "monitoring_error", "error", "condition"), exact = TRUE)
  expect_equal(err$status, "config")
  expect_equal(err$field, "direct_backends[1].bukcet")
  expect_match(conditionMessage(err), "configuration error at direct_backends[1].bukcet", fixed = TRUE)
  expect_equal(conditionCall(err)[[1]], as.name("monitoring_configure"))

  expect_error(monitoring_configure(mode = "sideways"), class = "monitoring_config")
  expect_error(monitoring_configure('{"queue": {"capacity": "lots"}}'), class = "monitoring_config")
  expect_error(monitoring_configure(tempfile(fileext = ".yaml")), class = "monitoring_error")
  expect_error(monitoring_configure(42), class = "monitoring_invalid_argument")
  expect_error(monitoring_configure(NULL, "unnamed"), "needs a name", class = "monitoring_invalid_argument")
})
