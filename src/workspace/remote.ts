// Where git may connect: only the API's clone URL of a project, and only when it lies under GITLAB_URL.
import { PermanentError } from '../jobs/retry.js';

export class UntrustedRemote extends PermanentError {
  override name = 'UntrustedRemote';
}

/**
 * `url` if it has GITLAB_URL's scheme, host and port and lies under its path; throws UntrustedRemote otherwise.
 * Credentials, queries and fragments are refused too: none belongs in a clone URL GitLab hands out.
 */
export function checkRemote(url: string, gitlabUrl: string): string {
  const base = new URL(gitlabUrl);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UntrustedRemote(`clone URL ${JSON.stringify(url.slice(0, 200))} is not a URL`);
  }
  const basePath = base.pathname.replace(/\/+$/, '');
  const under = u.protocol === base.protocol && u.hostname === base.hostname && u.port === base.port && u.pathname.startsWith(`${basePath}/`) && u.pathname.length > basePath.length + 1;
  if (!under || u.username || u.password || u.search || u.hash) {
    throw new UntrustedRemote(`clone URL ${u.protocol}//${u.host}${u.pathname.slice(0, 200)} is not under GITLAB_URL (${base.origin}${basePath}); refusing to fetch from it`);
  }
  return u.href;
}

/** A commit id as GitLab gives them (SHA-1 or SHA-256): never an option, never a ref expression. */
export function isCommitId(s: string): boolean {
  return /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(s);
}
