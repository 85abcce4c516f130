# The cross-language conformance scenarios (tests/conformance) replayed through this package by
# tests/conformance/r/driver.R and judged by check.py. Needs the repository checkout (found from
# the working directory or $MONITORING_REPO), python3 and bash; skipped elsewhere (e.g. when
# checking a source tarball outside the repository).
test_that("the conformance scenarios pass", {
  skip_on_cran()
  skip_if_not_installed("jsonlite")
  root <- repo_root()
  if (is.null(root)) skip("not inside the repository checkout (set MONITORING_REPO to run the conformance scenarios)")
  if (!nzchar(Sys.which("python3")) || !nzchar(Sys.which("bash"))) skip("python3 and bash are needed to run the conformance suite")
  work <- tempfile("conformance-")
  env <- c(
    paste0("CONFORMANCE_R_LIB=", monitoring_lib()),
    paste0("CONFORMANCE_WORK=", work),
    # The C library is not needed for R; skip building it when it is there already.
    if (file.exists(file.path(root, "target", "release", "libmonitoring.so"))) "CONFORMANCE_NO_BUILD=1"
  )
  out <- suppressWarnings(system2(file.path(root, "tests", "conformance", "run.sh"), "r",
                                  stdout = TRUE, stderr = TRUE, env = env))
  status <- attr(out, "status")
  summary <- tail(out, 1L)
  expect_match(summary, "^\\d+ passed, 0 failed$", info = paste(out, collapse = "\n"))
  expect_true(is.null(status) || status == 0L, info = paste(out, collapse = "\n"))
  passed <- as.integer(sub(" passed.*", "", summary))
  expect_gte(passed, 30L)
})
