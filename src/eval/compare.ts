/**
 * Array comparison for conformance checks. The error of an element is taken relative to the array's scale
 * (its largest magnitude among ordinary entries) or, for the reference's -1e6 "minus infinity" entries, relative to
 * the entry itself, so a 1e6 sentinel neither hides errors elsewhere nor fails on float rounding at its magnitude.
 */
export interface Comparison {
  max_abs: number;
  max_rel: number;
  scale: number;
  n: number;
  ok: boolean;
}

const SENTINEL = 1e5;

export function compareArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): Comparison {
  if (actual.length !== expected.length) {
    throw new Error(`size mismatch: got ${actual.length} values, expected ${expected.length}`);
  }
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(expected[i]);
    if (e < SENTINEL && e > scale) scale = e;
  }
  const floor = scale > 0 ? scale : 1;
  let maxAbs = 0;
  let maxRel = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const a = actual[i];
    let d = Math.abs(a - e);
    if (Number.isNaN(a) !== Number.isNaN(e)) d = Infinity;
    else if (Number.isNaN(a)) d = 0;
    const rel = d / Math.max(floor, Math.abs(e));
    if (d > maxAbs) maxAbs = d;
    if (rel > maxRel) maxRel = rel;
  }
  return { max_abs: maxAbs, max_rel: maxRel, scale, n: expected.length, ok: maxRel <= tol };
}
