/**
 * Side-by-side groups: cases that must be compared within one run on one machine, so their arms are alternated
 * round by round (bench/side-by-side.ts) and the report (bench/report.ts) shows medians of the same session only.
 * An arm is one of this project's bench cases (bench/cases.ts ids) or one of the authors' code's cases
 * (refbench's run_ref.py --case JSON); both report tokens_per_s.
 */
export type Arm = { label: string; ours: string } | { label: string; ref: Record<string, unknown> };

export interface Group {
  id: string;
  /** which README table the group feeds */
  table: 'model' | 'sampling' | 'half' | 'batch' | 'int8' | 'smoke';
  /** the row label in that table */
  row: string;
  arms: Arm[];
}

const fhRef = (mode: string) => (mode === 'first-hitting' ? 'first_hitting' : 'ddpm');

const model: Group[] = [
  { id: 'eval-tiny', row: 'NELBO forward (eval), tiny, L = 1024', ours: 'forward:native:tiny:1024', ref: { kind: 'eval', size: 'tiny', L: 1024, B: 1, block_size: 16, max_iters: 3 } },
  { id: 'eval-small', row: 'NELBO forward (eval), small, L = 1024', ours: 'forward:native:small:1024', ref: { kind: 'eval', size: 'small', L: 1024, B: 1, block_size: 16, max_iters: 3 } },
  { id: 'train-tiny-128-8', row: 'training step, tiny, L = 128, B = 8', ours: 'train:native:tiny:128:8', ref: { kind: 'train', size: 'tiny', L: 128, B: 8, block_size: 16, max_steps: 3 } },
  { id: 'train-tiny-1024', row: 'training step, tiny, L = 1024', ours: 'train:native:tiny:1024:1', ref: { kind: 'train', size: 'tiny', L: 1024, B: 1, block_size: 16, max_steps: 3 } },
  { id: 'train-small-1024', row: 'training step, small, L = 1024', ours: 'train:native:small:1024:1', ref: { kind: 'train', size: 'small', L: 1024, B: 1, block_size: 16, max_steps: 2, warmup: 'fwd' } },
].map((g) => ({ id: g.id, table: 'model' as const, row: g.row, arms: [{ label: 'native', ours: g.ours }, { label: 'reference', ref: g.ref }] }));

const sampling: Group[] = (['tiny', 'small'] as const).flatMap((p) => [4, 16].flatMap((bs) => (['first-hitting', 'ddpm'] as const).map((s) => ({
  id: `sample-${p}-${bs}-${s}`, table: 'sampling' as const, row: `${p}, ${bs}, ${s === 'ddpm' ? 'DDPM' : 'first hitting'}`,
  arms: [
    { label: 'native', ours: `sample:native:${p}:${bs}:${s}:1` },
    { label: 'reference', ref: { kind: 'sample', size: p, block_size: bs, seqlen: 512, mode: fhRef(s) } },
  ],
}))));

const half: Group[] = (['tiny', 'small'] as const).flatMap((p) => [4, 16].map((bs) => ({
  id: `half-${p}-${bs}`, table: 'half' as const, row: `${p}, ${bs}`,
  arms: (['f32', 'bf16', 'f16'] as const).map((w) => ({ label: w, ours: `sample:native:${p}:${bs}:first-hitting:1:${w}` })),
})));

const batch: Group[] = (['tiny', 'small'] as const).flatMap((p) => [4, 16].map((bs) => ({
  id: `batch-${p}-${bs}`, table: 'batch' as const, row: `${p}, ${bs}`,
  arms: [1, 16].map((b) => ({ label: `batch ${b}`, ours: `sample:native:${p}:${bs}:first-hitting:${b}` })),
})));

/** int8 weights (issue 13's targets): small, L' = 16, batch 1, first hitting, 128 tokens, against fp32 and the reference;
 * w8a8: int8 activations too */
const int8: Group[] = [{
  id: 'int8-small-16', table: 'int8', row: "small, 16, first hitting, 128 tokens",
  arms: [
    { label: 'f32', ours: 'sample:native:small:16:first-hitting:1:f32:128' },
    { label: 'int8', ours: 'sample:native:small:16:first-hitting:1:int8:128' },
    { label: 'w8a8', ours: 'sample:native:small:16:first-hitting:1:w8a8:128' },
    { label: 'reference', ref: { kind: 'sample', size: 'small', block_size: 16, seqlen: 128, mode: 'first_hitting' } },
  ],
}, {
  // one KV-cached model call alone (bench/model-call.ts: best of 7 per run; the report takes the median of the runs)
  id: 'int8-call-small-16', table: 'int8', row: 'small, 16, one model call (256 cached tokens, one row of logits)',
  arms: (['f32', 'int8', 'w8a8'] as const).map((w) => ({ label: w, ours: `call:native:small:16:${w}` })),
}, {
  // the same call on the WebAssembly build (the browser's engine)
  id: 'int8-call-wasm-small-16', table: 'int8', row: 'small, 16, one model call, WebAssembly',
  arms: (['f32', 'int8', 'w8a8'] as const).map((w) => ({ label: w, ours: `call:wasm:small:16:${w}` })),
}];

/** a few seconds a side: checks that both sides run and record (not a measurement) */
const smoke: Group[] = [{
  id: 'smoke', table: 'smoke', row: 'tiny, 4, first hitting, 16 tokens',
  arms: [
    { label: 'native', ours: 'sample:native:tiny:4:first-hitting:1:f32:16' },
    { label: 'reference', ref: { kind: 'sample', size: 'tiny', block_size: 4, seqlen: 16, mode: 'first_hitting' } },
  ],
}];

export const GROUPS: Group[] = [...model, ...sampling, ...half, ...batch, ...int8, ...smoke];
