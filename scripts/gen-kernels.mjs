#!/usr/bin/env node
/**
 * Writes src/tensor/kernels.gen.ts from native/kernels.def (its format is described there): the addon's and the wasm
 * module's kernel signatures, the Backend methods the list binds, and their native and wasm bodies, as plain code
 * (each call site is what one would write by hand: no per-call interpretation of the list).
 * `--check`: write nothing, exit 1 when the file differs from what the list gives (test/kernel-list.test.ts).
 * `--def PATH`: read another list (with --check: its errors, for the tests). A malformed line is an error naming it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEF = 'native/kernels.def';
const OUT = 'src/tensor/kernels.gen.ts';
const ARRAYS = { f32: 'Float32Array', i32: 'Int32Array', f64: 'Float64Array', u16: 'Uint16Array', i8: 'Int8Array' };
const SCALARS = ['int', 'float', 'bool', 'half', 'wasm'];

/** The list: [{ where, js, name, file, form, ret, optional, doc, args: [{ name, kind, nullable, out, group, dflt }] }]. */
export function parseDef(text, defName = DEF) {
  const kernels = [];
  let doc = null;
  text.split('\n').forEach((line, i) => {
    const where = `${defName}:${i + 1}`;
    if (/^\/\*\*.*\*\/$/.test(line)) return void (doc = line);
    if (!line.startsWith('BD_KERNEL')) return void (doc = null);
    const m = /^BD_KERNEL\((\w+), (\w+), (\w+), "([^"]*)"\)$/.exec(line);
    if (!m) throw new Error(`${where}: not BD_KERNEL(jsName, name, file, "form args")`);
    const [form, ...tokens] = m[4].split(' ').filter(Boolean);
    const f = /^(?:\{(\w+)\}|\(\)(?::(float))?|-(\?)?)$/.exec(form ?? '');
    if (!f) throw new Error(`${where}: form "${form}" is not {ArgsType}, (), ():float, - or -?`);
    const args = tokens.map((t) => {
      const a = /^(\w+)(?::(\w+))?([?!]*)(?:@(\w+))?(?:=(.+))?$/.exec(t);
      if (!a) throw new Error(`${where}: argument "${t}" is not name[:kind][?][!][@group][=default]`);
      const kind = a[2] ?? 'int';
      if (!(kind in ARRAYS) && !SCALARS.includes(kind)) throw new Error(`${where}: argument ${a[1]}: unknown kind ${kind}`);
      const flags = a[3] ?? '';
      if ((flags || a[4]) && !(kind in ARRAYS)) throw new Error(`${where}: argument ${a[1]}: ?, ! and @ apply to arrays`);
      return { name: a[1], kind, nullable: flags.includes('?'), out: flags.includes('!'), group: a[4] ?? null, dflt: a[5] ?? null };
    });
    kernels.push({ where, js: m[1], name: m[2], file: m[3], form: f[1] ? `{${f[1]}}` : form.startsWith('(') ? '()' : '-', ret: f[2] ? 'number' : 'void', optional: !!f[3], doc, args });
    doc = null;
  });
  return kernels;
}

const isArray = (a) => a.kind in ARRAYS;
const tsType = (a) => (isArray(a) ? ARRAYS[a.kind] + (a.nullable ? ' | null' : '') : a.kind === 'bool' ? 'boolean' : a.kind === 'half' ? 'HalfDtype' : 'number');

/** `expr` with the kernel's argument names read from the call's arguments (`a.name` for an {ArgsType} form). */
function readArg(k, expr) {
  if (!k.form.startsWith('{')) return expr;
  const names = new Set(k.args.map((a) => a.name));
  return expr.replace(/(?<![.\w])([A-Za-z_]\w*)/g, (id) => (names.has(id) ? `a.${id}` : id));
}

/** The JS value of argument `a` (before marshalling): the field or parameter with its default. */
function value(k, a) {
  const v = readArg(k, a.name);
  if (a.dflt !== null) return `${v} ?? ${readArg(k, a.dflt)}`;
  return isArray(a) && a.nullable && k.form.startsWith('{') ? `${v} ?? null` : v;
}

function nativeArg(k, a) {
  if (a.kind === 'half') throw new Error(`${k.where}: ${k.js}: a half argument needs a hand-written method (form -)`);
  return a.kind === 'bool' ? `!!${readArg(k, a.name)}` : value(k, a);
}

function wasmArg(k, a) {
  if (a.kind === 'wasm') return readArg(k, a.dflt);
  if (a.kind === 'half') throw new Error(`${k.where}: ${k.js}: a half argument needs a hand-written method (form -)`);
  if (a.kind === 'bool') return `${readArg(k, a.name)} ? 1 : 0`;
  if (!isArray(a)) return value(k, a);
  if (a.group) return `_${a.name}`;
  return `this.p(${readArg(k, a.name)}${a.out ? ', true' : ''})`;
}

const params = (k) => (k.form === '()' ? k.args.filter((a) => a.kind !== 'wasm').map((a) => `${a.name}: ${tsType(a)}`).join(', ') : `a: ${k.form.slice(1, -1)}`);

/** Lines of at most 120 columns: `head` then the comma-separated `items`, continued with `indent`. */
function wrap(head, items, tail, indent) {
  const lines = [];
  let cur = head;
  items.forEach((it, i) => {
    const piece = it + (i < items.length - 1 ? ',' : tail);
    if (cur.length + 1 + piece.length > 118 && cur.trim() !== head.trim()) {
      lines.push(cur);
      cur = indent + piece;
    } else cur += (cur.endsWith('(') ? '' : ' ') + piece;
  });
  if (!items.length) cur += tail;
  lines.push(cur);
  return lines.join('\n');
}

export function generate(text, defName = DEF) {
  const list = parseDef(text, defName);
  const bound = list.filter((k) => k.form !== '-');
  const argTypes = [...new Set(bound.filter((k) => k.form.startsWith('{')).map((k) => k.form.slice(1, -1)))].sort();
  const out = [];
  const w = (s = '') => out.push(s);
  w(`// Generated by scripts/gen-kernels.mjs from ${DEF}: edit the list, not this file (npm run build:ts regenerates it).`);
  w(`import type { ${[...argTypes, 'HalfDtype'].join(', ')} } from './kernel-args.js';`);
  w();
  w('type Ptr = number;');
  w('type Arr = Float32Array | Int32Array | Uint16Array | Int8Array | Float64Array;');
  w();
  w(`/** The addon's kernel functions (native/addon.c): one per line of ${DEF}, positional, under its JS name. */`);
  w('export interface AddonKernels {');
  for (const k of list) {
    const ps = k.args.filter((a) => a.kind !== 'wasm').map((a) => `${a.name}: ${tsType(a)}`);
    if (k.optional) w('  /** absent from an addon built before this kernel */');
    w(wrap(`  ${k.js}${k.optional ? '?' : ''}(`, ps, `): ${k.ret};`, '    '));
  }
  w('}');
  w();
  w(`/** The wasm module's kernel exports: one per line of ${DEF}, arrays as offsets in its memory. */`);
  w('export interface WasmKernelExports {');
  for (const k of list) {
    const ps = k.args.map((a) => `${a.name}: ${isArray(a) ? 'Ptr' : 'number'}`);
    w(wrap(`  ${k.name}(`, ps, `): ${k.ret};`, '    '));
  }
  w('}');
  w();
  w(`/** The Backend methods that ${DEF} binds directly (the others, variants of one op, are written in backend.ts). */`);
  w('export interface BoundKernels {');
  for (const k of bound) {
    if (k.doc) w(`  ${k.doc}`);
    w(`  ${k.js}(${params(k)}): ${k.ret};`);
  }
  w('}');
  w();
  w('/** The bound methods of the native backend: the addon reads arrays in place; these fill the defaults. */');
  w('export function nativeKernels(addon: AddonKernels): BoundKernels {');
  w('  return {');
  for (const k of bound) {
    const head = k.form === '()' ? `(${k.args.filter((a) => a.kind !== 'wasm').map((a) => a.name).join(', ')})` : '(a)';
    const call = wrap(`      addon.${k.js}(`, k.args.filter((a) => a.kind !== 'wasm').map((a) => nativeArg(k, a)), '),', '        ');
    w(`    ${k.js}: ${head} =>`);
    w(call);
  }
  w('  };');
  w('}');
  w();
  w('/**');
  w(' * The bound methods of the wasm backend (WasmBackendImpl extends this): each call marshals its arrays with `p`');
  w(' * (a foreign array is copied in, and back when the kernel writes it) or, for arrays that may share a buffer, `ptrs`,');
  w(' * inside `call` (which releases the copies, also on a throw).');
  w(' */');
  w('export abstract class WasmKernels implements BoundKernels {');
  w('  protected abstract readonly ex: WasmKernelExports;');
  w('  protected abstract call(f: () => void): void;');
  w('  protected abstract p(a: Arr | null | undefined, out?: boolean): Ptr;');
  w('  protected abstract ptrs(arrs: Float32Array[], out: boolean): Ptr[];');
  for (const k of bound) {
    w();
    w(`  ${k.js}(${params(k)}): ${k.ret} {`);
    const groups = [...new Set(k.args.filter((a) => a.group).map((a) => a.group))];
    const body = [];
    for (const g of groups) {
      const members = k.args.filter((a) => a.group === g);
      if (new Set(members.map((a) => a.out)).size > 1 || members.some((a) => a.kind !== 'f32' || a.nullable))
        throw new Error(`${k.where}: ${k.js}: group @${g} must be f32 arrays, all written or all read, never null`);
      body.push(`const [${members.map((a) => `_${a.name}`).join(', ')}] = this.ptrs([${members.map((a) => readArg(k, a.name)).join(', ')}], ${members[0].out}) as [${members.map(() => 'Ptr').join(', ')}];`);
    }
    const args = k.args.map((a) => wasmArg(k, a));
    if (k.ret === 'void' && !groups.length) {
      w(wrap(`    this.call(() => this.ex.${k.name}(`, args, '));', '      '));
    } else {
      if (k.ret !== 'void') w('    let r = 0;');
      w('    this.call(() => {');
      for (const b of body) w(`      ${b}`);
      w(wrap(`      ${k.ret !== 'void' ? 'r = ' : ''}this.ex.${k.name}(`, args, ');', '        '));
      w('    });');
      if (k.ret !== 'void') w('    return r;');
    }
    w('  }');
  }
  w('}');
  return out.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf('--def');
  const def = at > 0 ? process.argv[at + 1] : join(root, DEF);
  let text;
  try {
    text = generate(readFileSync(def, 'utf8'), at > 0 ? def : DEF);
  } catch (e) {
    console.error(`gen-kernels: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  }
  const path = join(root, OUT);
  let old = null;
  try {
    old = readFileSync(path, 'utf8');
  } catch {}
  if (process.argv.includes('--check')) {
    if (old !== text) {
      console.error(`${OUT} is stale: it differs from what ${DEF} gives (node scripts/gen-kernels.mjs writes it)`);
      process.exit(1);
    }
  } else if (old !== text) writeFileSync(path, text);
}
