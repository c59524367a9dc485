// `serve` as an operator starts it. It says what is wrong with GitLab (URL and cause) and waits visibly,
// stops on a rejected token with doctor's hint, refuses a second process on one DATA_DIR, and `npm start` passes
// SIGTERM on to the bot.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tokenRejected } from '../src/gitlab/hints.js';
import { OUTCOME_HEADER } from '../src/server/app.js';
import { spawnBotProcess, type SpawnedBot } from '../standins/bot-process.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';
import { BOT, sendHook, TOKEN, waitFor } from '../standins/harness.js';
import { startModelStandin, type ModelStandin } from '../standins/model.js';
import { closedPort, forward } from './support/ports.js';

const ADMIN = 'startup-admin-token-77';
const SHUTDOWN_DEADLINE_MS = 5_000;

/** Gone, or a zombie nobody has reaped yet: either way no longer running. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

describe('serve at start-up', () => {
  let gitlab: GitlabStandin;
  let model: ModelStandin;
  const bots: SpawnedBot[] = [];
  const dirs: string[] = [];
  const dataDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-startup-'));
    dirs.push(d);
    return d;
  };
  const spawn = (env: Record<string, string>, o: { dataDir?: string; npmStart?: boolean } = {}) => {
    const b = spawnBotProcess({ gitlab, model, dataDir: o.dataDir ?? dataDir(), npmStart: o.npmStart, env: { LOG_LEVEL: 'info', SHUTDOWN_DEADLINE_MS: String(SHUTDOWN_DEADLINE_MS), ...env } });
    bots.push(b);
    return b;
  };
  const urlOf = async (b: SpawnedBot) => `http://127.0.0.1:${(await b.waitForLog((l) => l.msg === 'listening', 30_000, 'listening')).port as number}`;

  beforeAll(async () => {
    gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
    model = await startModelStandin();
  });
  afterEach(async () => {
    await Promise.all(bots.splice(0).map((b) => b.kill9()));
  });
  afterAll(async () => {
    await gitlab?.close();
    await model?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('GitLab unreachable: logs the URL and the cause, keeps retrying, and says so on /readyz, the status page and a metric; ready once GitLab answers', async () => {
    const port = await closedPort();
    const gitlabUrl = `http://127.0.0.1:${port}`;
    const bot = spawn({ GITLAB_URL: gitlabUrl, ADMIN_TOKEN: ADMIN });
    const url = await urlOf(bot);
    const waiting = await bot.waitForLog((l) => /GET \/user failed; retrying/.test(l.msg), 60_000, 'the first failed GET /user');
    expect(waiting.url).toBe(`${gitlabUrl}/api/v4/user`);
    expect(waiting.reason).toContain(`ECONNREFUSED 127.0.0.1:${port}`);

    expect((await fetch(`${url}/healthz`)).status).toBe(200); // alive: liveness must not restart it
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(new RegExp(`FAIL gitlab: waiting for GitLab at ${gitlabUrl} since \\S+: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    const page = await (await fetch(`${url}/`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(page).toMatch(/<p id="notice" class="err">waiting for GitLab at [^<]* since [^<]*: [^<]*ECONNREFUSED/);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^mr_reviewer_gitlab_up 0$/m);
    expect(bot.logs.some((l) => l.msg === 'bot identity known')).toBe(false);

    // A delivery meanwhile is taken (GitLab would never send it again), and its job runs once the bot knows itself.
    const project = await gitlab.createProject('startup/waiting', { 'README.md': '# w\n' });
    await gitlab.commit(project, 'feature', { 'a.js': 'export const a = 1;\n' });
    const mr = await gitlab.createMr(project, { sourceBranch: 'feature', title: 'Add a' });
    const taken = await sendHook(url, gitlab, gitlab.mrHook(project, mr.iid, 'open'));
    expect(taken.status).toBe(200);
    expect(taken.headers.get(OUTCOME_HEADER)).toBe('queued');
    expect(bot.logs.some((l) => l.msg === 'job started')).toBe(false);

    // GitLab comes up at that address: the wait ends by itself
    const fwd = await forward(port, Number(new URL(gitlab.url).port));
    try {
      await bot.waitForLog((l) => l.msg === 'bot identity known', 90_000, 'the bot to know itself');
      await bot.waitForLog((l) => l.msg === 'job started' && l.kind === 'review', 60_000, 'the job taken during the wait to run');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^mr_reviewer_gitlab_up 1$/m);
      expect(await (await fetch(`${url}/`, { headers: { authorization: `Bearer ${ADMIN}` } })).text()).not.toContain('id="notice"');
    } finally {
      await bot.kill9();
      await fwd.close();
    }
  });

  it('token rejected: stops with a non-zero exit and the hint doctor gives', async () => {
    const bot = spawn({ GITLAB_TOKEN: 'glpat-revoked-0000000000' });
    const exit = await bot.exited;
    expect(exit.code).toBe(1);
    const fatal = bot.logs.find((l) => l.level === 'fatal');
    const hint = tokenRejected(401);
    expect(fatal?.msg).toContain(hint.detail);
    expect(fatal?.fix).toBe(hint.fix);
    expect(JSON.stringify(bot.logs)).not.toContain('glpat-revoked-0000000000');
  });

  it('a second serve on the same DATA_DIR refuses with a clear message; a stale lock is taken over', async () => {
    const dir = dataDir();
    const first = spawn({}, { dataDir: dir });
    await first.waitForLog((l) => l.msg === 'bot identity known', 60_000, 'the first bot to be ready');
    const second = spawn({}, { dataDir: dir });
    const exit = await second.exited;
    expect(exit.code).toBe(1);
    expect(second.noise.join('\n')).toContain(`another mr-reviewer (pid ${first.pid}) is using DATA_DIR ${dir}`);
    expect(second.logs.some((l) => l.msg === 'listening')).toBe(false);

    // kill -9 leaves the lock behind; the next start takes it over
    await first.kill9();
    expect(fs.readFileSync(path.join(dir, 'mr-reviewer.pid'), 'utf8').trim()).toBe(String(first.pid));
    const third = spawn({}, { dataDir: dir });
    await third.waitForLog((l) => l.msg === 'bot identity known', 60_000, 'the restarted bot to be ready');
    expect(fs.readFileSync(path.join(dir, 'mr-reviewer.pid'), 'utf8').trim()).toBe(String(third.pid));
  });

  it('with REDIS_URL two processes share a DATA_DIR (state is in Redis)', async () => {
    const dir = dataDir();
    const env = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: `startup-${process.pid}-${Date.now()}` };
    const a = spawn(env, { dataDir: dir });
    const b = spawn(env, { dataDir: dir });
    await a.waitForLog((l) => l.msg === 'bot identity known', 60_000, 'replica a to be ready');
    await b.waitForLog((l) => l.msg === 'bot identity known', 60_000, 'replica b to be ready');
    expect((await fetch(`${await urlOf(a)}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${await urlOf(b)}/readyz`)).text()).toContain('ok   redis: PING answered');
  });

  it('SIGTERM to `npm start` reaches the bot: it drains and is gone within the shutdown deadline', async () => {
    const npm = spawn({}, { npmStart: true });
    const listening = await npm.waitForLog((l) => l.msg === 'listening', 60_000, 'the bot under npm to listen');
    await npm.waitForLog((l) => l.msg === 'bot identity known', 60_000, 'the bot under npm to be ready');
    const botPid = listening.pid as number;
    expect(botPid).not.toBe(npm.pid); // npm is the parent, as an operator's `npm start` is
    await npm.term();
    await waitFor(() => !running(botPid), SHUTDOWN_DEADLINE_MS + 15_000, `bot pid ${botPid} to exit after SIGTERM to npm`);
    await waitFor(() => npm.logs.some((l) => l.msg === 'stopped'), 10_000, "the bot's last log line"); // it drained, not killed
  });
});
