/* c_app.c - an application in sidecar mode, for tests/sidecar.
 *
 * Configured by the environment only (MONITORING_MODE=sidecar, MONITORING_SIDECAR_URL,
 * MONITORING_SIDECAR_TOKEN), as an operator would run it. Emits N metric events with entity
 * ids "c-app-0".."c-app-N-1" and one job (started + finished), flushes, shuts down, and prints
 * the client's stats. Exit 0 only if every call returned MONITORING_OK.
 *
 *   c_app N
 */
#include <monitoring.h>
#include <stdio.h>
#include <stdlib.h>

static int failures = 0;

static void check(monitoring_status st, const char *what) {
  if (st != MONITORING_OK) {
    fprintf(stderr, "c_app: %s: status %d: %s\n", what, (int)st, monitoring_last_error());
    failures++;
  }
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10;
  monitoring_client *c = NULL;
  check(monitoring_configure(NULL, &c), "configure");
  if (!c) return 2;
  char buf[256];
  for (int i = 0; i < n; i++) {
    snprintf(buf, sizeof buf,
             "{\"entity\":{\"type\":\"tool\",\"id\":\"c-app-%d\"},"
             "\"event\":{\"kind\":\"metric\",\"metrics\":{\"temp_c\":%d.5}}}", i, 20 + i % 10);
    check(monitoring_emit(c, buf), "emit");
  }
  monitoring_job *job = NULL;
  check(monitoring_job_start(c, "etch", "lot", NULL, &job), "job_start");
  if (job) {
    check(monitoring_job_metric(job, "wafers", 25), "job_metric");
    check(monitoring_job_finish(job, "succeeded", NULL), "job_finish");
  }
  check(monitoring_flush(c, 10000), "flush");
  char *stats = NULL;
  check(monitoring_stats_json(c, &stats), "stats");
  if (stats) {
    printf("%s\n", stats);
    monitoring_string_free(stats);
  }
  check(monitoring_shutdown(c, 5000), "shutdown");
  monitoring_client_free(c);
  return failures ? 1 : 0;
}
