/* threads_demo.c - emit events from many threads through one client.
 *
 *   ./threads_demo [THREADS [EVENTS_PER_THREAD]]      (defaults: 4 threads, 1000 events each)
 *
 * One monitoring_client is shared by every thread: all functions are thread-safe.
 * monitoring_emit() only validates the event and puts it on an in-memory queue; background
 * workers batch the queue and write to the backends, so emit never waits for disk or network.
 * If the queue is full (a backend is down and the spool is off, or a burst outruns the
 * workers) emit returns MONITORING_ERR_QUEUE_FULL and the event is dropped and counted - the
 * application is never slowed down by its monitoring.  Configure `queue: {on_full: block}` if
 * you would rather wait than drop.
 *
 * With the default configuration (config NULL) the events go to ./monitoring-events/ *.jsonl.
 *
 * Build:  cc threads_demo.c $(pkg-config --cflags --libs monitoring) -lpthread -o threads_demo
 */
#include <monitoring.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static monitoring_client *client; /* shared by all threads */
static int per_thread = 1000;

typedef struct {
  int id;
  int accepted, dropped, rejected;
} worker_result;

static void *worker(void *arg) {
  worker_result *r = arg;
  char event[256];
  for (int i = 0; i < per_thread; i++) {
    /* An event is a JSON object in the v1 schema.  Only event.kind is needed here; the
     * library fills in the rest: idempotency_key (a UUIDv7), event.at, site_id and app.*
     * from the configuration, and entity {type "app", id = this instance} when absent. */
    snprintf(event, sizeof event,
             "{\"entity\":{\"type\":\"sensor\",\"id\":\"sensor-%d\"},"
             "\"event\":{\"kind\":\"metric\",\"metrics\":{\"temperature_c\":%.2f,\"sample\":%d}}}",
             r->id, 20.0 + (i % 100) / 10.0, i);
    switch (monitoring_emit(client, event)) {
      case MONITORING_OK: r->accepted++; break;
      case MONITORING_ERR_QUEUE_FULL: r->dropped++; break; /* counted in stats "dropped" */
      default: /* invalid event: the message says which field */
        if (r->rejected++ == 0) fprintf(stderr, "thread %d: %s\n", r->id, monitoring_last_error());
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  int nthreads = argc > 1 ? atoi(argv[1]) : 4;
  if (argc > 2) per_thread = atoi(argv[2]);
  if (nthreads < 1 || nthreads > 256 || per_thread < 0) {
    fprintf(stderr, "usage: %s [THREADS (1..256) [EVENTS_PER_THREAD]]\n", argv[0]);
    return 2;
  }

  if (monitoring_configure(NULL, &client) != MONITORING_OK) {
    fprintf(stderr, "monitoring_configure: %s\n", monitoring_last_error());
    return 1;
  }

  pthread_t *threads = calloc((size_t)nthreads, sizeof *threads);
  worker_result *results = calloc((size_t)nthreads, sizeof *results);
  for (int i = 0; i < nthreads; i++) {
    results[i].id = i;
    pthread_create(&threads[i], NULL, worker, &results[i]);
  }
  int accepted = 0, dropped = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(threads[i], NULL);
    accepted += results[i].accepted;
    dropped += results[i].dropped;
  }
  printf("%d threads: %d events accepted, %d dropped (queue full)\n", nthreads, accepted, dropped);

  /* Wait (up to 10 s) until everything accepted so far is written (or durably spooled). */
  monitoring_status st = monitoring_flush(client, 10000);
  if (st != MONITORING_OK) fprintf(stderr, "flush: %s\n", monitoring_last_error());

  /* The engine's counters, as JSON: emitted, dropped, delivered, failed, retried, spooled,
   * queue_depth, invalid, and the same per backend.  The string is the caller's to free. */
  char *stats = NULL;
  if (monitoring_stats_json(client, &stats) == MONITORING_OK) {
    printf("stats: %s\n", stats);
    monitoring_string_free(stats);
  }

  monitoring_shutdown(client, 5000);
  monitoring_client_free(client);
  free(threads);
  free(results);
  return st == MONITORING_OK ? 0 : 1;
}
