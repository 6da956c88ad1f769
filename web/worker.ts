/**
 * The model worker: loads the model (WebAssembly backend, whose own thread pool runs as nested workers) and runs
 * generate() for the page, posting its events; the page's thread only renders. A `stop` message aborts the
 * generation through its AbortSignal, which generate() checks between model calls.
 */
import wasmWorkerUrl from '../src/tensor/wasm-worker.ts?worker&url';
import { createWasmBackend, type WasmBackend } from '../src/tensor/wasm.js';
import { loadModelFromUrl } from '../src/model/load-bytes.js';
import { paramCount } from '../src/model/params.js';
import type { DiT } from '../src/model/dit.js';
import type { Tokenizer } from '../src/data/tokenizer.js';
import { tokenizerForConfigJson } from '../src/data/tokenizers.js';
import { generate } from '../src/sampling/generate.js';
import type { FromWorker, PageOptions, Stats, ToWorker } from './protocol.js';

const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker): void => scope.postMessage(m);
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

let loaded: Promise<{ model: DiT; tok: Tokenizer }> | undefined;
let running: AbortController | null = null;
let stepDelayMs = 0;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'init') {
    loaded = load(m.modelUrl, m.wasmUrl, m.threads, m.endpoint);
    loaded.catch((err: unknown) => post({ type: 'error', during: 'load', message: message(err) }));
  } else if (m.type === 'generate') {
    void run(m.options);
  } else if (m.type === 'delay') {
    stepDelayMs = m.ms;
  } else {
    running?.abort();
  }
};

/** The threaded backend; where the pool's workers cannot start (no nested workers), the single-thread one. */
async function backend(wasmUrl: string, threads: number): Promise<WasmBackend> {
  const opts = { wasmBase: wasmUrl, workerUrl: new URL(wasmWorkerUrl, import.meta.url) };
  try {
    return await createWasmBackend({ ...opts, threads });
  } catch (e) {
    if (threads <= 1) throw e;
    console.warn(`bd3lm: ${threads} wasm threads failed (${message(e)}); running on one`);
    return createWasmBackend({ ...opts, threads: 1 });
  }
}

async function load(modelUrl: string, wasmUrl: string, threads: number, endpoint?: string): Promise<{ model: DiT; tok: Tokenizer }> {
  const be = await backend(wasmUrl, threads);
  const { model, configJson, tokenizerFile } = await loadModelFromUrl(modelUrl, {
    backend: be,
    endpoint,
    onProgress: (loaded, total) => post({ type: 'progress', loaded, total }),
  });
  const tok = await tokenizerForConfigJson(configJson, model.config.vocabSize, tokenizerFile);
  const c = model.config;
  const millions = (paramCount(c) / 1e6).toFixed(1);
  post({
    type: 'ready',
    info: {
      description: `${c.modelType} ${millions}M parameters (${c.nBlocks} layers × ${c.hiddenDim}), ${tok.name} tokens`,
      blockSize: c.blockSize,
      modelLength: c.modelLength,
      backend: `wasm: ${be.info}`,
    },
  });
  return { model, tok };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function run(o: PageOptions): Promise<void> {
  let ctx: { model: DiT; tok: Tokenizer };
  try {
    ctx = await loaded!;
  } catch {
    return; // the load error has been reported
  }
  const ac = new AbortController(); // one generation at a time: the page disables Generate while one runs
  running = ac;
  const stats: Stats = { nfe: 0, tokens: 0, blocks: 0, tokensPerSecond: 0 };
  const t0 = performance.now();
  let slept = 0;
  /** stats with tokens/s over the time spent generating (slow-motion waits left out) */
  const now = (): Stats => {
    const s = (performance.now() - t0 - slept) / 1000;
    return { ...stats, tokensPerSecond: s > 0 ? stats.tokens / s : 0 };
  };
  try {
    const gen = generate(ctx.model, ctx.tok, {
      prompt: o.prompt, maxNewTokens: o.maxNewTokens, sampler: o.sampler, threshold: o.threshold,
      topP: o.topP < 1 ? o.topP : undefined, temperature: o.temperature, blockSize: o.blockSize, seed: o.seed,
      stopOnEos: o.stopOnEos, reveal: true, signal: ac.signal,
    });
    post({ type: 'start', layout: gen.layout, warnings: gen.warnings });
    for await (const ev of gen) {
      if (ev.type === 'step') {
        stats.nfe++; // a step event is a step that revealed something: the reference's NFE count
        post({ type: 'step', block: ev.block, positions: ev.positions, glyphs: ev.tokens.map((t) => ctx.tok.decode([t])), stats: now() });
        if (stepDelayMs > 0) {
          const w0 = performance.now();
          await sleep(stepDelayMs);
          slept += performance.now() - w0;
        }
      } else if (ev.type === 'block') {
        stats.tokens += ev.tokens.length;
        stats.blocks++;
        post({ type: 'block', index: ev.index, text: ev.text, stats: now() });
      } else {
        post({ type: 'done', stopReason: ev.stopReason, seconds: ev.seconds, stats: { ...now(), nfe: ev.nfe } });
      }
    }
  } catch (e) {
    if (ac.signal.aborted) post({ type: 'done', stopReason: 'stopped', seconds: (performance.now() - t0) / 1000, stats: now() });
    else post({ type: 'error', during: 'generate', message: message(e) });
  } finally {
    running = null;
  }
}
