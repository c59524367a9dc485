// Every discussion thread is its own conversation — fork the trunk on the first reply, resume after.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transcriptPath } from '../src/claude/paths.js';
import { readMarker } from '../src/gitlab/markers.js';
import type { RecordedRequest } from '../standins/model.js';
import { ALICE, BOB, BOT, finding, reviewOutput, sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';

const md5 = (p: string) => createHash('md5').update(fs.readFileSync(p)).digest('hex');
const sessionOf = (r: RecordedRequest) => r.headers['x-claude-code-session-id'];
const answer = (reply: string, verdict = 'answered') => ({ structured: { reply, verdict } });

describe('thread conversations', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  /** An MR reviewed with two findings; returns their discussions. */
  async function reviewed(path: string) {
    const { project, mr } = await sampleMr(h, { path });
    h.model.script({
      structured: reviewOutput([
        finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'TRUNK-FINDING-DIV' }),
        finding({ file: 'src/list.js', start_line: 2, anchor_text: '  return xs[0].value;', title: 'TRUNK-FINDING-FIRST' }),
      ], 'TRUNK-SUMMARY adds helpers'),
    });
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    await waitFor(() => h.gitlab.notes(project, mr.iid).some((n) => readMarker(n.body)?.kind === 'summary'), 60_000, 'review');
    await h.bot.queue.drained();
    const ds = h.gitlab.discussions(project, mr.iid);
    const divThread = ds.find((d) => d.notes[0]!.body.includes('TRUNK-FINDING-DIV'))!;
    const firstThread = ds.find((d) => d.notes[0]!.body.includes('TRUNK-FINDING-FIRST'))!;
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    return { project, mr, divThread, firstThread, rec };
  }

  async function say(project: { id: number }, iid: number, author: number, body: string, opts: Parameters<Harness['gitlab']['addNote']>[4] = {}) {
    const { note, discussion } = h.gitlab.addNote(project as never, iid, author, body, opts);
    const res = await h.send(h.gitlab.noteHook(project as never, iid, note, discussion));
    expect(res.status).toBe(200);
    return { note, discussion };
  }

  const botReplies = (project: { id: number }, iid: number, did: string) =>
    h.gitlab.discussions(project as never, iid).find((d) => d.id === did)!.notes.filter((n) => n.author.id === BOT.id && readMarker(n.body)?.kind === 'reply');

  it('forks the trunk on the first reply, resumes the fork after, and keeps threads apart', async () => {
    const { project, mr, divThread, firstThread, rec } = await reviewed('acme/threads');
    const trunkFile = transcriptPath(path.join(h.dataDir, 'claude'), rec.workspace!, rec.trunkSessionId!);
    const trunkBefore = md5(trunkFile);
    const start = h.model.requests.length;

    // Thread A, first reply: a fork of the trunk.
    h.model.script(answer('ANSWER-A1 because b can be 0'));
    const a1 = await say(project, mr.iid, ALICE.id, 'QUESTION-A1 why is this a bug?', { discussionId: divThread.id });
    await waitFor(() => botReplies(project, mr.iid, divThread.id).length === 1, 60_000, 'answer A1');
    const forkReq = h.model.requests[start]!;
    expect(forkReq.text).toContain('TRUNK-SUMMARY'); // the whole review is in context …
    expect(forkReq.text).toContain('## File: src/math.js'); // … including the diff it saw
    expect(forkReq.lastUserText).toContain('QUESTION-A1');
    expect(sessionOf(forkReq)).not.toBe(rec.trunkSessionId);
    expect(md5(trunkFile)).toBe(trunkBefore); // the trunk is untouched
    // The fork's request begins exactly like the trunk's (tools, system, the trunk's messages): a prompt cache can serve it.
    const trunkReq = h.model.requests.find((r) => sessionOf(r) === rec.trunkSessionId)!;
    expect(JSON.stringify(forkReq.body.tools)).toBe(JSON.stringify(trunkReq.body.tools));
    expect(JSON.stringify(forkReq.body.system)).toBe(JSON.stringify(trunkReq.body.system));
    const threadA = (await h.bot.deps.store.getThread(project.id, mr.iid, divThread.id))!;
    expect(threadA.forkSessionId).toBe(sessionOf(forkReq));
    expect(threadA.trunkSessionId).toBe(rec.trunkSessionId);
    expect(threadA.url).toBe(`${mr.webUrl}#note_${a1.note.id}`); // the link from the API's MR, not the payload
    // acknowledged with 👀 and answered in the same discussion
    const award = h.gitlab.log.find((l) => l.method === 'POST' && l.path.endsWith(`/notes/${a1.note.id}/award_emoji`));
    expect(award?.status).toBe(201);
    expect(award?.body).toMatchObject({ name: 'eyes' });
    expect(botReplies(project, mr.iid, divThread.id)[0]!.body).toContain('ANSWER-A1');

    // Thread B: its own fork, knowing nothing of thread A.
    h.model.script(answer('ANSWER-B1'));
    await say(project, mr.iid, BOB.id, 'QUESTION-B1 what if the list is empty?', { discussionId: firstThread.id });
    await waitFor(() => botReplies(project, mr.iid, firstThread.id).length === 1, 60_000, 'answer B1');

    // Thread A, follow-up without a mention: resumes A's fork, which remembers A1.
    h.model.script(answer('ANSWER-A2'));
    await say(project, mr.iid, ALICE.id, 'FOLLOWUP-A2 but the caller checks b', { discussionId: divThread.id });
    await waitFor(() => botReplies(project, mr.iid, divThread.id).length === 2, 60_000, 'answer A2');
    const a2Req = h.model.requests.filter((r) => r.lastUserText.includes('FOLLOWUP-A2')).at(-1)!;
    expect(sessionOf(a2Req)).toBe(threadA.forkSessionId);
    expect(a2Req.text).toContain('QUESTION-A1');
    expect(a2Req.text).toContain('ANSWER-A1');

    // Thread B's requests contain nothing of thread A, and the reverse.
    const threadB = (await h.bot.deps.store.getThread(project.id, mr.iid, firstThread.id))!;
    const bReqs = h.model.requests.filter((r) => sessionOf(r) === threadB.forkSessionId);
    expect(bReqs.length).toBeGreaterThan(0);
    for (const r of bReqs) for (const s of ['QUESTION-A1', 'ANSWER-A1', 'FOLLOWUP-A2']) expect(r.text).not.toContain(s);
    const aReqs = h.model.requests.filter((r) => sessionOf(r) === threadA.forkSessionId);
    expect(aReqs.length).toBeGreaterThanOrEqual(2); // the fork and the follow-up
    for (const r of aReqs) expect(r.text).not.toContain('QUESTION-B1');
  });

  it('answers mentions in new threads and diff threads; ignores its own notes, notes to others and system notes', async () => {
    const { project, mr, rec } = await reviewed('acme/mentions');
    const start = h.model.requests.length;
    h.model.respond((req) => (req.lastUserText.includes('MENTION') ? answer('ANSWER-MENTION') : undefined));

    const plain = await say(project, mr.iid, ALICE.id, `@${BOT.username} MENTION-NEW is this thread-safe?`);
    const diff = await say(project, mr.iid, BOB.id, `@${BOT.username} MENTION-DIFF does this overflow?`, { position: { new_path: 'src/math.js', new_line: 2, old_line: 2 } });
    await waitFor(() => botReplies(project, mr.iid, plain.discussion.id).length === 1 && botReplies(project, mr.iid, diff.discussion.id).length === 1, 60_000, 'mention answers');
    for (const d of [plain.discussion, diff.discussion]) {
      const t = (await h.bot.deps.store.getThread(project.id, mr.iid, d.id))!;
      expect(t.trunkSessionId).toBe(rec.trunkSessionId);
      const req = h.model.requests.find((r) => sessionOf(r) === t.forkSessionId)!;
      expect(req.text).toContain('TRUNK-SUMMARY'); // forked from the trunk
    }
    const diffReq = h.model.requests.find((r) => r.lastUserText.includes('MENTION-DIFF'))!;
    expect(diffReq.lastUserText).toContain('src/math.js:2');
    h.model.respond(() => undefined);
    await h.bot.queue.drained();
    const after = h.model.requests.length;

    // The bot's own reply, a note addressed to someone else in the bot's thread, and a thread without the bot.
    const botNote = botReplies(project, mr.iid, plain.discussion.id)[0]!;
    expect((await h.send(h.gitlab.noteHook(project, mr.iid, botNote.id))).status).toBe(200);
    await say(project, mr.iid, BOB.id, `@${ALICE.username} can you check this?`, { discussionId: plain.discussion.id });
    await say(project, mr.iid, BOB.id, 'a comment for the humans');
    await h.bot.queue.drained();
    expect(h.model.requests.length).toBe(after);
    expect(after - start).toBe(2);
  });

  it('answers two notes delivered at once in order, each with the other in context', async () => {
    const { project, mr, divThread } = await reviewed('acme/order');
    h.model.respond((req) => {
      if (req.lastUserText.includes('The comment to answer, [note') && req.lastUserText.includes('FIRST-OF-TWO') && !req.text.includes('ANSWER-TO-FIRST')) return answer('ANSWER-TO-FIRST');
      if (req.lastUserText.includes('SECOND-OF-TWO')) return answer('ANSWER-TO-SECOND');
      return undefined;
    });
    const n1 = h.gitlab.addNote(project, mr.iid, ALICE.id, 'FIRST-OF-TWO is b checked?', { discussionId: divThread.id });
    const n2 = h.gitlab.addNote(project, mr.iid, ALICE.id, 'SECOND-OF-TWO and what about NaN?', { discussionId: divThread.id });
    await Promise.all([
      h.send(h.gitlab.noteHook(project, mr.iid, n1.note, n1.discussion)),
      h.send(h.gitlab.noteHook(project, mr.iid, n2.note, n2.discussion)),
    ]);
    await waitFor(() => botReplies(project, mr.iid, divThread.id).length === 2, 60_000, 'two answers');
    const replies = botReplies(project, mr.iid, divThread.id);
    expect(replies.map((r) => r.body.split('\n')[0])).toEqual(['ANSWER-TO-FIRST', 'ANSWER-TO-SECOND']);
    const thread = (await h.bot.deps.store.getThread(project.id, mr.iid, divThread.id))!;
    const reqs = h.model.requests.filter((r) => sessionOf(r) === thread.forkSessionId);
    expect(reqs).toHaveLength(2);
    expect(reqs[0]!.text).toContain('SECOND-OF-TWO'); // the first answer saw the second note
    expect(reqs[1]!.text).toContain('FIRST-OF-TWO'); // the second saw the first and its answer
    expect(reqs[1]!.text).toContain('ANSWER-TO-FIRST');
    h.model.respond(() => undefined);
  });

  it('rebuilds a thread whose transcript is gone, from the thread itself', async () => {
    const { project, mr, divThread, rec } = await reviewed('acme/rebuild');
    h.model.script(answer('ANSWER-BEFORE-LOSS'));
    await say(project, mr.iid, ALICE.id, 'QUESTION-BEFORE-LOSS why?', { discussionId: divThread.id });
    await waitFor(() => botReplies(project, mr.iid, divThread.id).length === 1, 60_000, 'first answer');
    await h.bot.queue.drained();
    const lost = (await h.bot.deps.store.getThread(project.id, mr.iid, divThread.id))!;
    fs.rmSync(transcriptPath(path.join(h.dataDir, 'claude'), rec.workspace!, lost.forkSessionId));

    h.model.script(answer('ANSWER-AFTER-LOSS'));
    await say(project, mr.iid, ALICE.id, 'QUESTION-AFTER-LOSS still?', { discussionId: divThread.id });
    await waitFor(() => botReplies(project, mr.iid, divThread.id).length === 2, 60_000, 'rebuilt answer');
    await h.bot.queue.drained(); // the thread record is updated just after the reply is posted
    const t = (await h.bot.deps.store.getThread(project.id, mr.iid, divThread.id))!;
    expect(t.forkSessionId).not.toBe(lost.forkSessionId);
    expect(t.rebuilds).toBe(1);
    const req = h.model.requests.find((r) => sessionOf(r) === t.forkSessionId)!;
    expect(req.text).toContain('TRUNK-SUMMARY'); // a fresh fork of the trunk …
    expect(req.lastUserText).toContain('<thread_history>'); // … told the thread so far
    expect(req.lastUserText).toContain('QUESTION-BEFORE-LOSS');
    expect(req.lastUserText).toContain('ANSWER-BEFORE-LOSS');
    expect(h.logs.some((l) => l.includes('transcript is gone') || l.includes('unusable'))).toBe(true);
  });

  it('reviews first when a thread starts on an MR without a trunk', async () => {
    const { project, mr } = await sampleMr(h, { path: 'acme/late' });
    h.model.script({ structured: reviewOutput([], 'LATE-TRUNK') }, answer('ANSWER-LATE'));
    const q = await say(project, mr.iid, ALICE.id, `@${BOT.username} QUESTION-LATE what does this do?`);
    await waitFor(() => botReplies(project, mr.iid, q.discussion.id).length === 1, 60_000, 'late answer');
    await h.bot.queue.drained();
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    expect(rec.trunkSessionId).toBeTruthy();
    expect(rec.reviews).toBe(1);
    expect(h.gitlab.notes(project, mr.iid).filter((n) => readMarker(n.body)?.kind === 'summary')).toHaveLength(1);
    // the trunk saw the question as a comment on the MR; the answer is the fork's, which carries the trunk
    const req = h.model.requests.findLast((r) => r.lastUserText.includes('QUESTION-LATE'))!;
    expect(req.lastUserText).toContain('needs your answer');
    expect(req.text).toContain('LATE-TRUNK');
  });

  it('a question asked while the review runs is answered after it, from the same trunk', async () => {
    const { project, mr } = await sampleMr(h, { path: 'acme/during' });
    const release = h.model.hold();
    h.model.script({ structured: reviewOutput([], 'DURING-TRUNK') }, answer('ANSWER-DURING'));
    const before = h.model.requests.length;
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    await h.model.waitForRequests(before + 1);
    const q = await say(project, mr.iid, ALICE.id, `@${BOT.username} QUESTION-DURING is this safe?`);
    // the reply job has started (its 👀 comes before it waits for the trunk) while the review still runs
    await waitFor(() => h.gitlab.log.some((l) => l.method === 'POST' && l.path.endsWith(`/notes/${q.note.id}/award_emoji`)), 30_000, 'the reply job');
    // it waits for the review as a parked job: only the review holds a worker slot, the reply is pending behind it
    await waitFor(async () => {
      const s = await h.bot.queue.stats();
      return s.running === 1 && s.pending >= 1;
    }, 30_000, 'the reply to wait without a slot');
    release();
    await waitFor(() => botReplies(project, mr.iid, q.discussion.id).length === 1, 60_000, 'answer after review');
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    expect(rec.reviews).toBe(1); // one trunk, not a second review started by the thread
    const req = h.model.requests.find((r) => r.lastUserText.includes('QUESTION-DURING'))!;
    expect(req.text).toContain('DURING-TRUNK');
  });

  it('an edit that adds a mention is answered once; a further edit of an answered note is not', async () => {
    const { project, mr } = await reviewed('acme/edits');
    const { note, discussion } = h.gitlab.addNote(project, mr.iid, ALICE.id, 'EDIT-0 is this safe?');
    await h.send(h.gitlab.noteHook(project, mr.iid, note, discussion));
    await h.bot.queue.drained();
    expect(botReplies(project, mr.iid, discussion.id)).toHaveLength(0); // not addressed to the bot
    const before = h.model.requests.length;

    h.model.script(answer('ANSWER-EDIT'));
    h.gitlab.editNote(project, mr.iid, note.id, `@${BOT.username} EDIT-1 is this safe?`);
    await h.send(h.gitlab.noteHook(project, mr.iid, note.id, discussion, { action: 'update' }));
    await waitFor(() => botReplies(project, mr.iid, discussion.id).length === 1, 60_000, 'answer to the edit');
    await h.bot.queue.drained();

    h.gitlab.editNote(project, mr.iid, note.id, `@${BOT.username} EDIT-2 is this really safe?`);
    await h.send(h.gitlab.noteHook(project, mr.iid, note.id, discussion, { action: 'update' }));
    await h.bot.queue.drained();
    expect(botReplies(project, mr.iid, discussion.id)).toHaveLength(1);
    expect(h.model.requests.length - before).toBe(1);
  });
});
