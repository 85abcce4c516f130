/* monitoring_emit latency, queue not full.
 *
 *   emit_latency --dir DIR [--threads T] [--samples N] [--rate R] [--burst B] [--warmup W]
 *                [--capacity C] [--on-full drop|block] [--vary none|values|shapes]
 *
 * T threads share one client and call monitoring_emit(c, BENCH_EVENT_JSON) in bursts of B calls,
 * all threads on one schedule that totals R events/s, so the worker keeps the queue far from full.
 * Pass 1 times every call with clock_gettime(CLOCK_MONOTONIC) (N calls in total, preallocated
 * array, sorted: p50/p99/p99.9/max); the timer overhead is measured in the same process. Pass 2
 * (N/10 calls) times whole bursts only, for a mean per call free of timer overhead.
 * Drops (MONITORING_ERR_QUEUE_FULL) are counted and reported: they must be 0 for the numbers to
 * be "queue not full".
 */
#include "sdk_common.h"

int main(int argc, char **argv) {
  bench_args a = bench_parse_args(argc, argv, "latency", "drop");
  sdk_prepare_events(a.vary);
  monitoring_client *c = sdk_open(&a);
  fprintf(stderr, "libmonitoring %s (ABI %u)\n", monitoring_version(), monitoring_abi_version());

  bench_lat_result r = bench_run_latency(&a, sdk_emit_call, c);

  uint64_t t0 = now_ns();
  monitoring_status fs = monitoring_flush(c, 120000);
  double flush_s = (double)(now_ns() - t0) / 1e9;
  char *stats = sdk_stats(c);
  if (fs != MONITORING_OK)
    fprintf(stderr, "monitoring_flush: status %d: %s\n", (int)fs, monitoring_last_error());
  fprintf(stderr, "stats: %s\n", stats);
  /* stats.dropped covers warm-up too; r.drops counts only the timed passes */
  size_t n = strlen(stats) + 256;
  char *extra = (char *)malloc(n);
  snprintf(extra, n, "\"on_full\":\"%s\",\"capacity\":%u,\"flush_status\":%d,\"flush_s\":%.3f,"
           "\"sdk_dropped\":%lld,\"sdk_emitted\":%lld,\"stats\":%s",
           a.on_full, a.capacity, (int)fs, flush_s, sdk_stat(stats, "dropped"),
           sdk_stat(stats, "emitted"), stats);
  bench_print_latency_result("monitoring", &a, &r, extra);
  free(extra);
  free(stats);
  sdk_close(c);
  return 0;
}
