/**
 * Generated blocks in Markdown files: everything between `<!-- report:NAME -->` and `<!-- /report:NAME -->` belongs
 * to the report, the rest of the file to its authors.
 */
const BLOCK = /<!-- report:([a-z0-9-]+) -->\n([\s\S]*?)<!-- \/report:\1 -->/g;

export interface Rewrite {
  text: string;
  /** names of the blocks whose content changed */
  changed: string[];
  /** every block name found */
  found: string[];
}

/** Replaces every block's content with render(name); a block with no renderer is an error naming the file. */
export function rewriteBlocks(text: string, file: string, render: (name: string) => string | undefined): Rewrite {
  const changed: string[] = [];
  const found: string[] = [];
  const out = text.replace(BLOCK, (_all, name: string, body: string) => {
    const fresh = render(name);
    if (fresh === undefined) throw new Error(`${file}: no table named '${name}' (bench/report/tables.ts)`);
    found.push(name);
    const content = fresh.trimEnd() + '\n';
    if (content !== body) changed.push(name);
    return `<!-- report:${name} -->\n${content}<!-- /report:${name} -->`;
  });
  const opened = (text.match(/<!-- report:[a-z0-9-]+ -->/g) ?? []).length;
  if (opened !== found.length) throw new Error(`${file}: ${opened - found.length} report block(s) without a matching <!-- /report:NAME --> line`);
  return { text: out, changed, found };
}

/**
 * Generated figures inside prose: `<!-- v:NAME -->1.60<!-- /v -->` (one line; the comments do not render). Each is
 * replaced with value(name); an unknown name is an error naming the file.
 */
const VALUE = /<!-- v:([a-z0-9.-]+) -->(.*?)<!-- \/v -->/g;

export function rewriteValues(text: string, file: string, value: (name: string) => string | undefined): Rewrite {
  const changed: string[] = [];
  const found: string[] = [];
  const out = text.replace(VALUE, (_all, name: string, body: string) => {
    const fresh = value(name);
    if (fresh === undefined) throw new Error(`${file}: no value named '${name}' (bench/report/values.ts)`);
    found.push(name);
    if (fresh !== body) changed.push(`value ${name}`);
    return `<!-- v:${name} -->${fresh}<!-- /v -->`;
  });
  const opened = (text.match(/<!-- v:[a-z0-9.-]+ -->/g) ?? []).length;
  if (opened !== found.length) throw new Error(`${file}: ${opened - found.length} value(s) without a closing <!-- /v --> on the same line`);
  return { text: out, changed, found };
}
