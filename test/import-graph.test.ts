/** src/'s import graph keeps its layers (test/import-graph.ts LAYERS): no cycle, no import upward or sideways. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { importCycles, importViolations, LAYERS, readImportGraph, type ImportGraph } from './import-graph.js';

test('src/: no import cycle, no import from a lower layer to a higher one or between siblings', () => {
  const graph = readImportGraph('src');
  assert.ok(graph.size > 100, `read ${graph.size} files under src/`); // the walk found the tree
  assert.ok(graph.get('src/tensor/ref.ts')!.includes('src/tensor/sampling/categorical.ts'), 'imports resolve to files');
  assert.deepEqual(importViolations(graph, 'src'), []);
});

test('every folder of src/ is in exactly one layer', () => {
  const named = LAYERS.flat();
  assert.equal(new Set(named).size, named.length, 'a layer is listed twice');
  const folders = new Set([...readImportGraph('src').keys()].map((f) => f.split('/')[1]));
  for (const f of folders) assert.ok(named.includes(f), `src/${f} is in no layer`);
});

// the checker on synthetic graphs: each rule fires on its violation and nowhere else
const g = (edges: Record<string, string[]>): ImportGraph => new Map(Object.entries(edges));

test('checker: an upward import, a sibling import, a cycle and a missing file are each reported', () => {
  const layers = [['low'], ['mid', 'side'], ['top']];
  assert.deepEqual(importViolations(g({ 'r/low/a.ts': [], 'r/mid/b.ts': ['r/low/a.ts'], 'r/top/c.ts': ['r/mid/b.ts', 'r/low/a.ts'] }), 'r', layers), []);
  assert.deepEqual(importViolations(g({ 'r/low/a.ts': ['r/top/c.ts'], 'r/top/c.ts': [] }), 'r', layers), [
    'r/low/a.ts: imports r/top/c.ts, a higher layer (low is below top)',
  ]);
  assert.deepEqual(importViolations(g({ 'r/mid/b.ts': ['r/side/s.ts'], 'r/side/s.ts': [] }), 'r', layers), [
    'r/mid/b.ts: imports r/side/s.ts, a sibling layer (mid and side may not import each other)',
  ]);
  assert.deepEqual(importViolations(g({ 'r/low/a.ts': ['r/low/b.ts'], 'r/low/b.ts': ['r/low/c.ts'], 'r/low/c.ts': ['r/low/a.ts'] }), 'r', layers), [
    'import cycle: r/low/a.ts -> r/low/b.ts -> r/low/c.ts -> r/low/a.ts',
  ]);
  assert.deepEqual(importViolations(g({ 'r/low/a.ts': ['r/low/gone.ts'] }), 'r', layers), ['r/low/a.ts: imports r/low/gone.ts, which does not exist']);
  assert.deepEqual(importViolations(g({ 'r/elsewhere/a.ts': [] }), 'r', layers), [
    'r/elsewhere/a.ts: its folder is in no layer (add it to LAYERS in test/import-graph.ts)',
  ]);
  assert.deepEqual(importCycles(g({ 'a.ts': ['a.ts'] })), [['a.ts']]);
});

test("README's layer picture (How it is built) is LAYERS, highest first", () => {
  const readme = fs.readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('## How it is built'));
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the section opens with the picture');
  const rows = block.trim().split('\n').map((l) => l.split(/\s{2,}/)[0]!.split(' · '));
  assert.deepEqual(rows, LAYERS.filter((row) => !row.includes('index.ts')).map((row) => [...row]).reverse());
});
