/**
 * Tokenizers in the Hugging Face `tokenizer.json` format, encoded by `@huggingface/tokenizers` (pure JS: Node and the
 * browser). Supported: byte-level BPE (GPT-2's scheme: `ByteLevel` pre-tokenizer or decoder), which can encode any
 * text: every byte is a base symbol, so there is no unknown token and no byte fallback is needed.
 *
 * Ids keep the reference's layout (spec 1.1): BOS = EOS = the end-of-text token; the mask is `[MASK]` (or `<mask>`)
 * when the file has one, which must then be the last id, else the mask is appended after the file's vocabulary
 * (as for GPT-2: V = the file's ids + 1).
 */
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { unicodeToByte } from './byte-level.js';
import { decodeWith, encodeWithEot, EOT_TEXT, type DecodeOptions, type Tokenizer } from './tokenizer.js';

const EOT_NAMES = [EOT_TEXT, '</s>', '<|end_of_text|>', '<eos>', '<|eos|>'];
const MASK_NAMES = ['[MASK]', '<mask>', '<|mask|>'];

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

export class HfTokenizer implements Tokenizer {
  readonly name = 'tokenizer.json';
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly mask: number;
  private readonly lib: HfLibTokenizer;
  private readonly bytes: Uint8Array[];

  /** `json`: the parsed tokenizer.json; `source`: its path or URL, named in every error. */
  constructor(json: unknown, readonly source: string) {
    const bad = (msg: string) => new Error(`${source}: ${msg}`);
    if (typeof json !== 'object' || json === null) throw bad('not a tokenizer.json object');
    const j = json as { model?: { type?: unknown; vocab?: unknown }; added_tokens?: unknown; decoder?: { type?: unknown } | null; pre_tokenizer?: { type?: unknown } | null };
    const type = j.model?.type;
    if (type !== 'BPE') throw bad(`model type ${JSON.stringify(type ?? null)} is not supported (supported: byte-level "BPE", as GPT-2's)`);
    if (!isByteLevel(j.decoder) && !isByteLevel(j.pre_tokenizer)) throw bad('only byte-level BPE is supported (a "ByteLevel" pre_tokenizer or decoder)');
    const vocab = j.model?.vocab;
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw bad('model.vocab must be an object of token -> id');
    const added = (Array.isArray(j.added_tokens) ? j.added_tokens : []) as AddedTokenJson[];
    const strings: string[] = [];
    const place = (tok: string, id: unknown, field: string) => {
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 10_000_000) throw bad(`${field}: id of ${JSON.stringify(tok)} is ${JSON.stringify(id)}, not a token id`);
      strings[id as number] = tok;
    };
    for (const [tok, id] of Object.entries(vocab as Record<string, unknown>)) place(tok, id, 'model.vocab');
    for (const a of added) place(String(a?.content), a?.id, 'added_tokens');
    const n = strings.length;
    for (let i = 0; i < n; i++) if (strings[i] === undefined) throw bad(`ids are not contiguous: no token has id ${i} (of 0..${n - 1})`);
    const idOf = (names: string[]) => {
      for (const name of names) {
        const a = added.find((t) => t.content === name);
        if (a) return a.id;
      }
      return undefined;
    };
    const eot = idOf(EOT_NAMES);
    if (eot === undefined) throw bad(`no end-of-text token among added_tokens (looked for ${EOT_NAMES.join(', ')})`);
    const mask = idOf(MASK_NAMES);
    if (mask !== undefined && mask !== n - 1) throw bad(`the mask token ${strings[mask]} has id ${mask}; it must be the last id (${n - 1}), as the reference's mask = vocab - 1`);
    this.bos = this.eos = eot;
    this.mask = mask ?? n;
    this.vocabSize = mask === undefined ? n + 1 : n;
    // the library never emits the mask id for text that happens to spell it
    const libJson = { ...(json as object), added_tokens: added.filter((a) => a.id !== this.mask) };
    try {
      this.lib = new HfLibTokenizer(libJson, {});
    } catch (e) {
      throw bad(`could not be loaded: ${(e as Error).message}`);
    }
    const u2b = unicodeToByte();
    const utf8 = new TextEncoder();
    const addedIds = new Set(added.map((a) => a.id));
    this.bytes = strings.map((s, id) => {
      if (addedIds.has(id)) return utf8.encode(s); // added tokens are stored as their text, not in the byte alphabet
      const out = new Uint8Array(s.length);
      let k = 0;
      for (const ch of s) {
        const b = u2b.get(ch);
        if (b === undefined) throw bad(`token ${id} (${JSON.stringify(s)}) has a character outside the byte-level alphabet`);
        out[k++] = b;
      }
      return out.subarray(0, k);
    });
    this.bytes.push(new Uint8Array(0)); // an appended mask id has no bytes (decodeWith renders it as [MASK])
  }

  encode(text: string): number[] {
    return encodeWithEot(text, this.eos, (s) => this.lib.encode(s, { add_special_tokens: false }).ids);
  }
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string {
    return decodeWith(this, ids, opts);
  }
  tokenBytes(id: number): Uint8Array {
    return this.bytes[id];
  }
}

function isByteLevel(part: { type?: unknown; pretokenizers?: unknown; decoders?: unknown } | null | undefined): boolean {
  if (!part) return false;
  if (part.type === 'ByteLevel') return true;
  const list = (part.pretokenizers ?? part.decoders) as { type?: unknown }[] | undefined;
  return Array.isArray(list) && list.some((p) => p?.type === 'ByteLevel');
}
