/* The Node addon's module: registers every entry point of native/kernels.def (each defined by BD_NAPI in its
 * kernel's C file, argument checks included; positional arguments, src/tensor/native.ts fills defaults), plus
 * threads() and info(). */
#include <node_api.h>

#include "kernels.h"
#include "parallel.h"

#define BD_KERNEL(js, name, file, sig) napi_value bd_napi_##name(napi_env env, napi_callback_info info);
#include "kernels.def"
#undef BD_KERNEL

#ifdef BD_HAVE_OPENBLAS
void openblas_set_num_threads(int n);
#endif

static napi_value js_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, bd_num_threads(), &v);
  return v;
}

#ifdef __F16C__
#define BD_F16C_NAME "+f16c"
#else
#define BD_F16C_NAME ""
#endif

/* { openblas: boolean, openblasCore: string | null, simd: string, w8a8: string, threads: number } */
static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_get_boolean(env, bd_sgemm_uses_openblas() != 0, &v);
  napi_set_named_property(env, o, "openblas", v);
  const char *core = bd_sgemm_openblas_core();
  if (core) napi_create_string_utf8(env, core, NAPI_AUTO_LENGTH, &v);
  else napi_get_null(env, &v);
  napi_set_named_property(env, o, "openblasCore", v);
#if defined(__AVX2__) && defined(__FMA__)
  const char *simd = "avx2+fma" BD_F16C_NAME;
#else
  const char *simd = "generic";
#endif
  napi_create_string_utf8(env, simd, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "simd", v);
  napi_create_string_utf8(env, bd_w8a8_kernel(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "w8a8", v);
  napi_create_int32(env, bd_num_threads(), &v);
  napi_set_named_property(env, o, "threads", v);
  return o;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
#define BD_KERNEL(js, name, file, sig) {#js, bd_napi_##name},
#include "kernels.def"
#undef BD_KERNEL
      {"threads", js_threads},
      {"info", js_info},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return NULL;
    napi_set_named_property(env, exports, fns[i].name, f);
  }
#ifdef BD_HAVE_OPENBLAS
  /* one pool's worth of threads in total: OpenBLAS and our pool never run at the same time */
  openblas_set_num_threads(bd_num_threads());
#endif
  return exports;
}
