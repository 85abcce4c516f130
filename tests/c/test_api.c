/* C ABI tests, part 1: version, last_error, configure (every source and its errors), NULL
 * arguments to every function, event validation, emit_n.
 *
 * Each test runs in its own process (see check.h) with a fresh temp dir. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

/* Flushes, shuts down and frees c, then loads DIR/events/ *.jsonl into ev. */
#define CLOSE_AND_LOAD(c, dir, ev)                                          \
  do {                                                                      \
    CHECK_OK(monitoring_flush((c), 5000));                                  \
    CHECK_OK(monitoring_shutdown((c), 5000));                               \
    monitoring_client_free(c);                                              \
    (c) = NULL;                                                             \
    TU_LOAD_EVENTS((dir), (ev));                                            \
  } while (0)

static const char *LOG_EVENT = TU_LOG_EVENT;

/* ------------------------------------------------------------------ version, last_error */

static void t_version(void) {
  const char *v = monitoring_version();
  CHECK(v != NULL);
  CHECK_STREQ(v, "0.1.0");
  CHECKF(monitoring_version() == v, "monitoring_version() should return the same static string");
  CHECKF(monitoring_abi_version() == 1, "monitoring_abi_version() = %u, expected 1", monitoring_abi_version());
}

static void *thread_last_error(void *arg) {
  const char *e = monitoring_last_error();
  snprintf((char *)arg, 256, "%s", e ? e : "(NULL)");
  return NULL;
}

static void t_last_error_empty_when_none(void) {
  const char *e = monitoring_last_error();
  CHECKF(e != NULL, "monitoring_last_error() returned NULL; the contract says \"\" when none");
  CHECKF(e[0] == '\0', "last_error in a fresh process is \"%s\", expected \"\"", e);
  char other[256] = "unset";
  pthread_t th;
  CHECK(pthread_create(&th, NULL, thread_last_error, other) == 0);
  pthread_join(th, NULL);
  CHECKF(other[0] == '\0', "last_error in a fresh thread is \"%s\", expected \"\"", other);
}

static void t_last_error_after_error_is_per_thread(void) {
  CHECK_ST(monitoring_emit(NULL, LOG_EVENT), MONITORING_ERR_INVALID_ARGUMENT);
  CHECK_ERR_SET();
  char mine[256];
  snprintf(mine, sizeof mine, "%s", last_error_or());
  /* another thread does not see this thread's error */
  char other[256] = "unset";
  pthread_t th;
  CHECK(pthread_create(&th, NULL, thread_last_error, other) == 0);
  pthread_join(th, NULL);
  CHECKF(other[0] == '\0', "another thread sees last_error \"%s\"; it must be per thread", other);
  /* and reading it does not clear it */
  CHECK_STREQ(last_error_or(), mine);
}

/* ------------------------------------------------------------------ configure */

static void t_configure_null_uses_env_and_defaults(void) {
  char *dir = tu_tmpdir("cfgnull");
  char cwd[4096];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK(chdir(dir) == 0);
  setenv("MONITORING_APP_NAME", "env-app", 1);
  setenv("MONITORING_APP_VERSION", "9.9.9", 1);
  setenv("MONITORING_SITE_ID", "env-site", 1);
  setenv("MONITORING_INSTANCE_ID", "env-host:7", 1);
  monitoring_client *c = NULL;
  CHECK_OK(monitoring_configure(NULL, &c));
  CHECK(c != NULL);
  CHECK_OK(monitoring_emit(c, LOG_EVENT));
  CHECK_OK(monitoring_flush(c, 5000));
  CHECK_OK(monitoring_shutdown(c, 5000));
  monitoring_client_free(c);
  tu_events ev = {0};
  /* default: one filesystem backend under ./monitoring-events */
  char *evdir = tu_sprintf("%s/monitoring-events", dir);
  CHECKF(tu_load_jsonl_dir(evdir, &ev), "%s", ev.err);
  CHECKF(ev.n == 1, "expected 1 event under ./monitoring-events, found %zu", ev.n);
  const mj_node *e = ev.ev[0];
  const char *why = tu_event_shape(e);
  CHECKF(why == NULL, "%s", why);
  CHECK_STREQ(mj_str(e, "app.name"), "env-app");
  CHECK_STREQ(mj_str(e, "app.version"), "9.9.9");
  CHECK_STREQ(mj_str(e, "app.instance_id"), "env-host:7");
  CHECK_STREQ(mj_str(e, "site_id"), "env-site");
  CHECK_STREQ(mj_str(e, "entity.type"), "app");
  CHECK_STREQ(mj_str(e, "entity.id"), "env-host:7");
  CHECK_STREQ(mj_str(e, "event.message"), "hello");
  tu_events_free(&ev);
  free(evdir);
  CHECK(chdir(cwd) == 0);
  free(dir);
}

static void t_configure_null_without_env(void) {
  char *dir = tu_tmpdir("cfgnull2");
  char cwd[4096];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK(chdir(dir) == 0);
  monitoring_client *c = NULL;
  CHECK_OK(monitoring_configure(NULL, &c));
  CHECK_OK(monitoring_emit(c, LOG_EVENT));
  CHECK_OK(monitoring_shutdown(c, 5000));
  monitoring_client_free(c);
  tu_events ev = {0};
  CHECKF(tu_load_jsonl_dir("monitoring-events", &ev), "%s", ev.err);
  CHECKF(ev.n == 1, "expected 1 event under ./monitoring-events with no configuration at all, found %zu", ev.n);
  const char *why = tu_event_shape(ev.ev[0]);
  CHECKF(why == NULL, "%s", why);
  tu_events_free(&ev);
  CHECK(chdir(cwd) == 0);
  free(dir);
}

/* Configures from `config`, emits one event, checks it lands in DIR/events. */
static void roundtrip(const char *dir, const char *config, const char *what) {
  monitoring_client *c = NULL;
  CHECKF(monitoring_configure(config, &c) == MONITORING_OK, "configure from %s failed: %s", what, last_error_or());
  CHECK(c != NULL);
  CHECK_OK(monitoring_emit(c, LOG_EVENT));
  tu_events ev = {0};
  CLOSE_AND_LOAD(c, dir, ev);
  CHECKF(ev.n == 1, "configured from %s: expected 1 event in %s/events, found %zu", what, dir, ev.n);
  CHECK_STREQ(mj_str(ev.ev[0], "app.name"), "ctest");
  CHECK_STREQ(mj_str(ev.ev[0], "site_id"), "fab1");
  tu_events_free(&ev);
}

static void t_configure_inline_yaml(void) {
  char *dir = tu_tmpdir("cfgyaml");
  char *cfg = tu_fs_config(dir, "queue: {capacity: 1000, on_full: drop, batch_max: 64, flush_interval_ms: 50}\n");
  roundtrip(dir, cfg, "inline YAML");
  free(cfg);
  free(dir);
}

static char *json_config(const char *dir) {
  return tu_sprintf(
      "{\"mode\": \"direct\", \"app\": {\"name\": \"ctest\", \"version\": \"1.2.3\", \"site_id\": \"fab1\"},"
      " \"direct_backends\": [{\"type\": \"filesystem\", \"name\": \"local\", \"path\": \"%s/events\"}],"
      " \"spool\": {\"path\": \"%s/spool\"}, \"queue\": {\"capacity\": 100}}",
      dir, dir);
}

static void t_configure_inline_json(void) {
  char *dir = tu_tmpdir("cfgjson");
  char *cfg = json_config(dir);
  CHECK(strchr(cfg, '\n') == NULL); /* inline because it starts with '{' */
  roundtrip(dir, cfg, "inline JSON");
  free(cfg);
  free(dir);
}

static void t_configure_inline_yaml_flow(void) {
  /* one line, starts with '{', but YAML (unquoted keys): "inline YAML/JSON" per the contract */
  char *dir = tu_tmpdir("cfgflow");
  char *cfg = tu_sprintf("{app: {name: ctest, version: 1.2.3, site_id: fab1}, "
                         "direct_backends: [{type: filesystem, name: local, path: \"%s/events\"}], "
                         "spool: {path: \"%s/spool\"}}",
                         dir, dir);
  roundtrip(dir, cfg, "inline one-line YAML flow mapping");
  free(cfg);
  free(dir);
}

static void t_configure_yaml_file(void) {
  char *dir = tu_tmpdir("cfgyfile");
  char *cfg = tu_fs_config(dir, NULL);
  char *path = tu_sprintf("%s/monitoring.yaml", dir);
  CHECK(tu_write_file(path, cfg));
  roundtrip(dir, path, path);
  free(path);
  free(cfg);
  /* .yml too */
  char *dir2 = tu_tmpdir("cfgymlfile");
  cfg = tu_fs_config(dir2, NULL);
  path = tu_sprintf("%s/monitoring.yml", dir2);
  CHECK(tu_write_file(path, cfg));
  roundtrip(dir2, path, path);
  free(path);
  free(cfg);
  free(dir2);
  free(dir);
}

static void t_configure_json_file(void) {
  char *dir = tu_tmpdir("cfgjfile");
  char *cfg = json_config(dir);
  char *path = tu_sprintf("%s/monitoring.json", dir);
  CHECK(tu_write_file(path, cfg));
  roundtrip(dir, path, path);
  free(path);
  free(cfg);
  free(dir);
}

/* configure(config) must fail with MONITORING_ERR_CONFIG, leave *out NULL and name `needle`. */
#define CHECK_CONFIG_ERROR(config, needle)                                                   \
  do {                                                                                       \
    monitoring_client *c__ = NULL;                                                           \
    CHECK_ST(monitoring_configure((config), &c__), MONITORING_ERR_CONFIG);                   \
    CHECKF(c__ == NULL, "*out was set although configure failed");                         \
    CHECK_ERR_HAS(needle);                                                                   \
  } while (0)

static void t_configure_unknown_key_in_file(void) {
  char *dir = tu_tmpdir("cfgbad");
  char *path = tu_sprintf("%s/bad.yaml", dir);
  char *text = tu_sprintf(
      "mode: direct\n"
      "direct_backends:\n"
      "  - type: filesystem\n"
      "    name: local\n"
      "    path: %s/events\n"
      "    bukcet: events\n",
      dir);
  CHECK(tu_write_file(path, text));
  CHECK_CONFIG_ERROR(path, "direct_backends[0].bukcet");
  free(text);
  free(path);
  /* the same mistake in a second backend is reported with its index */
  path = tu_sprintf("%s/bad2.json", dir);
  text = tu_sprintf(
      "{\"direct_backends\": [{\"type\": \"filesystem\", \"name\": \"a\", \"path\": \"%s/a\"},"
      " {\"type\": \"filesystem\", \"name\": \"b\", \"path\": \"%s/b\", \"bukcet\": 1}]}",
      dir, dir);
  CHECK(tu_write_file(path, text));
  CHECK_CONFIG_ERROR(path, "direct_backends[1].bukcet");
  free(text);
  free(path);
  free(dir);
}

static void t_configure_unknown_keys_inline(void) {
  char *dir = tu_tmpdir("cfgbad2");
  char *cfg = tu_fs_config(dir, "queue: {capasity: 5}\n");
  CHECK_CONFIG_ERROR(cfg, "queue.capasity");
  free(cfg);
  cfg = tu_fs_config(dir, "colour: red\n");
  CHECK_CONFIG_ERROR(cfg, "colour");
  free(cfg);
  free(dir);
}

static void t_configure_invalid_values(void) {
  char *dir = tu_tmpdir("cfgval");
  char *cfg = tu_fs_config(dir, "queue: {on_full: sometimes}\n");
  CHECK_CONFIG_ERROR(cfg, "on_full");
  free(cfg);
  cfg = tu_sprintf("mode: bogus\napp: {name: x}\n");
  CHECK_CONFIG_ERROR(cfg, "mode");
  free(cfg);
  cfg = tu_fs_config(dir, "queue: {capacity: lots}\n");
  CHECK_CONFIG_ERROR(cfg, "capacity");
  free(cfg);
  /* a backend type that does not exist */
  cfg = tu_sprintf("direct_backends:\n  - {type: carrier-pigeon, name: p}\n");
  CHECK_CONFIG_ERROR(cfg, "carrier-pigeon");
  free(cfg);
  free(dir);
}

static void t_configure_syntax_error(void) {
  char *dir = tu_tmpdir("cfgsyn");
  char *path = tu_sprintf("%s/broken.yaml", dir);
  CHECK(tu_write_file(path, "mode: direct\ndirect_backends: [ {type: filesystem\n"));
  monitoring_client *c = NULL;
  CHECK_ST(monitoring_configure(path, &c), MONITORING_ERR_CONFIG);
  CHECK(c == NULL);
  CHECK_ERR_SET();
  free(path);
  path = tu_sprintf("%s/broken.json", dir);
  CHECK(tu_write_file(path, "{\"mode\": \"direct\",,}"));
  CHECK_ST(monitoring_configure(path, &c), MONITORING_ERR_CONFIG);
  CHECK(c == NULL);
  CHECK_ERR_SET();
  /* inline JSON that is not JSON */
  CHECK_ST(monitoring_configure("{\"mode\": ", &c), MONITORING_ERR_CONFIG);
  CHECK(c == NULL);
  CHECK_ERR_SET();
  free(path);
  free(dir);
}

static void t_configure_nonexistent_path(void) {
  char *dir = tu_tmpdir("cfgmissing");
  char *path = tu_sprintf("%s/does-not-exist.yaml", dir);
  monitoring_client *c = NULL;
  monitoring_status st = monitoring_configure(path, &c);
  /* DESIGN.md does not say which code; CONFIG is what a user expects, IO is defensible */
  CHECKF(st == MONITORING_ERR_CONFIG || st == MONITORING_ERR_IO,
         "configure(missing file) returned %s, expected MONITORING_ERR_CONFIG (or _IO)", status_name(st));
  CHECK(c == NULL);
  CHECK_ERR_HAS("does-not-exist.yaml");
  free(path);
  free(dir);
}

static void t_configure_env_expansion(void) {
  char *dir = tu_tmpdir("cfgenv");
  char *evdir = tu_sprintf("%s/events", dir);
  setenv("CTEST_EVENTS_DIR", evdir, 1);
  unsetenv("CTEST_UNSET_VAR");
  char *path = tu_sprintf("%s/env.yaml", dir);
  char *text = tu_sprintf(
      "app: {name: \"${CTEST_UNSET_VAR:-fallback-app}\", version: \"1.0\", site_id: fab1}\n"
      "direct_backends:\n"
      "  - {type: filesystem, name: local, path: \"${CTEST_EVENTS_DIR}\"}\n"
      "spool: {path: \"%s/spool\"}\n",
      dir);
  CHECK(tu_write_file(path, text));
  monitoring_client *c = NULL;
  CHECK_OK(monitoring_configure(path, &c));
  CHECK_OK(monitoring_emit(c, LOG_EVENT));
  tu_events ev = {0};
  CLOSE_AND_LOAD(c, dir, ev);
  CHECKF(ev.n == 1, "expected the event under ${CTEST_EVENTS_DIR} = %s, found %zu events", evdir, ev.n);
  CHECK_STREQ(mj_str(ev.ev[0], "app.name"), "fallback-app");
  tu_events_free(&ev);
  free(text);
  free(path);
  free(evdir);
  free(dir);
}

static void t_configure_from_MONITORING_CONFIG(void) {
  char *dir = tu_tmpdir("cfgenvfile");
  char *cfg = tu_fs_config(dir, NULL);
  char *path = tu_sprintf("%s/from-env.yaml", dir);
  CHECK(tu_write_file(path, cfg));
  setenv("MONITORING_CONFIG", path, 1);
  setenv("MONITORING_SITE_ID", "site-from-env", 1); /* environment beats file */
  monitoring_client *c = NULL;
  CHECK_OK(monitoring_configure(NULL, &c));
  CHECK_OK(monitoring_emit(c, LOG_EVENT));
  tu_events ev = {0};
  CLOSE_AND_LOAD(c, dir, ev);
  CHECKF(ev.n == 1, "MONITORING_CONFIG=%s: expected 1 event in %s/events, found %zu", path, dir, ev.n);
  CHECK_STREQ(mj_str(ev.ev[0], "app.name"), "ctest");
  CHECK_STREQ(mj_str(ev.ev[0], "site_id"), "site-from-env");
  tu_events_free(&ev);
  free(path);
  free(cfg);
  free(dir);
}

/* ------------------------------------------------------------------ NULL arguments */

#define CHECK_NULL_ARG(expr)                                           \
  do {                                                                 \
    CHECK_ST(expr, MONITORING_ERR_INVALID_ARGUMENT);                   \
    CHECKF(last_error_or()[0] != '\0', "no last_error after %s", #expr); \
  } while (0)

static void t_null_arguments(void) {
  char *dir = tu_tmpdir("nulls");
  char *cfg = tu_fs_config(dir, NULL);
  monitoring_client *c = NULL;
  monitoring_job *j = NULL;
  char *s = NULL;

  CHECK_NULL_ARG(monitoring_configure(cfg, NULL));
  CHECK_NULL_ARG(monitoring_configure(NULL, NULL));
  CHECK_OK(monitoring_configure(cfg, &c));

  CHECK_NULL_ARG(monitoring_emit(NULL, LOG_EVENT));
  CHECK_NULL_ARG(monitoring_emit(c, NULL));
  CHECK_NULL_ARG(monitoring_emit_n(NULL, LOG_EVENT, strlen(LOG_EVENT)));
  CHECK_NULL_ARG(monitoring_emit_n(c, NULL, 10));
  CHECK_NULL_ARG(monitoring_emit_n(c, NULL, 0));

  CHECK_NULL_ARG(monitoring_job_start(NULL, "job", NULL, NULL, &j));
  CHECK(j == NULL);
  CHECK_NULL_ARG(monitoring_job_start(c, NULL, NULL, NULL, &j));
  CHECK(j == NULL);
  CHECK_NULL_ARG(monitoring_job_start(c, "job", NULL, NULL, NULL));
  CHECK_NULL_ARG(monitoring_job_start_keyed(NULL, "job", NULL, NULL, "LOT-1", NULL, &j));
  CHECK(j == NULL);
  CHECK_NULL_ARG(monitoring_job_start_keyed(c, NULL, NULL, NULL, "LOT-1", NULL, &j));
  CHECK_NULL_ARG(monitoring_job_start_keyed(c, "job", NULL, NULL, "LOT-1", "W-01", NULL));

  const char *id = monitoring_job_id(NULL);
  CHECKF(id == NULL || id[0] == '\0', "monitoring_job_id(NULL) returned \"%s\"", id);
  CHECK_NULL_ARG(monitoring_job_progress(NULL, 10.0, "x"));
  CHECK_NULL_ARG(monitoring_job_metric(NULL, "m", 1.0));
  CHECK_NULL_ARG(monitoring_job_metadata(NULL, "k", "v"));
  CHECK_NULL_ARG(monitoring_job_finish(NULL, "succeeded", NULL));

  CHECK_OK(monitoring_job_start(c, "job", NULL, NULL, &j));
  CHECK(j != NULL);
  CHECK_NULL_ARG(monitoring_job_metric(j, NULL, 1.0));
  CHECK_NULL_ARG(monitoring_job_metadata(j, NULL, "v"));
  monitoring_status st = monitoring_job_metadata(j, "k", NULL);
  CHECKF(st == MONITORING_OK || st == MONITORING_ERR_INVALID_ARGUMENT,
         "job_metadata(j, \"k\", NULL) returned %s", status_name(st));
  CHECK_OK(monitoring_job_progress(j, 50.0, NULL)); /* the message is optional */
  /* job_finish with a NULL status is an error, and frees the job all the same */
  CHECK_NULL_ARG(monitoring_job_finish(j, NULL, NULL));
  j = NULL;

  CHECK_NULL_ARG(monitoring_flush(NULL, 100));
  CHECK_NULL_ARG(monitoring_stats_json(NULL, &s));
  CHECK(s == NULL);
  CHECK_NULL_ARG(monitoring_stats_json(c, NULL));
  CHECK_NULL_ARG(monitoring_shutdown(NULL, 100));
  monitoring_client_free(NULL);
  monitoring_string_free(NULL);

  CHECK_OK(monitoring_shutdown(c, 5000));
  monitoring_client_free(c);
  free(cfg);
  free(dir);
}

/* ------------------------------------------------------------------ validation */

/* A client writing to DIR/events, for validation tests. */
#define OPEN_FS(c, dir, extra)                     \
  do {                                             \
    char *cfg__ = tu_fs_config((dir), (extra));    \
    CHECK_OK(monitoring_configure(cfg__, &(c)));   \
    free(cfg__);                                   \
  } while (0)

/* emit(json) must be rejected with INVALID_ARGUMENT and a message naming `needle`. */
#define CHECK_REJECTED(c, json, needle)                                                       \
  do {                                                                                        \
    CHECK_ST(monitoring_emit((c), (json)), MONITORING_ERR_INVALID_ARGUMENT);                  \
    CHECKF(strstr(last_error_or(), (needle)) != NULL,                                         \
           "rejecting %s: last_error \"%s\" does not name \"%s\"", (json), last_error_or(), (needle)); \
  } while (0)

/* After rejected emits: nothing reached the backend, stats count them as invalid. */
#define CHECK_NOTHING_QUEUED(c, dir, nrejected)                                                 \
  do {                                                                                          \
    char *st__ = tu_stats(c);                                                                   \
    double inv__ = -1, emi__ = -1;                                                              \
    CHECKF(st__ != NULL, "stats_json failed: %s", last_error_or());                            \
    CHECKF(tu_stat(st__, "invalid", &inv__) && inv__ == (nrejected),                            \
           "stats invalid = %g, expected %d: %s", inv__, (int)(nrejected), st__);               \
    CHECKF(tu_stat(st__, "emitted", &emi__) && emi__ == 0, "stats emitted = %g after only rejected events: %s", emi__, st__); \
    free(st__);                                                                                 \
    tu_events ev__ = {0};                                                                       \
    CLOSE_AND_LOAD(c, dir, ev__);                                                               \
    CHECKF(ev__.n == 0, "%zu rejected events were written anyway", ev__.n);                    \
    tu_events_free(&ev__);                                                                      \
  } while (0)

static void t_emit_invalid_json(void) {
  char *dir = tu_tmpdir("badjson");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  const char *bad[] = {"", "{", "{\"event\": {\"kind\": \"log\"}", "not json", "{\"event\": {\"kind\": 'log'}}",
                       "[]", "42", "null", "{\"event\": {\"kind\": \"log\"}} trailing"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECKF(monitoring_emit(c, bad[i]) == MONITORING_ERR_INVALID_ARGUMENT, "emit(\"%s\") was not rejected", bad[i]);
    CHECKF(last_error_or()[0] != '\0', "no message after emit(\"%s\")", bad[i]);
  }
  CHECK_NOTHING_QUEUED(c, dir, sizeof bad / sizeof bad[0]);
  free(dir);
}

static void t_emit_unknown_fields(void) {
  char *dir = tu_tmpdir("unknownfield");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"log\",\"colour\":\"red\"}}", "event.colour");
  CHECK_REJECTED(c, "{\"colour\":\"red\",\"event\":{\"kind\":\"log\"}}", "colour");
  CHECK_REJECTED(c, "{\"entity\":{\"type\":\"job\",\"id\":\"x\",\"flavour\":1},\"event\":{\"kind\":\"log\"}}", "flavour");
  CHECK_NOTHING_QUEUED(c, dir, 3);
  free(dir);
}

static void t_emit_unknown_kind_and_status(void) {
  char *dir = tu_tmpdir("kind");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"exploded\"}}", "kind");
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"finished\",\"status\":\"great\"}}", "status");
  CHECK_REJECTED(c, "{\"event\":{\"kind\":42}}", "kind");
  CHECK_NOTHING_QUEUED(c, dir, 3);
  free(dir);
}

static void t_emit_progress_out_of_range(void) {
  char *dir = tu_tmpdir("progress");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"progress\",\"progress\":150}}", "progress");
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"progress\",\"progress\":-1}}", "progress");
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"progress\",\"progress\":\"half\"}}", "progress");
  CHECK_NOTHING_QUEUED(c, dir, 3);
  free(dir);
}

static void t_emit_bad_metrics_and_at(void) {
  char *dir = tu_tmpdir("metrics");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"metric\",\"metrics\":{\"temp\":\"hot\"}}}", "temp");
  /* 1e999 overflows to infinity: rejected (as non-finite or as unparseable) */
  CHECK_ST(monitoring_emit(c, "{\"event\":{\"kind\":\"metric\",\"metrics\":{\"temp\":1e999}}}"),
           MONITORING_ERR_INVALID_ARGUMENT);
  CHECK_ERR_SET();
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"log\",\"at\":\"yesterday\"}}", "at");
  CHECK_REJECTED(c, "{\"event\":{\"kind\":\"log\",\"at\":\"2026-13-45T99:00:00Z\"}}", "at");
  CHECK_NOTHING_QUEUED(c, dir, 4);
  free(dir);
}

static void t_emit_too_large(void) {
  char *dir = tu_tmpdir("toolarge");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, "limits: {max_event_bytes: 1024}\n");
  char big[3000];
  char msg[2001];
  memset(msg, 'x', 2000);
  msg[2000] = '\0';
  snprintf(big, sizeof big, "{\"event\":{\"kind\":\"log\",\"message\":\"%s\"}}", msg);
  CHECK_ST(monitoring_emit(c, big), MONITORING_ERR_INVALID_ARGUMENT);
  CHECK_ERR_SET();
  CHECK_NOTHING_QUEUED(c, dir, 1);
  free(dir);
}

static void t_emit_fills_defaults(void) {
  char *dir = tu_tmpdir("defaults");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  CHECK_OK(monitoring_emit(c, LOG_EVENT));
  tu_events ev = {0};
  CLOSE_AND_LOAD(c, dir, ev);
  CHECKF(ev.n == 1, "expected 1 event, found %zu", ev.n);
  const mj_node *e = ev.ev[0];
  char ver = 0;
  CHECKF(tu_is_uuid(mj_str(e, "idempotency_key"), &ver) && ver == '7',
         "idempotency_key \"%s\" is not a UUIDv7", mj_str(e, "idempotency_key"));
  CHECK_STREQ(mj_str(e, "site_id"), "fab1");
  CHECK_STREQ(mj_str(e, "app.name"), "ctest");
  CHECK_STREQ(mj_str(e, "app.version"), "1.2.3");
  CHECK_STREQ(mj_str(e, "app.instance_id"), "ctest-host:1");
  CHECK_STREQ(mj_str(e, "entity.type"), "app");
  CHECK_STREQ(mj_str(e, "entity.id"), "ctest-host:1");
  CHECK(mj_is_null(e, "entity.parent_id"));
  CHECK_STREQ(mj_str(e, "event.kind"), "log");
  CHECK_STREQ(mj_str(e, "event.message"), "hello");
  CHECK(mj_is_null(e, "event.status"));
  CHECK(mj_is_null(e, "event.progress"));
  tu_events_free(&ev);
  free(dir);
}

static void t_emit_full_event_roundtrip(void) {
  char *dir = tu_tmpdir("full");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  const char *full =
      "{\"idempotency_key\":\"my-own-key-0001\",\"site_id\":\"fab9\","
      "\"app\":{\"name\":\"wafer-etch\",\"version\":\"1.4.2\",\"instance_id\":\"host-a:4242\",\"app_id\":\"legacy-7\"},"
      "\"entity\":{\"type\":\"job\",\"id\":\"j-1\",\"parent_id\":\"p-1\",\"business_key\":\"LOT-42\",\"sub_key\":\"W-3\"},"
      "\"event\":{\"kind\":\"finished\",\"at\":\"2026-11-22T12:00:00.123456+02:00\",\"status\":\"succeeded\","
      "\"progress\":100,\"message\":\"caf\\u00e9 \xe2\x9c\x93\",\"metrics\":{\"duration_s\":12.5},\"metadata\":{\"tool\":\"ETCH-07\"}}}";
  CHECK_OK(monitoring_emit(c, full));
  tu_events ev = {0};
  CLOSE_AND_LOAD(c, dir, ev);
  CHECKF(ev.n == 1, "expected 1 event, found %zu", ev.n);
  const mj_node *e = ev.ev[0];
  double d;
  CHECK_STREQ(mj_str(e, "idempotency_key"), "my-own-key-0001");
  CHECK_STREQ(mj_str(e, "site_id"), "fab9");
  CHECK_STREQ(mj_str(e, "app.name"), "wafer-etch");
  CHECK_STREQ(mj_str(e, "app.app_id"), "legacy-7");
  CHECK_STREQ(mj_str(e, "entity.type"), "job");
  CHECK_STREQ(mj_str(e, "entity.id"), "j-1");
  CHECK_STREQ(mj_str(e, "entity.parent_id"), "p-1");
  CHECK_STREQ(mj_str(e, "entity.business_key"), "LOT-42");
  CHECK_STREQ(mj_str(e, "entity.sub_key"), "W-3");
  CHECK_STREQ(mj_str(e, "event.at"), "2026-11-22T10:00:00.123456Z"); /* offset -> UTC Z */
  CHECK_STREQ(mj_str(e, "event.status"), "succeeded");
  CHECK(mj_num(e, "event.progress", &d) && d == 100);
  CHECK_STREQ(mj_str(e, "event.message"), "caf\xc3\xa9 \xe2\x9c\x93");
  CHECK(mj_num(e, "event.metrics.duration_s", &d) && d == 12.5);
  CHECK_STREQ(mj_str(e, "event.metadata.tool"), "ETCH-07");
  tu_events_free(&ev);
  free(dir);
}

/* ------------------------------------------------------------------ emit_n */

static void t_emit_n_explicit_length(void) {
  char *dir = tu_tmpdir("emitn");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  const char *ev1 = "{\"event\":{\"kind\":\"log\",\"message\":\"first\"}}";
  /* a buffer with no NUL terminator, followed by bytes that are not part of the event: the
   * library must read exactly len bytes (AddressSanitizer catches a read past the end) */
  size_t l = strlen(ev1);
  char *buf = malloc(l);
  memcpy(buf, ev1, l);
  CHECK_OK(monitoring_emit_n(c, buf, l));
  free(buf);
  char two[200];
  int n = snprintf(two, sizeof two, "%s{\"garbage", "{\"event\":{\"kind\":\"log\",\"message\":\"second\"}}");
  CHECK(n > 0);
  CHECK_OK(monitoring_emit_n(c, two, strlen("{\"event\":{\"kind\":\"log\",\"message\":\"second\"}}")));
  /* len that cuts the JSON short is invalid */
  CHECK_ST(monitoring_emit_n(c, two, 10), MONITORING_ERR_INVALID_ARGUMENT);
  CHECK_ERR_SET();
  /* zero length is not an event */
  CHECK_ST(monitoring_emit_n(c, two, 0), MONITORING_ERR_INVALID_ARGUMENT);
  /* an embedded NUL inside len is not JSON */
  char nul[] = "{\"event\":{\"kind\":\"log\"}}\0{}";
  CHECK_ST(monitoring_emit_n(c, nul, sizeof nul - 1), MONITORING_ERR_INVALID_ARGUMENT);
  tu_events ev = {0};
  CLOSE_AND_LOAD(c, dir, ev);
  CHECKF(ev.n == 2, "expected 2 events, found %zu", ev.n);
  int first = 0, second = 0;
  for (size_t i = 0; i < ev.n; i++) {
    const char *m = mj_str(ev.ev[i], "event.message");
    first += m && strcmp(m, "first") == 0;
    second += m && strcmp(m, "second") == 0;
  }
  CHECK(first == 1 && second == 1);
  tu_events_free(&ev);
  free(dir);
}

static void t_emit_invalid_utf8(void) {
  char *dir = tu_tmpdir("utf8");
  monitoring_client *c = NULL;
  OPEN_FS(c, dir, NULL);
  const char *bad[] = {
      "{\"event\":{\"kind\":\"log\",\"message\":\"\xff\xfe\"}}",     /* not UTF-8 at all */
      "{\"event\":{\"kind\":\"log\",\"message\":\"\xc0\xaf\"}}",     /* overlong encoding */
      "{\"event\":{\"kind\":\"log\",\"message\":\"\xed\xa0\x80\"}}", /* UTF-16 surrogate */
      "{\"event\":{\"kind\":\"log\",\"message\":\"abc\xe2\x82\"}}",  /* truncated sequence */
  };
  for (size_t i = 0; i < 4; i++) {
    CHECKF(monitoring_emit_n(c, bad[i], strlen(bad[i])) == MONITORING_ERR_INVALID_ARGUMENT,
           "emit_n with invalid UTF-8 #%zu was not rejected", i);
    CHECKF(strcasestr(last_error_or(), "utf") != NULL, "message for invalid UTF-8 #%zu does not say UTF-8: \"%s\"", i, last_error_or());
    CHECKF(monitoring_emit(c, bad[i]) == MONITORING_ERR_INVALID_ARGUMENT, "emit with invalid UTF-8 #%zu was not rejected", i);
  }
  CHECK_NOTHING_QUEUED(c, dir, 8);
  free(dir);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      {"version and abi_version", t_version, 0},
      {"last_error is empty when there was no error", t_last_error_empty_when_none, 0},
      {"last_error after an error, per thread", t_last_error_after_error_is_per_thread, 0},
      {"configure(NULL) uses environment and defaults", t_configure_null_uses_env_and_defaults, 0},
      {"configure(NULL) with no environment works", t_configure_null_without_env, 0},
      {"configure inline YAML", t_configure_inline_yaml, 0},
      {"configure inline JSON", t_configure_inline_json, 0},
      {"configure inline one-line YAML starting with '{'", t_configure_inline_yaml_flow, 0},
      {"configure .yaml and .yml file", t_configure_yaml_file, 0},
      {"configure .json file", t_configure_json_file, 0},
      {"configure file with unknown key names its path", t_configure_unknown_key_in_file, 0},
      {"configure inline unknown keys name their path", t_configure_unknown_keys_inline, 0},
      {"configure invalid values", t_configure_invalid_values, 0},
      {"configure syntax errors", t_configure_syntax_error, 0},
      {"configure nonexistent path", t_configure_nonexistent_path, 0},
      {"configure expands ${VAR} and ${VAR:-default}", t_configure_env_expansion, 0},
      {"configure(NULL) reads MONITORING_CONFIG", t_configure_from_MONITORING_CONFIG, 0},
      {"NULL arguments to every function", t_null_arguments, 0},
      {"emit invalid JSON", t_emit_invalid_json, 0},
      {"emit unknown fields are named", t_emit_unknown_fields, 0},
      {"emit unknown kind or status", t_emit_unknown_kind_and_status, 0},
      {"emit progress outside 0..100", t_emit_progress_out_of_range, 0},
      {"emit bad metrics and at", t_emit_bad_metrics_and_at, 0},
      {"emit over limits.max_event_bytes", t_emit_too_large, 0},
      {"emit fills in defaults", t_emit_fills_defaults, 0},
      {"emit full event round trip", t_emit_full_event_roundtrip, 0},
      {"emit_n reads exactly len bytes", t_emit_n_explicit_length, 0},
      {"emit_n and emit reject invalid UTF-8", t_emit_invalid_utf8, 0},
  };
  return run_tests(tests, sizeof tests / sizeof tests[0], argc, argv) ? 1 : 0;
}
