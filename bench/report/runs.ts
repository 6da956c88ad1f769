/**
 * Recorded runs (results/*.jsonl) as the report reads them: the lines of a file, the latest session of each group,
 * and the statistics a table prints (median with min–max of at least MIN_RUNS runs, never the best run).
 */
import * as fs from 'node:fs';
import { median } from '../stats.js';

export const MIN_RUNS = 3;

export type Rec = Record<string, unknown>;

/** The JSON lines of a file ([] when it does not exist); a bad line is an error naming the file and line. */
export function readJsonl(file: string): Rec[] {
  if (!fs.existsSync(file)) return [];
  const out: Rec[] = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((l, i) => {
    if (!l.trim()) return;
    try {
      out.push(JSON.parse(l));
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
  });
  return out;
}

/** A whole JSON file (undefined when it does not exist); bad JSON is an error naming the file. */
export function readJsonFile(file: string): Rec | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`);
  }
}

/** The records of the latest session among those matching `key` (runs of different sessions are never mixed). */
export function latestSession(recs: Rec[], key: (r: Rec) => boolean): Rec[] {
  const mine = recs.filter((r) => key(r) && typeof r.session === 'string');
  const last = mine.reduce((a, r) => ((r.session as string) > a ? (r.session as string) : a), '');
  return mine.filter((r) => r.session === last);
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stat(values: number[]): Stat | null {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length < MIN_RUNS) return null;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

/** 3 significant digits, thousands separated: 1,520 / 84.3 / 6.61 */
export function num(x: number): string {
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;
export const header = (cells: string[]): string => `${row(cells)}\n${row(cells.map(() => '---'))}`;

export const fmtStat = (s: Stat): string => `${num(s.median)} (${num(s.min)}–${num(s.max)})`;

/** "2026-12-06, commit abc123 (+ uncommitted changes), AMD EPYC (2 cores)": where and when one record was made */
export function stampNote(r: Rec): string {
  return `${String(r.date).slice(0, 10)}, commit ${r.commit}${r.dirty ? ' + uncommitted changes' : ''}, ${r.cpu} (${r.cores} cores)`;
}

/** stampNote and its number of rounds ("…, 3 rounds") for each distinct session */
export function provenanceNote(recs: Rec[]): string {
  const seen = new Map<string, string>();
  for (const r of recs) {
    const rounds = new Set(recs.filter((x) => x.session === r.session).map((x) => x.round)).size;
    seen.set(String(r.session), `${stampNote(r)}, ${rounds} round${rounds === 1 ? '' : 's'}`);
  }
  return [...seen.values()].join('; ');
}
