// Start-up's GET /user against the GitLab stand-in: the wait is reported, bounded when asked, and a
// rejected token ends it at once with doctor's hint.
import net from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitLabClient } from '../src/gitlab/client.js';
import { tokenRejected } from '../src/gitlab/hints.js';
import { StartupError, waitForIdentity } from '../src/gitlab/identity.js';
import { createLogger } from '../src/logger.js';
import { GitLabStatus } from '../src/server/readiness.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';
import { BOT, TOKEN } from '../standins/harness.js';
import { closedPort } from './support/ports.js';

function logger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: createLogger({ level: 'info', redact: (s) => s, destination: sink }), lines };
}

const client = (url: string, token = TOKEN) => new GitLabClient({ url, token, attempts: 1 });

describe('waitForIdentity', () => {
  let gitlab: GitlabStandin;
  beforeAll(async () => {
    gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  });
  afterAll(async () => gitlab?.close());

  it('returns the bot user and marks GitLab reachable', async () => {
    const status = new GitLabStatus(gitlab.url);
    const me = await waitForIdentity(client(gitlab.url), { status, log: logger().log });
    expect(me).toEqual({ id: BOT.id, username: BOT.username });
    expect(status.isUp).toBe(true);
  });

  it('a rejected token ends the wait at once with the hint doctor gives', async () => {
    const status = new GitLabStatus(gitlab.url);
    const { log, lines } = logger();
    const err = await waitForIdentity(client(gitlab.url, 'glpat-wrong-0000000000'), { status, log }).catch((e) => e);
    const hint = tokenRejected(401);
    expect(err).toBeInstanceOf(StartupError);
    expect(err.message).toBe(`${hint.detail}; fix: ${hint.fix}`);
    expect(lines.filter((l) => l.level === 'fatal')).toHaveLength(1);
    expect(status.problem).toContain(hint.detail);
  });

  it('an unreachable GitLab: each failure logged with URL and cause; a bounded wait gives up with both', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const status = new GitLabStatus(url);
    const { log, lines } = logger();
    const err = await waitForIdentity(client(url), { status, log, giveUpAfterMs: 1_500, maxDelayMs: 200 }).catch((e) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect(err.message).toMatch(new RegExp(`^cannot reach GitLab at ${url}/api/v4/user after 2 s: GitLab GET /api/v4/user: fetch failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; fix: `));
    const retries = lines.filter((l) => l.msg === 'waiting for GitLab: GET /user failed; retrying');
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toMatchObject({ url: `${url}/api/v4/user`, attempt: 1 });
    expect(retries[0]!.reason).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
    expect(status.isUp).toBe(false);
    expect(status.problem).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('a bounded wait also bounds a call that never gets an answer', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((sock) => void sockets.push(sock)).listen(0, '127.0.0.1'); // accepts, never answers
    await new Promise((r) => silent.once('listening', r));
    const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      const err = await waitForIdentity(client(url), { status: new GitLabStatus(url), log: logger().log, giveUpAfterMs: 1_000 }).catch((e) => e);
      expect(err).toBeInstanceOf(StartupError);
      expect(err.message).toMatch(new RegExp(`^cannot reach GitLab at ${url}/api/v4/user after 1 s: no answer; fix: `));
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('shutdown aborts the wait', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const stop = new AbortController();
    const waiting = waitForIdentity(client(url), { status: new GitLabStatus(url), log: logger().log, signal: stop.signal });
    stop.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });
});
