// Where git connects and what it is handed: only the API's clone URL under GITLAB_URL, the token only to that host,
// every argument after `--`, and a fetch bounded in time that holds only its own project's lock.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isTransient } from '../src/jobs/retry.js';
import { UntrustedRemote } from '../src/workspace/remote.js';
import { BranchReads, GitError, Spares, Workspaces } from '../src/workspace/workspaces.js';
import { startGitlabStandin, type GitlabStandin, type StandinMr, type StandinProject } from '../standins/gitlab.js';

/** An HTTP server that records every request it gets (method, url, authorization) and answers with `reply`. */
async function recorder(reply: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, r) => r.writeHead(404).end()) {
  const seen: { url: string; auth?: string }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization });
    reply(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

let s: GitlabStandin;
let root: string;
let app: StandinProject;
let appMr: StandinMr;
let slow: StandinProject;
let slowMr: StandinMr;

beforeAll(async () => {
  s = await startGitlabStandin();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-ws-'));
  app = await s.createProject('team/app', { 'a.txt': 'a\n' });
  await s.commit(app, 'f', { 'b.txt': 'b\n' });
  appMr = await s.createMr(app, { sourceBranch: 'f', title: 'F' });
  slow = await s.createProject('team/slow', { 'a.txt': 'a\n' });
  await s.commit(slow, 'f', { 'c.txt': 'c\n' });
  slowMr = await s.createMr(slow, { sourceBranch: 'f', title: 'F' });
});
afterAll(async () => {
  await s?.close();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

const workspaces = (o: { remote?: (id: number) => Promise<string>; gitlabUrl?: string; fetchTimeoutMs?: number; spareDelayMs?: number; dir: string }) =>
  new Workspaces({
    root: path.join(root, o.dir), token: s.token, gitlabUrl: o.gitlabUrl ?? s.url, remote: o.remote ?? (async (id) => s.project(id).httpUrl), fetchTimeoutMs: o.fetchTimeoutMs,
    spareDelayMs: o.spareDelayMs ?? 0,
  });

/** git's own answer in `dir` (to check a worktree as git sees it). */
const gitIn = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();

describe('Workspaces', () => {
  it('checks an MR out from the clone URL the API gives, with the token scoped to GITLAB_URL', async () => {
    const ws = workspaces({ dir: 'ok' });
    const wt = await ws.prepare(app, appMr.iid, appMr.headSha, 'main');
    expect(fs.readFileSync(path.join(wt, 'b.txt'), 'utf8')).toBe('b\n');
    expect(await ws.changedPaths(app.id, appMr.baseSha, appMr.headSha)).toEqual(['b.txt']);
  });

  it('fetches a head once: a second job at the same head reuses it, a push fetches again; the worktree is updated in place', async () => {
    const p = await s.createProject('team/again', { 'a.txt': 'a\n' });
    await s.commit(p, 'f', { 'b.txt': 'b\n' });
    const mr = await s.createMr(p, { sourceBranch: 'f', title: 'F' });
    const ws = workspaces({ dir: 'again' });
    const gitCalls = () => s.gitRequests.filter((r) => r.path.startsWith('/team/again.git/')).length;
    const wt = await ws.prepare(p, mr.iid, mr.headSha, 'main');
    const first = gitCalls();
    expect(first).toBeGreaterThan(0);
    expect(await ws.prepare(p, mr.iid, mr.headSha, 'main')).toBe(wt);
    expect(gitCalls()).toBe(first);
    await s.commit(p, 'f', { 'b.txt': 'b2\n' });
    const pushed = s.mr(p, mr.iid).headSha;
    expect(await ws.prepare(p, mr.iid, pushed, 'main')).toBe(wt);
    expect(gitCalls()).toBeGreaterThan(first);
    expect(fs.readFileSync(path.join(wt, 'b.txt'), 'utf8')).toBe('b2\n');
    // A worktree deleted behind git's back (still registered in the mirror) is checked out again at its path.
    fs.rmSync(wt, { recursive: true, force: true });
    expect(await ws.prepare(p, mr.iid, pushed, 'main')).toBe(wt);
    expect(fs.readFileSync(path.join(wt, 'b.txt'), 'utf8')).toBe('b2\n');
  });

  it('lists no changed paths for a commit the mirror does not have', async () => {
    const ws = workspaces({ dir: 'ok' });
    await ws.prepare(app, appMr.iid, appMr.headSha, 'main');
    expect(await ws.changedPaths(app.id, 'f'.repeat(40), appMr.headSha)).toBeUndefined();
    expect(await ws.changedPaths(app.id, '--cached', appMr.headSha)).toBeUndefined();
  });

  it('knows which commits and branches the mirror holds, without fetching', async () => {
    const ws = workspaces({ dir: 'ok' });
    await ws.prepare(app, appMr.iid, appMr.headSha, 'main');
    const before = s.gitRequests.length;
    expect(await ws.has(app.id, appMr.headSha)).toBe(true);
    expect(await ws.has(app.id, 'refs/heads/main')).toBe(true);
    expect(await ws.has(app.id, 'refs/heads/never-fetched')).toBe(false);
    expect(await ws.has(app.id, 'e'.repeat(40))).toBe(false);
    expect(await ws.has(app.id, 'refs/heads/main:x')).toBe(false);
    expect(s.gitRequests.length).toBe(before);
  });

  it('refuses a clone URL outside GITLAB_URL before git runs: the other host never hears from the bot', async () => {
    const evil = await recorder();
    try {
      const ws = workspaces({ dir: 'evil', remote: async () => `${evil.url}/team/app.git` });
      const e = await ws.prepare(app, appMr.iid, appMr.headSha, 'main').catch((x) => x);
      expect(e).toBeInstanceOf(UntrustedRemote);
      expect(isTransient(e)).toBe(false);
      const opt = await workspaces({ dir: 'opt', remote: async () => '--upload-pack=touch /tmp/mrr-pwned' }).prepare(app, appMr.iid, appMr.headSha, 'main').catch((x) => x);
      expect(opt).toBeInstanceOf(UntrustedRemote);
      expect(evil.seen).toEqual([]);
    } finally {
      await evil.close();
    }
  });

  it('does not follow a redirect away from GITLAB_URL, and the other host never gets the token', async () => {
    const evil = await recorder((_q, r) => r.writeHead(404).end());
    const gl = await recorder((req, res) => res.writeHead(302, { location: `${evil.url}${req.url}` }).end());
    try {
      const ws = workspaces({ dir: 'redirect', gitlabUrl: gl.url, remote: async () => `${gl.url}/team/app.git` });
      const e = await ws.prepare(app, appMr.iid, appMr.headSha, 'main').catch((x) => x);
      expect(e).toBeInstanceOf(GitError);
      expect(gl.seen.length).toBeGreaterThan(0);
      expect(gl.seen[0]!.auth).toBe(`Basic ${Buffer.from(`oauth2:${s.token}`).toString('base64')}`);
      expect(evil.seen).toEqual([]);
    } finally {
      await gl.close();
      await evil.close();
    }
  });

  it('refuses branch names and commit ids that git would read as options, without fetching', async () => {
    const ws = workspaces({ dir: 'args' });
    const before = s.gitRequests.length;
    for (const branch of ['--upload-pack=touch /tmp/x', 'main:refs/heads/x', 'a..b']) {
      const e = await ws.prepare(app, appMr.iid, appMr.headSha, branch).catch((x) => x);
      expect(e, branch).toBeInstanceOf(GitError);
    }
    expect(await ws.prepare(app, appMr.iid, '--output=/tmp/x', 'main').catch((x) => x)).toBeInstanceOf(GitError);
    expect(s.gitRequests.length).toBe(before);
    expect(await ws.has(app.id, '--all')).toBe(false);
  });

  it('kills a stalled fetch after fetchTimeoutMs (a transient error), and a slow project does not hold up another', async () => {
    const ws = workspaces({ dir: 'slow', fetchTimeoutMs: 2_000 });
    s.fail({ path: /^\/team\/slow\.git\// }, { delayMs: 15_000 });
    let slowSettled = false;
    const slowRun = ws.prepare(slow, slowMr.iid, slowMr.headSha, 'main').catch((x) => x).finally(() => { slowSettled = true; });
    await new Promise((r) => setTimeout(r, 100)); // let the slow fetch take its project's lock first
    const wt = await ws.prepare(app, appMr.iid, appMr.headSha, 'main');
    expect(fs.existsSync(path.join(wt, 'b.txt'))).toBe(true);
    expect(slowSettled).toBe(false);
    const e = await slowRun;
    expect(e).toBeInstanceOf(GitError);
    expect(e.message).toMatch(/git fetch timed out after 2000 ms/);
    expect(isTransient(e)).toBe(true);
    // The lock is free again: the next try fetches.
    const again = await ws.prepare(slow, slowMr.iid, slowMr.headSha, 'main');
    expect(fs.existsSync(path.join(again, 'c.txt'))).toBe(true);
  });

  it('checks a new MR out from the project\'s spare worktree: moved into place, at the MR head, a worktree git knows', async () => {
    const p = await s.createProject('team/spare', { 'a.txt': 'a\n', 'keep.txt': 'k\n' });
    await s.commit(p, 'f1', { 'b.txt': 'b\n' });
    const mr1 = await s.createMr(p, { sourceBranch: 'f1', title: 'F1' });
    await s.commit(p, 'f2', { 'c.txt': 'c\n', 'a.txt': 'a2\n' });
    const mr2 = await s.createMr(p, { sourceBranch: 'f2', title: 'F2' });
    const ws = workspaces({ dir: 'spare', spareDelayMs: 1 });
    const wt1 = await ws.prepare(p, mr1.iid, mr1.headSha, 'main');
    const spare = ws.sparePath(p.id);
    await vi.waitFor(() => expect(fs.existsSync(path.join(spare, 'b.txt'))).toBe(true), { timeout: 10_000 });
    // The spare lives at the first MR's head; a file left there must not reach the next MR.
    const wt2 = await ws.prepare(p, mr2.iid, mr2.headSha, 'main');
    expect(wt2).not.toBe(wt1);
    expect(gitIn(wt2, 'rev-parse', 'HEAD')).toBe(mr2.headSha);
    expect(gitIn(wt2, 'status', '--porcelain')).toBe('');
    expect(fs.readFileSync(path.join(wt2, 'a.txt'), 'utf8')).toBe('a2\n');
    expect(fs.existsSync(path.join(wt2, 'b.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(wt1, 'b.txt'), 'utf8')).toBe('b\n');
    // git knows both worktrees at their paths; the next spare is on its way at the spare's path
    const listed = gitIn(ws.mirrorPath(p.id), 'worktree', 'list', '--porcelain');
    expect(listed).toContain(`worktree ${fs.realpathSync(wt1)}`);
    expect(listed).toContain(`worktree ${fs.realpathSync(wt2)}`);
    await vi.waitFor(() => expect(fs.existsSync(path.join(spare, 'c.txt'))).toBe(true), { timeout: 10_000 });
    // Retention of the MR whose worktree was the spare removes it like any other.
    await ws.remove(p.id, mr2.iid);
    expect(fs.existsSync(wt2)).toBe(false);
    expect(gitIn(ws.mirrorPath(p.id), 'worktree', 'list', '--porcelain')).not.toContain(`worktree ${wt2}`);
    // Retention of a spare that waited too long: gone from disk and from git's list of worktrees.
    const spareReal = fs.realpathSync(spare);
    await ws.removeSpare(p.id);
    expect(fs.existsSync(spare)).toBe(false);
    expect(gitIn(ws.mirrorPath(p.id), 'worktree', 'list', '--porcelain')).not.toContain(`worktree ${spareReal}`);
  });

  it('remembers a target branch\'s files until the project\'s next fetch', async () => {
    const p = await s.createProject('team/rules', { 'CLAUDE.md': 'v1\n' });
    await s.commit(p, 'f', { 'b.txt': 'b\n' });
    const mr = await s.createMr(p, { sourceBranch: 'f', title: 'F' });
    const ws = workspaces({ dir: 'rules' });
    await ws.prepare(p, mr.iid, mr.headSha, 'main');
    expect((await ws.readManyAt(p.id, 'refs/heads/main', ['CLAUDE.md', 'AGENTS.md'])).get('CLAUDE.md')).toBe('v1\n');
    // Changed behind the bot's back (no fetch): still the mirror's v1, and still right without git.
    fs.rmSync(path.join(ws.mirrorPath(p.id), 'refs', 'heads', 'main'), { force: true });
    expect([...(await ws.readManyAt(p.id, 'refs/heads/main', ['CLAUDE.md', 'AGENTS.md']))]).toEqual([['CLAUDE.md', 'v1\n']]);
    expect(await ws.has(p.id, 'refs/heads/main')).toBe(true);
    // The target branch moves; the next fetch brings it and the new file is read.
    await s.commit(p, 'main', { 'CLAUDE.md': 'v2\n' });
    await ws.fetch(p, mr.iid, 'main');
    expect((await ws.readManyAt(p.id, 'refs/heads/main', ['CLAUDE.md'])).get('CLAUDE.md')).toBe('v2\n');
  });
});

describe('BranchReads', () => {
  it('serves a read only in the epoch it was made in, and only when every file asked for is known', () => {
    const r = new BranchReads();
    const e0 = r.epoch(1);
    r.put(1, 'refs/heads/main', ['a', 'b'], new Map([['a', 'A']]), e0);
    expect(r.get(1, 'refs/heads/main', ['a', 'b'])).toEqual(new Map([['a', 'A']]));
    expect(r.get(1, 'refs/heads/main', ['a', 'c'])).toBeUndefined();
    expect(r.get(1, 'refs/heads/dev', ['a'])).toBeUndefined();
    expect(r.get(2, 'refs/heads/main', ['a'])).toBeUndefined();
    r.invalidate(1);
    expect(r.get(1, 'refs/heads/main', ['a'])).toBeUndefined();
    // a read that began before a fetch (older epoch) is not kept
    r.put(1, 'refs/heads/main', ['a'], new Map([['a', 'old']]), e0);
    expect(r.get(1, 'refs/heads/main', ['a'])).toBeUndefined();
  });

  it('keeps at most its number of entries (the oldest go), and no file over its size', () => {
    const r = new BranchReads(2, 3);
    r.put(1, 'm', ['a', 'b', 'c'], new Map([['a', '1'], ['b', '2'], ['c', '3']]), 0);
    expect(r.get(1, 'm', ['a'])).toBeUndefined();
    expect(r.get(1, 'm', ['b', 'c'])).toEqual(new Map([['b', '2'], ['c', '3']]));
    r.put(1, 'm', ['big'], new Map([['big', 'xxxx']]), 0);
    expect(r.get(1, 'm', ['big'])).toBeUndefined();
  });
});

describe('Spares', () => {
  it('makes a project\'s spare after the delay (a new schedule restarts it), hands it out once, and forgets it on drop', async () => {
    vi.useFakeTimers();
    try {
      const sp = new Spares();
      const made: number[] = [];
      const make = (n: number) => async () => (made.push(n), `/spare/${n}`);
      sp.schedule(1, 100, make(1));
      await vi.advanceTimersByTimeAsync(50);
      sp.schedule(1, 100, make(2));
      await vi.advanceTimersByTimeAsync(99);
      expect(sp.take(1)).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(made).toEqual([2]);
      expect(sp.take(1)).toBe('/spare/2');
      expect(sp.take(1)).toBeUndefined();
      sp.schedule(1, 100, make(3));
      await vi.advanceTimersByTimeAsync(100);
      sp.drop(1);
      expect(sp.take(1)).toBeUndefined();
      sp.schedule(2, 100, async () => { throw new Error('no disk'); });
      await vi.advanceTimersByTimeAsync(100);
      expect(sp.take(2)).toBeUndefined();
      sp.schedule(3, 0, make(4));
      await vi.advanceTimersByTimeAsync(1_000);
      expect(made).toEqual([2, 3]);
    } finally {
      vi.useRealTimers();
    }
  });
});
