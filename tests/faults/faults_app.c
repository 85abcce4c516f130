/* The C side of the fault tests (tests/faults/test_faults.py): one program, one mode per fault.
 * Each mode prints one JSON line on stdout with what it measured; the Python side decides.
 *
 *   faults_app deadline CONFIG N TIMEOUT_MS   emit N events (entity.id "d-<k>"), then time
 *                                             monitoring_flush and monitoring_shutdown
 *   faults_app drain CONFIG TIMEOUT_MS        configure (replaying any spool), flush, shutdown
 *   faults_app throughput CONFIG N BACKEND    emit N events as fast as `on_full: block` allows;
 *                                             the time until BACKEND has delivered all of them
 *   faults_app fork CONFIG N CHILDREN         parent emits, forks CHILDREN children that each
 *                                             emit N events and exit, emits again, waits
 *   faults_app spool CONFIG N                 emit N events into a backend that is down, and time
 *                                             the flush that returns once they are spooled (the
 *                                             spool benchmark, bench/run_spool.sh)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monitoring.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *status_name(monitoring_status s) {
  switch (s) {
    case MONITORING_OK: return "OK";
    case MONITORING_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case MONITORING_ERR_CONFIG: return "CONFIG";
    case MONITORING_ERR_QUEUE_FULL: return "QUEUE_FULL";
    case MONITORING_ERR_TIMEOUT: return "TIMEOUT";
    case MONITORING_ERR_SHUTDOWN: return "SHUTDOWN";
    case MONITORING_ERR_IO: return "IO";
    case MONITORING_ERR_INTERNAL: return "INTERNAL";
  }
  return "?";
}

static void die(const char *what, monitoring_status st) {
  fprintf(stderr, "faults_app: %s: %s: %s\n", what, status_name(st), monitoring_last_error());
  exit(2);
}

static monitoring_client *configure(const char *config) {
  monitoring_client *c = NULL;
  monitoring_status st = monitoring_configure(config, &c);
  if (st != MONITORING_OK) die("configure", st);
  return c;
}

/* Emits one log event whose entity.id is `id`; returns the status. */
static monitoring_status emit_id(monitoring_client *c, const char *id) {
  char ev[256];
  snprintf(ev, sizeof ev, "{\"entity\":{\"type\":\"fault\",\"id\":\"%s\"},\"event\":{\"kind\":\"log\"}}", id);
  return monitoring_emit(c, ev);
}

/* Emits events "<prefix>-<k>" for k in [from, to); returns how many were queued. */
static int emit_range(monitoring_client *c, const char *prefix, int from, int to) {
  char id[64];
  int ok = 0;
  for (int k = from; k < to; k++) {
    snprintf(id, sizeof id, "%s-%d", prefix, k);
    ok += emit_id(c, id) == MONITORING_OK;
  }
  return ok;
}

static char *stats(monitoring_client *c) {
  char *s = NULL;
  if (monitoring_stats_json(c, &s) != MONITORING_OK) return NULL;
  return s;
}

/* Parses `"name":<number>` after `from` (or the start): enough for the flat counters. */
static double stat_after(const char *json, const char *from, const char *name) {
  const char *p = json;
  if (from && (p = strstr(json, from)) == NULL) return -1;
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", name);
  p = strstr(p, key);
  return p ? strtod(p + strlen(key), NULL) : -1;
}

/* The same event text every time: the benchmarks measure the pipeline, not the formatting. */
static const char *BENCH_EVENT = "{\"entity\":{\"type\":\"tool\",\"id\":\"ETCH-07\"},\"event\":{\"kind\":\"metric\","
                                 "\"metrics\":{\"temp_c\":21.5,\"pressure_pa\":101325.0}}}";

static int mode_deadline(const char *config, int n, unsigned timeout_ms) {
  monitoring_client *c = configure(config);
  int ok = emit_range(c, "d", 0, n);
  double t0 = now_ms();
  monitoring_status fst = monitoring_flush(c, timeout_ms);
  double flush_ms = now_ms() - t0;
  /* More events after the flush timed out: they are in the queue or a worker's hands at the
     shutdown deadline, and must be spooled by it. */
  ok += emit_range(c, "d", n, 2 * n);
  t0 = now_ms();
  monitoring_status sst = monitoring_shutdown(c, timeout_ms);
  double shutdown_ms = now_ms() - t0;
  char *s = stats(c);
  printf("{\"emitted_ok\":%d,\"flush\":\"%s\",\"flush_ms\":%.1f,\"shutdown\":\"%s\",\"shutdown_ms\":%.1f,\"stats\":%s}\n",
         ok, status_name(fst), flush_ms, status_name(sst), shutdown_ms, s ? s : "null");
  fflush(stdout);
  monitoring_string_free(s);
  monitoring_client_free(c);
  /* The hung backend call is still in progress in a detached thread: exit without waiting. */
  _exit(0);
}

static int mode_drain(const char *config, unsigned timeout_ms) {
  double t_cfg = now_ms();
  monitoring_client *c = configure(config);
  double t0 = now_ms();
  double configure_ms = t0 - t_cfg; /* includes opening the spool and recovering its tail */
  monitoring_status fst = MONITORING_ERR_TIMEOUT;
  /* Replay happens in the background: wait until the spool is empty, then flush. */
  while (now_ms() - t0 < timeout_ms) {
    char *s = stats(c);
    double pending = s ? stat_after(s, NULL, "spool_pending") : -1;
    monitoring_string_free(s);
    if (pending == 0) break;
    usleep(20000);
  }
  fst = monitoring_flush(c, timeout_ms);
  double drain_ms = now_ms() - t0;
  monitoring_status sst = monitoring_shutdown(c, 5000);
  char *s = stats(c);
  printf("{\"flush\":\"%s\",\"shutdown\":\"%s\",\"configure_ms\":%.1f,\"drain_ms\":%.1f,\"stats\":%s}\n",
         status_name(fst), status_name(sst), configure_ms, drain_ms, s ? s : "null");
  monitoring_string_free(s);
  monitoring_client_free(c);
  return 0;
}

static int mode_throughput(const char *config, long n, const char *backend) {
  monitoring_client *c = configure(config);
  char from[128];
  snprintf(from, sizeof from, "\"%s\":{", backend);
  const char *ev = BENCH_EVENT;
  double t0 = now_ms();
  for (long k = 0; k < n; k++) {
    monitoring_status st = monitoring_emit(c, ev);
    if (st != MONITORING_OK) die("emit", st);
  }
  double emitted_ms = now_ms() - t0, done_ms = -1;
  /* The healthy backend's own progress, not a flush (which also waits for the failing one). */
  for (;;) {
    char *s = stats(c);
    double delivered = s ? stat_after(s, from, "delivered") : -1;
    monitoring_string_free(s);
    if (delivered >= n) {
      done_ms = now_ms() - t0;
      break;
    }
    if (now_ms() - t0 > 120000) break;
    usleep(500);
  }
  monitoring_status fst = monitoring_flush(c, 60000);
  monitoring_status sst = monitoring_shutdown(c, 10000);
  char *s = stats(c);
  printf("{\"events\":%ld,\"emit_ms\":%.1f,\"delivered_ms\":%.1f,\"events_per_s\":%.0f,\"flush\":\"%s\",\"shutdown\":\"%s\",\"stats\":%s}\n",
         n, emitted_ms, done_ms, done_ms > 0 ? n / (done_ms / 1e3) : 0.0, status_name(fst), status_name(sst),
         s ? s : "null");
  monitoring_string_free(s);
  monitoring_client_free(c);
  return done_ms > 0 ? 0 : 1;
}

static int mode_spool(const char *config, long n) {
  monitoring_client *c = configure(config);
  double t0 = now_ms();
  for (long k = 0; k < n; k++) {
    monitoring_status st = monitoring_emit(c, BENCH_EVENT);
    if (st != MONITORING_OK) die("emit", st);
  }
  double emit_ms = now_ms() - t0;
  /* OK once every event is spooled and, unless fsync: never, fsynced. */
  monitoring_status fst = monitoring_flush(c, 600000);
  double flush_ms = now_ms() - t0;
  char *s = stats(c);
  printf("{\"events\":%ld,\"emit_ms\":%.1f,\"spooled_ms\":%.1f,\"flush\":\"%s\",\"stats\":%s}\n", n, emit_ms,
         flush_ms, status_name(fst), s ? s : "null");
  monitoring_string_free(s);
  monitoring_shutdown(c, 10000);
  monitoring_client_free(c);
  return fst == MONITORING_OK ? 0 : 1;
}

/* Children emit through the client they inherited: after_fork_child gave it new threads. */
static int child_main(monitoring_client *c, int index, int n) {
  char prefix[16];
  snprintf(prefix, sizeof prefix, "c%d", index);
  int ok = emit_range(c, prefix, 0, n);
  monitoring_status fst = monitoring_flush(c, 20000);
  monitoring_status sst = monitoring_shutdown(c, 5000);
  monitoring_client_free(c);
  if (ok != n || fst != MONITORING_OK || sst != MONITORING_OK) {
    fprintf(stderr, "child %d: %d of %d emitted, flush %s, shutdown %s\n", index, ok, n, status_name(fst),
            status_name(sst));
    return 1;
  }
  return 0;
}

/* A thread that keeps emitting in the parent while it forks: a fork then happens while other
   threads hold the engine's locks, the case the atfork handlers are for. */
struct busy {
  monitoring_client *c;
  volatile int stop;
  int emitted;
};

static void *busy_thread(void *arg) {
  struct busy *b = arg;
  char id[64];
  while (!b->stop && b->emitted < 20000) {
    snprintf(id, sizeof id, "t-%d", b->emitted);
    if (emit_id(b->c, id) == MONITORING_OK) b->emitted++;
    if (b->emitted % 64 == 0) usleep(200);
  }
  return NULL;
}

static int mode_fork(const char *config, int n, int children) {
  /* The hooks the C ABI provides, registered the way the README says. */
  pthread_atfork(monitoring_before_fork, monitoring_after_fork_parent, monitoring_after_fork_child);
  monitoring_client *c = configure(config);
  int parent_ok = emit_range(c, "p", 0, n);
  struct busy b = {c, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, busy_thread, &b);
  pid_t pids[256];
  for (int i = 0; i < children; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 2;
    }
    if (pid == 0) _exit(child_main(c, i, n));
    pids[i] = pid;
    parent_ok += emit_range(c, "p", n + i, n + i + 1);
  }
  int failed_children = 0;
  for (int i = 0; i < children; i++) {
    int st = 0;
    if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) failed_children++;
  }
  b.stop = 1;
  pthread_join(t, NULL);
  monitoring_status fst = monitoring_flush(c, 20000);
  monitoring_status sst = monitoring_shutdown(c, 5000);
  char *s = stats(c);
  printf("{\"parent_ok\":%d,\"thread_ok\":%d,\"failed_children\":%d,\"flush\":\"%s\",\"shutdown\":\"%s\",\"stats\":%s}\n",
         parent_ok, b.emitted, failed_children, status_name(fst), status_name(sst), s ? s : "null");
  monitoring_string_free(s);
  monitoring_client_free(c);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "deadline") == 0)
    return mode_deadline(argv[2], atoi(argv[3]), (unsigned)atoi(argv[4]));
  if (argc >= 4 && strcmp(argv[1], "drain") == 0) return mode_drain(argv[2], (unsigned)atoi(argv[3]));
  if (argc >= 5 && strcmp(argv[1], "throughput") == 0) return mode_throughput(argv[2], atol(argv[3]), argv[4]);
  if (argc >= 4 && strcmp(argv[1], "spool") == 0) return mode_spool(argv[2], atol(argv[3]));
  if (argc >= 5 && strcmp(argv[1], "fork") == 0) return mode_fork(argv[2], atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: faults_app deadline|drain|throughput|fork ... (see the source)\n");
  return 2;
}
