/* SDK-specific helpers shared by emit_latency.c and throughput.c. */
#ifndef BENCH_SDK_COMMON_H
#define BENCH_SDK_COMMON_H
#include "common.h"
#include "monitoring.h"

static inline monitoring_client *sdk_open(const bench_args *a) {
  char *cfg = sdk_config(a->dir, a->capacity, a->on_full);
  monitoring_client *c = NULL;
  monitoring_status st = monitoring_configure(cfg, &c);
  if (st != MONITORING_OK || !c) {
    fprintf(stderr, "monitoring_configure failed: status %d: %s\nconfig was:\n%s", (int)st,
            monitoring_last_error(), cfg);
    exit(1);
  }
  free(cfg);
  return c;
}

/* The call under test: one monitoring_emit of the static event. 0 ok, 1 dropped. */
static int sdk_emit_call(void *ctx, bench_line_state *st) {
  (void)st;
  monitoring_status s = monitoring_emit((monitoring_client *)ctx, BENCH_EVENT_JSON);
  if (s == MONITORING_OK) return 0;
  if (s == MONITORING_ERR_QUEUE_FULL) return 1;
  fprintf(stderr, "monitoring_emit failed: status %d: %s\n", (int)s, monitoring_last_error());
  return 2;
}

/* monitoring_stats_json as a malloc'd string with newlines removed ("null" on failure). */
static inline char *sdk_stats(monitoring_client *c) {
  char *js = NULL;
  monitoring_status s = monitoring_stats_json(c, &js);
  if (s != MONITORING_OK || !js) {
    fprintf(stderr, "monitoring_stats_json failed: status %d: %s\n", (int)s,
            monitoring_last_error());
    return strdup("null");
  }
  char *copy = strdup(js);
  monitoring_string_free(js);
  for (char *p = copy; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  return copy;
}

/* Pulls an integer field "name": N out of the stats JSON (first occurrence = the top level, as
 * the top-level counters come before the per-backend objects); -1 if absent. */
static inline long long sdk_stat(const char *stats, const char *name) {
  char key[64];
  snprintf(key, sizeof key, "\"%s\"", name);
  const char *p = strstr(stats, key);
  if (!p) return -1;
  p += strlen(key);
  while (*p == ' ' || *p == ':') p++;
  return strtoll(p, NULL, 10);
}

static inline void sdk_close(monitoring_client *c) {
  monitoring_status s = monitoring_shutdown(c, 60000);
  if (s != MONITORING_OK)
    fprintf(stderr, "monitoring_shutdown: status %d: %s\n", (int)s, monitoring_last_error());
  monitoring_client_free(c);
}
#endif
