/**
 * Documents from text inputs, streamed one file at a time (spec 7.1 works per document). Conventions:
 * - a folder stands for every file under it (recursive, sorted by path; dot-files skipped); inside a folder, an
 *   entry that cannot be read (a broken link, no permission) or looks binary (a NUL byte or invalid UTF-8 in its
 *   first 64 KiB) is skipped and reported, while a file named on its own still fails on the same problems;
 * - `.jsonl` / `.ndjson` files: one document per line, the string in `textField` (blank lines skipped);
 * - other files: one document per file, or with `splitLines` one per non-blank line.
 * Bytes are read in 1 MiB pieces and decoded with a fatal UTF-8 decoder, so invalid text fails naming the file.
 * Whole-file documents must fit one JS string: above MAX_DOC_BYTES the error suggests --split-lines or JSONL.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CorpusOptions {
  /** JSONL field holding the text (default "text") */
  textField?: string;
  /** plain-text files: one document per non-blank line instead of one per file */
  splitLines?: boolean;
}

export interface Doc {
  text: string;
  file: string;
}

/** input bytes consumed so far (for MB/s progress) */
export interface ReadStats {
  bytes: number;
}

const CHUNK = 1 << 20;
export const MAX_DOC_BYTES = 256 * 1024 * 1024;

export const isJsonl = (file: string) => /\.(jsonl|ndjson)$/i.test(file);

/** Why a file found in a folder is skipped: unreadable, or binary by its first SNIFF_BYTES; null when it is text. */
export const SNIFF_BYTES = 64 * 1024;
function unusable(file: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    return `unreadable (${(e as Error).message})`;
  }
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const n = fs.readSync(fd, buf, 0, SNIFF_BYTES, 0);
    const head = buf.subarray(0, n);
    const nul = head.indexOf(0);
    if (nul >= 0) return `binary (a NUL byte at offset ${nul})`;
    try {
      // stream: a character cut by the 64 KiB boundary is not an error
      new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    } catch {
      return 'binary (not UTF-8 text)';
    }
    return null;
  } catch (e) {
    return `unreadable (${(e as Error).message})`;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Expands folders into their files (recursive, sorted). A named path that is missing or not a file or folder is an
 * error; inside a folder, entries that cannot be read or look binary go to `onSkip` with the reason (without
 * `onSkip` they are errors). Nothing readable left is an error.
 */
export function listInputs(inputs: string[], onSkip?: (file: string, why: string) => void): string[] {
  const out: string[] = [];
  let skipped = 0;
  const skip = (p: string, why: string) => {
    if (!onSkip) throw new Error(`${p}: ${why}`);
    skipped++;
    onSkip(p, why);
  };
  const visit = (p: string, top: boolean) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (e) {
      if (top) throw new Error(`input not found: ${p}`);
      const broken = (e as NodeJS.ErrnoException).code === 'ENOENT' && fs.lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink();
      return skip(p, broken ? 'unreadable (a broken symbolic link)' : `unreadable (${(e as Error).message})`);
    }
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = fs.readdirSync(p).filter((n) => !n.startsWith('.')).sort();
      } catch (e) {
        if (top) throw new Error(`cannot list ${p}: ${(e as Error).message}`);
        return skip(p, `unreadable folder (${(e as Error).message})`);
      }
      for (const n of names) visit(path.join(p, n), false);
    } else if (st.isFile()) {
      const why = top ? null : unusable(p);
      if (why) skip(p, why);
      else out.push(p);
    } else if (top) throw new Error(`not a file or folder: ${p}`);
  };
  for (const p of inputs) visit(p, true);
  if (out.length === 0) throw new Error(`no ${skipped ? 'readable ' : ''}input files in ${inputs.join(', ')}${skipped ? ` (${skipped} skipped)` : ''}`);
  return out;
}

const strip = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);

/** Lines of a file (without '\n' or a trailing '\r'), decoded strictly as UTF-8, streamed. */
export function* readLines(file: string, stats?: ReadStats): Generator<string> {
  const fd = fs.openSync(file, 'r');
  const dec = new TextDecoder('utf-8', { fatal: true });
  const buf = Buffer.allocUnsafe(CHUNK);
  let carry: string[] = [];
  let offset = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (stats) stats.bytes += n;
      let s: string;
      try {
        s = dec.decode(buf.subarray(0, n), { stream: n > 0 });
      } catch {
        throw new Error(`${file}: not valid UTF-8 (near byte ${offset + n})`);
      }
      offset += n;
      if (n > 0 && !s.includes('\n')) {
        carry.push(s); // a long line: join its pieces once, at its end (not quadratic)
        continue;
      }
      const parts = s.split('\n');
      parts[0] = carry.join('') + parts[0];
      carry = [parts.pop()!];
      for (const p of parts) yield strip(p);
      if (n === 0) break;
    }
    const last = carry.join('');
    if (last.length) yield strip(last);
  } finally {
    fs.closeSync(fd);
  }
}

function readWhole(file: string, stats?: ReadStats): string {
  const size = fs.statSync(file).size;
  if (size > MAX_DOC_BYTES) {
    throw new Error(`${file}: ${(size / 2 ** 20).toFixed(0)} MiB is too large for one document; use --split-lines or JSONL`);
  }
  const bytes = fs.readFileSync(file);
  if (stats) stats.bytes += bytes.length;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${file}: not valid UTF-8`);
  }
}

/** The documents of one file; a file yielding none (empty, blank only) is an error. */
export function* fileDocuments(file: string, opts: CorpusOptions = {}, stats?: ReadStats): Generator<Doc> {
  let n = 0;
  if (isJsonl(file)) {
    const field = opts.textField ?? 'text';
    let lineNo = 0;
    for (const line of readLines(file, stats)) {
      lineNo++;
      if (line.trim() === '') continue;
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch (e) {
        throw new Error(`${file}:${lineNo}: invalid JSON (${e instanceof Error ? e.message : String(e)})`);
      }
      const text = rec !== null && typeof rec === 'object' ? (rec as Record<string, unknown>)[field] : undefined;
      if (typeof text !== 'string') throw new Error(`${file}:${lineNo}: no string field '${field}' (set --text-field)`);
      n++;
      yield { text, file };
    }
  } else if (opts.splitLines) {
    for (const line of readLines(file, stats)) {
      if (line.trim() === '') continue;
      n++;
      yield { text: line, file };
    }
  } else {
    const text = readWhole(file, stats);
    if (text.trim() !== '') {
      n++;
      yield { text, file };
    }
  }
  if (n === 0) throw new Error(`${file}: empty (no documents)`);
}

/** Every document of every file, in order. */
export function* documents(files: string[], opts: CorpusOptions = {}, stats?: ReadStats): Generator<Doc> {
  for (const f of files) yield* fileDocuments(f, opts, stats);
}
