// Issue 5, the webhook edge: the token, GitLab's HMAC signing (Standard Webhooks), the project allowlist,
// the per-project rate limit and the body limit. The flows are recorders: nothing here needs the CLI.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowTable } from '../src/flows/handle.js';
import { ProjectRateLimiter } from '../src/server/rate-limit.js';
import { ALICE, SECRET, startHarness, type Harness } from './support/harness.js';
import type { StandinProject } from './support/gitlab-standin.js';

const KEY_BYTES = randomBytes(32);
const SIGNING_KEY = `whsec_${KEY_BYTES.toString('base64')}`;

function sign(body: string, o: { id?: string; timestamp?: number; key?: Buffer } = {}) {
  const id = o.id ?? `msg_${randomUUID()}`;
  const ts = String(o.timestamp ?? Math.floor(Date.now() / 1000));
  const sig = createHmac('sha256', o.key ?? KEY_BYTES).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };
}

describe('webhook authentication and admission', () => {
  let h: Harness;
  const handled: string[] = [];
  const record = async (_d: unknown, ev: { project: { path: string }; iid: number }) => {
    handled.push(`${ev.project.path}!${ev.iid}`);
  };
  const flows: FlowTable = { review: record, update: record, reply: record };

  beforeAll(async () => {
    h = await startHarness(
      {
        GITLAB_WEBHOOK_SIGNING_KEY: SIGNING_KEY,
        ALLOWED_PROJECTS: 'acme/signed, acme/signed-tokens, acme/forged, acme/noisy, acme/quiet, acme/big, 4242',
        PROJECT_RATE_LIMIT_PER_MIN: '3',
        MAX_BODY_BYTES: '65536',
      },
      { flows },
    );
  });
  afterAll(async () => h?.close());

  async function mrOpen(projectPath: string, opts: { id?: number; description?: string } = {}): Promise<{ project: StandinProject; body: string }> {
    const project = await h.gitlab.createProject(projectPath, { 'README.md': '# x\n' }, { id: opts.id });
    await h.gitlab.commit(project, 'feature', { 'a.js': 'export const a = 1;\n' });
    const mr = await h.gitlab.createMr(project, { sourceBranch: 'feature', title: 'A', description: opts.description, authorId: ALICE.id });
    return { project, body: JSON.stringify(h.gitlab.mrHook(project, mr.iid, 'open')) };
  }

  /** token null: no X-Gitlab-Token header at all */
  function post(body: string, headers: Record<string, string>, token: string | null = SECRET) {
    const base = h.gitlab.hookHeaders(JSON.parse(body), { token: token ?? undefined });
    return fetch(`${h.url}/webhooks/gitlab`, { method: 'POST', headers: { ...base, ...headers }, body });
  }

  async function settled(): Promise<void> {
    await h.bot.queue.drained();
  }

  it('rejects a wrong or missing token with 401 and queues nothing', async () => {
    const { body } = await mrOpen('acme/signed-tokens');
    for (const token of ['wrong-secret-value', '', null, `${SECRET}x`, SECRET.slice(0, -1)]) {
      const res = await post(body, sign(body), token);
      expect(res.status, `token ${String(token)}`).toBe(401);
    }
    await settled();
    expect(handled).toEqual([]);
    expect((await h.bot.queue.stats()).pending).toBe(0);
  });

  it('accepts a good HMAC signature (also when listed next to a rotated-out one)', async () => {
    const { project, body } = await mrOpen('acme/signed');
    expect((await post(body, sign(body))).status).toBe(200);
    const other = sign(body, { key: randomBytes(32) })['webhook-signature'];
    const good = sign(body, { id: 'rotation-1' });
    expect((await post(body, { ...good, 'webhook-signature': `${other} ${good['webhook-signature']}` })).status).toBe(200);
    await settled();
    expect(handled).toContain(`${project.path}!1`);
  });

  it('rejects a wrong HMAC, a tampered body, a stale or future timestamp and missing headers with 401', async () => {
    const { body } = await mrOpen('acme/forged');
    const now = Math.floor(Date.now() / 1000);
    const tampered = body.replace('"title":"A"', '"title":"B"');
    expect(tampered).not.toBe(body);
    const cases: [string, string, Record<string, string>][] = [
      ['wrong key', body, sign(body, { key: randomBytes(32) })],
      ['tampered body', tampered, sign(body)],
      ['stale timestamp', body, sign(body, { timestamp: now - 3600 })],
      ['future timestamp', body, sign(body, { timestamp: now + 3600 })],
      ['not v1', body, { ...sign(body), 'webhook-signature': sign(body)['webhook-signature'].replace('v1,', 'v2,') }],
      ['no headers', body, {}],
      ['no signature', body, (({ 'webhook-signature': _, ...rest }) => rest)(sign(body))],
      ['no timestamp', body, (({ 'webhook-timestamp': _, ...rest }) => rest)(sign(body))],
    ];
    for (const [what, sent, headers] of cases) {
      const res = await post(sent, headers);
      expect(res.status, what).toBe(401);
      expect(await res.text(), what).toMatch(/^invalid signature/);
    }
    await settled();
    expect(handled.filter((x) => x.startsWith('acme/forged'))).toEqual([]);
    // control: the same delivery, correctly signed, is accepted (so the 401s above were the signature's doing)
    expect((await post(body, sign(body))).status).toBe(200);
    await settled();
    expect(handled.filter((x) => x.startsWith('acme/forged'))).toHaveLength(1);
  });

  it('answers 403 for a project outside ALLOWED_PROJECTS; ids are accepted too', async () => {
    const denied = await mrOpen('intruder/app');
    const res = await post(denied.body, sign(denied.body));
    expect(res.status).toBe(403);
    const byId = await mrOpen('acme/by-id', { id: 4242 });
    expect((await post(byId.body, sign(byId.body))).status).toBe(200);
    await settled();
    expect(handled.some((x) => x.startsWith('intruder/'))).toBe(false);
    expect(handled).toContain('acme/by-id!1');
  });

  it('rate-limits a noisy project with 429 while another project is still accepted', async () => {
    const noisy = await mrOpen('acme/noisy');
    const quiet = await mrOpen('acme/quiet');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(noisy.body, sign(noisy.body))).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await post(noisy.body, sign(noisy.body));
    expect(limited.headers.get('retry-after')).toBe('60');
    expect((await post(quiet.body, sign(quiet.body))).status).toBe(200);
    await settled();
    expect(handled).toContain('acme/quiet!1');
  });

  it('answers 413 for a body over MAX_BODY_BYTES and queues nothing', async () => {
    const { body } = await mrOpen('acme/big', { description: 'x'.repeat(100_000) });
    expect(body.length).toBeGreaterThan(65_536);
    const res = await post(body, sign(body));
    expect(res.status).toBe(413);
    await settled();
    expect(handled.some((x) => x.startsWith('acme/big'))).toBe(false);
  });
});

describe('ProjectRateLimiter', () => {
  it('is a token bucket per key: bursts up to the rate, refills over time, keys are independent', () => {
    let now = 0;
    const l = new ProjectRateLimiter({ perMinute: 60, now: () => now });
    for (let i = 0; i < 60; i++) expect(l.admit('a')).toBe(true);
    expect(l.admit('a')).toBe(false);
    expect(l.admit('b')).toBe(true);
    now += 1_000; // one token per second
    expect(l.admit('a')).toBe(true);
    expect(l.admit('a')).toBe(false);
    now += 10 * 60_000; // never more than a full bucket
    for (let i = 0; i < 60; i++) expect(l.admit('a')).toBe(true);
    expect(l.admit('a')).toBe(false);
  });

  it('is off at 0 and forgets idle projects past maxKeys', () => {
    const off = new ProjectRateLimiter({ perMinute: 0 });
    for (let i = 0; i < 1000; i++) expect(off.admit('a')).toBe(true);
    let now = 0;
    const l = new ProjectRateLimiter({ perMinute: 2, now: () => now, maxKeys: 2 });
    expect(l.admit('a')).toBe(true);
    expect(l.admit('a')).toBe(true);
    expect(l.admit('a')).toBe(false);
    now += 60_000; // 'a' is full again: pruning it loses nothing
    l.admit('b');
    l.admit('c');
    expect((l as unknown as { buckets: Map<string, unknown> }).buckets.has('a')).toBe(false);
    expect(l.admit('b')).toBe(true);
    expect(l.admit('b')).toBe(false);
  });
});
