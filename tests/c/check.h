/* A tiny test harness for the C suite.
 *
 * A test is `static void t_something(void)` that returns early through the CHECK macros on
 * the first failure.  run_tests() runs every test in its own forked process (so a crash, a
 * hang or a sanitizer report in one test is reported as that test's failure and cannot take
 * the others down) and prints one TAP-style line per test:
 *     ok - name
 *     not ok - name: reason (file:line)
 * Pass test names on the command line to run only those. */
#ifndef CHECK_H
#define CHECK_H

#include <stddef.h>
#include <string.h>

#include "monitoring.h"

typedef void (*test_fn)(void);
typedef struct {
  const char *name;
  test_fn fn;
  unsigned timeout_s; /* 0: 20 s */
} test_case;

/* Runs the tests; returns the number that failed. */
int run_tests(const test_case *tests, size_t n, int argc, char **argv);

/* Records the first failure of the running test. */
void check_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adds a diagnostic line ("# ...") to the test's output without failing it. */
void check_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *status_name(monitoring_status s);
/* monitoring_last_error(), or "(NULL)" when it returned NULL (which is itself a bug). */
const char *last_error_or(void);

#define CHECKF(cond, ...)                                 \
  do {                                                    \
    if (!(cond)) {                                        \
      check_fail(__FILE__, __LINE__, __VA_ARGS__);        \
      return;                                             \
    }                                                     \
  } while (0)

#define CHECK(cond) CHECKF(cond, "check failed: %s", #cond)

/* expr must return exactly `want`. */
#define CHECK_ST(expr, want)                                                                   \
  do {                                                                                         \
    monitoring_status st__ = (expr);                                                           \
    monitoring_status want__ = (want);                                                         \
    CHECKF(st__ == want__, "%s returned %s, expected %s (last_error: \"%s\")", #expr,        \
           status_name(st__), status_name(want__), last_error_or());                           \
  } while (0)

#define CHECK_OK(expr) CHECK_ST(expr, MONITORING_OK)

/* The calling thread's last error mentions `sub`. */
#define CHECK_ERR_HAS(sub)                                                                     \
  CHECKF(strstr(last_error_or(), (sub)) != NULL, "last_error \"%s\" does not mention \"%s\"", \
         last_error_or(), (sub))

/* The calling thread's last error is a non-empty message. */
#define CHECK_ERR_SET() CHECKF(last_error_or()[0] != '\0', "last_error is empty after an error")

#define CHECK_STREQ(a, b)                                                                      \
  do {                                                                                         \
    const char *a__ = (a), *b__ = (b);                                                         \
    CHECKF(a__ && b__ && strcmp(a__, b__) == 0, "%s is \"%s\", expected \"%s\"", #a,          \
           a__ ? a__ : "(NULL)", b__ ? b__ : "(NULL)");                                        \
  } while (0)

#endif
