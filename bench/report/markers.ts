/**
 * Generated parts of Markdown files, the rest of a file belonging to its authors:
 * - blocks: everything between `<!-- report:NAME -->` and `<!-- /report:NAME -->` (tables, bench/report/tables.ts);
 * - values: `<!-- v:NAME -->1.60<!-- /v -->`, a figure inside prose, on one line (bench/report/values.ts); the
 *   comments do not render.
 */

export interface Rewrite {
  text: string;
  /** names of the blocks or values whose content changed */
  changed: string[];
  /** every name found */
  found: string[];
}

interface Kind {
  /** matches a whole marked part: name in group 1, content in group 2 */
  part: RegExp;
  /** matches an opening marker alone (to find one left unclosed) */
  open: RegExp;
  wrap(name: string, content: string): string;
  /** what the error messages call one */
  what: string;
  /** where the renderers live */
  source: string;
  unclosed: string;
}

const BLOCK: Kind = {
  part: /<!-- report:([a-z0-9-]+) -->\n([\s\S]*?)<!-- \/report:\1 -->/g,
  open: /<!-- report:[a-z0-9-]+ -->/g,
  wrap: (name, content) => `<!-- report:${name} -->\n${content.trimEnd()}\n<!-- /report:${name} -->`,
  what: 'table',
  source: 'bench/report/tables.ts',
  unclosed: 'report block(s) without a matching <!-- /report:NAME --> line',
};

const VALUE: Kind = {
  part: /<!-- v:([a-z0-9.-]+) -->(.*?)<!-- \/v -->/g,
  open: /<!-- v:[a-z0-9.-]+ -->/g,
  wrap: (name, content) => `<!-- v:${name} -->${content}<!-- /v -->`,
  what: 'value',
  source: 'bench/report/values.ts',
  unclosed: 'value(s) without a closing <!-- /v --> on the same line',
};

/** Replaces every marked part of `kind` with render(name); a name with no renderer is an error naming the file. */
function rewrite(kind: Kind, text: string, file: string, render: (name: string) => string | undefined): Rewrite {
  const changed: string[] = [];
  const found: string[] = [];
  const out = text.replace(kind.part, (all, name: string) => {
    const fresh = render(name);
    if (fresh === undefined) throw new Error(`${file}: no ${kind.what} named '${name}' (${kind.source})`);
    found.push(name);
    const part = kind.wrap(name, fresh);
    if (part !== all) changed.push(kind === VALUE ? `value ${name}` : name);
    return part;
  });
  const opened = (text.match(kind.open) ?? []).length;
  if (opened !== found.length) throw new Error(`${file}: ${opened - found.length} ${kind.unclosed}`);
  return { text: out, changed, found };
}

export const rewriteBlocks = (text: string, file: string, render: (name: string) => string | undefined): Rewrite => rewrite(BLOCK, text, file, render);
export const rewriteValues = (text: string, file: string, value: (name: string) => string | undefined): Rewrite => rewrite(VALUE, text, file, value);
