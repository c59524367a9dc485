// Job → flow (src/flows/dispatch.ts): every job passes the project gate first; flows get the API's project, not the
// payload's; a notify job posts its failure note.
import { describe, expect, it } from 'vitest';
import type { BotEvent, ReviewRequested } from '../../src/events/types.js';
import { jobHandler, type FlowTable } from '../../src/flows/dispatch.js';
import type { FailureNotice } from '../../src/flows/failure.js';
import type { Job } from '../../src/jobs/queue.js';
import { ALICE, BOT } from '../../standins/harness.js';
import { flowWorlds, type FlowWorld } from '../support/flow-world.js';

const world = flowWorlds();

/** Flows that only note what they were given. */
function recordingFlows() {
  const got: BotEvent[] = [];
  const flows: FlowTable = {
    review: async (_d, ev) => got.push(ev),
    update: async (_d, ev) => got.push(ev),
    reply: async (_d, ev) => got.push(ev),
  };
  return { got, flows };
}

async function reviewJob(w: FlowWorld, project?: { id: number; path: string }): Promise<Job<ReviewRequested>> {
  const { ref, mr } = await w.newMr();
  const data: ReviewRequested = {
    kind: 'review', reason: 'open', project: project ?? ref, iid: mr.iid, title: mr.title, headSha: mr.headSha, sourceBranch: mr.sourceBranch,
    targetBranch: mr.targetBranch, draft: false, state: 'opened', actor: ALICE,
  };
  return { id: 'job-1', kind: 'review', orderKey: `mr:${data.project.id}:${mr.iid}`, dedupeKeys: [], data, attempt: 1, createdAt: Date.now() };
}

const ctx = { signal: new AbortController().signal, waited: 0 };

describe('jobHandler', () => {
  it('hands the event to its flow with the project as the API names it, not as the payload claims', async () => {
    const w = await world();
    const { got, flows } = recordingFlows();
    const job = await reviewJob(w);
    await jobHandler(w.deps, flows)({ ...job, data: { ...job.data, project: { id: job.data.project.id, path: 'someone/else' } } }, ctx);
    expect(got).toHaveLength(1);
    expect(got[0]!.project).toMatchObject({ id: job.data.project.id, path: 'flows/app' });
  });

  it('ends a job for a project the token cannot see: no flow, no note, no retry', async () => {
    const w = await world();
    const { got, flows } = recordingFlows();
    const job = await reviewJob(w, { id: 4242, path: 'hidden/app' });
    await jobHandler(w.deps, flows)(job, ctx);
    expect(got).toHaveLength(0);
    expect(w.logs.some((l) => l.includes('hook ignored: project not usable'))).toBe(true);
  });

  it('runs a notify job as the failure note of the job it names', async () => {
    const w = await world();
    const { got, flows } = recordingFlows();
    const failed = await reviewJob(w);
    const notice: FailureNotice = { event: failed.data, failed: { id: failed.id, kind: 'review', attempt: 5 }, reason: 'claude timeout: claude timed out' };
    await jobHandler(w.deps, flows)({ ...failed, id: 'job-2', kind: 'notify', data: notice }, ctx);
    expect(got).toHaveLength(0);
    const notes = w.gitlab.notes(failed.data.project.id, failed.data.iid).filter((n) => n.author.id === BOT.id);
    expect(notes.map((n) => n.body)).toEqual([expect.stringContaining('review failed: claude timeout')]);
  });
});
