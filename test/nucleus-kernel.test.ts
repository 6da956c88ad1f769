/**
 * The backends' nucleus kernel (native/kernels/nucleus.c) against src/sampling/nucleus.ts nucleusFilter: the same
 * filtered rows bit for bit (kept set, sums, renormalisation) on peaked, flat, tied, zero-filled and odd rows.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyFilters } from '../src/sampling/filters.js';
import { nucleusFilter } from '../src/sampling/nucleus.js';
import { Rng } from './helpers.js';
import { availableBackends } from './model-helpers.js';

/** softmax in float64 of scale * randn (scale large: peaked rows) */
function softmaxRow(rng: Rng, V: number, scale: number): Float64Array {
  const x = rng.randn(V);
  let mx = -Infinity;
  for (const v of x) mx = Math.max(mx, scale * v);
  const row = Float64Array.from(x, (v) => Math.exp(scale * v - mx));
  const s = row.reduce((a, b) => a + b, 0);
  return row.map((v) => v / s);
}

function rowsFor(rng: Rng, V: number): Float64Array[] {
  const rows = [0.5, 2, 5, 12].map((sc) => softmaxRow(rng, V, sc));
  // ties: values on a coarse grid, so the cutoff falls inside runs of equal values
  rows.push(softmaxRow(rng, V, 3).map((v) => Math.round(v * 4 * V) / (4 * V)));
  const flat = new Float64Array(V).fill(1 / V);
  rows.push(flat);
  const sparse = new Float64Array(V);
  for (let i = 0; i < V; i += 7) sparse[i] = (i % 3) + 1;
  rows.push(sparse);
  const odd = softmaxRow(rng, V, 1);
  odd[3] = -0;
  odd[5] = -1e-9; // not a probability, but the definition still orders it
  rows.push(odd);
  return rows;
}

const bits = (a: Float64Array) => new Uint32Array(a.buffer, a.byteOffset, a.length * 2);

for (const { name, backend: be, why } of await availableBackends()) {
  if (name === 'ref') continue;
  describe(`nucleus kernel on ${name}`, { skip: be ? false : why }, () => {
    test('bit for bit nucleusFilter: p, includeCrossing, V from 1 to 50258', () => {
      assert.ok(be!.nucleus, `${name} has a nucleus kernel`);
      const rng = new Rng(21);
      for (const V of [1, 2, 33, 1000, 50258]) {
        const rows = rowsFor(rng, V);
        const all = new Float64Array(rows.length * V);
        rows.forEach((r, i) => all.set(r, i * V));
        for (const p of [1e-3, 0.1, 0.5, 0.9, 0.999]) {
          for (const incl of [false, true]) {
            const want = nucleusFilter(all.slice(), rows.length, V, p, incl);
            const got = applyFilters(all.slice(), rows.length, V, { topP: p, includeCrossing: incl }, be);
            assert.deepEqual(bits(got), bits(want), `V ${V} p ${p} includeCrossing ${incl}`);
          }
        }
      }
    });

    test('a row with a NaN is left to the definition; the others are filtered', () => {
      const rng = new Rng(22);
      const V = 300;
      const all = new Float64Array(3 * V);
      for (let r = 0; r < 3; r++) all.set(softmaxRow(rng, V, 2), r * V);
      all[V + 10] = NaN;
      const fallback = new Int32Array(3);
      const got = all.slice();
      be!.nucleus!(got, 3, V, 0.9, false, fallback);
      assert.deepEqual([...fallback], [0, 1, 0]);
      assert.deepEqual(bits(got.subarray(V, 2 * V)), bits(all.subarray(V, 2 * V)));
      assert.deepEqual(bits(got.subarray(0, V)), bits(nucleusFilter(all.slice(0, V), 1, V, 0.9)));
    });
  });
}
