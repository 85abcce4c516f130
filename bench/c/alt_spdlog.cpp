/* Alternative 2: spdlog's async logger (Debian libspdlog-dev) writing the same JSON line.
 *
 *   alt_spdlog --mode latency|throughput --dir DIR [--threads T] [--samples N | --events N]
 *              [--capacity C] [--rate R] [--burst B] [--warmup W]
 *
 * Setup: one spdlog::details::thread_pool(C queue slots, 1 worker thread), one
 * basic_file_sink_mt, one async_logger with pattern "%v" (only the message, then "\n").
 * Overflow policy: block for throughput, overrun_oldest for latency (spdlog 1.10 has no
 * "discard new"; overruns are counted and reported as drops).
 *
 * Per event (inside the timed region in latency mode): clock_gettime(CLOCK_REALTIME), the same
 * UUIDv7-shaped key and RFC 3339 timestamp as alt_fprintf, snprintf of BENCH_LINE_FMT into a stack
 * buffer, then logger->log(level::info, string_view(buf, n)) (spdlog copies the message into its
 * queue slot; its worker formats "%v" + eol and fwrites into the file).
 * Throughput: the clock stops when the thread pool is destroyed (its destructor drains the queue
 * and joins the worker) and the last logger reference is gone (the sink fcloses the file).
 */
#include "common.h"

#include <memory>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

static int spdlog_call(void *ctx, bench_line_state *st) {
  char key[37], ts[28], buf[1024];
  bench_make_key_ts(st, key, ts);
  int n = snprintf(buf, sizeof buf, BENCH_LINE_FMT, key, ts);
  if (n <= 0 || n >= (int)sizeof buf) return 2;
  static_cast<spdlog::async_logger *>(ctx)->log(spdlog::level::info,
                                                spdlog::string_view_t(buf, (size_t)n));
  return 0;
}

int main(int argc, char **argv) {
  bench_args a = bench_parse_args(argc, argv, "latency", "");
  std::string path = std::string(a.dir) + "/events.jsonl";
  bool latency = !strcmp(a.mode, "latency");
  if (!latency && strcmp(a.mode, "throughput")) {
    bench_usage(argv[0]);
    return 2;
  }
  auto tp = std::make_shared<spdlog::details::thread_pool>(a.capacity, 1);
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, true);
  auto logger = std::make_shared<spdlog::async_logger>(
      "bench", sink, tp,
      latency ? spdlog::async_overflow_policy::overrun_oldest
              : spdlog::async_overflow_policy::block);
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::off);
  sink.reset();

  if (latency) {
    bench_lat_result r = bench_run_latency(&a, spdlog_call, logger.get());
    size_t overruns = tp->overrun_counter();
    logger.reset();
    tp.reset();
    r.drops = overruns; /* spdlog does not tell the caller; its counter covers warm-up too */
    char extra[128];
    snprintf(extra, sizeof extra, "\"spdlog_overruns\":%zu,\"capacity\":%u", overruns, a.capacity);
    bench_print_latency_result("spdlog", &a, &r, extra);
  } else {
    long rss_before = peak_rss_kb();
    bench_tp_result r = bench_run_throughput_emit(&a, spdlog_call, logger.get());
    size_t overruns = tp->overrun_counter();
    logger.reset();
    tp.reset(); /* drains the queue, joins the worker; last message frees the logger -> fclose */
    uint64_t t_end = now_ns();
    r.drops = overruns;
    char extra[128];
    snprintf(extra, sizeof extra, "\"spdlog_overruns\":%zu", overruns);
    a.on_full = "block";
    bench_print_throughput_result("spdlog", &a, &r, t_end, dir_bytes(a.dir, 0), rss_before, extra);
  }
  return 0;
}
