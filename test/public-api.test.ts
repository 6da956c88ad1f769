/**
 * The package's public surface: the entry (bd3lm) stays curated (at most 30 names, grouped by task), every subpath
 * export of package.json resolves to a built module with its types, and every name README's examples import from
 * the package exists there. Names are read with TypeScript's checker from the built declarations (values and types).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import ts from 'typescript';

const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { name: string; exports: Record<string, { types: string; default: string }> };

/** export names (values and types) of each declaration file */
function exportNames(files: string[]): Map<string, string[]> {
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  return new Map(files.map((f) => {
    const sf = program.getSourceFile(f);
    assert.ok(sf, `${f} exists (npm run build:ts)`);
    return [f, checker.getExportsOfModule(checker.getSymbolAtLocation(sf)!).map((s) => s.name)];
  }));
}

const subpaths = Object.keys(pkg.exports);
const names = exportNames(subpaths.map((s) => pkg.exports[s]!.types));
const namesOf = (subpath: string) => names.get(pkg.exports[subpath]!.types)!;

test('the package entry has at most 30 names, in the task groups of src/index.ts', () => {
  const entry = namesOf('.');
  assert.ok(entry.length >= 10 && entry.length <= 30, `${entry.length} names: ${entry.join(', ')}`);
  for (const n of ['loadModel', 'loadTokenizer', 'generate', 'train', 'perplexity', 'createCompletionServer', 'verifyGolden'])
    assert.ok(entry.includes(n), `the entry exports ${n}`);
  const groups = [...fs.readFileSync('src/index.ts', 'utf8').matchAll(/^\/\/ (\w+):/gm)].map((m) => m[1]);
  assert.deepEqual(groups, ['load', 'tokenize', 'generate', 'train', 'evaluate', 'serve', 'verify']);
});

test('every subpath export resolves to a built module (self-reference by package name) with its declarations', async () => {
  assert.ok(subpaths.length >= 8, subpaths.join(' '));
  for (const sub of subpaths) {
    const spec = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
    const mod = (await import(spec)) as Record<string, unknown>;
    const values = Object.keys(mod);
    assert.ok(values.length > 0, `${spec} has exports`);
    // every runtime export is declared (the .d.ts and the .js are one build)
    for (const v of values) assert.ok(namesOf(sub).includes(v), `${spec}: ${v} is declared`);
  }
});

test('building blocks stay reachable: the sampler parts, the backends, the model pieces under their subpaths', () => {
  for (const [sub, n] of [['./sampling', 'denoiseBlockSteps'], ['./tensor', 'RefBackend'], ['./model', 'blockDiffusionMaskDense'], ['./model', 'KVCache'], ['./training', 'lossAndGrads'], ['./data', 'tokenizerFor'], ['./diffusion', 'subsLogProbs'], ['./eval', 'gradientVariance'], ['./server', 'SERVER_DEFAULTS']] as const)
    assert.ok(namesOf(sub).includes(n), `${sub} exports ${n}`);
  // internals left the entry
  for (const n of ['denoiseBlockSteps', 'drain', 'lastPositions', 'blockDiffusionMaskDense']) assert.ok(!namesOf('.').includes(n), n);
});

test("README's imports from the package name only exported names", () => {
  const readme = fs.readFileSync('README.md', 'utf8');
  const imports = [...readme.matchAll(/import (?:type )?\{([^}]*)\} from '(bd3lm(?:\/[\w-]+)?)'/g)];
  assert.ok(imports.length >= 2, 'README imports from the entry and a subpath');
  for (const [, list, spec] of imports) {
    const sub = spec === 'bd3lm' ? '.' : `./${spec!.slice('bd3lm/'.length)}`;
    assert.ok(pkg.exports[sub], `README imports ${spec}, which package.json does not export`);
    for (const n of list!.split(',').map((s) => s.trim().replace(/^type /, '')).filter(Boolean))
      assert.ok(namesOf(sub).includes(n), `README imports ${n} from ${spec}, which does not export it`);
  }
});
