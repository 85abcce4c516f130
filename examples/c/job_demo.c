/* job_demo.c - report a job's life to the monitoring engine.
 *
 * A "job" is any unit of work you want to see in your dashboards: a recipe step, a batch, a
 * nightly import.  The library turns each call below into one event:
 *
 *   monitoring_job_start     -> kind "started",  status "running"
 *   monitoring_job_progress  -> kind "progress", status "running", with a percentage
 *   monitoring_job_metric    -> kind "metric",   and the value is remembered for the end
 *   monitoring_job_metadata  -> no event; the key/value is attached to every later event
 *   monitoring_job_finish    -> kind "finished" | "error" | "canceled", with the remembered
 *                               metrics plus duration_s, cpu_user_s, cpu_system_s, mem_max_mb
 *
 * This demo runs a parent job (a lot) with one child step that fails, the way a real tool
 * reports a chamber fault.  It uses the default configuration (config NULL): events go to
 * JSONL files under ./monitoring-events, one JSON object per line.  Set MONITORING_CONFIG to a
 * YAML/JSON file, or MONITORING_APP_NAME and friends, to change that without recompiling.
 *
 * Build:  cc job_demo.c $(pkg-config --cflags --libs monitoring) -o job_demo
 * Run:    ./job_demo, then look at the .jsonl files in ./monitoring-events/
 */
#include <monitoring.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Every function returns a monitoring_status; on error, monitoring_last_error() holds a message
 * for this thread.  Monitoring must never take the application down, so a real program would
 * usually log and carry on; the demo just reports. */
static int ok(monitoring_status st, const char *what) {
  if (st == MONITORING_OK) return 1;
  fprintf(stderr, "job_demo: %s failed (status %d): %s\n", what, (int)st, monitoring_last_error());
  return 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(void) {
  /* 1. One client per process, created once.  NULL = environment + defaults. */
  monitoring_client *client = NULL;
  if (!ok(monitoring_configure(NULL, &client), "monitoring_configure")) return 1;

  /* 2. The parent job: entity type "lot" (NULL would mean "job"), no parent. */
  monitoring_job *lot = NULL;
  if (!ok(monitoring_job_start(client, "LOT-42", "lot", NULL, &lot), "start lot")) return 1;
  /* Metadata is attached to every event the job emits from now on. */
  ok(monitoring_job_metadata(lot, "recipe", "ETCH-STD-7"), "metadata");

  /* 3. A child step: its events carry entity.parent_id = the lot's id, so a dashboard can
   *    show the step under its lot.  monitoring_job_id() is valid until the job is finished. */
  monitoring_job *step = NULL;
  if (!ok(monitoring_job_start(client, "etch", "step", monitoring_job_id(lot), &step), "start step")) return 1;
  ok(monitoring_job_metadata(step, "tool", "ETCH-07"), "metadata");
  printf("lot  job id: %s\nstep job id: %s\n", monitoring_job_id(lot), monitoring_job_id(step));

  /* 4. Work, with progress (0..100) and metrics.  Each metric is sent now and also reported
   *    again in the step's final event. */
  for (int wafer = 1; wafer <= 4; wafer++) {
    sleep_ms(50); /* ... etch one wafer ... */
    char msg[64];
    snprintf(msg, sizeof msg, "wafer %d of 8 etched", wafer);
    ok(monitoring_job_progress(step, wafer * 100.0 / 8, msg), "progress");
  }
  ok(monitoring_job_metric(step, "wafers_etched", 4), "metric");
  ok(monitoring_job_metric(step, "chamber_pressure_mtorr", 812.5), "metric");

  /* Invalid input is refused with a clear message and nothing is sent: */
  if (monitoring_job_progress(step, 150.0, "too far") == MONITORING_ERR_INVALID_ARGUMENT)
    printf("rejected as expected: %s\n", monitoring_last_error());

  /* 5. The chamber faults: finish the step as "failed" with the reason.  The event has
   *    kind "error", status "failed", this message, and the metrics above plus duration_s,
   *    cpu_user_s, cpu_system_s and mem_max_mb.  job_finish frees the job whatever it returns. */
  ok(monitoring_job_finish(step, "failed", "chamber pressure out of range"), "finish step");
  step = NULL;

  /* The lot cannot go on without the step: cancel it (kind "canceled"). */
  ok(monitoring_job_finish(lot, "canceled", "step etch failed"), "finish lot");
  lot = NULL;

  /* 6. Before exiting: flush (wait up to 5 s for delivery), then shut down and free.
   *    Events are delivered by background threads, so skipping this could lose the last ones. */
  ok(monitoring_flush(client, 5000), "flush");
  ok(monitoring_shutdown(client, 5000), "shutdown");
  monitoring_client_free(client);
  printf("done: see ./monitoring-events/*.jsonl\n");
  return 0;
}
