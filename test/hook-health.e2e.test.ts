// GitLab never redelivers and disables a hook after 4 non-2xx answers in a row. The GitLab
// stand-in delivers through real hook records (set up by `setup-webhook`'s code) and counts failures like
// WebHookService; a realistic day of deliveries, including everything the bot does not want, must never earn a
// non-2xx or get the hook disabled. The flows are recorders (no CLI).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupWebhook } from '../src/cli/setup-webhook.js';
import type { FlowTable } from '../src/flows/dispatch.js';
import type { StandinProject } from '../standins/gitlab.js';
import { ALICE, BOB, BOT, SECRET, startHarness, waitFor, type Harness } from '../standins/harness.js';

describe('a realistic sequence of deliveries never gets the hook disabled', () => {
  let h: Harness;
  let app: StandinProject;
  let other: StandinProject;
  const handled: string[] = [];
  let holdFirst: (() => void) | undefined;
  let firstStarted = false;
  const record = async (_d: unknown, ev: { kind: string; project: { path: string }; iid: number }) => {
    if (!firstStarted) {
      firstStarted = true;
      // the first job runs until the test lets it go: it is the job the shutdown drains
      await new Promise<void>((r) => (holdFirst = r));
    }
    handled.push(`${ev.kind} ${ev.project.path}!${ev.iid}`);
  };
  const flows: FlowTable = { review: record, update: record, reply: record };

  beforeAll(async () => {
    h = await startHarness({ PROJECT_RATE_LIMIT_PER_MIN: '3', ALLOWED_PROJECTS: 'acme/app', SHUTDOWN_DEADLINE_MS: '60000' }, { flows });
    app = await h.gitlab.createProject('acme/app', { 'README.md': '# app\n', 'a.js': 'export const a = 1;\n' });
    other = await h.gitlab.createProject('acme/other', { 'README.md': '# other\n' });
    for (const p of [app, other]) {
      await h.gitlab.commit(p, 'feature', { 'b.js': 'export const b = 2;\n' });
      await h.gitlab.createMr(p, { sourceBranch: 'feature', title: 'Add b', authorId: ALICE.id });
      // a group hook would do the same: one hook per project here, both pointing at the bot
      await setupWebhook(h.bot.deps.gitlab, { project: p.id, url: `${h.url}/webhooks/gitlab`, secret: SECRET });
    }
  });
  afterAll(async () => h?.close());

  it('every delivery is answered 2xx, GitLab logs no failure, and the hooks stay executable', async () => {
    const g = h.gitlab;
    const deliver = async (p: StandinProject, payload: object, opts: { event?: string } = {}) => {
      const out = await g.deliverHook(p, payload, opts);
      expect(out, 'delivered to exactly one hook').toHaveLength(1);
      return out[0]!;
    };

    // an MR is opened: a job starts (and is held)
    await deliver(app, g.mrHook(app, 1, 'open'));
    await waitFor(() => firstStarted, 30_000, 'the first job to start');
    // what the bot does not want: approvals, an update without commits, a close, an MR in a project it is not for
    await deliver(app, g.mrHook(app, 1, 'approved'));
    await deliver(app, g.mrHook(app, 1, 'update', { changes: { labels: { previous: [], current: [{ id: 1 }] } } }));
    await deliver(other, g.mrHook(other, 1, 'open'));
    // an event name this bot does not know (a newer GitLab), under a subscribed trigger
    await deliver(app, g.mrHook(app, 1, 'update'), { event: 'Merge Request Review Hook' });
    // a payload the bot cannot read (a GitLab version with other shapes)
    const bad = g.mrHook(app, 1, 'open');
    bad.object_attributes.iid = 'one';
    await deliver(app, bad);
    // the hook settings' "Test" button: an MR hook without an action
    const hookId = g.hooks(app)[0]!.id;
    expect((await g.testHook(app, hookId, 'merge_requests_events')).status).toBe(200);
    // its own note, and a confidential (internal) comment, which only hooks with confidential_note_events get
    const own = g.addNote(app, 1, BOT.id, 'the bot wrote this', { thread: true });
    await deliver(app, g.noteHook(app, 1, own.note));
    const internal = g.addNote(app, 1, ALICE.id, `@${BOT.username} is this safe?`, { thread: true });
    const confidential = g.noteHook(app, 1, internal.note);
    confidential.object_attributes.internal = true;
    const c = await deliver(app, confidential);
    expect(c.status).toBe(200);
    // a burst of comments over the per-project limit (3 a minute): delayed, not refused
    for (let i = 0; i < 6; i++) {
      const { note } = g.addNote(app, 1, BOB.id, `question ${i}`, { thread: true });
      await deliver(app, g.noteHook(app, 1, note));
    }
    // the same delivery again (a "Resend request")
    await deliver(app, g.mrHook(app, 1, 'open'));

    // SIGTERM: while the held job drains, deliveries are still acknowledged and persisted
    const stopping = h.bot.stop();
    await waitFor(async () => (await fetch(`${h.url}/healthz`)).status === 503, 10_000, 'the bot to be shutting down');
    const late = g.addNote(app, 1, ALICE.id, 'one more thing', { thread: true });
    const during = await deliver(app, g.noteHook(app, 1, late.note));
    const pendingBefore = (await h.bot.queue.stats()).pending;
    holdFirst!();
    await stopping;

    expect(during.status).toBe(200);
    expect(pendingBefore).toBeGreaterThanOrEqual(1);
    const log = g.hookLog;
    expect(log.length).toBeGreaterThanOrEqual(16);
    expect(log.filter((e) => e.status < 200 || e.status > 299)).toEqual([]);
    expect(log.every((e) => e.body === '')).toBe(true);
    for (const p of [app, other]) {
      expect(g.hooks(p)[0]).toMatchObject({ alert_status: 'executable', disabled_until: null, recent_failures: 0 });
    }
    // what was wanted was taken: the review ran (released during the drain), comments ran or wait for the next start
    expect(handled).toContain('review acme/app!1');
    expect(handled.filter((x) => x === 'note acme/app!1').length).toBeGreaterThanOrEqual(1);
    expect(h.logs.some((l) => l.includes('"msg":"webhook ignored: project not in ALLOWED_PROJECTS"'))).toBe(true);
    expect(h.logs.filter((l) => l.includes('"msg":"job queued, delayed by the project rate limit"')).length).toBeGreaterThanOrEqual(3);
  });
});
