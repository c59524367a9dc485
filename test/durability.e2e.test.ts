// The bot as a real child process (kill -9, SIGTERM, restart on the same DATA_DIR), the real
// CLI against the model stand-in, real git against the GitLab stand-in. "Accepted means done once."
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_HEADER } from '../src/server/app.js';
import { queueIdle, queueRows } from '../standins/bot-process.js';
import type { GitlabStandin, StandinProject } from '../standins/gitlab.js';
import { BOT, reviewOutput, waitFor } from '../standins/harness.js';
import { childBots, DIV, FIRST } from './support/child-bots.js';
import { CLAUDE_BIN, type ModelStandin } from '../standins/model.js';

const cb = childBots({ prefix: 'mrr-durable', env: { JOB_ATTEMPTS: '4' } });
const { startBot, dataDir, mrWithBugs, posted } = cb;
let gitlab: GitlabStandin;
let model: ModelStandin;
beforeAll(() => {
  gitlab = cb.gitlab();
  model = cb.model();
});

/** The summary is there and the queue has nothing left to do. */
async function reviewDone(project: StandinProject, iid: number, dir: string) {
  await waitFor(() => posted(project, iid).summaries.length > 0 && queueIdle(dir), 60_000, 'the review to be posted and the queue idle');
}

/** POSTs to one project's REST paths matching `re`, in arrival order (the stand-in is shared by all tests). */
const restPosts = (project: StandinProject, re: RegExp) =>
  gitlab.log.filter((e) => e.method === 'POST' && e.path.includes(`/projects/${project.id}/`) && re.test(e.path));
const NOTES = /\/merge_requests\/\d+\/notes$/;
/** a review's posts are draft notes, published at once */
const DRAFTS = /\/merge_requests\/\d+\/draft_notes$/;
/** `re`, only for one project's REST paths: a failure injected for one test cannot hit another's. */
const inProject = (project: StandinProject, re: RegExp) => new RegExp(`/projects/${project.id}${re.source}`);

describe('durability, with the bot as a child process', () => {
  it('kill -9 while the CLI runs a review: after restart, exactly one summary and one set of findings', async () => {
    const dir = dataDir();
    let bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('dur/kill-cli');
    model.setDefault({ structured: reviewOutput([DIV, FIRST]) });
    const release = model.hold();
    const key = randomUUID();
    const hook = gitlab.mrHook(project, mr.iid, 'open');
    expect((await bot.send(hook, { idempotencyKey: key })).status).toBe(200);
    await model.waitForRequests(1, 30_000);

    await bot.kill9();
    expect(queueRows(dir)).toMatchObject([{ state: 'running', attempts: 1 }]);
    expect(posted(project, mr.iid).all).toHaveLength(0);

    bot = await startBot(dir);
    release();
    await reviewDone(project, mr.iid, dir);
    const p = posted(project, mr.iid);
    expect(p.summaries).toHaveLength(1);
    expect(p.findings.map((n) => n.body.includes('Division by zero') || n.body.includes('Crashes on empty list'))).toEqual([true, true]);
    expect(model.requests).toHaveLength(2); // the killed run and the one after restart
    // GitLab resending the delivery after the crash changes nothing.
    expect((await bot.send(hook, { idempotencyKey: key })).headers.get(OUTCOME_HEADER)).toBe('duplicate');
    expect(posted(project, mr.iid).all).toHaveLength(3);
  });

  it('kill -9 while posting: the restart posts only what is missing and does not run the CLI again', async () => {
    const dir = dataDir();
    let bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('dur/kill-post');
    gitlab.setDraftNotes(project, 404); // direct notes, as on a GitLab without draft notes (draft-review.e2e kills between drafts and publish)
    model.setDefault({ structured: reviewOutput([DIV, FIRST]) });
    // The summary POST hangs (then drops the connection): the findings are up, the summary is not.
    gitlab.fail({ method: 'POST', path: inProject(project, NOTES) }, { delayMs: 20_000, status: 0 });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(() => restPosts(project, NOTES).length === 1, 60_000, 'the summary POST');
    expect(posted(project, mr.iid).findings).toHaveLength(2);

    await bot.kill9();
    bot = await startBot(dir);
    await reviewDone(project, mr.iid, dir);
    const p = posted(project, mr.iid);
    expect(p.summaries).toHaveLength(1);
    expect(p.findings).toHaveLength(2);
    expect(model.requests).toHaveLength(1);
  });

  it('the same delivery three times, concurrently and later, and a resend of the same head: one review', async () => {
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('dur/dedupe');
    model.setDefault({ structured: reviewOutput([DIV]) });
    const hook = gitlab.mrHook(project, mr.iid, 'open');
    const key = randomUUID();
    const answers = await Promise.all([1, 2, 3].map(async () => {
      const r = await bot.send(hook, { idempotencyKey: key });
      return `${r.status} ${r.headers.get(OUTCOME_HEADER)}`;
    }));
    expect(answers.filter((a) => /^200 queued/.test(a))).toHaveLength(1);
    expect(answers.filter((a) => /^200 duplicate/.test(a))).toHaveLength(2);
    await reviewDone(project, mr.iid, dir);

    expect((await bot.send(hook, { idempotencyKey: key })).headers.get(OUTCOME_HEADER)).toBe('duplicate');
    // A new delivery id for the same head commit (a reopen, a second hook) is a duplicate too.
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'reopen'))).headers.get(OUTCOME_HEADER)).toBe('duplicate');
    expect(queueIdle(dir)).toBe(true);
    expect(model.requests).toHaveLength(1);
    const p = posted(project, mr.iid);
    expect(p.summaries).toHaveLength(1);
    expect(p.findings).toHaveLength(1);
  });

  it('GitLab answers 500 three times, then succeeds: posted once', async () => {
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('dur/gitlab-500');
    model.setDefault({ structured: reviewOutput([]) });
    gitlab.fail({ method: 'POST', path: inProject(project, DRAFTS) }, { status: 500, times: 3 });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await reviewDone(project, mr.iid, dir);
    expect(restPosts(project, DRAFTS).map((e) => e.status)).toEqual([500, 500, 500, 201]);
    expect(posted(project, mr.iid).summaries).toHaveLength(1);
    expect(model.requests).toHaveLength(1);
  });

  it('GitLab failing longer than the local retries: the job is retried, re-posts only, and pays for one review', async () => {
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('dur/gitlab-outage');
    model.setDefault({ structured: reviewOutput([DIV, FIRST]) });
    // 6 failures in a row: the client's 4 local tries give up, the job goes back to the queue, the retry posts.
    gitlab.fail({ method: 'POST', path: inProject(project, DRAFTS) }, { status: 503, times: 6 });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await reviewDone(project, mr.iid, dir);
    expect(restPosts(project, DRAFTS).map((e) => e.status)).toEqual([503, 503, 503, 503, 503, 503, 201, 201, 201]); // two findings, the summary
    expect(bot.logs.some((l) => l.msg === 'job failed; will retry' && /503/.test(String(l.reason)))).toBe(true);
    const p = posted(project, mr.iid);
    expect(p.findings).toHaveLength(2);
    expect(p.summaries).toHaveLength(1);
    expect(model.requests).toHaveLength(1);
  });

  it('429 with Retry-After: 2: the bot waits about that long before trying again', async () => {
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('dur/gitlab-429');
    model.setDefault({ structured: reviewOutput([]) });
    gitlab.fail({ method: 'POST', path: inProject(project, DRAFTS) }, { status: 429, retryAfter: 2 });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await reviewDone(project, mr.iid, dir);
    const [limited, ok] = restPosts(project, DRAFTS);
    expect([limited!.status, ok!.status]).toEqual([429, 201]);
    // A behaviour check (Retry-After honoured), not a speed figure: the retry came no sooner than ~2 s.
    expect(ok!.at - limited!.at).toBeGreaterThanOrEqual(1_800);
    expect(posted(project, mr.iid).summaries).toHaveLength(1);
  });

  it('the CLI crashes, then the model answers 529: retried, then succeeds', async () => {
    const dir = dataDir();
    // A CLAUDE_BIN that crashes on its first call (no JSON, exit 1), then is the real CLI.
    const mark = path.join(dir, 'crashed-once');
    const wrapper = path.join(dir, 'claude-crash-once.sh');
    fs.writeFileSync(wrapper, `#!/bin/sh\nif [ ! -e '${mark}' ]; then touch '${mark}'; echo 'segfault (simulated)' >&2; exit 139; fi\nexec '${CLAUDE_BIN}' "$@"\n`, { mode: 0o755 });
    const bot = await startBot(dir, { CLAUDE_BIN: wrapper });
    const { project, mr } = await mrWithBugs('dur/model-529');
    model.script({ error: { status: 529, message: 'Overloaded' } });
    model.setDefault({ structured: reviewOutput([DIV]) });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await reviewDone(project, mr.iid, dir);
    const retries = bot.logs.filter((l) => l.msg === 'job failed; will retry').map((l) => String(l.reason));
    expect(retries).toHaveLength(2);
    expect(retries[0]).toMatch(/claude crash/);
    expect(retries[1]).toMatch(/529|overloaded/i);
    expect(model.requests).toHaveLength(2); // the crash never reached the model
    const p = posted(project, mr.iid);
    expect(p.summaries).toHaveLength(1);
    expect(p.findings).toHaveLength(1);
    expect(p.failures).toHaveLength(0);
  });

  it('always failing: exactly one failure note that names the reason and how to retry', async () => {
    const dir = dataDir();
    const bot = await startBot(dir, { JOB_ATTEMPTS: '3' });
    const { project, mr } = await mrWithBugs('dur/always-529');
    model.setDefault({ error: { status: 529, message: 'Overloaded' } });
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(() => posted(project, mr.iid).failures.length > 0 && queueIdle(dir), 60_000, 'the failure note');
    await bot.waitForLog((l) => l.msg === 'job failed for good');
    expect(queueRows(dir)).toMatchObject([{ state: 'failed', attempts: 3 }]);
    expect(model.requests).toHaveLength(3);
    const p = posted(project, mr.iid);
    expect(p.failures).toHaveLength(1);
    expect(p.summaries).toHaveLength(0);
    expect(p.findings).toHaveLength(0);
    expect(p.failures[0]!.body).toMatch(/review failed: .*(529|overloaded)/i);
    expect(p.failures[0]!.body).toContain(`\`@${BOT.username} review\``);
    expect(p.failures[0]!.body).not.toContain(new URL(model.url).host); // the CLI's text names the API host
    // Dedupe holds finished work only: a later delivery for the same head runs again.
    const again = await bot.send(gitlab.mrHook(project, mr.iid, 'reopen'));
    expect(again.headers.get(OUTCOME_HEADER)).toBe('queued');
  });

  it('SIGTERM during a review: keeps taking webhooks while it drains, exits within the deadline; after restart the review and the delivery taken during the drain both run', async () => {
    const dir = dataDir();
    const deadline = 3_000;
    let bot = await startBot(dir, { SHUTDOWN_DEADLINE_MS: String(deadline) });
    const { project, mr } = await mrWithBugs('dur/sigterm');
    const late = await mrWithBugs('dur/sigterm-late');
    model.setDefault({ structured: reviewOutput([DIV, FIRST]) });
    const release = model.hold();
    expect((await bot.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await model.waitForRequests(1, 30_000);

    const exit = bot.term();
    // /healthz is a probe: it says the replica is going away...
    await waitFor(async () => (await fetch(`${bot.url}/healthz`)).status === 503, 5_000, 'healthz 503');
    // ...but a webhook is still acknowledged and persisted (GitLab would never resend a refused one)
    const during = await bot.send(gitlab.mrHook(late.project, late.mr.iid, 'open'));
    expect(during.status).toBe(200);
    expect(during.headers.get(OUTCOME_HEADER)).toBe('queued');
    expect(await exit).toEqual({ code: 0, signal: null });
    const at = (msg: string) => Date.parse(String(bot.logs.find((l) => String(l.msg).startsWith(msg))?.time));
    // The contract of SHUTDOWN_DEADLINE_MS (with timer slack), not a speed figure.
    expect(at('stopped') - at('shutting down')).toBeLessThanOrEqual(deadline + 300);
    // The running review was aborted and put back (the interrupted attempt does not count); the late one never started.
    expect(queueRows(dir)).toMatchObject([{ state: 'pending', attempts: 0 }, { state: 'pending', attempts: 0 }]);
    expect(posted(project, mr.iid).all).toHaveLength(0);
    expect(posted(late.project, late.mr.iid).all).toHaveLength(0);
    expect(model.requests).toHaveLength(1);

    bot = await startBot(dir, { SHUTDOWN_DEADLINE_MS: String(deadline) });
    release();
    await reviewDone(project, mr.iid, dir);
    await reviewDone(late.project, late.mr.iid, dir);
    for (const [p, iid] of [[project, mr.iid], [late.project, late.mr.iid]] as const) {
      const got = posted(p, iid);
      expect(got.summaries).toHaveLength(1);
      expect(got.findings).toHaveLength(2);
    }
    expect(model.requests).toHaveLength(3); // the aborted run, then one per review
  });
});
