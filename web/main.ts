/**
 * The page: reads the controls, talks to the model worker (worker.ts) and renders its events. No inference here:
 * the model and generate() live in the worker, so the page stays responsive and Stop is always clickable.
 */
import type { SamplerName } from '../src/sampling/index.js';
import type { FromWorker, PageOptions, Stats, ToWorker } from './protocol.js';
import { BlockView } from './view.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page has no #${id}`);
  return el as T;
};
const input = (id: string): HTMLInputElement => $<HTMLInputElement>(id);

const status = $('status');
const form = $<HTMLFormElement>('controls');
const generateBtn = $<HTMLButtonElement>('generate');
const stopBtn = $<HTMLButtonElement>('stop');
const sampler = $<HTMLSelectElement>('sampler');
const warnings = $('warnings');
const view = new BlockView($('prompt-text'), $('generated'), $('current'));

type State = 'loading' | 'ready' | 'running' | 'done' | 'stopped' | 'error';

function setState(state: State, text: string): void {
  status.dataset.state = state;
  status.textContent = text;
  generateBtn.disabled = state === 'loading' || state === 'running' || (state === 'error' && !modelReady);
  stopBtn.disabled = state !== 'running';
}

function showStats(s: Stats, reason = '–'): void {
  $('nfe').textContent = String(s.nfe);
  $('tokens').textContent = String(s.tokens);
  $('blocks').textContent = String(s.blocks);
  $('tps').textContent = s.tokensPerSecond > 0 ? s.tokensPerSecond.toFixed(1) : '–';
  $('reason').textContent = reason;
}

function readOptions(): PageOptions {
  const num = (id: string): number => input(id).valueAsNumber;
  return {
    prompt: $<HTMLTextAreaElement>('prompt').value,
    maxNewTokens: num('max-new'),
    sampler: sampler.value as SamplerName,
    threshold: num('threshold'),
    topP: num('top-p'),
    temperature: num('temperature'),
    blockSize: num('block-size'),
    seed: num('seed'),
    stopOnEos: input('stop-eos').checked,
  };
}

// tau only means something to the threshold sampler
const syncThreshold = (): void => void (input('threshold').disabled = sampler.value !== 'threshold');
sampler.addEventListener('change', syncThreshold);
syncThreshold();

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker): void => worker.postMessage(m);
let modelReady = false;
let prompt = '';

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'progress': {
      const pct = m.total ? ` ${Math.round((100 * m.loaded) / m.total)} %` : ` ${(m.loaded / 2 ** 20).toFixed(1)} MiB`;
      setState('loading', `Loading the model…${pct}`);
      break;
    }
    case 'ready':
      modelReady = true;
      input('block-size').value = String(m.info.blockSize);
      $('model-info').textContent = `${m.info.description}; context ${m.info.modelLength}; ${m.info.backend}`;
      setState('ready', 'Ready');
      break;
    case 'error':
      setState('error', `${m.during === 'load' ? 'Could not load the model' : 'Generation failed'}: ${m.message}`);
      view.end();
      break;
    case 'start':
      view.start(prompt, m.layout);
      warnings.textContent = m.warnings.join(' ');
      break;
    case 'step':
      view.reveal(m.block, m.positions, m.glyphs);
      showStats(m.stats);
      break;
    case 'block':
      view.finish(m.index, m.text);
      showStats(m.stats);
      break;
    case 'done':
      view.end();
      showStats(m.stats, m.stopReason);
      setState(m.stopReason === 'stopped' ? 'stopped' : 'done',
        `${m.stopReason === 'stopped' ? 'Stopped' : 'Done'} after ${m.seconds.toFixed(2)} s`);
      break;
  }
};
worker.onerror = (e) => setState('error', `The model worker failed: ${e.message}`);

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const options = readOptions();
  prompt = options.prompt;
  showStats({ nfe: 0, tokens: 0, blocks: 0, tokensPerSecond: 0 });
  setState('running', 'Generating…');
  send({ type: 'generate', options });
});
stopBtn.addEventListener('click', () => send({ type: 'stop' }));
// slow motion applies at once, also to a generation in progress
const sendDelay = (): void => send({ type: 'delay', ms: Math.max(0, input('delay').valueAsNumber || 0) });
input('delay').addEventListener('input', sendDelay);

// ?model=ORG/NAME[@REV] loads a repo from the hub (kept in the Cache API); default: the model bd3lm web serves
const query = new URLSearchParams(location.search);
send({
  type: 'init',
  modelUrl: query.get('model') ?? new URL('model/', document.baseURI).href,
  endpoint: query.get('endpoint') ?? undefined,
  wasmUrl: new URL('wasm/', document.baseURI).href,
  threads: Math.min(4, navigator.hardwareConcurrency || 1),
});
sendDelay();
