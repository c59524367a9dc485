// A job that failed for good (src/flows/failure.ts): a record for the status page, and one note on the MR, queued as
// a job of its own in the same lane and posted once however often that job runs.
import { describe, expect, it } from 'vitest';
import { ClaudeError } from '../../src/claude/result.js';
import type { NoteAdded, ReviewRequested } from '../../src/events/types.js';
import { failureNotifier, postFailureNote, type FailureNotice } from '../../src/flows/failure.js';
import { readMarker } from '../../src/gitlab/markers.js';
import type { Job, JobSpec } from '../../src/jobs/queue.js';
import { ALICE, BOT } from '../../standins/harness.js';
import { flowWorlds, seen, type FlowWorld } from '../support/flow-world.js';

const world = flowWorlds();

async function reviewJob(w: FlowWorld): Promise<{ job: Job<ReviewRequested>; w: FlowWorld }> {
  const { ref, mr } = await w.newMr();
  const data: ReviewRequested = {
    kind: 'review', reason: 'open', project: ref, iid: mr.iid, title: mr.title, headSha: mr.headSha, sourceBranch: mr.sourceBranch,
    targetBranch: mr.targetBranch, draft: false, state: 'opened', actor: ALICE,
  };
  return { w, job: { id: 'job-7', kind: 'review', orderKey: `mr:${ref.id}:${mr.iid}`, dedupeKeys: [], data, attempt: 5, createdAt: Date.now() } };
}

describe('failureNotifier', () => {
  it('records the failure and queues one note for the same lane, with the reason as readers should see it', async () => {
    const { w, job } = await reviewJob(await world());
    const queued: JobSpec<FailureNotice>[] = [];
    const notify = failureNotifier(w.deps, async (spec) => (queued.push(spec), { id: 'n1', duplicate: false }));
    await notify(job, new ClaudeError('api', 'Overloaded. The gateway at proxy.internal:8443 answered 529 after 3 tries.', { status: 529 }));

    expect(queued).toEqual([expect.objectContaining({ kind: 'notify', orderKey: job.orderKey, dedupeKeys: ['notify:job-7'] })]);
    expect(queued[0]!.data).toMatchObject({ failed: { id: 'job-7', kind: 'review', attempt: 5 }, reason: 'claude api: Overloaded.' });
    expect(await w.store.listFailures()).toEqual([expect.objectContaining({ jobId: 'job-7', kind: 'review', iid: job.data.iid, reason: expect.stringContaining('Overloaded') })]);
  });

  it('only logs a notify job that failed (no note about a note)', async () => {
    const { w, job } = await reviewJob(await world());
    const queued: JobSpec[] = [];
    const notify = failureNotifier(w.deps, async (spec) => (queued.push(spec), { id: 'n1', duplicate: false }));
    const notice: FailureNotice = { event: job.data, failed: { id: 'job-7', kind: 'review', attempt: 5 }, reason: 'x' };
    await notify({ ...job, id: 'job-8', kind: 'notify', data: notice }, new Error('GitLab is down'));
    expect(queued).toHaveLength(0);
    expect(w.logs.some((l) => l.includes('could not post the failure note'))).toBe(true);
  });
});

describe('postFailureNote', () => {
  it('posts the note once: a retried notify job finds the one already there', async () => {
    const { w, job } = await reviewJob(await world());
    const notice: FailureNotice = { event: job.data, failed: { id: 'job-7', kind: 'review', attempt: 5 }, reason: 'claude timeout: claude timed out' };
    await postFailureNote(w.deps, notice);
    await postFailureNote(w.deps, notice);
    const notes = w.gitlab.notes(job.data.project.id, job.data.iid).filter((n) => n.author.id === BOT.id);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.body).toContain('review failed: claude timeout: claude timed out');
    expect(seen(notes[0]!.body)).toContain('comment `@review-bot review`');
    expect(readMarker(notes[0]!.body)?.kind).toBe('failure');
  });

  it('puts a failed reply\'s note in its thread, saying how to ask again', async () => {
    const w = await world();
    const { project, mr } = await w.newMr();
    const ev: NoteAdded = w.say(project, mr.iid, ALICE.id, `@${BOT.username} why?`, { thread: true });
    await postFailureNote(w.deps, { event: ev, failed: { id: 'job-9', kind: 'reply', attempt: 5 }, reason: 'claude budget: budget exceeded' });
    const thread = w.gitlab.discussions(project, mr.iid).find((d) => d.id === ev.discussionId)!;
    expect(thread.notes.at(-1)!.author.id).toBe(BOT.id);
    expect(thread.notes.at(-1)!.body).toContain('reply failed: claude budget: budget exceeded');
    expect(seen(thread.notes.at(-1)!.body)).toContain('mention `@review-bot` in this thread again');
  });
});
