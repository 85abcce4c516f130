/* Shared helpers for the C benchmark harness (the .c files here and alt_spdlog.cpp).
 *
 * Everything here is header-only (static inline) so each benchmark is a single translation unit
 * and the C++ spdlog variant uses exactly the same timing, pacing, percentile and line-formatting
 * code as the C variants.
 *
 * Output convention: every benchmark prints human-readable lines on stderr and exactly one line
 * "RESULT {json}" on stdout, which bench/run_c.sh collects to build bench/results/c.md.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
#include <atomic>
#define BENCH_ATOMIC_U64 std::atomic<uint64_t>
#else
#include <stdatomic.h>
#define BENCH_ATOMIC_U64 _Atomic uint64_t
#endif

/* ------------------------------------------------------------------------------------------ */
/* The event                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* What the SDK benchmarks pass to monitoring_emit: a realistic metric event. The SDK fills in
 * idempotency_key (UUIDv7), event.at (now, UTC, microseconds), site_id and app.* itself. */
static const char BENCH_EVENT_JSON[] =
    "{\"entity\":{\"type\":\"tool\",\"id\":\"ETCH-07\"},"
    "\"event\":{\"kind\":\"metric\",\"metrics\":{\"temp_c\":21.5,\"pressure_pa\":101325.0},"
    "\"metadata\":{\"lot\":\"LOT-42\"}}}";

/* The app section the SDK is configured with (see sdk_config()), so that the alternatives can
 * write the same fields. */
#define BENCH_APP_NAME "bench"
#define BENCH_APP_VERSION "1.0.0"
#define BENCH_SITE_ID "fab1"
#define BENCH_INSTANCE_ID "bench-host"

/* The complete line the alternatives (spdlog, fprintf) write per event: the same content as the
 * SDK's enriched event (schema v1), with a UUIDv7-shaped key and an RFC 3339 microsecond UTC
 * timestamp made per event. Two %s: key, timestamp. The metric values are literal text, exactly as
 * they are literal text in BENCH_EVENT_JSON, so no variant formats doubles. */
#define BENCH_LINE_FMT                                                                              \
  "{\"idempotency_key\":\"%s\",\"site_id\":\"" BENCH_SITE_ID "\","                                 \
  "\"app\":{\"name\":\"" BENCH_APP_NAME "\",\"version\":\"" BENCH_APP_VERSION                       \
  "\",\"instance_id\":\"" BENCH_INSTANCE_ID "\"},"                                                  \
  "\"entity\":{\"type\":\"tool\",\"id\":\"ETCH-07\",\"parent_id\":null,\"business_key\":null,"     \
  "\"sub_key\":null},"                                                                              \
  "\"event\":{\"kind\":\"metric\",\"at\":\"%s\",\"status\":null,\"progress\":null,"                \
  "\"message\":null,\"metrics\":{\"temp_c\":21.5,\"pressure_pa\":101325.0},"                        \
  "\"metadata\":{\"lot\":\"LOT-42\"}}}"

/* Per-thread state the alternatives use to make the key and timestamp. The seconds part of the
 * timestamp is cached and only re-rendered with gmtime_r/strftime when the second changes (what
 * spdlog's own formatter does, and what a careful C programmer would do). */
typedef struct {
  time_t sec;
  int plen;
  char prefix[32];
  uint32_t thread_id;
  uint64_t counter;
} bench_line_state;

static inline void bench_line_state_init(bench_line_state *s, uint32_t thread_id) {
  memset(s, 0, sizeof *s);
  s->sec = (time_t)-1;
  s->thread_id = thread_id;
}

static inline void bench_hex(char *out, uint64_t v, int digits) {
  static const char hx[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; i--) {
    out[i] = hx[v & 15];
    v >>= 4;
  }
}

/* key: 37 bytes (36 + NUL), ts: 28 bytes ("2026-11-22T10:00:00.123456Z" + NUL).
 * key = UUIDv7 layout: 48-bit unix ms | ver 7 + 12 bits | variant 8 + thread | 48-bit counter. */
static inline void bench_make_key_ts(bench_line_state *s, char key[37], char ts[28]) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec != s->sec) {
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    s->plen = (int)strftime(s->prefix, sizeof s->prefix, "%Y-%m-%dT%H:%M:%S.", &tm);
    s->sec = now.tv_sec;
  }
  memcpy(ts, s->prefix, (size_t)s->plen);
  uint32_t us = (uint32_t)(now.tv_nsec / 1000);
  for (int i = 5; i >= 0; i--) {
    ts[s->plen + i] = (char)('0' + us % 10);
    us /= 10;
  }
  ts[s->plen + 6] = 'Z';
  ts[s->plen + 7] = '\0';

  uint64_t ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)(now.tv_nsec / 1000000);
  uint64_t c = ++s->counter;
  bench_hex(key, ms >> 16, 8);
  key[8] = '-';
  bench_hex(key + 9, ms & 0xffff, 4);
  key[13] = '-';
  key[14] = '7';
  bench_hex(key + 15, (c >> 48) & 0xfff, 3);
  key[18] = '-';
  key[19] = '8';
  bench_hex(key + 20, s->thread_id & 0xfff, 3);
  key[23] = '-';
  bench_hex(key + 24, c & 0xffffffffffffULL, 12);
  key[36] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* SDK configuration                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* Inline YAML for monitoring_configure (contains newlines, so it is taken as inline text). */
static inline char *sdk_config(const char *dir, unsigned capacity, const char *on_full) {
  static const char fmt[] =
      "mode: direct\n"
      "app: {name: " BENCH_APP_NAME ", version: " BENCH_APP_VERSION ", site_id: " BENCH_SITE_ID
      ", instance_id: " BENCH_INSTANCE_ID "}\n"
      "direct_backends:\n"
      "  - {type: filesystem, name: bench, path: \"%s\", fsync: never, rotate_mb: 1024}\n"
      "queue: {capacity: %u, on_full: %s, batch_max: 512, flush_interval_ms: 100}\n";
  size_t n = strlen(fmt) + strlen(dir) + strlen(on_full) + 32;
  char *s = (char *)malloc(n);
  if (!s) abort();
  snprintf(s, n, fmt, dir, capacity, on_full);
  return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Time, memory, files                                                                         */
/* ------------------------------------------------------------------------------------------ */

static inline uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline long peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss; /* kilobytes on Linux */
}

/* CPU time (user + system) of the whole process so far, all threads, joined ones included. */
static inline double process_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The live threads of this process as JSON {"comm":{"n":threads,"run_s":..,"runq_wait_s":..}},
 * aggregated by thread name, from /proc/self/task/N/schedstat (time on CPU, time runnable but
 * waiting for a CPU). Used to show where an SDK's internal threads spend their time. */
static inline void threads_json(char *out, size_t cap) {
  struct agg { char comm[32]; int n; double run, wait; } a[32];
  int na = 0;
  DIR *d = opendir("/proc/self/task");
  size_t len = 0;
  out[0] = '\0';
  if (!d) { snprintf(out, cap, "{}"); return; }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[320], comm[32] = "?";
    unsigned long long run = 0, wait = 0;
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f) {
      if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n\"\\")] = '\0';
      fclose(f);
    }
    snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
    f = fopen(path, "r");
    if (f) {
      if (fscanf(f, "%llu %llu", &run, &wait) != 2) run = wait = 0;
      fclose(f);
    }
    int i = 0;
    while (i < na && strcmp(a[i].comm, comm)) i++;
    if (i == na) {
      if (na == 32) continue;
      memset(&a[na], 0, sizeof a[na]);
      snprintf(a[na].comm, sizeof a[na].comm, "%s", comm);
      na++;
    }
    a[i].n++;
    a[i].run += (double)run / 1e9;
    a[i].wait += (double)wait / 1e9;
  }
  closedir(d);
  len += (size_t)snprintf(out + len, cap - len, "{");
  for (int i = 0; i < na && len < cap; i++)
    len += (size_t)snprintf(out + len, cap - len, "%s\"%s\":{\"n\":%d,\"run_s\":%.3f,\"runq_wait_s\":%.3f}",
                            i ? "," : "", a[i].comm, a[i].n, a[i].run, a[i].wait);
  if (len < cap) snprintf(out + len, cap - len, "}");
}

static inline long current_rss_kb(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
  fclose(f);
  return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Total size of the regular files directly in dir and one level below (the filesystem backend
 * may use sub-directories). */
static inline uint64_t dir_bytes(const char *dir, int depth) {
  uint64_t total = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (S_ISREG(st.st_mode))
      total += (uint64_t)st.st_size;
    else if (S_ISDIR(st.st_mode) && depth < 3)
      total += dir_bytes(path, depth + 1);
  }
  closedir(d);
  return total;
}

static inline void sleep_until_ns(uint64_t deadline) {
  struct timespec t;
  t.tv_sec = (time_t)(deadline / 1000000000ull);
  t.tv_nsec = (long)(deadline % 1000000000ull);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Percentiles                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static int bench_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  uint64_t n, p50, p90, p99, p999, max, min;
  double mean;
} bench_pct;

/* Nearest-rank percentile on a sorted array. */
static inline uint64_t bench_rank(const uint64_t *v, uint64_t n, double p) {
  uint64_t k = (uint64_t)(p * (double)n + 0.999999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

static inline bench_pct bench_percentiles(uint64_t *v, uint64_t n) {
  bench_pct r;
  memset(&r, 0, sizeof r);
  if (n == 0) return r;
  qsort(v, (size_t)n, sizeof *v, bench_cmp_u64);
  double sum = 0;
  for (uint64_t i = 0; i < n; i++) sum += (double)v[i];
  r.n = n;
  r.min = v[0];
  r.p50 = bench_rank(v, n, 0.50);
  r.p90 = bench_rank(v, n, 0.90);
  r.p99 = bench_rank(v, n, 0.99);
  r.p999 = bench_rank(v, n, 0.999);
  r.max = v[n - 1];
  r.mean = sum / (double)n;
  return r;
}

static inline void bench_print_pct_json(FILE *f, const char *name, bench_pct p) {
  fprintf(f,
          "\"%s\":{\"n\":%llu,\"min\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,"
          "\"max\":%llu,\"mean\":%.1f}",
          name, (unsigned long long)p.n, (unsigned long long)p.min, (unsigned long long)p.p50,
          (unsigned long long)p.p90, (unsigned long long)p.p99, (unsigned long long)p.p999,
          (unsigned long long)p.max, p.mean);
}

/* Cost of the timing itself: two back-to-back clock_gettime(CLOCK_MONOTONIC) calls with nothing
 * in between, measured exactly as the calls under test are measured. */
static inline bench_pct bench_timer_overhead(uint64_t n) {
  uint64_t *v = (uint64_t *)malloc(n * sizeof *v);
  if (!v) abort();
  for (uint64_t i = 0; i < n / 10; i++) { /* warm-up */
    uint64_t a = now_ns();
    v[i] = now_ns() - a;
  }
  for (uint64_t i = 0; i < n; i++) {
    uint64_t a = now_ns();
    uint64_t b = now_ns();
    v[i] = b - a;
  }
  bench_pct r = bench_percentiles(v, n);
  free(v);
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Arguments                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  int threads;          /* --threads T */
  uint64_t samples;     /* --samples N   (latency: timed calls in total, over all threads) */
  uint64_t events;      /* --events N    (throughput: events in total, over all threads) */
  uint64_t warmup;      /* --warmup N    (latency: untimed calls per thread first) */
  uint64_t rate;        /* --rate R      (latency: events/s in total, paced in bursts) */
  uint64_t burst;       /* --burst B     (latency: calls per burst per thread) */
  unsigned capacity;    /* --capacity C  (queue capacity: SDK queue / spdlog thread-pool queue) */
  const char *on_full;  /* --on-full block|drop (SDK) */
  const char *dir;      /* --dir DIR     output directory (created if missing) */
  const char *mode;     /* --mode latency|throughput (alternatives) */
  const char *label;    /* --label free text copied into the RESULT */
  const char *vary;     /* --vary none|values|shapes (SDK latency: which events, see sdk_common.h) */
} bench_args;

static inline void bench_usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--mode latency|throughput] [--threads T] [--samples N] [--events N]\n"
          "          [--warmup N] [--rate EVENTS_PER_S] [--burst B] [--capacity C]\n"
          "          [--on-full block|drop] [--dir DIR] [--label TEXT] [--vary none|values|shapes]\n",
          prog);
}

static inline bench_args bench_parse_args(int argc, char **argv, const char *default_mode,
                                          const char *default_on_full) {
  bench_args a;
  a.threads = 1;
  a.samples = 1000000;
  a.events = 5000000;
  a.warmup = 20000;
  a.rate = 100000;
  a.burst = 1000;
  a.capacity = 65536;
  a.on_full = default_on_full;
  a.dir = NULL;
  a.mode = default_mode;
  a.label = "";
  a.vary = "none";
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      bench_usage(argv[0]);
      exit(2);
    }
    if (!strcmp(k, "--threads")) a.threads = atoi(v);
    else if (!strcmp(k, "--samples")) a.samples = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--events")) a.events = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--warmup")) a.warmup = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--rate")) a.rate = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--burst")) a.burst = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--capacity")) a.capacity = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--on-full")) a.on_full = v;
    else if (!strcmp(k, "--dir")) a.dir = v;
    else if (!strcmp(k, "--mode")) a.mode = v;
    else if (!strcmp(k, "--label")) a.label = v;
    else if (!strcmp(k, "--vary")) a.vary = v;
    else {
      bench_usage(argv[0]);
      exit(2);
    }
    i++;
  }
  if (a.threads < 1 || a.threads > 64 || !a.dir || a.burst < 1 || a.rate < 1) {
    bench_usage(argv[0]);
    exit(2);
  }
  mkdir(a.dir, 0755);
  return a;
}

/* ------------------------------------------------------------------------------------------ */
/* Latency driver (shared by all variants)                                                    */
/* ------------------------------------------------------------------------------------------ */

/* The call under test. Returns 0 on success, 1 if the event was dropped (queue full), other
 * values are fatal. `st` is the thread's line state (alternatives use it; the SDK ignores it). */
typedef int (*bench_call_fn)(void *ctx, bench_line_state *st);

typedef struct {
  bench_call_fn fn;
  void *ctx;
  const bench_args *args;
  int index;
  uint64_t n;          /* timed calls of this thread */
  uint64_t *samples;   /* preallocated, n entries */
  uint64_t drops;
  uint64_t burst_ns;   /* sum over bursts of the time to do the whole burst (no per-call timer) */
  uint64_t burst_calls;
  uint64_t late_bursts; /* bursts that started after their scheduled time (pace not held) */
  pthread_barrier_t *barrier;
  uint64_t *start_at;
} bench_lat_thread;

static inline int bench_lat_one_call(bench_lat_thread *t, bench_line_state *st) {
  int rc = t->fn(t->ctx, st);
  if (rc == 1) t->drops++;
  else if (rc != 0) {
    fprintf(stderr, "fatal: call under test failed (%d)\n", rc);
    exit(1);
  }
  return rc;
}

static void *bench_lat_thread_main(void *arg) {
  bench_lat_thread *t = (bench_lat_thread *)arg;
  const bench_args *a = t->args;
  bench_line_state st;
  bench_line_state_init(&st, (uint32_t)t->index);
  /* Interval between the starts of two bursts of this thread, so that all threads together
   * emit `rate` events/s. */
  uint64_t interval = (uint64_t)((double)a->burst * (double)a->threads * 1e9 / (double)a->rate);

  /* Warm-up: untimed, same pacing. */
  pthread_barrier_wait(t->barrier);
  uint64_t next = now_ns();
  for (uint64_t done = 0; done < a->warmup;) {
    uint64_t b = a->burst;
    if (b > a->warmup - done) b = a->warmup - done;
    for (uint64_t i = 0; i < b; i++) bench_lat_one_call(t, &st);
    done += b;
    next += interval;
    sleep_until_ns(next);
  }
  t->drops = 0;

  /* Timed pass 1: every call timed with two clock_gettime(CLOCK_MONOTONIC). All threads follow
   * one common schedule (start_at + k * interval), so with T > 1 their bursts overlap. */
  pthread_barrier_wait(t->barrier); /* warm-up done */
  pthread_barrier_wait(t->barrier); /* start_at published */
  next = *t->start_at;
  sleep_until_ns(next);
  uint64_t k = 0;
  while (k < t->n) {
    uint64_t b = a->burst;
    if (b > t->n - k) b = t->n - k;
    for (uint64_t i = 0; i < b; i++) {
      uint64_t t0 = now_ns();
      bench_lat_one_call(t, &st);
      uint64_t t1 = now_ns();
      t->samples[k++] = t1 - t0;
    }
    next += interval;
    if (now_ns() > next) t->late_bursts++; /* the burst overran its slot: pace not held */
    sleep_until_ns(next);
  }

  /* Timed pass 2 (shorter, 1/10 of the calls): whole bursts timed, mean per call. */
  pthread_barrier_wait(t->barrier); /* pass 1 done */
  next = now_ns();
  uint64_t n2 = t->n / 10;
  for (uint64_t done = 0; done < n2;) {
    uint64_t b = a->burst;
    if (b > n2 - done) b = n2 - done;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < b; i++) bench_lat_one_call(t, &st);
    t->burst_ns += now_ns() - t0;
    t->burst_calls += b;
    done += b;
    next += interval;
    sleep_until_ns(next);
  }
  return NULL;
}

typedef struct {
  bench_pct lat;       /* all threads' samples merged */
  bench_pct overhead;  /* timer overhead */
  uint64_t drops;
  uint64_t late_bursts;
  double burst_mean_ns;
  double wall_s;
} bench_lat_result;

static inline bench_lat_result bench_run_latency(const bench_args *a, bench_call_fn fn, void *ctx) {
  bench_lat_result r;
  memset(&r, 0, sizeof r);
  r.overhead = bench_timer_overhead(1000000);
  int T = a->threads;
  uint64_t per = a->samples / (uint64_t)T;
  uint64_t *all = (uint64_t *)malloc(per * (uint64_t)T * sizeof *all);
  if (!all) abort();
  memset(all, 0, per * (uint64_t)T * sizeof *all); /* touch the pages before timing */
  bench_lat_thread *ts = (bench_lat_thread *)calloc((size_t)T, sizeof *ts);
  pthread_t *th = (pthread_t *)calloc((size_t)T, sizeof *th);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)T + 1);
  uint64_t start_at = 0;
  for (int i = 0; i < T; i++) {
    ts[i].fn = fn;
    ts[i].ctx = ctx;
    ts[i].args = a;
    ts[i].index = i;
    ts[i].n = per;
    ts[i].samples = all + (uint64_t)i * per;
    ts[i].barrier = &bar;
    ts[i].start_at = &start_at;
    pthread_create(&th[i], NULL, bench_lat_thread_main, &ts[i]);
  }
  pthread_barrier_wait(&bar); /* warm-up starts */
  pthread_barrier_wait(&bar); /* warm-up done */
  start_at = now_ns() + 2000000; /* timed pass starts 2 ms from now, for every thread */
  uint64_t t0 = start_at;
  pthread_barrier_wait(&bar); /* start_at published */
  pthread_barrier_wait(&bar); /* pass 1 done, pass 2 starts */
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  r.wall_s = (double)(now_ns() - t0) / 1e9;
  uint64_t burst_ns = 0, burst_calls = 0;
  for (int i = 0; i < T; i++) {
    r.drops += ts[i].drops;
    r.late_bursts += ts[i].late_bursts;
    burst_ns += ts[i].burst_ns;
    burst_calls += ts[i].burst_calls;
  }
  r.burst_mean_ns = burst_calls ? (double)burst_ns / (double)burst_calls : 0;
  r.lat = bench_percentiles(all, per * (uint64_t)T);
  pthread_barrier_destroy(&bar);
  free(ts);
  free(th);
  free(all);
  return r;
}

static inline void bench_print_latency_result(const char *variant, const bench_args *a,
                                              bench_lat_result *r, const char *extra_json) {
  fprintf(stderr,
          "[%s latency, %d thread(s)] n=%llu p50=%llu p99=%llu p99.9=%llu max=%llu ns "
          "(timer overhead p50=%llu ns), burst-timed mean=%.1f ns, drops=%llu, late bursts=%llu\n",
          variant, a->threads, (unsigned long long)r->lat.n, (unsigned long long)r->lat.p50,
          (unsigned long long)r->lat.p99, (unsigned long long)r->lat.p999,
          (unsigned long long)r->lat.max, (unsigned long long)r->overhead.p50, r->burst_mean_ns,
          (unsigned long long)r->drops, (unsigned long long)r->late_bursts);
  printf("RESULT {\"kind\":\"latency\",\"variant\":\"%s\",\"label\":\"%s\",\"threads\":%d,"
         "\"rate\":%llu,\"burst\":%llu,\"warmup\":%llu,",
         variant, a->label, a->threads, (unsigned long long)a->rate,
         (unsigned long long)a->burst, (unsigned long long)a->warmup);
  bench_print_pct_json(stdout, "lat", r->lat);
  printf(",");
  bench_print_pct_json(stdout, "overhead", r->overhead);
  printf(",\"burst_mean_ns\":%.1f,\"drops\":%llu,\"late_bursts\":%llu,\"wall_s\":%.3f,"
         "\"peak_rss_kb\":%ld%s%s}\n",
         r->burst_mean_ns, (unsigned long long)r->drops, (unsigned long long)r->late_bursts,
         r->wall_s, peak_rss_kb(), extra_json && *extra_json ? "," : "",
         extra_json ? extra_json : "");
  fflush(stdout);
}

/* ------------------------------------------------------------------------------------------ */
/* Throughput driver (shared by all variants)                                                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  bench_call_fn fn;
  void *ctx;
  int index;
  uint64_t n;
  uint64_t drops;
  pthread_barrier_t *barrier;
} bench_tp_thread;

static void *bench_tp_thread_main(void *arg) {
  bench_tp_thread *t = (bench_tp_thread *)arg;
  bench_line_state st;
  bench_line_state_init(&st, (uint32_t)t->index);
  pthread_barrier_wait(t->barrier);
  for (uint64_t i = 0; i < t->n; i++) {
    int rc = t->fn(t->ctx, &st);
    if (rc == 1) t->drops++;
    else if (rc != 0) {
      fprintf(stderr, "fatal: call under test failed (%d)\n", rc);
      exit(1);
    }
  }
  return NULL;
}

typedef struct {
  uint64_t events;     /* calls made */
  uint64_t drops;      /* calls that reported a drop */
  uint64_t t_start;    /* ns: all threads released */
  uint64_t t_emitted;  /* ns: last emitting thread returned */
  double cpu_start_s;  /* process CPU time when the threads were released */
} bench_tp_result;

/* Runs the emit phase only; the caller then drains (flush / join / fclose) and takes the end
 * time itself. */
static inline bench_tp_result bench_run_throughput_emit(const bench_args *a, bench_call_fn fn,
                                                        void *ctx) {
  bench_tp_result r;
  memset(&r, 0, sizeof r);
  int T = a->threads;
  bench_tp_thread *ts = (bench_tp_thread *)calloc((size_t)T, sizeof *ts);
  pthread_t *th = (pthread_t *)calloc((size_t)T, sizeof *th);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)T + 1);
  uint64_t per = a->events / (uint64_t)T;
  for (int i = 0; i < T; i++) {
    ts[i].fn = fn;
    ts[i].ctx = ctx;
    ts[i].index = i;
    ts[i].n = per + (i == 0 ? a->events % (uint64_t)T : 0);
    ts[i].barrier = &bar;
    pthread_create(&th[i], NULL, bench_tp_thread_main, &ts[i]);
  }
  r.cpu_start_s = process_cpu_s();
  pthread_barrier_wait(&bar);
  r.t_start = now_ns();
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  r.t_emitted = now_ns();
  for (int i = 0; i < T; i++) {
    r.events += ts[i].n;
    r.drops += ts[i].drops;
  }
  pthread_barrier_destroy(&bar);
  free(ts);
  free(th);
  return r;
}

static inline void bench_print_throughput_result(const char *variant, const bench_args *a,
                                                 bench_tp_result *r, uint64_t t_end,
                                                 uint64_t bytes, long rss_before_kb,
                                                 const char *extra_json) {
  double total_s = (double)(t_end - r->t_start) / 1e9;
  double cpu_s = process_cpu_s() - r->cpu_start_s; /* all threads of the process, emit to end */
  double emit_s = (double)(r->t_emitted - r->t_start) / 1e9;
  uint64_t written = r->events - r->drops;
  double eps = (double)written / total_s;
  double mbps = (double)bytes / 1e6 / total_s;
  fprintf(stderr,
          "[%s throughput, %d thread(s)] %llu events (%llu dropped) in %.3f s (emit phase %.3f s):"
          " %.0f events/s, %.1f MB/s, %.1f bytes/event, peak RSS %ld KiB (before emitting %ld KiB),"
          " CPU %.2f s = %.0f ns/event\n",
          variant, a->threads, (unsigned long long)r->events, (unsigned long long)r->drops,
          total_s, emit_s, eps, mbps, written ? (double)bytes / (double)written : 0.0,
          peak_rss_kb(), rss_before_kb, cpu_s, cpu_s * 1e9 / (double)(r->events ? r->events : 1));
  printf("RESULT {\"kind\":\"throughput\",\"variant\":\"%s\",\"label\":\"%s\",\"threads\":%d,"
         "\"events\":%llu,\"drops\":%llu,\"capacity\":%u,\"on_full\":\"%s\",\"total_s\":%.6f,"
         "\"emit_s\":%.6f,\"events_per_s\":%.1f,\"bytes\":%llu,\"mb_per_s\":%.3f,"
         "\"peak_rss_kb\":%ld,\"rss_before_kb\":%ld,\"cpu_s\":%.3f,\"cpu_ns_per_event\":%.1f%s%s}\n",
         variant, a->label, a->threads, (unsigned long long)r->events,
         (unsigned long long)r->drops, a->capacity, a->on_full ? a->on_full : "", total_s, emit_s,
         eps, (unsigned long long)bytes, mbps, peak_rss_kb(), rss_before_kb, cpu_s,
         cpu_s * 1e9 / (double)(r->events ? r->events : 1), extra_json && *extra_json ? "," : "", extra_json ? extra_json : "");
  fflush(stdout);
}

#endif
