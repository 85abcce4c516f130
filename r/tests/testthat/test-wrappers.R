# R/extendr-wrappers.R is written by hand (rextendr is on CRAN only): check it against the
# routines the Rust module registers, from the module's own metadata.
test_that("every registered Rust routine has its R wrapper, with the same arguments", {
  ns <- asNamespace("monitoring")
  meta <- .Call(ns$wrap__get_monitoring_metadata)
  funcs <- Filter(function(f) !isTRUE(f$hidden), meta$functions)
  expect_gt(length(funcs), 10L)
  for (f in funcs) {
    expect_true(exists(f$r_name, envir = ns, inherits = FALSE), info = f$r_name)
    wrapper <- get(f$r_name, envir = ns)
    arg_names <- vapply(f$args, function(a) a$name, character(1))
    formal_names <- names(formals(wrapper))
    if (is.null(formal_names)) formal_names <- character()
    expect_identical(formal_names, arg_names, info = f$r_name)
    expect_true(exists(paste0("wrap__", f$r_name), envir = ns, inherits = FALSE), info = f$r_name)
  }
  wrappers <- grep("^rs_", ls(ns, all.names = TRUE), value = TRUE)
  expect_setequal(wrappers, vapply(funcs, function(f) f$r_name, character(1)))
})
