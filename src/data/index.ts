/** bd3lm/data: tokenizers (the folder → tokenizer registry), dataset preparation and the resumable loader. */
export { ByteTokenizer, type Tokenizer } from './tokenizer.js';
export { tokenizerFor } from './tokenizers.js';
export { loadTokenizer } from './load-tokenizer.js';
export { prepare, type PrepareOptions } from './prepare.js';
export { Loader, type LoaderOptions } from './loader.js';
