/**
 * How much of a text is dictionary English: the share of its words (runs of 2+ ASCII letters, case-insensitive)
 * found in a word list (Debian's `wamerican`, /usr/share/dict/american-english), and distinct words / words (low
 * values mean the text repeats itself). The measure issue 16 sets for the default model.
 */
export interface WordStats {
  words: number;
  inDictionary: number;
  share: number;
  distinct: number;
  distinctRatio: number;
}

/** A word list (one word per line) as a lower-cased set. */
export function dictionaryFrom(text: string): Set<string> {
  return new Set(text.split('\n').map((w) => w.trim().toLowerCase()).filter(Boolean));
}

export function wordStats(texts: string[], dict: Set<string>): WordStats {
  let words = 0;
  let inDictionary = 0;
  const distinct = new Set<string>();
  for (const t of texts) {
    for (const m of t.matchAll(/[A-Za-z]+/g)) {
      if (m[0].length < 2) continue;
      const w = m[0].toLowerCase();
      words++;
      if (dict.has(w)) inDictionary++;
      distinct.add(w);
    }
  }
  return { words, inDictionary, share: words ? inDictionary / words : 0, distinct: distinct.size, distinctRatio: words ? distinct.size / words : 0 };
}
