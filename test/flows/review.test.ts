// The trunk review flow (src/flows/review.ts) with a fake session service: what it asks, what it posts, what it keeps.
import { describe, expect, it } from 'vitest';
import { ClaudeError } from '../../src/claude/result.js';
import { reviewMr } from '../../src/flows/review.js';
import { readMarker } from '../../src/gitlab/markers.js';
import { BOT, finding, reviewOutput } from '../../standins/harness.js';
import { flowWorlds } from '../support/flow-world.js';

const world = flowWorlds();
const DIV = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' });

describe('reviewMr', () => {
  it('reviews an opened MR in a new trunk and posts its finding inline, then the summary', async () => {
    const w = await world();
    const { project, ref, mr } = await w.newMr();
    w.sessions.script(reviewOutput([DIV], 'SUMMARY-TEXT'));
    const out = await reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' });

    expect(out).toEqual({ trunkSessionId: w.sessions.calls[0]!.sessionId, posted: 1 });
    expect(w.sessions.calls.map((c) => c.kind)).toEqual(['review']);
    expect(w.sessions.calls[0]!.prompt).toContain('## File: src/math.js'); // the diff is in the prompt
    const [thread, summary] = w.gitlab.discussions(project, mr.iid);
    expect(thread!.notes[0]!.position?.new_line).toBe(6);
    expect(readMarker(thread!.notes[0]!.body)?.kind).toBe('finding');
    expect(summary!.notes[0]!.body).toContain('SUMMARY-TEXT');
    const rec = (await w.store.getMr(project.id, mr.iid))!;
    expect(rec).toMatchObject({ reviewedSha: mr.headSha, trunkStatus: 'done', reviews: 1, title: 'Add helpers' });
    expect(rec.pendingPost).toBeUndefined();
    expect(Object.values(rec.findings)).toMatchObject([{ file: 'src/math.js', line: 6, status: 'open', inline: true }]);
  });

  it('checks each finding\'s evidence against the MR\'s files at the head and posts only those whose quotes are there', async () => {
    const w = await world();
    const { project, ref, mr } = await w.newMr();
    const invented = finding({ file: 'src/list.js', start_line: 2, anchor_text: '  return xs[0].value;', title: 'Invented quote', evidence: ['src/list.js:2: return xs.length ? xs[0] : null;'] });
    w.sessions.script(reviewOutput([DIV, invented]));
    expect(await reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' })).toMatchObject({ posted: 1 });
    const titles = w.gitlab.notes(project, mr.iid).filter((n) => readMarker(n.body)?.kind === 'finding').map((n) => n.body);
    expect(titles.some((b) => b.includes('Division by zero'))).toBe(true);
    expect(titles.some((b) => b.includes('Invented quote'))).toBe(false);
    expect(w.logs.some((l) => l.includes('finding dropped before posting') && l.includes('quote not found at src/list.js:2'))).toBe(true);
    expect((await w.store.getMr(project.id, mr.iid))?.pendingPost).toBeUndefined();
  });

  it('skips a closed MR, a paused one and a head already reviewed without asking the model', async () => {
    const w = await world();
    const closed = await w.newMr();
    w.gitlab.setMrState(closed.project, closed.mr.iid, 'closed');
    expect(await reviewMr(w.deps, { project: closed.ref, iid: closed.mr.iid, reason: 'open' })).toEqual({ skipped: 'mr is closed' });

    const paused = await w.newMr();
    await w.store.updateMr(paused.ref.id, paused.mr.iid, paused.ref.path, (r) => {
      r.paused = true;
    });
    expect(await reviewMr(w.deps, { project: paused.ref, iid: paused.mr.iid, reason: 'open' })).toEqual({ skipped: 'reviews paused on this MR' });

    const done = await w.newMr();
    w.sessions.script(reviewOutput([]));
    await reviewMr(w.deps, { project: done.ref, iid: done.mr.iid, reason: 'open' });
    expect(await reviewMr(w.deps, { project: done.ref, iid: done.mr.iid, reason: 'reopen' })).toEqual({ skipped: 'head already reviewed' });
    expect(w.sessions.calls).toHaveLength(1);
  });

  it('reviews a paused MR on command, in a new trunk', async () => {
    const w = await world();
    const { ref, mr } = await w.newMr();
    w.sessions.script(reviewOutput([]), reviewOutput([]));
    const first = await reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' });
    await w.store.updateMr(ref.id, mr.iid, ref.path, (r) => {
      r.paused = true;
    });
    const again = await reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'command' });
    expect('trunkSessionId' in again && 'trunkSessionId' in first && again.trunkSessionId !== first.trunkSessionId).toBe(true);
    expect((await w.store.getMr(ref.id, mr.iid))?.reviews).toBe(2);
  });

  it('after a failed publish, a retry publishes the kept review once, without a second model turn', async () => {
    const w = await world();
    const { project, ref, mr } = await w.newMr();
    w.sessions.script(reviewOutput([DIV]));
    w.gitlab.fail({ method: 'POST', path: /\/draft_notes\/bulk_publish$/ }, { status: 500 });
    await expect(reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' })).rejects.toThrow();
    expect((await w.store.getMr(project.id, mr.iid))?.pendingPost?.sha).toBe(mr.headSha);
    expect(w.gitlab.notes(project, mr.iid)).toHaveLength(0); // drafts only: nobody saw anything yet

    const out = await reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' });
    expect(out).toMatchObject({ posted: 1 });
    expect(w.sessions.calls).toHaveLength(1);
    const notes = w.gitlab.notes(project, mr.iid).filter((n) => n.author.id === BOT.id);
    expect(notes.map((n) => readMarker(n.body)?.kind)).toEqual(['finding', 'summary']); // the first try's drafts are not doubled
    expect(w.gitlab.drafts(project, mr.iid)).toHaveLength(0);
  });

  it('a run that stopped after publishing: the retry posts nothing twice and finishes the summary', async () => {
    const w = await world();
    const { project, ref, mr } = await w.newMr();
    w.sessions.script(reviewOutput([DIV]));
    // published, then resolving the summary's thread fails (the step after the publish)
    w.gitlab.fail({ method: 'PUT', path: /\/discussions\/[^/]+$/ }, { status: 500 });
    await expect(reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' })).rejects.toThrow();
    expect(w.gitlab.notes(project, mr.iid)).toHaveLength(2);

    const out = await reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' });
    expect(out).toMatchObject({ posted: 0 }); // the finding was published by the first try
    expect(w.sessions.calls).toHaveLength(1);
    const notes = w.gitlab.notes(project, mr.iid).filter((n) => n.author.id === BOT.id);
    expect(notes.map((n) => readMarker(n.body)?.kind)).toEqual(['finding', 'summary']);
    const summary = w.gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]!.body)?.kind === 'summary')!;
    expect(summary.notes[0]!.resolved).toBe(true); // a summary thread never blocks merging
    expect(Object.values((await w.store.getMr(project.id, mr.iid))!.findings)).toMatchObject([{ file: 'src/math.js', line: 6, status: 'open' }]);
  });

  it('a failed trunk turn posts nothing, records the failure and fails the job', async () => {
    const w = await world();
    const { project, ref, mr } = await w.newMr();
    w.sessions.script(new ClaudeError('api', 'overloaded', { status: 529 }));
    await expect(reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' })).rejects.toThrow('overloaded');
    expect(w.gitlab.notes(project, mr.iid)).toHaveLength(0);
    expect(await w.store.getMr(project.id, mr.iid)).toMatchObject({ trunkStatus: 'failed', lastError: 'overloaded', reviews: 0 });
  });
});
