/* Acceptance program: what a C user writes after reading the README.
 *
 *   acceptance monitoring.yaml
 *
 * Configures the client from a YAML file, runs one job ("acceptance-load") whose work is
 * 4 threads emitting 25,000 events each (100,000 in all), reports the job's progress at every
 * 10% (10 progress events) and two metrics, finishes the job, flushes, prints the stats and
 * shuts down.  Exit code 0 only if every call succeeded.
 *
 * tests/c/run.sh then checks the JSONL output with tests/tools/check_jsonl.py: every line
 * schema-valid, 100,000 + 14 job events (started, 10 progress, 2 metric, finished), each
 * exactly once.  The config it writes uses `queue.on_full: block`, so that no event may be
 * dropped under this burst and "every event exactly once" is a fair requirement. */
#include <monitoring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define THREADS 4
#define PER_THREAD 25000
#define TOTAL (THREADS * PER_THREAD)

static monitoring_client *client;
static atomic_int emitted;
static atomic_int failures;

static void *worker(void *arg) {
  int id = (int)(long)arg;
  char event[256];
  for (int i = 0; i < PER_THREAD; i++) {
    /* one measurement per wafer: entity = the wafer, business key = its lot */
    snprintf(event, sizeof event,
             "{\"entity\":{\"type\":\"wafer\",\"id\":\"W-%d-%05d\",\"business_key\":\"LOT-%d\"},"
             "\"event\":{\"kind\":\"metric\",\"metrics\":{\"thickness_nm\":%.1f}}}",
             id, i, id, 100.0 + (i % 50) * 0.1);
    monitoring_status st = monitoring_emit(client, event);
    if (st != MONITORING_OK) {
      if (atomic_fetch_add(&failures, 1) < 5)
        fprintf(stderr, "emit failed (%d): %s\n", (int)st, monitoring_last_error());
      continue;
    }
    atomic_fetch_add(&emitted, 1);
  }
  return NULL;
}

static int check(monitoring_status st, const char *what) {
  if (st != MONITORING_OK) {
    fprintf(stderr, "%s failed (%d): %s\n", what, (int)st, monitoring_last_error());
    return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  const char *config = argc > 1 ? argv[1] : "monitoring.yaml";
  if (!check(monitoring_configure(config, &client), "monitoring_configure")) return 1;

  monitoring_job *job = NULL;
  if (!check(monitoring_job_start(client, "acceptance-load", NULL, NULL, &job), "monitoring_job_start")) return 1;
  check(monitoring_job_metadata(job, "threads", "4"), "monitoring_job_metadata");
  printf("job %s started\n", monitoring_job_id(job));

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t threads[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker, (void *)i);

  /* report progress at every 10% of the events emitted */
  int ok = 1;
  for (int step = 1; step <= 10; step++) {
    while (atomic_load(&emitted) + atomic_load(&failures) < TOTAL * step / 10) {
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
    }
    char msg[64];
    snprintf(msg, sizeof msg, "%d of %d events emitted", TOTAL * step / 10, TOTAL);
    ok &= check(monitoring_job_progress(job, step * 10.0, msg), "monitoring_job_progress");
  }
  for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

  ok &= check(monitoring_job_metric(job, "events_emitted", atomic_load(&emitted)), "monitoring_job_metric");
  ok &= check(monitoring_job_metric(job, "events_per_s", atomic_load(&emitted) / secs), "monitoring_job_metric");
  ok &= check(monitoring_job_finish(job, atomic_load(&failures) ? "failed" : "succeeded", NULL), "monitoring_job_finish");

  ok &= check(monitoring_flush(client, 30000), "monitoring_flush");
  char *stats = NULL;
  if (check(monitoring_stats_json(client, &stats), "monitoring_stats_json")) {
    printf("stats: %s\n", stats);
    monitoring_string_free(stats);
  }
  ok &= check(monitoring_shutdown(client, 10000), "monitoring_shutdown");
  monitoring_client_free(client);

  printf("%d events emitted from %d threads in %.2f s (%.0f/s), %d failed\n", atomic_load(&emitted), THREADS, secs,
         atomic_load(&emitted) / secs, atomic_load(&failures));
  return ok && atomic_load(&failures) == 0 && atomic_load(&emitted) == TOTAL ? 0 : 1;
}
