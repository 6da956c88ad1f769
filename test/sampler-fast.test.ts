/**
 * The fast sampler pieces against their definitions, bit for bit: nucleus / top-k from a radix sort of the values
 * vs the stable comparator index sort, the categorical race that skips p = 0 entries vs the full race, and the
 * lazy per-row noise (replay rows are views of one rand_like chunk; seeded rows do not depend on the others).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nucleusFilter, nucleusFilterSorted, topKFilter, topKSorted } from '../src/tensor/sampling/nucleus.js';
import { sampleRow } from '../src/tensor/sampling/categorical.js';
import { ReplayRandom, SeededRandom } from '../src/tensor/sampling/random.js';
import { Rng } from '../src/tensor/rng.js';

/** assorted rows: smooth, peaked, many ties, zeros, -0, a single dominant token, tiny V */
function rows(rng: Rng): Float64Array[] {
  const out: Float64Array[] = [];
  for (const V of [1, 2, 5, 37, 1000, 50258]) {
    const smooth = Float64Array.from({ length: V }, () => Math.exp(Math.fround(-10 + rng.uniform() * 0.5)));
    const peaked = Float64Array.from({ length: V }, () => Math.exp(-12 * rng.uniform()) ** 3);
    const ties = Float64Array.from({ length: V }, () => [0.1, 0.2, 0.05, 0][Math.floor(rng.uniform() * 4)]);
    const dominant = new Float64Array(V).fill(1e-9);
    dominant[Math.floor(rng.uniform() * V)] = 1;
    const zeros = Float64Array.from({ length: V }, (_, i) => (i % 3 === 0 ? (i % 2 ? -0 : 0) : rng.uniform()));
    // values sharing their high word (differ in the low mantissa bits only)
    const lowBits = Float64Array.from({ length: V }, () => 0.25 * (1 + Math.floor(rng.uniform() * 64) * 2 ** -50));
    out.push(smooth, peaked, ties, dominant, zeros, lowBits, new Float64Array(V));
  }
  return out;
}

const same = (a: Float64Array, b: Float64Array, what: string) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}: entry ${i}: ${a[i]} vs ${b[i]}`);
};

test('nucleus and top-k: radix-sorted cutoff == stable index sort, bit for bit', () => {
  const rng = new Rng(11);
  const ps = [0.9, 0.5, 1 - 1e-12, 1e-9, 0.3333, 0.999];
  for (const row of rows(rng)) {
    const V = row.length;
    for (const p of ps) {
      for (const inc of [false, true]) {
        same(nucleusFilter(row.slice(), 1, V, p, inc), nucleusFilterSorted(row.slice(), 1, V, p, inc), `top-p ${p} ${inc} V=${V}`);
      }
    }
    for (const k of [1, 2, 3, 17, 500, V - 1]) if (k >= 1 && k < V) same(topKFilter(row.slice(), 1, V, k), topKSorted(row.slice(), V, k), `top-k ${k} V=${V}`);
  }
  // several rows at once, and a NaN row (the definition is used)
  const r = rows(rng).filter((x) => x.length === 37);
  const flat = new Float64Array(r.length * 37);
  r.forEach((x, i) => flat.set(x, i * 37));
  same(nucleusFilter(flat.slice(), r.length, 37, 0.9), nucleusFilterSorted(flat.slice(), r.length, 37, 0.9), 'multi-row');
  const nan = Float64Array.from([0.2, NaN, 0.5, 0.3]);
  same(nucleusFilter(nan.slice(), 1, 4, 0.6), nucleusFilterSorted(nan.slice(), 1, 4, 0.6), 'NaN row');
});

test('categorical row: skipping p = 0 entries gives the full race (ties, NaN, zeros, noise near 1)', () => {
  const full = (p: Float64Array, u: Float64Array) => {
    let best = -Infinity;
    let arg = 0;
    for (let v = 0; v < p.length; v++) {
      const s = p[v] / (1e-10 - Math.log(u[v] + 1e-10));
      if (Number.isNaN(s)) return v;
      if (s > best || (v === 0 && s === best)) {
        best = s;
        arg = v;
      }
    }
    return arg;
  };
  const rng = new Rng(5);
  for (const row of rows(rng)) {
    for (let rep = 0; rep < 3; rep++) {
      const V = row.length;
      const u = Float64Array.from({ length: V }, () => (rep === 2 ? 1 - rng.uniform() * 1e-12 : rng.uniform()));
      const p = nucleusFilter(row.slice(), 1, V, 0.7);
      assert.equal(sampleRow(p, u, V), full(p, u));
      assert.equal(sampleRow(row, u, V), full(row, u));
    }
  }
  // many small rows: near-equal probabilities and noise around the 0.99 / 0.5 switches
  for (let rep = 0; rep < 3000; rep++) {
    const V = 2 + Math.floor(rng.uniform() * 40);
    const p = Float64Array.from({ length: V }, () => (rng.uniform() < 0.2 ? 0 : 0.5 + rng.uniform() * 1e-6 * (rep % 3)));
    const u = Float64Array.from({ length: V }, () => [rng.uniform(), 0.99, 0.98 + rng.uniform() * 0.02, 1 - 2 ** -53, 0][Math.floor(rng.uniform() * 5)]);
    assert.equal(sampleRow(p, u, V), full(p, u), `small row ${rep}`);
  }
  const u = Float64Array.from([0.5, 0.5, 0.5, 0.5]);
  for (const p of [[NaN, Infinity, NaN, 0], [0, 0, 0, 0], [0, 5e-324, 0, 0], [Infinity, NaN, -Infinity, 0], [-1, -2, 0, -0]]) {
    assert.equal(sampleRow(Float64Array.from(p), u, 4), full(Float64Array.from(p), u), `row ${p}`);
  }
});

test('lazy categorical noise: replay rows view one chunk; seeded rows are independent of the rows requested', () => {
  const all = Float64Array.from({ length: 12 }, (_, i) => i / 12);
  const r = new ReplayRandom({ uniforms: all, chunk: 6 });
  const n1 = r.categorical(2, 3);
  assert.deepEqual(Array.from(n1.row(1)), Array.from(all.subarray(3, 6)));
  const n2 = r.categorical(2, 3);
  assert.deepEqual(Array.from(n2.row(0)), Array.from(all.subarray(6, 9)));
  assert.throws(() => r.categorical(2, 3), /exhausted/);
  assert.throws(() => new ReplayRandom({ uniforms: all, chunk: 6 }).categorical(1, 3), /draw of 3 values/);
  const a = new SeededRandom(3).categorical(4, 100);
  const b = new SeededRandom(3).categorical(4, 100);
  const a2 = a.row(2);
  b.row(0);
  assert.deepEqual(Array.from(b.row(2)), Array.from(a2));
  assert.notDeepEqual(Array.from(a.row(1)), Array.from(a2));
  for (const v of a2) assert.ok(v >= 0 && v < 1);
  // two draws differ; the same row twice is the same values
  const s = new SeededRandom(3);
  const d1 = s.categorical(1, 50);
  const d2 = s.categorical(1, 50);
  assert.notDeepEqual(Array.from(d1.row(0)), Array.from(d2.row(0)));
  assert.deepEqual(Array.from(d1.row(0)), Array.from(d1.row(0)));
});
