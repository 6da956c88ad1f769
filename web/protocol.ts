/** Messages between the page (main.ts) and the model worker (worker.ts). Everything here is structured-cloneable. */
import type { GenerationLayout, SamplerName } from '../src/sampling/index.js';
import type { StopReason } from '../src/sampling/stop.js';

/** The generate() options the page offers (see its controls). */
export interface PageOptions {
  prompt: string;
  maxNewTokens: number;
  sampler: SamplerName;
  threshold: number;
  topP: number;
  temperature: number;
  blockSize: number;
  seed: number;
  stopOnEos: boolean;
}

export type ToWorker =
  /** modelUrl: the served folder URL, or a Hugging Face repo id fetched from `endpoint` (the page's ?model= / ?endpoint=) */
  | { type: 'init'; modelUrl: string; wasmUrl: string; threads: number; endpoint?: string }
  | { type: 'generate'; options: PageOptions }
  /** slow motion, changeable while a generation runs: milliseconds to wait after each reveal step (0: full speed) */
  | { type: 'delay'; ms: number }
  | { type: 'stop' };

export interface ModelInfo {
  description: string;
  blockSize: number;
  modelLength: number;
  backend: string;
}

/** Speed figures: tokens/s leaves out the slow-motion waits, so it is the model's speed. */
export interface Stats {
  nfe: number;
  tokens: number;
  blocks: number;
  tokensPerSecond: number;
}

export type FromWorker =
  | { type: 'progress'; loaded: number; total: number }
  | { type: 'ready'; info: ModelInfo }
  /** a failure while loading (the page cannot generate) or of one generation (the next may work) */
  | { type: 'error'; during: 'load' | 'generate'; message: string }
  /** where the generation writes, and what generate() warned about */
  | { type: 'start'; layout: GenerationLayout; warnings: string[] }
  /** positions revealed at one denoising step, with each token's glyph */
  | { type: 'step'; block: number; positions: number[]; glyphs: string[]; stats: Stats }
  /** a finished block's text (prompt positions excluded) */
  | { type: 'block'; index: number; text: string; stats: Stats }
  | { type: 'done'; stopReason: StopReason | 'stopped'; seconds: number; stats: Stats };
