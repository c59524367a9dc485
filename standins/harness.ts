// One bot wired to the two stand-ins, in-process: the real CLI, real git, real SQLite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startBot, type Bot, type StartOptions } from '../src/main.js';
import { makeRedactor } from '../src/redact.js';
import type { Finding, ReviewOutput } from '../src/review/findings.js';
import { startGitlabStandin, type GitlabStandin } from './gitlab.js';
import { startModelStandin, type ModelStandin } from './model.js';

export const TOKEN = 'glpat-TESTTOKEN-abcdef123456';
export const SECRET = 'hook-secret-0123456789';
export const API_KEY = 'sk-ant-test-KEY-9876543210';
export const BOT = { id: 990, username: 'review-bot' };
export const ALICE = { id: 11, username: 'alice', name: 'Alice' };
export const BOB = { id: 12, username: 'bob', name: 'Bob' };

export interface Harness {
  model: ModelStandin;
  gitlab: GitlabStandin;
  bot: Bot;
  config: Config;
  dataDir: string;
  logs: string[];
  url: string;
  send(payload: object, opts?: { token?: string; idempotencyKey?: string; headers?: Record<string, string> }): Promise<Response>;
  close(): Promise<void>;
}

/** The settings every test bot shares: the GitLab stand-in, loopback on a free port, its own DATA_DIR. */
export function botEnv(gitlabUrl: string, dataDir: string): Record<string, string> {
  return {
    GITLAB_URL: gitlabUrl,
    GITLAB_TOKEN: TOKEN,
    GITLAB_WEBHOOK_SECRET: SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    ANTHROPIC_API_KEY: API_KEY,
    // Tests script the model turn by turn; the verification pass has its own test (verify.e2e).
    VERIFY_FINDINGS: 'false',
  };
}

export async function startHarness(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<Harness> {
  const model = await startModelStandin();
  const gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  gitlab.addUser(ALICE);
  gitlab.addUser(BOB);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-data-'));
  const config = loadConfig({
    ...botEnv(gitlab.url, dataDir),
    ANTHROPIC_BASE_URL: model.url,
    CLAUDE_MAX_RETRIES: '0',
    RETRY_BASE_MS: '50',
    MAX_CONCURRENT_SESSIONS: '4',
    LOG_LEVEL: 'debug',
    PATH: process.env.PATH ?? '',
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: config.LOG_LEVEL, redact: makeRedactor(config.secrets), destination: sink });
  const bot = await startBot(config, { logger, ...opts });
  const url = `http://127.0.0.1:${bot.port}`;
  return {
    model,
    gitlab,
    bot,
    config,
    dataDir,
    logs,
    url,
    send: (payload, o) => sendHook(url, gitlab, payload, o),
    async close() {
      await bot.stop();
      await model.close();
      await gitlab.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface SendOptions {
  token?: string;
  idempotencyKey?: string;
  headers?: Record<string, string>;
}

/** POST a payload to a bot's webhook with the headers GitLab would send. */
export function sendHook(botUrl: string, gitlab: GitlabStandin, payload: object, o: SendOptions = {}): Promise<Response> {
  return fetch(`${botUrl}/webhooks/gitlab`, {
    method: 'POST',
    headers: { ...gitlab.hookHeaders(payload, { token: o.token ?? SECRET, idempotencyKey: o.idempotencyKey }), ...o.headers },
    body: JSON.stringify(payload),
  });
}

/** A finding as the model would return it; its evidence quotes its anchor line (checked against the checkout). */
export function finding(f: Partial<Finding> & Pick<Finding, 'file' | 'start_line' | 'anchor_text'>): Finding {
  return {
    evidence: f.side === 'old' ? [] : [`${f.file}:${f.start_line}: ${f.anchor_text.trim()}`],
    side: 'new',
    end_line: f.start_line,
    severity: 'major',
    category: 'bug',
    confidence: 95,
    pre_existing: false,
    title: 'A bug',
    body: 'This breaks when the input is empty.',
    suggestion: null,
    ...f,
  };
}

export function reviewOutput(findings: Finding[], summary = 'Adds a helper.'): ReviewOutput {
  return { summary, risk: 'medium', findings };
}

export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 120_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A small project with one MR that adds a file with a bug. */
export async function sampleMr(h: Harness, opts: { path?: string; files?: Record<string, string>; change?: Record<string, string>; draft?: boolean } = {}) {
  const project = await h.gitlab.createProject(opts.path ?? 'acme/app', opts.files ?? {
    'README.md': '# app\n',
    'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n',
  });
  await h.gitlab.commit(project, 'feature', opts.change ?? {
    'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  return a / b;\n}\n',
    'src/list.js': 'export function first(xs) {\n  return xs[0].value;\n}\n',
  }, 'add div and first');
  const mr = await h.gitlab.createMr(project, { sourceBranch: 'feature', title: 'Add helpers', description: 'Adds div and first.', draft: opts.draft, authorId: ALICE.id });
  return { project, mr };
}
