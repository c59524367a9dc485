// Each dependency down for longer than the old retry horizon (4 tries × 5 job attempts), with the bot as
// a child process on short clocks. Every acknowledged delivery's review is posted exactly once afterwards, and the
// model answers each input once.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { OUTCOME_HEADER } from '../src/server/app.js';
import { queueIdle, type BotProcess } from '../standins/bot-process.js';
import type { GitlabStandin } from '../standins/gitlab.js';
import { ALICE, BOT, reviewOutput, waitFor } from '../standins/harness.js';
import { childBots, DIV, FIRST } from './support/child-bots.js';
import { smallDisk } from './support/small-disk.js';
import type { ModelStandin } from '../standins/model.js';

/** The old policy gave up after this many job attempts. */
const OLD_ATTEMPTS = 5;
// Short clocks: the same policy as production (no attempt cap, a horizon), in test time.
const cb = childBots({ prefix: 'mrr-faults', env: { RETRY_BASE_MS: '50', RETRY_MAX_DELAY_MS: '500', RETRY_HORIZON_MS: '300000' } });
const { startBot, dataDir, mrWithBugs, posted, bots } = cb;
let gitlab: GitlabStandin;
let model: ModelStandin;
beforeAll(() => {
  gitlab = cb.gitlab();
  model = cb.model();
});

/** Model requests that got an answer (not an error). */
const answered = () => model.requests.filter((r) => r.reply && !('error' in r.reply)).length;
const retries = (b: BotProcess) => b.logs.filter((l) => l.msg === 'job failed; will retry');

describe('faults longer than the old horizon', () => {
  it('GitLab refusing every post 24 times (502, then dropped connections): posted once, the model asked once', async () => {
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('faults/gitlab');
    model.setDefault({ structured: reviewOutput([DIV, FIRST]) });
    const posts = new RegExp(`/projects/${project.id}/merge_requests/\\d+/(discussions|notes|draft_notes|draft_notes/bulk_publish)$`);
    gitlab.fail({ method: 'POST', path: posts }, { status: 502, times: 12 });
    gitlab.fail({ method: 'POST', path: posts }, { status: 0, times: 12 });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(() => posted(project, mr.iid).summaries.length > 0 && queueIdle(dir), 60_000, 'the review after the outage');
    // More job attempts than the old policy allowed, and the failures counted: 24 refused posts, then the real ones.
    expect(retries(bot).length).toBeGreaterThanOrEqual(OLD_ATTEMPTS);
    const refused = gitlab.log.filter((e) => e.method === 'POST' && posts.test(e.path) && (e.status === 502 || e.status === 0));
    expect(refused).toHaveLength(24);
    const p = posted(project, mr.iid);
    expect(p.summaries).toHaveLength(1);
    expect(p.findings).toHaveLength(2);
    expect(p.failures).toHaveLength(0);
    expect(model.requests).toHaveLength(1);
  });

  it('GitLab refusing a thread reply 24 times: the answer is kept and posted once, the model asked once for it', async () => {
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('faults/reply');
    model.setDefault({ structured: reviewOutput([DIV]) });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(() => posted(project, mr.iid).summaries.length > 0 && queueIdle(dir), 60_000, 'the review');
    const thread = gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]!.body)?.kind === 'finding')!;
    model.setDefault({ structured: { reply: 'Because b can be zero: KIWI-ANSWER.', verdict: 'answered' } });
    const replies = new RegExp(`/projects/${project.id}/merge_requests/\\d+/discussions/${thread.id}/notes$`);
    gitlab.fail({ method: 'POST', path: replies }, { status: 502, times: 12 });
    gitlab.fail({ method: 'POST', path: replies }, { status: 0, times: 12 });
    const { note, discussion } = gitlab.addNote(project, mr.iid, ALICE.id, `@${BOT.username} why is this a bug?`, { discussionId: thread.id });
    expect((await bot.send(gitlab.noteHook(project, mr.iid, note, discussion))).status).toBe(200);
    const answers = () => gitlab.discussions(project, mr.iid).find((d) => d.id === thread.id)!.notes.filter((n) => n.body.includes('KIWI-ANSWER'));
    await waitFor(() => answers().length > 0 && queueIdle(dir), 90_000, 'the reply after the outage');
    expect(retries(bot).filter((l) => l.kind === 'reply').length).toBeGreaterThanOrEqual(OLD_ATTEMPTS);
    expect(answers()).toHaveLength(1);
    expect(model.requests).toHaveLength(2); // the review, and the reply once
  });

  it('the model overloaded (529) for many attempts: the review waits, then is posted once', async () => {
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('faults/model');
    model.setDefault({ error: { status: 529, message: 'Overloaded' } });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    // Past the old 5 attempts (and their 40 s horizon in production), still retrying.
    await waitFor(() => retries(bot).length > OLD_ATTEMPTS, 150_000, 'more retries than the old policy allowed');
    expect(retries(bot).every((l) => /529|overloaded/i.test(String(l.reason)))).toBe(true);
    model.setDefault({ structured: reviewOutput([DIV]) });
    await waitFor(() => posted(project, mr.iid).summaries.length > 0 && queueIdle(dir), 60_000, 'the review after the overload');
    const p = posted(project, mr.iid);
    expect(p.summaries).toHaveLength(1);
    expect(p.findings).toHaveLength(1);
    expect(p.failures).toHaveLength(0);
    expect(answered()).toBe(1);
  });

  it('a permanent error ends the job at once with one note; a resend of the same event runs again', async () => {
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('faults/permanent');
    model.setDefault({ structured: reviewOutput([DIV]) });
    // 403: the token lacks rights to post. Not retried; the note (a post too, queued as its own job) gets through.
    gitlab.fail({ method: 'POST', path: new RegExp(`/projects/${project.id}/merge_requests/\\d+/draft_notes$`) }, { status: 403, times: 1 });
    gitlab.fail({ method: 'POST', path: new RegExp(`/projects/${project.id}/merge_requests/\\d+/notes$`) }, { status: 502, times: 6 });
    const hook = gitlab.mrHook(project, mr.iid, 'open');
    expect((await bot.send(hook, { idempotencyKey: 'perm-1' })).status).toBe(200);
    await waitFor(() => posted(project, mr.iid).failures.length > 0 && queueIdle(dir), 60_000, 'the failure note');
    expect(retries(bot).filter((l) => l.kind === 'review')).toHaveLength(0);
    expect(retries(bot).filter((l) => l.kind === 'notify').length).toBeGreaterThanOrEqual(1);
    expect(posted(project, mr.iid).failures[0]!.body).toMatch(/review failed: .*403/);
    // The same delivery again (GitLab's "Resend request"): dedupe holds finished work only, so it runs again.
    expect((await bot.send(hook, { idempotencyKey: 'perm-1' })).headers.get(OUTCOME_HEADER)).toBe('queued');
    await waitFor(() => posted(project, mr.iid).summaries.length > 0 && queueIdle(dir), 60_000, 'the review after the resend');
    const p = posted(project, mr.iid);
    expect(p.summaries).toHaveLength(1);
    expect(p.findings).toHaveLength(1);
    expect(p.failures).toHaveLength(1);
  });
});

describe('disk full', () => {
  const disk = smallDisk('24m', {
    beforeUnmount: async () => {
      for (const b of bots.splice(0)) await b.kill9();
    },
  });
  const { fill, free } = disk;

  /** Deliver until acknowledged, as GitLab does with a delivery that got a 5xx; returns the statuses seen. */
  async function deliver(bot: BotProcess, payload: object, key: string): Promise<number[]> {
    const statuses: number[] = [];
    await waitFor(async () => {
      const r = await bot.send(payload, { idempotencyKey: key });
      statuses.push(r.status);
      return r.status === 200;
    }, 30_000, 'the delivery to be acknowledged');
    return statuses;
  }

  it('no crash: a full disk pauses the job, which resumes when space returns; a full disk at start-up runs degraded', async () => {
    const dir = path.join(disk.dir(), 'data');
    let bot = await startBot(dir);
    const a = await mrWithBugs('faults/disk-a');
    model.setDefault({ structured: reviewOutput([DIV]) });

    fill();
    const first = await bot.send(gitlab.mrHook(a.project, a.mr.iid, 'open'), { idempotencyKey: 'disk-a' });
    // Either stored (200) or, if not even the queue could write it, a 5xx so GitLab delivers again.
    expect([200, 500]).toContain(first.status);
    if (first.status === 200) await bot.waitForLog((l) => l.msg === 'job failed; will retry' || l.msg === 'job queue: write failed; retrying', 30_000, 'the job to pause');
    else await bot.waitForLog((l) => l.msg === 'request failed' && /full|space/i.test(String(l.err)), 5_000, 'the store error logged');
    expect(model.requests).toHaveLength(0);
    free();
    if (first.status !== 200) await deliver(bot, gitlab.mrHook(a.project, a.mr.iid, 'open'), 'disk-a');
    await waitFor(() => posted(a.project, a.mr.iid).summaries.length > 0 && queueIdle(dir), 60_000, 'review A after space returned');

    // Start-up on a full disk: the bot comes up, says why it is degraded, and catches up when space returns.
    await bot.kill9();
    fill();
    bot = await startBot(dir);
    const b = await mrWithBugs('faults/disk-b');
    const statuses = await (async () => {
      const r = await bot.send(gitlab.mrHook(b.project, b.mr.iid, 'open'), { idempotencyKey: 'disk-b' });
      return [r.status];
    })();
    free();
    if (statuses[0] !== 200) await deliver(bot, gitlab.mrHook(b.project, b.mr.iid, 'open'), 'disk-b');
    await waitFor(() => posted(b.project, b.mr.iid).summaries.length > 0 && queueIdle(dir), 60_000, 'review B after space returned');

    for (const m of [a, b]) {
      const p = posted(m.project, m.mr.iid);
      expect(p.summaries).toHaveLength(1);
      expect(p.findings).toHaveLength(1);
      expect(p.failures).toHaveLength(0);
    }
    expect(answered()).toBe(2);
    expect(bot.logs.some((l) => l.level === 'fatal')).toBe(false);
    // Never exited on its own: still answering.
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
  });
});
