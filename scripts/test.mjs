#!/usr/bin/env node
// `npm test`'s runner: the compiled tests (dist/test/*.test.js, or the files given), one file at a time, with the
// spec reporter; then every skipped test with its reason (each names what to install). A test that needs something
// this machine lacks (Chromium, the native addon) is skipped, so `npm test` passes on a machine with Node alone.
// BD3LM_REQUIRE_ALL=1 (CI sets it) makes any skipped or todo test a failure, so CI's coverage is complete.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const requireAll = process.env.BD3LM_REQUIRE_ALL === '1';
const dir = 'dist/test';
const files = process.argv.length > 2
  ? process.argv.slice(2)
  : fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join(dir, f));

const skipped = [];
let failed = false;
const stream = run({ files, concurrency: 1 });
stream.on('test:fail', () => (failed = true));
stream.on('test:pass', (t) => {
  if (t.skip !== undefined || t.todo !== undefined) {
    const why = t.skip !== undefined ? t.skip : `todo: ${t.todo}`;
    skipped.push(`${path.relative('.', t.file ?? '?')}: ${t.name}${typeof why === 'string' ? ` — ${why}` : ''}`);
  }
});
const out = stream.compose(spec);
out.pipe(process.stdout);
out.on('end', () => {
  if (skipped.length) {
    const head = requireAll ? 'FAILED (BD3LM_REQUIRE_ALL=1: nothing may be skipped)' : 'skipped (install what each names to run it)';
    process.stdout.write(`\n${head}, ${skipped.length}:\n${skipped.map((s) => `  ${s}\n`).join('')}`);
  }
  process.exitCode = failed || (requireAll && skipped.length) ? 1 : 0;
});
