/* Sustained end-to-end throughput of the SDK into JSONL, and peak RSS.
 *
 *   throughput --dir DIR [--threads T] [--events N] [--capacity C] [--on-full block|drop]
 *
 * T threads share one client and call monitoring_emit(c, BENCH_EVENT_JSON) N times in total as
 * fast as they can (no pacing). The clock stops when monitoring_flush(c, ...) returns OK, i.e.
 * when every event is written to the filesystem backend's JSONL files (fsync: never: in the page
 * cache). events/s = events written / that time; MB/s = bytes of all files in DIR / that time.
 * Peak RSS is getrusage(RUSAGE_SELF).ru_maxrss at the end (the harness itself allocates nothing
 * per event, so growth beyond "before emitting" is the SDK's).
 */
#include "sdk_common.h"

int main(int argc, char **argv) {
  bench_args a = bench_parse_args(argc, argv, "throughput", "block");
  monitoring_client *c = sdk_open(&a);
  long rss_before = peak_rss_kb();

  bench_tp_result r = bench_run_throughput_emit(&a, sdk_emit_call, c);
  monitoring_status fs = monitoring_flush(c, 600000);
  uint64_t t_end = now_ns();
  if (fs != MONITORING_OK) {
    fprintf(stderr, "monitoring_flush: status %d: %s\n", (int)fs, monitoring_last_error());
  }
  char *stats = sdk_stats(c);
  fprintf(stderr, "stats: %s\n", stats);
  long rss_after_flush = current_rss_kb();
  uint64_t bytes = dir_bytes(a.dir, 0);
  /* the SDK's own threads (still alive until shutdown): CPU and run-queue wait since start */
  char threads[2048];
  threads_json(threads, sizeof threads);
  fprintf(stderr, "threads: %s\n", threads);
  size_t n = strlen(stats) + strlen(threads) + 256;
  char *extra = (char *)malloc(n);
  snprintf(extra, n, "\"flush_status\":%d,\"rss_after_flush_kb\":%ld,\"sdk_dropped\":%lld,"
           "\"sdk_emitted\":%lld,\"sdk_delivered\":%lld,\"threads_cpu\":%s,\"stats\":%s",
           (int)fs, rss_after_flush, sdk_stat(stats, "dropped"), sdk_stat(stats, "emitted"),
           sdk_stat(stats, "delivered"), threads, stats);
  bench_print_throughput_result("monitoring", &a, &r, t_end, bytes, rss_before, extra);
  free(extra);
  free(stats);
  sdk_close(c);
  return fs == MONITORING_OK ? 0 : 1;
}
