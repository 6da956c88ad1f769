/**
 * What a model name means: an existing local folder; else a repo id `ORG/NAME[@REVISION]`, found in the shared
 * huggingface_hub cache or downloaded into it (not with HF_HUB_OFFLINE=1). Returns a folder either way.
 */
import * as fs from 'node:fs';
import { cachedSnapshot, hubCacheDir, repoCacheDir } from './cache.js';
import { HubError, downloadRepoFiles, hubOffline, type HubOptions } from './download.js';
import { stderrProgress } from './progress.js';
import { parseRepoRef, repoIdProblem } from './repo-id.js';

export interface ResolveOptions extends HubOptions {
  /** draw a progress bar on stderr while downloading; default: when stderr is a terminal */
  progress?: boolean;
  /** default $HF_HUB_OFFLINE */
  offline?: boolean;
}

/**
 * The folder holding `files` for `name` (a folder, or a repo id looked up in the cache and downloaded if missing),
 * with each of `optional` the repo has (offline: whatever of them the cache holds).
 */
export async function resolveModelDir(name: string, files: readonly string[], opts: ResolveOptions = {}, optional: readonly string[] = []): Promise<string> {
  if (fs.existsSync(name)) return name;
  const problem = repoIdProblem(name);
  if (problem) {
    // a path (./x, /x, a/b/c): the caller's own "does not exist" error names it; ORG/NAME-like: say what is wrong
    if (/^[.~/]/.test(name) || name.split('/').length > 2 || (!name.includes('/') && !name.includes('@'))) return name;
    throw new HubError(`'${name}' is no local folder, and not a repo id ORG/NAME[@REVISION]: ${problem}`);
  }
  const ref = parseRepoRef(name);
  const cache = opts.cacheDir ?? hubCacheDir();
  const hit = cachedSnapshot(cache, ref, files, optional);
  if (hit) return hit;
  const offline = opts.offline ?? hubOffline();
  const partial = offline ? cachedSnapshot(cache, ref, files) : undefined;
  if (partial) return partial;
  if (offline)
    throw new HubError(
      `'${name}' is no local folder, and ${ref.repo} at revision ${ref.revision} is not in the Hugging Face cache ` +
        `(${repoCacheDir(cache, ref.repo)}, with ${files.join(' and ')}); HF_HUB_OFFLINE=1 forbids downloading it: unset HF_HUB_OFFLINE or download it once online`,
    );
  const showBar = opts.progress ?? process.stderr.isTTY === true;
  const bar = showBar ? stderrProgress() : undefined;
  try {
    return await downloadRepoFiles(ref, files, {
      ...opts,
      cacheDir: cache,
      onProgress: opts.onProgress || bar ? (p) => (opts.onProgress?.(p), bar?.(p)) : undefined,
    }, optional);
  } catch (e) {
    // the network is down but the required files are cached (only an optional one is missing): use them
    const cached = e instanceof HubError && e.status === undefined ? cachedSnapshot(cache, ref, files) : undefined;
    if (cached) return cached;
    // a path the user mistyped looks like ORG/NAME too: say both readings
    if (e instanceof HubError && (e.status === 401 || e.status === 404) && !name.includes('@'))
      throw new HubError(`'${name}' is no local folder, and ${e.message}`, e.status);
    throw e;
  }
}
