# This file is part of the standard setup for testthat; it runs every tests/testthat/test-*.R.
library(testthat)
library(monitoring)

test_check("monitoring")
