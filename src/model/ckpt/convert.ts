/**
 * The authors' Lightning checkpoints (`.ckpt`) to the HF folder layout, as their `push_to_hf.py` does it: the
 * trainable parameters from the EMA (`ckpt['ema']['shadow_params']`, a list in `model.parameters()` order), the
 * buffers (rotary `inv_freq`, the learned clip bounds `sampling_eps_min/max`) from `state_dict`; or, with
 * `ema: false`, everything from `state_dict`. Every name, count and shape is checked against the model config.json
 * describes before anything is written, and the folder appears whole or not at all.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { readConfigFile, saveCheckpoint, CONFIG_FILE, WEIGHTS_FILE } from '../checkpoint.js';
import { inferCondDim, type ModelConfig } from '../config.js';
import { expectedParams, numel } from '../params.js';
import { TensorRef, TorchCheckpoint, TorchLoadError } from './torch-load.js';

export interface ConvertOptions {
  /** take the trainable parameters from the EMA (default true, as push_to_hf.py) */
  ema?: boolean;
}

export interface ConvertResult {
  config: ModelConfig;
  tensors: Map<string, Float32Array>;
  /** what the conversion decided (cond_dim from the weights, the source of the weights, the training step) */
  notes: string[];
}

const isMap = (x: unknown): x is Map<unknown, unknown> => x instanceof Map;

/** Reads and checks a Lightning checkpoint against `configPath`; throws naming the file and every mismatch. */
export function convertLightning(ckptPath: string, configPath: string, opts: ConvertOptions = {}): ConvertResult {
  const useEma = opts.ema ?? true;
  const config = readConfigFile(configPath);
  const ckpt = TorchCheckpoint.open(ckptPath);
  try {
    const fail = (msg: string): never => {
      throw new TorchLoadError(ckptPath, msg);
    };
    const root = ckpt.root;
    if (!isMap(root) || !isMap(root.get('state_dict'))) fail('no state_dict: not a PyTorch Lightning checkpoint');
    const top = root as Map<unknown, unknown>;
    // torch.compile wraps modules as `_orig_mod` (the authors' on_load_checkpoint strips it the same way)
    const state = new Map<string, TensorRef>();
    for (const [k, v] of top.get('state_dict') as Map<unknown, unknown>) if (v instanceof TensorRef) state.set(String(k).replaceAll('_orig_mod.', ''), v);
    const notes: string[] = [];
    const condDim = inferCondDim(new Map([...state].map(([k, t]) => [k, t.shape])));
    if (condDim !== undefined && condDim !== config.condDim) {
      notes.push(`cond_dim ${config.condDim} in ${configPath} replaced by ${condDim} from the weights`);
      config.condDim = condDim;
    }
    const specs = expectedParams(config);
    const params = specs.filter((s) => s.kind === 'param');
    let shadow: unknown[] | undefined;
    if (useEma) {
      const ema = top.get('ema');
      const list = isMap(ema) ? ema.get('shadow_params') : undefined;
      if (!Array.isArray(list)) fail("has no EMA weights (no ckpt['ema']['shadow_params']; trained with training.ema=0?): convert the raw weights with --no-ema");
      shadow = list as unknown[];
      if (shadow.length !== params.length)
        fail(`the EMA holds ${shadow.length} tensors, but the ${config.modelType} model of ${configPath} has ${params.length} trainable parameters: does the config match the checkpoint?`);
      notes.push(`trainable parameters from the EMA (decay ${String(isMap(ema) ? ema.get('decay') : '?')}), buffers from state_dict`);
    } else {
      notes.push('all weights from state_dict (no EMA)');
    }
    const step = top.get('global_step');
    if (typeof step === 'number') notes.push(`training step ${step}`);

    const problems: string[] = [];
    const sources = new Map<string, TensorRef>();
    let p = 0;
    for (const s of specs) {
      let t: unknown = s.kind === 'param' && shadow ? shadow[p++] : state.get(s.name);
      if (t === undefined && s.name.startsWith('sampling_eps_')) t = top.get(s.name); // older files keep them beside state_dict only
      const where = s.kind === 'param' && shadow ? `EMA tensor ${p - 1} (${s.name})` : `state_dict["${s.name}"]`;
      if (!(t instanceof TensorRef)) problems.push(`${where} is missing`);
      else if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i]))
        problems.push(`${where} has shape [${t.shape.join(', ')}], the config needs [${s.shape.join(', ')}]`);
      else sources.set(s.name, t);
    }
    const known = new Set(specs.map((s) => s.name));
    for (const k of state.keys()) {
      if (known.has(k)) continue;
      if (k.startsWith('sampling_eps_')) notes.push(`${k} ignored (a ${config.modelType} model has no learned clip bounds)`);
      else problems.push(`state_dict["${k}"] is not a tensor of the ${config.modelType} model described by ${configPath}`);
    }
    if (problems.length) fail(`does not match the model of ${configPath} (${problems.length} problem(s)):\n  ${problems.join('\n  ')}`);

    const tensors = new Map<string, Float32Array>();
    for (const s of specs) {
      const a = ckpt.readFloat32(sources.get(s.name)!, s.name);
      let bad = 0;
      for (let i = 0; i < a.length; i++) if (a[i] - a[i] !== 0) bad++;
      if (bad) fail(`${s.name} has ${bad} NaN/Inf value(s)`);
      if (a.length !== numel(s.shape)) fail(`${s.name}: ${a.length} values for shape [${s.shape}]`);
      tensors.set(s.name, a);
    }
    return { config, tensors, notes };
  } finally {
    ckpt.close();
  }
}

/**
 * Writes the HF folder `out` (config.json + model.safetensors) through a temporary sibling renamed into place, so a
 * failure leaves no `out`. `out` must not exist, or be an empty folder.
 */
export function writeConverted(out: string, r: ConvertResult): void {
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory() || fs.readdirSync(out).length)
      throw new Error(`${out} already exists and is not an empty folder: choose another --out (nothing was written)`);
    fs.rmdirSync(out);
  }
  const tmp = nodePath.join(nodePath.dirname(nodePath.resolve(out)), `.${nodePath.basename(out)}.partial-${process.pid}`);
  try {
    saveCheckpoint(tmp, r.config, r.tensors);
    fs.renameSync(tmp, out);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export { CONFIG_FILE, WEIGHTS_FILE };
