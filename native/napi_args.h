/* The Node-API argument reader the kernels' bindings share (each kernel file's BD_NAPI functions, see binding.h):
 * every argument is type-checked and every array checked to be long enough for the shape and strides it is used
 * with, so a bad call throws a JS error instead of corrupting memory. Typed arrays are read in place. */
#ifndef BD_NAPI_ARGS_H
#define BD_NAPI_ARGS_H
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"

#define MAX_ARGS 24

/* Argument reader for one call; after the first error (a pending JS exception) every reader returns a dummy. */
typedef struct {
  napi_env env;
  const char *fn;
  napi_value argv[MAX_ARGS];
  int failed;
} call_t;

static inline void fail(call_t *c, const char *fmt, const char *name, long long x, long long y) {
  if (c->failed) return;
  char msg[256], full[320];
  snprintf(msg, sizeof msg, fmt, name, x, y);
  snprintf(full, sizeof full, "bd3lm native %s: %s", c->fn, msg);
  napi_throw_error(c->env, NULL, full);
  c->failed = 1;
}

static inline int begin(call_t *c, napi_env env, napi_callback_info info, const char *fn, size_t want) {
  size_t argc = MAX_ARGS;
  c->env = env, c->fn = fn, c->failed = 0;
  if (napi_get_cb_info(env, info, &argc, c->argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "bd3lm native: cannot read arguments");
    return 0;
  }
  if (argc != want) fail(c, "%s: expected %lld arguments, got %lld", "arguments", (long long)want, (long long)argc);
  return !c->failed;
}

static inline napi_valuetype type_of(call_t *c, size_t i) {
  napi_valuetype t = napi_undefined;
  napi_typeof(c->env, c->argv[i], &t);
  return t;
}

static inline double arg_num(call_t *c, size_t i, const char *name) {
  double v = 0;
  if (c->failed) return 0;
  if (type_of(c, i) != napi_number) fail(c, "'%s' must be a number", name, 0, 0);
  else napi_get_value_double(c->env, c->argv[i], &v);
  return v;
}

/* an integer in [lo, hi] */
static inline int64_t arg_int(call_t *c, size_t i, const char *name, int64_t lo, int64_t hi) {
  double v = arg_num(c, i, name);
  if (c->failed) return 0;
  if (v != (double)(int64_t)v) fail(c, "'%s' must be an integer", name, 0, 0);
  else if (v < (double)lo || v > (double)hi) fail(c, "'%s' must be in [%lld, %lld]", name, lo, hi);
  return c->failed ? 0 : (int64_t)v;
}

static inline int arg_bool(call_t *c, size_t i, const char *name) {
  bool v = false;
  if (c->failed) return 0;
  if (type_of(c, i) != napi_boolean) fail(c, "'%s' must be a boolean", name, 0, 0);
  else napi_get_value_bool(c->env, c->argv[i], &v);
  return v;
}

/* a typed array of the given type, in place; NULL (len 0) when nullable and the value is null/undefined */
static inline void *arg_array(call_t *c, size_t i, const char *name, napi_typedarray_type want, int nullable,
                       int64_t *len) {
  *len = 0;
  if (c->failed) return NULL;
  napi_valuetype t = type_of(c, i);
  if (nullable && (t == napi_null || t == napi_undefined)) return NULL;
  bool is = false;
  napi_is_typedarray(c->env, c->argv[i], &is);
  napi_typedarray_type tt;
  size_t n = 0;
  void *data = NULL;
  if (is) napi_get_typedarray_info(c->env, c->argv[i], &tt, &n, &data, NULL, NULL);
  if (!is || tt != want) {
    fail(c,
         want == napi_float32_array   ? "'%s' must be a Float32Array"
         : want == napi_int32_array   ? "'%s' must be an Int32Array"
         : want == napi_float64_array ? "'%s' must be a Float64Array"
                                      : want == napi_int8_array ? "'%s' must be an Int8Array"
                                      : "'%s' must be a Uint16Array",
         name, 0, 0);
    return NULL;
  }
  *len = (int64_t)n;
  return data;
}
#define F32(i, name, len) ((float *)arg_array(&c, i, name, napi_float32_array, 0, len))
#define F32_OPT(i, name, len) ((float *)arg_array(&c, i, name, napi_float32_array, 1, len))

/* the array must hold `extent` elements */
static inline void need(call_t *c, const char *name, int64_t len, int64_t extent) {
  if (!c->failed && extent > len) fail(c, "'%s' has %lld elements, the shape and strides need %lld", name, len, extent);
}

/* elements spanned by `batch` matrices of rows x cols, leading dimension ld, items `stride` apart */
static inline int64_t extent2d(int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

static inline napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

#define I32MAX 2147483647LL
#define I53MAX 9007199254740991LL

/* half format name -> BD_HALF_* */
static inline int arg_half_fmt(call_t *c, size_t i) {
  char s[8] = "";
  size_t len = 0;
  if (c->failed) return 0;
  if (type_of(c, i) == napi_string) napi_get_value_string_utf8(c->env, c->argv[i], s, sizeof s, &len);
  if (strcmp(s, "bf16") == 0) return BD_HALF_BF16;
  if (strcmp(s, "f16") == 0) return BD_HALF_F16;
  fail(c, "'%s' must be 'bf16' or 'f16'", "dtype", 0, 0);
  return 0;
}

#endif
