/**
 * The huggingface_hub cache, shared with Python: `CACHE/models--ORG--NAME/refs/REVISION` holds a commit hash,
 * `snapshots/COMMIT/FILE` is a relative symlink to `blobs/ETAG` (the file's sha256 for LFS files, its git blob sha1
 * otherwise). The cache folder and the repo folder name come from `@huggingface/hub` (HF_HUB_CACHE, else HF_HOME/hub,
 * else ~/.cache/huggingface/hub, as Python resolves them).
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { getHFHubCachePath, getRepoFolderName } from '@huggingface/hub';
import { COMMIT_HASH, type RepoRef } from './repo-id.js';

/** The hub cache folder this process uses (HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub). */
export function hubCacheDir(): string {
  return getHFHubCachePath();
}

/** `CACHE/models--ORG--NAME` */
export function repoCacheDir(cache: string, repo: string): string {
  return nodePath.join(cache, getRepoFolderName({ type: 'model', name: repo }));
}

/** The commit a revision points to in the cache: itself for a commit hash, else the content of refs/REVISION. */
export function cachedCommit(repoDir: string, revision: string): string | undefined {
  if (COMMIT_HASH.test(revision)) return revision;
  try {
    const commit = fs.readFileSync(nodePath.join(repoDir, 'refs', revision), 'utf8').trim();
    return COMMIT_HASH.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

const isFile = (p: string): boolean => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

/**
 * The snapshot folder of `ref` when every one of `files` is in it (links followed), and each of `optional` either is
 * or is known to be absent from the repo (`.no_exist/COMMIT/FILE`, as huggingface_hub records a 404); else undefined.
 */
export function cachedSnapshot(cache: string, ref: RepoRef, files: readonly string[], optional: readonly string[] = []): string | undefined {
  const repoDir = repoCacheDir(cache, ref.repo);
  const commit = cachedCommit(repoDir, ref.revision);
  if (!commit) return undefined;
  const dir = nodePath.join(repoDir, 'snapshots', commit);
  if (!files.every((f) => isFile(nodePath.join(dir, f)))) return undefined;
  if (!optional.every((f) => isFile(nodePath.join(dir, f)) || isFile(noExistMarker(repoDir, commit, f)))) return undefined;
  return dir;
}

/** `.no_exist/COMMIT/FILE`: huggingface_hub's record that the repo has no FILE at COMMIT */
export function noExistMarker(repoDir: string, commit: string, file: string): string {
  return nodePath.join(repoDir, '.no_exist', commit, file);
}

/** Records that the repo has no `file` at `commit` (an empty marker file, as huggingface_hub writes). */
export function markNoExist(repoDir: string, commit: string, file: string): void {
  const marker = noExistMarker(repoDir, commit, file);
  fs.mkdirSync(nodePath.dirname(marker), { recursive: true });
  fs.writeFileSync(marker, '');
}

/** Points `snapshots/COMMIT/FILE` at `blobs/ETAG` with a relative link (atomically: a temporary link renamed over). */
export function linkSnapshotFile(repoDir: string, commit: string, file: string, etag: string): void {
  const link = nodePath.join(repoDir, 'snapshots', commit, file);
  fs.mkdirSync(nodePath.dirname(link), { recursive: true });
  const target = nodePath.relative(nodePath.dirname(link), nodePath.join(repoDir, 'blobs', etag));
  const tmp = `${link}.${process.pid}.tmp`;
  fs.rmSync(tmp, { force: true });
  try {
    fs.symlinkSync(target, tmp);
  } catch {
    fs.copyFileSync(nodePath.join(repoDir, 'blobs', etag), tmp); // no symlinks on this file system: a copy, as Python does
  }
  fs.renameSync(tmp, link);
}

/** Writes refs/REVISION = COMMIT (atomically) unless the revision is the commit itself. */
export function writeRef(repoDir: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const ref = nodePath.join(repoDir, 'refs', revision);
  fs.mkdirSync(nodePath.dirname(ref), { recursive: true });
  const tmp = `${ref}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, commit);
  fs.renameSync(tmp, ref);
}
