/* Per-core compute rate of the three weight products at a sampling step's shape (16 rows; 256 x 768 weights, in
 * cache), single-threaded, in thread CPU time (meaningful on a busy machine): the fp32 kernel, int8 weights with fp32
 * activations, and W8A8. Shows the fp32-FMA bound that int8 weights with fp32 activations cannot pass. run.sh w8a8. */
#include "../kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
  const int m = 16, n = 256, k = 768, it = 1000;
  float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k), *c = malloc(sizeof(float) * m * n);
  int8_t *q = malloc((size_t)n * k);
  float *s = malloc(sizeof(float) * n);
  for (int i = 0; i < m * k; i++) a[i] = (float)(rand() % 100 - 50) * 0.01f;
  for (int i = 0; i < n * k; i++) {
    q[i] = (int8_t)(rand() % 255 - 127);
    b[i] = q[i] * 0.01f;
  }
  for (int j = 0; j < n; j++) s[j] = 0.01f;
  const double ops = 2.0 * m * n * k * it / 1e9;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = cpu_s();
    for (int i = 0; i < it; i++) bd_sgemm_own(0, 1, m, n, k, 1, a, k, b, k, 0, c, n, NULL, 1, 0, 0, 0);
    double t1 = cpu_s();
    for (int i = 0; i < it; i++) bd_sgemm_bq8(0, m, n, k, 1, a, k, q, s, k, 0, c, n, NULL);
    double t2 = cpu_s();
    for (int i = 0; i < it; i++) bd_sgemm_w8a8(0, m, n, k, 1, a, k, q, s, k, 0, c, n, NULL);
    double t3 = cpu_s();
    printf("%dx%dx%d, 1 thread: fp32 %.0f GFLOP/s, int8 weights %.0f GFLOP/s, w8a8 %.0f GOP/s\n", m, k, n,
           ops / (t1 - t0), ops / (t2 - t1), ops / (t3 - t2));
  }
  return 0;
}
