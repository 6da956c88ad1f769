/* How a kernel file binds its entry points, next to the kernels themselves: each entry point listed in
 * native/kernels.def is defined in its kernel's C file as
 *   BD_NAPI(name) { ... }                  the Node addon's function (built with BD_NAPI_BINDINGS, binding.gyp),
 *                                          registered by native/addon.c as the list line's JS name;
 *   BD_WASM(name) <type> w_name(...) { }   the wasm export "name" (built with BD_WASM_BINDINGS, build-wasm.sh).
 * Other builds of the kernel files (native/bench) define neither and see the kernels alone. */
#ifndef BD_BINDING_H
#define BD_BINDING_H

#ifdef BD_NAPI_BINDINGS
#include "napi_args.h"
/* hidden: the addon exports only its module init (the table of native/addon.c reaches these) */
#define BD_NAPI(name) __attribute__((visibility("hidden"))) napi_value bd_napi_##name(napi_env env, napi_callback_info info)
#endif

#ifdef BD_WASM_BINDINGS
/* wasm entry points take 32-bit ints where kernels.h has 64-bit strides (a 4 GiB memory holds < 2^31 floats), and
 * pointers as offsets in the linear memory */
#define BD_WASM(name) __attribute__((export_name(#name)))
#endif

#endif
