/*
 * Monitoring.xs: the Perl binding of the monitoring SDK, over the C ABI of monitoring.h.
 *
 * Thin on purpose: every rule about events lives in the engine. What this file does itself:
 *
 *   - turns Perl data into JSON (encode_value): the engine validates JSON text, and neither
 *     JSON::XS nor JSON::PP writes doubles that round-trip (they print 15 digits), so the
 *     binding has its own small encoder: shortest round-trip doubles, integers as integers,
 *     character strings as UTF-8, booleans, undef as null, {} kept as an object;
 *   - passes text arguments as NUL-terminated UTF-8 (wide characters encoded, Latin-1 byte
 *     strings upgraded), and refuses undef and embedded NULs with a clear error;
 *   - owns the C handles: a client is freed once its Perl object and every job started from
 *     it are gone (a reference count, so a job's final event is never lost to destruction
 *     order); a job handle is freed exactly once, by monitoring_job_finish;
 *   - fork: pthread_atfork handlers registered at load time; the engine is restarted in a
 *     child lazily, on the child's first call into the library (see MON_FORK_CHECK);
 *   - errors: every failed call dies with a Monitoring::Error object (status name and the
 *     engine's message), built by Monitoring::Error::_throw in Perl.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <monitoring.h>

/* ------------------------------------------------------------------------------------------ */
/* Handles */

typedef struct mon_client {
    monitoring_client *c;
    IV refs;            /* the Perl object, plus one per job that is not finished yet */
} mon_client;

typedef struct mon_job {
    monitoring_job *j;  /* NULL once finished (monitoring_job_finish freed it) */
    mon_client *owner;  /* counted reference while j is open */
    SV *id;             /* a copy, so ->id works after the job is finished */
    SV *name;
    SV *err0;           /* $@ when the job started (see Monitoring::Job::DESTROY) */
    pid_t pid;          /* the process that started it */
} mon_job;

typedef mon_client *Monitoring__Client;
typedef mon_job *Monitoring__Job;

static const char *const STATUS_NAMES[] = {
    "ok", "invalid_argument", "config", "queue_full", "timeout", "shutdown", "io", "internal",
};
#define N_STATUS ((int)(sizeof STATUS_NAMES / sizeof STATUS_NAMES[0]))

/* ------------------------------------------------------------------------------------------ */
/* Fork. The prepare and parent hooks pair the engine's before/after hooks; the child hook only
 * marks the restart as pending, and the first call into the library in the child performs it.
 * So a child that only execs (system, backticks, piped open) starts no threads at all, and a
 * pending child that forks again simply passes the pending state on. */

static volatile int mon_prepared = 0;
static volatile int mon_pending = 0;

static void hook_prepare(void) {
    if (!mon_prepared && !mon_pending) {
        monitoring_before_fork();
        mon_prepared = 1;
    }
}
static void hook_parent(void) {
    if (mon_prepared) {
        mon_prepared = 0;
        monitoring_after_fork_parent();
    }
}
static void hook_child(void) {
    mon_prepared = 0;
    mon_pending = 1;
}

#define MON_FORK_CHECK()                         \
    STMT_START {                                 \
        if (UNLIKELY(mon_pending)) {             \
            mon_pending = 0;                     \
            monitoring_after_fork_child();       \
        }                                        \
    } STMT_END

/* ------------------------------------------------------------------------------------------ */
/* Errors: Monitoring::Error::_throw(code, message) dies with the exception object. */

static void mon_throw_sv(pTHX_ int code, SV *message) __attribute__((noreturn));
static void mon_throw_sv(pTHX_ int code, SV *message) {
    dSP;
    PUSHMARK(SP);
    mXPUSHi(code);
    XPUSHs(message);
    PUTBACK;
    call_pv("Monitoring::Error::_throw", G_VOID | G_DISCARD);
    croak("Monitoring::Error::_throw returned"); /* not reached */
}

/* The engine's message for the call that just failed, as a mortal character string. */
static SV *last_error_sv(pTHX_ int code) {
    const char *m = monitoring_last_error();
    SV *sv;
    if (!m || !*m)
        m = (code > 0 && code < N_STATUS) ? STATUS_NAMES[code] : "unknown error";
    sv = sv_2mortal(newSVpv(m, 0));
    SvUTF8_on(sv); /* the engine's messages are UTF-8 */
    return sv;
}

static void mon_throw_last(pTHX_ int code) __attribute__((noreturn));
static void mon_throw_last(pTHX_ int code) {
    mon_throw_sv(aTHX_ code, last_error_sv(aTHX_ code));
}

static void mon_throwf(pTHX_ int code, const char *fmt, ...) __attribute__((noreturn));
static void mon_throwf(pTHX_ int code, const char *fmt, ...) {
    va_list ap;
    SV *msg;
    va_start(ap, fmt);
    msg = sv_2mortal(vnewSVpvf(fmt, &ap));
    va_end(ap);
    mon_throw_sv(aTHX_ code, msg);
}

/* 1 = done, 0 = dropped at a full queue; anything else dies. */
static int mon_check(pTHX_ monitoring_status st) {
    if (st == MONITORING_OK)
        return 1;
    if (st == MONITORING_ERR_QUEUE_FULL)
        return 0;
    mon_throw_last(aTHX_ (int)st);
}

/* ------------------------------------------------------------------------------------------ */
/* Arguments */

/* A text argument as NUL-terminated UTF-8; NULL for undef when optional. */
static const char *text_arg(pTHX_ SV *sv, const char *what, int optional) {
    STRLEN len;
    const char *p;
    if (!sv)
        sv = &PL_sv_undef;
    SvGETMAGIC(sv);
    if (!SvOK(sv)) {
        if (optional)
            return NULL;
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT, "invalid argument: `%s` must not be undef", what);
    }
    p = SvPV_nomg(sv, len);
    if (!SvUTF8(sv) && !is_utf8_invariant_string((const U8 *)p, len)) {
        /* a byte string with characters 0x80..0xFF (Latin-1): encode them as UTF-8 */
        SV *copy = sv_2mortal(newSVpvn(p, len));
        sv_utf8_upgrade(copy);
        p = SvPV(copy, len);
    }
    if (memchr(p, 0, len))
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT,
                   "invalid argument: `%s` contains a NUL character", what);
    return p;
}

static double num_arg(pTHX_ SV *sv, const char *what) {
    SvGETMAGIC(sv);
    if (!SvOK(sv))
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT, "invalid argument: `%s` must be a number, not undef", what);
    if (!SvNIOK(sv) && !looks_like_number(sv)) {
        SV *shown = sv_2mortal(newSVsv(sv));
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT,
                   "invalid argument: `%s` must be a number, got `%" SVf "`", what, SVfARG(shown));
    }
    return (double)SvNV_nomg(sv);
}

/* Seconds (undef = 5) as milliseconds for the C ABI. */
static uint32_t timeout_arg(pTHX_ SV *sv) {
    double s, ms;
    if (!sv)
        return 5000;
    SvGETMAGIC(sv);
    if (!SvOK(sv))
        return 5000;
    s = num_arg(aTHX_ sv, "timeout");
    if (isnan(s) || s < 0)
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT,
                   "invalid argument: `timeout` must be a number of seconds >= 0, got %g", s);
    ms = ceil(s * 1000.0);
    return ms >= 4294967295.0 ? (uint32_t)4294967295u : (uint32_t)ms;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON encoder (Perl data -> JSON text, UTF-8) */

typedef struct enc_path {
    const struct enc_path *up;
    const char *key; /* NULL: an array index */
    STRLEN klen;
    int kutf8;
    SSize_t index;
} enc_path;

typedef struct {
    SV *sv;   /* the output buffer (mortal) */
    char *p;  /* write position */
    char *end;
    int config; /* encoding a configuration, not an event (error wording) */
} enc_t;

#define ENC_MAX_DEPTH 512

static void enc_need(pTHX_ enc_t *e, STRLEN n) {
    if ((STRLEN)(e->end - e->p) < n) {
        STRLEN used = e->p - SvPVX(e->sv);
        STRLEN want = (SvLEN(e->sv) + n) * 2;
        SvGROW(e->sv, want);
        e->p = SvPVX(e->sv) + used;
        e->end = SvPVX(e->sv) + SvLEN(e->sv) - 1; /* room for the final NUL */
    }
}

static void enc_raw(pTHX_ enc_t *e, const char *s, STRLEN n) {
    enc_need(aTHX_ e, n);
    memcpy(e->p, s, n);
    e->p += n;
}

static void path_append(pTHX_ SV *out, const enc_path *p) {
    if (!p)
        return;
    path_append(aTHX_ out, p->up);
    if (p->key) {
        if (SvCUR(out))
            sv_catpvs(out, ".");
        sv_catpvn_flags(out, p->key, p->klen, p->kutf8 ? SV_CATUTF8 : SV_CATBYTES);
    } else {
        sv_catpvf(out, "[%" IVdf "]", (IV)p->index);
    }
}

static void enc_fail(pTHX_ enc_t *e, const enc_path *path, const char *fmt, ...) __attribute__((noreturn));
static void enc_fail(pTHX_ enc_t *e, const enc_path *path, const char *fmt, ...) {
    va_list ap;
    SV *where = sv_2mortal(newSVpvs(""));
    SV *what;
    SV *msg;
    path_append(aTHX_ where, path);
    va_start(ap, fmt);
    what = sv_2mortal(vnewSVpvf(fmt, &ap));
    va_end(ap);
    if (e->config) {
        msg = SvCUR(where) ? newSVpvf("configuration error at %" SVf ": %" SVf, SVfARG(where), SVfARG(what))
                           : newSVpvf("configuration error: %" SVf, SVfARG(what));
        mon_throw_sv(aTHX_ MONITORING_ERR_CONFIG, sv_2mortal(msg));
    }
    msg = SvCUR(where) ? newSVpvf("invalid event: %" SVf ": %" SVf, SVfARG(where), SVfARG(what))
                       : newSVpvf("invalid event: %" SVf, SVfARG(what));
    mon_throw_sv(aTHX_ MONITORING_ERR_INVALID_ARGUMENT, sv_2mortal(msg));
}

static const char HEX[] = "0123456789abcdef";

/* s: bytes; utf8: they are UTF-8 (else Latin-1, each byte one character) */
static void enc_string(pTHX_ enc_t *e, const char *s, STRLEN len, int utf8) {
    const U8 *q = (const U8 *)s, *qend = q + len;
    char *p;
    enc_need(aTHX_ e, len * 6 + 2);
    p = e->p;
    *p++ = '"';
    for (; q < qend; q++) {
        U8 c = *q;
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (c < 0x80 || utf8) {
                *p++ = (char)c;
            } else {
                *p++ = (char)(0xC0 | (c >> 6));
                *p++ = (char)(0x80 | (c & 0x3F));
            }
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        default:
            *p++ = 'u'; *p++ = '0'; *p++ = '0';
            *p++ = HEX[c >> 4]; *p++ = HEX[c & 15];
        }
    }
    *p++ = '"';
    e->p = p;
}

static void enc_sv_string(pTHX_ enc_t *e, SV *sv) {
    STRLEN len;
    const char *s = SvPV_nomg(sv, len);
    enc_string(aTHX_ e, s, len, SvUTF8(sv) ? 1 : 0);
}

/* Decimal digits of u, right-aligned ending at `end`; returns the first digit. */
static char *utoa_rev(char *end, UV u) {
    do {
        *--end = (char)('0' + (u % 10));
        u /= 10;
    } while (u);
    return end;
}

static void enc_iv(pTHX_ enc_t *e, IV iv) {
    char buf[32], *end = buf + sizeof buf, *p;
    UV u = iv < 0 ? (UV)0 - (UV)iv : (UV)iv;
    p = utoa_rev(end, u);
    if (iv < 0)
        *--p = '-';
    enc_raw(aTHX_ e, p, (STRLEN)(end - p));
}

static void enc_uv(pTHX_ enc_t *e, UV uv) {
    char buf[32], *end = buf + sizeof buf, *p = utoa_rev(end, uv);
    enc_raw(aTHX_ e, p, (STRLEN)(end - p));
}

static const double P10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* Text that reads back as exactly the same double. Fast path: a decimal with at most 9
 * fractional digits, m / 10^k, written as such when m / 10^k (both exact doubles, so the
 * division is correctly rounded, as strtod of the text is) gives back d. Otherwise the shortest
 * of %.15g, %.16g, %.17g that round-trips. */
static void enc_double(pTHX_ enc_t *e, double d, const enc_path *path) {
    char buf[48];
    int prec, n = 0, k;
    char *c;
    if (!isfinite(d))
        enc_fail(aTHX_ e, path, "%s is not a number JSON can carry (not finite)",
                 isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
    if (fabs(d) < 1e15) {
        for (k = 0; k <= 9; k++) {
            double scaled = d * P10[k];
            double r;
            if (fabs(scaled) >= 9007199254740992.0) /* 2^53 */
                break;
            r = nearbyint(scaled);
            if (r / P10[k] == d) {
                char *end = buf + sizeof buf, *p;
                UV m = (UV)fabs(r);
                int i;
                p = end;
                for (i = 0; i < k; i++) {
                    *--p = (char)('0' + (m % 10));
                    m /= 10;
                }
                if (k)
                    *--p = '.';
                p = utoa_rev(p, m);
                if (d < 0 && r != 0)
                    *--p = '-';
                enc_raw(aTHX_ e, p, (STRLEN)(end - p));
                return;
            }
        }
    }
    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, sizeof buf, "%.*g", prec, d);
        for (c = buf; *c; c++) /* a locale's decimal comma */
            if (*c == ',')
                *c = '.';
        if (strtod(buf, NULL) == d)
            break;
    }
    enc_raw(aTHX_ e, buf, (STRLEN)n);
}

static void enc_value(pTHX_ enc_t *e, SV *sv, const enc_path *path, int depth);

static int is_bool_object(pTHX_ SV *ref) {
    static const char *const classes[] = {
        "JSON::PP::Boolean", "Types::Serialiser::Boolean", "JSON::XS::Boolean",
        "Cpanel::JSON::XS::Boolean", "boolean", "Mojo::JSON::_Bool", "JSON::Tiny::_Bool", NULL,
    };
    int i;
    for (i = 0; classes[i]; i++)
        if (sv_derived_from(ref, classes[i]))
            return 1;
    return 0;
}

static void enc_object(pTHX_ enc_t *e, SV *ref, const enc_path *path, int depth) {
    HV *stash = SvSTASH(SvRV(ref));
    GV *method;
    if (is_bool_object(aTHX_ ref)) {
        if (SvTRUE(ref))
            enc_raw(aTHX_ e, "true", 4);
        else
            enc_raw(aTHX_ e, "false", 5);
        return;
    }
    method = gv_fetchmethod_autoload(stash, "TO_JSON", 0);
    if (method && isGV(method) && GvCV(method)) {
        SV *result;
        int n;
        dSP;
        ENTER;
        SAVETMPS;
        PUSHMARK(SP);
        XPUSHs(ref);
        PUTBACK;
        n = call_sv((SV *)GvCV(method), G_SCALAR);
        SPAGAIN;
        result = n > 0 ? newSVsv(POPs) : newSV(0);
        PUTBACK;
        FREETMPS;
        LEAVE;
        sv_2mortal(result);
        enc_value(aTHX_ e, result, path, depth + 1);
        return;
    }
    if (SvAMAGIC(ref) && gv_fetchmeth_pvn(stash, "(\"\"", 3, -1, 0)) {
        /* an object that stringifies (a path, a URI, a version): its string */
        SV *text = sv_2mortal(newSVpvs(""));
        sv_copypv(text, ref);
        enc_sv_string(aTHX_ e, text);
        return;
    }
    enc_fail(aTHX_ e, path, "cannot encode a %s object as JSON (give its class a TO_JSON method)",
             sv_reftype(SvRV(ref), 1));
}

static void enc_hash(pTHX_ enc_t *e, HV *hv, const enc_path *path, int depth) {
    HE *he;
    int first = 1;
    enc_raw(aTHX_ e, "{", 1);
    hv_iterinit(hv);
    while ((he = hv_iternext(hv))) {
        enc_path here;
        SV *val;
        here.up = path;
        here.index = 0;
        if (!first)
            enc_raw(aTHX_ e, ",", 1);
        first = 0;
        if (SvMAGICAL(hv) || HeKLEN(he) == HEf_SVKEY) {
            SV *k = hv_iterkeysv(he);
            here.key = SvPV(k, here.klen);
            here.kutf8 = SvUTF8(k) ? 1 : 0;
            val = hv_iterval(hv, he);
        } else {
            here.key = HeKEY(he);
            here.klen = HeKLEN(he);
            here.kutf8 = HeKUTF8(he) ? 1 : 0;
            val = HeVAL(he);
        }
        enc_string(aTHX_ e, here.key, here.klen, here.kutf8);
        enc_raw(aTHX_ e, ":", 1);
        enc_value(aTHX_ e, val, &here, depth + 1);
    }
    enc_raw(aTHX_ e, "}", 1);
}

static void enc_array(pTHX_ enc_t *e, AV *av, const enc_path *path, int depth) {
    SSize_t i, top = av_top_index(av);
    enc_raw(aTHX_ e, "[", 1);
    for (i = 0; i <= top; i++) {
        enc_path here;
        SV **elem = av_fetch(av, i, 0);
        here.up = path;
        here.key = NULL;
        here.klen = 0;
        here.kutf8 = 0;
        here.index = i;
        if (i)
            enc_raw(aTHX_ e, ",", 1);
        if (elem)
            enc_value(aTHX_ e, *elem, &here, depth + 1);
        else
            enc_raw(aTHX_ e, "null", 4);
    }
    enc_raw(aTHX_ e, "]", 1);
}

static void enc_value(pTHX_ enc_t *e, SV *sv, const enc_path *path, int depth) {
    SvGETMAGIC(sv);
    if (depth > ENC_MAX_DEPTH)
        enc_fail(aTHX_ e, path, "nested more than %d levels deep (a reference cycle?)", ENC_MAX_DEPTH);
    if (SvROK(sv)) {
        SV *rv = SvRV(sv);
        if (SvOBJECT(rv)) {
            enc_object(aTHX_ e, sv, path, depth);
        } else if (SvTYPE(rv) == SVt_PVHV) {
            enc_hash(aTHX_ e, (HV *)rv, path, depth);
        } else if (SvTYPE(rv) == SVt_PVAV) {
            enc_array(aTHX_ e, (AV *)rv, path, depth);
        } else if (SvTYPE(rv) < SVt_PVAV && !SvROK(rv) && SvOK(rv) &&
                   ((SvIOK(rv) && (SvIVX(rv) == 0 || SvIVX(rv) == 1)) ||
                    (SvPOK(rv) && SvCUR(rv) == 1 && (*SvPVX(rv) == '0' || *SvPVX(rv) == '1')))) {
            /* \1 and \0, the usual Perl spelling of true and false */
            if (SvTRUE(rv))
                enc_raw(aTHX_ e, "true", 4);
            else
                enc_raw(aTHX_ e, "false", 5);
        } else {
            enc_fail(aTHX_ e, path, "cannot encode a %s reference as JSON", sv_reftype(rv, 0));
        }
        return;
    }
    if (!SvOK(sv)) {
        enc_raw(aTHX_ e, "null", 4);
        return;
    }
#ifdef SvIsBOOL
    if (SvIsBOOL(sv)) { /* !!1, builtin::true (Perl 5.36+) */
        if (SvTRUE_nomg(sv))
            enc_raw(aTHX_ e, "true", 4);
        else
            enc_raw(aTHX_ e, "false", 5);
        return;
    }
#endif
    if (SvPOK(sv)) { /* a string, even one that looks like a number: "25" stays "25" */
        enc_sv_string(aTHX_ e, sv);
        return;
    }
    if (SvIOK(sv)) {
        if (SvIsUV(sv))
            enc_uv(aTHX_ e, SvUVX(sv));
        else
            enc_iv(aTHX_ e, SvIVX(sv));
        return;
    }
    if (SvNOK(sv)) {
        enc_double(aTHX_ e, (double)SvNVX(sv), path);
        return;
    }
    if (SvPOKp(sv)) {
        enc_sv_string(aTHX_ e, sv);
        return;
    }
    if (SvIOKp(sv)) {
        enc_iv(aTHX_ e, SvIVX(sv));
        return;
    }
    if (SvNOKp(sv)) {
        enc_double(aTHX_ e, (double)SvNVX(sv), path);
        return;
    }
    if (isGV_with_GP(sv))
        enc_fail(aTHX_ e, path, "cannot encode a glob as JSON");
    enc_sv_string(aTHX_ e, sv);
}

/* The JSON text of `data`, in a mortal SV (bytes, UTF-8, NUL-terminated). */
static SV *encode_json_sv(pTHX_ SV *data, int config) {
    enc_t e;
    e.sv = sv_2mortal(newSV(512));
    SvPOK_only(e.sv);
    e.p = SvPVX(e.sv);
    e.end = SvPVX(e.sv) + SvLEN(e.sv) - 1;
    e.config = config;
    enc_value(aTHX_ &e, data, NULL, 0);
    *e.p = '\0';
    SvCUR_set(e.sv, e.p - SvPVX(e.sv));
    return e.sv;
}

/* ------------------------------------------------------------------------------------------ */
/* Handles from Perl objects */

static HV *client_stash = NULL, *job_stash = NULL;

static void *handle_of(pTHX_ SV *sv, HV *stash, const char *klass, const char *what) {
    IV ptr;
    if (!(SvROK(sv) && SvOBJECT(SvRV(sv)) && (SvSTASH(SvRV(sv)) == stash || sv_derived_from(sv, klass))))
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT, "invalid argument: not a %s object", klass);
    ptr = SvIV(SvRV(sv));
    if (!ptr)
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT, "invalid argument: this %s has been destroyed", what);
    return INT2PTR(void *, ptr);
}

static void client_decref(pTHX_ mon_client *cl) {
    if (--cl->refs > 0)
        return;
    /* In a forked child that has not called the library, the handle is the parent's copy:
     * nothing of this process to deliver, and the parent's threads do not exist here, so it is
     * left alone. Otherwise free it (the engine flushes and shuts it down first, 2 s at most). */
    if (cl->c && !mon_pending)
        monitoring_client_free(cl->c);
    cl->c = NULL;
    Safefree(cl);
}

/* Releases what a job holds once its handle is gone. */
static void job_release(pTHX_ mon_job *mj) {
    mon_client *owner = mj->owner;
    mj->j = NULL;
    mj->owner = NULL;
    if (owner)
        client_decref(aTHX_ owner);
}

static mon_job *open_job(pTHX_ SV *self) {
    mon_job *mj = (mon_job *)handle_of(aTHX_ self, job_stash, "Monitoring::Job", "job");
    if (!mj->j)
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT,
                   "invalid argument: job `%" SVf "` (%" SVf ") is already finished",
                   SVfARG(mj->name), SVfARG(mj->id));
    return mj;
}

MODULE = Monitoring     PACKAGE = Monitoring

PROTOTYPES: DISABLE

BOOT:
{
    if (monitoring_abi_version() != 1)
        croak("Monitoring: libmonitoring has ABI version %u, this module was built for ABI 1",
              (unsigned)monitoring_abi_version());
    client_stash = gv_stashpvs("Monitoring::Client", GV_ADD);
    job_stash = gv_stashpvs("Monitoring::Job", GV_ADD);
    {
        static int registered = 0;
        if (!registered) {
            registered = 1;
            if (pthread_atfork(hook_prepare, hook_parent, hook_child) != 0)
                warn("Monitoring: pthread_atfork failed; call Monitoring::after_fork_child() in forked children");
        }
    }
}

const char *
version()
  CODE:
    RETVAL = monitoring_version();
  OUTPUT:
    RETVAL

UV
abi_version()
  CODE:
    RETVAL = (UV)monitoring_abi_version();
  OUTPUT:
    RETVAL

SV *
last_error()
  CODE:
    RETVAL = newSVpv(monitoring_last_error(), 0);
    SvUTF8_on(RETVAL);
  OUTPUT:
    RETVAL

void
before_fork()
  CODE:
    hook_prepare();

void
after_fork_parent()
  CODE:
    hook_parent();

void
after_fork_child()
  CODE:
    mon_prepared = 0;
    mon_pending = 0;
    monitoring_after_fork_child();

SV *
encode_json(data)
    SV *data
  CODE:
    /* The binding's encoder, exposed for tests and for callers who want the exact text
     * emit(\%event) would send. Returns UTF-8 bytes. */
    RETVAL = newSVsv(encode_json_sv(aTHX_ data, 0));
  OUTPUT:
    RETVAL

SV *
status_name(code)
    IV code
  CODE:
    RETVAL = (code >= 0 && code < N_STATUS) ? newSVpv(STATUS_NAMES[code], 0) : &PL_sv_undef;
  OUTPUT:
    RETVAL


MODULE = Monitoring     PACKAGE = Monitoring::Client

SV *
new(klass, config = &PL_sv_undef)
    SV *klass
    SV *config
  PREINIT:
    const char *source = NULL;
    monitoring_client *c = NULL;
    monitoring_status st;
    mon_client *cl;
    const char *name;
  CODE:
    MON_FORK_CHECK();
    name = SvROK(klass) ? sv_reftype(SvRV(klass), 1) : SvPV_nolen(klass);
    SvGETMAGIC(config);
    if (SvROK(config) && !SvOBJECT(SvRV(config)) && SvTYPE(SvRV(config)) == SVt_PVHV) {
        source = SvPVX(encode_json_sv(aTHX_ config, 1)); /* inline JSON: starts with '{' */
    } else if (SvROK(config) && !SvAMAGIC(config)) {
        mon_throwf(aTHX_ MONITORING_ERR_CONFIG,
                   "configuration error: the configuration must be a hash reference, a file path or YAML/JSON text, not a %s reference",
                   sv_reftype(SvRV(config), 0));
    } else if (SvOK(config)) {
        source = text_arg(aTHX_ config, "config", 0);
    }
    st = monitoring_configure(source, &c);
    if (st != MONITORING_OK)
        mon_throw_last(aTHX_ (int)st);
    Newxz(cl, 1, mon_client);
    cl->c = c;
    cl->refs = 1;
    RETVAL = newSV(0);
    sv_setref_pv(RETVAL, name, (void *)cl);
  OUTPUT:
    RETVAL

void
emit(self, event)
    SV *self
    SV *event
  PREINIT:
    mon_client *cl;
    const char *p;
    STRLEN len;
    monitoring_status st;
  PPCODE:
    cl = (mon_client *)handle_of(aTHX_ self, client_stash, "Monitoring::Client", "client");
    MON_FORK_CHECK();
    SvGETMAGIC(event);
    if (SvROK(event)) {
        SV *json = encode_json_sv(aTHX_ event, 0);
        p = SvPVX(json);
        len = SvCUR(json);
    } else if (SvOK(event)) {
        /* JSON text: a character string (sent as UTF-8) or bytes, sent as they are */
        p = SvPV_nomg(event, len);
    } else {
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT,
                   "invalid argument: `event` must be a hash reference or JSON text, not undef");
    }
    st = monitoring_emit_n(cl->c, p, len);
    ST(0) = mon_check(aTHX_ st) ? &PL_sv_yes : &PL_sv_no;
    XSRETURN(1);

SV *
_job_start(self, name, entity_type, parent_id, business_key = NULL, sub_key = NULL)
    SV *self
    SV *name
    SV *entity_type
    SV *parent_id
    SV *business_key
    SV *sub_key
  PREINIT:
    mon_client *cl;
    const char *n, *et, *pid, *bk = NULL, *sk = NULL;
    monitoring_job *j = NULL;
    monitoring_status st;
    mon_job *mj;
  CODE:
    cl = (mon_client *)handle_of(aTHX_ self, client_stash, "Monitoring::Client", "client");
    MON_FORK_CHECK();
    n = text_arg(aTHX_ name, "name", 0);
    et = text_arg(aTHX_ entity_type, "entity_type", 1);
    pid = text_arg(aTHX_ parent_id, "parent_id", 1);
    if (business_key)
        bk = text_arg(aTHX_ business_key, "business_key", 1);
    if (sub_key)
        sk = text_arg(aTHX_ sub_key, "sub_key", 1);
    st = monitoring_job_start_keyed(cl->c, n, et, pid, bk, sk, &j);
    if (st != MONITORING_OK)
        mon_throw_last(aTHX_ (int)st);
    Newxz(mj, 1, mon_job);
    mj->j = j;
    mj->owner = cl;
    cl->refs++;
    mj->id = newSVpv(monitoring_job_id(j), 0);
    mj->name = newSVpv(n, 0);
    SvUTF8_on(mj->name);
    mj->err0 = newSVsv(ERRSV);
    mj->pid = getpid();
    RETVAL = newSV(0);
    sv_setref_pv(RETVAL, "Monitoring::Job", (void *)mj);
  OUTPUT:
    RETVAL

void
flush(self, timeout = NULL)
    SV *self
    SV *timeout
  PREINIT:
    mon_client *cl;
    uint32_t ms;
    monitoring_status st;
  PPCODE:
    cl = (mon_client *)handle_of(aTHX_ self, client_stash, "Monitoring::Client", "client");
    ms = timeout_arg(aTHX_ timeout);
    MON_FORK_CHECK();
    st = monitoring_flush(cl->c, ms);
    if (st != MONITORING_OK)
        mon_throw_last(aTHX_ (int)st);
    XSRETURN_YES;

void
shutdown(self, timeout = NULL)
    SV *self
    SV *timeout
  PREINIT:
    mon_client *cl;
    uint32_t ms;
    monitoring_status st;
  PPCODE:
    cl = (mon_client *)handle_of(aTHX_ self, client_stash, "Monitoring::Client", "client");
    ms = timeout_arg(aTHX_ timeout);
    MON_FORK_CHECK();
    st = monitoring_shutdown(cl->c, ms);
    if (st != MONITORING_OK)
        mon_throw_last(aTHX_ (int)st);
    XSRETURN_YES;

SV *
_stats_json(self)
    SV *self
  PREINIT:
    mon_client *cl;
    char *out = NULL;
    monitoring_status st;
  CODE:
    cl = (mon_client *)handle_of(aTHX_ self, client_stash, "Monitoring::Client", "client");
    MON_FORK_CHECK();
    st = monitoring_stats_json(cl->c, &out);
    if (st != MONITORING_OK)
        mon_throw_last(aTHX_ (int)st);
    RETVAL = newSVpv(out ? out : "{}", 0);
    monitoring_string_free(out);
  OUTPUT:
    RETVAL

void
DESTROY(self)
    SV *self
  PREINIT:
    IV ptr;
  CODE:
    if (SvROK(self) && (ptr = SvIV(SvRV(self))) != 0) {
        sv_setiv(SvRV(self), 0);
        client_decref(aTHX_ INT2PTR(mon_client *, ptr));
    }

int
CLONE_SKIP(...)
  CODE:
    PERL_UNUSED_VAR(items);
    RETVAL = 1;
  OUTPUT:
    RETVAL


MODULE = Monitoring     PACKAGE = Monitoring::Job

SV *
id(self)
    SV *self
  CODE:
    RETVAL = newSVsv(((mon_job *)handle_of(aTHX_ self, job_stash, "Monitoring::Job", "job"))->id);
  OUTPUT:
    RETVAL

SV *
name(self)
    SV *self
  CODE:
    RETVAL = newSVsv(((mon_job *)handle_of(aTHX_ self, job_stash, "Monitoring::Job", "job"))->name);
  OUTPUT:
    RETVAL

void
is_finished(self)
    SV *self
  PPCODE:
    ST(0) = ((mon_job *)handle_of(aTHX_ self, job_stash, "Monitoring::Job", "job"))->j ? &PL_sv_no : &PL_sv_yes;
    XSRETURN(1);

void
progress(self, percent, message = NULL)
    SV *self
    SV *percent
    SV *message
  PREINIT:
    mon_job *mj;
    double pct;
    const char *m;
  PPCODE:
    mj = open_job(aTHX_ self);
    pct = num_arg(aTHX_ percent, "percent");
    m = text_arg(aTHX_ message, "message", 1);
    MON_FORK_CHECK();
    ST(0) = mon_check(aTHX_ monitoring_job_progress(mj->j, pct, m)) ? &PL_sv_yes : &PL_sv_no;
    XSRETURN(1);

void
metric(self, ...)
    SV *self
  PREINIT:
    mon_job *mj;
    int i, all = 1;
  PPCODE:
    /* $job->metric(name => value, ...): one metric event per pair */
    mj = open_job(aTHX_ self);
    if (items < 3 || (items - 1) % 2)
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT,
                   "invalid argument: usage: $job->metric(name => value, ...)");
    MON_FORK_CHECK();
    for (i = 1; i < items; i += 2) {
        const char *name = text_arg(aTHX_ ST(i), "name", 0);
        double value = num_arg(aTHX_ ST(i + 1), "value");
        if (!mon_check(aTHX_ monitoring_job_metric(mj->j, name, value)))
            all = 0;
    }
    ST(0) = all ? &PL_sv_yes : &PL_sv_no;
    XSRETURN(1);

void
metadata(self, ...)
    SV *self
  PREINIT:
    mon_job *mj;
    int i;
  PPCODE:
    /* $job->metadata(key => value, ...): on every later event of the job; emits nothing */
    mj = open_job(aTHX_ self);
    if (items < 3 || (items - 1) % 2)
        mon_throwf(aTHX_ MONITORING_ERR_INVALID_ARGUMENT,
                   "invalid argument: usage: $job->metadata(key => value, ...)");
    MON_FORK_CHECK();
    for (i = 1; i < items; i += 2) {
        const char *key = text_arg(aTHX_ ST(i), "key", 0);
        const char *value = text_arg(aTHX_ ST(i + 1), "value", 0);
        mon_check(aTHX_ monitoring_job_metadata(mj->j, key, value));
    }
    XSRETURN_YES;

void
finish(self, status = NULL, message = NULL)
    SV *self
    SV *status
    SV *message
  PREINIT:
    mon_job *mj;
    const char *s, *m;
    monitoring_status st;
    SV *err = NULL;
  PPCODE:
    mj = open_job(aTHX_ self);
    s = text_arg(aTHX_ status, "status", 1);
    if (!s)
        s = "succeeded";
    m = text_arg(aTHX_ message, "message", 1);
    MON_FORK_CHECK();
    st = monitoring_job_finish(mj->j, s, m); /* frees the handle, whatever the result */
    if (st != MONITORING_OK && st != MONITORING_ERR_QUEUE_FULL)
        err = last_error_sv(aTHX_ (int)st);
    job_release(aTHX_ mj);
    if (err)
        mon_throw_sv(aTHX_ (int)st, err);
    ST(0) = st == MONITORING_OK ? &PL_sv_yes : &PL_sv_no;
    XSRETURN(1);

void
_owned_and_open(self)
    SV *self
  PREINIT:
    IV ptr;
    mon_job *mj;
  PPCODE:
    ptr = SvROK(self) ? SvIV(SvRV(self)) : 0;
    mj = INT2PTR(mon_job *, ptr);
    ST(0) = (mj && mj->j && mj->pid == getpid()) ? &PL_sv_yes : &PL_sv_no;
    XSRETURN(1);

SV *
_err0(self)
    SV *self
  PREINIT:
    IV ptr;
  CODE:
    ptr = SvROK(self) ? SvIV(SvRV(self)) : 0;
    RETVAL = ptr ? newSVsv((INT2PTR(mon_job *, ptr))->err0) : newSV(0);
  OUTPUT:
    RETVAL

void
_destroy(self, status = NULL, message = NULL, error_type = NULL)
    SV *self
    SV *status
    SV *message
    SV *error_type
  PREINIT:
    IV ptr;
    mon_job *mj;
  CODE:
    /* Called by DESTROY, exactly once per object: finishes an open job of this process with
     * `status` (when given), frees the handle, releases the client. Never dies. */
    if (!SvROK(self) || !(ptr = SvIV(SvRV(self))))
        XSRETURN_EMPTY;
    sv_setiv(SvRV(self), 0);
    mj = INT2PTR(mon_job *, ptr);
    if (mj->j) {
        if (mon_pending) {
            /* a forked child that never used the library: the handle is the parent's copy */
        } else if (mj->pid != getpid() || !status || !SvOK(status)) {
            /* another process's job (inherited through fork), or no status given: free the
             * copy without an event (an unknown status is refused, and the handle is freed) */
            monitoring_job_finish(mj->j, NULL, NULL);
        } else {
            STRLEN l;
            const char *s = SvPVutf8(status, l);
            const char *m = NULL;
            if (error_type && SvOK(error_type)) {
                const char *t = SvPVutf8(error_type, l);
                if (!memchr(t, 0, l))
                    monitoring_job_metadata(mj->j, "error_type", t);
            }
            if (message && SvOK(message)) {
                m = SvPVutf8(message, l);
                if (memchr(m, 0, l))
                    m = NULL;
            }
            monitoring_job_finish(mj->j, s, m);
        }
        job_release(aTHX_ mj);
    }
    SvREFCNT_dec(mj->id);
    SvREFCNT_dec(mj->name);
    SvREFCNT_dec(mj->err0);
    Safefree(mj);

int
CLONE_SKIP(...)
  CODE:
    PERL_UNUSED_VAR(items);
    RETVAL = 1;
  OUTPUT:
    RETVAL
