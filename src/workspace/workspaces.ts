// A bare mirror per project and a worktree per MR at a stable path. The path matters: Claude Code files
// sessions under the working directory, so every call for one MR must run in the same place.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { LocalLocks } from '../claude/locks.js';
import { checkRemote, isCommitId } from './remote.js';
import { lockKey } from '../keys.js';

export interface WorkspaceOptions {
  root: string;
  token: string;
  /** GITLAB_URL: the only place git may connect to, and the only one that gets the token */
  gitlabUrl: string;
  /** the project's clone URL as the API gives it (never from a payload); checked against gitlabUrl */
  remote: (projectId: number) => Promise<string>;
  /** local git commands */
  timeoutMs?: number;
  /**
   * ms after a project's new worktree before a spare one is checked out for its next new MR, off that review's
   * path (default 2 s); 0: no spares
   */
  spareDelayMs?: number;
  /** ms after a project's last fetch before git's own housekeeping (`maintenance run --auto`) runs (default 30 s) */
  maintenanceDelayMs?: number;
  /** a fetch holds its project's lock: bounded so a stalled server cannot keep the project locked (default 2 min) */
  fetchTimeoutMs?: number;
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
  /** the head each MR's last fetch brought (`<project>:<iid>` → sha): a second job at that head does not fetch again */
  private fetched = new Map<string, string>();
  /** branch names git already accepted (a spawn of `git check-ref-format` each time is a review's cost for nothing) */
  private branchesOk = new Set<string>();
  /** target branches this process fetched into a mirror (`<project>:<branch>`): the mirror holds them, no git asked */
  private branchesHere = new Set<string>();
  /** files read from mirror branches, valid until that project's next fetch (see BranchReads) */
  private reads = new BranchReads();
  /** per project, a worktree checked out ahead of time for its next new MR (see Spares) */
  private spares = new Spares();
  /** per project, the pending housekeeping run after its fetches */
  private housekeeping = new Map<number, NodeJS.Timeout>();

  constructor(private readonly o: WorkspaceOptions) {}

  /** Where a project's spare worktree is made (outside `work/`: it belongs to no MR until one takes it). */
  sparePath(projectId: number): string {
    return path.join(this.o.root, 'spare', String(projectId));
  }

  mirrorPath(projectId: number): string {
    return path.join(this.o.root, 'repos', `${projectId}.git`);
  }

  worktreePath(projectId: number, iid: number): string {
    return path.join(this.o.root, 'work', `${projectId}-${iid}`);
  }

  /**
   * The token goes in an HTTP header through GIT_CONFIG_* variables (never in a URL, a config file or argv), scoped
   * to GITLAB_URL (`http.<url>.extraHeader`), so no other host ever receives it; redirects are not followed, only
   * GITLAB_URL's scheme is allowed, and a transfer that stalls for 30 s is dropped.
   */
  private gitEnv(): Record<string, string> {
    const basic = Buffer.from(`oauth2:${this.o.token}`).toString('base64');
    const base = `${this.o.gitlabUrl.replace(/\/+$/, '')}/`;
    const config: [string, string][] = [
      [`http.${base}.extraHeader`, `Authorization: Basic ${basic}`],
      ['http.followRedirects', 'false'],
      ['http.lowSpeedLimit', '1'],
      ['http.lowSpeedTime', '30'],
    ];
    return {
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: 'true',
      GCM_INTERACTIVE: 'never',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_ALLOW_PROTOCOL: new URL(base).protocol.replace(':', ''),
      GIT_CONFIG_COUNT: String(config.length),
      ...Object.fromEntries(config.flatMap(([k, v], i) => [[`GIT_CONFIG_KEY_${i}`, k], [`GIT_CONFIG_VALUE_${i}`, v]])),
    };
  }

  private async git(args: string[], opts: { cwd?: string; auth?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const timeoutMs = opts.timeoutMs ?? this.o.timeoutMs ?? 10 * 60_000;
    // Its own process group, killed whole on timeout: `git fetch` runs git-remote-http, which holds the pipes open,
    // so killing git alone would leave the call (and the project's lock) waiting on a stalled server.
    const child = execa('git', args, {
      cwd: opts.cwd,
      env: { ...(opts.auth ? this.gitEnv() : {}), GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
      reject: false,
      detached: true,
      stripFinalNewline: true,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    const r = await child.finally(() => clearTimeout(timer));
    if (timedOut) throw new GitError(`git ${subcommand(args)} timed out after ${timeoutMs} ms`, true);
    if (r.exitCode !== 0) {
      // the last lines, and what the server said (`remote:` lines: why GitLab refused a push)
      const lines = String(r.stderr || r.stdout || '').trim().split('\n');
      const remote = lines.slice(0, -3).filter((l) => l.startsWith('remote:') && l.slice(7).trim());
      const msg = this.scrub([...remote, ...lines.slice(-3)].join(' '));
      // word-bounded status codes: a port or a commit id in the message must not read as "500"
      const transient = /could not resolve|timed out|connection|early EOF|\b5\d\d\b|RPC failed|unable to access/i.test(msg) && !/\b40[134]\b/.test(msg);
      throw new GitError(`git ${subcommand(args)} failed: ${msg || `exit ${r.exitCode}`}`, transient);
    }
    return String(r.stdout);
  }

  private scrub(s: string): string {
    return s.split(this.o.token).join('[redacted]');
  }

  /**
   * Fetch the MR head and target branch into the project's mirror, incrementally. The lock is per project, so a
   * slow fetch holds up only its own project, and for at most fetchTimeoutMs. With `sha`: skipped when the last
   * fetch of this MR in this process already brought that head (a retried job, a re-review at the same head).
   */
  async fetch(project: { id: number }, iid: number, targetBranch: string, sha?: string): Promise<void> {
    if (!Number.isSafeInteger(iid) || iid < 1) throw new GitError(`invalid MR iid ${iid}`, false);
    const url = checkRemote(await this.o.remote(project.id), this.o.gitlabUrl);
    await this.checkBranch(targetBranch);
    const mirror = this.mirrorPath(project.id);
    const key = `${project.id}:${iid}`;
    await this.locks.exclusive(lockKey.repo(project.id), async () => {
      if (!fs.existsSync(path.join(mirror, 'HEAD'))) {
        this.forget(project.id);
        this.reads.invalidate(project.id);
        fs.mkdirSync(mirror, { recursive: true });
        await this.git(['init', '--bare', '--quiet', '--', mirror]);
        await this.git(['-C', mirror, 'config', 'core.symlinks', 'false']);
      } else if (sha && this.fetched.get(key) === sha) return;
      // Branches move during the fetch: reads from before or during it are stale once it ends.
      this.reads.invalidate(project.id);
      try {
        await this.git(
          // Git's auto-maintenance would run as one more process inside every fetch: it runs later instead
          // (scheduleHousekeeping). FETCH_HEAD is read by nothing here, and forced updates are not reported (--quiet).
          [
            '-C', mirror, '-c', 'maintenance.auto=false', 'fetch', '--quiet', '--no-tags', '--force', '--no-write-fetch-head', '--no-show-forced-updates', '--', url,
            `+refs/merge-requests/${iid}/head:refs/mr/${iid}`,
            `+refs/heads/${targetBranch}:refs/heads/${targetBranch}`,
          ],
          { auth: true, timeoutMs: this.o.fetchTimeoutMs ?? 120_000 },
        );
      } finally {
        this.reads.invalidate(project.id);
      }
      this.scheduleHousekeeping(project.id);
      this.branchesHere.add(`${project.id}:${targetBranch}`);
      if (this.branchesHere.size > 10_000) this.branchesHere.delete(this.branchesHere.values().next().value!);
      if (sha) this.fetched.set(key, sha);
      else this.fetched.delete(key);
      if (this.fetched.size > 10_000) this.fetched.delete(this.fetched.keys().next().value!);
    });
  }

  /**
   * `git maintenance run --auto` (repack and prune once loose objects pile up, as git does after a fetch by itself),
   * once the project has had no fetch for maintenanceDelayMs, so it never runs inside a review's fetch.
   */
  private scheduleHousekeeping(projectId: number): void {
    clearTimeout(this.housekeeping.get(projectId));
    const timer = setTimeout(() => {
      this.housekeeping.delete(projectId);
      const mirror = this.mirrorPath(projectId);
      if (!fs.existsSync(path.join(mirror, 'HEAD'))) return;
      void this.locks.exclusive(lockKey.repo(projectId), () => this.git(['-C', mirror, 'maintenance', 'run', '--auto', '--quiet'])).catch(() => undefined);
    }, this.o.maintenanceDelayMs ?? 30_000);
    timer.unref();
    this.housekeeping.set(projectId, timer);
  }

  /** A mirror that is gone (removed by hand, or re-created) remembers no fetched heads. */
  private forget(projectId: number): void {
    this.spares.drop(projectId);
    for (const k of this.fetched.keys()) if (k.startsWith(`${projectId}:`)) this.fetched.delete(k);
    for (const k of this.branchesHere) if (k.startsWith(`${projectId}:`)) this.branchesHere.delete(k);
  }

  /** A branch name git itself accepts (so it is neither an option nor a refspec with its own colon). */
  private async checkBranch(name: string): Promise<void> {
    if (this.branchesOk.has(name)) return;
    const r = await execa('git', ['check-ref-format', `refs/heads/${name}`], { reject: false, env: { LC_ALL: 'C' } });
    if (r.exitCode !== 0 || name.startsWith('-') || name.includes(':')) throw new GitError(`invalid branch name ${JSON.stringify(name.slice(0, 100))}`, false);
    if (this.branchesOk.size > 1_000) this.branchesOk.clear();
    this.branchesOk.add(name);
  }

  /** Fetch, then check the MR out at `sha` in its stable worktree; returns the worktree's real path. */
  async prepare(project: { id: number }, iid: number, sha: string, targetBranch: string): Promise<string> {
    if (!isCommitId(sha)) throw new GitError(`invalid commit id ${JSON.stringify(sha.slice(0, 80))}`, false);
    await this.fetch(project, iid, targetBranch, sha);
    return this.worktree(project.id, iid, sha);
  }

  /**
   * Check the fetched MR out at `sha` in its stable worktree, updated in place when it exists (only what changed
   * is written); returns the worktree's real path.
   */
  async worktree(projectId: number, iid: number, sha: string): Promise<string> {
    if (!isCommitId(sha)) throw new GitError(`invalid commit id ${JSON.stringify(sha.slice(0, 80))}`, false);
    const mirror = this.mirrorPath(projectId);
    const wt = this.worktreePath(projectId, iid);
    let made = false;
    await this.locks.exclusive(lockKey.repo(projectId), async () => {
      made = !fs.existsSync(path.join(wt, '.git'));
      const fresh = made && this.takeSpare(projectId, mirror, wt);
      // The head GitLab named, or the MR ref we just fetched if that head is already gone (a force-push since).
      await this.checkout(mirror, wt, sha, fresh).catch(() => this.checkout(mirror, wt, `refs/mr/${iid}`, fresh));
    });
    // The project's next new MR starts from a worktree made now, off its review's path.
    if (made) this.spares.schedule(projectId, this.o.spareDelayMs ?? 2_000, () => this.makeSpare(projectId, sha));
    return fs.realpathSync(wt);
  }

  /**
   * A new MR's worktree from the project's spare, if one is ready: moved into place (what `git worktree move` does:
   * the directory renamed, the mirror's record of its path rewritten), then updated in place like any worktree, so
   * only the files that differ from the spare's commit are written. Under the project's lock.
   */
  private takeSpare(projectId: number, mirror: string, wt: string): boolean {
    const spare = this.spares.take(projectId);
    if (!spare) return false;
    try {
      const link = fs.readFileSync(path.join(spare, '.git'), 'utf8');
      const admin = /^gitdir: (.+)$/m.exec(link)?.[1]?.trim();
      if (!admin || fs.realpathSync(path.dirname(admin)) !== fs.realpathSync(path.join(mirror, 'worktrees'))) throw new Error('not a worktree of this mirror');
      fs.rmSync(wt, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(wt), { recursive: true });
      fs.renameSync(spare, wt);
      fs.writeFileSync(path.join(admin, 'gitdir'), `${path.join(wt, '.git')}\n`);
      return true;
    } catch {
      // Not usable: the MR gets a worktree of its own (`worktree add --force` takes over whatever is left).
      fs.rmSync(path.join(wt, '.git'), { force: true });
      fs.rmSync(spare, { recursive: true, force: true });
      return false;
    }
  }

  /** A spare worktree for the project at `commit` (the head just checked out: the next MR likely shares most files). */
  private async makeSpare(projectId: number, commit: string): Promise<string | undefined> {
    const mirror = this.mirrorPath(projectId);
    const spare = this.sparePath(projectId);
    if (!fs.existsSync(path.join(mirror, 'HEAD'))) return undefined;
    return this.locks.exclusive(lockKey.repo(projectId), async () => {
      fs.rmSync(spare, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(spare), { recursive: true });
      await this.git(['-C', mirror, '-c', 'core.symlinks=false', 'worktree', 'add', '--force', '--detach', '--quiet', '--', spare, commit]);
      return spare;
    });
  }

  /** core.symlinks=false: links in the MR are checked out as plain files holding the link text, so nothing in the
   * worktree can point the model at files outside it (also set in the mirror's config, which worktrees share).
   * `fresh`: a spare nothing ran in yet, so there is nothing to clean. */
  private async checkout(mirror: string, wt: string, commit: string, fresh = false): Promise<void> {
    if (!fs.existsSync(path.join(wt, '.git'))) {
      // (A spare moved here but unusable leaves no `.git`: this takes the path over.)
      fs.rmSync(wt, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(wt), { recursive: true });
      // --force also takes over a path still registered to a worktree that was deleted (no `worktree prune` first).
      await this.git(['-C', mirror, '-c', 'core.symlinks=false', 'worktree', 'add', '--force', '--detach', '--quiet', '--', wt, commit]);
      return;
    }
    // A trailing `--` makes `commit` a revision, never a path (checkout takes no --end-of-options before git 2.43);
    // it is a checked commit id or refs/mr/<n>, so it cannot read as an option either.
    await this.git(['-c', 'core.symlinks=false', 'checkout', '--force', '--detach', '--quiet', commit, '--'], { cwd: wt });
    // The tools are read-only, so this is only insurance against anything left behind.
    if (!fresh) await this.git(['clean', '-ffdxq'], { cwd: wt });
  }

  /**
   * A fresh, throw-away worktree of the MR at `sha` (an apply edits files there, never in the MR's stable worktree).
   * `sha` must be in the mirror: it is the head the plan was made on, fetched with the MR.
   */
  async freshCheckout(project: { id: number }, iid: number, sha: string, targetBranch: string): Promise<string> {
    if (!isCommitId(sha)) throw new GitError(`invalid commit id ${JSON.stringify(sha.slice(0, 80))}`, false);
    await this.fetch(project, iid, targetBranch);
    const mirror = this.mirrorPath(project.id);
    const wt = path.join(this.o.root, 'apply', `${project.id}-${iid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`);
    fs.mkdirSync(path.dirname(wt), { recursive: true });
    await this.locks.exclusive(lockKey.repo(project.id), () =>
      this.git(['-C', mirror, '-c', 'core.symlinks=false', 'worktree', 'add', '--force', '--detach', '--quiet', '--', wt, sha]));
    return fs.realpathSync(wt);
  }

  async removeCheckout(projectId: number, wt: string): Promise<void> {
    fs.rmSync(wt, { recursive: true, force: true });
    await this.locks.exclusive(lockKey.repo(projectId), () => this.git(['-C', this.mirrorPath(projectId), 'worktree', 'prune'])).catch(() => undefined);
  }

  /** git in a checkout; `push`: with the token header for GITLAB_URL (see gitEnv) and the fetch timeout. */
  runIn(cwd: string, args: string[], opts: { push?: boolean } = {}): Promise<string> {
    return this.git(args, { cwd, auth: opts.push, timeoutMs: opts.push ? this.o.fetchTimeoutMs ?? 120_000 : undefined });
  }

  /** A project's clone URL from the API, refused unless it lies under GITLAB_URL. */
  async remoteUrl(projectId: number): Promise<string> {
    return checkRemote(await this.o.remote(projectId), this.o.gitlabUrl);
  }

  /** Retention: the MR's worktree and its ref in the mirror go (the mirror's objects are shared with open MRs). */
  async remove(projectId: number, iid: number): Promise<void> {
    const mirror = this.mirrorPath(projectId);
    await this.locks.exclusive(lockKey.repo(projectId), async () => {
      this.fetched.delete(`${projectId}:${iid}`);
      fs.rmSync(this.worktreePath(projectId, iid), { recursive: true, force: true });
      if (!fs.existsSync(path.join(mirror, 'HEAD'))) return;
      await this.git(['-C', mirror, 'worktree', 'prune']);
      await this.git(['-C', mirror, 'update-ref', '-d', `refs/mr/${iid}`]).catch(() => undefined);
    });
  }

  /** Retention: the project's spare worktree goes (and no planned one is made). */
  async removeSpare(projectId: number): Promise<void> {
    const mirror = this.mirrorPath(projectId);
    await this.locks.exclusive(lockKey.repo(projectId), async () => {
      this.spares.drop(projectId);
      fs.rmSync(this.sparePath(projectId), { recursive: true, force: true });
      if (fs.existsSync(path.join(mirror, 'HEAD'))) await this.git(['-C', mirror, 'worktree', 'prune']);
    });
  }

  /** Whether the mirror holds a commit id, or a branch (`refs/heads/<name>`) that points at a commit. */
  async has(projectId: number, rev: string): Promise<boolean> {
    // A branch too: a reply checks the target branch is here before reading its rules (it used to fetch every time).
    if (!isCommitId(rev) && !/^refs\/heads\/[^\s:^~?*[\\]+$/.test(rev)) return false;
    // A branch this process fetched is in the mirror (branches are never deleted from it): no git process.
    if (this.branchesHere.has(`${projectId}:${rev.slice('refs/heads/'.length)}`) && fs.existsSync(path.join(this.mirrorPath(projectId), 'HEAD'))) return true;
    try {
      await this.git(['-C', this.mirrorPath(projectId), 'cat-file', '-e', '--end-of-options', `${rev}^{commit}`]);
      return true;
    } catch {
      return false;
    }
  }

  /** A file as it is on a ref of the mirror (the target branch: where trusted instructions live). */
  async readAt(projectId: number, ref: string, file: string): Promise<string | undefined> {
    return (await this.readManyAt(projectId, ref, [file])).get(file);
  }

  /**
   * Several files of one ref in one `git cat-file --batch` (one process, not one per file); missing ones are absent.
   * A branch's files (the target branch's rules, read by every review and thread answer) are remembered until the
   * project's next fetch, the only thing that moves a branch in the mirror.
   */
  async readManyAt(projectId: number, ref: string, files: string[]): Promise<Map<string, string>> {
    if (!ref.startsWith('refs/heads/')) return this.catFiles(projectId, ref, files);
    const known = this.reads.get(projectId, ref, files);
    if (known) return known;
    const epoch = this.reads.epoch(projectId);
    const out = await this.catFiles(projectId, ref, files);
    // A missing mirror reads as no files: not remembered (the first fetch creates it).
    if (fs.existsSync(path.join(this.mirrorPath(projectId), 'HEAD'))) this.reads.put(projectId, ref, files, out, epoch);
    return out;
  }

  private async catFiles(projectId: number, ref: string, files: string[]): Promise<Map<string, string>> {
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

  /** Every path that differs between two commits (renames as delete + add), or undefined if either is missing. */
  async changedPaths(projectId: number, from: string, to: string): Promise<string[] | undefined> {
    if (!isCommitId(from) || !isCommitId(to)) return undefined;
    // One process: a missing commit makes the diff fail ("bad object"), no need to ask first.
    const out = await this.git(['-C', this.mirrorPath(projectId), 'diff', '--name-only', '-z', '--no-renames', '--end-of-options', from, to, '--']).catch((e) => {
      if (e instanceof GitError) return undefined;
      throw e;
    });
    return out?.split('\0').filter(Boolean);
  }

  /** The diff between two commits (what a push changed). */
  async diff(projectId: number, from: string, to: string, maxBytes = 400_000): Promise<string> {
    if (!isCommitId(from) || !isCommitId(to)) throw new GitError('invalid commit id for a diff', false);
    // quotePath off: non-ASCII paths stay as GitLab spells them, so findings on them still match.
    const out = await this.git(['-C', this.mirrorPath(projectId), '-c', 'core.quotePath=false', 'diff', '--no-color', '--no-ext-diff', '-M', '--end-of-options', from, to, '--']);
    return out.length > maxBytes ? `${out.slice(0, maxBytes)}\n[... interdiff cut at ${maxBytes} bytes ...]` : out;
  }
}

/** `fetch` in `git -C <dir> -c k=v fetch …`: for messages. */
function subcommand(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-C' || args[i] === '-c') i++;
    else return args[i]!;
  }
  return 'git';
}

/**
 * Files read from mirror branches, per project, each entry valid only in the epoch it was read in: a fetch of the
 * project starts a new epoch when it begins and when it ends, so a read that overlapped a fetch is never served.
 * Bounded: a large file is read again each time, and the oldest entries go first.
 */
export class BranchReads {
  private epochs = new Map<number, number>();
  /** `<project>\0<ref>\0<file>` → the file (undefined: absent on that ref) and the epoch it was read in */
  private files = new Map<string, { text: string | undefined; epoch: number }>();

  constructor(private readonly maxEntries = 5_000, private readonly maxFileBytes = 256 * 1024) {}

  epoch(projectId: number): number {
    return this.epochs.get(projectId) ?? 0;
  }

  invalidate(projectId: number): void {
    this.epochs.set(projectId, this.epoch(projectId) + 1);
  }

  /** Every file of `files` as read in the current epoch, or undefined if any is not known. */
  get(projectId: number, ref: string, files: string[]): Map<string, string> | undefined {
    const epoch = this.epoch(projectId);
    const out = new Map<string, string>();
    for (const f of files) {
      const e = this.files.get(`${projectId}\0${ref}\0${f}`);
      if (!e || e.epoch !== epoch) return undefined;
      if (e.text !== undefined) out.set(f, e.text);
    }
    return out;
  }

  /** What one read of `files` found, read in `epoch` (kept only if no fetch began since). */
  put(projectId: number, ref: string, files: string[], found: Map<string, string>, epoch: number): void {
    if (epoch !== this.epoch(projectId)) return;
    for (const f of files) {
      const text = found.get(f);
      if (text !== undefined && text.length > this.maxFileBytes) continue;
      const key = `${projectId}\0${ref}\0${f}`;
      this.files.delete(key); // re-inserted last: the oldest entries are the first keys
      this.files.set(key, { text, epoch });
    }
    while (this.files.size > this.maxEntries) this.files.delete(this.files.keys().next().value!);
  }
}

/**
 * One spare worktree per project, made a while after the project's last new worktree (a timer, so never on a
 * review's path), taken by the next new MR only when it is ready (a new MR never waits for one).
 */
export class Spares {
  private ready = new Map<number, string>();
  private timers = new Map<number, NodeJS.Timeout>();
  private making = new Set<number>();

  /** Make the project's spare `delayMs` from now (again: the timer restarts); `make` resolves with its path. */
  schedule(projectId: number, delayMs: number, make: () => Promise<string | undefined>): void {
    if (delayMs <= 0) return;
    this.drop(projectId);
    const timer = setTimeout(() => {
      this.timers.delete(projectId);
      if (this.making.has(projectId)) return;
      this.making.add(projectId);
      make()
        .then((p) => {
          if (p) this.ready.set(projectId, p);
        })
        .catch(() => undefined) // no spare: the next MR makes its own worktree
        .finally(() => this.making.delete(projectId));
    }, delayMs);
    timer.unref();
    this.timers.set(projectId, timer);
  }

  /** The project's spare, now the caller's, if one is ready. */
  take(projectId: number): string | undefined {
    const p = this.ready.get(projectId);
    this.ready.delete(projectId);
    return p;
  }

  /** Forget the project's spare and any planned one (its mirror was re-created). */
  drop(projectId: number): void {
    clearTimeout(this.timers.get(projectId));
    this.timers.delete(projectId);
    this.ready.delete(projectId);
  }
}
