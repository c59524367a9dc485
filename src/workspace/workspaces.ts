// A bare mirror per project and a worktree per MR at a stable path. The path matters: Claude Code files
// sessions under the working directory, so every call for one MR must run in the same place.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { LocalLocks } from '../claude/locks.js';

export interface WorkspaceOptions {
  root: string;
  token: string;
  timeoutMs?: number;
}

export class GitError extends Error {
  override name = 'GitError';
  // network trouble heals; "couldn't find remote ref" and auth failures do not
  constructor(message: string, readonly transient: boolean) {
    super(message);
  }
}

export class Workspaces {
  private locks = new LocalLocks();

  constructor(private readonly o: WorkspaceOptions) {}

  mirrorPath(projectId: number): string {
    return path.join(this.o.root, 'repos', `${projectId}.git`);
  }

  worktreePath(projectId: number, iid: number): string {
    return path.join(this.o.root, 'work', `${projectId}-${iid}`);
  }

  /** The token goes in an HTTP header through GIT_CONFIG_* variables: never in a URL, a config file or argv. */
  private gitEnv(): Record<string, string> {
    const basic = Buffer.from(`oauth2:${this.o.token}`).toString('base64');
    return {
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: 'true',
      GCM_INTERACTIVE: 'never',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    };
  }

  private async git(args: string[], opts: { cwd?: string; auth?: boolean } = {}): Promise<string> {
    const r = await execa('git', args, {
      cwd: opts.cwd,
      env: { ...(opts.auth ? this.gitEnv() : {}), GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
      reject: false,
      timeout: this.o.timeoutMs ?? 10 * 60_000,
      stripFinalNewline: true,
    });
    if (r.exitCode !== 0 || r.timedOut) {
      const msg = this.scrub(String(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' '));
      const transient = r.timedOut || /could not resolve|timed out|connection|early EOF|5\d\d|RPC failed|unable to access/i.test(msg) && !/40[134]/.test(msg);
      throw new GitError(`git ${args[0]} failed: ${msg || `exit ${r.exitCode}`}`, transient);
    }
    return String(r.stdout);
  }

  private scrub(s: string): string {
    return s.split(this.o.token).join('[redacted]');
  }

  /** Fetch the MR head and target branch into the project's mirror, incrementally. */
  async fetch(project: { id: number; httpUrl: string }, iid: number, targetBranch: string): Promise<void> {
    const mirror = this.mirrorPath(project.id);
    await this.locks.exclusive(`repo:${project.id}`, async () => {
      if (!fs.existsSync(path.join(mirror, 'HEAD'))) {
        fs.mkdirSync(mirror, { recursive: true });
        await this.git(['init', '--bare', '--quiet', mirror]);
        await this.git(['-C', mirror, 'config', 'core.symlinks', 'false']);
      }
      await this.git(
        [
          '-C', mirror, 'fetch', '--quiet', '--no-tags', '--force', project.httpUrl,
          `+refs/merge-requests/${iid}/head:refs/mr/${iid}`,
          `+refs/heads/${targetBranch}:refs/heads/${targetBranch}`,
        ],
        { auth: true },
      );
    });
  }

  /** Check the MR out at `sha` in its stable worktree; returns the worktree's real path. */
  async prepare(project: { id: number; httpUrl: string }, iid: number, sha: string, targetBranch: string): Promise<string> {
    await this.fetch(project, iid, targetBranch);
    const mirror = this.mirrorPath(project.id);
    const wt = this.worktreePath(project.id, iid);
    await this.locks.exclusive(`repo:${project.id}`, async () => {
      // The head GitLab named, or the MR ref we just fetched if that head is already gone (a force-push since).
      await this.checkout(mirror, wt, sha).catch(() => this.checkout(mirror, wt, `refs/mr/${iid}`));
    });
    return fs.realpathSync(wt);
  }

  /** core.symlinks=false: links in the MR are checked out as plain files holding the link text, so nothing in the
   * worktree can point the model at files outside it (also set in the mirror's config, which worktrees share). */
  private async checkout(mirror: string, wt: string, commit: string): Promise<void> {
    if (!fs.existsSync(path.join(wt, '.git'))) {
      fs.rmSync(wt, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(wt), { recursive: true });
      await this.git(['-C', mirror, 'worktree', 'prune']);
      await this.git(['-C', mirror, '-c', 'core.symlinks=false', 'worktree', 'add', '--force', '--detach', '--quiet', wt, commit]);
      return;
    }
    await this.git(['-c', 'core.symlinks=false', 'checkout', '--force', '--detach', '--quiet', commit], { cwd: wt });
    // The tools are read-only, so this is only insurance against anything left behind.
    await this.git(['clean', '-ffdxq'], { cwd: wt });
  }

  /** Retention: the MR's worktree and its ref in the mirror go (the mirror's objects are shared with open MRs). */
  async remove(projectId: number, iid: number): Promise<void> {
    const mirror = this.mirrorPath(projectId);
    await this.locks.exclusive(`repo:${projectId}`, async () => {
      fs.rmSync(this.worktreePath(projectId, iid), { recursive: true, force: true });
      if (!fs.existsSync(path.join(mirror, 'HEAD'))) return;
      await this.git(['-C', mirror, 'worktree', 'prune']);
      await this.git(['-C', mirror, 'update-ref', '-d', `refs/mr/${iid}`]).catch(() => undefined);
    });
  }

  async has(projectId: number, rev: string): Promise<boolean> {
    try {
      await this.git(['-C', this.mirrorPath(projectId), 'cat-file', '-e', `${rev}^{commit}`]);
      return true;
    } catch {
      return false;
    }
  }

  /** A file as it is on a ref of the mirror (the target branch: where trusted instructions live). */
  async readAt(projectId: number, ref: string, file: string): Promise<string | undefined> {
    return (await this.readManyAt(projectId, ref, [file])).get(file);
  }

  /** Several files of one ref in one `git cat-file --batch` (one process, not one per file); missing ones are absent. */
  async readManyAt(projectId: number, ref: string, files: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const r = await execa('git', ['-C', this.mirrorPath(projectId), 'cat-file', '--batch'], {
      input: files.map((f) => `${ref}:${f}\n`).join(''),
      encoding: 'buffer',
      reject: false,
      env: { LC_ALL: 'C' },
    });
    if (r.exitCode !== 0) return out;
    const buf = Buffer.from(r.stdout as Uint8Array);
    let at = 0;
    for (const file of files) {
      const nl = buf.indexOf(0x0a, at);
      if (nl < 0) break;
      const header = buf.subarray(at, nl).toString();
      at = nl + 1;
      const m = /^[0-9a-f]+ (\w+) (\d+)$/.exec(header);
      if (!m) continue; // "<object> missing"
      const size = Number(m[2]);
      if (m[1] === 'blob') out.set(file, buf.subarray(at, at + size).toString('utf8'));
      at += size + 1;
    }
    return out;
  }

  /** The diff between two commits (what a push changed). */
  async diff(projectId: number, from: string, to: string, maxBytes = 400_000): Promise<string> {
    const out = await this.git(['-C', this.mirrorPath(projectId), 'diff', '--no-color', '--no-ext-diff', '-M', from, to]);
    return out.length > maxBytes ? `${out.slice(0, maxBytes)}\n[... interdiff cut at ${maxBytes} bytes ...]` : out;
  }
}
