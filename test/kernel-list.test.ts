/**
 * native/kernels.def is the one list of kernel entry points: the addon registers exactly its JS names, the wasm
 * module exports exactly its names (besides the runtime's own), each entry point is defined once, in the file its
 * line names, and both TypeScript bindings declare what the list has and nothing it lacks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { addonPath } from '../src/tensor/native.js';

const lines = [...fs.readFileSync('native/kernels.def', 'utf8').matchAll(/^BD_KERNEL\((\w+), (\w+), (\w+), "[^"]*"\)$/gm)];
const list = lines.map((m) => ({ js: m[1]!, name: m[2]!, file: m[3]! }));
const sorted = (xs: Iterable<string>) => [...xs].sort();

/** The function exports of a wasm binary, read from its export section (compiling would need relaxed SIMD). */
function wasmFunctionExports(bytes: Uint8Array): string[] {
  let at = 8; // magic and version
  const leb = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  while (at < bytes.length) {
    const id = bytes[at++]!;
    const size = leb();
    if (id !== 7) {
      at += size;
      continue;
    }
    const names: string[] = [];
    for (let n = leb(); n > 0; n--) {
      const len = leb();
      const name = new TextDecoder().decode(bytes.subarray(at, at + len));
      at += len;
      const kind = bytes[at++]!;
      leb(); // index
      if (kind === 0) names.push(name);
    }
    return names;
  }
  throw new Error('no export section');
}

/** the member names of `interface <name> { ... }` in a TypeScript file */
function members(path: string, iface: string): string[] {
  const src = fs.readFileSync(path, 'utf8');
  const body = new RegExp(`interface ${iface} \\{\\n([\\s\\S]*?)\\n\\}`).exec(src)?.[1];
  assert.ok(body, `${path} has interface ${iface}`);
  return [...body.matchAll(/^ {2}(\w+)\??[(:]/gm)].map((m) => m[1]!);
}

test('kernels.def: well formed, no name twice', () => {
  assert.ok(list.length >= 20, `read ${list.length} lines`);
  const body = fs.readFileSync('native/kernels.def', 'utf8').split('\n').filter((l) => l.startsWith('BD_KERNEL'));
  assert.equal(body.length, list.length, 'every BD_KERNEL line parses');
  assert.equal(new Set(list.map((k) => k.js)).size, list.length);
  assert.equal(new Set(list.map((k) => k.name)).size, list.length);
});

test('each entry point is bound once, in the kernel file its line names (BD_NAPI and BD_WASM)', () => {
  const files = fs.readdirSync('native/kernels').filter((f) => f.endsWith('.c'));
  const defs = (macro: string) => {
    const at = new Map<string, string[]>();
    for (const f of files)
      for (const m of fs.readFileSync(`native/kernels/${f}`, 'utf8').matchAll(new RegExp(`^${macro}\\((\\w+)\\)`, 'gm')))
        at.set(m[1]!, [...(at.get(m[1]!) ?? []), f]);
    return at;
  };
  for (const macro of ['BD_NAPI', 'BD_WASM']) {
    const at = defs(macro);
    assert.deepEqual(sorted(at.keys()), sorted(list.map((k) => k.name)), `${macro} definitions = the list`);
    for (const k of list) assert.deepEqual(at.get(k.name), [`${k.file}.c`], `${macro}(${k.name})`);
  }
});

test('the addon registers exactly the list (plus threads, info)', (t) => {
  if (!fs.existsSync(addonPath())) return t.skip('native addon not built (npm run build:native)');
  const addon = createRequire(import.meta.url)(addonPath()) as Record<string, unknown>;
  assert.deepEqual(sorted(Object.keys(addon)), sorted([...list.map((k) => k.js), 'threads', 'info']));
});

test('every wasm build exports exactly the list (plus the runtime exports of native/wasm)', () => {
  const runtime = ['alloc', 'free', 'num_threads', 'parallel_selftest', 'bd_set_threads', 'bd_shutdown', 'bd_heap_stats', 'bd_worker_main'];
  for (const f of fs.readdirSync('wasm').filter((x) => x.endsWith('.wasm'))) {
    const fns = wasmFunctionExports(fs.readFileSync(`wasm/${f}`)).filter((n) => !runtime.includes(n) && !n.startsWith('__'));
    assert.deepEqual(sorted(fns), sorted(list.map((k) => k.name)), f);
  }
});

test('src/tensor/kernels.gen.ts is what scripts/gen-kernels.mjs makes of the list', () => {
  // throws (exit 1, with the reason on stderr) when the committed file is stale
  execFileSync(process.execPath, ['scripts/gen-kernels.mjs', '--check'], { stdio: 'pipe' });
});

test('gen-kernels: a malformed list line is an error naming the file and line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernels-def-'));
  const def = path.join(dir, 'kernels.def');
  const cases: [string, RegExp][] = [
    ['BD_KERNEL(a, a, a)', /kernels\.def:2: not BD_KERNEL\(jsName, name, file, "form args"\)/],
    ['BD_KERNEL(a, a, a, "() x:f33")', /kernels\.def:2: argument x: unknown kind f33/],
    ['BD_KERNEL(a, a, a, "() n:int?")', /kernels\.def:2: argument n: \?, ! and @ apply to arrays/],
    ['BD_KERNEL(a, a, a, "[A] x:f32")', /kernels\.def:2: form "\[A\]"/],
    ['BD_KERNEL(a, a, a, "{A} x:f32@1 y:f32!@1")', /kernels\.def:2: a: group @1 must be/],
  ];
  try {
    for (const [line, want] of cases) {
      fs.writeFileSync(def, `/* a list */\n${line}\n`);
      assert.throws(() => execFileSync(process.execPath, ['scripts/gen-kernels.mjs', '--check', '--def', def], { stdio: 'pipe' }),
        (e: { stderr?: Buffer }) => want.test(String(e.stderr)), line);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the generated TypeScript bindings declare the list: addon (JS names), wasm exports (export names)', () => {
  const gen = 'src/tensor/kernels.gen.ts';
  assert.deepEqual(sorted(members(gen, 'AddonKernels')), sorted(list.map((k) => k.js)));
  assert.deepEqual(sorted(members(gen, 'WasmKernelExports')), sorted(list.map((k) => k.name)));
  // the bindings' own interfaces add only the runtime's functions
  assert.deepEqual(sorted(members('src/tensor/native.ts', 'Addon extends AddonKernels')), ['info', 'threads']);
  const runtime = members('src/tensor/wasm.ts', 'Exports extends WasmKernelExports').filter((n) => !n.startsWith('__'));
  assert.deepEqual(sorted(runtime), ['alloc', 'bd_heap_stats', 'bd_set_threads', 'bd_shutdown', 'free', 'parallel_selftest']);
});
