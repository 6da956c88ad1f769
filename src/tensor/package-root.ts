/**
 * The package root in Node: the nearest ancestor of this module holding package.json (the same from src/ and
 * dist/src/). Node-only; imports are dynamic so browser bundles that include the caller never load them.
 */
export async function packageRoot(): Promise<string> {
  const { existsSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}
