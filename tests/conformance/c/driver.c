/* Conformance driver for the C ABI.
 *
 *   driver SCENARIO.json OUT_DIR RESULTS.jsonl
 *
 * Replays a scenario's steps through libmonitoring and records one JSON line per call in
 * RESULTS.jsonl. It judges nothing: tests/conformance/check.py does. See ../README.md.
 * Build: cc -std=c11 -Iinclude driver.c -Ltarget/release -lmonitoring -lcjson -Wl,-rpath,...
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "monitoring.h"

#define MAX_JOBS 64

static FILE *results;
static struct { char *label; monitoring_job *job; } jobs[MAX_JOBS];

static const char *status_name(monitoring_status s) {
    switch (s) {
    case MONITORING_OK: return "ok";
    case MONITORING_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case MONITORING_ERR_CONFIG: return "config";
    case MONITORING_ERR_QUEUE_FULL: return "queue_full";
    case MONITORING_ERR_TIMEOUT: return "timeout";
    case MONITORING_ERR_SHUTDOWN: return "shutdown";
    case MONITORING_ERR_IO: return "io";
    case MONITORING_ERR_INTERNAL: return "internal";
    }
    return "internal"; /* an out-of-range value: check.py will flag the mismatch */
}

static void die(const char *msg, const char *arg) {
    fprintf(stderr, "driver: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

/* One results line: {"step": <index or name>, "op": ..., "status": ..., "error": ..., "value": ...}.
 * value (may be NULL) is taken over. */
static void record(cJSON *step, const char *op, const char *status, const char *error, cJSON *value) {
    cJSON *line = cJSON_CreateObject();
    cJSON_AddItemToObject(line, "step", step);
    cJSON_AddStringToObject(line, "op", op);
    cJSON_AddStringToObject(line, "status", status);
    cJSON_AddStringToObject(line, "error", error ? error : "");
    if (value) cJSON_AddItemToObject(line, "value", value);
    char *text = cJSON_PrintUnformatted(line);
    fprintf(results, "%s\n", text);
    fflush(results);
    cJSON_free(text);
    cJSON_Delete(line);
}

/* Record a library call's outcome; the error text is the library's, "" on success. */
static void record_call(cJSON *step, const char *op, monitoring_status s, cJSON *value) {
    record(step, op, status_name(s), s == MONITORING_OK ? "" : monitoring_last_error(), value);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open scenario", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die("cannot read scenario", path);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* A fresh OUT_DIR: created here; an existing one must be empty. */
static void make_out_dir(const char *dir) {
    if (mkdir(dir, 0755) == 0) return;
    if (errno != EEXIST) die("cannot create OUT_DIR", dir);
    DIR *d = opendir(dir);
    if (!d) die("cannot open OUT_DIR", dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) die("OUT_DIR is not empty", dir);
    closedir(d);
}

/* Replace every "${OUT_DIR}" in text by out_dir; returns a new string. */
static char *subst_out_dir(const char *text, const char *out_dir) {
    const char *key = "${OUT_DIR}";
    size_t klen = strlen(key), vlen = strlen(out_dir), n = 0;
    for (const char *p = text; (p = strstr(p, key)); p += klen) n++;
    char *out = malloc(strlen(text) + n * vlen + 1), *w = out;
    for (const char *p = text, *q; ; p = q + klen) {
        q = strstr(p, key);
        size_t len = q ? (size_t)(q - p) : strlen(p);
        memcpy(w, p, len);
        w += len;
        if (!q) break;
        memcpy(w, out_dir, vlen);
        w += vlen;
    }
    *w = 0;
    return out;
}

/* A string member, NULL when absent or JSON null. */
static const char *str_or_null(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A numeric member: a JSON number or one of "NaN", "Infinity", "-Infinity". */
static double num(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNumber(v)) return v->valuedouble;
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (!strcmp(s, "NaN")) return NAN;
    if (!strcmp(s, "Infinity")) return INFINITY;
    if (!strcmp(s, "-Infinity")) return -INFINITY;
    die("not a number", key);
    return 0;
}

/* Serialise a cJSON value exactly. (cJSON_Print rounds doubles to 15 significant digits, which
 * would make this driver, not the library, fail emit_number_precision.) */
static void write_json(FILE *m, const cJSON *v) {
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        int obj = cJSON_IsObject(v);
        fputc(obj ? '{' : '[', m);
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child) fputc(',', m);
            if (obj) {
                cJSON key = {.type = cJSON_String, .valuestring = c->string};
                write_json(m, &key);
                fputc(':', m);
            }
            write_json(m, c);
        }
        fputc(obj ? '}' : ']', m);
    } else if (cJSON_IsString(v)) {
        fputc('"', m);
        for (const unsigned char *p = (const unsigned char *)v->valuestring; *p; p++) {
            if (*p == '"' || *p == '\\') fprintf(m, "\\%c", *p);
            else if (*p < 0x20) fprintf(m, "\\u%04x", *p);
            else fputc(*p, m);
        }
        fputc('"', m);
    } else if (cJSON_IsNumber(v)) {
        char buf[32];
        for (int digits = 15; digits <= 17; digits++) {   /* shortest text that reads back exactly */
            snprintf(buf, sizeof buf, "%.*g", digits, v->valuedouble);
            if (strtod(buf, NULL) == v->valuedouble) break;
        }
        fputs(buf, m);
    } else {
        fputs(cJSON_IsTrue(v) ? "true" : cJSON_IsFalse(v) ? "false" : "null", m);
    }
}

static char *to_json(const cJSON *v) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    write_json(m, v);
    fclose(m);
    return text;
}

static int job_slot(const char *label) {
    for (int i = 0; i < MAX_JOBS; i++)
        if (jobs[i].label && !strcmp(jobs[i].label, label)) return i;
    return -1;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

static void run_step(int i, const cJSON *st, monitoring_client *client) {
    cJSON *step = cJSON_CreateNumber(i);
    const char *op = str_or_null(st, "op");
    if (!op) { record(step, "?", "driver_error", "step has no op", NULL); return; }
    uint32_t timeout = cJSON_HasObjectItem(st, "timeout_ms") ? (uint32_t)num(st, "timeout_ms") : 5000;

    if (!strcmp(op, "emit")) {
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(st, "event");
        const char *hex = str_or_null(st, "event_hex");
        if (ev) {
            char *text = to_json(ev);
            record_call(step, op, monitoring_emit(client, text), NULL);
            free(text);
        } else if (hex) {
            size_t n = strlen(hex) / 2;
            char *bytes = malloc(n + 1);
            for (size_t k = 0; k < n; k++) bytes[k] = (char)(hexval(hex[2 * k]) << 4 | hexval(hex[2 * k + 1]));
            record_call(step, op, monitoring_emit_n(client, bytes, n), NULL);
            free(bytes);
        } else {
            record_call(step, op, monitoring_emit(client, str_or_null(st, "event_json")), NULL);
        }
        return;
    }
    if (!strcmp(op, "flush")) { record_call(step, op, monitoring_flush(client, timeout), NULL); return; }
    if (!strcmp(op, "shutdown")) { record_call(step, op, monitoring_shutdown(client, timeout), NULL); return; }
    if (!strcmp(op, "sleep")) {
        long ms = (long)num(st, "ms");
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        record(step, op, "ok", "", NULL);
        return;
    }
    if (!strcmp(op, "stats")) {
        char *json = NULL;
        monitoring_status s = monitoring_stats_json(client, &json);
        cJSON *value = json ? cJSON_Parse(json) : NULL;
        if (json) monitoring_string_free(json);
        record_call(step, op, s, value);
        return;
    }

    const char *label = str_or_null(st, "job");
    if (!label) { record(step, op, "driver_error", "step has no job label", NULL); return; }
    if (!strcmp(op, "job_start")) {
        const char *parent_id = str_or_null(st, "parent_id");
        const char *parent = str_or_null(st, "parent");
        if (parent) {
            int p = job_slot(parent);
            if (p < 0) { record(step, op, "driver_error", "unknown parent job", NULL); return; }
            parent_id = monitoring_job_id(jobs[p].job);
        }
        if (job_slot(label) >= 0) { record(step, op, "driver_error", "job label already open", NULL); return; }
        int slot = -1;
        for (int k = 0; slot < 0 && k < MAX_JOBS; k++) if (!jobs[k].label) slot = k;
        if (slot < 0) { record(step, op, "driver_error", "too many open jobs", NULL); return; }
        monitoring_job *job = NULL;
        monitoring_status s = monitoring_job_start(client, str_or_null(st, "name"),
                                                   str_or_null(st, "entity_type"), parent_id, &job);
        cJSON *value = NULL;
        if (s == MONITORING_OK && job) {
            jobs[slot].label = strdup(label);
            jobs[slot].job = job;
            const char *id = monitoring_job_id(job);
            value = id ? cJSON_CreateString(id) : cJSON_CreateNull();
        }
        record_call(step, op, s, value);
        return;
    }
    int slot = job_slot(label);
    if (slot < 0) { record(step, op, "driver_error", "unknown job label (start failed?)", NULL); return; }
    monitoring_job *job = jobs[slot].job;
    if (!strcmp(op, "job_progress")) {
        record_call(step, op, monitoring_job_progress(job, num(st, "percent"), str_or_null(st, "message")), NULL);
    } else if (!strcmp(op, "job_metric")) {
        record_call(step, op, monitoring_job_metric(job, str_or_null(st, "name"), num(st, "value")), NULL);
    } else if (!strcmp(op, "job_metadata")) {
        record_call(step, op, monitoring_job_metadata(job, str_or_null(st, "key"), str_or_null(st, "value")), NULL);
    } else if (!strcmp(op, "job_finish")) {
        /* the handle is freed whatever the result */
        monitoring_status s = monitoring_job_finish(job, str_or_null(st, "status"), str_or_null(st, "message"));
        free(jobs[slot].label);
        jobs[slot].label = NULL;
        jobs[slot].job = NULL;
        record_call(step, op, s, NULL);
    } else {
        record(step, op, "driver_error", "unknown op", NULL);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SCENARIO.json OUT_DIR RESULTS.jsonl\n", argv[0]);
        return 2;
    }
    char *text = read_file(argv[1]);
    cJSON *scenario = cJSON_Parse(text);
    if (!scenario) die("scenario is not valid JSON", argv[1]);
    make_out_dir(argv[2]);
    results = fopen(argv[3], "w");
    if (!results) die("cannot write results", argv[3]);

    /* configure: the config object as inline JSON text, ${OUT_DIR} substituted */
    char *cfg_text = to_json(cJSON_GetObjectItemCaseSensitive(scenario, "config"));
    char *cfg = subst_out_dir(cfg_text, argv[2]);
    monitoring_client *client = NULL;
    monitoring_status s = monitoring_configure(cfg, &client);
    record_call(cJSON_CreateString("configure"), "configure", s, NULL);
    if (s == MONITORING_OK && client) {  /* otherwise nothing else can run; check.py judges */
        const cJSON *steps = cJSON_GetObjectItemCaseSensitive(scenario, "steps");
        int i = 0;
        for (const cJSON *st = steps ? steps->child : NULL; st; st = st->next, i++) run_step(i, st, client);
        record_call(cJSON_CreateString("final_flush"), "flush", monitoring_flush(client, 10000), NULL);
        record_call(cJSON_CreateString("final_shutdown"), "shutdown", monitoring_shutdown(client, 10000), NULL);
        monitoring_client_free(client);
    }
    fclose(results);
    free(cfg_text);
    free(cfg);
    free(text);
    cJSON_Delete(scenario);
    return 0;
}
