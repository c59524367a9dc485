// Where git connects and what it is handed: only the API's clone URL under GITLAB_URL, the token only to that host,
// every argument after `--`, and a fetch bounded in time that holds only its own project's lock.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTransient } from '../src/jobs/retry.js';
import { UntrustedRemote } from '../src/workspace/remote.js';
import { GitError, Workspaces } from '../src/workspace/workspaces.js';
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

const workspaces = (o: { remote?: (id: number) => Promise<string>; gitlabUrl?: string; fetchTimeoutMs?: number; dir: string }) =>
  new Workspaces({ root: path.join(root, o.dir), token: s.token, gitlabUrl: o.gitlabUrl ?? s.url, remote: o.remote ?? (async (id) => s.project(id).httpUrl), fetchTimeoutMs: o.fetchTimeoutMs });

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
});
