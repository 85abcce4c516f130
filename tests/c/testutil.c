#define _GNU_SOURCE
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* ------------------------------------------------------------------ harness */

static char g_reason[2048];
static char g_notes[2048];
static char *g_dirs[64];
static size_t g_ndirs;

void check_fail(const char *file, int line, const char *fmt, ...) {
  if (g_reason[0]) return; /* keep the first failure */
  char msg[1800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *base = strrchr(file, '/');
  snprintf(g_reason, sizeof g_reason, "%s (%s:%d)", msg, base ? base + 1 : file, line);
}

void check_note(const char *fmt, ...) {
  size_t used = strlen(g_notes);
  if (used + 4 >= sizeof g_notes) return;
  va_list ap;
  va_start(ap, fmt);
  strcat(g_notes, "# ");
  used += 2;
  vsnprintf(g_notes + used, sizeof g_notes - used - 1, fmt, ap);
  va_end(ap);
  strcat(g_notes, "\n");
}

const char *status_name(monitoring_status s) {
  switch (s) {
    case MONITORING_OK: return "MONITORING_OK";
    case MONITORING_ERR_INVALID_ARGUMENT: return "MONITORING_ERR_INVALID_ARGUMENT";
    case MONITORING_ERR_CONFIG: return "MONITORING_ERR_CONFIG";
    case MONITORING_ERR_QUEUE_FULL: return "MONITORING_ERR_QUEUE_FULL";
    case MONITORING_ERR_TIMEOUT: return "MONITORING_ERR_TIMEOUT";
    case MONITORING_ERR_SHUTDOWN: return "MONITORING_ERR_SHUTDOWN";
    case MONITORING_ERR_IO: return "MONITORING_ERR_IO";
    case MONITORING_ERR_INTERNAL: return "MONITORING_ERR_INTERNAL";
  }
  static __thread char buf[32];
  snprintf(buf, sizeof buf, "status(%d)", (int)s);
  return buf;
}

const char *last_error_or(void) {
  const char *e = monitoring_last_error();
  return e ? e : "(NULL)";
}

/* Removes MONITORING_* from the environment so that the developer's own settings cannot
 * change what the tests see. */
static void clean_environment(void) {
  extern char **environ;
  char *names[256];
  size_t n = 0;
  for (char **e = environ; e && *e && n < 256; e++) {
    if (strncmp(*e, "MONITORING_", 11) == 0) {
      const char *eq = strchr(*e, '=');
      names[n++] = strndup(*e, eq ? (size_t)(eq - *e) : strlen(*e));
    }
  }
  for (size_t i = 0; i < n; i++) {
    unsetenv(names[i]);
    free(names[i]);
  }
}

static int selected(const char *name, int argc, char **argv) {
  if (argc <= 1) return 1;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

int run_tests(const test_case *tests, size_t n, int argc, char **argv) {
  int failed = 0;
  clean_environment();
  for (size_t i = 0; i < n; i++) {
    const test_case *t = &tests[i];
    if (!selected(t->name, argc, argv)) continue;
    unsigned timeout = t->timeout_s ? t->timeout_s : 20;
    int fds[2];
    if (pipe(fds) != 0) {
      perror("pipe");
      return (int)n;
    }
    fflush(stdout);
    fflush(stderr);
    double t0 = tu_now_ms();
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return (int)n;
    }
    if (pid == 0) {
      close(fds[0]);
      alarm(timeout);
      g_reason[0] = '\0';
      t->fn();
      int ok = g_reason[0] == '\0';
      char out[4300];
      if (!ok && g_ndirs) {
        size_t used = strlen(g_notes);
        snprintf(g_notes + used, sizeof g_notes - used, "# kept %s\n", g_dirs[0]);
      }
      snprintf(out, sizeof out, "%s\x1f%s", g_reason, g_notes);
      ssize_t w = write(fds[1], out, strlen(out));
      (void)w;
      close(fds[1]);
      if (!ok) _exit(1); /* a failed test leaks by design: skip the leak report */
      for (size_t d = 0; d < g_ndirs; d++) tu_rmrf(g_dirs[d]);
      exit(0); /* normal exit: LeakSanitizer checks the passing test */
    }
    close(fds[1]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    double ms = tu_now_ms() - t0;
    /* The child's report is tiny (fits in the pipe buffer): read what is there without
     * waiting for EOF, since a grandchild forked by a test may still hold the write end. */
    char buf[4400] = "";
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    ssize_t r = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    buf[r > 0 ? r : 0] = '\0';
    char *notes = strchr(buf, '\x1f');
    if (notes) *notes++ = '\0';
    else notes = "";
    const char *reason = buf;
    char why[4600];
    if (WIFSIGNALED(wstatus)) {
      int sig = WTERMSIG(wstatus);
      if (sig == SIGALRM)
        snprintf(why, sizeof why, "timed out after %u s (hung)", timeout);
      else
        snprintf(why, sizeof why, "crashed with signal %d (%s)%s%s", sig, strsignal(sig),
                 reason[0] ? "; first failure: " : "", reason);
    } else if (reason[0]) {
      snprintf(why, sizeof why, "%s", reason);
    } else if (WEXITSTATUS(wstatus) != 0) {
      snprintf(why, sizeof why,
               "exited with code %d after its checks passed (sanitizer report on stderr?)",
               WEXITSTATUS(wstatus));
    } else {
      why[0] = '\0';
    }
    if (why[0]) {
      failed++;
      printf("not ok - %s: %s\n", t->name, why);
    } else {
      printf("ok - %s\n", t->name);
    }
    if (notes[0]) fputs(notes, stdout);
    fprintf(stderr, "  [%s: %.0f ms]\n", t->name, ms);
    fflush(stdout);
  }
  return failed;
}

/* ------------------------------------------------------------------ files, time */

char *tu_tmpdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  char *path = tu_sprintf("%s/mon-ctest-%s-XXXXXX", base, tag);
  if (!mkdtemp(path)) {
    perror("mkdtemp");
    abort();
  }
  if (g_ndirs < sizeof g_dirs / sizeof g_dirs[0]) g_dirs[g_ndirs++] = strdup(path);
  return path;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

void tu_rmrf(const char *path) { nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

double tu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void tu_sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

char *tu_sprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) abort();
  va_end(ap);
  return s;
}

int tu_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return 0;
  size_t l = strlen(text);
  int ok = fwrite(text, 1, l, f) == l;
  return fclose(f) == 0 && ok;
}

char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
    }
  }
  fclose(f);
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

char *tu_fs_config(const char *dir, const char *extra) {
  return tu_sprintf(
      "mode: direct\n"
      "app: {name: ctest, version: 1.2.3, site_id: fab1, instance_id: \"ctest-host:1\"}\n"
      "direct_backends:\n"
      "  - {type: filesystem, name: local, path: \"%s/events\", fsync: never}\n"
      "spool: {path: \"%s/spool\"}\n"
      "%s",
      dir, dir, extra ? extra : "");
}

char *tu_webhook_config(const char *dir, const char *url, unsigned timeout_ms, const char *extra) {
  return tu_sprintf(
      "mode: direct\n"
      "app: {name: ctest, version: 1.2.3, site_id: fab1, instance_id: \"ctest-host:1\"}\n"
      "direct_backends:\n"
      "  - {type: webhook, name: hook, url: \"%s\", timeout_ms: %u}\n"
      "spool: {path: \"%s/spool\"}\n"
      "%s",
      url, timeout_ms, dir, extra ? extra : "");
}

/* ------------------------------------------------------------------ JSONL */

static int push_event(tu_events *e, mj_node *n) {
  if (e->n == e->cap) {
    e->cap = e->cap ? e->cap * 2 : 256;
    e->ev = realloc(e->ev, e->cap * sizeof *e->ev);
  }
  e->ev[e->n++] = n;
  return 1;
}

int tu_load_jsonl_file(const char *path, tu_events *out) {
  size_t len;
  char *text = tu_read_file(path, &len);
  if (!text) {
    snprintf(out->err, sizeof out->err, "cannot read %s: %s", path, strerror(errno));
    return 0;
  }
  out->files++;
  size_t lineno = 0;
  char *p = text, *end = text + len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
    lineno++;
    if (!nl) {
      snprintf(out->err, sizeof out->err, "%s:%zu: last line has no newline (torn write?)", path, lineno);
      free(text);
      return 0;
    }
    char perr[200];
    mj_node *n = mj_parse(p, l, perr, sizeof perr);
    if (!n) {
      snprintf(out->err, sizeof out->err, "%s:%zu: not JSON (%s): %.80s", path, lineno, perr, p);
      free(text);
      return 0;
    }
    push_event(out, n);
    p = nl + 1;
  }
  free(text);
  return 1;
}

int tu_load_jsonl_dir(const char *dir, tu_events *out) {
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 1;
    snprintf(out->err, sizeof out->err, "cannot open %s: %s", dir, strerror(errno));
    return 0;
  }
  struct dirent *de;
  int ok = 1;
  while (ok && (de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    if (l > 6 && strcmp(de->d_name + l - 6, ".jsonl") == 0) {
      char *p = tu_sprintf("%s/%s", dir, de->d_name);
      ok = tu_load_jsonl_file(p, out);
      free(p);
    }
  }
  closedir(d);
  return ok;
}

void tu_events_free(tu_events *e) {
  for (size_t i = 0; i < e->n; i++) mj_free(e->ev[i]);
  free(e->ev);
  memset(e, 0, sizeof *e);
}

static int only_keys(const mj_node *o, const char *const *allowed, size_t nallowed, const char **extra) {
  for (size_t i = 0; i < o->len; i++) {
    size_t j;
    for (j = 0; j < nallowed; j++)
      if (strcmp(o->keys[i], allowed[j]) == 0) break;
    if (j == nallowed) {
      *extra = o->keys[i];
      return 0;
    }
  }
  return 1;
}

static int is_str_or_null(const mj_node *n) { return n && (n->type == MJ_STR || n->type == MJ_NULL); }

static int valid_at(const char *s) {
  /* YYYY-MM-DDTHH:MM:SS.ffffffZ */
  static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  if (strlen(s) != sizeof pat - 1) return 0;
  for (size_t i = 0; pat[i]; i++) {
    if (pat[i] == 'd') {
      if (s[i] < '0' || s[i] > '9') return 0;
    } else if (s[i] != pat[i]) {
      return 0;
    }
  }
  return 1;
}

const char *tu_event_shape(const mj_node *ev) {
  static __thread char why[300];
  static const char *const top[] = {"idempotency_key", "site_id", "app", "entity", "event"};
  static const char *const app[] = {"name", "version", "instance_id", "app_id"};
  static const char *const ent[] = {"type", "id", "parent_id", "business_key", "sub_key"};
  static const char *const evk[] = {"kind", "at", "status", "progress", "message", "metrics", "metadata"};
  static const char *const kinds[] = {"started", "progress", "metric", "finished", "error", "canceled", "log", "heartbeat"};
  static const char *const statuses[] = {"running", "succeeded", "failed", "canceled"};
  const char *extra = NULL;
  if (!ev || ev->type != MJ_OBJ) return "event is not a JSON object";
  for (size_t i = 0; i < 5; i++)
    if (!mj_has(ev, top[i])) return snprintf(why, sizeof why, "missing key %s", top[i]), why;
  if (!only_keys(ev, top, 5, &extra)) return snprintf(why, sizeof why, "unexpected top-level key %s", extra), why;
  const char *key = mj_str(ev, "idempotency_key");
  if (!key || !*key) return "idempotency_key is not a non-empty string";
  if (!is_str_or_null(mj_get(ev, "site_id"))) return "site_id is not a string or null";

  const mj_node *a = mj_get(ev, "app");
  if (a->type != MJ_OBJ) return "app is not an object";
  for (size_t i = 0; i < 3; i++) {
    if (!mj_has(a, app[i])) return snprintf(why, sizeof why, "missing key app.%s", app[i]), why;
    if (!is_str_or_null(mj_get(a, app[i]))) return snprintf(why, sizeof why, "app.%s is not a string or null", app[i]), why;
  }
  if (!only_keys(a, app, 4, &extra)) return snprintf(why, sizeof why, "unexpected key app.%s", extra), why;

  const mj_node *en = mj_get(ev, "entity");
  if (en->type != MJ_OBJ) return "entity is not an object";
  for (size_t i = 0; i < 5; i++)
    if (!mj_has(en, ent[i])) return snprintf(why, sizeof why, "missing key entity.%s", ent[i]), why;
  if (!only_keys(en, ent, 5, &extra)) return snprintf(why, sizeof why, "unexpected key entity.%s", extra), why;
  if (!mj_str(en, "type") || !*mj_str(en, "type")) return "entity.type is not a non-empty string";
  if (!mj_str(en, "id") || !*mj_str(en, "id")) return "entity.id is not a non-empty string";
  for (size_t i = 2; i < 5; i++)
    if (!is_str_or_null(mj_get(en, ent[i]))) return snprintf(why, sizeof why, "entity.%s is not a string or null", ent[i]), why;

  const mj_node *e = mj_get(ev, "event");
  if (e->type != MJ_OBJ) return "event is not an object";
  for (size_t i = 0; i < 7; i++)
    if (!mj_has(e, evk[i])) return snprintf(why, sizeof why, "missing key event.%s", evk[i]), why;
  if (!only_keys(e, evk, 7, &extra)) return snprintf(why, sizeof why, "unexpected key event.%s", extra), why;
  const char *kind = mj_str(e, "kind");
  int found = 0;
  for (size_t i = 0; kind && i < 8; i++) found |= strcmp(kind, kinds[i]) == 0;
  if (!found) return snprintf(why, sizeof why, "event.kind %s is not a v1 kind", kind ? kind : "(not a string)"), why;
  const char *at = mj_str(e, "at");
  if (!at || !valid_at(at)) return snprintf(why, sizeof why, "event.at \"%s\" is not YYYY-MM-DDTHH:MM:SS.ffffffZ", at ? at : "(not a string)"), why;
  if (!mj_is_null(e, "status")) {
    const char *st = mj_str(e, "status");
    found = 0;
    for (size_t i = 0; st && i < 4; i++) found |= strcmp(st, statuses[i]) == 0;
    if (!found) return "event.status is not a v1 status or null";
  }
  if (!mj_is_null(e, "progress")) {
    double p;
    if (!mj_num(e, "progress", &p) || p < 0 || p > 100) return "event.progress is not null or a number in 0..100";
  }
  if (!is_str_or_null(mj_get(e, "message"))) return "event.message is not a string or null";
  const mj_node *m = mj_get(e, "metrics");
  if (m->type != MJ_NULL) {
    if (m->type != MJ_OBJ) return "event.metrics is not an object or null";
    for (size_t i = 0; i < m->len; i++)
      if (m->items[i]->type != MJ_NUM) return snprintf(why, sizeof why, "event.metrics.%s is not a number", m->keys[i]), why;
  }
  const mj_node *md = mj_get(e, "metadata");
  if (md->type != MJ_NULL && md->type != MJ_OBJ) return "event.metadata is not an object or null";
  return NULL;
}

int tu_check_shapes(const tu_events *e, char *err, size_t errlen) {
  for (size_t i = 0; i < e->n; i++) {
    const char *why = tu_event_shape(e->ev[i]);
    if (why) {
      snprintf(err, errlen, "event #%zu (key %s): %s", i, mj_str(e->ev[i], "idempotency_key") ? mj_str(e->ev[i], "idempotency_key") : "?", why);
      return 0;
    }
  }
  return 1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t tu_distinct_keys(const tu_events *e, size_t *dups) {
  const char **k = malloc((e->n + 1) * sizeof *k);
  size_t n = 0, distinct = 0, d = 0;
  for (size_t i = 0; i < e->n; i++) {
    const char *s = mj_str(e->ev[i], "idempotency_key");
    if (s) k[n++] = s;
  }
  qsort(k, n, sizeof *k, cmp_str);
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && strcmp(k[i], k[i - 1]) == 0) d++;
    else distinct++;
  }
  free(k);
  if (dups) *dups = d;
  return distinct;
}

size_t tu_count_prefix(const tu_events *e, const char *prefix) {
  size_t c = 0, l = strlen(prefix);
  for (size_t i = 0; i < e->n; i++) {
    const char *bk = mj_str(e->ev[i], "entity.business_key");
    if (bk && strncmp(bk, prefix, l) == 0) c++;
  }
  return c;
}

int tu_stat(const char *stats_json, const char *path, double *out) {
  char err[200];
  if (!stats_json) return 0;
  mj_node *n = mj_parse(stats_json, strlen(stats_json), err, sizeof err);
  if (!n) return 0;
  int ok = mj_num(n, path, out);
  mj_free(n);
  return ok;
}

char *tu_stats(monitoring_client *c) {
  char *s = NULL;
  if (monitoring_stats_json(c, &s) != MONITORING_OK || !s) return NULL;
  char *copy = strdup(s);
  monitoring_string_free(s);
  return copy;
}

/* ------------------------------------------------------------------ silent server */

static void *silent_reader(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[4096];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  close(fd); /* the client gave up */
  return NULL;
}

static void *silent_acceptor(void *arg) {
  int lfd = (int)(intptr_t)arg;
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, silent_reader, (void *)(intptr_t)fd) == 0) pthread_detach(th);
  }
}

int tu_silent_server(void) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) return 0;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t sl = sizeof sa;
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 64) != 0 ||
      getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
    close(lfd);
    return 0;
  }
  pthread_t th;
  if (pthread_create(&th, NULL, silent_acceptor, (void *)(intptr_t)lfd) != 0) return 0;
  pthread_detach(th);
  return ntohs(sa.sin_port);
}

int tu_is_uuid(const char *s, char *version) {
  if (!s || strlen(s) != 36) return 0;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return 0;
    } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F'))) {
      return 0;
    }
  }
  if (version) *version = s[14];
  return 1;
}
