// Issue 15 end to end: a review is GitLab draft notes published once (one email), crash safe; without the draft notes
// API it falls back to direct notes; findings below the repo's `blocking` level do not block merging; a push posts
// nothing already said. The bot runs as a child process (kill -9 between drafts and publish), the real CLI, real git.
import { describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { queueIdle } from '../standins/bot-process.js';
import type { StandinProject } from '../standins/gitlab.js';
import { ALICE, BOT, finding, reviewOutput, waitFor } from '../standins/harness.js';
import { childBots, DIV, FIRST } from './support/child-bots.js';

const cb = childBots({ prefix: 'mrr-drafts' });
const { startBot, dataDir, mrWithBugs, posted } = cb;

/** The summary is there and the queue has nothing left to do. */
async function reviewDone(project: StandinProject, iid: number, dir: string) {
  await waitFor(() => posted(project, iid).summaries.length > 0 && queueIdle(dir), 60_000, 'the review to be posted and the queue idle');
}
/** the emails GitLab would have sent about the bot's notes */
const emails = (project: StandinProject, iid: number) => cb.gitlab().mrActivity(project, iid).emails.filter((e) => e.user === BOT.username);
/** the bot's POSTs to one project's REST paths matching `re` */
const posts = (project: StandinProject, re: RegExp) =>
  cb.gitlab().log.filter((e) => e.method === 'POST' && e.path.includes(`/projects/${project.id}/`) && re.test(e.path));
const threadOf = (project: StandinProject, iid: number, title: string) =>
  cb.gitlab().discussions(project, iid).find((d) => d.notes[0]!.body.includes(title))!;
/** GitLab's `blocking_discussions_resolved` of the MR */
const mergeable = async (project: StandinProject, iid: number) => {
  const r = await fetch(`${cb.gitlab().url}/api/v4/projects/${project.id}/merge_requests/${iid}`, { headers: { 'private-token': cb.gitlab().token } });
  return ((await r.json()) as { blocking_discussions_resolved: boolean }).blocking_discussions_resolved;
};
// Not a style finding: those are the linters' and dropped before posting unless the repo asks for nits (flows/check-findings.ts).
const MINOR = finding({ file: 'src/math.js', start_line: 2, anchor_text: '  return a + b;', title: 'Naming nit', severity: 'minor', category: 'api_contract' });

describe('a review as one published set of draft notes', () => {
  it('one review, one publish, one email: threads first, the summary last and out of the way', async () => {
    const gitlab = cb.gitlab();
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('drafts/one');
    const outside = finding({ file: 'README.md', start_line: 1, anchor_text: '# app', title: 'Outside the diff', category: 'api_contract' });
    cb.model().setDefault({ structured: reviewOutput([DIV, FIRST, outside]) });
    await bot.send(gitlab.mrHook(project, mr.iid, 'open'));
    await reviewDone(project, mr.iid, dir);

    const notes = gitlab.notes(project, mr.iid).filter((n) => n.author.id === BOT.id);
    expect(notes.map((n) => readMarker(n.body)?.kind)).toEqual(['finding', 'finding', 'finding', 'summary']);
    expect(emails(project, mr.iid)).toEqual([{ kind: 'review', user: BOT.username, noteIds: notes.map((n) => n.id) }]);
    expect(posts(project, /\/draft_notes\/bulk_publish$/)).toHaveLength(1);
    expect(posts(project, /\/(discussions|notes)$/)).toHaveLength(0); // nothing went out as a direct note
    expect(gitlab.drafts(project, mr.iid)).toEqual([]);
    // on the diff where GitLab can place it, a general thread where it cannot
    expect(notes.find((n) => n.body.includes('Division by zero'))!.position).toMatchObject({ new_path: 'src/math.js', new_line: 6 });
    expect(notes.find((n) => n.body.includes('Outside the diff'))!.type).toBe('DiscussionNote');
    // a published draft is a thread; the summary's is resolved so that it never blocks merging
    const summary = notes.at(-1)!;
    expect(summary.resolved).toBe(true);
    expect(summary.body).toMatch(/Blocking merge\*\* \| 3 open threads/);
    expect(summary.body).toContain('one review (GitLab draft notes, one notification)');
  });

  it('kill -9 between the drafts and the publish: after restart, exactly one published review', async () => {
    const gitlab = cb.gitlab();
    const dir = dataDir();
    let bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('drafts/crash');
    cb.model().setDefault({ structured: reviewOutput([DIV, FIRST]) });
    // The publish hangs: every draft is made, none is published, and the bot dies.
    gitlab.fail({ method: 'POST', path: new RegExp(`/projects/${project.id}/merge_requests/\\d+/draft_notes/bulk_publish$`) }, { delayMs: 20_000, status: 0 });
    await bot.send(gitlab.mrHook(project, mr.iid, 'open'));
    await waitFor(() => posts(project, /\/bulk_publish$/).length === 1, 60_000, 'the publish');
    await bot.kill9();
    expect(gitlab.drafts(project, mr.iid, BOT.id).map((d) => readMarker(d.note)?.kind)).toEqual(['finding', 'finding', 'summary']);
    expect(posted(project, mr.iid).all).toHaveLength(0); // drafts are seen by no one
    const requests = cb.model().requests.length;

    bot = await startBot(dir);
    await reviewDone(project, mr.iid, dir);
    const p = posted(project, mr.iid);
    expect(p.findings).toHaveLength(2);
    expect(p.summaries).toHaveLength(1);
    expect(emails(project, mr.iid)).toHaveLength(1);
    expect(gitlab.drafts(project, mr.iid)).toEqual([]);
    expect(cb.model().requests.length).toBe(requests); // the finished review was not paid for twice
    // the restart kept the drafts it still wanted; it made only the summary again (always last)
    expect(posts(project, /\/draft_notes$/)).toHaveLength(4);
  });

  it('a draft GitLab refuses does not block the others: line → general thread → a line in the summary', async () => {
    const gitlab = cb.gitlab();
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('drafts/refused');
    cb.model().setDefault({ structured: reviewOutput([DIV, FIRST]) });
    // GitLab refuses the first finding's draft on its line, and then as a general thread too.
    const refusal = { status: 400, body: { message: { note: ['is too long (maximum is 1000000 characters)'] } } };
    gitlab.fail({ method: 'POST', path: new RegExp(`/projects/${project.id}/merge_requests/\\d+/draft_notes$`) }, { ...refusal, times: 2 });
    await bot.send(gitlab.mrHook(project, mr.iid, 'open'));
    await reviewDone(project, mr.iid, dir);
    const p = posted(project, mr.iid);
    expect(p.findings.map((n) => n.body.includes('Crashes on empty list'))).toEqual([true]);
    expect(p.summaries[0]!.body).toContain('`src/math.js:6` 🟠 Major: Division by zero _(GitLab refused the thread)_');
    expect(emails(project, mr.iid)).toHaveLength(1);
    expect(posts(project, /\/draft_notes$/).map((e) => e.status)).toEqual([400, 400, 201, 201]);
  });

  it('a push between drafting and publishing: GitLab drops the diff notes at publish, the bot posts them as general threads', async () => {
    const gitlab = cb.gitlab();
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('drafts/moved');
    cb.model().setDefault({ structured: reviewOutput([DIV, FIRST]) });
    gitlab.fail({ method: 'POST', path: new RegExp(`/projects/${project.id}/merge_requests/\\d+/draft_notes/bulk_publish$`) }, { delayMs: 5_000 });
    await bot.send(gitlab.mrHook(project, mr.iid, 'open'));
    await waitFor(() => posts(project, /\/bulk_publish$/).length === 1, 60_000, 'the publish');
    await gitlab.commit(project, 'feature', { 'README.md': '# app\n\nMore.\n' }, 'docs'); // a new version: the drafts' SHAs are stale
    await reviewDone(project, mr.iid, dir);
    const p = posted(project, mr.iid);
    expect(p.findings.map((n) => n.type)).toEqual(['DiscussionNote', 'DiscussionNote']);
    expect(p.findings.every((n) => /\*\*Location:\*\* `src\/(math|list)\.js:\d+`/.test(n.body))).toBe(true);
    expect(p.summaries).toHaveLength(1);
    expect(emails(project, mr.iid).map((e) => e.kind)).toEqual(['review', 'note', 'note']);
  });

  it('without the draft notes API (404, 403): direct notes, one email each, and the summary says so', async () => {
    const gitlab = cb.gitlab();
    const dir = dataDir();
    const bot = await startBot(dir);
    for (const status of [404, 403] as const) {
      const { project, mr } = await mrWithBugs(`drafts/no-api-${status}`);
      gitlab.setDraftNotes(project, status);
      cb.model().setDefault({ structured: reviewOutput([DIV, FIRST]) });
      await bot.send(gitlab.mrHook(project, mr.iid, 'open'));
      await reviewDone(project, mr.iid, dir);
      const p = posted(project, mr.iid);
      expect(p.findings).toHaveLength(2);
      expect(p.summaries).toHaveLength(1);
      expect(p.summaries[0]!.type).toBeNull(); // a plain note, as before draft notes
      expect(p.summaries[0]!.body).toContain('separate comments (no draft notes API');
      expect(emails(project, mr.iid).map((e) => e.kind)).toEqual(['note', 'note', 'note']);
      expect(posts(project, /\/draft_notes(\/bulk_publish)?$/)).toHaveLength(0);
    }
  });

  it('blocking: high (default) resolves lower findings at once; minor: summary lists them; blocking: all blocks on everything', async () => {
    const gitlab = cb.gitlab();
    const dir = dataDir();
    const bot = await startBot(dir);
    const run = async (path: string, config?: string) => {
      const project = await gitlab.createProject(path, { 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n', ...(config ? { '.gitlab/mr-reviewer.yml': config } : {}) });
      await gitlab.commit(project, 'feature', { 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  return a / b;\n}\n' });
      const mr = await gitlab.createMr(project, { sourceBranch: 'feature', title: 'Add div', authorId: ALICE.id });
      cb.model().setDefault({ structured: reviewOutput([DIV, MINOR]) });
      await bot.send(gitlab.mrHook(project, mr.iid, 'open'));
      await reviewDone(project, mr.iid, dir);
      return { project, mr, summary: posted(project, mr.iid).summaries[0]!.body };
    };

    const high = await run('drafts/blocking-high');
    expect(threadOf(high.project, high.mr.iid, 'Division by zero').notes[0]!.resolved).toBe(false);
    expect(threadOf(high.project, high.mr.iid, 'Naming nit').notes[0]!.resolved).toBe(true); // readable, not blocking
    expect(high.summary).toMatch(/Blocking merge\*\* \| 1 open thread \(🟠 Major 1\)/);
    expect(high.summary).toContain('1 thread resolved at once');
    expect(emails(high.project, high.mr.iid)).toHaveLength(1);

    const listed = await run('drafts/blocking-summary', 'minor: summary\n');
    expect(posted(listed.project, listed.mr.iid).findings.map((n) => n.body.includes('Division by zero'))).toEqual([true]);
    expect(listed.summary).toContain('Non-blocking findings (not posted as threads)');
    expect(listed.summary).toContain('`src/math.js:2` 🟡 Minor: Naming nit');

    const all = await run('drafts/blocking-all', 'blocking: all\n');
    expect(posted(all.project, all.mr.iid).findings.every((n) => n.resolved === false)).toBe(true);
    expect(all.summary).toMatch(/Blocking merge\*\* \| 2 open threads/);

    const none = await run('drafts/blocking-none', 'blocking: none\n');
    expect(posted(none.project, none.mr.iid).findings.every((n) => n.resolved === true)).toBe(true);
    expect(none.summary).toMatch(/Blocking merge\*\* \| none/);
    // what a project that requires resolved threads sees: only blocking findings hold the merge
    expect(await mergeable(high.project, high.mr.iid)).toBe(false);
    expect(await mergeable(none.project, none.mr.iid)).toBe(true);
  });

  it('a push posts nothing already said: a fix is resolved in its thread, an edited finding is edited, one more email', async () => {
    const gitlab = cb.gitlab();
    const model = cb.model();
    const dir = dataDir();
    const bot = await startBot(dir);
    const { project, mr } = await mrWithBugs('drafts/re-review');
    model.setDefault({ structured: reviewOutput([DIV, FIRST, MINOR], 'FIRST-SUMMARY') });
    await bot.send(gitlab.mrHook(project, mr.iid, 'open'));
    await reviewDone(project, mr.iid, dir);
    const summaryBefore = posted(project, mr.iid).summaries[0]!;
    // The author answers the minor one with pushback (it stays as it is), then fixes the division.
    gitlab.addNote(project, mr.iid, ALICE.id, 'I prefer this name.', { discussionId: threadOf(project, mr.iid, 'Naming nit').id });

    model.respond((req) => (req.lastUserText.includes('Is your concern addressed?') ? { structured: { addressed: true, reply: 'FIXED-REPLY b is checked now.', fixed_by: 'src/math.js:6: if (b === 0) throw new RangeError("b");' } } : undefined));
    const reworded = { ...FIRST, body: 'REWORDED: xs[0] is undefined for an empty list.' };
    model.setDefault({ structured: reviewOutput([DIV, reworded, MINOR], 'SECOND-SUMMARY') });
    const oldrev = gitlab.mr(project, mr.iid).headSha;
    await gitlab.commit(project, 'feature', {
      'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  if (b === 0) throw new RangeError("b");\n  return a / b;\n}\n',
    }, 'guard div');
    await bot.send(gitlab.mrHook(project, mr.iid, 'update', { oldrev }));
    await waitFor(() => posted(project, mr.iid).summaries[0]!.body.includes('SECOND-SUMMARY') && queueIdle(dir), 90_000, 'the re-review');
    model.respond(() => undefined);

    const p = posted(project, mr.iid);
    expect(p.findings).toHaveLength(3); // nothing posted twice: not the open one, not the resolved one, not the answered one
    const div = threadOf(project, mr.iid, 'Division by zero');
    expect(div.notes.map((n) => n.body.includes('FIXED-REPLY'))).toEqual([false, true]);
    expect(div.notes.every((n) => n.resolved)).toBe(true);
    const first = threadOf(project, mr.iid, 'Crashes on empty list');
    expect(first.notes).toHaveLength(1);
    expect(first.notes[0]!.body).toContain('REWORDED'); // edited in place
    expect(p.summaries).toHaveLength(1);
    expect(p.summaries[0]!.id).toBe(summaryBefore.id);
    expect(p.summaries[0]!.body).toMatch(/Since the last review\*\* \(`[0-9a-f]{12}`\): 1 fixed \(resolved in its thread\), 1 updated in place\./);
    // the trunk heard the fix before its turn, so it does not raise the division again
    const turn = model.requests.find((r) => r.lastUserText.includes('New commits were pushed'))!;
    expect(turn.lastUserText).toContain('"Division by zero" at src/math.js:6 — fixed');
    expect(turn.lastUserText).toContain('"Naming nit" at src/math.js:2 — non-blocking');
    // the fix reply went out in a second published review; nothing else notified anyone
    expect(emails(project, mr.iid).map((e) => [e.kind, e.noteIds.length])).toEqual([['review', 4], ['review', 1]]);
  });
});
