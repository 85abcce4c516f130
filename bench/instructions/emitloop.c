/* N emits of the benchmark event into a filesystem backend, then flush: run under
 * callgrind by bench/run_instructions.sh to count instructions per event. The queue holds all N
 * events, so that `on_full: drop` (the default, and the C benchmark's) drops none however slowly
 * the batcher runs under valgrind. A flush every FLUSH_EVERY emits keeps the emitting thread's
 * ring of blocks (256 KiB, about 800 of these events) from filling while valgrind runs the
 * batcher slowly: unpaced, most events took the heap fallback, which is not what `emit` does
 * when the batcher keeps up. */
#include <monitoring.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#define FLUSH_EVERY 256
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  monitoring_client *c;
  const char *dir = argc > 2 ? argv[2] : "/tmp/monitoring-instructions";
  char cfg[1024];
  snprintf(cfg, sizeof cfg, "direct_backends:\n  - {type: filesystem, name: b, path: %s/ev, fsync: never}\nspool: {path: %s/spool}\nqueue: {capacity: %d, on_full: drop}\n", dir, dir, n > 65536 ? n : 65536);
  if (monitoring_configure(cfg, &c)) { fprintf(stderr, "%s\n", monitoring_last_error()); return 1; }
  const char *ev = "{\"entity\":{\"type\":\"tool\",\"id\":\"ETCH-07\"},\"event\":{\"kind\":\"metric\",\"metrics\":{\"temp_c\":21.5,\"pressure_pa\":101325.0},\"metadata\":{\"lot\":\"LOT-42\"}}}";
  int refused = 0;
  for (int i = 0; i < n; i++) {
    refused += monitoring_emit(c, ev) != MONITORING_OK;
    if ((i + 1) % FLUSH_EVERY == 0) monitoring_flush(c, 10000);
  }
  if (refused) { fprintf(stderr, "%d emits refused\n", refused); return 1; }
  monitoring_flush(c, 10000);
  monitoring_shutdown(c, 1000);
  monitoring_client_free(c);
  return 0;
}
