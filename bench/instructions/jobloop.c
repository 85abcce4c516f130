/* One job, N progress and N metric calls, into a filesystem backend: run under callgrind by
 * bench/run_instructions.sh to count instructions per job call. */
#include <monitoring.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  const char *dir = argc > 2 ? argv[2] : "/tmp/monitoring-instructions";
  char cfg[1024];
  snprintf(cfg, sizeof cfg, "direct_backends:\n  - {type: filesystem, name: b, path: %s/jobs, fsync: never}\nspool: {path: %s/job-spool}\nqueue: {capacity: 65536, on_full: block}\n", dir, dir);
  monitoring_client *c;
  if (monitoring_configure(cfg, &c)) { fprintf(stderr, "%s\n", monitoring_last_error()); return 1; }
  monitoring_job *j;
  if (monitoring_job_start(c, "etch", "lot", NULL, &j)) { fprintf(stderr, "%s\n", monitoring_last_error()); return 1; }
  monitoring_job_metadata(j, "lot", "LOT-42");
  for (int i = 0; i < n; i++) monitoring_job_progress(j, i % 100, "half way");
  for (int i = 0; i < n; i++) monitoring_job_metric(j, "wafers", i);
  monitoring_job_finish(j, "succeeded", NULL);
  monitoring_flush(c, 10000);
  monitoring_shutdown(c, 1000);
  monitoring_client_free(c);
  return 0;
}
