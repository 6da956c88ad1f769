/**
 * The check that no measured figure is typed by hand: in README and the model card, outside generated blocks and
 * values (markers.ts), code and inline code, every figure that looks measured — a number with a unit of time, size,
 * speed, ratio or share, a number in scientific notation, a decimal with two or more decimals — must be one of the
 * fixed phrases of `bench/report/fixed-figures.json` (under the report's root): settings, targets, test tolerances,
 * versions and facts of the data, each with the reason it is not a measurement. A fixed phrase that covers no figure
 * is an error too, so the list cannot go stale.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

// a ratio is written "4×" (no space: "12 × 768" is a shape); other units follow a space or not
const UNIT = String.raw`(?:×| ?(?:%|tokens/s|characters/s|ms|s|min|minutes|hours?|h|KB|MB|MiB|GB|GiB|GFLOP/s|GOP/s|bits per (?:byte|token)|bits/byte|M)(?![\w/]))`;
const NUM = String.raw`(?<![\w./])(?:[≤≥~] ?)?\d[\d,]*(?:\.\d+)?`;
const FIGURE = new RegExp(String.raw`${NUM}(?: ?[–-] ?\d[\d,]*(?:\.\d+)?)?${UNIT}|(?<![\w./])\d(?:\.\d+)?e-\d+|(?<![\w./])\d+\.\d{2,}(?![\w.])`, 'g');

export interface Fixed {
  doc: string;
  /** the exact text in the document that holds the figure(s) */
  phrase: string;
  why: string;
}


export const FIXED_FILE = 'bench/report/fixed-figures.json';

/** the fixed figures listed under `root` (none when the file does not exist); a malformed entry is an error naming the file */
export function loadFixed(root: string): Fixed[] {
  const file = path.join(root, FIXED_FILE);
  if (!fs.existsSync(file)) return [];
  const list: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!Array.isArray(list)) throw new Error(`${FIXED_FILE}: expected an array of {doc, phrase, why}`);
  list.forEach((f, i) => {
    if (typeof f?.doc !== 'string' || typeof f?.phrase !== 'string' || typeof f?.why !== 'string' || !f.phrase || !f.why)
      throw new Error(`${FIXED_FILE}: entry ${i} needs a doc, a phrase and a why (strings)`);
  });
  return list as Fixed[];
}

export interface Untraced {
  doc: string;
  line: number;
  figure: string;
  text: string;
}

/** blanks out what is generated or code, keeping line numbers */
function prose(text: string): string {
  const blank = (m: string) => m.replace(/[^\n]/g, ' ');
  return text
    .replace(/<!-- report:([a-z0-9-]+) -->[\s\S]*?<!-- \/report:\1 -->/g, blank)
    .replace(/<!-- v:[a-z0-9.-]+ -->.*?<!-- \/v -->/g, blank)
    .replace(/^```[\s\S]*?^```/gm, blank)
    .replace(/`[^`]+`/g, blank);
}

/** the figures of `text` (a document named `doc`) that no fixed phrase covers, and the fixed phrases of `doc` that cover none */
export function untracedFigures(doc: string, text: string, fixed: Fixed[]): { untraced: Untraced[]; unused: Fixed[] } {
  const mine = fixed.filter((f) => f.doc === doc);
  const used = new Set<Fixed>();
  const untraced: Untraced[] = [];
  const raw = text.split('\n');
  prose(text).split('\n').forEach((line, i) => {
    // spans of the line that a fixed phrase covers (phrases are matched on the original line, code included)
    const covered: [number, number, Fixed][] = [];
    for (const f of mine) {
      for (let at = raw[i].indexOf(f.phrase); at >= 0; at = raw[i].indexOf(f.phrase, at + 1)) covered.push([at, at + f.phrase.length, f]);
    }
    for (const m of line.matchAll(FIGURE)) {
      const a = m.index!, b = a + m[0].length;
      const cover = covered.find(([s, e]) => s <= a && b <= e);
      if (cover) used.add(cover[2]);
      else untraced.push({ doc, line: i + 1, figure: m[0].trim(), text: raw[i].trim().slice(0, 120) });
    }
  });
  return { untraced, unused: mine.filter((f) => !used.has(f)) };
}
