/* Alternative 1: what a C programmer writes without an SDK: fprintf of a complete JSON line to a
 * FILE shared by the threads (stdio's own per-FILE lock; default buffering, glibc: st_blksize =
 * 4 KiB for a regular file).
 *
 *   alt_fprintf --mode latency|throughput --dir DIR [--threads T] [--samples N | --events N]
 *               [--rate R] [--burst B] [--warmup W]
 *
 * Per event (inside the timed region in latency mode): clock_gettime(CLOCK_REALTIME), a
 * UUIDv7-shaped key from the ms timestamp + thread + per-thread counter, an RFC 3339 UTC
 * microsecond timestamp (seconds part cached per thread), then
 *   fprintf(f, BENCH_LINE_FMT "\n", key, ts)
 * i.e. the same fields the SDK writes (key, site_id, app, entity, event with at, metrics,
 * metadata). Throughput: the clock stops when fclose(f) returns (data in the page cache).
 */
#include "common.h"

static int fprintf_call(void *ctx, bench_line_state *st) {
  char key[37], ts[28];
  bench_make_key_ts(st, key, ts);
  return fprintf((FILE *)ctx, BENCH_LINE_FMT "\n", key, ts) > 0 ? 0 : 2;
}

int main(int argc, char **argv) {
  bench_args a = bench_parse_args(argc, argv, "latency", "");
  char path[4096];
  snprintf(path, sizeof path, "%s/events.jsonl", a.dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return 1;
  }
  if (!strcmp(a.mode, "latency")) {
    bench_lat_result r = bench_run_latency(&a, fprintf_call, f);
    fclose(f);
    bench_print_latency_result("fprintf", &a, &r, "");
  } else if (!strcmp(a.mode, "throughput")) {
    long rss_before = peak_rss_kb();
    bench_tp_result r = bench_run_throughput_emit(&a, fprintf_call, f);
    if (fclose(f) != 0) {
      perror("fclose");
      return 1;
    }
    uint64_t t_end = now_ns();
    bench_print_throughput_result("fprintf", &a, &r, t_end, dir_bytes(a.dir, 0), rss_before, "");
  } else {
    bench_usage(argv[0]);
    return 2;
  }
  return 0;
}
