/* A minimal JSON reader for the C tests: parses a document into a tree and looks values up
 * by dotted path ("event.metrics.duration_s").  Strict enough to reject what is not JSON
 * (trailing garbage, bad escapes, control characters in strings); not fast, not clever. */
#ifndef MINI_JSON_H
#define MINI_JSON_H
#include <stddef.h>

typedef enum { MJ_NULL, MJ_BOOL, MJ_NUM, MJ_STR, MJ_ARR, MJ_OBJ } mj_type;

typedef struct mj_node {
  mj_type type;
  int boolean;            /* MJ_BOOL */
  double num;             /* MJ_NUM */
  char *str;              /* MJ_STR (UTF-8, NUL-terminated; escapes decoded) */
  size_t len;             /* MJ_ARR / MJ_OBJ: number of items */
  char **keys;            /* MJ_OBJ: keys[i] names items[i] */
  struct mj_node **items; /* MJ_ARR / MJ_OBJ */
} mj_node;

/* Parses text[0..len); returns NULL on error with a message in err. */
mj_node *mj_parse(const char *text, size_t len, char *err, size_t errlen);
void mj_free(mj_node *n);

/* The member `key` of an object (first one if repeated), or NULL. */
const mj_node *mj_get(const mj_node *obj, const char *key);
/* Dotted path lookup from root: "event.metrics.duration_s"; NULL when any step is missing. */
const mj_node *mj_path(const mj_node *root, const char *path);
/* Convenience: the string at path, or NULL when absent or not a string. */
const char *mj_str(const mj_node *root, const char *path);
/* Convenience: 1 and *out set when the value at path is a number, else 0. */
int mj_num(const mj_node *root, const char *path, double *out);
/* 1 when the key at path exists and is JSON null. */
int mj_is_null(const mj_node *root, const char *path);
/* 1 when the key at path exists (whatever its value). */
int mj_has(const mj_node *root, const char *path);

#endif
