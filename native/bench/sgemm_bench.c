/* Correctness + speed harness for native/kernels/sgemm.c. Builds natively (with runtime_posix.c, optionally
 * OpenBLAS) and for wasm32 (with wasm_stub.c: serial parallel_for, bump heap; driven by sgemm_bench.mjs).
 * See run.sh. */
#include "../kernels.h"
#include "../parallel.h"
#include <stdint.h>

#ifdef __wasm__
__attribute__((import_module("env"), import_name("now_ms"))) double now_ms(void);
__attribute__((import_module("env"), import_name("log_fail"))) void log_fail(int tA, int tB, int m, int n, int k,
                                                                              int batch, double err);
#define EXPORT __attribute__((visibility("default")))
#else
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static int g_cpuclock = 0; /* --cpu: thread CPU time (single-threaded runs on a busy machine) */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(g_cpuclock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
static void log_fail(int tA, int tB, int m, int n, int k, int batch, double err) {
  printf("FAIL tA=%d tB=%d m=%d n=%d k=%d batch=%d relerr=%.3g\n", tA, tB, m, n, k, batch, err);
}
#define EXPORT
#ifdef BD_HAVE_OPENBLAS
#include <cblas.h>
#endif
#endif

static uint32_t g_rng = 12345;
static float frand(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return (float)((g_rng >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
static double dabs(double x) { return x < 0 ? -x : x; }

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int,
                        const float *, int, int64_t, int64_t, int64_t);

/* one check; returns max relative error (|d| / (sum |a||b| terms + |beta c| + |bias| + tiny)) */
static double check(gemm_fn fn, int tA, int tB, int m, int n, int k, float alpha, float beta, int useBias, int batch,
                    int pad) {
  int lda = (tA ? m : k) + pad, ldb = (tB ? k : n) + pad, ldc = n + pad;
  int64_t sA = (int64_t)(tA ? k : m) * lda + 3, sB = (int64_t)(tB ? n : k) * ldb + 5, sC = (int64_t)m * ldc + 7;
  float *A = bd_alloc(sizeof(float) * (sA * batch + 1)), *B = bd_alloc(sizeof(float) * (sB * batch + 1));
  float *C = bd_alloc(sizeof(float) * (sC * batch + 1)), *C0 = bd_alloc(sizeof(float) * (sC * batch + 1));
  float *bias = bd_alloc(sizeof(float) * (n + 1));
  for (int64_t i = 0; i < sA * batch; i++) A[i] = frand();
  for (int64_t i = 0; i < sB * batch; i++) B[i] = frand();
  float nan = __builtin_nanf("");
  for (int64_t i = 0; i < sC * batch; i++) C0[i] = C[i] = beta == 0.0f ? nan : frand();
  for (int j = 0; j < n; j++) bias[j] = frand();
  fn(tA, tB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, useBias ? bias : 0, batch, sA, sB, sC);
  double worst = 0;
  for (int b = 0; b < batch; b++)
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        double acc = 0, mag = 0;
        for (int p = 0; p < k; p++) {
          double a = tA ? A[b * sA + (int64_t)p * lda + i] : A[b * sA + (int64_t)i * lda + p];
          double bb = tB ? B[b * sB + (int64_t)j * ldb + p] : B[b * sB + (int64_t)p * ldb + j];
          acc += a * bb;
          mag += dabs(a * bb);
        }
        double ref = alpha * acc;
        mag = dabs(alpha) * mag;
        if (beta != 0.0f) {
          ref += beta * (double)C0[b * sC + (int64_t)i * ldc + j];
          mag += dabs(beta * (double)C0[b * sC + (int64_t)i * ldc + j]);
        }
        if (useBias) {
          ref += bias[j];
          mag += dabs(bias[j]);
        }
        double got = C[b * sC + (int64_t)i * ldc + j];
        double err = dabs(got - ref) / (mag + 1e-30);
        if (!(err <= 1e30)) err = 1e30; /* NaN */
        if (err > worst) worst = err;
      }
  /* padding between items / rows untouched */
  for (int b = 0; b < batch; b++)
    for (int i = 0; i < m; i++)
      for (int j = n; j < ldc && (i < m - 1 || j < n); j++) {
        float x = C[b * sC + (int64_t)i * ldc + j], y = C0[b * sC + (int64_t)i * ldc + j];
        if (!(x == y || (x != x && y != y))) worst = 1e30;
      }
  bd_free(A);
  bd_free(B);
  bd_free(C);
  bd_free(C0);
  bd_free(bias);
  return worst;
}

static int nested_checks(void);
static int run_checks(gemm_fn fn, double *maxErr) {
  static const int shapes[][3] = {{1, 1, 1},    {1, 37, 19},  {1, 300, 700}, {2, 45, 300}, {4, 130, 9},
                                  {5, 17, 3},   {7, 13, 5},   {17, 33, 65},  {65, 3, 300}, {6, 16, 256},
                                  {12, 32, 512}, {100, 70, 1}, {50, 2000, 600}, {130, 260, 270}, {31, 1100, 40}, {600, 20, 300}};
  int fails = 0;
  double worst = 0;
  for (unsigned s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
    for (int tA = 0; tA < 2; tA++)
      for (int tB = 0; tB < 2; tB++)
        for (int v = 0; v < 3; v++) {
          int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
          float alpha = v == 0 ? 1.0f : v == 1 ? 0.5f : -1.25f;
          float beta = v == 0 ? 0.0f : v == 1 ? 1.0f : 0.3f;
          int useBias = v != 1, batch = v == 2 ? 3 : 1, pad = v;
          double e = check(fn, tA, tB, m, n, k, alpha, beta, useBias, batch, pad);
          if (e > worst) worst = e;
          if (e > 2e-6) {
            fails++;
            log_fail(tA, tB, m, n, k, batch, e);
          }
        }
  /* k == 0, alpha == 0, many small batch items */
  double e = check(fn, 0, 1, 5, 9, 0, 1.0f, 0.5f, 1, 2, 1);
  if (e > 2e-6) fails++, log_fail(0, 1, 5, 9, 0, 2, e);
  e = check(fn, 1, 0, 8, 20, 10, 0.0f, 0.0f, 1, 1, 0);
  if (e > 2e-6) fails++, log_fail(1, 0, 8, 20, 10, 1, e);
  e = check(fn, 0, 1, 16, 64, 64, 1.0f, 0.0f, 1, 37, 0);
  if (e > 2e-6) fails++, log_fail(0, 1, 16, 64, 64, 37, e);
  e = check(fn, 1, 1, 64, 48, 80, 1.0f, 1.0f, 0, 3, 2);
  if (e > 2e-6) fails++, log_fail(1, 1, 64, 48, 80, 3, e);
  *maxErr = worst > e ? worst : e;
  return fails + nested_checks();
}

/* sgemm called from inside parallel work items (runs serially there; scratch must not be shared) */
static double g_nestedErr[8];
static void nested_item(void *ctx, int begin, int end, int tid) {
  (void)ctx;
  (void)tid;
  for (int i = begin; i < end; i++)
    g_nestedErr[i] = check(bd_sgemm_own, i & 1, (i >> 1) & 1, 130 + i, 260, 270, 1.0f, 0.5f, 1, 2, 1);
}
static int nested_checks(void) {
  bd_parallel_for(8, 1, nested_item, 0);
  int fails = 0;
  for (int i = 0; i < 8; i++)
    if (g_nestedErr[i] > 2e-6) fails++, log_fail(i & 1, (i >> 1) & 1, 130 + i, 260, 270, 2, g_nestedErr[i]);
  return fails;
}

EXPORT int check_own(void) {
  double e;
  return run_checks(bd_sgemm_own, &e);
}
EXPORT int check_routed(void) {
  double e;
  return run_checks(bd_sgemm, &e);
}

/* best milliseconds over `reps` runs (after one warm-up) */
static double bench(gemm_fn fn, int tA, int tB, int m, int n, int k, int batch, int reps) {
  int lda = tA ? m : k, ldb = tB ? k : n;
  int64_t sA = (int64_t)m * k, sB = (int64_t)k * n, sC = (int64_t)m * n;
  float *A = bd_alloc(sizeof(float) * sA * batch), *B = bd_alloc(sizeof(float) * sB * batch);
  float *C = bd_alloc(sizeof(float) * sC * batch), *bias = bd_alloc(sizeof(float) * n);
  for (int64_t i = 0; i < sA * batch; i++) A[i] = frand();
  for (int64_t i = 0; i < sB * batch; i++) B[i] = frand();
  for (int j = 0; j < n; j++) bias[j] = 0.0f;
  double best = 1e30;
  for (int r = 0; r <= reps; r++) {
    double t0 = now_ms();
    fn(tA, tB, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, n, 0, batch, sA, sB, sC);
    double t = now_ms() - t0;
    if (r > 0 && t < best) best = t;
  }
  bd_free(A);
  bd_free(B);
  bd_free(C);
  bd_free(bias);
  return best;
}

EXPORT double bench_own(int tA, int tB, int m, int n, int k, int batch, int reps) {
  return bench(bd_sgemm_own, tA, tB, m, n, k, batch, reps);
}

#ifndef __wasm__
#ifdef BD_HAVE_OPENBLAS
static void blas_fn(int tA, int tB, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc, const float *bias, int batch, int64_t sA, int64_t sB,
                    int64_t sC) {
  (void)bias;
  for (int b = 0; b < batch; b++)
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
}
#endif

int main(int argc, char **argv) {
  int doCheck = 1, reps = 3, rounds = 4, one[6], haveOne = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--nocheck")) doCheck = 0;
    if (!strcmp(argv[i], "--cpu")) g_cpuclock = 1;
    if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    if (!strcmp(argv[i], "--case") && i + 6 < argc) {
      for (int q = 0; q < 6; q++) one[q] = atoi(argv[++i]);
      haveOne = 1, doCheck = 0;
    }
  }
  printf("threads %d, openblas routing %d\n", bd_num_threads(), bd_sgemm_uses_openblas());
  if (doCheck) {
    double e1, e2;
    int f1 = run_checks(bd_sgemm_own, &e1);
    int f2 = run_checks(bd_sgemm, &e2);
    printf("correctness: own %d failures (max rel err %.2e), bd_sgemm %d failures (max rel err %.2e)\n", f1, e1, f2,
           e2);
  }
  static const int cases[][6] = {
      /* tA, tB, m, n, k, batch */
      {0, 0, 1024, 3072, 768, 1}, {0, 1, 1024, 3072, 768, 1}, {0, 0, 1024, 768, 768, 1}, {0, 1, 1024, 768, 768, 1},
      {1, 0, 768, 3072, 1024, 1}, {0, 1, 64, 50258, 768, 1},  {0, 1, 16, 256, 256, 1},  {0, 0, 16, 256, 256, 1},
      {0, 1, 16, 256, 256, 12},   {0, 1, 1024, 1024, 64, 12}, {0, 0, 1024, 64, 1024, 12}, {0, 1, 1, 3072, 768, 1},
      {0, 0, 1, 3072, 768, 1},    {0, 1, 4, 50258, 768, 1},
  };
  printf("%-28s %10s %10s %10s\n", "shape (tA tB m n k xbatch)", "own GF/s", "routed", "openblas");
  unsigned ncases = haveOne ? 1 : sizeof(cases) / sizeof(cases[0]);
  for (unsigned c = 0; c < ncases; c++) {
    const int *x = haveOne ? one : cases[c];
    double fl = 2.0 * x[2] * x[3] * x[4] * x[5];
    int r = fl > 1e9 ? reps : reps * 10;
    /* rounds of own / routed / OpenBLAS back to back, best of each (the machine may be shared) */
    double t1 = 1e30, t2 = 1e30, t3 = 1e30;
    for (int round = 0; round < rounds; round++) {
      double t;
      t = bench(bd_sgemm_own, x[0], x[1], x[2], x[3], x[4], x[5], r);
      if (t < t1) t1 = t;
      t = bench(bd_sgemm, x[0], x[1], x[2], x[3], x[4], x[5], r);
      if (t < t2) t2 = t;
#ifdef BD_HAVE_OPENBLAS
      t = bench(blas_fn, x[0], x[1], x[2], x[3], x[4], x[5], r);
      if (t < t3) t3 = t;
#endif
    }
    if (t3 >= 1e30) t3 = 0;
    char name[64];
    snprintf(name, sizeof name, "%d %d %dx%dx%d x%d", x[0], x[1], x[2], x[3], x[4], x[5]);
    printf("%-28s %10.1f %10.1f %10.1f\n", name, fl / t1 * 1e-6, fl / t2 * 1e-6, t3 > 0 ? fl / t3 * 1e-6 : 0.0);
    fflush(stdout);
  }
  return 0;
}
#endif
