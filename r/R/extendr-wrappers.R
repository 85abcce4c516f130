# The .Call entry points of the Rust library (src/rust/src/lib.rs, `extendr_module!`).
#
# Written by hand: rextendr, which generates this file in most extendr packages, is on CRAN only.
# tests/testthat/test-wrappers.R checks it against the module's own metadata (the list of
# routines and their arguments that extendr registers), so a function added in Rust without its
# wrapper here, or with different arguments, fails the tests.
#
# Internal: the API is in client.R and job.R. Every routine returns its value or a
# `monitoring_failure` object (see conditions.R); none raises an R error itself.

rs_init <- function() .Call(wrap__rs_init)

rs_version <- function() .Call(wrap__rs_version)

rs_configure <- function(config, overrides) .Call(wrap__rs_configure, config, overrides)

rs_emit <- function(client, event) .Call(wrap__rs_emit, client, event)

rs_to_json <- function(x) .Call(wrap__rs_to_json, x)

rs_flush <- function(client, timeout) .Call(wrap__rs_flush, client, timeout)

rs_shutdown <- function(client, timeout) .Call(wrap__rs_shutdown, client, timeout)

rs_shutdown_all <- function(timeout) .Call(wrap__rs_shutdown_all, timeout)

rs_stats <- function(client) .Call(wrap__rs_stats, client)

rs_client_info <- function(client) .Call(wrap__rs_client_info, client)

rs_job_start <- function(client, name, entity_type, parent_id, business_key, sub_key) {
  .Call(wrap__rs_job_start, client, name, entity_type, parent_id, business_key, sub_key)
}

rs_job_progress <- function(job, percent, message) .Call(wrap__rs_job_progress, job, percent, message)

rs_job_metric <- function(job, name, value) .Call(wrap__rs_job_metric, job, name, value)

rs_job_metadata <- function(job, key, value) .Call(wrap__rs_job_metadata, job, key, value)

rs_job_finish <- function(job, status, message, if_open) .Call(wrap__rs_job_finish, job, status, message, if_open)

rs_job_id <- function(job) .Call(wrap__rs_job_id, job)

rs_job_info <- function(job) .Call(wrap__rs_job_info, job)
