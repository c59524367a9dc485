// One commit from an apply's checkout, and its push. The commit carries a trailer with the apply's id, so a retried
// job finds its own commit on the branch instead of pushing a second one.
import type { CommitInfo } from '../gitlab/types.js';
import { GitError, type Workspaces } from './workspaces.js';

/** The trailer that names an apply (one per `@bot apply` note). */
export const APPLY_TRAILER = 'MR-Reviewer-Apply';

export interface Person {
  name: string;
  email: string;
}

export interface CommitText {
  title: string;
  body: string;
  threadUrl: string;
  applyId: string;
  approver: Person;
}

/** GitLab's no-reply address for a user (what the web UI commits with when the email is private). */
export function noreplyEmail(gitlabUrl: string, user: { id: number; username: string }): string {
  return `${user.id}-${user.username}@users.noreply.${new URL(gitlabUrl).hostname}`;
}

/** Title, body, a link to the thread, then the trailers (git interprets the last paragraph). */
export function commitMessage(c: CommitText): string {
  const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').trim();
  const title = oneLine(c.title).slice(0, 72) || 'Apply review fix';
  return [
    title,
    '',
    c.body.trim(),
    '',
    `Thread: ${oneLine(c.threadUrl)}`,
    '',
    `Co-authored-by: ${oneLine(c.approver.name)} <${oneLine(c.approver.email)}>`,
    `${APPLY_TRAILER}: ${c.applyId}`,
  ].filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n');
}

/** The branch's commit made by this apply, if it is there already. */
export function findApplied(commits: CommitInfo[], applyId: string): CommitInfo | undefined {
  const line = `${APPLY_TRAILER}: ${applyId}`;
  return commits.find((c) => c.message.split('\n').some((l) => l.trim() === line));
}

export interface StagedChange {
  status: string;
  path: string;
}

/** Stage everything in the checkout and list it (renames as delete + add, so both paths are checked). */
export async function stageAll(ws: Workspaces, cwd: string): Promise<StagedChange[]> {
  await ws.runIn(cwd, ['add', '--all', '--', '.']);
  const out = await ws.runIn(cwd, ['-c', 'core.quotePath=false', 'diff', '--cached', '--name-status', '--no-renames', '-z']);
  const f = out.split('\0').filter(Boolean);
  const changes: StagedChange[] = [];
  for (let i = 0; i + 1 < f.length; i += 2) changes.push({ status: f[i]!, path: f[i + 1]! });
  return changes;
}

/** Lines added plus removed in the staged change (binary files count as one line each). */
export async function stagedLines(ws: Workspaces, cwd: string): Promise<number> {
  const out = await ws.runIn(cwd, ['diff', '--cached', '--numstat']);
  return out.split('\n').filter(Boolean).reduce((n, l) => {
    const [a, d] = l.split('\t');
    return n + (a === '-' ? 1 : Number(a) + Number(d));
  }, 0);
}

/** Commit what is staged as the bot; no hooks, no signing config from anywhere. Returns the commit id. */
export async function commitStaged(ws: Workspaces, cwd: string, author: Person, message: string): Promise<string> {
  await ws.runIn(cwd, [
    '-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`, '-c', 'commit.gpgsign=false', '-c', 'core.hooksPath=/dev/null',
    'commit', '--quiet', '--no-verify', '-m', message,
  ]);
  return (await ws.runIn(cwd, ['rev-parse', 'HEAD'])).trim();
}

export async function diffStat(ws: Workspaces, cwd: string, sha: string): Promise<string> {
  return (await ws.runIn(cwd, ['-c', 'core.quotePath=false', 'show', '--stat', '--format=', '--no-color', sha, '--'])).trim();
}

export type PushOutcome = { pushed: true } | { pushed: false; rejected: string };

/**
 * Push `sha` to the branch: a plain fast-forward push (never forced), with the token header for GITLAB_URL only.
 * A refusal by GitLab (protected branch, hooks, a branch that moved) comes back as `rejected`; network trouble throws
 * a transient GitError, and the retried job then looks for the commit before pushing again.
 */
export async function pushCommit(ws: Workspaces, cwd: string, remoteUrl: string, sha: string, branch: string): Promise<PushOutcome> {
  try {
    await ws.runIn(cwd, ['push', '--quiet', '--no-verify', '--', remoteUrl, `${sha}:refs/heads/${branch}`], { push: true });
    return { pushed: true };
  } catch (e) {
    if (!(e instanceof GitError)) throw e;
    // GitLab answered and said no: whatever else the message holds (URLs, ports), this is not network trouble.
    const refused = /\[(remote )?rejected\]|hook declined|not allowed|\b403\b|non-fast-forward|fetch first/i.test(e.message);
    if (refused || !e.transient) return { pushed: false, rejected: e.message.replace(/^git push failed: /, '') };
    throw e;
  }
}
