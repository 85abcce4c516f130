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

/* What `--vary` emits instead of BENCH_EVENT_JSON every time, each thread going through the list
 * in turn: "values": 64 events of its shape whose values all differ (entity id, metric values,
 * lot), so that nothing can depend on the same text coming back; "shapes": 64 events of four
 * different shapes in turn (the benchmark's metric, a job's progress, a log with metadata, a
 * heartbeat), values differing too. */
#define SDK_EVENTS 64
static char sdk_events[SDK_EVENTS][256];
static int sdk_n_events = 0;

static inline void sdk_prepare_events(const char *vary) {
  int shapes = !strcmp(vary, "shapes");
  if (!shapes && strcmp(vary, "values")) return;
  for (int i = 0; i < SDK_EVENTS; i++) {
    char *e = sdk_events[i];
    switch (shapes ? i % 4 : 0) {
      case 0:
        snprintf(e, 256,
                 "{\"entity\":{\"type\":\"tool\",\"id\":\"ETCH-%d\"},\"event\":{\"kind\":\"metric\","
                 "\"metrics\":{\"temp_c\":%d.%d,\"pressure_pa\":%d.0},\"metadata\":{\"lot\":\"LOT-%d\"}}}",
                 i * 7, 18 + i % 9, i % 10, 99000 + i * 137, 40 + i * 1009);
        break;
      case 1:
        snprintf(e, 256,
                 "{\"entity\":{\"type\":\"job\",\"id\":\"recipe-%d\"},\"event\":{\"kind\":\"progress\","
                 "\"status\":\"running\",\"progress\":%d,\"message\":\"step %d of 64\"}}",
                 i, i * 100 / 64, i);
        break;
      case 2:
        snprintf(e, 256,
                 "{\"entity\":{\"type\":\"tool\",\"id\":\"ETCH-07\"},\"event\":{\"kind\":\"log\","
                 "\"message\":\"wafer %d loaded\",\"metadata\":{\"slot\":%d,\"carrier\":\"FOUP-%d\"}}}",
                 i * 31, i % 25, i);
        break;
      default:
        snprintf(e, 256,
                 "{\"entity\":{\"type\":\"tool\",\"id\":\"ETCH-%02d\"},\"event\":{\"kind\":\"heartbeat\"}}",
                 i % 100);
    }
  }
  sdk_n_events = SDK_EVENTS;
}

/* The call under test: one monitoring_emit of the static event (or the next of `--vary`'s
 * events). 0 ok, 1 dropped. */
static int sdk_emit_call(void *ctx, bench_line_state *st) {
  const char *event = sdk_n_events ? sdk_events[st->counter++ % SDK_EVENTS] : BENCH_EVENT_JSON;
  monitoring_status s = monitoring_emit((monitoring_client *)ctx, event);
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
