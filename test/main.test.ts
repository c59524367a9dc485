// The composition root: startBot resolves once the bot knows itself, with everything wired; a start-up that cannot
// finish stops what it started.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { FlowTable } from '../src/flows/dispatch.js';
import { StartupError } from '../src/gitlab/identity.js';
import { createLogger } from '../src/logger.js';
import { startBot } from '../src/main.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';
import { BOT, botEnv, startHarness, TOKEN, waitFor, type Harness } from '../standins/harness.js';
import { closedPort } from './support/ports.js';

describe('startBot', () => {
  let h: Harness;
  const ran: string[] = [];
  const record = async (_d: unknown, ev: { kind: string }) => void ran.push(ev.kind);
  const flows: FlowTable = { review: record, update: record, reply: record };

  beforeAll(async () => {
    h = await startHarness({}, { flows });
  });
  afterAll(() => h?.close());

  it("resolves with the flows' deps complete: the bot's identity, and an enqueue into the bot's own queue", async () => {
    expect(h.bot.deps.bot).toEqual(BOT);
    const project = await h.gitlab.createProject('acme/main-test', { 'README.md': '# x\n' });
    const event = { kind: 'review', reason: 'command', project: { id: project.id, path: project.path, webUrl: project.webUrl }, iid: 1, headSha: 'a'.repeat(40) };
    const first = await h.bot.deps.enqueue({ kind: 'review', orderKey: 'mr:1:1', dedupeKeys: ['cmd:main-test'], data: event });
    expect(first.duplicate).toBe(false);
    expect((await h.bot.queue.enqueue({ kind: 'review', orderKey: 'mr:1:1', dedupeKeys: ['cmd:main-test'], data: event })).duplicate).toBe(true);
    await waitFor(() => ran.includes('review'), 30_000, 'the queued job to reach its flow');
  });
});

describe('startBot when start-up cannot finish', () => {
  let gitlab: GitlabStandin;
  const dirs: string[] = [];
  beforeAll(async () => {
    gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  });
  afterAll(async () => {
    await gitlab?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('a rejected token rejects with the fix, and leaves nothing listening', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-main-'));
    dirs.push(dataDir);
    const port = await closedPort();
    const config = loadConfig({ ...botEnv(gitlab.url, dataDir), GITLAB_TOKEN: 'glpat-WRONG-token-000000', PORT: String(port), LOG_LEVEL: 'silent', PATH: process.env.PATH ?? '' });
    const log = createLogger({ level: 'silent', redact: (s) => s, destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const started = startBot(config, { logger: log });
    await expect(started).rejects.toBeInstanceOf(StartupError);
    await expect(started).rejects.toThrow(/GITLAB_TOKEN is wrong.*; fix: create a new access token/);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
