// Posting a review (src/flows/publish.ts) to the GitLab stand-in: inline where GitLab can place a finding, a general
// thread where it cannot, the summary edited in place, nothing posted twice.
import { describe, expect, it } from 'vitest';
import { loadMrContext } from '../../src/flows/context.js';
import { publishReview } from '../../src/flows/publish.js';
import { findingFingerprint, readMarker } from '../../src/gitlab/markers.js';
import type { Finding } from '../../src/review/findings.js';
import type { PendingPost } from '../../src/store/records.js';
import { BOT, finding, reviewOutput } from '../../standins/harness.js';
import { flowWorlds, type FlowWorld } from '../support/flow-world.js';

const world = flowWorlds();
const DIV = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' });
const FIRST = finding({ file: 'src/list.js', start_line: 2, anchor_text: '  return xs[0].value;', title: 'Empty list' });
const README = finding({ file: 'README.md', start_line: 1, anchor_text: '# app', title: 'Outside the diff' });

async function posting(w: FlowWorld, findings: Finding[], summary = 'SUMMARY') {
  const { project, ref, mr } = await w.newMr();
  const ctx = await loadMrContext(w.deps, ref, mr.iid);
  const pending: PendingPost = { sha: mr.headSha, sessionId: 's', output: reviewOutput(findings, summary), costUsd: 0.5, omitted: [], reviewedFiles: 2 };
  // What the review turn leaves before publishing (flows/review.ts runReviewTurn): the MR's record, the output kept.
  await w.store.updateMr(project.id, mr.iid, project.path, (r) => {
    r.pendingPost = pending;
    r.costUsd += pending.costUsd;
    r.reviews += 1;
  });
  const botNotes = () => w.gitlab.notes(project, mr.iid).filter((n) => n.author.id === BOT.id);
  return { project, mr, ctx, pending, botNotes, publish: (p = pending) => publishReview(w.deps, ctx, p) };
}

describe('publishReview', () => {
  it('posts a finding on the diff as an inline thread, one outside it as a general thread, then the summary', async () => {
    const w = await world();
    const { project, mr, publish, botNotes } = await posting(w, [DIV, README]);
    expect(await publish()).toBe(2);
    const [inline, general, summary] = w.gitlab.discussions(project, mr.iid);
    expect(inline!.notes[0]).toMatchObject({ type: 'DiffNote', position: expect.objectContaining({ new_path: 'src/math.js', new_line: 6 }) });
    expect(general!.notes[0]!.type).not.toBe('DiffNote');
    expect(general!.notes[0]!.body).toContain('README.md');
    expect(readMarker(summary!.notes[0]!.body)?.kind).toBe('summary');
    expect(botNotes()).toHaveLength(3);
    const rec = (await w.store.getMr(project.id, mr.iid))!;
    expect(rec.findings[findingFingerprint(DIV)]).toMatchObject({ inline: true, status: 'open', discussionId: inline!.id });
    expect(rec.summaryNoteId).toBe(summary!.notes[0]!.id);
  });

  it('posts a finding as a general thread when GitLab refuses its diff position', async () => {
    const w = await world();
    const { project, mr, publish } = await posting(w, [DIV]);
    w.gitlab.fail({ method: 'POST', path: /\/draft_notes$/ }, { status: 400, body: { message: '400 Bad request - Note {:line_code=>["can\'t be blank"]}' } });
    expect(await publish()).toBe(1);
    const thread = w.gitlab.discussions(project, mr.iid)[0]!;
    expect(thread.notes[0]!.type).not.toBe('DiffNote');
    expect(thread.notes[0]!.body).toContain('Division by zero');
    expect(w.logs.some((l) => l.includes('GitLab refused the diff draft'))).toBe(true);
  });

  it('without the draft notes API, posts each note directly, and a refused diff position still becomes a general thread', async () => {
    const w = await world();
    const { project, mr, publish, botNotes } = await posting(w, [DIV, FIRST]);
    w.gitlab.setDraftNotes(project, 404); // an older GitLab
    try {
      w.gitlab.fail({ method: 'POST', path: /\/discussions$/ }, { status: 400, body: { message: '400 Bad request - Note {:line_code=>["can\'t be blank"]}' } });
      expect(await publish()).toBe(2);
    } finally {
      w.gitlab.setDraftNotes(project, 'on'); // the file's other tests share the project
    }
    const [refused, inline] = w.gitlab.discussions(project, mr.iid);
    expect(refused!.notes[0]!.type).not.toBe('DiffNote');
    expect(refused!.notes[0]!.body).toContain('Division by zero');
    expect(inline!.notes[0]!.type).toBe('DiffNote');
    expect(botNotes().map((n) => readMarker(n.body)?.kind)).toEqual(['finding', 'finding', 'summary']);
    expect(w.logs.some((l) => l.includes('GitLab refused the diff position'))).toBe(true);
  });

  it('posting again adds only new findings and edits the one summary in place', async () => {
    const w = await world();
    const { pending, publish, botNotes } = await posting(w, [DIV], 'FIRST-SUMMARY');
    await publish();
    expect(await publish()).toBe(0);
    expect(await publish({ ...pending, output: reviewOutput([DIV, FIRST], 'SECOND-SUMMARY') })).toBe(1);
    const kinds = botNotes().map((n) => readMarker(n.body)?.kind);
    expect(kinds).toEqual(['finding', 'summary', 'finding']);
    expect(botNotes()[1]!.body).toContain('SECOND-SUMMARY');
  });

  it('leaves out findings below the confidence bar and lists pre-existing ones in the summary only', async () => {
    const w = await world();
    const unsure = { ...FIRST, confidence: 40 };
    const old = { ...DIV, pre_existing: true, title: 'Old problem' };
    const { publish, botNotes } = await posting(w, [unsure, old]);
    expect(await publish()).toBe(0);
    expect(botNotes()).toHaveLength(1);
    expect(botNotes()[0]!.body).toContain('Old problem');
    expect(botNotes()[0]!.body).not.toContain('Empty list');
  });
});
