// The push flow (src/flows/update.ts) with a fake session service: fix checks in the findings' threads, the trunk
// resumed with what changed, only new findings posted, a full review when there is no trunk to continue.
import { describe, expect, it } from 'vitest';
import type { CodePushed, ProjectRef } from '../../src/events/types.js';
import { replyToNote } from '../../src/flows/reply.js';
import { reviewMr } from '../../src/flows/review.js';
import { updateMr } from '../../src/flows/update.js';
import { findingFingerprint, readMarker } from '../../src/gitlab/markers.js';
import { ALICE, BOT, finding, reviewOutput } from '../../standins/harness.js';
import { flowWorlds, type FlowWorld } from '../support/flow-world.js';

const world = flowWorlds();
const DIV = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' });
const FIRST = finding({ file: 'src/list.js', start_line: 2, anchor_text: '  return xs[0].value;', title: 'Empty list' });
const FIXED_MATH = 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  if (b === 0) throw new Error("b is 0");\n  return a / b;\n}\n';
/** What git says the push changed: a hunk over line 6 of src/math.js, where DIV is. */
const INTERDIFF_MATH = [
  'diff --git a/src/math.js b/src/math.js',
  'index 1111111..2222222 100644',
  '--- a/src/math.js',
  '+++ b/src/math.js',
  '@@ -5,3 +5,4 @@ export function add(a, b) {',
  ' export function div(a, b) {',
  '+  if (b === 0) throw new Error("b is 0");',
  '   return a / b;',
  ' }',
  '',
].join('\n');
const INTERDIFF_README = ['diff --git a/README.md b/README.md', '--- a/README.md', '+++ b/README.md', '@@ -1 +1,2 @@', ' # app', '+more', ''].join('\n');

let branches = 0;
/** An MR of its own branch, reviewed with DIV; then a push to it. */
async function reviewedThenPushed(w: FlowWorld, interdiff: string) {
  const { project, ref, mr } = await w.newMr(`push-${++branches}`);
  w.sessions.script(reviewOutput([DIV]));
  await reviewMr(w.deps, { project: ref, iid: mr.iid, reason: 'open' });
  const head = await w.gitlab.commit(project, mr.sourceBranch, { 'src/math.js': FIXED_MATH }, 'guard div');
  w.checkout.interdiff = interdiff;
  return { project, ref, mr, head, push: pushed(ref, mr.iid, mr.headSha, head) };
}

function pushed(project: ProjectRef, iid: number, oldrev: string, headSha: string): CodePushed {
  return { kind: 'push', project, iid, title: 'Add helpers', headSha, oldrev, sourceBranch: 'x', targetBranch: 'main', draft: false, state: 'opened', actor: ALICE };
}

describe('updateMr', () => {
  it('continues the trunk with what the push changed, posts only new findings and edits the summary in place', async () => {
    const w = await world();
    const { project, mr, head, push } = await reviewedThenPushed(w, INTERDIFF_README);
    w.sessions.script(reviewOutput([DIV, FIRST], 'SUMMARY-AFTER-PUSH'));
    expect(await updateMr(w.deps, push)).toMatchObject({ posted: 1 });

    expect(w.sessions.calls.map((c) => c.kind)).toEqual(['review', 'review_push']); // the push touched no finding
    const turn = w.sessions.of('review_push')[0]!;
    expect(turn.sessionId).toBe(w.sessions.of('review')[0]!.sessionId);
    expect(turn.prompt).toContain('+more'); // the interdiff
    const notes = w.gitlab.notes(project, mr.iid).filter((n) => n.author.id === BOT.id);
    expect(notes.map((n) => readMarker(n.body)?.kind)).toEqual(['finding', 'summary', 'finding']);
    expect(notes[1]!.body).toContain('SUMMARY-AFTER-PUSH');
    expect((await w.store.getMr(project.id, mr.iid))).toMatchObject({ reviewedSha: head, reviews: 2 });
  });

  it('asks the thread of a finding the push touched whether it is fixed; a fixed one is answered, citing the fixing line, and resolved', async () => {
    const w = await world();
    const { project, mr, head, push } = await reviewedThenPushed(w, INTERDIFF_MATH);
    w.sessions.script({ addressed: true, reply: 'FIXED: b is checked now.', fixed_by: 'src/math.js:6: if (b === 0) throw new Error("b is 0");' }, reviewOutput([]));
    await updateMr(w.deps, push);

    const check = w.sessions.of('fix_check')[0]!;
    expect(check.start).toBe('fork'); // nobody had replied in the thread: a new fork of the trunk
    expect(check.prompt).toContain('src/math.js');
    const fp = findingFingerprint(DIV);
    const disc = w.gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]!.body)?.fp === fp)!;
    expect(disc.notes[0]!.resolved).toBe(true);
    const reply = disc.notes.at(-1)!;
    expect(reply.body).toContain('FIXED: b is checked now.');
    expect(reply.body).toContain('Fixed by `src/math.js:6`'); // the line the check quoted, found in the code
    expect(readMarker(reply.body)).toMatchObject({ kind: 'fixed', fp });
    expect((await w.store.getMr(project.id, mr.iid))!.findings[fp]!.status).toBe('fixed');
    expect(await w.store.getThread(project.id, mr.iid, disc.id)).toMatchObject({ findingFp: fp, pendingFix: { sha: head, addressed: true, fixedBy: expect.stringContaining('src/math.js:6') } });
  });

  it('leaves a "fixed" verdict\'s thread open when its fixing line is not in the code, or not quoted at all', async () => {
    const w = await world();
    for (const fixedBy of ['src/math.js:6: if (b == null) return 0;', undefined]) {
      const { project, mr, push } = await reviewedThenPushed(w, INTERDIFF_MATH);
      w.sessions.script({ addressed: true, reply: 'FIXED-CLAIM', ...(fixedBy ? { fixed_by: fixedBy } : {}) }, reviewOutput([]));
      await updateMr(w.deps, push);
      const fp = findingFingerprint(DIV);
      const disc = w.gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]!.body)?.fp === fp)!;
      expect(disc.notes[0]!.resolved).toBe(false);
      expect(disc.notes.some((n) => n.body.includes('FIXED-CLAIM'))).toBe(false);
      expect((await w.store.getMr(project.id, mr.iid))!.findings[fp]!.status).toBe('open');
    }
    expect(w.logs.filter((l) => l.includes('quoted no fixing line found in the code'))).toHaveLength(2);
  });

  it('checks a fix in the thread\'s own session when the thread has one, keeping its history', async () => {
    const w = await world();
    const { project, mr, push } = await reviewedThenPushed(w, INTERDIFF_MATH);
    const disc = w.gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]!.body)?.kind === 'finding')!;
    w.sessions.script({ reply: 'It divides by b.', verdict: 'answered' });
    const q = w.say(project, mr.iid, ALICE.id, 'why?', { discussionId: disc.id });
    await replyToNote(w.deps, q);
    w.sessions.script({ addressed: false, reply: '' }, reviewOutput([]));
    await updateMr(w.deps, push);

    const [reply, check] = [w.sessions.of('thread')[0]!, w.sessions.of('fix_check')[0]!];
    expect(check).toMatchObject({ start: 'resume', sessionId: reply.sessionId });
    expect((await w.store.getThread(project.id, mr.iid, disc.id))!.answered).toEqual([q.noteId]);
    expect(w.gitlab.discussions(project, mr.iid).find((d) => d.id === disc.id)!.notes[0]!.resolved).toBe(false); // not addressed
  });

  it('reviews afresh an MR never reviewed, and one whose trunk is gone', async () => {
    const w = await world();
    const fresh = await w.newMr(`push-${++branches}`);
    w.sessions.script(reviewOutput([]));
    await updateMr(w.deps, pushed(fresh.ref, fresh.mr.iid, 'x', fresh.mr.headSha));
    expect(w.sessions.calls.map((c) => c.kind)).toEqual(['review']);

    const { project, mr, push } = await reviewedThenPushed(w, INTERDIFF_README);
    const trunk = (await w.store.getMr(project.id, mr.iid))!.trunkSessionId!;
    w.sessions.lose(trunk);
    w.sessions.script(reviewOutput([]));
    await updateMr(w.deps, push);
    expect(w.sessions.calls.map((c) => c.kind)).toEqual(['review', 'review', 'review']);
    expect((await w.store.getMr(project.id, mr.iid))!.trunkSessionId).not.toBe(trunk);
    expect(w.logs.some((l) => l.includes('reviewing the MR afresh'))).toBe(true);
  });

  it('skips a head already reviewed and a paused MR', async () => {
    const w = await world();
    const { ref, mr, push } = await reviewedThenPushed(w, INTERDIFF_README);
    w.sessions.script(reviewOutput([]));
    await updateMr(w.deps, push);
    expect(await updateMr(w.deps, push)).toEqual({ skipped: 'head already reviewed' });
    await w.store.updateMr(ref.id, mr.iid, ref.path, (r) => {
      r.paused = true;
    });
    expect(await updateMr(w.deps, push)).toEqual({ skipped: 'reviews paused on this MR' });
    expect(w.sessions.calls).toHaveLength(2);
  });
});
