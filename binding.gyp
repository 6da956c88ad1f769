{
  # Node addon: kernels + thread pool + N-API glue. OpenBLAS (Debian's static libopenblas.a, pthread variant) is
  # linked in when present so the .node is self-contained (needs only libc; its symbols stay hidden); without it bd_sgemm uses the project's own kernel.
  "variables": {
    "openblas_static%": "<!(node -p \"require('fs').existsSync('/usr/lib/x86_64-linux-gnu/libopenblas.a') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "bd3lm",
      "sources": [
        "native/addon.c",
        "native/runtime_posix.c",
        "native/kernels/sgemm.c",
        "native/kernels/w8a8.c",
        "native/kernels/layernorm.c",
        "native/kernels/residual.c",
        "native/kernels/gelu.c",
        "native/kernels/softmax.c",
        "native/kernels/rotary.c",
        "native/kernels/embedding.c",
        "native/kernels/attention.c",
        "native/kernels/layernorm_backward.c",
        "native/kernels/residual_backward.c",
        "native/kernels/gelu_backward.c",
        "native/kernels/attention_backward.c",
        "native/kernels/embedding_backward.c",
        "native/kernels/optim.c",
        "native/kernels/sampling.c",
        "native/kernels/scratch.c"
      ],
      "include_dirs": ["native"],
      "cflags": ["-O3", "-mavx2", "-mfma", "-mf16c", "-ffp-contract=fast", "-fno-math-errno", "-std=c11", "-D_GNU_SOURCE", "-pthread"],
      "cflags!": ["-O2", "-O0"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["openblas_static==1", {
          "defines": ["BD_HAVE_OPENBLAS"],
          "include_dirs": ["/usr/include/x86_64-linux-gnu"],
          "libraries": ["/usr/lib/x86_64-linux-gnu/libopenblas.a", "-lpthread", "-lm"],
          "ldflags": ["-Wl,--exclude-libs,ALL"]
        }]
      ]
    }
  ]
}
