// The webhook edge: the token, GitLab's HMAC signing (Standard Webhooks) on its own or next to the
// token, the project allowlist, the per-project rate limit (delays, never refuses) and the body limit.
// The flows are recorders: nothing here needs the CLI.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowTable } from '../src/flows/dispatch.js';
import { checkCredentials } from '../src/server/webhook-auth.js';
import { ALICE, BOB, SECRET, startHarness, waitFor, type Harness } from '../standins/harness.js';
import type { StandinProject } from '../standins/gitlab.js';

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
  /** log lines (parsed) from the n-th on */
  const logsFrom = (n: number) => h.logs.slice(n).map((l) => JSON.parse(l) as Record<string, unknown>);
  const flows: FlowTable = { review: record, update: record, reply: record };

  beforeAll(async () => {
    h = await startHarness(
      {
        GITLAB_WEBHOOK_SIGNING_KEY: SIGNING_KEY,
        ALLOWED_PROJECTS: 'acme/signed, acme/signed-only, acme/signed-tokens, acme/forged, acme/noisy, acme/quiet, acme/big, 4242',
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

  it('rejects a wrong token with 401 even next to a good signature, and a delivery with neither credential; queues nothing', async () => {
    const { body } = await mrOpen('acme/signed-tokens');
    for (const token of ['wrong-secret-value', '', `${SECRET}x`, SECRET.slice(0, -1)]) {
      const res = await post(body, sign(body), token);
      expect(res.status, `token ${String(token)}`).toBe(401);
      expect(await res.text()).toBe('');
    }
    expect((await post(body, {}, null)).status).toBe(401);
    await settled();
    expect(handled).toEqual([]);
    expect((await h.bot.queue.stats()).pending).toBe(0);
  });

  it('a signing-token hook authenticates on its own, without X-Gitlab-Token', async () => {
    const { project, body } = await mrOpen('acme/signed-only');
    const res = await post(body, sign(body), null);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    await settled();
    expect(handled).toContain(`${project.path}!1`);
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

  it('rejects a wrong HMAC, a tampered body, a stale or future timestamp and partial headers with 401, even with the right token', async () => {
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
      ['no signature', body, (({ 'webhook-signature': _, ...rest }) => rest)(sign(body))],
      ['no timestamp', body, (({ 'webhook-timestamp': _, ...rest }) => rest)(sign(body))],
    ];
    const from = h.logs.length;
    for (const [what, sent, headers] of cases) {
      const res = await post(sent, headers);
      expect(res.status, what).toBe(401);
      expect(await res.text(), what).toBe('');
    }
    const rejections = logsFrom(from).filter((l) => String(l.msg).startsWith('webhook rejected'));
    const missing = 'missing webhook-id, webhook-timestamp or webhook-signature';
    expect(rejections.map((l) => l.reason)).toEqual([
      'signature mismatch', 'signature mismatch', 'stale webhook-timestamp', 'stale webhook-timestamp', 'signature mismatch', missing, missing,
    ]);
    await settled();
    expect(handled.filter((x) => x.startsWith('acme/forged'))).toEqual([]);
    // control: the same delivery, correctly signed, is accepted (so the 401s above were the signature's doing)
    expect((await post(body, sign(body))).status).toBe(200);
    await settled();
    expect(handled.filter((x) => x.startsWith('acme/forged'))).toHaveLength(1);
  });

  it('acknowledges (200) and ignores a project outside ALLOWED_PROJECTS; ids are accepted too', async () => {
    const denied = await mrOpen('intruder/app');
    const from = h.logs.length;
    const res = await post(denied.body, sign(denied.body));
    expect(res.status).toBe(200);
    expect(logsFrom(from).some((l) => l.msg === 'webhook ignored: project not in ALLOWED_PROJECTS' && l.project === 'intruder/app')).toBe(true);
    const byId = await mrOpen('acme/by-id', { id: 4242 });
    expect((await post(byId.body, sign(byId.body))).status).toBe(200);
    await settled();
    expect(handled.some((x) => x.startsWith('intruder/'))).toBe(false);
    expect(handled).toContain('acme/by-id!1');
  });

  it('paces a noisy project by delaying its jobs, never refusing a delivery; another project runs at once', async () => {
    const noisy = await mrOpen('acme/noisy');
    const quiet = await mrOpen('acme/quiet');
    await settled();
    const from = h.logs.length;
    // five distinct comments (a limit of 3 a minute): all acknowledged, two of them queued for later
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { note } = h.gitlab.addNote(noisy.project, 1, BOB.id, `question ${i}`);
      const body = JSON.stringify(h.gitlab.noteHook(noisy.project, 1, note));
      statuses.push((await post(body, sign(body))).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect((await post(quiet.body, sign(quiet.body))).status).toBe(200);
    const delayed = logsFrom(from).filter((l) => l.msg === 'job queued, delayed by the project rate limit');
    expect(delayed.map((l) => l.project)).toEqual(['acme/noisy', 'acme/noisy']);
    // the token bucket refills one job every 20 s: the 4th waits ~20 s, the 5th ~40 s
    expect(delayed[0]!.delayMs as number).toBeGreaterThan(15_000);
    expect(delayed[1]!.delayMs as number).toBeGreaterThan(delayed[0]!.delayMs as number);
    await waitFor(() => handled.includes('acme/quiet!1'), 30_000, 'the quiet project to run');
    await waitFor(async () => (await h.bot.queue.stats()).running === 0 && handled.filter((x) => x === 'acme/noisy!1').length === 3, 30_000, 'the three immediate jobs');
    expect((await h.bot.queue.stats()).pending).toBe(2);
  });

  it('answers 413 for a body over MAX_BODY_BYTES and queues nothing', async () => {
    const { body } = await mrOpen('acme/big', { description: 'x'.repeat(100_000) });
    expect(body.length).toBeGreaterThan(65_536);
    const res = await post(body, sign(body));
    expect(res.status).toBe(413);
    await waitFor(async () => (await h.bot.queue.stats()).running === 0, 30_000, 'idle');
    expect(handled.some((x) => x.startsWith('acme/big'))).toBe(false);
  });
});

describe('checkCredentials', () => {
  const cfg = { secret: 'sekret-123', signingKey: SIGNING_KEY };
  const from = (h: Record<string, string>) => (n: string) => h[n];
  it('takes the token or a signature, each alone; a wrong one of either is refused; the timestamp is checked before the body', () => {
    const sig = sign('{}');
    expect(checkCredentials(cfg, from({ 'x-gitlab-token': 'sekret-123' }))).toMatchObject({ ok: true, token: true, signature: false });
    expect(checkCredentials(cfg, from(sig))).toMatchObject({ ok: true, token: false });
    expect(checkCredentials(cfg, from({ ...sig, 'x-gitlab-token': 'nope' }))).toMatchObject({ ok: false, reason: 'wrong X-Gitlab-Token' });
    expect(checkCredentials(cfg, from({}))).toMatchObject({ ok: false, reason: 'missing X-Gitlab-Token or webhook-signature' });
    expect(checkCredentials(cfg, from(sign('{}', { timestamp: 1 })))).toMatchObject({ ok: false, reason: 'stale webhook-timestamp' });
    // a signing-key-only bot ignores a token it cannot check, and needs the signature
    expect(checkCredentials({ signingKey: SIGNING_KEY }, from({ 'x-gitlab-token': 'anything' }))).toMatchObject({ ok: false, reason: 'missing webhook-signature' });
    // a token-only bot ignores signature headers
    expect(checkCredentials({ secret: 'sekret-123' }, from({ ...sig, 'x-gitlab-token': 'sekret-123' }))).toMatchObject({ ok: true, signature: false });
  });
});
