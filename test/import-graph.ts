/**
 * The import graph of src/ and the rules it must keep: no import cycle between files, and no import from a lower
 * layer to a higher one. LAYERS is the one written statement of the layer order (README "How it is built" draws it).
 * Imports are read with TypeScript's own pre-processor, so `import type`, `export … from` and dynamic `import()` count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

/**
 * src/'s layers, lowest first. A file's layer is its top folder under src/ (a file directly in src/ is its own
 * name). A file may import its own layer and any layer listed before it; folders in the same row are siblings and
 * may not import each other.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['tensor', 'hub'], // backends (ref/native/wasm) and the sampling kernel's spec (tensor/sampling/); hub: file download/cache
  ['model'], // the DiT, its weights, checkpoints, KV cache
  ['data'], // tokenizers (some load from a model folder), corpora, datasets
  ['diffusion'], // noise schedules, the time grids, SUBS parameterisation, losses
  ['sampling', 'training'], // samplers and generate(); the trainer (siblings: neither imports the other)
  ['eval'], // perplexity, conformance, sampler replays
  ['server', 'web'], // the OpenAI-compatible server; the browser page's static server
  ['cli'], // the bd3lm command
  ['index.ts'], // the package entry
];

/** file (relative to the root, '/'-separated) → the files it imports (relative imports only) */
export type ImportGraph = Map<string, string[]>;

/** Every .ts file under `dir` with its relative imports resolved to files (a `.js` specifier names its `.ts` source). */
export function readImportGraph(dir: string): ImportGraph {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.posix.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) files.push(p);
    }
  };
  walk(dir);
  const graph: ImportGraph = new Map();
  for (const f of files.sort()) {
    const info = ts.preProcessFile(fs.readFileSync(f, 'utf8'), true, true);
    const targets = info.importedFiles
      .map((i) => i.fileName)
      .filter((s) => s.startsWith('./') || s.startsWith('../'))
      .map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(f), s)).replace(/\.js$/, '.ts'));
    graph.set(f, [...new Set(targets)]);
  }
  return graph;
}

/** The layer name of a file under `root` (see LAYERS), or undefined when no layer lists it. */
function layerOf(file: string, root: string, layers: readonly (readonly string[])[]): { name: string; rank: number } | undefined {
  const name = path.posix.relative(root, file).split('/')[0];
  const rank = layers.findIndex((row) => row.includes(name));
  return rank < 0 ? undefined : { name, rank };
}

/** Every rule the graph breaks, one readable line each (empty: the graph is clean). */
export function importViolations(graph: ImportGraph, root: string, layers: readonly (readonly string[])[] = LAYERS): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file, root, layers);
    if (!from) out.push(`${file}: its folder is in no layer (add it to LAYERS in test/import-graph.ts)`);
    for (const t of targets) {
      if (!graph.has(t)) {
        out.push(`${file}: imports ${t}, which does not exist`);
        continue;
      }
      const to = layerOf(t, root, layers);
      if (!from || !to || from.name === to.name) continue;
      if (to.rank > from.rank) out.push(`${file}: imports ${t}, a higher layer (${from.name} is below ${to.name})`);
      else if (to.rank === from.rank) out.push(`${file}: imports ${t}, a sibling layer (${from.name} and ${to.name} may not import each other)`);
    }
  }
  for (const cycle of importCycles(graph)) out.push(`import cycle: ${cycle.join(' -> ')} -> ${cycle[0]}`);
  return out;
}

/** The strongly connected components with more than one file (or a file importing itself), by Tarjan's algorithm. */
export function importCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(scc.reverse());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}
