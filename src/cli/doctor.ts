// `mr-reviewer doctor`: is everything the bot needs in place? A checklist, with the fix for each failure.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { execa } from 'execa';
import { claudeBin, cliEnv } from '../claude/options.js';
import { cliDirs } from '../claude/paths.js';
import type { Config } from '../config.js';
import { GitLabClient } from '../gitlab/client.js';
import { tokenRejected, UNREACHABLE_FIX } from '../gitlab/hints.js';
import { behindProxy, GitLabError } from '../gitlab/requester.js';
import { makeRedactor } from '../redact.js';
import { probeWritable } from '../server/readiness.js';
import { signPayload } from '../server/webhook-auth.js';
import { readSettings } from './config.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  webhookUrl?: string;
  /** cheapest model for the one-token key check when CLAUDE_MODEL is unset */
  probeModel?: string;
}

const TIMEOUT_MS = 15_000;
const pass = (name: string, detail: string): Check => ({ name, ok: true, detail });
const fail = (name: string, detail: string, fix: string): Check => ({ name, ok: false, detail, fix });

export async function runChecks(config: Config, o: DoctorOptions = {}): Promise<Check[]> {
  const checks: Check[] = [pass('settings', `loaded; GitLab at ${config.GITLAB_URL}`)];
  const gitlab = new GitLabClient({ url: config.GITLAB_URL, token: config.GITLAB_TOKEN, attempts: 1, timeoutMs: TIMEOUT_MS });

  const user = await checkUser(gitlab, config);
  checks.push(user);
  if (user.ok) checks.push(await checkScopes(gitlab));
  checks.push(await checkGit());
  checks.push(await checkClaude(config));
  checks.push(await checkModel(config, o.probeModel ?? 'claude-haiku-4-5'));
  checks.push(checkDataDir(config));
  if (o.webhookUrl) checks.push(await checkWebhook(o.webhookUrl, config));
  return checks;
}

async function checkUser(gitlab: GitLabClient, config: Config): Promise<Check> {
  const name = 'GitLab token';
  try {
    const u = await gitlab.currentUser();
    return pass(name, `signed in as @${u.username} (id ${u.id})`);
  } catch (e) {
    if (e instanceof GitLabError && (e.status === 401 || e.status === 403)) {
      const hint = tokenRejected(e.status);
      return fail(name, hint.detail, hint.fix);
    }
    if (e instanceof GitLabError && e.status === 404) {
      return fail(name, `GET ${config.GITLAB_URL}/api/v4/user answered 404`, 'set GITLAB_URL to the root of your GitLab (e.g. https://gitlab.example.com), without /api/v4');
    }
    return fail(name, `cannot reach GitLab at ${config.GITLAB_URL}: ${(e as Error).message}`, UNREACHABLE_FIX);
  }
}

async function checkScopes(gitlab: GitLabClient): Promise<Check> {
  const name = 'token scopes';
  try {
    const t = (await gitlab.api.PersonalAccessTokens.show()) as { scopes?: string[]; expires_at?: string | null };
    const scopes = t.scopes ?? [];
    if (!scopes.includes('api')) {
      return fail(name, `the token has [${scopes.join(', ')}]; the bot posts notes and reads repositories, which needs "api"`,
        'create a token with the "api" scope (read_api cannot comment) and set GITLAB_TOKEN');
    }
    return pass(name, `[${scopes.join(', ')}]${t.expires_at ? `, expires ${t.expires_at}` : ''}`);
  } catch (e) {
    // Older GitLab (< 16.0) or a token type without this endpoint: the user check above already passed.
    if (e instanceof GitLabError && e.status === 404) return pass(name, 'not reported by this GitLab (GET /personal_access_tokens/self is 404); make sure the token has "api"');
    return fail(name, `GET /personal_access_tokens/self failed: ${(e as Error).message}`, 'make sure the token has the "api" scope');
  }
}

async function checkGit(): Promise<Check> {
  const r = await execa('git', ['--version'], { reject: false, timeout: TIMEOUT_MS });
  return r.exitCode === 0 ? pass('git', String(r.stdout).trim()) : fail('git', 'git is not installed or not on PATH', 'install git (apt-get install git)');
}

/** The environment `serve` gives the CLI (same DATA_DIR layout), without retries: a check answers at once. */
const checkEnv = (config: Config) => cliEnv(config, cliDirs(config.dataDir), 0);

async function checkClaude(config: Config): Promise<Check> {
  const bin = claudeBin(config);
  const r = await execa(bin, ['--version'], { reject: false, timeout: 30_000, env: checkEnv(config), extendEnv: false });
  if (r.exitCode === 0) return pass('claude CLI', `${String(r.stdout).trim()} (${bin})`);
  const why = String(r.stderr || r.stdout || r.message).trim().split('\n')[0];
  return fail('claude CLI', `${bin} --version failed: ${why}`, 'run npm ci (the CLI is the @anthropic-ai/claude-code dependency) or set CLAUDE_BIN to a working claude binary');
}

/** A one-token Messages call with the configured key (the OAuth token goes through the CLI, which knows its headers). */
async function checkModel(config: Config, probeModel: string): Promise<Check> {
  const name = 'model access';
  // Through a proxy only the CLI gets out (Node's fetch ignores HTTPS_PROXY), so probe with what the bot uses.
  const proxied = behindProxy();
  if ((config.CLAUDE_CODE_OAUTH_TOKEN && !config.ANTHROPIC_API_KEY) || proxied) return checkModelViaCli(config);
  if (!config.ANTHROPIC_API_KEY && !config.ANTHROPIC_BASE_URL) {
    return fail(name, 'no ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_BASE_URL is set', 'set ANTHROPIC_API_KEY (console.anthropic.com → API keys)');
  }
  const base = config.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com';
  const model = config.CLAUDE_MODEL ?? probeModel;
  try {
    const r = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...(config.ANTHROPIC_API_KEY ? { 'x-api-key': config.ANTHROPIC_API_KEY } : {}) },
      body: JSON.stringify({ model, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (r.ok) return pass(name, `${base} accepted a one-token call to ${model}`);
    const body = (await r.text()).slice(0, 200);
    if (r.status === 401 || r.status === 403) return fail(name, `${base} answered ${r.status}: the key is rejected`, 'set ANTHROPIC_API_KEY to a valid key (console.anthropic.com → API keys)');
    if (r.status === 404) return fail(name, `${base} answered 404 for model ${model}: ${body}`, 'set CLAUDE_MODEL to a model your key can use, or fix ANTHROPIC_BASE_URL');
    if (r.status === 429 || r.status >= 500) return fail(name, `${base} answered ${r.status} (rate limit or overload): ${body}`, 'the key works but the API is busy; try again, or check the plan\'s limits');
    return fail(name, `${base} answered ${r.status}: ${body}`, 'check ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL and CLAUDE_MODEL');
  } catch (e) {
    return fail(name, `cannot reach ${base}: ${(e as Error).message}`, 'check network access to the API; behind a proxy set HTTPS_PROXY');
  }
}

const CLI_MODEL_FIX = 'check ANTHROPIC_API_KEY, or renew CLAUDE_CODE_OAUTH_TOKEN (claude setup-token); behind a proxy check HTTPS_PROXY';

async function checkModelViaCli(config: Config): Promise<Check> {
  const bin = claudeBin(config);
  fs.mkdirSync(config.dataDir, { recursive: true }); // its cwd; the DATA_DIR check comes later
  const r = await execa(bin, ['-p', '--output-format', 'json', '--max-turns', '1', 'Reply with OK.'], { reject: false, stdin: 'ignore', timeout: 120_000, env: checkEnv(config), extendEnv: false, cwd: config.dataDir });
  try {
    const out = JSON.parse(String(r.stdout)) as { is_error?: boolean; result?: string };
    if (!out.is_error) return pass('model access', `the CLI answered with ${config.ANTHROPIC_API_KEY ? 'ANTHROPIC_API_KEY' : 'CLAUDE_CODE_OAUTH_TOKEN'}`);
    return fail('model access', `the CLI failed: ${out.result ?? ''}`.slice(0, 300), CLI_MODEL_FIX);
  } catch {
    return fail('model access', `the CLI printed no result: ${String(r.stderr || r.message).split('\n')[0]}`, CLI_MODEL_FIX);
  }
}

function checkDataDir(config: Config): Check {
  const name = 'DATA_DIR';
  try {
    probeWritable(config.dataDir);
    return pass(name, `${config.dataDir} is writable`);
  } catch (e) {
    return fail(name, `${config.dataDir} is not writable: ${(e as Error).message}`, `create it and give the bot's user write access (chown), or point DATA_DIR to a writable volume`);
  }
}

/** POSTs an event the bot accepts and ignores, with the secret (or signed): proves the URL reaches this bot and the secrets match. */
async function checkWebhook(url: string, config: Pick<Config, 'GITLAB_WEBHOOK_SECRET' | 'GITLAB_WEBHOOK_SIGNING_KEY'>): Promise<Check> {
  const name = 'webhook URL';
  try {
    const body = '{}';
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', ...credentialHeaders(config, body) },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = (await r.text()).slice(0, 120);
    if (r.ok) return pass(name, `${url} reached the bot (HTTP ${r.status})`);
    if (r.status === 401) return fail(name, `${url} answered 401: the bot there has a different GITLAB_WEBHOOK_SECRET`, 'use the same GITLAB_WEBHOOK_SECRET here, in the bot, and in the GitLab webhook\'s "Secret token"');
    if (r.status === 503) return fail(name, `${url} answered 503: the bot is starting or cannot reach GitLab`, 'wait a moment; if it stays, GET /readyz on the bot says which dependency is missing (and its logs say why: "GET /user failed")');
    return fail(name, `${url} answered ${r.status}: ${text}`, 'use the bot\'s public address ending in /webhooks/gitlab, and check the proxy in front of it');
  } catch (e) {
    return fail(name, `cannot reach ${url}: ${(e as Error).message}`, 'make the bot reachable from GitLab (public DNS, TLS, firewall) and use the address ending in /webhooks/gitlab');
  }
}

/** X-Gitlab-Token when a secret is set, else a Standard Webhooks signature with the signing key. */
function credentialHeaders(c: Pick<Config, 'GITLAB_WEBHOOK_SECRET' | 'GITLAB_WEBHOOK_SIGNING_KEY'>, body: string): Record<string, string> {
  if (c.GITLAB_WEBHOOK_SECRET) return { 'x-gitlab-token': c.GITLAB_WEBHOOK_SECRET };
  const id = `doctor-${randomUUID()}`;
  const ts = String(Math.floor(Date.now() / 1000));
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${signPayload(c.GITLAB_WEBHOOK_SIGNING_KEY!, id, ts, body)}` };
}

export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.flatMap((c) => {
    const head = `${c.ok ? '✓' : '✗'} ${c.name.padEnd(width)}  ${c.detail}`;
    return c.ok || !c.fix ? [head] : [head, `  ${' '.repeat(width)}  fix: ${c.fix}`];
  });
  const failed = checks.filter((c) => !c.ok).length;
  lines.push('', failed ? `${failed} check${failed > 1 ? 's' : ''} failed.` : 'All checks passed.');
  return lines.join('\n');
}

export async function doctorCommand(o: DoctorOptions): Promise<number> {
  // The same settings `serve` would start with (readSettings), shown as failed checks instead of ending the process.
  const settings = readSettings();
  if ('problems' in settings) {
    console.log(formatChecks(settings.problems.map((p) => fail('settings', p.replace(/^config: /, ''), 'set it in the environment (see docs/configuration.md)'))));
    return 1;
  }
  const config = settings.config;
  const checks = await runChecks(config, o);
  console.log(makeRedactor(config.secrets)(formatChecks(checks)));
  return checks.every((c) => c.ok) ? 0 : 1;
}
