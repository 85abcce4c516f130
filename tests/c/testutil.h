/* Helpers shared by the C tests: temp dirs, files, time, configs, reading the JSONL output
 * back and checking each event's shape, and a TCP server that never answers. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>

#include "mini_json.h"
#include "monitoring.h"

/* A fresh directory under $TMPDIR (or /tmp); malloc'd path. Removed at the end of a passing
 * test by run_tests (kept, and its path printed, when the test fails). */
char *tu_tmpdir(const char *tag);
void tu_rmrf(const char *path);

double tu_now_ms(void); /* monotonic clock */
void tu_sleep_ms(unsigned ms);
char *tu_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tu_write_file(const char *path, const char *text);
char *tu_read_file(const char *path, size_t *len); /* NULL if it cannot be read */

/* Inline YAML config: direct mode, app ctest 1.2.3 at site fab1, one filesystem backend named
 * "local" writing DIR/events/ *.jsonl, spool under DIR/spool, then `extra` (more top-level
 * YAML lines, may be NULL). */
char *tu_fs_config(const char *dir, const char *extra);
/* Inline YAML config with one webhook backend named "hook" posting to `url`, spool under
 * DIR/spool, then `extra`. */
char *tu_webhook_config(const char *dir, const char *url, unsigned timeout_ms, const char *extra);

/* Events read back from JSONL. */
typedef struct {
  size_t n, cap;
  mj_node **ev;
  size_t files;
  char err[512]; /* why loading failed */
} tu_events;

/* Appends every line of every *.jsonl in dir; 0 (and err) if a line is not JSON or the dir
 * cannot be read.  A missing dir loads zero events and succeeds. */
int tu_load_jsonl_dir(const char *dir, tu_events *out);
int tu_load_jsonl_file(const char *path, tu_events *out);
void tu_events_free(tu_events *e);

/* NULL when the event has every key of schema v1 with the right types and nothing else;
 * otherwise a description of the first problem (static buffer). */
const char *tu_event_shape(const mj_node *ev);
/* Checks the shape of every event; 0 and a message naming the line on the first problem. */
int tu_check_shapes(const tu_events *e, char *err, size_t errlen);
/* Distinct idempotency keys among the events; *dups gets the number of repeated lines. */
size_t tu_distinct_keys(const tu_events *e, size_t *dups);
/* Events whose entity.business_key starts with prefix. */
size_t tu_count_prefix(const tu_events *e, const char *prefix);

/* Parses a stats JSON document and reads one counter ("emitted", "backends.local.delivered").
 * Returns 1 and sets *out when present and numeric. */
int tu_stat(const char *stats_json, const char *path, double *out);
/* The client's stats document (malloc'd copy, NULL on error). */
char *tu_stats(monitoring_client *c);

/* A TCP server on 127.0.0.1 that accepts every connection, reads and discards what the
 * client sends and never writes a byte. Returns its port (0 on failure). It lives until the
 * process exits. */
int tu_silent_server(void);

/* A UUID in canonical 8-4-4-4-12 lowercase-or-uppercase hex form; version digit in *version. */
int tu_is_uuid(const char *s, char *version);


/* Loads DIR/events/ *.jsonl into ev (a tu_events) and checks every event's shape. */
#define TU_LOAD_EVENTS(dir, ev)                                                \
  do {                                                                         \
    char *evdir__ = tu_sprintf("%s/events", (dir));                            \
    int ok__ = tu_load_jsonl_dir(evdir__, &(ev));                              \
    free(evdir__);                                                             \
    CHECKF(ok__, "reading the JSONL output: %s", (ev).err);                    \
    char shape__[400];                                                         \
    CHECKF(tu_check_shapes(&(ev), shape__, sizeof shape__), "%s", shape__);    \
  } while (0)

/* The smallest valid event. */
#define TU_LOG_EVENT "{\"event\":{\"kind\":\"log\",\"message\":\"hello\"}}"

#endif
