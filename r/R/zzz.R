# Session hooks.
#
# The shared object is never unloaded (there is no .onUnload calling library.dynam.unload): the
# engine's delivery threads run code from it for as long as a client lives, and the fork
# handlers it registers with pthread_atfork cannot be unregistered.

# An environment that lives as long as the namespace: its finalizer runs only at the end of the
# R session, and shuts down every client still running there (flushing their events).
.session <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  .session$fork_hooks <- isTRUE(rs_init())
  reg.finalizer(.session, function(e) {
    timeout <- getOption("monitoring.exit_timeout", 5)
    if (!is.numeric(timeout) || length(timeout) != 1L || is.na(timeout) || timeout < 0) timeout <- 5
    rs_shutdown_all(timeout)
  }, onexit = TRUE)
  invisible()
}
