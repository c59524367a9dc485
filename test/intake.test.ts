// Issue 2 intake rules: secret first, size limit, shape, irrelevant events, fast answers; settings checked at start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { makeRedactor } from '../src/redact.js';
import { sampleMr, SECRET, startHarness, type Harness } from './support/harness.js';

describe('webhook intake', () => {
  let h: Harness;
  let project: Awaited<ReturnType<typeof sampleMr>>['project'];
  let iid: number;
  beforeAll(async () => {
    // no model calls here: a flow table that does nothing keeps the queue from running reviews
    h = await startHarness({}, { flows: { review: async () => undefined, update: async () => undefined, reply: async () => undefined } });
    ({ project, mr: { iid } } = await sampleMr(h));
  });
  afterAll(async () => h?.close());

  const post = (body: string, headers: Record<string, string>) => fetch(`${h.url}/webhooks/gitlab`, { method: 'POST', headers, body });
  const hdrs = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/json', 'x-gitlab-event': 'Merge Request Hook', 'x-gitlab-token': SECRET, ...extra });

  it('rejects a wrong or missing token with 401 before reading the body, and queues nothing', async () => {
    const payload = JSON.stringify(h.gitlab.mrHook(project, iid, 'open'));
    expect((await post(payload, hdrs({ 'x-gitlab-token': 'wrong-secret-123' }))).status).toBe(401);
    const { 'x-gitlab-token': _, ...noToken } = hdrs();
    expect((await post(payload, noToken)).status).toBe(401);
    expect((await h.bot.queue.stats()).pending + (await h.bot.queue.stats()).running).toBe(0);
  });

  it('checks the token before the size: an oversize body with a wrong token is 401', async () => {
    expect((await post('{"a":"' + 'x'.repeat(6 * 1024 * 1024) + '"}', hdrs({ 'x-gitlab-token': 'wrong-secret-123' }))).status).toBe(401);
  });

  it('answers 413 for bodies over the limit, 400 for non-JSON and unknown shapes, 200 for irrelevant events', async () => {
    expect((await post('{"a":"' + 'x'.repeat(6 * 1024 * 1024) + '"}', hdrs())).status).toBe(413);
    const notJson = await post('this is not json', hdrs());
    expect(notJson.status).toBe(400);
    expect(await notJson.text()).toBe('body is not JSON');
    const badShape = await post(JSON.stringify({ object_kind: 'merge_request', object_attributes: { iid: 'one' } }), hdrs());
    expect(badShape.status).toBe(400);
    expect((await badShape.text()).split('\n')).toHaveLength(1);
    expect((await post('{}', hdrs({ 'x-gitlab-event': 'Bogus Hook' }))).status).toBe(400);
    const push = await post(JSON.stringify({ object_kind: 'push' }), hdrs({ 'x-gitlab-event': 'Push Hook' }));
    expect(push.status).toBe(200);
    expect(await push.text()).toMatch(/^ignored/);
    for (const action of ['approved', 'close', 'merge'] as const) {
      const r = await post(JSON.stringify(h.gitlab.mrHook(project, iid, action)), hdrs());
      expect(r.status).toBe(200);
      expect(await r.text()).toMatch(/^ignored/);
    }
  });

  it('queues a real MR event and answers at once; /healthz is 200', async () => {
    const r = await post(JSON.stringify(h.gitlab.mrHook(project, iid, 'open')), hdrs());
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/^queued /);
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });
});

describe('settings', () => {
  it('reports every problem on its own line', () => {
    try {
      loadConfig({ GITLAB_URL: 'not a url', GITLAB_WEBHOOK_SECRET: 'short', PORT: 'http' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems;
      expect(problems).toEqual(expect.arrayContaining([
        expect.stringMatching(/^config: GITLAB_URL is invalid/),
        'config: GITLAB_TOKEN is required',
        expect.stringMatching(/^config: GITLAB_WEBHOOK_SECRET is invalid/),
        expect.stringMatching(/^config: PORT is invalid/),
      ]));
    }
  });

  it('applies defaults', () => {
    const c = loadConfig({ GITLAB_URL: 'https://gitlab.example.com/', GITLAB_TOKEN: 't0ken', GITLAB_WEBHOOK_SECRET: 'secret-123' });
    expect(c.gitlabApiUrl).toBe('https://gitlab.example.com/api/v4');
    expect(c.PORT).toBe(8080);
    expect(c.dataDir).toMatch(/\/data$/);
    expect(c.MAX_CONCURRENT_SESSIONS).toBeGreaterThanOrEqual(1);
  });
});

describe('logs', () => {
  it('replace every configured secret with [redacted], even inside messages and fields', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(c.toString()), cb()) });
    const log = createLogger({ level: 'info', redact: makeRedactor(['glpat-SECRET-1234', 'sk-ant-KEY-5678']), destination: sink });
    log.info({ url: 'https://oauth2:glpat-SECRET-1234@gitlab.example.com' }, 'fetch failed with sk-ant-KEY-5678');
    expect(lines.join('')).not.toMatch(/glpat-SECRET-1234|sk-ant-KEY-5678/);
    expect(lines.join('').match(/\[redacted\]/g)).toHaveLength(2);
  });
});
