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

/** The snapshot folder of `ref` when every one of `files` is in it (links followed), else undefined. */
export function cachedSnapshot(cache: string, ref: RepoRef, files: readonly string[]): string | undefined {
  const repoDir = repoCacheDir(cache, ref.repo);
  const commit = cachedCommit(repoDir, ref.revision);
  if (!commit) return undefined;
  const dir = nodePath.join(repoDir, 'snapshots', commit);
  for (const f of files) {
    try {
      if (!fs.statSync(nodePath.join(dir, f)).isFile()) return undefined;
    } catch {
      return undefined;
    }
  }
  return dir;
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
