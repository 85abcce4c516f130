#include "mini_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p, *end, *start;
  char *err;
  size_t errlen;
  int depth;
} parser;

static void perr(parser *ps, const char *fmt, ...) {
  if (ps->err && ps->errlen && ps->err[0] == '\0') {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%s at offset %ld", msg, (long)(ps->p - ps->start));
  }
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static mj_node *new_node(mj_type t) {
  mj_node *n = calloc(1, sizeof *n);
  if (n) n->type = t;
  return n;
}

static int push_item(mj_node *n, char *key, mj_node *item) {
  char **nk = NULL;
  mj_node **ni = realloc(n->items, (n->len + 1) * sizeof *ni);
  if (!ni) return 0;
  n->items = ni;
  if (n->type == MJ_OBJ) {
    nk = realloc(n->keys, (n->len + 1) * sizeof *nk);
    if (!nk) return 0;
    n->keys = nk;
    n->keys[n->len] = key;
  }
  n->items[n->len++] = item;
  return 1;
}

static int hex4(parser *ps, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    if (ps->p >= ps->end) return 0;
    char c = *ps->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* ps->p is on the opening quote. */
static char *parse_string(parser *ps) {
  ps->p++;
  /* decoded text is never longer than the raw text */
  const char *q = ps->p;
  while (q < ps->end && *q != '"') q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
  if (q >= ps->end) { perr(ps, "unterminated string"); return NULL; }
  char *out = malloc((size_t)(q - ps->p) + 1), *o = out;
  if (!out) return NULL;
  while (ps->p < ps->end && *ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20) { perr(ps, "control character in string"); free(out); return NULL; }
    if (c != '\\') { *o++ = (char)c; ps->p++; continue; }
    ps->p++;
    if (ps->p >= ps->end) break;
    char e = *ps->p++;
    switch (e) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        unsigned cp;
        if (!hex4(ps, &cp)) { perr(ps, "bad \\u escape"); free(out); return NULL; }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
            ps->p += 2;
            if (!hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
              perr(ps, "bad surrogate pair"); free(out); return NULL;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else { perr(ps, "lone surrogate"); free(out); return NULL; }
        }
        o += put_utf8(o, cp); /* \uXXXX (6 raw bytes) never decodes to more than 4 */
        break;
      }
      default: perr(ps, "bad escape \\%c", e); free(out); return NULL;
    }
  }
  if (ps->p >= ps->end) { perr(ps, "unterminated string"); free(out); return NULL; }
  ps->p++; /* closing quote */
  *o = '\0';
  return out;
}

static mj_node *parse_value(parser *ps);

static mj_node *parse_container(parser *ps, int is_obj) {
  mj_node *n = new_node(is_obj ? MJ_OBJ : MJ_ARR);
  if (!n) return NULL;
  ps->p++;
  skip_ws(ps);
  char close = is_obj ? '}' : ']';
  if (ps->p < ps->end && *ps->p == close) { ps->p++; return n; }
  for (;;) {
    char *key = NULL;
    skip_ws(ps);
    if (is_obj) {
      if (ps->p >= ps->end || *ps->p != '"') { perr(ps, "expected object key"); goto fail; }
      key = parse_string(ps);
      if (!key) goto fail;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') { perr(ps, "expected ':'"); free(key); goto fail; }
      ps->p++;
    }
    mj_node *v = parse_value(ps);
    if (!v) { free(key); goto fail; }
    if (!push_item(n, key, v)) { free(key); mj_free(v); goto fail; }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
    if (ps->p < ps->end && *ps->p == close) { ps->p++; return n; }
    perr(ps, "expected ',' or '%c'", close);
    goto fail;
  }
fail:
  mj_free(n);
  return NULL;
}

static mj_node *parse_number(parser *ps) {
  const char *s = ps->p;
  if (ps->p < ps->end && *ps->p == '-') ps->p++;
  if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') { perr(ps, "bad number"); return NULL; }
  if (*ps->p == '0') ps->p++;
  else while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') { perr(ps, "bad fraction"); return NULL; }
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
  }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') { perr(ps, "bad exponent"); return NULL; }
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
  }
  char buf[64];
  size_t l = (size_t)(ps->p - s);
  if (l >= sizeof buf) l = sizeof buf - 1;
  memcpy(buf, s, l);
  buf[l] = '\0';
  mj_node *n = new_node(MJ_NUM);
  if (n) n->num = strtod(buf, NULL);
  return n;
}

static int lit(parser *ps, const char *word) {
  size_t l = strlen(word);
  if ((size_t)(ps->end - ps->p) >= l && memcmp(ps->p, word, l) == 0) { ps->p += l; return 1; }
  return 0;
}

static mj_node *parse_value(parser *ps) {
  skip_ws(ps);
  if (ps->p >= ps->end) { perr(ps, "unexpected end"); return NULL; }
  if (++ps->depth > 200) { perr(ps, "nesting too deep"); return NULL; }
  mj_node *n = NULL;
  char c = *ps->p;
  if (c == '{' || c == '[') n = parse_container(ps, c == '{');
  else if (c == '"') {
    char *s = parse_string(ps);
    if (s && (n = new_node(MJ_STR)) != NULL) n->str = s;
    else free(s);
  } else if (c == '-' || (c >= '0' && c <= '9')) n = parse_number(ps);
  else if (lit(ps, "true")) { if ((n = new_node(MJ_BOOL))) n->boolean = 1; }
  else if (lit(ps, "false")) n = new_node(MJ_BOOL);
  else if (lit(ps, "null")) n = new_node(MJ_NULL);
  else perr(ps, "unexpected character '%c'", c);
  ps->depth--;
  return n;
}

mj_node *mj_parse(const char *text, size_t len, char *err, size_t errlen) {
  parser ps = {text, text + len, text, err, errlen, 0};
  if (err && errlen) err[0] = '\0';
  mj_node *n = parse_value(&ps);
  if (!n) return NULL;
  skip_ws(&ps);
  if (ps.p != ps.end) {
    perr(&ps, "trailing characters after the JSON value");
    mj_free(n);
    return NULL;
  }
  return n;
}

void mj_free(mj_node *n) {
  if (!n) return;
  for (size_t i = 0; i < n->len; i++) {
    mj_free(n->items[i]);
    if (n->keys) free(n->keys[i]);
  }
  free(n->items);
  free(n->keys);
  free(n->str);
  free(n);
}

const mj_node *mj_get(const mj_node *obj, const char *key) {
  if (!obj || obj->type != MJ_OBJ) return NULL;
  for (size_t i = 0; i < obj->len; i++)
    if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
  return NULL;
}

const mj_node *mj_path(const mj_node *root, const char *path) {
  char step[256];
  const mj_node *n = root;
  while (n && *path) {
    const char *dot = strchr(path, '.');
    size_t l = dot ? (size_t)(dot - path) : strlen(path);
    if (l >= sizeof step) return NULL;
    memcpy(step, path, l);
    step[l] = '\0';
    n = mj_get(n, step);
    path += l + (dot ? 1 : 0);
  }
  return n;
}

const char *mj_str(const mj_node *root, const char *path) {
  const mj_node *n = mj_path(root, path);
  return (n && n->type == MJ_STR) ? n->str : NULL;
}

int mj_num(const mj_node *root, const char *path, double *out) {
  const mj_node *n = mj_path(root, path);
  if (!n || n->type != MJ_NUM) return 0;
  if (out) *out = n->num;
  return 1;
}

int mj_is_null(const mj_node *root, const char *path) {
  const mj_node *n = mj_path(root, path);
  return n && n->type == MJ_NULL;
}

int mj_has(const mj_node *root, const char *path) { return mj_path(root, path) != NULL; }
