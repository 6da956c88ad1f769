// Runs the wasm build of sgemm_bench.c: node [--experimental-wasm-relaxed-simd] sgemm_bench.mjs file.wasm
import { readFileSync } from 'node:fs';
const file = process.argv[2];
const { instance } = await WebAssembly.instantiate(readFileSync(file), {
  env: {
    // BENCH_CPU=1: process CPU time (single-threaded wasm on a busy machine)
    now_ms: process.env.BENCH_CPU ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; } : () => performance.now(),
    log_fail: (tA, tB, m, n, k, batch, err) => console.log(`FAIL tA=${tA} tB=${tB} m=${m} n=${n} k=${k} batch=${batch} relerr=${err}`),
  },
});
const x = instance.exports;
console.log(`${file}: correctness failures own=${x.check_own()}`);
const cases = [
  [0, 0, 1024, 3072, 768, 1], [0, 1, 1024, 3072, 768, 1], [0, 0, 1024, 768, 768, 1], [1, 0, 768, 3072, 1024, 1],
  [0, 1, 64, 50258, 768, 1], [0, 1, 16, 256, 256, 1], [0, 1, 16, 256, 256, 12], [0, 1, 1, 3072, 768, 1],
];
const only = process.argv[3] === 'quick' ? cases.slice(0, 1) : cases;
for (const [tA, tB, m, n, k, b] of only) {
  const fl = 2 * m * n * k * b;
  const ms = x.bench_own(tA, tB, m, n, k, b, fl > 1e9 ? (process.env.REPS ? +process.env.REPS : 4) : 30);
  console.log(`${tA} ${tB} ${m}x${n}x${k} x${b}`.padEnd(28) + (fl / ms * 1e-6).toFixed(1).padStart(8) + ' GFLOP/s');
}
