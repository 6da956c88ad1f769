/**
 * GPT-2's byte-level alphabet: every byte maps to one printable unicode character, so a byte-level BPE vocabulary is
 * a set of strings (what `tokenizer.json` stores) that maps back to bytes exactly.
 */

let table: string[] | undefined;

/** byteToUnicode()[b] is the character that stands for byte b (GPT-2's `bytes_to_unicode`). */
export function byteToUnicode(): string[] {
  if (table) return table;
  const direct: number[] = [];
  for (let b = 33; b <= 126; b++) direct.push(b);
  for (let b = 161; b <= 172; b++) direct.push(b);
  for (let b = 174; b <= 255; b++) direct.push(b);
  const t: string[] = new Array(256);
  for (const b of direct) t[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (t[b] === undefined) t[b] = String.fromCodePoint(256 + n++);
  table = t;
  return t;
}

/** The inverse: character -> byte. */
export function unicodeToByte(): Map<string, number> {
  return new Map(byteToUnicode().map((ch, b) => [ch, b]));
}

/** GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols, each with an optional leading space. */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
