// The thread reply flow (src/flows/reply.ts) with a fake session service: which session start it is given, what it
// asks, what it posts and keeps. The fork/resume/rebuild decisions themselves are test/session-service.test.ts's.
import { describe, expect, it } from 'vitest';
import { replyToNote } from '../../src/flows/reply.js';
import { AwaitJob } from '../../src/jobs/queue.js';
import { reviewMr } from '../../src/flows/review.js';
import { findingFingerprint, readMarker } from '../../src/gitlab/markers.js';
import { ALICE, BOB, BOT, finding, reviewOutput } from '../../standins/harness.js';
import { flowWorlds, type FlowWorld } from '../support/flow-world.js';

const world = flowWorlds();
const DIV = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' });
const answer = (reply: string, verdict = 'answered') => ({ reply, verdict });

/** An MR reviewed with one finding; its thread. */
async function reviewed(w: FlowWorld) {
  const { project, ref, mr } = await w.newMr();
  w.sessions.script(reviewOutput([DIV]));
  await reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' });
  const thread = w.gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]!.body)?.kind === 'finding')!;
  return { project, mr, thread };
}

const botReplies = (w: FlowWorld, project: Parameters<FlowWorld['gitlab']['discussions']>[0], iid: number, did: string) =>
  w.gitlab.discussions(project, iid).find((d) => d.id === did)!.notes.filter((n) => n.author.id === BOT.id && readMarker(n.body)?.kind === 'reply');

describe('replyToNote', () => {
  it('starts a thread from the trunk on its first reply, continues it on the next, and answers in the thread', async () => {
    const w = await world();
    const { project, mr, thread } = await reviewed(w);
    w.sessions.script(answer('ANSWER-1'), answer('ANSWER-2'));

    const q1 = w.say(project, mr.iid, ALICE.id, 'QUESTION-1 why is this a bug?', { discussionId: thread.id });
    const first = await replyToNote(w.deps, q1);
    const fork = w.sessions.of('thread')[0]!;
    expect(first).toEqual({ answered: true, sessionId: fork.sessionId, forked: true, rebuilt: false });
    expect(fork.start).toBe('fork');
    expect(fork.prompt).toContain('QUESTION-1');
    expect(fork.prompt).toContain('Division by zero'); // the finding it is about
    const t = (await w.store.getThread(project.id, mr.iid, thread.id))!;
    expect(t).toMatchObject({ forkSessionId: fork.sessionId, status: 'done', answered: [q1.noteId], url: `${mr.webUrl}#note_${q1.noteId}` });
    expect(t.pendingReply).toBeUndefined();

    const q2 = w.say(project, mr.iid, ALICE.id, 'QUESTION-2 but b is checked', { discussionId: thread.id });
    expect(await replyToNote(w.deps, q2)).toEqual({ answered: true, sessionId: fork.sessionId, forked: false, rebuilt: false });
    const resume = w.sessions.of('thread')[1]!;
    expect(resume.start).toBe('resume');
    expect(resume.prompt).toContain('QUESTION-2');
    expect(resume.prompt).not.toContain('QUESTION-1'); // the session saw it already
    const replies = botReplies(w, project, mr.iid, thread.id);
    expect(replies.map((n) => [n.body.includes('ANSWER-1') || n.body.includes('ANSWER-2'), readMarker(n.body)?.re])).toEqual([[true, q1.noteId], [true, q2.noteId]]);
  });

  it('rebuilds a thread whose session is lost, telling the new one the thread so far', async () => {
    const w = await world();
    const { project, mr, thread } = await reviewed(w);
    w.sessions.script(answer('ANSWER-BEFORE-LOSS'), answer('ANSWER-AFTER-LOSS'));
    await replyToNote(w.deps, w.say(project, mr.iid, ALICE.id, 'QUESTION-BEFORE-LOSS', { discussionId: thread.id }));
    const lost = (await w.store.getThread(project.id, mr.iid, thread.id))!.forkSessionId;
    w.sessions.lose(lost);

    const out = await replyToNote(w.deps, w.say(project, mr.iid, ALICE.id, 'QUESTION-AFTER-LOSS', { discussionId: thread.id }));
    expect(out).toMatchObject({ answered: true, forked: true, rebuilt: true });
    const call = w.sessions.of('thread')[1]!;
    expect(call.start).toBe('rebuild');
    expect(call.prompt).toContain('<thread_history>');
    expect(call.prompt).toContain('QUESTION-BEFORE-LOSS');
    expect(call.prompt).toContain('ANSWER-BEFORE-LOSS');
    const t = (await w.store.getThread(project.id, mr.iid, thread.id))!;
    expect(t.forkSessionId).not.toBe(lost);
    expect(t.rebuilds).toBe(1);
    expect(t.answered).toHaveLength(2);
  });

  it('a question before any review waits for the trunk review as its own job, then forks it', async () => {
    const w = await world();
    const { project, mr } = await w.newMr();
    w.sessions.script(reviewOutput([], 'LATE-REVIEW'), answer('ANSWER-LATE'));
    const q = w.say(project, mr.iid, ALICE.id, `@${BOT.username} QUESTION-LATE what does div do?`, { thread: true });
    // The reply job never runs the review itself: it asks the queue to run the trunk job first.
    const wait = await replyToNote(w.deps, q).then(() => undefined, (e: unknown) => e);
    expect(wait).toBeInstanceOf(AwaitJob);
    const spec = (wait as AwaitJob).spec;
    expect(spec).toMatchObject({ kind: 'review', data: { project: { id: project.id }, iid: mr.iid, reason: 'missing_trunk' } });
    expect(w.sessions.calls).toHaveLength(0);
    await reviewMr(w.deps, { project, iid: mr.iid, reason: 'missing_trunk' });
    expect(await replyToNote(w.deps, q, undefined, 1)).toMatchObject({ answered: true, forked: true, rebuilt: false });
    expect(w.sessions.calls.map((c) => c.kind)).toEqual(['review', 'thread']);
    expect(botReplies(w, project, mr.iid, q.discussionId)[0]!.body).toContain('ANSWER-LATE');
    expect((await w.store.getMr(project.id, mr.iid))?.reviews).toBe(1);
  });

  it('on a withdrawn verdict resolves the thread and never raises the finding again', async () => {
    const w = await world();
    const { project, mr, thread } = await reviewed(w);
    w.sessions.script(answer('You are right, b is never 0.', 'withdrawn'));
    await replyToNote(w.deps, w.say(project, mr.iid, ALICE.id, 'b is validated by the caller', { discussionId: thread.id }));
    expect(w.gitlab.discussions(project, mr.iid).find((d) => d.id === thread.id)!.notes[0]!.resolved).toBe(true);
    const fp = findingFingerprint(DIV);
    const rec = (await w.store.getMr(project.id, mr.iid))!;
    expect(rec.withdrawn).toEqual([fp]);
    expect(rec.findings[fp]!.status).toBe('withdrawn');
  });

  it('after a failed post, a retry posts the kept answer without a second turn', async () => {
    const w = await world();
    const { project, mr, thread } = await reviewed(w);
    w.sessions.script(answer('ANSWER-KEPT'));
    const q = w.say(project, mr.iid, ALICE.id, 'QUESTION-KEPT', { discussionId: thread.id });
    w.gitlab.fail({ method: 'POST', path: /\/discussions\/[^/]+\/notes$/ }, { status: 503 });
    await expect(replyToNote(w.deps, q)).rejects.toThrow();
    expect((await w.store.getThread(project.id, mr.iid, thread.id))?.pendingReply?.reply).toBe('ANSWER-KEPT');

    expect(await replyToNote(w.deps, q)).toMatchObject({ answered: true });
    expect(w.sessions.of('thread')).toHaveLength(1);
    expect(botReplies(w, project, mr.iid, thread.id).map((n) => n.body.includes('ANSWER-KEPT'))).toEqual([true]);
    expect(await replyToNote(w.deps, q)).toEqual({ skipped: 'already answered' });
  });

  it('leaves alone notes addressed to someone else and threads the bot is not in', async () => {
    const w = await world();
    const { project, mr, thread } = await reviewed(w);
    const toBob = w.say(project, mr.iid, ALICE.id, '@bob can you check this?', { discussionId: thread.id });
    const before = w.gitlab.log.length;
    expect(await replyToNote(w.deps, toBob)).toEqual({ skipped: 'not addressed to the bot' });
    const human = w.say(project, mr.iid, BOB.id, 'a thread of our own', { thread: true });
    expect(await replyToNote(w.deps, human)).toEqual({ skipped: 'not addressed to the bot' });
    expect(w.sessions.of('thread')).toHaveLength(0);
    // one read each, the discussion: a note not for the bot costs no more of the API
    expect(w.gitlab.log.slice(before).map((e) => `${e.method} ${e.path.replace(/^.*\/merge_requests\/\d+/, '')}`)).toEqual([
      `GET /discussions/${thread.id}`,
      `GET /discussions/${human.discussionId}`,
    ]);
  });

  it('runs a command instead of asking the model', async () => {
    const w = await world();
    const { project, mr } = await w.newMr();
    const help = w.say(project, mr.iid, ALICE.id, `@${BOT.username} help`, { thread: true });
    expect(await replyToNote(w.deps, help)).toEqual({ command: 'help' });
    expect(w.sessions.calls).toHaveLength(0);
    expect(botReplies(w, project, mr.iid, help.discussionId)).toHaveLength(0); // help is its own kind of note
    expect(w.gitlab.notes(project, mr.iid).some((n) => n.author.id === BOT.id && n.body.includes('commands'))).toBe(true);
  });
});
