// Secret first, GitLab's size limit, an empty 2xx for every authenticated delivery
// (GitLab never redelivers and disables a hook after 4 non-2xx), dedupe; settings checked at start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { makeRedactor } from '../src/redact.js';
import { ALICE, sampleMr, SECRET, startHarness, type Harness } from '../standins/harness.js';

describe('webhook intake', () => {
  let h: Harness;
  let project: Awaited<ReturnType<typeof sampleMr>>['project'];
  let iid: number;
  let enqueued = 0;
  beforeAll(async () => {
    // no model calls here: a flow table that does nothing keeps the queue from running reviews
    h = await startHarness({}, { flows: { review: async () => undefined, update: async () => undefined, reply: async () => undefined } });
    // Observe enqueue on the real queue instance the app holds (not a mock: the call still goes through).
    const real = h.bot.queue.enqueue.bind(h.bot.queue);
    h.bot.queue.enqueue = (spec) => {
      enqueued++;
      return real(spec);
    };
    ({ project, mr: { iid } } = await sampleMr(h));
  });
  afterAll(async () => h?.close());

  const post = (body: string, headers: Record<string, string>) => fetch(`${h.url}/webhooks/gitlab`, { method: 'POST', headers, body });
  /** no Idempotency-Key: as GitLab before 17.4 */
  const hdrs = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/json', 'x-gitlab-event': 'Merge Request Hook', 'x-gitlab-token': SECRET, ...extra });
  const lines = (from: number) => h.logs.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>);
  const MB = 1024 * 1024;

  it('rejects a wrong or missing token with 401 before reading the body, and queues nothing', async () => {
    const payload = JSON.stringify(h.gitlab.mrHook(project, iid, 'open'));
    expect((await post(payload, hdrs({ 'x-gitlab-token': 'wrong-secret-123' }))).status).toBe(401);
    const { 'x-gitlab-token': _, ...noToken } = hdrs();
    expect((await post(payload, noToken)).status).toBe(401);
    expect((await h.bot.queue.stats()).pending + (await h.bot.queue.stats()).running).toBe(0);
    expect(enqueued).toBe(0);
  });

  it('checks the token before the size: a body over 25 MB with a wrong token is 401; with the right one 413 (GitLab never sends one)', async () => {
    const huge = '{"a":"' + 'x'.repeat(26 * MB) + '"}';
    expect((await post(huge, hdrs({ 'x-gitlab-token': 'wrong-secret-123' }))).status).toBe(401);
    expect((await post(huge, hdrs())).status).toBe(413);
  });

  it('answers 400 only for a body that is not JSON at all', async () => {
    const notJson = await post('this is not json', hdrs());
    expect(notJson.status).toBe(400);
    expect(await notJson.text()).toBe('');
  });

  it('acknowledges with an empty 200, logs and drops: unknown events, GitLab "Test" payloads, malformed JSON payloads, deep nesting, unhandled events', async () => {
    const from = h.logs.length;
    const mr = h.gitlab.mrHook(project, iid, 'open');
    const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const cases: [string, string, Record<string, string>][] = [
      ['unknown event', JSON.stringify(mr), hdrs({ 'x-gitlab-event': 'Bogus Hook' })],
      ['no event header', JSON.stringify(mr), (({ 'x-gitlab-event': _, ...rest }) => rest)(hdrs())],
      ['"Test" button: MR hook without action', JSON.stringify(h.gitlab.mrHook(project, iid, null)), hdrs()],
      ['wrong types', JSON.stringify({ object_kind: 'merge_request', object_attributes: { iid: 'one' } }), hdrs()],
      ['JSON that is not an object', '[1,2,3]', hdrs({ 'x-gitlab-event': 'Note Hook' })],
      ['deeply nested object_attributes', JSON.stringify({ ...mr, object_attributes: '__D__' }).replace('"__D__"', deep(50_000)), hdrs()],
      ['deeply nested body', deep(100_000), hdrs()],
      ['push', JSON.stringify({ object_kind: 'push' }), hdrs({ 'x-gitlab-event': 'Push Hook' })],
      ...(['approved', 'close', 'merge'] as const).map((a): [string, string, Record<string, string>] => [a, JSON.stringify(h.gitlab.mrHook(project, iid, a)), hdrs()]),
    ];
    for (const [what, body, headers] of cases) {
      const r = await post(body, headers);
      expect(r.status, what).toBe(200);
      expect(await r.text(), what).toBe('');
    }
    expect(enqueued).toBe(0);
    const ignored = lines(from).filter((l) => l.msg === 'webhook ignored');
    expect(ignored.map((l) => l.outcome)).toEqual([
      'unknown_event', 'unknown_event', 'bad_payload', 'bad_payload', 'bad_payload', 'bad_payload', 'bad_payload', 'ignored', 'ignored', 'ignored', 'ignored',
    ]);
    expect(ignored[2]!.reason).toMatch(/object_attributes\.action/);
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });

  it('takes a real event with a huge unread field (20 MB description), and answers at once with an empty 200; /healthz is 200', async () => {
    const mr = h.gitlab.mrHook(project, iid, 'open');
    mr.object_attributes.description = 'x'.repeat(20 * MB);
    const r = await post(JSON.stringify(mr), hdrs());
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('');
    expect(enqueued).toBe(1);
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });

  it('deduplicates on Idempotency-Key, else on the object and its update time; X-Gitlab-Event-UUID is not a delivery id', async () => {
    await h.bot.queue.drained();
    const from = h.logs.length;
    const a = h.gitlab.addNote(project, iid, ALICE.id, 'first question', { thread: true });
    const b = h.gitlab.addNote(project, iid, ALICE.id, 'second question', { thread: true });
    const note = (n: typeof a) => JSON.stringify(h.gitlab.noteHook(project, iid, n.note));
    const noteHdrs = (extra: Record<string, string>) => hdrs({ 'x-gitlab-event': 'Note Hook', ...extra });
    // two events fired together share X-Gitlab-Event-UUID: both are taken
    for (const [n, key] of [[a, 'idem-a'], [b, 'idem-b']] as const) expect((await post(note(n), noteHdrs({ 'x-gitlab-event-uuid': 'shared-uuid', 'idempotency-key': key }))).status).toBe(200);
    // "Resend request" keeps the Idempotency-Key
    expect((await post(note(a), noteHdrs({ 'idempotency-key': 'idem-a' }))).status).toBe(200);
    // GitLab before 17.4: no key; the same note at the same update time is the same delivery
    const c = h.gitlab.addNote(project, iid, ALICE.id, 'third question', { thread: true });
    expect((await post(note(c), noteHdrs({}))).status).toBe(200);
    expect((await post(note(c), noteHdrs({}))).status).toBe(200);
    const l = lines(from);
    expect(l.filter((x) => x.msg === 'job queued')).toHaveLength(3);
    expect(l.filter((x) => x.msg === 'duplicate delivery').map((x) => String(x.key))).toEqual([
      'delivery:idem:idem-a',
      expect.stringMatching(new RegExp(`^delivery:obj:note:${c.note.id}@`)),
    ]);
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

  it('needs the webhook secret or the signing key; either one alone is enough', () => {
    const base = { GITLAB_URL: 'https://gitlab.example.com', GITLAB_TOKEN: 't0ken' };
    expect(() => loadConfig(base)).toThrow('config: GITLAB_WEBHOOK_SECRET is required (or GITLAB_WEBHOOK_SIGNING_KEY)');
    expect(loadConfig({ ...base, GITLAB_WEBHOOK_SIGNING_KEY: 'whsec_abc' }).GITLAB_WEBHOOK_SECRET).toBeUndefined();
    expect(loadConfig({ ...base, GITLAB_WEBHOOK_SECRET: 'secret-123' }).GITLAB_WEBHOOK_SIGNING_KEY).toBeUndefined();
  });

  it('applies defaults', () => {
    const c = loadConfig({ GITLAB_URL: 'https://gitlab.example.com/', GITLAB_TOKEN: 't0ken', GITLAB_WEBHOOK_SECRET: 'secret-123' });
    expect(c.gitlabApiUrl).toBe('https://gitlab.example.com/api/v4');
    expect(c.PORT).toBe(8080);
    expect(c.dataDir).toMatch(/\/data$/);
    expect(c.MAX_CONCURRENT_SESSIONS).toBeGreaterThanOrEqual(1);
    expect(c.MAX_BODY_BYTES).toBe(25 * 1024 * 1024); // GitLab's own maximum payload
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
