/**
 * Hugging Face model repo ids as users write them: `ORG/NAME` or `ORG/NAME@REVISION` (a branch, tag or commit).
 * The name rules are huggingface_hub's `validate_repo_id`, so an id accepted here is one the hub can hold.
 * No Node imports (the browser page parses ids too).
 */

export interface RepoRef {
  /** `ORG/NAME` */
  repo: string;
  /** branch, tag or 40-hex commit; `main` when not given */
  revision: string;
}

const NAME_PART = /^[\w.-]+$/;
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** Why `text` is not a valid `ORG/NAME[@REVISION]`, or undefined when it is. */
export function repoIdProblem(text: string): string | undefined {
  const at = text.indexOf('@');
  const repo = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? 'main' : text.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length !== 2) return 'a repo id has exactly one "/" (ORG/NAME)';
  for (const p of parts) {
    if (!p) return 'ORG and NAME must not be empty';
    if (!NAME_PART.test(p)) return `"${p}" may only contain letters, digits, "-", "_" and "."`;
    if (/^[-.]|[-.]$/.test(p)) return `"${p}" must not start or end with "-" or "."`;
  }
  if (repo.includes('--') || repo.includes('..')) return '"--" and ".." are not allowed in a repo id';
  if (repo.endsWith('.git')) return 'a repo id must not end with ".git"';
  if (repo.length > 96) return 'a repo id has at most 96 characters';
  if (!revision) return 'the revision after "@" is empty';
  if (/[\s\\]|\.\.|^\/|\/$/.test(revision) || revision.includes('@')) return `revision "${revision}" is not a valid branch, tag or commit`;
  return undefined;
}

/** Parses `ORG/NAME[@REVISION]`; throws an error saying what is wrong. */
export function parseRepoRef(text: string): RepoRef {
  const problem = repoIdProblem(text);
  if (problem) throw new Error(`'${text}' is not a repo id ORG/NAME[@REVISION]: ${problem}`);
  const at = text.indexOf('@');
  return at < 0 ? { repo: text, revision: 'main' } : { repo: text.slice(0, at), revision: text.slice(at + 1) };
}

/** Writes a ref back as the user would (`ORG/NAME`, or `ORG/NAME@REV` for another revision than main). */
export function formatRepoRef(r: RepoRef): string {
  return r.revision === 'main' ? r.repo : `${r.repo}@${r.revision}`;
}

/** The URL of one file of a repo revision on a hub (`resolve` endpoint, as huggingface_hub builds it). */
export function resolveUrl(endpoint: string, r: RepoRef, file: string): string {
  const rev = encodeURIComponent(r.revision);
  return `${endpoint.replace(/\/+$/, '')}/${r.repo}/resolve/${rev}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** The public hub, unless HF_ENDPOINT names another. */
export const DEFAULT_ENDPOINT = 'https://huggingface.co';
